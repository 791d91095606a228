"""Writes for billing: accounts, Checkout and Portal sessions, Stripe webhooks, sync, export.

The rules about money are in docs/adr/0004-billing-periods-and-stripe-sync.md:

* Stripe is the source of truth for subscriptions. Every webhook, whatever its type or
  order, makes us re-read the customer's subscriptions from Stripe and write what they
  say now (`subscription_sync_from_stripe`), so duplicates and reordering cannot leave a
  stale state. A daily reconciliation does the same for every customer.
* Usage is the source of truth for metered charges: each usage event reaches Stripe once
  as a Billing Meter event whose identifier is derived from our idempotency key.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import date as date_type
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Organization
from apps.audit.services import audit_record
from apps.billing import stripe_client
from apps.billing.models import (
    BillingAccount,
    Credit,
    Invoice,
    Plan,
    StripeEvent,
    StripeEventStatus,
    SubscriptionStatus,
)
from apps.billing.selectors import free_plan, organization_limits_forget, period_bounds
from apps.core.actors import Actor
from apps.core.errors import ServiceError
from apps.core.taskbase import delay_quietly
from apps.core.tenancy import cross_tenant, tenant_context
from apps.metering.models import Meter, MeterExport, UsageEvent

logger = logging.getLogger(__name__)

# Stripe statuses that mean the subscription is the organization's current one.
_LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid", "incomplete", "paused")
# Stripe accepts meter events up to 35 days old; older ones can no longer be billed.
_METER_EVENT_MAX_AGE = timedelta(days=35)
METER_EXPORT_BATCH = 500
HANDLED_EVENT_TYPES = (
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.voided",
    "invoice.marked_uncollectible",
)


class BillingError(ServiceError):
    pass


def _require_manager(actor: Actor) -> None:
    if not actor.is_manager:
        raise BillingError("Only owners and admins can change billing.", code="permission_denied", status=403)


# --- Accounts -------------------------------------------------------------------------


def billing_account_ensure(*, organization: Organization) -> BillingAccount:
    """The organization's billing account, created on the Free plan the first time."""
    account = BillingAccount.objects.for_org(organization).select_related("plan").first()
    if account is not None:
        return account
    free = free_plan()
    try:
        with transaction.atomic():
            account = BillingAccount.objects.create(organization=organization, plan=free)
    except IntegrityError:  # created concurrently
        account = BillingAccount.objects.for_org(organization).select_related("plan").get()
    return account


def _stripe_customer_ensure(*, organization: Organization, account: BillingAccount) -> str:
    if account.stripe_customer_id:
        return account.stripe_customer_id
    from apps.accounts.selectors import membership_list

    owner = next((m.user for m in membership_list(organization=organization) if m.role == "owner"), None)
    customer = stripe_client.customer_create(
        name=organization.name, email=owner.email if owner else "", organization_id=organization.id
    )
    BillingAccount.objects.for_org(organization).filter(id=account.id).update(stripe_customer_id=customer.id)
    account.stripe_customer_id = customer.id
    return customer.id


def _first_of_next_month(now: datetime) -> datetime:
    return period_bounds(now)[1]


