import json
import shutil
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.core.actors import Actor
from apps.core.storage import artifact_storage
from apps.datasets.models import DatasetVersion
from apps.sentiment import retrain, scoring, services, tasks
from apps.sentiment.models import Document, Monitor, RescoreRun, TrendBucket
from apps.training.models import TrainingJob
from tests.apps.sentiment.conftest import _fake_sentiment, _fake_topic, ingest
from tests.conftest import KeyedClient

TEXTS = [
    "bad fees",
    "bad app",
    "good app",
    "good fees",
    "fraud again",
    "earnings call",
]


def _correct(org, in_org, monitor, document, value, field="sentiment"):
    with in_org(org):
        return services.document_correct(
            organization=org, monitor=monitor, document_id=document.id, actor=Actor.system(), field=field, value=value
        )


def _documents(org, monitor):
    result = ingest(org, monitor, [{"text": text, "external_id": str(i)} for i, text in enumerate(TEXTS)])
    return {document.text: document for document in result.documents}


def test_corrections_become_dataset_rows_with_provenance(org, in_org, monitor, fake_models, enqueued):
    documents = _documents(org, monitor)
    _correct(org, in_org, monitor, documents["bad fees"], "positive")
    first = _correct(org, in_org, monitor, documents["bad app"], "positive")
    _correct(org, in_org, monitor, documents["good app"], "negative")
    _correct(org, in_org, monitor, documents["good fees"], "negative")
    _correct(org, in_org, monitor, documents["fraud again"], "neutral")
    _correct(org, in_org, monitor, documents["earnings call"], "positive")
    latest_bad_app = _correct(org, in_org, monitor, documents["bad app"], "neutral")  # the latest correction wins
    last = _correct(org, in_org, monitor, documents["earnings call"], "positive")  # same value: still the latest

    with in_org(org):
        job = retrain.monitor_training_dataset_create(
            organization=org, monitor=monitor, field="sentiment", actor=Actor.system()
        )
        version = DatasetVersion.objects.for_org(org).select_related("dataset").get(id=job.dataset_version_id)
        saved = Monitor.objects.for_org(org).get(id=monitor.id)
        audit = AuditEntry.objects.for_org(org).get(action="sentiment.retrain_started")
    storage = artifact_storage()
    normalized = storage.get_bytes(organization_id=org.id, key=version.normalized_key).decode().splitlines()
    original = storage.get_bytes(organization_id=org.id, key=version.storage_key).decode().splitlines()

    expected_name = f"acme-news-sentiment-{monitor.id.hex[:8]}"
    assert (job.task, job.model_name, job.strategy, job.status) == (
        "classification",
        expected_name,
        "auto",
        "validating",
    )
    assert saved.sentiment_model_name == expected_name
    assert version.dataset.name == "Acme news — sentiment corrections"
    assert version.dataset.description == f"Corrections of sentiment from the monitor 'Acme news' ({monitor.id})."
    assert (version.version, version.row_count, version.labels) == (1, 6, ["negative", "neutral", "positive"])
    assert sorted((json.loads(line)["text"], json.loads(line)["label"]) for line in normalized) == [
        ("bad app", "neutral"),
        ("bad fees", "positive"),
        ("earnings call", "positive"),
        ("fraud again", "neutral"),
        ("good app", "negative"),
        ("good fees", "negative"),
    ]
    provenance = {json.loads(line)["text"]: json.loads(line) for line in original}
    assert str(first.id) not in {row["correction_id"] for row in provenance.values()}
    assert provenance["bad app"]["correction_id"] == str(latest_bad_app.id)
    assert provenance["bad app"]["document_id"] == str(documents["bad app"].id)
    assert provenance["earnings call"]["correction_id"] == str(last.id)
    assert provenance["earnings call"]["corrected_by"] == Actor.system().label
    assert version.original_filename == f"sentiment-corrections-through-{last.id}.jsonl"
    assert audit.metadata == {
        "field": "sentiment",
        "correction_count": 6,
        "labels": {"positive": 2, "neutral": 2, "negative": 2},
        "through_correction_id": str(last.id),
        "dataset_version_id": str(version.id),
        "training_job_id": str(job.id),
        "model_name": expected_name,
    }


def test_a_second_retrain_is_a_new_version_of_the_same_dataset(org, in_org, monitor, fake_models, enqueued):
    documents = _documents(org, monitor)
    for text, value in [("bad fees", "fraud"), ("bad app", "fraud"), ("good app", "fees"), ("good fees", "fees")]:
        _correct(org, in_org, monitor, documents[text], value, field="topic")

    with in_org(org):
        first = retrain.monitor_training_dataset_create(
            organization=org, monitor=monitor, field="topic", actor=Actor.system()
        )
        second = retrain.monitor_training_dataset_create(
            organization=org, monitor=monitor, field="topic", actor=Actor.system()
        )
        versions = list(
            DatasetVersion.objects.for_org(org).order_by("version").values_list("dataset__name", "version", "row_count")
        )

    assert first.model_name == second.model_name == f"acme-news-topic-{monitor.id.hex[:8]}"
    assert versions == [("Acme news — topic corrections", 1, 4), ("Acme news — topic corrections", 2, 4)]


