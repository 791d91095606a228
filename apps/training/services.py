"""Writes for the training platform: jobs, their state machine, model versions, promotion.

The state machine (docs/architecture.md, "Training jobs"):

    validating ──> queued ──> running ──> succeeded
        │            │           ├──────> failed
        └──> failed  └──> cancelled  └──> cancelled

Every transition takes the job row with SELECT ... FOR UPDATE and checks the state it
expects first, because Celery can deliver a message twice and the reaper races workers.
Background work is scheduled with `transaction.on_commit`.
"""

from __future__ import annotations

import functools
import logging
import math
import random
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from apps.audit.services import audit_record
from apps.billing.selectors import organization_limits
from apps.core.actors import Actor
from apps.core.errors import ServiceError
from apps.core.queues import Queue
from apps.core.tenancy import cross_tenant, current_organization_id, tenant_context
from apps.datasets.selectors import organization_storage_mb
from apps.metering.models import Meter
from apps.metering.services import quota_check, usage_event_record
from apps.training.models import (
    PRIMARY_METRIC,
    TASK_STRATEGIES,
    EventLevel,
    Holdout,
    JobStatus,
    ModelVersion,
    Strategy,
    Task,
    TrainingJob,
    TrainingJobEvent,
)
from apps.training.workers import gpu_worker_available

logger = logging.getLogger(__name__)

# Dataset kind each task trains on.
TASK_DATASET_KIND = {Task.CLASSIFICATION: "labelled_texts", Task.RETRIEVAL: "text_pairs"}

# Hyperparameters a client may set; "auto" (or absent) lets the trainer choose.
HYPERPARAMETER_RANGES: dict[str, tuple[type, float, float]] = {
    "epochs": (int, 1, 100),
    "learning_rate": (float, 1e-7, 1.0),
    "batch_size": (int, 1, 512),
    "lora_rank": (int, 1, 256),
    "max_seq_length": (int, 8, 512),
    "seed": (int, 0, 2**31 - 1),
    "target_precision": (float, 0.5, 0.999),
}

# A frozen holdout takes this share of a model's first dataset (stratified), at most
# HOLDOUT_MAX_EXAMPLES rows, and only from labels with enough examples left to train on.
HOLDOUT_FRACTION = 0.15
HOLDOUT_MAX_EXAMPLES = 2000
HOLDOUT_MIN_LABEL_EXAMPLES = 4


# --- base models --------------------------------------------------------------------------


@functools.cache
def _base_model_specs() -> dict[str, tuple[str, str]]:
    """Accepted base-model names -> (name, weights sha256). Hashing reads the weights once
    per process; importing ml.encoders.registry does not import torch."""
    from ml.encoders.registry import DEFAULT_MODEL_NAME, resolve_base_model

    default = resolve_base_model(settings.ML_BASE_MODEL_PATH or None)
    specs = {default.name: (default.name, default.weights_sha256), "default": (default.name, default.weights_sha256)}
    if default.name == DEFAULT_MODEL_NAME:
        specs["all-MiniLM-L6-v2"] = specs[default.name]
    return specs


def base_model_resolve(name: str | None) -> tuple[str, str]:
    specs = _base_model_specs()
    key = name or "default"
    if key not in specs:
        raise ServiceError(
            f"Unknown base model '{name}'. This installation serves: {', '.join(sorted(set(specs) - {'default'}))}.",
            code="unknown_base_model",
            status=400,
            details={"base_model": name, "available": sorted(set(specs) - {"default"})},
        )
    return specs[key]


# --- events -------------------------------------------------------------------------------


def training_job_event(
    *, job: TrainingJob, message: str, level: str = EventLevel.INFO, kind: str = "message", data: dict | None = None
) -> TrainingJobEvent:
    return TrainingJobEvent.objects.create(
        organization_id=job.organization_id, job=job, level=level, kind=kind, message=message, data=data or {}
    )


def _jobs():
    """The current organization's jobs: worker code runs inside `tenant_context`, and this
    fails closed (ValueError) outside one instead of leaning on row-level security alone."""
    return TrainingJob.objects.for_org(current_organization_id())


def _lock_job(job_id) -> TrainingJob:
    return _jobs().select_for_update().get(id=job_id)


# --- create -------------------------------------------------------------------------------


