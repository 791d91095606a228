"""Strategy choice and training-time estimates: pure arithmetic, importable without torch.

The web process calls these to show "about 2 minutes" before a job is queued, and the
trainers call them to resolve strategy="auto" and epochs=None, so both agree.

Throughputs are for all-MiniLM-L6-v2 with short texts (Banking77, ~12 tokens median) and
dynamic padding. Other base models or long texts will be slower; the estimate is a guide.
"""

from __future__ import annotations

import math

TASKS = ("classification", "retrieval")
STRATEGIES = ("head", "lora", "full")

# Examples (or pairs) per second for one training pass (forward + backward + AdamW step),
# batch 32, max_seq_length 64-128. CPU numbers were measured on the 2-core dev machine
# (torch 2.13 CPU, 2 threads, other jobs sharing the CPU) with /tmp measurement scripts on
# Banking77 rows: LoRA rank 8 on query/value 56 ex/s, all weights 25 ex/s, inference-only
# encoding 171 ex/s (DESIGN.md quotes ~300/s on an idle machine; we keep the busy number).
# NOTE: the CUDA numbers are NOT measured (no GPU was available); they are order-of-magnitude
# guesses for a single modern GPU with bf16 autocast and should be replaced by a measurement.
TRAIN_EXAMPLES_PER_SECOND = {
    "cpu": {"lora": 56.0, "full": 25.0},
    "cuda": {"lora": 1500.0, "full": 1000.0},
}
ENCODE_EXAMPLES_PER_SECOND = {"cpu": 171.0, "cuda": 5000.0}
# A retrieval pair encodes two texts (three with an explicit negative).
RETRIEVAL_TEXTS_PER_PAIR = 2.0
# Loading the encoder, the validation passes between epochs and writing the artifact (~5 s on CPU).
FIXED_OVERHEAD_SECONDS = {"cpu": 5.0, "cuda": 10.0}
VALIDATION_FRACTION = 0.15
# Up to this many classification rows lora/full train the encoder with a supervised-contrastive
# loss and fit a logistic-regression head on the adapted embeddings after every epoch (SetFit
# style, see ml.classification.config), so each epoch also re-encodes the training rows.
CONTRASTIVE_MAX_EXAMPLES = 1000

# Below these sizes fine-tuning the encoder overfits a few dozen rows and gains nothing over a
# head on frozen embeddings, which trains in seconds.
MIN_EXAMPLES_TO_FINE_TUNE = 40
MIN_EXAMPLES_PER_LABEL_TO_FINE_TUNE = 4
# On a GPU all weights train fast enough, and with thousands of examples full fine-tuning is
# the most accurate; on CPU it is 2.2x slower than LoRA for little gain.
MIN_EXAMPLES_FOR_FULL_ON_GPU = 2000
# Longest CPU fine-tune auto will start (seconds); above it auto falls back to head.
CPU_FINE_TUNE_BUDGET_SECONDS = 30 * 60


def _device_kind(device: str) -> str:
    return "cuda" if device.startswith("cuda") else "cpu"


def default_epochs(*, task: str, strategy: str, n_examples: int) -> int:
    """Epochs used when the config leaves `epochs=None`.

    Small data needs more passes to take enough optimizer steps; big data converges in a few.
    The head trains on cached embeddings, so many epochs cost almost nothing.
    """
    if strategy == "head":
        # Banking77 10-shot: validation loss flattens after ~40 epochs of the centroid-initialised head.
        return 40
    if task == "retrieval":
        return 3 if n_examples <= 2000 else 1
    if n_examples <= CONTRASTIVE_MAX_EXAMPLES:
        # Contrastive LoRA on Banking77 10-shot: 4 epochs (~100 optimizer steps of 32 rows) reach
        # what 10 cross-entropy epochs did not (numbers in ml.classification.config).
        return 4 if strategy == "lora" else 6
    if n_examples <= 5000:
        return 5 if strategy == "lora" else 4
    return 3 if strategy == "lora" else 2


