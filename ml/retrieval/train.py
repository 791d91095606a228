"""`train_retriever`: fine-tune the encoder for query -> answer matching with in-batch negatives.

The loss is MultipleNegativesRankingLoss (Henderson et al. 2017; sentence-transformers):
for a batch of (query, positive[, negative]) the other positives and every explicit negative
are the query's negatives; cross-entropy over scaled cosine similarities. A small torch
loop instead of SentenceTransformerTrainer keeps cancellation, progress and checkpoints the
same as classification, and avoids the datasets/accelerate start-up cost (seconds per run).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ml.artifacts import base_model_entry, ensure_absent, staging_directory, write_manifest
from ml.encoders.lora import ADAPTER_FILE, inject_lora, save_adapter
from ml.encoders.registry import EncoderSpec, choose_device, load_encoder
from ml.encoders.runtime import autocast, embed, encode, needs_grad_scaler, seed_everything, tokenize
from ml.evaluation import retrieval_metrics
from ml.progress import TrainingCallbacks, TrainingDataError, TrainingResult, emit
from ml.retrieval.config import RetrievalConfig, TextPair, check_pairs, resolve_config
from ml.retrieval.model import ENCODER_DIR, ranks_of_positives
from ml.training_loop import run_epochs, steps_per_epoch

VALIDATION_FRACTION = 0.15
MIN_PAIRS_TO_HOLD_OUT = 7  # below this a 15% hold-out is 0-1 pairs: validate on the training pairs instead
MAX_GRAD_NORM = 1.0


def corpus_and_targets(pairs: Sequence[TextPair]) -> tuple[list[str], list[int]]:
    """The distinct positives (the searchable corpus) and each pair's positive index in it."""
    corpus: dict[str, int] = {}
    targets = [corpus.setdefault(pair.positive, len(corpus)) for pair in pairs]
    return list(corpus), targets


class _Run:
    def __init__(self, *, encoder, settings, train_pairs, val_pairs, device) -> None:
        self.encoder, self.settings, self.device = encoder, settings, device
        self.train_pairs, self.val_pairs = list(train_pairs), list(val_pairs)
        self.val_corpus, self.val_targets = corpus_and_targets(self.val_pairs)
        self.base_metrics = self.ranking_metrics()
        if settings["strategy"] == "lora":
            s = settings
            params = inject_lora(encoder, rank=s["lora_rank"], alpha=s["lora_alpha"], dropout=s["lora_dropout"])
        else:
            params = list(encoder.parameters())
            for parameter in params:
                parameter.requires_grad_(True)
        self.optimizer = torch.optim.AdamW(params, lr=settings["learning_rate"], weight_decay=0.01)
        self.scaler = torch.amp.GradScaler("cuda", enabled=needs_grad_scaler(device))
        self.history: list[dict[str, Any]] = []
        self.last_metrics: dict[str, float] = {}

    def _embed(self, texts: list[str]) -> torch.Tensor:
        features = tokenize(self.encoder, texts, max_seq_length=self.settings["max_seq_length"], device=self.device)
        with autocast(self.device):
            return F.normalize(embed(self.encoder, features).float(), dim=1)

    def batches(self, epoch: int) -> list[list[int]]:
        order = np.random.default_rng(self.settings["seed"] + epoch).permutation(len(self.train_pairs)).tolist()
        size = self.settings["batch_size"]
        return [order[i : i + size] for i in range(0, len(order), size)]

    def train_batch(self, batch: list[int]) -> tuple[float, int, int]:
        self.encoder.train()
        pairs = [self.train_pairs[i] for i in batch]
        negatives = [pair.negative for pair in pairs if pair.negative]
        queries = self._embed([pair.query for pair in pairs])
        candidates = self._embed([pair.positive for pair in pairs] + negatives)
        scores = self.settings["similarity_scale"] * queries @ candidates.T
        # The same answer can appear twice in a batch (two phrasings of one question): it is not a negative.
        positives = [pair.positive for pair in pairs]
        duplicate = torch.tensor(
            [[j != i and positives[j] == positives[i] for j in range(len(pairs))] for i in range(len(pairs))],
            device=scores.device,
        )
        scores[:, : len(pairs)] = scores[:, : len(pairs)].masked_fill(duplicate, float("-inf"))
        targets = torch.arange(len(pairs), device=scores.device)
        loss = F.cross_entropy(scores, targets)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], MAX_GRAD_NORM)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        correct = int((scores.argmax(dim=1) == targets).sum())
        return float(loss.detach()) * len(pairs), correct, len(pairs)

    def ranking_metrics(self) -> dict[str, float]:
        max_len = self.settings["max_seq_length"]
        queries = encode(self.encoder, [p.query for p in self.val_pairs], device=self.device, max_seq_length=max_len)
        corpus = encode(self.encoder, self.val_corpus, device=self.device, max_seq_length=max_len)
        queries, corpus = F.normalize(queries, dim=1), F.normalize(corpus, dim=1)
        scores = self.settings["similarity_scale"] * queries @ corpus.T
        metrics = retrieval_metrics(ranks_of_positives(queries.numpy(), corpus.numpy(), self.val_targets))
        metrics["loss"] = float(F.cross_entropy(scores, torch.tensor(self.val_targets)))
        return metrics

    def validate(self) -> dict[str, float]:
        self.last_metrics = self.ranking_metrics()
        return {
            "val_loss": self.last_metrics["loss"],
            "val_accuracy": self.last_metrics["recall_at_1"],
            "val_mrr": self.last_metrics["mrr"],
            "val_recall_at_5": self.last_metrics["recall_at_5"],
        }

    def trainable(self) -> dict[str, torch.Tensor]:
        return {name: p for name, p in self.encoder.named_parameters() if p.requires_grad}


