"""The audit log, memberships and users in the console."""

import logging

import pytest

from apps.accounts.models import User
from apps.audit.models import AuditEntry
from tests.apps.console.conftest import console_url

pytestmark = pytest.mark.django_db


# --- Audit log -------------------------------------------------------------------------


def test_audit_log_lists_entries_of_every_organization(staff_client, org, other_org, org_key, other_org_key):
    response = staff_client.get(console_url("audit_auditentry_changelist"))

    assert response.status_code == 200
    assert sorted((entry.organization_id, entry.action) for entry in response.context["cl"].result_list) == [
        (org.id, "api_key.created"),
        (other_org.id, "api_key.created"),
    ]
    html = response.content.decode()
    assert "Acme Bank" in html
    assert "Lear Credit Union" in html


def test_audit_log_filters_by_via_and_searches_by_organization(staff_client, org, other_org, org_key, other_org_key):
    staff_client.post(console_url("accounts_organization_suspend", other_org.pk), {"reason": "Dormant"})

    by_via = staff_client.get(console_url("audit_auditentry_changelist"), {"via__exact": "console"})
    by_org = staff_client.get(console_url("audit_auditentry_changelist"), {"q": "Lear"})

    assert [(e.organization_id, e.action) for e in by_via.context["cl"].result_list] == [
        (other_org.id, "console.organization_suspended")
    ]
    assert sorted(e.action for e in by_org.context["cl"].result_list) == [
        "api_key.created",
        "console.organization_suspended",
    ]


def test_audit_log_links_from_an_organization_show_only_its_entries(
    staff_client, org, other_org, org_key, other_org_key
):
    response = staff_client.get(console_url("audit_auditentry_changelist"), {"organization__id__exact": org.pk})

    assert [entry.organization_id for entry in response.context["cl"].result_list] == [org.id]


def test_audit_entry_detail_is_read_only(staff_client, org, org_key, in_org):
    with in_org(org):
        entry = AuditEntry.objects.for_org(org).get(action="api_key.created")

    page = staff_client.get(console_url("audit_auditentry_change", entry.pk))
    post = staff_client.post(console_url("audit_auditentry_change", entry.pk), {"action": "forged"})

    assert page.status_code == 200
    assert "&quot;scopes&quot;: [" in page.content.decode()
    assert post.status_code == 403
    with in_org(org):
        assert AuditEntry.objects.get(pk=entry.pk).action == "api_key.created"


def test_audit_log_date_hierarchy_narrows_by_year(staff_client, org, org_key):
    with_year = staff_client.get(console_url("audit_auditentry_changelist"), {"created_at__year": "2001"})

    assert with_year.status_code == 200
    assert list(with_year.context["cl"].result_list) == []


# --- Memberships -----------------------------------------------------------------------


def test_memberships_of_every_organization_and_search_by_email(staff_client, org, other_org, owner, other_owner):
    everyone = staff_client.get(console_url("accounts_membership_changelist"))
    searched = staff_client.get(console_url("accounts_membership_changelist"), {"q": owner.email})

    assert sorted(m.organization_id for m in everyone.context["cl"].result_list) == sorted([org.id, other_org.id])
    assert [(m.organization_id, m.user_id) for m in searched.context["cl"].result_list] == [(org.id, owner.id)]


# --- Users -----------------------------------------------------------------------------


def test_user_list_shows_organization_counts(staff_client, staff_user, owner, other_owner):
    response = staff_client.get(console_url("accounts_user_changelist"), {"q": owner.email})

    assert [(user.email, user.organization_total) for user in response.context["cl"].result_list] == [(owner.email, 1)]


def test_user_detail_lists_the_users_organizations(staff_client, org, owner):
    response = staff_client.get(console_url("accounts_user_change", owner.pk))

    assert response.status_code == 200
    [memberships] = response.context["inline_admin_formsets"]
    assert [form.original.organization_id for form in memberships] == [org.id]
    assert "pbkdf2" not in response.content.decode()
    assert owner.password not in response.content.decode()


def test_staff_can_deactivate_a_user_and_it_is_logged(staff_client, staff_user, owner, caplog):
    url = console_url("accounts_user_change", owner.pk)
    form = staff_client.get(url).context["adminform"].form
    data = {"is_staff": "", "_save": "Save", **_management_data(staff_client, url)}

    with caplog.at_level(logging.INFO, logger="apps.console.admin"):
        response = staff_client.post(url, data)

    assert list(form.fields) == ["is_active", "is_staff"]
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.is_active is False
    assert owner.is_staff is False
    [record] = [r for r in caplog.records if r.getMessage() == "console.user_updated"]
    assert (record.user_id, record.changed_fields, record.staff_user_id) == (owner.pk, ["is_active"], staff_user.pk)


def test_staff_can_grant_staff(staff_client, owner):
    url = console_url("accounts_user_change", owner.pk)

    response = staff_client.post(url, {"is_active": "on", "is_staff": "on", **_management_data(staff_client, url)})

    assert response.status_code == 302
    owner.refresh_from_db()
    assert (owner.is_active, owner.is_staff, owner.is_superuser) == (True, True, False)


def test_staff_cannot_lock_themselves_out(staff_client, staff_user):
    url = console_url("accounts_user_change", staff_user.pk)

    response = staff_client.post(url, {"is_staff": "", **_management_data(staff_client, url)})

    assert response.status_code == 302
    staff_user.refresh_from_db()
    assert (staff_user.is_active, staff_user.is_staff) == (True, True)


def test_users_cannot_be_added_or_deleted(staff_client, owner):
    add = staff_client.get("/console/accounts/user/add/")
    delete = staff_client.post(f"/console/accounts/user/{owner.pk}/delete/", {"post": "yes"})

    assert (add.status_code, delete.status_code) == (403, 403)
    assert User.objects.filter(pk=owner.pk).exists()


def _management_data(client, url):
    """The inline formsets' management fields, as the rendered form posts them."""
    formsets = client.get(url).context["inline_admin_formsets"]
    return {
        f"{inline.formset.management_form.prefix}-{name}": value
        for inline in formsets
        for name, value in inline.formset.management_form.initial.items()
    }
