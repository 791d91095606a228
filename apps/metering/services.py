"""Recording usage and enforcing quotas. Called inside the transaction of the action it measures.

Two statements per recorded event, whatever the database: the event insert (a duplicate
idempotency key inserts nothing and counts nothing) and one upsert of the period's
counter (`quantity = quantity + n`, never read-modify-write). On a plan with hard limits
the upsert is conditional, so the allowance holds exactly even under concurrent requests:
PostgreSQL re-checks the condition on the locked row. See docs/billing.md.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from apps.billing.selectors import OrganizationLimits, organization_limits, period_bounds
from apps.core.errors import ServiceError
from apps.core.taskbase import delay_quietly
from apps.metering.models import GAUGE_METERS, AlertKind, Meter, UsageAlert, UsageCounter, UsageEvent
from apps.metering.selectors import overage_cents, usage_counter_value, usage_totals

logger = logging.getLogger(__name__)

_QUANTUM = Decimal("0.000001")
ALERT_THRESHOLDS = ((Decimal("0.8"), AlertKind.ALLOWANCE_80), (Decimal("1"), AlertKind.ALLOWANCE_100))


class QuotaExceeded(ServiceError):
    """HTTP 402 `quota_exceeded`: a plan with hard limits reached one meter's allowance."""

    def __init__(self, *, meter: str, limit: Decimal, used: Decimal, requested: Decimal, resets_at: datetime) -> None:
        label = Meter(meter).label
        if meter in GAUGE_METERS:
            # A level (storage) does not reset with the month: something has to go, or the plan up.
            message = (
                f"Your plan includes {_number(limit)} {label}; {_number(used)} are in use and this needs "
                f"{_number(requested)} more. Upgrade the plan, or ask Tessera staff for more storage."
            )
        else:
            message = (
                f"Your plan's monthly allowance of {_number(limit)} {label} is reached: {_number(used)} used, "
                f"{_number(requested)} more requested. It resets on {resets_at:%Y-%m-%d %H:%M} UTC; "
                "upgrade your plan to continue now."
            )
        super().__init__(
            message,
            code="quota_exceeded",
            status=402,
            details={
                "meter": meter,
                "limit": _number(limit),
                "used": _number(used),
                "requested": _number(requested),
                "resets_at": resets_at.isoformat(),
            },
        )


class SpendCapReached(ServiceError):
    """HTTP 402 `spend_cap_reached`: overage charges would pass the owner's spend cap."""

    def __init__(self, *, meter: str, cap_cents: int, overage_cents: Decimal, resets_at: datetime) -> None:
        super().__init__(
            f"This would take overage charges to {_money(overage_cents)}, past your spend cap of "
            f"{_money(Decimal(cap_cents))}. Raise the cap in Usage & billing, or wait until "
            f"{resets_at:%Y-%m-%d %H:%M} UTC.",
            code="spend_cap_reached",
            status=402,
            details={
                "meter": meter,
                "spend_cap_cents": cap_cents,
                "overage_cents": _number(overage_cents),
                "resets_at": resets_at.isoformat(),
            },
        )


def _number(value: Decimal) -> str:
    value = Decimal(value).normalize()
    return f"{value:f}"


def _money(cents: Decimal) -> str:
    return f"${(Decimal(cents) / 100).quantize(Decimal('0.01'))}"


def _organization_id(organization: Any) -> int:
    return int(getattr(organization, "pk", organization))


