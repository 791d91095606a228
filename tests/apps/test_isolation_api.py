"""The isolation matrix for the REST API: organization B's key never sees or changes A's rows.

Every tenant-scoped endpoint is listed here; tests/apps/dashboard covers the same for B's
signed-in members. A new endpoint belongs in ENDPOINTS below.
"""

import pytest

from apps.accounts.models import Invitation, Membership
from apps.api_keys.models import ApiKey
from apps.audit.models import AuditEntry
from apps.datasets.models import Dataset, DatasetVersion
from apps.metering.models import UsageEvent
from apps.sentiment.models import Correction, Document, FeedSource, Monitor, RescoreRun, SpikeAlert, TrendBucket
from apps.training.models import ModelVersion, TrainingJob, TrainingJobEvent
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories.accounts import InvitationFactory, MembershipFactory
from tests.factories.api_keys import make_api_key
from tests.factories.datasets import make_dataset_version
from tests.factories.training import make_job, make_version_row
from tests.factories.webhooks import emit, make_endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def a_rows(org, owner, in_org):
    """Org A's objects: a member, an invitation, a key, a dataset, a job, a model version,
    a webhook endpoint and a delivery."""
    member = MembershipFactory(organization=org, role="member")
    invitation = InvitationFactory(organization=org, email="invited@acme.example")
    api_key, _ = make_api_key(org, name="A's key")
    dataset_version = make_dataset_version(org, name="A's dataset")
    job = make_job(org, dataset_version)
    version = make_version_row(org, job)
    endpoint = make_endpoint(org)
    emit(org)
    with in_org(org):
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    monitor, document = _monitor_with_document(org, in_org)
    return {
        "monitor": monitor,
        "document": document,
        "alert": _spike_alert(org, monitor, in_org),
        "feed": _feed(org, monitor, in_org),
        "member": member,
        "invitation": invitation,
        "api_key": api_key,
        "dataset": dataset_version.dataset,
        "job": job,
        "version": version,
        "endpoint": endpoint,
        "delivery": delivery,
    }


def _monitor_with_document(organization, in_org):
    from django.utils import timezone

    with in_org(organization):
        monitor = Monitor.objects.create(
            organization=organization, name=f"{organization.name} news", topics=[{"name": "fees", "description": ""}]
        )
        document = Document.objects.create(
            organization=organization,
            monitor=monitor,
            text="Fees went up",
            published_at=timezone.now(),
            status="scored",
            sentiment="negative",
            topic="fees",
        )
    return monitor, document


def _spike_alert(organization, monitor, in_org):
    from django.utils import timezone

    from apps.sentiment.models import SpikeAlert

    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    with in_org(organization):
        return SpikeAlert.objects.create(
            organization=organization,
            monitor=monitor,
            topic="fees",
            window_start=hour,
            window_end=hour,
            current_negative=9,
            current_total=12,
            baseline_negative_per_hour=1.5,
            baseline_negative_share=0.2,
            score=4.2,
            summary="Negative fee coverage tripled.",
        )


def _feed(organization, monitor, in_org):
    with in_org(organization):
        return FeedSource.objects.create(organization=organization, monitor=monitor, url="https://news.example/rss")


def _snapshot(org, in_org):
    with in_org(org):
        return {
            "members": sorted(Membership.objects.values_list("id", "role")),
            "invitations": sorted(Invitation.objects.values_list("id", "revoked_at")),
            "keys": sorted(ApiKey.objects.values_list("id", "name", "revoked_at")),
            "audit": AuditEntry.objects.count(),
            "datasets": sorted(Dataset.objects.values_list("id", "name")),
            "dataset_versions": DatasetVersion.objects.count(),
            "jobs": sorted(TrainingJob.objects.values_list("id", "status", "cancel_requested_at")),
            "job_events": TrainingJobEvent.objects.count(),
            "versions": sorted(ModelVersion.objects.values_list("id", "is_active")),
            "usage": UsageEvent.objects.count(),
            "endpoints": sorted(WebhookEndpoint.objects.values_list("id", "url", "is_active", "secret")),
            "deliveries": WebhookDelivery.objects.count(),
            "monitors": sorted(Monitor.objects.values_list("id", "name", "description", "topics")),
            "documents": sorted(Document.objects.values_list("id", "status", "sentiment", "topic")),
            "corrections": Correction.objects.count(),
            "trend_buckets": sorted(TrendBucket.objects.values_list("topic", "sentiment", "count")),
            "alerts": sorted(SpikeAlert.objects.values_list("id", "status")),
            "feeds": sorted(FeedSource.objects.values_list("id", "url", "name", "is_active", "last_polled_at")),
            "rescore_runs": RescoreRun.objects.count(),
            "name": org.__class__.objects.get(id=org.id).name,
        }


