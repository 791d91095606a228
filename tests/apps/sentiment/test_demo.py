"""The demo monitor's documents (apps/sentiment/demo.py): size, shape, the injected spike.

No model runs here: the spike is checked on the labels the documents were written with
(`metadata.written_as`), which is what the seeded monitor's models are expected to find.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.utils.dateparse import parse_datetime

from apps.core.actors import Actor
from apps.sentiment import demo, services
from tests.apps.sentiment.conftest import ingest

T = datetime(2026, 11, 2, 15, 20, tzinfo=UTC)  # a Monday afternoon


@pytest.fixture(scope="module")
def rows():
    return demo.demo_documents(T)


def _published(row):
    return parse_datetime(row["published_at"])


def _is_outage(row):
    return row["metadata"].get("scenario") == "login outage"


def test_the_documents_are_the_same_for_the_same_now(rows):
    assert demo.demo_documents(T) == rows


def test_three_weeks_of_documents_up_to_now_in_every_topic(rows):
    assert 600 <= len(rows) <= 1200
    times = [_published(row) for row in rows]
    assert all(T - timedelta(days=demo.DAYS, hours=1) <= moment < T for moment in times)
    assert times == sorted(times)
    topics = Counter(row["metadata"]["written_as"]["topic"] for row in rows)
    assert set(topics) == {topic["name"] for topic in demo.DEMO_MONITOR["topics"]}
    assert set(Counter(row["source"] for row in rows)) == {"news", "app_store", "social"}
    assert len({row["external_id"] for row in rows}) == len(rows)


def test_every_row_passes_the_ingest_validation(rows):
    now = T + timedelta(minutes=1)
    errors = [(index, services._clean_row(row, now)[1]) for index, row in enumerate(rows)]

    assert [error for error in errors if error[1] is not None] == []
    assert all(row["url"].startswith("https://") for row in rows)
    assert all(row["url"].split("/")[2].endswith((".example.com", ".test")) for row in rows)


def test_no_text_is_repeated_more_than_twice(rows):
    counts = Counter(row["text"] for row in rows)

    assert max(counts.values()) <= demo.MAX_SAME_TEXT
    assert len(counts) >= 0.8 * len(rows)


def test_the_outage_is_several_times_the_usual_negative_volume(rows):
    negative = [
        row for row in rows if row["metadata"]["written_as"] == {"topic": demo.SPIKE_TOPIC, "sentiment": "negative"}
    ]
    window_start = T - timedelta(minutes=demo.SPIKE_MINUTES)
    in_window = [row for row in negative if _published(row) >= window_start]
    baseline_start = window_start - timedelta(days=7)
    baseline = [row for row in negative if baseline_start <= _published(row) < window_start]
    window_hours = demo.SPIKE_MINUTES / 60

    per_hour_now = len(in_window) / window_hours
    per_hour_usually = len(baseline) / (7 * 24)
    assert len(in_window) >= demo.SPIKE_DOCUMENTS
    assert per_hour_now >= 10 * per_hour_usually
    # The phrase the alert's rising terms show: in every outage text, in no earlier one of the topic.
    outage = [row for row in rows if _is_outage(row)]
    assert len(outage) == demo.SPIKE_DOCUMENTS
    assert all(demo.SPIKE_MARKER in row["text"].lower() for row in outage)
    assert not any(demo.SPIKE_MARKER in row["text"].lower() for row in negative if not _is_outage(row))
    assert len({row["text"] for row in outage}) == len(outage)


def test_a_later_seed_keeps_the_ids_of_the_hours_it_shares(rows):
    later = demo.demo_documents(T + timedelta(hours=1))
    shared_start = (T + timedelta(hours=1)).replace(minute=0) - timedelta(days=demo.DAYS, hours=-1)
    earlier_ids = {row["external_id"] for row in rows if _published(row) >= shared_start}

    assert earlier_ids <= {row["external_id"] for row in later}


@pytest.mark.django_db
def test_ingesting_the_demo_stores_every_row_once(org, in_org, enqueued):
    with in_org(org):
        monitor = services.monitor_create(
            organization=org,
            actor=Actor.system(),
            name=demo.DEMO_MONITOR["name"],
            description=demo.DEMO_MONITOR["description"],
            topics=demo.DEMO_MONITOR["topics"],
        )
    rows = demo.demo_documents(datetime.now(UTC))
    assert len(rows) <= services.MAX_DOCUMENTS_PER_BATCH  # the seed command batches anyway

    first = ingest(org, monitor, rows)
    again = ingest(org, monitor, rows)

    assert (first.created, first.rejected, first.duplicates) == (len(rows), 0, 0)
    assert (again.created, again.rejected, again.duplicates) == (0, 0, len(rows))
