"""ModelServer: one shared base encoder per process, per-tenant models in a byte-budgeted LRU,
and micro-batching across concurrent requests.

Why it is shaped this way (DESIGN.md "model serving"):

* The base encoder (~90 MB for MiniLM) is loaded once. A `head` model is only its head
  matrix (n_labels x 384 floats: 118 KB for 77 intents). A `lora` model is its adapter
  tensors (74k floats = 0.3 MB at rank 8) applied through forward hooks on the shared
  encoder (ml.encoders.lora.LoraHooks). A `full` model carries its own encoder and its
  bytes count against the budget.
* Micro-batching: a single background thread owns every encoder forward. Requests arriving
  within `max_wait_ms` are merged: all `head` requests (any tenant) share ONE forward of
  the frozen base encoder, requests for the same `lora` key share one forward with that
  adapter active, and the same for a `full` key. One thread doing all forwards also makes
  the shared encoder (and its active adapter) thread-safe without further locking.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.classification.model import ClassifierParts, load_full_encoder, load_parts
from ml.classification.prediction import Prediction, predictions_from_logits
from ml.encoders.lora import LoraAdapter, LoraHooks
from ml.encoders.registry import EncoderSpec, choose_device, load_encoder
from ml.encoders.runtime import encode, encode_counted

_STOP = object()
# How many forwards' worth of queued texts one round may merge (see ModelServer._collect). More
# merges pad less but make every request of the round wait for all of it (256 texts ~ 0.8 s at
# 330 texts/s on 2 cores), so this stays small.
MERGE_BATCHES = 4


@dataclass
class _Resident:
    """One loaded tenant model."""

    key: str
    artifact_dir: Path
    parts: ClassifierParts
    adapter: LoraAdapter | None
    encoder: Any  # own encoder for `full`, else None
    nbytes: int


@dataclass
class _Request:
    resident: _Resident
    texts: list[str]
    future: Future = field(default_factory=Future)


def _module_bytes(module: torch.nn.Module) -> int:
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


class ModelServer:
    """Serve many tenants' classifiers from one process.

    Args:
        base_model: the shared base encoder (loaded once, in fp16 on CUDA).
        memory_budget_bytes: bytes of tenant state kept resident (heads, adapters, full encoders);
            least recently used models are evicted beyond it.
        device: "cpu" | "cuda[:n]" | None (a GPU when available).
        max_batch_size: at most this many texts per encoder forward (on CPU also at most 16x as many
            padded tokens: ml.encoders.runtime.token_batches).
        max_wait_ms: how long the first request of a batch waits for others to join it.

    Example:
        >>> server = ModelServer(resolve_base_model(), memory_budget_bytes=512 << 20)  # doctest: +SKIP
        >>> server.predict(key="org/12/models/7f3a", artifact_dir=Path("artifacts/12/support/7f3a"),
        ...                texts=["I lost my card"])[0].label
        'card_lost'
    """

    def __init__(
        self,
        base_model: EncoderSpec,
        *,
        memory_budget_bytes: int,
        device: str | None = None,
        max_batch_size: int = 64,
        max_wait_ms: float = 2.0,
    ) -> None:
        self.base_model = base_model
        self.device = choose_device(device)
        self.memory_budget_bytes = int(memory_budget_bytes)
        self.max_batch_size = max(1, int(max_batch_size))
        self.max_wait_seconds = max(0.0, max_wait_ms) / 1000.0
        self.encoder = load_encoder(base_model, device=self.device)
        self.encoder.eval()
        self._dtype = next(self.encoder.parameters()).dtype
        self._hooks = LoraHooks.attach(self.encoder)
        self._cache: OrderedDict[str, _Resident] = OrderedDict()
        self._loading: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._counters = dict.fromkeys(("hits", "misses", "evictions", "requests", "texts", "forwards", "batches"), 0)
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._serve_forever, name="tessera-model-server", daemon=True)
        self._thread.start()

    # ----- public API -------------------------------------------------------------------

    def predict(self, *, key: str, artifact_dir: Path, texts: Sequence[str]) -> list[Prediction]:
        """Classify `texts` with the model at `artifact_dir`, cached under `key`. Thread-safe.

        Args:
            key: the caller's cache key, unique per model version (e.g. "org/12/models/<version-id>").
            artifact_dir: the version's artifact directory (read on a cache miss).
            texts: texts to classify.

        Returns:
            One Prediction per text, in order.

        Raises:
            IncompatibleArtifact: the artifact was trained on another base model or was altered.
        """
        if self._closed:
            raise RuntimeError("ModelServer is closed.")
        if not texts:
            return []
        resident = self._resident(key, Path(artifact_dir))
        request = _Request(resident=resident, texts=list(texts))
        self._queue.put(request)
        return request.future.result()

    def embed(self, texts: Sequence[str], *, max_seq_length: int = 128) -> np.ndarray:
        """Base-encoder embeddings of `texts` (no tenant adapter), for callers that compare texts.

        Thread-safe: it runs in the calling thread while holding the adapter hooks' lock with
        no adapter active, so a concurrent LoRA forward on the serving thread can neither
        change these vectors nor see this call.

        Example:
            vectors = server.embed(["card stolen", "branch opening hours"])  # (2, 384), unit length
        """
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        with self._hooks.active(None):
            vectors = encode(
                self.encoder,
                list(texts),
                device=self.device,
                max_seq_length=max_seq_length,
                batch_size=self.max_batch_size,
            )
        return vectors.numpy()

    def evict(self, key: str) -> None:
        """Forget `key` (e.g. after a rollback); in-flight requests still complete."""
        with self._lock:
            if self._cache.pop(key, None) is not None:
                self._counters["evictions"] += 1

    def stats(self) -> dict[str, int]:
        """Cache and batching counters: resident, resident_bytes, budget_bytes, hits, misses, evictions,
        requests, texts, batches (merge rounds) and forwards (encoder forward passes)."""
        with self._lock:
            return {
                "resident": len(self._cache),
                "resident_bytes": sum(r.nbytes for r in self._cache.values()),
                "budget_bytes": self.memory_budget_bytes,
                **self._counters,
            }

    def close(self) -> None:
        """Stop the batching thread (pending requests are answered first)."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----- cache ------------------------------------------------------------------------

    def _resident(self, key: str, artifact_dir: Path) -> _Resident:
        with self._lock:
            resident = self._cache.get(key)
            if resident is not None and resident.artifact_dir == artifact_dir:
                self._cache.move_to_end(key)
                self._counters["hits"] += 1
                return resident
            loading = self._loading.get(key)
            owner = loading is None
            if owner:
                self._counters["misses"] += 1
                loading = self._loading[key] = Future()
        if not owner:
            return loading.result()  # another thread is loading the same key: share its result
        try:
            resident = self._load(key, artifact_dir)
            self._insert(resident)
            loading.set_result(resident)
            return resident
        except BaseException as exc:
            loading.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._loading.pop(key, None)

    def _load(self, key: str, artifact_dir: Path) -> _Resident:
        parts = load_parts(artifact_dir, self.base_model)
        encoder, adapter = None, None
        if parts.strategy == "full":
            encoder = load_full_encoder(parts, self.base_model, self.device)
            encoder.eval()
        if parts.adapter is not None:
            adapter = parts.adapter.to(self.device, self._dtype)
        nbytes = parts.nbytes + (_module_bytes(encoder) if encoder is not None else 0)
        return _Resident(
            key=key, artifact_dir=artifact_dir, parts=parts, adapter=adapter, encoder=encoder, nbytes=nbytes
        )

    def _insert(self, resident: _Resident) -> None:
        with self._lock:
            if resident.nbytes > self.memory_budget_bytes:
                return  # larger than the whole budget: served this once, never resident
            self._cache.pop(resident.key, None)
            used = sum(r.nbytes for r in self._cache.values())
            while self._cache and used + resident.nbytes > self.memory_budget_bytes:
                _, evicted = self._cache.popitem(last=False)
                used -= evicted.nbytes
                self._counters["evictions"] += 1
            self._cache[resident.key] = resident

    # ----- batching thread --------------------------------------------------------------

    def _collect(self, first: _Request) -> tuple[list[_Request], bool]:
        """The first request plus whatever arrives within max_wait_ms.

        Up to MERGE_BATCHES forwards' worth of texts is taken at once: `encode` sorts the merged
        texts by token count before cutting forwards, so requests of mixed lengths pad far less
        than they would one by one (measured: 49% of raw encoder throughput with per-request
        forwards, 76% merged and sorted by characters, 105% sorted by tokens: docs/benchmarks.md).
        """
        pending, count = [first], len(first.texts)
        deadline = time.monotonic() + self.max_wait_seconds
        while count < self.max_batch_size * MERGE_BATCHES:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                return pending, True
            pending.append(item)
            count += len(item.texts)
        return pending, False

    def _serve_forever(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            pending, stopping = self._collect(first)
            self._answer(pending)

    def _answer(self, pending: list[_Request]) -> None:
        groups: dict[tuple, list[_Request]] = {}
        for request in pending:
            resident = request.resident
            # Heads of every tenant share the frozen base encoder: one forward for all of them.
            group = ("base",) if resident.parts.strategy == "head" else (resident.parts.strategy, id(resident))
            groups.setdefault((*group, resident.parts.max_seq_length), []).append(request)
        with self._lock:
            self._counters["batches"] += 1
            self._counters["requests"] += len(pending)
            self._counters["texts"] += sum(len(r.texts) for r in pending)
        for requests in groups.values():
            try:
                self._answer_group(requests)
            except Exception as exc:  # noqa: BLE001 - the callers get the error, the thread keeps serving
                for request in requests:
                    if not request.future.done():
                        request.future.set_exception(exc)

    def _answer_group(self, requests: list[_Request]) -> None:
        resident = requests[0].resident
        texts = [text for request in requests for text in request.texts]
        encoder = resident.encoder if resident.encoder is not None else self.encoder
        with self._hooks.active(resident.adapter if resident.encoder is None else None):
            vectors, forwards = encode_counted(
                encoder,
                texts,
                device=self.device,
                max_seq_length=resident.parts.max_seq_length,
                batch_size=self.max_batch_size,
            )
        with self._lock:
            self._counters["forwards"] += forwards
        start = 0
        for request in requests:
            parts = request.resident.parts
            chunk = vectors[start : start + len(request.texts)]
            start += len(request.texts)
            logits: np.ndarray = (chunk @ parts.weight.T + parts.bias).numpy()
            request.future.set_result(
                predictions_from_logits(logits, parts.labels, parts.temperature, parts.suggested_threshold)
            )
