"""Plans, each organization's billing account, invoices mirrored from Stripe, Stripe events.

Money is stored in the currency's minor unit (cents) as integers, except overage unit
prices, which are fractions of a cent per unit and are Decimals (docs/adr/0004).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from apps.core.models import BaseModel, TenantModel
from apps.metering.models import Meter


class Plan(BaseModel):
    """A price list and its entitlements. Not tenant-owned: the catalogue every tenant picks from.

    Edited by staff in the console. `code` is stable and is what Checkout and subscription
    metadata carry; Stripe price ids are looked up from it, never the other way round.
    """

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True)
    # Listed on the dashboard's plan picker; a hidden plan is assigned by staff only.
    is_public = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    monthly_price_cents = models.PositiveIntegerField(default=0)
    # True: usage stops at the allowance with HTTP 402. False: usage continues into
    # overage at each meter's unit price, up to the owner's spend cap.
    has_hard_limits = models.BooleanField(default=True)
    # Stripe price of the flat monthly fee (empty on Free, which never goes to Stripe).
    stripe_price_id = models.CharField(max_length=255, blank=True)

    # Rate limit and entitlements.
    api_rate_limit_per_minute = models.PositiveIntegerField(default=60)
    products = models.JSONField(
        default=list, blank=True, help_text='Products included: "support", "sentiment", "recommendations".'
    )
    allows_gpu_training = models.BooleanField(default=False)
    max_active_models = models.PositiveIntegerField(default=1)
    max_seats = models.PositiveIntegerField(default=3)
    max_concurrent_training_jobs = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["sort_order", "monthly_price_cents"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_free(self) -> bool:
        return self.monthly_price_cents == 0 and not self.stripe_price_id


class PlanMeter(BaseModel):
    """What one plan includes of one meter each month, and what a unit above that costs."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="meters")
    meter = models.CharField(max_length=32, choices=Meter.choices)
    included_quantity = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal(0))
    # Price of one unit above the allowance, in cents (fractions allowed: 0.05 = $0.0005).
    overage_unit_price_cents = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    # The metered Stripe price (graduated: first `included_quantity` units at 0).
    stripe_price_id = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan", "meter"], name="plan_meter_unique")]
        ordering = ["plan", "meter"]

    def __str__(self) -> str:
        return f"{self.plan.code}:{self.meter}"


class SubscriptionStatus(models.TextChoices):
    # Stripe's statuses, plus "none" for an organization that never subscribed (Free).
    NONE = "none", "No subscription"
    INCOMPLETE = "incomplete", "Incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete (expired)"
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    CANCELED = "canceled", "Canceled"
    UNPAID = "unpaid", "Unpaid"
    PAUSED = "paused", "Paused"


class BillingAccount(TenantModel):
    """One per organization: its plan, its Stripe customer and subscription, its limits.

    Subscription fields mirror Stripe and are only written by the sync service, which
    re-reads the subscription from Stripe (order of webhooks never matters).
    """

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    # Set by staff (an enterprise contract, offline billing): kept while no Stripe
    # subscription is live; a live subscription's plan always wins.
    plan_assigned_by_staff = models.BooleanField(default=False)
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True)
    subscription_status = models.CharField(
        max_length=24, choices=SubscriptionStatus.choices, default=SubscriptionStatus.NONE
    )
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    # When the subscription first went past_due in the current dunning episode.
    past_due_since = models.DateTimeField(null=True, blank=True)
    # Usage events from this moment on are reported to Stripe (the subscription's start).
    metered_since = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    # Owner-set ceiling on overage charges per period, in cents; null: no cap.
    spend_cap_cents = models.PositiveIntegerField(null=True, blank=True)
    # Staff overrides: {"included": {"api_predictions": "50000"}, "max_seats": 10, ...}.
    overrides = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization"], name="billing_account_one_per_org")]
        indexes = [models.Index(fields=["organization", "stripe_customer_id"], name="billing_acct_org_customer")]

    def __str__(self) -> str:
        return f"billing account of organization {self.organization_id}"


class Credit(TenantModel):
    """A credit granted by staff (append-only ledger).

    With Stripe configured, a task applies it to the customer balance after commit; the
    Stripe transaction id is then recorded in the audit log (the row itself never changes).
    """

    append_only = True

    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    reason = models.CharField(max_length=300)
    granted_by_label = models.CharField(max_length=255)

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at"], name="credit_org_created")]

    def __str__(self) -> str:
        return f"{self.amount_cents} {self.currency} credit"


class Invoice(TenantModel):
    """A Stripe invoice as last read from Stripe (upserted by id on every invoice event)."""

    stripe_invoice_id = models.CharField(max_length=255)
    number = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=24)
    currency = models.CharField(max_length=3)
    amount_due_cents = models.BigIntegerField(default=0)
    amount_paid_cents = models.BigIntegerField(default=0)
    total_cents = models.BigIntegerField(default=0)
    hosted_invoice_url = models.URLField(max_length=1000, blank=True)
    invoice_pdf_url = models.URLField(max_length=1000, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "stripe_invoice_id"], name="invoice_unique_stripe_id")
        ]
        indexes = [models.Index(fields=["organization", "issued_at"], name="invoice_org_issued")]
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return self.number or self.stripe_invoice_id


class StripeEventStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"
    IGNORED = "ignored", "Ignored"


class StripeEvent(BaseModel):
    """Every verified Stripe webhook event, stored once (unique Stripe id) before processing.

    Not tenant-owned: an event arrives before we know whose it is. Only the webhook view,
    the processing task and the console (cross-tenant) touch it.
    """

    stripe_event_id = models.CharField(max_length=255, unique=True)
    event_type = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=StripeEventStatus.choices, default=StripeEventStatus.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    organization_id_hint = models.BigIntegerField(null=True, blank=True)
    stripe_created_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="stripe_event_status_created")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event_type} {self.stripe_event_id}"
