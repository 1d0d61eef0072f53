//! The only SQL of reports. Every query reads the fund's entry index (`fund_entries`)
//! below a pinned tree size, never the running balances: index rows never change once
//! written (except `reversed_by`, which no query here reads), so a size gives the same
//! rows for ever. A reversal counts as its reversed entry's kind with the negated amount
//! its index row carries, dated at the reversal's business date.
//!
//! Sums over a large fund come from sealed blocks (migration 000009): the entries with
//! `block * B <= seq < (block + 1) * B` are summed once, when a report first needs them,
//! and kept; a report reads those sums for the blocks below its size and sums only the
//! partial block at the end itself.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Date, Nullable, Numeric, Text, Uuid as SqlUuid};
use diesel::PgConnection;
use rust_decimal::Decimal;
use uuid::Uuid;

/// Entries and reversals of flow kinds with `lo <= seq < hi` of fund `$1`, reversals as
/// their reversed entry's kind; `lo` and `hi` are SQL placeholders or literals.
fn effective(lo: &str, hi: &str) -> String {
    effective_of(lo, hi, FLOW_IN)
}

/// The same for the kinds `kinds` (an SQL list of literals), read through the kind index.
fn effective_of(lo: &str, hi: &str, kinds: &str) -> String {
    format!(
        "SELECT kind, false AS reversal, seq, business_date, donor_org_id, ministry_org_id,
                vendor_org_id, category, currency, amount, amount_fund, NULL::bigint AS ref_seq
           FROM fund_entries
          WHERE fund_id = $1 AND seq >= {lo} AND seq < {hi} AND amount_fund IS NOT NULL
            AND kind IN ({kinds})
         UNION ALL
         SELECT o.kind, true, r.seq, r.business_date, r.donor_org_id, r.ministry_org_id,
                r.vendor_org_id, r.category, r.currency, r.amount, r.amount_fund, r.ref_seq
           FROM fund_entries r
           JOIN fund_entries o ON o.fund_id = r.fund_id AND o.seq = r.ref_seq
          WHERE r.fund_id = $1 AND r.seq >= {lo} AND r.seq < {hi} AND r.kind = 'reversal'
            AND r.amount_fund IS NOT NULL AND o.kind IN ({kinds})"
    )
}

/// The kinds reports sum: money moving into, through and out of the fund.
const FLOW_IN: &str =
    "'pledge', 'contribution', 'allocation', 'disbursement', 'expenditure', 'payment'";

/// Sums of the effective entries `e` at both grains: `flow` keeps every dimension but the
/// vendor, `vendor` keeps only payments' vendors (vendor x ministry x category x date
/// would hardly compress).
const GRAINS: &str = "
    SELECT 'flow'::text AS grain, kind, reversal, business_date, donor_org_id, ministry_org_id,
           NULL::uuid AS vendor_org_id, category, currency,
           sum(amount) AS amount, sum(amount_fund) AS amount_fund
      FROM e GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
    UNION ALL
    SELECT 'vendor', kind, reversal, business_date, NULL::uuid, NULL::uuid, vendor_org_id,
           NULL::text, currency, sum(amount), sum(amount_fund)
      FROM e WHERE kind = 'payment' GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9";

/// `sums`: the grains of every effective entry below the size — the summed blocks, then
/// the partial block at the end. Placeholders: `$1` fund, `$2` size, `$3` block size,
/// `$4` the first seq after the summed blocks (`tail_start`).
fn sums_cte() -> String {
    format!(
        "e AS ({tail}),
         sums AS (
             SELECT grain, kind, reversal, business_date, donor_org_id, ministry_org_id,
                    vendor_org_id, category, currency, amount, amount_fund
               FROM report_entry_sums
              WHERE fund_id = $1 AND block_size = $3 AND block < $4 / $3
             UNION ALL
             {GRAINS})",
        tail = effective("$4", "$2")
    )
}

/// Where the partial block at the end starts: every block below is summed.
fn tail_start(size: i64, block_size: i64) -> i64 {
    (size / block_size.max(1)) * block_size.max(1)
}

