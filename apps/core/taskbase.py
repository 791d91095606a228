"""Helpers for Celery tasks: every tenant task enters its organization's context first."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from celery import shared_task

from apps.core.queues import QUEUE_TIME_LIMITS, Queue
from apps.core.tenancy import tenant_context


def tenant_task(*, queue: Queue, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Declare a Celery task whose first argument is the organization id.

    The wrapper enters `tenant_context(organization_id)` before the body runs, so every
    query in the task is scoped (and, on PostgreSQL, row-level secured) without the task
    having to remember. Time limits come from the queue unless given.

    Example:
        @tenant_task(queue=Queue.DEFAULT)
        def invitation_send(organization_id: int, invitation_id: str) -> None: ...
    """
    hard, soft = QUEUE_TIME_LIMITS[queue]
    options = {"queue": queue.value, "time_limit": hard, "soft_time_limit": soft, **options}

    def decorator(function: Callable[..., Any]) -> Any:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = options.get("bind")
            organization_id = args[1] if bound else args[0]
            if not isinstance(organization_id, int):
                raise TypeError(f"{function.__name__} takes the organization id first, got {organization_id!r}.")
            with tenant_context(organization_id):
                return function(*args, **kwargs)

        return shared_task(**options)(wrapper)

    return decorator


def system_task(*, queue: Queue, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Declare a task that belongs to no organization (periodic housekeeping)."""
    hard, soft = QUEUE_TIME_LIMITS[queue]
    return shared_task(**{"queue": queue.value, "time_limit": hard, "soft_time_limit": soft, **options})


def delay_quietly(task: Any, *args: Any, event: str) -> bool:
    """Publish a task message, logging instead of raising when the broker is down.

    For messages a periodic sweep sends again (alerts, Stripe events): a client request
    must not turn into a 500 because the broker is briefly unreachable.
    """
    import logging

    try:
        task.delay(*args)
    except Exception:  # kombu raises several types, OSError among them
        logging.getLogger(__name__).exception(event)
        return False
    return True
