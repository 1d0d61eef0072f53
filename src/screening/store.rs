//! The only SQL of screening: the facts screens read, the flags they raise, triage.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::db::prepared::prepared;
use crate::schema::{flag_events, flags, fund_entries, funds, organizations, tenders};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = flags)]
pub struct FlagRow {
    pub id: Uuid,
    pub fund_id: Uuid,
    pub rule: String,
    pub severity: String,
    pub seq: i64,
    pub evidence: Vec<Option<i64>>,
    pub ministry_org_id: Option<Uuid>,
    pub vendor_org_id: Option<Uuid>,
    pub message: String,
    pub business_date: NaiveDate,
    pub raised_at: DateTime<Utc>,
    pub status: String,
    /// '' for a flag raised by entry `seq`; what a period flag is about, and over which
    /// period (`screening::period::PeriodFinding::subject`).
    pub subject: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = flag_events)]
pub struct FlagEventRow {
    pub id: Uuid,
    pub flag_id: Uuid,
    pub action: String,
    pub from_status: String,
    pub to_status: String,
    pub reason: Option<String>,
    pub actor_user_id: Uuid,
    pub actor_role: String,
    pub admin_seq: i64,
    pub at: DateTime<Utc>,
}

/// Inserts flags; one already raised (same id, or same fund, rule, seq and subject) is
/// left as it is. Returns how many were inserted.
pub fn insert_flags(conn: &mut PgConnection, rows: &[FlagRow]) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut inserted = 0;
    // 14 parameters a row: stay far under Postgres' 65,535 bind parameters.
    for chunk in rows.chunks(2_000) {
        inserted += diesel::insert_into(flags::table)
            .values(chunk)
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    Ok(inserted)
}

/// Which of these flags exist already.
pub fn existing_flags(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<Vec<Uuid>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    flags::table
        .filter(flags::id.eq_any(ids))
        .select(flags::id)
        .load(conn)
}

/// An unreversed payment, award or disbursement: (seq, kind, business date, ministry,
/// vendor, category, tender seq, amount in the fund's currency).
pub type SpendRow = (
    i64,
    String,
    NaiveDate,
    Option<Uuid>,
    Option<Uuid>,
    Option<String>,
    Option<i64>,
    Option<Decimal>,
);

/// What the period screens of `from` to `to` read, in seq order: the fund's unreversed
/// payments and awards dated in the period, and its unreversed payments and disbursements
/// dated from `lookback` (at most `from`) to the day before. One statement over the
/// (fund, kind, seq) index, so one snapshot: a reversal is either seen with its reversed
/// entry's `reversed_by` or not at all.
pub fn period_spends(
    conn: &mut PgConnection,
    fund: Uuid,
    lookback: NaiveDate,
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<SpendRow>> {
    fund_entries::table
        .filter(fund_entries::fund_id.eq(fund))
        .filter(fund_entries::kind.eq_any(["payment", "award", "disbursement"]))
        .filter(fund_entries::business_date.between(lookback.min(from), to))
        // The lookback is for payments and disbursements; awards only of the period.
        .filter(
            fund_entries::kind
                .ne("award")
                .or(fund_entries::business_date.ge(from)),
        )
        .filter(fund_entries::reversed_by.is_null())
        .order(fund_entries::seq.asc())
        .select((
            fund_entries::seq,
            fund_entries::kind,
            fund_entries::business_date,
            fund_entries::ministry_org_id,
            fund_entries::vendor_org_id,
            fund_entries::category,
            fund_entries::tender_seq,
            fund_entries::amount_fund,
        ))
        .load(conn)
}

/// These tenders' (seq, method, category): the method from the tender state, the
/// category from the tender's entry (an award's index row carries neither).
pub fn tender_methods(
    conn: &mut PgConnection,
    fund: Uuid,
    tenders: &[i64],
) -> QueryResult<Vec<(i64, String, Option<String>)>> {
    if tenders.is_empty() {
        return Ok(Vec::new());
    }
    tenders::table
        .inner_join(
            fund_entries::table.on(fund_entries::fund_id
                .eq(tenders::fund_id)
                .and(fund_entries::seq.eq(tenders::seq))),
        )
        .filter(tenders::fund_id.eq(fund))
        .filter(tenders::seq.eq_any(tenders))
        .select((tenders::seq, tenders::method, fund_entries::category))
        .load(conn)
}

/// The active funds, with their currencies.
pub fn active_funds(conn: &mut PgConnection) -> QueryResult<Vec<(Uuid, String)>> {
    funds::table
        .filter(funds::active.eq(true))
        .order(funds::id.asc())
        .select((funds::id, funds::currency))
        .load(conn)
}

/// Names of organisations.
pub fn org_names(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<Vec<(Uuid, String)>> {
    organizations::table
        .filter(organizations::id.eq_any(ids))
        .select((organizations::id, organizations::name))
        .load(conn)
}

/// An entry of a contract for `over-contract`: (seq, kind, amount in the contract's
/// currency, ref seq).
pub type ContractEntry = (i64, String, Option<Decimal>, Option<i64>);

/// The most entries of one contract `contract_entries` reads.
pub const CONTRACT_ENTRIES_MAX: i64 = 2_000;

#[derive(QueryableByName)]
struct ContractEntryRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Numeric>)]
    amount: Option<Decimal>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    ref_seq: Option<i64>,
}

