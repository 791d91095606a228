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