/// Sums every sealed block below `size` not summed yet (docs/reports.md,
/// "Performance"), each in its own transaction. Concurrent reports wait for each other on
/// the block's key; the second finds the block summed.
pub fn ensure_blocks(
    conn: &mut PgConnection,
    fund: Uuid,
    size: i64,
    block_size: i64,
) -> QueryResult<()> {
    use crate::schema::report_blocks::dsl as rb;
    let block_size = block_size.max(1);
    let sealed = size / block_size;
    let have: std::collections::HashSet<i64> = rb::report_blocks
        .filter(rb::fund_id.eq(fund))
        .filter(rb::block_size.eq(block_size))
        .filter(rb::block.lt(sealed))
        .select(rb::block)
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    for block in (0..sealed).filter(|b| !have.contains(b)) {
        conn.transaction(|conn| {
            let claimed = diesel::insert_into(rb::report_blocks)
                .values((
                    rb::fund_id.eq(fund),
                    rb::block_size.eq(block_size),
                    rb::block.eq(block),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
            if claimed == 0 {
                return Ok(());
            }
            let (lo, hi) = (block * block_size, (block + 1) * block_size);
            diesel::sql_query(format!(
                "WITH e AS ({})
                 INSERT INTO report_entry_sums
                 SELECT $1, $4, $5, g.* FROM ({GRAINS}) g",
                effective("$2", "$3")
            ))
            .bind::<SqlUuid, _>(fund)
            .bind::<BigInt, _>(lo)
            .bind::<BigInt, _>(hi)
            .bind::<BigInt, _>(block_size)
            .bind::<BigInt, _>(block)
            .execute(conn)?;
            diesel::sql_query(
                "INSERT INTO report_flag_sums
                 SELECT $1, $4, $5, severity, rule, ministry_org_id, count(*)
                   FROM flags
                  WHERE fund_id = $1 AND seq >= $2 AND seq < $3
                  GROUP BY severity, rule, ministry_org_id",
            )
            .bind::<SqlUuid, _>(fund)
            .bind::<BigInt, _>(lo)
            .bind::<BigInt, _>(hi)
            .bind::<BigInt, _>(block_size)
            .bind::<BigInt, _>(block)
            .execute(conn)
            .map(|_| ())
        })?;
    }
    Ok(())
}

/// Whether every sealed block below `size` is summed here (`ensure_blocks` done): what a
/// replica must have replayed before it answers a report at `size`.
pub fn blocks_summed(
    conn: &mut PgConnection,
    fund: Uuid,
    size: i64,
    block_size: i64,
) -> QueryResult<bool> {
    use crate::schema::report_blocks::dsl as rb;
    let block_size = block_size.max(1);
    let sealed = size / block_size;
    let have: i64 = rb::report_blocks
        .filter(rb::fund_id.eq(fund))
        .filter(rb::block_size.eq(block_size))
        .filter(rb::block.lt(sealed))
        .count()
        .get_result(conn)?;
    Ok(have >= sealed)
}

/// Sums of one group of effective entries, before and within the period.
#[derive(Debug, Clone, QueryableByName)]
pub struct AggRow {
    /// `flow` (every dimension but the vendor) or `vendor` (payments by vendor only).
    #[diesel(sql_type = Text)]
    pub grain: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Bool)]
    pub reversal: bool,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub donor: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub ministry: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub vendor: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub category: Option<String>,
    /// The entries' own currency.
    #[diesel(sql_type = Text)]
    pub currency: String,
    #[diesel(sql_type = Numeric)]
    pub prior: Decimal,
    #[diesel(sql_type = Numeric)]
    pub period: Decimal,
    /// The same, in the fund's currency (converted at each entry's recorded rate).
    #[diesel(sql_type = Numeric)]
    pub prior_fund: Decimal,
    #[diesel(sql_type = Numeric)]
    pub period_fund: Decimal,
}

