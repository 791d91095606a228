"""Sentiment monitoring end to end, through one real Celery worker process over Redis.

Create a monitor and a webhook endpoint with an API key, ingest a batch that the worker
scores on the inference queue, read the trends, get exactly one explained spike alert
and its signed webhook on a local endpoint (and none for more negatives in the same
hour), correct documents, retrain, and see the holdout gate promote only the first
version. The worker scores with the real starter and zero-shot models: for a given
text their labels are deterministic, so the counts below are exact.
"""

import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.conf import settings
from django.utils import timezone

from apps.core.actors import Actor
from apps.core.tenancy import tenant_context
from apps.sentiment import services
from apps.sentiment.models import Document, DocumentStatus, Monitor, SpikeAlert, TrendBucket
from apps.training.models import TrainingJob
from apps.webhooks.recipe import verify_tessera_signature
from tests.workers import WorkerProcess, purge_broker, wait_for

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]

QUEUES = "default,inference,webhooks,training.cpu"
SCOPES = ("sentiment:write", "training", "admin")
TOPICS = [
    {"name": "fraud", "description": "scams, stolen or cloned cards, phishing, identity theft"},
    {"name": "fees", "description": "charges, prices, interest rates and fees"},
]
BASELINE_HOURS = 7 * 24 + 5
# Scored documents stored directly as history: one negative fraud text every 6 hours, and the 30 older ones.
HISTORY = BASELINE_HOURS // 6 + 30
BASELINE_TEXTS = [
    "the branch queue was slow again",
    "mobile app crashed at login",
    "fees are too high for small accounts",
    "customer support took an hour to answer",
]
OPENINGS = [
    "Scammers cloned my card",
    "Fraudsters stole my card details",
    "A phishing text tricked me into giving my PIN",
    "Someone cloned my debit card",
    "Identity thieves used my stolen card",
    "A fake bank call stole my card number",
]
ENDINGS = [
    "and emptied my account, and the bank refuses to refund me.",
    "and the fraud team is useless.",
    "and nobody at the bank cares, appalling.",
    "and the bank ignores my complaints, worst bank ever.",
    "and I lost my savings, furious.",
]
SPIKE_TEXTS = [f"{opening} {ending}" for opening in OPENINGS for ending in ENDINGS]  # 30, all negative fraud
# Older documents (scored neutral by the starter) that a person corrects: the retrain's rows.
TRAINING_TEXTS = {
    "negative": [
        "The app crashed again and I missed my payment, awful.",
        "Hidden fees ate my savings, I am furious.",
        "Support kept me on hold for two hours, terrible.",
        "The overdraft charge was unfair and nobody helped.",
        "My transfer failed three times, worst bank ever.",
        "They closed my account without warning, disgusting.",
        "The new fees are a rip-off and I am leaving.",
        "Rude staff at the branch, horrible experience.",
        "The website is always down, useless bank.",
        "They charged me twice and refuse to refund, appalling.",
    ],
    "neutral": [
        "The branch opens at nine on weekdays.",
        "The bank published its fee schedule for next year.",
        "Interest rates on savings accounts are listed on the website.",
        "The quarterly report comes out on Thursday.",
        "The app update is available in the store.",
        "Statements are sent on the first of each month.",
        "The bank has branches in twelve cities.",
        "Card limits can be changed in the settings page.",
        "The call centre number is on the back of the card.",
        "The bank moved its head office last year.",
    ],
    "positive": [
        "I love the lower interest rate on my mortgage, fantastic.",
        "Thank you for refunding the charge so quickly, excellent service.",
        "The new app is fast and easy, great job.",
        "Friendly staff helped me open an account, wonderful.",
        "No monthly fees at all, I am delighted.",
        "Best savings rate in town, very happy.",
        "Support solved my problem in minutes, brilliant.",
        "The mortgage process was smooth and pleasant.",
        "Great cashback offer on my card, love it.",
        "The bank made budgeting easy, highly recommend.",
    ],
}


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def listener():
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/tessera"
    server.shutdown()
    server.server_close()


@pytest.fixture
def worker(settings):
    purge_broker()
    env = {
        "ARTIFACT_ROOT": str(settings.ARTIFACT_ROOT),
        "ARTIFACT_CACHE_DIR": str(settings.ARTIFACT_CACHE_DIR),
        "TRAINING_HEARTBEAT_SECONDS": "1",
        "WEBHOOK_RETRY_BASE_SECONDS": "1",
    }
    process = WorkerProcess(queues=QUEUES, name="sentiment-e2e", env=env).start()
    yield process
    process.stop()


