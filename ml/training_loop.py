"""The epoch loop shared by the classification and retrieval trainers (worker-only: imports torch).

It owns what every run needs the same way: progress with an ETA, cancellation before
every batch, a warmup + linear-decay schedule, per-epoch metrics events, and
checkpoints (safetensors tensors + a JSON state) that let a crashed or preempted job
resume at the last finished epoch.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ml.progress import TrainingCallbacks, TrainingCancelled, emit, emit_metrics

CHECKPOINT_TENSORS = "checkpoint.safetensors"
CHECKPOINT_STATE = "checkpoint.json"
# 10% linear warmup then linear decay to 0: the BERT fine-tuning recipe (Devlin et al. 2019).
WARMUP_FRACTION = 0.1
# Clipping at 1.0 keeps the first LoRA/full steps stable when the head is still far off.
MAX_GRAD_NORM = 1.0


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (data + config), to refuse resuming someone else's checkpoint."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Progress:
    """Counts finished steps, reports fraction + ETA, and raises TrainingCancelled when asked to stop."""

    def __init__(self, callbacks: TrainingCallbacks, total_steps: int, done_steps: int = 0) -> None:
        self.callbacks = callbacks
        self.total = max(total_steps, 1)
        self.done = done_steps
        self._start_done = done_steps
        self._start = time.monotonic()

    def check_cancel(self) -> None:
        if self.callbacks.should_stop():
            raise TrainingCancelled("Training was cancelled.")

    def step(self, count: int = 1) -> None:
        self.done = min(self.done + count, self.total)
        run_steps = self.done - self._start_done
        elapsed = time.monotonic() - self._start
        eta = elapsed / run_steps * (self.total - self.done) if run_steps > 0 else None
        self.callbacks.on_progress(self.done / self.total, eta)


def linear_schedule(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Warmup over the first 10% of steps, then linear decay to zero."""
    warmup = max(1, int(total_steps * WARMUP_FRACTION))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """AdamW state as flat tensors (for safetensors) plus the JSON-able rest."""
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            tensors[f"optimizer.{index}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return tensors, {"param_groups": state["param_groups"]}


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], saved: dict) -> None:
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            per_param.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": saved["param_groups"]})


@dataclass
class Checkpointer:
    """Per-epoch checkpoint in `directory`: trainable tensors + optimizer state (safetensors) and a JSON state."""

    directory: Path | None
    fingerprint: str

    def save(self, *, epoch: int, model_tensors: dict[str, torch.Tensor], optimizer, state: dict[str, Any]) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        optimizer_tensors, optimizer_state = _optimizer_tensors(optimizer)
        tensors = {f"model.{name}": tensor.detach().cpu().contiguous() for name, tensor in model_tensors.items()}
        # Write both files under temporary names, then rename: a crash mid-write keeps the previous epoch.
        tmp_tensors = self.directory / f"{CHECKPOINT_TENSORS}.tmp"
        tmp_state = self.directory / f"{CHECKPOINT_STATE}.tmp"
        save_file({**tensors, **optimizer_tensors}, str(tmp_tensors))
        payload = {"epoch": epoch, "fingerprint": self.fingerprint, "optimizer": optimizer_state, **state}
        tmp_state.write_text(json.dumps(payload, default=float))
        os.replace(tmp_tensors, self.directory / CHECKPOINT_TENSORS)
        os.replace(tmp_state, self.directory / CHECKPOINT_STATE)

    def load(self, callbacks: TrainingCallbacks) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        if self.directory is None or not (self.directory / CHECKPOINT_STATE).exists():
            return None
        state = json.loads((self.directory / CHECKPOINT_STATE).read_text())
        if state.get("fingerprint") != self.fingerprint:
            emit(callbacks, "warning", "Ignored a checkpoint made for other data or settings; training from scratch.")
            return None
        return load_file(str(self.directory / CHECKPOINT_TENSORS)), state


