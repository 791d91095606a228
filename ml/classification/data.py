"""Argument checks and the seeded stratified validation split (no torch)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from ml.classification.config import LabelledText
from ml.progress import TrainingDataError

VALIDATION_FRACTION = 0.15


def check_rows(rows: Sequence[LabelledText], name: str) -> None:
    """Every row is a LabelledText with non-empty text and label."""
    for index, row in enumerate(rows):
        if not isinstance(row, LabelledText):
            raise TrainingDataError(f"{name} row {index} is a {type(row).__name__}, expected LabelledText.")
        if not row.text or not row.text.strip():
            raise TrainingDataError(f"{name} row {index} has an empty text.")
        if not row.label or not str(row.label).strip():
            raise TrainingDataError(f"{name} row {index} has an empty label.")


def check_training_data(train: Sequence[LabelledText], validation: Sequence[LabelledText] | None) -> list[str]:
    """Validate the data up front; return the sorted label names.

    Raises:
        TrainingDataError: fewer than 2 labels, a label with fewer than 2 examples, empty texts,
            or validation labels that never occur in training.
    """
    check_rows(train, "Training")
    counts = Counter(row.label for row in train)
    if len(counts) < 2:
        only = f" ({next(iter(counts))!r})" if counts else ""
        raise TrainingDataError(
            f"Training data has {len(counts)} label{only}: a classifier needs at least 2 labels (one class only)."
        )
    rare = sorted(label for label, count in counts.items() if count < 2)
    if rare:
        raise TrainingDataError(
            f"Each label needs at least 2 examples; these have 1: {', '.join(map(repr, rare[:10]))}"
            + (" …" if len(rare) > 10 else "")
            + "."
        )
    if validation is not None:
        check_rows(validation, "Validation")
        unknown = sorted({row.label for row in validation} - set(counts))
        if unknown:
            raise TrainingDataError(f"Validation labels never seen in training: {', '.join(map(repr, unknown[:10]))}.")
        if not validation:
            raise TrainingDataError("The validation set is empty; pass None to split one off the training data.")
    return sorted(counts)


def stratified_split(
    rows: Sequence[LabelledText], *, seed: int, fraction: float = VALIDATION_FRACTION
) -> tuple[list[LabelledText], list[LabelledText]]:
    """Seeded split keeping each label's share: ~15% per label to validation, at least 1 when the
    label has 3+ examples (a label with 2 keeps both for training)."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        by_label.setdefault(row.label, []).append(index)
    validation_indices: set[int] = set()
    for label in sorted(by_label):
        indices = by_label[label]
        count = len(indices) if len(indices) < 3 else max(1, round(fraction * len(indices)))
        count = 0 if len(indices) < 3 else count
        validation_indices.update(rng.permutation(indices)[:count].tolist())
    train = [row for index, row in enumerate(rows) if index not in validation_indices]
    validation = [row for index, row in enumerate(rows) if index in validation_indices]
    return train, validation
