"""Suspend and unsuspend, called directly against the database."""

import pytest

from apps.audit.models import AuditEntry
from apps.console.services import ConsoleError, organization_suspend, organization_unsuspend
from apps.core.actors import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_actor(staff_user):
    return Actor(via="console", role="staff", user=staff_user, ip_address="10.0.0.7")


def _entries(in_org, organization):
    with in_org(organization):
        return list(
            AuditEntry.objects.for_org(organization).filter(action__startswith="console.").order_by("created_at")
        )


def test_suspend_sets_the_fields_and_audits_on_the_organization(org, other_org, staff_actor, staff_user, in_org):
    organization = organization_suspend(organization=org, actor=staff_actor, reason="  Unpaid   invoices \n")

    org.refresh_from_db()
    other_org.refresh_from_db()
    assert organization.is_suspended is True
    assert org.suspended_at is not None
    assert org.suspended_reason == "Unpaid invoices"
    assert other_org.suspended_at is None
    [entry] = _entries(in_org, org)
    assert entry.action == "console.organization_suspended"
    assert entry.via == "console"
    assert entry.actor_user_id == staff_user.id
    assert entry.actor_label == "Tessera staff operator@tessera.example"
    assert entry.target_type == "accounts.organization"
    assert entry.target_id == str(org.id)
    assert entry.metadata == {"reason": "Unpaid invoices"}
    assert entry.ip_address == "10.0.0.7"
    assert _entries(in_org, other_org) == []


def test_unsuspend_clears_the_fields_and_audits(org, staff_actor, in_org):
    organization_suspend(organization=org, actor=staff_actor, reason="Abuse report 42")

    organization_unsuspend(organization=org, actor=staff_actor)

    org.refresh_from_db()
    assert org.suspended_at is None
    assert org.suspended_reason == ""
    entries = _entries(in_org, org)
    assert [entry.action for entry in entries] == [
        "console.organization_suspended",
        "console.organization_unsuspended",
    ]
    assert entries[1].metadata == {"previous_reason": "Abuse report 42"}
    assert entries[1].via == "console"


def test_suspending_twice_keeps_the_first_reason_and_writes_one_entry(org, staff_actor, in_org):
    organization_suspend(organization=org, actor=staff_actor, reason="First")
    org.refresh_from_db()
    first_suspended_at = org.suspended_at

    organization_suspend(organization=org, actor=staff_actor, reason="Second")

    org.refresh_from_db()
    assert org.suspended_at == first_suspended_at
    assert org.suspended_reason == "First"
    assert len(_entries(in_org, org)) == 1


def test_unsuspending_an_active_organization_changes_nothing(org, staff_actor, in_org):
    organization_unsuspend(organization=org, actor=staff_actor)

    org.refresh_from_db()
    assert org.suspended_at is None
    assert _entries(in_org, org) == []


@pytest.mark.parametrize(
    ("reason", "code"),
    [("", "reason_required"), ("   \n ", "reason_required"), ("x" * 501, "reason_too_long")],
)
def test_suspend_refuses_a_missing_or_oversize_reason(org, staff_actor, in_org, reason, code):
    with pytest.raises(ConsoleError) as raised:
        organization_suspend(organization=org, actor=staff_actor, reason=reason)

    assert raised.value.code == code
    org.refresh_from_db()
    assert org.suspended_at is None
    assert _entries(in_org, org) == []


def test_suspend_refuses_anyone_but_console_staff(org, owner, in_org):
    dashboard_owner = Actor(via="dashboard", role="owner", user=owner)

    with pytest.raises(ConsoleError) as raised:
        organization_suspend(organization=org, actor=dashboard_owner, reason="Because")

    assert raised.value.code == "permission_denied"
    assert raised.value.status == 403
    org.refresh_from_db()
    assert org.suspended_at is None
    assert _entries(in_org, org) == []


def test_a_console_actor_whose_user_is_not_staff_is_refused(org, owner, in_org):
    not_staff = Actor(via="console", role="staff", user=owner)

    with pytest.raises(ConsoleError) as raised:
        organization_suspend(organization=org, actor=not_staff, reason="Because")

    assert raised.value.code == "permission_denied"
    org.refresh_from_db()
    assert org.suspended_at is None
