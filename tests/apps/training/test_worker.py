"""Training jobs through real Celery worker processes: success with a signed webhook,
cancel, and a worker killed with -9 mid-training that ends in exactly one version."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from apps.core.tenancy import tenant_context
from apps.training import services
from apps.training.models import JobStatus, ModelVersion, TrainingJob, TrainingJobEvent
from apps.webhooks.signing import verify
from tests.factories.accounts import MembershipFactory, OrganizationFactory
from tests.factories.api_keys import make_api_key
from tests.workers import WorkerProcess, purge_broker, wait_for

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]

QUEUES = "default,training.cpu,webhooks"


def _worker(name):
    env = {
        "ARTIFACT_ROOT": str(settings.ARTIFACT_ROOT),
        "ARTIFACT_CACHE_DIR": str(settings.ARTIFACT_CACHE_DIR),
        "TRAINING_HEARTBEAT_SECONDS": "1",
        "WEBHOOK_RETRY_BASE_SECONDS": "1",
    }
    return WorkerProcess(queues=QUEUES, name=name, env=env)


@pytest.fixture
def tenant(db):
    organization = OrganizationFactory(name="Worker Bank")
    MembershipFactory(organization=organization, role="owner")
    purge_broker()
    return organization


@pytest.fixture
def client(tenant):
    _, secret = make_api_key(tenant, scopes=["admin"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api


def _job(tenant, job_id):
    with tenant_context(tenant.id):
        return TrainingJob.objects.get(id=job_id)


def _start(client, dataset_version, **body):
    response = client.post(
        "/api/v1/training-jobs",
        {"task": "classification", "dataset": str(dataset_version.dataset_id), "model_name": "intent", **body},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_job_runs_on_the_worker_and_the_signed_webhook_arrives(tenant, client, make_dataset):
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = client.post(
        "/api/v1/webhook-endpoints",
        {"url": f"http://127.0.0.1:{server.server_port}/hooks", "event_types": ["training_job.succeeded"]},
        format="json",
    ).json()
    worker = _worker("train-ok").start()
    try:
        job_id = _start(client, make_dataset(tenant), strategy="head")

        assert wait_for(lambda: _job(tenant, job_id).is_terminal, timeout=120), worker.output
        assert wait_for(lambda: len(_Receiver.received) == 1, timeout=30), worker.output
    finally:
        worker.stop()
        server.shutdown()

    job = client.get(f"/api/v1/training-jobs/{job_id}").json()
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"] == 1.0 and job["model_version_id"]
    headers, body = _Receiver.received[0]
    assert verify(endpoint["secret"], headers["Tessera-Signature"], body)
    payload = json.loads(body)
    assert payload["type"] == "training_job.succeeded"
    assert payload["data"]["id"] == job_id
    assert payload["data"]["model_version"]["id"] == job["model_version_id"]


def test_cancel_stops_a_running_job_within_seconds_and_frees_the_worker(tenant, client, make_dataset):
    dataset_version = make_dataset(tenant)
    worker = _worker("train-cancel").start()
    try:
        job_id = _start(client, dataset_version, strategy="lora", hyperparameters={"epochs": 60})
        # Cancel once the training loop runs (loading the model is not what is measured).
        assert wait_for(lambda: _job(tenant, job_id).progress > 0, timeout=90), worker.output

        requested = time.monotonic()
        assert client.post(f"/api/v1/training-jobs/{job_id}/cancel").status_code == 200
        assert wait_for(lambda: _job(tenant, job_id).status == JobStatus.CANCELLED, timeout=30), worker.output
        stopped_after = time.monotonic() - requested
        # The worker is free again: the next job runs to the end.
        next_id = _start(client, dataset_version, strategy="head")
        assert wait_for(lambda: _job(tenant, next_id).is_terminal, timeout=120), worker.output
    finally:
        worker.stop()

    assert stopped_after < 15
    assert _job(tenant, next_id).status == JobStatus.SUCCEEDED
    with tenant_context(tenant.id):
        assert not ModelVersion.objects.filter(job_id=job_id).exists()
        assert ModelVersion.objects.filter(job_id=next_id).count() == 1


def test_a_worker_killed_mid_training_leads_to_one_finished_version(tenant, client, make_dataset):
    dataset_version = make_dataset(tenant)
    first = _worker("train-doomed").start()
    try:
        job_id = _start(client, dataset_version, strategy="lora", hyperparameters={"epochs": 6})
        # Let it finish an epoch (a checkpoint exists), then pull the plug.
        assert wait_for(lambda: len(_job(tenant, job_id).history) >= 1, timeout=120), first.output
    finally:
        first.kill()
    assert _job(tenant, job_id).status == JobStatus.RUNNING

    second = _worker("train-rescue").start()
    try:
        time.sleep(settings.TRAINING_STALE_AFTER_SECONDS + 1)
        counts = services.training_jobs_reap()
        assert counts["requeued"] == 1
        assert wait_for(lambda: _job(tenant, job_id).is_terminal, timeout=180), second.output
    finally:
        second.stop()

    job = _job(tenant, job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.attempt == 2
    with tenant_context(tenant.id):
        assert ModelVersion.objects.filter(job=job).count() == 1
        assert ModelVersion.objects.count() == 1
        messages = list(TrainingJobEvent.objects.filter(job=job).values_list("message", flat=True))
    assert any("stopped sending heartbeats" in message for message in messages)
    assert [entry["epoch"] for entry in job.history] == list(range(1, len(job.history) + 1))
