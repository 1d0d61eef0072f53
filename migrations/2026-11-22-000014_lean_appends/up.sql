-- Appends write only what the ledger needs (docs/benchmarks.md, "Ledger core"): a single
-- chain's appends are serialised through one connection, so every index and check each
-- entry row pays for bounds the rate of a whole fund.
--
-- The chain foreign keys of the two hot tables go: an entry or node is written only by a
-- writer that holds its chain's head row locked (chain_heads references chains), and
-- `chains` rows can never be deleted (append-only trigger), so the check could never fail.
-- `checkpoints` keeps its foreign key (one row per commit, not per entry).
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_chain_id_fkey;
ALTER TABLE merkle_nodes DROP CONSTRAINT merkle_nodes_chain_id_fkey;

-- The entry listing's kind and date filters on a fund's chain use the fund's entry index
-- (fund_entries, derived state written in the same transaction and checked by `rebuild
-- --check`); on the administrative and generic chains they filter a scan in seq order.
DROP INDEX ledger_entries_kind;
DROP INDEX ledger_entries_business_date;
CREATE INDEX fund_entries_business_date ON fund_entries (fund_id, business_date, seq);
