"""Runs one attempt of a training job on a worker: the glue between the job row and `ml/`.

Each database write here is its own short transaction in the tenant's context, so the
dashboard sees progress while the job runs and a crash loses nothing already written.
A daemon thread sends heartbeats (liveness, progress, ETA) and picks up cancellation;
the trainer checks `should_stop()` every batch, so a cancel lands within seconds.
"""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection

from apps.core.errors import ServiceError
from apps.core.storage import artifact_storage
from apps.core.tenancy import tenant_context
from apps.training import services
from apps.training.models import Holdout, Task, TrainingJob

logger = logging.getLogger(__name__)


def _scoped(organization_id: int, function, **kwargs):
    with tenant_context(organization_id):
        return function(**kwargs)


class JobCallbacks:
    """`ml.progress.TrainingCallbacks` for one job attempt (duck-typed: ml has no Django)."""

    def __init__(self, job: TrainingJob) -> None:
        self.organization_id = job.organization_id
        self.job_id = job.id
        self.attempt = job.attempt
        self.progress = 0.0
        self.eta: float | None = job.eta_seconds
        self.stop = threading.Event()
        self._beat_stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job.id}", daemon=True)

    # -- ml callbacks --
    def on_event(self, event: Any) -> None:
        if event.kind == "metrics":
            _scoped(
                self.organization_id,
                services.training_job_record_epoch,
                job_id=self.job_id,
                attempt=self.attempt,
                metrics=dict(event.data),
                message=event.message,
            )
            return
        _scoped(self.organization_id, self._event, level=event.level, message=event.message, data=dict(event.data))

    def _event(self, *, level: str, message: str, data: dict) -> None:
        job = TrainingJob.objects.for_org(self.organization_id).get(id=self.job_id)
        services.training_job_event(job=job, level=level, message=message, data=data)

    def on_progress(self, fraction: float, eta_seconds: float | None) -> None:
        self.progress, self.eta = fraction, eta_seconds

    def should_stop(self) -> bool:
        return self.stop.is_set()

    # -- heartbeat thread --
    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._beat_stop.set()
        self._thread.join(timeout=settings.TRAINING_HEARTBEAT_SECONDS + 5)

    def _beat(self) -> None:
        try:
            while not self._beat_stop.wait(settings.TRAINING_HEARTBEAT_SECONDS):
                try:
                    stop = _scoped(
                        self.organization_id,
                        services.training_job_heartbeat,
                        job_id=self.job_id,
                        attempt=self.attempt,
                        progress=self.progress,
                        eta_seconds=self.eta,
                    )
                except Exception:  # a database blip: try again next beat; the reaper is the backstop
                    logger.exception("training.heartbeat_failed", extra={"job_id": str(self.job_id)})
                    continue
                if stop:
                    self.stop.set()
        finally:
            connection.close()  # this thread's own connection


def _load_rows(job: TrainingJob) -> tuple[list[dict], list[dict] | None]:
    from apps.datasets.selectors import dataset_version_rows

    rows = dataset_version_rows(dataset_version=job.dataset_version)
    validation = None
    if job.validation_dataset_version_id:
        validation = dataset_version_rows(dataset_version=job.validation_dataset_version)
    return rows, validation


def training_job_validate(*, organization_id: int, job_id) -> None:
    """validating -> queued (or failed with the reason)."""
    with tenant_context(organization_id):
        job = TrainingJob.objects.for_org(organization_id).select_related("dataset_version__dataset").get(id=job_id)
        if job.status != "validating":
            return
        rows, validation = _load_rows(job)
    try:
        with tenant_context(organization_id):
            services.training_job_prepare(job_id=job_id, rows=rows, validation_rows=validation)
    except ServiceError as error:
        _scoped(organization_id, services.training_job_fail, job_id=job_id, code=error.code, message=error.message)


def _split_rows(task: str, rows: list[dict], validation: list[dict] | None) -> tuple[list, list | None]:
    if task == Task.CLASSIFICATION:
        from ml.classification import LabelledText

        train = [
            LabelledText(row["text"], row["label"]) for row in rows if row.get("split") not in ("validation", "test")
        ]
        tagged = [LabelledText(row["text"], row["label"]) for row in rows if row.get("split") == "validation"]
        explicit = [LabelledText(row["text"], row["label"]) for row in validation] if validation else None
        return train, explicit or tagged or None
    from ml.retrieval import TextPair

    def pair(row: dict) -> TextPair:
        return TextPair(row["query"], row["positive"], row.get("negative") or None)

    return [pair(row) for row in rows], [pair(row) for row in validation] if validation else None


def _config(job: TrainingJob, device: str):
    params = {key: value for key, value in job.hyperparameters.items() if value != "auto"}
    if job.task == Task.CLASSIFICATION:
        from ml.classification import ClassificationConfig

        allowed = ClassificationConfig.__dataclass_fields__
        return ClassificationConfig(
            strategy=job.resolved_strategy, device=device, **{k: v for k, v in params.items() if k in allowed}
        )
    from ml.retrieval import RetrievalConfig

    allowed = RetrievalConfig.__dataclass_fields__
    return RetrievalConfig(
        strategy=job.resolved_strategy, device=device, **{k: v for k, v in params.items() if k in allowed}
    )


@dataclass(frozen=True)
class _Technique:
    """What the runner needs from an `ml/` technique: train, turn a holdout row into its
    example type, and evaluate an artifact on those examples."""

    train: Callable[..., Any]
    example: Callable[[dict], Any]
    evaluate: Callable[[Path, Any, list, str], dict]


