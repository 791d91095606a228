"""Which training workers exist: GPU routing and the time estimates in dataset reports.

A worker that consumes `training.cpu` or `training.gpu` registers itself when it starts
(`worker_ready`) and refreshes its row from a daemon thread; a row not refreshed within
WORKER_LIVE_SECONDS is treated as gone (a worker killed with -9 never says goodbye).
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import timedelta

from django.db import close_old_connections
from django.utils import timezone

from apps.core.queues import Queue

logger = logging.getLogger(__name__)

WORKER_LIVE_SECONDS = 120
REFRESH_SECONDS = 30
TRAINING_QUEUES = {Queue.TRAINING_CPU.value, Queue.TRAINING_GPU.value}


def live_workers():
    from apps.training.models import TrainingWorker

    return TrainingWorker.objects.filter(last_seen_at__gte=timezone.now() - timedelta(seconds=WORKER_LIVE_SECONDS))


def gpu_worker_available() -> bool:
    return live_workers().filter(device="cuda").exists()


def registered_devices() -> list[str]:
    """["cpu"], plus "cuda" while a GPU worker is registered. CPU is always listed: jobs
    fall back to training.cpu, and its estimate is the one a tenant gets without a GPU."""
    return ["cpu", "cuda"] if gpu_worker_available() else ["cpu"]


def _detect_device(queues: list[str]) -> tuple[str, str]:
    if Queue.TRAINING_GPU.value not in queues:
        return "cpu", ""
    import torch  # a training worker has the ml extra installed

    if torch.cuda.is_available():
        return "cuda", torch.cuda.get_device_name(0)
    logger.warning("training.worker_without_gpu", extra={"queues": queues})
    return "cpu", ""


def worker_register(*, hostname: str, queues: list[str]) -> None:
    from apps.training.models import TrainingWorker

    device, device_name = _detect_device(queues)
    TrainingWorker.objects.update_or_create(
        hostname=hostname,
        defaults={"queues": queues, "device": device, "device_name": device_name, "last_seen_at": timezone.now()},
    )
    logger.info("training.worker_registered", extra={"hostname": hostname, "device": device, "queues": queues})


def worker_unregister(*, hostname: str) -> None:
    from apps.training.models import TrainingWorker

    TrainingWorker.objects.filter(hostname=hostname).delete()


def start_registration(consumer) -> None:
    """Called from the `worker_ready` signal: register now and keep the row fresh."""
    queues = sorted(queue.name for queue in consumer.task_consumer.queues)
    if not TRAINING_QUEUES.intersection(queues):
        return
    hostname = getattr(consumer, "hostname", None) or socket.gethostname()
    worker_register(hostname=hostname, queues=queues)

    def refresh() -> None:
        from apps.training.models import TrainingWorker

        while True:
            threading.Event().wait(REFRESH_SECONDS)
            try:
                close_old_connections()
                TrainingWorker.objects.filter(hostname=hostname).update(last_seen_at=timezone.now())
            except Exception:  # a database blip must not kill the thread; the next round retries
                logger.exception("training.worker_refresh_failed")

    threading.Thread(target=refresh, name="training-worker-registry", daemon=True).start()
