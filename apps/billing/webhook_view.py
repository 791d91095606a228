"""POST /stripe/webhook: Stripe's deliveries. Not an API-key endpoint: the signature is the credential."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.billing.services import stripe_webhook_receive
from apps.core.errors import ServiceError, json_error

# Stripe's events are a few kilobytes; refuse anything absurd before reading it.
MAX_STRIPE_EVENT_BYTES = 512 * 1024


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    if not settings.STRIPE_WEBHOOK_SECRET:
        return json_error(503, "billing_not_configured", "This installation has no Stripe webhook secret.")
    length = request.headers.get("Content-Length") or "0"
    if not length.isdigit() or int(length) > MAX_STRIPE_EVENT_BYTES:
        return json_error(413, "request_too_large", "Stripe events are never this large.")
    signature = request.headers.get("Stripe-Signature", "")
    if not signature:
        return json_error(400, "invalid_signature", "The Stripe-Signature header is missing.")
    try:
        event = stripe_webhook_receive(payload=request.body, signature=signature)
    except ServiceError as error:
        return json_error(error.status, error.code, error.message)
    return JsonResponse({"received": True, "duplicate": event is None})
