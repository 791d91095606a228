"""Writes for sentiment monitoring: monitors, document ingest, scoring, trend buckets, corrections.

Metering (docs/billing.md, "never silently dropped"): every scored document records one
`documents_processed` event (key `document:<id>`) in the transaction that stores its score.
Documents the plan cannot take now are stored as `deferred`, and the periodic
`documents_deferred_score_all` task scores them once the allowance allows.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.accounts.models import Organization
from apps.audit.services import audit_record
from apps.billing.selectors import organization_limits
from apps.core.actors import Actor
from apps.core.errors import ServiceError
from apps.core.taskbase import delay_quietly
from apps.core.tenancy import tenant_context
from apps.metering.models import Meter
from apps.metering.services import QuotaExceeded, SpendCapReached, quota_check, usage_event_record
from apps.sentiment import scoring
from apps.sentiment.models import Correction, Document, DocumentStatus, Granularity, Monitor, Sentiment, TrendBucket

logger = logging.getLogger(__name__)

MAX_TOPICS = 30
MAX_DOCUMENTS_PER_BATCH = 1000
OTHER_TOPIC = "other"
# Field limits of Document (models.py), checked per row so one bad row never refuses the batch.
_CHAR_LIMITS = {"source": 100, "author": 200, "language": 16, "external_id": 200, "url": 1000}
_MONITOR_FIELDS = (
    "name",
    "description",
    "topics",
    "sentiment_model_name",
    "topic_model_name",
    "is_active",
    "retrain_after_corrections",
    "alert_min_volume",
    "alert_sensitivity",
    "alert_cooldown_hours",
    "alert_baseline_days",
)


# The product code plans list in `products` (apps/billing/plans.py).
PRODUCT = "sentiment"


class SentimentError(ServiceError):
    pass


# --- monitors --------------------------------------------------------------------------


def _clean_topics(topics: Any) -> list[dict[str, str]]:
    if not isinstance(topics, list) or not 1 <= len(topics) <= MAX_TOPICS:
        raise SentimentError(
            f"Give between 1 and {MAX_TOPICS} topics, each {{name, description}}.",
            code="invalid_topics",
            details={"field": "topics"},
        )
    cleaned, seen = [], set()
    for index, topic in enumerate(topics):
        name = str(topic.get("name", "")).strip() if isinstance(topic, dict) else ""
        description = str(topic.get("description", "") or "").strip() if isinstance(topic, dict) else ""
        if not name or len(name) > 100:
            raise SentimentError(
                f"Topic {index + 1} needs a name of 1 to 100 characters.",
                code="invalid_topics",
                details={"field": "topics", "index": index},
            )
        if name.lower() == OTHER_TOPIC:
            raise SentimentError(
                f"'{OTHER_TOPIC}' is reserved for texts that match no topic; choose another name.",
                code="invalid_topics",
                details={"field": "topics", "index": index},
            )
        if name.lower() in seen:
            raise SentimentError(
                f"Topic names must be unique: '{name}' appears twice.",
                code="invalid_topics",
                details={"field": "topics", "index": index},
            )
        if len(description) > 500:
            raise SentimentError(
                f"Topic '{name}' has a description of {len(description)} characters; use at most 500.",
                code="invalid_topics",
                details={"field": "topics", "index": index},
            )
        seen.add(name.lower())
        cleaned.append({"name": name, "description": description})
    return cleaned


def _name_taken(organization: Organization, name: str, exclude_id: Any = None) -> bool:
    monitors = Monitor.objects.for_org(organization).filter(name=name)
    if exclude_id is not None:
        monitors = monitors.exclude(id=exclude_id)
    return monitors.exists()


@transaction.atomic
def require_product(organization: Organization | int) -> None:
    """Refuse (402 plan_limit_reached) when the organization's plan does not include sentiment monitoring."""
    limits = organization_limits(organization=organization)
    if PRODUCT not in limits.products:
        raise SentimentError(
            f"The {limits.plan_name} plan does not include sentiment monitoring; upgrade to use it.",
            code="plan_limit_reached",
            status=402,
            details={"entitlement": "products", "product": PRODUCT},
        )


