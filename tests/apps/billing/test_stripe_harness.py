"""The local Stripe API (tests/stripe_server.py) answers the real `stripe` SDK over HTTP.

No database: these tests need only the stripe_* fixtures (tests/stripe_fixtures.py).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import stripe

from tests.stripe_server import WebhookListener, sign_webhook_payload


@pytest.fixture
def client(stripe_settings):
    # As the app builds it: from settings, every base address aimed at the front.
    bases = dict.fromkeys(("api", "connect", "files", "meter_events"), stripe_settings.STRIPE_API_BASE)
    return stripe.StripeClient(stripe_settings.STRIPE_SECRET_KEY, base_addresses=bases, max_network_retries=0)


@pytest.fixture
def customer(client):
    # pm_card_visa is one of Stripe's test payment methods; localstripe turns it into a card.
    return client.v1.customers.create(
        params={
            "email": "billing@acme.example",
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )


@pytest.fixture
def monthly_price(client):
    product = client.v1.products.create(params={"name": "Tessera Pro"})
    return client.v1.prices.create(
        params={
            "currency": "eur",
            "unit_amount": 4900,
            "product": product.id,
            "recurring": {"interval": "month"},
            "lookup_key": f"pro-monthly-{uuid.uuid4()}",
        }
    )


@pytest.fixture
def listener():
    """A webhook receiver that localstripe does not know of yet."""
    receiver = WebhookListener().start()
    yield receiver
    receiver.stop()


def _served(backend):
    return [(request.method, request.path, request.served_by, request.status) for request in backend.requests]


def test_products_are_localstripes_and_prices_the_fronts(client, stripe_backend):
    product = client.v1.products.create(params={"name": "Tessera Pro", "metadata": {"tier": "pro"}})

    price = client.v1.prices.create(
        params={
            "currency": "eur",
            "unit_amount": 4900,
            "product": product.id,
            "recurring": {"interval": "month"},
            "nickname": "Pro monthly",
            "metadata": {"plan": "pro"},
        }
    )
    fetched = client.v1.prices.retrieve(price.id)
    listed = client.v1.prices.list(params={"product": product.id})

    assert product.id.startswith("prod_")
    assert (product.name, product.metadata.to_dict()) == ("Tessera Pro", {"tier": "pro"})
    assert price.id.startswith("price_")
    assert price.to_dict() == fetched.to_dict()
    assert (price.object, price.type, price.currency, price.unit_amount, price.unit_amount_decimal) == (
        "price", "recurring", "eur", 4900, Decimal("4900")
    )  # fmt: skip
    assert price.recurring.to_dict() == {
        "interval": "month",
        "interval_count": 1,
        "meter": None,
        "usage_type": "licensed",
        "trial_period_days": None,
    }
    assert (price.product, price.nickname, price.metadata.to_dict(), price.livemode) == (
        product.id, "Pro monthly", {"plan": "pro"}, False
    )  # fmt: skip
    assert set(price.to_dict()) == set(stripe_backend.fixture("price"))
    assert [listed_price.id for listed_price in listed.data] == [price.id]
    assert _served(stripe_backend) == [
        ("POST", "/v1/products", "localstripe", 200),
        ("POST", "/v1/prices", "front", 200),
        ("GET", f"/v1/prices/{price.id}", "front", 200),
        ("GET", "/v1/prices", "front", 200),
    ]
    create = stripe_backend.requests[1]
    assert create.params == {
        "currency": "eur",
        "unit_amount": "4900",
        "product": product.id,
        "recurring": {"interval": "month"},
        "nickname": "Pro monthly",
        "metadata": {"plan": "pro"},
    }
    assert create.headers["authorization"] == "Bearer sk_test_tessera_0123456789"
    assert create.headers["stripe-version"] == stripe.api_version
    assert create.headers["idempotency-key"]


def test_a_subscription_on_a_price_is_invoiced_and_paid(client, stripe_backend, customer, monthly_price):
    stripe_backend.reset()

    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": monthly_price.id}], "metadata": {"org": "7"}}
    )
    invoices = client.v1.invoices.list(params={"customer": customer.id})

    assert subscription.id.startswith("sub_")
    assert (subscription.status, subscription.customer, subscription.metadata.to_dict()) == (
        "active", customer.id, {"org": "7"}
    )  # fmt: skip
    # localstripe's items carry the (mirrored) plan, whose id is the price's.
    item = subscription["items"].data[0]
    assert (item.plan.id, item.plan.amount, item.plan.currency, item.plan.interval, item.quantity) == (
        monthly_price.id, 4900, "eur", "month", 1
    )  # fmt: skip
    assert [(invoice.id, invoice.status, invoice.total, invoice.amount_paid) for invoice in invoices.data] == [
        (subscription.latest_invoice, "paid", 4900, 4900)
    ]
    assert invoices.data[0].subscription == subscription.id
    assert _served(stripe_backend) == [
        ("POST", "/v1/subscriptions", "localstripe", 200),
        ("GET", "/v1/invoices", "localstripe", 200),
    ]
    # The log keeps what the SDK sent; only the copy proxied to localstripe says `plan`.
    assert stripe_backend.requests[0].params["items"] == [{"price": monthly_price.id}]


def test_checkout_session_is_stripes_object_filled_from_the_request(client, stripe_backend, customer, monthly_price):
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "client_reference_id": "org-7",
            "success_url": "https://app.tessera.example/billing/done?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://app.tessera.example/billing",
            "line_items": [{"price": monthly_price.id, "quantity": 2}],
            "metadata": {"org": "7"},
            "expand": ["line_items"],
        }
    )
    fetched = client.v1.checkout.sessions.retrieve(session.id)

    assert session.id.startswith("cs_test_")
    assert session.url == f"https://checkout.stripe.com/c/pay/{session.id}"
    assert (session.object, session.mode, session.status, session.payment_status) == (
        "checkout.session", "subscription", "open", "unpaid"
    )  # fmt: skip
    assert (session.customer, session.client_reference_id, session.metadata.to_dict()) == (
        customer.id, "org-7", {"org": "7"}
    )  # fmt: skip
    assert session.success_url == "https://app.tessera.example/billing/done?session={CHECKOUT_SESSION_ID}"
    assert session.cancel_url == "https://app.tessera.example/billing"
    assert (session.currency, session.amount_subtotal, session.amount_total) == ("eur", 9800, 9800)
    assert session.expires_at == session.created + 24 * 3600
    assert (session.subscription, session.livemode) == (None, False)
    assert [(line.price.id, line.quantity, line.amount_total) for line in session.line_items.data] == [
        (monthly_price.id, 2, 9800)
    ]
    # Retrieved without expand[], as from Stripe: the same object less its line items.
    assert fetched.to_dict() == {key: value for key, value in session.to_dict().items() if key != "line_items"}
    assert set(fetched.to_dict()) == set(stripe_backend.fixture("checkout.session"))


def test_checkout_session_refuses_an_unknown_price(client, stripe_backend):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(
            params={"mode": "payment", "success_url": "https://x.example", "line_items": [{"price": "price_nope"}]}
        )

    assert (refused.value.http_status, refused.value.code, refused.value.param) == (
        404, "resource_missing", "line_items[0][price]"
    )  # fmt: skip
    assert refused.value.user_message == "No such price: 'price_nope'"


def test_billing_portal_session_for_a_localstripe_customer(client, stripe_backend, customer):
    session = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "https://app.tessera.example/billing"}
    )

    assert session.id.startswith("bps_")
    assert session.url.startswith("https://billing.stripe.com/p/session/test_")
    assert (session.object, session.customer, session.return_url, session.livemode, session.flow) == (
        "billing_portal.session", customer.id, "https://app.tessera.example/billing", False, None
    )  # fmt: skip
    assert session.configuration == stripe_backend.front.portal_configuration
    assert set(session.to_dict()) == set(stripe_backend.fixture("billing_portal.session"))


def test_billing_portal_session_refuses_an_unknown_customer(client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.billing_portal.sessions.create(params={"customer": "cus_nope"})

    assert (refused.value.http_status, refused.value.code, refused.value.param) == (404, "resource_missing", "customer")


def test_meter_events_refuse_a_repeated_identifier(client, stripe_backend, customer):
    identifier = f"usage-{uuid.uuid4()}"
    meter = client.v1.billing.meters.create(
        params={
            "display_name": "Classified tickets",
            "event_name": "tickets_classified",
            "default_aggregation": {"formula": "sum"},
        }
    )
    usage = {
        "event_name": "tickets_classified",
        "payload": {"stripe_customer_id": customer.id, "value": "25"},
        "identifier": identifier,
        "timestamp": 1_800_000_000,
    }

    first = client.v1.billing.meter_events.create(params=usage)
    with pytest.raises(stripe.InvalidRequestError) as repeated:
        client.v1.billing.meter_events.create(params=usage)

    assert meter.id.startswith("mtr_test_")
    assert (meter.object, meter.event_name, meter.status, meter.default_aggregation.formula) == (
        "billing.meter", "tickets_classified", "active", "sum"
    )  # fmt: skip
    assert meter.customer_mapping.to_dict() == {"event_payload_key": "stripe_customer_id", "type": "by_id"}
    assert client.v1.billing.meters.retrieve(meter.id).to_dict() == meter.to_dict()
    assert first.to_dict() == {
        "object": "billing.meter_event",
        "created": first.created,
        "event_name": "tickets_classified",
        "identifier": identifier,
        "livemode": False,
        "payload": {"stripe_customer_id": customer.id, "value": "25"},
        "timestamp": 1_800_000_000,
    }
    assert (repeated.value.http_status, repeated.value.code, repeated.value.param) == (
        400, "resource_already_exists", "identifier"
    )  # fmt: skip
    assert repeated.value.error.type == "invalid_request_error"
    recorded = [event for event in stripe_backend.objects("billing.meter_event") if event["identifier"] == identifier]
    assert len(recorded) == 1


def test_localstripe_delivers_a_signed_event(client, customer, stripe_settings, stripe_webhook_listener):
    delivery = stripe_webhook_listener.wait_for("customer.created", customer.id)

    event = stripe.Webhook.construct_event(delivery.body, delivery.signature, stripe_settings.STRIPE_WEBHOOK_SECRET)

    assert (event.type, event.data.object.id, event.data.object.email) == (
        "customer.created", customer.id, "billing@acme.example"
    )  # fmt: skip
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, delivery.signature, "whsec_someone_else")


def test_signed_payload_helper_matches_stripes_scheme(stripe_settings):
    payload = '{"id": "evt_test_1", "object": "event", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}}'
    timestamp = 1_800_000_000

    header = sign_webhook_payload(payload, stripe_settings.STRIPE_WEBHOOK_SECRET, timestamp=timestamp)

    assert header == stripe.WebhookSignature.generate_signature_header(
        payload, stripe_settings.STRIPE_WEBHOOK_SECRET, timestamp=timestamp
    )
    fresh = sign_webhook_payload(payload, stripe_settings.STRIPE_WEBHOOK_SECRET)
    event = stripe.Webhook.construct_event(payload, fresh, stripe_settings.STRIPE_WEBHOOK_SECRET)
    assert (event.id, event.type, event.data.object.id) == ("evt_test_1", "invoice.paid", "in_1")


def test_webhook_endpoint_created_through_the_api_receives_events(client, stripe_backend, listener):
    endpoint = client.v1.webhook_endpoints.create(params={"url": listener.url, "enabled_events": ["customer.created"]})
    customer = client.v1.customers.create(params={"email": "hooks@acme.example"})

    delivery = listener.wait_for("customer.created", customer.id)
    event = stripe.Webhook.construct_event(delivery.body, delivery.signature, endpoint.secret)
    deleted = client.v1.webhook_endpoints.delete(endpoint.id)

    assert endpoint.id.startswith("we_")
    assert endpoint.secret.startswith("whsec_")
    assert (endpoint.url, endpoint.enabled_events, endpoint.status) == (listener.url, ["customer.created"], "enabled")
    assert (event.type, event.data.object.id) == ("customer.created", customer.id)
    assert {delivery.json()["type"] for delivery in listener.deliveries} == {"customer.created"}
    assert (deleted.id, deleted.deleted) == (endpoint.id, True)
    assert [(request.method, request.path) for request in stripe_backend.requests if request.served_by == "front"] == [
        ("POST", "/v1/webhook_endpoints"),
        ("DELETE", f"/v1/webhook_endpoints/{endpoint.id}"),
    ]


def test_a_failed_payment_makes_the_subscription_past_due(
    client, stripe_backend, customer, monthly_price, stripe_webhook_listener
):
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": monthly_price.id}]}
    )
    # Stripe's 3-D Secure test card: its payments wait for the customer to authenticate.
    card = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": "4000002500003155", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    client.v1.payment_methods.attach(card.id, params={"customer": customer.id})
    client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": card.id}})
    renewal = client.v1.invoices.create(params={"customer": customer.id, "subscription": subscription.id})
    renewal = client.v1.invoices.pay(renewal.id)
    intent = client.v1.payment_intents.retrieve(renewal.payment_intent)

    stripe_backend.localstripe.authenticate_payment_intent(intent.id, intent.client_secret, success=False)

    assert intent.status == "requires_action"
    assert client.v1.subscriptions.retrieve(subscription.id).status == "past_due"
    assert client.v1.invoices.retrieve(renewal.id).status == "open"
    failed = stripe_webhook_listener.wait_for("invoice.payment_failed", renewal.id)
    assert failed.json()["data"]["object"]["subscription"] == subscription.id
