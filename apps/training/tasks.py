"""Celery entry points for training (thin: fetch by id, call the runner or a service)."""

from __future__ import annotations

from apps.core.queues import Queue
from apps.core.taskbase import system_task
from apps.training import runner, services


# NOTE: these take the organization id first like every tenant task, but open their own
# short tenant contexts instead of using `tenant_task`: a training run lasts minutes to
# hours, and its progress must be committed as it goes, not in one transaction at the end.
@system_task(queue=Queue.DEFAULT, acks_late=True)
def training_job_validate(organization_id: int, job_id: str) -> None:
    runner.training_job_validate(organization_id=organization_id, job_id=job_id)


# acks_late + reject_on_worker_lost: a message whose worker died is redelivered; the
# attempt number it carries makes a redelivery after the reaper's retry a no-op.
@system_task(queue=Queue.TRAINING_CPU, acks_late=True, reject_on_worker_lost=True)
def training_job_run(organization_id: int, job_id: str, attempt: int) -> None:
    runner.training_job_run(organization_id=organization_id, job_id=job_id, attempt=attempt)


@system_task(queue=Queue.DEFAULT)
def training_jobs_reap() -> dict:
    return services.training_jobs_reap()
