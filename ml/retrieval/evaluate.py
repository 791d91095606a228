"""`evaluate_retriever`: ranking metrics of a saved retriever on query/answer pairs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ml.encoders.registry import EncoderSpec
from ml.evaluation import retrieval_metrics
from ml.progress import TrainingDataError
from ml.retrieval.config import TextPair, check_pairs
from ml.retrieval.model import Retriever, ranks_of_positives
from ml.retrieval.train import corpus_and_targets


def evaluate_retriever(
    *, artifact_dir: Path, base_model: EncoderSpec, pairs: Sequence[TextPair], device: str | None = None
) -> dict[str, float]:
    """recall_at_1/5/10 and mrr, searching each query among the distinct positives of `pairs`.

    Example:
        >>> evaluate_retriever(artifact_dir=Path("out/faq-v1"), base_model=spec, pairs=holdout)["mrr"]  # doctest: +SKIP
        0.82
    """
    check_pairs(pairs, "Evaluation")
    if not pairs:
        raise TrainingDataError("No pairs to evaluate on.")
    retriever = Retriever.load(artifact_dir, base_model, device=device)
    corpus, targets = corpus_and_targets(pairs)
    ranks = ranks_of_positives(retriever.encode([p.query for p in pairs]), retriever.encode(corpus), targets)
    return {**retrieval_metrics(ranks), "n_pairs": len(pairs)}
