"""Recording usage. Called inside the transaction of the action it measures."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.metering.models import Meter, UsageEvent


def usage_event_record(
    *,
    organization: Any,
    meter: str,
    quantity: int | float | Decimal,
    idempotency_key: str,
    occurred_at: datetime | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Append one usage event in the caller's transaction.

    A second call with the same `idempotency_key` in the same organization is a no-op
    (the unique constraint absorbs it with ON CONFLICT DO NOTHING), so retries count once.

    Example:
        usage_event_record(organization=org, meter=Meter.API_PREDICTIONS, quantity=3, idempotency_key="predict:...")
    """
    if meter not in Meter.values:
        raise ValueError(f"Unknown meter {meter!r}.")
    quantity = Decimal(str(quantity)).quantize(Decimal("0.000001"))
    if quantity < 0:
        raise ValueError("Usage quantities are never negative.")
    UsageEvent.objects.bulk_create(
        [
            UsageEvent(
                organization_id=getattr(organization, "pk", organization),
                meter=meter,
                quantity=quantity,
                idempotency_key=idempotency_key,
                occurred_at=occurred_at or timezone.now(),
                metadata=metadata or {},
            )
        ],
        ignore_conflicts=True,
    )
