"""`evaluate_classifier`: score a saved artifact on labelled rows (e.g. the tenant's frozen holdout)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ml.classification.config import LabelledText
from ml.classification.data import check_rows
from ml.classification.model import Classifier
from ml.encoders.registry import EncoderSpec
from ml.evaluation import classification_metrics, expected_calibration_error, softmax
from ml.progress import TrainingDataError


def evaluate_classifier(
    *,
    artifact_dir: Path,
    base_model: EncoderSpec,
    examples: Sequence[LabelledText],
    device: str | None = None,
    classifier: Classifier | None = None,
) -> dict[str, Any]:
    """Metrics of a trained classifier on `examples`.

    Args:
        artifact_dir: an artifact written by train_classifier.
        base_model: the base model this process serves (a foreign artifact is refused).
        examples: labelled rows whose labels the model knows.
        device: "cpu" | "cuda[:n]" | None.
        classifier: an already loaded Classifier for artifact_dir (skips loading).

    Returns:
        classification_metrics (accuracy, macro_f1, per_class, confusion_matrix, labels, ece) plus
        ece_before (uncalibrated), temperature, suggested_threshold and the threshold's
        precision/coverage on these rows.

    Example:
        >>> metrics = evaluate_classifier(artifact_dir=out, base_model=spec, examples=holdout)  # doctest: +SKIP
        >>> metrics["accuracy"]  # doctest: +SKIP
        0.91
    """
    check_rows(examples, "Evaluation")
    if not examples:
        raise TrainingDataError("No examples to evaluate on.")
    classifier = classifier or Classifier.load(artifact_dir, base_model, device=device)
    index = {label: i for i, label in enumerate(classifier.labels)}
    unknown = sorted({row.label for row in examples} - set(index))
    if unknown:
        raise TrainingDataError(f"Labels the model does not know: {', '.join(map(repr, unknown[:10]))}.")
    logits = classifier.logits([row.text for row in examples])
    targets = np.array([index[row.label] for row in examples])
    before, after = softmax(logits, 1.0), softmax(logits, classifier.temperature)
    predicted = after.argmax(axis=1)
    correct = predicted == targets
    metrics = classification_metrics(targets, predicted, after, classifier.labels)
    accepted = after.max(axis=1) >= classifier.suggested_threshold
    metrics.update(
        ece_before=expected_calibration_error(before.max(axis=1), before.argmax(axis=1) == targets),
        ece_after=metrics["ece"],
        temperature=classifier.temperature,
        suggested_threshold=classifier.suggested_threshold,
        threshold_precision=float(correct[accepted].mean()) if accepted.any() else 0.0,
        threshold_coverage=float(accepted.mean()),
    )
    return metrics
