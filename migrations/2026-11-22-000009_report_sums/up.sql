-- Sums over sealed blocks of a fund's entries, so that reports over a million entries read
-- a few thousand rows (docs/reports.md, "Performance"). A block is the entries with
-- block * block_size <= seq < (block + 1) * block_size; it is summed once every entry of
-- it is committed (the report's checkpoint is at or past its end), and entries and their
-- index rows never change afterwards, so its sums never go stale. This is a cache: any
-- row may be deleted, and the next report recomputes it from the entries.
CREATE TABLE report_blocks (
    fund_id uuid NOT NULL REFERENCES funds (id),
    block_size bigint NOT NULL CHECK (block_size > 0),
    block bigint NOT NULL CHECK (block >= 0),
    PRIMARY KEY (fund_id, block_size, block)
);

-- Two grains: `flow` rows keep every dimension but the vendor; `vendor` rows keep only
-- payments' vendors (vendor x ministry x category x date would hardly compress).
CREATE TABLE report_entry_sums (
    fund_id uuid NOT NULL,
    block_size bigint NOT NULL,
    block bigint NOT NULL,
    grain text NOT NULL CHECK (grain IN ('flow', 'vendor')),
    kind text NOT NULL,
    reversal boolean NOT NULL,
    business_date date NOT NULL,
    donor_org_id uuid,
    ministry_org_id uuid,
    vendor_org_id uuid,
    category text,
    currency text,
    amount numeric NOT NULL,
    amount_fund numeric NOT NULL,
    FOREIGN KEY (fund_id, block_size, block) REFERENCES report_blocks ON DELETE CASCADE
);
CREATE INDEX report_entry_sums_block ON report_entry_sums (fund_id, block_size, block);

-- Flags raised by the block's entries, by severity, rule and ministry (statuses are
-- applied at read time from the few flags that were triaged).
CREATE TABLE report_flag_sums (
    fund_id uuid NOT NULL,
    block_size bigint NOT NULL,
    block bigint NOT NULL,
    severity text NOT NULL,
    rule text NOT NULL,
    ministry_org_id uuid,
    n bigint NOT NULL,
    FOREIGN KEY (fund_id, block_size, block) REFERENCES report_blocks ON DELETE CASCADE
);
CREATE INDEX report_flag_sums_block ON report_flag_sums (fund_id, block_size, block);

-- Flags by the entry that raised them: block sums and the partial block read ranges of seq.
CREATE INDEX flags_fund_seq ON flags (fund_id, seq);

-- A flag raised later for an entry of a summed block (a period screen) drops that
-- block's sums, in the same statement; the next report recomputes them.
CREATE FUNCTION report_blocks_flag_raised() RETURNS trigger AS $$
BEGIN
    DELETE FROM report_blocks b
     USING (SELECT DISTINCT fund_id, seq FROM raised) r
     WHERE b.fund_id = r.fund_id AND b.block = r.seq / b.block_size;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER flags_invalidate_report_blocks AFTER INSERT ON flags
    REFERENCING NEW TABLE AS raised
    FOR EACH STATEMENT EXECUTE FUNCTION report_blocks_flag_raised();

GRANT SELECT, INSERT, DELETE ON report_blocks, report_entry_sums, report_flag_sums TO fundtrail_app;