/// The latest unreversed amendments, invoices and payments of the contract signed on
/// `tender_seq`, newest first, at most `CONTRACT_ENTRIES_MAX` (the `fund_entries_tender`
/// index). A tender has at most one live contract, and a contract is reversed only when
/// none of its invoices stands (so none of their payments), so the unreversed invoice
/// payments of the tender are the contract's; invoices and amendments are also matched on
/// their contract (`ref_seq`) by the caller. The tender's entries are read in a subquery
/// fenced with `OFFSET 0` and then ordered and limited: with `ORDER BY seq DESC LIMIT`
/// on the filter itself, a planner without statistics walked the fund's entries of those
/// kinds backwards in `fund_entries_kind`.
pub fn contract_entries(
    conn: &mut PgConnection,
    fund: Uuid,
    tender_seq: i64,
) -> QueryResult<Vec<ContractEntry>> {
    use diesel::sql_types::{BigInt, Uuid as SqlUuid};
    let rows: Vec<ContractEntryRow> = prepared(
        diesel::sql_query(
            "SELECT seq, kind, amount, ref_seq FROM ( \
                 SELECT seq, kind, amount, ref_seq FROM fund_entries \
                 WHERE fund_id = $1 AND tender_seq = $2 \
                   AND kind IN ('contract_amendment', 'invoice', 'payment') \
                   AND reversed_by IS NULL \
                 OFFSET 0 \
             ) AS e \
             ORDER BY seq DESC LIMIT $3",
        )
        .bind::<SqlUuid, _>(fund)
        .bind::<BigInt, _>(tender_seq)
        .bind::<BigInt, _>(CONTRACT_ENTRIES_MAX),
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.seq, r.kind, r.amount, r.ref_seq))
        .collect())
}

/// The fund's unreversed entries of `kind` by `ministry`: the (fund, ministry, kind)
/// prefix of `fund_entries_ministry_kind_date` that the per-ministry reads below probe,
/// its last column (the business date) bounding or ordering their range scans.
#[diesel::dsl::auto_type(no_type_alias)]
fn ministry_entries<'a>(fund: Uuid, ministry: Uuid, kind: &'a str) -> _ {
    fund_entries::table
        .filter(fund_entries::fund_id.eq(fund))
        .filter(fund_entries::ministry_org_id.eq(ministry))
        .filter(fund_entries::kind.eq(kind))
        .filter(fund_entries::reversed_by.is_null())
}

/// An unreversed payment: (seq, date, ministry, vendor, amount in the fund's currency,
/// invoice seq if any).
pub type PaymentRow = (
    i64,
    NaiveDate,
    Option<Uuid>,
    Option<Uuid>,
    Option<Decimal>,
    Option<i64>,
);

