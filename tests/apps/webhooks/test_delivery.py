import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.webhooks import services
from apps.webhooks.events import API_VERSION, EventType
from apps.webhooks.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from apps.webhooks.tasks import webhook_delivery_attempt
from tests.factories.webhooks import emit, make_endpoint

pytestmark = pytest.mark.django_db


def _deliveries(org, in_org):
    with in_org(org):
        return list(WebhookDelivery.objects.for_org(org).select_related("event").order_by("created_at"))


def _attempts(org, in_org, delivery):
    with in_org(org):
        return list(
            WebhookDeliveryAttempt.objects.for_org(org)
            .filter(delivery_id=delivery.id)
            .order_by("number")
            .values_list("number", "response_status", "error")
        )


def _reload(org, in_org, delivery):
    with in_org(org):
        return WebhookDelivery.objects.for_org(org).get(id=delivery.id)


def _make_due(org, in_org, delivery):
    with in_org(org):
        WebhookDelivery.objects.for_org(org).filter(id=delivery.id).update(next_attempt_at=timezone.now())


def test_emit_stores_one_event_and_a_delivery_per_active_subscribed_endpoint(org, other_org, in_org):
    subscribed = make_endpoint(org, event_types=["training_job.succeeded", "training_job.failed"])
    make_endpoint(org, event_types=["training_job.failed"])
    disabled = make_endpoint(org, event_types=["training_job.succeeded"])
    make_endpoint(other_org, event_types=["training_job.succeeded"])
    with in_org(org):
        WebhookEndpoint.objects.for_org(org).filter(id=disabled.id).update(is_active=False)

    with in_org(org), pytest.MonkeyPatch.context() as patch:
        scheduled = []
        patch.setattr(transaction, "on_commit", lambda callback, **kwargs: scheduled.append(callback))
        event = services.webhook_event_emit(
            organization=org, event_type=EventType.TRAINING_JOB_SUCCEEDED, data={"training_job": {"id": "j1"}}
        )

    [delivery] = _deliveries(org, in_org)
    assert delivery.endpoint_id == subscribed.id and delivery.status == "pending"
    assert len(scheduled) == 1
    assert event.payload == {
        "id": event.public_id,
        "type": "training_job.succeeded",
        "created": event.payload["created"],
        "api_version": API_VERSION,
        "data": {"training_job": {"id": "j1"}},
    }
    assert event.public_id.startswith("evt_") and len(event.public_id) == 36
    assert _deliveries(other_org, in_org) == []


def test_emit_schedules_the_delivery_task_on_commit(org, in_org, django_capture_on_commit_callbacks, monkeypatch):
    endpoint = make_endpoint(org)
    sent = []
    monkeypatch.setattr(webhook_delivery_attempt, "apply_async", lambda args, **kwargs: sent.append((args, kwargs)))

    with django_capture_on_commit_callbacks(execute=True):
        emit(org)

    [delivery] = _deliveries(org, in_org)
    assert sent == [((org.id, str(delivery.id)), {"countdown": None})]
    assert delivery.endpoint_id == endpoint.id


def test_an_emit_that_rolls_back_sends_nothing(org, in_org, django_capture_on_commit_callbacks, monkeypatch):
    make_endpoint(org)
    sent = []
    monkeypatch.setattr(webhook_delivery_attempt, "apply_async", lambda *args, **kwargs: sent.append(args))

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), in_org(org):  # noqa: PT012
        services.webhook_event_emit(organization=org, event_type="training_job.succeeded", data={})
        raise RuntimeError("the training job update failed")

    assert sent == []
    assert _deliveries(org, in_org) == []


def test_emit_refuses_an_unknown_event_type(org, in_org):
    with in_org(org), pytest.raises(ValueError, match="Unknown webhook event type"):
        services.webhook_event_emit(organization=org, event_type="training_job.exploded", data={})


def test_a_2xx_succeeds_with_the_documented_headers_and_body(org, in_org, receiver):
    make_endpoint(org, url=receiver.url)
    receiver.answer((204, b""))
    event = emit(org, data={"training_job": {"id": "j1"}})
    [delivery] = _deliveries(org, in_org)

    webhook_delivery_attempt(org.id, str(delivery.id))

    [request] = receiver.requests
    delivery = _reload(org, in_org, delivery)
    assert request.path == "/hooks/tessera"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "Tessera-Webhooks/1.0"
    assert request.headers["Tessera-Event-Id"] == event.public_id
    assert request.headers["Tessera-Event-Type"] == "training_job.succeeded"
    assert request.headers["Tessera-Delivery-Id"] == str(delivery.id)
    assert request.headers["Tessera-Attempt"] == "1"
    assert json.loads(request.body) == event.payload
    assert (delivery.status, delivery.attempt_count, delivery.last_response_status) == ("succeeded", 1, 204)
    assert delivery.delivered_at is not None and delivery.next_attempt_at is None
    assert _attempts(org, in_org, delivery) == [(1, 204, "")]


