"""Loading a classification artifact and predicting with it (worker/serving side: imports torch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from ml.artifacts import IncompatibleArtifact, check_base_model, read_manifest, verify_files
from ml.classification.prediction import Prediction, predictions_from_logits
from ml.encoders.lora import ADAPTER_FILE, LoraAdapter, LoraHooks
from ml.encoders.registry import EncoderSpec, choose_device, load_encoder
from ml.encoders.runtime import encode

HEAD_FILE = "head.safetensors"
ENCODER_DIR = "encoder"


@dataclass
class ClassifierParts:
    """Everything a classification artifact holds except a loaded encoder (small: served from an LRU)."""

    strategy: str
    labels: list[str]
    weight: torch.Tensor  # (n_labels, dim), fp32 on CPU
    bias: torch.Tensor  # (n_labels,)
    temperature: float
    suggested_threshold: float
    max_seq_length: int
    adapter: LoraAdapter | None
    encoder_dir: Path | None
    manifest: dict[str, Any]

    @property
    def nbytes(self) -> int:
        """Resident bytes of the tensors (the adapter included; a full encoder is counted by the caller)."""
        size = self.weight.numel() * self.weight.element_size() + self.bias.numel() * self.bias.element_size()
        return size + (self.adapter.nbytes if self.adapter else 0)


def load_parts(path: Path, base_model: EncoderSpec) -> ClassifierParts:
    """Read and verify a classification artifact (manifest, sha256 of every file, base model).

    Raises:
        IncompatibleArtifact: other base model, other task, unknown format or altered files.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if manifest["task"] != "classification":
        raise IncompatibleArtifact(f"{path} holds a {manifest['task']} model, not a classifier.")
    check_base_model(manifest, base_model)
    verify_files(path, manifest)
    head = load_file(str(path / HEAD_FILE))
    config, calibration = manifest["config"], manifest["calibration"]
    adapter = None
    if manifest["strategy"] == "lora":
        adapter = LoraAdapter.load(path / ADAPTER_FILE, rank=config["lora_rank"], alpha=config["lora_alpha"])
    return ClassifierParts(
        strategy=manifest["strategy"],
        labels=list(manifest["labels"]),
        weight=head["weight"].float(),
        bias=head["bias"].float(),
        temperature=float(calibration["temperature"]),
        suggested_threshold=float(calibration["suggested_threshold"]),
        max_seq_length=int(config["max_seq_length"]),
        adapter=adapter,
        encoder_dir=path / ENCODER_DIR if manifest["strategy"] == "full" else None,
        manifest=manifest,
    )


def load_full_encoder(parts: ClassifierParts, base_model: EncoderSpec, device: str) -> Any:
    """The fine-tuned encoder stored in a `full` artifact (files already verified)."""
    assert parts.encoder_dir is not None
    spec = EncoderSpec(name=f"{base_model.name} (fine-tuned)", path=parts.encoder_dir, weights_sha256="")
    return load_encoder(spec, device=device)


class Classifier:
    """A trained text classifier, ready to predict.

    Example:
        >>> classifier = Classifier.load(Path("artifacts/12/support/v3"), resolve_base_model())  # doctest: +SKIP
        >>> classifier.predict(["I lost my card"])[0].label  # doctest: +SKIP
        'card_lost'
    """

    def __init__(self, parts: ClassifierParts, encoder: Any, device: str) -> None:
        self.parts = parts
        self.encoder = encoder
        self.device = device
        self.labels: list[str] = parts.labels
        self.suggested_threshold: float = parts.suggested_threshold
        self.temperature: float = parts.temperature
        self.strategy: str = parts.strategy
        self._hooks = LoraHooks.attach(encoder) if parts.strategy != "full" else None
        dtype = next(encoder.parameters()).dtype
        self._adapter = parts.adapter.to(device, dtype) if parts.adapter else None

    @classmethod
    def load(cls, path: Path, base_model: EncoderSpec, *, device: str | None = None, encoder: Any = None) -> Classifier:
        """Load an artifact written by `train_classifier`.

        Args:
            path: the artifact directory.
            base_model: the base model this process serves; a model trained on another is refused.
            device: "cpu" | "cuda[:n]" | None (a GPU when available).
            encoder: an already loaded base encoder to share (ignored for `full`, which has its own).

        Returns:
            A Classifier.

        Raises:
            IncompatibleArtifact: trained on another base model, or files altered.
        """
        device = choose_device(device)
        parts = load_parts(path, base_model)
        if parts.strategy == "full":
            encoder = load_full_encoder(parts, base_model, device)
        elif encoder is None:
            encoder = load_encoder(base_model, device=device)
        return cls(parts, encoder, device)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw (uncalibrated) logits, shape (len(texts), n_labels)."""
        if self._hooks is None:
            vectors = encode(self.encoder, texts, device=self.device, max_seq_length=self.parts.max_seq_length)
        else:
            with self._hooks.active(self._adapter):
                vectors = encode(self.encoder, texts, device=self.device, max_seq_length=self.parts.max_seq_length)
        return (vectors @ self.parts.weight.T + self.parts.bias).numpy()

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Calibrated predictions, one per text, in order.

        Example:
            >>> classifier.predict(["What time do you open?"])[0]  # doctest: +SKIP
            Prediction(label='opening_hours', confidence=0.93, probabilities={...}, is_unsure=False)
        """
        if not texts:
            return []
        return predictions_from_logits(self.logits(texts), self.labels, self.temperature, self.suggested_threshold)