def checkout_session_start(
    *, organization: Organization, plan_code: str, actor: Actor, success_url: str, cancel_url: str
) -> str:
    """Create a Stripe Checkout Session for a paid plan and return its URL.

    The subscription carries the plan's flat price and one metered price per meter, and
    its billing cycle is anchored to the first of the next month so Stripe's periods
    match the calendar-month allowances (docs/adr/0004).
    """
    _require_manager(actor)
    if not settings.STRIPE_SECRET_KEY:
        raise stripe_client.BillingNotConfigured()
    plan = Plan.objects.prefetch_related("meters").filter(code=plan_code, is_public=True).first()
    if plan is None:
        raise BillingError(f"There is no plan {plan_code!r} to subscribe to.", code="not_found", status=404)
    if plan.is_free:
        raise BillingError(f"{plan.name} needs no subscription.", code="plan_not_purchasable", status=400)
    if not plan.stripe_price_id:
        raise BillingError(
            f"{plan.name} has no Stripe price yet; a Tessera operator sets it in the console.",
            code="plan_not_configured",
            status=409,
        )
    account = billing_account_ensure(organization=organization)
    if account.subscription_status in _LIVE_STATUSES and account.stripe_subscription_id:
        raise BillingError(
            "This organization already has a subscription; change plans in the billing portal.",
            code="already_subscribed",
            status=409,
        )
    customer = _stripe_customer_ensure(organization=organization, account=account)
    line_items: list[dict[str, Any]] = [{"price": plan.stripe_price_id, "quantity": 1}]
    line_items += [{"price": meter.stripe_price_id} for meter in plan.meters.all() if meter.stripe_price_id]
    metadata = {"organization_id": str(organization.id), "plan_code": plan.code}
    now = timezone.now()
    session = stripe_client.checkout_session_create(
        params={
            "mode": "subscription",
            "customer": customer,
            "client_reference_id": str(organization.id),
            "line_items": line_items,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": metadata,
            "subscription_data": {
                "metadata": metadata,
                "billing_cycle_anchor": int(_first_of_next_month(now).timestamp()),
            },
        },
        # A double-click within the same minute returns the same session.
        idempotency_key=f"tessera-checkout-{organization.id}-{plan.code}-{now:%Y%m%d%H%M}",
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="billing.checkout_started",
        target_label=plan.name,
        metadata={"plan": plan.code, "checkout_session": session.id},
    )
    return session.url


def portal_session_start(*, organization: Organization, actor: Actor, return_url: str) -> str:
    """A Billing Portal session: change card, switch plan, cancel."""
    _require_manager(actor)
    if not settings.STRIPE_SECRET_KEY:
        raise stripe_client.BillingNotConfigured()
    account = billing_account_ensure(organization=organization)
    customer = _stripe_customer_ensure(organization=organization, account=account)
    session = stripe_client.portal_session_create(customer=customer, return_url=return_url)
    audit_record(organization=organization, actor=actor, action="billing.portal_opened", target_label="billing portal")
    return session.url


def _account_update(
    *,
    organization: Organization,
    actor: Actor,
    action: str,
    target_label: str,
    values: dict[str, Any],
    metadata: Callable[[dict[str, Any]], dict[str, Any]],
) -> BillingAccount:
    """Change fields of the billing account, audit it (metadata from the previous values) and
    drop the cached limits."""
    with transaction.atomic():
        account = billing_account_ensure(organization=organization)
        previous = {name: getattr(account, name) for name in values}
        for name, value in values.items():
            setattr(account, name, value)
        account.save(update_fields=[*values, "updated_at"])
        audit_record(
            organization=organization,
            actor=actor,
            action=action,
            target_label=target_label,
            metadata=metadata(previous),
        )
    _forget_limits_after_commit(organization)
    return account


def spend_cap_set(*, organization: Organization, actor: Actor, spend_cap_cents: int | None) -> BillingAccount:
    """Set or clear (None) the ceiling on overage charges per period."""
    if actor.role not in ("owner", "staff"):
        raise BillingError("Only owners can set the spend cap.", code="permission_denied", status=403)
    if spend_cap_cents is not None and spend_cap_cents < 0:
        raise BillingError("The spend cap cannot be negative.", code="invalid_spend_cap", status=400)
    return _account_update(
        organization=organization,
        actor=actor,
        action="billing.spend_cap_changed",
        target_label="spend cap",
        values={"spend_cap_cents": spend_cap_cents},
        metadata=lambda previous: {"from_cents": previous["spend_cap_cents"], "to_cents": spend_cap_cents},
    )


