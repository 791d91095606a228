"""A local Stripe API on 127.0.0.1 for the billing tests, driven by the real `stripe` SDK over HTTP.

Two servers, because Stripe itself cannot be reached from tests:

* **localstripe** (a stateful fake Stripe, GPL, dev-only) runs as its own process. It owns
  customers, products, plans, subscriptions, invoices, payment methods/intents, charges and
  events, and POSTs signed webhook events to URLs registered through `/_config/webhooks/<id>`.
* **the front** (`StripeFront`, a threaded HTTP server in the test process) is what the SDK's
  api base points at. It serves what localstripe lacks (Prices, Checkout Sessions, Billing
  Portal sessions, Billing Meters and meter events, webhook endpoints) from Stripe's own
  fixture objects (`../shared/stripe/fixtures3.json`, read in place) filled in from the
  request, and proxies every other request to localstripe as it came (one exception: see
  `_price_as_plan`). It records every request it receives.

localstripe answers in the shapes of Stripe's API of about 2017-2020 whatever Stripe-Version
the SDK sends: subscription items and invoice lines carry `plan`, not `price`; a subscription
holds one item; metered prices are billed like licensed ones; there are no test clocks.

`StripeBackend` starts both; `tests/stripe_fixtures.py` exposes it to pytest.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import http.client
import json
import re
import secrets
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
# Stripe's fixture objects live beside the repository in shared/, never copied into it.
FIXTURES_PATH = Path(REPO_ROOT).parent / "shared" / "stripe" / "fixtures3.json"

# localstripe accepts any key that starts with "sk_"; these are the values the fixtures use.
TEST_SECRET_KEY = "sk_test_tessera_0123456789"
TEST_WEBHOOK_SECRET = "whsec_test_tessera_0123456789"

# Request headers worth asserting on (lower-case keys in RecordedRequest.headers).
RECORDED_HEADERS = (
    "authorization",
    "idempotency-key",
    "stripe-version",
    "stripe-account",
    "stripe-context",
    "content-type",
)
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
    # Keeps localstripe's answers uncompressed, so they are relayed (and logged) as they are.
    "accept-encoding",
}


@functools.cache
def _fixture_resources(path: Path = FIXTURES_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)["resources"]


def stripe_fixture(resource: str) -> dict[str, Any]:
    """A fresh copy of Stripe's example object for `resource` (e.g. "checkout.session")."""
    return copy.deepcopy(_fixture_resources()[resource])


def _new_id(prefix: str, length: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def _now() -> int:
    return int(time.time())


# --- Form encoding -------------------------------------------------------------------------

# Maps whose keys are chosen by the caller: "0", "1"... there are keys, not list positions.
_FREE_FORM_KEYS = {"metadata", "payload"}


def decode_form(body: str) -> dict[str, Any]:
    """Decode Stripe's form encoding (`items[0][price]=p`, `expand[]=x`) into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head, *rest.rstrip("]").split("][")] if rest else [head]
        node = root
        for position, part in enumerate(parts):
            name = part if part != "" else str(len(node))
            if position == len(parts) - 1:
                node[name] = value
            else:
                if not isinstance(node.get(name), dict):
                    node[name] = {}
                node = node[name]
    return _listify(root)


def _listify(node: Any, key: str = "") -> Any:
    if not isinstance(node, dict):
        return node
    items = {name: _listify(value, name) for name, value in node.items()}
    if items and key not in _FREE_FORM_KEYS and all(name.isdigit() for name in items):
        return [items[name] for name in sorted(items, key=int)]
    return items


def _as_bool(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value in (True, "true")


def _as_int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    return int(value)


# --- Stripe's error shape ------------------------------------------------------------------


class StripeApiError(Exception):
    """Answered as Stripe answers errors: `{"error": {"type", "code", "message", "param"}}`."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": "invalid_request_error", "message": message}}
        if code:
            self.body["error"]["code"] = code
        if param:
            self.body["error"]["param"] = param


def _missing(param: str) -> StripeApiError:
    return StripeApiError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def _no_such(kind: str, object_id: str, param: str = "id") -> StripeApiError:
    return StripeApiError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def _list_object(url: str, objects: list[dict], query: dict[str, Any]) -> dict[str, Any]:
    """A Stripe list page, newest first, honouring `limit` and `starting_after`."""
    newest_first = list(reversed(objects))
    after = query.get("starting_after")
    if after:
        ids = [obj["id"] for obj in newest_first]
        newest_first = newest_first[ids.index(after) + 1 :] if after in ids else []
    limit = _as_int(query.get("limit"), 10)
    return {"object": "list", "data": newest_first[:limit], "has_more": len(newest_first) > limit, "url": url}


