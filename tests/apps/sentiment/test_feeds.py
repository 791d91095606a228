import threading
import time
from datetime import UTC, datetime, timedelta
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.core.actors import Actor
from apps.core.errors import ServiceError
from apps.sentiment import feeds, tasks
from apps.sentiment.models import Document, FeedSource, Monitor

pytestmark = pytest.mark.django_db

PUBLISHED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


class _Route:
    def __init__(self, body=b"", *, etag="", status=200, headers=None, declare_length=True):
        self.body, self.etag, self.status = body, etag, status
        self.headers, self.declare_length = headers or {}, declare_length


class FeedServer:
    """A threaded HTTP server on 127.0.0.1: routes by path, ETag / If-None-Match, a request log."""

    def __init__(self):
        self.routes: dict[str, _Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((self.path, dict(self.headers)))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self.send_response(304)
                    self.send_header("ETag", route.etag)
                    self.end_headers()
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", "application/rss+xml")
                if route.etag:
                    self.send_header("ETag", route.etag)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                if route.declare_length:
                    self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def serve(self, path, body, **options):
        self.routes[path] = _Route(body if isinstance(body, bytes) else body.encode(), **options)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    feed_server = FeedServer()
    yield feed_server
    feed_server.close()


def rss(items, title="Acme Bank news"):
    entries = "".join(
        f"<item><title>{escape(item_title)}</title><link>https://news.example/{guid}</link>"
        f"<guid isPermaLink='false'>{guid}</guid><description>{escape(html)}</description>"
        f"<pubDate>Mon, 02 Nov 2026 09:30:00 GMT</pubDate><author>desk@news.example (Desk)</author></item>"
        for guid, item_title, html in items
    )
    channel = f"<channel><title>{title}</title>{entries}</channel>"
    return f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'>{channel}</rss>"


ITEMS = [
    ("acme-1", "Fees go up", "<p>Acme raises <b>fees</b> &amp; charges.</p>"),
    ("acme-2", "App outage", "<p>The app was down for <i>hours</i>.</p>"),
    ("acme-3", "Good earnings", "Profits beat forecasts."),
]

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Lear reviews</title>
  <id>urn:lear:reviews</id>
  <updated>2026-11-02T10:00:00Z</updated>
  <entry>
    <title>Bad fees</title>
    <id>urn:review:1</id>
    <link rel="alternate" href="https://reviews.example/1"/>
    <published>2026-11-02T08:15:00+01:00</published>
    <author><name>Jane Roe</name></author>
    <summary type="html">&lt;p&gt;Hidden &lt;em&gt;fees&lt;/em&gt; everywhere&lt;/p&gt;</summary>
  </entry>
  <entry>
    <title>Fast app</title>
    <id>urn:review:2</id>
    <link href="/2"/>
    <updated>2026-11-02T09:00:00Z</updated>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Works <b>well</b></div></content>
  </entry>
</feed>"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title><guid>x</guid></item></channel></rss>"""


def add_feed(org, in_org, monitor, url, **fields):
    with in_org(org):
        return feeds.feed_source_create(organization=org, monitor=monitor, actor=Actor.system(), url=url, **fields)


def poll(org, in_org, feed):
    with in_org(org):
        feed = FeedSource.objects.for_org(org).get(id=feed.id)
    return feeds.feed_source_poll(organization=org, feed_source=feed)


def documents(org, in_org):
    with in_org(org):
        return list(Document.objects.for_org(org).order_by("external_id"))


def stored(org, in_org, feed):
    with in_org(org):
        return FeedSource.objects.for_org(org).get(id=feed.id)


# --- polling ---------------------------------------------------------------------------


def test_the_first_poll_stores_every_item_as_a_scored_document(org, in_org, monitor, server, fake_models):
    server.serve("/rss", rss(ITEMS), etag='"v1"')
    feed = add_feed(org, in_org, monitor, server.url("/rss"))

    result = poll(org, in_org, feed)

    assert (result.status, result.items, result.created, result.scored, result.duplicates) == ("ok", 3, 3, 3, 0)
    docs = documents(org, in_org)
    assert [d.external_id for d in docs] == ["acme-1", "acme-2", "acme-3"]
    assert docs[0].text == "Fees go up. Acme raises fees & charges."
    assert docs[0].url == "https://news.example/acme-1"
    assert docs[0].author == "desk@news.example (Desk)"
    assert docs[0].source == "127.0.0.1"
    assert docs[0].published_at == PUBLISHED
    assert docs[0].metadata == {"feed": server.url("/rss")}
    assert {d.status for d in docs} == {"scored"}
    after = stored(org, in_org, feed)
    assert (after.etag, after.items_seen, after.consecutive_failures, after.last_error) == ('"v1"', 3, 0, "")
    assert after.last_polled_at == after.last_success_at
    assert server.requests[0][1]["User-Agent"] == "Tessera feed poller"


def test_a_repoll_answered_304_stores_nothing(org, in_org, monitor, server, fake_models):
    server.serve("/rss", rss(ITEMS), etag='"v1"')
    feed = add_feed(org, in_org, monitor, server.url("/rss"))
    poll(org, in_org, feed)

    result = poll(org, in_org, feed)

    assert (result.status, result.items, result.created) == ("not_modified", 0, 0)
    assert server.requests[1][1]["If-None-Match"] == '"v1"'
    assert len(documents(org, in_org)) == 3
    assert stored(org, in_org, feed).items_seen == 3


def test_a_changed_feed_with_one_new_item_stores_exactly_one(org, in_org, monitor, server, fake_models):
    server.serve("/rss", rss(ITEMS), etag='"v1"')
    feed = add_feed(org, in_org, monitor, server.url("/rss"))
    poll(org, in_org, feed)
    server.serve("/rss", rss([("acme-4", "Card fraud wave", "Cloned cards reported."), *ITEMS]), etag='"v2"')

    result = poll(org, in_org, feed)

    assert (result.status, result.items, result.created, result.duplicates) == ("ok", 4, 1, 3)
    assert [d.external_id for d in documents(org, in_org)] == ["acme-1", "acme-2", "acme-3", "acme-4"]
    after = stored(org, in_org, feed)
    assert (after.etag, after.items_seen) == ('"v2"', 4)


def test_an_atom_feed_is_read_with_ids_links_authors_and_iso_dates(org, in_org, monitor, server, fake_models):
    server.serve("/atom", ATOM)
    feed = add_feed(org, in_org, monitor, server.url("/atom"), name="Lear reviews")

    result = poll(org, in_org, feed)

    assert (result.status, result.created) == ("ok", 2)
    first, second = documents(org, in_org)
    assert (first.external_id, first.text, first.url, first.author) == (
        "urn:review:1",
        "Bad fees. Hidden fees everywhere",
        "https://reviews.example/1",
        "Jane Roe",
    )
    assert first.published_at == datetime(2026, 11, 2, 7, 15, tzinfo=UTC)
    assert first.source == "Lear reviews"
    assert (second.external_id, second.text, second.url) == ("urn:review:2", "Fast app. Works well", server.url("/2"))
    assert second.published_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_items_without_guid_use_the_link_and_then_a_hash(org, in_org, monitor, server, fake_models):
    body = (
        "<rss version='2.0'><channel><title>t</title>"
        "<item><title>Linked</title><link>https://news.example/a</link></item>"
        "<item><title>Bare</title><pubDate>not a date</pubDate></item>"
        "</channel></rss>"
    )
    server.serve("/rss", body)
    feed = add_feed(org, in_org, monitor, server.url("/rss"))
    before = timezone.now()

    first = poll(org, in_org, feed)
    again = poll(org, in_org, feed)

    assert (first.created, again.created, again.duplicates) == (2, 0, 2)
    linked, bare = documents(org, in_org)
    assert linked.external_id == "https://news.example/a"
    assert bare.external_id.startswith("sha256:")
    assert bare.published_at >= before


def test_malformed_xml_is_reported_on_the_feed_and_stores_nothing(org, in_org, monitor, server, fake_models):
    server.serve("/rss", "<rss version='2.0'><channel><item><title>Cut off")
    feed = add_feed(org, in_org, monitor, server.url("/rss"))

    first = poll(org, in_org, feed)
    second = poll(org, in_org, feed)

    assert (first.status, second.status) == ("failed", "failed")
    after = stored(org, in_org, feed)
    assert after.last_error.startswith("The feed is not valid RSS or Atom: no element found")
    assert after.consecutive_failures == 2
    assert after.last_success_at is None
    assert documents(org, in_org) == []


def test_a_success_after_failures_clears_the_error(org, in_org, monitor, server, fake_models):
    server.serve("/rss", "<html><body>Not a feed</body></html>")
    feed = add_feed(org, in_org, monitor, server.url("/rss"))
    failed = poll(org, in_org, feed)
    server.serve("/rss", rss(ITEMS))

    result = poll(org, in_org, feed)

    assert failed.error == "The feed is not valid RSS or Atom: the document is <html>, not <rss> or Atom <feed>."
    assert (result.status, result.created) == ("ok", 3)
    after = stored(org, in_org, feed)
    assert (after.consecutive_failures, after.last_error) == (0, "")


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "streamed"])
def test_an_oversize_feed_is_refused(org, in_org, monitor, server, settings, fake_models, declare_length):
    settings.FEED_MAX_BYTES = 4096
    server.serve("/rss", rss([(f"g{i}", f"Item {i}", "x" * 200) for i in range(40)]), declare_length=declare_length)
    feed = add_feed(org, in_org, monitor, server.url("/rss"))

    result = poll(org, in_org, feed)

    assert result.status == "failed"
    assert stored(org, in_org, feed).last_error == "The feed is larger than 4,096 bytes; Tessera refuses larger feeds."
    assert documents(org, in_org) == []