def test_too_few_corrections_are_refused_with_the_validators_reason(org, in_org, monitor, fake_models, enqueued):
    documents = _documents(org, monitor)
    _correct(org, in_org, monitor, documents["bad fees"], "fraud", field="topic")
    _correct(org, in_org, monitor, documents["bad app"], "fraud", field="topic")
    _correct(org, in_org, monitor, documents["good app"], "fees", field="topic")

    with in_org(org), pytest.raises(services.SentimentError) as refused:
        retrain.monitor_training_dataset_create(organization=org, monitor=monitor, field="topic", actor=Actor.system())

    assert refused.value.code == "too_few_corrections"
    assert refused.value.status == 422
    assert refused.value.message == (
        "Not enough corrections to train a topic model yet: The label 'fees' has only 1 example (line 3); "
        "each label needs at least 2."
    )
    with in_org(org):
        assert (DatasetVersion.objects.count(), TrainingJob.objects.count()) == (0, 0)


def test_sentiment_corrections_must_cover_the_three_sentiments(org, in_org, monitor, fake_models, enqueued):
    documents = _documents(org, monitor)
    _correct(org, in_org, monitor, documents["bad fees"], "positive")

    with in_org(org), pytest.raises(services.SentimentError, match="cover only positive") as refused:
        retrain.monitor_training_dataset_create(
            organization=org, monitor=monitor, field="sentiment", actor=Actor.system()
        )

    assert refused.value.details == {"correction_count": 1, "labels": {"positive": 1}}


