"""Usage & billing: this month's usage against the plan, the plan, the invoices, Checkout and
the Billing Portal, the spend cap, and the usage alert banner shown on every organization page.

Who sees what (docs/architecture.md, "Roles and permissions"): every member sees the plan,
usage, allowances and projections, because they decide what the team can still do this
month. Money (projected overage charges, the invoice estimate, invoices, the spend cap) and
every billing action are for owners and admins, as the API's `billing:read` is an admin
scope; only owners change the spend cap (the service's rule). Dismissing an alert hides it
for the whole organization, so that is for owners and admins too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import CharField, DecimalField, F, Value
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.billing.models import BillingAccount, Plan, SubscriptionStatus
from apps.billing.selectors import (
    billing_account_get,
    billing_is_configured,
    free_plan,
    invoice_estimate,
    invoice_list,
    organization_limits,
    period_bounds,
    plan_list,
)
from apps.billing.services import checkout_session_start, portal_session_start, spend_cap_set
from apps.core.errors import ServiceError
from apps.dashboard.access import organization_view
from apps.dashboard.charts import usage_chart
from apps.dashboard.forms import CheckoutForm, SpendCapForm, dollars
from apps.dashboard.views.common import safe_next_url
from apps.metering.models import GAUGE_METERS, AlertKind, UsageAlert
from apps.metering.selectors import MeterSummary, usage_alert_list, usage_daily, usage_summary
from apps.metering.services import usage_alert_dismiss

CHECKOUT_OUTCOMES = {
    "success": (messages.SUCCESS, "Thanks — your plan updates as soon as Stripe confirms the payment."),
    "cancelled": (messages.INFO, "Checkout was cancelled. Nothing was charged and your plan is unchanged."),
}
# Statuses under which the organization has a subscription to manage in the portal
# rather than a new one to buy (checkout_session_start refuses a second one).
SUBSCRIBED_STATUSES = {
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.UNPAID,
    SubscriptionStatus.PAUSED,
}
STATUS_TONES = {
    SubscriptionStatus.ACTIVE: "success",
    SubscriptionStatus.TRIALING: "info",
    SubscriptionStatus.PAST_DUE: "warning",
    SubscriptionStatus.UNPAID: "danger",
    SubscriptionStatus.INCOMPLETE: "warning",
    SubscriptionStatus.PAUSED: "warning",
}
# Meters shown on a plan's card, in this order (the rest are on the usage table).
PLAN_CARD_METERS = (
    "api_predictions",
    "documents_processed",
    "recommendation_requests",
    "training_minutes_cpu",
    "training_minutes_gpu",
)


def _see_other(url: str) -> HttpResponse:
    """303: the browser follows a POST's answer with a GET (Stripe, or back to the page)."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _usage_url(request: HttpRequest, *, absolute: bool = False) -> str:
    url = reverse("dashboard:usage", kwargs={"org_slug": request.organization.slug})
    return request.build_absolute_uri(url) if absolute else url


# --- The page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeterRow:
    """One meter's line on the usage table."""

    summary: MeterSummary
    is_gauge: bool
    has_hard_limits: bool

    @property
    def percent(self) -> int | None:
        percent = self.summary.percent_used
        return None if percent is None else int(percent)

    @property
    def bar_width(self) -> int:
        return min(100, self.percent or 0)

    @property
    def tone(self) -> str:
        """80% and 100% of the allowance: the thresholds the alerts use."""
        if self.percent is None or self.percent < 80:
            return "normal"
        return "warning" if self.percent < 100 else "danger"

    @property
    def projected_over(self) -> bool:
        included = self.summary.included
        return included is not None and self.summary.projected > included

    @property
    def projected_overage_cents(self) -> Decimal:
        # A plan with hard limits refuses usage past the allowance instead of billing it.
        return Decimal(0) if self.has_hard_limits else self.summary.projected_overage_cents


def _meter_rows(summaries: list[MeterSummary], has_hard_limits: bool) -> list[MeterRow]:
    return [
        MeterRow(summary=summary, is_gauge=summary.meter in GAUGE_METERS, has_hard_limits=has_hard_limits)
        for summary in summaries
        if summary.used > 0 or (summary.included or 0) > 0
    ]


def _chart_context(
    request: HttpRequest, rows: list[MeterRow], period_start: datetime, period_end: datetime, now: datetime
) -> dict[str, Any]:
    """The chart of one meter: the one asked for, else the one closest to its allowance."""
    charted = [row for row in rows if not row.is_gauge and row.summary.used > 0]
    if not charted:
        return {"chart_meters": [], "chart_meter": None, "chart": ""}
    by_code = {row.summary.meter: row for row in charted}
    selected = by_code.get(request.GET.get("meter", "")) or max(
        charted, key=lambda row: (row.summary.percent_used or 0, row.summary.used)
    )
    summary = selected.summary
    daily = usage_daily(organization=request.organization, start=period_start, end=period_end, meters=[summary.meter])
    days = (period_end - period_start).days
    chart = usage_chart(
        [((entry.day - period_start.date()).days + 1, float(entry.quantity)) for entry in daily],
        days=days,
        elapsed_days=(min(now, period_end) - period_start) / timedelta(days=1),
        included=float(summary.included) if summary.included is not None else None,
        projected=float(summary.projected),
        title=f"{summary.label} this month: used per day, so far, and projected",
        x_label=f"Day of {period_start:%B %Y} (UTC)",
        y_label=summary.label,
    )
    return {"chart_meters": charted, "chart_meter": selected, "chart": chart}


