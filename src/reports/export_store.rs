//! The only SQL of the standard exports (docs/exports.md). Every query reads rows of the
//! fund's chain below a pinned tree size, and only columns that never change once the
//! entry is committed: the ledger entry itself and its index row in `fund_entries`, but
//! never `fund_entries.reversed_by` (set when a later reversal lands) nor the running
//! derived tables (`contracts`, `tenders`, positions), which move with later entries.
//! That is what makes `?at_size=N` reproduce an export byte for byte.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bytea, Date, Nullable, Numeric, Text, Uuid as SqlUuid};
use diesel::PgConnection;
use rust_decimal::Decimal;
use uuid::Uuid;

/// Rows per query: memory stays flat whatever the size of the chain.
pub const PAGE_ROWS: i64 = 10_000;

/// One chain entry with its index row and, for a reversal, the reversed entry's kind.
#[derive(Debug, Clone, QueryableByName)]
pub struct ExportRow {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Date)]
    pub business_date: NaiveDate,
    #[diesel(sql_type = Bytea)]
    pub entry_hash: Vec<u8>,
    /// The canonical entry (JSON), only for the kinds the caller asked bodies of.
    #[diesel(sql_type = Nullable<Text>)]
    pub canonical: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub ministry_org_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub vendor_org_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub donor_org_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub currency: Option<String>,
    /// As recorded; negated on a reversal's row.
    #[diesel(sql_type = Nullable<Numeric>)]
    pub amount: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub amount_fund: Option<Decimal>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub ref_seq: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub tender_seq: Option<i64>,
    /// Kind of the entry `ref_seq` names (for a reversal: the reversed kind).
    #[diesel(sql_type = Nullable<Text>)]
    pub ref_kind: Option<String>,
}

/// The reversed entry's kind, looked up for reversals only: one index probe each (a join
/// would let the planner hash the fund's whole index for every page).
const REF_KIND: &str = "CASE WHEN f.kind = 'reversal' THEN \
     (SELECT t.kind FROM fund_entries t WHERE t.fund_id = $1 AND t.seq = f.ref_seq) END AS ref_kind";

/// Two-person control (docs/domain.md): an entry held for approval is indexed as
/// `approval_request` and takes effect at its approval's seq, whose index row is the
/// requested kind's. Exports follow the index: a request is exported as
/// `approval_request` (no amount), its approval as the requested entry with the
/// requested body.
const KIND: &str =
    "coalesce(q.kind, CASE WHEN f.kind = 'approval_request' THEN f.kind END, l.kind)";

/// The approved request an entry put into effect, and the request's ledger entry: one
/// index probe each.
const APPROVED: &str = "LEFT JOIN approval_requests q \
       ON q.fund_id = $1 AND q.decided_seq = l.seq AND q.state = 'approved' \
     LEFT JOIN ledger_entries r ON r.chain_id = $1 AND r.seq = q.seq";

/// Entries with `from <= seq < to` in seq order (seqs are gap-free, so a range is a
/// page), with bodies for `body_kinds`. With `only_kinds`, just the entries of those
/// kinds and reversals (of any kind: the caller looks at `ref_kind`).
pub fn entries_range(
    conn: &mut PgConnection,
    fund: Uuid,
    from: i64,
    to: i64,
    body_kinds: &[&str],
    only_kinds: Option<&[&str]>,
) -> QueryResult<Vec<ExportRow>> {
    // The range is repeated on `f` so the planner reads both indexes by range: it must
    // never scan the fund's whole index for one page (pages would cost O(chain)).
    diesel::sql_query(format!(
        "SELECT l.seq, {KIND} AS kind, l.business_date, l.entry_hash, \
                CASE WHEN {KIND} = ANY($4) THEN coalesce(r.canonical, l.canonical) END AS canonical, \
                f.ministry_org_id, f.vendor_org_id, f.donor_org_id, f.currency, f.amount, \
                f.amount_fund, f.ref_seq, f.tender_seq, {REF_KIND} \
         FROM ledger_entries l \
         LEFT JOIN fund_entries f \
           ON f.fund_id = $1 AND f.seq = l.seq AND f.seq >= $2 AND f.seq < $3 \
         {APPROVED} \
         WHERE l.chain_id = $1 AND l.seq >= $2 AND l.seq < $3 \
           AND ($5::text[] IS NULL OR {KIND} = ANY($5) OR l.kind = 'reversal') \
         ORDER BY l.seq"
    ))
    .bind::<SqlUuid, _>(fund)
    .bind::<BigInt, _>(from)
    .bind::<BigInt, _>(to)
    .bind::<Array<Text>, _>(body_kinds)
    .bind::<Nullable<Array<Text>>, _>(only_kinds)
    .load(conn)
}

