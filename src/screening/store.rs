//! The only SQL of screening: the facts screens read, the flags they raise, triage.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::rules::Thresholds;
use crate::db::prepared::prepared;
use crate::schema::{flag_events, flags, fund_entries, funds, screening_thresholds, tenders};

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
/// left as it is. Returns how many were inserted. One statement of constant text for any
/// number of flags (the columns as arrays, unnested), prepared once per connection: a
/// `VALUES` list has a text per row count, parsed and planned on every call, and at most
/// 65,535 parameters. An evidence list travels as the text of its array (`{3,7}`): arrays
/// of arrays must be rectangular. Returns the ids of the flags inserted.
pub fn insert_flags(conn: &mut PgConnection, rows: &[FlagRow]) -> QueryResult<Vec<Uuid>> {
    use diesel::sql_types::{Array, BigInt, Date, Nullable, Text, Timestamptz, Uuid as SqlUuid};
    #[derive(QueryableByName)]
    struct Inserted {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let evidence: Vec<String> = rows
        .iter()
        .map(|r| {
            let items: Vec<String> = r
                .evidence
                .iter()
                .map(|s| s.map_or_else(|| "NULL".to_owned(), |s| s.to_string()))
                .collect();
            format!("{{{}}}", items.join(","))
        })
        .collect();
    let col = |f: fn(&FlagRow) -> String| rows.iter().map(f).collect::<Vec<String>>();
    prepared(
        diesel::sql_query(
            "INSERT INTO flags (id, fund_id, rule, severity, seq, evidence, ministry_org_id, \
                 vendor_org_id, message, business_date, raised_at, status, subject) \
             SELECT id, fund_id, rule, severity, seq, evidence::bigint[], ministry, vendor, \
                 message, business_date, raised_at, status, subject \
             FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 AS f(id, fund_id, rule, severity, seq, evidence, ministry, vendor, message, \
                      business_date, raised_at, status, subject) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.fund_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(col(|r| r.rule.clone()))
        .bind::<Array<Text>, _>(col(|r| r.severity.clone()))
        .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.seq).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(evidence)
        .bind::<Array<Nullable<SqlUuid>>, _>(
            rows.iter().map(|r| r.ministry_org_id).collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<SqlUuid>>, _>(
            rows.iter().map(|r| r.vendor_org_id).collect::<Vec<_>>(),
        )
        .bind::<Array<Text>, _>(col(|r| r.message.clone()))
        .bind::<Array<Date>, _>(rows.iter().map(|r| r.business_date).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.raised_at).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(col(|r| r.status.clone()))
        .bind::<Array<Text>, _>(col(|r| r.subject.clone())),
    )
    .load::<Inserted>(conn)
    .map(|rows| rows.into_iter().map(|r| r.id).collect())
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
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    category: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Numeric>)]
    amount_fund: Option<Decimal>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    ref_seq: Option<i64>,
}

/// A paying ministry of a job: the ministry, the earliest business date and the first seq
/// of the job's payments by it.
pub type Payer = (Uuid, NaiveDate, i64);

/// What one paying ministry's flows hold for a job (`flows::MinistryState::flows`).
#[derive(Debug, Default)]
pub struct MinistryFlows {
    /// Unreversed payments (to any vendor) dated on or after `since`: the window's priors,
    /// and the payments dated after the ministry's earliest payment date of the job.
    pub payments: Vec<PaymentRow>,
    /// Those of them that are direct purchases with an item category.
    pub direct_purchases: Vec<CategoryPaymentRow>,
    /// Unreversed payments dated after the ministry's earliest payment date of the job.
    pub later_payments: Vec<FlowRow>,
    /// Unreversed disbursements dated after that date.
    pub later_disbursements: Vec<FlowRow>,
    /// The latest unreversed disbursement dated on or before that date and recorded
    /// before the job's first payment of the ministry, by (business date, seq).
    pub latest_before: Option<FlowRow>,
}

