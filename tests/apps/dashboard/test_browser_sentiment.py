"""Sentiment monitoring in a real browser: thirty days of trends drawn as stacked bars with the
negative share and a spike alert below them, switching topics without a reload, and
acknowledging the alert from the inbox.

The screenshot goes to /tmp/sentiment.png and to $TESSERA_SCREENSHOT_DIR when set.
"""

import shutil
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.tenancy import tenant_context
from apps.sentiment import services
from apps.sentiment.models import Document, SpikeAlert, TrendBucket
from tests.factories.accounts import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "negative share 2026 spike"
NOW = datetime(2026, 3, 20, 15, tzinfo=UTC)
TOPICS = [
    {"name": "fraud", "description": "scams, stolen or cloned cards, phishing"},
    {"name": "fees", "description": "charges, prices, interest rates"},
    {"name": "app", "description": "mobile app and online banking"},
]
# Documents a day per topic and sentiment: weekdays busier, and fraud turning negative on Mar 18.
BASE = {"fraud": (3, 6, 2), "fees": (4, 7, 3), "app": (2, 8, 6)}
SPIKE_DAY = datetime(2026, 3, 18, tzinfo=UTC)
NEGATIVE_TEXTS = [
    "My card was cloned at the airport and the bank froze my account for three days.",
    "Phishing texts pretending to be Harbor Bank again; two of my neighbours lost money.",
    "The new overdraft fee is outrageous: 35 dollars for being 2 dollars short.",
]


@pytest.fixture
def browser_page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(15_000)
    return page


@pytest.fixture
def expect():
    return pytest.importorskip("playwright.sync_api").expect


def _buckets(organization, monitor):
    rows = []
    for offset in range(30):
        day = NOW.replace(hour=0) - timedelta(days=29 - offset)
        weekday = day.weekday() < 5
        for topic, (negative, neutral, positive) in BASE.items():
            counts = {"negative": negative, "neutral": neutral, "positive": positive}
            counts = {name: value * (2 if weekday else 1) + offset % 3 for name, value in counts.items()}
            if topic == "fraud" and day == SPIKE_DAY:
                counts["negative"] += 24
            rows += [
                TrendBucket(
                    organization=organization,
                    monitor=monitor,
                    topic=topic,
                    sentiment=name,
                    granularity="day",
                    bucket_start=day,
                    count=value,
                )
                for name, value in counts.items()
            ]
    return rows


