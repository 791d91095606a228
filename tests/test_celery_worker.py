"""A task through a real Celery worker process, over Redis, against the test database."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from rest_framework.test import APIClient

from apps.accounts.models import Invitation
from apps.config.celery import app
from apps.core.tenancy import tenant_context
from tests.factories.accounts import MembershipFactory, OrganizationFactory
from tests.factories.api_keys import make_api_key

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    mail_dir = tmp_path_factory.mktemp("worker-mail")
    db = connections["default"].settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "apps.config.settings.test",
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "TEST_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "TEST_EMAIL_FILE_PATH": str(mail_dir),
    }
    app.control.purge()  # messages left by earlier runs name rows that no longer exist
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "apps.config",
            "worker",
            "-Q",
            "default",
            "--pool=solo",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=INFO",
            "-n",
            "test-worker@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = worker.stdout.readline()
        log.append(line)
        if " ready." in line:
            break
        if worker.poll() is not None:
            pytest.fail("The Celery worker exited:\n" + "".join(log))
    else:
        worker.kill()
        pytest.fail("The Celery worker did not become ready in 90 s:\n" + "".join(log))
    yield mail_dir
    worker.terminate()
    worker.wait(timeout=30)


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_invitation_email_is_sent_by_the_worker(celery_worker_process):
    mail_dir = celery_worker_process
    org = OrganizationFactory(name="Worker Bank")
    MembershipFactory(organization=org, role="owner")
    _, secret = make_api_key(org)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    response = client.post("/api/v1/invitations", {"email": "queued@example.com", "role": "member"}, format="json")

    assert response.status_code == 201

    def sent():
        with tenant_context(org.id):
            return Invitation.objects.filter(id=response.json()["id"], email_sent_at__isnull=False).exists()

    assert _wait_for(sent), "the worker did not mark the invitation as sent"
    messages = [path.read_text() for path in mail_dir.iterdir()]
    assert len(messages) == 1
    assert "To: queued@example.com" in messages[0]
    assert "Worker Bank" in messages[0]
    assert settings.SITE_URL + "/invitations/" in messages[0]
