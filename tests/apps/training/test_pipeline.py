"""The job pipeline in this process (validate → run), with real training on tiny data.

`transaction=True`: the runner commits as it goes and its heartbeat thread uses its own
database connection, exactly as on a worker.
"""

import pytest
from django.conf import settings

from apps.audit.models import AuditEntry
from apps.core.actors import Actor
from apps.core.tenancy import tenant_context
from apps.metering.models import UsageEvent
from apps.training import runner, services
from apps.training.models import Holdout, JobStatus, ModelVersion, TrainingJob, TrainingJobEvent
from apps.webhooks.models import WebhookEvent
from tests.factories.accounts import MembershipFactory, OrganizationFactory
from tests.factories.api_keys import make_api_key

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tenant(db):
    organization = OrganizationFactory(name="Pipeline Bank")
    MembershipFactory(organization=organization, role="owner")
    return organization


def _start(organization, dataset_version, **options):
    with tenant_context(organization.id):
        job = services.training_job_create(
            organization=organization,
            actor=Actor.system(),
            task=options.pop("task", "classification"),
            dataset_version=dataset_version,
            model_name=options.pop("model_name", "support-intent"),
            strategy=options.pop("strategy", "head"),
            hyperparameters=options.pop("hyperparameters", None),
            validation_dataset_version=options.pop("validation_dataset_version", None),
        )
    return job


def _run(organization, job):
    """What the two Celery tasks do, in order."""
    runner.training_job_validate(organization_id=organization.id, job_id=job.id)
    with tenant_context(organization.id):
        job = TrainingJob.objects.get(id=job.id)
    if job.status == JobStatus.QUEUED:
        runner.training_job_run(organization_id=organization.id, job_id=job.id, attempt=job.attempt)
    with tenant_context(organization.id):
        return TrainingJob.objects.get(id=job.id)


def test_a_head_job_succeeds_with_one_active_version(tenant, make_dataset):
    dataset_version = make_dataset(tenant)
    job = _start(tenant, dataset_version)

    job = _run(tenant, job)

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress == 1.0 and job.queue == "training.cpu" and job.device == "cpu"
    assert job.cpu_seconds > 0 and job.gpu_seconds == 0
    assert job.history and job.history[-1]["epoch"] >= 1
    with tenant_context(tenant.id):
        version = ModelVersion.objects.get(job=job)
        holdout = Holdout.objects.get(name="support-intent")
        levels = list(TrainingJobEvent.objects.filter(job=job).values_list("kind", flat=True))
        usage = sorted(UsageEvent.objects.values_list("meter", flat=True))
        storage = UsageEvent.objects.filter(meter="storage_mb").order_by("occurred_at").last().quantity
        webhook_types = list(WebhookEvent.objects.values_list("type", flat=True).order_by("type"))
    assert version.version == 1 and version.is_active
    assert version.promotion_note == "Activated automatically: the first version of this model."
    assert sorted(version.labels) == ["card_lost", "opening_hours", "transfer_fees"]
    assert 0 < len(holdout.examples) < 36
    assert set(version.holdout_metrics) >= {"accuracy", "macro_f1"}
    assert 0.0 <= version.suggested_threshold <= 1.0
    assert "metrics" in levels
    # The dataset upload and the new model version each record the storage level.
    assert usage == ["storage_mb", "storage_mb", "training_minutes_cpu"]
    expected_mb = (dataset_version.size_bytes + version.artifact_size_bytes) / (1024 * 1024)
    assert float(storage) == pytest.approx(expected_mb, abs=1e-6)
    assert webhook_types == ["model_version.activated", "training_job.succeeded"]
    artifact = settings.ARTIFACT_ROOT / f"org/{tenant.id}" / version.artifact_key
    assert (artifact / "manifest.json").exists()


def test_a_version_that_does_not_beat_the_holdout_waits_then_promote_and_rollback(tenant, make_dataset):
    dataset_version = make_dataset(tenant)
    first = _run(tenant, _start(tenant, dataset_version))
    # One epoch of the head at a tiny learning rate cannot beat a trained head.
    weak = _run(tenant, _start(tenant, dataset_version, hyperparameters={"epochs": 1, "learning_rate": 1e-6}))

    assert first.status == weak.status == JobStatus.SUCCEEDED
    with tenant_context(tenant.id):
        v1 = ModelVersion.objects.get(job=first)
        v2 = ModelVersion.objects.get(job=weak)
    assert v2.version == 2 and not v2.is_active and v1.is_active
    assert v2.promotion_note.startswith("Waiting for review: holdout accuracy")

    with tenant_context(tenant.id):
        promoted = services.model_version_promote(organization=tenant, version=v2, actor=Actor.system())
        rolled_back = services.model_version_rollback(organization=tenant, name="support-intent", actor=Actor.system())
        actions = list(AuditEntry.objects.filter(action__startswith="model_version.").values_list("action", flat=True))

    assert promoted.id == v2.id and promoted.is_active
    assert rolled_back.id == v1.id and rolled_back.is_active
    assert sorted(actions) == sorted(
        ["model_version.created", "model_version.created", "model_version.promoted", "model_version.rolled_back"]
    )


