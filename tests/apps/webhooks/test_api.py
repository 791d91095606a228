import pytest

from apps.audit.models import AuditEntry
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from apps.webhooks.tasks import webhook_delivery_attempt
from tests.factories.webhooks import emit, make_endpoint

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/tessera"


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """API tests check rows and responses; the delivery itself is tested in test_delivery."""
    monkeypatch.setattr(webhook_delivery_attempt, "apply_async", lambda *args, **kwargs: None)


def _error(response):
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def _create(client, **fields):
    body = {"url": URL, "event_types": ["training_job.succeeded"], **fields}
    return client.post("/api/v1/webhook-endpoints", body, format="json")


def _snapshot(org, in_org):
    with in_org(org):
        return {
            "endpoints": sorted(
                WebhookEndpoint.objects.values_list("id", "url", "description", "is_active", "secret", "event_types")
            ),
            "deliveries": sorted(WebhookDelivery.objects.values_list("id", "status")),
            "audit": AuditEntry.objects.count(),
        }


def test_create_returns_the_secret_once_and_audits(api_client, org, in_org):
    response = _create(
        api_client, description="Prod receiver", event_types=["training_job.failed", "training_job.succeeded"]
    )

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    created = response.json()
    assert created["secret"].startswith("whsec_") and len(created["secret"]) == 38
    assert created["secret"][-4:] == created["secret_last_four"]
    assert {key: created[key] for key in ("url", "description", "event_types", "is_active", "disabled_at")} == {
        "url": URL,
        "description": "Prod receiver",
        "event_types": ["training_job.failed", "training_job.succeeded"],
        "is_active": True,
        "disabled_at": None,
    }
    detail = api_client.get(f"/api/v1/webhook-endpoints/{created['id']}").json()
    listing = api_client.get("/api/v1/webhook-endpoints").json()
    assert "secret" not in detail and all("secret" not in row for row in listing["results"])
    with in_org(org):
        assert list(AuditEntry.objects.filter(target_id=created["id"]).values_list("action", flat=True)) == [
            "webhook_endpoint.created"
        ]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "invalid_url", None),
        ({"url": "https://user:pw@hooks.example.com/x"}, "invalid_url", None),
        ({"url": "not a url"}, "invalid_url", None),
        ({"url": "https://hooks.example.com:99999/x"}, "invalid_url", None),
        ({"url": ""}, "validation_error", "url"),
        ({"url": ["x"]}, "validation_error", "url"),
        ({"event_types": []}, "validation_error", "event_types"),
        ({"event_types": ["webhook.test"]}, "validation_error", "event_types"),
        ({"event_types": ["billing.paid"]}, "validation_error", "event_types"),
        ({"event_types": "training_job.failed"}, "validation_error", "event_types"),
        ({"description": "x" * 256}, "validation_error", "description"),
    ],
)
def test_bad_input_is_a_400_in_the_error_shape_and_creates_nothing(api_client, org, in_org, body, code, field):
    before = _snapshot(org, in_org)

    response = _create(api_client, **body)

    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == code
    if field:
        assert field in error["details"]["fields"]
    assert _snapshot(org, in_org) == before


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/x", "must use https://"),
        ("https://127.0.0.1/x", "private, loopback or link-local"),
        ("https://10.1.2.3/x", "private, loopback or link-local"),
        ("https://169.254.169.254/latest/meta-data", "private, loopback or link-local"),
        ("https://[::1]/x", "private, loopback or link-local"),
        ("https://localhost/x", "points at this machine"),
    ],
)
def test_production_rules_refuse_http_and_private_addresses(api_client, settings, url, message):
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = None

    response = _create(api_client, url=url)

    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid_url"
    assert message in error["message"]


def test_update_changes_fields_disables_and_audits(api_client, org, in_org):
    endpoint = make_endpoint(org)

    response = api_client.patch(
        f"/api/v1/webhook-endpoints/{endpoint.id}",
        {"description": "Staging", "event_types": ["training_job.failed"], "is_active": False},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["description"], body["event_types"], body["is_active"]) == ("Staging", ["training_job.failed"], False)
    assert body["disabled_at"] is not None
    with in_org(org):
        entry = AuditEntry.objects.get(action="webhook_endpoint.updated")
    assert entry.metadata == {
        "description": {"from": "", "to": "Staging"},
        "event_types": {"from": ["training_job.succeeded"], "to": ["training_job.failed"]},
        "is_active": {"from": True, "to": False},
    }


def test_update_with_a_bad_url_changes_nothing(api_client, org, in_org):
    endpoint = make_endpoint(org)
    before = _snapshot(org, in_org)

    response = api_client.patch(f"/api/v1/webhook-endpoints/{endpoint.id}", {"url": "gopher://x"}, format="json")

    assert response.status_code == 400 and _error(response)["code"] == "invalid_url"
    assert _snapshot(org, in_org) == before


