"""Writes for users, organizations, memberships and invitations."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.models import Invitation, Membership, Organization, Role, User
from apps.audit.services import audit_record
from apps.billing.selectors import organization_limits
from apps.billing.services import billing_account_ensure
from apps.core.actors import Actor
from apps.core.errors import ServiceError
from apps.core.tenancy import tenant_context
from apps.metering.models import Meter
from apps.metering.services import usage_event_record

logger = logging.getLogger(__name__)

INVITATION_SIGNING_SALT = "tessera.invitation"


class AccountError(ServiceError):
    pass


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug, suffix = base, 2
    while Organization.objects.filter(slug=slug).exists():
        slug, suffix = f"{base}-{suffix}", suffix + 1
    return slug


@transaction.atomic
def organization_create(*, name: str, owner: User, actor: Actor | None = None) -> Organization:
    """Create an organization and make `owner` its first owner."""
    name = name.strip()
    if not name:
        raise AccountError("The organization needs a name.", code="invalid_name")
    organization = Organization.objects.create(name=name[:100], slug=_unique_slug(name))
    with tenant_context(organization.id):
        Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
        audit_record(
            organization=organization,
            actor=actor or Actor(via="dashboard", role=Role.OWNER, user=owner),
            action="organization.created",
            target=organization,
        )
        # Every organization starts on Free, with its first seat counted.
        billing_account_ensure(organization=organization)
        _seats_record(organization.id)
    logger.info("accounts.organization_created", extra={"organization_id": organization.id})
    return organization


def _user_create(*, email: str, password: str, full_name: str) -> User:
    email = User.objects.normalize_email(email).strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise AccountError("An account with this email already exists. Log in instead.", code="email_taken")
    user = User(email=email, full_name=full_name.strip())
    validate_password(password, user)
    user.set_password(password)
    user.save()
    return user


@transaction.atomic
def user_sign_up(*, email: str, password: str, full_name: str, organization_name: str) -> tuple[User, Organization]:
    """Create a user and their organization, with the user as owner."""
    user = _user_create(email=email, password=password, full_name=full_name)
    organization = organization_create(name=organization_name, owner=user)
    return user, organization


@transaction.atomic
def user_sign_up_from_invitation(
    *, token: str, password: str, full_name: str, ip_address: str | None = None
) -> tuple[User, Membership]:
    """Create the invited person's account and join the inviting organization, in one step.

    The email comes from the invitation (the link proves access to it), and no
    organization of their own is created: they came to join one.
    """
    invitation = invitation_get_by_token(token)
    if not invitation.is_pending:
        raise AccountError(f"This invitation is {invitation.status}.", code="invitation_not_pending", status=409)
    user = _user_create(email=invitation.email, password=password, full_name=full_name)
    membership = invitation_accept(token=token, user=user, ip_address=ip_address)
    return user, membership


@transaction.atomic
def organization_update(*, organization: Organization, actor: Actor, name: str) -> Organization:
    _require_manager(actor)
    name = name.strip()
    if not name:
        raise AccountError("The organization needs a name.", code="invalid_name")
    previous = organization.name
    organization.name = name[:100]
    organization.save(update_fields=["name", "updated_at"])
    audit_record(
        organization=organization,
        actor=actor,
        action="organization.updated",
        target=organization,
        metadata={"name": {"from": previous, "to": organization.name}},
    )
    return organization


def _require_manager(actor: Actor) -> None:
    if not actor.is_manager:
        raise AccountError("Only owners and admins can do this.", code="permission_denied", status=403)


def _require_rank_for(actor: Actor, role: str) -> None:
    # Admins manage members and admins; only owners grant, change or remove ownership.
    if role == Role.OWNER and actor.role not in (Role.OWNER, "staff"):
        raise AccountError("Only an owner can grant or change the owner role.", code="owner_required", status=403)


def _lock_owners(organization: Organization) -> list[Membership]:
    # Locking every owner row serializes concurrent demotions, so two admins can't each
    # remove "the other" owner and leave the organization with none.
    return list(Membership.objects.for_org(organization).filter(role=Role.OWNER).select_for_update())


@transaction.atomic
def membership_change_role(
    *, organization: Organization, membership: Membership, role: str, actor: Actor
) -> Membership:
    _require_manager(actor)
    if role not in Role.values:
        raise AccountError(f"Unknown role {role!r}.", code="invalid_role")
    _require_rank_for(actor, membership.role)
    _require_rank_for(actor, role)
    owners = _lock_owners(organization)
    membership = Membership.objects.for_org(organization).select_for_update().get(id=membership.id)
    if membership.role == role:
        return membership
    if membership.role == Role.OWNER and len(owners) <= 1:
        raise AccountError(
            "An organization needs at least one owner. Make someone else owner first.",
            code="last_owner",
            status=409,
        )
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    audit_record(
        organization=organization,
        actor=actor,
        action="member.role_changed",
        target=membership,
        target_label=membership.user.email,
        metadata={"role": {"from": previous, "to": role}},
    )
    return membership


@transaction.atomic
def membership_remove(*, organization: Organization, membership: Membership, actor: Actor) -> None:
    leaving_self = actor.user is not None and actor.user.id == membership.user_id and actor.via != "console"
    if not leaving_self:
        _require_manager(actor)
        _require_rank_for(actor, membership.role)
    owners = _lock_owners(organization)
    membership = (
        Membership.objects.for_org(organization).select_for_update().select_related("user").get(id=membership.id)
    )
    if membership.role == Role.OWNER and len(owners) <= 1:
        raise AccountError(
            "The last owner cannot be removed. Make someone else owner first.", code="last_owner", status=409
        )
    email = membership.user.email
    membership.delete()
    audit_record(
        organization=organization,
        actor=actor,
        action="member.left" if leaving_self else "member.removed",
        target_label=email,
        metadata={"role": membership.role, "user_id": membership.user_id},
    )
    _seats_record(organization.id)


def invitation_token(invitation: Invitation) -> str:
    """A signed token naming the organization and invitation; nothing secret is stored.

    Validity is checked against the row on use, so revoking or accepting ends it.
    """
    return signing.dumps({"o": invitation.organization_id, "i": str(invitation.id)}, salt=INVITATION_SIGNING_SALT)


def invitation_url(invitation: Invitation) -> str:
    return settings.SITE_URL + reverse("dashboard:invitation_accept", args=[invitation_token(invitation)])


@transaction.atomic
def invitation_create(*, organization: Organization, email: str, role: str, actor: Actor) -> Invitation:
    """Invite someone by email; the email goes out from a Celery task after commit."""
    from apps.accounts.tasks import invitation_send as invitation_send_task

    _require_manager(actor)
    if role not in Role.values:
        raise AccountError(f"Unknown role {role!r}.", code="invalid_role")
    _require_rank_for(actor, role)
    email = User.objects.normalize_email(email).strip().lower()
    try:
        from django.core.validators import validate_email

        validate_email(email)
    except ValidationError as exc:
        raise AccountError("Enter a valid email address.", code="invalid_email") from exc
    if Membership.objects.for_org(organization).filter(user__email__iexact=email).exists():
        raise AccountError(f"{email} is already a member of this organization.", code="already_member", status=409)
    _require_free_seat(organization)
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                organization=organization,
                email=email,
                role=role,
                invited_by=actor.user,
                expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
            )
    except IntegrityError as exc:
        raise AccountError(
            f"{email} already has a pending invitation. Revoke it to send a new one.",
            code="invitation_pending",
            status=409,
        ) from exc
    audit_record(
        organization=organization,
        actor=actor,
        action="invitation.created",
        target=invitation,
        target_label=email,
        metadata={"role": role},
    )
    organization_id, invitation_id = organization.id, str(invitation.id)
    transaction.on_commit(lambda: invitation_send_task.delay(organization_id, invitation_id))
    return invitation


def _require_free_seat(organization: Organization) -> None:
    """Members plus pending invitations may not pass the plan's seats (an invitation holds a seat)."""
    limit = organization_limits(organization=organization).max_seats
    members = Membership.objects.for_org(organization).count()
    pending = (
        Invitation.objects.for_org(organization)
        .filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .count()
    )
    if members + pending >= limit:
        raise AccountError(
            f"Your plan includes {limit} seats and {members} members plus {pending} pending invitations hold them. "
            "Revoke an invitation, remove a member or upgrade the plan.",
            code="plan_limit_reached",
            status=402,
            details={"entitlement": "max_seats", "limit": limit, "members": members, "pending_invitations": pending},
        )


