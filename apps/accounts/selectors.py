from __future__ import annotations

from django.db.models import QuerySet

from apps.accounts.models import Invitation, Membership, Organization, User


def membership_list_for_user(*, user: User) -> QuerySet[Membership]:
    """The user's memberships in every organization (needs `activate_user` on PostgreSQL)."""
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")


def membership_get_for_user(*, user: User, organization_slug: str) -> Membership | None:
    return (
        Membership.objects.filter(user=user, organization__slug=organization_slug)
        .select_related("organization")
        .first()
    )


def membership_list(*, organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.for_org(organization).select_related("user").order_by("created_at", "id")


def membership_get(*, organization: Organization, membership_id) -> Membership:
    return Membership.objects.for_org(organization).select_related("user").get(id=membership_id)


def invitation_list(*, organization: Organization, pending_only: bool = False) -> QuerySet[Invitation]:
    invitations = Invitation.objects.for_org(organization).select_related("invited_by")
    if pending_only:
        invitations = invitations.filter(accepted_at__isnull=True, revoked_at__isnull=True)
    return invitations.order_by("-created_at", "-id")


def invitation_get(*, organization: Organization, invitation_id) -> Invitation:
    return Invitation.objects.for_org(organization).select_related("invited_by").get(id=invitation_id)
