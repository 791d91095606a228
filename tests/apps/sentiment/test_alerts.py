from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from apps.audit.models import AuditEntry
from apps.core.actors import Actor
from apps.sentiment.alerts import spike_alert_acknowledge, spike_alert_list, spike_alert_resolve, spike_check
from apps.sentiment.models import AlertStatus, Document, DocumentStatus, Monitor, SpikeAlert, TrendBucket
from apps.webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 9, 14, 40, tzinfo=UTC)
CURRENT_HOUR = datetime(2026, 3, 9, 14, tzinfo=UTC)
BASELINE_HOURS = 7 * 24 + 5
BASELINE_TEXTS = [
    "the branch queue was slow again",
    "mobile app crashed at login",
    "fees are too high for small accounts",
    "customer support took an hour to answer",
]
SPIKE_TEXTS = [
    "my card freeze notice came without any warning",
    "card freeze again and i cannot pay for groceries",
    "another card freeze while support is not answering",
    "why the card freeze, the bank will not explain",
    "card freeze at the checkout, embarrassing",
]


def _buckets(org, monitor, topic, hour, counts):
    return [
        TrendBucket(
            organization=org,
            monitor=monitor,
            topic=topic,
            sentiment=sentiment,
            granularity="hour",
            bucket_start=hour,
            count=count,
        )
        for sentiment, count in counts.items()
    ]


def _document(org, monitor, text, published_at, index):
    return Document(
        organization=org,
        monitor=monitor,
        external_id=f"doc-{published_at:%Y%m%d%H%M}-{index}",
        text=text,
        url=f"https://news.example/{published_at:%Y%m%d%H%M}/{index}",
        published_at=published_at,
        status=DocumentStatus.SCORED,
        sentiment="negative",
        topic="fraud",
    )


@pytest.fixture
def spiking_monitor(org, in_org):
    """A week of 2 negative in 10 documents an hour per topic, then 15 negative fraud documents this hour."""
    with in_org(org):
        monitor = Monitor.objects.create(
            organization=org,
            name="Acme news",
            topics=[{"name": "fraud", "description": "scams"}, {"name": "fees", "description": "charges"}],
        )
        buckets, documents = [], []
        for offset in range(BASELINE_HOURS, 0, -1):
            hour = CURRENT_HOUR - timedelta(hours=offset)
            for topic in ("fraud", "fees"):
                buckets += _buckets(org, monitor, topic, hour, {"negative": 2, "neutral": 6, "positive": 2})
            if offset % 6 == 0:
                documents.append(_document(org, monitor, BASELINE_TEXTS[offset % 4], hour, 0))
        buckets += _buckets(org, monitor, "fraud", CURRENT_HOUR, {"negative": 15, "neutral": 6, "positive": 2})
        buckets += _buckets(org, monitor, "fees", CURRENT_HOUR, {"negative": 2, "neutral": 5, "positive": 2})
        for index in range(15):
            text = SPIKE_TEXTS[index % 5] if index < 12 else BASELINE_TEXTS[index % 4]
            documents.append(_document(org, monitor, text, CURRENT_HOUR + timedelta(minutes=2 * index), index))
        TrendBucket.objects.bulk_create(buckets)
        Document.objects.bulk_create(documents)
    return monitor


@pytest.fixture
def alert(org, in_org, spiking_monitor):
    with in_org(org):
        return spike_check(monitor=spiking_monitor, now=NOW)[0]


def test_a_spike_creates_one_explained_alert(org, owner, in_org, spiking_monitor, django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=True), in_org(org):
        created = spike_check(monitor=spiking_monitor, now=NOW)

    # then
    assert len(created) == 1
    alert = created[0]
    assert alert.topic == "fraud"
    assert alert.window_start == CURRENT_HOUR
    assert alert.window_end == CURRENT_HOUR + timedelta(hours=1)
    assert alert.current_negative == 15
    assert alert.current_total == 23
    assert alert.baseline_negative_per_hour == 2.0
    assert alert.baseline_negative_share == pytest.approx(0.2, abs=0.001)
    assert alert.score >= 3.0
    assert alert.status == AlertStatus.OPEN
    assert alert.terms[0]["term"] == "card freeze"
    assert alert.terms[0]["current_count"] == 12
    assert alert.terms[0]["baseline_count"] == 0
    assert len(alert.documents) == 3
    assert all("card freeze" in document["text"] for document in alert.documents)
    assert all(document["url"].startswith("https://news.example/") for document in alert.documents)
    assert "rose to 15 in the last hour" in alert.summary
    assert "“card freeze”" in alert.summary
    assert [message.to for message in mail.outbox] == [[owner.email]]
    assert "fraud" in mail.outbox[0].subject
    assert "card freeze" in mail.outbox[0].body
    with in_org(org):
        events = list(WebhookEvent.objects.for_org(org).filter(type="sentiment.spike_detected"))
    assert len(events) == 1
    assert events[0].payload["data"]["id"] == str(alert.id)
    assert events[0].payload["data"]["topic"] == "fraud"
    assert events[0].payload["data"]["current_negative"] == 15


