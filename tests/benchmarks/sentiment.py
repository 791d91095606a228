"""Sentiment monitoring: throughput and latency of scoring, and sentiment quality (not a test).

    python -m tests.benchmarks --only sentiment      # about 7 minutes on 2 cores

Targets (sentiment issue): every document scored at 50 documents/s sustained on 2 CPU cores
with p95 ingest-to-scored at most 5 s; on Financial PhraseBank a tenant fine-tune at
least 86% (FinBERT) on 50Agree and 97% on AllAgree; ChnSentiCorp shows the gap for
Chinese tenants with the default English base model.

Throughput runs the production path: `documents_ingest` in batches of 50 as a client
would (more than SENTIMENT_SYNC_SCORE_MAX, so every batch goes to the inference queue), a
real Celery worker on the `inference` queue (solo pool, one process, as one worker
container) scoring with the starter model and zero-shot topics, PostgreSQL as the
application role in its own database (dropped after), and a Redis broker database of its
own. The texts are synthetic: short phrases written for this file, combined at random.

Needs PostgreSQL and Redis; imported only when this section runs.
"""

from __future__ import annotations

import os

# Before Django reads its settings: a broker and cache database of our own, so the test
# suite (which flushes its Redis databases) cannot drop this run's messages.
BROKER_URL = os.environ.get("BENCH_SENTIMENT_BROKER_URL", "redis://127.0.0.1:6379/15")
CACHE_URL = os.environ.get("BENCH_SENTIMENT_CACHE_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("TEST_CELERY_BROKER_URL", BROKER_URL)
os.environ.setdefault("REDIS_URL", CACHE_URL)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings.test")

import csv  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from apps.accounts.services import organization_create  # noqa: E402
from apps.config.celery import app as celery_app  # noqa: E402
from apps.core.actors import Actor  # noqa: E402
from apps.core.tenancy import tenant_context  # noqa: E402
from apps.sentiment import scoring  # noqa: E402
from apps.sentiment.models import Document, DocumentStatus  # noqa: E402
from apps.sentiment.services import documents_ingest, monitor_create  # noqa: E402
from apps.training.serving import model_server  # noqa: E402
from tests.benchmarks import data  # noqa: E402
from tests.dbsetup import create_database_as_app_role, drop_database  # noqa: E402
from tests.factories.billing import set_overrides  # noqa: E402
from tests.workers import WorkerProcess  # noqa: E402

BENCH_DB = os.environ.get("BENCH_SENTIMENT_DB", "bench_tessera_sentiment")
TARGET_DOCUMENTS_PER_S = 50.0
TARGET_P95_SECONDS = 5.0
BATCH = 50  # documents per ingest call: over SENTIMENT_SYNC_SCORE_MAX (25), so queued
OFFERED_SECONDS = 120  # one batch a second: 6,000 documents at the target rate
BURST_DOCUMENTS = 2000  # ingested back to back: the worker's capacity when it never waits
DRAIN_TIMEOUT = 240
LATE_SECONDS = 0.1  # a call that starts this far behind its schedule counts as late
PEER_TEXTS = 2000
PEER_ROUNDS = 4
SMOKE = {"offered_seconds": 5, "burst": 100, "peer": 100, "quality_rows": 200}
FPB_TARGETS = {"fpb-50agree": 0.86, "fpb-allagree": 0.97}
# NOTE: the label descriptions the zero-shot sentiment row uses (name: description prompts).
ZERO_SHOT_SENTIMENT = {
    "negative": "bad news, losses, decline, falling sales, layoffs, problems",
    "neutral": "a factual statement, no change, routine announcement",
    "positive": "good news, profit, growth, rising sales, success",
}
CHINESE_TRAIN_SAMPLE = 3000  # of 9,600: the head sees the encoder's features, more rows add little
TOPICS = [
    {"name": "pricing", "description": "prices, fees, discounts and what things cost"},
    {"name": "delivery", "description": "shipping, delivery times, parcels and couriers"},
    {"name": "quality", "description": "product quality, defects, durability and materials"},
    {"name": "support", "description": "customer service, help desk, agents and replies"},
    {"name": "security", "description": "fraud, data breaches, passwords and account safety"},
]

# --- synthetic documents: phrases written for this benchmark, combined at random ------

_SUBJECTS = {
    "pricing": ["The new price list", "The monthly fee", "The holiday discount", "The subscription cost"],
    "delivery": ["My parcel", "The courier", "Next-day shipping", "The delivery window"],
    "quality": ["The stitching on the jacket", "The battery", "The kitchen blender", "The phone case"],
    "support": ["The help desk agent", "Customer service", "The live chat", "The support team"],
    "security": ["The password reset", "The fraud alert", "Two-factor login", "The account lock"],
}
_VERDICTS = {
    "positive": ["was excellent", "worked perfectly", "made me really happy", "exceeded what I expected"],
    "neutral": ["was about what I expected", "arrived on Tuesday", "is described on the website", "changed this week"],
    "negative": ["was a total disappointment", "failed again", "made me furious", "is far worse than before"],
}
_TAILS = [
    "",
    " and I told my friends about it.",
    " according to the email I got.",
    " after I waited for two days.",
    " compared with last year.",
    " for the third time this month.",
]


def synthetic_texts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        topic = rng.choice(list(_SUBJECTS))
        sentiment = rng.choice(list(_VERDICTS))
        texts.append(f"{rng.choice(_SUBJECTS[topic])} {rng.choice(_VERDICTS[sentiment])}{rng.choice(_TAILS)}".strip())
    return texts


# --- throughput ------------------------------------------------------------------------


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _seed() -> tuple[Any, Any]:
    owner = User.objects.create_user("bench-sentiment@example.com", "bench-password-123")
    organization = organization_create(name="Bench sentiment", owner=owner)
    set_overrides(organization, included={"documents_processed": "10000000"})
    with tenant_context(organization.id):
        monitor = monitor_create(organization=organization, actor=Actor.system(), name="Bench", topics=TOPICS)
    return organization, monitor


def _ingest(organization: Any, monitor: Any, texts: list[str], source: str, offset: int) -> float:
    rows = [{"text": text, "source": source, "external_id": f"{source}-{offset + i}"} for i, text in enumerate(texts)]
    started = time.perf_counter()
    with tenant_context(organization.id):
        result = documents_ingest(organization=organization, monitor=monitor, actor=Actor.system(), rows=rows)
    assert result.created == len(rows) and not result.deferred, result
    return time.perf_counter() - started


def _count(organization: Any, source: str, status: str) -> int:
    with tenant_context(organization.id):
        return Document.objects.for_org(organization).filter(source=source, status=status).count()


def _wait_scored(organization: Any, source: str, expected: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _count(organization, source, DocumentStatus.SCORED) >= expected:
            return True
        time.sleep(0.5)
    return False


def _timings(organization: Any, source: str) -> list[tuple[float, float]]:
    with tenant_context(organization.id):
        rows = Document.objects.for_org(organization).filter(source=source, status=DocumentStatus.SCORED)
        return [(c.timestamp(), s.timestamp()) for c, s in rows.values_list("created_at", "scored_at")]


def _phase(timings: list[tuple[float, float]], expected: int, ingest_seconds: list[float]) -> dict[str, Any]:
    latencies = [scored - created for created, scored in timings]
    first_created = min(created for created, _ in timings)
    last_scored = max(scored for _, scored in timings)
    last_created = max(created for created, _ in timings)
    # Steady state: what was scored from 30 s after the start to the end of ingest.
    steady_from = first_created + 30
    steady = [scored for _, scored in timings if steady_from <= scored <= last_created]
    steady_seconds = last_created - steady_from
    return {
        "documents": expected,
        "scored": len(timings),
        "ingest_seconds": round(last_created - first_created, 2),
        "offered_per_s": (len(timings) - 1) / (last_created - first_created) if last_created > first_created else None,
        "scored_per_s": len(timings) / (last_scored - first_created),
        "steady_scored_per_s": len(steady) / steady_seconds if steady_seconds > 5 else None,
        "latency_p50_s": _percentile(latencies, 0.5),
        "latency_p95_s": _percentile(latencies, 0.95),
        "latency_max_s": max(latencies),
        # From the last ingest to the last document scored: short when the worker kept pace.
        "drain_seconds": last_scored - last_created,
        "ingest_call_p50_ms": 1000 * _percentile(ingest_seconds, 0.5),
        "ingest_call_p95_ms": 1000 * _percentile(ingest_seconds, 0.95),
    }


def _offered(organization: Any, monitor: Any, seconds: int) -> dict[str, Any]:
    """One batch of BATCH a second for `seconds`, on a fixed schedule (a late batch does not shift the rest)."""
    texts = synthetic_texts(seconds * BATCH, seed=1)
    durations, behind = [], []
    started = time.monotonic()
    for index in range(seconds):
        wait = started + index - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        behind.append(max(0.0, -wait))
        batch = texts[index * BATCH : (index + 1) * BATCH]
        durations.append(_ingest(organization, monitor, batch, "bench-offered", index * BATCH))
    pending_at_end = _count(organization, "bench-offered", DocumentStatus.PENDING)
    drained = _wait_scored(organization, "bench-offered", len(texts), DRAIN_TIMEOUT)
    result = _phase(_timings(organization, "bench-offered"), len(texts), durations)
    return {
        **result,
        "late_batches": sum(seconds_behind > LATE_SECONDS for seconds_behind in behind),
        "most_behind_s": max(behind),
        "pending_at_end_of_ingest": pending_at_end,
        "drained": drained,
    }


def _burst(organization: Any, monitor: Any, count: int) -> dict[str, Any]:
    """`count` documents ingested back to back: the rate at which one worker empties a backlog."""
    texts = synthetic_texts(count, seed=2)
    durations = [
        _ingest(organization, monitor, texts[start : start + BATCH], "bench-burst", start)
        for start in range(0, count, BATCH)
    ]
    drained = _wait_scored(organization, "bench-burst", count, DRAIN_TIMEOUT)
    return {**_phase(_timings(organization, "bench-burst"), count, durations), "drained": drained}


def _peers(monitor: Any, count: int) -> dict[str, Any]:
    """The same kind of texts straight through the shared encoder, and through both models without the database.

    The two take turns in PEER_ROUNDS rounds (alternating which goes first), so load from
    other processes on the shared machine falls on both alike.
    """
    texts = synthetic_texts(count, seed=3)
    server = model_server()
    server.embed(texts[:64])  # warm-up
    chunk = settings.SENTIMENT_SCORE_CHUNK

    def encoder(part: list[str]) -> None:
        server.embed(part)

    def models(part: list[str]) -> None:
        for start in range(0, len(part), chunk):
            scoring.sentiment_predict(monitor=monitor, texts=part[start : start + chunk])
            scoring.topic_predict(monitor=monitor, texts=part[start : start + chunk])

    seconds = {"encoder": 0.0, "models": 0.0}
    size = max(1, count // PEER_ROUNDS)
    for round_index in range(PEER_ROUNDS):
        part = texts[round_index * size : (round_index + 1) * size]
        order = [("encoder", encoder), ("models", models)]
        for name, call in order if round_index % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            call(part)
            seconds[name] += time.perf_counter() - started
    measured = size * PEER_ROUNDS
    return {
        "texts": measured,
        "rounds": PEER_ROUNDS,
        "encoder_per_s": measured / seconds["encoder"],
        "models_per_s": measured / seconds["models"],
    }


def throughput(*, smoke: bool) -> dict[str, Any]:
    import redis

    default = connections["default"]
    admin_settings = dict(default.settings_dict)
    # A section that ran before in this process may have loaded the settings with the test
    # suite's broker: point Celery at ours (flushed below, so never the suite's).
    celery_app.conf.broker_url = BROKER_URL
    broker = redis.Redis.from_url(BROKER_URL)
    broker.flushdb()
    load_before = os.getloadavg()
    create_database_as_app_role(BENCH_DB)
    default.settings_dict["CONN_MAX_AGE"] = 60
    worker = None
    try:
        organization, monitor = _seed()
        scoring.starter_model_directory()  # trained once per machine; the worker then finds it on disk
        worker = WorkerProcess(
            queues="inference",
            name="bench-sentiment",
            env={
                "TEST_CELERY_BROKER_URL": BROKER_URL,
                "REDIS_URL": settings.REDIS_URL,
                "ARTIFACT_CACHE_DIR": str(settings.ARTIFACT_CACHE_DIR),
                "ARTIFACT_ROOT": str(settings.ARTIFACT_ROOT),
            },
        ).start()
        # Warm-up: the worker loads the encoder and the starter model on its first task.
        _ingest(organization, monitor, synthetic_texts(BATCH, seed=9), "bench-warmup", 0)
        assert _wait_scored(organization, "bench-warmup", BATCH, 180), worker.output[-3000:]
        offered = _offered(organization, monitor, SMOKE["offered_seconds"] if smoke else OFFERED_SECONDS)
        burst = _burst(organization, monitor, SMOKE["burst"] if smoke else BURST_DOCUMENTS)
        worker.stop()
        peers = _peers(monitor, SMOKE["peer"] if smoke else PEER_TEXTS)
    finally:
        if worker is not None:
            worker.stop()
        drop_database(BENCH_DB, admin_settings)
        default.settings_dict.clear()
        default.settings_dict.update(admin_settings)
        broker.flushdb()
    return {
        "offered": offered,
        "burst": burst,
        "peers": peers,
        "batch": BATCH,
        "chunk": settings.SENTIMENT_SCORE_CHUNK,
        "sync_max": settings.SENTIMENT_SYNC_SCORE_MAX,
        "topics": len(TOPICS),
        "load_before": [round(value, 2) for value in load_before],
        "load_after": [round(value, 2) for value in os.getloadavg()],
        "target_per_s": TARGET_DOCUMENTS_PER_S,
        "target_p95_s": TARGET_P95_SECONDS,
    }


# --- quality -----------------------------------------------------------------------------


def _metrics(truth: list[str], predicted: list[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro")),
        "n": len(truth),
    }


def _classifier_labels(directory: Any, texts: list[str]) -> list[str]:
    from ml.classification import Classifier

    server = model_server()
    classifier = Classifier.load(directory, server.base_model, device="cpu", encoder=server.encoder)
    return [prediction.label for prediction in classifier.predict(texts)]


def _zero_shot_labels(texts: list[str], labels: tuple[str, ...] = tuple(ZERO_SHOT_SENTIMENT)) -> list[str]:
    from ml.classification.zero_shot import Topic, score_topics

    topics = [Topic(name, ZERO_SHOT_SENTIMENT[name]) for name in labels]
    server = model_server()
    # floor -1: a sentiment is always chosen (topics use 0.15 to leave "other" to off-topic texts).
    results = score_topics(
        server.embed(texts),
        server.embed([topic.prompt for topic in topics]),
        [topic.name for topic in topics],
        temperature=settings.SENTIMENT_ZERO_SHOT_TEMPERATURE,
        floor=-1.0,
    )
    return [result.topic for result in results]


def _head(train: list[tuple[str, str]], seed: int, workdir: Any) -> tuple[Any, float]:
    from ml.classification import ClassificationConfig, LabelledText, train_classifier

    started = time.perf_counter()
    train_classifier(
        train=[LabelledText(text, label) for text, label in train],
        validation=None,
        base_model=model_server().base_model,
        config=ClassificationConfig(strategy="head", seed=seed, device="cpu"),
        output_dir=workdir,
    )
    return workdir, time.perf_counter() - started


def _timed(name: str, truth: list[str], call: Callable[..., list[str]], *arguments: Any) -> dict[str, Any]:
    started = time.perf_counter()
    predicted = call(*arguments)
    result = {**_metrics(truth, predicted), "predict_seconds": time.perf_counter() - started}
    print(f"[bench] sentiment quality {name}: {result['accuracy']:.4f}", flush=True)  # noqa: T201
    return result


def measured_lora(page: str) -> dict[str, Any]:
    """The `lora` rows of the training section on docs/benchmarks.md (measured there; not re-run here)."""
    headings = {
        "fpb-50agree": "### Financial PhraseBank Sentences_50Agree",
        "fpb-allagree": "### Financial PhraseBank Sentences_AllAgree",
    }
    run = next((line.strip("- ") for line in page.splitlines() if line.startswith("- Last run:")), "")
    found: dict[str, Any] = {"training_run": run}
    for name, heading in headings.items():
        if heading not in page:
            continue
        table = page.split(heading, 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
        for line in table.splitlines():
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if cells[0] == "tessera `lora`" and cells[1].endswith("%"):
                found[name] = {
                    "accuracy": float(cells[1].split()[0].rstrip("%")) / 100,
                    "macro_f1": float(cells[2].rstrip("%")) / 100,
                    "train_seconds": float(cells[3].replace(",", "")),
                }
    return found


def quality(*, smoke: bool, workdir: Any) -> dict[str, Any]:
    import shutil

    rows: dict[str, Any] = {}
    starter = scoring.starter_model_directory()
    for name in FPB_TARGETS:
        train, test = data.load_row(data.ROWS_BY_NAME[name], smoke=smoke)
        texts, truth = [text for text, _ in test], [label for _, label in test]
        directory = workdir / f"sentiment-head-{name}"
        shutil.rmtree(directory, ignore_errors=True)
        _, train_seconds = _head(train, data.FPB_SPLIT_SEED, directory)
        rows[name] = {
            "n_train": len(train),
            "n_test": len(test),
            "starter": _timed(f"{name} starter", truth, _classifier_labels, starter, texts),
            "zero_shot": _timed(f"{name} zero-shot", truth, _zero_shot_labels, texts),
            "head": {
                **_timed(f"{name} head", truth, _classifier_labels, directory, texts),
                "train_seconds": train_seconds,
            },
        }
        shutil.rmtree(directory, ignore_errors=True)
    page = data.ROOT / "docs" / "benchmarks.md"
    lora = measured_lora(page.read_text()) if page.exists() else {}
    return {"rows": rows, "lora": lora, "zero_shot_descriptions": ZERO_SHOT_SENTIMENT, "targets": FPB_TARGETS}


def _chnsenticorp(split: str) -> list[tuple[str, str]]:
    path = data.datasets_dir() / "chnsenticorp" / f"{split}.tsv"
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(record["text_a"], {"1": "positive", "0": "negative"}[record["label"]]) for record in reader]


def chinese(*, smoke: bool, workdir: Any) -> dict[str, Any]:
    import shutil

    from sklearn.model_selection import train_test_split

    train, test = _chnsenticorp("train"), _chnsenticorp("test")
    sample_size = SMOKE["quality_rows"] if smoke else CHINESE_TRAIN_SAMPLE
    sample, _ = train_test_split(train, train_size=sample_size, stratify=[label for _, label in train], random_state=0)
    if smoke:
        test = test[: SMOKE["quality_rows"]]
    directory = workdir / "sentiment-head-chnsenticorp"
    shutil.rmtree(directory, ignore_errors=True)
    _, train_seconds = _head(sample, 0, directory)
    texts, truth = [text for text, _ in test], [label for _, label in test]
    started = time.perf_counter()
    predicted = _classifier_labels(directory, texts)
    predict_seconds = time.perf_counter() - started
    shutil.rmtree(directory, ignore_errors=True)
    # The README: 330 test texts also occur verbatim in train; report both, as it asks.
    seen = {text for text, _ in train}
    unseen = [i for i, text in enumerate(texts) if text not in seen]
    result = {
        "n_train_sample": len(sample),
        "n_train": len(train),
        "n_test": len(test),
        "head": {**_metrics(truth, predicted), "train_seconds": train_seconds, "predict_seconds": predict_seconds},
        "head_unseen": _metrics([truth[i] for i in unseen], [predicted[i] for i in unseen]),
        "zero_shot": _metrics(truth, _zero_shot_labels(texts, ("negative", "positive"))),
        "base_model": model_server().base_model.name,
    }
    print(f"[bench] sentiment chnsenticorp head: {result['head']['accuracy']:.4f}", flush=True)  # noqa: T201
    return result


def run(*, smoke: bool = False, workdir: Any = None) -> dict[str, Any]:
    """Measure, and return what `report.sentiment_section()` writes."""
    from tests.benchmarks.report import machine

    workdir = workdir or data.ROOT / "var" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = {"throughput": throughput(smoke=smoke)}
    print(f"[bench] sentiment throughput done in {time.perf_counter() - started:.0f} s", flush=True)  # noqa: T201
    load_before = os.getloadavg()
    result["quality"] = quality(smoke=smoke, workdir=workdir)
    result["chinese"] = chinese(smoke=smoke, workdir=workdir)
    result["quality_load"] = {
        "before": [round(value, 2) for value in load_before],
        "after": [round(value, 2) for value in os.getloadavg()],
    }
    result["machine"] = machine()
    result["seconds"] = time.perf_counter() - started
    return result
