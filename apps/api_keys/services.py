"""Writes for API keys: create (the secret is returned once), revoke, mark used."""

from __future__ import annotations

import hashlib
import secrets
import string
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Organization
from apps.api_keys.models import KEY_PREFIX, ApiKey
from apps.api_keys.scopes import ALL_SCOPES, scope_granted
from apps.audit.services import audit_record
from apps.core.actors import Actor
from apps.core.errors import ServiceError

_ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 40  # 40 base62 characters: about 238 bits, so an unsalted sha256 is safe


class ApiKeyError(ServiceError):
    pass


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_generate() -> str:
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))


def api_key_is_well_formed(secret: str) -> bool:
    body = secret[len(KEY_PREFIX) :]
    return secret.startswith(KEY_PREFIX) and len(body) == SECRET_LENGTH and all(c in _ALPHABET for c in body)


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    actor: Actor,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never available again.

    A key can't grant more than its creator holds: a key-authenticated creator can only
    pass on scopes it has itself.
    """
    if not actor.is_manager:
        raise ApiKeyError("Only owners and admins can create API keys.", code="permission_denied", status=403)
    name = name.strip()
    if not name:
        raise ApiKeyError("Give the key a name, so you can tell keys apart later.", code="invalid_name")
    scopes = sorted(set(scopes))
    unknown = [scope for scope in scopes if scope not in ALL_SCOPES]
    if unknown:
        raise ApiKeyError(f"Unknown scopes: {', '.join(unknown)}.", code="invalid_scope")
    if not scopes:
        raise ApiKeyError("Choose at least one scope.", code="invalid_scope")
    if actor.api_key is not None:
        beyond = [scope for scope in scopes if not scope_granted(actor.api_key.scopes, scope)]
        if beyond:
            raise ApiKeyError(
                f"A key cannot grant scopes it does not hold: {', '.join(beyond)}.", code="scope_escalation", status=403
            )
    if expires_at is not None and expires_at <= timezone.now():
        raise ApiKeyError("The expiry must be in the future.", code="invalid_expiry")
    secret = api_key_generate()
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name[:100],
        prefix=secret[: len(KEY_PREFIX) + 4],
        last_four=secret[-4:],
        key_hash=api_key_hash(secret),
        scopes=scopes,
        created_by=actor.user,
        expires_at=expires_at,
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="api_key.created",
        target=api_key,
        metadata={"scopes": scopes, "expires_at": expires_at.isoformat() if expires_at else None},
    )
    return api_key, secret


@transaction.atomic
def api_key_revoke(*, organization: Organization, api_key: ApiKey, actor: Actor) -> ApiKey:
    """Revoke by timestamp; the row stays for the audit trail. Revoking twice is a no-op."""
    if not actor.is_manager:
        raise ApiKeyError("Only owners and admins can revoke API keys.", code="permission_denied", status=403)
    api_key = ApiKey.objects.for_org(organization).select_for_update().get(id=api_key.id)
    if api_key.revoked_at is not None:
        return api_key
    api_key.revoked_at = timezone.now()
    api_key.revoked_by = actor.user
    api_key.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
    audit_record(organization=organization, actor=actor, action="api_key.revoked", target=api_key)
    return api_key


def api_key_mark_used(*, api_key: ApiKey) -> None:
    """Write last_used_at at most every API_KEY_LAST_USED_RESOLUTION_SECONDS.

    A conditional UPDATE, not read-modify-write: concurrent requests write it once.
    """
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if api_key.last_used_at is not None and api_key.last_used_at > cutoff:
        return
    ApiKey.objects.for_org(api_key.organization_id).filter(id=api_key.id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=cutoff)
    ).update(last_used_at=now)
    api_key.last_used_at = now
