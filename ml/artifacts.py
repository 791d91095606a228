"""The on-disk artifact contract: a directory with manifest.json next to safetensors weights.

Nothing a tenant can influence is ever unpickled: weights are safetensors, everything else
is JSON or tokenizer text files. Reading and checking a manifest does not import torch
(the web process shows model details from it).

Layout::

    <artifact>/manifest.json
    <artifact>/head.safetensors        classification: the linear head (every strategy)
    <artifact>/adapter.safetensors     strategy "lora": the LoRA tensors only (~0.3 MB at rank 8)
    <artifact>/encoder/...             strategy "full": the whole sentence-transformers directory
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from ml.encoders.registry import EncoderSpec

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "task", "strategy", "base_model", "metrics", "config", "files")
# Every file an artifact may hold: weights, JSON, and the tokenizer's plain-text vocabulary files.
ALLOWED_SUFFIXES = (".json", ".safetensors", ".txt", ".model")


class IncompatibleArtifact(Exception):
    """The artifact cannot be used here: other base model, unknown format, or altered files."""


def sha256_file(path: Path) -> str:
    """The hex sha256 of one file, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries that produced an artifact (read from package metadata, no import)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("torch", "transformers", "sentence_transformers", "peft"):
        try:
            versions[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def base_model_entry(spec: EncoderSpec) -> dict[str, str]:
    """The manifest's `base_model` value for `spec`."""
    return {"name": spec.name, "sha256": spec.weights_sha256}


def file_hashes(directory: Path) -> dict[str, str]:
    """{relative posix path: sha256} for every file under `directory` except the manifest."""
    hashes = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            hashes[path.relative_to(directory).as_posix()] = sha256_file(path)
    return hashes


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write `manifest` as <path>/manifest.json, filling format_version, created_at, library_versions
    and files (sha256 of every other file in the directory) when missing.

    Args:
        path: the artifact directory (its weight files already written).
        manifest: at least task, strategy, base_model, metrics, config.

    Example:
        >>> write_manifest(Path("out"), {"task": "classification", "strategy": "head", ...})  # doctest: +SKIP
    """
    path = Path(path)
    full = {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "library_versions": library_versions(),
        **manifest,
    }
    full.setdefault("files", file_hashes(path))
    missing = [key for key in REQUIRED_KEYS if key not in full]
    if missing:
        raise ValueError(f"Manifest is missing required keys: {', '.join(missing)}.")
    (path / MANIFEST).write_text(json.dumps(full, indent=2, sort_keys=True, allow_nan=False))


def read_manifest(path: Path) -> dict[str, Any]:
    """Read and validate <path>/manifest.json (no torch).

    Returns:
        The manifest dict.

    Raises:
        IncompatibleArtifact: missing manifest, other format version, or missing keys.

    Example:
        >>> read_manifest(Path("artifacts/12/support/v3"))["strategy"]  # doctest: +SKIP
        'lora'
    """
    manifest_path = Path(path) / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError as exc:
        raise IncompatibleArtifact(f"No {MANIFEST} in {path}: this is not a Tessera model artifact.") from exc
    except json.JSONDecodeError as exc:
        raise IncompatibleArtifact(f"{manifest_path} is not valid JSON: {exc}.") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IncompatibleArtifact(
            f"Artifact format version {manifest.get('format_version')!r} is not supported "
            f"(this code reads version {FORMAT_VERSION})."
        )
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise IncompatibleArtifact(f"{manifest_path} is missing required keys: {', '.join(missing)}.")
    return manifest


def check_base_model(manifest: dict[str, Any], base_model: EncoderSpec) -> None:
    """Refuse an artifact trained on another base model than the one this process serves.

    Raises:
        IncompatibleArtifact: the names or weight fingerprints differ.
    """
    trained = manifest.get("base_model") or {}
    if trained.get("sha256") != base_model.weights_sha256:
        raise IncompatibleArtifact(
            f"This model was trained on base model {trained.get('name')} (sha256 {str(trained.get('sha256'))[:12]}…) "
            f"but this process serves {base_model.name} ({base_model.weights_sha256[:12]}…)."
        )


def verify_files(path: Path, manifest: dict[str, Any]) -> None:
    """Check every file listed in the manifest against its sha256, and that nothing else unexpected is there.

    Raises:
        IncompatibleArtifact: a file is missing, altered, or of a kind that could execute code.
    """
    path = Path(path)
    for name, expected in manifest["files"].items():
        file = path / name
        if not file.is_file():
            raise IncompatibleArtifact(f"Artifact file {name} is missing from {path}.")
        if sha256_file(file) != expected:
            raise IncompatibleArtifact(f"Artifact file {name} in {path} does not match its sha256 in the manifest.")
        if not name.endswith(ALLOWED_SUFFIXES):
            raise IncompatibleArtifact(f"Artifact file {name} has a type that is never loaded ({ALLOWED_SUFFIXES}).")


def artifact_size_bytes(path: Path) -> int:
    """Total bytes of every file in the artifact directory."""
    return sum(file.stat().st_size for file in Path(path).rglob("*") if file.is_file())


@contextlib.contextmanager
def staging_directory(output_dir: Path) -> Iterator[Path]:
    """A temporary sibling of `output_dir` that is renamed onto it when the block succeeds.

    Cancellation or any error removes the temporary directory, so `output_dir` is either
    absent or complete (the rename is atomic on one filesystem).
    """
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", suffix=".partial", dir=output_dir.parent))
    try:
        yield staging
        os.rename(staging, output_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def ensure_absent(output_dir: Path) -> None:
    """Artifacts are immutable: refuse to train into an existing directory."""
    if Path(output_dir).exists():
        raise FileExistsError(f"{output_dir} already exists; model artifacts are immutable, choose a new directory.")
