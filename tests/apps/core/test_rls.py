"""Row-level security, checked with raw SQL under the application's own database role."""

import pytest
from django.db import connection

from apps.core.rls import POLICY_NAME, tenant_models
from apps.core.tenancy import cross_tenant, tenant_context
from tests.factories.accounts import InvitationFactory, MembershipFactory
from tests.factories.api_keys import make_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_tenants(org, other_org, owner, other_owner):
    """Rows for both organizations in every tenant table."""
    for organization in (org, other_org):
        make_api_key(organization)  # also writes an audit entry
        InvitationFactory(organization=organization)
        MembershipFactory(organization=organization, role="viewer")
        with tenant_context(organization.id):
            from apps.core.models import IdempotencyKey

            IdempotencyKey.objects.create(
                organization=organization, key="k", request_fingerprint="f", method="POST", path="/api/v1/x"
            )
        _platform_rows(organization)
    return org, other_org


def _platform_rows(organization):
    """A row in each table of the training platform, datasets, webhooks, metering and sentiment."""
    from django.utils import timezone

    from apps.metering.services import usage_event_record
    from apps.training.models import Holdout
    from apps.webhooks.models import WebhookDelivery, WebhookDeliveryAttempt
    from tests.factories.datasets import make_dataset_version
    from tests.factories.training import make_job, make_version_row
    from tests.factories.webhooks import emit, make_endpoint

    job = make_job(organization, make_dataset_version(organization))  # also a job event
    make_version_row(organization, job)
    make_endpoint(organization)
    emit(organization)  # an event and a delivery
    with tenant_context(organization.id):
        Holdout.objects.create(organization=organization, name="support-intent", task="classification", examples=[])
        usage_event_record(organization=organization, meter="api_predictions", quantity=1, idempotency_key="k")
        _billing_rows(organization)
        _sentiment_rows(organization)
        delivery = WebhookDelivery.objects.get()
        WebhookDeliveryAttempt.objects.create(
            organization=organization, delivery=delivery, number=1, requested_at=timezone.now(), duration_ms=5
        )


def _sentiment_rows(organization):
    """A monitor, a document, its correction, a trend bucket, a spike alert, a feed and a re-score run."""
    from django.utils import timezone

    from apps.sentiment.models import Correction, Document, FeedSource, Monitor, RescoreRun, SpikeAlert, TrendBucket

    now = timezone.now()
    monitor = Monitor.objects.create(organization=organization, name="News", topics=[{"name": "fees"}])
    document = Document.objects.create(organization=organization, monitor=monitor, text="t", published_at=now)
    Correction.objects.create(organization=organization, document=document, field="topic", value="fees")
    TrendBucket.objects.create(
        organization=organization, monitor=monitor, topic="fees", sentiment="negative", granularity="hour",
        bucket_start=now, count=1,
    )  # fmt: skip
    SpikeAlert.objects.create(
        organization=organization, monitor=monitor, topic="fees", window_start=now, window_end=now,
        current_negative=5, current_total=6, baseline_negative_per_hour=0.5, baseline_negative_share=0.2, score=4.0,
        summary="spike",
    )  # fmt: skip
    FeedSource.objects.create(organization=organization, monitor=monitor, url="https://news.example/rss")
    RescoreRun.objects.create(
        organization=organization, monitor=monitor, field="sentiment", version_label="news-sentiment v1",
        since=now, started_at=now,
    )  # fmt: skip


def _billing_rows(organization):
    """A billing account, credit, invoice, usage counter, alert and meter export (the counter above)."""
    from decimal import Decimal

    from django.utils import timezone

    from apps.billing.models import Credit, Invoice
    from apps.billing.selectors import period_bounds
    from apps.billing.services import billing_account_ensure
    from apps.metering.models import MeterExport, UsageAlert, UsageEvent

    billing_account_ensure(organization=organization)
    Credit.objects.create(organization=organization, amount_cents=100, reason="goodwill", granted_by_label="staff")
    Invoice.objects.create(organization=organization, stripe_invoice_id="in_1", status="paid", currency="usd")
    UsageAlert.objects.create(
        organization=organization,
        meter="api_predictions",
        kind="allowance_80",
        period_start=period_bounds()[0],
        used=Decimal(800),
        limit=Decimal(1000),
    )
    MeterExport.objects.create(
        organization=organization,
        usage_event=UsageEvent.objects.get(idempotency_key="k"),
        identifier=f"i{timezone.now().timestamp()}",
        event_name="tessera_api_predictions",
    )


