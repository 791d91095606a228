import pytest

from apps.accounts import services
from apps.accounts.models import Invitation, Membership, Role
from apps.accounts.services import AccountError
from apps.audit.models import AuditEntry
from apps.core.actors import Actor
from tests.factories.accounts import InvitationFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_sign_up_creates_user_organization_and_owner_membership(in_org):
    user, organization = services.user_sign_up(
        email="Ada@Example.com", password="a long enough passphrase", full_name="Ada", organization_name="Ada's Bank"
    )

    assert user.email == "ada@example.com" and user.check_password("a long enough passphrase")
    assert organization.slug == "adas-bank"
    with in_org(organization):
        assert list(Membership.objects.values_list("user_id", "role")) == [(user.id, "owner")]
        assert list(AuditEntry.objects.values_list("action", flat=True)) == ["organization.created"]


def test_sign_up_refuses_a_taken_email_and_a_weak_password(owner):
    with pytest.raises(AccountError, match="already exists"):
        services.user_sign_up(
            email=owner.email.upper(), password="a long enough passphrase", full_name="", organization_name="x"
        )
    with pytest.raises(Exception, match="too common|too short"):
        services.user_sign_up(email="new@example.com", password="password", full_name="", organization_name="x")


def test_slugs_stay_unique(owner):
    first = services.organization_create(name="Same Name", owner=owner)
    second = services.organization_create(name="Same Name", owner=owner)

    assert (first.slug, second.slug) == ("same-name", "same-name-2")


def test_invitation_accept_joins_with_the_invited_role(org, owner, in_org):
    invitee = UserFactory(email="joiner@example.com")
    invitation = InvitationFactory(organization=org, email="joiner@example.com", role="viewer")
    token = services.invitation_token(invitation)

    membership = services.invitation_accept(token=token, user=invitee)

    assert membership.role == "viewer" and membership.organization_id == org.id
    with in_org(org):
        assert Invitation.objects.get(id=invitation.id).accepted_by_id == invitee.id
    with pytest.raises(AccountError) as again:
        services.invitation_accept(token=token, user=invitee)
    assert again.value.code == "invitation_not_pending"


def test_invitation_for_another_email_is_refused(org, owner, in_org):
    stranger = UserFactory(email="stranger@example.com")
    invitation = InvitationFactory(organization=org, email="joiner@example.com")

    with pytest.raises(AccountError) as refused:
        services.invitation_accept(token=services.invitation_token(invitation), user=stranger)

    assert refused.value.code == "invitation_email_mismatch"
    with in_org(org):
        assert not Membership.objects.filter(user=stranger).exists()


def test_forged_invitation_token_is_refused(org):
    with pytest.raises(AccountError) as refused:
        services.invitation_from_token(f"{org.id}:not-signed")

    assert refused.value.code == "invitation_invalid"


def test_a_member_can_leave_but_a_viewer_cannot_remove_others(org, owner, member, viewer, in_org):
    with in_org(org):
        member_row = Membership.objects.get(user=member)
        viewer_row = Membership.objects.get(user=viewer)
        with pytest.raises(AccountError) as refused:
            services.membership_remove(
                organization=org, membership=member_row, actor=Actor(via="dashboard", role=Role.VIEWER, user=viewer)
            )
        services.membership_remove(
            organization=org, membership=viewer_row, actor=Actor(via="dashboard", role=Role.VIEWER, user=viewer)
        )
        remaining = set(Membership.objects.values_list("user_id", flat=True))

    assert refused.value.code == "permission_denied"
    assert remaining == {owner.id, member.id}


def test_two_owners_can_demote_each_other_only_once(org, owner, in_org):
    second = MembershipFactory(organization=org, role="owner")
    actor = Actor(via="dashboard", role=Role.OWNER, user=owner)
    with in_org(org):
        first = Membership.objects.get(user=owner)
        services.membership_change_role(organization=org, membership=second, role="admin", actor=actor)
        with pytest.raises(AccountError) as refused:
            services.membership_change_role(organization=org, membership=first, role="admin", actor=actor)

    assert refused.value.code == "last_owner"


def test_the_last_owner_cannot_leave_be_removed_or_be_demoted(org, owner, in_org):
    actor = Actor(via="dashboard", role=Role.OWNER, user=owner)
    with in_org(org):
        membership = Membership.objects.get(user=owner)
        with pytest.raises(AccountError) as demoted:
            services.membership_change_role(organization=org, membership=membership, role="member", actor=actor)
        with pytest.raises(AccountError) as removed:
            services.membership_remove(organization=org, membership=membership, actor=actor)
        roles = list(Membership.objects.values_list("user_id", "role"))

    assert (demoted.value.code, removed.value.code) == ("last_owner", "last_owner")
    assert roles == [(owner.id, "owner")]


def test_sign_up_from_invitation_uses_the_invited_email_and_joins(org, owner, in_org):
    invitation = InvitationFactory(organization=org, email="joiner@example.com", role="admin")

    user, membership = services.user_sign_up_from_invitation(
        token=services.invitation_token(invitation), password="a long enough passphrase", full_name="Joiner"
    )

    assert user.email == "joiner@example.com"
    assert (membership.organization_id, membership.role) == (org.id, "admin")
    with in_org(org):
        assert Invitation.objects.get(id=invitation.id).accepted_by_id == user.id
