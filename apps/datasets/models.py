from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import TenantModel


class DatasetKind(models.TextChoices):
    LABELLED_TEXTS = "labelled_texts", "Labelled texts"
    TEXT_PAIRS = "text_pairs", "Text pairs"


class FileFormat(models.TextChoices):
    CSV = "csv", "CSV"
    TSV = "tsv", "TSV"
    JSONL = "jsonl", "JSON lines"


class Dataset(TenantModel):
    """A named collection of uploaded files (versions) of one kind. Its data lives in versions."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=32, choices=DatasetKind.choices)
    description = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="dataset_name_unique_per_org"),
        ]
        indexes = [models.Index(fields=["organization", "created_at"], name="dataset_org_created")]

    def __str__(self) -> str:
        return self.name

    @property
    def latest_version(self) -> DatasetVersion | None:
        prefetched = getattr(self, "prefetched_latest_versions", None)
        if prefetched is not None:
            return prefetched[0] if prefetched else None
        return DatasetVersion.objects.for_org(self.organization_id).filter(dataset=self).order_by("-version").first()


class DatasetVersion(TenantModel):
    """One uploaded file, validated and normalized. Immutable: a change is a new version.

    `storage_key` is the original file and `normalized_key` the rows as JSON lines, both
    relative to the organization's artifact prefix (apps/core/storage.py).
    """

    # Training runs refer to versions; their data must never change under them.
    append_only = True

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    file_format = models.CharField(max_length=8, choices=FileFormat.choices)
    original_filename = models.CharField(max_length=255)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    # Rows kept for training (rows skipped with a warning, such as empty texts, excluded).
    row_count = models.PositiveIntegerField()
    storage_key = models.CharField(max_length=512)
    normalized_key = models.CharField(max_length=512)
    report = models.JSONField(default=dict)
    labels = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "dataset", "version"], name="dataset_version_unique_per_dataset"
            ),
        ]
        indexes = [models.Index(fields=["organization", "created_at"], name="dataset_version_org_created")]

    def __str__(self) -> str:
        return f"{self.dataset_id} v{self.version}"

    @property
    def issue_counts(self) -> dict[str, int]:
        issues = self.report.get("issues", [])
        return {
            "error": sum(1 for issue in issues if issue["severity"] == "error"),
            "warning": sum(1 for issue in issues if issue["severity"] == "warning"),
        }
