-- Fails while an imported zero-valued contract or invoice is recorded.
ALTER TABLE invoices DROP CONSTRAINT invoices_amount_check;
ALTER TABLE invoices ADD CONSTRAINT invoices_amount_check CHECK (amount > 0);
ALTER TABLE contracts DROP CONSTRAINT contracts_value_check;
ALTER TABLE contracts ADD CONSTRAINT contracts_value_check CHECK (value > 0);
ALTER TABLE tenders DROP COLUMN status;
ALTER TABLE fund_entries DROP COLUMN status;
ALTER TABLE fund_entries DROP COLUMN lot;
