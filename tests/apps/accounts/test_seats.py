"""The plan's seats: members plus pending invitations, and the seats gauge."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.accounts.models import Invitation, User
from apps.accounts.services import invitation_accept, invitation_token, organization_create
from apps.billing.models import BillingAccount
from apps.billing.selectors import period_bounds
from apps.core.tenancy import tenant_context
from apps.metering.selectors import usage_counter_value
from tests.factories.billing import set_overrides

pytestmark = pytest.mark.django_db


def _invite(api_client, email):
    return api_client.post("/api/v1/invitations", {"email": email}, format="json")


def test_free_has_three_seats_and_pending_invitations_hold_them(api_client, org, owner, in_org):
    first, second = _invite(api_client, "a@acme.example"), _invite(api_client, "b@acme.example")

    third = _invite(api_client, "c@acme.example")

    error = third.json()["error"]
    assert (first.status_code, second.status_code, third.status_code) == (201, 201, 402)
    assert error["code"] == "plan_limit_reached"
    assert error["details"] == {"entitlement": "max_seats", "limit": 3, "members": 1, "pending_invitations": 2}
    with in_org(org):
        assert Invitation.objects.count() == 2


def test_revoking_an_invitation_frees_its_seat(api_client, org, owner):
    invitations = [_invite(api_client, f"{name}@acme.example").json() for name in ("a", "b")]

    api_client.post(f"/api/v1/invitations/{invitations[0]['id']}/revoke")
    again = _invite(api_client, "c@acme.example")

    assert again.status_code == 201


def test_staff_can_grant_more_seats(api_client, org, owner):
    set_overrides(org, max_seats=4)

    statuses = [_invite(api_client, f"{name}@acme.example").status_code for name in ("a", "b", "c", "d")]

    assert statuses == [201, 201, 201, 402]


def test_a_new_organization_starts_on_free_with_one_seat_and_joining_adds_one(db):
    owner = User.objects.create_user("founder@acme.example", "pw-0123456789")
    organization = organization_create(name="Seat Test Bank", owner=owner)
    with tenant_context(organization.id):
        invitation = Invitation.objects.create(
            organization=organization,
            email="joiner@acme.example",
            role="member",
            expires_at=timezone.now() + timedelta(days=7),
        )
    joiner = User.objects.create_user("joiner@acme.example", "pw-0123456789")

    invitation_accept(token=invitation_token(invitation), user=joiner)

    with tenant_context(organization.id):
        plan = BillingAccount.objects.get().plan.code
        seats = usage_counter_value(organization=organization, meter="seats", period_start=period_bounds()[0])
    assert plan == "free"
    assert seats == Decimal(2)
