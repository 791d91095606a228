import pytest

from apps.core.storage import artifact_storage


@pytest.fixture(autouse=True)
def artifact_root(settings, tmp_path):
    """Every test writes artifacts to its own empty directory."""
    root = tmp_path / "artifacts"
    settings.ARTIFACT_STORAGE = "filesystem"
    settings.ARTIFACT_ROOT = root
    artifact_storage.cache_clear()
    yield root
    artifact_storage.cache_clear()


@pytest.fixture
def stored_files(artifact_root):
    """`stored_files()`: every file under the artifact root, as sorted relative paths."""
    return lambda: sorted(str(path.relative_to(artifact_root)) for path in artifact_root.rglob("*") if path.is_file())
