"""The Usage & billing page, its actions, and the usage alert banner of the app layout.

Time is frozen at 2025-06-11 00:00 UTC: day 11 of a 30-day period, 10 days elapsed, so every
projection is exactly three times the use so far. Stripe keys are empty (the test default).
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.billing.models import BillingAccount, Invoice, Plan
from apps.billing.selectors import free_plan
from apps.dashboard.views import billing as billing_views
from apps.metering.models import UsageAlert
from apps.metering.services import usage_event_record
from tests.apps.dashboard.markup import page

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 11, tzinfo=UTC)
OFFLINE = "Payments are not configured on this installation (no Stripe keys); plans and quotas still apply."


@pytest.fixture(autouse=True)
def frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    free_plan()  # seeds the plans again if a transactional test flushed them
    return NOW


@pytest.fixture
def record(in_org):
    """`record(org, meter, quantity, day)`: one usage event at 09:00 UTC on that day of June 2025."""

    def add(organization, meter, quantity, day):
        with in_org(organization):
            usage_event_record(
                organization=organization,
                meter=meter,
                quantity=quantity,
                idempotency_key=f"{meter}-{day}-{quantity}",
                occurred_at=NOW.replace(day=day, hour=9),
            )

    return add


@pytest.fixture
def account_on(in_org):
    """`account_on(org, "starter", **fields)`: the organization's billing account on that plan."""

    def create(organization, plan_code, **fields):
        with in_org(organization):
            return BillingAccount.objects.create(
                organization=organization, plan=Plan.objects.get(code=plan_code), **fields
            )

    return create


@pytest.fixture
def stripe_configured(settings):
    """Keys set and prices on the paid plans, so the buttons show. No page view here calls Stripe."""
    settings.STRIPE_SECRET_KEY = "sk_test_not_used"
    Plan.objects.filter(code="starter").update(stripe_price_id="price_starter")
    Plan.objects.filter(code="pro").update(stripe_price_id="price_pro")


def _usage(client, org, query=""):
    return client.get(f"/o/{org.slug}/usage/{query}")


def _meter(html, meter):
    return next(row for row in html.all("usage-meter") if row.get("data-meter") == meter)


def _account(org, in_org):
    with in_org(org):
        return BillingAccount.objects.for_org(org).first()


def _billing_audit(org, in_org):
    with in_org(org):
        return list(
            AuditEntry.objects.for_org(org).filter(action__startswith="billing.").values_list("action", flat=True)
        )


# --- The page ------------------------------------------------------------------------------------


def test_an_owner_sees_this_months_usage_against_the_free_plan(owner_client, org, record):
    for day in range(2, 11):
        record(org, "api_predictions", 100, day)
    record(org, "api_predictions", 50, 10)
    record(org, "training_minutes_cpu", "12.5", 4)

    response = _usage(owner_client, org)

    html = page(response)
    predictions = _meter(html, "api_predictions")
    minutes = _meter(html, "training_minutes_cpu")
    assert response.status_code == 200
    assert html.one("billing-plan-name").text == "Free"
    assert html.one("billing-plan-price").text == "free"
    assert html.one("billing-subscription-status").text == "No subscription"
    assert html.one("billing-subscription-note").text == "Usage stops at each allowance."
    assert html.one("billing-period").text == "This period Day 11 of 30 Jun 1 – Jun 30, 2025 · resets Jul 1, 00:00 UTC"
    assert predictions.one("usage-meter-used").text == "950 of 1,000"
    assert predictions.one("usage-meter-percent").text == "95%"
    assert predictions.one("usage-meter-projected").text == "2,850"
    assert predictions.one("usage-meter-overage").text == "Not billed"
    assert minutes.one("usage-meter-used").text == "12.5 of 60"
    assert minutes.one("usage-meter-percent").text == "20%"
    assert minutes.one("usage-meter-projected").text == "38"
    assert [row.get("data-meter") for row in html.all("usage-meter")] == [
        "api_predictions",
        "documents_processed",
        "recommendation_requests",
        "training_minutes_cpu",
        "storage_mb",
    ]
    assert html.one("billing-estimate-total").text == "$0.00"


