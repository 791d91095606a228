from datetime import UTC, datetime, timedelta

import pytest

from apps.core.actors import Actor
from apps.metering.models import UsageEvent
from apps.metering.services import usage_event_record
from apps.sentiment import services, tasks
from apps.sentiment.models import Correction, Document, TrendBucket
from tests.apps.sentiment.conftest import TOPICS, ingest
from tests.factories.billing import set_overrides

pytestmark = pytest.mark.django_db

T = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def _buckets(org, in_org, granularity="hour"):
    with in_org(org):
        return sorted(
            (row.bucket_start.isoformat(), row.topic, row.sentiment, row.count)
            for row in TrendBucket.objects.for_org(org).filter(granularity=granularity)
        )


def _statuses(org, in_org):
    with in_org(org):
        return sorted(Document.objects.for_org(org).values_list("status", flat=True))


@pytest.mark.parametrize(
    ("topics", "message"),
    [
        ([], "between 1 and 30"),
        ([{"name": f"t{i}"} for i in range(31)], "between 1 and 30"),
        ([{"name": "fees"}, {"name": "Fees"}], "unique: 'Fees' appears twice"),
        ([{"name": "other"}], "reserved"),
        ([{"name": ""}], "Topic 1 needs a name"),
    ],
)
def test_invalid_topics_are_refused_with_a_clear_message(org, in_org, topics, message):
    with in_org(org), pytest.raises(services.SentimentError, match=message) as refused:
        services.monitor_create(organization=org, actor=Actor.system(), name="M", topics=topics)

    assert refused.value.code == "invalid_topics"


def test_bad_rows_are_reported_and_good_rows_kept(org, in_org, monitor, fake_models, enqueued):
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    rows = [
        {"text": "good fees news", "published_at": T.isoformat()},
        {"text": "   "},
        {"text": "bad app outage", "published_at": future},
        {"text": "x", "published_at": "yesterday"},
        "not an object",
        {"text": "y", "url": "not a url"},
        {"text": "z", "metadata": [1]},
        {"text": "bad fraud story", "external_id": "n-1"},
    ]

    result = ingest(org, monitor, rows)

    assert (result.created, result.rejected, result.duplicates, result.scored, result.deferred) == (2, 6, 0, 2, 0)
    assert result.errors == [
        {"index": 1, "field": "text", "message": "The text is required and must not be empty."},
        {"index": 2, "field": "published_at", "message": "The publication time is more than 1 day in the future."},
        {"index": 3, "field": "published_at", "message": "Use an ISO 8601 date and time, e.g. 2026-03-01T09:30:00Z."},
        {"index": 4, "field": "", "message": "Each document must be a JSON object."},
        {"index": 5, "field": "url", "message": "Not a valid URL."},
        {"index": 6, "field": "metadata", "message": "Must be a JSON object."},
    ]
    assert [(d.text, d.sentiment, d.topic) for d in result.documents] == [
        ("good fees news", "positive", "fees"),
        ("bad fraud story", "negative", "fraud"),
    ]


def test_text_longer_than_the_setting_is_rejected(org, in_org, monitor, fake_models, settings, enqueued):
    settings.SENTIMENT_MAX_TEXT_LENGTH = 10

    result = ingest(org, monitor, [{"text": "x" * 11}, {"text": "x" * 10}])

    assert result.errors == [{"index": 0, "field": "text", "message": "The text is 11 characters; the limit is 10."}]
    assert result.created == 1


def test_reingesting_an_external_id_does_not_create_it_again(org, in_org, monitor, fake_models, enqueued):
    first = ingest(org, monitor, [{"text": "good", "external_id": "a"}, {"text": "bad", "external_id": "b"}])

    second = ingest(
        org,
        monitor,
        [
            {"text": "good", "external_id": "a"},
            {"text": "new", "external_id": "c"},
            {"text": "again", "external_id": "c"},
        ],
    )

    assert (first.created, first.duplicates) == (2, 0)
    assert (second.created, second.duplicates) == (1, 2)
    with in_org(org):
        assert Document.objects.for_org(org).count() == 3
        assert UsageEvent.objects.for_org(org).filter(meter="documents_processed").count() == 3


def test_trend_buckets_count_exactly_and_move_on_correction(org, in_org, monitor, fake_models, enqueued):
    rows = [
        {"text": "bad fees", "published_at": T.isoformat(), "external_id": "1"},
        {"text": "bad fees again", "published_at": (T + timedelta(minutes=20)).isoformat()},
        {"text": "good app", "published_at": (T + timedelta(hours=1)).isoformat()},
    ]
    ingest(org, monitor, rows)
    with in_org(org):
        document = Document.objects.for_org(org).get(external_id="1")

    before = _buckets(org, in_org)
    days_before = _buckets(org, in_org, "day")
    with in_org(org):
        correction = services.document_correct(
            organization=org,
            monitor=monitor,
            document_id=document.id,
            actor=Actor.system(),
            field="sentiment",
            value="neutral",
        )

    assert before == [
        ("2026-11-02T09:00:00+00:00", "fees", "negative", 2),
        ("2026-11-02T10:00:00+00:00", "app", "positive", 1),
    ]
    assert days_before == [
        ("2026-11-02T00:00:00+00:00", "app", "positive", 1),
        ("2026-11-02T00:00:00+00:00", "fees", "negative", 2),
    ]
    assert _buckets(org, in_org) == [
        ("2026-11-02T09:00:00+00:00", "fees", "negative", 1),
        ("2026-11-02T09:00:00+00:00", "fees", "neutral", 1),
        ("2026-11-02T10:00:00+00:00", "app", "positive", 1),
    ]
    assert (correction.previous_value, correction.value, correction.corrected_by_label) == (
        "negative",
        "neutral",
        "Tessera",
    )
    with in_org(org):
        document.refresh_from_db()
        assert (document.sentiment, document.sentiment_scored_by) == ("neutral", "correction")
        assert Correction.objects.for_org(org).count() == 1