def quota_check(*, organization: Any, meter: str, quantity: int | float | Decimal) -> None:
    """Refuse up front an action that would go over the allowance or the spend cap.

    Cheap (one indexed read of the period's counter): call it before expensive work so
    the client gets its 402 before, not after, the model runs. `usage_event_record(...,
    enforce_quota=True)` re-checks atomically when the usage is recorded.
    """
    limits = organization_limits(organization=organization)
    included = limits.included(meter)
    if included is None or meter in GAUGE_METERS:
        return
    quantity = Decimal(str(quantity))
    start, end = period_bounds()
    used = usage_counter_value(organization=organization, meter=meter, period_start=start)
    if limits.has_hard_limits:
        if used + quantity > included:
            _refuse_over_allowance(_organization_id(organization), meter, included, quantity, start, end, used=used)
        return
    if limits.spend_cap_cents is not None and used + quantity > included:
        projected = overage_cents(organization=organization, limits=limits, period_start=start, extra={meter: quantity})
        if projected > limits.spend_cap_cents:
            usage_alert_raise_detached(
                organization_id=_organization_id(organization),
                meter="",
                kind=AlertKind.SPEND_CAP,
                period_start=start,
                used=projected,
                limit=Decimal(limits.spend_cap_cents),
            )
            raise SpendCapReached(meter=meter, cap_cents=limits.spend_cap_cents, overage_cents=projected, resets_at=end)


def gauge_check(*, organization: Any, meter: str, level: Decimal) -> None:
    """Refuse raising a gauge (storage) above a hard-limit plan's allowance; the level is the new total."""
    limits = organization_limits(organization=organization)
    included = limits.included(meter)
    if included is None or not limits.has_hard_limits or level <= included:
        return
    start, end = period_bounds()
    used = usage_counter_value(organization=organization, meter=meter, period_start=start)
    raise QuotaExceeded(meter=meter, limit=included, used=used, requested=max(level - used, Decimal(0)), resets_at=end)


def quota_allows(*, organization: Any, meter: str, quantity: int | float | Decimal) -> bool:
    """True when `quantity` more of `meter` fits now. Ingestion uses it to defer, not drop, work."""
    try:
        quota_check(organization=organization, meter=meter, quantity=quantity)
    except (QuotaExceeded, SpendCapReached):
        return False
    return True


def _prep(model: type, name: str, value: Any) -> Any:
    return model._meta.get_field(name).get_db_prep_save(value, connection)


@dataclass(frozen=True)
class _Record:
    """One usage event to write, and where its counter goes."""

    organization_id: int
    meter: str
    quantity: Decimal
    idempotency_key: str
    occurred_at: datetime
    metadata: dict[str, Any]
    period_start: datetime
    # Hard-limit allowance the counter may not pass; None: no limit applies.
    ceiling: Decimal | None

    def event_params(self) -> list[Any]:
        now = timezone.now()
        values = [
            uuid.uuid4(),
            now,
            now,
            self.organization_id,
            self.meter,
            self.quantity,
            self.occurred_at,
            self.idempotency_key,
            self.metadata,
        ]
        fields = [
            "id",
            "created_at",
            "updated_at",
            "organization",
            "meter",
            "quantity",
            "occurred_at",
            "idempotency_key",
            "metadata",
        ]
        return [_prep(UsageEvent, field, value) for field, value in zip(fields, values, strict=True)]

    def counter_params(self) -> list[Any]:
        now = timezone.now()
        return [
            _prep(UsageCounter, "id", uuid.uuid4()),
            _prep(UsageCounter, "created_at", now),
            _prep(UsageCounter, "updated_at", now),
            self.organization_id,
            self.meter,
            _prep(UsageCounter, "period_start", self.period_start),
        ]

    def counter_conflict_sql(self) -> str:
        """ON CONFLICT clause of the counter upsert: add (set, for a gauge), within the ceiling."""
        table = UsageCounter._meta.db_table
        added = 'EXCLUDED."quantity"' if self.meter in GAUGE_METERS else f'"{table}"."quantity" + EXCLUDED."quantity"'
        sql = (
            f'ON CONFLICT ("organization_id", "meter", "period_start") DO UPDATE SET "quantity" = {added}, '
            '"updated_at" = EXCLUDED."updated_at"'
        )
        if self.ceiling is not None:
            # CAST: SQLite binds Decimals as text, and text compares greater than any number.
            sql += f' WHERE "{table}"."quantity" + EXCLUDED."quantity" <= CAST(%s AS NUMERIC)'
        return sql

    def ceiling_params(self) -> list[Any]:
        return [] if self.ceiling is None else [_prep(UsageCounter, "quantity", self.ceiling)]


