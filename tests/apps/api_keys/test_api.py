import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from apps.api_keys.models import ApiKey
from apps.audit.models import AuditEntry
from tests.factories.api_keys import make_api_key
from tests.factories.billing import set_overrides

pytestmark = pytest.mark.django_db


def _error(response):
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def _client(secret=None, header=None):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    elif secret is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_create_returns_the_secret_once_and_stores_only_its_hash(api_client, org, in_org):
    response = api_client.post("/api/v1/api-keys", {"name": "CI deploys", "scopes": ["training"]}, format="json")

    assert response.status_code == 201
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("tsk_live_") and len(secret) == len("tsk_live_") + 40
    assert created["prefix"] == secret[:13] and created["last_four"] == secret[-4:]
    assert created["scopes"] == ["training"] and created["status"] == "active"
    detail = api_client.get(f"/api/v1/api-keys/{created['id']}").json()
    listing = api_client.get("/api/v1/api-keys").json()
    assert "secret" not in detail
    assert all("secret" not in key for key in listing["results"])
    with in_org(org):
        row = ApiKey.objects.get(id=created["id"])
    assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    with in_org(org), connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(k)::text FROM api_keys_apikey k WHERE id = %s", [created["id"]])
        stored = cursor.fetchone()[0]
    assert secret not in stored and secret[13:-4] not in stored


def test_a_new_key_works_at_once(api_client, org):
    created = api_client.post("/api/v1/api-keys", {"name": "reader", "scopes": ["admin"]}, format="json").json()

    response = _client(created["secret"]).get("/api/v1/organization")

    assert response.status_code == 200
    assert response.json()["name"] == org.name


def test_missing_header_is_401_with_bearer_challenge(db):
    response = APIClient().get("/api/v1/organization")

    assert response.status_code == 401
    assert _error(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Basic dXNlcjpwYXNz", "invalid_authorization_header"),
        ("Bearer", "invalid_authorization_header"),
        ("Bearer sk_live_abc", "api_key_malformed"),
        ("Bearer tsk_live_short", "api_key_malformed"),
        ("Bearer tsk_live_" + "!" * 40, "api_key_malformed"),
        ("Bearer tsk_live_" + "A" * 40, "api_key_invalid"),
    ],
)
def test_bad_credentials_get_401_with_distinct_codes(db, header, code):
    response = _client(header=header).get("/api/v1/organization")

    assert response.status_code == 401
    assert _error(response)["code"] == code


def test_revoked_key_is_401_api_key_revoked(api_client, org):
    created = api_client.post("/api/v1/api-keys", {"name": "temp", "scopes": ["admin"]}, format="json").json()
    revoke = api_client.post(f"/api/v1/api-keys/{created['id']}/revoke")

    response = _client(created["secret"]).get("/api/v1/organization")

    assert revoke.status_code == 200 and revoke.json()["status"] == "revoked"
    assert response.status_code == 401
    assert _error(response)["code"] == "api_key_revoked"


def test_revoking_keeps_the_row_and_audits_it(api_client, org, in_org):
    created = api_client.post("/api/v1/api-keys", {"name": "temp", "scopes": ["admin"]}, format="json").json()

    api_client.post(f"/api/v1/api-keys/{created['id']}/revoke")
    api_client.post(f"/api/v1/api-keys/{created['id']}/revoke")

    with in_org(org):
        assert ApiKey.objects.filter(id=created["id"], revoked_at__isnull=False).count() == 1
        actions = list(AuditEntry.objects.filter(target_id=created["id"]).values_list("action", "via", "actor_label"))
    label = f"API key Test key ({api_client.api_key.masked})"
    assert sorted(actions) == [("api_key.created", "api", label), ("api_key.revoked", "api", label)]


def test_expired_key_is_401_api_key_expired(org, in_org):
    api_key, secret = make_api_key(org, expires_at=timezone.now() + timedelta(minutes=1))
    with in_org(org):
        ApiKey.objects.filter(id=api_key.id).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = _client(secret).get("/api/v1/organization")

    assert response.status_code == 401
    assert _error(response)["code"] == "api_key_expired"