def test_a_paid_plan_shows_projected_overage_and_the_invoice_estimate(owner_client, org, record, account_on):
    account_on(org, "starter")
    record(org, "api_predictions", 20000, 5)

    html = page(_usage(owner_client, org))

    predictions = _meter(html, "api_predictions")
    assert html.one("billing-plan-price").text == "$49.00 a month"
    assert html.one("billing-subscription-note").text == "Usage past an allowance is billed as overage."
    assert predictions.one("usage-meter-used").text == "20,000 of 50,000"
    assert predictions.one("usage-meter-projected").text == "60,000"
    assert predictions.all(tag="td")[0].text == "API predictions then $0.001 each"
    assert predictions.one("usage-meter-overage").text == "$10.00"
    assert html.one("billing-estimate-total").text == "$59.00"
    assert html.one("billing-estimate-detail").text == "$49.00 plan + $10.00 projected overage, around Jul 1"
    assert html.one("invoice-estimate-total").text == "$59.00"


def test_the_progress_bars_turn_at_80_and_100_percent(owner_client, org, record):
    record(org, "api_predictions", 500, 3)
    record(org, "documents_processed", 850, 3)
    record(org, "training_minutes_cpu", 75, 3)

    html = page(_usage(owner_client, org))

    tones = {
        meter: _meter(html, meter).all(tag="div")[-1].get("class")
        for meter in ("api_predictions", "documents_processed", "training_minutes_cpu")
    }
    assert tones == {
        "api_predictions": "progress-bar progress-normal",
        "documents_processed": "progress-bar progress-warning",
        "training_minutes_cpu": "progress-bar progress-danger",
    }
    assert _meter(html, "training_minutes_cpu").one("usage-meter-percent").text == "125%"


def test_the_subscription_shows_past_due_with_the_end_of_the_grace_period(owner_client, org, account_on):
    account_on(
        org,
        "starter",
        subscription_status="past_due",
        stripe_subscription_id="sub_1",
        past_due_since=NOW - timedelta(days=2, hours=3),
    )

    html = page(_usage(owner_client, org))

    assert html.one("billing-subscription-status").text == "Past due"
    assert html.one("billing-subscription-note").text == "Payment failed. Full access until Jun 15, 21:00 UTC."


def test_after_the_grace_period_the_subscription_says_read_only(owner_client, org, account_on):
    account_on(
        org,
        "starter",
        subscription_status="past_due",
        stripe_subscription_id="sub_1",
        past_due_since=NOW - timedelta(days=7),
    )

    html = page(_usage(owner_client, org))

    assert html.one("billing-subscription-note").text == "Read-only until the overdue invoice is paid."


def test_a_subscription_cancelled_at_the_period_end_says_when(owner_client, org, account_on):
    account_on(
        org,
        "pro",
        subscription_status="active",
        stripe_subscription_id="sub_1",
        cancel_at_period_end=True,
        current_period_end=datetime(2025, 7, 1, tzinfo=UTC),
    )

    html = page(_usage(owner_client, org))

    assert html.one("billing-plan-name").text == "Pro"
    assert html.one("billing-subscription-status").text == "Active"
    assert html.one("billing-subscription-note").text == "Cancels on Jul 1, 2025."


def test_the_chart_draws_daily_bars_the_running_total_the_allowance_and_the_projection(owner_client, org, record):
    for day, quantity in ((2, 40), (3, 60), (7, 100)):
        record(org, "api_predictions", quantity, day)

    html = page(_usage(owner_client, org))

    chart = html.one("usage-chart")
    assert html.one("usage-chart-card").all(tag="h2")[0].text == "API predictions by day"
    assert [bar.all(tag="title")[0].text for bar in chart.all("usage-chart-bar")] == [
        "Day 2: 40 used",
        "Day 3: 60 used",
        "Day 7: 100 used",
    ]
    assert len(chart.all("usage-chart-point")) == 10  # the end of each of the 10 elapsed days
    assert chart.all("usage-chart-point")[-1].all(tag="title")[0].text == "End of day 10: 200 used so far"
    assert chart.one("usage-chart-projection").all(tag="title")[0].text == "Projected by the end of the period: 600"
    assert chart.one("usage-chart-allowance").text == "Allowance 1,000"