@dataclass(frozen=True)
class PlanOption:
    plan: Plan
    is_current: bool
    can_buy: bool
    allowances: list[tuple[str, Decimal]]


def _plan_options(current: Plan, *, can_buy: bool) -> list[PlanOption]:
    options = []
    for plan in plan_list(public_only=True):
        meters = {plan_meter.meter: plan_meter for plan_meter in plan.meters.all()}
        allowances = [
            (meters[code].get_meter_display(), meters[code].included_quantity)
            for code in PLAN_CARD_METERS
            if code in meters and meters[code].included_quantity > 0
        ]
        is_current = plan.code == current.code
        purchasable = not plan.is_free and bool(plan.stripe_price_id)
        options.append(PlanOption(plan, is_current, can_buy and purchasable and not is_current, allowances))
    return options


def _render_usage(
    request: HttpRequest, *, spend_cap_form: SpendCapForm | None = None, status: int = 200
) -> HttpResponse:
    organization = request.organization
    can_manage = request.membership.can_manage
    now = timezone.now()
    period_start, period_end = period_bounds(now)
    limits = organization_limits(organization=organization)
    account = billing_account_get(organization=organization)
    plan = account.plan if account is not None else free_plan()
    subscription_status = account.subscription_status if account is not None else SubscriptionStatus.NONE
    is_subscribed = (
        account is not None and bool(account.stripe_subscription_id) and (subscription_status in SUBSCRIBED_STATUSES)
    )
    configured = billing_is_configured()
    rows = _meter_rows(
        usage_summary(
            organization=organization, limits=limits, period_start=period_start, period_end=period_end, now=now
        ),
        limits.has_hard_limits,
    )
    context: dict[str, Any] = {
        "section": "usage",
        "plan": plan,
        "account": account,
        "limits": limits,
        "subscription_status": subscription_status,
        "subscription_status_label": SubscriptionStatus(subscription_status).label,
        "subscription_tone": STATUS_TONES.get(subscription_status, "neutral"),
        "grace_ends_at": _grace_ends_at(account),
        "billing_configured": configured,
        "can_manage": can_manage,
        "can_set_spend_cap": request.membership.role == "owner",
        "show_portal": can_manage and configured and account is not None and bool(account.stripe_customer_id),
        "is_subscribed": is_subscribed,
        "period_start": period_start,
        "period_last_day": (period_end - timedelta(days=1)).date(),
        "period_end": period_end,
        "day_of_period": (now - period_start).days + 1,
        "days_in_period": (period_end - period_start).days,
        "meter_rows": rows,
        "closest": max((row for row in rows if row.percent is not None), key=lambda row: row.percent, default=None),
        "plans": _plan_options(plan, can_buy=can_manage and configured and not is_subscribed),
        **_chart_context(request, rows, period_start, period_end, now),
    }
    if can_manage:
        context["estimate"] = invoice_estimate(organization=organization, limits=limits, now=now)
        context["invoices"] = invoice_list(organization=organization)
        context["spend_cap_form"] = spend_cap_form or SpendCapForm(
            initial={"spend_cap": dollars(limits.spend_cap_cents)}
        )
    return render(request, "dashboard/billing/usage.html", context, status=status)


def _grace_ends_at(account: BillingAccount | None) -> datetime | None:
    if account is None or account.past_due_since is None:
        return None
    return account.past_due_since + timedelta(days=settings.BILLING_GRACE_PERIOD_DAYS)


@require_GET
@organization_view()
def usage(request: HttpRequest) -> HttpResponse:
    outcome = CHECKOUT_OUTCOMES.get(request.GET.get("checkout", ""))
    if outcome is not None:
        # Stripe sends the browser back here; say how it went once, then drop the query string.
        messages.add_message(request, *outcome)
        return HttpResponseRedirect(_usage_url(request))
    return _render_usage(request)


# --- Actions -------------------------------------------------------------------------------


@require_POST
@organization_view(manage=True)
def checkout_start_view(request: HttpRequest) -> HttpResponse:
    form = CheckoutForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the plans listed.")
        return _see_other(_usage_url(request))
    usage_url = _usage_url(request, absolute=True)
    try:
        url = checkout_session_start(
            organization=request.organization,
            plan_code=form.cleaned_data["plan"],
            actor=request.actor,
            success_url=f"{usage_url}?checkout=success",
            cancel_url=f"{usage_url}?checkout=cancelled",
        )
    except ServiceError as error:
        messages.error(request, error.message)
        return _see_other(_usage_url(request))
    return _see_other(url)


