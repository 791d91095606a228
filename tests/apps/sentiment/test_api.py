from datetime import UTC, datetime, timedelta

import pytest

from apps.audit.models import AuditEntry
from apps.sentiment.models import Correction, Document, Monitor, TrendBucket
from tests.apps.sentiment.conftest import TOPICS

pytestmark = pytest.mark.django_db

T = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def writer(org, owner, keyed_client):
    return keyed_client(org, scopes=["sentiment:write"])


@pytest.fixture
def reader(org, owner, keyed_client):
    return keyed_client(org, scopes=["sentiment:read"])


def _error(response):
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


def _documents(monitor, rows, client):
    return client.post(f"/api/v1/monitors/{monitor.id}/documents", {"documents": rows}, format="json")


def test_create_get_update_delete_a_monitor(writer, org, in_org):
    created = writer.post("/api/v1/monitors", {"name": "News", "topics": TOPICS}, format="json")
    monitor_id = created.json()["id"]

    read = writer.get(f"/api/v1/monitors/{monitor_id}")
    updated = writer.patch(f"/api/v1/monitors/{monitor_id}", {"description": "Press"}, format="json")
    listed = writer.get("/api/v1/monitors")
    deleted = writer.delete(f"/api/v1/monitors/{monitor_id}")

    assert created.status_code == 201
    assert created.json()["document_counts"] == {"pending": 0, "deferred": 0, "scored": 0, "failed": 0}
    assert read.json()["topics"] == TOPICS
    assert updated.json()["description"] == "Press"
    assert [item["id"] for item in listed.json()["results"]] == [monitor_id]
    assert deleted.status_code == 204
    with in_org(org):
        assert Monitor.objects.for_org(org).count() == 0
        actions = AuditEntry.objects.for_org(org).filter(action__startswith="sentiment.").order_by("created_at")
        assert list(actions.values_list("action", flat=True)) == [
            "sentiment.monitor_created",
            "sentiment.monitor_updated",
            "sentiment.monitor_deleted",
        ]


def test_duplicate_topic_names_are_a_400_with_a_clear_message(writer, org, in_org):
    response = writer.post(
        "/api/v1/monitors", {"name": "News", "topics": [{"name": "fees"}, {"name": "fees"}]}, format="json"
    )

    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_topics"
    assert "unique" in _error(response)["message"]
    with in_org(org):
        assert Monitor.objects.for_org(org).count() == 0


def test_a_read_key_cannot_write(reader, monitor, org, in_org):
    created = reader.post("/api/v1/monitors", {"name": "News", "topics": TOPICS}, format="json")
    ingested = _documents(monitor, [{"text": "x"}], reader)
    listed = reader.get(f"/api/v1/monitors/{monitor.id}/documents")

    assert (created.status_code, ingested.status_code, listed.status_code) == (403, 403, 200)
    assert _error(created)["code"] == "missing_scope"
    with in_org(org):
        assert Document.objects.for_org(org).count() == 0


def test_ingest_reports_row_errors_and_keeps_good_rows(writer, monitor, fake_models, enqueued):
    rows = [
        {"text": "bad fees", "published_at": T.isoformat(), "external_id": "e1"},
        {"text": ""},
        {"text": "good app", "published_at": (T + timedelta(hours=1)).isoformat()},
    ]

    response = _documents(monitor, rows, writer)
    replay = _documents(monitor, rows[:1], writer)

    body = response.json()
    assert response.status_code == 201
    assert {key: body[key] for key in ("created", "duplicates", "rejected", "deferred", "scored", "pending")} == {
        "created": 2,
        "duplicates": 0,
        "rejected": 1,
        "deferred": 0,
        "scored": 2,
        "pending": 0,
    }
    assert body["errors"] == [{"index": 1, "field": "text", "message": "The text is required and must not be empty."}]
    assert body["deferral"] is None
    assert [(d["sentiment"], d["topic"], d["status"]) for d in body["documents"]] == [
        ("negative", "fees", "scored"),
        ("positive", "app", "scored"),
    ]
    assert (replay.json()["created"], replay.json()["duplicates"]) == (0, 1)


