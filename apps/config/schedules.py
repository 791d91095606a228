"""Every periodic job, in one module (STYLE.md section 4)."""

from celery.schedules import crontab
from django.conf import settings

BEAT_SCHEDULE = {
    "idempotency-keys-purge": {
        "task": "apps.core.tasks.idempotency_keys_purge",
        "schedule": crontab(minute=17),  # hourly, off the top of the hour
    },
    # Requeues jobs whose worker died (kill -9) and dispatches waiting jobs.
    "training-jobs-reap": {
        "task": "apps.training.tasks.training_jobs_reap",
        "schedule": float(settings.TRAINING_REAPER_INTERVAL_SECONDS),
    },
    # Deliveries whose message was lost (broker down at commit, a crashed worker).
    "webhook-deliveries-requeue-overdue": {
        "task": "apps.webhooks.tasks.webhook_deliveries_requeue_overdue",
        "schedule": crontab(minute="*/5"),
    },
}