def _split(train, validation, seed, callbacks) -> tuple[list[TextPair], list[TextPair]]:
    if validation is not None:
        return list(train), list(validation)
    if len(train) < MIN_PAIRS_TO_HOLD_OUT:
        emit(callbacks, "warning", f"Only {len(train)} pairs: validation uses the training pairs.")
        return list(train), list(train)
    order = np.random.default_rng(seed).permutation(len(train))
    held = max(1, round(VALIDATION_FRACTION * len(train)))
    val_index = set(order[:held].tolist())
    emit(callbacks, "info", f"Held out {held} of {len(train)} pairs (seed {seed}) for validation.")
    return [p for i, p in enumerate(train) if i not in val_index], [p for i, p in enumerate(train) if i in val_index]


def train_retriever(
    *,
    train: Sequence[TextPair],
    validation: Sequence[TextPair] | None,
    base_model: EncoderSpec,
    config: RetrievalConfig,
    output_dir: Path,
    checkpoint_dir: Path | None = None,
    callbacks: TrainingCallbacks | None = None,
) -> TrainingResult:
    """Fine-tune the encoder so queries land next to their answers; write the artifact.

    Args:
        train: (query, positive[, negative]) pairs, at least 2.
        validation: held-out pairs, or None to hold out ~15% (seeded).
        base_model: the encoder to start from.
        config: settings (strategy "lora" stores only the adapter, "full" the whole encoder).
        output_dir: must not exist; written atomically.
        checkpoint_dir: per-epoch checkpoints; resumed when present.
        callbacks: events, progress, cancellation.

    Returns:
        TrainingResult; metrics: recall_at_1/5/10 and mrr on validation after training, and the
        base model's base_recall_at_1/5/10 and base_mrr before it.

    Raises:
        TrainingDataError: strategy "head", fewer than 2 pairs, empty texts.
        TrainingCancelled: callbacks.should_stop() returned True.

    Example:
        >>> result = train_retriever(train=pairs, validation=None, base_model=resolve_base_model(),  # doctest: +SKIP
        ...                          config=RetrievalConfig(), output_dir=Path("out/faq-v1"))
        >>> result.metrics["mrr"] >= result.metrics["base_mrr"]
        True
    """
    started = time.monotonic()
    callbacks = callbacks or TrainingCallbacks()
    check_pairs(train, "Training")
    if len(train) < 2:
        raise TrainingDataError("Retrieval training needs at least 2 query/answer pairs.")
    if validation is not None:
        check_pairs(validation, "Validation")
    device = choose_device(config.device)
    settings, reason = resolve_config(config, n_examples=len(train) + len(validation or []), device=device)
    ensure_absent(output_dir)
    train_pairs, val_pairs = _split(train, validation, config.seed, callbacks)
    if reason:
        emit(callbacks, "info", reason, {"strategy": settings["strategy"]})
    emit(
        callbacks,
        "info",
        f"Training retrieval with strategy {settings['strategy']}, {settings['epochs']} epochs, batch "
        f"{settings['batch_size']}, learning rate {settings['learning_rate']:g} on {device}.",
        {"config": settings},
    )
    seed_everything(settings["seed"])
    encoder = load_encoder(base_model, device=device, half=False)
    run = _Run(encoder=encoder, settings=settings, train_pairs=train_pairs, val_pairs=val_pairs, device=device)
    resumed = _train_epochs(run, settings, callbacks, checkpoint_dir, base_model)
    final = run.last_metrics or run.ranking_metrics()
    metrics = {key: value for key, value in final.items() if key != "loss"}
    metrics.update({f"base_{key}": value for key, value in run.base_metrics.items() if key != "loss"})
    metrics["n_validation_pairs"] = len(val_pairs)
    with staging_directory(output_dir) as staging:
        if settings["strategy"] == "lora":
            save_adapter(encoder, staging / ADAPTER_FILE)
        else:
            encoder.save(str(staging / ENCODER_DIR), create_model_card=False, safe_serialization=True)
            for stray in (staging / ENCODER_DIR).rglob("README.md"):
                stray.unlink()
        write_manifest(
            staging,
            {
                "task": "retrieval",
                "strategy": settings["strategy"],
                "base_model": base_model_entry(base_model),
                "metrics": metrics,
                "history": run.history,
                "config": settings,
            },
        )
    seconds = time.monotonic() - started
    emit(
        callbacks,
        "info",
        f"Trained retriever in {seconds:.0f} s: validation MRR {metrics['base_mrr']:.3f} -> {metrics['mrr']:.3f}, "
        f"recall@1 {metrics['base_recall_at_1']:.3f} -> {metrics['recall_at_1']:.3f}.",
        {"mrr": metrics["mrr"], "base_mrr": metrics["base_mrr"]},
    )
    return TrainingResult(
        task="retrieval",
        strategy=settings["strategy"],
        device=device,
        artifact_dir=Path(output_dir),
        metrics=metrics,
        history=list(run.history),
        train_seconds=seconds,
        resumed_from_epoch=resumed,
    )


def _train_epochs(run: _Run, settings, callbacks, checkpoint_dir, base_model) -> int | None:
    return run_epochs(
        model=run.encoder,
        run=run,
        settings=settings,
        data_key=[(p.query, p.positive, p.negative) for p in run.train_pairs],
        base_model_sha256=base_model.weights_sha256,
        steps_per_epoch=steps_per_epoch(len(run.train_pairs), settings["batch_size"]),
        callbacks=callbacks,
        checkpoint_dir=checkpoint_dir,
    )
