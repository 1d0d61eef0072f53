-- The approver grant: a user's live role grant of `treasurer` or `ministry` may carry the
-- right to decide requests held under a fund's approval policy (docs/security.md,
-- "Two-person control"). Set and cleared by an admin (`approver_granted`,
-- `approver_revoked` in the administrative chain).
ALTER TABLE role_grants ADD COLUMN approver boolean NOT NULL DEFAULT false;
