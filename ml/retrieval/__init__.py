"""Embedding fine-tuning and search (FAQ answer matching).

Torch loads lazily: TextPair and RetrievalConfig import without it.

Example:
    >>> from ml.retrieval import RetrievalConfig, TextPair, train_retriever  # doctest: +SKIP
    >>> result = train_retriever(train=pairs, validation=None, base_model=resolve_base_model(),
    ...                          config=RetrievalConfig(), output_dir=Path("out/faq-v1"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml.retrieval.config import RetrievalConfig, TextPair

if TYPE_CHECKING:
    from ml.retrieval.evaluate import evaluate_retriever
    from ml.retrieval.model import Retriever
    from ml.retrieval.train import train_retriever

_LAZY = {
    "train_retriever": "ml.retrieval.train",
    "Retriever": "ml.retrieval.model",
    "evaluate_retriever": "ml.retrieval.evaluate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ml.retrieval' has no attribute {name!r}")


__all__ = ["RetrievalConfig", "Retriever", "TextPair", "evaluate_retriever", "train_retriever"]
