-- The fund's screening thresholds as set by its latest `screening_config` entry (derived
-- state: rebuilt from the ledger like the rest; absent = the defaults of docs/screening.md).
CREATE TABLE screening_thresholds (
    fund_id uuid PRIMARY KEY REFERENCES funds (id),
    seq bigint NOT NULL,
    config jsonb NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON screening_thresholds TO fundtrail_app;