def estimate_training_seconds(*, task: str, strategy: str, n_examples: int, device: str) -> float:
    """Rough wall-clock seconds for a training run with default epochs.

    Args:
        task: "classification" | "retrieval".
        strategy: "head" | "lora" | "full" (not "auto": call choose_strategy first).
        n_examples: training rows (classification) or pairs (retrieval), validation included.
        device: "cpu" or "cuda[:n]".

    Returns:
        Seconds, including model loading and validation.

    Example:
        >>> round(estimate_training_seconds(task="classification", strategy="head", n_examples=171, device="cpu"))
        6
    """
    if task not in TASKS or strategy not in STRATEGIES:
        raise ValueError(f"Unknown task {task!r} or strategy {strategy!r}.")
    kind = _device_kind(device)
    texts_per_example = RETRIEVAL_TEXTS_PER_PAIR if task == "retrieval" else 1.0
    encode_seconds = n_examples * texts_per_example / ENCODE_EXAMPLES_PER_SECOND[kind]
    if strategy == "head":
        return FIXED_OVERHEAD_SECONDS[kind] + encode_seconds
    epochs = default_epochs(task=task, strategy=strategy, n_examples=n_examples)
    train_rows = n_examples * (1 - VALIDATION_FRACTION) * texts_per_example
    encoded_per_epoch = (
        1.0 if task == "classification" and n_examples <= CONTRASTIVE_MAX_EXAMPLES else VALIDATION_FRACTION
    )
    per_epoch = train_rows / TRAIN_EXAMPLES_PER_SECOND[kind][strategy] + encoded_per_epoch * encode_seconds
    return FIXED_OVERHEAD_SECONDS[kind] + epochs * per_epoch + encode_seconds


def choose_strategy(*, task: str, n_examples: int, n_labels: int, device: str) -> tuple[str, str]:
    """Pick head / lora / full from data size and hardware, with the reason as a sentence.

    Args:
        task: "classification" | "retrieval" (retrieval never gets "head").
        n_examples: training rows or pairs.
        n_labels: distinct labels (ignored for retrieval).
        device: "cpu" or "cuda[:n]".

    Returns:
        (strategy, reason).

    Example:
        >>> choose_strategy(task="classification", n_examples=24, n_labels=3, device="cpu")[0]
        'head'
    """
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; expected one of {TASKS}.")
    kind = _device_kind(device)
    if task == "classification":
        per_label = n_examples / max(n_labels, 1)
        if n_examples < MIN_EXAMPLES_TO_FINE_TUNE or per_label < MIN_EXAMPLES_PER_LABEL_TO_FINE_TUNE:
            return "head", (
                f"Strategy auto chose head: {n_examples} examples ({per_label:.1f} per label) are too few to "
                "fine-tune the encoder without overfitting, so a linear head on frozen embeddings is trained."
            )
    if kind == "cuda" and n_examples >= MIN_EXAMPLES_FOR_FULL_ON_GPU:
        return "full", f"Strategy auto chose full: {n_examples} examples on {device} are enough to train all weights."
    lora_seconds = estimate_training_seconds(task=task, strategy="lora", n_examples=n_examples, device=device)
    if task == "classification" and kind == "cpu" and lora_seconds > CPU_FINE_TUNE_BUDGET_SECONDS:
        head_seconds = math.ceil(
            estimate_training_seconds(task=task, strategy="head", n_examples=n_examples, device=device)
        )
        return "head", (
            f"Strategy auto chose head: LoRA on {n_examples} examples would take about {lora_seconds / 60:.0f} minutes "
            f"on cpu (budget {CPU_FINE_TUNE_BUDGET_SECONDS // 60} minutes); a head on frozen embeddings takes about "
            f"{head_seconds} s."
        )
    # NOTE: on Banking77 10-shot (770 rows, CPU) contrastive lora scores 86.7% test accuracy in
    # ~1 minute vs 84.4% for head (ml.classification.config): worth the minute from 4 rows per label.
    return "lora", (
        f"Strategy auto chose lora: {n_examples} examples on {device}; LoRA adapters on the encoder's attention "
        f"fine-tune it in about {lora_seconds / 60:.1f} minutes and keep the model small."
    )
