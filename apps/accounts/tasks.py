from smtplib import SMTPException

from apps.accounts import services
from apps.accounts.models import Organization
from apps.core.queues import Queue
from apps.core.taskbase import tenant_task


@tenant_task(
    queue=Queue.DEFAULT,
    acks_late=True,
    autoretry_for=(SMTPException, ConnectionError),
    max_retries=5,
    retry_backoff=True,
)
def invitation_send(organization_id: int, invitation_id: str) -> bool:
    organization = Organization.objects.get(id=organization_id)
    return services.invitation_send(organization=organization, invitation_id=invitation_id)
