"""Reads about plans and each organization's limits. Always scoped to one organization.

`organization_limits` is on the path of every API request (rate limit) and every metered
action (quota), so it is cached per organization and dropped whenever the plan, the
overrides or the subscription change (`organization_limits_forget`).
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from apps.billing.models import BillingAccount, Invoice, Plan, SubscriptionStatus

FREE_PLAN_CODE = "free"
_LIMITS_CACHE_SECONDS = 60
_INVOICE_PREVIEW_CACHE_SECONDS = 300


@dataclass(frozen=True)
class MeterLimit:
    included: Decimal
    overage_unit_price_cents: Decimal


@dataclass(frozen=True)
class OrganizationLimits:
    """What one organization may do now: its plan with staff overrides applied."""

    plan_code: str
    plan_name: str
    has_hard_limits: bool
    api_rate_limit_per_minute: int
    products: tuple[str, ...]
    allows_gpu_training: bool
    max_active_models: int
    max_seats: int
    max_concurrent_training_jobs: int
    spend_cap_cents: int | None
    meters: dict[str, MeterLimit] = field(default_factory=dict)
    # past_due beyond the grace period (or unpaid): reads only until paid.
    is_read_only: bool = False

    def included(self, meter: str) -> Decimal | None:
        """The allowance of `meter` per period; None when the plan does not limit it."""
        limit = self.meters.get(meter)
        return None if limit is None else limit.included


def plan_list(*, public_only: bool = False) -> list[Plan]:
    plans = Plan.objects.prefetch_related("meters")
    if public_only:
        plans = plans.filter(is_public=True)
    return list(plans)


def plan_get(*, code: str) -> Plan:
    return Plan.objects.prefetch_related("meters").get(code=code)


def free_plan() -> Plan:
    """The Free plan, seeded again if a test flush (or an operator) removed the plans."""
    plan = Plan.objects.filter(code=FREE_PLAN_CODE).first()
    if plan is None:
        from apps.billing.models import PlanMeter
        from apps.billing.plans import plans_seed

        plans_seed(Plan, PlanMeter)
        plan = Plan.objects.get(code=FREE_PLAN_CODE)
    return plan


def billing_account_get(*, organization: Any) -> BillingAccount | None:
    return BillingAccount.objects.for_org(organization).select_related("plan").first()


def billing_is_configured() -> bool:
    """Payments need a Stripe secret key; without one billing runs offline (embedded default)."""
    return bool(settings.STRIPE_SECRET_KEY)


def period_bounds(at: datetime | None = None) -> tuple[datetime, datetime]:
    """The billing period containing `at`: the calendar month in UTC (docs/adr/0004)."""
    at = (at or timezone.now()).astimezone(UTC)
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(start.year, start.month)[1]
    return start, start + timedelta(days=days)


def _is_read_only(account: BillingAccount | None, now: datetime) -> bool:
    if account is None:
        return False
    if account.subscription_status == SubscriptionStatus.UNPAID:
        return True
    if account.subscription_status == SubscriptionStatus.PAST_DUE and account.past_due_since:
        return now >= account.past_due_since + timedelta(days=settings.BILLING_GRACE_PERIOD_DAYS)
    return False


def _limits_cache_key(organization_id: int) -> str:
    return f"billing:limits:{organization_id}"


def _build_limits(organization_id: int) -> tuple[OrganizationLimits, bool]:
    """The limits, and whether they came from a billing account (only those are cached)."""
    account = BillingAccount.objects.for_org(organization_id).select_related("plan").first()
    plan = account.plan if account is not None else free_plan()
    overrides: dict[str, Any] = (account.overrides if account is not None else {}) or {}
    meters = {
        plan_meter.meter: MeterLimit(
            included=plan_meter.included_quantity, overage_unit_price_cents=plan_meter.overage_unit_price_cents
        )
        for plan_meter in plan.meters.all()
    }
    for meter, included in (overrides.get("included") or {}).items():
        price = meters[meter].overage_unit_price_cents if meter in meters else Decimal(0)
        meters[meter] = MeterLimit(included=Decimal(str(included)), overage_unit_price_cents=price)

    def pick(name: str) -> Any:
        return overrides.get(name, getattr(plan, name))

    limits = OrganizationLimits(
        plan_code=plan.code,
        plan_name=plan.name,
        has_hard_limits=plan.has_hard_limits,
        api_rate_limit_per_minute=int(pick("api_rate_limit_per_minute")),
        products=tuple(pick("products") or ()),
        allows_gpu_training=bool(pick("allows_gpu_training")),
        max_active_models=int(pick("max_active_models")),
        max_seats=int(pick("max_seats")),
        max_concurrent_training_jobs=int(pick("max_concurrent_training_jobs")),
        spend_cap_cents=account.spend_cap_cents if account is not None else None,
        meters=meters,
        is_read_only=_is_read_only(account, timezone.now()),
    )
    return limits, account is not None


# Per-process copy in front of the shared cache: the limits are read on every API request
# and metered action, and a Redis round trip is most of a usage record's cost (measured:
# docs/benchmarks.md). A change made in another process shows here within this many seconds.
_LOCAL_SECONDS = 5.0
_local_limits: dict[int, tuple[float, OrganizationLimits]] = {}


def organization_limits(*, organization: Any) -> OrganizationLimits:
    """The plan's limits for `organization` with overrides applied.

    Cached in this process for a few seconds and in the shared cache for a minute; every
    service that changes a plan, an override or a subscription forgets both at once (other
    processes catch up within `_LOCAL_SECONDS`). The cache holds plain values only.
    """
    organization_id = int(getattr(organization, "pk", organization))
    now = time.monotonic()
    local = _local_limits.get(organization_id)
    if local is not None and local[0] > now:
        return local[1]
    key = _limits_cache_key(organization_id)
    limits = cache.get(key)
    if limits is None:
        limits, from_account = _build_limits(organization_id)
        if not from_account:
            # No account visible: an organization that never had one (Free), or a read
            # outside its tenant context, where row-level security hides the account.
            # Never cached, so the second case cannot stick a paid plan on Free.
            return limits
        cache.set(key, limits, _LIMITS_CACHE_SECONDS)
    _local_limits[organization_id] = (now + _LOCAL_SECONDS, limits)
    return limits


def organization_limits_forget(*, organization: Any) -> None:
    organization_id = int(getattr(organization, "pk", organization))
    _local_limits.pop(organization_id, None)
    cache.delete(_limits_cache_key(organization_id))


def organization_limits_forget_all_local() -> None:
    """Drop this process's copies (tests start each case from the shared cache)."""
    _local_limits.clear()