def test_more_than_1000_documents_is_a_400(writer, monitor):
    response = _documents(monitor, [{"text": "x"}] * 1001, writer)

    assert response.status_code == 400
    assert _error(response)["code"] == "validation_error"


def test_deferred_documents_are_explained_in_the_response(writer, org, in_org, monitor, fake_models, enqueued):
    from apps.metering.services import usage_event_record

    with in_org(org):
        usage_event_record(organization=org, meter="documents_processed", quantity=1000, idempotency_key="k")

    response = _documents(monitor, [{"text": "good"}], writer)
    detail = writer.get(f"/api/v1/monitors/{monitor.id}")

    body = response.json()
    assert (response.status_code, body["created"], body["deferred"], body["scored"]) == (201, 1, 1, 0)
    assert body["deferral"]["meter"] == "documents_processed"
    assert body["deferral"]["limit"] == "1000"
    assert "resets on" in body["deferral"]["message"]
    assert detail.json()["document_counts"]["deferred"] == 1


def test_documents_list_filters_and_detail(writer, monitor, fake_models, enqueued):
    _documents(
        monitor,
        [
            {"text": "bad fees", "published_at": T.isoformat()},
            {"text": "good app", "published_at": (T + timedelta(days=1)).isoformat()},
            {"text": "Bad fraud", "published_at": (T + timedelta(days=2)).isoformat()},
        ],
        writer,
    )
    base = f"/api/v1/monitors/{monitor.id}/documents"

    negative = writer.get(base, {"sentiment": "negative"}).json()["results"]
    fraud = writer.get(base, {"topic": "fraud"}).json()["results"]
    since = writer.get(base, {"since": (T + timedelta(hours=1)).isoformat()}).json()["results"]
    until = writer.get(base, {"until": (T + timedelta(hours=1)).isoformat()}).json()["results"]
    text = writer.get(base, {"q": "FRAUD"}).json()["results"]
    scored = writer.get(base, {"status": "scored"}).json()["results"]
    bad_filter = writer.get(base, {"sentiment": "angry"})
    detail = writer.get(f"{base}/{fraud[0]['id']}")

    assert sorted(d["text"] for d in negative) == ["Bad fraud", "bad fees"]
    assert [d["text"] for d in fraud] == ["Bad fraud"]
    assert sorted(d["text"] for d in since) == ["Bad fraud", "good app"]
    assert [d["text"] for d in until] == ["bad fees"]
    assert [d["text"] for d in text] == ["Bad fraud"]
    assert len(scored) == 3
    assert bad_filter.status_code == 400
    assert detail.json()["topic"] == "fraud"


def test_correction_moves_trend_counts_and_records_who(writer, org, in_org, monitor, fake_models, enqueued):
    body = _documents(monitor, [{"text": "bad fees", "published_at": T.isoformat()}], writer).json()
    document_id = body["documents"][0]["id"]
    path = f"/api/v1/monitors/{monitor.id}/documents/{document_id}/corrections"

    response = writer.post(path, {"field": "topic", "value": "app"}, format="json")
    invalid = writer.post(path, {"field": "sentiment", "value": "angry"}, format="json")
    trends = writer.get(
        f"/api/v1/monitors/{monitor.id}/trends",
        {"granularity": "hour", "since": T.isoformat(), "until": (T + timedelta(hours=2)).isoformat()},
    )

    assert response.status_code == 201
    assert (response.json()["previous_value"], response.json()["value"]) == ("fees", "app")
    assert response.json()["corrected_by_label"].startswith("API key")
    assert invalid.status_code == 400 and _error(invalid)["code"] == "invalid_correction"
    assert trends.json()["series"] == [
        {"bucket_start": "2026-11-02T09:00:00Z", "topic": "app", "sentiment": "negative", "count": 1}
    ]
    with in_org(org):
        assert Correction.objects.for_org(org).count() == 1
        assert AuditEntry.objects.for_org(org).filter(action="sentiment.document_corrected").count() == 1
        assert TrendBucket.objects.for_org(org).get(granularity="hour", topic="fees").count == 0


