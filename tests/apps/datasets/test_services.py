import json

import pytest
from django.db import DatabaseError, transaction

from apps.accounts.models import Role
from apps.audit.models import AuditEntry
from apps.core.actors import Actor
from apps.core.errors import ServiceError
from apps.datasets.models import Dataset, DatasetVersion
from apps.datasets.selectors import dataset_version_get, dataset_version_rows
from apps.datasets.services import dataset_upload
from ml.estimates import choose_strategy, estimate_training_seconds
from tests.factories.datasets import LABELLED_CSV, PAIRS_JSONL, labelled_csv, make_dataset_version

pytestmark = pytest.mark.django_db


def _refusal(org, in_org, *, data, filename="data.csv", kind="labelled_texts", settings=None):
    with pytest.raises(ServiceError) as caught, in_org(org):
        dataset_upload(
            organization=org,
            actor=Actor(via="system", role=Role.MEMBER),
            name="Refused",
            kind=kind,
            filename=filename,
            data=data,
        )
    return caught.value


def _nothing_stored(org, in_org, stored_files):
    with in_org(org):
        assert Dataset.objects.for_org(org).count() == 0
        assert DatasetVersion.objects.for_org(org).count() == 0
        assert AuditEntry.objects.for_org(org).filter(action="dataset.uploaded").count() == 0
    assert stored_files() == []


def _errors(error):
    return [(item["row"], item["column"], item["code"], item["reason"]) for item in error.details["errors"]]