# --- localstripe ---------------------------------------------------------------------------

# Runs localstripe's aiohttp app on a socket the parent already bound to 127.0.0.1 (its own
# CLI binds "::", every interface). localstripe pickles its whole store to the fixed path
# /tmp/localstripe.pickle after every write: a test store stays in memory instead, so
# concurrent runs on one machine cannot clobber each other and writes stay O(1).
_LOCALSTRIPE_LAUNCHER = """
import socket, sys
from aiohttp import web
from localstripe import resources
from localstripe.server import app
resources.Store.dump_to_disk = lambda self: None
web.run_app(app, sock=socket.socket(fileno=int(sys.argv[1])), print=None, access_log=None)
"""


class LocalStripe:
    """localstripe in a subprocess on a free 127.0.0.1 port, with an empty in-memory store."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self.url = ""
        self.process: subprocess.Popen | None = None
        # Outlives the process, for the error report when start() fails; closed when collected.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115

    def start(self, timeout: float = 20.0) -> LocalStripe:
        # The listening socket is handed to the child, so no other process can take the port
        # between choosing it and localstripe using it.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        try:
            self.process = subprocess.Popen(
                [self.python, "-c", _LOCALSTRIPE_LAUNCHER, str(listener.fileno())],
                pass_fds=(listener.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
        finally:
            listener.close()
        self._wait_until_ready(timeout)
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"localstripe exited with {self.process.returncode}:\n{self.log()}")
            try:
                status, _ = self.call("GET", "/v1/customers?limit=1", timeout=2)
            except OSError:
                time.sleep(0.05)
                continue
            if status == 200:
                return
        self.stop()
        raise RuntimeError(f"localstripe did not answer within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def call(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, Any] | None = None,
        json_body: Any = None,
        api_key: str = TEST_SECRET_KEY,
        timeout: float = 10,
    ) -> tuple[int, Any]:
        """One request straight to localstripe (not through the front); answers (status, decoded JSON or None)."""
        headers = {"Authorization": f"Bearer {api_key}"}
        data = None
        if json_body is not None:
            data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif form is not None:
            data, headers["Content-Type"] = encode_form(form).encode(), "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - 127.0.0.1 only
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def register_webhook(self, url: str, secret: str, *, events: list[str] | None = None, webhook_id: str = "") -> str:
        """Make localstripe POST its events to `url`, signed with `secret`; answers the registration id.

        localstripe waits about 1 s after each change before delivering its event. `events`
        limits the event types sent (None: all). Registering the same id again replaces it.
        """
        webhook_id = webhook_id or _new_id("wh_", 12)
        body: dict[str, Any] = {"url": url, "secret": secret}
        if events is not None:
            body["events"] = events
        status, answer = self.call("POST", f"/_config/webhooks/{webhook_id}", json_body=body)
        if status != 200:
            raise RuntimeError(f"localstripe refused the webhook registration ({status}): {answer}")
        return webhook_id

    def unregister_webhook(self, webhook_id: str, url: str, secret: str) -> None:
        # localstripe has no delete for registrations: an empty event filter silences one.
        self.register_webhook(url, secret, events=[], webhook_id=webhook_id)

    def flush(self) -> None:
        """Forget every object (the webhook registrations stay)."""
        self.call("DELETE", "/_config/data")

    def authenticate_payment_intent(self, payment_intent_id: str, client_secret: str, *, success: bool) -> Any:
        """localstripe's stand-in for the customer's 3-D Secure step (no Stripe API equivalent).

        With success=False on an invoice's payment intent, localstripe emits
        `invoice.payment_failed` and moves an active subscription to `past_due`.
        """
        status, answer = self.call(
            "POST",
            f"/v1/payment_intents/{payment_intent_id}/_authenticate",
            form={"client_secret": client_secret, "success": "true" if success else "false"},
        )
        if status != 200:
            raise RuntimeError(f"localstripe refused the authentication ({status}): {answer}")
        return answer


def encode_form(params: dict[str, Any]) -> str:
    """Stripe's form encoding, the inverse of `decode_form`."""
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}[{key}]" if prefix else str(key), item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        elif isinstance(value, bool):
            pairs.append((prefix, "true" if value else "false"))
        elif value is not None:
            pairs.append((prefix, str(value)))

    walk("", params)
    return urlencode(pairs)


