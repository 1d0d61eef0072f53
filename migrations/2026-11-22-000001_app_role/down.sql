REVOKE SELECT ON __diesel_schema_migrations FROM fundtrail_app;
REVOKE USAGE ON SCHEMA public FROM fundtrail_app;
-- The role itself is cluster-wide and may serve other databases: it is not dropped.