@dataclass
class EpochLoop:
    """Runs epochs [start_epoch+1 .. epochs] and records history; the trainer supplies the pieces.

    Args:
        batches: epoch number -> list of batches (seeded per epoch, so a resumed run sees the same order).
        train_batch: batch -> (summed loss, correct count, example count); does forward, backward and step.
        validate: () -> dict of validation metrics for the metrics event (val_loss, val_accuracy, ...).
        trainable: () -> the tensors a checkpoint must hold to restore the model.
    """

    callbacks: TrainingCallbacks
    optimizer: torch.optim.Optimizer
    batches: Callable[[int], Sequence[Any]]
    train_batch: Callable[[Any], tuple[float, int, int]]
    validate: Callable[[], dict[str, float]]
    trainable: Callable[[], dict[str, torch.Tensor]]
    checkpointer: Checkpointer
    history: list[dict[str, Any]] = field(default_factory=list)

    def run(self, *, epochs: int, start_epoch: int, progress: Progress, scheduler) -> None:
        for epoch in range(start_epoch + 1, epochs + 1):
            loss_sum, correct, seen = 0.0, 0, 0
            for batch in self.batches(epoch):
                progress.check_cancel()
                batch_loss, batch_correct, batch_seen = self.train_batch(batch)
                scheduler.step()
                loss_sum, correct, seen = loss_sum + batch_loss, correct + batch_correct, seen + batch_seen
                progress.step()
            row = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1)}
            if correct >= 0:
                row["train_accuracy"] = correct / max(seen, 1)
            row.update(self.validate())
            row = {key: (round(value, 6) if isinstance(value, float) else value) for key, value in row.items()}
            self.history.append(row)
            summary = ", ".join(f"{key} {value:.4f}" for key, value in row.items() if key != "epoch")
            emit_metrics(self.callbacks, f"Epoch {epoch}/{epochs}: {summary}.", row)
            self.checkpointer.save(
                epoch=epoch, model_tensors=self.trainable(), optimizer=self.optimizer, state={"history": self.history}
            )

    def resume(self, model: torch.nn.Module, scheduler, steps_per_epoch: int) -> int:
        """Restore from the checkpoint if there is one; return the epoch it finished (0 when none)."""
        loaded = self.checkpointer.load(self.callbacks)
        if loaded is None:
            return 0
        tensors, state = loaded
        model_tensors = {
            key.removeprefix("model."): value for key, value in tensors.items() if key.startswith("model.")
        }
        missing = [name for name in self.trainable() if name not in model_tensors]
        if missing:
            emit(self.callbacks, "warning", "Ignored a checkpoint with missing tensors; training from scratch.")
            return 0
        model.load_state_dict(model_tensors, strict=False)
        _restore_optimizer(self.optimizer, tensors, state["optimizer"])
        epoch = int(state["epoch"])
        with warnings.catch_warnings():
            # Fast-forwarding the schedule without optimizer steps is intended here.
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(epoch * steps_per_epoch):
                scheduler.step()
        self.history[:] = state.get("history", [])
        emit(self.callbacks, "info", f"Resumed from epoch {epoch}.", {"epoch": epoch})
        return epoch


def total_steps(epochs: int, steps_per_epoch: int) -> int:
    """Optimizer steps in the whole run (at least 1)."""
    return max(1, epochs * steps_per_epoch)


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    """Batches per epoch (the last one may be partial)."""
    return max(1, math.ceil(n_examples / batch_size))


def run_epochs(
    *,
    model: torch.nn.Module,
    run: Any,
    settings: dict[str, Any],
    data_key: Any,
    base_model_sha256: str,
    steps_per_epoch: int,
    callbacks: TrainingCallbacks,
    checkpoint_dir: Path | str | None,
) -> int | None:
    """Resume from a matching checkpoint if there is one, then run the remaining epochs.

    `run` carries the technique's optimizer, batches, train_batch, validate and trainable;
    its `history` is bound to the loop's. The checkpoint fingerprint covers the settings
    (except epochs and device), `data_key` and the base model, so a changed job never
    resumes a stale checkpoint. Returns the epoch resumed from, or None.
    """
    key_settings = {k: v for k, v in settings.items() if k not in ("epochs", "device")}
    checkpointer = Checkpointer(
        Path(checkpoint_dir) if checkpoint_dir else None, fingerprint(key_settings, data_key, base_model_sha256)
    )
    loop = EpochLoop(
        callbacks=callbacks,
        optimizer=run.optimizer,
        batches=run.batches,
        train_batch=run.train_batch,
        validate=run.validate,
        trainable=run.trainable,
        checkpointer=checkpointer,
    )
    run.history = loop.history
    epochs = settings["epochs"]
    scheduler = linear_schedule(run.optimizer, epochs * steps_per_epoch)
    start_epoch = loop.resume(model, scheduler, steps_per_epoch)
    done = min(start_epoch, epochs) * steps_per_epoch
    progress = Progress(callbacks, total_steps=epochs * steps_per_epoch, done_steps=done)
    loop.run(epochs=epochs, start_epoch=start_epoch, progress=progress, scheduler=scheduler)
    return start_epoch or None