def _current_hour_with_time_to_spare(spare=timedelta(minutes=2)):
    """The current UTC hour, after waiting for the next one when fewer than `spare` remain:
    the spike and the cooldown check must fall in the hour the baseline was built for."""
    now = timezone.now()
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    left = hour + timedelta(hours=1) - now
    time.sleep(left.total_seconds() + 1 if left < spare else 0)
    return timezone.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _baseline(org, monitor, current_hour):
    """A week of 2 negative in 10 documents an hour per topic (bucket rows, as the scorer keeps them),
    a few negative fraud documents of that week, and the older documents corrected later."""
    buckets, documents = [], []
    for offset in range(BASELINE_HOURS, 0, -1):
        hour = current_hour - timedelta(hours=offset)
        for topic in ("fraud", "fees"):
            for sentiment, count in {"negative": 2, "neutral": 6, "positive": 2}.items():
                buckets.append(
                    TrendBucket(
                        organization=org,
                        monitor=monitor,
                        topic=topic,
                        sentiment=sentiment,
                        granularity="hour",
                        bucket_start=hour,
                        count=count,
                    )
                )
        if offset % 6 == 0:
            documents.append(
                _scored(org, monitor, f"base-{offset}", BASELINE_TEXTS[offset % 4], hour, "fraud", "negative")
            )
    older = [text for texts in TRAINING_TEXTS.values() for text in texts]
    for index, text in enumerate(older):
        published_at = current_hour - timedelta(hours=index + 2, minutes=-30)
        documents.append(_scored(org, monitor, f"older-{index:02d}", text, published_at, "fees", "neutral"))
    TrendBucket.objects.bulk_create(buckets)
    Document.objects.bulk_create(documents)
    return {document.text: document for document in documents if document.external_id.startswith("older-")}


def _scored(org, monitor, external_id, text, published_at, topic, sentiment):
    return Document(
        organization=org,
        monitor=monitor,
        external_id=external_id,
        text=text,
        published_at=published_at,
        status=DocumentStatus.SCORED,
        topic=topic,
        sentiment=sentiment,
        sentiment_scored_by="starter",
        topic_scored_by="zero-shot",
    )


