"""Reads for the training platform; every query is scoped to one organization."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.training.models import ModelVersion, TrainingJob, TrainingJobEvent


def training_job_list(*, organization: Any, status: str | None = None, model_name: str | None = None) -> QuerySet:
    jobs = TrainingJob.objects.for_org(organization).select_related("dataset_version__dataset")
    if status:
        jobs = jobs.filter(status=status)
    if model_name:
        jobs = jobs.filter(model_name=model_name)
    return jobs.order_by("-created_at", "-id")


def training_job_get(*, organization: Any, job_id: Any) -> TrainingJob:
    return (
        TrainingJob.objects.for_org(organization)
        .select_related("dataset_version__dataset", "validation_dataset_version__dataset")
        .get(id=job_id)
    )


def training_job_event_list(*, organization: Any, job: TrainingJob, level: str | None = None) -> QuerySet:
    events = TrainingJobEvent.objects.for_org(organization).filter(job=job)
    if level:
        events = events.filter(level=level)
    return events.order_by("created_at", "id")


def model_version_list(*, organization: Any, name: str | None = None, task: str | None = None) -> QuerySet:
    versions = ModelVersion.objects.for_org(organization).select_related("job")
    if name:
        versions = versions.filter(name=name)
    if task:
        versions = versions.filter(task=task)
    return versions.order_by("name", "-version")


def model_version_get(*, organization: Any, version_id: Any) -> ModelVersion:
    return ModelVersion.objects.for_org(organization).select_related("job").get(id=version_id)


def model_version_active(*, organization: Any, name: str) -> ModelVersion:
    """The active version of model `name`; DoesNotExist (a 404) when it has none."""
    return ModelVersion.objects.for_org(organization).get(name=name, is_active=True)


def model_names(*, organization: Any) -> list[str]:
    return list(ModelVersion.objects.for_org(organization).values_list("name", flat=True).distinct().order_by("name"))
