import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories.api_keys import make_api_key


def console_url(name, *args):
    return reverse(f"console:{name}", args=args)


def api_get_organization(secret):
    """GET /api/v1/organization with an organization API key."""
    return APIClient().get("/api/v1/organization", HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def org_key(org, owner):
    """(api_key, secret) of `org`, made by the real service."""
    return make_api_key(org, name="Acme production")


@pytest.fixture
def other_org_key(other_org, other_owner):
    return make_api_key(other_org, name="Lear batch jobs")
