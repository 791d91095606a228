-- Tessera: database roles for row-level security (docs/configuration.md, "PostgreSQL roles").
--
-- The postgres image runs this file once, when it initialises an empty data directory
-- (it is mounted into /docker-entrypoint-initdb.d by docker/compose.yml), as POSTGRES_USER.
-- psql 15's \getenv reads the two passwords from the container's environment.
--
--   tessera_owner         owns the database and every table; `manage.py migrate` runs as it
--   tessera_app           what web, workers and beat log in as: no superuser, no BYPASSRLS,
--                         owns nothing, so row-level security applies to all it does
--   tessera_cross_tenant  NOLOGIN, BYPASSRLS; tessera_app switches to it with SET LOCAL ROLE
--                         only inside the cross-tenant code path
--
-- Table privileges and policies are not created here: the post_migrate hook
-- (apps/core/rls.py) grants them after every migrate.

\set ON_ERROR_STOP on

\getenv owner_password TESSERA_OWNER_PASSWORD
\getenv app_password TESSERA_APP_PASSWORD

\if :{?owner_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'TESSERA_OWNER_PASSWORD must be set in the postgres container'; END $$;
\endif
\if :{?app_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'TESSERA_APP_PASSWORD must be set in the postgres container'; END $$;
\endif

CREATE ROLE tessera_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
    PASSWORD :'owner_password';
CREATE ROLE tessera_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
    PASSWORD :'app_password';
CREATE ROLE tessera_cross_tenant NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS;

-- The application may switch to the cross-tenant role (SET LOCAL ROLE); BYPASSRLS is a role
-- attribute and is not inherited through membership, so it applies only after the switch.
GRANT tessera_cross_tenant TO tessera_app;
-- The post_migrate hook repeats the GRANT above on every migrate; PostgreSQL requires the
-- admin option for that when the migrating role is not a superuser.
GRANT tessera_cross_tenant TO tessera_owner WITH ADMIN OPTION;

CREATE DATABASE tessera OWNER tessera_owner;
-- Only the two login roles (and superusers) may connect.
REVOKE ALL ON DATABASE tessera FROM PUBLIC;
GRANT CONNECT ON DATABASE tessera TO tessera_app;
