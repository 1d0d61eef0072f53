-- The reads of one append job's screening (`screening::store::job_reads`), in one function
-- so that its plan is made once per connection instead of on every call.
--
-- As a prepared statement, Postgres re-planned it on every call: the planner estimates
-- 100 elements for `unnest` of a parameter, so the generic plan always looked dearer than
-- a custom plan for the job's one to three keys, and planning (about 0.35 ms) cost more
-- than running it (about 0.25 ms). Every part but the latest awards is a probe or short
-- range scan per key of the one index that matches all its conditions (fenced with
-- `OFFSET 0` or bounded by a `LIMIT`), so its generic plan is the plan a custom one would
-- be, whatever the statistics when it is made; `plan_cache_mode = force_generic_plan` makes PL/pgSQL's cached plan generic from
-- the first call. Like every cached plan, it is made again when the tables' statistics
-- change (ANALYZE invalidates it).
--
-- A part whose array is empty reads nothing (its `unnest` yields no rows); the fund's
-- first date is read only with first sightings. The latest awards are the exception: two
-- indexes can serve them, so they are planned on each call (below).
CREATE FUNCTION screening_job_reads(
    p_fund uuid,
    p_orgs uuid[],
    p_first_seen uuid[],
    p_invoices bigint[],
    p_tenders bigint[],
    p_award_ministries uuid[],
    p_award_limits bigint[],
    p_numbered_vendors uuid[],
    p_numbers text[]
) RETURNS TABLE (
    which integer,
    id uuid,
    seq bigint,
    tender_seq bigint,
    ref_seq bigint,
    kind text,
    business_date date,
    vendor uuid,
    amount numeric,
    text text,
    vendor_name text
) AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    -- 0: names, a primary-key probe per organisation.
    SELECT 0, o.id, NULL::bigint, NULL::bigint, NULL::bigint, NULL::text, NULL::date,
           NULL::uuid, NULL::numeric, o.name::text, NULL::text
      FROM unnest(p_orgs) AS k(id)
     CROSS JOIN LATERAL (SELECT id, name FROM organizations WHERE id = k.id OFFSET 0) o
    UNION ALL
    -- 1: each vendor's first entry in the fund (`fund_entries_vendor`, LIMIT 1).
    SELECT 1, v.vendor, e.seq, NULL, NULL, NULL, e.business_date, NULL, NULL, NULL, NULL
      FROM unnest(p_first_seen) AS v(vendor)
     CROSS JOIN LATERAL (
           SELECT seq, business_date FROM fund_entries
            WHERE fund_id = p_fund AND vendor_org_id = v.vendor
            ORDER BY seq LIMIT 1
     ) AS e
    UNION ALL
    -- 2: the fund's earliest business date, with first sightings only.
    SELECT 2, NULL, NULL, NULL, NULL, NULL, d.business_date, NULL, NULL, NULL, NULL
      FROM (
           SELECT business_date FROM fund_entries
            WHERE fund_id = p_fund AND cardinality(p_first_seen) > 0
            ORDER BY business_date, seq LIMIT 1
     ) AS d
    UNION ALL
    -- 3: invoice numbers, a primary-key probe per invoice.
    SELECT 3, NULL, i.seq, NULL, NULL, NULL, NULL, NULL, NULL, i.invoice_number, NULL
      FROM unnest(p_invoices) AS k(seq)
     CROSS JOIN LATERAL (
           SELECT seq, invoice_number FROM invoices
            WHERE fund_id = p_fund AND seq = k.seq OFFSET 0
     ) AS i
    UNION ALL
    -- 4: the tenders' unreversed tender, bid and disqualification entries
    -- (`fund_entries_tender`, one probe per tender), with each vendor's name.
    SELECT 4, NULL, e.seq, e.tender_seq, e.ref_seq, e.kind, e.business_date,
           e.vendor_org_id, e.amount_fund, NULL,
           (SELECT name FROM organizations WHERE id = e.vendor_org_id)::text
      FROM unnest(p_tenders) AS t(seq)
     CROSS JOIN LATERAL (
           SELECT tender_seq, seq, kind, business_date, vendor_org_id, amount_fund, ref_seq
             FROM fund_entries
            WHERE fund_id = p_fund AND tender_seq = t.seq
              AND kind IN ('tender', 'bid', 'bid_disqualified') AND reversed_by IS NULL
           OFFSET 0
     ) AS e
    UNION ALL
    -- 6: unreversed invoices of each (vendor, number), a probe of
    -- `invoices_vendor_number` per pair.
    SELECT 6, NULL, i.seq, NULL, NULL, NULL, NULL, i.vendor_org_id, i.amount,
           i.invoice_number, NULL
      FROM unnest(p_numbered_vendors, p_numbers) AS v(vendor, number)
     CROSS JOIN LATERAL (
           SELECT seq, vendor_org_id, invoice_number, amount FROM invoices
            WHERE fund_id = p_fund AND vendor_org_id = v.vendor
              AND invoice_number = v.number AND NOT reversed
           OFFSET 0
     ) AS i;
    -- 5: per ministry, its awards dated from the date of its `lim`-th latest one (a
    -- short backward range scan of `fund_entries_ministry_kind_date`, then a range scan;
    -- the caller sorts and cuts), with each vendor's name. Planned on each call (EXECUTE):
    -- `fund_entries_business_date` can serve the same order and range, and a generic plan
    -- made while the fund was tiny, where both indexes cost the same, kept it for good (it
    -- then walks the fund's entries by date, filtering on ministry and kind; a ministry
    -- with few awards reads them all). A custom plan sees the table's current size.
    IF cardinality(p_award_ministries) > 0 THEN
        RETURN QUERY EXECUTE $q$
        SELECT 5, m.ministry, a.seq, NULL::bigint, NULL::bigint, NULL::text, a.business_date,
               a.vendor_org_id, a.amount_fund, NULL::text,
               (SELECT name FROM organizations WHERE id = a.vendor_org_id)::text
          FROM unnest($2, $3) AS m(ministry, lim)
         CROSS JOIN LATERAL (
               SELECT seq, business_date, vendor_org_id, amount_fund FROM fund_entries
                WHERE fund_id = $1 AND ministry_org_id = m.ministry AND kind = 'award'
                  AND reversed_by IS NULL
                  AND business_date >= (
                      SELECT min(d.business_date) FROM (
                          SELECT business_date FROM fund_entries
                           WHERE fund_id = $1 AND ministry_org_id = m.ministry
                             AND kind = 'award' AND reversed_by IS NULL
                           ORDER BY business_date DESC LIMIT m.lim
                      ) AS d)
               OFFSET 0
         ) AS a
        $q$ USING p_fund, p_award_ministries, p_award_limits;
    END IF;
END
$$ LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan;
