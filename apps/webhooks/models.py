"""Outbound webhooks: endpoints, the events sent to them, deliveries and every attempt."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from apps.core.models import TenantModel

SECRET_PREFIX = "whsec_"  # noqa: S105 - the typed prefix, not a secret
EVENT_ID_PREFIX = "evt_"


class WebhookEndpoint(TenantModel):
    """A URL an organization receives events at.

    NOTE: the signing secret is stored in plaintext (under row-level security): HMAC needs
    it to sign, and the runtime dependencies have no vetted cipher (`cryptography` is only
    a dev dependency). docs/api.md, "Webhooks", says how secrets are shown and rotated.
    """

    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=255, blank=True)
    event_types = models.JSONField(default=list)
    secret = models.CharField(max_length=64)
    # Rotation grace period: deliveries are also signed with the previous secret until then.
    previous_secret = models.CharField(max_length=64, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at"], name="webhook_endpoint_org_created")]

    def __str__(self) -> str:
        return self.url

    @property
    def secret_masked(self) -> str:
        return f"{SECRET_PREFIX}…{self.secret[-4:]}"


class WebhookEvent(TenantModel):
    """One occurrence of an event; `payload` is the exact envelope every delivery sends."""

    type = models.CharField(max_length=64)
    payload = models.JSONField(encoder=DjangoJSONEncoder)

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at"], name="webhook_event_org_created")]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"

    @property
    def public_id(self) -> str:
        return f"{EVENT_ID_PREFIX}{self.id.hex}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # queued, not attempted yet
    RETRYING = "retrying", "Failed, retrying"  # the last attempt failed; another is scheduled
    SUCCEEDED = "succeeded", "Succeeded"
    EXHAUSTED = "exhausted", "Failed, gave up"  # WEBHOOK_MAX_ATTEMPTS attempts failed
    CANCELED = "canceled", "Canceled"  # the endpoint was disabled before delivery


FINAL_STATUSES = {DeliveryStatus.SUCCEEDED, DeliveryStatus.EXHAUSTED, DeliveryStatus.CANCELED}


class WebhookDelivery(TenantModel):
    """One event on its way to one endpoint. A resend is a new delivery (`resent_from`)."""

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    resent_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["organization", "created_at"], name="webhook_delivery_org_created"),
            models.Index(fields=["organization", "endpoint", "created_at"], name="webhook_delivery_org_endpoint"),
            models.Index(fields=["organization", "status", "created_at"], name="webhook_delivery_org_status"),
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event.type} → {self.endpoint.url} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class WebhookDeliveryAttempt(TenantModel):
    """One HTTP request of a delivery. A row for every attempt, kept with its delivery."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    requested_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The first RESPONSE_EXCERPT_BYTES of the body, decoded as UTF-8 with replacement.
    response_body = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "delivery", "number"], name="webhook_attempt_unique_number"
            ),
        ]
        ordering = ["number"]

    def __str__(self) -> str:
        return f"attempt {self.number} ({self.response_status or self.error})"

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300 and not self.error
