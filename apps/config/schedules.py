"""Every periodic job, in one module (STYLE.md section 4)."""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "idempotency-keys-purge": {
        "task": "apps.core.tasks.idempotency_keys_purge",
        "schedule": crontab(minute=17),  # hourly, off the top of the hour
    },
}
