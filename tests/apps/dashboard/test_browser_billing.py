"""Usage & billing in a real browser: twenty days of usage drawn as a chart with its
projection, the alert banner, switching the chart's meter without a reload, and dismissing
the alert.

The screenshot goes to /tmp/usage.png and to $TESSERA_SCREENSHOT_DIR when set.
"""

import shutil
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from apps.billing.models import BillingAccount, Invoice, Plan
from apps.billing.selectors import free_plan
from apps.core.tenancy import tenant_context
from apps.metering.services import usage_event_record
from tests.factories.accounts import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "metered by the minute 2025"
# Noon on June 20th: 19.5 of 30 days have passed.
NOW = datetime(2025, 6, 20, 12, tzinfo=UTC)
# June 1, 7, 8, 14 and 15 are weekends; the 20th is half a day. 42,000 in all: 84% of Starter's 50,000.
DAILY_PREDICTIONS = [
    1000,
    2300,
    2450,
    2500,
    2400,
    2350,
    1000,
    1000,
    2550,
    2600,
    2500,
    2650,
    2450,
    950,
    900,
    2700,
    2750,
    2600,
    2550,
    1800,
]


@pytest.fixture
def browser_page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(15_000)
    return page


@pytest.fixture
def expect():
    return pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def harbor(monkeypatch, celery_eager):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    free_plan()  # an earlier transactional test may have flushed the seeded plans
    organization = OrganizationFactory(name="Harbor Bank")
    user = UserFactory(email="ada@harbor.example", full_name="Ada Lovelace", password=PASSWORD)
    MembershipFactory(organization=organization, user=user, role="owner")
    with tenant_context(organization.id):
        BillingAccount.objects.create(
            organization=organization, plan=Plan.objects.get(code="starter"), spend_cap_cents=10000
        )
        for number, month, total in (("HB-0001", 4, 4900), ("HB-0002", 5, 5312)):
            Invoice.objects.create(
                organization=organization,
                stripe_invoice_id=f"in_{number}",
                number=number,
                status="paid",
                currency="usd",
                total_cents=total,
                amount_paid_cents=total,
                hosted_invoice_url=f"https://invoice.stripe.test/{number}",
                invoice_pdf_url=f"https://invoice.stripe.test/{number}.pdf",
                period_start=datetime(2025, month, 1, tzinfo=UTC),
                period_end=datetime(2025, month + 1, 1, tzinfo=UTC),
                issued_at=datetime(2025, month + 1, 1, 1, tzinfo=UTC),
            )
    usage = [("api_predictions", day + 1, quantity) for day, quantity in enumerate(DAILY_PREDICTIONS)]
    usage += [("training_minutes_cpu", day, minutes) for day, minutes in ((3, 32), (9, 45), (16, 18.5))]
    usage += [("documents_processed", day, 240 + 15 * day) for day in range(1, 21)]
    usage += [("storage_mb", 18, 1250)]
    for meter, day, quantity in usage:
        with tenant_context(organization.id):
            usage_event_record(
                organization=organization,
                meter=meter,
                quantity=quantity,
                idempotency_key=f"{meter}-{day}",
                occurred_at=NOW.replace(day=day, hour=10),
            )
    return organization


def test_the_usage_page_draws_the_chart_and_the_alert_banner(live_server, browser_page, screenshot_dir, expect, harbor):
    page = browser_page
    base = f"{live_server.url}/o/{harbor.slug}/"

    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill("ada@harbor.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base)
    overview_alerts = page.get_by_test_id("usage-alert-text").all_inner_texts()

    page.get_by_test_id("nav-usage").click()
    page.wait_for_url(base + "usage/")
    page.evaluate("window.__notReloaded = true")
    chart = page.get_by_test_id("usage-chart")
    svg_count = chart.locator("svg").count()
    bar_count = chart.get_by_test_id("usage-chart-bar").count()
    bar_heights = [
        box["height"] for box in (bar.bounding_box() for bar in chart.get_by_test_id("usage-chart-bar").all())
    ]
    point_count = chart.get_by_test_id("usage-chart-point").count()
    projection = chart.get_by_test_id("usage-chart-projection")
    projection_dash = projection.evaluate("element => getComputedStyle(element).strokeDasharray")
    projection_box = projection.bounding_box()
    line_box = chart.get_by_test_id("usage-chart-line").bounding_box()
    allowance_text = chart.get_by_test_id("usage-chart-allowance").text_content()
    predictions_row = page.locator("[data-testid=usage-meter][data-meter=api_predictions]")
    used_text = predictions_row.get_by_test_id("usage-meter-used").inner_text()
    projected_text = predictions_row.get_by_test_id("usage-meter-projected").inner_text()
    overage_text = predictions_row.get_by_test_id("usage-meter-overage").inner_text()
    estimate_text = page.get_by_test_id("billing-estimate-total").inner_text()
    banner_alerts = page.get_by_test_id("usage-alert-text").all_inner_texts()
    page.screenshot(path="/tmp/usage.png", full_page=True)  # noqa: S108 - where the design review looks
    shutil.copy("/tmp/usage.png", screenshot_dir / "usage.png")  # noqa: S108
    page.get_by_test_id("usage-chart-card").screenshot(path=str(screenshot_dir / "usage-chart.png"))
    page.get_by_test_id("usage-meters").screenshot(path=str(screenshot_dir / "usage-meters.png"))

    # Another meter's chart comes in through htmx, without reloading the page.
    page.get_by_test_id("usage-chart-tab").filter(has_text="Training minutes (CPU)").click()
    expect(page.locator("#chart-heading")).to_have_text("Training minutes (CPU) by day")
    training_bars = page.get_by_test_id("usage-chart").get_by_test_id("usage-chart-bar").count()
    not_reloaded = page.evaluate("window.__notReloaded === true")
    url_after_tab = page.url
    page.get_by_test_id("usage-chart-card").screenshot(path=str(screenshot_dir / "usage-chart-training.png"))

    # Dismiss the alert: it is gone from every page.
    page.get_by_test_id("usage-alert-dismiss").click()
    page.get_by_test_id("flash-success").wait_for()
    dismissed_flash = page.get_by_test_id("flash-success").inner_text()
    banners_after = page.get_by_test_id("usage-banner").count()
    page.goto(base)
    banners_on_overview = page.get_by_test_id("usage-banner").count()

    assert overview_alerts == ["API predictions: 80% of this month's allowance of 50,000 used."]
    assert svg_count == 1
    assert bar_count == 20
    assert min(bar_heights) > 2
    assert point_count == 20  # 19 complete days and now
    assert projection_dash not in ("", "none")
    assert projection_box["width"] > 100 and line_box["width"] > 300
    assert allowance_text == "Allowance 50,000"
    assert used_text == "42,000 of 50,000"
    assert projected_text == "64,615"
    assert overage_text == "$14.62"
    assert estimate_text == "$63.62"
    assert banner_alerts == overview_alerts
    assert training_bars == 3
    assert not_reloaded, "switching the chart's meter reloaded the page instead of swapping the chart"
    assert url_after_tab.endswith("usage/?meter=training_minutes_cpu")
    assert dismissed_flash == "Dismissed the alert for everyone in Harbor Bank."
    assert banners_after == 0
    assert banners_on_overview == 0
