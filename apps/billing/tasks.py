import logging
from datetime import timedelta

from django.utils import timezone

from apps.accounts.models import Organization
from apps.billing import services
from apps.billing.models import StripeEvent, StripeEventStatus
from apps.billing.selectors import billing_is_configured
from apps.billing.stripe_client import PaymentProviderError
from apps.core.queues import Queue
from apps.core.taskbase import delay_quietly, system_task, tenant_task

logger = logging.getLogger(__name__)


@system_task(queue=Queue.BILLING, acks_late=True)
def stripe_event_process(stripe_event_id: str) -> str:
    return services.stripe_event_process(stripe_event_id=stripe_event_id)


@system_task(queue=Queue.BILLING)
def stripe_events_retry() -> int:
    """Events still `received` after five minutes lost their message; failed ones get another try."""
    cutoff = timezone.now() - timedelta(minutes=5)
    ids = list(
        StripeEvent.objects.filter(
            status__in=[StripeEventStatus.RECEIVED, StripeEventStatus.FAILED], updated_at__lt=cutoff, attempts__lt=5
        ).values_list("id", flat=True)[:200]
    )
    for event_id in ids:
        services.stripe_event_process(stripe_event_id=str(event_id))
    return len(ids)


# The per-organization tasks own their transactions (each export row commits as soon as
# Stripe accepts its event), so they are system tasks taking the organization id.
@system_task(queue=Queue.BILLING, acks_late=True)
def meter_events_export(organization_id: int) -> int:
    return services.meter_events_export(organization=Organization.objects.get(id=organization_id))


@system_task(queue=Queue.BILLING)
def meter_events_export_all() -> int:
    """Fan out one export task per organization with a Stripe customer (each has its own time limit)."""
    if not billing_is_configured():
        return 0
    organization_ids = services.billing_accounts_with_customer()
    for organization_id in organization_ids:
        delay_quietly(meter_events_export, organization_id, event="billing.meter_export_unsent")
    return len(organization_ids)


@tenant_task(
    queue=Queue.BILLING, acks_late=True, autoretry_for=(PaymentProviderError,), max_retries=3, retry_backoff=True
)
def billing_reconcile(organization_id: int) -> bool:
    changes = services.billing_reconcile(organization=Organization.objects.get(id=organization_id))
    return bool(changes)


@system_task(queue=Queue.BILLING)
def billing_reconcile_all() -> int:
    if not billing_is_configured():
        return 0
    organization_ids = services.billing_accounts_with_customer()
    for organization_id in organization_ids:
        delay_quietly(billing_reconcile, organization_id, event="billing.reconcile_unsent")
    return len(organization_ids)


@system_task(queue=Queue.METERING)
def usage_gauges_snapshot_all() -> int:
    """Daily: every organization's seats and storage level (gauges recorded only on change otherwise)."""
    today = timezone.now().date()
    organization_ids = list(Organization.objects.filter(suspended_at__isnull=True).values_list("id", flat=True))
    for organization_id in organization_ids:
        services.usage_gauges_snapshot(organization=Organization.objects.get(id=organization_id), day=today)
    return len(organization_ids)


@tenant_task(
    queue=Queue.BILLING, acks_late=True, autoretry_for=(PaymentProviderError,), max_retries=8, retry_backoff=True
)
def credit_apply_in_stripe(organization_id: int, credit_id: str) -> str:
    return services.credit_apply_in_stripe(
        organization=Organization.objects.get(id=organization_id), credit_id=credit_id
    )