def monitor_create(*, organization: Organization, actor: Actor, name: str, topics: Any, **fields: Any) -> Monitor:
    """Raises SentimentError: plan_limit_reached (402), invalid_topics (400), monitor_name_taken (409)."""
    require_product(organization)
    name = name.strip()
    if _name_taken(organization, name):
        raise SentimentError(
            f"A monitor named '{name}' already exists.",
            code="monitor_name_taken",
            status=409,
            details={"field": "name"},
        )
    unknown = set(fields) - set(_MONITOR_FIELDS)
    if unknown:
        raise TypeError(f"Unknown monitor fields: {sorted(unknown)}")
    monitor = Monitor.objects.create(organization=organization, name=name, topics=_clean_topics(topics), **fields)
    audit_record(organization=organization, actor=actor, action="sentiment.monitor_created", target=monitor)
    return monitor


@transaction.atomic
def monitor_update(*, organization: Organization, monitor: Monitor, actor: Actor, **changes: Any) -> Monitor:
    """Change any of a monitor's fields; topics are re-validated. Existing scores are kept."""
    unknown = set(changes) - set(_MONITOR_FIELDS)
    if unknown:
        raise TypeError(f"Unknown monitor fields: {sorted(unknown)}")
    if "topics" in changes:
        changes["topics"] = _clean_topics(changes["topics"])
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        if _name_taken(organization, changes["name"], exclude_id=monitor.id):
            raise SentimentError(
                f"A monitor named '{changes['name']}' already exists.",
                code="monitor_name_taken",
                status=409,
                details={"field": "name"},
            )
    for name, value in changes.items():
        setattr(monitor, name, value)
    monitor.save()
    audit_record(
        organization=organization,
        actor=actor,
        action="sentiment.monitor_updated",
        target=monitor,
        metadata={"fields": sorted(changes)},
    )
    return monitor


@transaction.atomic
def monitor_delete(*, organization: Organization, monitor: Monitor, actor: Actor) -> None:
    """Deletes the monitor with its documents, corrections, buckets and alerts."""
    audit_record(organization=organization, actor=actor, action="sentiment.monitor_deleted", target=monitor)
    monitor.delete()


# --- ingest ----------------------------------------------------------------------------


@dataclass
class IngestResult:
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    deferred: int = 0
    scored: int = 0
    pending: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    deferral: dict[str, Any] | None = None
    documents: list[Document] = field(default_factory=list)


def _parse_published_at(value: Any, now: datetime) -> datetime:
    if value in (None, ""):
        return now
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError("Use an ISO 8601 date and time, e.g. 2026-03-01T09:30:00Z.")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    if parsed > now + timedelta(days=1):
        raise ValueError("The publication time is more than 1 day in the future.")
    return parsed


def _clean_strings(row: dict[str, Any]) -> tuple[dict[str, str], tuple[str, str] | None]:
    fields: dict[str, str] = {}
    for name, limit in _CHAR_LIMITS.items():
        value = row.get(name) or ""
        if not isinstance(value, str):
            return fields, (name, "Must be a string.")
        if len(value.strip()) > limit:
            return fields, (name, f"At most {limit} characters.")
        fields[name] = value.strip()
    if fields["url"]:
        try:
            URLValidator()(fields["url"])
        except ValidationError:
            return fields, ("url", "Not a valid URL.")
    return fields, None


def _clean_row(row: Any, now: datetime) -> tuple[dict[str, Any] | None, tuple[str, str] | None]:
    """(the document's fields, None) or (None, (field, message))."""
    if not isinstance(row, dict):
        return None, ("", "Each document must be a JSON object.")
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        return None, ("text", "The text is required and must not be empty.")
    limit = settings.SENTIMENT_MAX_TEXT_LENGTH
    if len(text) > limit:
        return None, ("text", f"The text is {len(text)} characters; the limit is {limit}.")
    strings, error = _clean_strings(row)
    if error is not None:
        return None, error
    metadata = row.get("metadata") or {}
    if not isinstance(metadata, dict):
        return None, ("metadata", "Must be a JSON object.")
    try:
        published_at = _parse_published_at(row.get("published_at"), now)
    except ValueError as error:
        return None, ("published_at", str(error))
    return {"text": text.strip(), **strings, "metadata": metadata, "published_at": published_at}, None