def _batch(prefix, current_hour):
    return [
        {
            "external_id": f"{prefix}-{index:02d}",
            "text": text,
            "url": f"https://news.example/{prefix}/{index}",
            "published_at": (current_hour + timedelta(seconds=index)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for index, text in enumerate(SPIKE_TEXTS)
    ]


# Polls read the database: the API key's rate limit is for the assertions' requests.
def _scored_count(org, monitor_id):
    with tenant_context(org.id):
        return Document.objects.for_org(org).filter(monitor_id=monitor_id, status=DocumentStatus.SCORED).count()


def _alert_count(org):
    with tenant_context(org.id):
        return SpikeAlert.objects.for_org(org).count()


def _job_finished(org, job_id):
    with tenant_context(org.id):
        return TrainingJob.objects.for_org(org).get(id=job_id).is_terminal


def _spike_checks(worker):
    """What each spike check on the worker returned (the alerts it created), in order."""
    return re.findall(r"monitor_spike_check\[[0-9a-f-]+\] succeeded in [0-9.]+s: (\d+)", worker.output)


def _this_hour(client, monitor_id, current_hour):
    since = current_hour.strftime("%Y-%m-%dT%H:%M:%SZ")
    response = client.get(f"/api/v1/monitors/{monitor_id}/documents", {"since": since, "limit": 200})
    assert response.status_code == 200, response.json()
    return {document["external_id"]: document for document in response.json()["results"]}


def _hour_trends(client, monitor_id, current_hour):
    since = current_hour.strftime("%Y-%m-%dT%H:%M:%SZ")
    response = client.get(f"/api/v1/monitors/{monitor_id}/trends", {"granularity": "hour", "since": since})
    assert response.status_code == 200, response.json()
    body = response.json()
    return (
        [(point["topic"], point["sentiment"], point["count"]) for point in body["series"]],
        [{key: value for key, value in total.items() if key != "bucket_start"} for total in body["totals"]],
    )


def _retrain(org, client, monitor_id, worker):
    response = client.post(f"/api/v1/monitors/{monitor_id}/retrain", {"field": "sentiment"}, format="json")
    assert response.status_code == 201, response.json()
    job_id = response.json()["training_job_id"]

    assert wait_for(lambda: _job_finished(org, job_id), timeout=120, interval=0.5), worker.output
    job = client.get(f"/api/v1/training-jobs/{job_id}").json()
    assert job["status"] == "succeeded", job["error"]
    return response.json(), client.get(f"/api/v1/models/{job['model_version_id']}").json()


def test_monitor_ingest_alert_webhook_correct_and_retrain(org, in_org, keyed_client, listener, worker):
    # given: a monitor and a webhook endpoint made with an API key, and a quiet week behind
    assert len(SPIKE_TEXTS) > settings.SENTIMENT_SYNC_SCORE_MAX  # so each batch is scored on the worker
    current_hour = _current_hour_with_time_to_spare()
    client = keyed_client(org, scopes=SCOPES)
    created = client.post("/api/v1/monitors", {"name": "Acme news", "topics": TOPICS}, format="json")
    assert created.status_code == 201, created.json()
    monitor_id = created.json()["id"]
    endpoint = client.post(
        "/api/v1/webhook-endpoints", {"url": listener, "event_types": ["sentiment.spike_detected"]}, format="json"
    )
    assert endpoint.status_code == 201, endpoint.json()
    secret = endpoint.json()["secret"]
    with in_org(org):
        monitor = Monitor.objects.for_org(org).get(id=monitor_id)
        older = _baseline(org, monitor, current_hour)

    # when: a batch too large to score in the request arrives, all negative about fraud
    ingested = client.post(
        f"/api/v1/monitors/{monitor_id}/documents", {"documents": _batch("spike", current_hour)}, format="json"
    )

    # then: the worker scores it, the trends show it, and one explained alert fires
    assert ingested.status_code == 201, ingested.json()
    counts = {
        key: ingested.json()[key] for key in ("created", "duplicates", "rejected", "deferred", "scored", "pending")
    }
    assert counts == {"created": 30, "duplicates": 0, "rejected": 0, "deferred": 0, "scored": 0, "pending": 30}

    assert wait_for(lambda: _scored_count(org, monitor_id) == HISTORY + 30, timeout=60), worker.output
    assert client.get(f"/api/v1/monitors/{monitor_id}").json()["document_counts"] == {
        "pending": 0,
        "deferred": 0,
        "scored": HISTORY + 30,
        "failed": 0,
    }
    scored = _this_hour(client, monitor_id, current_hour)
    assert len(scored) == 30
    assert {(d["status"], d["topic"], d["sentiment"], d["sentiment_scored_by"]) for d in scored.values()} == {
        ("scored", "fraud", "negative", "starter")
    }
    assert _hour_trends(client, monitor_id, current_hour) == (
        [("fraud", "negative", 30)],
        [{"total": 30, "negative": 30, "neutral": 0, "positive": 0, "negative_share": 1.0}],
    )

    def alerts():
        response = client.get(f"/api/v1/monitors/{monitor_id}/alerts")
        assert response.status_code == 200, response.json()
        return response.json()["results"]

    assert wait_for(lambda: _alert_count(org) == 1, timeout=60), worker.output
    assert wait_for(lambda: len(_Receiver.received) == 1, timeout=60), worker.output
    [alert] = alerts()
    assert (alert["topic"], alert["status"]) == ("fraud", "open")
    assert datetime.fromisoformat(alert["window_start"]) == current_hour
    assert datetime.fromisoformat(alert["window_end"]) == current_hour + timedelta(hours=1)
    assert (alert["current_negative"], alert["current_total"]) == (30, 30)
    assert alert["baseline_negative_per_hour"] == 2.0
    assert alert["baseline_negative_share"] == pytest.approx(0.2, abs=0.001)
    assert alert["score"] >= 3.0
    assert [(term["term"], term["current_count"], term["baseline_count"]) for term in alert["terms"][:4]] == [
        ("card", 25, 0),
        ("bank", 20, 0),
        ("cloned", 10, 0),
        ("stole", 10, 0),
    ]
    assert len(alert["documents"]) == 3
    assert all(document["text"] in SPIKE_TEXTS for document in alert["documents"])
    assert "rose to 30 in the last hour" in alert["summary"]
    assert "Rising in the negative documents: “card”, “bank”, “cloned”, “stole”." in alert["summary"]
    headers, body = _Receiver.received[0]
    assert verify_tessera_signature(body, headers["Tessera-Signature"], secret) > 0
    payload = json.loads(body)
    assert payload["type"] == "sentiment.spike_detected"
    assert (payload["data"]["id"], payload["data"]["topic"], payload["data"]["current_negative"]) == (
        alert["id"],
        "fraud",
        30,
    )

    # when: more negatives in the same hour (inside the cooldown)
    again = client.post(
        f"/api/v1/monitors/{monitor_id}/documents", {"documents": _batch("more", current_hour)}, format="json"
    )

    # then: scored on the worker (its spike check is asserted at the end)
    assert again.status_code == 201 and again.json()["pending"] == 30, again.json()
    assert wait_for(lambda: _scored_count(org, monitor_id) == HISTORY + 60, timeout=60), worker.output

    # when: a person corrects documents through the API, and older ones through the service
    spike_documents = _this_hour(client, monitor_id, current_hour)
    first, second = spike_documents["spike-00"], spike_documents["spike-01"]
    sentiment_fix = client.post(
        f"/api/v1/monitors/{monitor_id}/documents/{first['id']}/corrections",
        {"field": "sentiment", "value": "neutral"},
        format="json",
    )
    topic_fix = client.post(
        f"/api/v1/monitors/{monitor_id}/documents/{second['id']}/corrections",
        {"field": "topic", "value": "fees"},
        format="json",
    )

    # then: the corrections are recorded and the trend counts move with them
    assert sentiment_fix.status_code == 201, sentiment_fix.json()
    assert (sentiment_fix.json()["previous_value"], sentiment_fix.json()["value"]) == ("negative", "neutral")
    assert topic_fix.status_code == 201, topic_fix.json()
    assert (topic_fix.json()["previous_value"], topic_fix.json()["value"]) == ("fraud", "fees")
    assert _hour_trends(client, monitor_id, current_hour) == (
        [("fees", "negative", 1), ("fraud", "negative", 58), ("fraud", "neutral", 1)],
        [{"total": 60, "negative": 59, "neutral": 1, "positive": 0, "negative_share": round(59 / 60, 6)}],
    )

    # when: enough corrections of the three sentiments, then a retrain, then another on the same data
    with in_org(org):
        for label, texts in TRAINING_TEXTS.items():
            for text in texts:
                services.document_correct(
                    organization=org,
                    monitor=monitor,
                    document_id=older[text].id,
                    actor=Actor.system(),
                    field="sentiment",
                    value=label,
                )
    started, first_version = _retrain(org, client, monitor_id, worker)
    _, second_version = _retrain(org, client, monitor_id, worker)

    # then: the first version of the model is promoted; the second, no better on the holdout, waits
    model_name = f"acme-news-sentiment-{monitor.id.hex[:8]}"
    assert (started["model_name"], started["status"]) == (model_name, "validating")
    assert client.get(f"/api/v1/monitors/{monitor_id}").json()["sentiment_model_name"] == model_name
    assert (first_version["name"], first_version["version"], first_version["is_active"]) == (model_name, 1, True)
    assert first_version["labels"] == ["negative", "neutral", "positive"]
    assert first_version["promotion_note"] == "Activated automatically: the first version of this model."
    assert first_version["holdout_metrics"]["accuracy"] == 0.75
    assert (second_version["name"], second_version["version"], second_version["is_active"]) == (model_name, 2, False)
    assert second_version["holdout_metrics"]["accuracy"] == 0.75
    assert second_version["promotion_note"] == (
        "Waiting for review: holdout accuracy 0.7500 does not beat the active v1's 0.7500."
    )
    assert client.get(f"/api/v1/models/{first_version['id']}").json()["is_active"] is True
    # and the second batch's spike check, inside the cooldown, made no second alert nor webhook
    assert wait_for(lambda: len(_spike_checks(worker)) == 2, timeout=30), worker.output
    assert _spike_checks(worker) == ["1", "0"]
    assert _alert_count(org) == 1
    assert [a["id"] for a in alerts()] == [alert["id"]]
    assert len(_Receiver.received) == 1
