"""Document ingest from a file: CSV, TSV or JSON lines, read with the dataset validator's rigour.

The file is read by the pieces of apps/datasets/validation.py (encoding and byte-order
mark, binary files, CSV/TSV/JSON-lines parsing, spreadsheet-formula detection, row numbers
as a spreadsheet shows them) and its rows go to `documents_ingest` in batches of
MAX_DOCUMENTS_PER_BATCH, so idempotency by `external_id`, deferral over the plan's
allowance, per-row checks and scoring are the JSON batch API's.

What refuses the whole file (nothing stored, 413 or 422): an empty, binary or non-UTF-8
file, a file whose contents are not its format, a CSV/TSV header without `text` or with a
column twice, a JSON-lines file where no line has a `text` field, more than
MAX_ROWS_PER_FILE rows. Everything else is a problem of one row, reported with its row (CSV,
TSV: the header is row 1) or line (JSON lines) number while the good rows are stored.

NOTE: a spreadsheet formula ("=HYPERLINK(…)", "@SUM(…)") rejects only its row here, where
a dataset upload refuses the whole file. A dataset is a file that is stored and opened in a
spreadsheet again, so one formula taints it; documents are stored one by one, and a feed
export with a few formula-like posts should not block the thousands of good ones. The
row error names the column, so the rejected rows can be fixed and uploaded again
(re-sending the good ones is harmless when they carry an `external_id`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from apps.accounts.models import Organization
from apps.core.actors import Actor
from apps.datasets.validation import (
    ColumnSpec,
    FileRefused,
    Problem,
    decode_file,
    detect_format,
    formula_problems,
    parse_delimited,
    parse_jsonl,
)
from apps.sentiment.models import Monitor
from apps.sentiment.services import MAX_DOCUMENTS_PER_BATCH, SentimentError, documents_ingest

logger = logging.getLogger(__name__)

DOCUMENT_COLUMNS = ColumnSpec(
    required=("text",),
    optional=("external_id", "source", "url", "author", "published_at", "language"),
    text_columns=("text",),
    ignore_unknown_values=True,
)
# 50,000 rows of a typical 300-character post is ~15 MB, inside SENTIMENT_MAX_UPLOAD_BYTES;
# more rows than that belong in several files or the batch API.
MAX_ROWS_PER_FILE = 50_000
# The response lists at most this many row errors; `rejected` counts them all.
MAX_ROW_ERRORS_RETURNED = 1000
MAX_FILE_ERRORS_RETURNED = 50


@dataclass
class UploadResult:
    file_format: str
    has_bom: bool
    rows: int = 0
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    deferred: int = 0
    scored: int = 0
    pending: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    deferral: dict[str, Any] | None = None


def _refuse(problems: list[Problem], *, file_format: str | None) -> SentimentError:
    errors = [
        {"row": problem.row, "column": problem.column, "code": problem.code, "reason": problem.reason}
        for problem in problems
        if problem.severity == "error"
    ]
    return SentimentError(
        f"The file was not stored: {errors[0]['reason'] if errors else 'it could not be read.'}",
        code="file_invalid",
        status=422,
        details={"errors": errors[:MAX_FILE_ERRORS_RETURNED], "error_count": len(errors), "file_format": file_format},
    )


def _read(*, data: bytes, file_format: str) -> tuple[Any, int, list[Problem], bool]:
    """([(row number, record)], data rows, problems, has_bom); SentimentError for file-level problems."""
    problems: list[Problem] = []
    try:
        text, has_bom = decode_file(data)
        if file_format == "jsonl":
            columns, parsed, data_rows = parse_jsonl(text, DOCUMENT_COLUMNS, problems)
            # JSON lines have no header: a file where no line has a text is a missing column.
            if columns and "text" not in columns:
                raise FileRefused(
                    Problem(
                        "error",
                        "missing_columns",
                        f"No line has a 'text' field; fields found: {', '.join(columns)}.",
                        None,
                        "text",
                    )
                )
        else:
            columns, parsed, data_rows = parse_delimited(text, file_format, DOCUMENT_COLUMNS, problems)
        if data_rows == 0:
            raise FileRefused(Problem("error", "no_rows", "The file has a header but no data rows."))
    except FileRefused as refused:
        raise _refuse(refused.problems, file_format=file_format) from None
    if data_rows > MAX_ROWS_PER_FILE:
        raise SentimentError(
            f"The file has {data_rows:,} rows; upload at most {MAX_ROWS_PER_FILE:,} per file.",
            code="too_many_rows",
            status=413,
            details={"max_rows": MAX_ROWS_PER_FILE, "rows": data_rows},
        )
    return parsed, data_rows, problems, has_bom


def _documents(parsed, problems: list[Problem], *, line_word: str) -> list[tuple[int, dict[str, str]]]:
    """The rows to ingest: the known columns of each record, without formula rows (their problems go to `problems`)."""
    known = (*DOCUMENT_COLUMNS.required, *DOCUMENT_COLUMNS.optional)
    rows = []
    for number, record in parsed:
        row = {name: record[name] for name in known if record.get(name)}
        formulas = formula_problems(row, where=f"{line_word.capitalize()} {number}", number=number)
        if formulas:
            problems.extend(formulas)
            continue
        rows.append((number, row))
    return rows


@transaction.atomic
def documents_upload(
    *,
    organization: Organization,
    monitor: Monitor,
    actor: Actor,
    data: bytes,
    filename: str = "",
    content_type: str = "",
) -> UploadResult:
    """Read a CSV, TSV or JSON-lines file of documents and ingest its good rows.

    Args:
        data: the file's bytes (UTF-8, with or without a byte-order mark).
        filename: decides the format by its extension (.csv, .tsv, .jsonl, .ndjson);
            `content_type` (text/csv, application/x-ndjson, application/jsonl) is the fallback.

    Returns:
        An UploadResult: the batch counts added up, and `errors` with the file's row (CSV,
        TSV) or line (JSON lines) number of every rejected row (the first 1,000).

    Raises SentimentError: file_too_large / too_many_rows (413), unsupported_format (415),
    file_invalid (422, `details.errors` with the row and reason; nothing stored).

    Example:
        documents_upload(organization=org, monitor=monitor, actor=actor, data=b"text\\nGreat app\\n", filename="a.csv")
    """
    limit = settings.SENTIMENT_MAX_UPLOAD_BYTES
    if len(data) > limit:
        raise SentimentError(
            f"The file is {len(data):,} bytes; the limit is {limit:,} bytes.",
            code="file_too_large",
            status=413,
            details={"max_bytes": limit, "received_bytes": len(data)},
        )
    file_format = detect_format(filename, content_type)
    if file_format is None:
        raise SentimentError(
            f"'{filename or content_type}' is not a CSV, TSV or JSON-lines file. "
            "Upload a .csv, .tsv or .jsonl file, or send text/csv or application/x-ndjson.",
            code="unsupported_format",
            status=415,
        )
    parsed, data_rows, problems, has_bom = _read(data=data, file_format=file_format)
    line_word = "line" if file_format == "jsonl" else "row"
    rows = _documents(parsed, problems, line_word=line_word)
    result = UploadResult(file_format=file_format, has_bom=has_bom, rows=data_rows)
    errors = [
        {"row": problem.row, "field": problem.column or "", "code": problem.code, "message": problem.reason}
        for problem in problems
        if problem.severity == "error"
    ]
    rejected_rows = {problem.row for problem in problems if problem.severity == "error"}
    result.warnings = [
        {"code": problem.code, "message": problem.reason, "column": problem.column}
        for problem in problems
        if problem.severity == "warning"
    ]
    for start in range(0, len(rows), MAX_DOCUMENTS_PER_BATCH):
        batch = rows[start : start + MAX_DOCUMENTS_PER_BATCH]
        ingested = documents_ingest(
            organization=organization, monitor=monitor, actor=actor, rows=[row for _, row in batch]
        )
        for error in ingested.errors:
            number = batch[error["index"]][0]
            rejected_rows.add(number)
            message = f"{line_word.capitalize()} {number}: {error['message']}"
            errors.append({"row": number, "field": error["field"], "code": "invalid_value", "message": message})
        for name in ("created", "duplicates", "deferred", "scored", "pending"):
            setattr(result, name, getattr(result, name) + getattr(ingested, name))
        result.deferral = ingested.deferral or result.deferral
    result.rejected = len(rejected_rows)
    result.errors = sorted(errors, key=lambda error: error["row"] or 0)[:MAX_ROW_ERRORS_RETURNED]
    logger.info(
        "sentiment.documents_uploaded",
        extra={
            "organization_id": organization.id,
            "monitor_id": str(monitor.id),
            "file_format": file_format,
            "row_count": result.rows,
            "documents_created": result.created,
            "documents_rejected": result.rejected,
        },
    )
    return result
