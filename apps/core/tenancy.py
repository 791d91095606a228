"""Tenant context for the database: the second and third of our three isolation layers.

Layer one is the API/dashboard base that resolves the organization from a credential or
the URL. Layer two is `TenantModel.objects.for_org(...)`. Layer three is PostgreSQL
row-level security: every tenant table has a policy comparing `organization_id` with the
transaction-local setting `app.organization_id`, so a query that forgot layer two still
sees only the current organization, and a query with no tenant context sees nothing.

Three ways in, and no others:

* `tenant_context(organization_id)`: opens a transaction (or savepoint) scoped to one
  organization. Services called from tasks, commands and tests use it.
* `activate_organization()` / `activate_user()` inside `request_scope()`: request handlers
  run in the ATOMIC_REQUESTS transaction and set the context once they know the tenant.
* `cross_tenant(reason=...)`: the one explicitly named path past row-level security,
  for the console, roll-ups and billing jobs (`SET LOCAL ROLE <cross-tenant role>`).

On SQLite (the embedded default) the functions keep their transaction semantics and the
database part is a no-op; `for_org` still scopes every query.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

logger = logging.getLogger(__name__)

ORGANIZATION_SETTING = "app.organization_id"
USER_SETTING = "app.user_id"
_SCOPED_SETTINGS = [ORGANIZATION_SETTING, USER_SETTING]
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Mirrors the database setting for logs and assertions in Python code.
_current_organization_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "tessera_organization_id", default=None
)
_cross_tenant_depth: contextvars.ContextVar[int] = contextvars.ContextVar("tessera_cross_tenant_depth", default=0)


class TenantContextError(RuntimeError):
    """The tenant context was used in a way that would silently scope nothing."""


def _uses_rls(using: str) -> bool:
    return connections[using].vendor == "postgresql"


def _set_setting(name: str, value: str, using: str) -> None:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])


def _get_setting(name: str, using: str) -> str:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [name])
        value = cursor.fetchone()[0]
    return value or ""


def _require_transaction(using: str) -> None:
    if not connections[using].in_atomic_block:
        # Outside a transaction SET LOCAL would last one statement and scope nothing.
        raise TenantContextError("The tenant context can only be set inside a transaction.")


def current_organization_id() -> int | None:
    """The organization whose context is active in this thread or task, if any."""
    return _current_organization_id.get()


def activate_organization(organization_id: int, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Scope the current transaction to one organization (request handlers only).

    Call it inside `request_scope()`, which restores the previous value afterwards.
    """
    _require_transaction(using)
    _current_organization_id.set(int(organization_id))
    if _uses_rls(using):
        _set_setting(ORGANIZATION_SETTING, str(int(organization_id)), using)


def activate_user(user_id: int, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Let the current transaction read the signed-in user's own memberships.

    The membership policy admits rows of the current organization *or* of this user, so
    the dashboard can list a user's organizations before it knows which one is meant.
    """
    _require_transaction(using)
    if _uses_rls(using):
        _set_setting(USER_SETTING, str(int(user_id)), using)


@contextmanager
def request_scope(*, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Save the tenant context around a request handler and put it back afterwards.

    Production requests end their transaction anyway; this keeps the context from
    outliving the handler when the transaction goes on (tests, nested calls).
    """
    token = _current_organization_id.set(_current_organization_id.get())
    saved: list[str] | None = None
    if _uses_rls(using) and connections[using].in_atomic_block:
        # One round trip each way: this runs on every API request.
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT current_setting(%s, true), current_setting(%s, true)", _SCOPED_SETTINGS)
            saved = [value or "" for value in cursor.fetchone()]
    try:
        yield
    finally:
        _current_organization_id.reset(token)
        if saved is not None:
            try:
                with connections[using].cursor() as cursor:
                    cursor.execute(
                        "SELECT set_config(%s, %s, true), set_config(%s, %s, true)",
                        [_SCOPED_SETTINGS[0], saved[0], _SCOPED_SETTINGS[1], saved[1]],
                    )
            except DatabaseError:
                # An aborted transaction is rolled back, which reverts the settings too.
                logger.debug("tenancy.restore_skipped_aborted_transaction")


@contextmanager
def tenant_context(organization_id: int, *, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Run the block in one organization's scope, inside a transaction.

    Args:
        organization_id: the tenant every query in the block is limited to.

    Nested contexts restore the outer organization on exit. On an exception the
    transaction (or savepoint) rolls back, which undoes the setting as well.

    Example:
        with tenant_context(org.id):
            ApiKey.objects.for_org(org).count()
    """
    token = _current_organization_id.set(int(organization_id))
    try:
        with transaction.atomic(using=using):
            if _uses_rls(using):
                previous = _get_setting(ORGANIZATION_SETTING, using)
                _set_setting(ORGANIZATION_SETTING, str(int(organization_id)), using)
                yield
                _set_setting(ORGANIZATION_SETTING, previous, using)
            else:
                yield
    finally:
        _current_organization_id.reset(token)


def _cross_tenant_role() -> str:
    role = settings.DATABASE_CROSS_TENANT_ROLE
    if not _ROLE_NAME.match(role):
        raise TenantContextError(f"DATABASE_CROSS_TENANT_ROLE {role!r} is not a plain role name.")
    return role


@contextmanager
def cross_tenant(*, reason: str, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """The one explicitly named path that reads or writes across organizations.

    Switches the transaction to the cross-tenant role, which has BYPASSRLS, until the
    block ends. Use it only in the console, roll-ups and billing jobs, and pair it with
    the `all_orgs` manager so a reader sees both names. Every entry is logged with its
    reason; console actions also write audit entries.

    Args:
        reason: a dotted name for logs, e.g. "console.organization_list".
    """
    logger.info("tenancy.cross_tenant", extra={"reason": reason})
    depth = _cross_tenant_depth.get()
    token = _cross_tenant_depth.set(depth + 1)
    try:
        with transaction.atomic(using=using):
            if _uses_rls(using) and depth == 0:
                with connections[using].cursor() as cursor:
                    cursor.execute(f'SET LOCAL ROLE "{_cross_tenant_role()}"')
                yield
                with connections[using].cursor() as cursor:
                    cursor.execute("SET LOCAL ROLE NONE")
            else:
                yield
    finally:
        _cross_tenant_depth.reset(token)
