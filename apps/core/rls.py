"""Installs PostgreSQL row-level security for every tenant table after each `migrate`.

Runs from a post_migrate signal, so a tenant model added later gets its policy from the
same `migrate` that creates its table: nobody has to remember to write one. Every
statement is idempotent. See docs/adr/0001-shared-schema-with-row-level-security.md.
"""

from __future__ import annotations

import logging

from django.apps import apps
from django.conf import settings
from django.db import connections

from apps.core.models import TenantModel
from apps.core.tenancy import _ROLE_NAME, ORGANIZATION_SETTING, USER_SETTING

logger = logging.getLogger(__name__)

POLICY_NAME = "tenant_isolation"


def setting_as_bigint(name: str) -> str:
    # current_setting(..., true) is NULL when never set and '' after a transaction that
    # set it locally has ended; both must mean "no tenant" and match no row.
    return f"NULLIF(current_setting('{name}', true), '')::bigint"


def tenant_models() -> list[type[TenantModel]]:
    return [
        model
        for model in apps.get_models()
        if issubclass(model, TenantModel) and model._meta.managed and not model._meta.proxy
    ]


def policy_sql(model: type[TenantModel]) -> tuple[str, str]:
    """The USING and WITH CHECK expressions for one tenant table."""
    own_rows = f"organization_id = {setting_as_bigint(ORGANIZATION_SETTING)}"
    using = own_rows
    if model.rls_extra_visibility:
        extra = model.rls_extra_visibility.format(user_id=setting_as_bigint(USER_SETTING))
        using = f"({own_rows}) OR ({extra})"
    return using, own_rows


def _role(name: str) -> str:
    if not _ROLE_NAME.match(name):
        raise ValueError(f"{name!r} is not a plain PostgreSQL role name.")
    return name


def install_row_level_security(*, using: str = "default") -> list[str]:
    """Create roles if missing, grant privileges, enable RLS and (re)create policies.

    Returns the tables it protected. A no-op on databases other than PostgreSQL.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    app_role = _role(settings.DATABASE_APP_ROLE)
    cross_role = _role(settings.DATABASE_CROSS_TENANT_ROLE)
    protected = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        migrating_role = cursor.fetchone()[0]
        if migrating_role == app_role:
            # The app role must not own tables: owners bypass row-level security.
            raise RuntimeError(
                f"Run migrations as the owner role, not as the application role {app_role!r} "
                "(docs/configuration.md, PostgreSQL roles)."
            )
        cursor.execute(
            f"""
            DO $$
            BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{cross_role}') THEN
                CREATE ROLE "{cross_role}" NOLOGIN BYPASSRLS;
              END IF;
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{app_role}') THEN
                -- Created without a password; an operator sets one (docs/configuration.md).
                CREATE ROLE "{app_role}" LOGIN NOSUPERUSER NOBYPASSRLS;
              END IF;
            END
            $$;
            """
        )
        cursor.execute(f'GRANT "{cross_role}" TO "{app_role}"')
        cursor.execute("SELECT current_schema()")
        schema = cursor.fetchone()[0]
        for role in (app_role, cross_role):
            cursor.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
            cursor.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
            cursor.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"')
        for model in tenant_models():
            table = connection.ops.quote_name(model._meta.db_table)
            using_sql, check_sql = policy_sql(model)
            cursor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            cursor.execute(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}")
            cursor.execute(f"CREATE POLICY {POLICY_NAME} ON {table} USING ({using_sql}) WITH CHECK ({check_sql})")
            if model.append_only:
                cursor.execute(f'REVOKE UPDATE, DELETE ON {table} FROM "{app_role}", "{cross_role}"')
            protected.append(model._meta.db_table)
    logger.info("tenancy.rls_installed", extra={"tables": len(protected)})
    return protected


def on_post_migrate(sender, using: str = "default", **kwargs) -> None:
    # post_migrate fires once per app; doing the work once, after the last app, is enough
    # but every call is idempotent and cheap, so correctness does not depend on order.
    if sender.label != "core":
        return
    if kwargs.get("plan") is None:
        # `flush` (between transactional tests) also emits post_migrate, without a plan;
        # it changes no schema, and it runs as the application role, which owns nothing.
        return
    install_row_level_security(using=using)
