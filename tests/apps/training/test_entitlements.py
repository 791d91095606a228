"""The plan's number of active models, on automatic activation and on promotion."""

import pytest

from apps.core.tenancy import tenant_context
from apps.training import services
from apps.training.models import JobStatus, ModelVersion, TrainingJob
from tests.factories.billing import set_overrides
from tests.factories.datasets import make_dataset_version
from tests.factories.training import make_job, make_version_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_active_models(org):
    dataset_version = make_dataset_version(org)
    for name in ("intents-a", "intents-b"):
        make_version_row(org, make_job(org, dataset_version, model_name=name))
    return dataset_version


def _succeed(org, job):
    with tenant_context(org.id):
        TrainingJob.objects.filter(id=job.id).update(status=JobStatus.RUNNING, attempt=1)
        return services.training_job_succeed(
            job_id=job.id,
            attempt=1,
            strategy="head",
            device="cpu",
            metrics={"accuracy": 0.9},
            history=[],
            resolved_hyperparameters={},
            labels=["card_lost", "opening_hours"],
            suggested_threshold=None,
            holdout_metrics={"accuracy": 0.9},
            artifact_key=f"models/{job.model_name}/{job.id}",
            artifact_size_bytes=10,
        )


def test_a_third_models_first_version_waits_on_free(org, two_active_models):
    version = _succeed(org, make_job(org, two_active_models, model_name="intents-c"))

    assert version.is_active is False
    assert version.promotion_note.startswith("Waiting for review: the plan allows 2 active models")


def test_promoting_past_the_limit_is_a_402_and_changes_nothing(api_client, org, two_active_models, in_org):
    version = _succeed(org, make_job(org, two_active_models, model_name="intents-c"))

    response = api_client.post(f"/api/v1/models/{version.id}/promote", {}, format="json")

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "plan_limit_reached"
    assert response.json()["error"]["details"] == {"entitlement": "max_active_models", "limit": 2}
    with in_org(org):
        assert sorted(ModelVersion.objects.filter(is_active=True).values_list("name", flat=True)) == [
            "intents-a",
            "intents-b",
        ]


def test_a_new_version_of_an_active_model_still_activates_at_the_limit(org, two_active_models):
    version = _succeed(org, make_job(org, two_active_models, model_name="intents-a"))

    assert version.is_active is False  # same holdout score: waits for a person, as before
    assert version.promotion_note.startswith("Waiting for review: holdout accuracy")


def test_more_active_models_with_a_bigger_allowance(org, two_active_models):
    set_overrides(org, max_active_models=3)

    version = _succeed(org, make_job(org, two_active_models, model_name="intents-c"))

    assert version.is_active is True
