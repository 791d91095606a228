"""Artifact storage: datasets and model artifacts, kept per organization.

Two backends behind one interface: the local filesystem under ARTIFACT_ROOT (the
default) and any S3-compatible object store (ARTIFACT_STORAGE="s3"). Callers pass keys
relative to their organization; the storage itself puts every key under
`org/<organization_id>/`, so no caller can read or write another tenant's files
(STYLE.md section 5, rule 5).

Example:
    storage = artifact_storage()
    full_key = storage.put_bytes(organization_id=org.id, key="datasets/<id>/v1/rows.jsonl", data=b"...")
    # full_key == "org/<org.id>/datasets/<id>/v1/rows.jsonl"

Missing objects raise FileNotFoundError on both backends. Writes are atomic: a reader
sees the old object or the new one, never a partly written one.
"""

from __future__ import annotations

import abc
import functools
import os
import shutil
import tempfile
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed


class InvalidArtifactKey(ValueError):
    """A key that could escape its organization's prefix or is otherwise unusable."""


def organization_prefix(organization_id: int) -> str:
    """The storage prefix of one organization: "org/<id>"."""
    if not isinstance(organization_id, int) or isinstance(organization_id, bool) or organization_id <= 0:
        raise InvalidArtifactKey(f"{organization_id!r} is not an organization id.")
    return f"org/{organization_id}"


def clean_key(key: str) -> str:
    """Check a key relative to the organization prefix and return it without a trailing slash.

    Refused: empty keys, absolute paths, backslashes, NUL, and "." / ".." / empty segments.
    """
    if not isinstance(key, str) or not key.strip("/"):
        raise InvalidArtifactKey("An artifact key must be a non-empty relative path.")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidArtifactKey(f"{key!r} is not a relative path with forward slashes.")
    stripped = key.rstrip("/")
    if any(part in ("", ".", "..") for part in stripped.split("/")):
        raise InvalidArtifactKey(f"{key!r} has an empty, '.' or '..' segment.")
    return stripped


def full_key(organization_id: int, key: str) -> str:
    return f"{organization_prefix(organization_id)}/{clean_key(key)}"


class ArtifactStorage(abc.ABC):
    """The interface. Every key is relative to the organization's prefix."""

    @abc.abstractmethod
    def put_bytes(self, *, organization_id: int, key: str, data: bytes) -> str: ...

    @abc.abstractmethod
    def put_file(self, *, organization_id: int, key: str, source: Path) -> str: ...

    @abc.abstractmethod
    def put_directory(self, *, organization_id: int, key: str, source: Path) -> str:
        """Store a directory tree (a model artifact) under `key`, replacing what was there."""

    @abc.abstractmethod
    def get_bytes(self, *, organization_id: int, key: str) -> bytes: ...

    @abc.abstractmethod
    def local_directory(self, *, organization_id: int, key: str) -> Path:
        """A local directory holding the tree stored under `key` (read it, don't write to it)."""

    @abc.abstractmethod
    def exists(self, *, organization_id: int, key: str) -> bool: ...

    @abc.abstractmethod
    def delete(self, *, organization_id: int, key: str) -> None:
        """Delete one object or a whole prefix. Deleting something missing is a no-op."""


