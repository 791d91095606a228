"""RSS and Atom feeds of a monitor: parse, fetch, poll into documents, and pick the feeds due.

A poll fetches the feed with the conditional headers of the last success (a 304 means no new
items), parses RSS 2.0 / RSS 1.0 / Atom 1.0, and hands the items to `documents_ingest`, which
is idempotent by `external_id` (the item's guid or id): a re-poll stores nothing twice. A
failed poll (network, HTTP status, malformed or hostile XML, oversize) is recorded on the
feed (`last_error`, `consecutive_failures`) and never raised to the scheduler, which waits
twice as long after each failure in a row.

Fetching goes through the outbound-webhook transport (apps/webhooks/transport.py): the same
private-address checks, and the connection pinned to the address that was checked.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.accounts.models import Organization
from apps.audit.services import audit_record
from apps.core.actors import Actor
from apps.core.tenancy import cross_tenant, tenant_context
from apps.sentiment.models import FeedSource, Monitor
from apps.sentiment.services import MAX_DOCUMENTS_PER_BATCH, SentimentError, documents_ingest
from apps.webhooks import transport

logger = logging.getLogger(__name__)

USER_AGENT = "Tessera feed poller"
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
MAX_REDIRECTS = 3
MAX_FEEDS_PER_MONITOR = 50
# After failures the wait doubles per failure in a row, up to this (a dead feed: daily).
MAX_BACKOFF_SECONDS = 24 * 3600
# Feeds sent to the poll queue per sweep; the rest are due again at the next sweep.
MAX_DUE_PER_SWEEP = 1000
INVALID = "The feed is not valid RSS or Atom: "
# Document field limits (apps/sentiment/models.py Document).
_EXTERNAL_ID_LIMIT, _AUTHOR_LIMIT, _SOURCE_LIMIT, _URL_LIMIT = 200, 200, 100, 1000

_ATOM = "{http://www.w3.org/2005/Atom}"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_RSS1 = "{http://purl.org/rss/1.0/}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}"


class FeedUnavailable(Exception):
    """A fetch or parse that failed; the message is for people and is stored as `last_error`."""


# --- parsing (pure) -------------------------------------------------------------------


@dataclass(frozen=True)
class FeedItem:
    external_id: str
    title: str
    summary: str
    url: str
    author: str
    published_at: datetime | None


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    items: list[FeedItem]


class _TextExtractor(HTMLParser):
    _SKIPPED = {"script", "style"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        self.parts.append(" ")  # <p>, <br>, <li>: words on either side stay apart

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED and self._skipping:
            self._skipping -= 1
        self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def strip_html(value: str) -> str:
    """Text of an HTML fragment: tags dropped, entities unescaped, whitespace collapsed."""
    parser = _TextExtractor()
    parser.feed(value)
    parser.close()
    return " ".join("".join(parser.parts).split())


def _text(element: Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _rfc822(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _iso8601(value: str) -> datetime | None:
    try:
        parsed = parse_datetime(value) if value else None
    except ValueError:
        return None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _hashed_id(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:48]


def _item(
    *, guid: str, title: str, summary: str, link: str, author: str, published: str, when: datetime | None, base_url: str
) -> FeedItem:
    url = urljoin(base_url, link) if link else ""
    external_id = guid or url or _hashed_id(title, published)
    if len(external_id) > _EXTERNAL_ID_LIMIT:
        external_id = _hashed_id(external_id)
    return FeedItem(
        external_id=external_id,
        title=strip_html(title),
        summary=strip_html(summary),
        url=url,
        author=author,
        published_at=when,
    )


def _rss_item(item: Element, namespace: str, base_url: str) -> FeedItem:
    published = _text(item.find("pubDate")) or _text(item.find(f"{_DC}date"))
    return _item(
        guid=_text(item.find("guid")) or item.get(f"{_RDF}about", "").strip(),
        title=_text(item.find(f"{namespace}title")),
        summary=_text(item.find(f"{namespace}description")) or _text(item.find(f"{_CONTENT}encoded")),
        link=_text(item.find(f"{namespace}link")),
        author=_text(item.find("author")) or _text(item.find(f"{_DC}creator")),
        published=published,
        when=_rfc822(published) or _iso8601(published),
        base_url=base_url,
    )


def _atom_link(entry: Element) -> str:
    links = entry.findall(f"{_ATOM}link")
    for link in links:
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href", "").strip()
    return next((link.get("href", "").strip() for link in links if link.get("href")), "")


def _atom_entry(entry: Element, base_url: str) -> FeedItem:
    published = _text(entry.find(f"{_ATOM}published")) or _text(entry.find(f"{_ATOM}updated"))
    return _item(
        guid=_text(entry.find(f"{_ATOM}id")),
        title=_text(entry.find(f"{_ATOM}title")),
        summary=_text(entry.find(f"{_ATOM}summary")) or _text(entry.find(f"{_ATOM}content")),
        link=_atom_link(entry),
        author=_text(entry.find(f"{_ATOM}author/{_ATOM}name")),
        published=published,
        when=_iso8601(published),
        base_url=base_url,
    )


def parse_feed(body: bytes, *, base_url: str = "") -> ParsedFeed:
    """Parse an RSS 2.0, RSS 1.0 (RDF) or Atom 1.0 document.

    Entity declarations are refused before anything expands (defusedxml), so a
    "billion laughs" document costs nothing. Raises FeedUnavailable with a message for people.

    Example:
        parse_feed(b"<rss version='2.0'><channel><title>News</title>...</channel></rss>").items
    """
    try:
        root = SafeElementTree.fromstring(body)
    except DefusedXmlException as exc:
        raise FeedUnavailable(
            f"{INVALID}it declares XML entities ({type(exc).__name__}), which are refused because they can "
            "expand without bound."
        ) from exc
    except ParseError as exc:
        raise FeedUnavailable(f"{INVALID}{exc}.") from exc
    if root.tag == "rss" and root.find("channel") is not None:
        channel = root.find("channel")
        assert channel is not None
        items = [_rss_item(item, "", base_url) for item in channel.findall("item")]
        return ParsedFeed(title=_text(channel.find("title")), items=items)
    if root.tag == f"{_ATOM}feed":
        items = [_atom_entry(entry, base_url) for entry in root.findall(f"{_ATOM}entry")]
        return ParsedFeed(title=_text(root.find(f"{_ATOM}title")), items=items)
    if root.tag == f"{_RDF}RDF":
        items = [_rss_item(item, _RSS1, base_url) for item in root.findall(f"{_RSS1}item")]
        return ParsedFeed(title=_text(root.find(f"{_RSS1}channel/{_RSS1}title")), items=items)
    name = root.tag.rsplit("}", 1)[-1]
    raise FeedUnavailable(f"{INVALID}the document is <{name}>, not <rss> or Atom <feed>.")


def _valid_url(url: str) -> str:
    if not url or len(url) > _URL_LIMIT:
        return ""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return ""
    return url


def feed_rows(parsed: ParsedFeed, *, feed_url: str, source: str, now: datetime) -> list[dict[str, Any]]:
    """Items as `documents_ingest` rows; items with neither title nor summary are skipped.

    text = title + ". " + summary (HTML stripped); a publication time that is missing,
    unreadable or in the future becomes `now`.
    """
    rows = []
    limit = settings.SENTIMENT_MAX_TEXT_LENGTH
    for item in parsed.items:
        title, summary = item.title, item.summary
        separator = " " if title[-1:] in ".!?…:" else ". "
        text = f"{title}{separator}{summary}" if title and summary else title or summary
        if not text:
            continue
        published_at = item.published_at if item.published_at and item.published_at <= now else now
        rows.append(
            {
                "external_id": item.external_id,
                "text": text[:limit],
                "url": _valid_url(item.url),
                "author": item.author[:_AUTHOR_LIMIT].strip(),
                "published_at": published_at.isoformat(),
                "source": source[:_SOURCE_LIMIT].strip(),
                "metadata": {"feed": feed_url},
            }
        )
    return rows


# --- fetching -------------------------------------------------------------------------


def allow_private_networks() -> bool:
    value = settings.FEED_ALLOW_PRIVATE_NETWORKS
    return transport.allow_private_networks() if value is None else value


def feed_url_check(url: str) -> str:
    """Check a feed URL before it is stored or followed; returns it cleaned, or raises `UnsafeUrl`.

    http and https only, no credentials, and (unless FEED_ALLOW_PRIVATE_NETWORKS) no local
    name or literal private address; names are resolved and checked again at fetch time.
    """
    url = (url or "").strip()
    if not url:
        raise transport.UnsafeUrl("Enter the feed's URL.")
    parts = transport.split_url(url)
    if parts.scheme not in ("http", "https"):
        raise transport.UnsafeUrl("The feed URL must start with http:// or https://.")
    if parts.username is not None or parts.password is not None:
        raise transport.UnsafeUrl(
            "Remove the user name and password from the URL; feeds behind a login are not supported."
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise transport.UnsafeUrl("The URL has no host.")
    if not allow_private_networks():
        transport.check_host(host)
    return parts._replace(fragment="").geturl()


@dataclass(frozen=True)
class FetchResult:
    status: int  # 200 or 304
    url: str  # after redirects: the base for relative links
    body: bytes = b""
    etag: str = ""
    last_modified: str = ""


def _too_large() -> FeedUnavailable:
    limit = settings.FEED_MAX_BYTES
    size = f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024 else f"{limit:,} bytes"
    return FeedUnavailable(f"The feed is larger than {size}; Tessera refuses larger feeds.")


def _read_body(response: http.client.HTTPResponse, deadline: float) -> bytes:
    limit = settings.FEED_MAX_BYTES
    declared = response.getheader("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large()
    chunks, size = [], 0
    while chunk := response.read(min(64 * 1024, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise _too_large()
        if time.monotonic() > deadline:
            raise TimeoutError
    return b"".join(chunks)


def _get(url: str, headers: dict[str, str], deadline: float) -> tuple[int, http.client.HTTPResponse, bytes]:
    parts = urlsplit(url)
    timeout = max(deadline - time.monotonic(), 0.1)
    connection = transport.pinned_connection(
        parts, timeout=timeout, allow_private=allow_private_networks(), refused="fetching is refused"
    )
    try:
        connection.request("GET", transport.request_target(parts), headers=headers)
        response = connection.getresponse()
        body = _read_body(response, deadline) if response.status == 200 else b""
        return response.status, response, body
    finally:
        connection.close()


def feed_fetch(url: str, *, etag: str = "", last_modified: str = "") -> FetchResult:
    """GET a feed, following up to 3 redirects (each checked like the URL itself).

    The whole fetch must finish within FEED_FETCH_TIMEOUT_SECONDS and the body must fit in
    FEED_MAX_BYTES. Raises FeedUnavailable with a message for people.
    """
    timeout = settings.FEED_FETCH_TIMEOUT_SECONDS
    deadline = time.monotonic() + timeout
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    with _fetch_errors(timeout):
        for _ in range(MAX_REDIRECTS + 1):
            status, response, body = _get(url, headers, deadline)
            if status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                url = feed_url_check(urljoin(url, response.getheader("Location", "")))
                continue
            if status == 304:
                return FetchResult(status=304, url=url, etag=response.getheader("ETag", "") or etag)
            if status != 200:
                raise FeedUnavailable(f"The feed answered HTTP {status} {response.reason}.".strip())
            return FetchResult(
                status=200,
                url=url,
                body=body,
                etag=response.getheader("ETag", "")[:500],
                last_modified=response.getheader("Last-Modified", "")[:100],
            )
    raise FeedUnavailable(f"The feed redirected more than {MAX_REDIRECTS} times.")


@contextmanager
def _fetch_errors(timeout: float) -> Iterator[None]:
    """Network and URL errors as FeedUnavailable, with a message for people."""
    try:
        yield
    except transport.UnsafeUrl as exc:
        raise FeedUnavailable(str(exc)) from exc
    except TimeoutError as exc:
        raise FeedUnavailable(f"The feed did not answer within {timeout} s.") from exc
    except ssl.SSLError as exc:
        raise FeedUnavailable(f"TLS error: {exc}") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise FeedUnavailable(f"Could not fetch the feed: {type(exc).__name__}: {exc}") from exc


# --- services -------------------------------------------------------------------------

_FEED_FIELDS = ("url", "name", "is_active")


def _clean_url(url: str) -> str:
    try:
        return feed_url_check(url)
    except transport.UnsafeUrl as exc:
        raise SentimentError(str(exc), code="invalid_url", details={"field": "url"}) from exc


def _feed_exists() -> SentimentError:
    return SentimentError(
        "This monitor already polls that feed.", code="feed_exists", status=409, details={"field": "url"}
    )


def feed_source_list(*, organization: Any, monitor: Monitor) -> QuerySet[FeedSource]:
    return FeedSource.objects.for_org(organization).filter(monitor=monitor).order_by("created_at", "id")


def feed_source_get(*, organization: Any, monitor: Monitor, feed_source_id: Any) -> FeedSource:
    """Raises FeedSource.DoesNotExist for a missing id and for another organization's feed."""
    return FeedSource.objects.for_org(organization).get(monitor=monitor, id=feed_source_id)