def test_predict_answers_calibrated_labels_and_meters_each_text(tenant, make_dataset):
    from rest_framework.test import APIClient

    job = _run(tenant, _start(tenant, make_dataset(tenant)))
    _, secret = make_api_key(tenant, scopes=["training"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    response = client.post(
        "/api/v1/predict",
        {"model": "support-intent", "texts": ["I lost my card on the bus", "Are you open on Sunday?"]},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["model_version"]["training_job_id"] == str(job.id)
    predictions = body["predictions"]
    assert [prediction["label"] for prediction in predictions] == ["card_lost", "opening_hours"]
    for prediction in predictions:
        assert abs(sum(prediction["probabilities"].values()) - 1) < 1e-3
        assert prediction["confidence"] == max(prediction["probabilities"].values())
        assert isinstance(prediction["is_unsure"], bool)
    with tenant_context(tenant.id):
        usage = UsageEvent.objects.get(meter="api_predictions")
    assert usage.quantity == 2


def test_a_job_that_cannot_train_fails_with_a_readable_error(tenant, make_dataset):
    from tests.apps.training.data import CARD_LOST, TRANSFER_FEES, labelled_csv

    training = make_dataset(tenant)
    # The validation set asks about a label the training data never shows.
    validation = make_dataset(
        tenant, name="other-labels", data=labelled_csv({"card_lost": CARD_LOST[:3], "mortgages": TRANSFER_FEES[:3]})
    )
    job = _run(tenant, _start(tenant, training, validation_dataset_version=validation))

    assert job.status == JobStatus.FAILED
    assert job.error == {
        "code": "validation_labels_unknown",
        "message": "The validation dataset has labels the training data lacks: mortgages.",
    }
    with tenant_context(tenant.id):
        assert not ModelVersion.objects.filter(job=job).exists()
        assert TrainingJobEvent.objects.filter(job=job, level="error").count() == 1
        assert list(WebhookEvent.objects.values_list("type", flat=True)) == ["training_job.failed"]


def test_a_stale_message_does_nothing(tenant, make_dataset):
    job = _run(tenant, _start(tenant, make_dataset(tenant)))

    runner.training_job_run(organization_id=tenant.id, job_id=job.id, attempt=job.attempt)

    with tenant_context(tenant.id):
        assert ModelVersion.objects.count() == 1
        assert TrainingJob.objects.get(id=job.id).status == JobStatus.SUCCEEDED


def test_jobs_beyond_the_concurrency_limit_wait_their_turn(tenant, make_dataset, settings):
    dataset_version = make_dataset(tenant)
    first, second = _start(tenant, dataset_version), _start(tenant, dataset_version)

    runner.training_job_validate(organization_id=tenant.id, job_id=first.id)
    runner.training_job_validate(organization_id=tenant.id, job_id=second.id)

    with tenant_context(tenant.id):
        first, second = TrainingJob.objects.get(id=first.id), TrainingJob.objects.get(id=second.id)
    assert first.status == second.status == JobStatus.QUEUED
    assert first.dispatched_at is not None and first.attempt == 1
    assert second.dispatched_at is None and second.attempt == 0
    # When the first finishes, the second is dispatched.
    runner.training_job_run(organization_id=tenant.id, job_id=first.id, attempt=1)
    with tenant_context(tenant.id):
        second = TrainingJob.objects.get(id=second.id)
    assert second.dispatched_at is not None and second.attempt == 1


def test_a_retrieval_job_fine_tunes_on_text_pairs_and_reports_ranking_metrics(tenant, make_dataset):
    from rest_framework.test import APIClient

    from tests.apps.training.data import pairs_jsonl

    pairs = make_dataset(tenant, name="faq", kind="text_pairs", data=pairs_jsonl(), filename="faq.jsonl")
    job = _run(
        tenant,
        _start(tenant, pairs, task="retrieval", model_name="faq", strategy="lora", hyperparameters={"epochs": 2}),
    )

    assert job.status == JobStatus.SUCCEEDED, job.error
    with tenant_context(tenant.id):
        version = ModelVersion.objects.get(job=job)
    assert version.task == "retrieval" and version.is_active
    assert {"mrr", "recall_at_1"} <= set(version.metrics)
    assert {"mrr", "recall_at_1"} <= set(version.holdout_metrics)
    _, secret = make_api_key(tenant, scopes=["training"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.post(f"/api/v1/models/{version.id}/predict", {"texts": ["hello"]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_task"


def test_a_version_built_on_another_base_model_is_refused_clearly(tenant, make_dataset):
    import json

    from rest_framework.test import APIClient

    job = _run(tenant, _start(tenant, make_dataset(tenant)))
    with tenant_context(tenant.id):
        version = ModelVersion.objects.get(job=job)
    manifest_path = settings.ARTIFACT_ROOT / f"org/{tenant.id}" / version.artifact_key / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["base_model"]["sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    _, secret = make_api_key(tenant, scopes=["training"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    response = client.post(f"/api/v1/models/{version.id}/predict", {"texts": ["I lost my card"]}, format="json")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "incompatible_model"
    assert error["message"].startswith(f"{version} cannot be served here:")