def test_the_same_spike_never_alerts_twice(org, in_org, spiking_monitor):
    # given
    with in_org(org):
        first = spike_check(monitor=spiking_monitor, now=NOW)

    # when: the next batch in the same hour, and the next hours while the wave goes on
    with in_org(org):
        again = spike_check(monitor=spiking_monitor, now=NOW + timedelta(minutes=15))
        TrendBucket.objects.bulk_create(
            _buckets(org, spiking_monitor, "fraud", CURRENT_HOUR + timedelta(hours=1), {"negative": 14})
        )
        next_hour = spike_check(monitor=spiking_monitor, now=NOW + timedelta(hours=1))
        count = SpikeAlert.objects.for_org(org).count()

    # then
    assert len(first) == 1
    assert again == []
    assert next_hour == []
    assert count == 1


def test_no_alert_without_a_spike(org, in_org, spiking_monitor):
    # when: the hour before the spike
    with in_org(org):
        created = spike_check(monitor=spiking_monitor, now=NOW - timedelta(hours=1))

    # then
    assert created == []


def test_acknowledge_and_resolve_are_audited(org, owner, in_org, alert):
    # given
    actor = Actor(via="dashboard", role="owner", user=owner)

    # when
    with in_org(org):
        acknowledged = spike_alert_acknowledge(organization=org, alert_id=alert.id, actor=actor)
        resolved = spike_alert_resolve(organization=org, alert_id=alert.id, actor=actor)
        actions = list(
            AuditEntry.objects.for_org(org)
            .filter(target_id=str(alert.id))
            .order_by("created_at")
            .values_list("action", "actor_label")
        )
        open_alerts = list(spike_alert_list(organization=org, monitor=alert.monitor, status=AlertStatus.OPEN))

    # then
    assert acknowledged.status == AlertStatus.ACKNOWLEDGED
    assert acknowledged.acknowledged_at is not None
    assert resolved.status == AlertStatus.RESOLVED
    assert resolved.resolved_at is not None
    assert resolved.changed_by_label == owner.email
    assert actions == [("spike_alert.acknowledged", owner.email), ("spike_alert.resolved", owner.email)]
    assert open_alerts == []


def test_api_lists_shows_and_acknowledges_alerts(api_client, alert):
    # given
    base = f"/api/v1/monitors/{alert.monitor_id}/alerts"

    # when
    listed = api_client.get(base, {"status": "open"})
    detail = api_client.get(f"{base}/{alert.id}")
    acknowledged = api_client.post(f"{base}/{alert.id}/acknowledge")
    resolved = api_client.post(f"{base}/{alert.id}/resolve")
    still_open = api_client.get(base, {"status": "open"})

    # then
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [str(alert.id)]
    assert detail.status_code == 200
    assert detail.json()["topic"] == "fraud"
    assert detail.json()["terms"][0]["term"] == "card freeze"
    assert len(detail.json()["documents"]) == 3
    assert acknowledged.status_code == 200
    assert acknowledged.json()["status"] == "acknowledged"
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved"
    assert still_open.json()["results"] == []


def test_a_read_only_key_cannot_acknowledge(keyed_client, org, in_org, alert):
    # given
    reader = keyed_client(org, scopes=["sentiment:read"])

    # when
    response = reader.post(f"/api/v1/monitors/{alert.monitor_id}/alerts/{alert.id}/acknowledge")

    # then
    assert response.status_code == 403
    with in_org(org):
        assert SpikeAlert.objects.for_org(org).get(id=alert.id).status == AlertStatus.OPEN


def test_another_organization_cannot_see_or_change_alerts(other_api_client, org, in_org, alert):
    # given
    base = f"/api/v1/monitors/{alert.monitor_id}/alerts"

    # when
    listed = other_api_client.get(base)
    detail = other_api_client.get(f"{base}/{alert.id}")
    acknowledged = other_api_client.post(f"{base}/{alert.id}/acknowledge")
    resolved = other_api_client.post(f"{base}/{alert.id}/resolve")

    # then
    assert [listed.status_code, detail.status_code, acknowledged.status_code, resolved.status_code] == [404] * 4
    with in_org(org):
        unchanged = SpikeAlert.objects.for_org(org).get(id=alert.id)
        audited = AuditEntry.objects.for_org(org).filter(target_id=str(alert.id)).count()
    assert unchanged.status == AlertStatus.OPEN
    assert unchanged.changed_by_label == ""
    assert audited == 0