def _allowance(organization: Organization | int, quantity: int) -> tuple[int, dict[str, Any] | None]:
    """(how many of `quantity` documents the plan takes now, the deferral reason or None)."""
    if quantity == 0:
        return 0, None
    try:
        quota_check(organization=organization, meter=Meter.DOCUMENTS_PROCESSED, quantity=quantity)
    except QuotaExceeded as refusal:
        try:
            remaining = int(Decimal(refusal.details["limit"]) - Decimal(refusal.details["used"]))
        except (InvalidOperation, KeyError):
            remaining = 0
        return max(0, min(quantity, remaining)), {"code": refusal.code, "message": refusal.message, **refusal.details}
    except SpendCapReached as refusal:
        return 0, {"code": refusal.code, "message": refusal.message, **refusal.details}
    return quantity, None


def documents_ingest(*, organization: Organization, monitor: Monitor, actor: Actor, rows: list[Any]) -> IngestResult:
    """Store a batch, keep its good rows, and score them (here, on the inference queue, or later).

    A row with an `external_id` already in the monitor is a duplicate and is not stored
    again. Up to SENTIMENT_SYNC_SCORE_MAX new documents are scored in this call; more go to
    `monitor_documents_score` on the inference queue. Documents beyond the plan's
    allowance are stored as deferred, with the reason in `IngestResult.deferral`.
    """
    require_product(organization)
    if len(rows) > MAX_DOCUMENTS_PER_BATCH:
        raise SentimentError(
            f"A batch holds at most {MAX_DOCUMENTS_PER_BATCH} documents; this one has {len(rows)}.",
            code="batch_too_large",
            details={"limit": MAX_DOCUMENTS_PER_BATCH},
        )
    result, now = IngestResult(), timezone.now()
    cleaned: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        fields, error = _clean_row(row, now)
        if error is not None:
            result.errors.append({"index": index, "field": error[0], "message": error[1]})
            continue
        cleaned.append(fields)
    result.rejected = len(result.errors)
    external_ids = {fields["external_id"] for fields in cleaned if fields["external_id"]}
    existing = set(
        Document.objects.for_org(organization)
        .filter(monitor=monitor, external_id__in=external_ids)
        .values_list("external_id", flat=True)
    )
    new, seen = [], set(existing)
    for fields in cleaned:
        if fields["external_id"] and fields["external_id"] in seen:
            result.duplicates += 1
            continue
        seen.add(fields["external_id"])
        new.append(Document(id=uuid.uuid4(), organization=organization, monitor=monitor, **fields))
    allowed, deferral = _allowance(organization, len(new))
    for document in new[allowed:]:
        document.status = DocumentStatus.DEFERRED
    # A concurrent ingest of the same external id: ON CONFLICT DO NOTHING, counted as a duplicate.
    Document.objects.bulk_create(new, ignore_conflicts=True)
    stored = set(Document.objects.for_org(organization).filter(id__in=[d.id for d in new]).values_list("id", flat=True))
    result.duplicates += len(new) - len(stored)
    new = [document for document in new if document.id in stored]
    result.created = len(new)
    to_score = [document for document in new if document.status == DocumentStatus.PENDING]
    if to_score and len(to_score) <= settings.SENTIMENT_SYNC_SCORE_MAX:
        _score_now(monitor=monitor, documents=to_score)
    elif to_score:
        _schedule_scoring(monitor)
    by_id = Document.objects.for_org(organization).in_bulk([document.id for document in new])
    result.documents = [by_id[document.id] for document in new]
    statuses = Counter(document.status for document in result.documents)
    result.scored = statuses[DocumentStatus.SCORED]
    result.pending = statuses[DocumentStatus.PENDING]
    result.deferred = statuses[DocumentStatus.DEFERRED]
    if result.deferred:
        # Refused while scoring (the allowance ran out meanwhile): ask again for the reason.
        result.deferral = deferral or _allowance(organization, result.deferred)[1]
        logger.info(
            "sentiment.documents_deferred",
            extra={"organization_id": organization.id, "monitor_id": str(monitor.id), "count": result.deferred},
        )
    return result