/// An unreversed direct purchase with its item category: (seq, date, ministry, vendor,
/// category, amount in the fund's currency).
pub type CategoryPaymentRow = (
    i64,
    NaiveDate,
    Option<Uuid>,
    Option<Uuid>,
    Option<String>,
    Option<Decimal>,
);

/// The most direct purchases one job reads for `split-purchase` by category (the latest
/// dated first): a bound on the read, far above what a window of a ministry's purchases in
/// a few categories holds.
pub const CATEGORY_PAYMENTS_MAX: i64 = 5_000;

/// A ministry's unreversed award: (seq, business date, vendor, amount in the fund's
/// currency).
pub type AwardRow = (i64, NaiveDate, Option<Uuid>, Option<Decimal>);

/// Each of these ministries' earliest unreversed payment date in the fund (a probe of
/// `fund_entries_ministry_kind_date` per ministry).
pub fn first_payment_dates(
    conn: &mut PgConnection,
    fund: Uuid,
    ministries: &[Uuid],
) -> QueryResult<Vec<(Uuid, NaiveDate)>> {
    let mut out = Vec::with_capacity(ministries.len());
    for m in ministries {
        let first: Option<NaiveDate> = ministry_entries(fund, *m, "payment")
            .order(fund_entries::business_date.asc())
            .select(fund_entries::business_date)
            .first(conn)
            .optional()?;
        out.extend(first.map(|d| (*m, d)));
    }
    Ok(out)
}

/// (seq, kind, business date, vendor, amount in the fund's currency, referred seq: the
/// bid of a `bid_disqualified`).
pub type TenderEntry = (
    i64,
    String,
    NaiveDate,
    Option<Uuid>,
    Option<Decimal>,
    Option<i64>,
);

/// A ministry's unreversed payments or disbursements: (seq, business date, amount in the
/// fund's currency).
pub type FlowRow = (i64, NaiveDate, Option<Decimal>);

/// A paying ministry of a job: the ministry, the earliest business date and the first seq
/// of the job's payments by it.
pub type Payer = (Uuid, NaiveDate, i64);

/// What one paying ministry's flows hold for a job (`job_facts`, parts 10–13).
#[derive(Debug, Default)]
pub struct MinistryFlows {
    /// Unreversed payments to the vendors dated on or after `since` (the window's priors).
    pub payments: Vec<PaymentRow>,
    /// The numbers of the invoices those payments pay: (invoice seq, number).
    pub invoice_numbers: Vec<(i64, String)>,
    /// Unreversed payments dated after the ministry's earliest payment date of the job.
    pub later_payments: Vec<FlowRow>,
    /// Unreversed disbursements dated after that date.
    pub later_disbursements: Vec<FlowRow>,
    /// The latest unreversed disbursement dated on or before that date and recorded
    /// before the job's first payment of the ministry, by (business date, seq).
    pub latest_before: Option<FlowRow>,
}

/// What the per-entry screens of one job read (`job_facts`), each list as its own read
/// returned it.
#[derive(Debug, Default)]
pub struct JobFactsQuery {
    /// Tenders whose unreversed tender, bid and bid_disqualified entries are read.
    pub tenders: Vec<i64>,
    /// Paying ministries (`ministry_flows` below).
    pub payers: Vec<Payer>,
    /// The window's start for the payers' priors and the direct purchases by category.
    pub since: Option<NaiveDate>,
    /// Vendors of the job's payments: the priors read are payments to them.
    pub vendors: Vec<Uuid>,
    /// Ministries making direct purchases in `categories`.
    pub purchasers: Vec<Uuid>,
    pub categories: Vec<String>,
    /// (vendor, invoice number) of the job's invoices.
    pub numbered: Vec<(Uuid, String)>,
    /// Awarding ministries, with how many of their latest awards to read.
    pub award_limits: Vec<(Uuid, i64)>,
    /// Vendors whose first entry in the fund is read (with the fund's first date).
    pub spenders: Vec<Uuid>,
    /// Entries whose recorder (principal id) is read.
    pub recorded: Vec<i64>,
    /// Organisations named; the vendors of the tenders' entries, of the direct purchases
    /// and of the latest awards are named too.
    pub orgs: Vec<Uuid>,
}

