"""Reading and checking an uploaded dataset file. Pure functions: no database, no storage.

`validate_dataset_file()` decodes the file, parses it (CSV, TSV or JSON lines), checks
every row and the dataset as a whole, and returns the normalized rows with a report.
Problems are errors (the file is refused) or warnings (it is accepted; the report says
what to look at).

The file-level pieces are public for other uploads (apps/sentiment/upload.py reads
documents with them): `detect_format`, `decode_file` (encoding, BOM, binary files),
`parse_delimited` / `parse_jsonl` (with a `ColumnSpec`), `is_formula` /
`formula_problems`, and `FileRefused`, raised with the `Problem`s that refuse a file.

Row numbers are what a person sees when they open the file: in CSV and TSV the header
is row 1, so the first data row is row 2 (as a spreadsheet numbers it); in JSON lines it
is the line number in the file (the first line is 1).

Spreadsheet formulas (CSV injection, OWASP "CSV Injection") are refused, because these
files are opened in spreadsheets again later. A cell is a formula when, after any
leading tabs or carriage returns, it
* starts with "=" followed by anything that is not a space ("=SUM(A1:A3)", "=1+1");
* starts with "@" followed by a name and "(" or "|" ("@SUM(A1)", "@cmd|' /C calc'!A0"),
  so "@acme_support thanks!" (a social-media mention) is a normal text;
* starts with "+" or "-" followed by a function call or DDE name ("+SUM(", "-cmd|"), or
  is entirely a cell reference or arithmetic ("+A1", "-A1+B2", "-1+2"), so "-5% guidance
  for Q3" and "+1 great service" are normal texts.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from apps.datasets.models import DatasetKind, FileFormat

MAX_ERRORS_RETURNED = 50
MAX_ROWS_PER_ISSUE = 20
MAX_EXAMPLES_PER_ISSUE = 5
MIN_EXAMPLES_PER_LABEL = 2  # below this a label can't be split into training and evaluation
FEW_EXAMPLES_PER_LABEL = 8  # below this a classifier learns the label poorly
SPLITS = ("train", "validation", "test")

COLUMNS = {
    DatasetKind.LABELLED_TEXTS: {"required": ("text", "label"), "optional": ("split",)},
    DatasetKind.TEXT_PAIRS: {"required": ("query", "positive"), "optional": ("negative",)},
}
TEXT_COLUMNS = {DatasetKind.LABELLED_TEXTS: ("text",), DatasetKind.TEXT_PAIRS: ("query", "positive", "negative")}


@dataclass(frozen=True)
class ColumnSpec:
    """The columns (CSV/TSV header) or fields (JSON lines) a file must and may have."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    # JSON values of these must be strings; the others may also be numbers (labels 0/1).
    text_columns: tuple[str, ...] = ()
    # JSON lines: values of unknown fields are not type-checked (they are ignored anyway).
    ignore_unknown_values: bool = False


COLUMN_SPECS = {
    kind: ColumnSpec(required=columns["required"], optional=columns["optional"], text_columns=TEXT_COLUMNS[kind])
    for kind, columns in COLUMNS.items()
}
TASKS = {DatasetKind.LABELLED_TEXTS: "classification", DatasetKind.TEXT_PAIRS: "retrieval"}
STRATEGIES = {"classification": ("head", "lora", "full"), "retrieval": ("lora", "full")}

EXTENSIONS = {".csv": FileFormat.CSV, ".tsv": FileFormat.TSV, ".jsonl": FileFormat.JSONL, ".ndjson": FileFormat.JSONL}
# Signatures of files people upload by mistake, with what to do instead.
BINARY_SIGNATURES = (
    (b"PK\x03\x04", "an Excel workbook or another zip archive. Save it as CSV (UTF-8) and upload that"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) workbook. Save it as CSV (UTF-8) and upload that"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip-compressed file. Decompress it first"),
)

