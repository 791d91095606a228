from __future__ import annotations

from typing import Any

from django.db import models

from apps.audit.models import AuditEntry
from apps.core.actors import Actor


def audit_record(
    *,
    organization: Any,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    target_label: str = "",
    metadata: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one audit entry in the caller's transaction (so it exists iff the action does)."""
    return AuditEntry.objects.create(
        organization=organization,
        action=action,
        via=actor.via,
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        actor_label=actor.label[:255],
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=(target_label or (str(target) if target is not None else ""))[:255],
        metadata=metadata or {},
        ip_address=actor.ip_address,
    )
