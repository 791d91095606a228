"""Shared fixtures. Tests run against real PostgreSQL and Redis.

Database roles, as in production: the suite connects as DATABASE_URL's (super)user only
to create the test database and run migrations; every test then runs as the application
role, which is subject to row-level security.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connections

from apps.core.tenancy import tenant_context
from tests.dbsetup import create_database_as_app_role
from tests.factories.accounts import MembershipFactory, OrganizationFactory, UserFactory
from tests.factories.api_keys import make_api_key

# The local Stripe API (localstripe plus fixture objects) for the billing tests.
pytest_plugins = ["tests.stripe_fixtures"]

# Playwright's sync API runs an event loop in the main thread; Django's async-safety
# check would then refuse ORM calls made by the test itself.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker):
    with django_db_blocker.unblock():
        create_database_as_app_role(connections["default"].settings_dict["TEST"]["NAME"])


@pytest.fixture(autouse=True)
def _artifact_root(settings, tmp_path):
    """Datasets and model artifacts go to this test's own folder, never the repository's var/."""
    settings.ARTIFACT_STORAGE = "filesystem"
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.ARTIFACT_CACHE_DIR = tmp_path / "artifact-cache"


@pytest.fixture(autouse=True)
def _fresh_plan_limits():
    """Each test reads plan limits from the database or the (flushed) shared cache, not an earlier test's."""
    from apps.billing.selectors import organization_limits_forget_all_local

    organization_limits_forget_all_local()


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty Redis database (rate limits, broker queues)."""
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Acme Bank")


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Lear Credit Union")


@pytest.fixture
def owner(org):
    return MembershipFactory(organization=org, role="owner").user


@pytest.fixture
def other_owner(other_org):
    return MembershipFactory(organization=other_org, role="owner").user


@pytest.fixture
def member(org):
    return MembershipFactory(organization=org, role="member").user


@pytest.fixture
def viewer(org):
    return MembershipFactory(organization=org, role="viewer").user


@pytest.fixture
def staff_user(db):
    return UserFactory(email="operator@tessera.example", is_staff=True, is_superuser=True)


class KeyedClient:
    """A DRF test client that sends an organization API key."""

    def __init__(self, organization, scopes=("admin",)):
        from rest_framework.test import APIClient

        self.organization = organization
        self.api_key, self.secret = make_api_key(organization, scopes=list(scopes))
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.secret}")

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.fixture
def api_client(org, owner):
    return KeyedClient(org)


@pytest.fixture
def other_api_client(other_org, other_owner):
    return KeyedClient(other_org)


@pytest.fixture
def keyed_client():
    return KeyedClient


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def other_owner_client(other_owner):
    from django.test import Client

    other = Client()
    other.force_login(other_owner)
    return other


@pytest.fixture
def staff_client(staff_user):
    from django.test import Client

    staff = Client()
    staff.force_login(staff_user)
    return staff


@pytest.fixture
def in_org():
    """`with in_org(org): ...` reads inside one organization's context."""
    return lambda organization: tenant_context(organization.id)
