"""The sentiment pages: monitors, the trend charts, the documents drill-down with corrections
and CSV export, and the spike alert inbox.

Time is frozen at 2026-03-20 12:00 UTC, so the charts cover Feb 19 to Mar 20. Documents,
trend buckets and alerts are written directly; no model scores anything here.
"""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.core.actors import Actor
from apps.sentiment import services
from apps.sentiment.models import Correction, Document, Monitor, SpikeAlert, TrendBucket
from tests.apps.dashboard.markup import page

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
TOPICS = [{"name": "fraud", "description": "scams, stolen cards"}, {"name": "fees", "description": "charges"}]


@pytest.fixture(autouse=True)
def frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.fixture
def monitor(org, in_org):
    with in_org(org):
        return services.monitor_create(organization=org, actor=Actor.system(), name="Acme news", topics=TOPICS)


@pytest.fixture
def add_document(in_org):
    def add(monitor, text, *, status="scored", sentiment="", topic="", confidence=None, published_at=NOW, **fields):
        with in_org(monitor.organization):
            return Document.objects.create(
                organization=monitor.organization,
                monitor=monitor,
                text=text,
                status=status,
                sentiment=sentiment,
                topic=topic,
                sentiment_confidence=confidence,
                published_at=published_at,
                **fields,
            )

    return add


@pytest.fixture
def add_bucket(in_org):
    def add(monitor, topic, sentiment, bucket_start, count, granularity="day"):
        with in_org(monitor.organization):
            return TrendBucket.objects.create(
                organization=monitor.organization,
                monitor=monitor,
                topic=topic,
                sentiment=sentiment,
                granularity=granularity,
                bucket_start=bucket_start,
                count=count,
            )

    return add


@pytest.fixture
def add_alert(in_org):
    def add(monitor, *, topic="fraud", window_start=datetime(2026, 3, 18, 14, tzinfo=UTC), status="open"):
        with in_org(monitor.organization):
            return SpikeAlert.objects.create(
                organization=monitor.organization,
                monitor=monitor,
                topic=topic,
                window_start=window_start,
                window_end=window_start + timedelta(hours=1),
                current_negative=12,
                current_total=16,
                baseline_negative_per_hour=1.5,
                baseline_negative_share=0.2,
                score=6.1,
                terms=[{"term": "card freeze", "current_rate": 0.5, "baseline_rate": 0.01, "score": 9.0}],
                documents=[{"id": "d1", "text": "My card froze at the till", "url": "https://news.example/1"}],
                summary="Negative fraud mentions rose to 12 in one hour against about 1.5 usually.",
                status=status,
            )

    return add


def _url(org, monitor, rest=""):
    return f"/o/{org.slug}/sentiment/{monitor.id}/{rest}"


def _state(org, in_org, document):
    with in_org(org):
        document = Document.objects.for_org(org).get(id=document.id)
        corrections = Correction.objects.for_org(org).filter(document=document).count()
    return document.sentiment, document.topic, corrections


def _day_counts(org, in_org, monitor):
    with in_org(org):
        rows = TrendBucket.objects.for_org(org).filter(monitor=monitor, granularity="day", count__gt=0)
        return sorted((row.topic, row.sentiment, row.count) for row in rows)


# --- Monitors ------------------------------------------------------------------------------------


def test_a_member_creates_a_monitor_from_topic_lines(client_for, member, org, in_org):
    response = client_for(member).post(
        f"/o/{org.slug}/sentiment/new/",
        {"name": "Press", "description": "News about us", "topics": "fraud: scams, phishing\n\nfees:charges\napp"},
    )

    with in_org(org):
        monitor = Monitor.objects.for_org(org).get(name="Press")
    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.slug}/sentiment/{monitor.id}/"
    assert monitor.topics == [
        {"name": "fraud", "description": "scams, phishing"},
        {"name": "fees", "description": "charges"},
        {"name": "app", "description": ""},
    ]
    assert monitor.description == "News about us"


