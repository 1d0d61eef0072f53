-- Anomaly flags (docs/screening.md). A flag is raised in the same transaction as the entry
-- that causes it, so it exists exactly when that entry is committed; (fund, rule, seq) is
-- unique, so nothing raises it twice. Flags are never deleted: triage changes `status`,
-- and every change is a row of flag_events and an entry of the administrative chain.
CREATE TABLE flags (
    -- UUIDv5(fund id, "<rule>/<seq>").
    id uuid PRIMARY KEY,
    fund_id uuid NOT NULL REFERENCES funds (id),
    rule text NOT NULL,
    severity text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    -- The entry that raised it, and every entry of the evidence (it first).
    seq bigint NOT NULL,
    evidence bigint[] NOT NULL,
    ministry_org_id uuid REFERENCES organizations (id),
    vendor_org_id uuid REFERENCES organizations (id),
    message text NOT NULL,
    business_date date NOT NULL,
    raised_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'acknowledged', 'confirmed', 'dismissed', 'escalated')),
    UNIQUE (fund_id, rule, seq)
);
CREATE INDEX flags_fund ON flags (fund_id, raised_at, id);
CREATE INDEX flags_fund_ministry ON flags (fund_id, ministry_org_id);

CREATE TABLE flag_events (
    id uuid PRIMARY KEY,
    flag_id uuid NOT NULL REFERENCES flags (id),
    action text NOT NULL,
    from_status text NOT NULL,
    to_status text NOT NULL,
    reason text,
    actor_user_id uuid NOT NULL,
    actor_role text NOT NULL,
    -- The administrative-chain entry that records this transition.
    admin_seq bigint NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX flag_events_flag ON flag_events (flag_id, at);

CREATE OR REPLACE FUNCTION fundtrail_no_delete() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'flags and their history are never deleted (%)', TG_TABLE_NAME;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER flags_no_delete BEFORE DELETE ON flags
    FOR EACH ROW EXECUTE FUNCTION fundtrail_no_delete();
CREATE TRIGGER flag_events_no_change BEFORE UPDATE OR DELETE ON flag_events
    FOR EACH ROW EXECUTE FUNCTION fundtrail_no_delete();

GRANT SELECT, INSERT ON flags, flag_events TO fundtrail_app;
GRANT UPDATE (status) ON flags TO fundtrail_app;
