"""Classification inputs and settings (no torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ml.estimates import choose_strategy, default_epochs
from ml.progress import TrainingDataError

STRATEGIES = ("auto", "head", "lora", "full")

# Per-strategy defaults, chosen from short Banking77 runs on the 2-core machine (numbers in
# the trainer's module docstring). Encoder learning rates follow the usual ranges: LoRA
# 1e-4..1e-3 (Hu et al. 2021), full fine-tuning 2e-5..5e-5 (Devlin et al. 2019). The head
# starts from class centroids (see train.py) and moves at a higher rate in every strategy.
ENCODER_LEARNING_RATE = {"head": 0.0, "lora": 5e-4, "full": 5e-5}
HEAD_LEARNING_RATE = {"head": 5e-3, "lora": 3e-3, "full": 3e-3}
# Small data gets batch 16 for more optimizer steps per epoch; the head trains on cached vectors.
SMALL_DATA_ROWS = 1000
LORA_RANK = 8
LORA_ALPHA_PER_RANK = 2.0  # alpha = 2 * rank, the common peft setting: scale alpha/r = 2
LORA_DROPOUT = 0.1
# Logit scale of the centroid-initialised head: cosines differ by ~0.1-0.3 between intents,
# so x20 gives logit gaps of 2-6, a confident but trainable softmax from step 0.
HEAD_SCALE = 20.0


@dataclass(frozen=True)
class LabelledText:
    """One training or evaluation row. Example: LabelledText("I lost my card", "card_lost")."""

    text: str
    label: str


@dataclass(frozen=True)
class ClassificationConfig:
    """Training settings; None means "choose automatically" (the resolved values go into the manifest).

    Attributes:
        strategy: "auto" | "head" (frozen encoder + linear head) | "lora" (LoRA adapters + head) | "full".
        epochs: passes over the training data (auto: ml.estimates.default_epochs).
        learning_rate: encoder learning rate for lora/full, head learning rate for head.
        batch_size: examples per optimizer step (auto: 16 up to 1,000 rows, else 32).
        lora_rank: LoRA rank r (auto: 8); alpha is 2r.
        max_seq_length: tokens kept per text (128 covers ~all support messages).
        seed: seeds the split, shuffling and initialisation.
        target_precision: precision the suggested confidence threshold aims for on validation.
        device: "cpu" | "cuda[:n]" | None (a GPU when available).
    """

    strategy: str = "auto"
    epochs: int | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    lora_rank: int | None = None
    max_seq_length: int = 128
    seed: int = 42
    target_precision: float = 0.9
    device: str | None = None


def resolve_config(
    config: ClassificationConfig, *, n_examples: int, n_labels: int, device: str
) -> tuple[dict[str, Any], str | None]:
    """Fill every automatic value; returns (resolved settings, the auto strategy's reason or None)."""
    if config.strategy not in STRATEGIES:
        raise TrainingDataError(f"Unknown strategy {config.strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    for name in ("epochs", "batch_size", "lora_rank"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise TrainingDataError(f"{name} must be at least 1 (got {value}).")
    if not 0.0 < config.target_precision <= 1.0:
        raise TrainingDataError(f"target_precision must be in (0, 1] (got {config.target_precision}).")
    strategy, reason = config.strategy, None
    if strategy == "auto":
        strategy, reason = choose_strategy(
            task="classification", n_examples=n_examples, n_labels=n_labels, device=device
        )
    learning_rate = config.learning_rate or (
        HEAD_LEARNING_RATE["head"] if strategy == "head" else ENCODER_LEARNING_RATE[strategy]
    )
    rank = config.lora_rank or LORA_RANK
    resolved = {
        **asdict(config),
        "strategy": strategy,
        "device": device,
        "epochs": config.epochs or default_epochs(task="classification", strategy=strategy, n_examples=n_examples),
        "learning_rate": learning_rate,
        "head_learning_rate": HEAD_LEARNING_RATE[strategy] if strategy != "head" else learning_rate,
        "batch_size": config.batch_size or (16 if n_examples <= SMALL_DATA_ROWS and strategy != "head" else 32),
        "lora_rank": rank if strategy == "lora" else None,
        "lora_alpha": rank * LORA_ALPHA_PER_RANK if strategy == "lora" else None,
        "lora_dropout": LORA_DROPOUT if strategy == "lora" else None,
        "head_scale": HEAD_SCALE,
    }
    return resolved, reason
