"""Routing (CPU or GPU queue), the per-organization concurrency limit, and the reaper."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.tenancy import tenant_context
from apps.training import runner, services
from apps.training.models import JobStatus, TrainingJob, TrainingJobEvent, TrainingWorker
from apps.training.workers import registered_devices
from tests.factories.billing import put_on_plan, set_overrides
from tests.factories.training import make_job

pytestmark = pytest.mark.django_db


def _validated(organization, dataset_version, **options):
    job = make_job(organization, dataset_version, **options)
    runner.training_job_validate(organization_id=organization.id, job_id=job.id)
    with tenant_context(organization.id):
        return TrainingJob.objects.get(id=job.id)


def _gpu_worker(seen_seconds_ago=0):
    return TrainingWorker.objects.create(
        hostname="gpu@host",
        queues=["training.gpu"],
        device="cuda",
        device_name="NVIDIA H100",
        last_seen_at=timezone.now() - timedelta(seconds=seen_seconds_ago),
    )


def test_without_a_gpu_worker_every_job_goes_to_the_cpu_queue(org, make_dataset):
    job = _validated(org, make_dataset(org), strategy="lora")

    assert registered_devices() == ["cpu"]
    assert (job.status, job.queue, job.device) == (JobStatus.QUEUED, "training.cpu", "cpu")


def test_a_live_gpu_worker_takes_lora_and_full_but_not_head(org, make_dataset):
    put_on_plan(org, "starter")
    _gpu_worker()
    dataset_version = make_dataset(org)

    lora = _validated(org, dataset_version, strategy="lora", model_name="a")
    head = _validated(org, dataset_version, strategy="head", model_name="b")

    assert registered_devices() == ["cpu", "cuda"]
    assert (lora.queue, lora.device) == ("training.gpu", "cuda")
    assert (head.queue, head.device) == ("training.cpu", "cpu")


def test_a_gpu_worker_not_seen_for_minutes_no_longer_counts(org, make_dataset):
    put_on_plan(org, "starter")
    _gpu_worker(seen_seconds_ago=600)

    job = _validated(org, make_dataset(org), strategy="lora")

    assert job.queue == "training.cpu"


def test_auto_strategy_records_its_reason(org, make_dataset):
    job = _validated(org, make_dataset(org), strategy="auto")

    with tenant_context(org.id):
        messages = list(TrainingJobEvent.objects.filter(job=job).values_list("message", flat=True))
    assert job.resolved_strategy in {"head", "lora", "full"}
    assert any(message.startswith(f"Strategy auto chose {job.resolved_strategy}: ") for message in messages)


def test_one_organizations_queue_does_not_hold_back_another(org, other_org, make_dataset, settings):
    mine, theirs = make_dataset(org), make_dataset(other_org)

    a_jobs = [_validated(org, mine, model_name=f"m{index}") for index in range(3)]
    b_job = _validated(other_org, theirs)

    assert [job.dispatched_at is not None for job in a_jobs] == [True, False, False]
    assert b_job.dispatched_at is not None


def _stale_running_job(organization, dataset_version, *, attempt):
    job = _validated(organization, dataset_version)
    with tenant_context(organization.id):
        TrainingJob.objects.filter(id=job.id).update(
            status=JobStatus.RUNNING,
            attempt=attempt,
            attempt_started_at=timezone.now() - timedelta(minutes=5),
            heartbeat_at=timezone.now() - timedelta(minutes=4),
            worker="cpu@lost",
        )
    return job


def test_the_reaper_requeues_a_job_whose_worker_went_silent(org, make_dataset):
    job = _stale_running_job(org, make_dataset(org), attempt=1)

    counts = services.training_jobs_reap()

    with tenant_context(org.id):
        job = TrainingJob.objects.get(id=job.id)
    assert counts == {"requeued": 1, "failed": 0, "dispatched": 1}
    assert (job.status, job.attempt) == (JobStatus.QUEUED, 2)
    assert job.dispatched_at is not None
    assert 55 <= job.cpu_seconds <= 65  # the lost attempt ran from start to its last heartbeat


def test_the_reaper_gives_up_after_the_last_attempt(org, make_dataset, settings):
    settings.TRAINING_MAX_ATTEMPTS = 2
    job = _stale_running_job(org, make_dataset(org), attempt=2)

    counts = services.training_jobs_reap()

    with tenant_context(org.id):
        job = TrainingJob.objects.get(id=job.id)
    assert counts["failed"] == 1
    assert job.status == JobStatus.FAILED
    assert job.error == {"code": "worker_lost", "message": "The worker stopped responding 2 times; giving up."}


def test_a_late_message_from_a_replaced_attempt_is_ignored(org, make_dataset):
    job = _stale_running_job(org, make_dataset(org), attempt=1)
    services.training_jobs_reap()

    with tenant_context(org.id):
        claimed = services.training_job_claim(job_id=job.id, attempt=1, worker="cpu@late")
        assert TrainingJob.objects.get(id=job.id).status == JobStatus.QUEUED
    assert claimed is None


def test_a_plan_without_gpu_training_trains_on_the_cpu_even_with_a_gpu_worker(org, make_dataset):
    _gpu_worker()

    job = _validated(org, make_dataset(org), strategy="lora")

    with tenant_context(org.id):
        messages = list(TrainingJobEvent.objects.filter(job=job).values_list("message", flat=True))
    assert (job.queue, job.device) == ("training.cpu", "cpu")
    assert "A GPU worker is available, but this organization's plan trains on CPU workers." in messages


def test_the_plans_concurrency_entitlement_lets_more_jobs_run_at_once(org, make_dataset):
    set_overrides(org, max_concurrent_training_jobs=2)
    dataset_version = make_dataset(org)

    jobs = [_validated(org, dataset_version, model_name=f"m{index}") for index in range(3)]

    with tenant_context(org.id):
        dispatched = TrainingJob.objects.filter(id__in=[job.id for job in jobs], dispatched_at__isnull=False).count()
    assert dispatched == 2