# --- The front -----------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request the front received, as the SDK sent it."""

    method: str
    path: str
    query: dict[str, Any]
    params: dict[str, Any]  # the decoded form (or JSON) body
    headers: dict[str, str]  # those in RECORDED_HEADERS, lower-case keys
    served_by: str = ""  # "front" or "localstripe"
    status: int = 0


@dataclass
class _Route:
    method: str
    pattern: re.Pattern
    handler: Callable[..., tuple[int, dict]]


class StripeFront:
    """The server the SDK talks to: Stripe-fixture answers for what localstripe lacks, a proxy for the rest."""

    def __init__(self, upstream: LocalStripe) -> None:
        self.upstream = upstream
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._objects: dict[str, dict[str, dict]] = {}  # resource name -> id -> object
        self._line_items: dict[str, list[dict]] = {}  # checkout session id -> its line items
        self._meter_event_identifiers: set[str] = set()
        # The account's default portal configuration, which Stripe uses when none is given.
        self.portal_configuration = _new_id("bpc_")
        self._server: ThreadingHTTPServer | None = None
        self.api_base = ""
        self._routes = [
            _Route("POST", re.compile(r"/v1/prices"), self._create_price),
            _Route("GET", re.compile(r"/v1/prices"), self._list_prices),
            _Route("GET", re.compile(r"/v1/prices/(?P<id>[^/]+)"), self._retrieve("price", "price")),
            _Route("POST", re.compile(r"/v1/checkout/sessions"), self._create_checkout_session),
            _Route("GET", re.compile(r"/v1/checkout/sessions/(?P<id>[^/]+)"), self._retrieve_checkout_session),
            _Route("GET", re.compile(r"/v1/checkout/sessions/(?P<id>[^/]+)/line_items"), self._list_line_items),
            _Route("POST", re.compile(r"/v1/billing_portal/sessions"), self._create_portal_session),
            _Route("POST", re.compile(r"/v1/billing/meters"), self._create_meter),
            _Route("GET", re.compile(r"/v1/billing/meters"), self._list_meters),
            _Route("GET", re.compile(r"/v1/billing/meters/(?P<id>[^/]+)"), self._retrieve("billing.meter", "meter")),
            _Route("POST", re.compile(r"/v1/billing/meter_events"), self._create_meter_event),
            _Route(
                "POST",
                re.compile(r"/v1/customers/(?P<id>[^/]+)/balance_transactions"),
                self._create_customer_balance_transaction,
            ),
            _Route("POST", re.compile(r"/v1/webhook_endpoints"), self._create_webhook_endpoint),
            _Route("GET", re.compile(r"/v1/webhook_endpoints"), self._list_webhook_endpoints),
            _Route("GET", re.compile(r"/v1/webhook_endpoints/(?P<id>[^/]+)"), self._retrieve_webhook_endpoint),
            _Route("DELETE", re.compile(r"/v1/webhook_endpoints/(?P<id>[^/]+)"), self._delete_webhook_endpoint),
        ]

    # Lifecycle and inspection

    def start(self) -> StripeFront:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval makes stop() (shutdown) quick.
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="stripe-front", daemon=True).start()
        self.api_base = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received since the last reset(), oldest first."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Empty the request log."""
        with self._lock:
            self._requests.clear()

    def flush(self) -> None:
        """Forget the objects the front created (and the meter-event identifiers seen)."""
        with self._lock:
            self._objects.clear()
            self._line_items.clear()
            self._meter_event_identifiers.clear()

    def objects(self, resource: str) -> list[dict]:
        """Copies of the objects the front created for `resource` ("price", "billing.meter_event"...), oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._objects.get(resource, {}).values()))

    # Dispatch

    def handle(self, request: BaseHTTPRequestHandler) -> tuple[int, list[tuple[str, str]], bytes]:
        split = urlsplit(request.path)
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        content_type = request.headers.get("Content-Type", "")
        params = json.loads(body) if "json" in content_type and body else decode_form(body.decode("utf-8"))
        record = RecordedRequest(
            method=request.command,
            path=split.path,
            query=decode_form(split.query),
            params=params,
            headers={name: request.headers[name] for name in RECORDED_HEADERS if name in request.headers},
        )
        with self._lock:
            self._requests.append(record)

        route, match = self._route(request.command, split.path)
        if route is None:
            record.served_by = "localstripe"
            status, headers, answer = self._proxy(request, split, body)
        else:
            record.served_by = "front"
            auth = request.headers.get("Authorization", "")
            try:
                status, obj = route.handler(params=params, query=record.query, auth=auth, **match.groupdict())
            except StripeApiError as error:
                status, obj = error.status, error.body
            answer = json.dumps(obj).encode()
            headers = [("Content-Type", "application/json"), ("Request-Id", _new_id("req_", 14))]
        record.status = status
        return status, headers, answer

    def _route(self, method: str, path: str) -> tuple[_Route | None, re.Match | None]:
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if route.method == method and match:
                return route, match
        return None, None

    def _proxy(self, request: BaseHTTPRequestHandler, split, body: bytes) -> tuple[int, list, bytes]:
        if request.command == "POST":
            body = _price_as_plan(split.path, body, request.headers.get("Content-Type", ""))
        headers = {name: value for name, value in request.headers.items() if name.lower() not in _HOP_BY_HOP}
        target = split.path + (f"?{split.query}" if split.query else "")
        upstream = urlsplit(self.upstream.url)
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        try:
            connection.request(request.command, target, body=body or None, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            relayed = [(name, value) for name, value in response.getheaders() if name.lower() not in _HOP_BY_HOP]
            return response.status, relayed, answer
        finally:
            connection.close()

    def _upstream(self, method: str, path: str, auth: str, form: dict | None = None) -> tuple[int, Any]:
        """A side request to localstripe with the caller's own key (so a bad key fails as it would)."""
        api_key = auth.removeprefix("Bearer ").strip()
        return self.upstream.call(method, path, form=form, api_key=api_key)

    def _store(self, resource: str, obj: dict) -> dict:
        with self._lock:
            self._objects.setdefault(resource, {})[obj["id"]] = copy.deepcopy(obj)
        return obj

    def _get(self, resource: str, object_id: str, kind: str, param: str = "id") -> dict:
        with self._lock:
            obj = self._objects.get(resource, {}).get(object_id)
        if obj is None:
            raise _no_such(kind, object_id, param)
        return copy.deepcopy(obj)

    def _retrieve(self, resource: str, kind: str) -> Callable[..., tuple[int, dict]]:
        def retrieve(*, id: str, **_: Any) -> tuple[int, dict]:
            return 200, self._get(resource, id, kind)

        return retrieve

    def _require_customer(self, customer: str, auth: str) -> None:
        status, _ = self._upstream("GET", f"/v1/customers/{customer}", auth)
        if status == 404:
            raise _no_such("customer", customer, "customer")

    # Prices (localstripe only has the older Plans: a recurring price is mirrored there as a
    # plan with the same id, which is also what Stripe does, so subscriptions can use it).

    def _create_price(self, *, params: dict, auth: str, **_: Any) -> tuple[int, dict]:
        if not params.get("currency"):
            raise _missing("currency")
        product = self._resolve_product(params, auth)
        price = stripe_fixture("price")
        recurring = params.get("recurring")
        unit_amount = _as_int(params.get("unit_amount"))
        if unit_amount is None and params.get("unit_amount_decimal"):
            unit_amount = round(float(params["unit_amount_decimal"]))
        price.update(
            id=_new_id("price_"),
            created=_now(),
            livemode=False,
            active=_as_bool(params.get("active"), True),
            currency=params["currency"].lower(),
            unit_amount=unit_amount,
            unit_amount_decimal=str(params.get("unit_amount_decimal") or unit_amount),
            nickname=params.get("nickname") or None,
            lookup_key=params.get("lookup_key") or None,
            metadata=params.get("metadata") or {},
            product=product,
            billing_scheme=params.get("billing_scheme") or "per_unit",
            tax_behavior=params.get("tax_behavior") or "unspecified",
            custom_unit_amount=None,
            transform_quantity=None,
            tiers_mode=params.get("tiers_mode") or None,
            type="recurring" if recurring else "one_time",
            recurring=None,
        )
        if recurring:
            if not recurring.get("interval"):
                raise _missing("recurring[interval]")
            price["recurring"] = {
                "interval": recurring["interval"],
                "interval_count": _as_int(recurring.get("interval_count"), 1),
                "meter": recurring.get("meter") or None,
                "usage_type": recurring.get("usage_type") or "licensed",
                "trial_period_days": _as_int(recurring.get("trial_period_days")),
            }
            self._mirror_as_plan(price, auth)
        return 200, self._store("price", price)

    def _resolve_product(self, params: dict, auth: str) -> str:
        if params.get("product"):
            status, _ = self._upstream("GET", f"/v1/products/{params['product']}", auth)
            if status == 404:
                raise _no_such("product", params["product"], "product")
            return params["product"]
        product_data = params.get("product_data")
        if not product_data or not product_data.get("name"):
            raise _missing("product")
        status, product = self._upstream("POST", "/v1/products", auth, form={"name": product_data["name"]})
        if status != 200:
            raise StripeApiError(status, f"Could not create the product: {product}", param="product_data")
        return product["id"]

    def _mirror_as_plan(self, price: dict, auth: str) -> None:
        plan = {
            "id": price["id"],
            "amount": price["unit_amount"] or 0,
            "currency": price["currency"],
            "interval": price["recurring"]["interval"],
            "interval_count": price["recurring"]["interval_count"],
            "usage_type": price["recurring"]["usage_type"],
            "product": price["product"],
            "nickname": price["nickname"],
        }
        status, answer = self._upstream("POST", "/v1/plans", auth, form=plan)
        if status != 200:
            raise StripeApiError(status, f"localstripe refused the price's plan: {answer}")

    def _list_prices(self, *, query: dict, **_: Any) -> tuple[int, dict]:
        prices = self.objects("price")
        if query.get("product"):
            prices = [price for price in prices if price["product"] == query["product"]]
        if query.get("active") not in (None, ""):
            prices = [price for price in prices if price["active"] == _as_bool(query["active"], True)]
        if query.get("type"):
            prices = [price for price in prices if price["type"] == query["type"]]
        if query.get("lookup_keys"):
            prices = [price for price in prices if price["lookup_key"] in query["lookup_keys"]]
        return 200, _list_object("/v1/prices", prices, query)

    # Checkout Sessions

    def _create_checkout_session(self, *, params: dict, auth: str, **_: Any) -> tuple[int, dict]:
        mode = params.get("mode")
        if not mode:
            raise _missing("mode")
        if params.get("customer"):
            self._require_customer(params["customer"], auth)
        session_id = _new_id("cs_test_", 58)
        line_items = [self._line_item(index, item) for index, item in enumerate(params.get("line_items") or [])]
        created = _now()
        session = stripe_fixture("checkout.session")
        session.update(
            id=session_id,
            created=created,
            expires_at=_as_int(params.get("expires_at"), created + 24 * 3600),
            livemode=False,
            mode=mode,
            ui_mode=params.get("ui_mode") or "hosted",
            status="open",
            payment_status="unpaid",
            customer=params.get("customer") or None,
            customer_email=params.get("customer_email") or None,
            customer_details=None,
            client_reference_id=params.get("client_reference_id") or None,
            success_url=params.get("success_url") or None,
            cancel_url=params.get("cancel_url") or None,
            metadata=params.get("metadata") or {},
            locale=params.get("locale") or None,
            allow_promotion_codes=_as_bool(params.get("allow_promotion_codes"), False) or None,
            url=f"https://checkout.stripe.com/c/pay/{session_id}",
            currency=line_items[0]["currency"] if line_items else params.get("currency"),
            amount_subtotal=sum(item["amount_subtotal"] for item in line_items),
            amount_total=sum(item["amount_total"] for item in line_items),
            payment_intent=None,
            setup_intent=None,
            subscription=None,
            invoice=None,
            client_secret=None,
        )
        with self._lock:
            self._line_items[session_id] = line_items
        self._store("checkout.session", session)
        return 200, self._expand_session(session, params.get("expand"))

    def _line_item(self, index: int, item: dict) -> dict:
        if not item.get("price"):
            raise _missing(f"line_items[{index}][price]")
        price = self._get("price", item["price"], "price", f"line_items[{index}][price]")
        quantity = _as_int(item.get("quantity"), 1)
        amount = (price["unit_amount"] or 0) * quantity
        line = stripe_fixture("item")
        line.update(
            id=_new_id("li_"),
            price=price,
            quantity=quantity,
            currency=price["currency"],
            description=price["nickname"] or "",
            amount_subtotal=amount,
            amount_total=amount,
            amount_discount=0,
            amount_tax=0,
        )
        return line

    def _retrieve_checkout_session(self, *, id: str, query: dict, **_: Any) -> tuple[int, dict]:
        return 200, self._expand_session(self._get("checkout.session", id, "checkout.session"), query.get("expand"))

    def _expand_session(self, session: dict, expand: list | None) -> dict:
        # Stripe leaves line_items out of a session unless asked for with expand[]=line_items.
        if expand and "line_items" in expand:
            with self._lock:
                items = copy.deepcopy(self._line_items.get(session["id"], []))
            session["line_items"] = _list_object(f"/v1/checkout/sessions/{session['id']}/line_items", items[::-1], {})
        return session

    def _list_line_items(self, *, id: str, query: dict, **_: Any) -> tuple[int, dict]:
        self._get("checkout.session", id, "checkout.session")
        with self._lock:
            items = copy.deepcopy(self._line_items.get(id, []))
        return 200, _list_object(f"/v1/checkout/sessions/{id}/line_items", items[::-1], query)

    # Billing Portal sessions

    def _create_portal_session(self, *, params: dict, auth: str, **_: Any) -> tuple[int, dict]:
        if not params.get("customer"):
            raise _missing("customer")
        self._require_customer(params["customer"], auth)
        session = stripe_fixture("billing_portal.session")
        session.update(
            id=_new_id("bps_"),
            created=_now(),
            livemode=False,
            customer=params["customer"],
            customer_account=None,
            configuration=params.get("configuration") or self.portal_configuration,
            flow=params.get("flow_data") or None,
            locale=params.get("locale") or None,
            on_behalf_of=params.get("on_behalf_of") or None,
            return_url=params.get("return_url") or None,
            url="https://billing.stripe.com/p/session/test_" + _new_id("", 40),
        )
        return 200, self._store("billing_portal.session", session)

    # Customer balance (credits); localstripe has no such endpoint

    def _create_customer_balance_transaction(self, *, id: str, params: dict, auth: str, **_: Any) -> tuple[int, dict]:
        for required in ("amount", "currency"):
            if not params.get(required):
                raise _missing(required)
        self._require_customer(id, auth)
        amount = _as_int(params["amount"])
        with self._lock:
            before = sum(
                txn["amount"]
                for txn in self._objects.get("customer_balance_transaction", {}).values()
                if txn["customer"] == id
            )
        transaction = stripe_fixture("customer_balance_transaction")
        transaction.update(
            id=_new_id("cbtxn_"),
            created=_now(),
            amount=amount,
            currency=params["currency"],
            customer=id,
            description=params.get("description") or None,
            ending_balance=before + amount,
            metadata=params.get("metadata") or {},
        )
        return 200, self._store("customer_balance_transaction", transaction)

    # Billing Meters and meter events

    def _create_meter(self, *, params: dict, **_: Any) -> tuple[int, dict]:
        for required in ("display_name", "event_name"):
            if not params.get(required):
                raise _missing(required)
        aggregation = params.get("default_aggregation") or {}
        if not aggregation.get("formula"):
            raise _missing("default_aggregation[formula]")
        created = _now()
        meter = stripe_fixture("billing.meter")
        meter.update(
            id=_new_id("mtr_test_"),
            created=created,
            updated=created,
            livemode=False,
            display_name=params["display_name"],
            event_name=params["event_name"],
            default_aggregation={"formula": aggregation["formula"]},
            customer_mapping={
                "event_payload_key": "stripe_customer_id",
                "type": "by_id",
                **(params.get("customer_mapping") or {}),
            },
            value_settings={"event_payload_key": "value", **(params.get("value_settings") or {})},
            event_time_window=params.get("event_time_window") or None,
            status="active",
            status_transitions={"deactivated_at": None},
        )
        return 200, self._store("billing.meter", meter)

    def _list_meters(self, *, query: dict, **_: Any) -> tuple[int, dict]:
        meters = self.objects("billing.meter")
        if query.get("status"):
            meters = [meter for meter in meters if meter["status"] == query["status"]]
        return 200, _list_object("/v1/billing/meters", meters, query)

    def _create_meter_event(self, *, params: dict, **_: Any) -> tuple[int, dict]:
        for required in ("event_name", "payload"):
            if not params.get(required):
                raise _missing(required)
        value = str((params["payload"] or {}).get("value", ""))
        try:
            digits = len(Decimal(value).normalize().as_tuple().digits)
        except ArithmeticError:
            raise StripeApiError(
                400, f"Invalid value in the event payload: {value!r}.", param="payload[value]"
            ) from None
        # Stripe's changelog 2026-04-22 (dahlia): values with more than 15 significant digits are refused.
        if digits > 15:
            raise StripeApiError(
                400,
                f"The value in the event payload can have at most 15 digits. Received {value}.",
                code="meter_event_value_too_many_digits",
                param="payload[value]",
            )
        identifier = params.get("identifier") or _new_id("", 32)
        # Stripe documents that it "enforces uniqueness [of identifier] within a rolling period of
        # at least 24 hours", rejecting the repeat synchronously, but not the error's code. We answer
        # 400 invalid_request_error with `resource_already_exists` (the documented code for a
        # caller-chosen id that is taken) and param "identifier", for the whole session: tests
        # that report usage twice must use distinct identifiers, as in production.
        with self._lock:
            duplicate = identifier in self._meter_event_identifiers
            self._meter_event_identifiers.add(identifier)
        if duplicate:
            raise StripeApiError(
                400,
                f"An event with identifier '{identifier}' already exists.",
                code="resource_already_exists",
                param="identifier",
            )
        created = _now()
        event = stripe_fixture("billing.meter_event")
        event.update(
            created=created,
            livemode=False,
            event_name=params["event_name"],
            identifier=identifier,
            payload=params["payload"],
            timestamp=_as_int(params.get("timestamp"), created),
        )
        # Meter events have no id; the identifier keys the front's record of them.
        self._store("billing.meter_event", {**event, "id": identifier})
        return 200, event

    # Webhook endpoints (localstripe has none in its API, only /_config/webhooks/<id>: an
    # endpoint created here is registered there under the same id, so its events arrive
    # signed with the endpoint's secret).

    def _create_webhook_endpoint(self, *, params: dict, **_: Any) -> tuple[int, dict]:
        for required in ("url", "enabled_events"):
            if not params.get(required):
                raise _missing(required)
        endpoint = stripe_fixture("webhook_endpoint")
        endpoint.update(
            id=_new_id("we_"),
            created=_now(),
            livemode=False,
            url=params["url"],
            enabled_events=params["enabled_events"],
            description=params.get("description") or None,
            metadata=params.get("metadata") or {},
            api_version=params.get("api_version") or None,
            status="enabled",
            secret="whsec_" + _new_id("", 32),
        )
        events = None if "*" in endpoint["enabled_events"] else endpoint["enabled_events"]
        self.upstream.register_webhook(endpoint["url"], endpoint["secret"], events=events, webhook_id=endpoint["id"])
        self._store("webhook_endpoint", endpoint)
        return 200, endpoint

    @staticmethod
    def _without_secret(endpoint: dict) -> dict:
        # Stripe shows an endpoint's secret only in the answer to its creation.
        return {key: value for key, value in endpoint.items() if key != "secret"}

    def _list_webhook_endpoints(self, *, query: dict, **_: Any) -> tuple[int, dict]:
        endpoints = [self._without_secret(endpoint) for endpoint in self.objects("webhook_endpoint")]
        return 200, _list_object("/v1/webhook_endpoints", endpoints, query)

    def _retrieve_webhook_endpoint(self, *, id: str, **_: Any) -> tuple[int, dict]:
        return 200, self._without_secret(self._get("webhook_endpoint", id, "webhook endpoint"))

    def _delete_webhook_endpoint(self, *, id: str, **_: Any) -> tuple[int, dict]:
        endpoint = self._get("webhook_endpoint", id, "webhook endpoint")
        self.upstream.unregister_webhook(id, endpoint["url"], endpoint["secret"])
        with self._lock:
            del self._objects["webhook_endpoint"][id]
        return 200, {"id": id, "object": "webhook_endpoint", "deleted": True}