@transaction.atomic
def feed_source_create(
    *, organization: Organization, monitor: Monitor, actor: Actor, url: str, name: str = "", is_active: bool = True
) -> FeedSource:
    """Raises SentimentError: invalid_url (400), feed_exists / too_many_feeds (409)."""
    url = _clean_url(url)
    feeds = FeedSource.objects.for_org(organization).filter(monitor=monitor)
    if feeds.count() >= MAX_FEEDS_PER_MONITOR:
        raise SentimentError(
            f"A monitor polls at most {MAX_FEEDS_PER_MONITOR} feeds.", code="too_many_feeds", status=409
        )
    if feeds.filter(url=url).exists():
        raise _feed_exists()
    try:
        with transaction.atomic():
            feed = FeedSource.objects.create(
                organization=organization, monitor=monitor, url=url, name=name.strip(), is_active=is_active
            )
    except IntegrityError as exc:  # the same URL added concurrently
        raise _feed_exists() from exc
    audit_record(
        organization=organization,
        actor=actor,
        action="sentiment.feed_created",
        target=feed,
        metadata={"monitor_id": str(monitor.id), "url": url},
    )
    return feed


@transaction.atomic
def feed_source_update(
    *, organization: Organization, feed_source: FeedSource, actor: Actor, **changes: Any
) -> FeedSource:
    """Change url, name or is_active. A new URL starts afresh: no validators, no failures."""
    unknown = set(changes) - set(_FEED_FIELDS)
    if unknown:
        raise TypeError(f"Unknown feed fields: {sorted(unknown)}")
    if "url" in changes:
        changes["url"] = _clean_url(changes["url"])
        others = FeedSource.objects.for_org(organization).filter(monitor_id=feed_source.monitor_id)
        if others.filter(url=changes["url"]).exclude(id=feed_source.id).exists():
            raise _feed_exists()
        if changes["url"] != feed_source.url:
            changes.update(etag="", last_modified="", last_error="", consecutive_failures=0)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
    for name, value in changes.items():
        setattr(feed_source, name, value)
    feed_source.save()
    audit_record(
        organization=organization,
        actor=actor,
        action="sentiment.feed_updated",
        target=feed_source,
        metadata={"monitor_id": str(feed_source.monitor_id), "fields": sorted(set(changes) & set(_FEED_FIELDS))},
    )
    return feed_source


