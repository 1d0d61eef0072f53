DROP INDEX invoices_vendor_number;
