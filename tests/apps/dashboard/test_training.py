"""Dashboard pages for training jobs and models: start, watch, cancel, promote, roll back, try."""

import pytest

from apps.audit.models import AuditEntry
from apps.core.actors import Actor
from apps.core.tenancy import tenant_context
from apps.datasets.services import dataset_upload
from apps.training import runner, services
from apps.training.models import JobStatus, ModelVersion, TrainingJob
from tests.apps.dashboard.markup import page
from tests.apps.training.data import labelled_csv

pytestmark = pytest.mark.django_db


def _dataset(organization, name="bank-intents"):
    with tenant_context(organization.id):
        return dataset_upload(
            organization=organization,
            actor=Actor.system(),
            name=name,
            kind="labelled_texts",
            filename="intents.csv",
            data=labelled_csv(),
        )


def _jobs(organization):
    with tenant_context(organization.id):
        return list(TrainingJob.objects.order_by("created_at"))


def test_starting_a_job_from_the_form_opens_its_live_page(owner_client, org):
    dataset_version = _dataset(org)

    response = owner_client.post(
        f"/o/{org.slug}/training/new/",
        {
            "task": "classification",
            "dataset": str(dataset_version.dataset_id),
            "model_name": "support-intent",
            "strategy": "head",
            "epochs": "5",
        },
    )

    [job] = _jobs(org)
    assert response.status_code == 302
    assert response["Location"] == f"/o/{org.slug}/training/{job.id}/"
    assert job.model_name == "support-intent" and job.hyperparameters["epochs"] == 5
    detail = page(owner_client.get(response["Location"]))
    assert detail.one("training-job-status").text == "Validating"
    assert detail.one("training-job-live").get("hx-trigger") == "every 2s"
    assert detail.one("training-job-events").all("training-job-event")[0].text.startswith("info Job created by")
    listing = page(owner_client.get(f"/o/{org.slug}/training/"))
    assert [row.get("data-job-id") for row in listing.all("training-job-row")] == [str(job.id)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"task": "retrieval", "strategy": "head"}, "Frozen encoder + linear head does not apply to retrieval"),
        ({"task": "classification", "strategy": "auto", "epochs": "0"}, "greater than or equal to 1"),
        ({"task": "retrieval", "strategy": "auto"}, "A retrieval job needs a text pairs dataset"),
    ],
)
def test_invalid_jobs_are_refused_with_a_readable_message(owner_client, org, data, message):
    dataset_version = _dataset(org)

    response = owner_client.post(f"/o/{org.slug}/training/new/", {"dataset": str(dataset_version.dataset_id), **data})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert _jobs(org) == []


def test_a_viewer_can_watch_but_not_start_or_cancel(client_for, viewer, owner, org):
    dataset_version = _dataset(org)
    with tenant_context(org.id):
        job = services.training_job_create(
            organization=org, actor=Actor.system(), task="classification", dataset_version=dataset_version
        )
    watcher = client_for(viewer)

    listing = watcher.get(f"/o/{org.slug}/training/")
    start = watcher.post(
        f"/o/{org.slug}/training/new/", {"task": "classification", "dataset": str(job.dataset_version.dataset_id)}
    )
    cancel = watcher.post(f"/o/{org.slug}/training/{job.id}/cancel/")

    assert listing.status_code == 200 and page(listing).all("training-job-create") == []
    assert start.status_code == 403 and cancel.status_code == 403
    assert [j.status for j in _jobs(org)] == [JobStatus.VALIDATING]


def test_cancel_from_the_dashboard(owner_client, org):
    dataset_version = _dataset(org)
    with tenant_context(org.id):
        job = services.training_job_create(
            organization=org, actor=Actor.system(), task="classification", dataset_version=dataset_version
        )

    response = owner_client.post(f"/o/{org.slug}/training/{job.id}/cancel/", follow=True)

    assert page(response).one("training-job-status").text == "Cancelled"
    assert _jobs(org)[0].status == JobStatus.CANCELLED
    with tenant_context(org.id):
        assert AuditEntry.objects.filter(action="training_job.cancelled").count() == 1


def test_another_organization_gets_404_everywhere(other_owner_client, org):
    dataset_version = _dataset(org)
    with tenant_context(org.id):
        job = services.training_job_create(
            organization=org, actor=Actor.system(), task="classification", dataset_version=dataset_version
        )

    job_page = other_owner_client.get(f"/o/{org.slug}/training/{job.id}/")
    cancel = other_owner_client.post(f"/o/{org.slug}/training/{job.id}/cancel/")

    assert job_page.status_code == 404 and cancel.status_code == 404
    assert _jobs(org)[0].status == JobStatus.VALIDATING


@pytest.mark.django_db(transaction=True)
def test_models_page_shows_versions_and_promote_rollback_and_try_work(client_for, org, owner):
    dataset_version = _dataset(org)

    def train(**hyperparameters):
        with tenant_context(org.id):
            job = services.training_job_create(
                organization=org,
                actor=Actor.system(),
                task="classification",
                dataset_version=dataset_version,
                model_name="support-intent",
                strategy="head",
                hyperparameters=hyperparameters,
            )
        runner.training_job_validate(organization_id=org.id, job_id=job.id)
        runner.training_job_run(organization_id=org.id, job_id=job.id, attempt=1)
        with tenant_context(org.id):
            return ModelVersion.objects.get(job=job)

    strong, weak = train(), train(epochs=1, learning_rate=1e-6)
    owner_client = client_for(owner)

    models = page(owner_client.get(f"/o/{org.slug}/models/"))
    rows = models.all("model-version-row")
    assert [row.get("data-version-id") for row in rows] == [str(weak.id), str(strong.id)]
    assert len(models.all("model-version-active")) == 1
    promoted = owner_client.post(f"/o/{org.slug}/models/{weak.id}/promote/", follow=True)
    assert "support-intent v2 is now active." in promoted.content.decode()
    rolled = owner_client.post(f"/o/{org.slug}/models/support-intent/rollback/", follow=True)
    assert "Rolled back: support-intent v1 is active again." in rolled.content.decode()
    tried = page(
        owner_client.post(
            f"/o/{org.slug}/models/{strong.id}/predict/", {"texts": "I lost my card\nAre you open today?"}
        )
    )
    assert [row.all(tag="span")[0].text for row in tried.all("prediction-row")] == ["card_lost", "opening_hours"]
    job_page = page(owner_client.get(f"/o/{org.slug}/training/{strong.job_id}/"))
    assert job_page.one("training-job-status").text == "Succeeded"
    assert job_page.all("training-curves")
    assert job_page.one("training-job-live").get("hx-trigger") is None