@require_POST
@organization_view(manage=True, allowed_when_read_only=True)
def portal_start_view(request: HttpRequest) -> HttpResponse:
    try:
        url = portal_session_start(
            organization=request.organization, actor=request.actor, return_url=_usage_url(request, absolute=True)
        )
    except ServiceError as error:
        messages.error(request, error.message)
        return _see_other(_usage_url(request))
    return _see_other(url)


@require_POST
@organization_view(manage=True)
def spend_cap_view(request: HttpRequest) -> HttpResponse:
    form = SpendCapForm(request.POST)
    if not form.is_valid():
        return _render_usage(request, spend_cap_form=form, status=400)
    try:
        spend_cap_set(organization=request.organization, actor=request.actor, spend_cap_cents=form.spend_cap_cents)
    except ServiceError as error:
        form.add_error(None, error.message)
        return _render_usage(request, spend_cap_form=form, status=error.status)
    if form.spend_cap_cents is None:
        messages.success(request, "Removed the spend cap. Overage charges are no longer limited.")
    else:
        messages.success(request, f"Set the spend cap to ${form.cleaned_data['spend_cap']:,.2f} a month.")
    return _see_other(f"{_usage_url(request)}#spend-cap")


@require_POST
@organization_view(manage=True, allowed_when_read_only=True)
def usage_alert_dismiss_view(request: HttpRequest, alert_id: uuid.UUID) -> HttpResponse:
    period_start, _ = period_bounds()
    alerts = usage_alert_list(organization=request.organization, period_start=period_start)
    if not any(alert.id == alert_id for alert in alerts):
        raise Http404("No such alert.")
    usage_alert_dismiss(organization=request.organization, alert_id=str(alert_id))
    messages.success(request, f"Dismissed the alert for everyone in {request.organization.name}.")
    return _see_other(safe_next_url(request, _usage_url(request)))


urlpatterns = [
    path("", usage, name="usage"),
    path("checkout/", checkout_start_view, name="billing_checkout"),
    path("portal/", portal_start_view, name="billing_portal"),
    path("spend-cap/", spend_cap_view, name="billing_spend_cap"),
    path("alerts/<uuid:alert_id>/dismiss/", usage_alert_dismiss_view, name="usage_alert_dismiss"),
]


# --- The banner on every organization page ------------------------------------------------------

_ALERT_ORDER = {AlertKind.SPEND_CAP: 0, AlertKind.ALLOWANCE_100: 1, AlertKind.ALLOWANCE_80: 2}


@dataclass(frozen=True)
class UsageBanner:
    alerts: list[UsageAlert]
    subscription_status: str
    grace_ends_at: datetime | None
    is_read_only: bool

    @property
    def is_past_due(self) -> bool:
        return self.subscription_status == SubscriptionStatus.PAST_DUE

    def __bool__(self) -> bool:
        return bool(self.alerts) or self.subscription_status in (SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID)


def usage_banner_state(*, organization: Any, now: datetime | None = None) -> UsageBanner:
    """This period's undismissed usage alerts and a past-due or unpaid subscription, in one query.

    NOTE: the banner is on every organization page, so both reads share one round trip: the
    alerts, UNION ALL the billing account as one more row when it is past_due or unpaid.
    Read-only follows apps.billing.selectors' rule: unpaid, or past_due beyond the grace period.
    """
    now = now or timezone.now()
    period_start, _ = period_bounds(now)
    alerts = (
        UsageAlert.objects.for_org(organization)
        .filter(period_start=period_start, dismissed_at__isnull=True)
        .order_by()
        .values_list("id", "kind", "meter", "used", "limit", "created_at")
    )
    account = (
        BillingAccount.objects.for_org(organization)
        .filter(subscription_status__in=[SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID])
        .order_by()
        .annotate(
            row_kind=F("subscription_status"),
            row_meter=Value("", output_field=CharField()),
            row_used=Value(Decimal(0), output_field=DecimalField()),
            row_limit=Value(Decimal(0), output_field=DecimalField()),
            row_at=F("past_due_since"),
        )
        .values_list("id", "row_kind", "row_meter", "row_used", "row_limit", "row_at")
    )
    found, status, past_due_since = [], SubscriptionStatus.NONE.value, None
    for row_id, kind, meter, used, limit, at in alerts.union(account, all=True):
        if kind in AlertKind.values:
            found.append(UsageAlert(id=row_id, kind=kind, meter=meter, used=used, limit=limit, created_at=at))
        else:
            status, past_due_since = kind, at
    found.sort(key=lambda alert: (_ALERT_ORDER.get(alert.kind, 9), alert.meter))
    grace_ends_at = past_due_since + timedelta(days=settings.BILLING_GRACE_PERIOD_DAYS) if past_due_since else None
    is_read_only = status == SubscriptionStatus.UNPAID or (
        status == SubscriptionStatus.PAST_DUE and grace_ends_at is not None and now >= grace_ends_at
    )
    return UsageBanner(alerts=found, subscription_status=status, grace_ends_at=grace_ends_at, is_read_only=is_read_only)