def _seats_record(organization_id: int) -> None:
    # The seats meter is a gauge: each change records the new level.
    usage_event_record(
        organization=organization_id,
        meter=Meter.SEATS,
        quantity=Membership.objects.for_org(organization_id).count(),
        idempotency_key=f"seats:{uuid.uuid4()}",
    )


def invitation_send(*, organization: Organization, invitation_id: str) -> bool:
    """Email the invitation link once. Returns False when there was nothing to send.

    Idempotent: a redelivered task finds `email_sent_at` set and does nothing.
    """
    with transaction.atomic():
        invitation = (
            Invitation.objects.for_org(organization)
            .select_for_update(of=("self",))
            .select_related("invited_by")
            .filter(id=invitation_id)
            .first()
        )
        if invitation is None or invitation.email_sent_at is not None or not invitation.is_pending:
            return False
        context = {
            "organization": organization,
            "invitation": invitation,
            "inviter": invitation.invited_by.display_name if invitation.invited_by else "A colleague",
            "url": invitation_url(invitation),
        }
        send_mail(
            subject=f"You're invited to {organization.name} on Tessera",
            message=render_to_string("emails/invitation.txt", context),
            from_email=None,
            recipient_list=[invitation.email],
        )
        invitation.email_sent_at = timezone.now()
        invitation.save(update_fields=["email_sent_at", "updated_at"])
    logger.info("accounts.invitation_sent", extra={"organization_id": organization.id, "invitation_id": invitation_id})
    return True