/// What the flows of these ministries are made of (`screening::flows`), in one statement:
/// per ministry (a lateral subquery over the array, each branch fenced with `OFFSET 0`), a
/// range scan of `fund_entries_ministry_kind_date` over its unreversed payments dated on or
/// after `since`, and one over all its unreversed disbursements (a few a month; the
/// latest one before a payment may be old). Each list in seq order.
pub fn ministry_states(
    conn: &mut PgConnection,
    fund: Uuid,
    ministries: &[Uuid],
    since: NaiveDate,
) -> QueryResult<std::collections::HashMap<Uuid, crate::screening::flows::MinistryState>> {
    use diesel::sql_types::{Array, Date, Uuid as SqlUuid};
    let mut out: std::collections::HashMap<Uuid, crate::screening::flows::MinistryState> =
        ministries
            .iter()
            .map(|m| (*m, Default::default()))
            .collect();
    if ministries.is_empty() {
        return Ok(out);
    }
    let mut rows: Vec<MinistryFlowRow> = prepared(
        diesel::sql_query(
            "SELECT e.which, m.ministry, e.seq, e.business_date, e.vendor_org_id, e.category, \
                e.amount_fund, e.ref_seq \
         FROM unnest($2) AS m(ministry) \
         CROSS JOIN LATERAL ( \
             (SELECT 0 AS which, p.seq, p.business_date, p.vendor_org_id, p.category, \
                  p.amount_fund, p.ref_seq \
              FROM fund_entries p \
              WHERE p.fund_id = $1 AND p.ministry_org_id = m.ministry AND p.kind = 'payment' \
                AND p.reversed_by IS NULL AND p.business_date >= $3 \
              OFFSET 0) \
             UNION ALL \
             (SELECT 1, seq, business_date, NULL, NULL, amount_fund, NULL \
              FROM fund_entries \
              WHERE fund_id = $1 AND ministry_org_id = m.ministry AND kind = 'disbursement' \
                AND reversed_by IS NULL \
              OFFSET 0) \
         ) AS e",
        )
        .bind::<SqlUuid, _>(fund)
        .bind::<Array<SqlUuid>, _>(ministries)
        .bind::<Date, _>(since),
    )
    .load(conn)?;
    rows.sort_unstable_by_key(|r| r.seq);
    for r in rows {
        let Some(m) = out.get_mut(&r.ministry) else {
            continue;
        };
        if r.which == 0 {
            m.payments.push((
                r.seq,
                r.business_date,
                r.vendor_org_id,
                r.category,
                r.amount_fund,
                r.ref_seq,
            ));
        } else {
            m.disbursements
                .push((r.seq, r.business_date, r.amount_fund));
        }
    }
    Ok(out)
}

#[derive(QueryableByName)]
struct JobReadRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    which: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    seq: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    tender_seq: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    ref_seq: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    kind: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Date>)]
    business_date: Option<NaiveDate>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    vendor: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Numeric>)]
    amount: Option<Decimal>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    text: Option<String>,
    /// The name of `vendor`.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    vendor_name: Option<String>,
}

/// What `job_reads` is asked for.
#[derive(Debug, Default)]
pub struct JobKeys {
    /// Organisations to name.
    pub orgs: Vec<Uuid>,
    /// Vendors whose first entry in the fund is wanted (`new-vendor-large`).
    pub first_seen: Vec<Uuid>,
    /// Invoices whose numbers are wanted.
    pub invoices: Vec<i64>,
    /// Tenders whose tender, bid and disqualification entries are wanted.
    pub tenders: Vec<i64>,
    /// (ministry, how many of its latest awards).
    pub awards: Vec<(Uuid, i64)>,
    /// (vendor, invoice number) pairs whose invoices are wanted.
    pub numbered: Vec<(Uuid, String)>,
}

impl JobKeys {
    /// Nothing asked.
    pub fn is_empty(&self) -> bool {
        self.orgs.is_empty() && !self.reads_entries()
    }

    /// Whether anything but names is asked: what the fund's entries and invoices say.
    pub fn reads_entries(&self) -> bool {
        !(self.first_seen.is_empty()
            && self.invoices.is_empty()
            && self.tenders.is_empty()
            && self.awards.is_empty()
            && self.numbered.is_empty())
    }
}

/// What `job_reads` found.
#[derive(Debug, Default)]
pub struct JobReads {
    /// Names of the asked organisations, and of the vendors of the tender entries and
    /// awards read.
    pub names: std::collections::HashMap<Uuid, String>,
    /// Each asked vendor's first entry in the fund: its seq and business date.
    pub first_seen: std::collections::HashMap<Uuid, (i64, NaiveDate)>,
    /// The business date of the fund's earliest entry, read when first sightings are.
    pub fund_first_date: Option<NaiveDate>,
    /// Invoice numbers by invoice seq.
    pub invoice_numbers: std::collections::HashMap<i64, String>,
    /// (tender seq, entry) for the unreversed tender, bid and `bid_disqualified` entries
    /// of the asked tenders, in seq order.
    pub tender_entries: Vec<(i64, TenderEntry)>,
    /// Each asked ministry's latest unreversed awards, latest dated first (seq breaks
    /// ties), as many as asked.
    pub awards: std::collections::HashMap<Uuid, Vec<AwardRow>>,
    /// Unreversed invoices of the asked (vendor, number) pairs: (seq, vendor, number,
    /// amount), in seq order.
    pub numbered_invoices: Vec<(i64, Uuid, String, Decimal)>,
}

