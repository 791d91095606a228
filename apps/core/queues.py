from enum import StrEnum


class Queue(StrEnum):
    """Every Celery queue, in one place (STYLE.md section 4). Workers subscribe by name."""

    DEFAULT = "default"
    INFERENCE = "inference"
    METERING = "metering"
    BILLING = "billing"
    WEBHOOKS = "webhooks"
    TRAINING_CPU = "training.cpu"
    TRAINING_GPU = "training.gpu"


# Hard and soft time limits per queue, in seconds. Training is long by nature; everything
# else should finish in seconds and is killed well before it can pile up.
QUEUE_TIME_LIMITS: dict[Queue, tuple[int, int]] = {
    Queue.DEFAULT: (300, 240),
    Queue.INFERENCE: (600, 540),
    Queue.METERING: (300, 240),
    Queue.BILLING: (300, 240),
    Queue.WEBHOOKS: (120, 90),
    Queue.TRAINING_CPU: (6 * 3600, 6 * 3600 - 120),
    Queue.TRAINING_GPU: (6 * 3600, 6 * 3600 - 120),
}
