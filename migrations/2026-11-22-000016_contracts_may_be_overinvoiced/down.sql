-- Fails while a contract is invoiced above its value: reverse those invoices (or raise
-- the value by an amendment) first.
ALTER TABLE contracts DROP CONSTRAINT contracts_invoiced_check;
ALTER TABLE contracts ADD CONSTRAINT contracts_check CHECK (invoiced >= 0 AND invoiced <= value);
