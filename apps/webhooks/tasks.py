from apps.accounts.models import Organization
from apps.core.queues import Queue
from apps.core.taskbase import system_task, tenant_task
from apps.webhooks import services


# Retries are scheduled by the service (a new message with a countdown, after the attempt is
# committed), not by Celery's retry: the schedule and the attempt log live on the row.
@tenant_task(queue=Queue.WEBHOOKS, acks_late=True)
def webhook_delivery_attempt(organization_id: int, delivery_id: str) -> None:
    organization = Organization.objects.get(id=organization_id)
    services.webhook_delivery_attempt(organization=organization, delivery_id=delivery_id)


@system_task(queue=Queue.WEBHOOKS)
def webhook_deliveries_requeue_overdue() -> int:
    return services.webhook_deliveries_requeue_overdue()