/// The reads of a job's screening that depend only on the job and the flows, in one
/// call of the `screening_job_reads` function (migration `screening_job_reads`; one round
/// trip, each being one inside the chain's append transaction). Each part is a probe or
/// short range scan per key, in a lateral subquery fenced with `OFFSET 0` (or bounded by
/// its `LIMIT`), so that its plan does not depend on the keys or on the planner's
/// statistics (a fund seeded in seconds has none; with `= ANY(..)` such a planner read
/// every row of the fund in another index that starts with `fund_id`). That is what lets
/// the function keep one generic plan per connection (`plan_cache_mode =
/// force_generic_plan`): as a prepared statement it was planned again on every call, and
/// planning took longer than running it.
///
/// - names: a primary-key probe of `organizations` per organisation;
/// - first sightings: one probe of `fund_entries_vendor` (fund, vendor, seq) per vendor,
///   `LIMIT 1` (a `min(seq) GROUP BY vendor` would read every entry of the vendors), and,
///   when any vendor is asked, the fund's earliest business date (one probe of
///   `fund_entries_business_date`);
/// - invoice numbers: a primary-key probe of `invoices` per invoice;
/// - tender entries: one probe of `fund_entries_tender` per tender (with `tender_seq =
///   ANY(..)` a planner without statistics scanned every tender and bid of the fund in
///   `fund_entries_kind`), with each entry's vendor's name;
/// - latest awards: per ministry, a short backward range scan of
///   `fund_entries_ministry_kind_date` (which orders by date but not seq) for the date of
///   its `limit`-th latest award, then a range scan of the awards dated from it on (`limit`
///   plus its ties), sorted and cut here (one `ORDER BY business_date, seq LIMIT` would read
///   and sort all of the ministry's awards), with each award's vendor's name;
/// - numbered invoices: one probe of `invoices_vendor_number` (fund, vendor, number) per
///   pair (with `vendor_org_id = ANY(..)` a planner without statistics read every invoice
///   of the fund, and with the numbers as one array per vendor every invoice of each
///   vendor).
pub fn job_reads(conn: &mut PgConnection, fund: Uuid, keys: &JobKeys) -> QueryResult<JobReads> {
    use diesel::sql_types::{Array, BigInt, Text, Uuid as SqlUuid};
    if keys.is_empty() {
        return Ok(JobReads::default());
    }
    let award_ministries: Vec<Uuid> = keys.awards.iter().map(|a| a.0).collect();
    let award_limits: Vec<i64> = keys.awards.iter().map(|a| a.1).collect();
    let (numbered_vendors, numbers): (Vec<Uuid>, Vec<String>) =
        keys.numbered.iter().cloned().unzip();
    let rows: Vec<JobReadRow> = prepared(
        diesel::sql_query(
            "SELECT which, id, seq, tender_seq, ref_seq, kind, business_date, vendor, amount, \
                 text, vendor_name \
             FROM screening_job_reads($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind::<SqlUuid, _>(fund)
        .bind::<Array<SqlUuid>, _>(&keys.orgs)
        .bind::<Array<SqlUuid>, _>(&keys.first_seen)
        .bind::<Array<BigInt>, _>(&keys.invoices)
        .bind::<Array<BigInt>, _>(&keys.tenders)
        .bind::<Array<SqlUuid>, _>(&award_ministries)
        .bind::<Array<BigInt>, _>(&award_limits)
        .bind::<Array<SqlUuid>, _>(&numbered_vendors)
        .bind::<Array<Text>, _>(&numbers),
    )
    .load(conn)?;
    let mut out = JobReads {
        awards: keys.awards.iter().map(|(m, _)| (*m, Vec::new())).collect(),
        ..JobReads::default()
    };
    for r in rows {
        if let (Some(vendor), Some(name)) = (r.vendor, r.vendor_name) {
            out.names.insert(vendor, name);
        }
        match (r.which, r.id, r.seq) {
            (0, Some(id), _) => {
                if let Some(name) = r.text {
                    out.names.insert(id, name);
                }
            }
            (1, Some(vendor), Some(seq)) => {
                if let Some(date) = r.business_date {
                    out.first_seen.insert(vendor, (seq, date));
                }
            }
            (2, ..) => out.fund_first_date = r.business_date,
            (3, _, Some(seq)) => {
                if let Some(number) = r.text {
                    out.invoice_numbers.insert(seq, number);
                }
            }
            (4, _, Some(seq)) => {
                if let (Some(tender), Some(kind), Some(date)) =
                    (r.tender_seq, r.kind, r.business_date)
                {
                    out.tender_entries
                        .push((tender, (seq, kind, date, r.vendor, r.amount, r.ref_seq)));
                }
            }
            (5, Some(ministry), Some(seq)) => {
                if let (Some(v), Some(date)) = (out.awards.get_mut(&ministry), r.business_date) {
                    v.push((seq, date, r.vendor, r.amount));
                }
            }
            (6, _, Some(seq)) => {
                if let (Some(vendor), Some(number), Some(amount)) = (r.vendor, r.text, r.amount) {
                    out.numbered_invoices.push((seq, vendor, number, amount));
                }
            }
            _ => {}
        }
    }
    out.tender_entries.sort_unstable_by_key(|e| e.1 .0);
    out.numbered_invoices.sort_unstable_by_key(|i| i.0);
    for (m, v) in &mut out.awards {
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        let limit = keys
            .awards
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

/// The fund's screening thresholds, if a `screening_config` ever set them.
pub fn thresholds(conn: &mut PgConnection, fund: Uuid) -> QueryResult<Option<Thresholds>> {
    let config: Option<serde_json::Value> = screening_thresholds::table
        .find(fund)
        .select(screening_thresholds::config)
        .first(conn)
        .optional()?;
    Ok(config.and_then(|c| serde_json::from_value(c).ok()))
}

/// Stores the fund's screening thresholds, as set by the `screening_config` at `seq`.
pub fn save_thresholds(
    conn: &mut PgConnection,
    fund: Uuid,
    seq: i64,
    t: &Thresholds,
) -> QueryResult<()> {
    let config = serde_json::to_value(t)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    diesel::insert_into(screening_thresholds::table)
        .values((
            screening_thresholds::fund_id.eq(fund),
            screening_thresholds::seq.eq(seq),
            screening_thresholds::config.eq(&config),
        ))
        .on_conflict(screening_thresholds::fund_id)
        .do_update()
        .set((
            screening_thresholds::seq.eq(seq),
            screening_thresholds::config.eq(&config),
        ))
        .execute(conn)
        .map(|_| ())
}

// --- The control screens' reads (`approval-missing`, `invoice-document-missing`).

/// The fund's approval policy in force: its seq and its rules as recorded.
pub fn approval_policy(
    conn: &mut PgConnection,
    fund: Uuid,
) -> QueryResult<Option<(i64, serde_json::Value)>> {
    use crate::schema::approval_policies as p;
    p::table
        .filter(p::fund_id.eq(fund))
        .select((p::seq, p::rules))
        .first(conn)
        .optional()
}

/// Of these seqs, those where an approved request took effect: (seq, the request's seq).
pub fn approved_requests(
    conn: &mut PgConnection,
    fund: Uuid,
    seqs: &[i64],
) -> QueryResult<Vec<(i64, i64)>> {
    use crate::schema::approval_requests as r;
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(Option<i64>, i64)> = r::table
        .filter(r::fund_id.eq(fund))
        .filter(r::state.eq("approved"))
        .filter(r::decided_seq.eq_any(seqs))
        .select((r::decided_seq, r::seq))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(decided, seq)| decided.map(|d| (d, seq)))
        .collect())
}

/// The standing (unreversed) approvals of these entries: (entry seq, approver's user id).
pub fn standing_approvals(
    conn: &mut PgConnection,
    fund: Uuid,
    seqs: &[i64],
) -> QueryResult<Vec<(i64, String)>> {
    use crate::schema::approvals as a;
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    a::table
        .filter(a::fund_id.eq(fund))
        .filter(a::entry_seq.eq_any(seqs))
        .filter(a::reversed.eq(false))
        .select((a::entry_seq, a::approver))
        .load(conn)
}

/// These payments' invoices: (payment seq, invoice seq); direct purchases have none.
pub fn payment_invoices(
    conn: &mut PgConnection,
    fund: Uuid,
    seqs: &[i64],
) -> QueryResult<Vec<(i64, i64)>> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, Option<i64>)> = fund_entries::table
        .filter(fund_entries::fund_id.eq(fund))
        .filter(fund_entries::seq.eq_any(seqs))
        .filter(fund_entries::kind.eq("payment"))
        .select((fund_entries::seq, fund_entries::ref_seq))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(seq, invoice)| invoice.map(|i| (seq, i)))
        .collect())
}

/// Of these entries, those with at least one document attached.
pub fn with_documents(conn: &mut PgConnection, fund: Uuid, seqs: &[i64]) -> QueryResult<Vec<i64>> {
    use crate::schema::evidence_documents as d;
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    d::table
        .filter(d::fund_id.eq(fund))
        .filter(d::entry_seq.eq_any(seqs))
        .select(d::entry_seq)
        .distinct()
        .load(conn)
}

/// Seq of the fund's first `approval_policy` entry, if any.
pub fn first_policy_seq(conn: &mut PgConnection, fund: Uuid) -> QueryResult<Option<i64>> {
    use diesel::dsl::min;
    fund_entries::table
        .filter(fund_entries::fund_id.eq(fund))
        .filter(fund_entries::kind.eq("approval_policy"))
        .select(min(fund_entries::seq))
        .first(conn)
}
