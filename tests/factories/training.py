from apps.core.actors import Actor
from apps.core.tenancy import tenant_context
from apps.training.models import ModelVersion
from apps.training.services import training_job_create


def make_job(organization, dataset_version, *, model_name="support-intent", strategy="head"):
    """A job made by the real service (it stays `validating` until a worker takes it)."""
    with tenant_context(organization.id):
        return training_job_create(
            organization=organization,
            actor=Actor.system(),
            task="classification",
            dataset_version=dataset_version,
            model_name=model_name,
            strategy=strategy,
        )


def make_version_row(organization, job, *, version=1, is_active=True):
    """Bookkeeping only (no trained artifact): for tests that never load the model."""
    with tenant_context(organization.id):
        return ModelVersion.objects.create(
            organization=organization,
            name=job.model_name,
            version=version,
            task=job.task,
            job=job,
            strategy="head",
            base_model=job.base_model,
            base_model_sha256=job.base_model_sha256,
            labels=["card_lost", "opening_hours"],
            metrics={"accuracy": 0.9},
            holdout_metrics={"accuracy": 0.9},
            artifact_key=f"models/{job.model_name}/{job.id}",
            is_active=is_active,
        )
