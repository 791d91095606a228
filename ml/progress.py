"""Events, progress and cancellation shared by every training function (no torch here).

The training worker subclasses `TrainingCallbacks` to turn events into the job's event
feed, progress into the job row, and the job's cancel flag into `should_stop()`. The web
process imports this module to read the types, so it must stay free of torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EVENT_LEVELS = ("info", "warning", "error")
EVENT_KINDS = ("message", "metrics")


@dataclass(frozen=True)
class TrainingEvent:
    """One entry of a training job's event feed.

    Args:
        level: "info" | "warning" | "error".
        message: a readable sentence for the dashboard.
        data: JSON-safe details; for kind="metrics" one epoch's numbers
            ({"epoch": 2, "train_loss": .., "val_loss": .., "val_accuracy": ..}).
        kind: "message" | "metrics".

    Example:
        >>> TrainingEvent("info", "Resumed from epoch 1.", {"epoch": 1}).kind
        'message'
    """

    level: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    kind: str = "message"


class TrainingCallbacks:
    """Hooks a training run calls; the defaults do nothing. Subclass and override.

    `on_progress` is called after every batch (cheap: the worker should rate-limit writes),
    `should_stop` is checked before every batch, and a True answer makes training raise
    `TrainingCancelled` without leaving a half-written artifact.

    Example:
        >>> class Printer(TrainingCallbacks):
        ...     def on_event(self, event):
        ...         print(event.message)
    """

    def on_event(self, event: TrainingEvent) -> None:
        """Receive one event (info/warning/error message, or per-epoch metrics)."""

    def on_progress(self, fraction: float, eta_seconds: float | None) -> None:
        """Receive progress in [0, 1] and the estimated seconds left (None while unknown)."""

    def should_stop(self) -> bool:
        """Return True to cancel the run; checked at least once per batch."""
        return False


class TrainingCancelled(Exception):
    """The run was cancelled through `TrainingCallbacks.should_stop()`; no artifact was written."""


class TrainingDataError(ValueError):
    """The arguments or the data cannot be trained on; the message says why, for the tenant to read."""


@dataclass
class TrainingResult:
    """What a finished training run returns.

    Attributes:
        task: "classification" | "retrieval".
        strategy: the strategy actually used ("head" | "lora" | "full"), never "auto".
        device: "cpu" or "cuda[:n]".
        artifact_dir: the finished artifact directory (manifest.json + safetensors).
        metrics: final validation metrics, JSON-safe (see ml.evaluation).
        history: one dict per epoch ({"epoch", "train_loss", "val_loss", "val_accuracy", ...}).
        train_seconds: wall-clock seconds of this call.
        resumed_from_epoch: the checkpoint epoch this run continued from, or None.
    """

    task: str
    strategy: str
    device: str
    artifact_dir: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    train_seconds: float
    resumed_from_epoch: int | None = None


def emit(callbacks: TrainingCallbacks, level: str, message: str, data: dict[str, Any] | None = None) -> None:
    """Send a message event (helper for the training code)."""
    callbacks.on_event(TrainingEvent(level=level, message=message, data=data or {}, kind="message"))


def emit_metrics(callbacks: TrainingCallbacks, message: str, data: dict[str, Any]) -> None:
    """Send a per-epoch metrics event."""
    callbacks.on_event(TrainingEvent(level="info", message=message, data=data, kind="metrics"))
