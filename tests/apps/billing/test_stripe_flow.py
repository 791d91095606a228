"""Billing end to end against the local Stripe (localstripe + Stripe's fixture objects).

The real `stripe` SDK talks HTTP to 127.0.0.1; localstripe plays Stripe's side (customers,
subscriptions, invoices, signed webhooks) and the front answers Checkout, the Portal and
Billing Meters. Nothing in our code or the SDK is patched.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.billing import services, stripe_client
from apps.billing.models import BillingAccount, Invoice, Plan, PlanMeter, StripeEvent
from apps.billing.selectors import organization_limits_forget, period_bounds
from apps.core.tenancy import tenant_context
from apps.metering.models import MeterExport
from apps.metering.services import usage_event_record
from apps.webhooks.models import WebhookEvent
from tests.factories.billing import put_on_plan
from tests.factories.datasets import make_dataset_version
from tests.factories.training import make_job, make_version_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe_on(stripe_settings):
    # localstripe ignores idempotency keys, so an SDK retry would create a second object.
    stripe_settings.STRIPE_MAX_NETWORK_RETRIES = 0
    return stripe_settings


@pytest.fixture
def catalog(stripe_on, stripe_backend):
    """Starter's flat monthly price and its metered predictions price, set on the plan as staff would."""
    client = stripe_backend.client()
    product = client.v1.products.create(params={"name": "Tessera Starter"})
    flat = client.v1.prices.create(
        params={"currency": "usd", "unit_amount": 4900, "product": product.id, "recurring": {"interval": "month"}}
    )
    metered = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount_decimal": "0.1",
            "product": product.id,
            "recurring": {"interval": "month", "usage_type": "metered"},
        }
    )
    plan = Plan.objects.get(code="starter")
    plan.stripe_price_id = flat.id
    plan.save()
    PlanMeter.objects.filter(plan=plan, meter="api_predictions").update(stripe_price_id=metered.id)
    return {"flat": flat.id, "metered": metered.id}


def _deliver(client, delivery_body: bytes, signature: str):
    return client.post(
        "/stripe/webhook", delivery_body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


def _process_all() -> list[str]:
    return [
        services.stripe_event_process(stripe_event_id=str(event.id))
        for event in StripeEvent.objects.filter(status="received").order_by("created_at")
    ]


def _account(org) -> BillingAccount:
    with tenant_context(org.id):
        return BillingAccount.objects.select_related("plan").get()


def _subscribe_in_stripe(stripe_backend, customer_id: str, flat_price: str, org) -> dict:
    """What Stripe does when the customer pays in Checkout: a card, then the subscription."""
    client = stripe_backend.client()
    client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer_id})
    client.v1.customers.update(customer_id, params={"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer_id,
            "items": [{"price": flat_price}],
            "metadata": {"organization_id": str(org.id), "plan_code": "starter"},
        }
    )
    return subscription.to_dict()


def _event(event_type: str, obj: dict) -> bytes:
    """A Stripe event as Stripe would send it, for the events localstripe does not emit."""
    event = {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "created": int(timezone.now().timestamp()),
        "livemode": False,
        "data": {"object": obj},
    }
    return json.dumps(event, default=str).encode()


def _checkout_completed_event(session: dict, subscription_id: str) -> bytes:
    completed = {**session, "status": "complete", "payment_status": "paid", "subscription": subscription_id}
    return _event("checkout.session.completed", completed)