def test_key_in_query_string_is_not_accepted(org):
    _, secret = make_api_key(org)

    response = APIClient().get(f"/api/v1/organization?api_key={secret}")

    assert response.status_code == 401
    assert _error(response)["code"] == "not_authenticated"


def test_missing_scope_is_403_naming_the_scope(org, in_org):
    _, secret = make_api_key(org, scopes=["support:read"])

    response = _client(secret).get("/api/v1/api-keys")

    assert response.status_code == 403
    error = _error(response)
    assert error["code"] == "missing_scope"
    assert error["details"] == {"required_scope": "admin", "granted_scopes": ["support:read"]}
    assert "'admin'" in error["message"]


def test_a_key_cannot_grant_scopes_it_lacks(org, in_org):
    api_key, secret = make_api_key(org, scopes=["training"])
    with in_org(org):
        before = ApiKey.objects.count()

    response = _client(secret).post("/api/v1/api-keys", {"name": "x", "scopes": ["admin"]}, format="json")

    assert response.status_code == 403
    with in_org(org):
        assert ApiKey.objects.count() == before


def test_last_used_at_is_written_at_most_once_per_window(org, in_org, settings):
    settings.API_KEY_LAST_USED_RESOLUTION_SECONDS = 300
    api_key, secret = make_api_key(org)
    client = _client(secret)

    client.get("/api/v1/organization")
    with in_org(org):
        first = ApiKey.objects.get(id=api_key.id).last_used_at
    client.get("/api/v1/organization")
    with in_org(org):
        second = ApiKey.objects.get(id=api_key.id).last_used_at

    assert first is not None
    assert second == first


def test_rate_limit_answers_429_with_retry_after(org):
    set_overrides(org, api_rate_limit_per_minute=3)
    _, secret = make_api_key(org)
    _, other_secret = make_api_key(org, name="other")
    client = _client(secret)

    statuses = [client.get("/api/v1/organization").status_code for _ in range(4)]
    limited = client.get("/api/v1/organization")
    other = _client(other_secret).get("/api/v1/organization")

    assert statuses == [200, 200, 200, 429]
    assert limited.status_code == 429
    error = _error(limited)
    assert error["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert error["details"]["retry_after"] == int(limited["Retry-After"])
    assert other.status_code == 200
    assert other["X-RateLimit-Limit"] == "3" and other["X-RateLimit-Remaining"] == "2"


def test_create_validates_input(api_client, org, in_org):
    with in_org(org):
        before = ApiKey.objects.count()

    unknown_scope = api_client.post("/api/v1/api-keys", {"name": "x", "scopes": ["root"]}, format="json")
    no_scopes = api_client.post("/api/v1/api-keys", {"name": "x", "scopes": []}, format="json")
    past = api_client.post(
        "/api/v1/api-keys", {"name": "x", "scopes": ["admin"], "expires_at": "2001-01-01T00:00:00Z"}, format="json"
    )
    scopes_not_list = api_client.post("/api/v1/api-keys", {"name": "x", "scopes": "admin"}, format="json")

    assert [r.status_code for r in (unknown_scope, no_scopes, past, scopes_not_list)] == [400, 400, 400, 400]
    assert _error(unknown_scope)["details"]["fields"]["scopes"] == {"0": ['"root" is not a valid choice.']}
    assert _error(past)["code"] == "invalid_expiry"
    assert _error(scopes_not_list)["code"] == "validation_error"
    with in_org(org):
        assert ApiKey.objects.count() == before


def test_list_is_cursor_paginated(api_client, org):
    for number in range(3):
        make_api_key(org, name=f"key {number}")

    first = api_client.get("/api/v1/api-keys?limit=2").json()
    second = api_client.get(first["next"]).json()

    names = [key["name"] for key in first["results"] + second["results"]]
    assert len(first["results"]) == 2 and first["previous"] is None
    assert sorted(names) == ["Test key", "key 0", "key 1", "key 2"]
    assert second["next"] is None


def test_a_mangled_cursor_is_400_invalid_cursor(api_client):
    response = api_client.get("/api/v1/api-keys?cursor=not-a-cursor")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"
