"""Recording usage: idempotency, exact totals under concurrency, the quota boundary, alerts, spend caps."""

import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, connections

from apps.billing.selectors import period_bounds
from apps.billing.services import spend_cap_set
from apps.core.actors import Actor
from apps.core.tenancy import tenant_context
from apps.metering.models import AlertKind, UsageAlert, UsageCounter, UsageEvent
from apps.metering.selectors import usage_counter_value, usage_daily, usage_totals
from apps.metering.services import (
    QuotaExceeded,
    SpendCapReached,
    quota_allows,
    quota_check,
    usage_alert_notify,
    usage_counters_rebuild,
    usage_event_record,
)
from apps.webhooks.models import WebhookEvent
from tests.factories.billing import put_on_plan, set_overrides

pytestmark = pytest.mark.django_db


def _record(org, quantity, key, meter="api_predictions", **options):
    with tenant_context(org.id):
        return usage_event_record(organization=org, meter=meter, quantity=quantity, idempotency_key=key, **options)


def _used(org, meter="api_predictions"):
    with tenant_context(org.id):
        return usage_counter_value(organization=org, meter=meter, period_start=period_bounds()[0])


def _events(org):
    with tenant_context(org.id):
        return UsageEvent.objects.count()


def test_a_retry_with_the_same_key_counts_once(org):
    first = _record(org, 3, "predict:req-1")
    retry = _record(org, 3, "predict:req-1")

    assert (first, retry) == (True, False)
    assert _used(org) == Decimal(3)
    assert _events(org) == 1


def test_the_same_key_in_another_organization_is_another_event(org, other_org):
    _record(org, 3, "predict:req-1")
    _record(other_org, 5, "predict:req-1")

    assert (_used(org), _used(other_org)) == (Decimal(3), Decimal(5))


def test_free_plan_stops_exactly_at_the_allowance(org):
    _record(org, 999, "a", enforce_quota=True)
    _record(org, 1, "b", enforce_quota=True)  # exactly 1,000: allowed

    with pytest.raises(QuotaExceeded) as refused:
        _record(org, 1, "c", enforce_quota=True)

    assert refused.value.status == 402 and refused.value.code == "quota_exceeded"
    assert refused.value.details == {
        "meter": "api_predictions",
        "limit": "1000",
        "used": "1000",
        "requested": "1",
        "resets_at": period_bounds()[1].isoformat(),
    }
    assert _used(org) == Decimal(1000)
    assert _events(org) == 2


def test_quota_check_refuses_before_the_work_and_quota_allows_says_so(org):
    _record(org, 990, "a")

    with tenant_context(org.id):
        fits = quota_allows(organization=org, meter="api_predictions", quantity=10)
        does_not_fit = quota_allows(organization=org, meter="api_predictions", quantity=11)
        with pytest.raises(QuotaExceeded):
            quota_check(organization=org, meter="api_predictions", quantity=11)

    assert (fits, does_not_fit) == (True, False)


def test_a_paid_plan_continues_into_overage(org):
    put_on_plan(org, "starter")

    _record(org, 50_000, "a", enforce_quota=True)
    _record(org, 10, "b", enforce_quota=True)

    assert _used(org) == Decimal(50_010)


def test_a_paid_plan_stops_at_the_owners_spend_cap(org):
    put_on_plan(org, "starter")  # 50,000 included, then 0.1 cent each
    with tenant_context(org.id):
        spend_cap_set(organization=org, actor=Actor(via="dashboard", role="owner"), spend_cap_cents=100)
    _record(org, 51_000, "a", enforce_quota=True)  # 1,000 over = 100 cents: at the cap

    with pytest.raises(SpendCapReached) as refused:
        _record(org, 1, "b", enforce_quota=True)

    assert refused.value.code == "spend_cap_reached"
    assert refused.value.details["spend_cap_cents"] == 100
    assert _used(org) == Decimal(51_000)
    with tenant_context(org.id):
        assert list(UsageAlert.objects.filter(kind=AlertKind.SPEND_CAP).values_list("used", "limit")) == [
            (Decimal(100), Decimal(100))
        ]


def test_only_owners_set_the_spend_cap(org):
    with pytest.raises(Exception, match="Only owners") as refused, tenant_context(org.id):
        spend_cap_set(organization=org, actor=Actor(via="dashboard", role="admin"), spend_cap_cents=100)

    assert refused.value.status == 403


def test_staff_overrides_replace_the_plans_allowance(org):
    set_overrides(org, included={"api_predictions": "5"})

    _record(org, 5, "a", enforce_quota=True)
    with pytest.raises(QuotaExceeded):
        _record(org, 1, "b", enforce_quota=True)