def test_the_chart_shows_the_meter_asked_for_and_only_meters_with_usage(owner_client, org, record):
    record(org, "api_predictions", 40, 2)
    record(org, "training_minutes_cpu", 30, 2)

    chosen = page(_usage(owner_client, org, "?meter=training_minutes_cpu"))
    unknown = page(_usage(owner_client, org, "?meter=storage_mb"))

    assert [tab.text for tab in chosen.all("usage-chart-tab")] == ["API predictions", "Training minutes (CPU)"]
    assert [tab.get("aria-current") for tab in chosen.all("usage-chart-tab")] == [None, "true"]
    assert chosen.one("usage-chart-card").all(tag="h2")[0].text == "Training minutes (CPU) by day"
    # Training minutes are at 50% of the allowance, predictions at 4%: the default is the closest to its limit.
    assert unknown.one("usage-chart-card").all(tag="h2")[0].text == "Training minutes (CPU) by day"


def test_without_usage_the_chart_says_so(owner_client, org):
    html = page(_usage(owner_client, org))

    assert html.all("usage-chart") == []
    assert html.one("usage-chart-empty").text.startswith("Nothing used yet this month.")


def test_the_nav_links_the_page_without_the_soon_badge(owner_client, org):
    html = page(_usage(owner_client, org))

    assert html.one("nav-usage").text == "Usage & billing"
    assert html.one("nav-usage").get("aria-current") == "page"


# --- Stripe configured or not --------------------------------------------------------------------


def test_without_stripe_keys_the_page_says_payments_are_off_and_has_no_payment_buttons(owner_client, org):
    html = page(_usage(owner_client, org))

    assert (
        html.one("billing-offline").text
        == "Payments are not configured on this installation; plans and quotas still apply."
    )
    assert html.all("plan-upgrade") == []
    assert html.all("billing-portal") == []
    assert [option.get("data-plan") for option in html.all("plan-option")] == ["free", "starter", "pro"]
    assert html.one("plan-current").text == "Current plan"


def test_with_stripe_configured_an_owner_can_upgrade_and_manage_billing(
    owner_client, org, account_on, stripe_configured
):
    account_on(org, "free", stripe_customer_id="cus_1")

    html = page(_usage(owner_client, org))

    assert html.all("billing-offline") == []
    assert [button.text for button in html.all("plan-upgrade")] == ["Upgrade to Starter", "Upgrade to Pro"]
    assert html.one("billing-portal").text == "Manage billing"


def test_a_subscribed_organization_changes_plans_in_the_portal_not_checkout(
    owner_client, org, account_on, stripe_configured
):
    account_on(
        org, "starter", stripe_customer_id="cus_1", stripe_subscription_id="sub_1", subscription_status="trialing"
    )

    html = page(_usage(owner_client, org))

    assert html.all("plan-upgrade") == []
    assert html.one("billing-portal").text == "Manage billing"
    assert (
        html.one("plans").all(tag="p")[0].text == "Allowances a month. To switch plans or cancel, use Manage billing."
    )


@pytest.fixture
def local_stripe(stripe_settings, stripe_backend):
    """The local Stripe (localstripe + Stripe's fixture objects) with Starter's monthly price set."""
    stripe_settings.STRIPE_MAX_NETWORK_RETRIES = 0
    client = stripe_backend.client()
    product = client.v1.products.create(params={"name": "Tessera Starter"})
    price = client.v1.prices.create(
        params={"currency": "usd", "unit_amount": 4900, "product": product.id, "recurring": {"interval": "month"}}
    )
    Plan.objects.filter(code="starter").update(stripe_price_id=price.id)
    return stripe_backend


def test_checkout_redirects_to_stripe_with_303_and_comes_back_to_the_usage_page(
    owner_client, org, owner, local_stripe, in_org
):
    response = owner_client.post(f"/o/{org.slug}/usage/checkout/", {"plan": "starter"})

    session = local_stripe.objects("checkout.session")[-1]
    with in_org(org):
        customer = BillingAccount.objects.get().stripe_customer_id
        entry = AuditEntry.objects.get(action="billing.checkout_started")
    assert response.status_code == 303
    assert response["Location"] == session["url"]
    assert (session["customer"], session["mode"], session["client_reference_id"]) == (
        customer,
        "subscription",
        str(org.id),
    )
    assert session["success_url"] == f"http://testserver/o/{org.slug}/usage/?checkout=success"
    assert session["cancel_url"] == f"http://testserver/o/{org.slug}/usage/?checkout=cancelled"
    assert (entry.actor_user_id, entry.metadata["plan"]) == (owner.id, "starter")


