-- Imported evidence (docs/import.md): the lot a bid or award is for, a bid's unmapped
-- status, and the publisher's tender status, so that the procurement rules and screens
-- compare within a lot and leave ended tenders alone.
ALTER TABLE fund_entries ADD COLUMN lot text;
ALTER TABLE fund_entries ADD COLUMN status text;
ALTER TABLE tenders ADD COLUMN status text;
-- An imported contract or transaction may carry a missing or zero value, recorded as zero
-- with a data-quality finding; the API's entries still refuse it (docs/domain.md).
ALTER TABLE contracts DROP CONSTRAINT contracts_value_check;
ALTER TABLE contracts ADD CONSTRAINT contracts_value_check CHECK (value >= 0);
ALTER TABLE invoices DROP CONSTRAINT invoices_amount_check;
ALTER TABLE invoices ADD CONSTRAINT invoices_amount_check CHECK (amount >= 0);
