"""The training API contract: create, read, events, cancel, models; scopes and isolation.

Jobs here stay in `validating` (no worker runs); tests/apps/training/test_pipeline.py and
test_worker.py drive them further.
"""

import pytest

from apps.audit.models import AuditEntry
from apps.training.models import JobStatus, ModelVersion, TrainingJob, TrainingJobEvent

pytestmark = pytest.mark.django_db


def _error(response):
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


@pytest.fixture
def dataset(org, make_dataset):
    return make_dataset(org)


def _create(client, dataset_version, **extra):
    body = {"task": "classification", "dataset": str(dataset_version.dataset_id), **extra}
    return client.post("/api/v1/training-jobs", body, format="json")


def test_create_starts_a_validating_job_with_auto_defaults(api_client, org, dataset, in_org):
    response = _create(api_client, dataset, model_name="support-intent")

    assert response.status_code == 201
    job = response.json()
    assert job["object"] == "training_job"
    assert job["status"] == "validating"
    assert job["model_name"] == "support-intent"
    assert job["strategy"] == "auto"
    assert job["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert job["dataset"] == {"id": str(dataset.dataset_id), "name": "bank-intents", "version": 1}
    assert job["hyperparameters"] == {
        "epochs": "auto",
        "learning_rate": "auto",
        "batch_size": "auto",
        "lora_rank": "auto",
        "max_seq_length": "auto",
        "seed": "auto",
        "target_precision": "auto",
    }
    assert job["progress"] == 0.0 and job["error"] is None and job["model_version_id"] is None
    with in_org(org):
        assert TrainingJobEvent.objects.filter(job_id=job["id"]).count() == 1
        assert AuditEntry.objects.filter(action="training_job.created", target_id=job["id"]).count() == 1


def test_model_name_defaults_to_the_task(api_client, dataset):
    assert _create(api_client, dataset).json()["model_name"] == "classification"


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"strategy": "head", "task": "retrieval"}, "invalid_strategy"),
        ({"task": "retrieval"}, "dataset_kind_mismatch"),
        ({"hyperparameters": {"epochs": 0}}, "invalid_hyperparameters"),
        ({"hyperparameters": {"epochs": 2.5}}, "invalid_hyperparameters"),
        ({"hyperparameters": {"momentum": 0.9}}, "invalid_hyperparameters"),
        ({"hyperparameters": {"learning_rate": "fast"}}, "invalid_hyperparameters"),
        ({"base_model": "bert-large"}, "unknown_base_model"),
        ({"strategy": "magic"}, "validation_error"),
    ],
)
def test_bad_requests_are_400_and_create_nothing(api_client, org, dataset, in_org, extra, code):
    response = _create(api_client, dataset, **extra)

    assert response.status_code == 400
    assert _error(response)["code"] == code
    with in_org(org):
        assert TrainingJob.objects.count() == 0


def test_an_unknown_dataset_is_404(api_client, org, in_org):
    response = api_client.post(
        "/api/v1/training-jobs",
        {"task": "classification", "dataset": "00000000-0000-0000-0000-000000000000"},
        format="json",
    )

    assert response.status_code == 404
    with in_org(org):
        assert TrainingJob.objects.count() == 0


def test_list_detail_and_events(api_client, dataset):
    created = _create(api_client, dataset).json()

    listing = api_client.get("/api/v1/training-jobs").json()
    detail = api_client.get(f"/api/v1/training-jobs/{created['id']}").json()
    events = api_client.get(f"/api/v1/training-jobs/{created['id']}/events").json()
    filtered = api_client.get("/api/v1/training-jobs?status=succeeded").json()

    assert [job["id"] for job in listing["results"]] == [created["id"]]
    assert detail["id"] == created["id"]
    assert [event["level"] for event in events["results"]] == ["info"]
    assert events["results"][0]["message"].startswith("Job created by API key")
    assert filtered["results"] == []


def test_cancel_a_waiting_job_stops_it_at_once(api_client, org, dataset, in_org):
    created = _create(api_client, dataset).json()

    response = api_client.post(f"/api/v1/training-jobs/{created['id']}/cancel")
    again = api_client.post(f"/api/v1/training-jobs/{created['id']}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["finished_at"] is not None
    assert again.status_code == 409 and _error(again)["code"] == "job_not_cancellable"
    with in_org(org):
        assert TrainingJob.objects.get(id=created["id"]).status == JobStatus.CANCELLED


def test_a_key_without_the_training_scope_is_refused(keyed_client, org, owner, dataset, in_org):
    reader = keyed_client(org, scopes=["support:read"])

    listing = reader.get("/api/v1/training-jobs")
    create = _create(reader, dataset)

    assert listing.status_code == 403 and _error(listing)["code"] == "missing_scope"
    assert _error(listing)["details"]["required_scope"] == "training"
    assert create.status_code == 403
    with in_org(org):
        assert TrainingJob.objects.count() == 0


def test_a_training_key_can_train(keyed_client, org, owner, dataset):
    trainer = keyed_client(org, scopes=["training"])

    assert _create(trainer, dataset).status_code == 201


def test_another_organization_cannot_see_or_touch_jobs(api_client, other_api_client, org, dataset, in_org):
    created = _create(api_client, dataset).json()
    job_url = f"/api/v1/training-jobs/{created['id']}"

    assert other_api_client.get("/api/v1/training-jobs").json()["results"] == []
    assert other_api_client.get(job_url).status_code == 404
    assert other_api_client.get(f"{job_url}/events").status_code == 404
    assert other_api_client.post(f"{job_url}/cancel").status_code == 404
    # Nor can it train on A's dataset.
    assert _create(other_api_client, dataset).status_code == 404
    with in_org(org):
        assert TrainingJob.objects.get(id=created["id"]).status == JobStatus.VALIDATING


def test_models_are_empty_at_first_and_unknown_ones_are_404(api_client, org, in_org):
    assert api_client.get("/api/v1/models").json()["results"] == []
    missing = "00000000-0000-0000-0000-000000000000"
    assert api_client.get(f"/api/v1/models/{missing}").status_code == 404
    assert api_client.post(f"/api/v1/models/{missing}/promote", {}, format="json").status_code == 404
    assert api_client.post(f"/api/v1/models/{missing}/predict", {"texts": ["x"]}, format="json").status_code == 404
    no_active = api_client.post("/api/v1/predict", {"model": "support-intent", "texts": ["x"]}, format="json")
    assert no_active.status_code == 404
    rollback = api_client.post("/api/v1/models/rollback", {"name": "support-intent"}, format="json")
    assert rollback.status_code == 409 and _error(rollback)["code"] == "no_active_version"
    with in_org(org):
        assert ModelVersion.objects.count() == 0
