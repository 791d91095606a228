"""Writes for outbound webhooks: endpoints, emitting events, attempting and resending deliveries."""

from __future__ import annotations

import json
import logging
import random
import secrets
import string
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Organization
from apps.audit.services import audit_record
from apps.core.actors import Actor
from apps.core.errors import ServiceError
from apps.webhooks import signing, transport
from apps.webhooks.events import API_VERSION, SUBSCRIBABLE_EVENT_TYPES, EventType
from apps.webhooks.models import (
    SECRET_PREFIX,
    DeliveryStatus,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
)

logger = logging.getLogger(__name__)

_ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 32  # 32 base62 characters: about 190 bits
MAX_RETRY_DELAY_SECONDS = 3600
MAX_ROTATION_GRACE_HOURS = 72
# A redelivered message that arrives this long before the scheduled attempt is a duplicate.
_EARLY_SLACK_SECONDS = 2


class WebhookError(ServiceError):
    pass


def webhook_secret_generate() -> str:
    return SECRET_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))


def _require_manager(actor: Actor, what: str) -> None:
    if not actor.is_manager:
        raise WebhookError(f"Only owners and admins can {what}.", code="permission_denied", status=403)


def _clean_url(url: str) -> str:
    try:
        return transport.validate_url(url)
    except transport.UnsafeUrl as exc:
        raise WebhookError(str(exc), code="invalid_url", details={"field": "url"}) from exc


def _clean_event_types(event_types: list[str]) -> list[str]:
    chosen = sorted(set(event_types))
    unknown = [event_type for event_type in chosen if event_type not in SUBSCRIBABLE_EVENT_TYPES]
    if unknown:
        raise WebhookError(
            f"Unknown event types: {', '.join(unknown)}.",
            code="invalid_event_type",
            details={"allowed": SUBSCRIBABLE_EVENT_TYPES},
        )
    if not chosen:
        raise WebhookError("Choose at least one event type.", code="invalid_event_type")
    return chosen


# --- endpoints -----------------------------------------------------------------------------


@transaction.atomic
def webhook_endpoint_create(
    *, organization: Organization, actor: Actor, url: str, event_types: list[str], description: str = ""
) -> WebhookEndpoint:
    """Register an endpoint with a fresh signing secret (returned on the row, shown to the creator)."""
    _require_manager(actor, "add webhook endpoints")
    endpoint = WebhookEndpoint.objects.create(
        organization=organization,
        url=_clean_url(url),
        description=description.strip()[:255],
        event_types=_clean_event_types(event_types),
        secret=webhook_secret_generate(),
        created_by=actor.user,
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="webhook_endpoint.created",
        target=endpoint,
        metadata={"url": endpoint.url, "event_types": endpoint.event_types},
    )
    return endpoint


_UNSET: Any = object()


@transaction.atomic
def webhook_endpoint_update(
    *,
    organization: Organization,
    endpoint: WebhookEndpoint,
    actor: Actor,
    url: str = _UNSET,
    description: str = _UNSET,
    event_types: list[str] = _UNSET,
    is_active: bool = _UNSET,
) -> WebhookEndpoint:
    """Change what is given; disabling cancels nothing already sent but stops further attempts."""
    _require_manager(actor, "change webhook endpoints")
    endpoint = WebhookEndpoint.objects.for_org(organization).select_for_update().get(id=endpoint.id)
    changes: dict[str, Any] = {}
    if url is not _UNSET:
        changes["url"] = _clean_url(url)
    if description is not _UNSET:
        changes["description"] = description.strip()[:255]
    if event_types is not _UNSET:
        changes["event_types"] = _clean_event_types(event_types)
    if is_active is not _UNSET:
        changes["is_active"] = bool(is_active)
        changes["disabled_at"] = None if is_active else (endpoint.disabled_at or timezone.now())
    changed = {field: value for field, value in changes.items() if getattr(endpoint, field) != value}
    if not changed:
        return endpoint
    metadata = {
        field: {"from": getattr(endpoint, field), "to": value}
        for field, value in changed.items()
        if field != "disabled_at"
    }
    for field, value in changed.items():
        setattr(endpoint, field, value)
    endpoint.save(update_fields=[*changed, "updated_at"])
    audit_record(
        organization=organization, actor=actor, action="webhook_endpoint.updated", target=endpoint, metadata=metadata
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, organization: Organization, endpoint: WebhookEndpoint, actor: Actor) -> None:
    """Delete the endpoint with its deliveries and attempts; events and the audit entry remain."""
    _require_manager(actor, "delete webhook endpoints")
    endpoint = WebhookEndpoint.objects.for_org(organization).select_for_update().get(id=endpoint.id)
    audit_record(
        organization=organization,
        actor=actor,
        action="webhook_endpoint.deleted",
        target=endpoint,
        metadata={"url": endpoint.url},
    )
    endpoint.delete()


