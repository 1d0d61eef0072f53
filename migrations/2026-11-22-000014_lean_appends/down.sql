DROP INDEX fund_entries_business_date;
CREATE INDEX ledger_entries_business_date ON ledger_entries (chain_id, business_date, seq);
CREATE INDEX ledger_entries_kind ON ledger_entries (chain_id, kind, seq);
ALTER TABLE merkle_nodes ADD CONSTRAINT merkle_nodes_chain_id_fkey FOREIGN KEY (chain_id) REFERENCES chains (id);
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_chain_id_fkey FOREIGN KEY (chain_id) REFERENCES chains (id);
