"""Temperature scaling (Guo et al. 2017) in numpy + scipy: one scalar T divides the logits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# T outside [0.05, 20] means the validation set is degenerate (e.g. all correct with huge margins);
# clamping keeps predictions usable instead of collapsing every confidence to 1.0 or 1/n.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature, numerically stable."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def negative_log_likelihood(logits: np.ndarray, labels: Sequence[int], temperature: float) -> float:
    """Mean cross-entropy of the labels under softmax(logits / temperature)."""
    probs = softmax(logits, temperature)
    picked = probs[np.arange(len(probs)), np.asarray(labels, dtype=np.int64)]
    return float(-np.log(np.clip(picked, 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, labels: Sequence[int]) -> float:
    """The temperature T > 0 that minimises validation NLL of softmax(logits / T).

    Args:
        logits: (n, n_labels) raw scores on held-out data.
        labels: the n true label indices.

    Returns:
        T in [0.05, 20]; 1.0 when there is nothing to fit on.

    Example:
        >>> fit_temperature(np.array([[4.0, 0.0], [4.0, 0.0]]), [0, 1]) > 1.0
        True
    """
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    if not len(logits):
        return 1.0
    # Search log T so the optimiser sees a smooth, unconstrained-looking 1-D problem.
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(logits, labels, float(np.exp(log_t))),
        bounds=(np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)),
        method="bounded",
    )
    return float(np.exp(result.x))
