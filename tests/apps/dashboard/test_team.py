import re
from urllib.parse import quote

import pytest
from django.utils import timezone

from apps.accounts.models import Invitation, Membership, Organization, User
from apps.accounts.services import invitation_token
from apps.audit.models import AuditEntry
from tests.apps.dashboard.markup import page
from tests.factories.accounts import InvitationFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _invitations(organization, in_org):
    with in_org(organization):
        return list(Invitation.objects.for_org(organization).order_by("created_at"))


def _roles(organization, in_org):
    with in_org(organization):
        return dict(Membership.objects.for_org(organization).values_list("user__email", "role"))


# --- Invite ---------------------------------------------------------------------------


def test_invite_emails_the_link_from_celery_after_commit(
    owner_client, org, owner, in_org, settings, celery_eager, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = owner_client.post(
            f"/o/{org.slug}/team/invitations/", {"email": "New.Hire@Example.com", "role": "admin"}
        )

    [invitation] = _invitations(org, in_org)
    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.slug}/team/"
    assert len(callbacks) == 1
    assert (invitation.email, invitation.role, invitation.invited_by_id) == ("new.hire@example.com", "admin", owner.id)
    assert invitation.email_sent_at is not None
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["new.hire@example.com"]
    assert mailoutbox[0].subject == "You're invited to Acme Bank on Tessera"
    assert re.search(re.escape(settings.SITE_URL) + r"/invitations/[^/\s]+/", mailoutbox[0].body)


def test_invite_sends_no_email_before_the_transaction_commits(owner_client, org, in_org, mailoutbox):
    response = owner_client.post(f"/o/{org.slug}/team/invitations/", {"email": "later@example.com", "role": "member"})

    [invitation] = _invitations(org, in_org)
    followed = owner_client.get(response["Location"])
    row = page(followed).one("invitation-row")
    assert response.status_code == 302
    assert mailoutbox == []
    assert invitation.email_sent_at is None
    assert row.get("data-invitation-email") == "later@example.com"
    assert page(followed).one("flash-success").text == "Invitation sent to later@example.com as member."


def test_invite_of_an_existing_member_is_refused_with_a_readable_message(owner_client, org, member, in_org):
    response = owner_client.post(f"/o/{org.slug}/team/invitations/", {"email": member.email, "role": "viewer"})

    assert response.status_code == 409
    assert page(response).one("form-error").text == f"{member.email} is already a member of this organization."
    assert _invitations(org, in_org) == []


def test_an_admin_cannot_invite_an_owner(client_for, admin, org, in_org):
    response = client_for(admin).post(
        f"/o/{org.slug}/team/invitations/", {"email": "boss@example.com", "role": "owner"}
    )

    assert response.status_code == 400
    assert "Select a valid choice. owner is not one of the available choices." in page(response).text
    assert _invitations(org, in_org) == []


# --- Accept ---------------------------------------------------------------------------


@pytest.fixture
def invitation(org, owner):
    return InvitationFactory(organization=org, email="invitee@example.com", role="member", invited_by=owner)


def test_the_invited_user_accepts_and_joins_with_the_invited_role(client_for, invitation, org, in_org, membership_of):
    invitee = UserFactory(email="invitee@example.com")
    token = invitation_token(invitation)
    client = client_for(invitee)

    shown = client.get(f"/invitations/{token}/")
    response = client.post(f"/invitations/{token}/")

    [stored] = _invitations(org, in_org)
    assert page(shown).one("invitation-organization").text == "Acme Bank"
    assert page(shown).one("invitation-role").text == "Member"
    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.slug}/"
    assert membership_of(org, invitee).role == "member"
    assert stored.accepted_by_id == invitee.id
    assert stored.accepted_at is not None


def test_accepting_with_another_email_is_refused_and_changes_nothing(
    client_for, invitation, org, in_org, membership_of
):
    stranger = UserFactory(email="someone.else@example.com")
    token = invitation_token(invitation)

    response = client_for(stranger).post(f"/invitations/{token}/")

    [stored] = _invitations(org, in_org)
    assert response.status_code == 403
    assert page(response).one("invitation-error").text == (
        "This invitation is for invitee@example.com; you are signed in as someone.else@example.com."
    )
    assert membership_of(org, stranger) is None
    assert stored.accepted_at is None


