import io
import json
from datetime import UTC, datetime

import pytest

from apps.metering.services import usage_event_record
from apps.sentiment import upload
from apps.sentiment.models import Document

pytestmark = pytest.mark.django_db

COUNTS = ("rows", "created", "duplicates", "rejected", "deferred", "scored", "pending")
BOM = b"\xef\xbb\xbf"
CSV = (
    b"text,external_id,source,author,published_at,language,url\r\n"
    b"bad fees again,e1,forum,ann,2026-11-02T09:30:00Z,en,https://forum.example/1\r\n"
    b'"good app, finally",e2,forum,bob,2026-11-02T10:30:00Z,en,\r\n'
    b"earnings call today,e3,,,,,\r\n"
)


@pytest.fixture
def writer(org, owner, keyed_client):
    return keyed_client(org, scopes=["sentiment:write"])


def _path(monitor):
    return f"/api/v1/monitors/{monitor.id}/documents/upload"


def _file(data, name="documents.csv"):
    file = io.BytesIO(data)
    file.name = name
    return file


def _upload(client, monitor, data, name="documents.csv"):
    return client.post(_path(monitor), {"file": _file(data, name)}, format="multipart")


def _counts(body):
    return {name: body[name] for name in COUNTS}


def _documents(org, in_org):
    with in_org(org):
        return list(
            Document.objects.for_org(org)
            .order_by("external_id", "text")
            .values_list("external_id", "text", "source", "author", "language", "url", "status")
        )


def _error(response):
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


def test_a_csv_with_a_byte_order_mark_stores_and_scores_its_documents(writer, monitor, org, in_org, fake_models):
    response = _upload(writer, monitor, BOM + CSV)

    body = response.json()
    assert response.status_code == 201
    assert (body["file_format"], body["has_bom"], body["errors"], body["warnings"], body["deferral"]) == (
        "csv",
        True,
        [],
        [],
        None,
    )
    assert _counts(body) == {
        "rows": 3,
        "created": 3,
        "duplicates": 0,
        "rejected": 0,
        "deferred": 0,
        "scored": 3,
        "pending": 0,
    }
    assert _documents(org, in_org) == [
        ("e1", "bad fees again", "forum", "ann", "en", "https://forum.example/1", "scored"),
        ("e2", "good app, finally", "forum", "bob", "en", "", "scored"),
        ("e3", "earnings call today", "", "", "", "", "scored"),
    ]
    with in_org(org):
        first = Document.objects.for_org(org).get(external_id="e1")
    assert (first.published_at, first.sentiment, first.topic) == (
        datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
        "negative",
        "fees",
    )


