"""The Celery app. Workers: `celery -A apps.config worker -Q <queues>` (docs/operations.md)."""

import os

from celery import Celery
from kombu import Queue as KombuQueue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings.local")

app = Celery("tessera")
app.config_from_object("django.conf:settings", namespace="CELERY")

from apps.core.queues import Queue  # noqa: E402

app.conf.task_queues = [KombuQueue(queue.value, routing_key=queue.value) for queue in Queue]
app.conf.task_default_queue = Queue.DEFAULT.value
app.conf.task_default_routing_key = Queue.DEFAULT.value
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _install_schedule(sender: Celery, **kwargs) -> None:
    from apps.config.schedules import BEAT_SCHEDULE

    sender.conf.beat_schedule = BEAT_SCHEDULE