/// What `job_facts` read.
#[derive(Debug, Default)]
pub struct JobFactRows {
    /// (tender seq, entry), in seq order.
    pub tender_entries: Vec<(i64, TenderEntry)>,
    pub flows: std::collections::HashMap<Uuid, MinistryFlows>,
    /// Direct purchases, latest dated first (seq breaks ties), at most
    /// `CATEGORY_PAYMENTS_MAX`.
    pub category_payments: Vec<CategoryPaymentRow>,
    /// (seq, vendor, number, amount), in seq order.
    pub invoices: Vec<(i64, Uuid, String, Decimal)>,
    /// Per awarding ministry, its latest awards, latest dated first (seq breaks ties).
    pub awards: std::collections::HashMap<Uuid, Vec<AwardRow>>,
    /// (vendor, first seq, its business date).
    pub first_seen: Vec<(Uuid, i64, NaiveDate)>,
    /// The fund's earliest business date (read with `first_seen`).
    pub fund_first_date: Option<NaiveDate>,
    /// (seq, principal id of its recorder).
    pub recorders: Vec<(i64, String)>,
    pub names: Vec<(Uuid, String)>,
}

#[derive(QueryableByName)]
struct FactRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    which: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    key: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    seq: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Date>)]
    business_date: Option<NaiveDate>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    vendor: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Numeric>)]
    amount: Option<Decimal>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    ref_seq: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    tender_seq: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    txt: Option<String>,
}

