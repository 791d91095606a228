import hashlib
import re
from datetime import UTC, datetime, time, timedelta

import pytest

from apps.api_keys.models import ApiKey
from apps.audit.models import AuditEntry
from tests.apps.dashboard.markup import page
from tests.factories.api_keys import make_api_key

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"tsk_live_[A-Za-z0-9]{40}")


def _keys(organization, in_org):
    with in_org(organization):
        return list(ApiKey.objects.for_org(organization).order_by("created_at"))


def test_create_shows_the_secret_once_and_stores_only_its_hash(owner_client, org, owner, in_org):
    response = owner_client.post(
        f"/o/{org.slug}/api-keys/create/", {"name": "Production backend", "scopes": ["support:write", "support:read"]}
    )

    secret = page(response).one("api-key-secret").get("value")
    reloaded = owner_client.get(f"/o/{org.slug}/api-keys/")
    [key] = _keys(org, in_org)
    stored_values = [str(getattr(key, field.attname)) for field in ApiKey._meta.concrete_fields]
    row = page(reloaded).one("api-key-row")
    assert response.status_code == 201
    assert SECRET.fullmatch(secret)
    assert page(response).one("api-key-secret-warning").text.startswith("This key will not be shown again.")
    assert page(response).one("api-key-copy").get("data-copy-target") == "#api-key-secret"
    assert reloaded.status_code == 200
    assert SECRET.findall(reloaded.content.decode()) == []
    assert page(reloaded).all("api-key-secret") == []
    assert (key.name, key.scopes, key.created_by_id, key.expires_at) == (
        "Production backend",
        ["support:read", "support:write"],
        owner.id,
        None,
    )
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert (key.prefix, key.last_four) == (secret[:13], secret[-4:])
    assert [value for value in stored_values if secret in value] == []
    assert row.one("api-key-name").text == "Production backend"
    assert row.one("api-key-masked").text == f"{secret[:13]}…{secret[-4:]}"
    assert [chip.text for chip in row.one("api-key-scopes").all(tag="span")] == ["support:read", "support:write"]
    assert row.one("api-key-status").text == "Active"
    assert row.one("api-key-last-used").text == "Never"


def test_create_through_htmx_swaps_in_the_secret_and_refreshes_the_list(owner_client, org):
    response = owner_client.post(
        f"/o/{org.slug}/api-keys/create/",
        {"name": "Worker", "scopes": ["training"]},
        headers={"HX-Request": "true"},
    )

    html = page(response)
    assert response.status_code == 201
    assert b"<html" not in response.content
    assert html.one("api-key-create").get("id") == "api-key-create"
    assert SECRET.fullmatch(html.one("api-key-secret").get("value"))
    assert html.one("api-key-list").get("hx-swap-oob") == "true"
    assert [row.one("api-key-name").text for row in html.all("api-key-row")] == ["Worker"]


def test_create_with_an_expiry_date_expires_at_the_end_of_that_day(owner_client, org, in_org):
    expires_on = datetime.now(UTC).date() + timedelta(days=30)

    response = owner_client.post(
        f"/o/{org.slug}/api-keys/create/",
        {"name": "Contractor", "scopes": ["sentiment:read"], "expires_on": expires_on.isoformat()},
    )

    [key] = _keys(org, in_org)
    assert response.status_code == 201
    assert key.expires_at == datetime.combine(expires_on, time.max, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "No scopes"}, "scopes", "Choose at least one scope."),
        ({"name": "", "scopes": ["admin"]}, "name", "This field is required."),
        ({"name": "Typo", "scopes": ["support:delete"]}, "scopes", "Select a valid choice. support:delete is not one"),
        (
            {"name": "Past", "scopes": ["admin"], "expires_on": "2020-01-01"},
            "expires_on",
            "Choose today or a later date.",
        ),
    ],
    ids=["no-scope", "no-name", "unknown-scope", "past-expiry"],
)
def test_create_with_invalid_input_shows_the_error_and_creates_nothing(owner_client, org, in_org, data, field, message):
    response = owner_client.post(f"/o/{org.slug}/api-keys/create/", data)

    errors = [element.text for element in page(response).all() if element.get("class") == "field-error"]
    assert response.status_code == 400
    assert len(errors) == 1
    assert errors[0].startswith(message)
    assert page(response).all("api-key-secret") == []
    assert _keys(org, in_org) == []


