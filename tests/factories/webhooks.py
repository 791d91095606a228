from apps.accounts.models import Role
from apps.core.actors import Actor
from apps.core.tenancy import tenant_context
from apps.webhooks.events import EventType
from apps.webhooks.services import webhook_endpoint_create, webhook_event_emit


def make_endpoint(organization, *, url="https://hooks.example.com/tessera", event_types=None, description=""):
    """A real endpoint made by the real service, as an owner would make it."""
    with tenant_context(organization.id):
        return webhook_endpoint_create(
            organization=organization,
            actor=Actor(via="system", role=Role.OWNER),
            url=url,
            event_types=list(event_types or [EventType.TRAINING_JOB_SUCCEEDED]),
            description=description,
        )


def emit(organization, *, event_type=EventType.TRAINING_JOB_SUCCEEDED, data=None):
    with tenant_context(organization.id):
        return webhook_event_emit(organization=organization, event_type=event_type, data=data or {"job": "j1"})