_EVENT_COLUMNS = (
    '"id", "created_at", "updated_at", "organization_id", "meter", "quantity", "occurred_at", "idempotency_key", '
    '"metadata"'
)
_COUNTER_COLUMNS = '"id", "created_at", "updated_at", "organization_id", "meter", "period_start", "quantity"'


def _record_in_one_statement(record: _Record) -> tuple[bool, Decimal | None]:
    """PostgreSQL: the event insert and the counter upsert in one round trip (data-modifying CTEs).

    Returns (inserted, new total); (True, None) means the event was new but the counter
    refused it (over the ceiling), and the caller rolls back.
    """
    events, counters = UsageEvent._meta.db_table, UsageCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'WITH event AS (INSERT INTO "{events}" ({_EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) '
            'ON CONFLICT ("organization_id", "idempotency_key") DO NOTHING RETURNING "quantity"), '
            f'counter AS (INSERT INTO "{counters}" ({_COUNTER_COLUMNS}) '
            f'SELECT %s, %s, %s, %s, %s, %s, event."quantity" FROM event {record.counter_conflict_sql()} '
            'RETURNING "quantity") '
            "SELECT (SELECT count(*) FROM event), (SELECT quantity FROM counter)",
            record.event_params() + record.counter_params() + record.ceiling_params(),
        )
        inserted, total = cursor.fetchone()
    return bool(inserted), (None if total is None else Decimal(total))


