-- The derived tables that take rows with every typed entry (fund_entries, invoices,
-- contracts, flags) check their references to funds and organisations once per inserting
-- statement, over all of the statement's rows, instead of a foreign key's lookup and row
-- lock per row and column (a quarter of the fund writer's database time in 100-entry
-- batches). A row that names a fund or an organisation that does not exist is refused as a
-- foreign key refuses it: SQLSTATE 23503 and the constraint's name. The service's login may
-- update only the columns later entries change, never a reference, and funds and
-- organisations are never deleted (below), so there is no update or delete for a key lock
-- to hold off.

CREATE FUNCTION fundtrail_referenced_never_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'fundtrail: % on %.% is forbidden: funds and organisations are never deleted', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER funds_never_deleted BEFORE DELETE ON funds
    FOR EACH ROW EXECUTE FUNCTION fundtrail_referenced_never_deleted();
CREATE TRIGGER funds_never_truncated BEFORE TRUNCATE ON funds
    FOR EACH STATEMENT EXECUTE FUNCTION fundtrail_referenced_never_deleted();
CREATE TRIGGER organizations_never_deleted BEFORE DELETE ON organizations
    FOR EACH ROW EXECUTE FUNCTION fundtrail_referenced_never_deleted();
CREATE TRIGGER organizations_never_truncated BEFORE TRUNCATE ON organizations
    FOR EACH STATEMENT EXECUTE FUNCTION fundtrail_referenced_never_deleted();

-- Each distinct fund and organisation the statement's rows name, looked up once; for
-- fund_entries its donor too.
CREATE FUNCTION fundtrail_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    m record;
BEGIN
    SELECT r.col, r.id, r.target INTO m
      FROM (SELECT DISTINCT c.col, c.id, c.target
              FROM new_rows n
             CROSS JOIN LATERAL (VALUES ('fund_id', n.fund_id, 'funds'),
                                        ('ministry_org_id', n.ministry_org_id, 'organizations'),
                                        ('vendor_org_id', n.vendor_org_id, 'organizations')) c (col, id, target)
             WHERE c.id IS NOT NULL) r
     WHERE CASE WHEN r.target = 'funds' THEN NOT EXISTS (SELECT 1 FROM funds f WHERE f.id = r.id)
                ELSE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = r.id) END
     LIMIT 1;
    IF NOT FOUND AND TG_TABLE_NAME = 'fund_entries' THEN
        SELECT 'donor_org_id' AS col, d.id, 'organizations' AS target INTO m
          FROM (SELECT DISTINCT n.donor_org_id AS id FROM new_rows n
                 WHERE n.donor_org_id IS NOT NULL) d
         WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.id)
         LIMIT 1;
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
                TG_TABLE_NAME, TG_TABLE_NAME || '_' || m.col || '_fkey'
            USING ERRCODE = 'foreign_key_violation',
                  CONSTRAINT = TG_TABLE_NAME || '_' || m.col || '_fkey',
                  TABLE = TG_TABLE_NAME,
                  DETAIL = format('Key (%s)=(%s) is not present in table "%s".', m.col, m.id, m.target);
    END IF;
    RETURN NULL;
END
$$;

ALTER TABLE fund_entries
    DROP CONSTRAINT fund_entries_fund_id_fkey,
    DROP CONSTRAINT fund_entries_ministry_org_id_fkey,
    DROP CONSTRAINT fund_entries_vendor_org_id_fkey,
    DROP CONSTRAINT fund_entries_donor_org_id_fkey;
CREATE TRIGGER fund_entries_references_inserted AFTER INSERT ON fund_entries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fundtrail_check_references();

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['invoices', 'contracts', 'flags'] LOOP
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I, DROP CONSTRAINT %I, DROP CONSTRAINT %I',
                       t, t || '_fund_id_fkey', t || '_ministry_org_id_fkey', t || '_vendor_org_id_fkey');
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION fundtrail_check_references()',
                       t || '_references_inserted', t);
    END LOOP;
END
$$;

-- What later entries change, and nothing else (flags: `status` only, since they were made).
REVOKE UPDATE ON fund_entries, invoices, contracts FROM fundtrail_app;
GRANT UPDATE (reversed_by) ON fund_entries TO fundtrail_app;
GRANT UPDATE (paid, reversed) ON invoices TO fundtrail_app;
GRANT UPDATE (value, starts_on, ends_on, amendments, invoiced, paid, reversed) ON contracts TO fundtrail_app;
