"""Who is acting: a signed-in user, an API key, Tessera staff in the console, or the system."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.accounts.models import User


@dataclass(frozen=True)
class Actor:
    """Passed to every service that writes, so permissions and the audit log agree.

    `role` is the organization role the actor acts with: a member's role, "admin" for an
    API key with the admin scope, "staff" in the console, "system" for tasks.
    """

    via: str  # "dashboard" | "api" | "console" | "system"
    role: str
    user: User | None = None
    api_key: Any | None = None  # apps.api_keys.models.ApiKey (no import: api_keys depends on core)
    ip_address: str | None = None

    @property
    def label(self) -> str:
        if self.api_key is not None:
            return f"API key {self.api_key.name} ({self.api_key.masked})"
        if self.user is not None:
            return self.user.email if self.via != "console" else f"Tessera staff {self.user.email}"
        return "Tessera"

    @property
    def is_manager(self) -> bool:
        """May manage keys, members and billing (owner or admin)."""
        return self.role in ("owner", "admin", "staff")

    @classmethod
    def system(cls) -> Actor:
        return cls(via="system", role="system")


def client_ip(request: Any) -> str | None:
    # Behind a proxy, configure the proxy to set REMOTE_ADDR (docs/operations.md).
    return request.META.get("REMOTE_ADDR") or None