def test_a_billion_laughs_payload_is_refused_without_expanding(org, in_org, monitor, server, fake_models):
    server.serve("/rss", BILLION_LAUGHS)
    feed = add_feed(org, in_org, monitor, server.url("/rss"))
    started = time.monotonic()

    result = poll(org, in_org, feed)

    assert time.monotonic() - started < 5
    assert result.status == "failed"
    assert result.error == (
        "The feed is not valid RSS or Atom: it declares XML entities (EntitiesForbidden), which are refused "
        "because they can expand without bound."
    )
    assert stored(org, in_org, feed).consecutive_failures == 1
    assert documents(org, in_org) == []


def test_an_http_error_is_reported(org, in_org, monitor, server, fake_models):
    server.serve("/rss", "boom", status=500)
    feed = add_feed(org, in_org, monitor, server.url("/rss"))

    result = poll(org, in_org, feed)

    assert result.error == "The feed answered HTTP 500 Internal Server Error."
    assert stored(org, in_org, feed).consecutive_failures == 1


def test_a_redirect_is_followed_and_relative_links_resolve_against_the_new_url(
    org, in_org, monitor, server, fake_models
):
    server.serve("/old", "", status=301, headers={"Location": "/atom"})
    server.serve("/atom", ATOM)
    feed = add_feed(org, in_org, monitor, server.url("/old"))

    result = poll(org, in_org, feed)

    assert (result.status, result.created) == ("ok", 2)
    assert [path for path, _ in server.requests] == ["/old", "/atom"]
    assert documents(org, in_org)[1].url == server.url("/2")