/// The statement's sums: effective entries below `size` dated up to `to`, split at
/// `from` (entries dated before it are "prior"); no `from`, nothing is prior; no `to`, no
/// upper bound. Call `ensure_blocks` first (else the partial block is everything).
pub fn aggregate(
    conn: &mut PgConnection,
    fund: Uuid,
    size: i64,
    block_size: i64,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> QueryResult<Vec<AggRow>> {
    diesel::sql_query(format!(
        "WITH {}
        SELECT grain, kind, reversal, donor_org_id AS donor, ministry_org_id AS ministry,
               vendor_org_id AS vendor, category, coalesce(currency, '') AS currency,
               coalesce(sum(amount) FILTER (WHERE business_date < $5), 0) AS prior,
               coalesce(sum(amount) FILTER (WHERE $5::date IS NULL OR business_date >= $5), 0) AS period,
               coalesce(sum(amount_fund) FILTER (WHERE business_date < $5), 0) AS prior_fund,
               coalesce(sum(amount_fund) FILTER (WHERE $5::date IS NULL OR business_date >= $5), 0) AS period_fund
          FROM sums
         WHERE $6::date IS NULL OR business_date <= $6
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
         ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
        sums_cte()
    ))
    .bind::<SqlUuid, _>(fund)
    .bind::<BigInt, _>(size)
    .bind::<BigInt, _>(block_size.max(1))
    .bind::<BigInt, _>(tail_start(size, block_size))
    .bind::<Nullable<Date>, _>(from)
    .bind::<Nullable<Date>, _>(to)
    .load(conn)
}

/// One effective deposit or disbursement, as the donor attribution replays them.
#[derive(Debug, Clone, QueryableByName)]
pub struct FlowRow {
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    /// For a reversal, the entry it reverses.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub ref_seq: Option<i64>,
    #[diesel(sql_type = Date)]
    pub business_date: NaiveDate,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub donor: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub ministry: Option<Uuid>,
    #[diesel(sql_type = Numeric)]
    pub amount_fund: Decimal,
}

/// Every effective contribution and disbursement below `size` dated up to `to`, in
/// (date, seq) order (a few per month: read whole, through the kind index).
pub fn deposits_and_disbursements(
    conn: &mut PgConnection,
    fund: Uuid,
    size: i64,
    to: Option<NaiveDate>,
) -> QueryResult<Vec<FlowRow>> {
    diesel::sql_query(format!(
        "WITH e AS ({})
        SELECT kind, seq, ref_seq, business_date, donor_org_id AS donor,
               ministry_org_id AS ministry, amount_fund
          FROM e
         WHERE $3::date IS NULL OR business_date <= $3
         ORDER BY business_date, seq",
        effective_of("0", "$2", "'contribution', 'disbursement'")
    ))
    .bind::<SqlUuid, _>(fund)
    .bind::<BigInt, _>(size)
    .bind::<Nullable<Date>, _>(to)
    .load(conn)
}

/// A recorded rate between two currencies.
#[derive(Debug, Clone, QueryableByName)]
pub struct RateRow {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub base: String,
    #[diesel(sql_type = Text)]
    pub quote: String,
    #[diesel(sql_type = Date)]
    pub rate_date: NaiveDate,
    #[diesel(sql_type = Numeric)]
    pub rate: Decimal,
}

/// The latest rate between `a` and `b` (either way round) recorded below `size`, dated
/// up to `on` and not reversed below `size`.
pub fn latest_rate(
    conn: &mut PgConnection,
    fund: Uuid,
    size: i64,
    a: &str,
    b: &str,
    on: Option<NaiveDate>,
) -> QueryResult<Option<RateRow>> {
    diesel::sql_query(
        "SELECT x.seq, x.base, x.quote, x.rate_date, x.rate
           FROM fx_rates x
          WHERE x.fund_id = $1 AND x.seq < $2
            AND ((x.base = $3 AND x.quote = $4) OR (x.base = $4 AND x.quote = $3))
            AND ($5::date IS NULL OR x.rate_date <= $5)
            AND NOT EXISTS (SELECT 1 FROM fund_entries r
                             WHERE r.fund_id = x.fund_id AND r.kind = 'reversal'
                               AND r.ref_seq = x.seq AND r.seq < $2)
          ORDER BY x.rate_date DESC, x.seq DESC
          LIMIT 1",
    )
    .bind::<SqlUuid, _>(fund)
    .bind::<BigInt, _>(size)
    .bind::<Text, _>(a)
    .bind::<Text, _>(b)
    .bind::<Nullable<Date>, _>(on)
    .get_result(conn)
    .optional()
}

/// Flags raised by entries below a size, counted by severity, rule, ministry and status
/// as of the administrative chain's size (a flag nobody triaged by then is `open`).
/// Rows may repeat a key and an `open` row may be negative: add them up.
#[derive(Debug, Clone, QueryableByName)]
pub struct FlagCountRow {
    #[diesel(sql_type = Text)]
    pub severity: String,
    #[diesel(sql_type = Text)]
    pub rule: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub ministry: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// Counts come from the summed blocks and the partial block at the end, all as `open`;
/// each flag triaged below `admin_size` then moves from `open` to its last status. Call
/// `ensure_blocks` first.
pub fn flag_counts(
    conn: &mut PgConnection,
    fund: Uuid,
    size: i64,
    block_size: i64,
    admin_size: i64,
) -> QueryResult<Vec<FlagCountRow>> {
    diesel::sql_query(
        "WITH last AS (
             SELECT DISTINCT ON (e.flag_id) e.flag_id, e.to_status
               FROM flag_events e JOIN flags g ON g.id = e.flag_id
              WHERE g.fund_id = $1 AND g.seq < $2 AND e.admin_seq < $5
              ORDER BY e.flag_id, e.admin_seq DESC),
         triaged AS (
             SELECT f.severity, f.rule, f.ministry_org_id, l.to_status, count(*)::bigint AS n
               FROM flags f JOIN last l ON l.flag_id = f.id
              GROUP BY 1, 2, 3, 4),
         raised AS (
             SELECT severity, rule, ministry_org_id, n FROM report_flag_sums
              WHERE fund_id = $1 AND block_size = $3 AND block < $4 / $3
             UNION ALL
             SELECT severity, rule, ministry_org_id, count(*) FROM flags
              WHERE fund_id = $1 AND seq >= $4 AND seq < $2
              GROUP BY 1, 2, 3)
         SELECT severity, rule, ministry_org_id AS ministry, 'open' AS status,
                sum(n)::bigint AS count
           FROM raised GROUP BY 1, 2, 3
         UNION ALL
         SELECT severity, rule, ministry_org_id, to_status, n FROM triaged
         UNION ALL
         SELECT severity, rule, ministry_org_id, 'open', -n FROM triaged
         ORDER BY 1, 2, 3, 4",
    )
    .bind::<SqlUuid, _>(fund)
    .bind::<BigInt, _>(size)
    .bind::<BigInt, _>(block_size.max(1))
    .bind::<BigInt, _>(tail_start(size, block_size))
    .bind::<BigInt, _>(admin_size)
    .load(conn)
}

/// One point of a time series.
#[derive(Debug, Clone, QueryableByName)]
pub struct SeriesRow {
    #[diesel(sql_type = Date)]
    pub bucket: NaiveDate,
    /// Donor or ministry id as text, or the category.
    #[diesel(sql_type = Nullable<Text>)]
    pub key: Option<String>,
    #[diesel(sql_type = Numeric)]
    pub amount_fund: Decimal,
}

/// What a series sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesMetric {
    Contributed,
    Disbursed,
    Spent,
}

