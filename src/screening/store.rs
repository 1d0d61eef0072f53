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

#[derive(QueryableByName)]
struct TenderEntryRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    tender_seq: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Date)]
    business_date: NaiveDate,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    vendor_org_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Numeric>)]
    amount_fund: Option<Decimal>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    ref_seq: Option<i64>,
}

/// (tender seq, entry) for the unreversed tender, bid and bid_disqualified entries of
/// these tenders, in seq order. One probe of `fund_entries_tender` per tender (a lateral
/// subquery, fenced with `OFFSET 0` so that it is not flattened): with `tender_seq =
/// ANY(..)` a planner without statistics (a fund seeded in seconds) scanned every tender
/// and bid of the fund in `fund_entries_kind`.
pub fn tenders_entries(
    conn: &mut PgConnection,
    fund: Uuid,
    tenders: &[i64],
) -> QueryResult<Vec<(Option<i64>, TenderEntry)>> {
    use diesel::sql_types::{Array, BigInt, Uuid as SqlUuid};
    let rows: Vec<TenderEntryRow> = prepared(
        diesel::sql_query(
            "SELECT e.tender_seq, e.seq, e.kind, e.business_date, e.vendor_org_id, \
                e.amount_fund, e.ref_seq \
         FROM unnest($2) AS t(seq) \
         CROSS JOIN LATERAL ( \
             SELECT tender_seq, seq, kind, business_date, vendor_org_id, amount_fund, ref_seq \
             FROM fund_entries \
             WHERE fund_id = $1 AND tender_seq = t.seq \
               AND kind IN ('tender', 'bid', 'bid_disqualified') AND reversed_by IS NULL \
             OFFSET 0 \
         ) AS e \
         ORDER BY e.seq",
        )
        .bind::<SqlUuid, _>(fund)
        .bind::<Array<BigInt>, _>(tenders),
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.tender_seq,
                (
                    r.seq,
                    r.kind,
                    r.business_date,
                    r.vendor_org_id,
                    r.amount_fund,
                    r.ref_seq,
                ),
            )
        })
        .collect())
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

/// Unreversed direct purchases (payments naming no invoice) by these ministries in these
/// categories dated on or after `since`, the latest dated first, at most
/// `CATEGORY_PAYMENTS_MAX`: a range scan of `fund_entries_ministry_kind_date` over each
/// ministry's payments in the window (the other conditions filter the rows read; with
/// `ministry_org_id = ANY(..)` the planner scans the fund's whole payment list instead).
pub fn category_purchases_since(
    conn: &mut PgConnection,
    fund: Uuid,
    ministries: &[Uuid],
    categories: &[String],
    since: NaiveDate,
) -> QueryResult<Vec<CategoryPaymentRow>> {
    let mut rows: Vec<CategoryPaymentRow> = Vec::new();
    for ministry in ministries {
        rows.extend(
            ministry_entries(fund, *ministry, "payment")
                .filter(fund_entries::business_date.ge(since))
                .filter(fund_entries::ref_seq.is_null())
                .filter(fund_entries::category.eq_any(categories))
                .order((fund_entries::business_date.desc(), fund_entries::seq.desc()))
                .limit(CATEGORY_PAYMENTS_MAX)
                .select((
                    fund_entries::seq,
                    fund_entries::business_date,
                    fund_entries::ministry_org_id,
                    fund_entries::vendor_org_id,
                    fund_entries::category,
                    fund_entries::amount_fund,
                ))
                .load::<CategoryPaymentRow>(conn)?,
        );
    }
    rows.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    rows.truncate(usize::try_from(CATEGORY_PAYMENTS_MAX).unwrap_or(0));
    Ok(rows)
}

/// A ministry's unreversed award: (seq, business date, vendor, amount in the fund's
/// currency).
pub type AwardRow = (i64, NaiveDate, Option<Uuid>, Option<Decimal>);

#[derive(QueryableByName)]
struct FirstSeen {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    vendor: Uuid,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Date)]
    business_date: NaiveDate,
}

/// Each vendor's first entry in the fund: (vendor, first seq, its business date). One
/// probe of `fund_entries_vendor` (fund, vendor, seq) per vendor, `LIMIT 1` in a lateral
/// join: a `min(seq) GROUP BY vendor` would read every entry of the vendors.
pub fn vendors_first_seen(
    conn: &mut PgConnection,
    fund: Uuid,
    vendors: &[Uuid],
) -> QueryResult<Vec<(Uuid, i64, NaiveDate)>> {
    use diesel::sql_types::{Array, Uuid as SqlUuid};
    let rows: Vec<FirstSeen> = prepared(
        diesel::sql_query(
            "SELECT v.vendor, e.seq, e.business_date \
         FROM unnest($2) AS v(vendor) \
         CROSS JOIN LATERAL ( \
             SELECT seq, business_date FROM fund_entries \
             WHERE fund_id = $1 AND vendor_org_id = v.vendor \
             ORDER BY seq LIMIT 1 \
         ) AS e",
        )
        .bind::<SqlUuid, _>(fund)
        .bind::<Array<SqlUuid>, _>(vendors),
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.vendor, r.seq, r.business_date))
        .collect())
}

