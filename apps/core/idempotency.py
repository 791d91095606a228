"""`Idempotency-Key` on POST: the same key and body replays the stored response; the same
key with a different body is a 409. See docs/api.md.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.core.errors import ApiError, Conflict
from apps.core.models import IdempotencyKey

MAX_KEY_LENGTH = 255
_REPLAYED_HEADERS = ("Location",)


class IdempotentReplay(Exception):
    def __init__(self, record: IdempotencyKey) -> None:
        super().__init__(record.key)
        self.record = record

    def response(self) -> Response:
        response = Response(self.record.response_body, status=self.record.response_status)
        for name, value in self.record.response_headers.items():
            response[name] = value
        response["Idempotent-Replayed"] = "true"
        return response


@dataclass
class PendingIdempotency:
    record: IdempotencyKey


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    # Parsed and re-serialized with sorted keys, so whitespace and key order don't matter.
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(method.encode() + b"\n" + path.encode() + b"\n" + canonical).hexdigest()


def _conflict_or_replay(record: IdempotencyKey, fingerprint: str) -> Exception:
    if record.request_fingerprint != fingerprint:
        return Conflict(
            "This Idempotency-Key was already used with a different request. Use a new key for a new request.",
            code="idempotency_key_reused",
            details={"idempotency_key": record.key},
        )
    if record.response_status is None:
        return Conflict(
            "A request with this Idempotency-Key is still being processed. Retry shortly.",
            code="idempotency_key_in_progress",
            details={"idempotency_key": record.key},
        )
    return IdempotentReplay(record)


def idempotency_begin(*, organization_id: int, key: str, method: str, path: str, body: bytes) -> PendingIdempotency:
    """Claim the key for this request or raise IdempotentReplay / Conflict.

    The claim row is inserted in the request's transaction: a concurrent request with the
    same key blocks on the unique index until this one commits, then replays its result.
    """
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
            code="invalid_idempotency_key",
        )
    fingerprint = request_fingerprint(method, path, body)
    ttl_cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    existing = IdempotencyKey.objects.for_org(organization_id).filter(key=key).first()
    if existing is not None and existing.created_at < ttl_cutoff:
        existing.delete()
        existing = None
    if existing is not None:
        raise _conflict_or_replay(existing, fingerprint)
    try:
        with transaction.atomic():
            record = IdempotencyKey.objects.create(
                organization_id=organization_id, key=key, request_fingerprint=fingerprint, method=method, path=path
            )
    except IntegrityError:
        existing = IdempotencyKey.objects.for_org(organization_id).get(key=key)
        raise _conflict_or_replay(existing, fingerprint) from None
    return PendingIdempotency(record)


def idempotency_complete(pending: PendingIdempotency, response: Response, *, redact: tuple[str, ...] = ()) -> None:
    """Store a successful response with its claim. Failures roll the claim back with the
    request, so a retry after an error runs again.

    Top-level fields named in `redact` are stored (and so replayed) as null: one-time
    secrets must never be written to the database in clear.
    """
    record = pending.record
    record.response_status = response.status_code
    body = json.loads(JSONRenderer().render(response.data) or b"null")
    if isinstance(body, dict):
        body.update({field: None for field in redact if field in body})
    record.response_body = body
    record.response_headers = {name: response[name] for name in _REPLAYED_HEADERS if response.has_header(name)}
    record.save(update_fields=["response_status", "response_body", "response_headers", "updated_at"])
