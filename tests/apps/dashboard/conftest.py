import pytest
from django.test import Client

from apps.accounts.models import Membership
from apps.core.tenancy import tenant_context
from tests.factories.accounts import MembershipFactory


@pytest.fixture
def admin(org):
    return MembershipFactory(organization=org, role="admin").user


@pytest.fixture
def client_for():
    """`client_for(user)`: a Django test client signed in as that user."""

    def make(user):
        signed_in = Client()
        signed_in.force_login(user)
        return signed_in

    return make


@pytest.fixture
def membership_of():
    """`membership_of(org, user)`: the user's membership row, read inside the org's context."""

    def read(organization, user):
        with tenant_context(organization.id):
            return Membership.objects.for_org(organization).filter(user=user).first()

    return read


@pytest.fixture
def celery_eager(settings):
    """Run Celery tasks inline, through the Django setting the Celery app reads live."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


# Chromium through Playwright, for the browser tests in this folder.
from tests.apps.dashboard.browser import browser_context, screenshot_dir  # noqa: E402, F401
