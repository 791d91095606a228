"""Staff-only billing writes: overrides are validated, credits reach Stripe after commit."""

import pytest

from apps.audit.models import AuditEntry
from apps.billing import services
from apps.billing.models import BillingAccount, Credit, Plan
from apps.billing.selectors import organization_limits
from apps.core.actors import Actor
from apps.core.errors import ServiceError
from apps.core.tenancy import tenant_context

pytestmark = pytest.mark.django_db

STAFF = Actor(via="console", role="staff")


@pytest.mark.parametrize(
    "overrides",
    [
        {"included": {"api_predictions": "lots"}},
        {"included": {"tokens": "5"}},
        {"included": {"api_predictions": "-1"}},
        {"included": {"api_predictions": "NaN"}},
        {"max_seats": "ten"},
        {"max_seats": True},
        {"api_rate_limit_per_minute": -5},
        {"allows_gpu_training": "yes"},
        {"products": ["crypto"]},
        {"colour": "blue"},
    ],
)
def test_bad_overrides_are_refused_and_nothing_changes(org, overrides):
    with tenant_context(org.id):
        before = organization_limits(organization=org)
        with pytest.raises(ServiceError) as refused:
            services.overrides_set(organization=org, overrides=overrides, actor=STAFF)
        after = organization_limits(organization=org)
        stored = BillingAccount.objects.filter(overrides__isnull=False).exclude(overrides={}).count()

    assert refused.value.code == "invalid_overrides"
    assert after == before
    assert stored == 0


def test_good_overrides_apply_at_once(org):
    with tenant_context(org.id):
        organization_limits(organization=org)  # cached
        services.overrides_set(
            organization=org,
            overrides={"included": {"api_predictions": 2500}, "max_seats": 12, "allows_gpu_training": True},
            actor=STAFF,
        )
        limits = organization_limits(organization=org)

    assert (limits.included("api_predictions"), limits.max_seats, limits.allows_gpu_training) == (2500, 12, True)


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_only_staff_change_plans_overrides_and_credits(org, role):
    actor = Actor(via="api", role=role)
    with tenant_context(org.id):
        with pytest.raises(ServiceError) as plan:
            services.plan_assign(organization=org, plan=Plan.objects.get(code="pro"), actor=actor)
        with pytest.raises(ServiceError) as credit:
            services.credit_grant(organization=org, amount_cents=500, reason="x", actor=actor)
        credits = Credit.objects.count()

    assert (plan.value.status, credit.value.status, credits) == (403, 403, 0)
    assert organization_limits(organization=org).plan_code == "free"


def test_a_credit_reaches_the_stripe_balance_after_commit_once(
    org, stripe_settings, stripe_backend, django_capture_on_commit_callbacks
):
    stripe_settings.STRIPE_MAX_NETWORK_RETRIES = 0
    customer = stripe_backend.client().v1.customers.create(params={"email": "credit@acme.example"})
    with tenant_context(org.id):
        account = services.billing_account_ensure(organization=org)
        BillingAccount.objects.filter(id=account.id).update(stripe_customer_id=customer.id)
        with django_capture_on_commit_callbacks() as callbacks:
            credit = services.credit_grant(organization=org, amount_cents=2500, reason="Outage", actor=STAFF)
        sent_before_commit = [r for r in stripe_backend.requests if "balance_transactions" in r.path]
        transaction_id = services.credit_apply_in_stripe(organization=org, credit_id=str(credit.id))
        applied = AuditEntry.objects.get(action="billing.credit_applied_in_stripe")

    [balance] = [
        txn for txn in stripe_backend.objects("customer_balance_transaction") if txn["customer"] == customer.id
    ]
    request = next(r for r in stripe_backend.requests if "balance_transactions" in r.path)
    assert len(callbacks) == 1 and sent_before_commit == []
    assert (balance["id"], balance["amount"], balance["currency"]) == (transaction_id, -2500, "usd")
    assert request.headers["idempotency-key"] == f"tessera-credit-{credit.id}"
    assert applied.metadata == {"stripe_transaction": transaction_id}


def test_the_daily_snapshot_records_seats_and_storage_once_a_day(org, owner, member):
    from datetime import date

    from apps.billing.selectors import period_bounds
    from apps.metering.models import UsageEvent
    from apps.metering.selectors import usage_counter_value
    from tests.factories.datasets import make_dataset_version

    version = make_dataset_version(org)
    day = date(2026, 11, 29)

    services.usage_gauges_snapshot(organization=org, day=day)
    services.usage_gauges_snapshot(organization=org, day=day)

    with tenant_context(org.id):
        start = period_bounds()[0]
        seats = usage_counter_value(organization=org, meter="seats", period_start=start)
        storage = usage_counter_value(organization=org, meter="storage_mb", period_start=start)
        snapshots = UsageEvent.objects.filter(idempotency_key__contains=":daily:").count()
    assert seats == 2
    assert float(storage) == pytest.approx(version.size_bytes / (1024 * 1024), abs=1e-6)
    assert snapshots == 2


def test_periodic_stripe_tasks_do_nothing_without_stripe_keys(org):
    from apps.billing import tasks

    assert tasks.meter_events_export_all() == 0
    assert tasks.billing_reconcile_all() == 0


def test_limits_read_outside_the_tenant_context_never_stick(org):
    from apps.billing.selectors import organization_limits_forget
    from tests.factories.billing import put_on_plan

    put_on_plan(org, "pro")
    organization_limits_forget(organization=org)

    outside = organization_limits(organization=org).plan_code  # row-level security hides the account
    with tenant_context(org.id):
        inside = organization_limits(organization=org).plan_code

    assert (outside, inside) == ("free", "pro")
