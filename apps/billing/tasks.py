import logging
from datetime import timedelta

from django.utils import timezone

from apps.accounts.models import Organization
from apps.billing import services
from apps.billing.models import StripeEvent, StripeEventStatus
from apps.billing.stripe_client import PaymentProviderError
from apps.core.queues import Queue
from apps.core.taskbase import system_task, tenant_task
from apps.core.tenancy import tenant_context

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


@tenant_task(queue=Queue.BILLING, acks_late=True)
def meter_events_export(organization_id: int) -> int:
    return services.meter_events_export(organization=Organization.objects.get(id=organization_id))


@system_task(queue=Queue.BILLING)
def meter_events_export_all() -> int:
    total = 0
    for organization_id in services.billing_accounts_with_customer():
        try:
            with tenant_context(organization_id):
                total += services.meter_events_export(organization=Organization.objects.get(id=organization_id))
        except PaymentProviderError:
            # The next run resends from where this one stopped.
            logger.warning("billing.meter_export_failed", extra={"organization_id": organization_id})
    return total


@system_task(queue=Queue.BILLING)
def billing_reconcile_all() -> int:
    repaired = 0
    for organization_id in services.billing_accounts_with_customer():
        try:
            with tenant_context(organization_id):
                changes = services.billing_reconcile(organization=Organization.objects.get(id=organization_id))
        except PaymentProviderError:
            logger.warning("billing.reconcile_failed", extra={"organization_id": organization_id})
            continue
        repaired += bool(changes)
    return repaired


@tenant_task(
    queue=Queue.BILLING, acks_late=True, autoretry_for=(PaymentProviderError,), max_retries=8, retry_backoff=True
)
def credit_apply_in_stripe(organization_id: int, credit_id: str) -> str:
    return services.credit_apply_in_stripe(
        organization=Organization.objects.get(id=organization_id), credit_id=credit_id
    )