def _record_in_two_statements(record: _Record) -> tuple[bool, Decimal | None]:
    """SQLite (the embedded default) has no INSERT inside WITH: the same in two statements."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{UsageEvent._meta.db_table}" ({_EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) '
            'ON CONFLICT ("organization_id", "idempotency_key") DO NOTHING RETURNING "id"',
            record.event_params(),
        )
        if cursor.fetchone() is None:
            return False, None
        cursor.execute(
            f'INSERT INTO "{UsageCounter._meta.db_table}" ({_COUNTER_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) '
            f'{record.counter_conflict_sql()} RETURNING "quantity"',
            record.counter_params() + [_prep(UsageCounter, "quantity", record.quantity)] + record.ceiling_params(),
        )
        row = cursor.fetchone()
    return True, (None if row is None else Decimal(str(row[0])))


def _refuse_over_allowance(
    organization_id: int,
    meter: str,
    included: Decimal,
    quantity: Decimal,
    period_start: datetime,
    period_end: datetime,
    used: Decimal | None = None,
) -> None:
    """Raise QuotaExceeded, and the 100% alert on its own (the refusal rolls this transaction back)."""
    if used is None:
        used = usage_counter_value(organization=organization_id, meter=meter, period_start=period_start)
    usage_alert_raise_detached(
        organization_id=organization_id,
        meter=meter,
        kind=AlertKind.ALLOWANCE_100,
        period_start=period_start,
        used=used,
        limit=included,
    )
    raise QuotaExceeded(meter=meter, limit=included, used=used, requested=quantity, resets_at=period_end)


def usage_event_record(
    *,
    organization: Any,
    meter: str,
    quantity: int | float | Decimal,
    idempotency_key: str,
    occurred_at: datetime | None = None,
    metadata: dict[str, Any] | None = None,
    enforce_quota: bool = False,
) -> bool:
    """Append one usage event and add it to the period's counter, in the caller's transaction.

    A second call with the same `idempotency_key` in the same organization changes
    nothing and returns False, so retries count once. With `enforce_quota`, a plan with
    hard limits raises `QuotaExceeded` instead of going over its allowance, and a paid
    plan raises `SpendCapReached` past the owner's cap; the caller's transaction then
    rolls back (it cannot carry on: there is no savepoint), so the action and its usage
    are refused together. Crossing 80% or 100%
    of an allowance raises a once-per-period alert after commit.

    Example:
        usage_event_record(organization=org, meter=Meter.API_PREDICTIONS, quantity=3,
                           idempotency_key="predict:...", enforce_quota=True)
    """
    if meter not in Meter.values:
        raise ValueError(f"Unknown meter {meter!r}.")
    quantity = Decimal(str(quantity)).quantize(_QUANTUM)
    if quantity < 0:
        raise ValueError("Usage quantities are never negative.")
    organization_id = _organization_id(organization)
    occurred_at = occurred_at or timezone.now()
    limits = organization_limits(organization=organization_id)
    period_start, period_end = period_bounds(occurred_at)
    included = limits.included(meter)
    ceiling = included if (enforce_quota and limits.has_hard_limits and meter not in GAUGE_METERS) else None
    if ceiling is not None and quantity > ceiling:
        _refuse_over_allowance(organization_id, meter, included, quantity, period_start, period_end)
    write = _record_in_one_statement if connection.vendor == "postgresql" else _record_in_two_statements
    # No savepoint (its two round trips were a third of a record's cost): a refusal raised
    # here rolls back the caller's whole transaction, which is what refusing an action
    # means. A caller that wants to carry on after a refusal asks `quota_allows` first.
    with transaction.atomic(savepoint=False):
        inserted, total = write(
            _Record(
                organization_id=organization_id,
                meter=meter,
                quantity=quantity,
                idempotency_key=idempotency_key,
                occurred_at=occurred_at,
                metadata=metadata or {},
                period_start=period_start,
                ceiling=ceiling,
            )
        )
        if not inserted:
            return False
        if total is None:
            _refuse_over_allowance(organization_id, meter, included, quantity, period_start, period_end)
        _after_record(
            organization_id=organization_id,
            limits=limits,
            meter=meter,
            quantity=quantity,
            total=total,
            period_start=period_start,
            period_end=period_end,
            enforce_quota=enforce_quota,
        )
    return True


def _after_record(
    *,
    organization_id: int,
    limits: OrganizationLimits,
    meter: str,
    quantity: Decimal,
    total: Decimal,
    period_start: datetime,
    period_end: datetime,
    enforce_quota: bool,
) -> None:
    included = limits.included(meter)
    if included is None or included <= 0 or meter in GAUGE_METERS:
        return
    before = total - quantity
    for share, kind in ALERT_THRESHOLDS:
        threshold = included * share
        if before < threshold <= total:
            usage_alert_raise(
                organization_id=organization_id,
                meter=meter,
                kind=kind,
                period_start=period_start,
                used=total,
                limit=included,
            )
    if limits.has_hard_limits or limits.spend_cap_cents is None or total <= included:
        return
    spent = overage_cents(organization=organization_id, limits=limits, period_start=period_start)
    if spent < limits.spend_cap_cents:
        return
    cap = Decimal(limits.spend_cap_cents)
    if enforce_quota and spent > cap:
        # The refusal rolls this transaction back, so the alert is recorded on its own.
        usage_alert_raise_detached(
            organization_id=organization_id,
            meter="",
            kind=AlertKind.SPEND_CAP,
            period_start=period_start,
            used=spent,
            limit=cap,
        )
        raise SpendCapReached(meter=meter, cap_cents=limits.spend_cap_cents, overage_cents=spent, resets_at=period_end)
    usage_alert_raise(
        organization_id=organization_id,
        meter="",
        kind=AlertKind.SPEND_CAP,
        period_start=period_start,
        used=spent,
        limit=cap,
    )


def usage_alert_raise(
    *, organization_id: int, meter: str, kind: str, period_start: datetime, used: Decimal, limit: Decimal
) -> UsageAlert | None:
    """Record a threshold crossing once per period and notify after commit; None if already raised."""
    with transaction.atomic():
        alert, created = UsageAlert.objects.get_or_create(
            organization_id=organization_id,
            meter=meter,
            kind=kind,
            period_start=period_start,
            defaults={"used": used, "limit": limit},
        )
    if not created:
        return None
    logger.info("metering.alert_raised", extra={"organization_id": organization_id, "meter": meter, "kind": kind})
    from apps.metering.tasks import usage_alert_notify as usage_alert_notify_task

    transaction.on_commit(
        lambda: delay_quietly(usage_alert_notify_task, organization_id, str(alert.id), event="metering.notify_unsent")
    )
    return alert


def usage_alert_raise_detached(
    *, organization_id: int, meter: str, kind: str, period_start: datetime, used: Decimal, limit: Decimal
) -> None:
    """Raise an alert from a request that is being refused (and so rolled back).

    The alert is written by a task in its own transaction. A cache key sends the task at
    most once an hour per alert, so a client hammering a 402 does not flood the queue.
    """
    guard = f"metering:alert-sent:{organization_id}:{meter}:{kind}:{period_start:%Y%m}"
    if not cache.add(guard, 1, timeout=3600):
        return
    from apps.metering.tasks import usage_alert_raise as usage_alert_raise_task

    delay_quietly(
        usage_alert_raise_task,
        organization_id,
        meter,
        kind,
        period_start.isoformat(),
        str(used),
        str(limit),
        event="metering.alert_unsent",
    )


def usage_counters_rebuild(*, organization: Any, period_start: datetime) -> dict[str, Decimal]:
    """Recompute one period's counters from the events (repair; the events are the truth)."""
    organization_id = _organization_id(organization)
    totals = usage_totals(
        organization=organization_id, start=period_start, end=period_bounds(period_start)[1], from_events=True
    )
    with transaction.atomic():
        for meter, quantity in totals.items():
            UsageCounter.objects.for_org(organization_id).update_or_create(
                organization_id=organization_id,
                meter=meter,
                period_start=period_start,
                defaults={"quantity": quantity},
            )
    return totals


