REVOKE UPDATE (public_page) ON funds FROM fundtrail_app;
ALTER TABLE funds DROP COLUMN public_page;
