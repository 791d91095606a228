"""Organizations in the console: list, search, detail, suspend and unsuspend, under RLS."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from apps.accounts.models import Organization
from apps.audit.models import AuditEntry
from tests.apps.console.conftest import api_get_organization, console_url
from tests.factories.accounts import MembershipFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "accounts_organization_changelist"


def _console_entries(in_org, organization):
    with in_org(organization):
        return list(AuditEntry.objects.for_org(organization).filter(via="console").order_by("created_at"))


def _suspend(staff_client, organization, reason):
    return staff_client.post(
        console_url(CHANGELIST),
        {
            "action": "suspend_organizations",
            ACTION_CHECKBOX_NAME: [organization.pk],
            "confirm": "yes",
            "reason": reason,
        },
    )


# --- List, search, detail --------------------------------------------------------------


def test_staff_sees_every_organization_with_member_and_active_key_counts(
    staff_client, org, other_org, owner, other_owner, org_key, other_org_key
):
    MembershipFactory(organization=other_org, role="viewer")

    response = staff_client.get(console_url(CHANGELIST))

    assert response.status_code == 200
    rows = {o.name: (o.member_total, o.active_key_total) for o in response.context["cl"].result_list}
    assert rows == {"Acme Bank": (1, 1), "Lear Credit Union": (2, 1)}
    html = response.content.decode()
    assert html.count('class="tsr-badge tsr-badge--ok" title="">Active</span>') == 2


def test_revoked_keys_do_not_count_as_active(staff_client, org, owner, org_key, in_org):
    from apps.api_keys.services import api_key_revoke
    from apps.core.actors import Actor

    with in_org(org):
        api_key_revoke(organization=org, api_key=org_key[0], actor=Actor(via="system", role="owner"))

    response = staff_client.get(console_url(CHANGELIST))

    [acme] = [o for o in response.context["cl"].result_list if o.pk == org.pk]
    assert acme.active_key_total == 0


@pytest.mark.parametrize("which", ["org", "other_org"])
def test_detail_page_shows_that_organizations_members_and_keys(
    staff_client, org, other_org, owner, other_owner, org_key, other_org_key, which
):
    organizations = {
        "org": (org, owner, org_key[0], other_owner, other_org_key[0]),
        "other_org": (other_org, other_owner, other_org_key[0], owner, org_key[0]),
    }
    organization, member, api_key, stranger, strangers_key = organizations[which]

    response = staff_client.get(console_url("accounts_organization_change", organization.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert organization.name in html
    assert member.email in html
    assert api_key.name in html
    assert api_key.masked in html
    assert stranger.email not in html
    assert strangers_key.masked not in html
    [members, keys] = response.context["inline_admin_formsets"]
    assert [form.original.user_id for form in members] == [member.id]
    assert [form.original.id for form in keys] == [api_key.id]


def test_detail_page_lists_recent_audit_entries_of_that_organization_only(
    staff_client, org, other_org, org_key, other_org_key
):
    response = staff_client.get(console_url("accounts_organization_change", org.pk))

    entries = list(response.context["recent_audit_entries"])
    assert [(entry.organization_id, entry.action) for entry in entries] == [(org.id, "api_key.created")]
    assert "Recent audit entries" in response.content.decode()


def test_search_finds_an_organization_by_member_email(staff_client, org, other_org, owner, other_owner):
    response = staff_client.get(console_url(CHANGELIST), {"q": other_owner.email.upper()})

    assert response.status_code == 200
    assert [o.pk for o in response.context["cl"].result_list] == [other_org.pk]


@pytest.mark.parametrize(("term", "expected"), [("acme", ["Acme Bank"]), ("lear-credit", ["Lear Credit Union"])])
def test_search_by_name_and_slug(staff_client, org, other_org, term, expected):
    response = staff_client.get(console_url(CHANGELIST), {"q": term})

    assert [o.name for o in response.context["cl"].result_list] == expected


def test_status_filter_lists_only_suspended_organizations(staff_client, org, other_org):
    _suspend(staff_client, other_org, "Chargebacks")

    response = staff_client.get(console_url(CHANGELIST), {"status": "suspended"})

    assert [o.pk for o in response.context["cl"].result_list] == [other_org.pk]


def test_organizations_cannot_be_added_or_deleted(staff_client, org):
    add = staff_client.get("/console/accounts/organization/add/")
    delete = staff_client.post(f"/console/accounts/organization/{org.pk}/delete/", {"post": "yes"})

    assert add.status_code == 403
    assert delete.status_code == 403
    assert Organization.objects.filter(pk=org.pk).exists()


# --- Suspend / unsuspend ---------------------------------------------------------------


def test_suspend_action_first_asks_for_a_reason(staff_client, org, other_org, in_org):
    response = staff_client.post(
        console_url(CHANGELIST), {"action": "suspend_organizations", ACTION_CHECKBOX_NAME: [org.pk], "index": "0"}
    )

    assert response.status_code == 200
    assert [o.pk for o in response.context["objects"]] == [org.pk]
    assert 'name="reason"' in response.content.decode()
    org.refresh_from_db()
    assert org.suspended_at is None
    assert _console_entries(in_org, org) == []


def test_suspend_with_a_reason_suspends_audits_and_the_api_answers_403(
    staff_client, staff_user, org, other_org, org_key, other_org_key, in_org
):
    _, secret = org_key

    response = _suspend(staff_client, org, "Unpaid invoices since March")

    assert response.status_code == 302
    assert response["Location"] == console_url(CHANGELIST)
    org.refresh_from_db()
    other_org.refresh_from_db()
    assert org.suspended_at is not None
    assert org.suspended_reason == "Unpaid invoices since March"
    assert other_org.suspended_at is None
    [entry] = _console_entries(in_org, org)
    assert entry.action == "console.organization_suspended"
    assert entry.via == "console"
    assert entry.actor_user_id == staff_user.id
    assert entry.actor_label == "Tessera staff operator@tessera.example"
    assert entry.ip_address == "127.0.0.1"
    assert entry.metadata == {"reason": "Unpaid invoices since March"}
    assert _console_entries(in_org, other_org) == []
    api = api_get_organization(secret)
    assert api.status_code == 403
    error = api.json()["error"]
    assert error["code"] == "organization_suspended"
    assert (
        error["message"]
        == "This organization is suspended. Contact Tessera support. Reason: Unpaid invoices since March"
    )
    assert api_get_organization(other_org_key[1]).status_code == 200


def test_suspend_without_a_reason_shows_the_form_again_and_changes_nothing(staff_client, org, in_org):
    response = _suspend(staff_client, org, "   ")

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["Give a reason: the organization's members will see it."]}
    org.refresh_from_db()
    assert org.suspended_at is None
    assert _console_entries(in_org, org) == []


def test_suspend_with_an_oversize_reason_shows_the_form_again(staff_client, org):
    response = _suspend(staff_client, org, "x" * 501)

    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["reason"]
    org.refresh_from_db()
    assert org.suspended_at is None


def test_unsuspend_action_restores_api_access_and_is_audited(staff_client, staff_user, org, org_key, in_org):
    _, secret = org_key
    _suspend(staff_client, org, "Investigating abuse")

    response = staff_client.post(
        console_url(CHANGELIST), {"action": "unsuspend_organizations", ACTION_CHECKBOX_NAME: [org.pk], "index": "0"}
    )

    assert response.status_code == 302
    org.refresh_from_db()
    assert org.suspended_at is None
    assert org.suspended_reason == ""
    entries = _console_entries(in_org, org)
    assert [entry.action for entry in entries] == [
        "console.organization_suspended",
        "console.organization_unsuspended",
    ]
    assert entries[1].actor_user_id == staff_user.id
    assert api_get_organization(secret).status_code == 200


def test_suspend_button_on_the_detail_page(staff_client, org, org_key, in_org):
    url = console_url("accounts_organization_suspend", org.pk)

    form_page = staff_client.get(url)
    response = staff_client.post(url, {"reason": "Terms of service violation"})

    assert form_page.status_code == 200
    assert response.status_code == 302
    assert response["Location"] == console_url("accounts_organization_change", org.pk)
    org.refresh_from_db()
    assert org.suspended_reason == "Terms of service violation"
    assert [entry.action for entry in _console_entries(in_org, org)] == ["console.organization_suspended"]
    detail = staff_client.get(console_url("accounts_organization_change", org.pk)).content.decode()
    assert "Terms of service violation" in detail
    assert console_url("accounts_organization_unsuspend", org.pk) in detail


def test_unsuspend_button_asks_then_unsuspends(staff_client, org, org_key, in_org):
    staff_client.post(console_url("accounts_organization_suspend", org.pk), {"reason": "Fraud check"})
    url = console_url("accounts_organization_unsuspend", org.pk)

    confirm = staff_client.get(url)
    org.refresh_from_db()
    assert confirm.status_code == 200
    assert org.suspended_at is not None

    response = staff_client.post(url)

    assert response.status_code == 302
    org.refresh_from_db()
    assert org.suspended_at is None
    assert api_get_organization(org_key[1]).status_code == 200


def test_suspend_button_without_reason_changes_nothing(staff_client, org, in_org):
    response = staff_client.post(console_url("accounts_organization_suspend", org.pk), {"reason": ""})

    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["reason"]
    org.refresh_from_db()
    assert org.suspended_at is None
    assert _console_entries(in_org, org) == []
