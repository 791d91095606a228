"""Predictions in this process: one shared `ml.serving.ModelServer`, created on first use.

torch is imported on the first prediction, never at start-up (tests/test_boundaries.py),
so a web process that serves no predictions never pays for it. Artifacts are read from
artifact storage (a local copy for S3) and cached per (organization, version) key.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

from apps.core.errors import ServiceError
from apps.core.storage import artifact_storage
from apps.metering.models import Meter
from apps.metering.services import quota_check, usage_event_record
from apps.training.models import ModelVersion, Task

_lock = threading.Lock()
_server: Any = None


def model_server() -> Any:
    global _server
    if _server is None:
        with _lock:
            if _server is None:
                from ml.encoders import resolve_base_model
                from ml.serving import ModelServer

                _server = ModelServer(
                    resolve_base_model(settings.ML_BASE_MODEL_PATH or None),
                    memory_budget_bytes=settings.SERVING_MEMORY_BUDGET_MB * 1024 * 1024,
                )
    return _server


def model_version_predict(*, version: ModelVersion, texts: list[str], request_id: str) -> list[dict[str, Any]]:
    """Classify `texts` with `version`; records one usage event per text, in the caller's transaction.

    Raises ServiceError for a version that cannot classify (a retrieval model).
    """
    if version.task != Task.CLASSIFICATION:
        raise ServiceError(
            f"{version} is a {version.task} model; predict classifies texts with a classification model.",
            code="unsupported_task",
            status=400,
        )
    # Refused before the model runs; recording below re-checks atomically.
    quota_check(organization=version.organization_id, meter=Meter.API_PREDICTIONS, quantity=len(texts))
    storage = artifact_storage()
    directory = storage.local_directory(organization_id=version.organization_id, key=version.artifact_key)
    key = f"org/{version.organization_id}/models/{version.id}"
    from ml.artifacts import IncompatibleArtifact

    try:
        predictions = model_server().predict(key=key, artifact_dir=directory, texts=texts)
    except IncompatibleArtifact as error:
        # The installation's base model changed since this version was trained.
        raise ServiceError(
            f"{version} cannot be served here: {error} Retrain it on this installation's base model.",
            code="incompatible_model",
            status=409,
        ) from error
    usage_event_record(
        organization=version.organization_id,
        meter=Meter.API_PREDICTIONS,
        quantity=len(texts),
        idempotency_key=f"predict:{request_id}",
        metadata={"model_version_id": str(version.id)},
        enforce_quota=True,
    )
    return [
        {
            "label": prediction.label,
            "confidence": round(float(prediction.confidence), 6),
            "probabilities": {label: round(float(p), 6) for label, p in prediction.probabilities.items()},
            "is_unsure": bool(prediction.is_unsure),
        }
        for prediction in predictions
    ]