def _schedule_scoring(monitor: Monitor) -> None:
    from apps.sentiment.tasks import monitor_documents_score as monitor_documents_score_task

    organization_id, monitor_id = monitor.organization_id, str(monitor.id)
    # A lost message is recovered by the deferred sweep, which also scores stale pending rows.
    transaction.on_commit(
        lambda: delay_quietly(
            monitor_documents_score_task, organization_id, monitor_id, event="sentiment.score_enqueue_failed"
        )
    )


def _score_now(*, monitor: Monitor, documents: list[Document]) -> int:
    """Score in this request; on a model failure leave them pending for the inference queue."""
    try:
        return documents_score(monitor=monitor, documents=documents)
    except (QuotaExceeded, SpendCapReached):
        _mark_deferred(monitor, documents)
        return 0
    except Exception:
        logger.exception("sentiment.sync_scoring_failed", extra={"monitor_id": str(monitor.id)})
        _schedule_scoring(monitor)
        return 0


def _mark_deferred(monitor: Monitor, documents: list[Document]) -> None:
    Document.objects.for_org(monitor.organization_id).filter(
        id__in=[document.id for document in documents], status=DocumentStatus.PENDING
    ).update(status=DocumentStatus.DEFERRED, updated_at=timezone.now())


# --- scoring ---------------------------------------------------------------------------


def _bucket_starts(published_at: datetime) -> dict[str, datetime]:
    utc = published_at.astimezone(UTC)
    hour = utc.replace(minute=0, second=0, microsecond=0)
    return {Granularity.HOUR: hour, Granularity.DAY: hour.replace(hour=0)}


