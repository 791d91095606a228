"""Classification and ranking metrics in plain numpy (importable without torch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# 15 equal-width bins is the usual choice for ECE (Guo et al. 2017, "On Calibration of Modern Neural Networks").
ECE_BINS = 15


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Fraction of exact matches. Example: accuracy([0, 1], [0, 0]) == 0.5."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean()) if len(y_true) else 0.0


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> list[list[int]]:
    """Rows are true labels, columns predicted. Example: confusion_matrix([0, 1], [0, 0], 2) == [[1, 0], [1, 0]]."""
    matrix = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return matrix.tolist()


def per_class_report(
    y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]
) -> dict[str, dict[str, float]]:
    """{label: {"precision", "recall", "f1", "support"}}; an undefined ratio (0/0) counts as 0."""
    matrix = np.asarray(confusion_matrix(y_true, y_pred, len(labels)), dtype=np.float64)
    true_positives = np.diag(matrix)
    predicted, support = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(true_positives, predicted, out=np.zeros_like(true_positives), where=predicted > 0)
    recall = np.divide(true_positives, support, out=np.zeros_like(true_positives), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(true_positives), where=denominator > 0)
    return {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> float:
    """Unweighted mean F1 over the labels that occur in y_true or y_pred."""
    report = per_class_report(y_true, y_pred, [str(i) for i in range(n_labels)])
    present = set(np.asarray(y_true).tolist()) | set(np.asarray(y_pred).tolist())
    scores = [report[str(i)]["f1"] for i in sorted(present)]
    return float(np.mean(scores)) if scores else 0.0


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = ECE_BINS) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins.

    Example: expected_calibration_error([0.9, 0.9], [True, False]) == 0.4.
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if not len(confidences):
        return 0.0
    bins = np.minimum((confidences * n_bins).astype(np.int64), n_bins - 1)
    error = 0.0
    for bin_index in np.unique(bins):
        members = bins == bin_index
        error += members.mean() * abs(correct[members].mean() - confidences[members].mean())
    return float(error)


def suggest_threshold(
    confidences: Sequence[float], correct: Sequence[bool], target_precision: float
) -> tuple[float, float, float]:
    """The lowest confidence threshold whose accepted predictions reach `target_precision`.

    Predictions with confidence >= threshold are "sure"; the others are handed to a human.
    When no threshold reaches the target, the threshold with the best precision is returned
    (callers compare the returned precision with the target to say so).

    Returns:
        (threshold, precision among accepted, coverage = fraction accepted).

    Example:
        >>> suggest_threshold([0.9, 0.8, 0.4], [True, True, False], 0.9)
        (0.8, 1.0, 0.6666666666666666)
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if not len(confidences):
        return 1.0, 0.0, 0.0
    order = np.argsort(-confidences, kind="stable")
    sorted_confidences, sorted_correct = confidences[order], correct[order]
    accepted = np.arange(1, len(order) + 1)
    precision = np.cumsum(sorted_correct) / accepted
    # A threshold equal to a confidence accepts every tied prediction too: use the last index of each tie.
    last_of_tie = np.r_[sorted_confidences[1:] != sorted_confidences[:-1], True]
    candidates = np.flatnonzero(last_of_tie)
    reaching = candidates[precision[candidates] >= target_precision]
    if len(reaching):
        index = reaching[-1]
    else:
        best = precision[candidates].max()
        index = candidates[np.flatnonzero(precision[candidates] >= best - 1e-12)[-1]]
    return float(sorted_confidences[index]), float(precision[index]), float(accepted[index] / len(order))


def recall_at_k(ranks: Sequence[int], k: int) -> float:
    """Fraction of queries whose correct item is ranked within the top k (ranks are 1-based)."""
    ranks = np.asarray(ranks)
    return float((ranks <= k).mean()) if len(ranks) else 0.0


def mean_reciprocal_rank(ranks: Sequence[int]) -> float:
    """Mean of 1/rank (ranks are 1-based). Example: mean_reciprocal_rank([1, 2]) == 0.75."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return float((1.0 / ranks).mean()) if len(ranks) else 0.0


def retrieval_metrics(ranks: Sequence[int]) -> dict[str, float]:
    """recall_at_1/5/10 and mrr from 1-based ranks of the correct answers."""
    return {
        "recall_at_1": recall_at_k(ranks, 1),
        "recall_at_5": recall_at_k(ranks, 5),
        "recall_at_10": recall_at_k(ranks, 10),
        "mrr": mean_reciprocal_rank(ranks),
    }


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], probs: np.ndarray, labels: Sequence[str]
) -> dict[str, Any]:
    """Everything the dashboard shows for a classifier, JSON-safe.

    Args:
        y_true, y_pred: label indices.
        probs: (n, n_labels) probabilities (used for ECE).
        labels: label names by index.

    Returns:
        {"accuracy", "macro_f1", "per_class", "confusion_matrix", "labels", "ece", "n_examples"}.
    """
    probs = np.asarray(probs)
    confidences = probs.max(axis=1) if len(probs) else np.zeros(0)
    correct = np.asarray(y_true) == np.asarray(y_pred)
    return {
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred, len(labels)),
        "per_class": per_class_report(y_true, y_pred, labels),
        "confusion_matrix": confusion_matrix(y_true, y_pred, len(labels)),
        "labels": list(labels),
        "ece": expected_calibration_error(confidences, correct),
        "n_examples": len(y_true),
    }