@pytest.mark.parametrize(
    ("topics", "error"),
    [
        ("fraud: scams\nFraud: phishing", "Line 2: Topic names must be unique: 'Fraud' appears twice."),
        ("other: everything else", "Line 1: 'other' is reserved for texts that match no topic; choose another name."),
        (": no name", "Line 1: Topic 1 needs a name of 1 to 100 characters."),
    ],
)
def test_bad_topics_come_back_with_a_readable_error_and_nothing_is_created(
    client_for, member, org, in_org, topics, error
):
    response = client_for(member).post(f"/o/{org.slug}/sentiment/new/", {"name": "Press", "topics": topics})

    html = page(response)
    with in_org(org):
        created = Monitor.objects.for_org(org).count()
    assert response.status_code == 400
    assert [p.text for p in html.all(tag="p") if "field-error" in (p.get("class") or "")] == [error]
    assert created == 0


def test_a_taken_name_is_refused_on_the_name_field(client_for, member, org, monitor):
    response = client_for(member).post(f"/o/{org.slug}/sentiment/new/", {"name": "Acme news", "topics": "fees"})

    assert response.status_code == 409
    assert b"A monitor named &#x27;Acme news&#x27; already exists." in response.content


def test_the_list_shows_each_monitor_with_scored_documents_and_open_alerts(
    client_for, viewer, org, monitor, add_document, add_alert
):
    add_document(monitor, "one", sentiment="neutral", topic="fees")
    add_document(monitor, "two", status="pending")
    add_alert(monitor)

    html = page(client_for(viewer).get(f"/o/{org.slug}/sentiment/"))

    row = html.one("monitor-row")
    assert row.one("monitor-link").text == "Acme news"
    assert row.one("monitor-scored").text == "1"
    assert "1 open" in row.text
    assert html.one("sentiment-read-only")
    assert html.all("monitor-create-form") == []
    assert html.one("nav-sentiment").get("aria-current") == "page"


# --- The monitor page ------------------------------------------------------------------------


def test_the_monitor_page_shows_counts_progress_and_both_charts(
    client_for, viewer, org, monitor, add_document, add_bucket, add_alert
):
    for text in ("a", "b", "c"):
        add_document(monitor, text, sentiment="positive", topic="fees")
    add_document(monitor, "d", status="pending")
    add_document(monitor, "e", status="pending")
    add_document(monitor, "f", status="deferred")
    march_18, march_19 = datetime(2026, 3, 18, tzinfo=UTC), datetime(2026, 3, 19, tzinfo=UTC)
    add_bucket(monitor, "fraud", "negative", march_18, 4)
    add_bucket(monitor, "fraud", "neutral", march_18, 2)
    add_bucket(monitor, "fees", "positive", march_18, 2)
    add_bucket(monitor, "fees", "positive", march_19, 3)
    add_bucket(monitor, "fraud", "negative", datetime(2026, 2, 18, tzinfo=UTC), 50)  # before the 30 days
    add_alert(monitor)

    html = page(client_for(viewer).get(_url(org, monitor)))

    stacked, share = html.one("sentiment-stacked-chart"), html.one("share-chart")
    assert html.one("count-scored").one("count-value").text == "3"
    assert html.one("count-pending").one("count-value").text == "2"
    assert html.one("count-deferred").one("count-value").text == "1"
    assert html.one("scoring-percent").text == "50% scored"
    assert html.one("scoring-waiting").text == "3 to go · updates by itself"
    assert html.one("trend-summary").text == "Last 30 days (UTC): 11 documents, 4 negative."
    assert [bar.get("data-sentiment") for bar in stacked.all("sentiment-bar")] == [
        "negative",
        "neutral",
        "positive",
        "positive",
    ]
    assert [title.text for title in stacked.all(tag="title")][1:] == [
        "Mar 18: 4 negative of 8 (50%)",
        "Mar 18: 2 neutral of 8 (25%)",
        "Mar 18: 2 positive of 8 (25%)",
        "Mar 19: 3 positive of 3 (100%)",
    ]
    assert share.one("share-line").get("d").count("L") == 1
    markers = share.all("sentiment-alert-marker")
    assert len(markers) == 1
    assert markers[0].all(tag="title")[0].text == "Spike in fraud, Mar 18 14:00 UTC: 12 negative of 16 (open)"
    assert [[cell.text for cell in row.all(tag="td")] for row in share.all(tag="tr")][1:3] == [
        ["Mar 18", "50%", "8"],
        ["Mar 19", "0%", "3"],
    ]


