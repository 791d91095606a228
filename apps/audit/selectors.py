from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from apps.audit.models import AuditEntry


def audit_entry_list(
    *, organization, action: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.for_org(organization).select_related("actor_user", "actor_api_key")
    if action:
        # "api_key" matches every api_key.* action; "api_key.created" matches exactly.
        entries = entries.filter(action=action) if "." in action else entries.filter(action__startswith=f"{action}.")
    if since:
        entries = entries.filter(created_at__gte=since)
    if until:
        entries = entries.filter(created_at__lt=until)
    return entries.order_by("-created_at", "-id")
