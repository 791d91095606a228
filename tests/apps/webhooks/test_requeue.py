"""Deliveries whose message was lost are sent again by the periodic sweep."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.tenancy import tenant_context
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import webhook_deliveries_requeue_overdue
from tests.factories.webhooks import emit, make_endpoint

pytestmark = pytest.mark.django_db


def test_only_long_overdue_open_deliveries_are_requeued(org, other_org, django_capture_on_commit_callbacks):
    for organization in (org, other_org):
        make_endpoint(organization)
        emit(organization)
    with tenant_context(org.id):
        WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(hours=1))
    with tenant_context(other_org.id):
        # Due a minute ago: its message may simply be waiting in the queue.
        WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=1))

    with django_capture_on_commit_callbacks() as callbacks:
        requeued = webhook_deliveries_requeue_overdue()

    assert requeued == 1
    assert len(callbacks) == 1