def test_free_to_paid_through_checkout_with_usage_reported_as_meter_events(
    api_client, client, org, owner, stripe_backend, stripe_webhook_listener, catalog
):
    from tests.stripe_server import TEST_WEBHOOK_SECRET, sign_webhook_payload

    # Given a new organization on Free that used its whole allowance of predictions
    version = make_version_row(org, make_job(org, make_dataset_version(org)))
    with tenant_context(org.id):
        usage_event_record(
            organization=org,
            meter="api_predictions",
            quantity=1000,
            idempotency_key="free-usage",
            occurred_at=timezone.now() - timedelta(hours=1),
        )
    refused = api_client.post(f"/api/v1/models/{version.id}/predict", {"texts": ["x"]}, format="json")
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "quota_exceeded"

    # When it upgrades through Checkout
    stripe_backend.reset()
    checkout = api_client.post("/api/v1/billing/checkout", {"plan": "starter"}, format="json")
    account = _account(org)
    session = stripe_backend.objects("checkout.session")[-1]
    sent = next(request for request in stripe_backend.requests if request.path == "/v1/checkout/sessions")

    assert checkout.status_code == 201
    assert checkout.json()["url"] == session["url"]
    assert account.stripe_customer_id.startswith("cus_")
    assert sent.params["customer"] == account.stripe_customer_id
    assert sent.params["mode"] == "subscription"
    assert sent.params["line_items"] == [{"price": catalog["flat"], "quantity": "1"}, {"price": catalog["metered"]}]
    assert sent.params["subscription_data"] == {
        "metadata": {"organization_id": str(org.id), "plan_code": "starter"},
        "billing_cycle_anchor": str(int(period_bounds()[1].timestamp())),
    }
    assert sent.params["success_url"].endswith(f"/o/{org.slug}/usage/?checkout=success")
    assert sent.headers["idempotency-key"].startswith(f"tessera-checkout-{org.id}-starter-")

    # ... pays, and Stripe's webhooks arrive (checkout.session.completed, then localstripe's own)
    subscription = _subscribe_in_stripe(stripe_backend, account.stripe_customer_id, catalog["flat"], org)
    completed = _checkout_completed_event(session, subscription["id"])
    deliveries = [(completed, sign_webhook_payload(completed, TEST_WEBHOOK_SECRET))]
    created = stripe_webhook_listener.wait_for("customer.subscription.created", subscription["id"])
    deliveries.append((created.body, created.signature))
    answers = [_deliver(client, body, signature) for body, signature in deliveries]
    outcomes = _process_all()

    # Then the organization is on Starter, active, and past the Free allowance without a 402
    account = _account(org)
    assert [answer.json() for answer in answers] == [{"received": True, "duplicate": False}] * 2
    assert outcomes == ["processed", "processed"]
    assert (account.plan.code, account.subscription_status) == ("starter", "active")
    assert account.stripe_subscription_id == subscription["id"]
    assert account.metered_since is not None
    billing = api_client.get("/api/v1/billing").json()
    assert (billing["plan"]["code"], billing["limits"]["api_rate_limit_per_minute"]) == ("starter", 600)
    assert (billing["upcoming_invoice"]["source"], billing["upcoming_invoice"]["total_cents"]) == ("stripe", "4900")
    with tenant_context(org.id):
        assert (
            usage_event_record(
                organization=org, meter="api_predictions", quantity=5, idempotency_key="paid-usage", enforce_quota=True
            )
            is True
        )
        synced = AuditEntry.objects.filter(action="billing.subscription_synced").first()
    assert synced.metadata["changes"]["plan"] == ["free", "starter"]

    # And its paid usage reaches Stripe as one meter event per usage event, once
    stripe_backend.reset()
    with tenant_context(org.id):
        exported = services.meter_events_export(organization=org)
        again = services.meter_events_export(organization=org)
        exports = MeterExport.objects.count()
    paid, free = (
        stripe_client.meter_event_identifier(organization_id=org.id, idempotency_key=key)
        for key in ("paid-usage", "free-usage")
    )
    predictions = [
        event
        for event in stripe_backend.objects("billing.meter_event")
        if event["event_name"] == "tessera_api_predictions"
    ]
    # Only priced meters go to Stripe: the storage level the upload recorded stays here.
    assert (exported, again, exports) == (1, 0, 1)
    assert [
        (event["identifier"], event["payload"]) for event in predictions if event["identifier"] in (paid, free)
    ] == [(paid, {"stripe_customer_id": account.stripe_customer_id, "value": "5"})]
    assert {request.path for request in stripe_backend.requests} == {"/v1/billing/meter_events"}