def test_a_raw_jsonl_body_is_stored_and_unknown_fields_are_a_warning(writer, monitor, org, in_org, fake_models):
    lines = [
        {"text": "good app", "external_id": 101, "metadata": {"likes": 3}},
        {"text": "bad fees", "external_id": "102", "language": "en"},
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()

    response = writer.post(_path(monitor), data, content_type="application/x-ndjson")

    body = response.json()
    assert response.status_code == 201
    assert (body["file_format"], body["has_bom"], body["created"], body["scored"], body["errors"]) == (
        "jsonl",
        False,
        2,
        2,
        [],
    )
    assert body["warnings"] == [
        {
            "code": "unknown_columns",
            "message": "The field 'metadata' is not used and was ignored.",
            "column": "metadata",
        }
    ]
    assert _documents(org, in_org) == [
        ("101", "good app", "", "", "", "", "scored"),
        ("102", "bad fees", "", "", "en", "", "scored"),
    ]


def test_uploading_the_same_file_again_stores_nothing_new(writer, monitor, org, in_org, fake_models):
    _upload(writer, monitor, CSV)

    again = writer.post(_path(monitor), CSV, content_type="text/csv")

    body = again.json()
    assert again.status_code == 201
    assert (body["created"], body["duplicates"], body["rejected"]) == (0, 3, 0)
    assert len(_documents(org, in_org)) == 3


def test_row_errors_carry_the_row_number_and_good_rows_are_kept(writer, monitor, org, in_org, fake_models):
    data = (
        b"text,url,extra\n"
        b"good app,,x\n"
        b"too,many,fields,here\n"
        b",,\n"
        b"  ,https://ok.example,\n"
        b"bad fees,not a url,\n"
        b'"a text\nover two lines",,\n'
        b"good again,,\n"
    )

    response = _upload(writer, monitor, data)

    body = response.json()
    assert response.status_code == 201
    assert (body["rows"], body["created"], body["rejected"]) == (6, 3, 3)
    assert [(error["row"], error["field"], error["code"]) for error in body["errors"]] == [
        (3, "", "wrong_field_count"),
        (5, "text", "invalid_value"),
        (6, "url", "invalid_value"),
    ]
    assert body["errors"][0]["message"] == "Row 3 has 4 fields; the header has 3."
    assert body["errors"][2]["message"] == "Row 6: Not a valid URL."
    assert body["warnings"] == [
        {"code": "unknown_columns", "message": "The column 'extra' is not used and was ignored.", "column": "extra"}
    ]
    assert sorted(text for _, text, *_ in _documents(org, in_org)) == [
        "a text\nover two lines",
        "good again",
        "good app",
    ]


def test_jsonl_errors_carry_the_line_number(writer, monitor, org, in_org, fake_models):
    data = b'{"text": "good app"}\n\n{"text": \n["a list"]\n{"source": "no text"}\n{"text": 5}\n{"text": "bad fees"}\n'

    response = writer.post(_path(monitor), data, content_type="application/jsonl")

    body = response.json()
    assert response.status_code == 201
    assert (body["rows"], body["created"], body["rejected"]) == (6, 2, 4)
    assert [(error["row"], error["code"]) for error in body["errors"]] == [
        (3, "invalid_json"),
        (4, "not_an_object"),
        (5, "missing_field"),
        (6, "not_text"),
    ]


def test_a_formula_cell_rejects_only_its_row(writer, monitor, org, in_org, fake_models):
    data = (
        b'text,author\ngood app,ann\n"=HYPERLINK(""http://evil.example"")",bob\ngood fees,@SUM(A1)\n-5% fees today,cy\n'
    )

    response = _upload(writer, monitor, data)

    body = response.json()
    assert response.status_code == 201
    assert (body["created"], body["rejected"]) == (2, 2)
    assert [(error["row"], error["field"], error["code"]) for error in body["errors"]] == [
        (3, "text", "formula"),
        (4, "author", "formula"),
    ]
    assert sorted(text for _, text, *_ in _documents(org, in_org)) == ["-5% fees today", "good app"]


@pytest.mark.parametrize(
    ("data", "name", "code", "reason"),
    [
        (b"PK\x03\x04binary zip", "documents.csv", "binary_file", "This file is an Excel workbook"),
        (b"text\ncaf\xe9 au lait\n", "documents.csv", "invalid_encoding", "The file is not valid UTF-8: byte 8"),
        (b"title,author\nhello,ann\n", "documents.csv", "missing_columns", "The required column 'text' is missing."),
        (b'{"title": "hello"}\n', "documents.jsonl", "missing_columns", "No line has a 'text' field"),
        (b"text\n\n", "documents.csv", "no_rows", "The file has a header but no data rows."),
    ],
)
def test_a_file_level_problem_refuses_the_whole_file(writer, monitor, org, in_org, data, name, code, reason):
    response = _upload(writer, monitor, data, name)

    error = _error(response)
    assert response.status_code == 422
    assert error["code"] == "file_invalid"
    assert [item["code"] for item in error["details"]["errors"]] == [code]
    assert error["details"]["errors"][0]["reason"].startswith(reason)
    assert _documents(org, in_org) == []


def test_an_unknown_file_type_is_415(writer, monitor, org, in_org):
    response = _upload(writer, monitor, b"text\nhello\n", "documents.xlsx")

    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_format"
    assert _documents(org, in_org) == []


def test_an_oversize_file_is_a_json_413(writer, monitor, org, in_org, settings):
    settings.SENTIMENT_MAX_UPLOAD_BYTES = 200
    data = b"text\n" + b"good app\n" * 30

    in_envelope = _upload(writer, monitor, data)
    raw = writer.post(_path(monitor), b"text\n" + b"good app\n" * 10_000, content_type="text/csv")

    assert (in_envelope.status_code, raw.status_code) == (413, 413)
    assert _error(in_envelope)["code"] == "file_too_large"
    assert _error(in_envelope)["details"] == {"max_bytes": 200, "received_bytes": len(data)}
    assert _error(raw)["code"] == "request_too_large"
    assert _documents(org, in_org) == []


def test_too_many_rows_is_413(writer, monitor, org, in_org, monkeypatch):
    monkeypatch.setattr(upload, "MAX_ROWS_PER_FILE", 2)

    response = _upload(writer, monitor, CSV)

    error = _error(response)
    assert response.status_code == 413
    assert (error["code"], error["details"]) == ("too_many_rows", {"max_rows": 2, "rows": 3})
    assert _documents(org, in_org) == []


def test_rows_go_in_batches_with_their_row_numbers(writer, monitor, org, in_org, monkeypatch, fake_models):
    monkeypatch.setattr(upload, "MAX_DOCUMENTS_PER_BATCH", 2)
    data = b"text,external_id,url\ngood a,1,\ngood b,2,\ngood c,1,\nbad d,4,nope\ngood e,5,\n"

    response = _upload(writer, monitor, data)

    body = response.json()
    assert _counts(body) == {
        "rows": 5,
        "created": 3,
        "duplicates": 1,
        "rejected": 1,
        "deferred": 0,
        "scored": 3,
        "pending": 0,
    }
    assert [(error["row"], error["field"]) for error in body["errors"]] == [(5, "url")]
    assert [external_id for external_id, *_ in _documents(org, in_org)] == ["1", "2", "5"]


def test_large_files_are_queued_for_scoring(
    writer, monitor, org, in_org, settings, enqueued, django_capture_on_commit_callbacks
):
    settings.SENTIMENT_SYNC_SCORE_MAX = 2

    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(writer, monitor, CSV)

    body = response.json()
    assert (body["created"], body["scored"], body["pending"]) == (3, 0, 3)
    assert [name for name, _ in enqueued] == ["monitor_documents_score"]


def test_documents_over_the_free_allowance_are_deferred(writer, monitor, org, in_org, enqueued):
    with in_org(org):
        usage_event_record(organization=org, meter="documents_processed", quantity=1000, idempotency_key="k")

    response = _upload(writer, monitor, CSV)

    body = response.json()
    assert response.status_code == 201
    assert (body["created"], body["deferred"], body["scored"], body["pending"]) == (3, 3, 0, 0)
    assert (body["deferral"]["meter"], body["deferral"]["limit"]) == ("documents_processed", "1000")
    assert {status for *_, status in _documents(org, in_org)} == {"deferred"}


def test_a_read_key_cannot_upload(org, owner, keyed_client, monitor, in_org):
    reader = keyed_client(org, scopes=["sentiment:read"])

    response = _upload(reader, monitor, CSV)

    assert response.status_code == 403
    assert _error(response)["code"] == "missing_scope"
    assert _documents(org, in_org) == []


def test_another_organization_gets_404_and_nothing_changes(other_api_client, monitor, org, in_org, other_org):
    response = _upload(other_api_client, monitor, CSV)

    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"
    assert _documents(org, in_org) == []
    assert _documents(other_org, in_org) == []