def test_the_portal_redirects_to_stripe_with_303(owner_client, org, local_stripe, account_on):
    customer = local_stripe.client().v1.customers.create(params={"email": "owner@acme.example"})
    account_on(org, "free", stripe_customer_id=customer.id)

    response = owner_client.post(f"/o/{org.slug}/usage/portal/")

    session = local_stripe.objects("billing_portal.session")[-1]
    assert response.status_code == 303
    assert response["Location"] == session["url"]
    assert (session["customer"], session["return_url"]) == (customer.id, f"http://testserver/o/{org.slug}/usage/")


@pytest.mark.parametrize(
    ("outcome", "level", "message"),
    [
        ("success", "success", "Thanks — your plan updates as soon as Stripe confirms the payment."),
        ("cancelled", "info", "Checkout was cancelled. Nothing was charged and your plan is unchanged."),
    ],
)
def test_coming_back_from_checkout_says_how_it_went_once(owner_client, org, outcome, level, message):
    response = _usage(owner_client, org, f"?checkout={outcome}")
    landed = owner_client.get(response["Location"])
    again = owner_client.get(response["Location"])

    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.slug}/usage/"
    assert page(landed).one(f"flash-{level}").text == message
    assert page(again).all(f"flash-{level}") == []


@pytest.mark.parametrize("action", ["checkout/", "portal/"])
def test_checkout_and_portal_without_stripe_keys_show_a_readable_error(owner_client, org, in_org, action):
    response = owner_client.post(f"/o/{org.slug}/usage/{action}", {"plan": "starter"})
    landed = owner_client.get(response["Location"])

    assert response.status_code == 303
    assert response["Location"] == f"/o/{org.slug}/usage/"
    assert page(landed).one("flash-error").text == OFFLINE
    assert _billing_audit(org, in_org) == []


def test_checkout_of_a_plan_that_does_not_exist_shows_a_readable_error(owner_client, org, stripe_configured):
    response = owner_client.post(f"/o/{org.slug}/usage/checkout/", {"plan": "platinum"}, follow=True)

    assert response.status_code == 200
    assert page(response).one("flash-error").text == "There is no plan 'platinum' to subscribe to."


def test_checkout_without_a_plan_asks_for_one(owner_client, org):
    response = owner_client.post(f"/o/{org.slug}/usage/checkout/", {"plan": ""}, follow=True)

    assert page(response).one("flash-error").text == "Choose one of the plans listed."


# --- Roles -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_see_usage_but_no_money_and_no_buttons(
    request, client_for, org, record, account_on, stripe_configured, role
):
    account_on(org, "starter", stripe_customer_id="cus_1")
    record(org, "api_predictions", 45000, 3)

    response = _usage(client_for(request.getfixturevalue(role)), org)

    html = page(response)
    assert response.status_code == 200
    assert _meter(html, "api_predictions").one("usage-meter-used").text == "45,000 of 50,000"
    assert _meter(html, "api_predictions").all("usage-meter-overage") == []
    assert html.one("billing-closest").text == "Closest to its allowance 90% API predictions: 45,000 of 50,000"
    assert html.one("usage-chart") is not None
    for hidden in (
        "billing-estimate",
        "invoice-estimate",
        "invoices",
        "spend-cap",
        "plan-upgrade",
        "billing-portal",
        "usage-alert-dismiss",
    ):
        assert html.all(hidden) == [], hidden
    assert html.one("usage-alert").get("data-kind") == "allowance_80"


@pytest.mark.parametrize("role", ["member", "viewer"])
@pytest.mark.parametrize(
    ("action", "data"),
    [("checkout/", {"plan": "starter"}), ("portal/", {}), ("spend-cap/", {"spend_cap": "100", "action": "set"})],
)
def test_members_and_viewers_cannot_start_checkout_open_the_portal_or_set_the_cap(
    request, client_for, org, in_org, stripe_configured, role, action, data
):
    response = client_for(request.getfixturevalue(role)).post(f"/o/{org.slug}/usage/{action}", data)

    assert response.status_code == 403
    assert page(response).one("error-message").text.startswith("Only an owner or admin can do this.")
    assert _account(org, in_org) is None
    assert _billing_audit(org, in_org) == []


