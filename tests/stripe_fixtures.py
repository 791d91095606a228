"""pytest fixtures for the local Stripe API (see tests/stripe_server.py). A plugin module:
register it with `pytest_plugins = ["tests.stripe_fixtures"]` in tests/conftest.py.
"""

from __future__ import annotations

import pytest

from tests.stripe_server import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET, StripeBackend, WebhookListener


@pytest.fixture(scope="session")
def stripe_backend():
    """localstripe plus the front, started once per session.

    `.api_base`, `.requests` (RecordedRequest log), `.reset()` (empty the log), `.flush()`
    (forget every object), `.fixture(resource)`, `.objects(resource)` (what the front created),
    `.client()` (a StripeClient aimed at it), `.register_webhook(url)`, `.localstripe`.
    """
    backend = StripeBackend().start()
    yield backend
    backend.stop()


@pytest.fixture
def stripe_settings(settings, stripe_backend):
    """Django settings aimed at the local Stripe API; the request log starts empty."""
    settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
    settings.STRIPE_API_BASE = stripe_backend.api_base
    settings.STRIPE_WEBHOOK_SECRET = TEST_WEBHOOK_SECRET
    stripe_backend.reset()
    return settings


@pytest.fixture
def stripe_webhook_listener(stripe_backend):
    """A 127.0.0.1 endpoint that receives localstripe's events, signed with STRIPE_WEBHOOK_SECRET's value.

    localstripe sends every event to every registration, including events of objects created
    by earlier tests: pick deliveries with `wait_for(event_type, object_id)`.
    """
    listener = WebhookListener().start()
    webhook_id = stripe_backend.register_webhook(listener.url, TEST_WEBHOOK_SECRET)
    yield listener
    stripe_backend.localstripe.unregister_webhook(webhook_id, listener.url, TEST_WEBHOOK_SECRET)
    listener.stop()
