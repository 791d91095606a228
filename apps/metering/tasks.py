from datetime import datetime
from decimal import Decimal

from apps.core.queues import Queue
from apps.core.taskbase import system_task, tenant_task
from apps.metering import services


@tenant_task(queue=Queue.METERING, acks_late=True)
def usage_alert_notify(organization_id: int, alert_id: str) -> bool:
    return services.usage_alert_notify(organization=organization_id, alert_id=alert_id)


@tenant_task(queue=Queue.METERING, acks_late=True)
def usage_alert_raise(organization_id: int, meter: str, kind: str, period_start: str, used: str, limit: str) -> bool:
    alert = services.usage_alert_raise(
        organization_id=organization_id,
        meter=meter,
        kind=kind,
        period_start=datetime.fromisoformat(period_start),
        used=Decimal(used),
        limit=Decimal(limit),
    )
    return alert is not None


@system_task(queue=Queue.METERING)
def usage_alerts_notify_overdue() -> int:
    return services.usage_alerts_notify_overdue()
