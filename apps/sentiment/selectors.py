"""Reads for sentiment monitoring, always inside one organization."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet

from apps.core.errors import ServiceError
from apps.sentiment.models import Document, DocumentStatus, Granularity, Monitor, Sentiment, TrendBucket


def monitor_list(*, organization: Any) -> QuerySet[Monitor]:
    return Monitor.objects.for_org(organization).order_by("-created_at", "-id")


def monitor_get(*, organization: Any, monitor_id: Any) -> Monitor:
    """Raises Monitor.DoesNotExist for a missing id and for another organization's monitor."""
    return Monitor.objects.for_org(organization).get(id=monitor_id)


def monitor_document_counts(*, organization: Any, monitor: Monitor) -> dict[str, int]:
    """Documents per status (pending, deferred, scored, failed): the scoring progress."""
    counts = dict.fromkeys(DocumentStatus.values, 0)
    rows = (
        Document.objects.for_org(organization)
        .filter(monitor=monitor)
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def document_list(*, organization: Any, monitor: Monitor, filters: dict[str, Any] | None = None) -> QuerySet[Document]:
    """Filters: topic, sentiment, status, since / until (published_at), q (text contains, case-insensitive)."""
    filters = filters or {}
    documents = Document.objects.for_org(organization).filter(monitor=monitor)
    for name in ("topic", "sentiment", "status"):
        if filters.get(name):
            documents = documents.filter(**{name: filters[name]})
    if filters.get("since"):
        documents = documents.filter(published_at__gte=filters["since"])
    if filters.get("until"):
        documents = documents.filter(published_at__lt=filters["until"])
    if filters.get("q"):
        documents = documents.filter(text__icontains=filters["q"])
    return documents


def document_get(*, organization: Any, monitor: Monitor, document_id: Any) -> Document:
    return Document.objects.for_org(organization).get(monitor=monitor, id=document_id)


def _floor(moment: datetime, granularity: str) -> datetime:
    # Buckets are UTC hours and days: floor in UTC whatever zone `moment` carries.
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if granularity == Granularity.DAY else moment


def trend_series(
    *,
    organization: Any,
    monitor: Monitor,
    granularity: str,
    since: datetime,
    until: datetime,
    topic: str | None = None,
    sentiment: str | None = None,
) -> dict[str, Any]:
    """Counts per bucket, topic and sentiment in [since, until), with per-bucket totals.

    Raises ServiceError `range_too_large` beyond SENTIMENT_TRENDS_MAX_BUCKETS buckets and
    `invalid_range` when `since` is not before `until`.
    """
    step = timedelta(days=1) if granularity == Granularity.DAY else timedelta(hours=1)
    start = _floor(since, granularity)
    if until <= since:
        raise ServiceError("`since` must be before `until`.", code="invalid_range", details={"field": "since"})
    buckets = -(-(until - start) // step)
    limit = settings.SENTIMENT_TRENDS_MAX_BUCKETS
    if buckets > limit:
        raise ServiceError(
            f"The range spans {buckets} {granularity} buckets; ask for at most {limit} "
            f"(narrow since/until or use a coarser granularity).",
            code="range_too_large",
            details={"buckets": buckets, "limit": limit},
        )
    rows = TrendBucket.objects.for_org(organization).filter(
        monitor=monitor, granularity=granularity, bucket_start__gte=start, bucket_start__lt=until, count__gt=0
    )
    if topic:
        rows = rows.filter(topic=topic)
    if sentiment:
        rows = rows.filter(sentiment=sentiment)
    series = [
        {"bucket_start": row.bucket_start, "topic": row.topic, "sentiment": row.sentiment, "count": row.count}
        for row in rows.order_by("bucket_start", "topic", "sentiment")
    ]
    by_bucket: dict[datetime, dict[str, int]] = defaultdict(lambda: dict.fromkeys(Sentiment.values, 0))
    for point in series:
        by_bucket[point["bucket_start"]][point["sentiment"]] += point["count"]
    totals = []
    for bucket_start in sorted(by_bucket):
        counts = by_bucket[bucket_start]
        total = sum(counts.values())
        totals.append(
            {
                "bucket_start": bucket_start,
                "total": total,
                **counts,
                "negative_share": round(counts[Sentiment.NEGATIVE] / total, 6) if total else 0.0,
            }
        )
    return {"granularity": granularity, "since": start, "until": until, "series": series, "totals": totals}
