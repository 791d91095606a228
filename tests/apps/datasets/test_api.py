import io
import json

import pytest

from apps.datasets.models import Dataset, DatasetVersion
from tests.factories.datasets import LABELLED_CSV, PAIRS_JSONL, make_dataset_version

pytestmark = pytest.mark.django_db


def _error(response):
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def _file(data=LABELLED_CSV, name="intents.csv"):
    upload = io.BytesIO(data)
    upload.name = name
    return upload


def _upload(client, path="/api/v1/datasets", **fields):
    body = {"name": "Support intents", "kind": "labelled_texts", "file": _file(), **fields}
    return client.post(path, body, format="multipart")


@pytest.fixture
def training_client(org, owner, keyed_client):
    return keyed_client(org, scopes=["training"])


def _counts(org, in_org):
    with in_org(org):
        return Dataset.objects.for_org(org).count(), DatasetVersion.objects.for_org(org).count()


def test_upload_creates_version_1_and_returns_the_report(training_client, org, in_org, stored_files):
    response = _upload(training_client, description="Intents from the help desk")

    body = response.json()
    assert response.status_code == 201
    assert set(body) == {
        "version", "file_format", "original_filename", "size_bytes", "sha256", "row_count", "labels",
        "issue_counts", "created_at", "dataset", "report",
    }  # fmt: skip
    assert (body["version"], body["file_format"], body["original_filename"], body["row_count"]) == (
        1,
        "csv",
        "intents.csv",
        16,
    )
    assert body["dataset"]["name"] == "Support intents" and body["dataset"]["kind"] == "labelled_texts"
    assert body["labels"] == ["refund", "shipping"]
    assert body["issue_counts"] == {"error": 0, "warning": 0}
    assert body["report"]["labels"] == {"refund": 8, "shipping": 8}
    assert [item["device"] for item in body["report"]["estimates"]] == ["cpu", "cpu", "cpu"]
    assert body["report"]["recommended_strategy"]["strategy"] == "head"
    assert _counts(org, in_org) == (1, 1)
    assert len(stored_files()) == 2


def test_upload_a_raw_jsonl_body(training_client, org, in_org):
    response = training_client.post(
        "/api/v1/datasets?name=FAQ&kind=text_pairs&description=Help+centre",
        PAIRS_JSONL,
        content_type="application/x-ndjson",
    )

    body = response.json()
    assert response.status_code == 201
    assert (body["file_format"], body["original_filename"], body["row_count"]) == ("jsonl", "upload.jsonl", 5)
    assert body["dataset"]["kind"] == "text_pairs"
    detail = training_client.get(f"/api/v1/datasets/{body['dataset']['id']}").json()
    assert detail["description"] == "Help centre"


def test_dry_run_validates_and_stores_nothing(training_client, org, in_org, stored_files):
    response = _upload(training_client, path="/api/v1/datasets?dry_run=true")

    body = response.json()
    assert response.status_code == 200
    assert (body["dry_run"], body["valid"], body["report"]["rows"]) == (True, True, 16)
    assert _counts(org, in_org) == (0, 0)
    assert stored_files() == []


def test_a_refused_file_is_422_with_rows_and_reasons(training_client, org, in_org, stored_files):
    response = _upload(training_client, file=_file(b"text,label\na,x\nb,x,extra\nc,y\nd,y\n"))

    error = _error(response)
    assert response.status_code == 422
    assert error["code"] == "dataset_invalid"
    assert error["details"]["errors"] == [
        {
            "row": 3,
            "column": None,
            "code": "wrong_field_count",
            "reason": "Row 3 has 3 fields; the header has 2.",
        }
    ]
    assert error["details"]["report"]["rows"] == 4
    assert _counts(org, in_org) == (0, 0)
    assert stored_files() == []


def test_dry_run_of_a_refused_file_is_422_too(training_client, org, in_org):
    response = _upload(training_client, path="/api/v1/datasets?dry_run=1", file=_file(b""))

    assert response.status_code == 422
    assert _error(response)["details"]["errors"][0]["code"] == "empty_file"


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"name": ""}, "name"), ({"kind": "images"}, "kind"), ({"file": ""}, "file")],
)
def test_invalid_fields_are_400_validation_error(training_client, org, in_org, fields, field):
    response = _upload(training_client, **fields)

    error = _error(response)
    assert response.status_code == 400
    assert error["code"] == "validation_error"
    assert list(error["details"]["fields"]) == [field]
    assert _counts(org, in_org) == (0, 0)


def test_json_body_is_415(training_client):
    response = training_client.post("/api/v1/datasets", {"name": "x"}, format="json")

    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


def test_oversize_upload_is_413(training_client, org, in_org, settings, stored_files):
    settings.DATASET_MAX_UPLOAD_BYTES = 200

    response = _upload(training_client, file=_file(LABELLED_CSV + b"x" * 300))

    error = _error(response)
    assert response.status_code == 413
    assert error["code"] == "file_too_large"
    assert error["details"] == {"max_bytes": 200, "received_bytes": len(LABELLED_CSV) + 300}
    assert _counts(org, in_org) == (0, 0)
    assert stored_files() == []


