-- duplicate-payment (docs/screening.md) looks up each invoiced vendor's earlier invoices
-- by number; without this index the lookup read every invoice of the fund.
CREATE INDEX invoices_vendor_number ON invoices (fund_id, vendor_org_id, invoice_number);