# Where a subscription item's price is given, by path of the proxied POST.
_SUBSCRIPTION_ITEM_PRICE = {
    re.compile(r"/v1/subscriptions(/[^/]+)?"): re.compile(r"^(items\[\d+\])\[price\]$"),
    re.compile(r"/v1/invoices/create_preview"): re.compile(r"^(subscription_details\[items\]\[\d+\])\[price\]$"),
}


def _price_as_plan(path: str, body: bytes, content_type: str) -> bytes:
    """Rename a subscription item's `[price]` to `[plan]` for localstripe.

    The one change the proxy makes to a request: localstripe predates Prices and answers 400
    to `price` on subscription items, while Stripe accepts a recurring price id wherever a plan
    id goes, and the front mirrors every recurring price as a localstripe plan with that id.
    """
    key_pattern = next((keys for paths, keys in _SUBSCRIPTION_ITEM_PRICE.items() if paths.fullmatch(path)), None)
    if key_pattern is None or "x-www-form-urlencoded" not in content_type:
        return body
    pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    return urlencode([(key_pattern.sub(r"\1[plan]", key), value) for key, value in pairs]).encode()


def _handler_for(front: StripeFront) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as the SDK's HTTP client expects; every answer carries Content-Length.
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes: without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK hold the body back about 40 ms per request.
        disable_nagle_algorithm = True

        def _answer(self) -> None:
            status, headers, body = front.handle(self)
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