def test_an_anonymous_visitor_sees_the_invitation_with_links_to_log_in_or_sign_up(client, invitation):
    path = f"/invitations/{invitation_token(invitation)}/"

    response = client.get(path)

    html = page(response)
    assert response.status_code == 200
    assert html.one("invitation-organization").text == "Acme Bank"
    assert html.one("invitation-login").get("href") == f"/login/?next={quote(path)}"
    assert html.one("invitation-signup").get("href") == f"/signup/?invitation={quote(invitation_token(invitation))}"
    assert html.all("invitation-accept") == []


def test_an_anonymous_accept_is_sent_to_log_in(client, invitation, org, in_org):
    path = f"/invitations/{invitation_token(invitation)}/"

    response = client.post(path)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={quote(path)}"
    assert _invitations(org, in_org)[0].accepted_at is None


def test_a_forged_invitation_link_is_404_with_a_readable_message(client):
    response = client.get("/invitations/not-a-real-token/")

    assert response.status_code == 404
    assert page(response).one("invitation-error").text == (
        "This invitation link is invalid or has expired. Ask for a new one."
    )


def test_sign_up_from_an_invitation_joins_without_creating_an_organization(
    client, invitation, org, in_org, membership_of
):
    token = invitation_token(invitation)

    form = client.get(f"/signup/?invitation={quote(token)}")
    response = client.post(
        "/signup/",
        {
            "full_name": "Invited Person",
            "email": "someone.else@example.com",  # ignored: the address is the invited one
            "password": "difference engine no 2",
            "invitation": token,
        },
    )

    html = page(form)
    assert html.one("signup-invitation").text == "You're joining Acme Bank as member."
    assert "organization_name" not in form.content.decode()
    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.slug}/"
    person = User.objects.get(email="invitee@example.com")
    assert not User.objects.filter(email="someone.else@example.com").exists()
    assert membership_of(org, person).role == "member"
    assert _invitations(org, in_org)[0].accepted_by_id == person.id
    assert Organization.objects.count() == 1


def test_sign_up_with_a_used_invitation_falls_back_to_a_normal_sign_up(client, invitation, org, in_org):
    token = invitation_token(invitation)
    with in_org(org):
        Invitation.objects.filter(id=invitation.id).update(revoked_at=timezone.now())

    form = client.get(f"/signup/?invitation={quote(token)}")

    assert page(form).all("signup-invitation") == []
    assert "organization_name" in form.content.decode()


# --- Change role, remove --------------------------------------------------------------


def test_an_owner_changes_a_members_role(owner_client, org, member, owner, in_org, membership_of):
    membership = membership_of(org, member)

    response = owner_client.post(f"/o/{org.slug}/team/members/{membership.id}/role/", {"role": "admin"})

    with in_org(org):
        entry = AuditEntry.objects.for_org(org).get(action="member.role_changed")
    assert response.status_code == 302
    assert membership_of(org, member).role == "admin"
    assert (entry.actor_label, entry.target_label, entry.metadata) == (
        owner.email,
        member.email,
        {"role": {"from": "member", "to": "admin"}},
    )


def test_an_owner_removes_a_member(owner_client, org, owner, member, membership_of):
    membership = membership_of(org, member)

    response = owner_client.post(f"/o/{org.slug}/team/members/{membership.id}/remove/")

    followed = owner_client.get(response["Location"])
    assert response.status_code == 302
    assert membership_of(org, member) is None
    assert page(followed).one("flash-success").text == f"Removed {member.email} from Acme Bank."
    assert [row.get("data-member-email") for row in page(followed).all("member-row")] == [owner.email]


def test_the_last_owner_cannot_be_removed(owner_client, org, owner, membership_of, in_org):
    membership = membership_of(org, owner)

    response = owner_client.post(f"/o/{org.slug}/team/members/{membership.id}/remove/")

    assert response.status_code == 409
    assert page(response).one("team-error").text == ("The last owner cannot be removed. Make someone else owner first.")
    assert _roles(org, in_org) == {owner.email: "owner"}


