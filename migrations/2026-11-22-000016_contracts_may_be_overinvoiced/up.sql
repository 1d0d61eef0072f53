-- Invoices may exceed a contract's value (with amendments): an overrun is recorded and
-- flagged by the over-contract screen, not refused (docs/domain.md). Payments still cannot
-- exceed what is invoiced.
ALTER TABLE contracts DROP CONSTRAINT contracts_check;
ALTER TABLE contracts ADD CONSTRAINT contracts_invoiced_check CHECK (invoiced >= 0);
