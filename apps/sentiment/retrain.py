"""Corrections become training data; new model versions re-score recent documents.

Retrain: a monitor's corrections of one field (the latest per document) are uploaded as a
labelled-texts dataset version through the datasets service, and a classification job is
created through the training service. The training platform's holdout gate decides
whether the new version becomes active; this module never activates anything.

Re-score: apps/training knows nothing of monitors. Instead, a periodic sweep compares the
version that last scored each monitor (`Monitor.<field>_version_id`) with the version that
scores it now, and starts a `RescoreRun` when they differ. A run re-scores documents
published in the last SENTIMENT_RESCORE_DAYS, chunk by chunk, moving trend counts as labels
change. Re-scoring records no usage: the documents were metered when first scored.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.models import Organization
from apps.audit.services import audit_record
from apps.core.actors import Actor
from apps.core.errors import ServiceError
from apps.core.taskbase import delay_quietly
from apps.core.tenancy import cross_tenant, tenant_context
from apps.datasets.models import Dataset, DatasetKind, DatasetVersion
from apps.datasets.services import DatasetError, dataset_upload
from apps.sentiment import scoring
from apps.sentiment.models import Correction, Document, DocumentStatus, Monitor, RescoreRun, RescoreStatus
from apps.sentiment.services import SentimentError, trend_buckets_add
from apps.training.models import Strategy, Task, TrainingJob
from apps.training.services import training_job_create

logger = logging.getLogger(__name__)

FIELDS = ("sentiment", "topic")
CORRECTION = "correction"  # Document.<field>_scored_by of a corrected document: never re-scored
# A run whose task was lost (broker down, worker killed) is sent again after this long.
RESCORE_STALE_AFTER = timedelta(minutes=10)


def _check_field(field: str) -> None:
    if field not in FIELDS:
        raise SentimentError("Retrain either 'sentiment' or 'topic'.", code="invalid_field", details={"field": "field"})


def monitor_dataset_name(monitor: Monitor, field: str) -> str:
    return f"{monitor.name[:70]} — {field} corrections"


def _model_name(monitor: Monitor, field: str) -> str:
    """The monitor's model name for `field`, or a new one derived from the monitor (unique by its id)."""
    name = getattr(monitor, f"{field}_model_name")
    if name:
        return name
    return f"{slugify(monitor.name)[:40] or 'monitor'}-{field}-{monitor.id.hex[:8]}"


def monitor_corrections_latest(
    *, organization: Organization, monitor: Monitor, field: str, through: Correction | None = None
) -> list[Correction]:
    """The latest correction of `field` per document of `monitor` (up to `through`), oldest first."""
    corrections = (
        Correction.objects.for_org(organization)
        .filter(document__monitor=monitor, field=field)
        .select_related("document")
        .order_by("document_id", "-created_at", "-id")
    )
    if through is not None:
        corrections = corrections.filter(created_at__lte=through.created_at)
    latest: dict[Any, Correction] = {}
    for correction in corrections:
        latest.setdefault(correction.document_id, correction)
    return sorted(latest.values(), key=lambda correction: (correction.created_at, str(correction.id)))


def _too_few(message: str, **details: Any) -> SentimentError:
    return SentimentError(message, code="too_few_corrections", status=422, details=details)