@pytest.mark.parametrize(
    ("filename", "data", "kind", "expected"),
    [
        (
            "a.csv",
            b"",
            "labelled_texts",
            [(None, None, "empty_file", "The file is empty. Upload a file with a header and rows.")],
        ),
        (
            "a.csv",
            b"text,label\n\n",
            "labelled_texts",
            [(None, None, "no_rows", "The file has a header but no data rows.")],
        ),
        (
            "a.csv",
            b"message,category\nhi,a\n",
            "labelled_texts",
            [
                (
                    1,
                    "text",
                    "missing_columns",
                    "The required column 'text' is missing. Columns needed: text, label (optional: split); "
                    "found: message, category.",
                ),
                (
                    1,
                    "label",
                    "missing_columns",
                    "The required column 'label' is missing. Columns needed: text, label (optional: split); "
                    "found: message, category.",
                ),
            ],
        ),
        (
            "a.csv",
            b"text,label\nhello\x00there,a\n",
            "labelled_texts",
            [(2, None, "binary_file", "This is not a text file: it contains a NUL byte at byte 16 (line 2).")],
        ),
        (
            "a.csv",
            b"PK\x03\x04rest-of-a-zip",
            "labelled_texts",
            [
                (
                    None,
                    None,
                    "binary_file",
                    "This file is an Excel workbook or another zip archive. Save it as CSV (UTF-8) and upload that.",
                )
            ],
        ),
        (
            "a.csv",
            b"text,label\nok,a\ncaf\xe9,a\n",
            "labelled_texts",
            [
                (
                    3,
                    None,
                    "invalid_encoding",
                    "The file is not valid UTF-8: byte 19 (on line 3) can't be read. Save the file as UTF-8 "
                    "(in Excel: 'CSV UTF-8') and upload it again.",
                )
            ],
        ),
        (
            "a.csv",
            labelled_csv([("a", "x"), ("b", "x"), ("c", "x")]),
            "labelled_texts",
            [(None, "label", "single_class", "Every row has the label 'x'. Add examples of at least one other label.")],
        ),
        (
            "a.csv",
            labelled_csv([("a", "x"), ("b", "x"), ("c", "y")]),
            "labelled_texts",
            [
                (
                    4,
                    "label",
                    "rare_label",
                    "The label 'y' has only 1 example (row 4); each label needs at least 2.",
                )
            ],
        ),
        (
            "a.csv",
            b"text,label\na,x\nb,x,extra\nc,y\nd\n" + b"e,y\n",
            "labelled_texts",
            [
                (3, None, "wrong_field_count", "Row 3 has 3 fields; the header has 2."),
                (5, None, "wrong_field_count", "Row 5 has 1 fields; the header has 2."),
            ],
        ),
        (
            "a.jsonl",
            b'{"text": "a", "label": "x"}\n["b", "x"]\n{"text": "c", "label": "y"\n"d"\n{"text": "e", "label": "y"}\n'
            b'{"text": "f", "label": "x"}\n',
            "labelled_texts",
            [
                (2, None, "not_an_object", "Line 2 is a JSON list, not an object with named fields."),
                (
                    3,
                    None,
                    "invalid_json",
                    "Line 3 is not valid JSON (Expecting ',' delimiter: line 1 column 27 (char 26)).",
                ),
                (4, None, "not_an_object", "Line 4 is a JSON string, not an object with named fields."),
            ],
        ),
        (
            "a.csv",
            b"text,label\n=SUM(A1:A2),x\nfine,+A1\nok,x\n@cmd|' /C calc'!A0,y\n-5% guidance,y\n",
            "labelled_texts",
            [
                (2, "text", "formula", "Row 2, column 'text': '=SUM(A1:A2)' looks like a spreadsheet formula."),
                (3, "label", "formula", "Row 3, column 'label': '+A1' looks like a spreadsheet formula."),
                (
                    5,
                    "text",
                    "formula",
                    "Row 5, column 'text': \"@cmd|' /C calc'!A0\" looks like a spreadsheet formula.",
                ),
            ],
        ),
        (
            "a.xlsx",
            b"text,label\na,x\n",
            "labelled_texts",
            [
                (
                    None,
                    None,
                    "unsupported_format",
                    "'a.xlsx' is not a .csv, .tsv or .jsonl file. Export your data in one of these formats.",
                )
            ],
        ),
        (
            "a.csv",
            b'{"text": "a", "label": "x"}\n',
            "labelled_texts",
            [
                (
                    1,
                    None,
                    "format_mismatch",
                    "This file looks like JSON, not CSV or TSV. Name it .jsonl if it has one JSON object per line.",
                )
            ],
        ),
        (
            "a.tsv",
            b"query\tpositive\nhow\t\nq\tp\n",
            "labelled_texts",
            [
                (
                    1,
                    "text",
                    "missing_columns",
                    "The required column 'text' is missing. Columns needed: text, label (optional: split); "
                    "found: query, positive.",
                ),
                (
                    1,
                    "label",
                    "missing_columns",
                    "The required column 'label' is missing. Columns needed: text, label (optional: split); "
                    "found: query, positive.",
                ),
            ],
        ),
        (
            "a.csv",
            b"text,label,split\na,x,train\nb,x,holdout\nc,y,\nd,y,\n",
            "labelled_texts",
            [
                (
                    3,
                    "split",
                    "invalid_split",
                    "Row 3: the split 'holdout' is not train, validation or test (leave it empty to let Tessera "
                    "choose).",
                ),
            ],
        ),
    ],
    ids=[
        "empty",
        "header-only",
        "missing-columns",
        "nul-byte",
        "excel-workbook",
        "invalid-utf8",
        "one-class",
        "label-under-2",
        "wrong-field-count",
        "jsonl-not-objects",
        "formulas",
        "unsupported-extension",
        "json-named-csv",
        "pairs-file-as-labelled",
        "unknown-split",
    ],
)
def test_bad_files_are_refused_with_rows_and_reasons_and_nothing_is_stored(
    org, in_org, stored_files, filename, data, kind, expected
):
    error = _refusal(org, in_org, data=data, filename=filename, kind=kind)

    assert (error.code, error.status) == ("dataset_invalid", 422)
    assert _errors(error) == expected
    assert error.details["error_count"] == len(expected)
    _nothing_stored(org, in_org, stored_files)