/// What a series sums, per which bucket (`month` or `quarter`), grouped how.
#[derive(Debug, Clone, Copy)]
pub struct SeriesSpec {
    pub metric: SeriesMetric,
    pub trunc: &'static str,
    pub group: SeriesGroup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesGroup {
    Donor,
    Ministry,
    Category,
}

/// Sums of `metric` in the fund's currency per `trunc` bucket (`month` or `quarter`)
/// and group, for effective entries below `size` within [from, to].
pub fn series(
    conn: &mut PgConnection,
    fund: Uuid,
    size: i64,
    block_size: i64,
    spec: SeriesSpec,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> QueryResult<Vec<SeriesRow>> {
    let SeriesSpec {
        metric,
        trunc,
        group,
    } = spec;
    let kinds = match metric {
        SeriesMetric::Contributed => "'contribution'",
        SeriesMetric::Disbursed => "'disbursement'",
        SeriesMetric::Spent => "'expenditure', 'payment'",
    };
    let key = match group {
        SeriesGroup::Donor => "donor_org_id::text",
        SeriesGroup::Ministry => "ministry_org_id::text",
        SeriesGroup::Category => "category",
    };
    // `kinds`, `key` and `trunc` come from the enums above, never from the request.
    diesel::sql_query(format!(
        "WITH {sums}
        SELECT date_trunc('{trunc}', business_date)::date AS bucket, {key} AS key,
               sum(amount_fund) AS amount_fund
          FROM sums
         WHERE grain = 'flow' AND kind IN ({kinds})
           AND ($5::date IS NULL OR business_date >= $5)
           AND ($6::date IS NULL OR business_date <= $6)
         GROUP BY 1, 2
         ORDER BY 2, 1",
        sums = sums_cte()
    ))
    .bind::<SqlUuid, _>(fund)
    .bind::<BigInt, _>(size)
    .bind::<BigInt, _>(block_size.max(1))
    .bind::<BigInt, _>(tail_start(size, block_size))
    .bind::<Nullable<Date>, _>(from)
    .bind::<Nullable<Date>, _>(to)
    .load(conn)
}