/// The entries of the tenders with `lo <= tender seq < hi` (the tender, its bids,
/// award, contracts, amendments, invoices, invoice payments and the reversals of any of
/// them) below `size`, in (tender, seq) order after `after` = (tender, seq), at most
/// `limit`, all with their bodies, without the columns the OCDS export does not use
/// (`entry_hash` empty, `donor_org_id` and `amount_fund` null). Callers walk windows of tender seqs, so each query
/// sorts at most one window's rows, whatever the size of the fund; the entries are then
/// fetched by one index probe each (`OFFSET 0` keeps the planner from turning that into
/// a hash join over the whole chain, which it did once the tables were analysed).
pub fn tender_entries_page(
    conn: &mut PgConnection,
    fund: Uuid,
    size: i64,
    (lo, hi): (i64, i64),
    after: (i64, i64),
    limit: i64,
) -> QueryResult<Vec<ExportRow>> {
    diesel::sql_query(format!(
        "SELECT f.seq, f.kind, f.business_date, ''::bytea AS entry_hash, l.canonical, \
                f.ministry_org_id, f.vendor_org_id, NULL::uuid AS donor_org_id, f.currency, \
                f.amount, NULL::numeric AS amount_fund, f.ref_seq, f.tender_seq, {REF_KIND} \
         FROM (SELECT * FROM fund_entries \
               WHERE fund_id = $1 AND tender_seq >= $3 AND tender_seq < $4 AND seq < $2 \
                 AND (tender_seq, seq) > ($5, $6) \
               ORDER BY tender_seq, seq LIMIT $7) f \
         CROSS JOIN LATERAL (SELECT entry_hash, canonical FROM ledger_entries \
                             WHERE chain_id = $1 AND seq = coalesce( \
                                 (SELECT q.seq FROM approval_requests q \
                                   WHERE q.fund_id = $1 AND q.decided_seq = f.seq \
                                     AND q.state = 'approved'), f.seq) OFFSET 0) l \
         ORDER BY f.tender_seq, f.seq"
    ))
    .bind::<SqlUuid, _>(fund)
    .bind::<BigInt, _>(size)
    .bind::<BigInt, _>(lo)
    .bind::<BigInt, _>(hi)
    .bind::<BigInt, _>(after.0)
    .bind::<BigInt, _>(after.1)
    .bind::<BigInt, _>(limit)
    .load(conn)
}

#[derive(Debug, Clone, QueryableByName)]
struct OrgName {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    name: String,
}

/// Names of these organisations (names never change once created).
pub fn org_names(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<Vec<(Uuid, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<OrgName> =
        diesel::sql_query("SELECT id, name FROM organizations WHERE id = ANY($1) ORDER BY id")
            .bind::<Array<SqlUuid>, _>(ids)
            .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.id, r.name)).collect())
}

#[derive(Debug, Clone, QueryableByName)]
struct FirstSeen {
    #[diesel(sql_type = SqlUuid)]
    org: Uuid,
}

/// Organisations named in `column` by entries of `kinds` below `size`, in order of first
/// appearance.
fn parties_of(
    conn: &mut PgConnection,
    fund: Uuid,
    size: i64,
    column: &str,
    kinds: &[&str],
) -> QueryResult<Vec<Uuid>> {
    let rows: Vec<FirstSeen> = diesel::sql_query(format!(
        "SELECT {column} AS org FROM fund_entries \
         WHERE fund_id = $1 AND kind = ANY($2) AND seq < $3 AND {column} IS NOT NULL \
         GROUP BY {column} ORDER BY min(seq)"
    ))
    .bind::<SqlUuid, _>(fund)
    .bind::<Array<Text>, _>(kinds)
    .bind::<BigInt, _>(size)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.org).collect())
}

/// What the IATI activity header needs about the entries below `size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityFacts {
    /// Donors that pledged or contributed, in order of first appearance.
    pub donors: Vec<Uuid>,
    /// Ministries that received an allocation, in order of first appearance.
    pub ministries: Vec<Uuid>,
    /// The earliest business date of a pledge or contribution.
    pub first_funding: Option<NaiveDate>,
}

#[derive(Debug, Clone, QueryableByName)]
struct FirstDate {
    #[diesel(sql_type = Nullable<Date>)]
    d: Option<NaiveDate>,
}

pub fn activity_facts(
    conn: &mut PgConnection,
    fund: Uuid,
    size: i64,
) -> QueryResult<ActivityFacts> {
    let funding = ["pledge", "contribution"];
    let donors = parties_of(conn, fund, size, "donor_org_id", &funding)?;
    let ministries = parties_of(conn, fund, size, "ministry_org_id", &["allocation"])?;
    let first: FirstDate = diesel::sql_query(
        "SELECT min(business_date) AS d FROM fund_entries \
         WHERE fund_id = $1 AND kind = ANY($2) AND seq < $3",
    )
    .bind::<SqlUuid, _>(fund)
    .bind::<Array<Text>, _>(&funding[..])
    .bind::<BigInt, _>(size)
    .get_result(conn)?;
    Ok(ActivityFacts {
        donors,
        ministries,
        first_funding: first.d,
    })
}
