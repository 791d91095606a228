"""The billing API offline (the embedded default: no Stripe keys), dunning and isolation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.billing.models import BillingAccount, Invoice, StripeEvent
from apps.billing.selectors import organization_limits_forget
from apps.billing.services import billing_account_ensure

pytestmark = pytest.mark.django_db


def test_a_new_organization_is_on_free_with_payments_offline(api_client, org):
    response = api_client.get("/api/v1/billing")

    body = response.json()
    assert response.status_code == 200
    assert body["payments_configured"] is False
    assert (body["plan"]["code"], body["plan"]["monthly_price_cents"], body["plan"]["has_hard_limits"]) == (
        "free",
        0,
        True,
    )
    assert body["subscription"]["status"] == "none"
    assert body["limits"]["api_rate_limit_per_minute"] == 60
    assert body["limits"]["is_read_only"] is False
    assert body["upcoming_invoice"]["source"] == "projection"
    assert body["upcoming_invoice"]["total_cents"] == "0"


def test_public_plans_are_listed_in_order_without_enterprise(api_client):
    response = api_client.get("/api/v1/plans")

    plans = response.json()
    assert [plan["code"] for plan in plans] == ["free", "starter", "pro"]
    starter = plans[1]
    assert starter["monthly_price_cents"] == 4900
    predictions = next(meter for meter in starter["meters"] if meter["meter"] == "api_predictions")
    assert (predictions["included_quantity"], predictions["overage_unit_price_cents"]) == ("50000.000000", "0.100000")


def test_checkout_without_stripe_keys_is_a_clear_409_and_changes_nothing(api_client, org, in_org):
    with in_org(org):
        before = AuditEntry.objects.count()

    response = api_client.post("/api/v1/billing/checkout", {"plan": "starter"}, format="json")
    portal = api_client.post("/api/v1/billing/portal", {}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "billing_not_configured"
    assert "Payments are not configured" in response.json()["error"]["message"]
    assert portal.status_code == 409
    with in_org(org):
        assert AuditEntry.objects.count() == before
        assert not BillingAccount.objects.exclude(stripe_customer_id="").exists()


def test_checkout_refuses_unknown_and_free_plans(api_client, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_unreachable"

    unknown = api_client.post("/api/v1/billing/checkout", {"plan": "platinum"}, format="json")
    free = api_client.post("/api/v1/billing/checkout", {"plan": "free"}, format="json")
    hidden = api_client.post("/api/v1/billing/checkout", {"plan": "enterprise"}, format="json")

    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    assert (free.status_code, free.json()["error"]["code"]) == (400, "plan_not_purchasable")
    assert hidden.status_code == 404


def test_billing_writes_need_admin_and_reads_need_billing_read(keyed_client, org):
    reader = keyed_client(org, scopes=["billing:read"])
    outsider = keyed_client(org, scopes=["training"])

    assert reader.get("/api/v1/billing").status_code == 200
    assert reader.get("/api/v1/billing/invoices").status_code == 200
    assert reader.post("/api/v1/billing/checkout", {"plan": "starter"}, format="json").status_code == 403
    assert outsider.get("/api/v1/billing").status_code == 403
    assert outsider.get("/api/v1/plans").status_code == 200


def test_invoices_of_another_organization_are_never_listed(api_client, other_api_client, org, other_org, in_org):
    for organization, number in ((org, "A-0001"), (other_org, "B-0001")):
        with in_org(organization):
            Invoice.objects.create(
                organization=organization,
                stripe_invoice_id=f"in_{number}",
                number=number,
                status="paid",
                currency="usd",
                total_cents=4900,
                issued_at=timezone.now(),
            )

    mine = api_client.get("/api/v1/billing/invoices").json()["results"]
    theirs = other_api_client.get("/api/v1/billing/invoices").json()["results"]

    assert [invoice["number"] for invoice in mine] == ["A-0001"]
    assert [invoice["number"] for invoice in theirs] == ["B-0001"]


def _past_due(org, in_org, days):
    with in_org(org):
        account = billing_account_ensure(organization=org)
        BillingAccount.objects.filter(id=account.id).update(
            subscription_status="past_due", past_due_since=timezone.now() - timedelta(days=days)
        )
        organization_limits_forget(organization=org)


def test_past_due_within_the_grace_period_keeps_full_use(api_client, org, in_org):
    _past_due(org, in_org, days=6)

    response = api_client.post("/api/v1/api-keys", {"name": "still fine", "scopes": ["admin"]}, format="json")

    assert response.status_code == 201


def test_past_due_after_the_grace_period_is_read_only_until_paid(api_client, other_api_client, org, in_org):
    _past_due(org, in_org, days=8)

    write = api_client.post("/api/v1/api-keys", {"name": "blocked", "scopes": ["admin"]}, format="json")
    read = api_client.get("/api/v1/api-keys")
    billing = api_client.get("/api/v1/billing").json()
    others = other_api_client.post("/api/v1/api-keys", {"name": "B is fine", "scopes": ["admin"]}, format="json")

    assert write.status_code == 402
    assert write.json()["error"]["code"] == "payment_overdue"
    assert read.status_code == 200
    assert billing["limits"]["is_read_only"] is True
    assert billing["subscription"]["grace_period_ends_at"] is not None
    assert others.status_code == 201


def test_the_stripe_webhook_without_a_secret_configured_is_503(client):
    response = client.post("/stripe/webhook", b"{}", content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1,v1=x")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "billing_not_configured"


def test_a_bad_stripe_signature_is_refused_and_stores_nothing(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_secret"
    body = b'{"id": "evt_1", "object": "event", "type": "invoice.paid", "data": {"object": {}}}'

    forged = client.post("/stripe/webhook", body, content_type="application/json", HTTP_STRIPE_SIGNATURE="t=1,v1=00")
    missing = client.post("/stripe/webhook", body, content_type="application/json")

    assert forged.status_code == 400
    assert forged.json()["error"]["code"] == "invalid_signature"
    assert missing.status_code == 400
    assert StripeEvent.objects.count() == 0
