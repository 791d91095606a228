"""Every call Tessera makes to Stripe goes through this module (STYLE.md section 6).

Nothing here is called when STRIPE_SECRET_KEY is empty: the embedded default runs billing
offline and never opens a connection. STRIPE_API_BASE points the SDK somewhere other than
api.stripe.com (the tests' local Stripe). Errors from Stripe become `PaymentProviderError`
(HTTP 502 on the API, a readable message in the dashboard).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import stripe
from django.conf import settings

from apps.core.errors import ServiceError

logger = logging.getLogger(__name__)


class PaymentProviderError(ServiceError):
    def __init__(self, message: str, *, stripe_code: str = "") -> None:
        super().__init__(
            f"Stripe could not complete the request: {message}",
            code="payment_provider_error",
            status=502,
            details={"stripe_code": stripe_code} if stripe_code else {},
        )


class BillingNotConfigured(ServiceError):
    def __init__(self) -> None:
        super().__init__(
            "Payments are not configured on this installation (no Stripe keys); plans and quotas still apply.",
            code="billing_not_configured",
            status=409,
        )


def _client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise BillingNotConfigured()
    options: dict[str, Any] = {"max_network_retries": settings.STRIPE_MAX_NETWORK_RETRIES}
    if settings.STRIPE_API_BASE:
        base = settings.STRIPE_API_BASE
        options["base_addresses"] = {"api": base, "connect": base, "files": base, "meter_events": base}
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, **options)


def _call(operation: str, function: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except stripe.StripeError as error:
        logger.warning("billing.stripe_error", extra={"operation": operation, "stripe_code": error.code or ""})
        raise PaymentProviderError(
            error.user_message or str(error) or type(error).__name__, stripe_code=error.code or ""
        ) from error


def _plain(obj: Any) -> dict[str, Any]:
    # The SDK's objects are not dicts; the rest of the app reads plain data.
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _options(idempotency_key: str | None) -> dict[str, Any]:
    return {"idempotency_key": idempotency_key} if idempotency_key else {}


def customer_create(*, name: str, email: str, organization_id: int) -> Any:
    # One customer per organization: the idempotency key makes a retried create return the first.
    return _call(
        "customer_create",
        _client().v1.customers.create,
        {"name": name, "email": email, "metadata": {"organization_id": str(organization_id)}},
        _options(f"tessera-customer-{organization_id}"),
    )


def checkout_session_create(*, params: dict[str, Any], idempotency_key: str) -> Any:
    return _call("checkout_session_create", _client().v1.checkout.sessions.create, params, _options(idempotency_key))


def portal_session_create(*, customer: str, return_url: str) -> Any:
    return _call(
        "portal_session_create",
        _client().v1.billing_portal.sessions.create,
        {"customer": customer, "return_url": return_url},
    )


def subscription_list(*, customer: str) -> list[Any]:
    result = _call(
        "subscription_list", _client().v1.subscriptions.list, {"customer": customer, "status": "all", "limit": 100}
    )
    return [_plain(subscription) for subscription in result.data]


def invoice_retrieve(*, invoice_id: str) -> dict[str, Any]:
    return _plain(_call("invoice_retrieve", _client().v1.invoices.retrieve, invoice_id))


def invoice_list(*, customer: str, limit: int = 24) -> list[Any]:
    result = _call("invoice_list", _client().v1.invoices.list, {"customer": customer, "limit": limit})
    return [_plain(invoice) for invoice in result.data]


def invoice_preview(*, customer: str, subscription: str) -> dict[str, Any]:
    preview = _call(
        "invoice_preview", _client().v1.invoices.create_preview, {"customer": customer, "subscription": subscription}
    )
    return _plain(preview)


def meter_event_identifier(*, organization_id: int, idempotency_key: str) -> str:
    # Stripe identifiers are at most 100 characters; ours are unbounded, so hash them.
    digest = hashlib.sha256(f"{organization_id}:{idempotency_key}".encode()).hexdigest()
    return f"tsr_{digest[:60]}"


def meter_event_create(*, event_name: str, customer: str, value: str, identifier: str, timestamp: int) -> Any:
    """Send one Billing Meter event. Returns None when Stripe already has this identifier."""
    try:
        return _client().v1.billing.meter_events.create(
            {
                "event_name": event_name,
                "payload": {"stripe_customer_id": customer, "value": value},
                "identifier": identifier,
                "timestamp": timestamp,
            }
        )
    except stripe.InvalidRequestError as error:
        # A resend after a crash between Stripe's answer and our bookkeeping. Stripe does not
        # document the code; it names the `identifier` parameter, which nothing else here can
        # make invalid (we derive it: 64 safe characters).
        if error.param == "identifier" or error.code in ("duplicate_meter_event", "resource_already_exists"):
            return None
        raise PaymentProviderError(str(error), stripe_code=error.code or "") from error
    except stripe.StripeError as error:
        raise PaymentProviderError(str(error), stripe_code=error.code or "") from error


def customer_credit_create(
    *, customer: str, amount_cents: int, currency: str, description: str, idempotency_key: str
) -> Any:
    # A negative balance transaction is a credit Stripe applies to the next invoices.
    return _call(
        "customer_credit_create",
        _client().v1.customers.balance_transactions.create,
        customer,
        {"amount": -amount_cents, "currency": currency, "description": description},
        _options(idempotency_key),
    )


def webhook_event_construct(*, payload: bytes, signature: str) -> Any:
    """Verify the Stripe-Signature header; raises stripe.SignatureVerificationError or ValueError."""
    return stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)