@pytest.fixture
def harbor(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    organization = OrganizationFactory(name="Harbor Bank")
    user = UserFactory(email="ada@harbor.example", full_name="Ada Lovelace", password=PASSWORD)
    MembershipFactory(organization=organization, user=user, role="member")
    with tenant_context(organization.id):
        monitor = services.monitor_create(
            organization=organization,
            actor=Actor.system(),
            name="Harbor in the news",
            description="Press, reviews and social posts that mention Harbor Bank.",
            topics=TOPICS,
        )
        TrendBucket.objects.bulk_create(_buckets(organization, monitor))
        for index, text in enumerate(NEGATIVE_TEXTS):
            Document.objects.create(
                organization=organization,
                monitor=monitor,
                text=text,
                source="news" if index else "reviews",
                status="scored",
                sentiment="negative",
                sentiment_confidence=0.97 - index * 0.04,
                topic="fees" if index == 2 else "fraud",
                published_at=NOW - timedelta(days=index + 1, hours=3),
            )
        SpikeAlert.objects.create(
            organization=organization,
            monitor=monitor,
            topic="fraud",
            window_start=SPIKE_DAY.replace(hour=14),
            window_end=SPIKE_DAY.replace(hour=15),
            current_negative=14,
            current_total=17,
            baseline_negative_per_hour=0.4,
            baseline_negative_share=0.27,
            score=7.2,
            terms=[{"term": "cloned", "current_rate": 0.6, "baseline_rate": 0.02, "score": 8.1}],
            documents=[{"id": "d1", "text": NEGATIVE_TEXTS[0], "url": "https://news.example/cloned"}],
            summary="Negative fraud mentions rose to 14 in the 14:00 hour against about 0.4 an hour usually; "
            "most mention cloned cards at the airport.",
        )
    return organization, monitor


def test_the_monitor_page_draws_the_trends_and_the_inbox_acknowledges_an_alert(
    live_server, browser_page, screenshot_dir, expect, harbor
):
    organization, monitor = harbor
    page = browser_page
    base = f"{live_server.url}/o/{organization.slug}/"
    monitor_url = f"{base}sentiment/{monitor.id}/"

    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill("ada@harbor.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base)
    page.get_by_test_id("nav-sentiment").click()
    page.wait_for_url(base + "sentiment/")
    page.screenshot(path=str(screenshot_dir / "sentiment-monitors.png"), full_page=True)
    page.get_by_test_id("monitor-link").click()
    page.wait_for_url(monitor_url)
    stacked = page.get_by_test_id("sentiment-stacked-chart")
    share = page.get_by_test_id("share-chart")
    expect(stacked.locator("svg")).to_be_visible()
    bars_all = stacked.get_by_test_id("sentiment-bar").count()
    tallest = stacked.get_by_test_id("sentiment-bar").evaluate_all(
        """bars => {
            const stacks = {};
            bars.forEach(bar => {
                const x = bar.getAttribute("x");
                stacks[x] = (stacks[x] || 0) + bar.getBoundingClientRect().height;
            });
            return Math.max(...Object.values(stacks));
        }"""
    )
    line_length = share.get_by_test_id("share-line").evaluate("path => path.getTotalLength()")
    marker = share.get_by_test_id("sentiment-alert-marker")
    marker_count = marker.count()
    marker_box = marker.locator("path").bounding_box()
    chart_box = share.locator("svg").bounding_box()
    page.screenshot(path="/tmp/sentiment.png", full_page=True)  # noqa: S108 - where the design review looks
    shutil.copy("/tmp/sentiment.png", screenshot_dir / "sentiment.png")  # noqa: S108

    page.evaluate("window.__notReloaded = true")
    page.get_by_test_id("topic-tab").filter(has_text="fees").click()
    page.wait_for_url(monitor_url + "?topic=fees")
    expect(page.get_by_role("heading", name="Sentiment by day: fees")).to_be_visible()
    bars_fees = stacked.get_by_test_id("sentiment-bar").count()
    markers_fees = share.get_by_test_id("sentiment-alert-marker").count()
    not_reloaded = page.evaluate("window.__notReloaded === true")

    page.get_by_test_id("monitor-tab-alerts").click()
    page.wait_for_url(monitor_url + "alerts/")
    expect(page.get_by_test_id("alert-summary")).to_contain_text("Negative fraud mentions rose to 14")
    page.screenshot(path=str(screenshot_dir / "sentiment-alerts.png"), full_page=True)
    page.get_by_test_id("alert-acknowledge").click()
    page.wait_for_url(monitor_url + "alerts/?status=open")
    expect(page.get_by_test_id("alerts-empty")).to_have_text("No open alerts.")
    page.locator('[data-testid="alert-tab"][data-status="acknowledged"]').click()
    expect(page.get_by_test_id("alert-status")).to_have_text("Acknowledged")
    page.get_by_test_id("monitor-tab-documents").click()
    page.wait_for_url(monitor_url + "documents/")
    page.screenshot(path=str(screenshot_dir / "sentiment-documents.png"), full_page=True)
    correction_forms = page.get_by_test_id("correction-form").count()

    assert bars_all == 90
    assert tallest > 100
    assert line_length > 500
    assert marker_count == 1
    assert chart_box["x"] < marker_box["x"] < chart_box["x"] + chart_box["width"]
    assert bars_fees == 90
    assert markers_fees == 0
    assert not_reloaded
    assert correction_forms == 3
    with tenant_context(organization.id):
        assert SpikeAlert.objects.for_org(organization).get().status == "acknowledged"
