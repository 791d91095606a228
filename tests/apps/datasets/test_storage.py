import pytest
from moto.server import ThreadedMotoServer

from apps.core.storage import (
    FileSystemArtifactStorage,
    InvalidArtifactKey,
    S3ArtifactStorage,
    artifact_storage,
    organization_prefix,
)

BUCKET = "tessera-artifacts"


@pytest.fixture(scope="session")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_settings(settings, s3_endpoint, tmp_path, request):
    import boto3

    bucket = f"{BUCKET}-{request.node.name.lower().replace('_', '-').replace('[', '-').replace(']', '')}"[:63]
    settings.ARTIFACT_STORAGE = "s3"
    settings.ARTIFACT_S3_BUCKET = bucket
    settings.ARTIFACT_S3_ENDPOINT_URL = s3_endpoint
    settings.ARTIFACT_S3_REGION = "us-east-1"
    settings.ARTIFACT_S3_ACCESS_KEY_ID = "testing"
    settings.ARTIFACT_S3_SECRET_ACCESS_KEY = "testing"  # noqa: S105
    settings.ARTIFACT_CACHE_DIR = tmp_path / "cache"
    boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)  # fmt: skip
    return settings


@pytest.fixture(params=["filesystem", "s3"])
def storage(request, artifact_root):
    if request.param == "s3":
        request.getfixturevalue("s3_settings")
    backend = artifact_storage()
    assert isinstance(backend, FileSystemArtifactStorage if request.param == "filesystem" else S3ArtifactStorage)
    return backend


def _tree(tmp_path):
    source = tmp_path / "model"
    (source / "head").mkdir(parents=True)
    (source / "manifest.json").write_text('{"version": 1}')
    (source / "head" / "weights.safetensors").write_bytes(b"\x00\x01weights")
    return source


def test_organization_prefix():
    assert organization_prefix(42) == "org/42"


def test_bytes_round_trip_under_the_organization_prefix(storage):
    full = storage.put_bytes(organization_id=7, key="datasets/a/v1/rows.jsonl", data=b'{"text": "hi"}\n')

    assert full == "org/7/datasets/a/v1/rows.jsonl"
    assert storage.get_bytes(organization_id=7, key="datasets/a/v1/rows.jsonl") == b'{"text": "hi"}\n'
    assert storage.exists(organization_id=7, key="datasets/a/v1/rows.jsonl")
    assert storage.exists(organization_id=7, key="datasets/a")
    assert not storage.exists(organization_id=8, key="datasets/a/v1/rows.jsonl")
    with pytest.raises(FileNotFoundError):
        storage.get_bytes(organization_id=8, key="datasets/a/v1/rows.jsonl")


def test_overwrite_replaces_the_whole_object(storage):
    storage.put_bytes(organization_id=7, key="a.txt", data=b"first version, longer")
    storage.put_bytes(organization_id=7, key="a.txt", data=b"second")

    assert storage.get_bytes(organization_id=7, key="a.txt") == b"second"


def test_put_file(storage, tmp_path):
    source = tmp_path / "original.csv"
    source.write_bytes(b"text,label\n")

    full = storage.put_file(organization_id=3, key="datasets/x/original.csv", source=source)

    assert full == "org/3/datasets/x/original.csv"
    assert storage.get_bytes(organization_id=3, key="datasets/x/original.csv") == b"text,label\n"


def test_directories_round_trip_and_delete(storage, tmp_path):
    source = _tree(tmp_path)

    full = storage.put_directory(organization_id=5, key="models/support/v3", source=source)
    local = storage.local_directory(organization_id=5, key="models/support/v3")

    assert full == "org/5/models/support/v3"
    assert sorted(str(path.relative_to(local)) for path in local.rglob("*") if path.is_file()) == [
        "head/weights.safetensors",
        "manifest.json",
    ]
    assert (local / "head" / "weights.safetensors").read_bytes() == b"\x00\x01weights"
    assert storage.get_bytes(organization_id=5, key="models/support/v3/manifest.json") == b'{"version": 1}'
    storage.delete(organization_id=5, key="models/support/v3")
    assert not storage.exists(organization_id=5, key="models/support/v3")
    assert not storage.exists(organization_id=5, key="models/support/v3/manifest.json")
    with pytest.raises(FileNotFoundError):
        storage.local_directory(organization_id=5, key="models/support/v3")


