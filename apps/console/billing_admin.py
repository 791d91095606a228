"""Billing in the console: plans, one organization's billing, usage across organizations, Stripe events.

apps/console/admin.py imports this module at its end (these classes build on its base
classes), which registers the Plan and StripeEvent admins on `console_site`; the
organization pages are served from `OrganizationAdmin`'s URLs by the views below.

* Plans are the catalogue, not tenant-owned: staff edit them with their meters inline.
  A plan in use cannot be deleted (BillingAccount.plan is PROTECT), nor can Free, the
  plan of every organization without a billing account. Saving a plan drops the cached
  limits of the organizations on it (`plan_limits_forget`).
* An organization's plan, overrides and credits are changed through
  apps/billing/services.py inside the organization's tenant context; those services
  write the audit entries.
* Usage events, credits and Stripe events are read-only here: nothing deletes them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value, unquote
from django.core.paginator import Paginator
from django.db.models import OuterRef, QuerySet, Subquery, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html

from apps.accounts.models import Organization
from apps.billing.models import BillingAccount, Credit, Plan, PlanMeter, StripeEvent, StripeEventStatus
from apps.billing.selectors import FREE_PLAN_CODE, free_plan, organization_limits, period_bounds
from apps.billing.services import credit_grant, overrides_set, plan_assign
from apps.console.admin import ConsoleModelAdmin, badge, console_url, count_per, is_console_staff
from apps.console.forms import (
    CreditGrantForm,
    PlanAssignForm,
    PlanForm,
    PlanMeterForm,
    PlanOverridesForm,
    quantity_text,
)
from apps.console.services import (
    REPROCESSABLE_STATUSES,
    console_actor,
    plan_limits_forget,
    stripe_event_reprocess,
)
from apps.console.site import console_site
from apps.core.errors import ServiceError
from apps.core.tenancy import tenant_context
from apps.metering.models import Meter, UsageCounter
from apps.metering.selectors import usage_totals

logger = logging.getLogger(__name__)

RECENT_CREDITS = 20
USAGE_PAGE_SIZE = 100
ERROR_EXCERPT_LENGTH = 80
# Stripe subscription statuses under which Stripe, not the console, decides the plan.
LIVE_SUBSCRIPTION_STATUSES = ("active", "trialing", "past_due", "unpaid", "incomplete", "paused")
SUBSCRIPTION_TONES = {
    "active": "ok",
    "trialing": "info",
    "past_due": "warning",
    "unpaid": "danger",
    "incomplete": "warning",
    "incomplete_expired": "muted",
    "canceled": "muted",
    "paused": "muted",
    "none": "muted",
}
STRIPE_EVENT_TONES = {"processed": "ok", "failed": "danger", "received": "warning", "ignored": "muted"}
_INFINITY = Decimal("Infinity")


# --- Formatting ------------------------------------------------------------------------


def money_text(cents: int | Decimal | None, currency: str = "usd") -> str:
    """4900 -> "$49.00"; other currencies: "49.00 EUR"; None -> "—"."""
    if cents is None:
        return "—"
    amount = Decimal(cents) / 100
    return f"${amount:,.2f}" if currency.lower() == "usd" else f"{amount:,.2f} {currency.upper()}"


@dataclass(frozen=True)
class MeterUsage:
    """One meter's use this period against its allowance (None: the plan does not limit it)."""

    meter: str
    label: str
    used: Decimal
    included: Decimal | None
    is_overridden: bool = False

    @property
    def percent(self) -> Decimal | None:
        """Share of the allowance used. Any use of a zero allowance is over it: infinity."""
        if self.included is None:
            return None
        if self.included == 0:
            return _INFINITY if self.used > 0 else Decimal(0)
        return self.used / self.included * 100

    @property
    def percent_text(self) -> str:
        percent = self.percent
        if percent is None:
            return "no limit"
        if percent == _INFINITY:
            return "over (none included)"
        return f"{percent:.1f}%"

    @property
    def tone(self) -> str:
        percent = self.percent
        if percent is None:
            return "muted"
        return "danger" if percent >= 100 else "warning" if percent >= 80 else "ok"

    @property
    def used_text(self) -> str:
        return quantity_text(self.used)

    @property
    def included_text(self) -> str:
        return quantity_text(self.included)


