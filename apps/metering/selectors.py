"""Reads of usage: counters for quotas, SQL roll-ups per meter and day, projections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from apps.metering.models import GAUGE_METERS, Meter, UsageAlert, UsageCounter, UsageEvent

if TYPE_CHECKING:
    from apps.billing.selectors import OrganizationLimits

_ZERO = Decimal(0)


def usage_counter_value(*, organization: Any, meter: str, period_start: datetime) -> Decimal:
    """The period's running total of one meter (0 before the first event)."""
    # One indexed row on the path of every metered request: plain SQL, no queryset building.
    organization_id = int(getattr(organization, "pk", organization))
    period = UsageCounter._meta.get_field("period_start").get_db_prep_value(period_start, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "quantity" FROM "{UsageCounter._meta.db_table}" '
            'WHERE "organization_id" = %s AND "meter" = %s AND "period_start" = %s',
            [organization_id, meter, period],
        )
        row = cursor.fetchone()
    return Decimal(str(row[0])) if row is not None else _ZERO


def usage_totals(*, organization: Any, start: datetime, end: datetime, from_events: bool = False) -> dict[str, Decimal]:
    """Total per meter in [start, end). Gauges report their latest snapshot in the window.

    Reads the period counters when `start` is a period start and `from_events` is False
    (one row per meter); otherwise aggregates the events (GROUP BY meter).
    """
    if not from_events:
        rows = UsageCounter.objects.for_org(organization).filter(period_start=start)
        return {row.meter: Decimal(row.quantity) for row in rows}
    events = UsageEvent.objects.for_org(organization).filter(occurred_at__gte=start, occurred_at__lt=end)
    totals = {
        row["meter"]: Decimal(row["total"])
        for row in events.exclude(meter__in=GAUGE_METERS).values("meter").annotate(total=Sum("quantity"))
    }
    for meter in GAUGE_METERS:
        latest = events.filter(meter=meter).order_by("-occurred_at").values_list("quantity", flat=True).first()
        if latest is not None:
            totals[meter] = Decimal(latest)
    return totals


def overage_cents(
    *, organization: Any, limits: OrganizationLimits, period_start: datetime, extra: dict[str, Decimal] | None = None
) -> Decimal:
    """Overage charges so far this period in cents (plus `extra` units not yet recorded)."""
    totals = usage_totals(organization=organization, start=period_start, end=period_start)
    for meter, quantity in (extra or {}).items():
        totals[meter] = totals.get(meter, _ZERO) + Decimal(quantity)
    cost = _ZERO
    for meter, used in totals.items():
        limit = limits.meters.get(meter)
        if limit is not None and used > limit.included:
            cost += (used - limit.included) * limit.overage_unit_price_cents
    return cost


@dataclass(frozen=True)
class DailyUsage:
    day: date
    meter: str
    quantity: Decimal


def usage_daily(
    *, organization: Any, start: datetime, end: datetime, meters: list[str] | None = None
) -> list[DailyUsage]:
    """Usage per meter and UTC day in [start, end): counters summed by SQL (GROUP BY meter, day),
    gauges as the day's last snapshot."""
    events = UsageEvent.objects.for_org(organization).filter(occurred_at__gte=start, occurred_at__lt=end)
    if meters:
        events = events.filter(meter__in=meters)
    rows = (
        events.exclude(meter__in=GAUGE_METERS)
        .annotate(day=TruncDay("occurred_at"))
        .values("meter", "day")
        .annotate(total=Sum("quantity"))
    )
    result = {}
    for row in rows:
        day = row["day"].date() if isinstance(row["day"], datetime) else row["day"]
        result[(day, row["meter"])] = Decimal(row["total"])
    gauges = (
        events.filter(meter__in=GAUGE_METERS).order_by("occurred_at").values_list("meter", "occurred_at", "quantity")
    )
    for meter, occurred_at, quantity in gauges:
        result[(occurred_at.astimezone(UTC).date(), meter)] = Decimal(quantity)
    return [DailyUsage(day=day, meter=meter, quantity=quantity) for (day, meter), quantity in sorted(result.items())]


@dataclass(frozen=True)
class MeterSummary:
    meter: str
    label: str
    used: Decimal
    included: Decimal | None
    projected: Decimal
    overage_unit_price_cents: Decimal

    @property
    def percent_used(self) -> float | None:
        if not self.included:
            return None
        return float(self.used / self.included * 100)

    @property
    def projected_overage_cents(self) -> Decimal:
        if self.included is None or self.projected <= self.included:
            return _ZERO
        return (self.projected - self.included) * self.overage_unit_price_cents


def usage_projection(
    *, used: Decimal, period_start: datetime, period_end: datetime, now: datetime | None = None, gauge: bool = False
) -> Decimal:
    """Straight-line projection to the end of the period from the rate so far.

    At least one hour of the period is assumed to have passed, so the first minutes of a
    month do not project a burst into millions.
    """
    if gauge:
        return used
    now = min(now or timezone.now(), period_end)
    elapsed = max((now - period_start).total_seconds(), 3600.0)
    total = (period_end - period_start).total_seconds()
    return (used * Decimal(total) / Decimal(elapsed)).quantize(Decimal("0.01"))


def usage_summary(
    *,
    organization: Any,
    limits: OrganizationLimits,
    period_start: datetime,
    period_end: datetime,
    now: datetime | None = None,
) -> list[MeterSummary]:
    """Every meter's use this period against the allowance, with a projection to the period end."""
    totals = usage_totals(organization=organization, start=period_start, end=period_end)
    summaries = []
    for meter in Meter:
        used = totals.get(meter.value, _ZERO)
        limit = limits.meters.get(meter.value)
        summaries.append(
            MeterSummary(
                meter=meter.value,
                label=meter.label,
                used=used,
                included=limit.included if limit else None,
                projected=usage_projection(
                    used=used,
                    period_start=period_start,
                    period_end=period_end,
                    now=now,
                    gauge=meter.value in GAUGE_METERS,
                ),
                overage_unit_price_cents=limit.overage_unit_price_cents if limit else _ZERO,
            )
        )
    return summaries


def usage_alert_list(
    *, organization: Any, period_start: datetime | None = None, active_only: bool = False
) -> list[UsageAlert]:
    alerts = UsageAlert.objects.for_org(organization)
    if period_start is not None:
        alerts = alerts.filter(period_start=period_start)
    if active_only:
        alerts = alerts.filter(dismissed_at__isnull=True)
    return list(alerts.order_by("-created_at"))


def period_days(start: datetime, end: datetime) -> list[date]:
    days, day = [], start.date()
    while day < end.date():
        days.append(day)
        day += timedelta(days=1)
    return days