def invoice_list(*, organization: Any) -> list[Invoice]:
    return list(Invoice.objects.for_org(organization).order_by("-issued_at", "-created_at"))


@dataclass(frozen=True)
class InvoiceEstimate:
    """What the next invoice will roughly be: the plan fee plus projected overage.

    `source` is "stripe" when Stripe's invoice preview answered, else "projection" (our own
    straight-line projection of this period's usage; always the case offline).
    """

    currency: str
    plan_cents: int
    overage_cents: Decimal
    total_cents: Decimal
    period_end: datetime
    source: str


def invoice_estimate(
    *, organization: Any, limits: OrganizationLimits | None = None, now: datetime | None = None
) -> InvoiceEstimate:
    from apps.metering.selectors import usage_summary

    limits = limits or organization_limits(organization=organization)
    account = billing_account_get(organization=organization)
    plan = account.plan if account is not None else free_plan()
    start, end = period_bounds(now)
    if billing_is_configured() and account is not None and account.stripe_subscription_id:
        from apps.billing import stripe_client

        # Cached a few minutes: the usage page would otherwise call Stripe on every view.
        preview_key = f"billing:invoice-preview:{account.organization_id}:{account.stripe_subscription_id}"
        preview = cache.get(preview_key)
        if preview is None:
            try:
                preview = stripe_client.invoice_preview(
                    customer=account.stripe_customer_id, subscription=account.stripe_subscription_id
                )
            except stripe_client.PaymentProviderError:
                preview = None
            else:
                preview = {"total": preview.get("total"), "currency": preview.get("currency")}
                cache.set(preview_key, preview, _INVOICE_PREVIEW_CACHE_SECONDS)
        if preview is not None and preview.get("total") is not None:
            total = Decimal(preview["total"])
            return InvoiceEstimate(
                currency=preview.get("currency") or plan.currency,
                plan_cents=plan.monthly_price_cents,
                overage_cents=max(total - plan.monthly_price_cents, Decimal(0)),
                total_cents=total,
                period_end=end,
                source="stripe",
            )
    overage = sum(
        (
            summary.projected_overage_cents
            for summary in usage_summary(
                organization=organization, limits=limits, period_start=start, period_end=end, now=now
            )
        ),
        Decimal(0),
    )
    if limits.has_hard_limits:
        overage = Decimal(0)
    if limits.spend_cap_cents is not None:
        overage = min(overage, Decimal(limits.spend_cap_cents))
    overage = overage.quantize(Decimal("1"))
    return InvoiceEstimate(
        currency=plan.currency,
        plan_cents=plan.monthly_price_cents,
        overage_cents=overage,
        total_cents=plan.monthly_price_cents + overage,
        period_end=end,
        source="projection",
    )
