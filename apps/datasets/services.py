"""Writes for datasets: check an upload, store it as a new dataset or a new version."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from apps.accounts.models import Organization
from apps.audit.services import audit_record
from apps.core.actors import Actor
from apps.core.errors import ServiceError
from apps.core.storage import artifact_storage
from apps.datasets.models import Dataset, DatasetKind, DatasetVersion
from apps.datasets.selectors import organization_storage_mb
from apps.datasets.validation import ValidationResult, validate_dataset_file
from apps.metering.models import Meter
from apps.metering.services import gauge_check, usage_event_record

logger = logging.getLogger(__name__)

MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 2000


class DatasetError(ServiceError):
    pass


@dataclass(frozen=True)
class CheckedUpload:
    name: str
    kind: str
    description: str
    filename: str
    result: ValidationResult


def _kind_label(kind: str) -> str:
    return DatasetKind(kind).label.lower()


def _clean_fields(*, name: str, kind: str, description: str, dataset: Dataset | None) -> tuple[str, str, str]:
    if dataset is not None:
        name, kind = dataset.name, kind or dataset.kind
        if kind != dataset.kind:
            raise DatasetError(
                f"This dataset holds {_kind_label(dataset.kind)}; "
                f"a new version must be {_kind_label(dataset.kind)} too.",
                code="dataset_kind_mismatch",
                status=422,
                details={"dataset_kind": dataset.kind, "kind": kind},
            )
    name = (name or "").strip()
    if not name:
        raise DatasetError("Give the dataset a name.", code="invalid_name", details={"field": "name"})
    if len(name) > MAX_NAME_LENGTH:
        raise DatasetError(
            f"The name is {len(name)} characters; use at most {MAX_NAME_LENGTH}.",
            code="invalid_name",
            details={"field": "name"},
        )
    if kind not in DatasetKind.values:
        raise DatasetError(
            f"The kind must be one of {', '.join(DatasetKind.values)}.",
            code="invalid_kind",
            details={"field": "kind", "choices": list(DatasetKind.values)},
        )
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise DatasetError(
            f"The description is {len(description)} characters; use at most {MAX_DESCRIPTION_LENGTH}.",
            code="invalid_description",
            details={"field": "description"},
        )
    return name, kind, description


def dataset_upload_check(
    *,
    organization: Organization,
    actor: Actor,
    name: str,
    kind: str,
    description: str = "",
    filename: str,
    data: bytes,
    dataset: Dataset | None = None,
    content_type: str = "",
) -> CheckedUpload:
    """Every check `dataset_upload` makes, without storing anything (the API's dry run).

    Raises DatasetError: permission_denied (403), invalid_name / invalid_kind (400),
    dataset_name_taken (409), file_too_large (413), dataset_kind_mismatch and
    dataset_invalid (422, with `details.errors` and `details.report`).
    """
    if actor.role == "viewer":
        raise DatasetError(
            "Viewers can't upload datasets. Ask an owner or admin for the member role.",
            code="permission_denied",
            status=403,
        )
    name, kind, description = _clean_fields(name=name, kind=kind, description=description, dataset=dataset)
    if dataset is None and Dataset.objects.for_org(organization).filter(name=name).exists():
        raise DatasetError(
            f"A dataset named '{name}' already exists. Upload the file as a new version of it, or choose another name.",
            code="dataset_name_taken",
            status=409,
            details={"field": "name"},
        )
    limit = settings.DATASET_MAX_UPLOAD_BYTES
    if len(data) > limit:
        raise DatasetError(
            f"The file is {len(data):,} bytes; the limit is {limit:,} bytes.",
            code="file_too_large",
            status=413,
            details={"max_bytes": limit, "received_bytes": len(data)},
        )
    filename = (filename or "").replace("\\", "/").rsplit("/", 1)[-1][:255] or "upload"
    result = validate_dataset_file(
        kind=kind,
        filename=filename,
        data=data,
        max_chars=settings.DATASET_MAX_TEXT_CHARS,
        content_type=content_type,
    )
    if not result.is_valid:
        error_count = sum(1 for problem in result.problems if problem.severity == "error")
        raise DatasetError(
            f"The file was not stored: {error_count} problem{'s' if error_count != 1 else ''} must be fixed first. "
            "Row numbers are as a spreadsheet shows them (the header is row 1); in JSON lines, line numbers.",
            code="dataset_invalid",
            status=422,
            details={"errors": result.errors, "error_count": error_count, "report": result.report},
        )
    return CheckedUpload(name=name, kind=kind, description=description, filename=filename, result=result)


def _normalized_bytes(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def dataset_upload(
    *,
    organization: Organization,
    actor: Actor,
    name: str,
    kind: str,
    description: str = "",
    filename: str,
    data: bytes,
    dataset: Dataset | None = None,
    content_type: str = "",
) -> DatasetVersion:
    """Validate a file completely, then store it as version 1 of a new dataset or the next
    version of `dataset` (same kind required).

    Nothing is stored unless the whole file passes: a refusal is a DatasetError with
    code "dataset_invalid" (422) listing the first 50 problems with their rows. The
    original file and the normalized rows go to artifact storage under
    `datasets/<dataset_id>/v<version>/`; if anything fails after that, the files are
    deleted again, so no half-stored version remains.
    """
    checked = dataset_upload_check(
        organization=organization,
        actor=actor,
        name=name,
        kind=kind,
        description=description,
        filename=filename,
        data=data,
        dataset=dataset,
        content_type=content_type,
    )
    # Free stops at its storage allowance; the upload is refused before anything is written.
    level = organization_storage_mb(organization=organization, extra_bytes=len(data))
    gauge_check(organization=organization, meter=Meter.STORAGE_MB, level=level)
    storage = artifact_storage()
    written: list[str] = []
    try:
        with transaction.atomic():
            if dataset is None:
                try:
                    with transaction.atomic():
                        dataset = Dataset.objects.create(
                            organization=organization,
                            name=checked.name,
                            kind=checked.kind,
                            description=checked.description,
                            created_by=actor.user,
                        )
                except IntegrityError:
                    # A concurrent upload took the name between the check and the insert.
                    raise DatasetError(
                        f"A dataset named '{checked.name}' already exists.",
                        code="dataset_name_taken",
                        status=409,
                        details={"field": "name"},
                    ) from None
                number = 1
            else:
                # The lock serializes concurrent uploads of new versions of one dataset.
                dataset = Dataset.objects.for_org(organization).select_for_update().get(id=dataset.id)
                latest = DatasetVersion.objects.for_org(organization).filter(dataset=dataset).aggregate(Max("version"))
                number = (latest["version__max"] or 0) + 1
            result = checked.result
            prefix = f"datasets/{dataset.id}/v{number}"
            storage_key = f"{prefix}/original.{result.file_format}"
            normalized_key = f"{prefix}/rows.jsonl"
            # Before writing: a key left over from an earlier crashed attempt is replaced.
            written += [storage_key, normalized_key]
            storage.put_bytes(organization_id=organization.id, key=storage_key, data=data)
            storage.put_bytes(organization_id=organization.id, key=normalized_key, data=_normalized_bytes(result.rows))
            version = DatasetVersion.objects.create(
                organization=organization,
                dataset=dataset,
                version=number,
                file_format=result.file_format,
                original_filename=checked.filename,
                size_bytes=len(data),
                sha256=result.sha256,
                row_count=len(result.rows),
                storage_key=storage_key,
                normalized_key=normalized_key,
                report=result.report,
                labels=sorted(result.report["labels"]),
                created_by=actor.user,
            )
            audit_record(
                organization=organization,
                actor=actor,
                action="dataset.uploaded",
                target=dataset,
                metadata={
                    "version": number,
                    "filename": checked.filename,
                    "rows": version.row_count,
                    "sha256": result.sha256,
                },
            )
            usage_event_record(
                organization=organization,
                meter=Meter.STORAGE_MB,
                quantity=organization_storage_mb(organization=organization),
                idempotency_key=f"storage:dataset_version:{version.id}",
            )
    except BaseException:
        for key in written:
            try:
                storage.delete(organization_id=organization.id, key=key)
            except Exception:
                logger.exception("datasets.cleanup_failed", extra={"organization_id": organization.id, "key": key})
        raise
    logger.info(
        "datasets.version_stored",
        extra={"organization_id": organization.id, "dataset_id": str(dataset.id), "version": number},
    )
    return version