DETAIL_REQUESTS = [
    ("get", "/api/v1/members/{member}", None),
    ("patch", "/api/v1/members/{member}", {"role": "viewer"}),
    ("delete", "/api/v1/members/{member}", None),
    ("post", "/api/v1/invitations/{invitation}/revoke", None),
    ("get", "/api/v1/api-keys/{api_key}", None),
    ("post", "/api/v1/api-keys/{api_key}/revoke", None),
    ("get", "/api/v1/datasets/{dataset}", None),
    ("get", "/api/v1/datasets/{dataset}/versions", None),
    ("get", "/api/v1/datasets/{dataset}/versions/1", None),
    ("post", "/api/v1/datasets/{dataset}/versions", None),
    ("get", "/api/v1/training-jobs/{job}", None),
    ("get", "/api/v1/training-jobs/{job}/events", None),
    ("post", "/api/v1/training-jobs/{job}/cancel", None),
    ("get", "/api/v1/models/{version}", None),
    ("post", "/api/v1/models/{version}/promote", {}),
    ("post", "/api/v1/models/{version}/predict", {"texts": ["I lost my card"]}),
    ("get", "/api/v1/webhook-endpoints/{endpoint}", None),
    ("patch", "/api/v1/webhook-endpoints/{endpoint}", {"is_active": False}),
    ("delete", "/api/v1/webhook-endpoints/{endpoint}", None),
    ("get", "/api/v1/webhook-endpoints/{endpoint}/secret", None),
    ("post", "/api/v1/webhook-endpoints/{endpoint}/rotate-secret", {}),
    ("post", "/api/v1/webhook-endpoints/{endpoint}/test", None),
    ("get", "/api/v1/webhook-deliveries/{delivery}", None),
    ("post", "/api/v1/webhook-deliveries/{delivery}/resend", None),
    ("get", "/api/v1/monitors/{monitor}", None),
    ("patch", "/api/v1/monitors/{monitor}", {"name": "Renamed"}),
    ("delete", "/api/v1/monitors/{monitor}", None),
    ("get", "/api/v1/monitors/{monitor}/documents", None),
    ("post", "/api/v1/monitors/{monitor}/documents", {"documents": [{"text": "x"}]}),
    ("post", "/api/v1/monitors/{monitor}/documents/upload", None),
    ("get", "/api/v1/monitors/{monitor}/documents/{document}", None),
    ("post", "/api/v1/monitors/{monitor}/documents/{document}/corrections", {"field": "topic", "value": "other"}),
    ("get", "/api/v1/monitors/{monitor}/trends", None),
    ("post", "/api/v1/monitors/{monitor}/retrain", {"field": "topic"}),
    ("get", "/api/v1/monitors/{monitor}/alerts", None),
    ("get", "/api/v1/monitors/{monitor}/alerts/{alert}", None),
    ("post", "/api/v1/monitors/{monitor}/alerts/{alert}/acknowledge", None),
    ("post", "/api/v1/monitors/{monitor}/alerts/{alert}/resolve", None),
    ("get", "/api/v1/monitors/{monitor}/feeds", None),
    ("post", "/api/v1/monitors/{monitor}/feeds", {"url": "https://news.example/other"}),
    ("get", "/api/v1/monitors/{monitor}/feeds/{feed}", None),
    ("patch", "/api/v1/monitors/{monitor}/feeds/{feed}", {"name": "Renamed"}),
    ("delete", "/api/v1/monitors/{monitor}/feeds/{feed}", None),
    ("post", "/api/v1/monitors/{monitor}/feeds/{feed}/poll", None),
]

LIST_REQUESTS = [
    "/api/v1/members",
    "/api/v1/invitations",
    "/api/v1/api-keys",
    "/api/v1/audit-log",
    "/api/v1/datasets",
    "/api/v1/training-jobs",
    "/api/v1/models",
    "/api/v1/webhook-endpoints",
    "/api/v1/webhook-deliveries",
    "/api/v1/monitors",
]


