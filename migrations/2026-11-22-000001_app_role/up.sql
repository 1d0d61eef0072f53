-- The role the service runs its queries as (see docs/operations.md, "Database roles").
-- The service's pool issues `SET ROLE fundtrail_app` on every connection, so whatever
-- login role DATABASE_URL names, request handling only has the privileges granted to
-- this role: INSERT and SELECT on ledger tables, never UPDATE, DELETE or TRUNCATE.
-- Roles are cluster-wide, so creation is idempotent and the down migration keeps it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fundtrail_app') THEN
        CREATE ROLE fundtrail_app NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO fundtrail_app;
-- Readiness checks that no migration is pending.
GRANT SELECT ON __diesel_schema_migrations TO fundtrail_app;