@transaction.atomic
def feed_source_delete(*, organization: Organization, feed_source: FeedSource, actor: Actor) -> None:
    """The feed stops being polled; the documents it brought stay in the monitor."""
    audit_record(
        organization=organization,
        actor=actor,
        action="sentiment.feed_deleted",
        target=feed_source,
        metadata={"monitor_id": str(feed_source.monitor_id), "url": feed_source.url},
    )
    feed_source.delete()


@dataclass
class FeedPollResult:
    status: str  # "ok", "not_modified" or "failed"
    items: int = 0  # items in the feed
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    scored: int = 0
    pending: int = 0
    deferred: int = 0
    error: str = ""
    feed: FeedSource | None = None


def _source_name(feed_source: FeedSource) -> str:
    return feed_source.name or (urlsplit(feed_source.url).hostname or "")


def _ingest(
    organization: Organization,
    feed_source: FeedSource,
    rows: list[dict[str, Any]],
    actor: Actor,
    result: FeedPollResult,
) -> None:
    monitor = Monitor.objects.for_org(organization).get(id=feed_source.monitor_id)
    for start in range(0, len(rows), MAX_DOCUMENTS_PER_BATCH):
        batch = documents_ingest(
            organization=organization,
            monitor=monitor,
            actor=actor,
            rows=rows[start : start + MAX_DOCUMENTS_PER_BATCH],
        )
        for name in ("created", "duplicates", "rejected", "scored", "pending", "deferred"):
            setattr(result, name, getattr(result, name) + getattr(batch, name))