def _clean_hyperparameters(raw: dict[str, Any] | None) -> dict[str, Any]:
    raw = raw or {}
    unknown = sorted(set(raw) - set(HYPERPARAMETER_RANGES))
    if unknown:
        raise ServiceError(
            f"Unknown hyperparameters: {', '.join(unknown)}. Known: {', '.join(HYPERPARAMETER_RANGES)}.",
            code="invalid_hyperparameters",
            details={"unknown": unknown},
        )
    cleaned: dict[str, Any] = {}
    for name, (kind, low, high) in HYPERPARAMETER_RANGES.items():
        value = raw.get(name, "auto")
        if value == "auto" or value is None:
            cleaned[name] = "auto"
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (kind is int and not float(value).is_integer())
        ):
            raise ServiceError(
                f"Hyperparameter '{name}' must be {'an integer' if kind is int else 'a number'} or \"auto\".",
                code="invalid_hyperparameters",
                details={"field": name, "value": value},
            )
        if not low <= value <= high:
            raise ServiceError(
                f"Hyperparameter '{name}' must be between {low:g} and {high:g}; got {value}.",
                code="invalid_hyperparameters",
                details={"field": name, "value": value, "min": low, "max": high},
            )
        cleaned[name] = kind(value)
    return cleaned


@transaction.atomic
def training_job_create(
    *,
    organization: Any,
    actor: Actor,
    task: str,
    dataset_version: Any,
    model_name: str | None = None,
    validation_dataset_version: Any | None = None,
    base_model: str | None = None,
    strategy: str = Strategy.AUTO,
    hyperparameters: dict[str, Any] | None = None,
) -> TrainingJob:
    """Create a job in `validating` and hand it to a worker once the transaction commits.

    The dataset versions must belong to `organization` (the caller looked them up with
    the tenant's selectors) and be of the kind the task trains on.
    """
    if task not in Task.values:
        raise ServiceError(f"Unknown task '{task}'.", code="invalid_task", details={"allowed": Task.values})
    if strategy not in TASK_STRATEGIES[task]:
        raise ServiceError(
            f"Strategy '{strategy}' does not apply to {task}; use one of {', '.join(TASK_STRATEGIES[task])}.",
            code="invalid_strategy",
            details={"allowed": list(TASK_STRATEGIES[task])},
        )
    # Training minutes are recorded when a job ends; a plan with hard limits needs at
    # least one minute left to start one (and a paid plan must be under its spend cap).
    quota_check(organization=organization, meter=Meter.TRAINING_MINUTES_CPU, quantity=1)
    expected_kind = TASK_DATASET_KIND[task]
    for label, version in (("dataset", dataset_version), ("validation_dataset", validation_dataset_version)):
        if version is not None and version.dataset.kind != expected_kind:
            raise ServiceError(
                f"A {task} job needs a {expected_kind.replace('_', ' ')} dataset; "
                f"'{version.dataset.name}' holds {version.dataset.kind.replace('_', ' ')}.",
                code="dataset_kind_mismatch",
                details={"field": label, "expected": expected_kind, "received": version.dataset.kind},
            )
    name, sha256 = base_model_resolve(base_model)
    job = TrainingJob.objects.create(
        organization=organization,
        task=task,
        model_name=model_name or task,
        dataset_version=dataset_version,
        validation_dataset_version=validation_dataset_version,
        base_model=name,
        base_model_sha256=sha256,
        strategy=strategy,
        hyperparameters=_clean_hyperparameters(hyperparameters),
        created_by=actor.user,
        created_via=actor.via,
    )
    training_job_event(
        job=job,
        kind="status",
        message=f"Job created by {actor.label}: {task} on {dataset_version.dataset.name} v{dataset_version.version}, "
        f"strategy {strategy}, base model {name}.",
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="training_job.created",
        target=job,
        target_label=job.model_name,
        metadata={"task": task, "strategy": strategy},
    )
    from apps.training.tasks import training_job_validate as training_job_validate_task

    transaction.on_commit(lambda: training_job_validate_task.delay(organization.id, str(job.id)))
    return job


# --- validate (worker, default queue) ------------------------------------------------------