def test_revoke_marks_the_key_revoked_and_records_who_did_it(owner_client, org, owner, in_org):
    api_key, _ = make_api_key(org, name="Old integration")

    response = owner_client.post(f"/o/{org.slug}/api-keys/{api_key.id}/revoke/")

    followed = owner_client.get(response["Location"])
    [key] = _keys(org, in_org)
    with in_org(org):
        entry = AuditEntry.objects.for_org(org).get(action="api_key.revoked")
    row = page(followed).one("api-key-row")
    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.slug}/api-keys/"
    assert key.revoked_at is not None
    assert key.revoked_by_id == owner.id
    assert (entry.actor_label, entry.target_id) == (owner.email, str(api_key.id))
    assert row.one("api-key-status").text == "Revoked"
    assert row.all("api-key-revoke") == []
    assert page(followed).one("flash-success").text == (
        f"Revoked Old integration ({api_key.masked}). Requests using it now fail with 401."
    )


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_see_keys_but_no_create_form_or_revoke_button(request, client_for, org, role):
    make_api_key(org)
    user = request.getfixturevalue(role)

    response = client_for(user).get(f"/o/{org.slug}/api-keys/")

    html = page(response)
    assert response.status_code == 200
    assert len(html.all("api-key-row")) == 1
    assert html.all("api-key-create-form") == []
    assert html.all("api-key-revoke") == []
    assert html.one("api-keys-read-only").text.startswith("Only owners and admins can create or revoke API keys.")


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_create_keys(request, client_for, org, in_org, role):
    user = request.getfixturevalue(role)

    response = client_for(user).post(f"/o/{org.slug}/api-keys/create/", {"name": "Sneaky", "scopes": ["admin"]})

    assert response.status_code == 403
    assert page(response).one("error-message").text == (
        f"Only an owner or admin can do this. Your role is {role.capitalize()}."
    )
    assert _keys(org, in_org) == []


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_revoke_keys(request, client_for, org, in_org, role):
    api_key, _ = make_api_key(org)
    user = request.getfixturevalue(role)

    response = client_for(user).post(f"/o/{org.slug}/api-keys/{api_key.id}/revoke/")

    [key] = _keys(org, in_org)
    assert response.status_code == 403
    assert key.revoked_at is None


def test_an_admin_can_create_keys(client_for, admin, org, in_org):
    response = client_for(admin).post(f"/o/{org.slug}/api-keys/create/", {"name": "Admin's", "scopes": ["admin"]})

    assert response.status_code == 201
    assert [key.name for key in _keys(org, in_org)] == ["Admin's"]


def test_revoking_an_unknown_key_is_404(owner_client, org):
    response = owner_client.post(f"/o/{org.slug}/api-keys/00000000-0000-0000-0000-000000000000/revoke/")

    assert response.status_code == 404


def test_key_pages_refuse_the_wrong_method(owner_client, org):
    create = owner_client.get(f"/o/{org.slug}/api-keys/create/")
    listing = owner_client.post(f"/o/{org.slug}/api-keys/")

    assert create.status_code == 405
    assert listing.status_code == 405


def test_invalid_input_through_htmx_returns_the_form_with_its_errors(owner_client, org, in_org):
    response = owner_client.post(
        f"/o/{org.slug}/api-keys/create/", {"name": "No scopes"}, headers={"HX-Request": "true"}
    )

    html = page(response)
    assert response.status_code == 400
    assert b"<html" not in response.content
    assert html.one("api-key-create-form").get("hx-target") == "#api-key-create"
    assert [element.text for element in html.all() if element.get("class") == "field-error"] == [
        "Choose at least one scope."
    ]
    assert html.one("api-key-create-form").all(tag="input")[1].get("value") == "No scopes"
    assert _keys(org, in_org) == []
