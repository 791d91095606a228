"""Spike alerts: detection over the hourly trend buckets, the explanation, the inbox actions.

`spike_check` runs after every scored batch (apps.sentiment.tasks.monitor_spike_check).
For each topic it runs `ml.timeseries.spikes.detect` on the hourly negative and total
counts (the baseline plus the current hour, even while it fills: see the module docstring
there for why that adds no false alarms), and on a spike writes a `SpikeAlert` with the
rising terms and representative documents, emits the `sentiment.spike_detected` webhook
event in the same transaction, and emails owners and admins after the commit.

The same spike never alerts twice: after an alert, the topic is quiet for the monitor's
cooldown, no later scan window reaches back into the alerted hours and their cooldown,
checks of one monitor are serialised by a row lock, and the unique constraint on
(monitor, topic, window_start) is the last guard. docs/sentiment.md has the method.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.actors import Actor
from apps.core.errors import ServiceError
from apps.core.tenancy import tenant_context
from apps.sentiment.models import (
    AlertStatus,
    Document,
    DocumentStatus,
    Granularity,
    Monitor,
    Sentiment,
    SpikeAlert,
    TrendBucket,
)

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
TERMS_TOP_K = 8
REPRESENTATIVE_K = 3
EXCERPT_CHARS = 300
# Enough text for stable term rates; a week of negatives of one busy topic is a few thousand.
MAX_CURRENT_DOCUMENTS = 500
MAX_BASELINE_DOCUMENTS = 3000


def monitor_spike_config(monitor: Monitor) -> Any:
    """The monitor's alert settings as the detector's config."""
    from ml.timeseries.spikes import SpikeConfig

    return SpikeConfig(
        min_volume=max(int(monitor.alert_min_volume), 1),
        sensitivity=float(monitor.alert_sensitivity),
        cooldown_hours=int(monitor.alert_cooldown_hours),
        baseline_hours=max(int(monitor.alert_baseline_days), 1) * 24,
    )


def _hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hourly_counts(monitor: Monitor, start: datetime, current_hour: datetime) -> dict[str, tuple[list[int], list[int]]]:
    length = int((current_hour - start) / HOUR) + 1
    series: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([0] * length, [0] * length))
    rows = (
        TrendBucket.objects.for_org(monitor.organization_id)
        .filter(
            monitor=monitor,
            granularity=Granularity.HOUR,
            bucket_start__gte=start,
            bucket_start__lte=current_hour,
        )
        .values_list("topic", "sentiment", "bucket_start", "count")
    )
    for topic, sentiment, bucket_start, count in rows:
        negative, total = series[topic]
        index = int((bucket_start - start) / HOUR)
        total[index] += count
        if sentiment == Sentiment.NEGATIVE:
            negative[index] += count
    return series


def _topics(monitor: Monitor, seen: set[str]) -> list[str]:
    names = list(monitor.topic_names)
    return names + sorted(seen - set(names))


def _negative_documents(monitor: Monitor, topic: str, start: datetime, end: datetime, *, limit: int, newest: bool):
    documents = Document.objects.for_org(monitor.organization_id).filter(
        monitor=monitor,
        topic=topic,
        sentiment=Sentiment.NEGATIVE,
        status=DocumentStatus.SCORED,
        published_at__gte=start,
        published_at__lt=end,
    )
    order = ("-published_at", "-id") if newest else ("published_at", "id")
    return list(documents.order_by(*order).values("id", "text", "url", "published_at")[:limit])


def _explain(monitor: Monitor, topic: str, decision: Any, baseline_start: datetime, window_end: datetime):
    from ml.timeseries.terms import representative, rising_terms

    current = _negative_documents(
        monitor, topic, decision.window_start, window_end, limit=MAX_CURRENT_DOCUMENTS, newest=True
    )
    baseline = _negative_documents(
        monitor, topic, baseline_start, decision.window_start, limit=MAX_BASELINE_DOCUMENTS, newest=True
    )
    texts = [document["text"] for document in current]
    terms = [term.as_dict() for term in rising_terms(texts, [document["text"] for document in baseline], TERMS_TOP_K)]
    documents = [
        {
            "id": str(current[index]["id"]),
            "text": current[index]["text"][:EXCERPT_CHARS],
            "url": current[index]["url"],
            "published_at": current[index]["published_at"].isoformat(),
        }
        for index in representative(texts, k=REPRESENTATIVE_K)
    ]
    return terms, documents


def _summary(monitor: Monitor, topic: str, decision: Any, terms: list[dict], window_end: datetime) -> str:
    hours = decision.window_hours
    span = "the last hour" if hours == 1 else f"the last {hours} hours"
    rising = ", ".join(f"“{term['term']}”" for term in terms[:4])
    text = (
        f"Negative mentions of “{topic}” in {monitor.name} rose to {decision.current_negative} in {span} "
        f"({decision.window_start:%Y-%m-%d %H:%M}–{window_end:%H:%M} UTC), against {decision.expected_negative:.1f} "
        f"expected for those hours from the past {monitor.alert_baseline_days} days (on average "
        f"{decision.baseline_negative_per_hour:.1f} negative per hour). The negative share was "
        f"{decision.current_share:.0%} of {decision.current_total} documents, against "
        f"{decision.baseline_negative_share:.0%} usually. "
        f"Spike score z = {decision.score:.1f} (alert threshold {monitor.alert_sensitivity:g})."
    )
    if rising:
        text += f" Rising in the negative documents: {rising}."
    return text


def _webhook_data(alert: SpikeAlert) -> dict[str, Any]:
    return {
        "object": "spike_alert",
        "id": str(alert.id),
        "monitor_id": str(alert.monitor_id),
        "topic": alert.topic,
        "window_start": alert.window_start.isoformat(),
        "window_end": alert.window_end.isoformat(),
        "current_negative": alert.current_negative,
        "current_total": alert.current_total,
        "baseline_negative_per_hour": alert.baseline_negative_per_hour,
        "baseline_negative_share": alert.baseline_negative_share,
        "score": alert.score,
        "terms": alert.terms,
        "documents": alert.documents,
        "summary": alert.summary,
    }


def _notify(monitor: Monitor, alert: SpikeAlert) -> None:
    """Webhook event in this transaction (deliveries queue on commit); email after the commit."""
    from apps.accounts.selectors import membership_list
    from apps.webhooks.events import EventType
    from apps.webhooks.services import webhook_event_emit

    organization = monitor.organization
    webhook_event_emit(
        organization=organization, event_type=EventType.SENTIMENT_SPIKE_DETECTED, data=_webhook_data(alert)
    )
    recipients = [
        membership.user.email
        for membership in membership_list(organization=organization)
        if membership.role in ("owner", "admin") and membership.user.is_active
    ]
    if not recipients:
        return
    subject = f"[Tessera] {organization.name}: negative spike in “{alert.topic}” ({monitor.name})"
    message = render_to_string(
        "emails/sentiment_alert.txt",
        {"organization": organization, "monitor": monitor, "alert": alert, "site_url": settings.SITE_URL},
    )

    def send() -> None:
        try:
            send_mail(subject=subject, message=message, from_email=None, recipient_list=recipients)
        except Exception:
            # The alert is in the inbox and the webhook queued; a mail outage must not fail the check.
            logger.exception("sentiment.alert_email_failed", extra={"alert_id": str(alert.id)})

    transaction.on_commit(send)


def spike_check(*, monitor: Monitor, now: datetime | None = None) -> list[SpikeAlert]:
    """Test every topic of the monitor for a negative spike ending at the current hour.

    Returns the alerts created (usually none). Safe to call after every scored batch:
    the cooldown, the row lock and the unique constraint keep one spike to one alert.
    """
    from ml.timeseries.spikes import HourlySeries, detect

    now = now or timezone.now()
    current_hour = _hour_floor(now)
    window_end = current_hour + HOUR
    config = monitor_spike_config(monitor)
    start = current_hour - (config.history_hours - 1) * HOUR
    baseline_start = start
    created: list[SpikeAlert] = []
    with tenant_context(monitor.organization_id):
        # Serialises concurrent checks of one monitor (two batches scored at once).
        monitor = Monitor.objects.for_org(monitor.organization_id).select_for_update().get(id=monitor.id)
        if not monitor.is_active:
            return []
        counts = _hourly_counts(monitor, start, current_hour)
        last_alerted = dict(
            SpikeAlert.objects.for_org(monitor.organization_id)
            .filter(monitor=monitor)
            .values("topic")
            .annotate(last=Max("window_end"))
            .values_list("topic", "last")
        )
        cooldown = max(config.cooldown_hours, 1) * HOUR
        for topic in _topics(monitor, set(counts)):
            if topic not in counts:
                continue
            not_before = None
            if topic in last_alerted:
                # The hour an alert fired is window_end - 1h; its cooldown runs from there.
                not_before = last_alerted[topic] - HOUR + cooldown
                if current_hour < not_before:
                    continue
            negative, total = counts[topic]
            decision = detect(HourlySeries(start=start, negative=negative, total=total), config, not_before=not_before)
            if decision is None:
                continue
            alert = _alert_create(monitor, topic, decision, baseline_start, window_end)
            if alert is not None:
                created.append(alert)
    return created


def _alert_create(
    monitor: Monitor, topic: str, decision: Any, baseline_start: datetime, window_end: datetime
) -> SpikeAlert | None:
    terms, documents = _explain(monitor, topic, decision, baseline_start, window_end)
    try:
        with transaction.atomic():
            alert = SpikeAlert.objects.create(
                organization_id=monitor.organization_id,
                monitor=monitor,
                topic=topic,
                window_start=decision.window_start,
                window_end=window_end,
                current_negative=decision.current_negative,
                current_total=decision.current_total,
                baseline_negative_per_hour=decision.baseline_negative_per_hour,
                baseline_negative_share=decision.baseline_negative_share,
                score=decision.score,
                terms=terms,
                documents=documents,
                summary=_summary(monitor, topic, decision, terms, window_end),
            )
            _notify(monitor, alert)
    except IntegrityError:
        # Another check recorded this window first.
        return None
    logger.info(
        "sentiment.spike_alert_created",
        extra={
            "organization_id": monitor.organization_id,
            "monitor_id": str(monitor.id),
            "alert_id": str(alert.id),
            "topic": topic,
            "score": decision.score,
        },
    )
    return alert


# --- inbox -----------------------------------------------------------------------------


def spike_alert_list(*, organization: Any, monitor: Monitor, status: str | None = None) -> QuerySet[SpikeAlert]:
    alerts = SpikeAlert.objects.for_org(organization).filter(monitor=monitor)
    if status:
        alerts = alerts.filter(status=status)
    return alerts.order_by("-window_start", "-id")


def spike_alert_get(*, organization: Any, monitor: Monitor, alert_id: Any) -> SpikeAlert:
    """Raises SpikeAlert.DoesNotExist for a missing id and for another organization's alert."""
    return SpikeAlert.objects.for_org(organization).get(monitor=monitor, id=alert_id)