def _technique(task: str) -> _Technique:
    if task == Task.CLASSIFICATION:
        from ml.classification import LabelledText, evaluate_classifier, train_classifier

        return _Technique(
            train=train_classifier,
            example=lambda row: LabelledText(row["text"], row["label"]),
            evaluate=lambda artifact, spec, examples, device: evaluate_classifier(
                artifact_dir=artifact, base_model=spec, examples=examples, device=device
            ),
        )
    from ml.retrieval import TextPair, evaluate_retriever, train_retriever

    return _Technique(
        train=train_retriever,
        example=lambda row: TextPair(row["query"], row["positive"]),
        evaluate=lambda artifact, spec, pairs, device: evaluate_retriever(
            artifact_dir=artifact, base_model=spec, pairs=pairs, device=device
        ),
    )


def _workspace(job: TrainingJob) -> Path:
    return Path(settings.ARTIFACT_CACHE_DIR) / f"org/{job.organization_id}/training-jobs/{job.id}"


def training_job_run(*, organization_id: int, job_id, attempt: int) -> None:
    """Claim the job for this attempt, train, evaluate on the holdout, store the artifact,
    and record the outcome. Stale or duplicate messages return without doing anything."""
    worker = socket.gethostname()
    job = _scoped(organization_id, services.training_job_claim, job_id=job_id, attempt=attempt, worker=worker)
    if job is None:
        return
    callbacks = JobCallbacks(job)
    callbacks.start()
    try:
        _train(job, callbacks)
    except Exception as error:
        _on_error(job, error)
    finally:
        callbacks.close()
        close_old_connections()


def _on_error(job: TrainingJob, error: Exception) -> None:
    from ml.progress import TrainingCancelled, TrainingDataError

    if isinstance(error, TrainingCancelled):
        _scoped(job.organization_id, services.training_job_mark_cancelled, job_id=job.id, attempt=job.attempt)
        shutil.rmtree(_workspace(job), ignore_errors=True)
        return
    if isinstance(error, TrainingDataError):
        code, message = "invalid_training_data", str(error)
    else:
        logger.exception("training.job_crashed", extra={"job_id": str(job.id)})
        code, message = "training_error", f"Training stopped with an internal error ({type(error).__name__}: {error})."
    _scoped(job.organization_id, services.training_job_fail, job_id=job.id, code=code, message=message)
    shutil.rmtree(_workspace(job), ignore_errors=True)


def _train(job: TrainingJob, callbacks: JobCallbacks) -> None:
    from ml.artifacts import artifact_size_bytes
    from ml.encoders import choose_device, resolve_base_model

    with tenant_context(job.organization_id):
        job = TrainingJob.objects.for_org(job.organization_id).select_related("dataset_version__dataset").get(id=job.id)
        rows, validation = _load_rows(job)
        holdout = Holdout.objects.for_org(job.organization_id).get(name=job.model_name)
        rows = services.rows_excluding_holdout(task=job.task, rows=rows, holdout=holdout)
        holdout_examples = list(holdout.examples)
    spec = resolve_base_model(settings.ML_BASE_MODEL_PATH or None)
    if spec.weights_sha256 != job.base_model_sha256:
        raise RuntimeError(
            f"This worker's base model ({spec.name}) differs from the job's ({job.base_model}); "
            "workers and web must share ML_BASE_MODEL_PATH."
        )
    device = choose_device("cuda" if job.device == "cuda" else "cpu")
    workspace = _workspace(job)
    workspace.mkdir(parents=True, exist_ok=True)
    train, validation_items = _split_rows(job.task, rows, validation)
    config = _config(job, device)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=workspace) as scratch:
        output = Path(scratch) / "artifact"
        technique = _technique(job.task)
        result = technique.train(
            train=train,
            validation=validation_items,
            base_model=spec,
            config=config,
            output_dir=output,
            checkpoint_dir=workspace / "checkpoint",
            callbacks=callbacks,
        )
        holdout = [technique.example(example) for example in holdout_examples]
        holdout_metrics = technique.evaluate(result.artifact_dir, spec, holdout, device) if holdout else {}
        if callbacks.should_stop():
            from ml.progress import TrainingCancelled

            raise TrainingCancelled
        key = f"models/{job.model_name}/{job.id}"
        storage = artifact_storage()
        storage.put_directory(organization_id=job.organization_id, key=key, source=result.artifact_dir)
        size = artifact_size_bytes(result.artifact_dir)
    metrics = _json_safe(result.metrics)
    version = _scoped(
        job.organization_id,
        services.training_job_succeed,
        job_id=job.id,
        attempt=job.attempt,
        strategy=result.strategy,
        device=result.device,
        metrics=metrics,
        history=_json_safe(result.history),
        resolved_hyperparameters=_json_safe(_resolved(result)),
        labels=list(metrics.get("labels") or []),
        suggested_threshold=metrics.get("suggested_threshold"),
        holdout_metrics=_json_safe(_summary(holdout_metrics)),
        artifact_key=key,
        artifact_size_bytes=size,
    )
    if version is None:
        # Another attempt finished first: this attempt's artifact is not referenced.
        artifact_storage().delete(organization_id=job.organization_id, key=key)
    shutil.rmtree(workspace, ignore_errors=True)
    logger.info("training.attempt_finished", extra={"job_id": str(job.id), "seconds": time.monotonic() - started})


def _resolved(result: Any) -> dict:
    from ml.artifacts import read_manifest

    try:
        return dict(read_manifest(result.artifact_dir).get("config") or {})
    except Exception:  # the manifest is checked again when served; here it is only informative
        return {}


def _summary(metrics: dict) -> dict:
    keep = ("accuracy", "macro_f1", "ece", "mrr", "recall_at_1", "recall_at_5", "recall_at_10", "n_examples")
    return {key: metrics[key] for key in keep if key in metrics}


def _json_safe(value: Any) -> Any:
    """numpy scalars and paths out; the result is stored as JSON."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