def test_private_addresses_are_refused_when_private_networks_are_off(org, in_org, monitor, server, settings):
    server.serve("/rss", rss(ITEMS))
    feed = add_feed(org, in_org, monitor, server.url("/rss"))
    settings.FEED_ALLOW_PRIVATE_NETWORKS = False

    result = poll(org, in_org, feed)
    with pytest.raises(ServiceError) as refused, in_org(org):
        feeds.feed_source_create(
            organization=org, monitor=monitor, actor=Actor.system(), url="http://localhost:8000/rss"
        )

    assert result.error == "127.0.0.1 resolves to a non-public address (127.0.0.1); fetching is refused."
    assert server.requests == []
    assert refused.value.code == "invalid_url"
    assert documents(org, in_org) == []


@pytest.mark.parametrize(
    "url", ["ftp://news.example/feed.xml", "file:///etc/passwd", "javascript:alert(1)", "news.example/rss", ""]
)
def test_a_url_that_is_not_http_is_refused_at_create(org, in_org, monitor, url):
    with pytest.raises(ServiceError) as refused, in_org(org):
        feeds.feed_source_create(organization=org, monitor=monitor, actor=Actor.system(), url=url)

    assert refused.value.code == "invalid_url"
    with in_org(org):
        assert FeedSource.objects.for_org(org).count() == 0


def test_a_url_with_credentials_is_refused(org, in_org, monitor):
    with pytest.raises(ServiceError) as refused, in_org(org):
        feeds.feed_source_create(
            organization=org, monitor=monitor, actor=Actor.system(), url="https://user:pw@news.example/rss"
        )

    assert refused.value.code == "invalid_url"


def test_an_rss_1_feed_is_read():
    body = (
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel rdf:about="https://e.example/"><title>R</title>'
        b'</channel><item rdf:about="https://e.example/1"><title>T</title><link>https://e.example/1</link>'
        b"<description>D</description><dc:date>2026-11-02T09:30:00Z</dc:date><dc:creator>Ann</dc:creator></item>"
        b"</rdf:RDF>"
    )

    parsed = feeds.parse_feed(body)

    assert parsed.title == "R"
    assert parsed.items == [
        feeds.FeedItem(
            external_id="https://e.example/1",
            title="T",
            summary="D",
            url="https://e.example/1",
            author="Ann",
            published_at=PUBLISHED,
        )
    ]