def _record(feed_source: FeedSource, result: FeedPollResult, now: datetime, **fields: Any) -> FeedPollResult:
    feeds = FeedSource.objects.for_org(feed_source.organization_id).filter(id=feed_source.id)
    if result.status == "failed":
        fields.update(last_error=result.error, consecutive_failures=F("consecutive_failures") + 1)
    else:
        fields.update(last_success_at=now, last_error="", consecutive_failures=0)
        fields.update(items_seen=F("items_seen") + result.created)
    feeds.update(last_polled_at=now, updated_at=now, **fields)
    result.feed = feeds.first()
    return result


def _fail(feed_source: FeedSource, error: str, now: datetime) -> FeedPollResult:
    logger.info(
        "sentiment.feed_poll_failed",
        extra={"organization_id": feed_source.organization_id, "feed_id": str(feed_source.id), "error": error[:200]},
    )
    with tenant_context(feed_source.organization_id):
        return _record(feed_source, FeedPollResult(status="failed", error=error[:2000]), now)


def feed_source_poll(
    *, organization: Organization, feed_source: FeedSource, actor: Actor | None = None
) -> FeedPollResult:
    """Fetch the feed, store its new items as documents, and record the outcome on the feed.

    Never raises: a failure is in the result and on the row (`last_error`, one more
    `consecutive_failures`); a success or a 304 resets both. The fetch runs outside any
    transaction; the ingest and the new ETag / Last-Modified are stored together, so a
    failed ingest is fetched in full again next time.
    """
    actor = actor or Actor.system()
    now = timezone.now()
    try:
        fetched = feed_fetch(feed_source.url, etag=feed_source.etag, last_modified=feed_source.last_modified)
        parsed = parse_feed(fetched.body, base_url=fetched.url) if fetched.status == 200 else None
    except FeedUnavailable as exc:
        return _fail(feed_source, str(exc), now)
    except Exception:
        logger.exception("sentiment.feed_fetch_crashed", extra={"feed_id": str(feed_source.id)})
        return _fail(feed_source, "The feed could not be read (an internal error); the next poll tries again.", now)
    if parsed is None:
        with tenant_context(organization.id):
            return _record(feed_source, FeedPollResult(status="not_modified"), now, etag=fetched.etag)
    result = FeedPollResult(status="ok", items=len(parsed.items))
    rows = feed_rows(parsed, feed_url=feed_source.url, source=_source_name(feed_source), now=now)
    try:
        with tenant_context(organization.id):
            _ingest(organization, feed_source, rows, actor, result)
            return _record(feed_source, result, now, etag=fetched.etag, last_modified=fetched.last_modified)
    except Exception:
        logger.exception("sentiment.feed_ingest_failed", extra={"feed_id": str(feed_source.id)})
        return _fail(
            feed_source, "The feed's items could not be stored (an internal error); the next poll tries again.", now
        )


