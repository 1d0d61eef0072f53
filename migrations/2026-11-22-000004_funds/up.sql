-- Funds: each is also a ledger chain (same id). Administered by a fund secretariat;
-- audit bodies are assigned to it. Changes are recorded in the administrative chain.
CREATE TABLE funds (
    id uuid PRIMARY KEY REFERENCES chains (id),
    name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    -- ISO 4217 alphabetic code; every amount of the fund is held in it.
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    secretariat_org_id uuid NOT NULL REFERENCES organizations (id),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE fund_auditors (
    fund_id uuid NOT NULL REFERENCES funds (id),
    org_id uuid NOT NULL REFERENCES organizations (id),
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fund_id, org_id)
);

GRANT SELECT, INSERT ON funds, fund_auditors TO fundtrail_app;