def _stratified_holdout(rows: list[dict], *, key: str, seed: int) -> list[dict]:
    by_label: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_label[row[key]].append(row)
    rng = random.Random(seed)  # noqa: S311 - a reproducible split, not a secret
    holdout: list[dict] = []
    budget = min(HOLDOUT_MAX_EXAMPLES, math.floor(len(rows) * HOLDOUT_FRACTION))
    for label in sorted(by_label):
        group = by_label[label]
        if len(group) < HOLDOUT_MIN_LABEL_EXAMPLES:
            continue
        take = max(1, round(len(group) * HOLDOUT_FRACTION))
        holdout.extend(rng.sample(group, take))
    rng.shuffle(holdout)
    return holdout[:budget] if budget else []


def _holdout_from_rows(task: str, rows: list[dict]) -> list[dict]:
    if task == Task.CLASSIFICATION:
        tagged = [row for row in rows if row.get("split") == "test"]
        chosen = tagged or _stratified_holdout(rows, key="label", seed=0)
        return [{"text": row["text"], "label": row["label"]} for row in chosen]
    rng = random.Random(0)  # noqa: S311
    sample = rng.sample(rows, min(len(rows) // 7, HOLDOUT_MAX_EXAMPLES)) if len(rows) >= 7 else []
    return [{"query": row["query"], "positive": row["positive"]} for row in sample]


def holdout_get_or_freeze(*, job: TrainingJob, rows: list[dict]) -> Holdout:
    """The model's frozen holdout; the first job of a model freezes it from its dataset."""
    holdout = (
        Holdout.objects.select_for_update().filter(organization_id=job.organization_id, name=job.model_name).first()
    )
    if holdout is not None:
        return holdout
    examples = _holdout_from_rows(job.task, rows)
    holdout = Holdout.objects.create(
        organization_id=job.organization_id,
        name=job.model_name,
        task=job.task,
        examples=examples,
        source_dataset_version=job.dataset_version,
    )
    training_job_event(
        job=job,
        message=f"Froze a holdout of {len(examples)} examples for model '{job.model_name}'. Every version of this "
        "model is compared on it, and none is trained on it.",
        data={"holdout_size": len(examples)},
    )
    return holdout


def training_job_fail(*, job_id, code: str, message: str) -> TrainingJob | None:
    """Mark a job failed with a readable error (any non-terminal state). Idempotent."""
    with transaction.atomic():
        job = _lock_job(job_id)
        if job.is_terminal:
            return None
        _fail_locked(job, code=code, message=message)
    logger.info("training.job_failed", extra={"organization_id": job.organization_id, "job_id": str(job.id)})
    return job


def _fail_locked(job: TrainingJob, *, code: str, message: str) -> None:
    from apps.webhooks.events import EventType
    from apps.webhooks.services import webhook_event_emit

    _finish(job, status=JobStatus.FAILED)
    job.error = {"code": code, "message": message}
    job.save()
    training_job_event(job=job, level=EventLevel.ERROR, kind="status", message=f"Failed: {message}")
    _record_training_usage(job)
    webhook_event_emit(
        organization=job.organization, event_type=EventType.TRAINING_JOB_FAILED, data=_job_webhook_data(job)
    )
    transaction.on_commit(lambda: training_job_dispatch_after_commit(job.organization_id))


def _finish(job: TrainingJob, *, status: str) -> None:
    now = timezone.now()
    if job.status == JobStatus.RUNNING and job.attempt_started_at:
        _add_device_time(job, now)
    job.status = status
    job.finished_at = now
    job.eta_seconds = None
    if status == JobStatus.SUCCEEDED:
        job.progress = 1.0


def _add_device_time(job: TrainingJob, now) -> None:
    seconds = max(0.0, (now - job.attempt_started_at).total_seconds())
    if job.device == "cuda":
        job.gpu_seconds += seconds
    else:
        job.cpu_seconds += seconds
    job.attempt_started_at = None


def _record_training_usage(job: TrainingJob) -> None:
    # Training minutes, once per job (the key), CPU and GPU separately (metering issue).
    for meter, seconds in (
        (Meter.TRAINING_MINUTES_CPU, job.cpu_seconds),
        (Meter.TRAINING_MINUTES_GPU, job.gpu_seconds),
    ):
        if seconds > 0:
            usage_event_record(
                organization=job.organization_id,
                meter=meter,
                quantity=round(seconds / 60, 6),
                idempotency_key=f"training_job:{job.id}:{meter}",
                metadata={"job_id": str(job.id), "model_name": job.model_name},
            )


def _job_webhook_data(job: TrainingJob) -> dict[str, Any]:
    data = {
        "id": str(job.id),
        "object": "training_job",
        "status": job.status,
        "task": job.task,
        "model_name": job.model_name,
        "strategy": job.resolved_strategy or job.strategy,
        "metrics": job.metrics,
        "error": job.error,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    version = ModelVersion.objects.for_org(job.organization_id).filter(job=job).first()
    if version is not None:
        data["model_version"] = {"id": str(version.id), "version": version.version, "is_active": version.is_active}
    return data


def training_job_prepare(*, job_id, rows: list[dict], validation_rows: list[dict] | None) -> TrainingJob | None:
    """validating -> queued: freeze the holdout, choose the strategy and the queue."""
    from ml.estimates import choose_strategy, estimate_training_seconds

    with transaction.atomic():
        job = _lock_job(job_id)
        if job.status != JobStatus.VALIDATING:
            return None
        holdout = holdout_get_or_freeze(job=job, rows=rows)
        train_rows = rows_excluding_holdout(task=job.task, rows=rows, holdout=holdout)
        if job.task == Task.CLASSIFICATION:
            counts = Counter(row["label"] for row in train_rows if row.get("split") != "test")
            if len(counts) < 2:
                raise ServiceError(
                    "Training needs at least two labels (after setting the holdout aside).", code="too_few_labels"
                )
            n_labels = len(counts)
        else:
            n_labels = 0
        if validation_rows and job.task == Task.CLASSIFICATION:
            unknown = sorted({row["label"] for row in validation_rows} - set(counts))
            if unknown:
                raise ServiceError(
                    f"The validation dataset has labels the training data lacks: {', '.join(unknown[:10])}.",
                    code="validation_labels_unknown",
                )
        gpu = gpu_worker_available()
        if gpu and not organization_limits(organization=job.organization_id).allows_gpu_training:
            gpu = False
            training_job_event(
                job=job, message="A GPU worker is available, but this organization's plan trains on CPU workers."
            )
        device = "cuda" if gpu else "cpu"
        strategy, reason = job.strategy, ""
        if strategy == Strategy.AUTO:
            strategy, reason = choose_strategy(
                task=job.task, n_examples=len(train_rows), n_labels=n_labels, device=device
            )
        # head trains in seconds anywhere; the GPU is worth a queue hop for lora and full.
        use_gpu = gpu and strategy in (Strategy.LORA, Strategy.FULL)
        job.queue = Queue.TRAINING_GPU if use_gpu else Queue.TRAINING_CPU
        job.device = "cuda" if use_gpu else "cpu"
        job.resolved_strategy = strategy
        job.status = JobStatus.QUEUED
        estimate = estimate_training_seconds(
            task=job.task, strategy=strategy, n_examples=len(train_rows), device=job.device
        )
        job.eta_seconds = round(estimate)
        job.save()
        if reason:
            training_job_event(
                job=job, message=f"Strategy auto chose {strategy}: {reason}", data={"strategy": strategy}
            )
        overlap = len(rows) - len(train_rows)
        if overlap:
            training_job_event(
                job=job,
                level=EventLevel.WARNING if holdout.source_dataset_version_id != job.dataset_version_id else "info",
                message=f"{overlap} rows are in the frozen holdout and were left out of training.",
                data={"rows_in_holdout": overlap},
            )
        training_job_event(
            job=job,
            kind="status",
            message=f"Validated {len(train_rows)} training rows; queued on {job.queue} "
            f"(estimated {max(1, round(estimate))} s of training on {job.device}).",
            data={"queue": job.queue, "estimated_seconds": round(estimate, 1), "rows": len(train_rows)},
        )
    training_job_dispatch(organization_id=job.organization_id)
    return job


def rows_excluding_holdout(*, task: str, rows: list[dict], holdout: Holdout) -> list[dict]:
    key = "text" if task == Task.CLASSIFICATION else "query"
    held = {example[key] for example in holdout.examples}
    return [row for row in rows if row[key] not in held]


# --- dispatch: at most N running or dispatched jobs per organization -----------------------


def training_job_dispatch_after_commit(organization_id: int) -> None:
    with tenant_context(organization_id):
        training_job_dispatch(organization_id=organization_id)


def _lock_organization_queue(organization_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Serializes dispatch per organization; released when the transaction ends.
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [7301, int(organization_id)])


def training_job_dispatch(*, organization_id: int) -> list[TrainingJob]:
    """Send the oldest waiting jobs to workers while the organization has free slots.

    One tenant can never hold more than its limit of jobs in the broker, so a tenant who
    queues a hundred jobs does not starve the others: Celery's FIFO sees at most N each.
    """
    limit = max(1, organization_limits(organization=organization_id).max_concurrent_training_jobs)
    dispatched: list[TrainingJob] = []
    with transaction.atomic():
        _lock_organization_queue(organization_id)
        jobs = TrainingJob.objects.for_org(organization_id)
        busy = (
            jobs.filter(status=JobStatus.RUNNING).count()
            + jobs.filter(status=JobStatus.QUEUED, dispatched_at__isnull=False).count()
        )
        free = limit - busy
        if free <= 0:
            return []
        waiting = list(
            jobs.select_for_update()
            .filter(status=JobStatus.QUEUED, dispatched_at__isnull=True, cancel_requested_at__isnull=True)
            .order_by("created_at")[:free]
        )
        now = timezone.now()
        for job in waiting:
            job.attempt += 1
            job.dispatched_at = now
            job.save(update_fields=["attempt", "dispatched_at", "updated_at"])
            send = functools.partial(_send_to_worker, job.organization_id, job.id, job.attempt, job.queue)
            transaction.on_commit(send)
            dispatched.append(job)
    return dispatched


def _send_to_worker(organization_id: int, job_id, attempt: int, queue: str) -> None:
    """Publish the run message; if the broker is down, un-dispatch so the reaper sends it later."""
    from apps.training.tasks import training_job_run as training_job_run_task

    try:
        training_job_run_task.apply_async([organization_id, str(job_id), attempt], queue=queue)
    except Exception:  # kombu raises several types; the job must not stay "dispatched" forever
        logger.exception("training.dispatch_failed", extra={"job_id": str(job_id)})
        with tenant_context(organization_id):
            _jobs().filter(id=job_id, attempt=attempt, status=JobStatus.QUEUED).update(dispatched_at=None)


# --- run (worker, training queue) ----------------------------------------------------------


def training_job_claim(*, job_id, attempt: int, worker: str) -> TrainingJob | None:
    """queued -> running for the attempt this message carries, else None (stale message)."""
    with transaction.atomic():
        job = _lock_job(job_id)
        if job.attempt != attempt or job.status != JobStatus.QUEUED:
            logger.info(
                "training.stale_message",
                extra={"job_id": str(job_id), "attempt": attempt, "job_attempt": job.attempt, "status": job.status},
            )
            return None
        if job.cancel_requested_at:
            _finish(job, status=JobStatus.CANCELLED)
            job.save()
            training_job_event(job=job, kind="status", message="Cancelled before it started.")
            return None
        now = timezone.now()
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or now
        job.attempt_started_at = now
        job.heartbeat_at = now
        job.worker = worker
        job.save()
        resumed = " (retry)" if attempt > 1 else ""
        training_job_event(
            job=job,
            kind="status",
            message=f"Running on {worker} ({job.device}), attempt {attempt}{resumed}.",
            data={"attempt": attempt, "worker": worker, "device": job.device},
        )
    return job


def training_job_heartbeat(*, job_id, attempt: int, progress: float, eta_seconds: float | None) -> bool:
    """Record liveness and progress; True when the job should stop (cancelled or taken over)."""
    eta = None if eta_seconds is None else max(0, round(eta_seconds))
    updated = (
        _jobs()
        .filter(id=job_id, attempt=attempt, status=JobStatus.RUNNING)
        .update(heartbeat_at=timezone.now(), progress=min(1.0, max(0.0, progress)), eta_seconds=eta)
    )
    if not updated:
        return True
    return _jobs().filter(id=job_id, cancel_requested_at__isnull=False).exists()


def training_job_record_epoch(*, job_id, attempt: int, metrics: dict[str, Any], message: str) -> None:
    with transaction.atomic():
        job = _lock_job(job_id)
        if job.attempt != attempt or job.status != JobStatus.RUNNING:
            return
        epoch = metrics.get("epoch")
        # A retry from a checkpoint repeats no epoch; one from scratch starts the curve over.
        job.history = [entry for entry in job.history if entry.get("epoch", 0) < (epoch or 0)] + [metrics]
        job.save(update_fields=["history", "updated_at"])
        training_job_event(job=job, kind="metrics", message=message, data=metrics)


def training_job_mark_cancelled(*, job_id, attempt: int) -> None:
    with transaction.atomic():
        job = _lock_job(job_id)
        if job.attempt != attempt or job.is_terminal:
            return
        _finish(job, status=JobStatus.CANCELLED)
        job.save()
        training_job_event(job=job, kind="status", message="Cancelled; the worker stopped training.")
        _record_training_usage(job)
        transaction.on_commit(lambda: training_job_dispatch_after_commit(job.organization_id))


def _beats(new: dict, active: dict, metric: str) -> bool:
    if metric not in new:
        return False
    if metric not in active:
        return True
    return new[metric] > active[metric]


def training_job_succeed(
    *,
    job_id,
    attempt: int,
    strategy: str,
    device: str,
    metrics: dict[str, Any],
    history: list[dict],
    resolved_hyperparameters: dict[str, Any],
    labels: list[str],
    suggested_threshold: float | None,
    holdout_metrics: dict[str, Any],
    artifact_key: str,
    artifact_size_bytes: int,
) -> ModelVersion | None:
    """running -> succeeded with exactly one new model version; activates it if it beats
    the active version on the frozen holdout (or none is active). None for a stale attempt."""
    from apps.webhooks.events import EventType
    from apps.webhooks.services import webhook_event_emit

    with transaction.atomic():
        job = _lock_job(job_id)
        if job.attempt != attempt or job.status != JobStatus.RUNNING:
            return None
        # The holdout row doubles as the per-model lock for version numbers and activation.
        Holdout.objects.select_for_update().filter(organization_id=job.organization_id, name=job.model_name).first()
        versions = ModelVersion.objects.for_org(job.organization_id).filter(name=job.model_name)
        number = (versions.aggregate(number=Max("version"))["number"] or 0) + 1
        active = versions.filter(is_active=True).first()
        metric = PRIMARY_METRIC[job.task]
        slots = _active_model_slots(organization_id=job.organization_id, name=job.model_name)
        if active is None and slots is not None:
            activate, note = False, f"Waiting for review: {slots}"
        elif active is None:
            activate, note = True, "Activated automatically: the first version of this model."
        elif _beats(holdout_metrics, active.holdout_metrics, metric):
            activate = True
            note = (
                f"Activated automatically: holdout {metric} {holdout_metrics[metric]:.4f} beats "
                f"v{active.version}'s {active.holdout_metrics.get(metric, 0):.4f}."
            )
        else:
            activate = False
            note = (
                f"Waiting for review: holdout {metric} {holdout_metrics.get(metric, 0):.4f} does not beat the active "
                f"v{active.version}'s {active.holdout_metrics.get(metric, 0):.4f}."
            )
        now = timezone.now()
        if activate and active is not None:
            active.is_active = False
            active.save(update_fields=["is_active", "updated_at"])
        version = ModelVersion.objects.create(
            organization_id=job.organization_id,
            name=job.model_name,
            version=number,
            task=job.task,
            job=job,
            strategy=strategy,
            base_model=job.base_model,
            base_model_sha256=job.base_model_sha256,
            labels=labels,
            metrics=metrics,
            holdout_metrics=holdout_metrics,
            suggested_threshold=suggested_threshold,
            artifact_key=artifact_key,
            artifact_size_bytes=artifact_size_bytes,
            is_active=activate,
            activated_at=now if activate else None,
            promotion_note=note,
        )
        usage_event_record(
            organization=job.organization_id,
            meter=Meter.STORAGE_MB,
            quantity=organization_storage_mb(organization=job.organization_id),
            idempotency_key=f"storage:model_version:{version.id}",
        )
        job.device = device
        _finish(job, status=JobStatus.SUCCEEDED)
        job.metrics = metrics
        job.history = history or job.history
        job.resolved_strategy = strategy
        job.resolved_hyperparameters = resolved_hyperparameters
        job.save()
        training_job_event(
            job=job,
            kind="status",
            message=f"Succeeded: created {version.name} v{version.version}. {note}",
            data={"model_version_id": str(version.id), "holdout_metrics": holdout_metrics, "activated": activate},
        )
        _record_training_usage(job)
        actor = Actor.system()
        audit_record(
            organization=job.organization,
            actor=actor,
            action="model_version.created",
            target=version,
            target_label=str(version),
            metadata={"activated": activate, "holdout": {metric: holdout_metrics.get(metric)}},
        )
        webhook_event_emit(
            organization=job.organization, event_type=EventType.TRAINING_JOB_SUCCEEDED, data=_job_webhook_data(job)
        )
        if activate:
            webhook_event_emit(
                organization=job.organization,
                event_type=EventType.MODEL_VERSION_ACTIVATED,
                data=model_version_webhook_data(version),
            )
        transaction.on_commit(lambda: training_job_dispatch_after_commit(job.organization_id))
    logger.info(
        "training.job_succeeded",
        extra={"organization_id": job.organization_id, "job_id": str(job.id), "version": version.version},
    )
    return version


# --- cancel -------------------------------------------------------------------------------


@transaction.atomic
def training_job_cancel(*, organization: Any, job: TrainingJob, actor: Actor) -> TrainingJob:
    """Stop a job. Waiting jobs stop at once; a running one stops at its next batch (the
    worker sees the request within TRAINING_HEARTBEAT_SECONDS)."""
    job = TrainingJob.objects.for_org(organization).select_for_update().get(id=job.id)
    if job.is_terminal:
        raise ServiceError(
            f"The job has already {job.status}.", code="job_not_cancellable", status=409, details={"status": job.status}
        )
    if job.cancel_requested_at is None:
        job.cancel_requested_at = timezone.now()
    if job.status in (JobStatus.VALIDATING, JobStatus.QUEUED):
        _finish(job, status=JobStatus.CANCELLED)
        message = f"Cancelled by {actor.label}."
    else:
        message = f"Cancellation requested by {actor.label}; the worker stops at the next batch."
    job.save()
    training_job_event(job=job, kind="status", message=message)
    audit_record(
        organization=organization, actor=actor, action="training_job.cancelled", target=job, target_label=job.model_name
    )
    if job.is_terminal:
        transaction.on_commit(lambda: training_job_dispatch_after_commit(organization.id))
    return job


# --- promotion ----------------------------------------------------------------------------


def model_version_webhook_data(version: ModelVersion) -> dict[str, Any]:
    return {
        "id": str(version.id),
        "object": "model_version",
        "name": version.name,
        "version": version.version,
        "task": version.task,
        "is_active": version.is_active,
        "holdout_metrics": version.holdout_metrics,
    }


def _active_model_slots(*, organization_id: int, name: str) -> str | None:
    """None when a model called `name` may have an active version; else why not (the plan's limit)."""
    limit = organization_limits(organization=organization_id).max_active_models
    others = (
        ModelVersion.objects.for_org(organization_id)
        .filter(is_active=True)
        .exclude(name=name)
        .values("name")
        .distinct()
        .count()
    )
    if others < limit:
        return None
    return (
        f"the plan allows {limit} active models and {others} other models are active. "
        "Upgrade the plan, or ask Tessera staff for more, to activate this one."
    )


def _activate(*, organization: Any, version: ModelVersion, actor: Actor, action: str, reason: str) -> ModelVersion:
    from apps.webhooks.events import EventType
    from apps.webhooks.services import webhook_event_emit

    Holdout.objects.select_for_update().filter(organization_id=organization.id, name=version.name).first()
    version = ModelVersion.objects.for_org(organization).select_for_update().get(id=version.id)
    previous = ModelVersion.objects.for_org(organization).filter(name=version.name, is_active=True).first()
    if previous is not None and previous.id == version.id:
        raise ServiceError(f"{version} is already active.", code="already_active", status=409)
    full = _active_model_slots(organization_id=organization.id, name=version.name) if previous is None else None
    if full is not None:
        limit = organization_limits(organization=organization).max_active_models
        raise ServiceError(
            f"{version} cannot be activated: {full}",
            code="plan_limit_reached",
            status=402,
            details={"entitlement": "max_active_models", "limit": limit},
        )
    if previous is not None:
        previous.is_active = False
        previous.save(update_fields=["is_active", "updated_at"])
    version.is_active = True
    version.activated_at = timezone.now()
    version.save(update_fields=["is_active", "activated_at", "updated_at"])
    audit_record(
        organization=organization,
        actor=actor,
        action=action,
        target=version,
        target_label=str(version),
        metadata={"from": f"v{previous.version}" if previous else None, "to": f"v{version.version}", "reason": reason},
    )
    webhook_event_emit(
        organization=organization,
        event_type=EventType.MODEL_VERSION_ACTIVATED,
        data=model_version_webhook_data(version),
    )
    return version


@transaction.atomic
def model_version_promote(*, organization: Any, version: ModelVersion, actor: Actor, reason: str = "") -> ModelVersion:
    """Make `version` the active one for its model (a person's decision; audited)."""
    return _activate(
        organization=organization, version=version, actor=actor, action="model_version.promoted", reason=reason
    )


@transaction.atomic
def model_version_rollback(*, organization: Any, name: str, actor: Actor) -> ModelVersion:
    """Re-activate the version that was active before the current one."""
    versions = ModelVersion.objects.for_org(organization).filter(name=name)
    current = versions.filter(is_active=True).first()
    if current is None:
        raise ServiceError(
            f"Model '{name}' has no active version to roll back from.", code="no_active_version", status=409
        )
    previous = versions.exclude(id=current.id).filter(activated_at__isnull=False).order_by("-activated_at").first()
    if previous is None:
        raise ServiceError(
            f"{current} is the only version of '{name}' that was ever active; there is nothing to roll back to.",
            code="nothing_to_roll_back",
            status=409,
        )
    return _activate(
        organization=organization,
        version=previous,
        actor=actor,
        action="model_version.rolled_back",
        reason=f"rollback from v{current.version}",
    )


# --- reaper (periodic, all organizations) ---------------------------------------------------


def training_jobs_reap() -> dict[str, int]:
    """Requeue or fail jobs whose worker vanished, and dispatch waiting jobs everywhere.

    A running job whose heartbeat is older than TRAINING_STALE_AFTER_SECONDS lost its
    worker (kill -9, machine gone). It is dispatched again (its checkpoint, if the new
    worker can read it, lets it resume) until TRAINING_MAX_ATTEMPTS, then failed. The
    attempt number in each message makes the old worker's late writes no-ops.
    """
    stale_before = timezone.now() - timedelta(seconds=settings.TRAINING_STALE_AFTER_SECONDS)
    with cross_tenant(reason="training.reaper"):
        stale = list(
            TrainingJob.all_orgs.filter(status=JobStatus.RUNNING, heartbeat_at__lt=stale_before).values_list(
                "organization_id", "id"
            )
        )
        waiting_orgs = set(
            TrainingJob.all_orgs.filter(status=JobStatus.QUEUED).values_list("organization_id", flat=True).distinct()
        )
    counts = {"requeued": 0, "failed": 0, "dispatched": 0}
    for organization_id, job_id in stale:
        with tenant_context(organization_id):
            job = _lock_job(job_id)
            if job.status != JobStatus.RUNNING or job.heartbeat_at >= stale_before:
                continue
            if job.cancel_requested_at:
                _finish(job, status=JobStatus.CANCELLED)
                job.save()
                training_job_event(job=job, kind="status", message="Cancelled (its worker stopped).")
                _record_training_usage(job)
                continue
            _add_device_time(job, job.heartbeat_at)
            if job.attempt >= settings.TRAINING_MAX_ATTEMPTS:
                counts["failed"] += 1
                _fail_locked(
                    job, code="worker_lost", message=f"The worker stopped responding {job.attempt} times; giving up."
                )
                continue
            job.status = JobStatus.QUEUED
            job.dispatched_at = None
            job.save()
            training_job_event(
                job=job,
                level=EventLevel.WARNING,
                kind="status",
                message=f"The worker {job.worker or ''} stopped sending heartbeats; retrying the job "
                f"(attempt {job.attempt + 1} of {settings.TRAINING_MAX_ATTEMPTS}).",
                data={"attempt": job.attempt},
            )
            counts["requeued"] += 1
            waiting_orgs.add(organization_id)
    for organization_id in sorted(waiting_orgs):
        with tenant_context(organization_id):
            counts["dispatched"] += len(training_job_dispatch(organization_id=organization_id))
    if any(counts.values()):
        logger.info("training.reaped", extra=counts)
    return counts
