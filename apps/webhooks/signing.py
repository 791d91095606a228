"""Signing outbound webhooks (Stripe-style): `Tessera-Signature: t=<unix>,v1=<hex>`.

The signature is HMAC-SHA256 with the endpoint's secret over `f"{t}.{raw_body}"`. During a
secret rotation with a grace period, the header carries one `v1=` per valid secret, so a
receiver holding either secret accepts the delivery.

`verify` here is for Tessera's own tests and tools; customers copy the standalone recipe
in `apps/webhooks/recipe.py` (docs/api.md embeds it; a test executes that exact text).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "Tessera-Signature"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The header is malformed, stale, or matches none of the secrets."""


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str | Sequence[str], timestamp: int, body: bytes) -> str:
    """The `Tessera-Signature` header value for `body` sent at `timestamp`.

    Args:
        secret: the endpoint secret (`whsec_...`), or several during a rotation's grace period.
        timestamp: unix seconds, also sent as `t=` so receivers can refuse replays.
        body: the exact bytes sent as the request body.

    Example:
        sign("whsec_abc", 1700000000, b'{"id": "evt_1"}')  # 't=1700000000,v1=5f0c...'
    """
    secrets = [secret] if isinstance(secret, str) else list(secret)
    parts = [f"t={int(timestamp)}"] + [f"{SIGNATURE_SCHEME}={compute_signature(s, timestamp, body)}" for s in secrets]
    return ",".join(parts)


def verify(
    secret: str,
    header: str,
    body: bytes,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a `Tessera-Signature` header; return its timestamp or raise `SignatureError`."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SIGNATURE_SCHEME and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("The signature header is malformed.")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError("The signature timestamp is outside the tolerance.")
    expected = compute_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("No signature matches the secret.")
    return timestamp
