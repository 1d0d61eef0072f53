-- Witnesses' cosignatures of signed checkpoints (C2SP tlog-cosignature), as the witnesses
-- returned them: one signature line per checkpoint and witness. Appended to the
-- checkpoint's note when it is served, so a donor can require k of n named witnesses.
-- Append-only like the checkpoints they cosign.
CREATE TABLE checkpoint_cosignatures (
    chain_id uuid NOT NULL,
    tree_size bigint NOT NULL,
    -- The witness's cosigner verifier key (`<name>+<key id>+<base64(0x04 || key)>`).
    witness text NOT NULL,
    -- The signature line, `— <name> <base64(key id || timestamp || signature)>`.
    line text NOT NULL,
    cosigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, tree_size, witness),
    FOREIGN KEY (chain_id, tree_size) REFERENCES checkpoints (chain_id, tree_size)
);
CREATE INDEX checkpoint_cosignatures_witness ON checkpoint_cosignatures (witness, chain_id, tree_size);

CREATE TRIGGER checkpoint_cosignatures_append_only BEFORE UPDATE OR DELETE ON checkpoint_cosignatures
    FOR EACH ROW EXECUTE FUNCTION fundtrail_reject_mutation();
CREATE TRIGGER checkpoint_cosignatures_no_truncate BEFORE TRUNCATE ON checkpoint_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION fundtrail_reject_mutation();
REVOKE ALL ON checkpoint_cosignatures FROM PUBLIC;
GRANT SELECT, INSERT ON checkpoint_cosignatures TO fundtrail_app;