/// Everything the per-entry screens of a job read, in one statement (one round trip inside
/// the append transaction; before, eight, each planned and answered on its own). Every
/// part is a bounded probe or range scan of an index whatever the fund's size and whatever
/// the planner's statistics (a fund seeded in seconds has none): a lateral subquery per
/// key over the arrays, fenced with `OFFSET 0` or bounded by its `LIMIT`, so that no
/// part is flattened into a join the planner could turn into a scan of the fund. A part
/// whose array is empty reads nothing. The parts, by `which`:
///
/// - 0, the tenders' entries: per tender, a probe of `fund_entries_tender` for its
///   unreversed tender, bid and bid_disqualified entries (with `tender_seq = ANY(..)` a
///   planner without statistics scanned every tender and bid of the fund);
/// - 10–13, the paying ministries' flows (`MinistryFlows`): per ministry, range scans of
///   `fund_entries_ministry_kind_date` over its unreversed payments to `vendors` dated on
///   or after `since` (10, with the numbers of the invoices they pay: a primary-key probe
///   of `invoices` each, in a scalar subquery), over its payments (11) and disbursements
///   (12) dated after its earliest payment date of the job, and (13) for its latest
///   disbursement by then recorded before its first payment of the job, a backward probe
///   of that index for its date and then that date's disbursements, of which the last
///   recorded is kept (ordered by date and seq in one probe, the planner walked
///   `fund_entries_business_date`, the only index in that order, over the fund);
/// - 2, direct purchases (payments naming no invoice) in `categories` by each purchaser
///   dated on or after `since`: a range scan of its payments in the window, the latest
///   dated `CATEGORY_PAYMENTS_MAX` at most (the bound is far above what a window of a
///   ministry's purchases holds);
/// - 3, unreversed invoices of each (vendor, number): a probe of `invoices_vendor_number`;
/// - 4, each awarding ministry's latest `limit` unreversed awards: a short backward range
///   scan of `fund_entries_ministry_kind_date` (which orders by date, not seq) for the
///   date of its `limit`-th latest award, then the awards dated from it on (`limit` plus
///   its ties), sorted and cut here;
/// - 5, each spender's first entry in the fund: one probe of `fund_entries_vendor` (fund,
///   vendor, seq), `LIMIT 1` (a `min(seq) GROUP BY` would read every entry of the
///   vendors); 6, the fund's earliest business date, when there are spenders;
/// - 7, who recorded each of `recorded`: a primary-key probe of `ledger_entries`, the
///   principal's id read from the canonical entry;
/// - 8, the names of `orgs` and of the vendors of parts 0, 2 and 4.
pub fn job_facts(
    conn: &mut PgConnection,
    fund: Uuid,
    q: &JobFactsQuery,
) -> QueryResult<JobFactRows> {
    use diesel::sql_types::{Array, BigInt, Date, Nullable, Text, Uuid as SqlUuid};
    let ministries: Vec<Uuid> = q.payers.iter().map(|p| p.0).collect();
    let earliest: Vec<NaiveDate> = q.payers.iter().map(|p| p.1).collect();
    let first_seqs: Vec<i64> = q.payers.iter().map(|p| p.2).collect();
    let (numbered_vendors, numbers): (Vec<Uuid>, Vec<String>) = q.numbered.iter().cloned().unzip();
    let awarders: Vec<Uuid> = q.award_limits.iter().map(|l| l.0).collect();
    let limits: Vec<i64> = q.award_limits.iter().map(|l| l.1).collect();
    let rows: Vec<FactRow> = prepared(
        diesel::sql_query(
            "WITH te AS MATERIALIZED ( \
             SELECT e.* FROM unnest($2::bigint[]) AS t(seq) \
             CROSS JOIN LATERAL ( \
                 SELECT tender_seq, seq, kind, business_date, vendor_org_id, amount_fund, ref_seq \
                 FROM fund_entries \
                 WHERE fund_id = $1 AND tender_seq = t.seq \
                   AND kind IN ('tender', 'bid', 'bid_disqualified') AND reversed_by IS NULL \
                 OFFSET 0) AS e \
         ), cp AS MATERIALIZED ( \
             SELECT e.* FROM unnest($8::uuid[]) AS m(ministry) \
             CROSS JOIN LATERAL ( \
                 SELECT seq, business_date, ministry_org_id, vendor_org_id, category, amount_fund \
                 FROM fund_entries \
                 WHERE fund_id = $1 AND ministry_org_id = m.ministry AND kind = 'payment' \
                   AND reversed_by IS NULL AND business_date >= $6 AND ref_seq IS NULL \
                   AND category = ANY($9) \
                 ORDER BY business_date DESC LIMIT $10) AS e \
         ), la AS MATERIALIZED ( \
             SELECT m.ministry, a.* FROM unnest($13::uuid[], $14::bigint[]) AS m(ministry, lim) \
             CROSS JOIN LATERAL ( \
                 SELECT seq, business_date, vendor_org_id, amount_fund FROM fund_entries \
                 WHERE fund_id = $1 AND ministry_org_id = m.ministry AND kind = 'award' \
                   AND reversed_by IS NULL \
                   AND business_date >= ( \
                       SELECT min(d.business_date) FROM ( \
                           SELECT business_date FROM fund_entries \
                           WHERE fund_id = $1 AND ministry_org_id = m.ministry \
                             AND kind = 'award' AND reversed_by IS NULL \
                           ORDER BY business_date DESC LIMIT m.lim \
                       ) AS d) \
                 OFFSET 0) AS a \
         ) \
         SELECT 0 AS which, NULL::uuid AS key, seq, business_date, vendor_org_id AS vendor, \
                amount_fund AS amount, ref_seq, tender_seq, kind AS txt \
         FROM te \
         UNION ALL \
         SELECT 10 + f.which, m.ministry, f.seq, f.business_date, f.vendor_org_id, \
                f.amount_fund, f.ref_seq, NULL, f.invoice_number \
         FROM unnest($3::uuid[], $4::date[], $5::bigint[]) AS m(ministry, earliest, first_seq) \
         CROSS JOIN LATERAL ( \
             (SELECT 0 AS which, seq, business_date, vendor_org_id, amount_fund, ref_seq, \
                  (SELECT i.invoice_number FROM invoices i \
                   WHERE i.fund_id = $1 AND i.seq = fund_entries.ref_seq) AS invoice_number \
              FROM fund_entries \
              WHERE fund_id = $1 AND ministry_org_id = m.ministry AND kind = 'payment' \
                AND reversed_by IS NULL AND business_date >= $6 \
                AND vendor_org_id = ANY($7) \
              OFFSET 0) \
             UNION ALL \
             (SELECT 1, seq, business_date, NULL, amount_fund, NULL, NULL \
              FROM fund_entries \
              WHERE fund_id = $1 AND ministry_org_id = m.ministry AND kind = 'payment' \
                AND reversed_by IS NULL AND business_date > m.earliest \
              OFFSET 0) \
             UNION ALL \
             (SELECT 2, seq, business_date, NULL, amount_fund, NULL, NULL \
              FROM fund_entries \
              WHERE fund_id = $1 AND ministry_org_id = m.ministry AND kind = 'disbursement' \
                AND reversed_by IS NULL AND business_date > m.earliest \
              OFFSET 0) \
             UNION ALL \
             (SELECT 3, seq, business_date, NULL, amount_fund, NULL, NULL \
              FROM fund_entries \
              WHERE fund_id = $1 AND ministry_org_id = m.ministry AND kind = 'disbursement' \
                AND reversed_by IS NULL AND seq < m.first_seq \
                AND business_date = ( \
                    SELECT business_date FROM fund_entries \
                    WHERE fund_id = $1 AND ministry_org_id = m.ministry \
                      AND kind = 'disbursement' AND reversed_by IS NULL \
                      AND business_date <= m.earliest AND seq < m.first_seq \
                    ORDER BY business_date DESC LIMIT 1) \
              OFFSET 0) \
         ) AS f \
         UNION ALL \
         SELECT 2, ministry_org_id, seq, business_date, vendor_org_id, amount_fund, NULL, NULL, \
                category \
         FROM cp \
         UNION ALL \
         SELECT 3, i.vendor_org_id, i.seq, NULL, NULL, i.amount, NULL, NULL, i.invoice_number \
         FROM unnest($11::uuid[], $12::text[]) AS v(vendor, number) \
         CROSS JOIN LATERAL ( \
             SELECT seq, vendor_org_id, invoice_number, amount FROM invoices \
             WHERE fund_id = $1 AND vendor_org_id = v.vendor \
               AND invoice_number = v.number AND NOT reversed \
             OFFSET 0) AS i \
         UNION ALL \
         SELECT 4, ministry, seq, business_date, vendor_org_id, amount_fund, NULL, NULL, NULL \
         FROM la \
         UNION ALL \
         SELECT 5, v.vendor, e.seq, e.business_date, NULL, NULL, NULL, NULL, NULL \
         FROM unnest($15::uuid[]) AS v(vendor) \
         CROSS JOIN LATERAL ( \
             SELECT seq, business_date FROM fund_entries \
             WHERE fund_id = $1 AND vendor_org_id = v.vendor \
             ORDER BY seq LIMIT 1) AS e \
         UNION ALL \
         (SELECT 6, NULL, NULL, business_date, NULL, NULL, NULL, NULL, NULL \
          FROM fund_entries \
          WHERE fund_id = $1 AND cardinality($15::uuid[]) > 0 \
          ORDER BY business_date, seq LIMIT 1) \
         UNION ALL \
         SELECT 7, NULL, r.seq, NULL, NULL, NULL, NULL, NULL, r.recorder \
         FROM unnest($16::bigint[]) AS k(seq) \
         CROSS JOIN LATERAL ( \
             SELECT seq, (canonical::jsonb) -> 'principal' ->> 'id' AS recorder \
             FROM ledger_entries WHERE chain_id = $1 AND seq = k.seq \
             OFFSET 0) AS r \
         UNION ALL \
         SELECT 8, o.id, NULL, NULL, NULL, NULL, NULL, NULL, o.name \
         FROM organizations o \
         WHERE o.id IN ( \
             SELECT unnest($17::uuid[]) \
             UNION SELECT vendor_org_id FROM te \
             UNION SELECT vendor_org_id FROM cp \
             UNION SELECT vendor_org_id FROM la)",
        )
        .bind::<SqlUuid, _>(fund)
        .bind::<Array<BigInt>, _>(&q.tenders)
        .bind::<Array<SqlUuid>, _>(&ministries)
        .bind::<Array<Date>, _>(&earliest)
        .bind::<Array<BigInt>, _>(&first_seqs)
        .bind::<Nullable<Date>, _>(q.since)
        .bind::<Array<SqlUuid>, _>(&q.vendors)
        .bind::<Array<SqlUuid>, _>(&q.purchasers)
        .bind::<Array<Text>, _>(&q.categories)
        .bind::<BigInt, _>(CATEGORY_PAYMENTS_MAX)
        .bind::<Array<SqlUuid>, _>(&numbered_vendors)
        .bind::<Array<Text>, _>(&numbers)
        .bind::<Array<SqlUuid>, _>(&awarders)
        .bind::<Array<BigInt>, _>(&limits)
        .bind::<Array<SqlUuid>, _>(&q.spenders)
        .bind::<Array<BigInt>, _>(&q.recorded)
        .bind::<Array<SqlUuid>, _>(&q.orgs),
    )
    .load(conn)?;
    let mut out = JobFactRows {
        flows: q
            .payers
            .iter()
            .map(|(m, ..)| (*m, MinistryFlows::default()))
            .collect(),
        awards: q
            .award_limits
            .iter()
            .map(|(m, _)| (*m, Vec::new()))
            .collect(),
        ..JobFactRows::default()
    };
    for r in rows {
        let (Some(seq), Some(date)) = (r.seq, r.business_date) else {
            match (r.which, r.key, r.seq, r.business_date, r.txt) {
                (6, _, _, Some(date), _) => out.fund_first_date = Some(date),
                (7, _, Some(seq), _, Some(recorder)) => out.recorders.push((seq, recorder)),
                (8, Some(org), _, _, Some(name)) => out.names.push((org, name)),
                (3, Some(vendor), Some(seq), _, Some(number)) => {
                    out.invoices
                        .push((seq, vendor, number, r.amount.unwrap_or_default()));
                }
                _ => {}
            }
            continue;
        };
        match r.which {
            0 => {
                if let (Some(tender), Some(kind)) = (r.tender_seq, r.txt) {
                    out.tender_entries
                        .push((tender, (seq, kind, date, r.vendor, r.amount, r.ref_seq)));
                }
            }
            2 => out
                .category_payments
                .push((seq, date, r.key, r.vendor, r.txt, r.amount)),
            4 => {
                if let Some(v) = r.key.and_then(|m| out.awards.get_mut(&m)) {
                    v.push((seq, date, r.vendor, r.amount));
                }
            }
            5 => out.first_seen.extend(r.key.map(|v| (v, seq, date))),
            10..=13 => {
                let Some(f) = r.key.and_then(|m| out.flows.get_mut(&m)) else {
                    continue;
                };
                let flow = (seq, date, r.amount);
                match r.which {
                    10 => {
                        if let (Some(invoice), Some(number)) = (r.ref_seq, r.txt) {
                            f.invoice_numbers.push((invoice, number));
                        }
                        f.payments
                            .push((seq, date, r.key, r.vendor, r.amount, r.ref_seq));
                    }
                    11 => f.later_payments.push(flow),
                    12 => f.later_disbursements.push(flow),
                    // The latest date's disbursements: the one recorded last.
                    _ => {
                        if f.latest_before.is_none_or(|l| l.0 < seq) {
                            f.latest_before = Some(flow);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out.tender_entries.sort_unstable_by_key(|(_, e)| e.0);
    out.invoices.sort_unstable_by_key(|i| i.0);
    for f in out.flows.values_mut() {
        f.payments.sort_unstable_by_key(|p| p.0);
        f.later_payments.sort_unstable_by_key(|p| p.0);
        f.later_disbursements.sort_unstable_by_key(|p| p.0);
    }
    out.category_payments
        .sort_unstable_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    out.category_payments
        .truncate(usize::try_from(CATEGORY_PAYMENTS_MAX).unwrap_or(0));
    for (m, v) in &mut out.awards {
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        let limit = q
            .award_limits
            .iter()
            .find(|l| l.0 == *m)
            .map_or(0, |l| usize::try_from(l.1).unwrap_or(0));
        v.truncate(limit);
    }
    Ok(out)
}

/// Filters of the flag list; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct FlagFilter {
    pub ministry: Option<Uuid>,
    pub vendor: Option<Uuid>,
    pub rule: Option<String>,
    pub severity: Option<String>,
    pub status: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Keyset: flags after this (seq, rule, subject).
    pub after_seq: Option<(i64, String, String)>,
}

/// Flags of a fund in (seq, rule, subject) order.
pub fn list(
    conn: &mut PgConnection,
    fund: Uuid,
    f: &FlagFilter,
    limit: i64,
) -> QueryResult<Vec<FlagRow>> {
    let mut q = flags::table.filter(flags::fund_id.eq(fund)).into_boxed();
    if let Some(m) = f.ministry {
        q = q.filter(flags::ministry_org_id.eq(m));
    }
    if let Some(v) = f.vendor {
        q = q.filter(flags::vendor_org_id.eq(v));
    }
    if let Some(r) = &f.rule {
        q = q.filter(flags::rule.eq(r.clone()));
    }
    if let Some(s) = &f.severity {
        q = q.filter(flags::severity.eq(s.clone()));
    }
    if let Some(s) = &f.status {
        q = q.filter(flags::status.eq(s.clone()));
    }
    if let Some(d) = f.from {
        q = q.filter(flags::business_date.ge(d));
    }
    if let Some(d) = f.to {
        q = q.filter(flags::business_date.le(d));
    }
    if let Some((seq, rule, subject)) = &f.after_seq {
        q = q.filter(
            flags::seq.gt(*seq).or(flags::seq.eq(*seq).and(
                flags::rule.gt(rule.clone()).or(flags::rule
                    .eq(rule.clone())
                    .and(flags::subject.gt(subject.clone()))),
            )),
        );
    }
    q.order((flags::seq.asc(), flags::rule.asc(), flags::subject.asc()))
        .limit(limit)
        .select(FlagRow::as_select())
        .load(conn)
}

/// Counts by (rule, severity, status), of one ministry's flags or all.
pub fn counts(
    conn: &mut PgConnection,
    fund: Uuid,
    ministry: Option<Uuid>,
) -> QueryResult<Vec<(String, String, String, i64)>> {
    let rows: Vec<(String, String, String, Option<Uuid>, i64)> = flags::table
        .filter(flags::fund_id.eq(fund))
        .group_by((
            flags::rule,
            flags::severity,
            flags::status,
            flags::ministry_org_id,
        ))
        .select((
            flags::rule,
            flags::severity,
            flags::status,
            flags::ministry_org_id,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    let mut out: std::collections::BTreeMap<(String, String, String), i64> = Default::default();
    for (rule, severity, status, m, n) in rows {
        if ministry.is_none() || ministry == m {
            *out.entry((rule, severity, status)).or_default() += n;
        }
    }
    Ok(out
        .into_iter()
        .map(|((r, s, st), n)| (r, s, st, n))
        .collect())
}

pub fn flag(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<FlagRow>> {
    flags::table
        .find(id)
        .select(FlagRow::as_select())
        .first(conn)
        .optional()
}

/// Locks the flag for a transition.
pub fn flag_for_update(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<FlagRow>> {
    flags::table
        .find(id)
        .select(FlagRow::as_select())
        .for_update()
        .first(conn)
        .optional()
}

pub fn set_status(conn: &mut PgConnection, id: Uuid, status: &str) -> QueryResult<()> {
    diesel::update(flags::table.find(id))
        .set(flags::status.eq(status))
        .execute(conn)
        .map(|_| ())
}

pub fn insert_event(conn: &mut PgConnection, row: &FlagEventRow) -> QueryResult<()> {
    diesel::insert_into(flag_events::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn events(conn: &mut PgConnection, flag: Uuid) -> QueryResult<Vec<FlagEventRow>> {
    flag_events::table
        .filter(flag_events::flag_id.eq(flag))
        .order((flag_events::at.asc(), flag_events::id.asc()))
        .select(FlagEventRow::as_select())
        .load(conn)
}