@transaction.atomic
def monitor_training_dataset_create(
    *, organization: Organization, monitor: Monitor, field: str, actor: Actor, through: Correction | None = None
) -> TrainingJob:
    """Upload `monitor`'s corrections of `field` as a dataset version and start a training job.

    Rows are (document text, the latest corrected value), one per corrected document.
    Provenance: the stored original file keeps each row's correction id, document id and
    corrector; the dataset's description names the monitor; the audit entry
    `sentiment.retrain_started` records the counts, the dataset version and the job. The
    model is `monitor.<field>_model_name`, or a name derived from the monitor and saved on
    it (so its active version scores the monitor once the holdout gate promotes one).
    `through` limits the rows to corrections made up to that one (the automatic retrain).

    Raises SentimentError: invalid_field (400), too_few_corrections (422, with the dataset
    validator's reasons); DatasetError / ServiceError from the upload and the job.
    """
    _check_field(field)
    corrections = monitor_corrections_latest(organization=organization, monitor=monitor, field=field, through=through)
    if not corrections:
        raise _too_few(f"This monitor has no {field} corrections to train on yet.", correction_count=0)
    labels = Counter(correction.value for correction in corrections)
    if field == "sentiment" and len(labels) < 3:
        # scoring.sentiment_version ignores a sentiment model without all three labels.
        raise _too_few(
            "A sentiment model needs corrected examples of negative, neutral and positive; the corrections so far "
            f"cover only {', '.join(sorted(labels))}.",
            correction_count=len(corrections),
            labels=dict(labels),
        )
    rows = [
        {
            "text": correction.document.text,
            "label": correction.value,
            "correction_id": str(correction.id),
            "document_id": str(correction.document_id),
            "corrected_by": correction.corrected_by_label,
            "corrected_at": correction.created_at.isoformat(),
        }
        for correction in corrections
    ]
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    name = monitor_dataset_name(monitor, field)
    dataset = Dataset.objects.for_org(organization).filter(name=name).first()
    try:
        version = dataset_upload(
            organization=organization,
            actor=actor,
            name=name,
            kind=DatasetKind.LABELLED_TEXTS,
            description=f"Corrections of {field} from the monitor '{monitor.name}' ({monitor.id}).",
            filename=f"{field}-corrections-through-{corrections[-1].id}.jsonl",
            data=data,
            dataset=dataset,
            content_type="application/jsonl",
        )
    except DatasetError as error:
        if error.code != "dataset_invalid":
            raise
        reasons = [problem["reason"] for problem in error.details.get("errors", [])]
        raise _too_few(
            f"Not enough corrections to train a {field} model yet: {' '.join(reasons)}",
            correction_count=len(corrections),
            labels=dict(labels),
            errors=error.details.get("errors", []),
        ) from None
    model_name = _model_name(monitor, field)
    job = training_job_create(
        organization=organization,
        actor=actor,
        task=Task.CLASSIFICATION,
        dataset_version=version,
        model_name=model_name,
        strategy=Strategy.AUTO,
    )
    changes: dict[str, Any] = {f"{field}_model_name": model_name}
    if through is None:
        # A retrain by hand takes every correction so far; the automatic one reset the
        # counter when it crossed, and corrections since then count towards the next.
        changes[f"{field}_corrections_since_retrain"] = 0
    Monitor.objects.for_org(organization).filter(id=monitor.id).update(**changes, updated_at=timezone.now())
    for name, value in changes.items():
        setattr(monitor, name, value)
    audit_record(
        organization=organization,
        actor=actor,
        action="sentiment.retrain_started",
        target=monitor,
        metadata={
            "field": field,
            "correction_count": len(corrections),
            "labels": dict(labels),
            "through_correction_id": str(corrections[-1].id),
            "dataset_version_id": str(version.id),
            "training_job_id": str(job.id),
            "model_name": model_name,
        },
    )
    logger.info(
        "sentiment.retrain_started",
        extra={"organization_id": organization.id, "monitor_id": str(monitor.id), "job_id": str(job.id)},
    )
    return job


# --- automatic retrain ----------------------------------------------------------------


def correction_counted(*, organization: Organization, monitor: Monitor, correction: Correction) -> bool:
    """Count `correction` towards the monitor's automatic retrain; True when it crossed the threshold.

    Runs inside the correction's transaction. The monitor row is locked, so of two
    concurrent corrections exactly one sees the K-th count; it resets the counter and
    schedules one retrain, after the commit, for the corrections up to itself.
    """
    if monitor.retrain_after_corrections == 0:
        return False
    counter = f"{correction.field}_corrections_since_retrain"
    locked = Monitor.objects.for_org(organization).select_for_update().get(id=monitor.id)
    count = getattr(locked, counter) + 1  # read-modify-write is safe under the row lock
    crossed = locked.retrain_after_corrections > 0 and count >= locked.retrain_after_corrections
    Monitor.objects.for_org(organization).filter(id=monitor.id).update(
        **{counter: 0 if crossed else count, "updated_at": timezone.now()}
    )
    setattr(monitor, counter, 0 if crossed else count)
    if crossed:
        from apps.sentiment.tasks import monitor_retrain as monitor_retrain_task

        args = (organization.id, str(monitor.id), correction.field, str(correction.id))
        transaction.on_commit(
            lambda: delay_quietly(monitor_retrain_task, *args, event="sentiment.retrain_enqueue_failed")
        )
    return crossed


