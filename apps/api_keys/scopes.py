"""API key scopes: read/write per product, training, billing:read, admin."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Scope(StrEnum):
    SUPPORT_READ = "support:read"
    SUPPORT_WRITE = "support:write"
    SENTIMENT_READ = "sentiment:read"
    SENTIMENT_WRITE = "sentiment:write"
    RECOMMENDATIONS_READ = "recommendations:read"
    RECOMMENDATIONS_WRITE = "recommendations:write"
    TRAINING = "training"
    BILLING_READ = "billing:read"
    # Organization, members, invitations, API keys, audit log; implies every other scope.
    ADMIN = "admin"


ALL_SCOPES: tuple[str, ...] = tuple(scope.value for scope in Scope)

SCOPE_DESCRIPTIONS: dict[str, str] = {
    Scope.SUPPORT_READ: "Read customer-service data and predictions",
    Scope.SUPPORT_WRITE: "Send tickets, corrections and FAQ data",
    Scope.SENTIMENT_READ: "Read monitors, documents, trends and alerts",
    Scope.SENTIMENT_WRITE: "Ingest documents and correct scores",
    Scope.RECOMMENDATIONS_READ: "Request recommendations",
    Scope.RECOMMENDATIONS_WRITE: "Send catalog items and interactions",
    Scope.TRAINING: "Upload datasets, run training jobs, promote models",
    Scope.BILLING_READ: "Read usage, plan and invoices",
    Scope.ADMIN: "Everything, including organization settings, members, invitations, keys and audit log",
}


def scope_granted(granted: Iterable[str], required: str) -> bool:
    """True when `granted` covers `required`: admin covers all, write covers read."""
    granted = set(granted)
    if Scope.ADMIN in granted or required in granted:
        return True
    return required.endswith(":read") and required.removesuffix(":read") + ":write" in granted