JSON_TYPE_NAMES = {
    "list": "list",
    "dict": "object",
    "str": "string",
    "int": "number",
    "float": "number",
    "bool": "true/false",
}
_FUNCTION_OR_DDE = r"[A-Za-z_][A-Za-z0-9_.]*\s*[(|]"
_CELL_REFERENCE = r"\$?[A-Za-z]{1,3}\$?[0-9]+(?::\$?[A-Za-z]{1,3}\$?[0-9]+)?"
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_OPERAND = rf"(?:{_CELL_REFERENCE}|{_NUMBER})"
FORMULA = re.compile(
    rf"""^[\t\r]*(?:
        =\S
      | @{_FUNCTION_OR_DDE}
      | [+-]\s*{_FUNCTION_OR_DDE}
      | [+-](?:{_CELL_REFERENCE}|{_NUMBER}\s*[-+*/^&]\s*{_OPERAND})(?:\s*[-+*/^&]\s*{_OPERAND})*\s*$
    )""",
    re.VERBOSE,
)


def is_formula(value: str) -> bool:
    """True when a spreadsheet would run `value` as a formula (rules in the module docstring)."""
    return bool(FORMULA.match(value))


@dataclass
class Problem:
    severity: str  # "error" | "warning"
    code: str
    reason: str
    row: int | None = None
    column: str | None = None
    # Every row involved, when more than `row` (the texts with conflicting labels).
    related_rows: tuple[int, ...] = ()


# Per code: the summary a person reads in the report. {count} and {rows} are filled in.
ISSUE_MESSAGES = {
    "empty_file": "The file is empty.",
    "no_rows": "The file has a header but no data rows.",
    "unsupported_format": "The file type is not supported. Upload a .csv, .tsv or .jsonl file.",
    "format_mismatch": "The file's contents don't match its file type.",
    "binary_file": "This is not a text file.",
    "invalid_encoding": "The file is not valid UTF-8 text.",
    "missing_columns": "Required columns are missing.",
    "duplicate_columns": "A column name appears more than once in the header.",
    "wrong_field_count": (
        "{count} row(s) have the wrong number of fields. A comma (or tab) inside a text must be inside double quotes."
    ),
    "invalid_json": "{count} line(s) are not valid JSON.",
    "not_an_object": '{count} line(s) are not JSON objects like {{"text": "...", "label": "..."}}.',
    "missing_field": "{count} line(s) lack a required field.",
    "not_text": "{count} value(s) are not text.",
    "formula": (
        "{count} cell(s) look like spreadsheet formulas. Remove the leading =, +, - or @, or put a space before it."
    ),
    "empty_label": "{count} row(s) have no label.",
    "invalid_split": "{count} row(s) have a split other than train, validation or test.",
    "single_class": "Every row has the same label. A classifier needs at least two different labels.",
    "rare_label": "{count} label(s) have fewer than 2 examples, too few to learn and check.",
    "few_examples": "{count} label(s) have fewer than 8 examples; the model will learn them poorly.",
    "empty_text": "{count} row(s) have an empty text; they are skipped.",
    "long_text": "{count} text(s) are longer than {max_chars} characters; only the beginning is used for training.",
    "duplicate_rows": "{count} row(s) repeat an earlier row exactly.",
    "conflicting_labels": "{count} text(s) appear with different labels.",
    "unknown_columns": "{count} column(s) are not used and were ignored.",
    "negative_same_as_positive": "{count} row(s) have the same text as positive and negative.",
}


@dataclass
class ValidationResult:
    file_format: str | None
    rows: list[dict[str, Any]]
    report: dict[str, Any]
    errors: list[dict[str, Any]]
    sha256: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors


def detect_format(filename: str, content_type: str = "") -> str | None:
    lowered = filename.lower()
    for extension, file_format in EXTENSIONS.items():
        if lowered.endswith(extension):
            return file_format
    base_type = content_type.split(";")[0].strip().lower()
    return {
        "text/csv": FileFormat.CSV,
        "text/tab-separated-values": FileFormat.TSV,
        "application/jsonl": FileFormat.JSONL,
        "application/x-ndjson": FileFormat.JSONL,
        "application/x-jsonlines": FileFormat.JSONL,
    }.get(base_type)