def test_refusal_lists_at_most_50_errors_but_counts_all(org, in_org, stored_files):
    data = labelled_csv([("ok", "x"), ("ok2", "x")] + [(f"=A{n}", "y") for n in range(60)])

    error = _refusal(org, in_org, data=data)

    assert len(error.details["errors"]) == 50
    assert error.details["error_count"] == 60
    formula = error.details["report"]["issues"][0]
    assert (formula["code"], formula["count"], formula["rows"]) == ("formula", 60, list(range(4, 24)))
    assert formula["message"] == (
        "60 cell(s) look like spreadsheet formulas. Remove the leading =, +, - or @, or put a space before it."
    )
    _nothing_stored(org, in_org, stored_files)


def test_an_oversize_file_is_refused_before_reading(org, in_org, stored_files, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 100

    error = _refusal(org, in_org, data=LABELLED_CSV)

    assert (error.code, error.status) == ("file_too_large", 413)
    assert error.details == {"max_bytes": 100, "received_bytes": len(LABELLED_CSV)}
    _nothing_stored(org, in_org, stored_files)


ROWS = [(f"refund request {n}", "refund") for n in range(8)] + [(f"parcel question {n}", "shipping") for n in range(8)]


def _as_csv(rows, delimiter=","):
    return (f"text{delimiter}label\n" + "".join(f"{text}{delimiter}{label}\n" for text, label in rows)).encode()


def _as_jsonl(rows):
    return "".join(json.dumps({"text": text, "label": label}) + "\n" for text, label in rows).encode()


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("a.csv", _as_csv(ROWS)),
        ("a.csv", b"\xef\xbb\xbf" + _as_csv(ROWS)),
        ("a.csv", _as_csv(ROWS).replace(b"\n", b"\r\n")),
        ("a.tsv", _as_csv(ROWS, "\t")),
        ("a.tsv", b"\xef\xbb\xbf" + _as_csv(ROWS, "\t")),
        ("a.jsonl", _as_jsonl(ROWS)),
        ("a.ndjson", b"\xef\xbb\xbf" + _as_jsonl(ROWS)),
    ],
    ids=["csv", "csv-bom", "csv-crlf", "tsv", "tsv-bom", "jsonl", "ndjson-bom"],
)
def test_good_files_are_stored_with_normalized_rows(org, in_org, stored_files, owner, filename, data):
    with in_org(org):
        version = dataset_upload(
            organization=org,
            actor=Actor(via="dashboard", role=Role.OWNER, user=owner),
            name="Intents",
            kind="labelled_texts",
            filename=filename,
            data=data,
        )
        rows = dataset_version_rows(dataset_version=version)

    prefix = f"org/{org.id}/datasets/{version.dataset_id}/v1"
    extension = {"ndjson": "jsonl"}.get(filename.rsplit(".", 1)[1], filename.rsplit(".", 1)[1])
    assert (version.version, version.row_count, version.labels, version.file_format) == (
        1,
        16,
        ["refund", "shipping"],
        extension,
    )
    assert (version.storage_key, version.normalized_key) == (
        f"datasets/{version.dataset_id}/v1/original.{extension}",
        f"datasets/{version.dataset_id}/v1/rows.jsonl",
    )
    assert stored_files() == [f"{prefix}/original.{extension}", f"{prefix}/rows.jsonl"]
    assert rows == [{"text": text, "label": label, "split": None} for text, label in ROWS]
    assert version.report["has_bom"] == data.startswith(b"\xef\xbb\xbf")
    assert version.report["issues"] == []