def meter_usage(
    meter: str, used: Decimal, limits: Any, overridden: set[str] | frozenset[str] = frozenset()
) -> MeterUsage:
    return MeterUsage(
        meter=meter,
        label=Meter(meter).label if meter in Meter.values else meter,
        used=used,
        included=limits.included(meter),
        is_overridden=meter in overridden,
    )


# --- Plans -----------------------------------------------------------------------------


class PlanMeterInline(admin.TabularInline):
    model = PlanMeter
    form = PlanMeterForm
    extra = 0
    fields = ("meter", "included_quantity", "overage_unit_price_cents", "stripe_price_id")
    verbose_name = "meter"
    verbose_name_plural = "meters (a meter without a row is not limited by the plan)"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_console_staff(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_console_staff(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_console_staff(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_console_staff(request)


@admin.register(Plan, site=console_site)
class PlanAdmin(ConsoleModelAdmin):
    """The plan catalogue. Staff add and edit plans; a plan in use is never deleted."""

    form = PlanForm
    list_display = (
        "name",
        "code",
        "monthly_price",
        "hard_limits_badge",
        "api_rate_limit_per_minute",
        "max_seats",
        "public_badge",
        "account_count",
    )
    list_display_links = ("name",)
    list_filter = ("is_public", "has_hard_limits")
    search_fields = ("name", "code")
    search_help_text = "Search by plan name or code."
    ordering = ("sort_order", "monthly_price_cents")
    inlines = (PlanMeterInline,)
    fieldsets = (
        (None, {"fields": ("code", "name", "description", "is_public", "sort_order")}),
        (
            "Price",
            {
                "fields": ("currency", "monthly_price_cents", "has_hard_limits", "stripe_price_id"),
                "description": "Prices are in cents (4900 = $49.00). With hard limits, usage stops at the "
                "allowance (HTTP 402); without, it continues into overage at each meter's unit price.",
            },
        ),
        (
            "Rate limit and entitlements",
            {
                "fields": (
                    "api_rate_limit_per_minute",
                    "max_seats",
                    "max_active_models",
                    "max_concurrent_training_jobs",
                    "allows_gpu_training",
                    "products",
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(account_total=count_per(BillingAccount.all_orgs.all(), "plan"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_console_staff(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_console_staff(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_console_staff(request)

    def get_readonly_fields(self, request: HttpRequest, obj: Plan | None = None) -> tuple[str, ...]:
        # Checkout and subscription metadata carry the code; renaming it would orphan them.
        return ("code",) if obj is not None else ()

    @admin.display(description="monthly price", ordering="monthly_price_cents")
    def monthly_price(self, plan: Plan) -> str:
        return money_text(plan.monthly_price_cents, plan.currency)

    @admin.display(description="limits", ordering="has_hard_limits")
    def hard_limits_badge(self, plan: Plan) -> str:
        return badge("Hard", "warning") if plan.has_hard_limits else badge("Overage", "info")

    @admin.display(description="public", ordering="is_public")
    def public_badge(self, plan: Plan) -> str:
        return badge("Public", "ok") if plan.is_public else badge("Staff only", "muted")

    @admin.display(description="billing accounts", ordering="account_total")
    def account_count(self, plan: Plan) -> int:
        return plan.account_total

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        plan = form.instance
        affected = plan_limits_forget(plan=plan) if change else 0
        logger.info(
            "console.plan_saved",
            extra={
                "plan_code": plan.code,
                "is_new": not change,
                "changed_fields": sorted(form.changed_data),
                "meters_changed": any(formset.has_changed() for formset in formsets),
                "organizations_affected": affected,
                "staff_user_id": request.user.pk,
            },
        )

    def delete_refusal(self, plan: Plan) -> str:
        """Why `plan` cannot be deleted, or "" when it can."""
        if plan.code == FREE_PLAN_CODE:
            return "Free is the plan of every organization without a billing account; it cannot be deleted."
        organization_ids = BillingAccount.all_orgs.filter(plan=plan).values("organization_id")
        names = list(
            Organization.objects.filter(pk__in=organization_ids).order_by("name").values_list("name", flat=True)
        )
        if not names:
            return ""
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return (
            f"{plan.name} cannot be deleted: {len(names)} organization(s) are on it ({shown}). "
            "Assign them another plan first."
        )

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        plan = self.get_object(request, unquote(object_id))
        if plan is not None and self.has_delete_permission(request, plan):
            refusal = self.delete_refusal(plan)
            if refusal:
                self.message_user(request, refusal, messages.ERROR)
                return HttpResponseRedirect(console_url("billing_plan_change", plan.pk))
        return super().delete_view(request, object_id, extra_context)


# --- Stripe events ---------------------------------------------------------------------


@admin.register(StripeEvent, site=console_site)
class StripeEventAdmin(ConsoleModelAdmin):
    """Every Stripe webhook event as stored; read-only but for "Reprocess"."""

    list_display = ("event_type", "status_badge", "organization_column", "attempts", "error_excerpt", "received_at")
    list_display_links = ("event_type",)
    list_filter = ("status", "event_type")
    search_fields = ("stripe_event_id", "event_type")
    search_help_text = "Search by Stripe event id (evt_…) or type."
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 100
    fields = (
        "stripe_event_id",
        "event_type",
        "status_badge",
        "organization_column",
        "attempts",
        "error",
        "livemode",
        "received_at",
        "stripe_created_at",
        "processed_at",
        "payload_pretty",
    )
    readonly_fields = fields
    actions = ("reprocess_events",)
    change_form_template = "console/stripe_event/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        names = Organization.objects.filter(pk=OuterRef("organization_id_hint")).values("name")[:1]
        return super().get_queryset(request).annotate(organization_name=Subquery(names))

    def console_lookups(self) -> set[str]:
        return super().console_lookups() | {"organization_id_hint__exact"}  # from an organization's billing page

    @admin.display(description="received at", ordering="created_at")
    def received_at(self, event: StripeEvent) -> str:
        return display_for_value(event.created_at, "—")

    @admin.display(description="status", ordering="status")
    def status_badge(self, event: StripeEvent) -> str:
        return badge(event.get_status_display(), STRIPE_EVENT_TONES.get(event.status, "muted"))

    @admin.display(description="organization")
    def organization_column(self, event: StripeEvent) -> str:
        if event.organization_id_hint is None:
            return "—"
        if event.organization_name is None:
            return f"#{event.organization_id_hint} (no such organization)"
        url = console_url("accounts_organization_billing", event.organization_id_hint)
        return format_html('<a href="{}">{}</a>', url, event.organization_name)

    @admin.display(description="error")
    def error_excerpt(self, event: StripeEvent) -> str:
        if not event.error:
            return "—"
        if len(event.error) <= ERROR_EXCERPT_LENGTH:
            return event.error
        return event.error[: ERROR_EXCERPT_LENGTH - 1] + "…"

    @admin.display(description="payload")
    def payload_pretty(self, event: StripeEvent) -> str:
        return format_html("<pre class='tsr-json'>{}</pre>", json.dumps(event.payload, indent=2, sort_keys=True))

    def get_urls(self) -> list:
        return [
            path(
                "<path:object_id>/reprocess/",
                self.admin_site.admin_view(self.reprocess_view),
                name="billing_stripeevent_reprocess",
            ),
            *super().get_urls(),
        ]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: StripeEvent | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context.update(
                {
                    "can_reprocess": self.has_operate_permission(request) and obj.status in REPROCESSABLE_STATUSES,
                    "reprocess_url": console_url("billing_stripeevent_reprocess", obj.pk),
                }
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def reprocess_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        event = self.get_object(request, unquote(object_id))
        if event is None or not self.has_operate_permission(request):
            self.message_user(request, "That Stripe event does not exist.", messages.WARNING)
            return HttpResponseRedirect(console_url("billing_stripeevent_changelist"))
        if request.method == "POST":
            self.reprocess(request, event, report=True)
        return HttpResponseRedirect(console_url("billing_stripeevent_change", event.pk))

    def reprocess(self, request: HttpRequest, event: StripeEvent, *, report: bool) -> StripeEvent | None:
        """Reprocess one event; with `report`, say how it ended. None when it was refused."""
        try:
            event = stripe_event_reprocess(stripe_event=event, actor=console_actor(request))
        except ServiceError as error:
            if report:
                self.message_user(request, error.message, messages.ERROR)
            return None
        if report and event.status == StripeEventStatus.PROCESSED:
            self.message_user(request, f"Reprocessed {event.stripe_event_id}: processed.", messages.SUCCESS)
        elif report:
            self.message_user(
                request,
                f"Reprocessed {event.stripe_event_id}: {event.status}. {event.error}".strip(),
                messages.WARNING,
            )
        return event

    @admin.action(description="Reprocess selected failed events", permissions=["operate"])
    def reprocess_events(self, request: HttpRequest, queryset: QuerySet) -> None:
        if self.nothing_selected(request, queryset):
            return
        selected = list(queryset)
        outcomes = [self.reprocess(request, event, report=False) for event in selected]
        done = [event for event in outcomes if event is not None]
        processed = sum(1 for event in done if event.status == StripeEventStatus.PROCESSED)
        message = f"Reprocessed {len(done)} event(s): {processed} processed, {len(done) - processed} failed."
        if len(done) < len(selected):
            message += f" {len(selected) - len(done)} skipped (already processed or ignored)."
        self.message_user(request, message, messages.SUCCESS if processed == len(done) else messages.WARNING)


# --- One organization's billing --------------------------------------------------------


def _account(organization: Organization) -> BillingAccount | None:
    return BillingAccount.all_orgs.for_org(organization).select_related("plan").first()


def organization_billing_summary(organization: Organization) -> dict[str, Any]:
    """What the organization's change page shows of its billing (no account is created)."""
    account = _account(organization)
    status = account.subscription_status if account is not None else "none"
    return {
        "billing_plan": account.plan if account is not None else free_plan(),
        "billing_status": badge(status.replace("_", " ").capitalize(), SUBSCRIPTION_TONES.get(status, "muted")),
        "billing_has_overrides": bool(account is not None and account.overrides),
        "billing_url": console_url("accounts_organization_billing", organization.pk),
    }


def _entitlements(limits: Any, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [
        ("API rate limit (per minute)", "api_rate_limit_per_minute", limits.api_rate_limit_per_minute),
        ("Seats", "max_seats", limits.max_seats),
        ("Active models", "max_active_models", limits.max_active_models),
        ("Concurrent training jobs", "max_concurrent_training_jobs", limits.max_concurrent_training_jobs),
        ("GPU training", "allows_gpu_training", "allowed" if limits.allows_gpu_training else "not allowed"),
        ("Products", "products", ", ".join(limits.products) or "none"),
    ]
    return [{"label": label, "value": value, "is_overridden": key in overrides} for label, key, value in rows]


def _billing_page(model_admin: Any, request: HttpRequest, organization: Organization, **forms: Any) -> HttpResponse:
    account = _account(organization)
    plan = account.plan if account is not None else free_plan()
    overrides = (account.overrides if account is not None else {}) or {}
    limits = organization_limits(organization=organization)
    period_start, period_end = period_bounds()
    totals = usage_totals(organization=organization, start=period_start, end=period_end)
    overridden = set(overrides.get("included") or {})
    usage = [
        meter_usage(meter, totals.get(meter, Decimal(0)), limits, overridden)
        for meter in Meter.values
        if meter in limits.meters or meter in totals
    ]
    credits = Credit.all_orgs.for_org(organization)
    credit_total = credits.aggregate(total=Sum("amount_cents"))["total"] or 0
    status = account.subscription_status if account is not None else "none"
    change_url = console_url("accounts_organization_change", organization.pk)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Billing of {organization.name}",
        "organization": organization,
        "account": account,
        "plan": plan,
        "limits": limits,
        "status_badge": badge(status.replace("_", " ").capitalize(), SUBSCRIPTION_TONES.get(status, "muted")),
        "spend_cap": money_text(account.spend_cap_cents, plan.currency) if account else "—",
        "monthly_price": money_text(plan.monthly_price_cents, plan.currency),
        "period_start": period_start,
        "period_last_day": period_end - timedelta(days=1),
        "usage": usage,
        "entitlements": _entitlements(limits, overrides),
        "overrides_json": json.dumps(overrides, indent=2, sort_keys=True) if overrides else "",
        "credits": [
            {"credit": credit, "amount": money_text(credit.amount_cents, credit.currency)}
            for credit in credits.order_by("-created_at")[:RECENT_CREDITS]
        ],
        "credit_count": credits.count(),
        "credit_total": money_text(credit_total, plan.currency),
        "change_url": change_url,
        "plan_url": console_url("billing_plan_change", plan.pk),
        "stripe_events_url": (
            f"{console_url('billing_stripeevent_changelist')}?organization_id_hint__exact={organization.pk}"
        ),
        "audit_log_url": f"{console_url('audit_auditentry_changelist')}?organization__id__exact={organization.pk}",
        "plan_assign_url": console_url("accounts_organization_billing_plan", organization.pk),
        "overrides_url": console_url("accounts_organization_billing_overrides", organization.pk),
        "credit_url": console_url("accounts_organization_billing_credit", organization.pk),
        "plan_form": forms.get("plan_form") or PlanAssignForm(initial={"plan": plan.pk}),
        "overrides_form": forms.get("overrides_form") or PlanOverridesForm(plan=plan, overrides=overrides),
        "credit_form": forms.get("credit_form") or CreditGrantForm(),
    }
    return TemplateResponse(request, "console/organization/billing.html", context)


def organization_billing_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    found = model_admin._organization_or_redirect(request, object_id)
    if isinstance(found, HttpResponse):
        return found
    return _billing_page(model_admin, request, found)


def _posted_organization(
    model_admin: Any, request: HttpRequest, object_id: str
) -> tuple[Organization, str] | HttpResponse:
    """The organization and its billing page for an action view; a GET is sent to that page."""
    found = model_admin._organization_or_redirect(request, object_id)
    if isinstance(found, HttpResponse):
        return found
    billing_url = console_url("accounts_organization_billing", found.pk)
    if request.method != "POST":
        return HttpResponseRedirect(billing_url)
    return found, billing_url


def organization_plan_assign_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    found = _posted_organization(model_admin, request, object_id)
    if isinstance(found, HttpResponse):
        return found
    organization, billing_url = found
    form = PlanAssignForm(request.POST)
    if not form.is_valid():
        model_admin.message_user(request, "The plan was not changed: pick a plan from the list.", messages.ERROR)
        return _billing_page(model_admin, request, organization, plan_form=form)
    plan = form.cleaned_data["plan"]
    account = _account(organization)
    current = account.plan if account is not None else free_plan()
    if current.pk == plan.pk:
        model_admin.message_user(request, f"{organization} is already on {plan.name}.", messages.INFO)
        return HttpResponseRedirect(billing_url)
    try:
        with tenant_context(organization.id):
            plan_assign(organization=organization, plan=plan, actor=console_actor(request))
    except ServiceError as error:
        model_admin.message_user(request, error.message, messages.ERROR)
        return _billing_page(model_admin, request, organization, plan_form=form)
    model_admin.message_user(request, f"Moved {organization} from {current.name} to {plan.name}.", messages.SUCCESS)
    if (
        account is not None
        and account.stripe_subscription_id
        and account.subscription_status in LIVE_SUBSCRIPTION_STATUSES
    ):
        model_admin.message_user(
            request,
            f"{organization} has a Stripe subscription ({account.stripe_subscription_id}): the next sync from Stripe "
            "sets the plan the subscription is for. Change the subscription in Stripe as well.",
            messages.WARNING,
        )
    return HttpResponseRedirect(billing_url)


def organization_overrides_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    found = _posted_organization(model_admin, request, object_id)
    if isinstance(found, HttpResponse):
        return found
    organization, billing_url = found
    account = _account(organization)
    plan = account.plan if account is not None else free_plan()
    previous = (account.overrides if account is not None else {}) or {}
    form = PlanOverridesForm(request.POST, plan=plan, overrides=previous)
    if not form.is_valid():
        model_admin.message_user(request, "The overrides were not saved: correct the fields below.", messages.ERROR)
        return _billing_page(model_admin, request, organization, overrides_form=form)
    overrides = form.overrides()
    if overrides == previous:
        model_admin.message_user(request, "The overrides are unchanged.", messages.INFO)
        return HttpResponseRedirect(billing_url)
    try:
        with tenant_context(organization.id):
            overrides_set(organization=organization, overrides=overrides, actor=console_actor(request))
    except ServiceError as error:
        model_admin.message_user(request, error.message, messages.ERROR)
        return _billing_page(model_admin, request, organization, overrides_form=form)
    message = f"Saved the overrides of {organization}." if overrides else f"Cleared the overrides of {organization}."
    model_admin.message_user(request, message, messages.SUCCESS)
    return HttpResponseRedirect(billing_url)


def organization_credit_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    found = _posted_organization(model_admin, request, object_id)
    if isinstance(found, HttpResponse):
        return found
    organization, billing_url = found
    form = CreditGrantForm(request.POST)
    if not form.is_valid():
        model_admin.message_user(request, "No credit was granted: correct the fields below.", messages.ERROR)
        return _billing_page(model_admin, request, organization, credit_form=form)
    try:
        with tenant_context(organization.id):
            credit = credit_grant(
                organization=organization,
                amount_cents=form.amount_cents,
                reason=form.cleaned_data["reason"],
                actor=console_actor(request),
            )
    except ServiceError as error:
        model_admin.message_user(request, error.message, messages.ERROR)
        return _billing_page(model_admin, request, organization, credit_form=form)
    model_admin.message_user(
        request,
        f"Granted {organization} a credit of {money_text(credit.amount_cents, credit.currency)}.",
        messages.SUCCESS,
    )
    return HttpResponseRedirect(billing_url)


# --- Usage across organizations --------------------------------------------------------


@dataclass(frozen=True)
class OrganizationUsage:
    organization: Organization
    plan_name: str
    meters: dict[str, MeterUsage]

    @property
    def highest_percent(self) -> Decimal:
        return max((usage.percent for usage in self.meters.values() if usage.percent is not None), default=Decimal(0))

    @property
    def highest_percent_text(self) -> str:
        highest = self.highest_percent
        return "over (none included)" if highest == _INFINITY else f"{highest:.1f}%"

    def cells(self, meters: list[str]) -> list[MeterUsage | None]:
        return [self.meters.get(meter) for meter in meters]


def organization_usage_list(*, period_start: Any) -> list[OrganizationUsage]:
    """This period's usage of every organization that has any, against its limits.

    NOTE: one `organization_limits` call per organization with usage this period; each is
    one cache read when warm (the API keeps it warm), two queries when not.
    """
    totals: dict[int, dict[str, Decimal]] = {}
    counters = UsageCounter.all_orgs.filter(period_start=period_start).values_list(
        "organization_id", "meter", "quantity"
    )
    for organization_id, meter, quantity in counters:
        totals.setdefault(organization_id, {})[meter] = Decimal(quantity)
    organizations = Organization.objects.in_bulk(list(totals))
    rows = []
    for organization_id, used in totals.items():
        organization = organizations.get(organization_id)
        if organization is None:
            continue
        limits = organization_limits(organization=organization_id)
        meters = {meter: meter_usage(meter, quantity, limits) for meter, quantity in used.items()}
        rows.append(OrganizationUsage(organization=organization, plan_name=limits.plan_name, meters=meters))
    return rows


def organization_usage_view(model_admin: Any, request: HttpRequest) -> HttpResponse:
    period_start, period_end = period_bounds()
    rows = organization_usage_list(period_start=period_start)
    meters = [meter for meter in Meter.values if any(meter in row.meters for row in rows)]
    order = request.GET.get("o", "percent")
    if order not in (*meters, "percent", "name"):
        order = "percent"
    rows.sort(key=lambda row: row.organization.name.lower())
    if order == "percent":
        rows.sort(key=lambda row: row.highest_percent, reverse=True)
    elif order != "name":
        rows.sort(key=lambda row: row.meters[order].used if order in row.meters else Decimal(-1), reverse=True)
    page = Paginator(rows, USAGE_PAGE_SIZE).get_page(request.GET.get("p"))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Usage this month across organizations",
        "period_start": period_start,
        "period_last_day": period_end - timedelta(days=1),
        "columns": [{"meter": meter, "label": Meter(meter).label, "is_sorted": order == meter} for meter in meters],
        "order": order,
        "rows": [
            {
                "usage": row,
                "cells": row.cells(meters),
                "billing_url": console_url("accounts_organization_billing", row.organization.pk),
            }
            for row in page.object_list
        ],
        "page": page,
        "organization_total": len(rows),
        "organizations_without_usage": Organization.objects.count() - len(rows),
    }
    return TemplateResponse(request, "console/usage.html", context)