/// The business date of the fund's earliest entry (one probe of
/// `fund_entries_business_date`); `None` for a fund with no entries.
pub fn fund_first_date(conn: &mut PgConnection, fund: Uuid) -> QueryResult<Option<NaiveDate>> {
    fund_entries::table
        .filter(fund_entries::fund_id.eq(fund))
        .order((fund_entries::business_date.asc(), fund_entries::seq.asc()))
        .select(fund_entries::business_date)
        .first(conn)
        .optional()
}

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

#[derive(QueryableByName)]
struct NumberedInvoice {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    vendor_org_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    invoice_number: String,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    amount: Decimal,
}

/// Unreversed invoices of these (vendor, number) pairs (`vendors[i]`, `numbers[i]`): (seq,
/// vendor, number, amount), in seq order. One probe of `invoices_vendor_number` (fund,
/// vendor, number) per pair, in a fenced lateral subquery: with `vendor_org_id = ANY(..)`
/// a planner without statistics read every invoice of the fund, and with the numbers as
/// one array per vendor it read every invoice of each vendor.
pub fn invoices_numbered(
    conn: &mut PgConnection,
    fund: Uuid,
    vendors: &[Uuid],
    numbers: &[String],
) -> QueryResult<Vec<(i64, Uuid, String, Decimal)>> {
    use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
    let rows: Vec<NumberedInvoice> = prepared(
        diesel::sql_query(
            "SELECT i.seq, i.vendor_org_id, i.invoice_number, i.amount \
         FROM unnest($2, $3) AS v(vendor, number) \
         CROSS JOIN LATERAL ( \
             SELECT seq, vendor_org_id, invoice_number, amount FROM invoices \
             WHERE fund_id = $1 AND vendor_org_id = v.vendor \
               AND invoice_number = v.number AND NOT reversed \
             OFFSET 0 \
         ) AS i \
         ORDER BY i.seq",
        )
        .bind::<SqlUuid, _>(fund)
        .bind::<Array<SqlUuid>, _>(vendors)
        .bind::<Array<Text>, _>(numbers),
    )
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.seq, r.vendor_org_id, r.invoice_number, r.amount))
        .collect())
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

#[derive(QueryableByName)]
struct MinistryFlowRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    which: i32,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    ministry: Uuid,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Date)]
    business_date: NaiveDate,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    vendor_org_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Numeric>)]
    amount_fund: Option<Decimal>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    ref_seq: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    invoice_number: Option<String>,
}

/// A paying ministry of a job: the ministry, the earliest business date and the first seq
/// of the job's payments by it.
pub type Payer = (Uuid, NaiveDate, i64);

/// What one paying ministry's flows hold for a job (`ministry_flows`).
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

/// The flows of these paying ministries, in one statement: per ministry (a lateral
/// subquery over the arrays, each branch fenced with `OFFSET 0` or bounded by its
/// `LIMIT`), range scans of `fund_entries_ministry_kind_date` over its unreversed payments
/// to `vendors` dated on or after `since` and over its payments and disbursements dated
/// after its earliest payment date of the job, and for its latest disbursement by then
/// recorded before its first payment of the job, a backward probe of that index for its
/// date and then that date's disbursements, of which the last recorded is kept (ordered by
/// date and seq in one probe, the planner walked `fund_entries_business_date`, the only
/// index in that order, over the whole fund's entries up to the date). The priors come with
/// the numbers of the invoices they pay (a primary-key probe of `invoices` per prior, in a
/// scalar subquery so that no join strategy is left to the planner). Each list in seq
/// order.
pub fn ministry_flows(
    conn: &mut PgConnection,
    fund: Uuid,
    payers: &[Payer],
    vendors: &[Uuid],
    since: NaiveDate,
) -> QueryResult<std::collections::HashMap<Uuid, MinistryFlows>> {
    use diesel::sql_types::{Array, BigInt, Date, Uuid as SqlUuid};
    let mut out: std::collections::HashMap<Uuid, MinistryFlows> = payers
        .iter()
        .map(|(m, ..)| (*m, MinistryFlows::default()))
        .collect();
    if payers.is_empty() {
        return Ok(out);
    }
    let ministries: Vec<Uuid> = payers.iter().map(|p| p.0).collect();
    let earliest: Vec<NaiveDate> = payers.iter().map(|p| p.1).collect();
    let first_seqs: Vec<i64> = payers.iter().map(|p| p.2).collect();
    let mut rows: Vec<MinistryFlowRow> = prepared(
        diesel::sql_query(
            "SELECT e.which, m.ministry, e.seq, e.business_date, e.vendor_org_id, \
                e.amount_fund, e.ref_seq, e.invoice_number \
         FROM unnest($2, $3, $4) AS m(ministry, earliest, first_seq) \
         CROSS JOIN LATERAL ( \
             (SELECT 0 AS which, seq, business_date, vendor_org_id, amount_fund, ref_seq, \
                  (SELECT i.invoice_number FROM invoices i \
                   WHERE i.fund_id = $1 AND i.seq = fund_entries.ref_seq) AS invoice_number \
              FROM fund_entries \
              WHERE fund_id = $1 AND ministry_org_id = m.ministry AND kind = 'payment' \
                AND reversed_by IS NULL AND business_date >= $5 \
                AND vendor_org_id = ANY($6) \
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
         ) AS e",
        )
        .bind::<SqlUuid, _>(fund)
        .bind::<Array<SqlUuid>, _>(&ministries)
        .bind::<Array<Date>, _>(&earliest)
        .bind::<Array<BigInt>, _>(&first_seqs)
        .bind::<Date, _>(since)
        .bind::<Array<SqlUuid>, _>(vendors),
    )
    .load(conn)?;
    rows.sort_unstable_by_key(|r| r.seq);
    for r in rows {
        let Some(f) = out.get_mut(&r.ministry) else {
            continue;
        };
        let flow = (r.seq, r.business_date, r.amount_fund);
        match r.which {
            0 => {
                if let (Some(invoice), Some(number)) = (r.ref_seq, r.invoice_number) {
                    f.invoice_numbers.push((invoice, number));
                }
                f.payments.push((
                    r.seq,
                    r.business_date,
                    Some(r.ministry),
                    r.vendor_org_id,
                    r.amount_fund,
                    r.ref_seq,
                ));
            }
            1 => f.later_payments.push(flow),
            2 => f.later_disbursements.push(flow),
            // The latest date's disbursements: the one recorded last.
            _ => {
                if f.latest_before.is_none_or(|l| l.0 < flow.0) {
                    f.latest_before = Some(flow);
                }
            }
        }
    }
    Ok(out)
}