def test_automatic_retrain_creates_exactly_one_job_at_the_kth_correction(
    org, in_org, monitor, fake_models, enqueued, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(tasks.monitor_retrain, "delay", lambda *args: sent.append(args))
    with in_org(org):
        services.monitor_update(organization=org, monitor=monitor, actor=Actor.system(), retrain_after_corrections=4)
    documents = _documents(org, monitor)
    corrections = [("bad fees", "fraud"), ("bad app", "fraud"), ("good app", "fees")]

    with django_capture_on_commit_callbacks(execute=True):
        for text, value in corrections:
            _correct(org, in_org, monitor, documents[text], value, field="topic")
    sent_before_k = list(sent)
    with django_capture_on_commit_callbacks(execute=True):
        fourth = _correct(org, in_org, monitor, documents["good fees"], "fees", field="topic")
        _correct(org, in_org, monitor, documents["earnings call"], "earnings", field="topic")
    job_id = tasks.monitor_retrain(*sent[0])
    redelivered = tasks.monitor_retrain(*sent[0])

    assert sent_before_k == []
    assert sent == [(org.id, str(monitor.id), "topic", str(fourth.id))]
    assert redelivered is None
    with in_org(org):
        job = TrainingJob.objects.for_org(org).get()
        version = DatasetVersion.objects.for_org(org).get()
        saved = Monitor.objects.for_org(org).get(id=monitor.id)
    assert str(job.id) == job_id
    assert version.row_count == 4  # the correction after the K-th waits for the next crossing
    assert (saved.topic_corrections_since_retrain, saved.sentiment_corrections_since_retrain) == (1, 0)


def test_automatic_retrain_is_off_by_default(
    org, in_org, monitor, fake_models, enqueued, django_capture_on_commit_callbacks
):
    documents = _documents(org, monitor)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _correct(org, in_org, monitor, documents["bad fees"], "fraud", field="topic")

    assert callbacks == []
    with in_org(org):
        assert Monitor.objects.for_org(org).get(id=monitor.id).topic_corrections_since_retrain == 0


# --- API ------------------------------------------------------------------------------


def test_retrain_api_starts_a_job(org, in_org, monitor, fake_models, enqueued, api_client):
    documents = _documents(org, monitor)
    for text, value in [("bad fees", "fraud"), ("bad app", "fraud"), ("good app", "fees"), ("good fees", "fees")]:
        _correct(org, in_org, monitor, documents[text], value, field="topic")

    response = api_client.post(f"/api/v1/monitors/{monitor.id}/retrain", {"field": "topic"}, format="json")

    assert response.status_code == 201
    with in_org(org):
        job = TrainingJob.objects.for_org(org).get()
    assert response.json() == {
        "training_job_id": str(job.id),
        "model_name": f"acme-news-topic-{monitor.id.hex[:8]}",
        "dataset_version_id": str(job.dataset_version_id),
        "status": "validating",
    }


def test_retrain_api_refuses_too_few_corrections(org, in_org, monitor, api_client):
    response = api_client.post(f"/api/v1/monitors/{monitor.id}/retrain", {"field": "sentiment"}, format="json")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_few_corrections"


@pytest.mark.parametrize("scopes", [["sentiment:write"], ["training"]])
def test_retrain_api_needs_sentiment_write_and_training(org, owner, in_org, monitor, scopes):
    client = KeyedClient(org, scopes=scopes)

    response = client.post(f"/api/v1/monitors/{monitor.id}/retrain", {"field": "topic"}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "missing_scope"
    with in_org(org):
        assert TrainingJob.objects.count() == 0


def test_another_org_cannot_retrain_a_monitor(org, in_org, monitor, other_api_client):
    response = other_api_client.post(f"/api/v1/monitors/{monitor.id}/retrain", {"field": "topic"}, format="json")

    assert response.status_code == 404
    with in_org(org):
        assert TrainingJob.objects.count() == 0


# --- re-score on promotion ------------------------------------------------------------


def _tenant_sentiment_version(org, in_org):
    """`acme-sentiment` v1, active, whose artifact is a real trained head (a copy of the starter)."""
    from tests.factories.datasets import make_dataset_version
    from tests.factories.training import make_job, make_version_row

    job = make_job(org, make_dataset_version(org), model_name="acme-sentiment")
    version = make_version_row(org, job)
    with in_org(org):
        version.labels = ["negative", "neutral", "positive"]
        version.save(update_fields=["labels"])
    shutil.copytree(scoring.starter_model_directory(), artifact_storage().path(org.id, version.artifact_key))
    return version


def _all_neutral(*, monitor, texts):
    scores, _ = _fake_sentiment(monitor=monitor, texts=["" for _ in texts])
    return scores, "starter"


def _buckets(org, in_org):
    with in_org(org):
        rows = TrendBucket.objects.for_org(org).filter(granularity="hour").values_list("sentiment", "count")
        totals = Counter()
        for sentiment, count in rows:
            totals[sentiment] += count
        return dict(totals)


def test_a_new_active_version_rescores_recent_documents_and_moves_buckets(
    org, in_org, monitor, enqueued, monkeypatch, api_client
):
    old = (timezone.now() - timedelta(days=10)).isoformat()
    with monkeypatch.context() as patched:
        patched.setattr(scoring, "sentiment_predict", _all_neutral)
        patched.setattr(scoring, "topic_predict", _fake_topic)
        result = ingest(
            org,
            monitor,
            [
                {"text": "Thieves cloned my debit card and emptied my account"},
                {"text": "The bank collapsed amid fraud charges", "published_at": old},
                {"text": "Fraudsters phished my password"},
            ],
        )
    recent, stale, corrected = result.documents
    _correct(org, in_org, monitor, corrected, "positive")
    version = _tenant_sentiment_version(org, in_org)
    with in_org(org):
        monitor.sentiment_model_name = "acme-sentiment"
        monitor.save()
    before = _buckets(org, in_org)

    runs = retrain.rescore_sweep()
    again = retrain.rescore_sweep()
    run = retrain.rescore_run_execute(organization_id=org.id, run_id=runs[0][1])
    after_run = retrain.rescore_sweep()

    assert before == {"neutral": 2, "positive": 1}
    assert len(runs) == 1
    assert again == []  # one run per monitor and field while it runs
    assert after_run == []  # the monitor now records the version that scored it
    assert (run.field, run.version_label, run.status, run.total, run.done, run.progress) == (
        "sentiment",
        "acme-sentiment v1",
        "succeeded",
        1,
        1,
        1.0,
    )
    with in_org(org):
        documents = {d.id: d for d in Document.objects.for_org(org)}
        saved = Monitor.objects.for_org(org).get(id=monitor.id)
    assert (documents[recent.id].sentiment, documents[recent.id].sentiment_scored_by) == (
        "negative",
        "acme-sentiment v1",
    )
    assert (documents[stale.id].sentiment, documents[stale.id].sentiment_scored_by) == ("neutral", "starter")
    assert (documents[corrected.id].sentiment, documents[corrected.id].sentiment_scored_by) == (
        "positive",
        "correction",
    )
    assert _buckets(org, in_org) == {"neutral": 1, "positive": 1, "negative": 1}
    assert (saved.sentiment_version_id, saved.topic_version_id) == (str(version.id), "")

    response = api_client.get(f"/api/v1/monitors/{monitor.id}")

    assert response.status_code == 200
    rescore = response.json()["rescore"]
    assert rescore["topic"] is None
    assert {key: rescore["sentiment"][key] for key in ("status", "total", "done", "progress", "version_label")} == {
        "status": "succeeded",
        "total": 1,
        "done": 1,
        "progress": 1.0,
        "version_label": "acme-sentiment v1",
    }


def test_another_org_never_sees_the_rescore_runs(org, in_org, monitor, other_org, other_monitor, other_api_client):
    with in_org(org):
        RescoreRun.objects.create(
            organization=org,
            monitor=monitor,
            field="sentiment",
            version_label="acme-sentiment v1",
            since=timezone.now(),
            started_at=timezone.now(),
        )

    hidden = other_api_client.get(f"/api/v1/monitors/{monitor.id}")
    own = other_api_client.get(f"/api/v1/monitors/{other_monitor.id}")

    assert hidden.status_code == 404
    assert own.json()["rescore"] == {"sentiment": None, "topic": None}
    with in_org(other_org):
        assert RescoreRun.objects.count() == 0
