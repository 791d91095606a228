"""Base models. Every tenant-owned model inherits `TenantModel` (STYLE.md section 5)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models


class BaseModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class TenantQuerySet(models.QuerySet):
    def for_org(self, organization) -> TenantQuerySet:
        """Narrow to one organization. Accepts an Organization or its id."""
        organization_id = getattr(organization, "pk", organization)
        if organization_id is None:
            raise ValueError("for_org() needs an organization.")
        return self.filter(organization_id=organization_id)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    pass


class CrossTenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    """`Model.all_orgs`: the loud name for code that reads across organizations.

    On PostgreSQL it returns rows only inside `apps.core.tenancy.cross_tenant(...)`.
    """


class TenantModel(BaseModel):
    """A row owned by one organization.

    Row-level security policies are installed for every concrete subclass after each
    `migrate` (apps/core/rls.py), so a new tenant model is protected without anyone
    remembering to. Composite indexes must start with `organization`
    (tests/apps/core/test_tenancy.py checks both).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=True)

    # Extra SQL OR-ed into the row-level security USING clause (read visibility only).
    rls_extra_visibility: ClassVar[str] = ""
    # Rows can be inserted and read but never updated or deleted by the application
    # roles (the privileges are revoked after each migrate).
    append_only: ClassVar[bool] = False

    objects = TenantManager()
    all_orgs = CrossTenantManager()

    class Meta:
        abstract = True
        base_manager_name = "objects"
        default_manager_name = "objects"


class IdempotencyKey(TenantModel):
    """A POST's `Idempotency-Key` and the response it produced (docs/api.md).

    Written in the same transaction as the action, so a stored response exists exactly
    when the action committed.
    """

    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    response_headers = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="idempotency_key_unique_per_org"),
        ]
        indexes = [models.Index(fields=["organization", "created_at"], name="idempotency_org_created")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"