@transaction.atomic
def webhook_endpoint_rotate_secret(
    *, organization: Organization, endpoint: WebhookEndpoint, actor: Actor, grace_period_hours: int = 0
) -> WebhookEndpoint:
    """Replace the signing secret.

    With a grace period, deliveries carry a second `v1=` signature made with the old secret
    until it ends, so receivers can switch secrets without dropping events (Stripe does the same).
    """
    _require_manager(actor, "rotate webhook secrets")
    if not 0 <= grace_period_hours <= MAX_ROTATION_GRACE_HOURS:
        raise WebhookError(
            f"The grace period must be between 0 and {MAX_ROTATION_GRACE_HOURS} hours.", code="invalid_grace_period"
        )
    endpoint = WebhookEndpoint.objects.for_org(organization).select_for_update().get(id=endpoint.id)
    if grace_period_hours:
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = timezone.now() + timedelta(hours=grace_period_hours)
    else:
        endpoint.previous_secret = ""
        endpoint.previous_secret_expires_at = None
    endpoint.secret = webhook_secret_generate()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    audit_record(
        organization=organization,
        actor=actor,
        action="webhook_endpoint.secret_rotated",
        target=endpoint,
        metadata={"grace_period_hours": grace_period_hours},
    )
    return endpoint


def webhook_endpoint_reveal_secret(*, organization: Organization, endpoint: WebhookEndpoint, actor: Actor) -> str:
    """The signing secret, for owners and admins; every reveal is in the audit log."""
    _require_manager(actor, "see webhook secrets")
    audit_record(organization=organization, actor=actor, action="webhook_endpoint.secret_revealed", target=endpoint)
    return endpoint.secret


def _signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    valid = [endpoint.secret]
    expires_at = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires_at is not None and expires_at > timezone.now():
        valid.append(endpoint.previous_secret)
    return valid


# --- events and deliveries -----------------------------------------------------------------


def _schedule(delivery: WebhookDelivery, *, countdown: float | None = None) -> None:
    # Imported here: tasks import this module.
    from apps.webhooks.tasks import webhook_delivery_attempt as webhook_delivery_attempt_task

    args = (delivery.organization_id, str(delivery.id))
    transaction.on_commit(lambda: webhook_delivery_attempt_task.apply_async(args, countdown=countdown))


def _create_event(*, organization: Organization, event_type: str, data: dict) -> WebhookEvent:
    event = WebhookEvent(organization=organization, type=event_type)
    envelope = {
        "id": event.public_id,
        "type": event_type,
        "created": int(timezone.now().timestamp()),
        "api_version": API_VERSION,
        "data": data,
    }
    # Normalised through JSON now, so the stored payload is exactly what is sent later.
    event.payload = json.loads(json.dumps(envelope, cls=DjangoJSONEncoder))
    event.save()
    return event


def _create_delivery(
    *, event: WebhookEvent, endpoint: WebhookEndpoint, resent_from: WebhookDelivery | None = None
) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(
        organization_id=event.organization_id,
        event=event,
        endpoint=endpoint,
        next_attempt_at=timezone.now(),
        resent_from=resent_from,
    )
    _schedule(delivery)
    return delivery


