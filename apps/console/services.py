"""Writes made by Tessera staff in the console. Each one is audited on the organization it touches.

Billing writes (plan assignment, overrides, credits) are apps/billing/services.py's own and
audit themselves; what lives here is the console's part around them.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts.models import Organization
from apps.audit.services import audit_record
from apps.billing import services as billing_services
from apps.billing.models import BillingAccount, Plan, StripeEvent, StripeEventStatus
from apps.billing.selectors import FREE_PLAN_CODE, organization_limits_forget
from apps.core.actors import Actor, client_ip
from apps.core.errors import ServiceError
from apps.core.tenancy import cross_tenant, tenant_context

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


# --- Billing ---------------------------------------------------------------------------

# A received event was stored but never processed (its task was lost); a failed one can
# succeed once the cause is fixed. Processed and ignored events have nothing left to do.
REPROCESSABLE_STATUSES = (StripeEventStatus.FAILED, StripeEventStatus.RECEIVED)


def plan_limits_forget(*, plan: Plan) -> int:
    """Drop the cached limits of every organization on `plan` once the plan edit commits.

    Organizations without a billing account run on the Free plan (`free_plan()`), so an
    edit of Free reaches them too. Returns how many organizations are affected.
    """
    with cross_tenant(reason="console.plan_limits_forget"):
        organization_ids = set(BillingAccount.all_orgs.filter(plan=plan).values_list("organization_id", flat=True))
        if plan.code == FREE_PLAN_CODE:
            with_account = BillingAccount.all_orgs.values("organization_id")
            organization_ids |= set(Organization.objects.exclude(pk__in=with_account).values_list("pk", flat=True))

    def forget() -> None:
        for organization_id in sorted(organization_ids):
            organization_limits_forget(organization=organization_id)

    # After the commit: forgetting earlier lets a concurrent request cache the old plan
    # again, for the cache's whole minute.
    transaction.on_commit(forget)
    return len(organization_ids)


def stripe_event_reprocess(*, stripe_event: StripeEvent, actor: Actor) -> StripeEvent:
    """Process a failed (or stuck) Stripe event again and return it as it ends up.

    Stripe events are not tenant-owned. The reprocessing is audited on the event's
    organization when it has one (found now or earlier); an event whose customer matches no
    organization is only logged.
    """
    _require_staff(actor)
    if stripe_event.status not in REPROCESSABLE_STATUSES:
        raise ConsoleError(
            f"Stripe event {stripe_event.stripe_event_id} is {stripe_event.status}; only failed or unprocessed "
            "events are reprocessed.",
            code="not_reprocessable",
        )
    billing_services.stripe_event_reprocess(stripe_event_id=str(stripe_event.pk), actor=actor)
    event = StripeEvent.objects.get(pk=stripe_event.pk)
    organization = (
        Organization.objects.filter(pk=event.organization_id_hint).first()
        if event.organization_id_hint is not None
        else None
    )
    if organization is not None:
        with tenant_context(organization.id):
            audit_record(
                organization=organization,
                actor=actor,
                action="console.stripe_event_reprocessed",
                target_label=f"Stripe event {event.stripe_event_id}",
                metadata={
                    "stripe_event_id": event.stripe_event_id,
                    "event_type": event.event_type,
                    "status": event.status,
                    "error": event.error,
                },
            )
    logger.info(
        "console.stripe_event_reprocessed",
        extra={
            "stripe_event_id": event.stripe_event_id,
            "status": event.status,
            "organization_id": event.organization_id_hint,
            "staff_user_id": actor.user.pk,
        },
    )
    return event
