"""The benchmark rows: which texts train and which evaluate, read from ../shared/datasets.

The datasets are never copied into the repository. Financial PhraseBank is CC BY-NC-SA 3.0:
it is read here to benchmark only, and no model trained on it may ship to tenants.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FPB_SPLIT_SEED = 0
FEW_SHOT = 10
# --smoke: a handful of classes and rows, so every code path runs in seconds.
SMOKE_INTENTS = 5
SMOKE_FULL_PER_INTENT = 20
SMOKE_TEST_PER_INTENT = 10
SMOKE_FPB_ROWS = 100


def datasets_dir() -> Path:
    return Path(os.environ.get("BENCH_DATASETS_DIR") or ROOT.parent / "shared" / "datasets")


@dataclass(frozen=True)
class Row:
    """One training/evaluation setting; `group` is the table it is reported in."""

    name: str
    group: str
    seed: int


ROWS = [
    Row("banking77-10shot-s0", "banking77-10shot", 0),
    Row("banking77-10shot-s1", "banking77-10shot", 1),
    Row("banking77-10shot-s2", "banking77-10shot", 2),
    Row("fpb-50agree", "fpb-50agree", FPB_SPLIT_SEED),
    Row("fpb-allagree", "fpb-allagree", FPB_SPLIT_SEED),
    Row("banking77-full", "banking77-full", 0),  # last: the longest row, so a crash in it keeps the rest
]
ROWS_BY_NAME = {row.name: row for row in ROWS}

GROUP_TITLES = {
    "banking77-10shot": "Banking77, 10 examples per intent (770 texts; 3 seeds), full test set (3,080)",
    "banking77-full": "Banking77, all training data (10,003 texts), full test set (3,080)",
    "fpb-50agree": "Financial PhraseBank Sentences_50Agree, seeded stratified 80/20 split",
    "fpb-allagree": "Financial PhraseBank Sentences_AllAgree, seeded stratified 80/20 split",
}

GROUPS = list(GROUP_TITLES)

Example = tuple[str, str]  # (text, label)


def select_rows(spec: str | None) -> list[Row]:
    """`banking77-10shot` names a group (all its seeds); `banking77-10shot-s1` one row."""
    if not spec:
        return list(ROWS)
    chosen: list[Row] = []
    for name in (part.strip() for part in spec.split(",") if part.strip()):
        matches = [row for row in ROWS if name in (row.name, row.group)]
        if not matches:
            raise SystemExit(f"Unknown row {name!r}; choose from {', '.join(GROUPS + list(ROWS_BY_NAME))}.")
        chosen += [row for row in matches if row not in chosen]
    return chosen


def _banking77(split: str) -> list[Example]:
    # 13 texts hold a newline inside quotes (dataset README): a real CSV parser, not lines.
    with (datasets_dir() / "banking77" / f"{split}.csv").open(newline="", encoding="utf-8") as handle:
        return [(record["text"], record["category"]) for record in csv.DictReader(handle)]


def _by_label(examples: list[Example]) -> dict[str, list[Example]]:
    grouped: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        grouped[example[1]].append(example)
    return grouped


def _banking77_row(row: Row, smoke: bool) -> tuple[list[Example], list[Example]]:
    train, test = _banking77("train"), _banking77("test")
    intents = json.loads((datasets_dir() / "banking77" / "categories.json").read_text())
    if smoke:
        keep = set(intents[:SMOKE_INTENTS])
        train = [example for example in train if example[1] in keep]
        test = [example for intent, group in _by_label(test).items() if intent in keep for example in group]
        test = [
            example
            for group in _by_label(test).values()
            for example in random.Random(0).sample(group, min(SMOKE_TEST_PER_INTENT, len(group)))
        ]
    by_intent = _by_label(train)
    if row.group == "banking77-10shot":
        rng = random.Random(row.seed)
        # Sorted intents and file order inside each: the same seed draws the same 770 texts everywhere.
        train = [example for intent in sorted(by_intent) for example in rng.sample(by_intent[intent], FEW_SHOT)]
    elif smoke:
        train = [example for intent in sorted(by_intent) for example in by_intent[intent][:SMOKE_FULL_PER_INTENT]]
    return train, test


def _financial_phrasebank(row: Row, smoke: bool) -> tuple[list[Example], list[Example]]:
    from sklearn.model_selection import train_test_split

    name = {"fpb-50agree": "Sentences_50Agree.txt", "fpb-allagree": "Sentences_AllAgree.txt"}[row.group]
    path = datasets_dir() / "financial_phrasebank" / "FinancialPhraseBank-v1.0" / name
    # latin-1 with CRLF, `sentence@label`, split on the last `@` (dataset README).
    seen: dict[str, str] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.strip():
            sentence, _, label = line.rpartition("@")
            # 8 duplicated sentences in 50Agree (2 with conflicting labels): keep the first, so
            # no sentence lands in both train and test.
            seen.setdefault(sentence.strip(), label.strip())
    texts, labels = list(seen), list(seen.values())
    if smoke:
        texts, _, labels, _ = train_test_split(
            texts, labels, train_size=SMOKE_FPB_ROWS, stratify=labels, random_state=row.seed
        )
    train_texts, test_texts, train_labels, test_labels = train_test_split(
        texts, labels, test_size=0.2, stratify=labels, random_state=row.seed
    )
    return list(zip(train_texts, train_labels, strict=True)), list(zip(test_texts, test_labels, strict=True))


def load_row(row: Row, *, smoke: bool = False) -> tuple[list[Example], list[Example]]:
    """(train, test) for a row; deterministic for its seed."""
    if row.group.startswith("banking77"):
        return _banking77_row(row, smoke)
    return _financial_phrasebank(row, smoke)


def short_texts(count: int) -> list[str]:
    """Banking77 test texts (11 words on average): the serving benchmark's requests."""
    texts = [text for text, _ in _banking77("test")]
    return (texts * (count // len(texts) + 1))[:count]
