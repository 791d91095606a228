"""Prediction serving: one shared encoder per process, per-tenant heads/adapters in a byte LRU.

`ModelServer` imports torch on first use, so `from ml.serving import Prediction` stays cheap.

Example:
    >>> from ml.serving import ModelServer  # doctest: +SKIP
    >>> server = ModelServer(resolve_base_model(), memory_budget_bytes=256 << 20)
    >>> server.predict(key="org/12/models/7f3a", artifact_dir=path, texts=["Where is my card?"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml.classification.prediction import Prediction

if TYPE_CHECKING:
    from ml.serving.server import ModelServer


def __getattr__(name: str) -> Any:
    if name == "ModelServer":
        from ml.serving.server import ModelServer

        return ModelServer
    raise AttributeError(f"module 'ml.serving' has no attribute {name!r}")


__all__ = ["ModelServer", "Prediction"]
