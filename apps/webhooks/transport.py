"""Endpoint URL rules and the one HTTP POST of a delivery attempt (standard library only).

Redirects are never followed (http.client does not follow them): a 3xx is a failed
attempt, like Stripe and GitHub. Where private networks are not allowed, the host is
resolved once, every address is checked, and the connection goes to the checked address,
so DNS cannot point the request somewhere else between the check and the connect.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

USER_AGENT = "Tessera-Webhooks/1.0"
RESPONSE_EXCERPT_BYTES = 2048
MAX_URL_LENGTH = 2048
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class UnsafeUrl(ValueError):
    """The URL may not receive webhooks; the message says why, for people."""


def allow_private_networks() -> bool:
    value = settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS
    return settings.WEBHOOK_ALLOW_HTTP if value is None else value


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 is checked as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_host(host: str) -> None:
    """Refuse local names and literal non-public addresses (names are checked when resolved)."""
    if host.lower() in _LOCAL_NAMES or host.lower().endswith(".localhost"):
        raise UnsafeUrl("The URL points at this machine; use a public address.")
    try:
        is_public = is_public_address(host)
    except ValueError:
        return  # a name: resolved and checked at send time
    if not is_public:
        raise UnsafeUrl("The URL points at a private, loopback or link-local address; use a public address.")


def split_url(url: str):
    """`urlsplit` with the length, whitespace and port checks; raises `UnsafeUrl`."""
    if not url:
        raise UnsafeUrl("Enter the URL Tessera should send events to.")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeUrl("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl("The URL is not valid.") from exc
    if port == 0:
        raise UnsafeUrl("The URL's port is not valid.")
    return parts


def validate_url(url: str) -> str:
    """Check an endpoint URL before it is stored; returns it stripped, or raises `UnsafeUrl`.

    Literal addresses and local names are checked here; names are resolved at send time.
    """
    url = (url or "").strip()
    parts = split_url(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("The URL must start with https://.")
    if parts.scheme == "http" and not settings.WEBHOOK_ALLOW_HTTP:
        raise UnsafeUrl("The URL must use https://; plain http:// is not allowed.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("Remove the user name and password from the URL; verify requests with the signature.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("The URL has no host.")
    if parts.fragment:
        raise UnsafeUrl("Remove the #fragment from the URL; it is never sent.")
    if not allow_private_networks():
        check_host(host)
    return url


@dataclass(frozen=True)
class AttemptResult:
    requested_at: float
    duration_ms: int
    status: int | None = None
    body: str = ""
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return not self.error and self.status is not None and 200 <= self.status < 300


def resolve_address(host: str, port: int, *, allow_private: bool, refused: str = "delivery is refused") -> str:
    """The address to connect to; refused when `allow_private` is off and it is not public."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise UnsafeUrl(f"{host} does not resolve.")
    if not allow_private:
        blocked = [address for address in addresses if not is_public_address(address)]
        if blocked:
            raise UnsafeUrl(f"{host} resolves to a non-public address ({blocked[0]}); {refused}.")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # The certificate is checked against the URL's host name, not the address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def pinned_connection(
    parts: SplitResult, *, timeout: float, allow_private: bool, refused: str = "delivery is refused"
) -> http.client.HTTPConnection:
    """An unopened connection to the checked address of an http(s) URL; raises `UnsafeUrl`.

    Shared with the sentiment feed poller, so both outbound paths have one SSRF guard.
    """
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve_address(host, port, allow_private=allow_private, refused=refused)
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    return connection_class(host, port, address=address, timeout=timeout)


def request_target(parts: SplitResult) -> str:
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _decode_excerpt(raw: bytes) -> str:
    # PostgreSQL text cannot hold NUL; replacement keeps undecodable bytes visible.
    return raw[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> AttemptResult:
    """POST once. Never raises for network trouble: the error is in the result.

    Success means a 2xx within `timeout` seconds in total (connect, send, response).
    """
    requested_at = time.time()
    started = time.monotonic()

    def result(**fields) -> AttemptResult:
        return AttemptResult(requested_at=requested_at, duration_ms=int((time.monotonic() - started) * 1000), **fields)

    connection = None
    try:
        parts = urlsplit(url)
        connection = pinned_connection(parts, timeout=timeout, allow_private=allow_private_networks())
        target = request_target(parts)
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = _decode_excerpt(response.read(RESPONSE_EXCERPT_BYTES))
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            return result(status=response.status, body=excerpt, error=f"Timed out: answered after {elapsed:.1f} s.")
        if 300 <= response.status < 400:
            location = response.getheader("Location", "")
            return result(
                status=response.status, body=excerpt, error=f"Redirect to {location[:300]!r} not followed."[:500]
            )
        return result(status=response.status, body=excerpt)
    except UnsafeUrl as exc:
        return result(error=str(exc)[:500])
    except TimeoutError:
        return result(error=f"Timed out after {timeout:g} s.")
    except ssl.SSLError as exc:
        return result(error=f"TLS error: {exc}"[:500])
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return result(error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        if connection is not None:
            connection.close()