@transaction.atomic
def invitation_revoke(*, organization: Organization, invitation: Invitation, actor: Actor) -> Invitation:
    _require_manager(actor)
    invitation = Invitation.objects.for_org(organization).select_for_update().get(id=invitation.id)
    if not invitation.is_pending:
        raise AccountError(
            f"This invitation is already {invitation.status}.", code="invitation_not_pending", status=409
        )
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at", "updated_at"])
    audit_record(
        organization=organization,
        actor=actor,
        action="invitation.revoked",
        target=invitation,
        target_label=invitation.email,
    )
    return invitation


def invitation_from_token(token: str) -> tuple[int, str]:
    """The (organization id, invitation id) a token names, or AccountError when forged."""
    max_age = timedelta(days=settings.INVITATION_TTL_DAYS)
    try:
        payload = signing.loads(token, salt=INVITATION_SIGNING_SALT, max_age=max_age)
        return int(payload["o"]), str(payload["i"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise AccountError(
            "This invitation link is invalid or has expired. Ask for a new one.", code="invitation_invalid", status=404
        ) from exc


def invitation_get_by_token(token: str) -> Invitation:
    organization_id, invitation_id = invitation_from_token(token)
    with tenant_context(organization_id):
        invitation = (
            Invitation.objects.for_org(organization_id)
            .select_related("organization", "invited_by")
            .filter(id=invitation_id)
            .first()
        )
    if invitation is None:
        raise AccountError("This invitation link is invalid or has expired.", code="invitation_invalid", status=404)
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: User, ip_address: str | None = None) -> Membership:
    """Join the organization an invitation names, as the invited email's user."""
    organization_id, invitation_id = invitation_from_token(token)
    with tenant_context(organization_id):
        invitation = (
            Invitation.objects.for_org(organization_id)
            .select_for_update(of=("self",))
            .select_related("organization")
            .filter(id=invitation_id)
            .first()
        )
        if invitation is None:
            raise AccountError("This invitation link is invalid.", code="invitation_invalid", status=404)
        if not invitation.is_pending:
            raise AccountError(f"This invitation is {invitation.status}.", code="invitation_not_pending", status=409)
        if invitation.email.lower() != user.email.lower():
            raise AccountError(
                f"This invitation is for {invitation.email}; you are signed in as {user.email}.",
                code="invitation_email_mismatch",
                status=403,
            )
        organization = invitation.organization
        membership, created = Membership.objects.get_or_create(
            organization=organization, user=user, defaults={"role": invitation.role}
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
        audit_record(
            organization=organization,
            actor=Actor(via="dashboard", role=membership.role, user=user, ip_address=ip_address),
            action="invitation.accepted",
            target=invitation,
            target_label=invitation.email,
            metadata={"role": membership.role, "already_member": not created},
        )
        if created:
            _seats_record(organization.id)
    return membership
