"""Writes made by Tessera staff in the console. Each one is audited on the organization it touches."""

from __future__ import annotations

import logging

from django.http import HttpRequest
from django.utils import timezone

from apps.accounts.models import Organization
from apps.audit.services import audit_record
from apps.core.actors import Actor, client_ip
from apps.core.errors import ServiceError
from apps.core.tenancy import tenant_context

logger = logging.getLogger(__name__)

SUSPENDED_REASON_MAX_LENGTH = Organization._meta.get_field("suspended_reason").max_length


class ConsoleError(ServiceError):
    pass


def console_actor(request: HttpRequest) -> Actor:
    """The actor for a console action: the signed-in Tessera staff member."""
    return Actor(via="console", role="staff", user=request.user, ip_address=client_ip(request))


def _require_staff(actor: Actor) -> None:
    user = actor.user
    if actor.via != "console" or actor.role != "staff" or user is None or not (user.is_active and user.is_staff):
        raise ConsoleError("Only Tessera staff can do this, from the console.", code="permission_denied", status=403)


def organization_suspend(*, organization: Organization, actor: Actor, reason: str) -> Organization:
    """Suspend an organization: its API keys get 403 `organization_suspended`, its dashboard says why.

    Suspending an organization that is already suspended changes nothing and writes no
    audit entry (the first reason stands; unsuspend first to give another).
    """
    _require_staff(actor)
    reason = " ".join(reason.split())
    if not reason:
        raise ConsoleError("Give a reason: the organization's members will see it.", code="reason_required")
    if len(reason) > SUSPENDED_REASON_MAX_LENGTH:
        raise ConsoleError(f"Keep the reason under {SUSPENDED_REASON_MAX_LENGTH} characters.", code="reason_too_long")
    with tenant_context(organization.id):
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        if organization.is_suspended:
            return organization
        organization.suspended_at = timezone.now()
        organization.suspended_reason = reason
        organization.save(update_fields=["suspended_at", "suspended_reason", "updated_at"])
        audit_record(
            organization=organization,
            actor=actor,
            action="console.organization_suspended",
            target=organization,
            metadata={"reason": reason},
        )
    logger.info(
        "console.organization_suspended",
        extra={"organization_id": organization.id, "staff_user_id": actor.user.pk},
    )
    return organization


def organization_unsuspend(*, organization: Organization, actor: Actor) -> Organization:
    """Lift a suspension. Unsuspending an active organization changes nothing."""
    _require_staff(actor)
    with tenant_context(organization.id):
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        if not organization.is_suspended:
            return organization
        previous_reason = organization.suspended_reason
        organization.suspended_at = None
        organization.suspended_reason = ""
        organization.save(update_fields=["suspended_at", "suspended_reason", "updated_at"])
        audit_record(
            organization=organization,
            actor=actor,
            action="console.organization_unsuspended",
            target=organization,
            metadata={"previous_reason": previous_reason},
        )
    logger.info(
        "console.organization_unsuspended",
        extra={"organization_id": organization.id, "staff_user_id": actor.user.pk},
    )
    return organization