@pytest.mark.parametrize(("method", "template", "body"), DETAIL_REQUESTS)
def test_other_orgs_key_gets_404_and_changes_nothing(a_rows, org, in_org, other_api_client, method, template, body):
    path = template.format(**{name: row.id for name, row in a_rows.items()})
    before = _snapshot(org, in_org)

    response = getattr(other_api_client, method)(path, body, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert _snapshot(org, in_org) == before


@pytest.fixture
def b_rows(other_org, other_owner, in_org):
    dataset_version = make_dataset_version(other_org, name="B's dataset")
    job = make_job(other_org, dataset_version)
    endpoint = make_endpoint(other_org)
    emit(other_org)
    return {
        "invitation": InvitationFactory(organization=other_org),
        "api_key": make_api_key(other_org)[0],
        "dataset": dataset_version.dataset,
        "job": job,
        "version": make_version_row(other_org, job),
        "endpoint": endpoint,
        "monitor": _monitor_with_document(other_org, in_org)[0],
    }


@pytest.mark.parametrize("path", LIST_REQUESTS)
def test_other_orgs_lists_never_contain_a_rows(a_rows, b_rows, org, other_org, in_org, other_api_client, path):
    with in_org(org):
        a_ids = {
            str(pk)
            for model in (
                Membership,
                Invitation,
                ApiKey,
                AuditEntry,
                Dataset,
                TrainingJob,
                ModelVersion,
                WebhookEndpoint,
                WebhookDelivery,
                Monitor,
            )
            for pk in model.objects.values_list("id", flat=True)
        }

    response = other_api_client.get(path)

    assert response.status_code == 200
    results = response.json()["results"]
    assert results, "B's own rows should be listed"
    assert a_ids.isdisjoint({item["id"] for item in results})


def test_organization_endpoint_reads_and_writes_only_the_keys_org(a_rows, org, other_org, in_org, other_api_client):
    before = _snapshot(org, in_org)

    read = other_api_client.get("/api/v1/organization")
    write = other_api_client.patch("/api/v1/organization", {"name": "Renamed B"}, format="json")

    assert read.json()["id"] == other_org.id
    assert write.status_code == 200 and write.json()["name"] == "Renamed B"
    assert _snapshot(org, in_org) == before


def test_creating_through_b_lands_in_b(a_rows, org, other_org, in_org, other_api_client):
    before = _snapshot(org, in_org)

    created = other_api_client.post("/api/v1/api-keys", {"name": "B new", "scopes": ["admin"]}, format="json")
    invited = other_api_client.post("/api/v1/invitations", {"email": "invited@acme.example"}, format="json")

    assert created.status_code == 201 and invited.status_code == 201
    with in_org(other_org):
        assert ApiKey.objects.filter(id=created.json()["id"], organization=other_org).count() == 1
    assert _snapshot(org, in_org) == before


def test_named_model_endpoints_only_reach_the_keys_organization(a_rows, org, in_org, other_api_client):
    before = _snapshot(org, in_org)

    predict = other_api_client.post("/api/v1/predict", {"model": "support-intent", "texts": ["x"]}, format="json")
    rollback = other_api_client.post("/api/v1/models/rollback", {"name": "support-intent"}, format="json")

    assert predict.status_code == 404
    assert rollback.status_code == 409 and rollback.json()["error"]["code"] == "no_active_version"
    assert _snapshot(org, in_org) == before


def test_every_api_route_is_in_the_matrix():
    from apps.config import api_urls

    names = {pattern.name for pattern in api_urls.urlpatterns if not pattern.name.endswith("-slash")}
    covered = {
        "member-list",
        "member-detail",
        "invitation-list",
        "invitation-revoke",
        "api-key-list",
        "api-key-detail",
        "api-key-revoke",
        "audit-log",
        "organization-detail",
        "dataset-list",
        "dataset-detail",
        "dataset-version-list",
        "dataset-version-detail",
        "training-job-list",
        "training-job-detail",
        "training-job-events",
        "training-job-cancel",
        "model-list",
        "model-detail",
        "model-promote",
        "model-predict",
        # Not per object: the model is named in the body and looked up in the key's organization.
        "model-rollback",
        "predict",
        "webhook-endpoint-list",
        "webhook-endpoint-detail",
        "webhook-endpoint-secret",
        "webhook-endpoint-rotate-secret",
        "webhook-endpoint-test",
        "webhook-delivery-list",
        "webhook-delivery-detail",
        "webhook-delivery-resend",
        # Organization-level (no object id in the path): tests/apps/metering/test_api.py and
        # tests/apps/billing/test_api.py show B's key reads and changes only B's usage and billing.
        "usage",
        "plan-list",
        "billing-detail",
        "invoice-list",
        "billing-checkout",
        "billing-portal",
        "monitor-list",
        "monitor-detail",
        "monitor-document-list",
        "monitor-document-upload",
        "monitor-document-detail",
        "monitor-document-correction",
        "monitor-trends",
        "monitor-retrain",
        "monitor-alert-list",
        "monitor-alert-detail",
        "monitor-alert-acknowledge",
        "monitor-alert-resolve",
        "monitor-feed-list",
        "monitor-feed-detail",
        "monitor-feed-poll",
    }
    assert names == covered