def test_a_failure_is_logged_and_retried_later_with_backoff(org, in_org, receiver, settings, monkeypatch):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    make_endpoint(org, url=receiver.url)
    receiver.answer((500, b'{"error": "database down"}'))
    emit(org)
    [delivery] = _deliveries(org, in_org)
    scheduled = []
    monkeypatch.setattr(services, "_schedule", lambda delivery, countdown=None: scheduled.append(countdown))

    before = timezone.now()
    webhook_delivery_attempt(org.id, str(delivery.id))

    delivery = _reload(org, in_org, delivery)
    assert (delivery.status, delivery.attempt_count, delivery.last_response_status) == ("retrying", 1, 500)
    assert delivery.last_error == "HTTP 500"
    assert 30 <= scheduled[0] <= 33
    assert before + timedelta(seconds=30) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=33)
    with in_org(org):
        attempt = WebhookDeliveryAttempt.objects.for_org(org).get(delivery=delivery)
    assert (attempt.number, attempt.response_status, attempt.response_body) == (1, 500, '{"error": "database down"}')


@pytest.mark.parametrize(("jitter", "expected"), [(0.0, [30, 60, 120, 3600, 3600]), (1.0, [33, 66, 132, 3960, 3960])])
def test_backoff_doubles_is_capped_at_an_hour_and_adds_up_to_10_percent_jitter(settings, monkeypatch, jitter, expected):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    monkeypatch.setattr(services.random, "uniform", lambda low, high: low + (high - low) * jitter)

    delays = [services.webhook_retry_delay(n) for n in (1, 2, 3, 8, 20)]

    assert delays == pytest.approx(expected)


def test_after_max_attempts_the_delivery_is_exhausted(org, in_org, receiver, settings, monkeypatch):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    make_endpoint(org, url=receiver.url)
    receiver.answer((503, b"busy"))
    emit(org)
    [delivery] = _deliveries(org, in_org)
    monkeypatch.setattr(services, "_schedule", lambda delivery, countdown=None: None)

    for _ in range(3):
        _make_due(org, in_org, delivery)
        webhook_delivery_attempt(org.id, str(delivery.id))
    webhook_delivery_attempt(org.id, str(delivery.id))

    delivery = _reload(org, in_org, delivery)
    assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at) == ("exhausted", 3, None)
    assert _attempts(org, in_org, delivery) == [(1, 503, ""), (2, 503, ""), (3, 503, "")]
    assert [r.headers["Tessera-Attempt"] for r in receiver.requests] == ["1", "2", "3"]


def test_a_slow_endpoint_times_out(org, in_org, receiver, settings, monkeypatch):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    make_endpoint(org, url=receiver.url)
    receiver.answer((200, b"late", {}, 2.0))
    emit(org)
    [delivery] = _deliveries(org, in_org)
    monkeypatch.setattr(services, "_schedule", lambda delivery, countdown=None: None)

    webhook_delivery_attempt(org.id, str(delivery.id))

    delivery = _reload(org, in_org, delivery)
    [(number, status, error)] = _attempts(org, in_org, delivery)
    assert (delivery.status, number, status, error) == ("retrying", 1, None, "Timed out after 1 s.")


def test_redirects_are_not_followed(org, in_org, receiver, monkeypatch):
    make_endpoint(org, url=receiver.url)
    receiver.answer((301, b"", {"Location": receiver.url + "/moved"}), (200, b"ok"))
    emit(org)
    [delivery] = _deliveries(org, in_org)
    monkeypatch.setattr(services, "_schedule", lambda delivery, countdown=None: None)

    webhook_delivery_attempt(org.id, str(delivery.id))

    delivery = _reload(org, in_org, delivery)
    assert len(receiver.requests) == 1
    assert (delivery.status, delivery.last_response_status) == ("retrying", 301)
    assert _attempts(org, in_org, delivery) == [(1, 301, f"Redirect to '{receiver.url}/moved' not followed.")]


