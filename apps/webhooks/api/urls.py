"""/api/v1 routes of this app, as (pattern, view, name); see apps/config/api_urls.py."""

from apps.core.routing import uuid
from apps.webhooks.api import views

_ENDPOINT = f"webhook-endpoints/{uuid('endpoint_id')}"
_DELIVERY = f"webhook-deliveries/{uuid('delivery_id')}"

ROUTES: list = [
    ("webhook-endpoints", views.WebhookEndpointListApi, "webhook-endpoint-list"),
    (_ENDPOINT, views.WebhookEndpointDetailApi, "webhook-endpoint-detail"),
    (f"{_ENDPOINT}/secret", views.WebhookEndpointSecretApi, "webhook-endpoint-secret"),
    (f"{_ENDPOINT}/rotate-secret", views.WebhookEndpointRotateSecretApi, "webhook-endpoint-rotate-secret"),
    (f"{_ENDPOINT}/test", views.WebhookEndpointTestApi, "webhook-endpoint-test"),
    ("webhook-deliveries", views.WebhookDeliveryListApi, "webhook-delivery-list"),
    (_DELIVERY, views.WebhookDeliveryDetailApi, "webhook-delivery-detail"),
    (f"{_DELIVERY}/resend", views.WebhookDeliveryResendApi, "webhook-delivery-resend"),
]
