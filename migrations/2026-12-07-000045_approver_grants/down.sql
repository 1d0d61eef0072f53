ALTER TABLE role_grants DROP COLUMN approver;