def test_admins_see_the_money_but_not_the_spend_cap_form(client_for, admin, org):
    html = page(_usage(client_for(admin), org))

    assert html.one("billing-estimate-total").text == "$0.00"
    assert html.one("invoices-empty").text == "No invoices yet. They appear here once Stripe issues them."
    assert html.all("spend-cap-form") == []
    assert html.one("spend-cap-owner-only").text == "Only owners change the spend cap."


def test_an_admin_cannot_set_the_spend_cap(client_for, admin, org, in_org):
    response = client_for(admin).post(f"/o/{org.slug}/usage/spend-cap/", {"spend_cap": "100", "action": "set"})

    assert response.status_code == 403
    assert page(response).one("form-error").text == "Only owners can set the spend cap."
    assert _account(org, in_org) is None


# --- Spend cap ----------------------------------------------------------------------------------


def test_an_owner_sets_and_then_removes_the_spend_cap(owner_client, owner, org, in_org, account_on):
    account_on(org, "starter")

    set_response = owner_client.post(f"/o/{org.slug}/usage/spend-cap/", {"spend_cap": "250.50", "action": "set"})
    after_set = page(owner_client.get(set_response["Location"]))
    cap_after_set = _account(org, in_org).spend_cap_cents
    clear_response = owner_client.post(f"/o/{org.slug}/usage/spend-cap/", {"spend_cap": "", "action": "clear"})
    after_clear = page(owner_client.get(clear_response["Location"]))

    assert set_response.status_code == 303
    assert set_response["Location"] == f"/o/{org.slug}/usage/#spend-cap"
    assert cap_after_set == 25050
    assert after_set.one("flash-success").text == "Set the spend cap to $250.50 a month."
    assert after_set.one("spend-cap-value").text == "Overage charges stop at $250.50 a month."
    assert after_set.one("spend-cap-clear").text == "Remove cap"
    assert _account(org, in_org).spend_cap_cents is None
    assert after_clear.one("flash-success").text == "Removed the spend cap. Overage charges are no longer limited."
    assert after_clear.one("spend-cap-value").text == "No cap: overage is billed in full."
    with in_org(org):
        entries = list(
            AuditEntry.objects.for_org(org).filter(action="billing.spend_cap_changed").order_by("created_at")
        )
    assert [(entry.actor_label, entry.metadata) for entry in entries] == [
        (owner.email, {"from_cents": None, "to_cents": 25050}),
        (owner.email, {"from_cents": 25050, "to_cents": None}),
    ]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("-5", "The spend cap cannot be negative."),
        ("lots", "Enter an amount in dollars, such as 250 or 99.50."),
        ("12.345", "Use at most two decimals (whole cents)."),
        ("", "Enter an amount in dollars, or remove the cap."),
        ("2000000", "Enter $1,000,000 or less; contact us for a higher cap."),
    ],
)
def test_a_bad_spend_cap_is_refused_with_a_message(owner_client, org, in_org, account_on, value, error):
    account_on(org, "starter", spend_cap_cents=10000)

    response = owner_client.post(f"/o/{org.slug}/usage/spend-cap/", {"spend_cap": value, "action": "set"})

    html = page(response)
    assert response.status_code == 400
    assert [element.text for element in html.one("spend-cap-form").all() if element.get("class") == "field-error"] == [
        error
    ]
    assert _account(org, in_org).spend_cap_cents == 10000


def test_a_zero_spend_cap_allows_no_overage(owner_client, org, in_org):
    response = owner_client.post(f"/o/{org.slug}/usage/spend-cap/", {"spend_cap": "0", "action": "set"})

    assert response.status_code == 303
    assert _account(org, in_org).spend_cap_cents == 0


# --- Invoices -----------------------------------------------------------------------------------


