"""Reads for datasets, always inside one organization."""

from __future__ import annotations

import json
from decimal import Decimal

from django.apps import apps as django_apps
from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery, Sum

from apps.core.storage import artifact_storage
from apps.datasets.models import Dataset, DatasetVersion


def _datasets(organization) -> QuerySet[Dataset]:
    """Datasets with `version_count` annotated and `latest_version` prefetched (two queries)."""
    newest = DatasetVersion.objects.for_org(organization).filter(dataset=OuterRef("dataset")).order_by("-version")
    latest = (
        DatasetVersion.objects.for_org(organization)
        .filter(version=Subquery(newest.values("version")[:1]))
        .select_related("created_by")
    )
    return (
        Dataset.objects.for_org(organization)
        .select_related("created_by")
        .annotate(version_count=Count("versions"))
        .prefetch_related(Prefetch("versions", queryset=latest, to_attr="prefetched_latest_versions"))
    )


def dataset_list(*, organization) -> QuerySet[Dataset]:
    """Newest first, each with `version_count` and its `latest_version`."""
    return _datasets(organization).order_by("-created_at", "-id")


def dataset_get(*, organization, dataset_id) -> Dataset:
    """Raises Dataset.DoesNotExist for a missing id and for another organization's dataset."""
    return _datasets(organization).get(id=dataset_id)


def dataset_version_list(*, organization, dataset_id) -> QuerySet[DatasetVersion]:
    return (
        DatasetVersion.objects.for_org(organization)
        .filter(dataset_id=dataset_id)
        .select_related("created_by", "dataset")
        .order_by("-version")
    )


def dataset_version_get(*, organization, dataset_id, version: int | None = None) -> DatasetVersion:
    """One version of a dataset; `version=None` is the latest. DoesNotExist when there is none."""
    versions = dataset_version_list(organization=organization, dataset_id=dataset_id)
    if version is None:
        latest = versions.first()
        if latest is None:
            raise DatasetVersion.DoesNotExist("The dataset has no versions.")
        return latest
    return versions.get(version=version)


def dataset_version_rows(*, dataset_version: DatasetVersion) -> list[dict]:
    """The normalized rows, read back from artifact storage.

    Labelled texts: {"text", "label", "split" (train | validation | test | None)}.
    Text pairs: {"query", "positive", "negative" (or None)}.
    """
    data = artifact_storage().get_bytes(
        organization_id=dataset_version.organization_id, key=dataset_version.normalized_key
    )
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line]


BYTES_PER_MB = 1024 * 1024


def organization_storage_mb(*, organization, extra_bytes: int = 0) -> Decimal:
    """The `storage_mb` gauge: uploaded dataset files plus model artifacts, in MiB.

    Model versions belong to the training app, which builds on this one; they are looked
    up through the app registry so this module does not import it.
    """
    model_version = django_apps.get_model("training", "ModelVersion")
    datasets = DatasetVersion.objects.for_org(organization).aggregate(total=Sum("size_bytes"))["total"] or 0
    models = model_version.objects.for_org(organization).aggregate(total=Sum("artifact_size_bytes"))["total"] or 0
    return (Decimal(datasets + models + extra_bytes) / BYTES_PER_MB).quantize(Decimal("0.000001"))
