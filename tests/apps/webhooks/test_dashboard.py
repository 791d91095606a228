import re

import pytest
from django.test import Client

from apps.audit.models import AuditEntry
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from apps.webhooks.tasks import webhook_delivery_attempt
from tests.apps.dashboard.markup import page
from tests.factories.accounts import MembershipFactory
from tests.factories.webhooks import emit, make_endpoint

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"whsec_[A-Za-z0-9]{32}")


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    monkeypatch.setattr(webhook_delivery_attempt, "apply_async", lambda *args, **kwargs: None)


@pytest.fixture
def client_for():
    def make(user):
        signed_in = Client()
        signed_in.force_login(user)
        return signed_in

    return make


def _endpoints(org, in_org):
    with in_org(org):
        return list(WebhookEndpoint.objects.for_org(org).order_by("created_at"))


def _snapshot(org, in_org):
    with in_org(org):
        return {
            "endpoints": sorted(WebhookEndpoint.objects.values_list("id", "url", "is_active", "secret", "event_types")),
            "deliveries": sorted(WebhookDelivery.objects.values_list("id", "status")),
        }


def test_the_list_page_shows_endpoints_without_secrets(owner_client, org):
    endpoint = make_endpoint(org, description="Prod")

    response = owner_client.get(f"/o/{org.slug}/webhooks/")

    html = page(response)
    assert response.status_code == 200
    [row] = html.all("webhook-row")
    assert row.one("webhook-url").text == endpoint.url
    assert [chip.text for chip in row.one("webhook-events").all(tag="span")] == ["training_job.succeeded"]
    assert row.one("webhook-status").text == "Enabled"
    assert SECRET.findall(response.content.decode()) == []