def test_a_meter_export_that_crashed_after_sending_is_counted_once(org, stripe_backend, catalog):
    # Given an account on a subscription and an event Stripe already has (the process died
    # after Stripe accepted it and before the export row was written)
    put_on_plan(org, "starter")
    with tenant_context(org.id):
        account = services.billing_account_ensure(organization=org)
        customer = stripe_backend.client().v1.customers.create(params={"email": "crash@acme.example"})
        BillingAccount.objects.filter(id=account.id).update(
            stripe_customer_id=customer.id, metered_since=timezone.now() - timedelta(minutes=5)
        )
        usage_event_record(organization=org, meter="api_predictions", quantity=7, idempotency_key="crash-1")
    identifier = stripe_client.meter_event_identifier(organization_id=org.id, idempotency_key="crash-1")
    stripe_client.meter_event_create(
        event_name="tessera_api_predictions",
        customer=customer.id,
        value="7",
        identifier=identifier,
        timestamp=int(timezone.now().timestamp()),
    )

    # When the export runs again
    with tenant_context(org.id):
        sent = services.meter_events_export(organization=org)
        rows = MeterExport.objects.count()

    # Then Stripe holds it once and our bookkeeping caught up
    held = [event for event in stripe_backend.objects("billing.meter_event") if event["identifier"] == identifier]
    assert (sent, rows, len(held)) == (1, 1, 1)


def _state(org) -> dict:
    account = _account(org)
    with tenant_context(org.id):
        invoices = sorted(Invoice.objects.values_list("stripe_invoice_id", "status", "total_cents"))
    return {
        "plan": account.plan.code,
        "status": account.subscription_status,
        "subscription": account.stripe_subscription_id,
        "cancel_at_period_end": account.cancel_at_period_end,
        "period": (account.current_period_start, account.current_period_end),
        "invoices": invoices,
    }


def test_duplicated_and_reordered_webhooks_end_in_the_same_state_as_in_order(
    client, org, owner, stripe_backend, stripe_webhook_listener, catalog
):
    from tests.stripe_server import TEST_WEBHOOK_SECRET, sign_webhook_payload

    # Given a realistic history in Stripe: subscribe, invoice paid, then cancel at period end
    with tenant_context(org.id):
        account = services.billing_account_ensure(organization=org)
        customer = stripe_backend.client().v1.customers.create(params={"email": "torture@acme.example"})
        BillingAccount.objects.filter(id=account.id).update(stripe_customer_id=customer.id)
    subscription = _subscribe_in_stripe(stripe_backend, customer.id, catalog["flat"], org)
    wanted = [
        ("customer.subscription.created", subscription["id"]),
        ("invoice.created", subscription["latest_invoice"]),
        ("invoice.payment_succeeded", subscription["latest_invoice"]),
    ]
    deliveries = [
        (delivery.body, delivery.signature)
        for delivery in (stripe_webhook_listener.wait_for(kind, object_id) for kind, object_id in wanted)
    ]
    # localstripe sends no customer.subscription.updated; Stripe does, with the new snapshot.
    updated = stripe_backend.client().v1.subscriptions.update(subscription["id"], params={"cancel_at_period_end": True})
    body = _event("customer.subscription.updated", updated.to_dict())
    deliveries.append((body, sign_webhook_payload(body, TEST_WEBHOOK_SECRET)))

    # When they are delivered in order
    for body, signature in deliveries:
        _deliver(client, body, signature)
    _process_all()
    in_order = _state(org)
    # ... and again into a fresh account, twice each and shuffled
    StripeEvent.objects.all().delete()
    with tenant_context(org.id):
        Invoice.objects.all().delete()
        BillingAccount.objects.filter(id=account.id).update(
            plan=Plan.objects.get(code="free"),
            subscription_status="none",
            stripe_subscription_id="",
            cancel_at_period_end=False,
            current_period_start=None,
            current_period_end=None,
        )
    shuffled = deliveries * 2
    random.Random(7).shuffle(shuffled)
    answers = [_deliver(client, body, signature).json()["duplicate"] for body, signature in shuffled]
    outcomes = _process_all()

    # Then the state is the same, every event was stored once and processed once
    assert in_order == _state(org)
    assert in_order["plan"] == "starter" and in_order["status"] == "active"
    assert in_order["cancel_at_period_end"] is True
    assert in_order["invoices"] == [(subscription["latest_invoice"], "paid", 4900)]
    assert sorted(answers) == [False] * 4 + [True] * 4
    assert outcomes == ["processed"] * 4
    assert list(StripeEvent.objects.values_list("attempts", flat=True)) == [1, 1, 1, 1]


