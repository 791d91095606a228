from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from apps.api_keys.models import ApiKey


def api_key_list(*, organization, include_revoked: bool = True) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.for_org(organization).select_related("created_by")
    if not include_revoked:
        keys = keys.filter(revoked_at__isnull=True)
    return keys.order_by("-created_at", "-id")


def api_key_get(*, organization, api_key_id) -> ApiKey:
    return ApiKey.objects.for_org(organization).select_related("created_by").get(id=api_key_id)


def api_key_organization_id_for_hash(key_hash: str) -> int | None:
    """Which organization a key belongs to, before any tenant context exists.

    On PostgreSQL this calls a SECURITY DEFINER function that answers exactly this one
    question, so authentication needs no cross-tenant access to the key table.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT tessera_api_key_organization(%s)", [key_hash])
            row = cursor.fetchone()
        return row[0] if row else None
    return ApiKey.all_orgs.filter(key_hash=key_hash).values_list("organization_id", flat=True).first()