def test_put_directory_replaces_the_previous_tree(storage, tmp_path):
    source = _tree(tmp_path)
    storage.put_directory(organization_id=5, key="models/m", source=source)
    (source / "head" / "weights.safetensors").unlink()
    (source / "manifest.json").write_text('{"version": 2}')

    storage.put_directory(organization_id=5, key="models/m", source=source)

    assert not storage.exists(organization_id=5, key="models/m/head/weights.safetensors")
    assert storage.get_bytes(organization_id=5, key="models/m/manifest.json") == b'{"version": 2}'


def test_delete_of_a_missing_key_is_a_no_op(storage):
    storage.delete(organization_id=5, key="nothing/here")

    assert not storage.exists(organization_id=5, key="nothing/here")


@pytest.mark.parametrize(
    "key", ["", "/", "../org/8/secret", "a/../../b", "/etc/passwd", "a\\b", "a//b", "./a", "a/./b", "a\x00b"]
)
def test_keys_that_could_escape_the_prefix_are_refused(storage, key):
    with pytest.raises(InvalidArtifactKey):
        storage.put_bytes(organization_id=7, key=key, data=b"x")


@pytest.mark.parametrize("organization_id", [0, -1, None, "7", True])
def test_invalid_organization_ids_are_refused(storage, organization_id):
    with pytest.raises(InvalidArtifactKey):
        storage.put_bytes(organization_id=organization_id, key="a.txt", data=b"x")


def test_filesystem_writes_leave_no_temporary_files(artifact_root, tmp_path):
    storage = artifact_storage()

    storage.put_bytes(organization_id=1, key="a/b.txt", data=b"x")
    storage.put_directory(organization_id=1, key="a/tree", source=_tree(tmp_path))
    storage.put_directory(organization_id=1, key="a/tree", source=_tree(tmp_path / "again"))

    assert sorted(path.name for path in (artifact_root / "org" / "1" / "a").iterdir()) == ["b.txt", "tree"]


def test_s3_local_directory_is_downloaded_once_into_the_cache(s3_settings, tmp_path):
    storage = artifact_storage()
    storage.put_directory(organization_id=9, key="models/m/v1", source=_tree(tmp_path))

    first = storage.local_directory(organization_id=9, key="models/m/v1")
    (first / "marker").write_text("cached")
    second = storage.local_directory(organization_id=9, key="models/m/v1")

    assert first == s3_settings.ARTIFACT_CACHE_DIR / "org" / "9" / "models" / "m" / "v1"
    assert second == first and (second / "marker").read_text() == "cached"
    assert [path.name for path in first.parent.iterdir()] == ["v1"]


def test_s3_objects_are_stored_under_the_organization_prefix(s3_settings):
    storage = artifact_storage()

    storage.put_bytes(organization_id=9, key="datasets/d/v1/rows.jsonl", data=b"{}\n")

    keys = [item["Key"] for item in storage.client.list_objects_v2(Bucket=storage.bucket)["Contents"]]
    assert keys == ["org/9/datasets/d/v1/rows.jsonl"]


def test_dataset_upload_through_s3(s3_settings, org, in_org):
    from apps.datasets.selectors import dataset_version_rows
    from tests.factories.datasets import make_dataset_version

    version = make_dataset_version(org)
    with in_org(org):
        rows = dataset_version_rows(dataset_version=version)

    storage = artifact_storage()
    keys = sorted(item["Key"] for item in storage.client.list_objects_v2(Bucket=storage.bucket)["Contents"])
    prefix = f"org/{org.id}/datasets/{version.dataset_id}/v1"
    assert keys == [f"{prefix}/original.csv", f"{prefix}/rows.jsonl"]
    assert len(rows) == 16