def _require_staff(actor: Actor) -> None:
    if actor.role not in ("staff", "system"):
        raise BillingError(
            "Only Tessera staff can change plans, overrides and credits.", code="permission_denied", status=403
        )


def _forget_limits_after_commit(organization: Organization) -> None:
    # Dropped now and again after commit: a request between the two would re-cache old limits.
    organization_limits_forget(organization=organization)
    transaction.on_commit(lambda: organization_limits_forget(organization=organization))


def plan_assign(*, organization: Organization, plan: Plan, actor: Actor) -> BillingAccount:
    """Staff put an organization on a plan by hand (offline billing, enterprise contracts)."""
    _require_staff(actor)
    return _account_update(
        organization=organization,
        actor=actor,
        action="billing.plan_assigned",
        target_label=plan.name,
        # Back on Free means "as Stripe says" again; any other plan sticks until a subscription.
        values={"plan": plan, "plan_assigned_by_staff": not plan.is_free},
        metadata=lambda previous: {"from": previous["plan"].code, "to": plan.code},
    )


_INTEGER_OVERRIDES = ("api_rate_limit_per_minute", "max_active_models", "max_seats", "max_concurrent_training_jobs")


def _invalid_overrides(message: str) -> BillingError:
    return BillingError(message, code="invalid_overrides", status=400)


def _clean_included(included: Any) -> dict[str, str]:
    from apps.metering.models import Meter

    if not isinstance(included, dict):
        raise _invalid_overrides("`included` must map meters to quantities.")
    clean = {}
    for meter, quantity in included.items():
        if meter not in Meter.values:
            raise _invalid_overrides(f"Unknown meter {meter!r}.")
        try:
            value = Decimal(str(quantity))
        except ArithmeticError as error:
            raise _invalid_overrides(f"The allowance of {meter} must be a number.") from error
        if not value.is_finite() or value < 0 or value >= Decimal(10) ** 12:
            raise _invalid_overrides(f"The allowance of {meter} must be between 0 and 10^12.")
        clean[meter] = format(value.normalize(), "f")
    return clean