def feed_source_poll_by_id(*, organization_id: int, feed_source_id: Any) -> dict[str, Any]:
    """The scheduled poll: a feed deleted or switched off since it was queued is skipped."""
    with tenant_context(organization_id):
        feed = FeedSource.objects.for_org(organization_id).filter(id=feed_source_id, is_active=True).first()
        organization = Organization.objects.get(id=organization_id) if feed else None
    if feed is None or organization is None:
        return {"status": "skipped"}
    result = feed_source_poll(organization=organization, feed_source=feed)
    return {"status": result.status, "items": result.items, "created": result.created, "error": result.error}


def poll_wait(consecutive_failures: int) -> timedelta:
    """How long after its last poll a feed is due: the interval, doubled per failure in a row, at most a day."""
    seconds = settings.FEED_POLL_INTERVAL_SECONDS * 2 ** min(consecutive_failures, 16)
    return timedelta(seconds=min(seconds, max(MAX_BACKOFF_SECONDS, settings.FEED_POLL_INTERVAL_SECONDS)))


def feed_sources_due(*, now: datetime | None = None) -> list[tuple[int, str]]:
    """(organization id, feed id) of active feeds of active monitors whose wait has passed, oldest first."""
    now = now or timezone.now()
    with cross_tenant(reason="sentiment.feeds_poll_due"):
        rows = list(
            FeedSource.all_orgs.filter(_due(now), is_active=True, monitor__is_active=True)
            .order_by(F("last_polled_at").asc(nulls_first=True), "id")
            .values_list("organization_id", "id")[:MAX_DUE_PER_SWEEP]
        )
    return [(organization_id, str(feed_id)) for organization_id, feed_id in rows]


def _due(now: datetime) -> Q:
    # One term per failure count until the wait reaches its cap, so the database does the
    # whole filter and the sweep's limit never fills with feeds still backing off.
    due, failures = Q(last_polled_at__isnull=True), 0
    while poll_wait(failures) < poll_wait(failures + 1):
        due |= Q(consecutive_failures=failures, last_polled_at__lte=now - poll_wait(failures))
        failures += 1
    return due | Q(consecutive_failures__gte=failures, last_polled_at__lte=now - poll_wait(failures))