def _count(table, where=""):
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT organization_id FROM "{table}" {where}')
        return [row[0] for row in cursor.fetchall()]


def test_suite_runs_as_the_application_role_without_bypass():
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == ("tessera_app", False, False)


def test_every_tenant_table_has_rls_enabled_and_a_policy():
    tables = [model._meta.db_table for model in tenant_models()]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_policies p ON p.tablename = c.relname "
            "WHERE c.relrowsecurity AND p.policyname = %s",
            [POLICY_NAME],
        )
        protected = {row[0] for row in cursor.fetchall()}
    assert sorted(tables) == [
        "accounts_invitation",
        "accounts_membership",
        "api_keys_apikey",
        "audit_auditentry",
        "billing_billingaccount",
        "billing_credit",
        "billing_invoice",
        "core_idempotencykey",
        "datasets_dataset",
        "datasets_datasetversion",
        "metering_meterexport",
        "metering_usagealert",
        "metering_usagecounter",
        "metering_usageevent",
        "sentiment_correction",
        "sentiment_document",
        "sentiment_feedsource",
        "sentiment_monitor",
        "sentiment_rescorerun",
        "sentiment_spikealert",
        "sentiment_trendbucket",
        "training_holdout",
        "training_modelversion",
        "training_trainingjob",
        "training_trainingjobevent",
        "webhooks_webhookdelivery",
        "webhooks_webhookdeliveryattempt",
        "webhooks_webhookendpoint",
        "webhooks_webhookevent",
    ]
    assert protected >= set(tables)


@pytest.mark.parametrize("model", tenant_models(), ids=lambda m: m._meta.db_table)
def test_raw_select_without_tenant_context_returns_no_rows(two_tenants, model):
    assert _count(model._meta.db_table) == []


@pytest.mark.parametrize("model", tenant_models(), ids=lambda m: m._meta.db_table)
def test_raw_select_in_a_tenant_context_returns_only_that_tenants_rows(two_tenants, model):
    org, other_org = two_tenants
    with tenant_context(org.id):
        seen = _count(model._meta.db_table)
    assert seen
    assert set(seen) == {org.id}


@pytest.mark.parametrize("model", tenant_models(), ids=lambda m: m._meta.db_table)
def test_cross_tenant_path_sees_every_tenant(two_tenants, model):
    org, other_org = two_tenants
    with cross_tenant(reason="test"):
        seen = set(_count(model._meta.db_table))
    assert seen == {org.id, other_org.id}


def test_insert_for_another_tenant_is_refused_by_the_policy(org, other_org):
    with pytest.raises(Exception, match="row-level security"), tenant_context(org.id), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditentry (id, organization_id, action, via, actor_label, target_type, target_id, "
            "target_label, metadata, created_at, updated_at) "
            "VALUES (gen_random_uuid(), %s, 'x', 'system', 'x', '', '', '', '{}', now(), now())",
            [other_org.id],
        )


def test_a_forgotten_for_org_still_sees_only_the_current_tenant(two_tenants):
    from apps.api_keys.models import ApiKey

    org, other_org = two_tenants
    with tenant_context(other_org.id):
        organizations = set(ApiKey.objects.values_list("organization_id", flat=True))
    assert organizations == {other_org.id}


def test_the_application_role_cannot_turn_row_level_security_off():
    with pytest.raises(Exception, match="must be owner"), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE api_keys_apikey DISABLE ROW LEVEL SECURITY")


def test_memberships_are_visible_to_their_own_user_across_organizations(org, other_org):
    from apps.accounts.models import Membership
    from apps.core.tenancy import activate_user, request_scope

    person = MembershipFactory(organization=org, role="member").user
    MembershipFactory(organization=other_org, user=person, role="viewer")
    MembershipFactory(organization=other_org, role="owner")
    with tenant_context(org.id), request_scope():
        activate_user(person.id)
        mine = set(Membership.objects.values_list("organization_id", "user_id"))
        everyone_here = set(Membership.objects.values_list("organization_id", flat=True))
    assert {(org.id, person.id), (other_org.id, person.id)} <= mine
    assert everyone_here == {org.id, other_org.id}
    assert all(user_id == person.id for org_id, user_id in mine if org_id == other_org.id)


@pytest.mark.parametrize("statement", ["UPDATE audit_auditentry SET action = 'forged'", "DELETE FROM audit_auditentry"])
def test_the_audit_log_is_append_only_even_on_the_cross_tenant_path(two_tenants, statement):
    with pytest.raises(Exception, match="permission denied"), cross_tenant(reason="test"), connection.cursor() as c:
        c.execute(statement)
