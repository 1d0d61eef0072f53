-- Identity: organisations, users, role grants, refresh tokens (docs/security.md).
-- These rows are state, not ledger: every change to them is also recorded as an entry
-- in the administrative chain, which is the audit trail.

CREATE TABLE organizations (
    id uuid PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    kind text NOT NULL CHECK (kind IN ('donor', 'ministry', 'fund_secretariat', 'audit_body', 'vendor', 'operator')),
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES organizations (id),
    -- Stored lower-cased; unique across the service.
    email text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    -- PHC string: algorithm and parameters travel with the hash, so they can be raised.
    password_hash text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE role_grants (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id),
    role text NOT NULL CHECK (role IN ('admin', 'treasurer', 'ministry', 'auditor', 'donor')),
    granted_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
-- At most one live grant of a role per user.
CREATE UNIQUE INDEX role_grants_live ON role_grants (user_id, role) WHERE revoked_at IS NULL;

-- Refresh tokens: only their SHA-256 is stored. A family is one login; every refresh
-- rotates the token; presenting a used token revokes the whole family (theft signal).
CREATE TABLE refresh_tokens (
    id uuid PRIMARY KEY,
    family_id uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES users (id),
    role text NOT NULL,
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    issued_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id) WHERE revoked_at IS NULL;

GRANT SELECT, INSERT, UPDATE ON organizations, users, role_grants, refresh_tokens TO fundtrail_app;
