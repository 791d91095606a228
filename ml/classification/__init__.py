"""Text classification (intent, sentiment, topic): config, data checks, training, prediction.

Torch is imported lazily: `from ml.classification import LabelledText, ClassificationConfig`
is cheap; touching train_classifier / Classifier / evaluate_classifier loads torch.

Example:
    >>> from ml.classification import ClassificationConfig, LabelledText, train_classifier  # doctest: +SKIP
    >>> result = train_classifier(train=rows, validation=None, base_model=resolve_base_model(),
    ...                           config=ClassificationConfig(), output_dir=Path("out/v1"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml.classification.config import ClassificationConfig, LabelledText
from ml.classification.prediction import Prediction
from ml.progress import TrainingResult

if TYPE_CHECKING:
    from ml.classification.evaluate import evaluate_classifier
    from ml.classification.model import Classifier
    from ml.classification.train import train_classifier

_LAZY = {
    "train_classifier": "ml.classification.train",
    "Classifier": "ml.classification.model",
    "evaluate_classifier": "ml.classification.evaluate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ml.classification' has no attribute {name!r}")


__all__ = [
    "ClassificationConfig",
    "Classifier",
    "LabelledText",
    "Prediction",
    "TrainingResult",
    "evaluate_classifier",
    "train_classifier",
]
