"""Celery entry points for sentiment monitoring (thin: ids in, a service call)."""

from __future__ import annotations

from apps.core.queues import Queue
from apps.core.taskbase import delay_quietly, system_task, tenant_task
from apps.sentiment import feeds, retrain, services
from apps.sentiment.models import DocumentStatus


# NOTE: not a `tenant_task`: that wraps the body in one transaction, and a large batch must
# commit chunk by chunk (progress visible, a refused chunk loses only itself). The service
# opens a short tenant context per chunk, like the training runner.
@system_task(queue=Queue.INFERENCE, acks_late=True)
def monitor_documents_score(organization_id: int, monitor_id: str) -> dict:
    return services.monitor_documents_score(
        organization_id=organization_id, monitor_id=monitor_id, statuses=(DocumentStatus.PENDING,)
    )


@system_task(queue=Queue.INFERENCE, acks_late=True)
def monitor_documents_deferred_score(organization_id: int, monitor_id: str) -> dict:
    return services.monitor_documents_score(
        organization_id=organization_id,
        monitor_id=monitor_id,
        statuses=(DocumentStatus.DEFERRED, DocumentStatus.PENDING),
    )


@system_task(queue=Queue.DEFAULT)
def documents_deferred_score_all() -> int:
    """Every 10 minutes: queue scoring for monitors with deferred (or stuck pending) documents."""
    pairs = services.documents_deferred_monitors()
    for organization_id, monitor_id in pairs:
        delay_quietly(
            monitor_documents_deferred_score, organization_id, monitor_id, event="sentiment.deferred_enqueue_failed"
        )
    return len(pairs)


@tenant_task(queue=Queue.DEFAULT)
def monitor_spike_check(organization_id: int, monitor_id: str) -> int:
    try:
        from apps.sentiment.alerts import spike_check
    except ImportError as error:
        raise ImportError(
            "apps.sentiment.alerts.spike_check is missing: the spike-alert module must define "
            "spike_check(*, monitor, now=None) -> list[SpikeAlert]."
        ) from error
    from apps.sentiment.models import Monitor

    monitor = Monitor.objects.for_org(organization_id).filter(id=monitor_id).first()
    if monitor is None:
        return 0
    return len(spike_check(monitor=monitor))


# NOTE: not a `tenant_task` either: the fetch must not hold a transaction open for up to
# FEED_FETCH_TIMEOUT_SECONDS; the service opens a tenant context around its writes. On the
# inference queue because a small batch of new items is scored in the same call.
@system_task(queue=Queue.INFERENCE, acks_late=True)
def feed_source_poll(organization_id: int, feed_source_id: str) -> dict:
    if not isinstance(organization_id, int):
        raise TypeError(f"feed_source_poll takes the organization id first, got {organization_id!r}.")
    return feeds.feed_source_poll_by_id(organization_id=organization_id, feed_source_id=feed_source_id)


@system_task(queue=Queue.DEFAULT)
def feeds_poll_due() -> int:
    """Every 5 minutes: one poll task per active feed whose wait has passed."""
    due = feeds.feed_sources_due()
    for organization_id, feed_source_id in due:
        delay_quietly(feed_source_poll, organization_id, feed_source_id, event="sentiment.feed_poll_enqueue_failed")
    return len(due)


@tenant_task(queue=Queue.DEFAULT)
def monitor_retrain(organization_id: int, monitor_id: str, field: str, correction_id: str) -> str | None:
    """The automatic retrain after K corrections (idempotent per threshold correction)."""
    from apps.accounts.models import Organization

    organization = Organization.objects.get(id=organization_id)
    job = retrain.monitor_retrain_after_corrections(
        organization=organization, monitor_id=monitor_id, field=field, correction_id=correction_id
    )
    return None if job is None else str(job.id)


# NOTE: not a `tenant_task`: each chunk commits on its own, so progress shows as it goes.
@system_task(queue=Queue.INFERENCE, acks_late=True)
def rescore_run_execute(organization_id: int, run_id: str) -> str | None:
    run = retrain.rescore_run_execute(organization_id=organization_id, run_id=run_id)
    return None if run is None else run.status


@system_task(queue=Queue.DEFAULT)
def rescore_sweep() -> int:
    """Every minute: start re-score runs for monitors whose scoring version changed."""
    runs = retrain.rescore_sweep()
    for organization_id, run_id in runs:
        delay_quietly(rescore_run_execute, organization_id, run_id, event="sentiment.rescore_enqueue_failed")
    return len(runs)
