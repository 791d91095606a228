"""Retrieval inputs and settings (no torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ml.estimates import choose_strategy, default_epochs
from ml.progress import TrainingDataError

# Encoder learning rates as for classification (LoRA 1e-4..1e-3, full 2e-5..5e-5); retrieval
# pairs are already close to the base model's training task, so the lower half of each range.
LEARNING_RATE = {"lora": 2e-4, "full": 2e-5}
# In-batch negatives: a bigger batch gives each query more negatives; 32 fits CPU memory easily.
BATCH_SIZE = 32
# Cosine similarities x20 as logits: the MultipleNegativesRankingLoss default scale (sentence-transformers).
SIMILARITY_SCALE = 20.0
LORA_RANK, LORA_ALPHA_PER_RANK, LORA_DROPOUT = 8, 2.0, 0.1


@dataclass(frozen=True)
class TextPair:
    """A query, the text that answers it, and optionally a text that looks close but does not.

    Example: TextPair("card not arrived", "Cards arrive within 5 working days.").
    """

    query: str
    positive: str
    negative: str | None = None


@dataclass(frozen=True)
class RetrievalConfig:
    """Retrieval fine-tuning settings; None = automatic (resolved values go into the manifest).

    Attributes:
        strategy: "auto" | "lora" | "full" ("head" does not exist for retrieval).
        epochs, learning_rate, batch_size, lora_rank: None = defaults above.
        max_seq_length: tokens kept per text.
        seed: seeds split, shuffling and initialisation.
        device: "cpu" | "cuda[:n]" | None.
    """

    strategy: str = "auto"
    epochs: int | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    lora_rank: int | None = None
    max_seq_length: int = 128
    seed: int = 42
    device: str | None = None


def resolve_config(config: RetrievalConfig, *, n_examples: int, device: str) -> tuple[dict[str, Any], str | None]:
    """Fill automatic values; returns (settings, auto reason or None)."""
    if config.strategy == "head":
        raise TrainingDataError(
            "Strategy head does not apply to retrieval: there is no head to train; use lora, full or auto."
        )
    if config.strategy not in ("auto", "lora", "full"):
        raise TrainingDataError(f"Unknown strategy {config.strategy!r}; choose auto, lora or full.")
    strategy, reason = config.strategy, None
    if strategy == "auto":
        strategy, reason = choose_strategy(task="retrieval", n_examples=n_examples, n_labels=0, device=device)
    rank = config.lora_rank or LORA_RANK
    settings = {
        **asdict(config),
        "strategy": strategy,
        "device": device,
        "epochs": config.epochs or default_epochs(task="retrieval", strategy=strategy, n_examples=n_examples),
        "learning_rate": config.learning_rate or LEARNING_RATE[strategy],
        "batch_size": config.batch_size or BATCH_SIZE,
        "lora_rank": rank if strategy == "lora" else None,
        "lora_alpha": rank * LORA_ALPHA_PER_RANK if strategy == "lora" else None,
        "lora_dropout": LORA_DROPOUT if strategy == "lora" else None,
        "similarity_scale": SIMILARITY_SCALE,
    }
    return settings, reason


def check_pairs(pairs, name: str) -> None:
    """Every pair has a non-empty query and positive (and negative when given)."""
    for index, pair in enumerate(pairs):
        if not isinstance(pair, TextPair):
            raise TrainingDataError(f"{name} pair {index} is a {type(pair).__name__}, expected TextPair.")
        if not pair.query.strip() or not pair.positive.strip():
            raise TrainingDataError(f"{name} pair {index} has an empty query or positive.")
        if pair.negative is not None and not pair.negative.strip():
            raise TrainingDataError(f"{name} pair {index} has an empty negative (use None for no negative).")
