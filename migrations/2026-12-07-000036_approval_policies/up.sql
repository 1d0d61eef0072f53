-- Two-person control (docs/domain.md, "Two-person control"): the fund's approval policy
-- as its latest `approval_policy` entry left it, and every request an entry above the
-- policy's threshold became, with what was decided. Both are derived from the ledger like
-- the rest of the derived state and rebuilt from it.
CREATE TABLE approval_policies (
    fund_id uuid PRIMARY KEY REFERENCES funds (id),
    -- Seq of the approval_policy entry in force.
    seq bigint NOT NULL,
    -- Hours a request waits for a decision before it expires.
    expiry_hours integer NOT NULL CHECK (expiry_hours > 0),
    -- The rules as recorded: [{"kind", "above": {"value", "currency"}, "ministry"?}].
    rules jsonb NOT NULL
);

CREATE TABLE approval_requests (
    fund_id uuid NOT NULL REFERENCES funds (id),
    -- Seq of the requested entry (recorded with its own kind and body).
    seq bigint NOT NULL,
    kind text NOT NULL,
    -- The recorded body, applied as it stands when the request is approved.
    body jsonb NOT NULL,
    business_date date NOT NULL,
    -- Ledger principal id of the user who recorded the request (the maker).
    maker text NOT NULL,
    -- The role that decides: treasurer (fund flows) or ministry (procurement).
    approver_role text NOT NULL CHECK (approver_role IN ('treasurer', 'ministry')),
    -- The ministry the entry concerns (the deciding ministry for procurement).
    ministry_org_id uuid REFERENCES organizations (id),
    -- The entry's amount in the fund's currency, compared with the policy's threshold.
    amount_fund numeric NOT NULL,
    -- Seq of the approval_policy entry that required the second person.
    policy_seq bigint NOT NULL,
    requested_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'expired')),
    -- Seq of the approval, rejection or expiry entry; NULL while pending.
    decided_seq bigint,
    -- Ledger principal id of the approver (or `system` for an expiry).
    decided_by text,
    -- A rejection's reason.
    reason text,
    PRIMARY KEY (fund_id, seq),
    CHECK ((state = 'pending') = (decided_seq IS NULL))
);
-- The pending list and the expiry sweep read only what is still pending.
CREATE INDEX approval_requests_pending ON approval_requests (fund_id, expires_at)
    WHERE state = 'pending';

GRANT SELECT, INSERT, UPDATE, DELETE ON approval_policies TO fundtrail_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON approval_requests TO fundtrail_app;
-- Exports find the request an approval put into effect by the approval's seq.
CREATE UNIQUE INDEX approval_requests_decided ON approval_requests (fund_id, decided_seq);
