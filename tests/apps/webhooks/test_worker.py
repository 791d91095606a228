"""Retries through a real Celery worker process on the webhooks queue, over Redis."""

import pytest

from apps.core.tenancy import tenant_context
from apps.webhooks.models import WebhookDelivery, WebhookDeliveryAttempt
from tests.factories.accounts import OrganizationFactory
from tests.factories.webhooks import emit, make_endpoint
from tests.workers import WorkerProcess, purge_broker, wait_for

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def webhook_worker():
    purge_broker()
    worker = WorkerProcess(
        queues="webhooks", name="webhook-worker", env={"WEBHOOK_RETRY_BASE_SECONDS": "1", "WEBHOOK_MAX_ATTEMPTS": "8"}
    ).start()
    yield worker
    worker.stop()


def test_a_delivery_that_fails_twice_then_succeeds_is_retried_by_the_worker(webhook_worker, receiver):
    org = OrganizationFactory(name="Retry Bank")
    receiver.answer((500, b"down"), (500, b"still down"), (200, b"thanks"))
    make_endpoint(org, url=receiver.url)

    event = emit(org, data={"training_job": {"id": "job_42"}})

    def delivery():
        with tenant_context(org.id):
            return WebhookDelivery.objects.for_org(org).get(event=event)

    assert wait_for(lambda: delivery().status == "succeeded", timeout=60), webhook_worker.output
    final = delivery()
    with tenant_context(org.id):
        attempts = list(
            WebhookDeliveryAttempt.objects.for_org(org)
            .filter(delivery=final)
            .order_by("number")
            .values_list("number", "response_status", "response_body")
        )
    assert (final.attempt_count, final.last_response_status) == (3, 200)
    assert attempts == [(1, 500, "down"), (2, 500, "still down"), (3, 200, "thanks")]
    assert len(receiver.requests) == 3
    assert {request.headers["Tessera-Event-Id"] for request in receiver.requests} == {event.public_id}
    assert [request.headers["Tessera-Attempt"] for request in receiver.requests] == ["1", "2", "3"]
    assert len({request.body for request in receiver.requests}) == 1
