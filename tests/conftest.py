"""Shared fixtures. Tests run against real PostgreSQL and Redis.

Database roles, as in production: the suite connects as DATABASE_URL's (super)user only
to create the test database and run migrations; every test then runs as the application
role, which is subject to row-level security.
"""

from __future__ import annotations

import os

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from apps.core.tenancy import tenant_context
from tests.factories.accounts import MembershipFactory, OrganizationFactory, UserFactory
from tests.factories.api_keys import make_api_key

# Playwright's sync API runs an event loop in the main thread; Django's async-safety
# check would then refuse ORM calls made by the test itself.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

APP_ROLE_PASSWORD = "tessera-test-app"


def _admin_conninfo(settings_dict: dict, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(
        host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"] or None,
        dbname=dbname,
    )


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker):
    default = connections["default"]
    settings_dict = default.settings_dict
    test_name = settings_dict["TEST"]["NAME"]
    app_role = settings.DATABASE_APP_ROLE
    with django_db_blocker.unblock():
        with psycopg.connect(_admin_conninfo(settings_dict, "postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{test_name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{test_name}"')
            exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [app_role]).fetchone()
            verb = "ALTER" if exists else "CREATE"
            admin.execute(
                f"{verb} ROLE \"{app_role}\" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB PASSWORD '{APP_ROLE_PASSWORD}'"
            )
        default.close()
        settings_dict["NAME"] = test_name
        call_command("migrate", interactive=False, verbosity=0)
        with default.cursor() as cursor:
            # Test-only: transactional tests empty the tables between tests with TRUNCATE.
            cursor.execute(f'GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO "{app_role}"')
        default.close()
        settings_dict["USER"] = app_role
        settings_dict["PASSWORD"] = APP_ROLE_PASSWORD


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