def test_invoices_list_number_period_status_total_and_links(owner_client, org, in_org):
    with in_org(org):
        for number, status, total, month in (("TSR-0001", "paid", 4900, 4), ("TSR-0002", "open", 6212, 5)):
            Invoice.objects.create(
                organization=org,
                stripe_invoice_id=f"in_{number}",
                number=number,
                status=status,
                currency="usd",
                total_cents=total,
                hosted_invoice_url=f"https://invoice.stripe.test/{number}",
                invoice_pdf_url=f"https://invoice.stripe.test/{number}.pdf",
                period_start=datetime(2025, month, 1, tzinfo=UTC),
                period_end=datetime(2025, month + 1, 1, tzinfo=UTC),
                issued_at=datetime(2025, month + 1, 1, 1, tzinfo=UTC),
            )

    html = page(_usage(owner_client, org))

    rows = html.all("invoice-row")
    assert [
        (
            row.one("invoice-number").text,
            row.all(tag="td")[1].text,
            row.one("invoice-status").text,
            row.one("invoice-total").text,
            row.one("invoice-link").get("href"),
            row.one("invoice-pdf").get("href"),
        )
        for row in rows
    ] == [
        (
            "TSR-0002",
            "May 1 – Jun 1, 2025",
            "Open",
            "$62.12",
            "https://invoice.stripe.test/TSR-0002",
            "https://invoice.stripe.test/TSR-0002.pdf",
        ),
        (
            "TSR-0001",
            "Apr 1 – May 1, 2025",
            "Paid",
            "$49.00",
            "https://invoice.stripe.test/TSR-0001",
            "https://invoice.stripe.test/TSR-0001.pdf",
        ),
    ]


# --- The alert banner ---------------------------------------------------------------------------


def test_the_alert_banner_shows_on_every_organization_page_and_an_owner_dismisses_it(owner_client, org, in_org, record):
    record(org, "api_predictions", 850, 4)
    with in_org(org):
        alert = UsageAlert.objects.for_org(org).get()

    overview = page(owner_client.get(f"/o/{org.slug}/"))
    team = page(owner_client.get(f"/o/{org.slug}/team/"))
    response = owner_client.post(f"/o/{org.slug}/usage/alerts/{alert.id}/dismiss/", {"next": f"/o/{org.slug}/team/"})
    after = page(owner_client.get(response["Location"]))

    assert overview.one("usage-alert-text").text == "API predictions: 80% of this month's allowance of 1,000 used."
    assert overview.one("usage-alert").all(tag="a")[0].get("href") == f"/o/{org.slug}/usage/"
    assert team.one("usage-alert").get("data-kind") == "allowance_80"
    assert response.status_code == 303
    assert response["Location"] == f"/o/{org.slug}/team/"
    assert after.all("usage-banner") == []
    assert after.one("flash-success").text == "Dismissed the alert for everyone in Acme Bank."
    with in_org(org):
        assert UsageAlert.objects.for_org(org).get().dismissed_at == NOW


def test_the_banner_lists_the_spend_cap_and_100_percent_before_80_percent(owner_client, org, record, account_on):
    account_on(org, "starter", spend_cap_cents=100)
    record(org, "documents_processed", 41000, 2)
    record(org, "api_predictions", 51000, 3)

    html = page(owner_client.get(f"/o/{org.slug}/"))

    assert [alert.get("data-kind") for alert in html.all("usage-alert")] == [
        "spend_cap",
        "allowance_100",
        "allowance_80",
        "allowance_80",
    ]
    assert html.all("usage-alert-text")[0].text == "Overage charges reached your spend cap of $1.00 this month."


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_see_the_banner_but_cannot_dismiss_it(request, client_for, org, in_org, record, role):
    record(org, "api_predictions", 850, 4)
    with in_org(org):
        alert = UsageAlert.objects.for_org(org).get()
    client = client_for(request.getfixturevalue(role))

    html = page(client.get(f"/o/{org.slug}/"))
    response = client.post(f"/o/{org.slug}/usage/alerts/{alert.id}/dismiss/")

    assert html.one("usage-alert").get("data-kind") == "allowance_80"
    assert html.all("usage-alert-dismiss") == []
    assert response.status_code == 403
    with in_org(org):
        assert UsageAlert.objects.for_org(org).get().dismissed_at is None


def test_alerts_of_an_earlier_month_are_not_shown(owner_client, org, in_org):
    with in_org(org):
        UsageAlert.objects.create(
            organization=org,
            meter="api_predictions",
            kind="allowance_100",
            period_start=datetime(2025, 5, 1, tzinfo=UTC),
            used=1000,
            limit=1000,
        )

    html = page(owner_client.get(f"/o/{org.slug}/"))

    assert html.all("usage-banner") == []