def test_html_is_stripped_to_text_without_scripts():
    html = "<p>Fees&nbsp;up<br/>again</p><script>alert(1)</script><ul><li>a &amp; b</li></ul>"

    assert feeds.strip_html(html) == "Fees up again a & b"


# --- scheduling ------------------------------------------------------------------------


def _set(org, in_org, feed, **fields):
    with in_org(org):
        FeedSource.objects.for_org(org).filter(id=feed.id).update(**fields)


def test_feeds_poll_due_sends_one_task_per_due_feed_and_backs_off_after_failures(
    org, other_org, in_org, monitor, other_monitor, monkeypatch, settings
):
    settings.FEED_POLL_INTERVAL_SECONDS = 900
    now = timezone.now()
    never = add_feed(org, in_org, monitor, "https://news.example/never")
    recent = add_feed(org, in_org, monitor, "https://news.example/recent")
    stale = add_feed(org, in_org, monitor, "https://news.example/stale")
    backing_off = add_feed(org, in_org, monitor, "https://news.example/backing-off")
    backed_off = add_feed(org, in_org, monitor, "https://news.example/backed-off")
    inactive = add_feed(org, in_org, monitor, "https://news.example/inactive", is_active=False)
    other = add_feed(other_org, in_org, other_monitor, "https://news.example/lear")
    _set(org, in_org, recent, last_polled_at=now - timedelta(minutes=5))
    _set(org, in_org, stale, last_polled_at=now - timedelta(minutes=20))
    # 2 failures: the wait is 4 × 15 minutes.
    _set(org, in_org, backing_off, last_polled_at=now - timedelta(minutes=50), consecutive_failures=2)
    _set(org, in_org, backed_off, last_polled_at=now - timedelta(minutes=70), consecutive_failures=2)
    _set(org, in_org, inactive, last_polled_at=None)
    sent = []
    monkeypatch.setattr(tasks.feed_source_poll, "delay", lambda *args: sent.append(args))

    count = tasks.feeds_poll_due()

    assert count == 4
    assert sorted(sent) == sorted(
        [(org.id, str(never.id)), (org.id, str(stale.id)), (org.id, str(backed_off.id)), (other_org.id, str(other.id))]
    )


def test_feeds_of_an_inactive_monitor_are_not_due(org, in_org, monitor):
    add_feed(org, in_org, monitor, "https://news.example/rss")
    with in_org(org):
        Monitor.objects.for_org(org).filter(id=monitor.id).update(is_active=False)

    assert feeds.feed_sources_due() == []


def test_the_wait_doubles_per_failure_up_to_a_day(settings):
    settings.FEED_POLL_INTERVAL_SECONDS = 900

    waits = [feeds.poll_wait(failures).total_seconds() for failures in (0, 1, 2, 3, 6, 7, 50)]

    assert waits == [900, 1800, 3600, 7200, 57600, 86400, 86400]


def test_the_poll_task_polls_an_active_feed_and_skips_a_deleted_one(org, in_org, monitor, server, fake_models):
    server.serve("/rss", rss(ITEMS))
    feed = add_feed(org, in_org, monitor, server.url("/rss"))

    polled = tasks.feed_source_poll(org.id, str(feed.id))
    with in_org(org):
        feeds.feed_source_delete(organization=org, feed_source=stored(org, in_org, feed), actor=Actor.system())
    skipped = tasks.feed_source_poll(org.id, str(feed.id))

    assert polled == {"status": "ok", "items": 3, "created": 3, "error": ""}
    assert skipped == {"status": "skipped"}
    assert len(documents(org, in_org)) == 3


def test_the_poll_task_never_raises_for_an_unreachable_feed(org, in_org, monitor, server):
    feed = add_feed(org, in_org, monitor, server.url("/rss"))
    server.close()

    result = tasks.feed_source_poll(org.id, str(feed.id))

    assert result["status"] == "failed"
    assert result["error"].startswith("Could not fetch the feed: ConnectionRefusedError")
    assert stored(org, in_org, feed).consecutive_failures == 1


# --- API -------------------------------------------------------------------------------


@pytest.fixture
def writer(org, owner, keyed_client):
    return keyed_client(org, scopes=["sentiment:write"])


@pytest.fixture
def reader(org, owner, keyed_client):
    return keyed_client(org, scopes=["sentiment:read"])