def test_alerts_at_80_and_100_percent_are_raised_once_per_period(org):
    _record(org, 799, "a")
    _record(org, 1, "b")  # 800: 80%
    _record(org, 100, "c")
    _record(org, 100, "d")  # 1,000: 100%
    _record(org, 0, "e")

    with tenant_context(org.id):
        alerts = sorted(UsageAlert.objects.values_list("meter", "kind", "used", "limit"))
    assert alerts == [
        ("api_predictions", "allowance_100", Decimal(1000), Decimal(1000)),
        ("api_predictions", "allowance_80", Decimal(800), Decimal(1000)),
    ]


def test_an_alert_emails_owners_and_admins_and_emits_a_webhook_once(org, owner, member):
    from tests.factories.webhooks import make_endpoint

    make_endpoint(org, event_types=["usage.threshold_reached"])
    _record(org, 800, "a")
    with tenant_context(org.id):
        alert = UsageAlert.objects.get()
        first = usage_alert_notify(organization=org, alert_id=str(alert.id))
        again = usage_alert_notify(organization=org, alert_id=str(alert.id))
        events = [(event.type, event.payload["data"]) for event in WebhookEvent.objects.all()]

    assert (first, again) == (True, False)
    assert [message.to for message in mail.outbox] == [[owner.email]]
    assert (
        mail.outbox[0].subject == "[Tessera] Acme Bank: API predictions: 80% of this month's allowance of 1,000 used."
    )
    assert events[0][0] == "usage.threshold_reached"
    assert events[0][1]["kind"] == "allowance_80" and events[0][1]["used"] == "800"


def test_gauges_keep_the_latest_level(org):
    _record(org, 120, "storage:1", meter="storage_mb")
    _record(org, 80, "storage:2", meter="storage_mb")

    assert _used(org, "storage_mb") == Decimal(80)


def test_daily_rollup_groups_by_meter_and_day(org):
    from datetime import timedelta

    start, end = period_bounds()
    with tenant_context(org.id):
        for day, quantity in ((0, 2), (0, 3), (1, 7)):
            usage_event_record(
                organization=org,
                meter="api_predictions",
                quantity=quantity,
                idempotency_key=f"k{day}{quantity}",
                occurred_at=start + timedelta(days=day, hours=5),
            )
        usage_event_record(
            organization=org,
            meter="documents_processed",
            quantity=4,
            idempotency_key="d",
            occurred_at=start + timedelta(hours=1),
        )
        rows = [(row.day, row.meter, row.quantity) for row in usage_daily(organization=org, start=start, end=end)]

    assert rows == [
        (start.date(), "api_predictions", Decimal(5)),
        (start.date(), "documents_processed", Decimal(4)),
        ((start + timedelta(days=1)).date(), "api_predictions", Decimal(7)),
    ]


def test_a_gauge_reports_the_days_last_level_not_a_sum(org):
    from datetime import timedelta

    start, end = period_bounds()
    with tenant_context(org.id):
        for hour, level in ((1, 40), (5, 90), (30, 70)):
            usage_event_record(
                organization=org,
                meter="storage_mb",
                quantity=level,
                idempotency_key=f"s{hour}",
                occurred_at=start + timedelta(hours=hour),
            )
        rows = [(row.day, row.quantity) for row in usage_daily(organization=org, start=start, end=end)]

    assert rows == [(start.date(), Decimal(90)), ((start + timedelta(days=1)).date(), Decimal(70))]


def test_counters_rebuilt_from_events_match_the_running_totals(org):
    for number in range(5):
        _record(org, number + 1, f"k{number}")
    _record(org, 9, "s", meter="storage_mb")
    start = period_bounds()[0]
    with tenant_context(org.id):
        before = usage_totals(organization=org, start=start, end=start)
        UsageCounter.objects.update(quantity=0)
        rebuilt = usage_counters_rebuild(organization=org, period_start=start)

    assert rebuilt == before == {"api_predictions": Decimal(15), "storage_mb": Decimal(9)}


def _in_threads(count, work):
    errors = []

    def run(number):
        try:
            work(number)
        except Exception as error:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_eight_threads_making_500_metered_calls_each_record_exactly_4000_units(org):
    put_on_plan(org, "pro")

    def work(number):
        for call in range(500):
            _record(org, 1, f"t{number}:{call}", enforce_quota=True)

    errors = _in_threads(8, work)

    with tenant_context(org.id):
        total = sum(UsageEvent.objects.values_list("quantity", flat=True))
    assert errors == []
    assert _used(org) == Decimal(4000)
    assert total == Decimal(4000)
    assert _events(org) == 4000


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_at_the_boundary_never_pass_the_allowance(org):
    _record(org, 995, "base")
    outcomes = []

    def work(number):
        try:
            _record(org, 1, f"edge:{number}", enforce_quota=True)
            outcomes.append("recorded")
        except QuotaExceeded:
            outcomes.append("refused")

    errors = _in_threads(8, work)

    assert errors == []
    assert sorted(outcomes) == ["recorded"] * 5 + ["refused"] * 3
    assert _used(org) == Decimal(1000)
    assert connection.vendor == "postgresql"