def usage_alert_notify(*, organization: Any, alert_id: str) -> bool:
    """Email the owners and admins and emit the webhook event, once per alert."""
    from apps.accounts.models import Organization
    from apps.accounts.selectors import membership_list
    from apps.webhooks.events import EventType
    from apps.webhooks.services import webhook_event_emit

    with transaction.atomic():
        alert = UsageAlert.objects.for_org(organization).select_for_update().filter(id=alert_id).first()
        if alert is None or alert.notified_at is not None:
            return False
        organization = Organization.objects.get(id=_organization_id(organization))
        recipients = [
            membership.user.email
            for membership in membership_list(organization=organization)
            if membership.role in ("owner", "admin") and membership.user.is_active
        ]
        if recipients:
            send_mail(
                subject=f"[Tessera] {organization.name}: {alert.headline}",
                message=render_to_string(
                    "emails/usage_alert.txt",
                    {"organization": organization, "alert": alert, "site_url": settings.SITE_URL},
                ),
                from_email=None,
                recipient_list=recipients,
            )
        event_type = (
            EventType.SPEND_CAP_REACHED if alert.kind == AlertKind.SPEND_CAP else EventType.USAGE_THRESHOLD_REACHED
        )
        webhook_event_emit(
            organization=organization,
            event_type=event_type,
            data={
                "object": "usage_alert",
                "id": str(alert.id),
                "kind": alert.kind,
                "meter": alert.meter or None,
                "used": _number(alert.used),
                "limit": _number(alert.limit),
                "period_start": alert.period_start.isoformat(),
                "message": alert.headline,
            },
        )
        alert.notified_at = timezone.now()
        alert.save(update_fields=["notified_at", "updated_at"])
    logger.info("metering.alert_notified", extra={"organization_id": organization.id, "alert_id": alert_id})
    return True


def usage_alert_dismiss(*, organization: Any, alert_id: str) -> None:
    UsageAlert.objects.for_org(organization).filter(id=alert_id, dismissed_at__isnull=True).update(
        dismissed_at=timezone.now()
    )


def usage_alerts_notify_overdue() -> int:
    """Alerts whose notify message was lost (broker down at commit) are notified now."""
    from apps.core.tenancy import cross_tenant, tenant_context

    cutoff = timezone.now() - timedelta(minutes=5)
    with cross_tenant(reason="metering.alerts_notify_overdue"):
        pending = list(
            UsageAlert.all_orgs.filter(notified_at__isnull=True, created_at__lt=cutoff).values_list(
                "organization_id", "id"
            )[:200]
        )
    for organization_id, alert_id in pending:
        with tenant_context(organization_id):
            usage_alert_notify(organization=organization_id, alert_id=str(alert_id))
    return len(pending)