def _clean_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Validate staff overrides: `organization_limits` reads them on every request, so bad ones must never land."""
    from apps.billing.plans import ALL_PRODUCTS

    unknown = sorted(set(overrides) - {"included", "allows_gpu_training", "products", *_INTEGER_OVERRIDES})
    if unknown:
        raise _invalid_overrides(f"Unknown overrides: {', '.join(unknown)}.")
    clean: dict[str, Any] = {}
    if overrides.get("included"):
        clean["included"] = _clean_included(overrides["included"])
    for name in _INTEGER_OVERRIDES:
        value = overrides.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
            raise _invalid_overrides(f"{name} must be a whole number between 0 and 10^9.")
        clean[name] = value
    if overrides.get("allows_gpu_training") is not None:
        if not isinstance(overrides["allows_gpu_training"], bool):
            raise _invalid_overrides("allows_gpu_training must be true or false.")
        clean["allows_gpu_training"] = overrides["allows_gpu_training"]
    if overrides.get("products") is not None:
        products = overrides["products"]
        if not isinstance(products, list) or not set(products) <= set(ALL_PRODUCTS):
            raise _invalid_overrides(f"products must be a list drawn from {', '.join(ALL_PRODUCTS)}.")
        clean["products"] = sorted(set(products))
    return clean


def overrides_set(*, organization: Organization, overrides: dict[str, Any], actor: Actor) -> BillingAccount:
    """Staff set per-organization overrides of the plan (allowances, seats, rate limit...)."""
    _require_staff(actor)
    overrides = _clean_overrides(overrides)
    return _account_update(
        organization=organization,
        actor=actor,
        action="billing.overrides_changed",
        target_label="plan overrides",
        values={"overrides": overrides},
        metadata=lambda previous: {"from": previous["overrides"], "to": overrides},
    )


def credit_grant(*, organization: Organization, amount_cents: int, reason: str, actor: Actor) -> Credit:
    """Grant a credit. With Stripe configured, a task applies it to the customer balance after commit."""
    _require_staff(actor)
    if amount_cents <= 0:
        raise BillingError("A credit must be a positive amount.", code="invalid_amount", status=400)
    if not reason.strip():
        raise BillingError("Say why the credit is granted.", code="invalid_reason", status=400)
    with transaction.atomic():
        account = billing_account_ensure(organization=organization)
        credit = Credit.objects.create(
            organization=organization,
            amount_cents=amount_cents,
            currency=account.plan.currency,
            reason=reason.strip()[:300],
            granted_by_label=actor.label[:255],
        )
        audit_record(
            organization=organization,
            actor=actor,
            action="billing.credit_granted",
            target=credit,
            metadata={"amount_cents": amount_cents, "reason": credit.reason},
        )
    if settings.STRIPE_SECRET_KEY and account.stripe_customer_id:
        from apps.billing.tasks import credit_apply_in_stripe as credit_apply_in_stripe_task

        organization_id, credit_id = organization.id, str(credit.id)
        transaction.on_commit(
            lambda: delay_quietly(
                credit_apply_in_stripe_task, organization_id, credit_id, event="billing.credit_unsent"
            )
        )
    return credit


def credit_apply_in_stripe(*, organization: Organization, credit_id: str) -> str:
    """Apply a committed credit to the Stripe customer balance; retry-safe by its idempotency key."""
    credit = Credit.objects.for_org(organization).get(id=credit_id)
    account = BillingAccount.objects.for_org(organization).get()
    transaction_ = stripe_client.customer_credit_create(
        customer=account.stripe_customer_id,
        amount_cents=credit.amount_cents,
        currency=credit.currency,
        description=credit.reason,
        idempotency_key=f"tessera-credit-{credit.id}",
    )
    audit_record(
        organization=organization,
        actor=Actor.system(),
        action="billing.credit_applied_in_stripe",
        target=credit,
        metadata={"stripe_transaction": transaction_.id},
    )
    return transaction_.id


# --- Stripe webhooks ------------------------------------------------------------------


def stripe_webhook_receive(*, payload: bytes, signature: str) -> StripeEvent | None:
    """Verify and store one Stripe event; processing is scheduled after commit.

    A redelivered event (same Stripe id) is stored once and processed once. A bad
    signature raises ServiceError(400) and stores nothing. Returns None for a duplicate.
    """
    import stripe

    try:
        event = stripe_client.webhook_event_construct(payload=payload, signature=signature)
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise BillingError(
            "The Stripe-Signature header does not verify.", code="invalid_signature", status=400
        ) from error
    # Stored as Stripe sent it (the SDK object would turn amounts into Decimals).
    data = json.loads(payload)
    if not isinstance(data, dict) or not data.get("id") or data.get("id") != event.id:
        raise BillingError("The Stripe event has no id.", code="invalid_event", status=400)
    created = data.get("created")
    with transaction.atomic():
        stored, is_new = StripeEvent.objects.get_or_create(
            stripe_event_id=data["id"],
            defaults={
                "event_type": data.get("type", ""),
                "livemode": bool(data.get("livemode")),
                "payload": data,
                "stripe_created_at": datetime.fromtimestamp(created, tz=UTC) if created else None,
                "status": (
                    StripeEventStatus.RECEIVED if data.get("type") in HANDLED_EVENT_TYPES else StripeEventStatus.IGNORED
                ),
            },
        )
    if not is_new:
        logger.info("billing.stripe_event_duplicate", extra={"stripe_event_id": stored.stripe_event_id})
        return None
    if stored.status == StripeEventStatus.RECEIVED:
        from apps.billing.tasks import stripe_event_process as stripe_event_process_task

        transaction.on_commit(
            lambda: delay_quietly(stripe_event_process_task, str(stored.id), event="billing.stripe_event_unsent")
        )
    return stored


def _event_customer_id(payload: dict[str, Any]) -> str:
    obj = (payload.get("data") or {}).get("object") or {}
    if obj.get("object") == "customer":
        return obj.get("id") or ""
    customer = obj.get("customer")
    if isinstance(customer, dict):
        return customer.get("id") or ""
    return customer or ""


def _organization_for_customer(customer_id: str) -> int | None:
    with cross_tenant(reason="billing.stripe_event_customer_lookup"):
        return (
            BillingAccount.all_orgs.filter(stripe_customer_id=customer_id)
            .values_list("organization_id", flat=True)
            .first()
        )


def stripe_event_process(*, stripe_event_id: str) -> str:
    """Process one stored event: re-read the state it is about from Stripe and store that.

    Idempotent and order-independent: it never applies the event's own snapshot, so a
    duplicate or an out-of-date event converges on Stripe's current state.
    """
    with transaction.atomic():
        event = StripeEvent.objects.select_for_update().filter(id=stripe_event_id).first()
        if event is None or event.status in (StripeEventStatus.PROCESSED, StripeEventStatus.IGNORED):
            return event.status if event else "missing"
        event.attempts += 1
        payload = event.payload
        customer_id = _event_customer_id(payload)
        organization_id = _organization_for_customer(customer_id) if customer_id else None
        try:
            if organization_id is None:
                raise BillingError(
                    f"No organization has the Stripe customer {customer_id or '(none)'}.", code="unknown_customer"
                )
            with transaction.atomic(), tenant_context(organization_id):
                organization = Organization.objects.get(id=organization_id)
                subscription_sync_from_stripe(organization=organization, reason=f"webhook:{event.event_type}")
                obj = payload["data"]["object"]
                if event.event_type.startswith("invoice.") and obj.get("id"):
                    invoice_sync_from_stripe(organization=organization, invoice_id=obj["id"])
                if event.event_type == "invoice.payment_failed":
                    _payment_failed_notify(organization=organization, invoice_id=obj.get("id", ""))
        except Exception as error:  # noqa: BLE001 - any failure is recorded on the row and retried by the sweep
            event.status = StripeEventStatus.FAILED
            event.error = str(getattr(error, "message", error) or type(error).__name__)[:2000]
            logger.warning(
                "billing.stripe_event_failed",
                extra={"stripe_event_id": event.stripe_event_id},
                exc_info=not isinstance(error, ServiceError),
            )
        else:
            event.status = StripeEventStatus.PROCESSED
            event.error = ""
            event.processed_at = timezone.now()
        event.organization_id_hint = organization_id
        event.save(update_fields=["status", "error", "attempts", "processed_at", "organization_id_hint", "updated_at"])
    return event.status


def stripe_event_reprocess(*, stripe_event_id: str, actor: Actor) -> str:
    """Console: run a failed (or stuck received) event again."""
    with transaction.atomic():
        event = StripeEvent.objects.select_for_update().get(id=stripe_event_id)
        if event.status not in (StripeEventStatus.FAILED, StripeEventStatus.RECEIVED):
            raise BillingError(
                f"The event is {event.status}; only failed events are reprocessed.",
                code="not_reprocessable",
                status=409,
            )
        event.status = StripeEventStatus.RECEIVED
        event.save(update_fields=["status", "updated_at"])
    logger.info(
        "billing.stripe_event_reprocess", extra={"stripe_event_id": event.stripe_event_id, "actor": actor.label}
    )
    return stripe_event_process(stripe_event_id=stripe_event_id)


# --- Sync from Stripe -----------------------------------------------------------------


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _current_subscription(subscriptions: list[Any]) -> Any | None:
    live = [s for s in subscriptions if s["status"] in _LIVE_STATUSES]
    pool = live or subscriptions
    return max(pool, key=lambda s: (s.get("created") or 0, s["id"])) if pool else None


def _plan_for_subscription(subscription: Any) -> Plan | None:
    """The plan whose flat price the subscription carries now (a switch in the portal changes
    the price, not the metadata), else the plan Checkout named in the metadata."""
    items = (subscription.get("items") or {}).get("data") or []
    price_ids = [((item.get("price") or {}).get("id") or (item.get("plan") or {}).get("id")) for item in items]
    plan = Plan.objects.filter(stripe_price_id__in=[p for p in price_ids if p]).first()
    if plan is not None:
        return plan
    code = (subscription.get("metadata") or {}).get("plan_code")
    return Plan.objects.filter(code=code).first() if code else None


def _period(subscription: Any) -> tuple[datetime | None, datetime | None]:
    # Newer API versions keep the period on each item instead of the subscription.
    start, end = subscription.get("current_period_start"), subscription.get("current_period_end")
    if not start:
        items = (subscription.get("items") or {}).get("data") or []
        if items:
            start, end = items[0].get("current_period_start"), items[0].get("current_period_end")
    return _timestamp(start), _timestamp(end)


def subscription_sync_from_stripe(*, organization: Organization, reason: str) -> dict[str, tuple[Any, Any]]:
    """Make the billing account say what Stripe says now. Returns {field: (old, new)} changed."""
    account = BillingAccount.objects.for_org(organization).select_for_update().select_related("plan").first()
    if account is None or not account.stripe_customer_id:
        return {}
    subscriptions = stripe_client.subscription_list(customer=account.stripe_customer_id)
    current = _current_subscription(subscriptions)
    now = timezone.now()
    free = free_plan()
    if current is None or current["status"] in ("canceled", "incomplete_expired"):
        wanted = {
            # No live subscription: back to Free, unless staff put the organization on a plan.
            "plan": account.plan if account.plan_assigned_by_staff else free,
            "stripe_subscription_id": current["id"] if current else "",
            "subscription_status": current["status"] if current else SubscriptionStatus.NONE,
            "current_period_start": None,
            "current_period_end": None,
            "cancel_at_period_end": False,
            "past_due_since": None,
            "metered_since": None,
        }
    else:
        plan = _plan_for_subscription(current) or account.plan
        period_start, period_end = _period(current)
        status = current["status"]
        past_due_since = account.past_due_since if status in ("past_due", "unpaid") else None
        if status in ("past_due", "unpaid") and past_due_since is None:
            past_due_since = now
        wanted = {
            "plan": plan,
            "plan_assigned_by_staff": False,
            "stripe_subscription_id": current["id"],
            "subscription_status": status,
            "current_period_start": period_start,
            "current_period_end": period_end,
            "cancel_at_period_end": bool(current.get("cancel_at_period_end")),
            "past_due_since": past_due_since,
            "metered_since": account.metered_since or _timestamp(current.get("start_date")) or now,
        }
    changes = {}
    for name, value in wanted.items():
        old = getattr(account, name)
        if old != value:
            changes[name] = (old, value)
            setattr(account, name, value)
    account.synced_at = now
    account.save()
    if changes:
        _forget_limits_after_commit(organization)
        readable = {
            name: [str(getattr(old, "code", old)), str(getattr(new, "code", new))]
            for name, (old, new) in changes.items()
        }
        audit_record(
            organization=organization,
            actor=Actor.system(),
            action="billing.subscription_synced",
            target_label=wanted["plan"].name,
            metadata={"reason": reason, "changes": readable},
        )
        logger.info(
            "billing.subscription_synced",
            extra={"organization_id": organization.id, "reason": reason, "changed": sorted(changes)},
        )
        if {"plan", "subscription_status"} & set(changes):
            _subscription_changed_notify(
                organization=organization,
                account=account,
                became_past_due="past_due_since" in changes and account.past_due_since,
            )
    return changes


def invoice_sync_from_stripe(*, organization: Organization, invoice_id: str) -> Invoice:
    data = stripe_client.invoice_retrieve(invoice_id=invoice_id)
    invoice, _ = Invoice.objects.for_org(organization).update_or_create(
        organization=organization,
        stripe_invoice_id=data["id"],
        defaults={
            "number": data.get("number") or "",
            "status": data.get("status") or "",
            "currency": data.get("currency") or "usd",
            "amount_due_cents": data.get("amount_due") or 0,
            "amount_paid_cents": data.get("amount_paid") or 0,
            "total_cents": data.get("total") or 0,
            "hosted_invoice_url": data.get("hosted_invoice_url") or "",
            "invoice_pdf_url": data.get("invoice_pdf") or "",
            "period_start": _timestamp(data.get("period_start")),
            "period_end": _timestamp(data.get("period_end")),
            "issued_at": _timestamp(data.get("created")),
        },
    )
    return invoice


def _owner_emails(organization: Organization) -> list[str]:
    from apps.accounts.selectors import membership_list

    return [
        m.user.email
        for m in membership_list(organization=organization)
        if m.role in ("owner", "admin") and m.user.is_active
    ]


def _subscription_changed_notify(*, organization: Organization, account: BillingAccount, became_past_due: Any) -> None:
    from apps.webhooks.events import EventType
    from apps.webhooks.services import webhook_event_emit

    webhook_event_emit(
        organization=organization,
        event_type=EventType.SUBSCRIPTION_UPDATED,
        data={
            "object": "subscription",
            "plan": account.plan.code,
            "status": account.subscription_status,
            "current_period_end": account.current_period_end.isoformat() if account.current_period_end else None,
        },
    )
    if became_past_due:
        grace_ends = account.past_due_since + timedelta(days=settings.BILLING_GRACE_PERIOD_DAYS)
        recipients = _owner_emails(organization)
        if recipients:
            transaction.on_commit(
                lambda: send_mail(
                    subject=f"[Tessera] {organization.name}: payment failed",
                    message=(
                        f"We could not collect the payment for {organization.name}'s {account.plan.name} plan.\n\n"
                        f"Everything keeps working until {grace_ends:%Y-%m-%d %H:%M} UTC. After that the organization "
                        "can only read its data until the invoice is paid.\n\n"
                        f"Update the card: {settings.SITE_URL}/o/{organization.slug}/usage/\n"
                    ),
                    from_email=None,
                    recipient_list=recipients,
                    fail_silently=True,
                )
            )


def _payment_failed_notify(*, organization: Organization, invoice_id: str) -> None:
    from apps.webhooks.events import EventType
    from apps.webhooks.services import webhook_event_emit

    webhook_event_emit(
        organization=organization, event_type=EventType.PAYMENT_FAILED, data={"object": "invoice", "id": invoice_id}
    )


def billing_reconcile(*, organization: Organization) -> dict[str, tuple[Any, Any]]:
    """Repair drift for one organization: subscription and recent invoices from Stripe."""
    changes = subscription_sync_from_stripe(organization=organization, reason="reconciliation")
    account = BillingAccount.objects.for_org(organization).first()
    if account is not None and account.stripe_customer_id:
        for invoice in stripe_client.invoice_list(customer=account.stripe_customer_id):
            invoice_sync_from_stripe(organization=organization, invoice_id=invoice["id"])
    if changes:
        logger.warning(
            "billing.reconciliation_repaired", extra={"organization_id": organization.id, "changed": sorted(changes)}
        )
    return changes


def billing_accounts_with_customer() -> list[int]:
    with cross_tenant(reason="billing.accounts_with_customer"):
        return list(
            BillingAccount.all_orgs.exclude(stripe_customer_id="")
            .order_by("organization_id")
            .values_list("organization_id", flat=True)
        )


# --- Usage to Stripe Meters ------------------------------------------------------------


def meter_event_name(meter: str) -> str:
    return f"{settings.STRIPE_METER_EVENT_PREFIX}{meter}"


# Failed sends in one run before the export of an organization stops until the next run.
MAX_EXPORT_FAILURES = 5


def meter_event_value(quantity: Decimal) -> str:
    """The quantity as Stripe takes it: plain decimal notation, at most 15 significant digits
    (Stripe refuses more since API version 2026-04-22; fractions such as minutes are fine)."""
    value = Decimal(quantity).normalize()
    excess = len(value.as_tuple().digits) - 15
    if excess > 0:
        value = value.quantize(Decimal(1).scaleb(value.as_tuple().exponent + excess), rounding=ROUND_HALF_UP)
    return format(value.normalize(), "f")


def meter_events_export(*, organization: Organization) -> int:
    """Send this organization's not yet exported usage events to Stripe. Safe to re-run.

    Each event goes out with an identifier derived from its idempotency key, and its
    export row is committed right after Stripe accepts it. If the process dies in between,
    the next run sends the same identifier, Stripe refuses it as a duplicate, and the row
    is written then. Only meters the plan prices in Stripe are sent (seats, for example,
    are not billed). An event Stripe refuses for another reason is skipped for this run.
    Returns how many events Stripe accepted.
    """
    with tenant_context(organization.id):
        account = BillingAccount.objects.for_org(organization).select_related("plan").first()
        if account is None or not account.stripe_customer_id or account.metered_since is None:
            return 0
        priced = list(account.plan.meters.exclude(stripe_price_id="").values_list("meter", flat=True))
        oldest = max(account.metered_since, timezone.now() - _METER_EVENT_MAX_AGE)
        exported = MeterExport.objects.for_org(organization).values("usage_event_id")
        pending = list(
            UsageEvent.objects.for_org(organization)
            .filter(occurred_at__gte=oldest, meter__in=priced)
            .exclude(id__in=exported)
            .order_by("occurred_at", "id")[:METER_EXPORT_BATCH]
        )
    sent = failures = 0
    for event in pending:
        identifier = stripe_client.meter_event_identifier(
            organization_id=organization.id, idempotency_key=event.idempotency_key
        )
        name = meter_event_name(event.meter)
        try:
            stripe_client.meter_event_create(
                event_name=name,
                customer=account.stripe_customer_id,
                value=meter_event_value(event.quantity),
                identifier=identifier,
                timestamp=int(event.occurred_at.timestamp()),
            )
        except stripe_client.PaymentProviderError as error:
            failures += 1
            logger.warning(
                "billing.meter_event_refused",
                extra={"organization_id": organization.id, "usage_event_id": str(event.id), "error": error.message},
            )
            if failures >= MAX_EXPORT_FAILURES:
                break
            continue
        with tenant_context(organization.id):
            MeterExport.objects.bulk_create(
                [MeterExport(organization=organization, usage_event=event, identifier=identifier, event_name=name)],
                ignore_conflicts=True,
            )
        sent += 1
    if pending:
        logger.info(
            "billing.meter_events_exported",
            extra={"organization_id": organization.id, "sent": sent, "failed": failures, "pending": len(pending)},
        )
    return sent


def usage_gauges_snapshot(*, organization: Organization, day: date_type) -> None:
    """Record today's seats and storage levels, so a month without changes still has its level."""
    from apps.accounts.models import Membership
    from apps.datasets.selectors import organization_storage_mb
    from apps.metering.services import usage_event_record

    with tenant_context(organization.id):
        levels = {
            Meter.SEATS: Membership.objects.for_org(organization).count(),
            Meter.STORAGE_MB: organization_storage_mb(organization=organization),
        }
        for meter, level in levels.items():
            usage_event_record(
                organization=organization, meter=meter, quantity=level, idempotency_key=f"{meter}:daily:{day}"
            )