class FileSystemArtifactStorage(ArtifactStorage):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, organization_id: int, key: str) -> Path:
        return self.root.joinpath(*PurePosixPath(full_key(organization_id, key)).parts)

    def _write_atomically(self, target: Path, write) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                write(stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def put_bytes(self, *, organization_id: int, key: str, data: bytes) -> str:
        self._write_atomically(self.path(organization_id, key), lambda stream: stream.write(data))
        return full_key(organization_id, key)

    def put_file(self, *, organization_id: int, key: str, source: Path) -> str:
        def copy(stream) -> None:
            with open(source, "rb") as origin:
                shutil.copyfileobj(origin, stream)

        self._write_atomically(self.path(organization_id, key), copy)
        return full_key(organization_id, key)

    def put_directory(self, *, organization_id: int, key: str, source: Path) -> str:
        target = self.path(organization_id, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
        try:
            shutil.copytree(source, staging, dirs_exist_ok=True)
            if target.exists():
                # Two renames: a reader sees the old tree or the new one, never a mix.
                retired = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
                os.replace(target, retired)
                os.replace(staging, target)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return full_key(organization_id, key)

    def get_bytes(self, *, organization_id: int, key: str) -> bytes:
        path = self.path(organization_id, key)
        if not path.is_file():
            raise FileNotFoundError(full_key(organization_id, key))
        return path.read_bytes()

    def local_directory(self, *, organization_id: int, key: str) -> Path:
        path = self.path(organization_id, key)
        if not path.is_dir():
            raise FileNotFoundError(full_key(organization_id, key))
        return path

    def exists(self, *, organization_id: int, key: str) -> bool:
        return self.path(organization_id, key).exists()

    def delete(self, *, organization_id: int, key: str) -> None:
        path = self.path(organization_id, key)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


class S3ArtifactStorage(ArtifactStorage):
    """Any S3-compatible store (AWS S3, MinIO, Ceph, R2). A PUT of one object is atomic there."""

    def __init__(self, *, bucket: str, client: Any, cache_dir: Path) -> None:
        self.bucket = bucket
        self.client = client
        self.cache_dir = Path(cache_dir)

    def _keys_under(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def put_bytes(self, *, organization_id: int, key: str, data: bytes) -> str:
        name = full_key(organization_id, key)
        self.client.put_object(Bucket=self.bucket, Key=name, Body=data)
        return name

    def put_file(self, *, organization_id: int, key: str, source: Path) -> str:
        name = full_key(organization_id, key)
        self.client.upload_file(str(source), self.bucket, name)
        return name

    def put_directory(self, *, organization_id: int, key: str, source: Path) -> str:
        name = full_key(organization_id, key)
        source = Path(source)
        files = sorted(path for path in source.rglob("*") if path.is_file())
        wanted = {f"{name}/{path.relative_to(source).as_posix()}" for path in files}
        for path in files:
            self.client.upload_file(str(path), self.bucket, f"{name}/{path.relative_to(source).as_posix()}")
        stale = [object_key for object_key in self._keys_under(f"{name}/") if object_key not in wanted]
        self._delete_keys(stale)
        return name

    def get_bytes(self, *, organization_id: int, key: str) -> bytes:
        name = full_key(organization_id, key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=name)
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(name) from None
        return response["Body"].read()

    def local_directory(self, *, organization_id: int, key: str) -> Path:
        # NOTE: artifacts are written once under versioned keys, so a cached copy never
        # goes stale; it is downloaded once per machine.
        name = full_key(organization_id, key)
        target = self.cache_dir.joinpath(*PurePosixPath(name).parts)
        if target.is_dir():
            return target
        keys = self._keys_under(f"{name}/")
        if not keys:
            raise FileNotFoundError(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
        try:
            for object_key in keys:
                destination = staging.joinpath(*PurePosixPath(object_key[len(name) + 1 :]).parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                self.client.download_file(self.bucket, object_key, str(destination))
            try:
                os.rename(staging, target)
            except OSError:
                # Another process finished the same download first; use its copy.
                if not target.is_dir():
                    raise
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    def exists(self, *, organization_id: int, key: str) -> bool:
        name = full_key(organization_id, key)
        response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=name, MaxKeys=2)
        return any(item["Key"] == name or item["Key"].startswith(f"{name}/") for item in response.get("Contents", []))

    def _delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # the S3 DeleteObjects limit per call
            batch = [{"Key": object_key} for object_key in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def delete(self, *, organization_id: int, key: str) -> None:
        name = full_key(organization_id, key)
        self._delete_keys([name, *self._keys_under(f"{name}/")])
        cached = self.cache_dir.joinpath(*PurePosixPath(name).parts)
        if cached.is_dir():
            shutil.rmtree(cached, ignore_errors=True)


def s3_client() -> Any:
    import boto3  # only processes that use S3 pay for the import

    return boto3.client(
        "s3",
        endpoint_url=settings.ARTIFACT_S3_ENDPOINT_URL or None,
        region_name=settings.ARTIFACT_S3_REGION or None,
        aws_access_key_id=settings.ARTIFACT_S3_ACCESS_KEY_ID or None,
        aws_secret_access_key=settings.ARTIFACT_S3_SECRET_ACCESS_KEY or None,
    )


@functools.cache
def artifact_storage() -> ArtifactStorage:
    """The configured backend, built once per process (tests call `artifact_storage.cache_clear()`)."""
    backend = settings.ARTIFACT_STORAGE
    if backend == "filesystem":
        return FileSystemArtifactStorage(Path(settings.ARTIFACT_ROOT))
    if backend == "s3":
        if not settings.ARTIFACT_S3_BUCKET:
            raise ImproperlyConfigured("ARTIFACT_STORAGE=s3 needs ARTIFACT_S3_BUCKET.")
        return S3ArtifactStorage(
            bucket=settings.ARTIFACT_S3_BUCKET, client=s3_client(), cache_dir=Path(settings.ARTIFACT_CACHE_DIR)
        )
    raise ImproperlyConfigured(f"ARTIFACT_STORAGE must be 'filesystem' or 's3', not {backend!r}.")


def _forget_storage_on_settings_change(*, setting: str, **kwargs: Any) -> None:
    # Tests switch backends with the `settings` fixture; the cached instance must follow.
    if setting.startswith("ARTIFACT_"):
        artifact_storage.cache_clear()


setting_changed.connect(_forget_storage_on_settings_change)
