"""What recording usage adds to a request: the metering issue's "at most 1 ms".

Peers in the same run: a transaction that enters the tenant context and commits with
nothing metered (for the service calls), and `GET /api/v1/organization` as it is (for
HTTP). Every case runs as its own committed transaction, like a request under
ATOMIC_REQUESTS, on PostgreSQL as the application role (row-level security on), with
the plan limits in the Redis cache. The cases take turns call by call, in a rotating
order, so drift on a shared machine hits all of them alike.

HTTP without adding a product endpoint: a benchmark-only URLconf (this module) serves
the real API plus two subclasses of `OrganizationDetailApi` whose GET records usage
before answering, under /api/v1/, so the whole middleware, auth, RLS and rate-limit
stack is the same for all three.

Needs PostgreSQL and Redis; imported only when this section runs.
"""

from __future__ import annotations

import itertools
import math
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings.test")
django.setup()

from django.core.cache import caches  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    override_settings,
    setup_test_environment,
    teardown_test_environment,
)
from django.urls import clear_url_caches, re_path  # noqa: E402

from apps.accounts.api.views import OrganizationDetailApi  # noqa: E402
from apps.accounts.models import Role, User  # noqa: E402
from apps.accounts.services import organization_create  # noqa: E402
from apps.api_keys.services import api_key_create  # noqa: E402
from apps.billing.selectors import organization_limits  # noqa: E402
from apps.config.urls import urlpatterns as product_urlpatterns  # noqa: E402
from apps.core.actors import Actor  # noqa: E402
from apps.core.tenancy import tenant_context  # noqa: E402
from apps.metering.models import Meter  # noqa: E402
from apps.metering.services import quota_check, usage_event_record  # noqa: E402
from tests.benchmarks.platform_layers import machine  # noqa: E402
from tests.dbsetup import create_database_as_app_role, drop_database  # noqa: E402
from tests.factories.billing import set_overrides  # noqa: E402

# Its own database, so a platform run (bench_tessera) or the test suite can run beside it.
BENCH_DB = os.environ.get("BENCH_METERING_DB", "bench_tessera_metering")
CALLS = 4000  # per service case; about 30 s in all on 2 cores
REQUESTS = 1500  # per HTTP case; about 40 s in all
SMOKE_CALLS = 60
WARM_UP = 50
TARGET_ADDED_MS = 1.0
# Headroom: the Free plan's 1,000 predictions would run out during the warm-up; staff
# raise an allowance the same way (overrides), and the plan keeps its hard limits.
HEADROOM = "1000000000"
METER = Meter.API_PREDICTIONS
# Rows that explain the cost rather than measure metering; report.py shows no verdict for them.
COMPONENT = "component:"

_keys = itertools.count()


def _key(prefix: str) -> str:
    return f"bench-{prefix}:{next(_keys)}:{uuid.uuid4().hex[:8]}"


# --- HTTP: the same view, with and without metering ------------------------------------


class MeteredOrganizationApi(OrganizationDetailApi):
    """`GET /api/v1/organization` plus one recorded usage event (enforced, as predict does)."""

    def get(self, request):
        usage_event_record(
            organization=self.organization.id,
            meter=METER,
            quantity=1,
            idempotency_key=_key("http"),
            enforce_quota=True,
        )
        return super().get(request)


class PredictPathOrganizationApi(OrganizationDetailApi):
    """The same plus predict's up-front `quota_check` (apps/training/serving.py)."""

    def get(self, request):
        quota_check(organization=self.organization.id, meter=METER, quantity=1)
        usage_event_record(
            organization=self.organization.id,
            meter=METER,
            quantity=1,
            idempotency_key=_key("http-predict"),
            enforce_quota=True,
        )
        return super().get(request)


urlpatterns = [
    re_path(r"^api/v1/bench/organization-metered$", MeteredOrganizationApi.as_view()),
    re_path(r"^api/v1/bench/organization-predict-path$", PredictPathOrganizationApi.as_view()),
    *product_urlpatterns,
]


# --- Measuring -----------------------------------------------------------------------


@contextmanager
def _cache_calls() -> Iterator[dict[str, int]]:
    """Count round trips to the cache (Redis) made through Django's cache API."""
    backend = caches["default"]
    counted = {"calls": 0}
    names = ("get", "set", "add", "delete", "incr", "get_many", "set_many", "touch")
    for name in names:
        original = getattr(backend, name)

        def wrapper(*args: Any, _original: Callable = original, **kwargs: Any) -> Any:
            counted["calls"] += 1
            return _original(*args, **kwargs)

        setattr(backend, name, wrapper)
    try:
        yield counted
    finally:
        for name in names:
            delattr(backend, name)  # the instance attribute hid the class's method


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(cases: dict[str, Callable[[], object]], calls: int) -> dict[str, dict[str, Any]]:
    """Time every case `calls` times, one call each in turn (rotating order); the first is the peer.

    Returns per case: n, mean, p50, p95 (ms), the SQL statements and cache calls of one
    call, and the added cost against the peer: the mean of the paired differences (call
    i of the case minus call i of the peer) with its 95% interval, and the differences
    of the medians and of the 95th percentiles.
    """
    names = list(cases)
    for name in names:
        for _ in range(WARM_UP):
            cases[name]()
    counts: dict[str, tuple[int, int]] = {}
    for name in names:
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as captured, _cache_calls() as cache_calls:
            cases[name]()
        counts[name] = (len(captured), cache_calls["calls"])
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(calls):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            cases[name]()
            samples[name].append((time.perf_counter() - started) * 1000)
    peer = samples[names[0]]
    results = {}
    for name in names:
        values = samples[name]
        differences = [value - base for value, base in zip(values, peer, strict=True)]
        spread = statistics.stdev(differences) if len(differences) > 1 else 0.0
        results[name] = {
            "n": len(values),
            "mean": statistics.fmean(values),
            "p50": _percentile(values, 0.50),
            "p95": _percentile(values, 0.95),
            "statements": counts[name][0],
            "cache_calls": counts[name][1],
            "added_mean": statistics.fmean(differences),
            "added_ci95": 1.96 * spread / math.sqrt(len(differences)),
            "added_p50": _percentile(values, 0.50) - _percentile(peer, 0.50),
            "added_p95": _percentile(values, 0.95) - _percentile(peer, 0.95),
        }
    return results


