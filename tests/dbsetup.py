"""Create a PostgreSQL database the way production runs: migrate as the owner, use as the app role."""

from __future__ import annotations

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connections

APP_ROLE_PASSWORD = "tessera-test-app"  # noqa: S105 - local trust-auth test role


def _conninfo(settings_dict: dict, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(
        host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"] or None,
        dbname=dbname,
    )


def create_database_as_app_role(name: str) -> None:
    """Drop and create `name`, migrate it as DATABASE_URL's user, then switch the default
    connection to the application role (subject to row-level security)."""
    default = connections["default"]
    settings_dict = default.settings_dict
    app_role = settings.DATABASE_APP_ROLE
    with psycopg.connect(_conninfo(settings_dict, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [app_role]).fetchone()
        verb = "ALTER" if exists else "CREATE"
        admin.execute(
            f"{verb} ROLE \"{app_role}\" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB PASSWORD '{APP_ROLE_PASSWORD}'"
        )
    default.close()
    settings_dict["NAME"] = name
    call_command("migrate", interactive=False, verbosity=0)
    with default.cursor() as cursor:
        # Transactional tests empty the tables between tests with TRUNCATE.
        cursor.execute(f'GRANT TRUNCATE ON ALL TABLES IN SCHEMA public TO "{app_role}"')
    default.close()
    settings_dict["USER"] = app_role
    settings_dict["PASSWORD"] = APP_ROLE_PASSWORD


def drop_database(name: str, admin_settings: dict) -> None:
    connections["default"].close()
    with psycopg.connect(_conninfo(admin_settings, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