def test_a_refused_connection_is_a_failed_attempt(org, in_org, monkeypatch):
    make_endpoint(org, url="http://127.0.0.1:9/nothing-listens-here")
    emit(org)
    [delivery] = _deliveries(org, in_org)
    monkeypatch.setattr(services, "_schedule", lambda delivery, countdown=None: None)

    webhook_delivery_attempt(org.id, str(delivery.id))

    [(number, status, error)] = _attempts(org, in_org, delivery)
    assert (number, status) == (1, None)
    assert error.startswith("ConnectionRefusedError")


def test_the_response_excerpt_is_the_first_2_kb_decoded_safely(org, in_org, receiver):
    make_endpoint(org, url=receiver.url)
    receiver.answer((200, b"\xff\x00" + b"a" * 5000))
    emit(org)
    [delivery] = _deliveries(org, in_org)

    webhook_delivery_attempt(org.id, str(delivery.id))

    with in_org(org):
        attempt = WebhookDeliveryAttempt.objects.for_org(org).get(delivery_id=delivery.id)
    assert attempt.response_body == "\ufffd\ufffd" + "a" * 2046


def test_private_addresses_are_refused_at_send_time_when_not_allowed(org, in_org, receiver, settings, monkeypatch):
    make_endpoint(org, url=receiver.url)
    emit(org)
    [delivery] = _deliveries(org, in_org)
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    monkeypatch.setattr(services, "_schedule", lambda delivery, countdown=None: None)

    webhook_delivery_attempt(org.id, str(delivery.id))

    assert receiver.requests == []
    assert _attempts(org, in_org, delivery) == [
        (1, None, "127.0.0.1 resolves to a non-public address (127.0.0.1); delivery is refused.")
    ]


def test_a_redelivered_message_for_a_delivered_delivery_does_nothing(org, in_org, receiver):
    make_endpoint(org, url=receiver.url)
    emit(org)
    [delivery] = _deliveries(org, in_org)

    webhook_delivery_attempt(org.id, str(delivery.id))
    webhook_delivery_attempt(org.id, str(delivery.id))

    assert len(receiver.requests) == 1
    assert _attempts(org, in_org, delivery) == [(1, 200, "")]


def test_a_duplicate_message_before_the_scheduled_retry_does_nothing(org, in_org, receiver, monkeypatch, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    make_endpoint(org, url=receiver.url)
    receiver.answer((500, b""))
    emit(org)
    [delivery] = _deliveries(org, in_org)
    monkeypatch.setattr(services, "_schedule", lambda delivery, countdown=None: None)

    webhook_delivery_attempt(org.id, str(delivery.id))
    webhook_delivery_attempt(org.id, str(delivery.id))

    assert len(receiver.requests) == 1
    assert _reload(org, in_org, delivery).attempt_count == 1


def test_a_disabled_endpoint_cancels_its_pending_delivery(org, in_org, receiver):
    endpoint = make_endpoint(org, url=receiver.url)
    emit(org)
    [delivery] = _deliveries(org, in_org)
    with in_org(org):
        WebhookEndpoint.objects.for_org(org).filter(id=endpoint.id).update(is_active=False)

    webhook_delivery_attempt(org.id, str(delivery.id))

    delivery = _reload(org, in_org, delivery)
    assert receiver.requests == []
    assert (delivery.status, delivery.attempt_count) == ("canceled", 0)


def test_the_task_cannot_reach_another_organizations_delivery(org, other_org, in_org, receiver):
    make_endpoint(org, url=receiver.url)
    emit(org)
    [delivery] = _deliveries(org, in_org)

    webhook_delivery_attempt(other_org.id, str(delivery.id))

    assert receiver.requests == []
    assert _reload(org, in_org, delivery).status == "pending"


def test_a_rotation_grace_period_signs_with_both_secrets(org, in_org, receiver, owner):
    from apps.core.actors import Actor
    from apps.webhooks import signing

    endpoint = make_endpoint(org, url=receiver.url)
    old_secret = endpoint.secret
    with in_org(org):
        endpoint = services.webhook_endpoint_rotate_secret(
            organization=org, endpoint=endpoint, actor=Actor(via="dashboard", role="owner"), grace_period_hours=24
        )
    emit(org)
    [delivery] = _deliveries(org, in_org)

    webhook_delivery_attempt(org.id, str(delivery.id))

    [request] = receiver.requests
    header = request.headers["Tessera-Signature"]
    assert header.count("v1=") == 2
    assert signing.verify(old_secret, header, request.body) == signing.verify(endpoint.secret, header, request.body)