# --- The run -------------------------------------------------------------------------


def seed() -> tuple[int, str]:
    owner = User.objects.create_user("bench-metering@example.com", "bench-password-123")
    organization = organization_create(name="Bench metering", owner=owner)
    # On Free (hard limits): the enforced path is the conditional upsert. The rate limit
    # is lifted so the HTTP cases measure the request path, not the plan's 60 per minute.
    set_overrides(organization, included={METER.value: HEADROOM}, api_rate_limit_per_minute=10**9)
    with tenant_context(organization.id):
        _, secret = api_key_create(
            organization=organization,
            actor=Actor(via="system", role=Role.OWNER),
            name="bench",
            scopes=["admin"],
        )
        limits = organization_limits(organization=organization.id)
        assert limits.plan_code == "free" and limits.has_hard_limits, limits
    return organization.id, secret


def service_cases(organization_id: int) -> dict[str, Callable[[], object]]:
    duplicate = _key("duplicate")
    with tenant_context(organization_id):
        usage_event_record(organization=organization_id, meter=METER, quantity=1, idempotency_key=duplicate)

    def in_transaction(body: Callable[[], object]) -> Callable[[], None]:
        def call() -> None:
            with tenant_context(organization_id):
                body()

        return call

    def record(enforce: bool) -> Callable[[], object]:
        return lambda: usage_event_record(
            organization=organization_id, meter=METER, quantity=1, idempotency_key=_key("svc"), enforce_quota=enforce
        )

    def predict_path() -> None:
        quota_check(organization=organization_id, meter=METER, quantity=1)
        record(True)()

    def one_other_write() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE billing_billingaccount SET updated_at = updated_at WHERE organization_id = %s",
                [organization_id],
            )

    return {
        "peer: enter tenant_context and commit, nothing metered": in_transaction(lambda: None),
        "(a) usage_event_record, no quota enforcement": in_transaction(record(False)),
        "(b) usage_event_record(enforce_quota=True), Free plan with headroom": in_transaction(record(True)),
        "(c) usage_event_record with a key already recorded (a retry)": in_transaction(
            lambda: usage_event_record(organization=organization_id, meter=METER, quantity=1, idempotency_key=duplicate)
        ),
        "(d) quota_check": in_transaction(lambda: quota_check(organization=organization_id, meter=METER, quantity=1)),
        "(e) quota_check + usage_event_record(enforce_quota=True): the predict path": in_transaction(predict_path),
        # A request that writes anyway (most POSTs): compare with the UPDATE component below.
        "(f) one UPDATE + usage_event_record(enforce_quota=True): recording in a request that writes anyway": (
            in_transaction(lambda: (one_other_write(), record(True)()))
        ),
        # Where the time goes: two parts of (a) alone, against the same peer.
        f"{COMPONENT} one UPDATE of another row (the commit then flushes WAL)": in_transaction(one_other_write),
        f"{COMPONENT} organization_limits() (in-process copy, from Redis every 5 s)": in_transaction(
            lambda: organization_limits(organization=organization_id)
        ),
    }


def http_cases(secret: str) -> dict[str, Callable[[], object]]:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    def get(path: str) -> Callable[[], object]:
        def call() -> object:
            response = client.get(path)
            assert response.status_code == 200, response.content
            return response

        return call

    return {
        "peer: GET /api/v1/organization": get("/api/v1/organization"),
        "the same view + usage_event_record(enforce_quota=True)": get("/api/v1/bench/organization-metered"),
        "the same view + quota_check + usage_event_record(enforce_quota=True)": get(
            "/api/v1/bench/organization-predict-path"
        ),
    }


def _postgres_setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", [name])
        return cursor.fetchone()[0]


def run(*, smoke: bool = False) -> dict[str, Any]:
    """Measure, and return what `report.metering_section()` writes."""
    calls = SMOKE_CALLS if smoke else CALLS
    requests = SMOKE_CALLS if smoke else REQUESTS
    setup_test_environment()
    default = connections["default"]
    admin_settings = dict(default.settings_dict)
    load_before = os.getloadavg()
    create_database_as_app_role(BENCH_DB)
    # As in production (DATABASE_CONN_MAX_AGE=60): reuse the connection between requests.
    default.settings_dict["CONN_MAX_AGE"] = 60
    try:
        organization_id, secret = seed()
        service = measure(service_cases(organization_id), calls)
        with override_settings(ROOT_URLCONF=__name__):
            clear_url_caches()
            http = measure(http_cases(secret), requests)
        clear_url_caches()
        where = machine()
        synchronous_commit = _postgres_setting("synchronous_commit")
    finally:
        drop_database(BENCH_DB, admin_settings)
        # Put the admin connection back, so a platform run in the same process can create its database.
        default.settings_dict.clear()
        default.settings_dict.update(admin_settings)
        teardown_test_environment()
    return {
        "service": service,
        "http": http,
        "machine": where,
        "synchronous_commit": synchronous_commit,
        "load_before": [round(value, 2) for value in load_before],
        "load_after": [round(value, 2) for value in os.getloadavg()],
        "target_added_ms": TARGET_ADDED_MS,
        "warm_up": WARM_UP,
    }
