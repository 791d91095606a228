"""Models behind a monitor: which ones score it, and running them (no database writes here).

Sentiment: the organization's active version of `monitor.sentiment_model_name` when it is a
three-sentiment classifier, else the starter model (a head on the shared encoder, trained
once per machine from apps/sentiment/starter_examples.py). Topic: the active version of
`monitor.topic_model_name`, else zero-shot similarity to the monitor's topic descriptions.

Everything goes through the process's shared `ModelServer` (apps/training/serving.py), so
the base encoder is loaded once. Internal scoring is metered as `documents_processed` by
the caller, never as `api_predictions`. torch is imported on first use only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.core.storage import artifact_storage
from apps.sentiment.models import Monitor, Sentiment
from apps.sentiment.starter_examples import STARTER_EXAMPLES
from apps.training.models import ModelVersion, Task
from apps.training.serving import model_server

logger = logging.getLogger(__name__)

STARTER = "starter"
ZERO_SHOT = "zero-shot"
# Bump when the starter's training recipe changes: it is part of the artifact's hash.
STARTER_RECIPE = {"strategy": "head", "seed": 42, "version": 1}
_starter_lock = threading.Lock()


@dataclass(frozen=True)
class Score:
    label: str
    confidence: float
    probabilities: dict[str, float]


def _rounded(probabilities: dict[str, Any]) -> dict[str, float]:
    return {label: round(float(p), 6) for label, p in probabilities.items()}


# --- starter sentiment model -----------------------------------------------------------


def starter_fingerprint(base_weights_sha256: str) -> str:
    payload = json.dumps(
        {"examples": STARTER_EXAMPLES, "base": base_weights_sha256, "recipe": STARTER_RECIPE}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def starter_model_directory() -> Path:
    """The starter artifact on local disk, trained on first use (seconds) and reused after.

    Two workers may train at once: each writes its own staging folder and renames it into
    place; the second rename fails on the existing folder and its copy is discarded.
    """
    server = model_server()
    root = Path(settings.ARTIFACT_CACHE_DIR) / "starter-sentiment"
    directory = root / starter_fingerprint(server.base_model.weights_sha256)
    if (directory / "manifest.json").exists():
        return directory
    with _starter_lock:
        if (directory / "manifest.json").exists():
            return directory
        from ml.classification import ClassificationConfig, LabelledText, train_classifier

        root.mkdir(parents=True, exist_ok=True)
        staging = root / f".{directory.name}.{uuid.uuid4().hex}"
        rows = [LabelledText(text, label) for text, label in STARTER_EXAMPLES]
        config = ClassificationConfig(strategy=STARTER_RECIPE["strategy"], seed=STARTER_RECIPE["seed"])
        result = train_classifier(
            train=rows, validation=None, base_model=server.base_model, config=config, output_dir=staging
        )
        try:
            os.rename(staging, directory)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another worker got there first
        logger.info(
            "sentiment.starter_trained",
            extra={"directory": str(directory), "accuracy": result.metrics.get("accuracy")},
        )
    return directory


# --- tenant model versions -------------------------------------------------------------


def _active_version(monitor: Monitor, name: str) -> ModelVersion | None:
    if not name:
        return None
    return (
        ModelVersion.objects.for_org(monitor.organization_id)
        .filter(name=name, is_active=True, task=Task.CLASSIFICATION)
        .first()
    )


def _version_predict(version: ModelVersion, texts: list[str]) -> list[Any]:
    directory = artifact_storage().local_directory(organization_id=version.organization_id, key=version.artifact_key)
    return model_server().predict(
        key=f"org/{version.organization_id}/models/{version.id}", artifact_dir=directory, texts=texts
    )


def sentiment_version(monitor: Monitor) -> ModelVersion | None:
    """The tenant's sentiment model for `monitor`, when it has one with the three sentiment labels."""
    version = _active_version(monitor, monitor.sentiment_model_name)
    if version is not None and set(version.labels) != set(Sentiment.values):
        logger.warning(
            "sentiment.model_labels_mismatch",
            extra={"organization_id": monitor.organization_id, "model_version_id": str(version.id)},
        )
        return None
    return version


def sentiment_predict(*, monitor: Monitor, texts: list[str]) -> tuple[list[Score], str]:
    """(one Score per text, what scored them: "starter" or "<name> v<version>")."""
    version = sentiment_version(monitor)
    if version is not None:
        predictions, scored_by = _version_predict(version, texts), f"{version.name} v{version.version}"
    else:
        directory = starter_model_directory()
        predictions = model_server().predict(
            key=f"starter/sentiment/{directory.name}", artifact_dir=directory, texts=texts
        )
        scored_by = STARTER
    return [Score(p.label, round(float(p.confidence), 6), _rounded(p.probabilities)) for p in predictions], scored_by


# --- topics ----------------------------------------------------------------------------


def _embed(texts: list[str]) -> Any:
    # The shared encoder with no tenant adapter active (ModelServer.embed holds the hooks' lock).
    return model_server().embed(texts)


@functools.lru_cache(maxsize=256)
def _topic_vectors(prompts: tuple[str, ...]) -> Any:
    """Topic prompts change only when a monitor's topics do: embed each set once per process."""
    return _embed(list(prompts))


def topic_version(monitor: Monitor) -> ModelVersion | None:
    """The tenant's topic model for `monitor` (its active version), or None for zero-shot."""
    return _active_version(monitor, monitor.topic_model_name)


def topic_predict(*, monitor: Monitor, texts: list[str]) -> tuple[list[Score], str]:
    """(one Score per text, "zero-shot" or "<name> v<version>")."""
    version = topic_version(monitor)
    if version is not None:
        predictions = _version_predict(version, texts)
        scores = [Score(p.label, round(float(p.confidence), 6), _rounded(p.probabilities)) for p in predictions]
        return scores, f"{version.name} v{version.version}"
    from ml.classification.zero_shot import Topic, score_topics

    topics = [Topic(topic["name"], topic.get("description", "")) for topic in monitor.topics]
    results = score_topics(
        _embed(texts),
        _topic_vectors(tuple(topic.prompt for topic in topics)),
        [topic.name for topic in topics],
        temperature=settings.SENTIMENT_ZERO_SHOT_TEMPERATURE,
        floor=settings.SENTIMENT_ZERO_SHOT_FLOOR,
    )
    scores = [
        Score(result.topic, round(result.probabilities.get(result.topic, 0.0), 6), _rounded(result.probabilities))
        for result in results
    ]
    return scores, ZERO_SHOT
