"""Usage events: the durable record of every billable action (STYLE.md section 6).

The training platform records predictions and training minutes here; the metering and
billing issue adds roll-ups, quotas and the Stripe meter export on top of this table.
"""

from django.db import models

from apps.core.models import TenantModel


class Meter(models.TextChoices):
    API_PREDICTIONS = "api_predictions", "API predictions"
    DOCUMENTS_PROCESSED = "documents_processed", "Documents processed"
    RECOMMENDATION_REQUESTS = "recommendation_requests", "Recommendation requests"
    TRAINING_MINUTES_CPU = "training_minutes_cpu", "Training minutes (CPU)"
    TRAINING_MINUTES_GPU = "training_minutes_gpu", "Training minutes (GPU)"
    STORAGE_MB = "storage_mb", "Storage (MB)"
    SEATS = "seats", "Seats"


class UsageEvent(TenantModel):
    """One metered quantity. Append-only; a retried action with the same key counts once."""

    append_only = True

    meter = models.CharField(max_length=32, choices=Meter.choices)
    # Decimal: training minutes are fractional, and money is computed from these.
    quantity = models.DecimalField(max_digits=18, decimal_places=6)
    occurred_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=200)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "idempotency_key"], name="usage_event_unique_key"),
            models.CheckConstraint(condition=models.Q(quantity__gte=0), name="usage_event_quantity_non_negative"),
        ]
        indexes = [models.Index(fields=["organization", "meter", "occurred_at"], name="usage_org_meter_time")]

    def __str__(self) -> str:
        return f"{self.meter} {self.quantity}"


# Meters whose value is a level (how many seats, how many MB), not a count of actions:
# a period's usage is the latest snapshot, not the sum.
GAUGE_METERS = frozenset({Meter.SEATS, Meter.STORAGE_MB})


class UsageCounter(TenantModel):
    """The running total of one meter in one billing period: the cached counter quotas read.

    Written only by `usage_event_record`, in the same transaction as the event, with a
    single UPDATE ... SET quantity = quantity + n (never read-modify-write). Rebuilt
    from the events by `usage_counters_rebuild` if ever in doubt.
    """

    meter = models.CharField(max_length=32, choices=Meter.choices)
    period_start = models.DateTimeField()
    quantity = models.DecimalField(max_digits=18, decimal_places=6, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "meter", "period_start"], name="usage_counter_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.meter} since {self.period_start:%Y-%m-%d}: {self.quantity}"


class AlertKind(models.TextChoices):
    ALLOWANCE_80 = "allowance_80", "80% of the allowance"
    ALLOWANCE_100 = "allowance_100", "100% of the allowance"
    SPEND_CAP = "spend_cap", "Spend cap reached"


class UsageAlert(TenantModel):
    """One threshold crossed in one period. The unique constraint makes it once per period."""

    meter = models.CharField(max_length=32, blank=True)  # empty for the spend cap
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    period_start = models.DateTimeField()
    used = models.DecimalField(max_digits=18, decimal_places=6)
    limit = models.DecimalField(max_digits=18, decimal_places=6)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    # Email and webhook sent; a redelivered notify task finds it set and does nothing.
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "meter", "kind", "period_start"], name="usage_alert_once"),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.meter}".strip()

    @property
    def headline(self) -> str:
        if self.kind == AlertKind.SPEND_CAP:
            return f"Overage charges reached your spend cap of ${self.limit / 100:.2f} this month."
        share = "80%" if self.kind == AlertKind.ALLOWANCE_80 else "100%"
        return f"{Meter(self.meter).label}: {share} of this month's allowance of {self.limit.normalize():,f} used."


class MeterExport(TenantModel):
    """A usage event accepted by Stripe as a Billing Meter event (append-only).

    The export task sends first and writes this row after; a crash in between resends
    the same identifier, which Stripe refuses as a duplicate, and the row is then written.
    """

    append_only = True

    usage_event = models.OneToOneField(UsageEvent, on_delete=models.CASCADE, related_name="+")
    identifier = models.CharField(max_length=100)
    event_name = models.CharField(max_length=100)

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at"], name="meter_export_org_created")]

    def __str__(self) -> str:
        return self.identifier