@transaction.atomic
def webhook_event_emit(*, organization: Organization, event_type: str, data: dict) -> WebhookEvent:
    """Record an event and queue one delivery per active endpoint subscribed to it.

    Runs in the caller's transaction; the deliveries are queued only when it commits, so
    an action that rolls back sends nothing. Call it inside the organization's context
    (a request, or a task declared with `tenant_task`).

    Args:
        event_type: an `EventType` value, e.g. `EventType.TRAINING_JOB_SUCCEEDED`.
        data: the event's JSON-serialisable object (UUIDs and datetimes are turned into strings).

    Example:
        webhook_event_emit(organization=org, event_type=EventType.TRAINING_JOB_FAILED,
                           data={"training_job": {"id": str(job.id), "error": "..."}})
    """
    if event_type not in EventType.values:
        raise ValueError(f"Unknown webhook event type {event_type!r}; add it to apps.webhooks.events.EventType.")
    event = _create_event(organization=organization, event_type=event_type, data=data)
    endpoints = WebhookEndpoint.objects.for_org(organization).filter(is_active=True).order_by("created_at")
    # Filtered in Python: JSON containment is not available on SQLite (the embedded default).
    subscribed = [endpoint for endpoint in endpoints if event_type in endpoint.event_types]
    for endpoint in subscribed:
        _create_delivery(event=event, endpoint=endpoint)
    logger.info(
        "webhooks.event_emitted",
        extra={"organization_id": organization.id, "event_id": event.public_id, "deliveries": len(subscribed)},
    )
    return event


@transaction.atomic
def webhook_endpoint_send_test(
    *, organization: Organization, endpoint: WebhookEndpoint, actor: Actor
) -> WebhookDelivery:
    """Send a `webhook.test` event to this endpoint only, whatever it subscribes to."""
    _require_manager(actor, "send test events")
    if not endpoint.is_active:
        raise WebhookError("Enable the endpoint before sending it a test event.", code="endpoint_disabled", status=409)
    event = _create_event(
        organization=organization,
        event_type=EventType.WEBHOOK_TEST,
        data={
            "message": "A test event from Tessera. Answer with any 2xx status to acknowledge it.",
            "endpoint": {"id": str(endpoint.id), "url": endpoint.url},
            "sent_by": actor.label,
        },
    )
    delivery = _create_delivery(event=event, endpoint=endpoint)
    audit_record(
        organization=organization,
        actor=actor,
        action="webhook_endpoint.test_sent",
        target=endpoint,
        metadata={"event_id": event.public_id},
    )
    return delivery


@transaction.atomic
def webhook_delivery_resend(*, organization: Organization, delivery: WebhookDelivery, actor: Actor) -> WebhookDelivery:
    """Send the same event (same id and payload) to the same endpoint again, as a new delivery.

    A new delivery, not a re-queue: the original keeps its attempts as they happened, and
    the new one starts a fresh retry schedule. Receivers deduplicate by the event id.
    """
    _require_manager(actor, "resend webhook deliveries")
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        raise WebhookError("Enable the endpoint before resending to it.", code="endpoint_disabled", status=409)
    resent = _create_delivery(event=delivery.event, endpoint=endpoint, resent_from=delivery)
    audit_record(
        organization=organization,
        actor=actor,
        action="webhook_delivery.resent",
        target=delivery,
        target_label=f"{delivery.event.type} to {endpoint.url}",
        metadata={"event_id": delivery.event.public_id, "new_delivery_id": str(resent.id)},
    )
    return resent


def webhook_retry_delay(attempt_number: int) -> float:
    """Seconds before attempt `attempt_number + 1`: base × 2^(n-1), at most an hour, plus up to 10% jitter.

    The jitter spreads retries of many deliveries that failed together (an endpoint outage).
    """
    delay = min(settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt_number - 1), MAX_RETRY_DELAY_SECONDS)
    return delay + random.uniform(0, delay * 0.1)  # noqa: S311 - jitter, not security


def _headers(delivery: WebhookDelivery, *, body: bytes, attempt_number: int) -> dict[str, str]:
    timestamp = int(timezone.now().timestamp())
    return {
        "Content-Type": "application/json",
        "User-Agent": transport.USER_AGENT,
        signing.SIGNATURE_HEADER: signing.sign(_signing_secrets(delivery.endpoint), timestamp, body),
        "Tessera-Event-Id": delivery.event.public_id,
        "Tessera-Event-Type": delivery.event.type,
        "Tessera-Delivery-Id": str(delivery.id),
        "Tessera-Attempt": str(attempt_number),
    }