#[derive(QueryableByName)]
struct MinistryAwardRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    ministry: Uuid,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Date)]
    business_date: NaiveDate,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    vendor_org_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Numeric>)]
    amount_fund: Option<Decimal>,
}

/// Each of these ministries' latest `limit` unreversed awards, latest dated first (seq
/// breaks ties), in one statement: per ministry (a lateral subquery over the arrays), a
/// short backward range scan of `fund_entries_ministry_kind_date` (which orders by date but
/// not seq) for the date of its `limit`-th latest award, then a range scan of the awards
/// dated from it on (`limit` plus its ties), sorted and cut here. One `ORDER BY
/// business_date, seq LIMIT` would read and sort all of the ministry's awards.
pub fn latest_awards(
    conn: &mut PgConnection,
    fund: Uuid,
    limits: &[(Uuid, i64)],
) -> QueryResult<std::collections::HashMap<Uuid, Vec<AwardRow>>> {
    use diesel::sql_types::{Array, BigInt, Uuid as SqlUuid};
    let mut out: std::collections::HashMap<Uuid, Vec<AwardRow>> =
        limits.iter().map(|(m, _)| (*m, Vec::new())).collect();
    if limits.is_empty() {
        return Ok(out);
    }
    let ministries: Vec<Uuid> = limits.iter().map(|l| l.0).collect();
    let lims: Vec<i64> = limits.iter().map(|l| l.1).collect();
    let rows: Vec<MinistryAwardRow> = prepared(
        diesel::sql_query(
            "SELECT m.ministry, a.seq, a.business_date, a.vendor_org_id, a.amount_fund \
         FROM unnest($2, $3) AS m(ministry, lim) \
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
             OFFSET 0 \
         ) AS a",
        )
        .bind::<SqlUuid, _>(fund)
        .bind::<Array<SqlUuid>, _>(&ministries)
        .bind::<Array<BigInt>, _>(&lims),
    )
    .load(conn)?;
    for r in rows {
        if let Some(v) = out.get_mut(&r.ministry) {
            v.push((r.seq, r.business_date, r.vendor_org_id, r.amount_fund));
        }
    }
    for (m, v) in &mut out {
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        let limit = limits
            .iter()
            .find(|l| l.0 == *m)
            .map_or(0, |l| usize::try_from(l.1).unwrap_or(0));
        v.truncate(limit);
    }
    Ok(out)
}

/// The user ids (ledger principals) who recorded these entries of the fund's chain.
pub fn recorders(
    conn: &mut PgConnection,
    fund: Uuid,
    seqs: &[i64],
) -> QueryResult<Vec<(i64, String)>> {
    use crate::schema::ledger_entries;
    let rows: Vec<(i64, String)> = ledger_entries::table
        .filter(ledger_entries::chain_id.eq(fund))
        .filter(ledger_entries::seq.eq_any(seqs))
        .select((ledger_entries::seq, ledger_entries::canonical))
        .load(conn)?;
    rows.into_iter()
        .map(|(seq, canonical)| {
            let e: crate::ledger::entry::Entry = serde_json::from_str(&canonical)
                .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?;
            Ok((seq, e.principal.id))
        })
        .collect()
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