class FileRefused(Exception):
    """The file can't be read any further; `problems` say why."""

    def __init__(self, *problems: Problem) -> None:
        self.problems = list(problems)


def decode_file(data: bytes) -> tuple[str, bool]:
    """(the text, whether it began with a UTF-8 byte-order mark); FileRefused when empty, binary or not UTF-8."""
    if not data.strip():
        raise FileRefused(Problem("error", "empty_file", "The file is empty. Upload a file with a header and rows."))
    for signature, what in BINARY_SIGNATURES:
        if data.startswith(signature):
            raise FileRefused(Problem("error", "binary_file", f"This file is {what}."))
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        hint = " It may be saved as UTF-16; save it as UTF-8." if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise FileRefused(
            Problem(
                "error",
                "binary_file",
                f"This is not a text file: it contains a NUL byte at byte {nul} (line {line}).{hint}",
                row=line,
            )
        )
    has_bom = data.startswith(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8-sig"), has_bom
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise FileRefused(
            Problem(
                "error",
                "invalid_encoding",
                f"The file is not valid UTF-8: byte {error.start} (on line {line}) can't be read. "
                "Save the file as UTF-8 (in Excel: 'CSV UTF-8') and upload it again.",
                row=line,
            )
        ) from None


def _normalize_header(name: str) -> str:
    return name.strip().lower()


def _check_columns(spec: ColumnSpec, columns: list[str], problems: list[Problem], header_row: int | None) -> None:
    seen = Counter(columns)
    duplicated = [name for name, count in seen.items() if count > 1 and name]
    for name in duplicated:
        problems.append(
            Problem("error", "duplicate_columns", f"The column '{name}' appears more than once.", header_row, name)
        )
    for name in spec.required:
        if name not in seen:
            problems.append(
                Problem(
                    "error",
                    "missing_columns",
                    f"The required column '{name}' is missing. Columns needed: "
                    f"{', '.join(spec.required)} (optional: {', '.join(spec.optional)}); "
                    f"found: {', '.join(name for name in columns if name) or 'none'}.",
                    header_row,
                    name,
                )
            )
    for name in columns:
        if name not in spec.required and name not in spec.optional:
            label = name or "(a column without a name)"
            problems.append(
                Problem("warning", "unknown_columns", f"The column '{label}' is not used and was ignored.", None, label)
            )


def parse_delimited(text: str, file_format: str, spec: ColumnSpec, problems: list[Problem]):
    """CSV or TSV: (columns, [(spreadsheet row number, record)], data rows); row problems go to `problems`.

    Raises FileRefused for what makes the whole file unreadable (JSON in a .csv, a stray
    quote, a header without a required column or with a duplicated one).
    """
    delimiter = "\t" if file_format == FileFormat.TSV else ","
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    if first_line.lstrip().startswith(("{", "[")):
        raise FileRefused(
            Problem(
                "error",
                "format_mismatch",
                "This file looks like JSON, not CSV or TSV. Name it .jsonl if it has one JSON object per line.",
                row=1,
            )
        )
    if file_format == FileFormat.CSV and "," not in first_line and "\t" in first_line:
        raise FileRefused(
            Problem(
                "error",
                "format_mismatch",
                "The header is separated by tabs, not commas: this looks like a TSV file. Rename it to .tsv.",
                row=1,
            )
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        records = list(reader)
    except csv.Error as error:
        # strict=True: a stray quote inside an unquoted field.
        raise FileRefused(
            Problem(
                "error",
                "wrong_field_count",
                f"Row {reader.line_num} can't be read ({error}). A text containing quotes must be wholly in double "
                'quotes, with each quote inside it doubled ("").',
                row=reader.line_num,
            )
        ) from None
    while records and not any(cell.strip() for cell in records[0]):
        records.pop(0)
    if not records:
        raise FileRefused(Problem("error", "empty_file", "The file is empty. Upload a file with a header and rows."))
    columns = [_normalize_header(name) for name in records[0]]
    header_problems: list[Problem] = []
    _check_columns(spec, columns, header_problems, 1)
    if any(problem.severity == "error" for problem in header_problems):
        raise FileRefused(*header_problems)
    problems.extend(header_problems)
    data_rows = 0
    rows = []
    # Spreadsheet numbering: the header is row 1.
    for index, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        data_rows += 1
        if len(record) != len(columns):
            problems.append(
                Problem(
                    "error",
                    "wrong_field_count",
                    f"Row {index} has {len(record)} fields; the header has {len(columns)}.",
                    index,
                )
            )
            continue
        rows.append((index, dict(zip(columns, record, strict=True))))
    return columns, rows, data_rows


def _jsonl_value(name: str, item: Any, *, spec: ColumnSpec, number: int, problems: list[Problem]) -> str:
    if item is None:
        return ""
    if isinstance(item, str):
        return item
    if isinstance(item, int | float) and not isinstance(item, bool) and name not in spec.text_columns:
        return str(item)  # numeric labels such as 0/1 are fine
    problems.append(
        Problem(
            "error",
            "not_text",
            f"Line {number}: '{name}' is a JSON {JSON_TYPE_NAMES.get(type(item).__name__, 'value')}; it must be text.",
            number,
            name,
        )
    )
    return ""


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(key) or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_contains_nul(item) for item in value)
    return False


def _jsonl_record(line: str, *, spec: ColumnSpec, number: int, problems: list[Problem]) -> dict[str, str] | None:
    try:
        value = json.loads(line)
        # JSON escapes can smuggle in what the raw-byte checks refused: NUL (which
        # PostgreSQL can't store in JSON) and lone surrogates (which aren't UTF-8).
        json.dumps(value, ensure_ascii=False).encode("utf-8")
        has_nul = _contains_nul(value)
    except RecursionError:
        problems.append(Problem("error", "invalid_json", f"Line {number} is nested too deeply.", number))
        return None
    except UnicodeEncodeError:
        problems.append(
            Problem("error", "invalid_json", f"Line {number} has a \\u escape that is not a character.", number)
        )
        return None
    except ValueError as error:
        problems.append(Problem("error", "invalid_json", f"Line {number} is not valid JSON ({error}).", number))
        return None
    if has_nul:
        problems.append(Problem("error", "binary_file", f"Line {number} contains a NUL character (\\u0000).", number))
        return None
    if not isinstance(value, dict):
        kind_of = JSON_TYPE_NAMES.get(type(value).__name__, "value")
        problems.append(
            Problem(
                "error",
                "not_an_object",
                f"Line {number} is a JSON {kind_of}, not an object with named fields.",
                number,
            )
        )
        return None
    found = len(problems)
    known = (*spec.required, *spec.optional)
    record: dict[str, str] = {}
    for key, item in value.items():
        name = _normalize_header(str(key))
        if spec.ignore_unknown_values and name not in known:
            record[name] = ""
        else:
            record[name] = _jsonl_value(name, item, spec=spec, number=number, problems=problems)
    return record if len(problems) == found else None


def parse_jsonl(text: str, spec: ColumnSpec, problems: list[Problem]):
    """JSON lines: (fields in the order first seen, [(line number, record)], data lines).

    A line that is not a JSON object, lacks a required field or has a non-text value is a
    problem of that line; FileRefused only when the file looks like CSV or TSV.
    """
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first.lstrip().startswith(("{", "[", '"')) and ("," in first or "\t" in first):
        raise FileRefused(
            Problem(
                "error",
                "format_mismatch",
                "This file looks like CSV or TSV, not JSON lines. Name it .csv or .tsv.",
                row=1,
            )
        )
    columns: dict[str, None] = {}  # ordered set: the fields in the order first seen
    rows = []
    data_rows = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        data_rows += 1
        record = _jsonl_record(line, spec=spec, number=number, problems=problems)
        if record is None:
            continue
        columns.update(dict.fromkeys(record))
        missing = [name for name in spec.required if name not in record]
        for name in missing:
            problems.append(Problem("error", "missing_field", f"Line {number} has no '{name}' field.", number, name))
        if not missing:
            rows.append((number, record))
    for name in columns:
        if name not in spec.required and name not in spec.optional:
            problems.append(
                Problem("warning", "unknown_columns", f"The field '{name}' is not used and was ignored.", None, name)
            )
    return list(columns), rows, data_rows


def formula_problems(record: dict[str, str], *, where: str, number: int) -> list[Problem]:
    return [
        Problem(
            "error",
            "formula",
            f"{where}, column '{column}': {value[:40]!r} looks like a spreadsheet formula.",
            number,
            column,
        )
        for column, value in record.items()
        if is_formula(value)
    ]


def _labelled_row(record: dict[str, str], *, where: str, number: int, problems: list[Problem]):
    """The normalized row and its texts, or None when the row is skipped or wrong."""
    text, label = record["text"].strip(), record["label"].strip()
    split = record.get("split", "").strip().lower() or None
    if not label:
        problems.append(Problem("error", "empty_label", f"{where} has no label.", number, "label"))
        return None
    if split is not None and split not in SPLITS:
        problems.append(
            Problem(
                "error",
                "invalid_split",
                f"{where}: the split '{record['split'].strip()}' is not train, validation or test "
                "(leave it empty to let Tessera choose).",
                number,
                "split",
            )
        )
        return None
    if not text:
        problems.append(Problem("warning", "empty_text", f"{where} has an empty text.", number, "text"))
        return None
    return {"text": text, "label": label, "split": split}, {"text": text}


def _pair_row(record: dict[str, str], *, where: str, number: int, problems: list[Problem]):
    query, positive = record["query"].strip(), record["positive"].strip()
    negative = record.get("negative", "").strip() or None
    empty = [name for name, value in (("query", query), ("positive", positive)) if not value]
    if empty:
        problems.append(Problem("warning", "empty_text", f"{where} has an empty {empty[0]}.", number, empty[0]))
        return None
    if negative is not None and negative == positive:
        problems.append(
            Problem(
                "warning",
                "negative_same_as_positive",
                f"{where}: the negative is the same text as the positive.",
                number,
                "negative",
            )
        )
    texts = {"query": query, "positive": positive, "negative": negative or ""}
    return {"query": query, "positive": positive, "negative": negative}, texts


def _normalize_rows(kind: str, parsed, problems: list[Problem], *, max_chars: int, line_word: str):
    normalized: list[tuple[int, dict[str, Any]]] = []
    build = _labelled_row if kind == DatasetKind.LABELLED_TEXTS else _pair_row
    for number, record in parsed:
        where = f"{line_word.capitalize()} {number}"
        formulas = formula_problems(record, where=where, number=number)
        if formulas:
            problems.extend(formulas)
            continue
        built = build(record, where=where, number=number, problems=problems)
        if built is None:
            continue
        row, texts = built
        problems.extend(
            Problem(
                "warning",
                "long_text",
                f"{where}, column '{column}': {len(value):,} characters (limit {max_chars:,}).",
                number,
                column,
            )
            for column, value in texts.items()
            if len(value) > max_chars
        )
        normalized.append((number, row))
    return normalized


def _duplicates(normalized, problems: list[Problem], *, line_word: str) -> list[dict[str, int]]:
    examples = []
    first_seen: dict[tuple, int] = {}
    for number, row in normalized:
        signature = tuple(sorted(row.items(), key=lambda item: item[0]))
        if signature not in first_seen:
            first_seen[signature] = number
            continue
        problems.append(
            Problem(
                "warning",
                "duplicate_rows",
                f"{line_word.capitalize()} {number} repeats {line_word} {first_seen[signature]}.",
                number,
            )
        )
        if len(examples) < MAX_EXAMPLES_PER_ISSUE:
            examples.append({"row": number, "same_as": first_seen[signature]})
    return examples


def _conflicts(normalized, problems: list[Problem], *, line_word: str) -> list[dict[str, Any]]:
    by_text: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for number, row in normalized:
        by_text[row["text"]][row["label"]].append(number)
    examples = []
    for text, labels in by_text.items():
        if len(labels) < 2:
            continue
        rows = sorted(number for numbers in labels.values() for number in numbers)
        problems.append(
            Problem(
                "warning",
                "conflicting_labels",
                f"The text {text[:60]!r} has the labels {', '.join(sorted(labels))} "
                f"({line_word}s {', '.join(map(str, rows))}).",
                rows[0],
                related_rows=tuple(rows),
            )
        )
        if len(examples) < MAX_EXAMPLES_PER_ISSUE:
            examples.append({"text": text[:200], "labels": dict(labels)})
    return examples


def _label_counts(normalized, problems: list[Problem], *, line_word: str) -> None:
    label_rows: dict[str, list[int]] = defaultdict(list)
    for number, row in normalized:
        label_rows[row["label"]].append(number)
    if len(label_rows) == 1:
        [label] = label_rows
        problems.append(
            Problem(
                "error",
                "single_class",
                f"Every row has the label '{label}'. Add examples of at least one other label.",
                None,
                "label",
            )
        )
        return
    for label, numbers in sorted(label_rows.items()):
        if len(numbers) < MIN_EXAMPLES_PER_LABEL:
            problems.append(
                Problem(
                    "error",
                    "rare_label",
                    f"The label '{label}' has only {len(numbers)} example ({line_word} {numbers[0]}); "
                    f"each label needs at least {MIN_EXAMPLES_PER_LABEL}.",
                    numbers[0],
                    "label",
                )
            )
        elif len(numbers) < FEW_EXAMPLES_PER_LABEL:
            problems.append(
                Problem(
                    "warning",
                    "few_examples",
                    f"The label '{label}' has {len(numbers)} examples; {FEW_EXAMPLES_PER_LABEL} or more work better.",
                    numbers[0],
                    "label",
                    related_rows=tuple(numbers),
                )
            )


def _dataset_checks(kind: str, normalized, problems: list[Problem], *, line_word: str) -> dict[str, Any]:
    examples: dict[str, list] = {"duplicate_rows": _duplicates(normalized, problems, line_word=line_word)}
    if kind == DatasetKind.LABELLED_TEXTS:
        examples["conflicting_labels"] = _conflicts(normalized, problems, line_word=line_word)
        # Counting labels over a file with broken rows would report labels as rare only
        # because their rows were broken; fix the rows first.
        if not any(problem.severity == "error" for problem in problems):
            _label_counts(normalized, problems, line_word=line_word)
    return examples


def _issues(problems: list[Problem], examples: dict[str, list], *, max_chars: int) -> list[dict[str, Any]]:
    grouped: dict[tuple[str, str], list[Problem]] = {}
    for problem in problems:
        grouped.setdefault((problem.severity, problem.code), []).append(problem)
    issues = []
    for (severity, code), members in grouped.items():
        rows = sorted(
            {number for problem in members for number in (problem.related_rows or (problem.row,)) if number is not None}
        )
        count = len(members)
        if count == 1 or code in ("single_class",):
            message = members[0].reason
        else:
            message = ISSUE_MESSAGES[code].format(count=count, max_chars=max_chars)
        issue = {"severity": severity, "code": code, "message": message, "rows": rows[:MAX_ROWS_PER_ISSUE]}
        issue["count"] = count
        if code in examples and examples[code]:
            issue["examples"] = examples[code]
        if code in ("unknown_columns", "missing_columns"):
            issue["columns"] = [problem.column for problem in members]
        issues.append(issue)
    # Errors first, then warnings; within each, in the order they were found.
    return sorted(issues, key=lambda issue: issue["severity"] != "error")


def training_estimates(*, kind: str, n_examples: int, n_labels: int) -> tuple[list[dict], dict | None]:
    """Estimated training seconds per strategy on each device that has workers.

    Pure arithmetic from `ml.estimates` (no torch); the devices come from the registered
    training workers.
    """
    from apps.training.workers import registered_devices
    from ml.estimates import choose_strategy, estimate_training_seconds

    task = TASKS[kind]
    devices = list(registered_devices())
    estimates = [
        {
            "strategy": strategy,
            "device": device,
            "seconds": round(
                float(estimate_training_seconds(task=task, strategy=strategy, n_examples=n_examples, device=device)), 1
            ),
        }
        for device in devices
        for strategy in STRATEGIES[task]
    ]
    if not devices:
        return estimates, None
    device = "cuda" if "cuda" in devices else devices[0]
    strategy, reason = choose_strategy(task=task, n_examples=n_examples, n_labels=n_labels, device=device)
    seconds = next(
        (item["seconds"] for item in estimates if item["strategy"] == strategy and item["device"] == device), None
    )
    return estimates, {"strategy": strategy, "device": device, "reason": reason, "seconds": seconds}


def _error_list(problems: list[Problem]) -> list[dict[str, Any]]:
    errors = [problem for problem in problems if problem.severity == "error"]
    return [
        {"row": problem.row, "column": problem.column, "code": problem.code, "reason": problem.reason}
        for problem in errors[:MAX_ERRORS_RETURNED]
    ]


def validate_dataset_file(
    *, kind: str, filename: str, data: bytes, max_chars: int, content_type: str = ""
) -> ValidationResult:
    """Check a whole file and return its normalized rows and report.

    Args:
        kind: a DatasetKind value.
        filename: decides the format by its extension (.csv, .tsv, .jsonl, .ndjson);
            `content_type` is the fallback for names without one.
        data: the file's bytes, UTF-8 with or without a byte-order mark.
        max_chars: texts longer than this are reported (DATASET_MAX_TEXT_CHARS).

    Returns:
        A ValidationResult; `errors` (row, column, code, reason; the first 50) is empty
        exactly when the file can be stored.

    Example:
        validate_dataset_file(kind="labelled_texts", filename="a.csv", data=csv_bytes, max_chars=2000)
    """
    sha256 = hashlib.sha256(data).hexdigest()
    file_format = detect_format(filename, content_type)
    problems: list[Problem] = []
    report: dict[str, Any] = {
        "kind": kind,
        "file_format": file_format,
        "has_bom": False,
        "rows": 0,
        "usable_rows": 0,
        "columns": [],
        "labels": {},
        "splits": {},
        "issues": [],
        "estimates": [],
        "recommended_strategy": None,
    }
    examples: dict[str, list] = {}
    normalized: list[tuple[int, dict[str, Any]]] = []
    try:
        if file_format is None:
            raise FileRefused(
                Problem(
                    "error",
                    "unsupported_format",
                    f"'{filename}' is not a .csv, .tsv or .jsonl file. Export your data in one of these formats.",
                )
            )
        text, report["has_bom"] = decode_file(data)
        line_word = "line" if file_format == FileFormat.JSONL else "row"
        if file_format == FileFormat.JSONL:
            columns, parsed, report["rows"] = parse_jsonl(text, COLUMN_SPECS[kind], problems)
        else:
            columns, parsed, report["rows"] = parse_delimited(text, file_format, COLUMN_SPECS[kind], problems)
        report["columns"] = columns
        if report["rows"] == 0:
            raise FileRefused(Problem("error", "no_rows", "The file has a header but no data rows.", None))
        normalized = _normalize_rows(kind, parsed, problems, max_chars=max_chars, line_word=line_word)
        examples = _dataset_checks(kind, normalized, problems, line_word=line_word)
    except FileRefused as refused:
        problems.extend(refused.problems)
    rows = [row for _, row in normalized]
    report["usable_rows"] = len(rows)
    if kind == DatasetKind.LABELLED_TEXTS:
        report["labels"] = dict(
            sorted(Counter(row["label"] for row in rows).items(), key=lambda item: (-item[1], item[0]))
        )
        splits = Counter(row["split"] or "unassigned" for row in rows)
        report["splits"] = {name: splits[name] for name in (*SPLITS, "unassigned") if splits[name]}
    report["issues"] = _issues(problems, examples, max_chars=max_chars)
    errors = _error_list(problems)
    if not errors:
        report["estimates"], report["recommended_strategy"] = training_estimates(
            kind=kind, n_examples=len(rows), n_labels=len(report["labels"])
        )
    return ValidationResult(
        file_format=file_format, rows=rows, report=report, errors=errors, sha256=sha256, problems=problems
    )