def monitor_retrain_after_corrections(
    *, organization: Organization, monitor_id: Any, field: str, correction_id: Any
) -> TrainingJob | None:
    """The automatic retrain (task body). Idempotent: a redelivered message finds the dataset
    version named after its threshold correction and creates nothing. A refusal (too few
    corrections) is logged, not retried: the next threshold crossing tries again."""
    monitor = Monitor.objects.for_org(organization).filter(id=monitor_id).first()
    through = Correction.objects.for_org(organization).filter(id=correction_id).first()
    if monitor is None or through is None:
        return None
    corrections = monitor_corrections_latest(organization=organization, monitor=monitor, field=field, through=through)
    if corrections and (
        DatasetVersion.objects.for_org(organization)
        .filter(
            dataset__name=monitor_dataset_name(monitor, field),
            original_filename=f"{field}-corrections-through-{corrections[-1].id}.jsonl",
        )
        .exists()
    ):
        return None
    try:
        with transaction.atomic():
            return monitor_training_dataset_create(
                organization=organization, monitor=monitor, field=field, actor=Actor.system(), through=through
            )
    except ServiceError as error:  # too few corrections, a quota, a plan limit: not retried
        logger.info(
            "sentiment.retrain_skipped",
            extra={"organization_id": organization.id, "monitor_id": str(monitor.id), "reason": error.message},
        )
        return None


# --- re-score on promotion ------------------------------------------------------------


def _current_version(monitor: Monitor, field: str) -> tuple[str, str]:
    """(version id or "", scored_by label) of what scores `field` of `monitor` now."""
    if field == "sentiment":
        version = scoring.sentiment_version(monitor)
        fallback = scoring.STARTER
    else:
        version = scoring.topic_version(monitor)
        fallback = scoring.ZERO_SHOT
    if version is None:
        return "", fallback
    return str(version.id), f"{version.name} v{version.version}"


def _rescore_scope(run: RescoreRun):
    return (
        Document.objects.for_org(run.organization_id)
        .filter(monitor_id=run.monitor_id, status=DocumentStatus.SCORED, published_at__gte=run.since)
        .exclude(**{f"{run.field}_scored_by__in": [run.version_label, CORRECTION]})
    )


def monitor_rescore_start(*, organization: Organization | int, monitor: Monitor) -> list[RescoreRun]:
    """Start a run for each field whose scoring version differs from the recorded one.

    A field with a run still going gets none (a unique constraint holds one running run
    per monitor and field). A run with nothing to re-score finishes at once.
    """
    started = []
    now = timezone.now()
    for field in FIELDS:
        version_id, label = _current_version(monitor, field)
        if version_id == getattr(monitor, f"{field}_version_id"):
            continue
        if RescoreRun.objects.for_org(organization).filter(monitor=monitor, field=field, status="running").exists():
            continue
        try:
            with transaction.atomic():
                run = RescoreRun.objects.create(
                    organization_id=monitor.organization_id,
                    monitor=monitor,
                    field=field,
                    version_id=version_id,
                    version_label=label,
                    since=now - timedelta(days=settings.SENTIMENT_RESCORE_DAYS),
                    started_at=now,
                )
                run.total = _rescore_scope(run).count()
                run.save(update_fields=["total", "updated_at"])
        except IntegrityError:
            continue  # a concurrent sweep started it
        started.append(run)
        logger.info(
            "sentiment.rescore_started",
            extra={"organization_id": monitor.organization_id, "monitor_id": str(monitor.id), "run_id": str(run.id)},
        )
    return started


def _finish(run: RescoreRun, *, status: str, error: str = "") -> None:
    with tenant_context(run.organization_id), transaction.atomic():
        run = RescoreRun.objects.for_org(run.organization_id).select_for_update().get(id=run.id)
        if run.status != RescoreStatus.RUNNING:
            return
        run.status, run.error, run.finished_at = status, error[:500], timezone.now()
        if status == RescoreStatus.SUCCEEDED:
            # Documents corrected or deleted meanwhile left the scope: the run covered them all.
            run.done = run.total
            Monitor.objects.for_org(run.organization_id).filter(id=run.monitor_id).update(
                **{f"{run.field}_version_id": run.version_id, "updated_at": timezone.now()}
            )
        run.save(update_fields=["status", "error", "finished_at", "done", "updated_at"])


