# Verify a Tessera webhook (standard library only; copy this into your receiver).
import hashlib
import hmac
import time


class InvalidSignature(Exception):
    pass


def verify_tessera_signature(body: bytes, header: str, secret: str, tolerance: int = 300) -> int:
    """Check the Tessera-Signature header against the raw request body.

    body: the raw bytes of the request body, before any JSON parsing.
    header: the value of the Tessera-Signature header, e.g. "t=1700000000,v1=5f0c...".
    secret: your endpoint's signing secret ("whsec_...").
    tolerance: the oldest timestamp you accept, in seconds, against replayed requests.

    Returns the signed timestamp; raises InvalidSignature otherwise.
    """
    timestamp = None
    signatures = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidSignature("malformed Tessera-Signature header")
    if abs(time.time() - timestamp) > tolerance:
        raise InvalidSignature("timestamp outside the tolerance")
    signed = str(timestamp).encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    # compare_digest takes the same time whether or not the strings match (no timing leak).
    if not any(hmac.compare_digest(expected, signature) for signature in signatures):
        raise InvalidSignature("no signature matches")
    return timestamp