def test_trends_series_totals_and_negative_share(writer, monitor, fake_models, enqueued):
    _documents(
        monitor,
        [
            {"text": "bad fees", "published_at": T.isoformat()},
            {"text": "bad app", "published_at": T.isoformat()},
            {"text": "good app", "published_at": T.isoformat()},
            {"text": "fees", "published_at": (T + timedelta(days=1)).isoformat()},
        ],
        writer,
    )

    response = writer.get(
        f"/api/v1/monitors/{monitor.id}/trends",
        {"granularity": "day", "since": T.isoformat(), "until": (T + timedelta(days=3)).isoformat()},
    )
    only_app = writer.get(
        f"/api/v1/monitors/{monitor.id}/trends",
        {"granularity": "day", "since": T.isoformat(), "until": (T + timedelta(days=3)).isoformat(), "topic": "app"},
    )

    body = response.json()
    assert body["totals"] == [
        {"bucket_start": "2026-11-02T00:00:00Z", "total": 3, "negative": 2, "neutral": 0, "positive": 1,
         "negative_share": 0.666667},
        {"bucket_start": "2026-11-03T00:00:00Z", "total": 1, "negative": 0, "neutral": 1, "positive": 0,
         "negative_share": 0.0},
    ]  # fmt: skip
    assert len(body["series"]) == 4
    assert {point["topic"] for point in only_app.json()["series"]} == {"app"}


def test_trends_refuse_too_many_buckets(writer, monitor):
    response = writer.get(
        f"/api/v1/monitors/{monitor.id}/trends",
        {"granularity": "hour", "since": "2020-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    )

    assert response.status_code == 400
    assert _error(response)["code"] == "range_too_large"
    assert _error(response)["details"]["limit"] == 2000


def test_other_org_cannot_read_or_change_a_monitors_data(
    writer, other_api_client, org, in_org, monitor, other_monitor, fake_models, enqueued
):
    document_id = _documents(monitor, [{"text": "bad fees"}], writer).json()["documents"][0]["id"]
    base = f"/api/v1/monitors/{monitor.id}"

    responses = [
        other_api_client.get(base),
        other_api_client.patch(base, {"name": "Taken"}, format="json"),
        other_api_client.get(f"{base}/documents"),
        other_api_client.get(f"{base}/documents/{document_id}"),
        _documents(monitor, [{"text": "x"}], other_api_client),
        other_api_client.post(
            f"{base}/documents/{document_id}/corrections", {"field": "topic", "value": "app"}, format="json"
        ),
        other_api_client.get(f"{base}/trends"),
        other_api_client.get(f"/api/v1/monitors/{other_monitor.id}/documents/{document_id}"),
        other_api_client.delete(base),
    ]
    listed = other_api_client.get("/api/v1/monitors").json()["results"]

    assert [response.status_code for response in responses] == [404] * 9
    assert [item["id"] for item in listed] == [str(other_monitor.id)]
    with in_org(org):
        document = Document.objects.for_org(org).get(id=document_id)
        assert (Monitor.objects.for_org(org).get().name, document.topic) == ("Acme news", "fees")
        assert Document.objects.for_org(org).count() == 1


def test_a_plan_without_sentiment_monitoring_gets_402_and_nothing_is_stored(api_client, org, in_org):
    from apps.sentiment.models import Document, Monitor
    from tests.factories.billing import set_overrides

    with in_org(org):
        monitor = Monitor.objects.create(organization=org, name="News", topics=[{"name": "fees", "description": ""}])
    set_overrides(org, products=["support"])

    created = api_client.post("/api/v1/monitors", {"name": "Press", "topics": [{"name": "fraud"}]}, format="json")
    ingested = api_client.post(
        f"/api/v1/monitors/{monitor.id}/documents", {"documents": [{"text": "Fees went up"}]}, format="json"
    )

    assert (created.status_code, ingested.status_code) == (402, 402)
    assert created.json()["error"]["code"] == "plan_limit_reached"
    assert created.json()["error"]["details"] == {"entitlement": "products", "product": "sentiment"}
    with in_org(org):
        assert (Monitor.objects.count(), Document.objects.count()) == (1, 0)
