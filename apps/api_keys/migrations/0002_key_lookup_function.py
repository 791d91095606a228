"""A SECURITY DEFINER function that answers one question before any tenant context
exists: which organization owns the key with this hash? Authentication needs nothing
more, so the application role never needs cross-tenant access to the key table."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION tessera_api_key_organization(p_key_hash text)
RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path FROM CURRENT
AS $$ SELECT organization_id FROM api_keys_apikey WHERE key_hash = p_key_hash $$;
"""
DROP = "DROP FUNCTION IF EXISTS tessera_api_key_organization(text);"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("api_keys", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