def test_delete_removes_the_endpoint_and_its_deliveries(api_client, org, in_org):
    endpoint = make_endpoint(org)
    emit(org)

    response = api_client.delete(f"/api/v1/webhook-endpoints/{endpoint.id}")

    assert response.status_code == 204
    assert api_client.get(f"/api/v1/webhook-endpoints/{endpoint.id}").status_code == 404
    with in_org(org):
        assert WebhookDelivery.objects.count() == 0
        assert AuditEntry.objects.filter(action="webhook_endpoint.deleted", target_id=str(endpoint.id)).count() == 1


def test_reveal_and_rotate_secret(api_client, org, in_org):
    endpoint = make_endpoint(org)

    revealed = api_client.get(f"/api/v1/webhook-endpoints/{endpoint.id}/secret")
    rotated = api_client.post(
        f"/api/v1/webhook-endpoints/{endpoint.id}/rotate-secret", {"grace_period_hours": 24}, format="json"
    )
    after = api_client.get(f"/api/v1/webhook-endpoints/{endpoint.id}/secret")

    assert revealed.status_code == 200 and revealed.json() == {"secret": endpoint.secret}
    assert revealed["Cache-Control"] == "no-store"
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != endpoint.secret
    assert rotated.json()["previous_secret_expires_at"] is not None
    assert after.json() == {"secret": new_secret}
    with in_org(org):
        actions = sorted(AuditEntry.objects.filter(target_id=str(endpoint.id)).values_list("action", flat=True))
    assert actions == [
        "webhook_endpoint.created",
        "webhook_endpoint.secret_revealed",
        "webhook_endpoint.secret_revealed",
        "webhook_endpoint.secret_rotated",
    ]


def test_rotate_refuses_a_grace_period_over_72_hours(api_client, org):
    endpoint = make_endpoint(org)

    response = api_client.post(
        f"/api/v1/webhook-endpoints/{endpoint.id}/rotate-secret", {"grace_period_hours": 73}, format="json"
    )

    assert response.status_code == 400
    assert "grace_period_hours" in _error(response)["details"]["fields"]


def test_send_test_creates_a_webhook_test_delivery_to_that_endpoint_only(api_client, org, in_org):
    endpoint = make_endpoint(org, event_types=["training_job.failed"])
    make_endpoint(org, url="https://other.example.com/hook", event_types=["training_job.failed"])

    response = api_client.post(f"/api/v1/webhook-endpoints/{endpoint.id}/test")

    assert response.status_code == 202
    body = response.json()
    assert (body["endpoint_id"], body["event_type"], body["status"]) == (str(endpoint.id), "webhook.test", "pending")
    assert body["payload"]["type"] == "webhook.test" and body["payload"]["id"] == body["event_id"]
    assert body["payload"]["data"]["endpoint"] == {"id": str(endpoint.id), "url": URL}
    with in_org(org):
        assert WebhookDelivery.objects.count() == 1


def test_send_test_to_a_disabled_endpoint_is_a_409(api_client, org):
    endpoint = make_endpoint(org)
    api_client.patch(f"/api/v1/webhook-endpoints/{endpoint.id}", {"is_active": False}, format="json")

    response = api_client.post(f"/api/v1/webhook-endpoints/{endpoint.id}/test")

    assert response.status_code == 409
    assert _error(response)["code"] == "endpoint_disabled"


def test_deliveries_list_filters_and_shows_attempts(api_client, org, in_org):
    first = make_endpoint(org)
    second = make_endpoint(org, url="https://two.example.com/hook")
    emit(org)
    with in_org(org):
        WebhookDelivery.objects.filter(endpoint=second).update(status="exhausted", attempt_count=8)

    everything = api_client.get("/api/v1/webhook-deliveries").json()["results"]
    by_endpoint = api_client.get(f"/api/v1/webhook-deliveries?endpoint_id={first.id}").json()["results"]
    by_status = api_client.get("/api/v1/webhook-deliveries?status=exhausted").json()["results"]
    by_type = api_client.get("/api/v1/webhook-deliveries?event_type=training_job.failed").json()["results"]

    assert len(everything) == 2
    assert [row["endpoint_id"] for row in by_endpoint] == [str(first.id)]
    assert [row["endpoint_id"] for row in by_status] == [str(second.id)]
    assert by_type == []
    assert set(everything[0]) == {
        "id", "endpoint_id", "event_id", "event_type", "status", "attempt_count", "next_attempt_at",
        "last_response_status", "last_error", "delivered_at", "resent_from_id", "created_at", "payload", "attempts",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("query", "field"), [("endpoint_id=nope", "endpoint_id"), ("status=lost", "status"), ("event_type=x", "event_type")]
)
def test_bad_delivery_filters_are_a_400(api_client, query, field):
    response = api_client.get(f"/api/v1/webhook-deliveries?{query}")

    assert response.status_code == 400
    assert field in _error(response)["details"]["fields"]


