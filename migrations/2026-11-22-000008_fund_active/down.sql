REVOKE UPDATE (active) ON funds FROM fundtrail_app;
ALTER TABLE funds DROP COLUMN active;
