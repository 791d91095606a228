"""API keys in the console: the cross-org list, revocation, and secrets never shown."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from apps.api_keys.models import ApiKey
from apps.audit.models import AuditEntry
from tests.apps.console.conftest import api_get_organization, console_url
from tests.factories.api_keys import make_api_key

pytestmark = pytest.mark.django_db

CHANGELIST = "api_keys_apikey_changelist"


def _revoke(staff_client, *keys, confirm=True):
    data = {"action": "revoke_keys", ACTION_CHECKBOX_NAME: [str(key.pk) for key in keys]}
    data.update({"confirm": "yes"} if confirm else {"index": "0"})
    return staff_client.post(console_url(CHANGELIST), data)


def _revocations(in_org, organization):
    with in_org(organization):
        return list(AuditEntry.objects.for_org(organization).filter(action="api_key.revoked"))


def test_list_shows_keys_of_every_organization(staff_client, org, other_org, org_key, other_org_key):
    response = staff_client.get(console_url(CHANGELIST))

    assert response.status_code == 200
    assert {(key.organization_id, key.name) for key in response.context["cl"].result_list} == {
        (org.id, "Acme production"),
        (other_org.id, "Lear batch jobs"),
    }
    html = response.content.decode()
    assert org_key[0].masked in html
    assert other_org_key[0].masked in html


@pytest.mark.parametrize(("term", "expected"), [("batch", {"Lear batch jobs"}), ("Acme Bank", {"Acme production"})])
def test_search_by_name_and_organization(staff_client, org, other_org, org_key, other_org_key, term, expected):
    response = staff_client.get(console_url(CHANGELIST), {"q": term})

    assert {key.name for key in response.context["cl"].result_list} == expected


def test_search_by_prefix(staff_client, org, other_org, org_key, other_org_key):
    response = staff_client.get(console_url(CHANGELIST), {"q": org_key[0].prefix})

    assert [key.pk for key in response.context["cl"].result_list] == [org_key[0].pk]


def test_revoke_action_asks_for_confirmation_first(staff_client, org, org_key, in_org):
    response = _revoke(staff_client, org_key[0], confirm=False)

    assert response.status_code == 200
    assert [key.pk for key in response.context["objects"]] == [org_key[0].pk]
    with in_org(org):
        assert ApiKey.objects.get(pk=org_key[0].pk).revoked_at is None
    assert api_get_organization(org_key[1]).status_code == 200


def test_revoke_action_revokes_audits_via_console_and_the_api_answers_401(
    staff_client, staff_user, org, other_org, org_key, other_org_key, in_org
):
    spare_key, spare_secret = make_api_key(org, name="Spare")

    response = _revoke(staff_client, org_key[0], other_org_key[0])

    assert response.status_code == 302
    assert response["Location"] == console_url(CHANGELIST)
    with in_org(org):
        assert ApiKey.objects.get(pk=org_key[0].pk).revoked_by_id == staff_user.id
        assert ApiKey.objects.get(pk=spare_key.pk).revoked_at is None
    with in_org(other_org):
        assert ApiKey.objects.get(pk=other_org_key[0].pk).revoked_at is not None
    for organization, api_key in ((org, org_key[0]), (other_org, other_org_key[0])):
        [entry] = _revocations(in_org, organization)
        assert entry.via == "console"
        assert entry.actor_user_id == staff_user.id
        assert entry.actor_label == "Tessera staff operator@tessera.example"
        assert entry.target_id == str(api_key.pk)
    for secret in (org_key[1], other_org_key[1]):
        api = api_get_organization(secret)
        assert api.status_code == 401
        assert api.json()["error"]["code"] == "api_key_revoked"
    assert api_get_organization(spare_secret).status_code == 200


def test_revoking_an_already_revoked_key_writes_no_second_entry(staff_client, org, org_key, in_org):
    _revoke(staff_client, org_key[0])

    response = _revoke(staff_client, org_key[0])

    assert response.status_code == 302
    assert len(_revocations(in_org, org)) == 1


def test_keys_cannot_be_added_changed_or_deleted(staff_client, org, org_key, in_org):
    key = org_key[0]

    add = staff_client.get("/console/api_keys/apikey/add/")
    change = staff_client.post(console_url("api_keys_apikey_change", key.pk), {"name": "Renamed", "scopes": "[]"})
    delete = staff_client.post(f"/console/api_keys/apikey/{key.pk}/delete/", {"post": "yes"})

    assert add.status_code == 403
    assert change.status_code == 403
    assert delete.status_code == 403
    with in_org(org):
        row = ApiKey.objects.get(pk=key.pk)
    assert (row.name, row.scopes, row.revoked_at) == ("Acme production", ["admin"], None)


def test_console_pages_never_show_key_hash(staff_client, org, other_org, org_key, other_org_key, owner):
    key = org_key[0]
    pages = [
        console_url("index"),
        console_url(CHANGELIST),
        console_url(CHANGELIST) + f"?q={key.prefix}",
        console_url("api_keys_apikey_change", key.pk),
        console_url("accounts_organization_change", org.pk),
        console_url("audit_auditentry_changelist"),
        console_url("accounts_user_change", owner.pk),
    ]

    responses = [staff_client.get(page) for page in pages]

    assert [response.status_code for response in responses] == [200] * len(pages)
    for response in responses:
        html = response.content.decode()
        assert key.key_hash not in html
        assert other_org_key[0].key_hash not in html
        assert org_key[1] not in html
        assert "key_hash" not in html