def test_deliveries_are_paginated(api_client, org):
    make_endpoint(org)
    for _ in range(3):
        emit(org)

    first = api_client.get("/api/v1/webhook-deliveries?limit=2").json()
    second = api_client.get(first["next"]).json()

    assert len(first["results"]) == 2 and len(second["results"]) == 1
    assert second["next"] is None
    assert not {row["id"] for row in first["results"]} & {row["id"] for row in second["results"]}


def test_resend_creates_a_new_delivery_of_the_same_event(api_client, org, in_org):
    make_endpoint(org)
    event = emit(org)
    with in_org(org):
        original = WebhookDelivery.objects.get()

    response = api_client.post(f"/api/v1/webhook-deliveries/{original.id}/resend")

    assert response.status_code == 202
    body = response.json()
    assert body["id"] != str(original.id)
    assert (body["event_id"], body["resent_from_id"], body["status"]) == (event.public_id, str(original.id), "pending")
    detail = api_client.get(f"/api/v1/webhook-deliveries/{body['id']}")
    assert detail.status_code == 200 and detail.json()["payload"] == event.payload
    with in_org(org):
        assert WebhookDelivery.objects.count() == 2
        assert AuditEntry.objects.filter(action="webhook_delivery.resent", target_id=str(original.id)).count() == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/webhook-endpoints"),
        ("post", "/api/v1/webhook-endpoints"),
        ("get", "/api/v1/webhook-endpoints/{endpoint}"),
        ("patch", "/api/v1/webhook-endpoints/{endpoint}"),
        ("delete", "/api/v1/webhook-endpoints/{endpoint}"),
        ("get", "/api/v1/webhook-endpoints/{endpoint}/secret"),
        ("post", "/api/v1/webhook-endpoints/{endpoint}/rotate-secret"),
        ("post", "/api/v1/webhook-endpoints/{endpoint}/test"),
        ("get", "/api/v1/webhook-deliveries"),
        ("get", "/api/v1/webhook-deliveries/{delivery}"),
        ("post", "/api/v1/webhook-deliveries/{delivery}/resend"),
    ],
)
def test_a_key_without_admin_gets_403_missing_scope_and_changes_nothing(org, in_org, keyed_client, method, path):
    endpoint = make_endpoint(org)
    emit(org)
    with in_org(org):
        delivery = WebhookDelivery.objects.get()
    client = keyed_client(org, scopes=["training"])
    before = _snapshot(org, in_org)

    response = getattr(client, method)(path.format(endpoint=endpoint.id, delivery=delivery.id), {}, format="json")

    assert response.status_code == 403
    error = _error(response)
    assert (error["code"], error["details"]["required_scope"]) == ("missing_scope", "admin")
    assert _snapshot(org, in_org) == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/webhook-endpoints/{endpoint}", None),
        ("patch", "/api/v1/webhook-endpoints/{endpoint}", {"description": "pwned", "is_active": False}),
        ("delete", "/api/v1/webhook-endpoints/{endpoint}", None),
        ("get", "/api/v1/webhook-endpoints/{endpoint}/secret", None),
        ("post", "/api/v1/webhook-endpoints/{endpoint}/rotate-secret", {}),
        ("post", "/api/v1/webhook-endpoints/{endpoint}/test", None),
        ("get", "/api/v1/webhook-deliveries/{delivery}", None),
        ("post", "/api/v1/webhook-deliveries/{delivery}/resend", None),
    ],
)
def test_another_organization_gets_404_and_changes_nothing(org, in_org, other_api_client, method, path, body):
    endpoint = make_endpoint(org)
    emit(org)
    with in_org(org):
        delivery = WebhookDelivery.objects.get()
    before = _snapshot(org, in_org)

    response = getattr(other_api_client, method)(
        path.format(endpoint=endpoint.id, delivery=delivery.id), body, format="json"
    )

    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"
    assert _snapshot(org, in_org) == before


def test_another_organizations_lists_and_filters_never_show_our_rows(org, other_org, in_org, other_api_client):
    endpoint = make_endpoint(org)
    emit(org)
    own = make_endpoint(other_org, url="https://lear.example.com/hook")
    emit(other_org)

    endpoints = other_api_client.get("/api/v1/webhook-endpoints").json()["results"]
    deliveries = other_api_client.get("/api/v1/webhook-deliveries").json()["results"]
    filtered = other_api_client.get(f"/api/v1/webhook-deliveries?endpoint_id={endpoint.id}").json()["results"]

    assert [row["id"] for row in endpoints] == [str(own.id)]
    assert [row["endpoint_id"] for row in deliveries] == [str(own.id)]
    assert filtered == []