def test_one_topic_charts_only_that_topic_and_its_alerts(
    client_for, viewer, org, monitor, add_bucket, add_alert, add_document
):
    add_bucket(monitor, "fraud", "negative", datetime(2026, 3, 18, tzinfo=UTC), 4)
    add_bucket(monitor, "fees", "positive", datetime(2026, 3, 19, tzinfo=UTC), 3)
    add_alert(monitor, topic="fraud")
    add_document(monitor, "fees are outrageous", sentiment="negative", topic="fees", confidence=0.9)
    add_document(monitor, "phishing text", sentiment="negative", topic="fraud", confidence=0.99)

    html = page(client_for(viewer).get(_url(org, monitor, "?topic=fees")))

    assert [bar.get("data-sentiment") for bar in html.one("sentiment-stacked-chart").all("sentiment-bar")] == [
        "positive"
    ]
    assert html.one("share-chart").all("sentiment-alert-marker") == []
    assert [item.text.split(" Negative")[0] for item in html.all("top-negative-item")] == ["fees are outrageous"]


def test_the_most_negative_documents_are_the_surest_of_the_last_week(client_for, viewer, org, monitor, add_document):
    add_document(monitor, "sure", sentiment="negative", topic="fraud", confidence=0.97)
    add_document(monitor, "less sure", sentiment="negative", topic="fees", confidence=0.61)
    add_document(monitor, "old", sentiment="negative", topic="fees", confidence=0.99, published_at=NOW - timedelta(8))
    add_document(monitor, "happy", sentiment="positive", topic="fees", confidence=0.99)
    add_document(monitor, "waiting", status="pending")

    html = page(client_for(viewer).get(_url(org, monitor)))

    items = html.all("top-negative-item")
    assert [item.all(tag="p")[0].text for item in items] == ["sure", "less sure"]
    assert "Negative 97%" in items[0].text
    assert html.all("scoring-progress") != []


def test_an_empty_monitor_says_so_instead_of_drawing(client_for, viewer, org, monitor):
    html = page(client_for(viewer).get(_url(org, monitor)))

    assert html.one("sentiment-chart-empty").text == "Documents by sentiment per day: no documents yet."
    assert html.one("share-chart-empty")
    assert html.one("top-negative-empty")
    assert html.all("scoring-progress") == []


def test_a_running_rescore_shows_its_progress_and_a_finished_one_does_not(client_for, viewer, org, in_org, monitor):
    from apps.sentiment.models import RescoreRun

    with in_org(org):
        run = RescoreRun.objects.create(
            organization=org,
            monitor=monitor,
            field="sentiment",
            version_label="acme-sentiment v2",
            since=datetime(2026, 3, 11, tzinfo=UTC),
            total=200,
            done=50,
            started_at=datetime(2026, 3, 18, 12, tzinfo=UTC),
        )

    running = page(client_for(viewer).get(_url(org, monitor)))
    with in_org(org):
        RescoreRun.objects.filter(id=run.id).update(status="succeeded", done=200)
    finished = page(client_for(viewer).get(_url(org, monitor)))

    assert running.one("rescore-percent").text == "25% re-scored"
    assert "Sentiment by acme-sentiment v2: 50 of 200 documents since Mar 11" in running.one("rescore-progress").text
    assert finished.all("rescore-progress") == []


# --- Documents ------------------------------------------------------------------------------------


def _ids(response):
    return [row.one("document-text").text for row in page(response).all("document-row")]


def test_the_drill_down_filters_by_topic_sentiment_status_dates_and_text(
    client_for, viewer, org, monitor, add_document
):
    add_document(monitor, "card cloned", sentiment="negative", topic="fraud", published_at=NOW - timedelta(hours=1))
    add_document(monitor, "fee hike", sentiment="negative", topic="fees", published_at=NOW - timedelta(days=2))
    add_document(monitor, "nice card", sentiment="positive", topic="fraud", published_at=NOW - timedelta(days=3))
    add_document(monitor, "waiting card", status="pending", published_at=NOW - timedelta(days=10))
    client = client_for(viewer)

    everything = client.get(_url(org, monitor, "documents/"))
    fraud_negative = client.get(_url(org, monitor, "documents/?topic=fraud&sentiment=negative"))
    pending = client.get(_url(org, monitor, "documents/?status=pending"))
    dates = client.get(_url(org, monitor, "documents/?since=2026-03-17&until=2026-03-18"))
    text = client.get(_url(org, monitor, "documents/?q=CARD"))
    nonsense = client.get(_url(org, monitor, "documents/?topic=nope&since=yesterday&q=fee"))

    assert _ids(everything) == ["card cloned", "fee hike", "nice card", "waiting card"]
    assert _ids(fraud_negative) == ["card cloned"]
    assert _ids(pending) == ["waiting card"]
    assert _ids(dates) == ["fee hike", "nice card"]
    assert _ids(text) == ["card cloned", "nice card", "waiting card"]
    assert nonsense.status_code == 200
    assert _ids(nonsense) == ["fee hike"]
    assert page(fraud_negative).one("documents-count").text == "1 document match these filters, newest first."
    assert page(everything).all("correction-form") == []


