REVOKE UPDATE ON fund_entries, invoices, contracts FROM fundtrail_app;
GRANT UPDATE ON fund_entries, invoices, contracts TO fundtrail_app;

DROP TRIGGER fund_entries_references_inserted ON fund_entries;
ALTER TABLE fund_entries
    ADD CONSTRAINT fund_entries_fund_id_fkey FOREIGN KEY (fund_id) REFERENCES funds (id),
    ADD CONSTRAINT fund_entries_ministry_org_id_fkey FOREIGN KEY (ministry_org_id) REFERENCES organizations (id),
    ADD CONSTRAINT fund_entries_vendor_org_id_fkey FOREIGN KEY (vendor_org_id) REFERENCES organizations (id),
    ADD CONSTRAINT fund_entries_donor_org_id_fkey FOREIGN KEY (donor_org_id) REFERENCES organizations (id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['invoices', 'contracts', 'flags'] LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_references_inserted', t);
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I FOREIGN KEY (fund_id) REFERENCES funds (id), '
                       'ADD CONSTRAINT %I FOREIGN KEY (ministry_org_id) REFERENCES organizations (id), '
                       'ADD CONSTRAINT %I FOREIGN KEY (vendor_org_id) REFERENCES organizations (id)',
                       t, t || '_fund_id_fkey', t || '_ministry_org_id_fkey', t || '_vendor_org_id_fkey');
    END LOOP;
END
$$;

DROP FUNCTION fundtrail_check_references();
DROP TRIGGER funds_never_deleted ON funds;
DROP TRIGGER funds_never_truncated ON funds;
DROP TRIGGER organizations_never_deleted ON organizations;
DROP TRIGGER organizations_never_truncated ON organizations;
DROP FUNCTION fundtrail_referenced_never_deleted();