def test_a_bad_signature_stores_nothing(client, stripe_on, stripe_backend, stripe_webhook_listener):
    customer = stripe_backend.client().v1.customers.create(params={"email": "forged@acme.example"})
    delivery = stripe_webhook_listener.wait_for("customer.created", customer.id)
    tampered = delivery.body.replace(b"forged@acme.example", b"attacker@evil.example")

    response = _deliver(client, tampered, delivery.signature)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert StripeEvent.objects.count() == 0


def test_a_failed_payment_opens_the_grace_period_then_reads_only(
    api_client, client, org, owner, stripe_backend, stripe_webhook_listener, catalog, django_capture_on_commit_callbacks
):
    from tests.factories.webhooks import make_endpoint

    make_endpoint(org, event_types=["billing.payment_failed", "billing.subscription_updated"])
    stripe = stripe_backend.client()
    with tenant_context(org.id):
        account = services.billing_account_ensure(organization=org)
        customer = stripe.v1.customers.create(params={"email": owner.email})
        BillingAccount.objects.filter(id=account.id).update(stripe_customer_id=customer.id)
    subscription = _subscribe_in_stripe(stripe_backend, customer.id, catalog["flat"], org)
    # Stripe's 3-D Secure test card: the renewal waits for authentication, which fails.
    card = stripe.v1.payment_methods.create(
        params={"type": "card", "card": {"number": "4000002500003155", "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    stripe.v1.payment_methods.attach(card.id, params={"customer": customer.id})
    stripe.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": card.id}})
    renewal = stripe.v1.invoices.pay(
        stripe.v1.invoices.create(params={"customer": customer.id, "subscription": subscription["id"]}).id
    )
    intent = stripe.v1.payment_intents.retrieve(renewal.payment_intent)
    stripe_backend.localstripe.authenticate_payment_intent(intent.id, intent.client_secret, success=False)

    failed = stripe_webhook_listener.wait_for("invoice.payment_failed", renewal.id)
    _deliver(client, failed.body, failed.signature)
    with django_capture_on_commit_callbacks(execute=True):
        _process_all()

    account = _account(org)
    with tenant_context(org.id):
        emitted = sorted(WebhookEvent.objects.values_list("type", flat=True))
    assert account.subscription_status == "past_due"
    assert account.past_due_since is not None
    assert "billing.payment_failed" in emitted and "billing.subscription_updated" in emitted
    assert api_client.post("/api/v1/api-keys", {"name": "grace", "scopes": ["admin"]}, format="json").status_code == 201

    # After the grace period the organization can only read
    with tenant_context(org.id):
        BillingAccount.objects.filter(id=account.id).update(past_due_since=timezone.now() - timedelta(days=8))
    organization_limits_forget(organization=org)
    blocked = api_client.post("/api/v1/api-keys", {"name": "late", "scopes": ["admin"]}, format="json")
    assert blocked.status_code == 402 and blocked.json()["error"]["code"] == "payment_overdue"
    assert api_client.get("/api/v1/api-keys").status_code == 200
    assert [(message.subject, message.to) for message in mail.outbox] == [
        ("[Tessera] Acme Bank: payment failed", [owner.email])
    ]
    assert "can only read its data until the invoice is paid" in mail.outbox[0].body


def test_reconciliation_repairs_a_subscription_cancelled_while_webhooks_were_lost(org, stripe_backend, catalog):
    stripe = stripe_backend.client()
    with tenant_context(org.id):
        account = services.billing_account_ensure(organization=org)
        customer = stripe.v1.customers.create(params={"email": "drift@acme.example"})
        BillingAccount.objects.filter(id=account.id).update(stripe_customer_id=customer.id)
    subscription = _subscribe_in_stripe(stripe_backend, customer.id, catalog["flat"], org)
    with tenant_context(org.id):
        services.subscription_sync_from_stripe(organization=org, reason="test")
    stripe.v1.subscriptions.cancel(subscription["id"])  # no webhook reaches us

    with tenant_context(org.id):
        changes = services.billing_reconcile(organization=org)
        entry = AuditEntry.objects.filter(action="billing.subscription_synced").order_by("-created_at").first()

    account = _account(org)
    assert (account.plan.code, account.subscription_status) == ("free", "canceled")
    assert set(changes) >= {"plan", "subscription_status"}
    assert entry.metadata["reason"] == "reconciliation"
    assert entry.metadata["changes"]["subscription_status"] == ["active", "canceled"]


def test_a_plan_switched_in_the_portal_follows_the_new_price(org, stripe_backend, catalog):
    stripe = stripe_backend.client()
    product = stripe.v1.products.create(params={"name": "Tessera Pro"})
    pro_price = stripe.v1.prices.create(
        params={"currency": "usd", "unit_amount": 29900, "product": product.id, "recurring": {"interval": "month"}}
    )
    Plan.objects.filter(code="pro").update(stripe_price_id=pro_price.id)
    with tenant_context(org.id):
        account = services.billing_account_ensure(organization=org)
        customer = stripe.v1.customers.create(params={"email": "switch@acme.example"})
        BillingAccount.objects.filter(id=account.id).update(stripe_customer_id=customer.id)
    subscription = _subscribe_in_stripe(stripe_backend, customer.id, catalog["flat"], org)
    item = subscription["items"]["data"][0]["id"]
    # The portal swaps the price; the metadata Checkout wrote still says starter.
    stripe.v1.subscriptions.update(subscription["id"], params={"items": [{"id": item, "price": pro_price.id}]})

    with tenant_context(org.id):
        services.subscription_sync_from_stripe(organization=org, reason="test")

    assert _account(org).plan.code == "pro"


def test_a_staff_assigned_plan_survives_a_sync_without_a_subscription(org, stripe_backend, catalog):
    put_on_plan(org, "enterprise")
    with tenant_context(org.id):
        customer = stripe_backend.client().v1.customers.create(params={"email": "contract@acme.example"})
        BillingAccount.objects.update(stripe_customer_id=customer.id)
        changes = services.billing_reconcile(organization=org)

    assert changes == {}
    assert _account(org).plan.code == "enterprise"


def test_the_export_sends_only_priced_meters_within_stripes_precision(org, stripe_backend, catalog):
    put_on_plan(org, "starter")
    with tenant_context(org.id):
        customer = stripe_backend.client().v1.customers.create(params={"email": "skip@acme.example"})
        BillingAccount.objects.update(stripe_customer_id=customer.id, metered_since=timezone.now() - timedelta(days=1))
        usage_event_record(organization=org, meter="seats", quantity=2, idempotency_key="seats")
        # 16 significant digits: Stripe refuses values with more than 15, so we round.
        usage_event_record(
            organization=org,
            meter="api_predictions",
            quantity=Decimal("1234567890.123456"),
            idempotency_key="precise",
        )

        sent = services.meter_events_export(organization=org)
        exported = list(MeterExport.objects.values_list("usage_event__idempotency_key", flat=True))

    identifier = stripe_client.meter_event_identifier(organization_id=org.id, idempotency_key="precise")
    [event] = [event for event in stripe_backend.objects("billing.meter_event") if event["identifier"] == identifier]
    assert (sent, exported) == (1, ["precise"])
    assert event["payload"]["value"] == "1234567890.12346"
