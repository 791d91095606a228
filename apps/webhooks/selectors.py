"""Reads for outbound webhooks, always scoped to one organization."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from apps.webhooks.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint


def webhook_endpoint_list(*, organization: Any) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.for_org(organization).select_related("created_by").order_by("-created_at", "-id")


def webhook_endpoint_get(*, organization: Any, endpoint_id: Any) -> WebhookEndpoint:
    return WebhookEndpoint.objects.for_org(organization).select_related("created_by").get(id=endpoint_id)


def webhook_delivery_list(
    *, organization: Any, endpoint_id: Any = None, status: str | None = None, event_type: str | None = None
) -> QuerySet[WebhookDelivery]:
    deliveries = (
        WebhookDelivery.objects.for_org(organization)
        .select_related("event", "endpoint")
        .prefetch_related(
            Prefetch("attempts", queryset=WebhookDeliveryAttempt.objects.for_org(organization).order_by("number"))
        )
    )
    if endpoint_id is not None:
        deliveries = deliveries.filter(endpoint_id=endpoint_id)
    if status:
        deliveries = deliveries.filter(status=status)
    if event_type:
        deliveries = deliveries.filter(event__type=event_type)
    return deliveries.order_by("-created_at", "-id")


def webhook_delivery_get(*, organization: Any, delivery_id: Any) -> WebhookDelivery:
    return webhook_delivery_list(organization=organization).get(id=delivery_id)
