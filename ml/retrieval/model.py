"""Loading a retrieval artifact, encoding and searching (worker side: imports torch)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ml.artifacts import IncompatibleArtifact, check_base_model, read_manifest, verify_files
from ml.encoders.lora import ADAPTER_FILE, LoraAdapter, LoraHooks
from ml.encoders.registry import EncoderSpec, choose_device, load_encoder
from ml.encoders.runtime import encode

ENCODER_DIR = "encoder"


class Retriever:
    """A fine-tuned text encoder for query -> answer matching.

    Example:
        >>> retriever = Retriever.load(Path("artifacts/12/faq/v2"), resolve_base_model())  # doctest: +SKIP
        >>> retriever.search(answers=faq_answers, queries=["card never came"], k=3)[0][0]
        (4, 0.71)
    """

    def __init__(self, encoder: Any, adapter: LoraAdapter | None, max_seq_length: int, device: str) -> None:
        self.encoder, self.device, self.max_seq_length = encoder, device, max_seq_length
        self._hooks = LoraHooks.attach(encoder) if adapter is not None else None
        self._adapter = adapter.to(device, next(encoder.parameters()).dtype) if adapter is not None else None

    @classmethod
    def load(cls, path: Path, base_model: EncoderSpec, *, device: str | None = None, encoder: Any = None) -> Retriever:
        """Load an artifact written by train_retriever.

        Args:
            path: the artifact directory.
            base_model: the base model this process serves (a foreign artifact is refused).
            device: "cpu" | "cuda[:n]" | None.
            encoder: an already loaded base encoder to share (lora only; full has its own).

        Raises:
            IncompatibleArtifact: other base model, other task or altered files.
        """
        path = Path(path)
        manifest = read_manifest(path)
        if manifest["task"] != "retrieval":
            raise IncompatibleArtifact(f"{path} holds a {manifest['task']} model, not a retriever.")
        check_base_model(manifest, base_model)
        verify_files(path, manifest)
        device = choose_device(device)
        config = manifest["config"]
        adapter = None
        if manifest["strategy"] == "full":
            spec = EncoderSpec(name=f"{base_model.name} (fine-tuned)", path=path / ENCODER_DIR, weights_sha256="")
            encoder = load_encoder(spec, device=device)
        else:
            encoder = encoder if encoder is not None else load_encoder(base_model, device=device)
            adapter = LoraAdapter.load(path / ADAPTER_FILE, rank=config["lora_rank"], alpha=config["lora_alpha"])
        return cls(encoder, adapter, int(config["max_seq_length"]), device)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised embeddings, shape (len(texts), dim), float32."""
        if self._hooks is None:
            vectors = encode(self.encoder, texts, device=self.device, max_seq_length=self.max_seq_length)
        else:
            with self._hooks.active(self._adapter):
                vectors = encode(self.encoder, texts, device=self.device, max_seq_length=self.max_seq_length)
        norms = np.linalg.norm(vectors.numpy(), axis=1, keepdims=True)
        return vectors.numpy() / np.clip(norms, 1e-12, None)

    def search(self, *, answers: Sequence[str], queries: Sequence[str], k: int = 5) -> list[list[tuple[int, float]]]:
        """For each query, the k best answers as (answer index, cosine similarity), best first."""
        return top_k(self.encode(queries), self.encode(answers), k)


def top_k(query_vectors: np.ndarray, answer_vectors: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """Exact cosine top-k (vectors already normalised)."""
    scores = query_vectors @ answer_vectors.T
    k = min(k, scores.shape[1])
    results = []
    for row in scores:
        best = np.argsort(-row, kind="stable")[:k]
        results.append([(int(i), float(row[i])) for i in best])
    return results


def ranks_of_positives(query_vectors: np.ndarray, answer_vectors: np.ndarray, positives: Sequence[int]) -> list[int]:
    """1-based rank of each query's correct answer among all answers."""
    scores = query_vectors @ answer_vectors.T
    correct = scores[np.arange(len(positives)), np.asarray(positives)]
    return (1 + (scores > correct[:, None]).sum(axis=1)).tolist()
