"""Cross-tenant housekeeping run by Celery beat (apps/config/schedules.py)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apps.core.models import IdempotencyKey
from apps.core.tenancy import cross_tenant

logger = logging.getLogger(__name__)


def idempotency_keys_purge() -> int:
    """Delete stored Idempotency-Key responses older than IDEMPOTENCY_KEY_TTL_HOURS."""
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    with cross_tenant(reason="housekeeping.idempotency_keys_purge"):
        deleted, _ = IdempotencyKey.all_orgs.filter(created_at__lt=cutoff).delete()
    logger.info("housekeeping.idempotency_keys_purged", extra={"deleted": deleted})
    return deleted
