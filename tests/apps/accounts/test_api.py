import pytest
from django.core import mail
from django.utils import timezone

from apps.accounts.models import Invitation, Membership, Organization
from apps.audit.models import AuditEntry
from tests.factories.accounts import MembershipFactory
from tests.factories.api_keys import make_api_key

pytestmark = pytest.mark.django_db


def _roles(org, in_org):
    with in_org(org):
        return dict(Membership.objects.values_list("user__email", "role"))


def test_organization_read_needs_no_scope_and_update_needs_admin(org, owner, keyed_client):
    reader = keyed_client(org, scopes=["support:read"])

    read = reader.get("/api/v1/organization")
    update = reader.patch("/api/v1/organization", {"name": "New name"}, format="json")

    assert read.status_code == 200
    assert read.json() == {
        "id": org.id,
        "name": "Acme Bank",
        "slug": "acme-bank",
        "is_suspended": False,
        "created_at": read.json()["created_at"],
    }
    assert update.status_code == 403
    assert Organization.objects.get(id=org.id).name == "Acme Bank"


def test_organization_rename_is_audited(api_client, org, in_org):
    response = api_client.patch("/api/v1/organization", {"name": "Acme Bank plc"}, format="json")

    assert response.status_code == 200 and response.json()["name"] == "Acme Bank plc"
    with in_org(org):
        entry = AuditEntry.objects.get(action="organization.updated")
    assert entry.metadata == {"name": {"from": "Acme Bank", "to": "Acme Bank plc"}}
    assert entry.actor_api_key_id == api_client.api_key.id


def test_suspended_organization_gets_403_organization_suspended(api_client, org):
    Organization.objects.filter(id=org.id).update(suspended_at=timezone.now(), suspended_reason="Unpaid invoices")

    response = api_client.get("/api/v1/organization")

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "organization_suspended"
    assert "Unpaid invoices" in error["message"]


def test_members_list_shows_users_and_roles(api_client, org, owner, member):
    response = api_client.get("/api/v1/members")

    assert response.status_code == 200
    assert sorted((m["user"]["email"], m["role"]) for m in response.json()["results"]) == sorted(
        [(owner.email, "owner"), (member.email, "member")]
    )


def test_change_role_and_remove_member(api_client, org, owner, member, in_org):
    with in_org(org):
        membership = Membership.objects.get(user=member)

    changed = api_client.patch(f"/api/v1/members/{membership.id}", {"role": "viewer"}, format="json")
    removed = api_client.delete(f"/api/v1/members/{membership.id}")

    assert changed.status_code == 200 and changed.json()["role"] == "viewer"
    assert removed.status_code == 204
    assert _roles(org, in_org) == {owner.email: "owner"}
    with in_org(org):
        actions = sorted(AuditEntry.objects.filter(action__startswith="member.").values_list("action", flat=True))
    assert actions == ["member.removed", "member.role_changed"]


def test_keys_act_as_admins_so_they_cannot_demote_or_remove_an_owner(api_client, org, owner, in_org):
    with in_org(org):
        membership = Membership.objects.get(user=owner)

    demote = api_client.patch(f"/api/v1/members/{membership.id}", {"role": "admin"}, format="json")
    remove = api_client.delete(f"/api/v1/members/{membership.id}")

    assert demote.status_code == remove.status_code == 403
    assert demote.json()["error"]["code"] == remove.json()["error"]["code"] == "owner_required"
    assert _roles(org, in_org) == {owner.email: "owner"}


def test_an_admin_key_cannot_touch_owners_or_grant_ownership(api_client, org, owner, member, in_org):
    second_owner = MembershipFactory(organization=org, role="owner")
    with in_org(org):
        member_row = Membership.objects.get(user=member)

    demote_owner = api_client.patch(f"/api/v1/members/{second_owner.id}", {"role": "member"}, format="json")
    promote = api_client.patch(f"/api/v1/members/{member_row.id}", {"role": "owner"}, format="json")

    assert demote_owner.status_code == promote.status_code == 403
    assert demote_owner.json()["error"]["code"] == "owner_required"
    assert _roles(org, in_org)[member.email] == "member"
    assert _roles(org, in_org)[second_owner.user.email] == "owner"


def test_invalid_role_is_400(api_client, org, member, in_org):
    with in_org(org):
        membership = Membership.objects.get(user=member)

    response = api_client.patch(f"/api/v1/members/{membership.id}", {"role": "god"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]["fields"]) == ["role"]


def test_invite_then_revoke(api_client, org, in_org, django_capture_on_commit_callbacks, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=True):
        created = api_client.post(
            "/api/v1/invitations", {"email": "New.Person@Example.com", "role": "admin"}, format="json"
        )
    duplicate = api_client.post("/api/v1/invitations", {"email": "new.person@example.com"}, format="json")
    revoked = api_client.post(f"/api/v1/invitations/{created.json()['id']}/revoke")
    again = api_client.post(f"/api/v1/invitations/{created.json()['id']}/revoke")

    assert created.status_code == 201
    assert created.json()["email"] == "new.person@example.com" and created.json()["status"] == "pending"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new.person@example.com"]
    assert "/invitations/" in mail.outbox[0].body
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "invitation_pending"
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert again.status_code == 409
    with in_org(org):
        assert Invitation.objects.count() == 1


def test_inviting_an_existing_member_is_409(api_client, member):
    response = api_client.post("/api/v1/invitations", {"email": member.email}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_member"


def test_a_non_admin_key_cannot_list_members(org, owner):
    _, secret = make_api_key(org, scopes=["training", "billing:read"])
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert client.get("/api/v1/members").status_code == 403
