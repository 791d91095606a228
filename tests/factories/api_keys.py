from apps.accounts.models import Role
from apps.api_keys.services import api_key_create
from apps.core.actors import Actor
from apps.core.tenancy import tenant_context


def make_api_key(organization, *, scopes=("admin",), name="Test key", expires_at=None):
    """A real key made by the real service, as an owner would make it."""
    with tenant_context(organization.id):
        return api_key_create(
            organization=organization,
            actor=Actor(via="system", role=Role.OWNER),
            name=name,
            scopes=list(scopes),
            expires_at=expires_at,
        )