def test_report_contents(org, in_org, settings):
    settings.DATASET_MAX_TEXT_CHARS = 30
    data = (
        "Text,Label,Split,Source\n"
        + "".join(f"refund request {n},refund,train,web\n" for n in range(8))
        + "refund request 0,refund,train,web\n"
        + "refund request 1,shipping,,mail\n"
        + "where is my parcel,shipping,validation,web\n"
        + ",shipping,,web\n"
        + "late parcel,shipping,test,web\n"
        + f"{'x' * 31},shipping,,web\n"
        + "hello,greeting,,web\nhi,greeting,,web\n"
    ).encode()

    version = make_dataset_version(org, filename="report.csv", data=data)

    cpu = [
        {
            "strategy": strategy,
            "device": "cpu",
            "seconds": round(
                estimate_training_seconds(task="classification", strategy=strategy, n_examples=15, device="cpu"), 1
            ),
        }
        for strategy in ("head", "lora", "full")
    ]
    strategy, reason = choose_strategy(task="classification", n_examples=15, n_labels=3, device="cpu")
    assert version.report == {
        "kind": "labelled_texts",
        "file_format": "csv",
        "has_bom": False,
        "rows": 16,
        "usable_rows": 15,
        "columns": ["text", "label", "split", "source"],
        "labels": {"refund": 9, "shipping": 4, "greeting": 2},
        "splits": {"train": 9, "validation": 1, "test": 1, "unassigned": 4},
        "issues": [
            {
                "severity": "warning",
                "code": "unknown_columns",
                "message": "The column 'source' is not used and was ignored.",
                "rows": [],
                "count": 1,
                "columns": ["source"],
            },
            {
                "severity": "warning",
                "code": "empty_text",
                "message": "Row 13 has an empty text.",
                "rows": [13],
                "count": 1,
            },
            {
                "severity": "warning",
                "code": "long_text",
                "message": "Row 15, column 'text': 31 characters (limit 30).",
                "rows": [15],
                "count": 1,
            },
            {
                "severity": "warning",
                "code": "duplicate_rows",
                "message": "Row 10 repeats row 2.",
                "rows": [10],
                "count": 1,
                "examples": [{"row": 10, "same_as": 2}],
            },
            {
                "severity": "warning",
                "code": "conflicting_labels",
                "message": "The text 'refund request 1' has the labels refund, shipping (rows 3, 11).",
                "rows": [3, 11],
                "count": 1,
                "examples": [{"text": "refund request 1", "labels": {"refund": [3], "shipping": [11]}}],
            },
            {
                "severity": "warning",
                "code": "few_examples",
                "message": "2 label(s) have fewer than 8 examples; the model will learn them poorly.",
                "rows": [11, 12, 14, 15, 16, 17],
                "count": 2,
            },
        ],
        "estimates": cpu,
        "recommended_strategy": {
            "strategy": strategy,
            "device": "cpu",
            "reason": reason,
            "seconds": next(item["seconds"] for item in cpu if item["strategy"] == strategy),
        },
    }
    assert version.row_count == 15


def test_text_pairs_are_normalized(org, in_org):
    data = (
        b"query\tpositive\tnegative\n"
        b"reset password\tOpen settings\tCall us\n"
        b"cancel order\tUse the orders page\t\n"
        b"\tno query\t\n"
        b"refund\tSame\tSame\n"
    )

    version = make_dataset_version(org, name="FAQ", kind="text_pairs", filename="faq.tsv", data=data)
    with in_org(org):
        rows = dataset_version_rows(dataset_version=version)

    assert rows == [
        {"query": "reset password", "positive": "Open settings", "negative": "Call us"},
        {"query": "cancel order", "positive": "Use the orders page", "negative": None},
        {"query": "refund", "positive": "Same", "negative": "Same"},
    ]
    assert [(issue["code"], issue["rows"]) for issue in version.report["issues"]] == [
        ("empty_text", [4]),
        ("negative_same_as_positive", [5]),
    ]
    assert (version.report["labels"], version.report["splits"], version.labels) == ({}, {}, [])
    assert [item["strategy"] for item in version.report["estimates"]] == ["lora", "full"]


def test_a_new_upload_to_a_dataset_is_its_next_version(org, in_org, stored_files):
    first = make_dataset_version(org)
    second = make_dataset_version(org, dataset=first.dataset, filename="more.jsonl", data=_as_jsonl(ROWS))

    with in_org(org):
        latest = dataset_version_get(organization=org, dataset_id=first.dataset_id)
        original = dataset_version_get(organization=org, dataset_id=first.dataset_id, version=1)
        audit = list(
            AuditEntry.objects.for_org(org)
            .filter(action="dataset.uploaded")
            .order_by("created_at")
            .values_list("target_id", "metadata")
        )

    assert (second.version, second.dataset_id, latest.id, original.id) == (2, first.dataset_id, second.id, first.id)
    assert len(stored_files()) == 4
    assert [(target, meta["version"], meta["filename"]) for target, meta in audit] == [
        (str(first.dataset_id), 1, "intents.csv"),
        (str(first.dataset_id), 2, "more.jsonl"),
    ]