def test_the_banner_warns_while_past_due_with_the_end_of_the_grace_period(client_for, member, org, account_on):
    account_on(org, "starter", subscription_status="past_due", past_due_since=NOW - timedelta(days=2))

    html = page(client_for(member).get(f"/o/{org.slug}/datasets/"))

    assert html.one("banner-past-due").text == (
        "The last payment failed. Everything keeps working until Jun 16, 2025, 00:00 UTC; after that Acme Bank can "
        "only read its data until the invoice is paid. An owner or admin can update the payment method."
    )
    assert html.all("banner-read-only") == []


def test_the_banner_says_read_only_after_the_grace_period(owner_client, org, account_on):
    account_on(org, "starter", subscription_status="past_due", past_due_since=NOW - timedelta(days=8))

    html = page(owner_client.get(f"/o/{org.slug}/"))

    assert html.one("banner-read-only").text == (
        "Acme Bank is read-only until the overdue invoice is paid. The grace period ended on Jun 10, 2025, 00:00 UTC. "
        "Update the payment method"
    )
    assert html.all("banner-past-due") == []


def test_the_banner_is_one_query(org, in_org, record, account_on, django_assert_num_queries):
    account_on(org, "starter", subscription_status="unpaid", past_due_since=NOW - timedelta(days=20))
    record(org, "api_predictions", 45000, 3)

    with in_org(org), django_assert_num_queries(1):
        banner = billing_views.usage_banner_state(organization=org)

    assert [alert.kind for alert in banner.alerts] == ["allowance_80"]
    assert (banner.subscription_status, banner.is_read_only) == ("unpaid", True)


def test_pages_outside_an_organization_have_no_banner(owner_client, org, record):
    record(org, "api_predictions", 850, 4)

    html = page(owner_client.get("/orgs/"))

    assert html.all("usage-banner") == []


# --- Another organization ---------------------------------------------------------------------------


def test_another_organizations_owner_gets_404_and_never_sees_the_numbers(
    other_owner_client, org, other_org, in_org, record
):
    record(org, "api_predictions", 850, 4)
    with in_org(org):
        alert = UsageAlert.objects.for_org(org).get()

    theirs = other_owner_client.get(f"/o/{org.slug}/usage/")
    own = page(other_owner_client.get(f"/o/{other_org.slug}/usage/"))
    dismiss_there = other_owner_client.post(f"/o/{org.slug}/usage/alerts/{alert.id}/dismiss/")
    dismiss_via_own = other_owner_client.post(f"/o/{other_org.slug}/usage/alerts/{alert.id}/dismiss/")
    cap_there = other_owner_client.post(f"/o/{org.slug}/usage/spend-cap/", {"spend_cap": "1", "action": "set"})

    assert theirs.status_code == 404
    assert _meter(own, "api_predictions").one("usage-meter-used").text == "0 of 1,000"
    assert own.all("usage-banner") == []
    assert dismiss_there.status_code == 404
    assert dismiss_via_own.status_code == 404
    assert cap_there.status_code == 404
    with in_org(org):
        assert UsageAlert.objects.for_org(org).get().dismissed_at is None
    assert _account(org, in_org) is None


# --- Read-only after the grace period ------------------------------------------------------


def test_after_the_grace_period_dashboard_writes_are_refused_but_the_portal_is_not(
    owner_client, org, account_on, in_org
):
    from apps.api_keys.models import ApiKey

    account_on(org, "starter", subscription_status="past_due", past_due_since=NOW - timedelta(days=8))

    create = owner_client.post(f"/o/{org.slug}/api-keys/create/", {"name": "late key", "scopes": ["admin"]})
    portal = owner_client.post(f"/o/{org.slug}/usage/portal/")
    read = owner_client.get(f"/o/{org.slug}/api-keys/")

    assert create.status_code == 402
    assert "can only read until the invoice is paid" in create.content.decode()
    assert portal.status_code == 303  # back to the page with "payments are not configured"
    assert read.status_code == 200
    with in_org(org):
        assert ApiKey.objects.filter(name="late key").count() == 0