def test_the_drill_down_pages_by_25_and_keeps_the_filters(client_for, viewer, org, monitor, add_document):
    for number in range(27):
        add_document(
            monitor, f"fee {number}", sentiment="negative", topic="fees", published_at=NOW - timedelta(minutes=number)
        )

    first = page(client_for(viewer).get(_url(org, monitor, "documents/?topic=fees")))
    second = client_for(viewer).get(_url(org, monitor, "documents/?topic=fees&page=2"))

    assert len(first.all("document-row")) == 25
    assert first.one("documents-older").get("href") == "?topic=fees&page=2"
    assert _ids(second) == ["fee 25", "fee 26"]


def test_a_correction_through_the_form_changes_the_document_and_moves_the_trend_counts(
    client_for, member, org, in_org, monitor, add_document, add_bucket
):
    published = datetime(2026, 3, 19, 9, 30, tzinfo=UTC)
    document = add_document(monitor, "card cloned", sentiment="negative", topic="fraud", published_at=published)
    add_bucket(monitor, "fraud", "negative", datetime(2026, 3, 19, tzinfo=UTC), 1)
    add_bucket(monitor, "fraud", "negative", datetime(2026, 3, 19, 9, tzinfo=UTC), 1, granularity="hour")
    client = client_for(member)
    listing = page(client.get(_url(org, monitor, "documents/")))
    prefix = listing.one("correction-form").all(tag="input")[1].get("value")
    next_url = _url(org, monitor, "documents/?topic=fraud")

    response = client.post(
        _url(org, monitor, f"documents/{document.id}/correct/"),
        {"prefix": prefix, f"{prefix}-sentiment": "positive", f"{prefix}-topic": "fees", "next": next_url},
    )

    assert response.status_code == 302
    assert response["Location"] == next_url
    assert _state(org, in_org, document) == ("positive", "fees", 2)
    assert _day_counts(org, in_org, monitor) == [("fees", "positive", 1)]


def test_a_viewer_cannot_correct_and_nothing_changes(client_for, viewer, org, in_org, monitor, add_document):
    document = add_document(monitor, "card cloned", sentiment="negative", topic="fraud")

    response = client_for(viewer).post(
        _url(org, monitor, f"documents/{document.id}/correct/"), {"sentiment": "positive", "topic": "fees"}
    )

    assert response.status_code == 403
    assert _state(org, in_org, document) == ("negative", "fraud", 0)


def test_the_csv_export_has_the_filtered_documents_with_formulas_defused(
    client_for, viewer, org, monitor, add_document
):
    add_document(monitor, "=1+1", sentiment="negative", topic="fraud", confidence=0.5, source="@evil")
    add_document(monitor, "-2+3 guidance", sentiment="negative", topic="fraud", published_at=NOW - timedelta(hours=1))
    add_document(monitor, "plain", sentiment="positive", topic="fees")

    response = client_for(viewer).get(_url(org, monitor, "documents/export.csv?topic=fraud"))

    body = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="sentiment-documents-20260320-1200.csv"'
    assert [(row["text"], row["source"], row["sentiment_confidence"]) for row in rows] == [
        ("'=1+1", "'@evil", "0.5000"),
        ("'-2+3 guidance", "", ""),
    ]
    assert rows[0]["published_at"] == "2026-03-20T12:00:00+00:00"


# --- Alerts ------------------------------------------------------------------------------------


