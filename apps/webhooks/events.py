"""The event types Tessera sends to webhook endpoints, and the payload version.

Producers (the training engine, later alerts and billing) call
`apps.webhooks.services.webhook_event_emit(organization=..., event_type=EventType.X, data={...})`.
"""

from __future__ import annotations

from django.db import models

# Sent as "api_version" in every payload. Bump it (and document the change in docs/api.md)
# when the envelope or an event's data changes shape incompatibly.
API_VERSION = "2026-11-01"


class EventType(models.TextChoices):
    TRAINING_JOB_SUCCEEDED = "training_job.succeeded", "A training job finished and produced a model version"
    TRAINING_JOB_FAILED = "training_job.failed", "A training job failed"
    MODEL_VERSION_ACTIVATED = "model_version.activated", "A model version became the active one"
    USAGE_THRESHOLD_REACHED = "usage.threshold_reached", "Usage reached 80% or 100% of a plan allowance"
    SPEND_CAP_REACHED = "billing.spend_cap_reached", "Overage charges reached the spend cap"
    SUBSCRIPTION_UPDATED = "billing.subscription_updated", "The plan or subscription status changed"
    PAYMENT_FAILED = "billing.payment_failed", "An invoice payment failed"
    SENTIMENT_SPIKE_DETECTED = "sentiment.spike_detected", "A monitor topic's negative volume spiked"
    # Sent only by "Send test event"; endpoints never subscribe to it.
    WEBHOOK_TEST = "webhook.test", "A test event sent from the dashboard or the API"


# What an endpoint can subscribe to (everything but the test event).
SUBSCRIBABLE_EVENT_TYPES: list[str] = [value for value in EventType.values if value != EventType.WEBHOOK_TEST]