def trend_buckets_add(*, monitor: Monitor, deltas: Counter) -> None:
    """Add `deltas[(topic, sentiment, published_at)]` to the hour and day buckets of each key.

    One `INSERT ... ON CONFLICT DO UPDATE SET count = count + n` per bucket (PostgreSQL and
    SQLite), so concurrent workers never lose an increment. Negative deltas (corrections)
    update existing rows with F().
    """
    totals: Counter = Counter()
    for (topic, sentiment, published_at), count in deltas.items():
        for granularity, start in _bucket_starts(published_at).items():
            totals[(topic, sentiment, granularity, start)] += count
    table = TrendBucket._meta.db_table
    for (topic, sentiment, granularity, start), count in sorted(totals.items(), key=lambda item: str(item[0])):
        if count < 0:
            TrendBucket.objects.for_org(monitor.organization_id).filter(
                monitor=monitor, topic=topic, sentiment=sentiment, granularity=granularity, bucket_start=start
            ).update(count=F("count") + count, updated_at=timezone.now())
            continue
        now = timezone.now()
        values = {
            "id": uuid.uuid4(),
            "created_at": now,
            "updated_at": now,
            "organization": monitor.organization_id,
            "monitor": monitor.id,
            "topic": topic,
            "sentiment": sentiment,
            "granularity": granularity,
            "bucket_start": start,
            "count": count,
        }
        columns = [TrendBucket._meta.get_field(name).column for name in values]
        params = [
            TrendBucket._meta.get_field(name).get_db_prep_save(value, connection) for name, value in values.items()
        ]
        sql = (
            f'INSERT INTO "{table}" ({", ".join(connection.ops.quote_name(c) for c in columns)}) '
            f"VALUES ({', '.join(['%s'] * len(columns))}) "
            'ON CONFLICT ("organization_id", "monitor_id", "topic", "sentiment", "granularity", "bucket_start") '
            f'DO UPDATE SET "count" = "{table}"."count" + EXCLUDED."count", "updated_at" = EXCLUDED."updated_at"'
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def documents_score(*, monitor: Monitor, documents: list[Document]) -> int:
    """Score `documents` of `monitor` and store the scores, usage and bucket counts in one transaction.

    The models run first, outside the transaction. Documents no longer pending or deferred
    (scored by a redelivered task) are skipped, and the usage key `document:<id>` counts a
    document once. Raises QuotaExceeded / SpendCapReached (the transaction rolls back: none
    of these documents is scored) when the allowance ran out since the caller checked.
    Returns how many documents this call scored.
    """
    if not documents:
        return 0
    texts = [document.text for document in documents]
    # TRICKY: the tenant's active versions are looked up under row-level security; outside a
    # tenant context (the inference task) they would be invisible and the fallbacks would score.
    with tenant_context(monitor.organization_id):
        sentiments, sentiment_by = scoring.sentiment_predict(monitor=monitor, texts=texts)
        topics, topic_by = scoring.topic_predict(monitor=monitor, texts=texts)
    scores = {document.id: (s, t) for document, s, t in zip(documents, sentiments, topics, strict=True)}
    scored, deltas, now = 0, Counter(), timezone.now()
    with tenant_context(monitor.organization_id):
        locked = (
            Document.objects.for_org(monitor.organization_id)
            .select_for_update()
            .filter(id__in=list(scores), status__in=[DocumentStatus.PENDING, DocumentStatus.DEFERRED])
            .order_by("id")
        )
        for document in locked:
            sentiment, topic = scores[document.id]
            usage_event_record(
                organization=monitor.organization_id,
                meter=Meter.DOCUMENTS_PROCESSED,
                quantity=1,
                idempotency_key=f"document:{document.id}",
                metadata={"monitor_id": str(monitor.id)},
                enforce_quota=True,
            )
            document.status = DocumentStatus.SCORED
            document.sentiment = sentiment.label
            document.sentiment_confidence = sentiment.confidence
            document.sentiment_probabilities = sentiment.probabilities
            document.topic = topic.label
            document.topic_probabilities = topic.probabilities
            document.sentiment_scored_by = sentiment_by
            document.topic_scored_by = topic_by
            document.scored_at = now
            document.error = ""
            document.save(
                update_fields=[
                    "status",
                    "sentiment",
                    "sentiment_confidence",
                    "sentiment_probabilities",
                    "topic",
                    "topic_probabilities",
                    "sentiment_scored_by",
                    "topic_scored_by",
                    "scored_at",
                    "error",
                    "updated_at",
                ]
            )
            deltas[(document.topic, document.sentiment, document.published_at)] += 1
            scored += 1
        trend_buckets_add(monitor=monitor, deltas=deltas)
        if scored:
            _schedule_spike_check(monitor)
    return scored


def _schedule_spike_check(monitor: Monitor) -> None:
    from apps.sentiment.tasks import monitor_spike_check as monitor_spike_check_task

    organization_id, monitor_id = monitor.organization_id, str(monitor.id)
    transaction.on_commit(
        lambda: delay_quietly(
            monitor_spike_check_task, organization_id, monitor_id, event="sentiment.spike_check_enqueue_failed"
        )
    )


def monitor_documents_score(*, organization_id: int, monitor_id: Any, statuses: tuple[str, ...]) -> dict[str, int]:
    """Score a monitor's documents in `statuses`, SENTIMENT_SCORE_CHUNK at a time, each chunk committed.

    Asks for the allowance before each chunk: what the plan cannot take stays (or becomes)
    deferred. Called by the inference task (pending) and the deferred sweep (deferred).
    Each chunk runs in its own `tenant_context`, so progress is visible as it goes.
    Returns {"scored": documents scored by this call, "deferred": documents left deferred}.
    """
    scored = 0
    with tenant_context(organization_id):
        monitor = Monitor.objects.for_org(organization_id).filter(id=monitor_id).first()
    if monitor is None:
        return {"scored": 0, "deferred": 0}
    while True:
        with tenant_context(organization_id):
            chunk = list(
                Document.objects.for_org(organization_id)
                .filter(monitor=monitor, status__in=statuses)
                .order_by("published_at", "id")[: settings.SENTIMENT_SCORE_CHUNK]
            )
            allowed, _ = _allowance(monitor.organization_id, len(chunk))
        if not chunk:
            break
        try:
            scored += documents_score(monitor=monitor, documents=chunk[:allowed])
        except (QuotaExceeded, SpendCapReached):
            allowed = 0  # the allowance ran out since it was asked: the chunk rolled back
        if allowed < len(chunk):
            with tenant_context(organization_id):
                _mark_deferred(monitor, chunk[allowed:])
            break
    with tenant_context(organization_id):
        deferred = Document.objects.for_org(organization_id).filter(monitor=monitor, status=DocumentStatus.DEFERRED)
        return {"scored": scored, "deferred": deferred.count()}


# --- corrections -----------------------------------------------------------------------


def document_correct(
    *, organization: Organization, monitor: Monitor, document_id: Any, actor: Actor, field: str, value: str
) -> Correction:
    """Set a scored document's sentiment or topic by hand and move its trend counts.

    Raises SentimentError: invalid_correction (400), document_not_scored (409).
    """
    if field == "sentiment":
        choices = list(Sentiment.values)
    elif field == "topic":
        choices = [*monitor.topic_names, OTHER_TOPIC]
    else:
        raise SentimentError(
            "Correct either 'sentiment' or 'topic'.", code="invalid_correction", details={"field": "field"}
        )
    if value not in choices:
        raise SentimentError(
            f"'{value}' is not a {field} of this monitor; choose one of {', '.join(choices)}.",
            code="invalid_correction",
            details={"field": "value", "choices": choices},
        )
    with transaction.atomic():
        document = Document.objects.for_org(organization).select_for_update().get(id=document_id, monitor=monitor)
        if document.status != DocumentStatus.SCORED:
            raise SentimentError(
                "Only a scored document can be corrected; this one is " + document.get_status_display().lower() + ".",
                code="document_not_scored",
                status=409,
            )
        previous = getattr(document, field)
        if previous != value:
            deltas: Counter = Counter()
            deltas[(document.topic, document.sentiment, document.published_at)] -= 1
            setattr(document, field, value)
            setattr(document, f"{field}_scored_by", "correction")
            document.save(update_fields=[field, f"{field}_scored_by", "updated_at"])
            deltas[(document.topic, document.sentiment, document.published_at)] += 1
            trend_buckets_add(monitor=monitor, deltas=deltas)
        correction = Correction.objects.create(
            organization=organization,
            document=document,
            field=field,
            previous_value=previous,
            value=value,
            corrected_by_label=actor.label[:255],
        )
        from apps.sentiment.retrain import correction_counted

        correction_counted(organization=organization, monitor=monitor, correction=correction)
        audit_record(
            organization=organization,
            actor=actor,
            action="sentiment.document_corrected",
            target=document,
            metadata={"monitor_id": str(monitor.id), "field": field, "from": previous, "to": value},
        )
    return correction


def documents_deferred_monitors() -> list[tuple[int, str]]:
    """(organization id, monitor id) of every monitor with deferred or stale pending documents."""
    from apps.core.tenancy import cross_tenant

    stale = timezone.now() - timedelta(minutes=30)
    with cross_tenant(reason="sentiment.documents_deferred_sweep"):
        deferred = Document.all_orgs.filter(status=DocumentStatus.DEFERRED)
        pending = Document.all_orgs.filter(status=DocumentStatus.PENDING, created_at__lt=stale)
        pairs = set(deferred.values_list("organization_id", "monitor_id").distinct())
        pairs |= set(pending.values_list("organization_id", "monitor_id").distinct())
    return sorted((organization_id, str(monitor_id)) for organization_id, monitor_id in pairs)
