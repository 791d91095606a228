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
    # Usage to Stripe Billing Meters; safe to re-run (identifiers from idempotency keys).
    "billing-meter-events-export": {
        "task": "apps.billing.tasks.meter_events_export_all",
        "schedule": float(settings.BILLING_METER_EXPORT_INTERVAL_SECONDS),
    },
    # Compare local subscription state with Stripe and repair drift.
    "billing-reconcile": {
        "task": "apps.billing.tasks.billing_reconcile_all",
        "schedule": crontab(hour=3, minute=41),
    },
    # Stripe events whose processing message was lost (broker down at commit).
    "billing-stripe-events-retry": {
        "task": "apps.billing.tasks.stripe_events_retry",
        "schedule": crontab(minute="*/10"),
    },
    # Usage alerts whose notification message was lost.
    "metering-alerts-notify-overdue": {
        "task": "apps.metering.tasks.usage_alerts_notify_overdue",
        "schedule": crontab(minute="*/5"),
    },
    # Seats and storage levels once a day, so a month without changes still has its level.
    "metering-gauges-snapshot": {
        "task": "apps.billing.tasks.usage_gauges_snapshot_all",
        "schedule": crontab(hour=0, minute=23),
    },
    # Sentiment documents deferred over quota (or stuck pending) once the allowance allows.
    "sentiment-documents-deferred-score": {
        "task": "apps.sentiment.tasks.documents_deferred_score_all",
        "schedule": crontab(minute="*/10"),
    },
    # Sentiment feeds (RSS / Atom) whose interval has passed, each polled by its own task.
    "sentiment-feeds-poll-due": {
        "task": "apps.sentiment.tasks.feeds_poll_due",
        "schedule": crontab(minute="*/5"),
    },
    # Monitors whose scoring model version changed (a promotion): re-score recent documents.
    "sentiment-rescore-sweep": {
        "task": "apps.sentiment.tasks.rescore_sweep",
        "schedule": crontab(),  # every minute
    },
}
