"""Bad input gets a 4xx JSON error in one shape, never a 500, and nothing half-written."""

import pytest

from apps.accounts.models import Invitation
from apps.api_keys.models import ApiKey

pytestmark = pytest.mark.django_db


def _error(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def _count(model, org, in_org):
    with in_org(org):
        return model.objects.count()


def test_malformed_json_is_400(api_client, org, in_org):
    before = _count(ApiKey, org, in_org)

    response = api_client.post("/api/v1/api-keys", data='{"name": "x", "scopes": [', content_type="application/json")

    assert response.status_code == 400
    assert _error(response)["code"] == "malformed_body"
    assert _count(ApiKey, org, in_org) == before


def test_invalid_utf8_is_400(api_client):
    response = api_client.post("/api/v1/api-keys", data=b'{"name": "\xff"}', content_type="application/json")

    assert response.status_code == 400
    assert _error(response)["code"] == "malformed_body"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ["not", "a", "string"], "scopes": ["admin"]}, "name"),
        ({"name": "x", "scopes": "admin"}, "scopes"),
        ({"name": "x", "scopes": ["admin"], "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "x" * 101, "scopes": ["admin"]}, "name"),
        ({"scopes": ["admin"]}, "name"),
    ],
)
def test_wrong_types_are_400_naming_the_field(api_client, org, in_org, body, field):
    before = _count(ApiKey, org, in_org)

    response = api_client.post("/api/v1/api-keys", body, format="json")

    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "validation_error"
    assert list(error["details"]["fields"]) == [field]
    assert _count(ApiKey, org, in_org) == before


def test_a_json_array_instead_of_an_object_is_400(api_client):
    response = api_client.post("/api/v1/invitations", [1, 2], format="json")

    assert response.status_code == 400
    assert _error(response)["code"] == "validation_error"


def test_non_json_content_type_is_415(api_client):
    response = api_client.post(
        "/api/v1/invitations", data="email=a@b.c", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


def test_oversize_body_is_413_and_nothing_is_created(api_client, org, in_org, settings):
    settings.API_MAX_BODY_BYTES = 1000
    before = _count(Invitation, org, in_org)

    response = api_client.post(
        "/api/v1/invitations", {"email": "a@example.com", "role": "member", "pad": "x" * 2000}, format="json"
    )

    assert response.status_code == 413
    error = _error(response)
    assert error["code"] == "request_too_large"
    assert error["details"]["max_bytes"] == 1000
    assert _count(Invitation, org, in_org) == before


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/api/v1/nothing-here", 404, "not_found"),
        ("get", "/api/v1/api-keys/not-a-uuid", 404, "not_found"),
        ("get", "/api/v1/api-keys/00000000-0000-0000-0000-000000000000", 404, "not_found"),
        ("delete", "/api/v1/api-keys", 405, "method_not_allowed"),
        ("put", "/api/v1/organization", 405, "method_not_allowed"),
    ],
)
def test_routing_errors_are_json(api_client, method, path, status, code):
    response = getattr(api_client, method)(path)

    assert response.status_code == status
    assert _error(response)["code"] == code


def test_trailing_slash_is_optional(api_client, org):
    assert api_client.get("/api/v1/organization").json() == api_client.get("/api/v1/organization/").json()


class TestIdempotencyKey:
    def test_same_key_and_body_replays_the_first_response(self, api_client, org, in_org):
        body = {"name": "deploy", "scopes": ["training"]}
        before = _count(ApiKey, org, in_org)

        first = api_client.post("/api/v1/api-keys", body, format="json", HTTP_IDEMPOTENCY_KEY="abc-123")
        second = api_client.post("/api/v1/api-keys", body, format="json", HTTP_IDEMPOTENCY_KEY="abc-123")

        assert first.status_code == second.status_code == 201
        assert second.json() == {**first.json(), "secret": None}
        assert second["Idempotent-Replayed"] == "true"
        assert not first.has_header("Idempotent-Replayed")
        assert _count(ApiKey, org, in_org) == before + 1

    def test_key_order_and_whitespace_do_not_change_the_fingerprint(self, api_client, org, in_org):
        before = _count(ApiKey, org, in_org)

        api_client.post(
            "/api/v1/api-keys",
            data='{"name":"a","scopes":["admin"]}',
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="k1",
        )
        replay = api_client.post(
            "/api/v1/api-keys",
            data='{ "scopes": ["admin"], "name": "a" }',
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="k1",
        )

        assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
        assert _count(ApiKey, org, in_org) == before + 1

    def test_same_key_different_body_is_409(self, api_client, org, in_org):
        api_client.post("/api/v1/api-keys", {"name": "a", "scopes": ["admin"]}, format="json", HTTP_IDEMPOTENCY_KEY="k")
        before = _count(ApiKey, org, in_org)

        response = api_client.post(
            "/api/v1/api-keys", {"name": "b", "scopes": ["admin"]}, format="json", HTTP_IDEMPOTENCY_KEY="k"
        )

        assert response.status_code == 409
        assert _error(response)["code"] == "idempotency_key_reused"
        assert _count(ApiKey, org, in_org) == before

    def test_a_failed_request_is_not_stored_so_a_corrected_retry_runs(self, api_client, org, in_org):
        invalid = api_client.post(
            "/api/v1/api-keys", {"name": "", "scopes": ["admin"]}, format="json", HTTP_IDEMPOTENCY_KEY="retry-me"
        )

        retried = api_client.post(
            "/api/v1/api-keys", {"name": "", "scopes": ["admin"]}, format="json", HTTP_IDEMPOTENCY_KEY="retry-me"
        )

        assert invalid.status_code == retried.status_code == 400
        assert not retried.has_header("Idempotent-Replayed")

    def test_keys_are_per_organization(self, api_client, other_api_client, org, other_org, in_org):
        body = {"name": "same", "scopes": ["admin"]}

        mine = api_client.post("/api/v1/api-keys", body, format="json", HTTP_IDEMPOTENCY_KEY="shared")
        theirs = other_api_client.post("/api/v1/api-keys", body, format="json", HTTP_IDEMPOTENCY_KEY="shared")

        assert mine.status_code == theirs.status_code == 201
        assert mine.json()["id"] != theirs.json()["id"]
        assert not theirs.has_header("Idempotent-Replayed")

    def test_an_overlong_key_is_400(self, api_client):
        response = api_client.post(
            "/api/v1/api-keys", {"name": "a", "scopes": ["admin"]}, format="json", HTTP_IDEMPOTENCY_KEY="x" * 256
        )

        assert response.status_code == 400
        assert _error(response)["code"] == "invalid_idempotency_key"


def test_a_replayed_key_creation_never_stored_the_secret(api_client, org, in_org):
    from apps.core.models import IdempotencyKey

    created = api_client.post(
        "/api/v1/api-keys", {"name": "once", "scopes": ["admin"]}, format="json", HTTP_IDEMPOTENCY_KEY="secret-once"
    )

    with in_org(org):
        stored = IdempotencyKey.objects.get(key="secret-once")
    assert created.json()["secret"].startswith("tsk_live_")
    assert created["Cache-Control"] == "no-store"
    assert stored.response_body["secret"] is None
    assert created.json()["secret"] not in str(stored.response_body)