def test_the_inbox_explains_each_open_alert(client_for, viewer, org, monitor, add_alert):
    add_alert(monitor)
    add_alert(monitor, window_start=datetime(2026, 3, 10, 8, tzinfo=UTC), status="resolved")

    html = page(client_for(viewer).get(_url(org, monitor, "alerts/")))

    item = html.one("alert-item")
    assert [(tab.get("data-status"), tab.text) for tab in html.all("alert-tab")] == [
        ("open", "Open 1"),
        ("acknowledged", "Acknowledged 0"),
        ("resolved", "Resolved 1"),
    ]
    assert item.one("alert-summary").text.startswith("Negative fraud mentions rose to 12")
    assert item.one("alert-current").text == "12 negative of 16 (75%)"
    assert item.one("alert-baseline").text == "1.5 negative an hour (20%)"
    assert item.one("alert-terms").text == "card freeze"
    assert item.one("alert-documents").all(tag="a")[0].get("href") == "https://news.example/1"
    assert item.one("alert-drilldown").get("href") == (
        _url(org, monitor, "documents/") + "?topic=fraud&sentiment=negative&since=2026-03-18&until=2026-03-18"
    )
    assert item.all("alert-acknowledge") == []


def test_a_member_acknowledges_then_resolves_an_alert(client_for, member, org, in_org, monitor, add_alert):
    alert = add_alert(monitor)
    client = client_for(member)

    acknowledged = client.post(_url(org, monitor, f"alerts/{alert.id}/acknowledge/"), {"status": "open"})
    with in_org(org):
        after_ack = SpikeAlert.objects.for_org(org).get(id=alert.id).status
    resolved = client.post(_url(org, monitor, f"alerts/{alert.id}/resolve/"), {"status": "acknowledged"})
    with in_org(org):
        alert = SpikeAlert.objects.for_org(org).get(id=alert.id)

    assert acknowledged.status_code == 302
    assert acknowledged["Location"] == _url(org, monitor, "alerts/?status=open")
    assert after_ack == "acknowledged"
    assert resolved["Location"] == _url(org, monitor, "alerts/?status=acknowledged")
    assert (alert.status, alert.changed_by_label) == ("resolved", member.email)
    assert page(client.get(_url(org, monitor, "alerts/?status=resolved"))).one("alert-status").text == "Resolved"


def test_a_viewer_cannot_acknowledge_and_the_alert_stays_open(client_for, viewer, org, in_org, monitor, add_alert):
    alert = add_alert(monitor)

    response = client_for(viewer).post(_url(org, monitor, f"alerts/{alert.id}/acknowledge/"))

    with in_org(org):
        status = SpikeAlert.objects.for_org(org).get(id=alert.id).status
    assert response.status_code == 403
    assert status == "open"


# --- Another organization ------------------------------------------------------------------------


def test_another_organization_gets_404_everywhere_and_never_sees_numbers(
    client_for, other_owner, other_org, org, in_org, monitor, add_document, add_bucket, add_alert
):
    document = add_document(monitor, "card cloned 4242", sentiment="negative", topic="fraud")
    add_bucket(monitor, "fraud", "negative", datetime(2026, 3, 19, tzinfo=UTC), 4242)
    alert = add_alert(monitor)
    client = client_for(other_owner)
    own_slug_urls = [
        url.replace(f"/o/{org.slug}/", f"/o/{other_org.slug}/")
        for url in (
            _url(org, monitor),
            _url(org, monitor, "documents/"),
            _url(org, monitor, "documents/export.csv"),
            _url(org, monitor, "alerts/"),
        )
    ]
    foreign_urls = [_url(org, monitor), _url(org, monitor, "documents/export.csv")]

    gets = [client.get(url) for url in own_slug_urls + foreign_urls]
    posts = [
        client.post(
            _url(other_org, monitor, f"documents/{document.id}/correct/"), {"sentiment": "positive", "topic": "fees"}
        ),
        client.post(_url(other_org, monitor, f"alerts/{alert.id}/acknowledge/")),
        client.post(_url(other_org, monitor, f"alerts/{alert.id}/resolve/")),
    ]
    listing = client.get(f"/o/{other_org.slug}/sentiment/")

    assert [response.status_code for response in gets + posts] == [404] * 9
    assert all(b"4242" not in response.content and b"Acme news" not in response.content for response in gets)
    assert listing.status_code == 200
    assert b"Acme news" not in listing.content
    assert _state(org, in_org, document) == ("negative", "fraud", 0)
    with in_org(org):
        assert SpikeAlert.objects.for_org(org).get(id=alert.id).status == "open"