# --- Webhooks ------------------------------------------------------------------------------


def sign_webhook_payload(payload: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header for `payload`: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    timestamp = _now() if timestamp is None else timestamp
    body = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class WebhookDelivery:
    headers: dict[str, str]
    body: bytes

    @property
    def signature(self) -> str:
        return self.headers.get("Stripe-Signature", "")

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class WebhookListener:
    """A tiny HTTP endpoint on 127.0.0.1 that records what localstripe POSTs to it (and answers 200)."""

    deliveries: list[WebhookDelivery] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._arrived = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> WebhookListener:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with listener._arrived:
                    listener.deliveries.append(WebhookDelivery(dict(self.headers.items()), body))
                    listener._arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="stripe-webhooks", daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/stripe/webhook"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, event_type: str, object_id: str | None = None, timeout: float = 5.0) -> WebhookDelivery:
        """The first delivery of `event_type` (about `object_id`, if given); waits up to `timeout` s."""

        def found() -> WebhookDelivery | None:
            for delivery in self.deliveries:
                event = delivery.json()
                if event.get("type") == event_type and (
                    object_id is None or event.get("data", {}).get("object", {}).get("id") == object_id
                ):
                    return delivery
            return None

        with self._arrived:
            if not self._arrived.wait_for(found, timeout=timeout):
                raise TimeoutError(f"no {event_type} webhook for {object_id or 'any object'} within {timeout} s")
            return found()


# --- Both together -------------------------------------------------------------------------


class StripeBackend:
    """localstripe plus the front, for one test session."""

    def __init__(self) -> None:
        self.localstripe = LocalStripe()
        self.front = StripeFront(self.localstripe)

    def start(self) -> StripeBackend:
        self.localstripe.start()
        try:
            self.front.start()
        except BaseException:
            self.localstripe.stop()
            raise
        return self

    def stop(self) -> None:
        self.front.stop()
        self.localstripe.stop()

    @property
    def api_base(self) -> str:
        return self.front.api_base

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.front.requests

    def reset(self) -> None:
        """Empty the request log (objects in localstripe and the front stay)."""
        self.front.reset()

    def flush(self) -> None:
        """Forget every object, in localstripe and in the front."""
        self.front.flush()
        self.localstripe.flush()

    def fixture(self, resource: str) -> dict[str, Any]:
        return stripe_fixture(resource)

    def objects(self, resource: str) -> list[dict]:
        return self.front.objects(resource)

    def client(self, api_key: str = TEST_SECRET_KEY, **options: Any):
        """A `stripe.StripeClient` whose every base address is the front, without retries."""
        import stripe

        bases = dict.fromkeys(("api", "connect", "files", "meter_events"), self.api_base)
        return stripe.StripeClient(api_key, base_addresses=bases, **{"max_network_retries": 0, **options})

    def register_webhook(self, url: str, secret: str = TEST_WEBHOOK_SECRET, **kwargs: Any) -> str:
        return self.localstripe.register_webhook(url, secret, **kwargs)