def test_topic_correction_must_name_a_topic_of_the_monitor(org, in_org, monitor, fake_models, enqueued):
    result = ingest(org, monitor, [{"text": "bad fees", "published_at": T.isoformat()}])
    before = _buckets(org, in_org)

    with in_org(org), pytest.raises(services.SentimentError, match="not a topic of this monitor"):
        services.document_correct(
            organization=org,
            monitor=monitor,
            document_id=result.documents[0].id,
            actor=Actor.system(),
            field="topic",
            value="weather",
        )

    assert _buckets(org, in_org) == before


def test_over_the_free_allowance_documents_are_deferred_then_scored_after_an_upgrade(
    org, in_org, monitor, fake_models, enqueued
):
    with in_org(org):
        usage_event_record(organization=org, meter="documents_processed", quantity=998, idempotency_key="earlier")

    result = ingest(org, monitor, [{"text": f"good fees {i}"} for i in range(5)])

    assert (result.created, result.scored, result.deferred, result.pending) == (5, 2, 3, 0)
    assert result.deferral["code"] == "quota_exceeded"
    assert (result.deferral["meter"], result.deferral["limit"], result.deferral["used"]) == (
        "documents_processed",
        "1000",
        "998",
    )
    assert "resets_at" in result.deferral
    assert services.documents_deferred_monitors() == [(org.id, str(monitor.id))]

    set_overrides(org, included={"documents_processed": "10000"})
    swept = tasks.documents_deferred_score_all()
    outcome = tasks.monitor_documents_deferred_score(org.id, str(monitor.id))

    assert swept == 1
    assert enqueued[-1] == ("monitor_documents_deferred_score", (org.id, str(monitor.id)))
    assert outcome == {"scored": 3, "deferred": 0}
    assert _statuses(org, in_org) == ["scored"] * 5
    with in_org(org):
        keys = list(UsageEvent.objects.for_org(org).filter(meter="documents_processed").values_list("idempotency_key"))
    assert len(keys) == 6  # "earlier" and one per document


def test_deferred_documents_stay_deferred_while_the_allowance_is_used_up(org, in_org, monitor, fake_models, enqueued):
    with in_org(org):
        usage_event_record(organization=org, meter="documents_processed", quantity=1000, idempotency_key="earlier")
    ingest(org, monitor, [{"text": "good"}, {"text": "bad"}])

    outcome = tasks.monitor_documents_deferred_score(org.id, str(monitor.id))

    assert outcome == {"scored": 0, "deferred": 2}
    assert _statuses(org, in_org) == ["deferred", "deferred"]


def test_a_large_batch_goes_to_the_inference_queue_and_is_scored_in_chunks(
    org, in_org, monitor, fake_models, enqueued, settings, django_capture_on_commit_callbacks
):
    settings.SENTIMENT_SCORE_CHUNK = 7
    rows = [{"text": f"bad fraud {i}", "published_at": T.isoformat()} for i in range(30)]

    with django_capture_on_commit_callbacks(execute=True):
        result = ingest(org, monitor, rows)
    queued = _statuses(org, in_org)
    outcome = tasks.monitor_documents_score(org.id, str(monitor.id))
    again = tasks.monitor_documents_score(org.id, str(monitor.id))

    assert tasks.monitor_documents_score.queue == "inference"
    assert (result.created, result.scored, result.pending) == (30, 0, 30)
    assert enqueued == [("monitor_documents_score", (org.id, str(monitor.id)))]
    assert queued == ["pending"] * 30
    assert outcome == {"scored": 30, "deferred": 0}
    assert again == {"scored": 0, "deferred": 0}
    assert _buckets(org, in_org) == [("2026-11-02T09:00:00+00:00", "fraud", "negative", 30)]
    with in_org(org):
        assert UsageEvent.objects.for_org(org).filter(meter="documents_processed").count() == 30


def test_scoring_schedules_the_spike_check_after_commit(
    org, in_org, monitor, fake_models, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ingest(org, monitor, [{"text": "bad"}])

    assert enqueued == [("monitor_spike_check", (org.id, str(monitor.id)))]


def test_monitors_of_another_organization_are_not_reached(org, other_org, in_org, monitor, other_monitor):
    with in_org(other_org):
        visible = list(Document.objects.for_org(other_org).values_list("id", flat=True))
        with pytest.raises(services.Monitor.DoesNotExist):
            services.Monitor.objects.for_org(other_org).get(id=monitor.id)

    assert visible == []


def test_spike_check_task_explains_a_missing_alerts_module(org, monitor, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "apps.sentiment.alerts", None)

    with pytest.raises(ImportError, match="spike_check is missing"):
        tasks.monitor_spike_check(org.id, str(monitor.id))


def test_topics_are_kept_in_order_and_trimmed(org, in_org):
    with in_org(org):
        monitor = services.monitor_create(
            organization=org, actor=Actor.system(), name=" M ", topics=[{"name": " fees ", "description": " d "}]
        )

    assert (monitor.name, monitor.topics) == ("M", [{"name": "fees", "description": "d"}])
    assert TOPICS[0]["name"] == "fraud"