def webhook_event_body(event: WebhookEvent) -> bytes:
    """The exact request body of every delivery of `event` (the same bytes on every retry)."""
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()


def webhook_delivery_attempt(*, organization: Organization, delivery_id: str) -> WebhookDelivery | None:
    """Make the next attempt of a delivery, record it, and schedule the one after if it failed.

    Idempotent: brokers redeliver, so a delivery that is final, or whose next attempt is
    not due yet (a duplicate message), is left alone. The row stays locked during the
    request, so two workers holding the same message never send the same attempt twice.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.for_org(organization)
            .select_for_update(of=("self",))
            .select_related("event", "endpoint")
            .filter(id=delivery_id)
            .first()
        )
        if delivery is None or delivery.is_final:
            return delivery
        now = timezone.now()
        if delivery.next_attempt_at and delivery.next_attempt_at > now + timedelta(seconds=_EARLY_SLACK_SECONDS):
            return delivery
        if not delivery.endpoint.is_active:
            delivery.status = DeliveryStatus.CANCELED
            delivery.next_attempt_at = None
            delivery.last_error = "The endpoint was disabled."
            delivery.save(update_fields=["status", "next_attempt_at", "last_error", "updated_at"])
            return delivery
        number = delivery.attempt_count + 1
        body = webhook_event_body(delivery.event)
        result = transport.post(
            delivery.endpoint.url,
            body,
            _headers(delivery, body=body, attempt_number=number),
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        )
        _record_attempt(delivery, number=number, result=result)
    return delivery


def _record_attempt(delivery: WebhookDelivery, *, number: int, result: transport.AttemptResult) -> None:
    requested_at = datetime.fromtimestamp(result.requested_at, tz=UTC)
    WebhookDeliveryAttempt.objects.create(
        organization_id=delivery.organization_id,
        delivery=delivery,
        number=number,
        requested_at=requested_at,
        duration_ms=result.duration_ms,
        response_status=result.status,
        response_body=result.body,
        error=result.error,
    )
    delivery.attempt_count = number
    delivery.last_response_status = result.status
    delivery.last_error = result.error or ("" if result.succeeded else f"HTTP {result.status}")
    if result.succeeded:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.delivered_at = timezone.now()
        delivery.next_attempt_at = None
    elif number >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.EXHAUSTED
        delivery.next_attempt_at = None
    else:
        delay = webhook_retry_delay(number)
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        _schedule(delivery, countdown=delay)
    delivery.save(
        update_fields=[
            "attempt_count",
            "last_response_status",
            "last_error",
            "status",
            "delivered_at",
            "next_attempt_at",
            "updated_at",
        ]
    )
    logger.info(
        "webhooks.delivery_attempted",
        extra={
            "organization_id": delivery.organization_id,
            "delivery_id": str(delivery.id),
            "attempt": number,
            "response_status": result.status,
            "outcome": delivery.status,
        },
    )


# A delivery this far past its due time lost its message (broker down when the attempt was
# scheduled, or a worker crash); the attempt itself is idempotent, so sending it again is safe.
OVERDUE_AFTER_SECONDS = 300


def webhook_deliveries_requeue_overdue() -> int:
    """Schedule again every pending or retrying delivery whose attempt is long overdue (all organizations)."""
    from apps.core.tenancy import cross_tenant, tenant_context
    from apps.webhooks.tasks import webhook_delivery_attempt as webhook_delivery_attempt_task

    overdue_before = timezone.now() - timedelta(seconds=OVERDUE_AFTER_SECONDS)
    with cross_tenant(reason="webhooks.requeue_overdue"):
        overdue = list(
            WebhookDelivery.all_orgs.filter(
                status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], next_attempt_at__lt=overdue_before
            ).values_list("organization_id", "id")[:1000]
        )
    for organization_id, delivery_id in overdue:
        with tenant_context(organization_id):
            transaction.on_commit(
                lambda args=(organization_id, str(delivery_id)): webhook_delivery_attempt_task.apply_async(args)
            )
    if overdue:
        logger.info("webhooks.requeued_overdue", extra={"deliveries": len(overdue)})
    return len(overdue)
