"""The prediction record (no torch: the web process builds and serialises these)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.evaluation.calibration import softmax


@dataclass(frozen=True)
class Prediction:
    """One classified text.

    Attributes:
        label: the most probable label.
        confidence: its calibrated probability.
        probabilities: {label: calibrated probability} over every label.
        is_unsure: confidence < the model's suggested threshold (hand to a human / ask to clarify).
    """

    label: str
    confidence: float
    probabilities: dict[str, float]
    is_unsure: bool


def predictions_from_logits(
    logits: np.ndarray, labels: Sequence[str], temperature: float, threshold: float
) -> list[Prediction]:
    """Apply temperature scaling and the threshold to raw logits."""
    probabilities = softmax(np.asarray(logits), temperature)
    predictions = []
    for row in probabilities:
        best = int(row.argmax())
        confidence = float(row[best])
        predictions.append(
            Prediction(
                label=labels[best],
                confidence=confidence,
                probabilities={label: float(p) for label, p in zip(labels, row, strict=True)},
                is_unsure=confidence < threshold,
            )
        )
    return predictions