def test_a_new_version_must_have_the_same_kind(org, in_org, stored_files):
    first = make_dataset_version(org)

    with pytest.raises(ServiceError) as caught:
        make_dataset_version(org, dataset=first.dataset, kind="text_pairs", filename="p.jsonl", data=PAIRS_JSONL)

    assert (caught.value.code, caught.value.status) == ("dataset_kind_mismatch", 422)
    with in_org(org):
        assert DatasetVersion.objects.for_org(org).count() == 1
    assert len(stored_files()) == 2


def test_names_are_unique_per_organization(org, other_org, in_org):
    make_dataset_version(org, name="Intents")
    make_dataset_version(other_org, name="Intents")

    with pytest.raises(ServiceError) as caught:
        make_dataset_version(org, name="Intents")

    assert (caught.value.code, caught.value.status) == ("dataset_name_taken", 409)


def test_viewers_cannot_upload(org, in_org, stored_files):
    with pytest.raises(ServiceError) as caught, in_org(org):
        dataset_upload(
            organization=org,
            actor=Actor(via="dashboard", role=Role.VIEWER),
            name="x",
            kind="labelled_texts",
            filename="a.csv",
            data=LABELLED_CSV,
        )

    assert (caught.value.code, caught.value.status) == ("permission_denied", 403)
    _nothing_stored(org, in_org, stored_files)


def test_versions_are_immutable_in_the_database(org, in_org):
    version = make_dataset_version(org)

    with pytest.raises(DatabaseError), in_org(org), transaction.atomic():
        DatasetVersion.objects.for_org(org).filter(id=version.id).update(row_count=1)
    with pytest.raises(DatabaseError), in_org(org), transaction.atomic():
        DatasetVersion.objects.for_org(org).filter(id=version.id).delete()
    with in_org(org):
        assert DatasetVersion.objects.for_org(org).get(id=version.id).row_count == 16


def test_files_are_removed_when_the_database_write_fails(org, in_org, stored_files, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("apps.datasets.services.audit_record", fail)

    with pytest.raises(RuntimeError):
        make_dataset_version(org)

    _nothing_stored(org, in_org, stored_files)


def test_another_organization_cannot_read_the_versions(org, other_org, in_org):
    version = make_dataset_version(org)

    with in_org(other_org), pytest.raises(DatasetVersion.DoesNotExist):
        dataset_version_get(organization=other_org, dataset_id=version.dataset_id)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            b'{"text": "a\\u0000b", "label": "x"}',
            (1, None, "binary_file", "Line 1 contains a NUL character (\\u0000)."),
        ),
        (
            b'{"text": "\\ud800", "label": "x"}',
            (1, None, "invalid_json", "Line 1 has a \\u escape that is not a character."),
        ),
        (b"[" * 100_000, (1, None, "invalid_json", "Line 1 is nested too deeply.")),
        (b'{"text": ["a"], "label": "x"}', (1, "text", "not_text", "Line 1: 'text' is a JSON list; it must be text.")),
        (
            b'{"text": "a", "label": true}',
            (1, "label", "not_text", "Line 1: 'label' is a JSON true/false; it must be text."),
        ),
    ],
    ids=["nul-escape", "lone-surrogate", "deep-nesting", "list-text", "bool-label"],
)
def test_json_lines_that_cannot_be_stored_are_refused(org, in_org, stored_files, line, expected):
    data = line + b'\n{"text": "b", "label": "x"}\n{"text": "c", "label": "y"}\n{"text": "d", "label": "y"}\n'

    error = _refusal(org, in_org, data=data, filename="a.jsonl")

    assert _errors(error) == [expected]
    _nothing_stored(org, in_org, stored_files)
