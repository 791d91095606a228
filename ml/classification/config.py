"""Classification inputs and settings (no torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ml.estimates import CONTRASTIVE_MAX_EXAMPLES, choose_strategy, default_epochs
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
# Up to CONTRASTIVE_MAX_EXAMPLES rows, lora/full train the encoder SetFit-style (Tunstall et al. 2022): a
# supervised-contrastive loss pulls same-label texts together, then a logistic-regression
# head is fitted on the adapted embeddings. Cross-entropy through a centroid-initialised head
# gave the encoder almost no signal on few-shot data. Banking77 10-shot, full 3,080-row test
# set, 2-core CPU: cross-entropy lora (10 epochs) 84.4%, the same as head; contrastive lora
# (4 epochs, 616 train / 154 validation rows, head refitted on all 770, C=10) 86.3% in
# 57 s; 8 epochs 85.6% in 107 s; with C=100 (below) 86.7%, 3 epochs 86.8%, batch 64 86.9%.
# Without the refit (C=10): 85.2% vs 87.9% on a 1,000-row test subset.
# NOTE: contrastive `full` (learning rate 2e-5, 6 epochs) is not measured yet.
CONTRASTIVE_LEARNING_RATE = {"lora": 1e-3, "full": 2e-5}  # setfit's body learning rate 2e-5 for full
# Batch 32 = 16 labels x 2 examples: more in-batch negatives than 16 at the same cost per row.
CONTRASTIVE_BATCH_SIZE = 32
# Same-label rows per contrastive group (2 = SetFit's positive pair).
CONTRASTIVE_GROUP_SIZE = 2
# Scale 20 on cosines (temperature 0.05), the sentence-transformers MultipleNegativesRankingLoss default.
CONTRASTIVE_SCALE = 20.0
# Inverse L2 strength of the logistic-regression head (sklearn's C). Banking77 10-shot: frozen
# embeddings C=1 84.3%, C=10 87.1%, C=100 87.4% (1,000 test rows); contrastive lora C=10 86.3%,
# C=100 86.7% on the full test set (validation 86.4% -> 87.7%).
HEAD_INVERSE_REGULARIZATION = 100.0
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
        learning_rate: encoder learning rate for lora/full, head learning rate for head
            (auto: lora 1e-3 / full 2e-5 with the contrastive objective, else 5e-4 / 5e-5).
        batch_size: examples per optimizer step (auto: 32; 16 for lora/full cross-entropy up to 1,000 rows).
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
    objective = "contrastive" if strategy != "head" and n_examples <= CONTRASTIVE_MAX_EXAMPLES else "cross_entropy"
    if strategy == "head":
        learning_rate = config.learning_rate or HEAD_LEARNING_RATE["head"]
    elif objective == "contrastive":
        learning_rate = config.learning_rate or CONTRASTIVE_LEARNING_RATE[strategy]
    else:
        learning_rate = config.learning_rate or ENCODER_LEARNING_RATE[strategy]
    if objective == "contrastive":
        default_batch = CONTRASTIVE_BATCH_SIZE
    else:
        default_batch = 16 if n_examples <= SMALL_DATA_ROWS and strategy != "head" else 32
    rank = config.lora_rank or LORA_RANK
    resolved = {
        **asdict(config),
        "strategy": strategy,
        "device": device,
        "epochs": config.epochs or default_epochs(task="classification", strategy=strategy, n_examples=n_examples),
        "learning_rate": learning_rate,
        "head_learning_rate": HEAD_LEARNING_RATE[strategy] if strategy != "head" else learning_rate,
        "batch_size": config.batch_size or default_batch,
        "objective": objective,
        "lora_rank": rank if strategy == "lora" else None,
        "lora_alpha": rank * LORA_ALPHA_PER_RANK if strategy == "lora" else None,
        "lora_dropout": LORA_DROPOUT if strategy == "lora" else None,
        "head_scale": HEAD_SCALE,
        "contrastive_scale": CONTRASTIVE_SCALE if objective == "contrastive" else None,
        "head_c": HEAD_INVERSE_REGULARIZATION if objective == "contrastive" else None,
    }
    return resolved, reason