def _rescore_chunk(run: RescoreRun, monitor: Monitor, chunk: list[Document]) -> int:
    """Re-score one chunk in its own transaction; returns the documents changed in the database."""
    texts = [document.text for document in chunk]
    predict = scoring.sentiment_predict if run.field == "sentiment" else scoring.topic_predict
    # The active version is looked up in the tenant's scope (row-level security hides it outside).
    with tenant_context(run.organization_id):
        scores, scored_by = predict(monitor=monitor, texts=texts)
    if scored_by != run.version_label:
        raise _Superseded(f"The active model changed to {scored_by} during the run; a new run follows.")
    by_id = {document.id: score for document, score in zip(chunk, scores, strict=True)}
    deltas: Counter = Counter()
    updated = 0
    with tenant_context(run.organization_id), transaction.atomic():
        for document in _rescore_scope(run).select_for_update().filter(id__in=list(by_id)).order_by("id"):
            score = by_id[document.id]
            old_key = (document.topic, document.sentiment, document.published_at)
            setattr(document, run.field, score.label)
            setattr(document, f"{run.field}_probabilities", score.probabilities)
            setattr(document, f"{run.field}_scored_by", scored_by)
            fields = [run.field, f"{run.field}_probabilities", f"{run.field}_scored_by", "updated_at"]
            if run.field == "sentiment":
                document.sentiment_confidence = score.confidence
                fields.append("sentiment_confidence")
            document.save(update_fields=fields)
            new_key = (document.topic, document.sentiment, document.published_at)
            if new_key != old_key:
                deltas[old_key] -= 1
                deltas[new_key] += 1
            updated += 1
        trend_buckets_add(monitor=monitor, deltas=Counter({key: count for key, count in deltas.items() if count}))
        RescoreRun.objects.for_org(run.organization_id).filter(id=run.id).update(
            done=F("done") + updated, updated_at=timezone.now()
        )
    return updated


class _Superseded(Exception):
    pass


def rescore_run_execute(*, organization_id: int, run_id: Any) -> RescoreRun | None:
    """Re-score a run's documents SENTIMENT_SCORE_CHUNK at a time, each chunk committed (task body).

    Safe to run twice: a chunk takes only documents not yet scored by the run's version.
    """
    with tenant_context(organization_id):
        run = RescoreRun.objects.for_org(organization_id).select_related("monitor").filter(id=run_id).first()
    if run is None or run.status != RescoreStatus.RUNNING:
        return run
    try:
        while True:
            with tenant_context(organization_id):
                chunk = list(_rescore_scope(run).order_by("id")[: settings.SENTIMENT_SCORE_CHUNK])
            if not chunk:
                break
            # A document corrected meanwhile leaves the scope and is skipped; each pass takes
            # only documents not yet scored by the run's version, so the loop ends.
            _rescore_chunk(run, run.monitor, chunk)
        _finish(run, status=RescoreStatus.SUCCEEDED)
    except _Superseded as superseded:
        _finish(run, status=RescoreStatus.FAILED, error=str(superseded))
    except Exception as error:
        logger.exception("sentiment.rescore_failed", extra={"organization_id": organization_id, "run_id": str(run_id)})
        _finish(run, status=RescoreStatus.FAILED, error=f"{type(error).__name__}: {error}")
    with tenant_context(organization_id):
        return RescoreRun.objects.for_org(organization_id).get(id=run_id)


def rescore_sweep() -> list[tuple[int, str]]:
    """(organization id, run id) of the runs to execute: new ones, and running ones whose task was lost."""
    with cross_tenant(reason="sentiment.rescore_sweep"):
        monitors = list(
            Monitor.all_orgs.filter(is_active=True)
            .filter(
                ~Q(sentiment_model_name="")
                | ~Q(topic_model_name="")
                | ~Q(sentiment_version_id="")
                | ~Q(topic_version_id="")
            )
            .values_list("organization_id", "id")
        )
        stale = list(
            RescoreRun.all_orgs.filter(
                status=RescoreStatus.RUNNING, updated_at__lt=timezone.now() - RESCORE_STALE_AFTER
            ).values_list("organization_id", "id")
        )
    runs = [(organization_id, str(run_id)) for organization_id, run_id in stale]
    for organization_id, monitor_id in monitors:
        with tenant_context(organization_id):
            monitor = Monitor.objects.for_org(organization_id).get(id=monitor_id)
            runs += [
                (organization_id, str(run.id))
                for run in monitor_rescore_start(organization=organization_id, monitor=monitor)
            ]
    return runs


def monitor_rescore_latest(*, organization: Organization, monitor: Monitor) -> dict[str, RescoreRun | None]:
    """The latest run per field (None when the field was never re-scored)."""
    runs = RescoreRun.objects.for_org(organization).filter(monitor=monitor).order_by("-created_at", "-id")
    return {field: runs.filter(field=field).first() for field in FIELDS}