def test_the_last_owner_cannot_be_demoted(owner_client, org, owner, membership_of, in_org):
    membership = membership_of(org, owner)

    response = owner_client.post(f"/o/{org.slug}/team/members/{membership.id}/role/", {"role": "admin"})

    assert response.status_code == 409
    assert page(response).one("team-error").text == (
        "An organization needs at least one owner. Make someone else owner first."
    )
    assert _roles(org, in_org) == {owner.email: "owner"}


def test_an_admin_cannot_remove_an_owner(client_for, admin, org, owner, membership_of, in_org):
    membership = membership_of(org, owner)

    response = client_for(admin).post(f"/o/{org.slug}/team/members/{membership.id}/remove/")

    assert response.status_code == 403
    assert page(response).one("team-error").text == "Only an owner can grant or change the owner role."
    assert _roles(org, in_org) == {owner.email: "owner", admin.email: "admin"}


def test_a_viewer_can_leave(client_for, viewer, org, membership_of):
    membership = membership_of(org, viewer)

    response = client_for(viewer).post(f"/o/{org.slug}/team/members/{membership.id}/remove/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert membership_of(org, viewer) is None


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_manage_the_team(request, client_for, org, owner, in_org, membership_of, role):
    user = request.getfixturevalue(role)
    colleague = MembershipFactory(organization=org, role="member").user
    pending = InvitationFactory(organization=org, email="pending@example.com")
    client = client_for(user)
    before = _roles(org, in_org)

    invite = client.post(f"/o/{org.slug}/team/invitations/", {"email": "x@example.com", "role": "member"})
    change = client.post(f"/o/{org.slug}/team/members/{membership_of(org, colleague).id}/role/", {"role": "admin"})
    remove = client.post(f"/o/{org.slug}/team/members/{membership_of(org, colleague).id}/remove/")
    revoke = client.post(f"/o/{org.slug}/team/invitations/{pending.id}/revoke/")

    assert (invite.status_code, change.status_code, remove.status_code, revoke.status_code) == (403, 403, 403, 403)
    assert page(remove).one("team-error").text == "Only owners and admins can do this."
    assert _roles(org, in_org) == before
    assert [(i.email, i.revoked_at) for i in _invitations(org, in_org)] == [("pending@example.com", None)]


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_see_the_team_read_only(request, client_for, org, owner, role):
    user = request.getfixturevalue(role)

    response = client_for(user).get(f"/o/{org.slug}/team/")

    html = page(response)
    assert response.status_code == 200
    assert sorted(row.get("data-member-email") for row in html.all("member-row")) == sorted([owner.email, user.email])
    assert html.all("invite-form") == []
    assert html.all("member-remove") == []
    assert len(html.all("member-leave")) == 1
    assert html.one("team-read-only").text.startswith("Only owners and admins can invite people or change roles.")


def test_an_owner_revokes_a_pending_invitation(owner_client, org, in_org):
    pending = InvitationFactory(organization=org, email="pending@example.com")

    response = owner_client.post(f"/o/{org.slug}/team/invitations/{pending.id}/revoke/")

    [stored] = _invitations(org, in_org)
    assert response.status_code == 302
    assert stored.revoked_at is not None
    assert stored.status == "revoked"


def test_revoking_an_invitation_twice_shows_why(owner_client, org, in_org):
    pending = InvitationFactory(organization=org, email="pending@example.com")
    owner_client.post(f"/o/{org.slug}/team/invitations/{pending.id}/revoke/")

    response = owner_client.post(f"/o/{org.slug}/team/invitations/{pending.id}/revoke/")

    assert response.status_code == 409
    assert page(response).one("team-error").text == "This invitation is already revoked."


def test_a_signed_in_user_with_another_email_is_told_to_switch_account(client_for, invitation):
    stranger = UserFactory(email="someone.else@example.com")

    response = client_for(stranger).get(f"/invitations/{invitation_token(invitation)}/")

    html = page(response)
    assert response.status_code == 200
    assert html.one("invitation-email-mismatch").text == (
        "You're signed in as someone.else@example.com, but this invitation is for invitee@example.com. "
        "Log out and sign in with that address to accept."
    )
    assert html.all("invitation-accept") == []
