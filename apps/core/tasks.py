from apps.core import housekeeping
from apps.core.queues import Queue
from apps.core.taskbase import system_task


@system_task(queue=Queue.DEFAULT)
def idempotency_keys_purge() -> int:
    return housekeeping.idempotency_keys_purge()
