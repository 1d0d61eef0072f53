-- The tamper-evident ledger (docs/ledger-format.md).
--
-- Ledger tables are append-only in the database itself: triggers reject UPDATE, DELETE
-- and TRUNCATE for every role (superusers included, unless they disable the triggers, which
-- verification then catches), and the service role is granted only INSERT and SELECT.

-- One chain per fund, plus the administrative chain (the nil UUID, created at start-up
-- with the configured origin).
CREATE TABLE chains (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('admin', 'fund', 'generic')),
    -- First line of every checkpoint of this chain (C2SP tlog-checkpoint origin).
    origin text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_entries (
    chain_id uuid NOT NULL REFERENCES chains (id),
    seq bigint NOT NULL CHECK (seq >= 0),
    kind text NOT NULL,
    business_date date NOT NULL,
    recorded_at timestamptz NOT NULL,
    idempotency_key text NOT NULL,
    -- The exact bytes that were hashed: RFC 8785 JSON of the entry without its hashes.
    -- Every other column is an index over it, and verification checks they agree.
    canonical text NOT NULL,
    prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
    entry_hash bytea NOT NULL CHECK (length(entry_hash) = 32),
    PRIMARY KEY (chain_id, seq),
    UNIQUE (chain_id, idempotency_key)
);
CREATE INDEX ledger_entries_kind ON ledger_entries (chain_id, kind, seq);
CREATE INDEX ledger_entries_business_date ON ledger_entries (chain_id, business_date, seq);

-- Every complete, aligned subtree of each chain's Merkle tree: covers leaves
-- [idx * 2^level, (idx + 1) * 2^level). Level 0 holds the leaf hashes.
CREATE TABLE merkle_nodes (
    chain_id uuid NOT NULL REFERENCES chains (id),
    level smallint NOT NULL CHECK (level >= 0 AND level < 64),
    idx bigint NOT NULL CHECK (idx >= 0),
    hash bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (chain_id, level, idx)
);

-- Public keys that ever signed checkpoints; never removed, so old checkpoints stay verifiable.
CREATE TABLE signing_keys (
    key_id text PRIMARY KEY,            -- 8 hex digits (C2SP signed-note key id)
    name text NOT NULL,
    verifier_key text NOT NULL UNIQUE,  -- <name>+<key id>+<base64(0x01 || public key)>
    first_used_at timestamptz NOT NULL DEFAULT now()
);

-- Signed checkpoints (C2SP tlog-checkpoint in a signed note), one per tree size.
CREATE TABLE checkpoints (
    chain_id uuid NOT NULL REFERENCES chains (id),
    tree_size bigint NOT NULL CHECK (tree_size >= 0),
    root_hash bytea NOT NULL CHECK (length(root_hash) = 32),
    signed_at timestamptz NOT NULL,
    key_id text NOT NULL REFERENCES signing_keys (key_id),
    note text NOT NULL,
    PRIMARY KEY (chain_id, tree_size)
);

-- The head of each chain: derived state (rebuildable from ledger_entries), the row the
-- writer locks to serialise appends across processes. Not append-only.
CREATE TABLE chain_heads (
    chain_id uuid PRIMARY KEY REFERENCES chains (id),
    size bigint NOT NULL CHECK (size >= 0),
    head_hash bytea NOT NULL CHECK (length(head_hash) = 32)
);

CREATE FUNCTION fundtrail_reject_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'fundtrail: % on %.% is forbidden: the ledger is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['chains', 'ledger_entries', 'merkle_nodes', 'signing_keys', 'checkpoints'] LOOP
        EXECUTE format('CREATE TRIGGER %I_append_only BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION fundtrail_reject_mutation()', t, t);
        EXECUTE format('CREATE TRIGGER %I_no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION fundtrail_reject_mutation()', t, t);
        EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', t);
        EXECUTE format('GRANT SELECT, INSERT ON %I TO fundtrail_app', t);
    END LOOP;
END
$$;

GRANT SELECT, INSERT, UPDATE ON chain_heads TO fundtrail_app;