def test_oversize_body_is_413_before_it_is_read(training_client, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 200

    response = training_client.post(
        "/api/v1/datasets?name=x&kind=text_pairs", b"{}\n" * 30_000, content_type="application/jsonl"
    )

    assert response.status_code == 413
    assert _error(response)["code"] == "request_too_large"


def test_duplicate_name_is_409(training_client, org):
    make_dataset_version(org, name="Support intents")

    response = _upload(training_client)

    assert response.status_code == 409
    assert _error(response)["code"] == "dataset_name_taken"


def test_list_detail_and_versions(training_client, org):
    first = make_dataset_version(org, name="A")
    make_dataset_version(org, name="A", dataset=first.dataset, filename="v2.csv")
    make_dataset_version(org, name="B", kind="text_pairs", filename="p.jsonl", data=PAIRS_JSONL)

    listing = training_client.get("/api/v1/datasets").json()
    detail = training_client.get(f"/api/v1/datasets/{first.dataset_id}").json()
    versions = training_client.get(f"/api/v1/datasets/{first.dataset_id}/versions").json()
    version_1 = training_client.get(f"/api/v1/datasets/{first.dataset_id}/versions/1").json()

    summary = [(item["name"], item["version_count"], item["latest_version"]["version"]) for item in listing["results"]]
    assert summary == [("B", 1, 1), ("A", 2, 2)]
    latest = detail["latest_version"]
    assert (detail["name"], detail["version_count"], latest["original_filename"]) == (
        "A",
        2,
        "v2.csv",
    )
    assert "report" not in detail["latest_version"]
    assert [item["version"] for item in versions["results"]] == [2, 1]
    assert (version_1["version"], version_1["original_filename"]) == (1, "intents.csv")
    assert version_1["report"]["rows"] == 16


def test_list_is_paginated(training_client, org):
    for n in range(3):
        make_dataset_version(org, name=f"Set {n}")

    first = training_client.get("/api/v1/datasets?limit=2").json()
    second = training_client.get(first["next"]).json()

    assert [item["name"] for item in first["results"]] == ["Set 2", "Set 1"]
    assert [item["name"] for item in second["results"]] == ["Set 0"]
    assert second["next"] is None


def test_upload_a_new_version(training_client, org, in_org):
    first = make_dataset_version(org)

    response = training_client.post(
        f"/api/v1/datasets/{first.dataset_id}/versions", {"file": _file(name="v2.csv")}, format="multipart"
    )
    raw = training_client.post(
        f"/api/v1/datasets/{first.dataset_id}/versions?filename=v3.jsonl",
        b"".join(json.dumps({"text": f"t{n}", "label": "ab"[n % 2]}).encode() + b"\n" for n in range(4)),
        content_type="application/jsonl",
    )

    assert response.status_code == 201 and raw.status_code == 201
    assert (response.json()["version"], raw.json()["version"]) == (2, 3)
    assert raw.json()["original_filename"] == "v3.jsonl"
    assert _counts(org, in_org) == (1, 3)


def test_a_new_version_of_another_kind_is_422(training_client, org, in_org):
    first = make_dataset_version(org)

    response = training_client.post(
        f"/api/v1/datasets/{first.dataset_id}/versions?kind=text_pairs", PAIRS_JSONL, content_type="application/jsonl"
    )

    assert response.status_code == 422
    assert _error(response)["code"] == "dataset_kind_mismatch"
    assert _counts(org, in_org) == (1, 1)


def test_missing_version_is_404(training_client, org):
    first = make_dataset_version(org)

    response = training_client.get(f"/api/v1/datasets/{first.dataset_id}/versions/7")

    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/datasets"),
        ("post", "/api/v1/datasets"),
        ("get", "/api/v1/datasets/{id}"),
        ("get", "/api/v1/datasets/{id}/versions"),
        ("post", "/api/v1/datasets/{id}/versions"),
        ("get", "/api/v1/datasets/{id}/versions/1"),
    ],
)
def test_a_key_without_the_training_scope_is_403(org, owner, keyed_client, in_org, method, path):
    version = make_dataset_version(org)
    client = keyed_client(org, scopes=["support:write"])

    response = getattr(client, method)(path.format(id=version.dataset_id), {"file": _file()}, format="multipart")

    error = _error(response)
    assert response.status_code == 403
    assert error["code"] == "missing_scope"
    assert error["details"]["required_scope"] == "training"
    assert _counts(org, in_org) == (1, 1)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/datasets/{id}"),
        ("get", "/api/v1/datasets/{id}/versions"),
        ("get", "/api/v1/datasets/{id}/versions/1"),
        ("post", "/api/v1/datasets/{id}/versions"),
    ],
)
def test_another_organization_gets_404_and_changes_nothing(org, other_api_client, in_org, method, path):
    version = make_dataset_version(org)

    response = getattr(other_api_client, method)(
        path.format(id=version.dataset_id), {"file": _file()}, format="multipart"
    )

    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"
    assert _counts(org, in_org) == (1, 1)


def test_another_organization_does_not_list_them(org, other_api_client):
    make_dataset_version(org)

    response = other_api_client.get("/api/v1/datasets")

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_idempotent_upload_is_replayed(training_client, org, in_org):
    headers = {"HTTP_IDEMPOTENCY_KEY": "upload-1"}
    body = lambda: {"name": "Intents", "kind": "labelled_texts", "file": _file()}  # noqa: E731

    first = training_client.post("/api/v1/datasets", body(), format="multipart", **headers)
    replay = training_client.post("/api/v1/datasets", body(), format="multipart", **headers)

    assert first.status_code == 201 and replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert _counts(org, in_org) == (1, 1)
