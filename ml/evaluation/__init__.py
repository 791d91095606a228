"""Metrics, calibration and reports, in numpy (+ scipy for the temperature fit); no torch.

Example:
    >>> from ml.evaluation import accuracy, suggest_threshold
    >>> accuracy([0, 1, 1], [0, 1, 0])
    0.6666666666666666
"""

from ml.evaluation.calibration import fit_temperature, negative_log_likelihood, softmax
from ml.evaluation.metrics import (
    accuracy,
    classification_metrics,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
    mean_reciprocal_rank,
    per_class_report,
    recall_at_k,
    retrieval_metrics,
    suggest_threshold,
)

__all__ = [
    "accuracy",
    "classification_metrics",
    "confusion_matrix",
    "expected_calibration_error",
    "fit_temperature",
    "macro_f1",
    "mean_reciprocal_rank",
    "negative_log_likelihood",
    "per_class_report",
    "recall_at_k",
    "retrieval_metrics",
    "softmax",
    "suggest_threshold",
]
