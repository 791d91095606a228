from django.conf import settings
from django.db import models

from apps.core.models import TenantModel


class AuditEntry(TenantModel):
    """Who did what, when, through which key or user. Written by services, never edited.

    Append-only in the database too: the application roles may not UPDATE or DELETE it,
    so users and keys referenced here are deactivated or revoked, never deleted.
    """

    append_only = True

    action = models.CharField(max_length=64)  # dotted: "api_key.created"
    via = models.CharField(max_length=16)  # dashboard | api | console | system
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        "api_keys.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A snapshot, so the entry stays readable after the user or key is gone.
    actor_label = models.CharField(max_length=255)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "created_at"], name="audit_org_created"),
            models.Index(fields=["organization", "action", "created_at"], name="audit_org_action_created"),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label}"
