"""What the platform layers cost per request, against peers in the same run.

Peers: `/healthz` (the Django stack with no database and no auth) is the floor for the
API calls; the same tenant query under the cross-tenant role (BYPASSRLS) is the peer for
the row-level security policy. Needs PostgreSQL and Redis (tests/preflight.py); imported
only when this section runs, so the ML sections need neither.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings.test")
django.setup()

from django.db import connection, connections, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402

from apps.accounts.models import Organization, Role, User  # noqa: E402
from apps.accounts.services import organization_create  # noqa: E402
from apps.api_keys.models import ApiKey  # noqa: E402
from apps.api_keys.services import api_key_create  # noqa: E402
from apps.core.actors import Actor  # noqa: E402
from apps.core.tenancy import cross_tenant, tenant_context  # noqa: E402
from tests.dbsetup import create_database_as_app_role, drop_database  # noqa: E402
from tests.factories.billing import set_overrides  # noqa: E402

BENCH_DB = "bench_tessera"
REQUESTS = 400
QUERIES = 2000
TENANTS = 50
KEYS_PER_TENANT = 20


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_interleaved(cases: dict[str, Callable[[int], object]], count: int, rounds: int = 4) -> dict[str, dict]:
    """Time every case in turns (round-robin), so drift on a shared machine hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    statements: dict[str, int] = {}
    for name, call in cases.items():
        for index in range(30):  # warm-up
            call(index)
        connection.queries_log.clear()  # a full log (9000 entries after seeding) would count nothing
        with CaptureQueriesContext(connection) as captured:
            call(30)
        statements[name] = len(captured)  # read now: the next request clears the query log
    per_round = count // rounds
    for round_number in range(rounds):
        for name, call in cases.items():
            for index in range(per_round):
                started = time.perf_counter()
                call(round_number * per_round + index + 100)
                samples[name].append((time.perf_counter() - started) * 1000)
    return {
        name: {
            "n": len(values),
            "mean": statistics.fmean(values),
            "p50": _percentile(values, 0.50),
            "p95": _percentile(values, 0.95),
            "per_s": 1000 / statistics.fmean(values),
            "statements": statements[name],
        }
        for name, values in samples.items()
    }


def _summary(client: list[float], server: list[float]) -> dict[str, float]:
    return {
        "n": len(client),
        "mean": statistics.fmean(client),
        "p50": _percentile(client, 0.50),
        "p95": _percentile(client, 0.95),
        "server_mean": statistics.fmean(server),
        "server_n": len(server),
    }


def _enter_leave(context) -> None:
    with context:
        pass


def seed() -> tuple[Organization, str]:
    owner = User.objects.create_user("bench-owner@example.com", "bench-password-123")
    target = None
    for number in range(TENANTS):
        organization = organization_create(name=f"Bench tenant {number}", owner=owner)
        # The benchmark measures the request path, not the plan's rate limit.
        set_overrides(organization, api_rate_limit_per_minute=10**9)
        with tenant_context(organization.id):
            for key_number in range(KEYS_PER_TENANT):
                _, secret = api_key_create(
                    organization=organization,
                    actor=Actor(via="system", role=Role.OWNER),
                    name=f"key {key_number}",
                    scopes=["admin"],
                )
        target = (organization, secret)
    assert target is not None
    return target


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, PostgreSQL {postgres}, Redis cache"


def run() -> dict:
    """Measure, and return what `render()` writes."""
    setup_test_environment()
    admin_settings = dict(connections["default"].settings_dict)
    create_database_as_app_role(BENCH_DB)
    # As in production (DATABASE_CONN_MAX_AGE=60): reuse the connection between requests.
    connections["default"].settings_dict["CONN_MAX_AGE"] = 60
    try:
        organization, secret = seed()
        client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
        results = measure_interleaved(
            {
                "GET /healthz (floor: no auth, no database)": lambda i: client.get("/healthz"),
                "GET /api/v1/organization (key auth, RLS, rate limit)": lambda i: client.get("/api/v1/organization"),
                f"GET /api/v1/api-keys (first page of {KEYS_PER_TENANT})": lambda i: client.get("/api/v1/api-keys"),
                "POST /api/v1/api-keys with Idempotency-Key (write + audit)": lambda i: client.post(
                    "/api/v1/api-keys",
                    {"name": f"bench {i}", "scopes": ["training"]},
                    content_type="application/json",
                    HTTP_IDEMPOTENCY_KEY=f"bench-{i}-{time.monotonic_ns()}",
                ),
            },
            REQUESTS,
        )

        def newest_keys(manager) -> None:
            list(manager.for_org(organization).order_by("-created_at")[:50])

        # The policy's own cost: the same query inside an already-open context, in alternating
        # blocks; and PostgreSQL's own execution time, free of Python and socket noise.
        blocks = {
            "rls": (lambda: tenant_context(organization.id), ApiKey.objects),
            "bypass": (lambda: cross_tenant(reason="benchmark"), ApiKey.all_orgs),
        }
        client_ms: dict[str, list[float]] = {name: [] for name in blocks}
        server_ms: dict[str, list[float]] = {name: [] for name in blocks}
        for _ in range(8):
            for name, (context, manager) in blocks.items():
                with transaction.atomic(), context():
                    queryset = manager.for_org(organization).order_by("-created_at")[:50]
                    for _ in range(QUERIES // 8):
                        started = time.perf_counter()
                        list(queryset.all())
                        client_ms[name].append((time.perf_counter() - started) * 1000)
                    for _ in range(QUERIES // 40):
                        plan = queryset.explain(analyze=True, format="json")
                        server_ms[name].append(json.loads(plan)[0]["Execution Time"])
        queries = {
            label: _summary(client_ms[name], server_ms[name])
            for name, label in (
                ("rls", "50 newest keys of one organization, under RLS (tessera_app)"),
                ("bypass", "the same query, RLS bypassed (cross-tenant role)"),
            )
        }
        contexts = measure_interleaved(
            {
                "enter and leave tenant_context() (new transaction)": lambda i: _enter_leave(
                    tenant_context(organization.id)
                ),
                "enter and leave cross_tenant() (new transaction)": lambda i: _enter_leave(
                    cross_tenant(reason="benchmark")
                ),
            },
            QUERIES,
        )
        where = machine()
    finally:
        drop_database(BENCH_DB, admin_settings)
    return {
        "results": results,
        "queries": queries,
        "contexts": contexts,
        "machine": where,
        "tenants": TENANTS,
        "keys_per_tenant": KEYS_PER_TENANT,
    }