def _alert_for_update(organization: Any, alert_id: Any, monitor: Monitor | None) -> SpikeAlert:
    alerts = SpikeAlert.objects.for_org(organization).select_for_update()
    if monitor is not None:
        alerts = alerts.filter(monitor=monitor)
    return alerts.get(id=alert_id)


@transaction.atomic
def spike_alert_acknowledge(
    *, organization: Any, alert_id: Any, actor: Actor, monitor: Monitor | None = None
) -> SpikeAlert:
    """Someone is looking at it. Acknowledging twice is a no-op; a resolved alert stays resolved."""
    alert = _alert_for_update(organization, alert_id, monitor)
    if alert.status == AlertStatus.RESOLVED:
        raise ServiceError("This alert is already resolved.", code="alert_resolved", status=409)
    if alert.status == AlertStatus.ACKNOWLEDGED:
        return alert
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at = timezone.now()
    alert.changed_by_label = actor.label[:255]
    alert.save(update_fields=["status", "acknowledged_at", "changed_by_label", "updated_at"])
    audit_record(
        organization=organization,
        actor=actor,
        action="spike_alert.acknowledged",
        target=alert,
        metadata={"monitor_id": str(alert.monitor_id), "topic": alert.topic},
    )
    return alert


@transaction.atomic
def spike_alert_resolve(
    *, organization: Any, alert_id: Any, actor: Actor, monitor: Monitor | None = None
) -> SpikeAlert:
    """Closes the alert (from open or acknowledged). Resolving twice is a no-op."""
    alert = _alert_for_update(organization, alert_id, monitor)
    if alert.status == AlertStatus.RESOLVED:
        return alert
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at = timezone.now()
    alert.changed_by_label = actor.label[:255]
    alert.save(update_fields=["status", "resolved_at", "changed_by_label", "updated_at"])
    audit_record(
        organization=organization,
        actor=actor,
        action="spike_alert.resolved",
        target=alert,
        metadata={"monitor_id": str(alert.monitor_id), "topic": alert.topic},
    )
    return alert