def test_create_shows_the_secret_and_stores_the_endpoint(owner_client, org, owner, in_org):
    response = owner_client.post(
        f"/o/{org.slug}/webhooks/create/",
        {"url": "https://hooks.example.com/t", "description": "Prod", "event_types": ["training_job.failed"]},
    )

    [endpoint] = _endpoints(org, in_org)
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    assert page(response).one("webhook-secret").get("value") == endpoint.secret
    assert (endpoint.url, endpoint.description, endpoint.event_types, endpoint.created_by_id) == (
        "https://hooks.example.com/t",
        "Prod",
        ["training_job.failed"],
        owner.id,
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "ftp://x.example.com", "event_types": ["training_job.failed"]}, "must start with https://"),
        ({"url": "https://x.example.com"}, "Choose at least one event."),
        ({"url": "", "event_types": ["training_job.failed"]}, "This field is required."),
    ],
)
def test_create_with_bad_input_shows_readable_errors(owner_client, org, in_org, data, message):
    response = owner_client.post(f"/o/{org.slug}/webhooks/create/", data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert _endpoints(org, in_org) == []


def test_the_detail_page_shows_deliveries_with_attempts(owner_client, org, in_org, receiver):
    endpoint = make_endpoint(org, url=receiver.url)
    receiver.answer((201, b"created"))
    emit(org)
    with in_org(org):
        delivery = WebhookDelivery.objects.get()
    webhook_delivery_attempt.run(org.id, str(delivery.id))

    response = owner_client.get(f"/o/{org.slug}/webhooks/{endpoint.id}/")

    html = page(response)
    [row] = html.all("delivery-row")
    assert response.status_code == 200
    assert row.one("delivery-event-type").text == "training_job.succeeded"
    assert row.one("delivery-status").text == "Succeeded"
    assert row.one("delivery-response").text == "201"
    assert len(row.all("delivery-attempt")) == 1
    assert html.one("webhook-secret-masked").text == f"whsec_…{endpoint.secret[-4:]}"
    assert SECRET.findall(response.content.decode()) == []


def test_reveal_through_htmx_swaps_in_the_secret_and_audits(owner_client, org, in_org):
    endpoint = make_endpoint(org)

    response = owner_client.post(f"/o/{org.slug}/webhooks/{endpoint.id}/secret/", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert b"<html" not in response.content
    assert response["Cache-Control"] == "no-store"
    assert page(response).one("webhook-secret").get("value") == endpoint.secret
    with in_org(org):
        assert AuditEntry.objects.filter(action="webhook_endpoint.secret_revealed").count() == 1


def test_rotate_shows_the_new_secret(owner_client, org, in_org):
    endpoint = make_endpoint(org)

    response = owner_client.post(f"/o/{org.slug}/webhooks/{endpoint.id}/rotate-secret/", {"grace_period_hours": "24"})

    [rotated] = _endpoints(org, in_org)
    assert response.status_code == 200
    assert rotated.secret != endpoint.secret and rotated.previous_secret == endpoint.secret
    assert page(response).one("webhook-secret").get("value") == rotated.secret


def test_send_test_disable_enable_resend_and_delete(owner_client, org, in_org):
    endpoint = make_endpoint(org)
    base = f"/o/{org.slug}/webhooks/{endpoint.id}"

    tested = owner_client.post(f"{base}/test/")
    with in_org(org):
        delivery = WebhookDelivery.objects.get()
    resent = owner_client.post(f"/o/{org.slug}/webhooks/deliveries/{delivery.id}/resend/")
    disabled = owner_client.post(f"{base}/toggle/", {"is_active": "false"})
    refused = owner_client.post(f"{base}/test/", follow=True)
    enabled = owner_client.post(f"{base}/toggle/", {"is_active": "true"})
    with in_org(org):
        types = sorted(WebhookDelivery.objects.values_list("event__type", "resent_from_id"), key=str)
    deleted = owner_client.post(f"{base}/delete/")

    assert [r.status_code for r in (tested, resent, disabled, enabled, deleted)] == [302, 302, 302, 302, 302]
    assert types == [("webhook.test", None), ("webhook.test", delivery.id)]
    assert "Enable the endpoint before sending it a test event." in refused.content.decode()
    assert deleted["Location"] == f"/o/{org.slug}/webhooks/"
    assert _endpoints(org, in_org) == []


def test_edit_updates_the_endpoint(owner_client, org, in_org):
    endpoint = make_endpoint(org)

    response = owner_client.post(
        f"/o/{org.slug}/webhooks/{endpoint.id}/edit/",
        {"url": "https://new.example.com/hook", "description": "", "event_types": ["model_version.activated"]},
    )

    [updated] = _endpoints(org, in_org)
    assert response.status_code == 302
    assert (updated.url, updated.event_types) == ("https://new.example.com/hook", ["model_version.activated"])


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_see_but_cannot_manage(org, in_org, client_for, role):
    user = MembershipFactory(organization=org, role=role).user
    client = client_for(user)
    endpoint = make_endpoint(org)
    emit(org)
    with in_org(org):
        delivery = WebhookDelivery.objects.get()
    before = _snapshot(org, in_org)
    base = f"/o/{org.slug}/webhooks"

    listing = client.get(f"{base}/")
    detail = client.get(f"{base}/{endpoint.id}/")
    writes = [
        client.post(f"{base}/create/", {"url": "https://x.example.com", "event_types": ["training_job.failed"]}),
        client.post(
            f"{base}/{endpoint.id}/edit/", {"url": "https://x.example.com", "event_types": ["training_job.failed"]}
        ),
        client.post(f"{base}/{endpoint.id}/toggle/", {"is_active": "false"}),
        client.post(f"{base}/{endpoint.id}/secret/"),
        client.post(f"{base}/{endpoint.id}/rotate-secret/"),
        client.post(f"{base}/{endpoint.id}/test/"),
        client.post(f"{base}/deliveries/{delivery.id}/resend/"),
        client.post(f"{base}/{endpoint.id}/delete/"),
    ]

    assert (listing.status_code, detail.status_code) == (200, 200)
    assert page(listing).one("webhooks-read-only")
    assert page(listing).all("webhook-create-form") == []
    assert page(detail).all("webhook-secret-panel") == [] and page(detail).all("delivery-resend") == []
    assert SECRET.findall(listing.content.decode() + detail.content.decode()) == []
    assert [response.status_code for response in writes] == [403] * 8
    assert _snapshot(org, in_org) == before


def test_another_organizations_owner_gets_404_everywhere(org, in_org, other_owner_client, other_org):
    endpoint = make_endpoint(org)
    emit(org)
    with in_org(org):
        delivery = WebhookDelivery.objects.get()
    before = _snapshot(org, in_org)
    ours = f"/o/{org.slug}/webhooks"
    theirs = f"/o/{other_org.slug}/webhooks"

    responses = [
        other_owner_client.get(f"{ours}/"),
        other_owner_client.get(f"{ours}/{endpoint.id}/"),
        other_owner_client.get(f"{theirs}/{endpoint.id}/"),
        other_owner_client.post(
            f"{theirs}/{endpoint.id}/edit/", {"url": "https://x.example.com", "event_types": ["training_job.failed"]}
        ),
        other_owner_client.post(f"{theirs}/{endpoint.id}/toggle/", {"is_active": "false"}),
        other_owner_client.post(f"{theirs}/{endpoint.id}/secret/"),
        other_owner_client.post(f"{theirs}/{endpoint.id}/rotate-secret/"),
        other_owner_client.post(f"{theirs}/{endpoint.id}/test/"),
        other_owner_client.post(f"{theirs}/deliveries/{delivery.id}/resend/"),
        other_owner_client.post(f"{theirs}/{endpoint.id}/delete/"),
    ]

    assert [response.status_code for response in responses] == [404] * 10
    assert all(endpoint.secret not in response.content.decode() for response in responses)
    assert _snapshot(org, in_org) == before