def test_api_add_list_poll_change_and_remove_a_feed(writer, org, in_org, monitor, server, fake_models):
    server.serve("/rss", rss(ITEMS), etag='"v1"')
    base = f"/api/v1/monitors/{monitor.id}/feeds"

    created = writer.post(base, {"url": server.url("/rss"), "name": "Acme press"}, format="json")
    feed_id = created.json()["id"]
    listed = writer.get(base)
    polled = writer.post(f"{base}/{feed_id}/poll")
    repolled = writer.post(f"{base}/{feed_id}/poll")
    read = writer.get(f"{base}/{feed_id}")
    updated = writer.patch(f"{base}/{feed_id}", {"is_active": False}, format="json")
    deleted = writer.delete(f"{base}/{feed_id}")

    assert created.status_code == 201
    assert created.json()["url"] == server.url("/rss")
    assert [item["id"] for item in listed.json()["results"]] == [feed_id]
    assert polled.status_code == 200
    body = polled.json()
    assert (body["status"], body["items"], body["created"], body["scored"]) == ("ok", 3, 3, 3)
    assert body["feed"]["items_seen"] == 3
    assert (repolled.json()["status"], repolled.json()["created"]) == ("not_modified", 0)
    assert read.json()["last_error"] == ""
    assert updated.json()["is_active"] is False
    assert deleted.status_code == 204
    with in_org(org):
        assert FeedSource.objects.for_org(org).count() == 0
        assert Document.objects.for_org(org).filter(source="Acme press").count() == 3
        actions = AuditEntry.objects.for_org(org).filter(action__startswith="sentiment.feed").order_by("created_at")
        assert list(actions.values_list("action", flat=True)) == [
            "sentiment.feed_created",
            "sentiment.feed_updated",
            "sentiment.feed_deleted",
        ]


def test_api_refuses_a_non_http_url_and_a_duplicate(writer, org, in_org, monitor):
    base = f"/api/v1/monitors/{monitor.id}/feeds"

    bad = writer.post(base, {"url": "file:///etc/passwd"}, format="json")
    first = writer.post(base, {"url": "https://news.example/rss"}, format="json")
    again = writer.post(base, {"url": "https://news.example/rss"}, format="json")

    assert (bad.status_code, first.status_code, again.status_code) == (400, 201, 409)
    assert bad.json()["error"]["code"] == "invalid_url"
    assert bad.json()["error"]["message"] == "The feed URL must start with http:// or https://."
    assert again.json()["error"]["code"] == "feed_exists"
    with in_org(org):
        assert FeedSource.objects.for_org(org).count() == 1


def test_a_read_key_lists_but_cannot_add_or_poll(reader, org, in_org, monitor, server):
    feed = add_feed(org, in_org, monitor, server.url("/rss"))
    base = f"/api/v1/monitors/{monitor.id}/feeds"

    listed = reader.get(base)
    created = reader.post(base, {"url": "https://news.example/rss"}, format="json")
    polled = reader.post(f"{base}/{feed.id}/poll")

    assert (listed.status_code, created.status_code, polled.status_code) == (200, 403, 403)
    assert server.requests == []
    with in_org(org):
        assert FeedSource.objects.for_org(org).count() == 1


def test_another_organization_cannot_see_change_or_poll_the_feeds(
    org, in_org, monitor, other_monitor, server, other_api_client
):
    server.serve("/rss", rss(ITEMS))
    feed = add_feed(org, in_org, monitor, server.url("/rss"))
    before = stored(org, in_org, feed)
    base = f"/api/v1/monitors/{monitor.id}/feeds"
    own_monitor = f"/api/v1/monitors/{other_monitor.id}/feeds"

    responses = [
        other_api_client.get(base),
        other_api_client.post(base, {"url": "https://news.example/x"}, format="json"),
        other_api_client.get(f"{base}/{feed.id}"),
        other_api_client.patch(f"{base}/{feed.id}", {"name": "Mine"}, format="json"),
        other_api_client.delete(f"{base}/{feed.id}"),
        other_api_client.post(f"{base}/{feed.id}/poll"),
        other_api_client.get(f"{own_monitor}/{feed.id}"),
        other_api_client.post(f"{own_monitor}/{feed.id}/poll"),
    ]
    own_list = other_api_client.get(own_monitor)

    assert [response.status_code for response in responses] == [404] * 8
    assert {response.json()["error"]["code"] for response in responses} == {"not_found"}
    assert own_list.json()["results"] == []
    assert server.requests == []
    after = stored(org, in_org, feed)
    assert (after.name, after.is_active, after.last_polled_at, after.updated_at) == (
        before.name,
        before.is_active,
        None,
        before.updated_at,
    )
    assert documents(org, in_org) == []
    with in_org(org):
        assert FeedSource.objects.for_org(org).count() == 1
