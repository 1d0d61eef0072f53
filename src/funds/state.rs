//! The only SQL over the derived state of fund chains (migration 000005): the positions,
//! allocations and rates of fund flows, and procurement's tenders, contracts, amendments,
//! invoices, disqualifications and approvals, which one append job flushes together, and
//! two-person control's policy and requests (written through, not flushed). Rows are read,
//! changed in Rust and saved whole: every caller runs inside the append transaction of
//! the fund's chain, whose head row lock serialises all writers of a fund, so a
//! read-modify-write here cannot race another writer of the same fund.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::PgConnection;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::db::prepared::{prepared, unprepared};
use crate::schema::{
    allocations, approval_policies, approval_requests, approvals, bid_disqualifications,
    contract_amendments, contracts, donor_positions, evidence_documents, fund_entries,
    fund_positions, fx_rates, invoices, ministry_positions, tenders,
};

#[derive(Debug, Clone, Default, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = fund_positions, primary_key(fund_id))]
pub struct FundPosition {
    pub fund_id: Uuid,
    pub pledged: Decimal,
    pub received: Decimal,
    pub allocated: Decimal,
    pub disbursed: Decimal,
    pub expended: Decimal,
    pub paid: Decimal,
}

impl FundPosition {
    /// Contributions received minus disbursements, in the fund's currency.
    pub fn available(&self) -> Decimal {
        self.received - self.disbursed
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = donor_positions, primary_key(fund_id, donor_org_id))]
pub struct DonorPosition {
    pub fund_id: Uuid,
    pub donor_org_id: Uuid,
    pub pledged: Decimal,
    pub received: Decimal,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = ministry_positions, primary_key(fund_id, ministry_org_id))]
pub struct MinistryPosition {
    pub fund_id: Uuid,
    pub ministry_org_id: Uuid,
    pub allocated: Decimal,
    pub disbursed: Decimal,
    pub expended: Decimal,
    pub paid: Decimal,
}

#[derive(
    Debug, Clone, Queryable, QueryableByName, Selectable, Insertable, AsChangeset, Identifiable,
)]
#[diesel(table_name = allocations, primary_key(fund_id, seq))]
pub struct AllocationRow {
    pub fund_id: Uuid,
    pub seq: i64,
    pub ministry_org_id: Uuid,
    pub budget_line: String,
    pub category: String,
    pub amount_fund: Decimal,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub disbursed_fund: Decimal,
    pub reversed: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = fx_rates, primary_key(fund_id, seq))]
pub struct FxRateRow {
    pub fund_id: Uuid,
    pub seq: i64,
    pub base: String,
    pub quote: String,
    pub rate_date: NaiveDate,
    pub rate: Decimal,
    pub reversed: bool,
}

#[derive(
    Debug, Clone, Queryable, QueryableByName, Selectable, Insertable, AsChangeset, Identifiable,
)]
#[diesel(table_name = tenders, primary_key(fund_id, seq), treat_none_as_null = true)]
pub struct TenderRow {
    pub fund_id: Uuid,
    pub seq: i64,
    pub ministry_org_id: Uuid,
    pub method: String,
    pub stage: String,
    pub bids: i32,
    pub award_seq: Option<i64>,
    /// The publisher's tender status (imported tenders).
    pub status: Option<String>,
}

#[derive(
    Debug, Clone, Queryable, QueryableByName, Selectable, Insertable, AsChangeset, Identifiable,
)]
#[diesel(table_name = contracts, primary_key(fund_id, seq))]
pub struct ContractRow {
    pub id: Uuid,
    pub fund_id: Uuid,
    pub seq: i64,
    pub tender_seq: i64,
    pub award_seq: i64,
    pub ministry_org_id: Uuid,
    pub vendor_org_id: Uuid,
    pub currency: String,
    pub original_value: Decimal,
    pub value: Decimal,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub amendments: i32,
    pub invoiced: Decimal,
    pub paid: Decimal,
    pub reversed: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = contract_amendments, primary_key(fund_id, seq))]
pub struct AmendmentRow {
    pub fund_id: Uuid,
    pub seq: i64,
    pub contract_seq: i64,
    pub old_value: Decimal,
    pub new_value: Decimal,
    pub old_starts_on: NaiveDate,
    pub old_ends_on: NaiveDate,
    pub reversed: bool,
}

#[derive(
    Debug, Clone, Queryable, QueryableByName, Selectable, Insertable, AsChangeset, Identifiable,
)]
#[diesel(table_name = invoices, primary_key(fund_id, seq))]
pub struct InvoiceRow {
    pub fund_id: Uuid,
    pub seq: i64,
    pub contract_seq: i64,
    pub ministry_org_id: Uuid,
    pub vendor_org_id: Uuid,
    pub invoice_number: String,
    pub currency: String,
    pub amount: Decimal,
    pub paid: Decimal,
    pub reversed: bool,
}

/// A `bid_disqualified` entry: the bid it rules out, and that bid's tender and vendor.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = bid_disqualifications, primary_key(fund_id, seq))]
pub struct BidDisqualificationRow {
    pub fund_id: Uuid,
    pub seq: i64,
    pub bid_seq: i64,
    pub tender_seq: i64,
    pub vendor_org_id: Uuid,
    pub reversed: bool,
}

/// An `approval` entry: the approved entry and the approving user (ledger principal id).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = approvals, primary_key(fund_id, seq))]
pub struct ApprovalRow {
    pub fund_id: Uuid,
    pub seq: i64,
    pub entry_seq: i64,
    pub approver: String,
    pub reversed: bool,
}

/// An `evidence_attached` entry: the document (by hash) and the entry it is evidence for.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset, Identifiable)]
#[diesel(table_name = evidence_documents, primary_key(fund_id, seq))]
pub struct EvidenceRow {
    pub fund_id: Uuid,
    pub seq: i64,
    pub entry_seq: i64,
    pub ministry_org_id: Option<Uuid>,
    pub sha256: String,
    pub size_bytes: i64,
    pub media_type: String,
    pub name: Option<String>,
}

#[derive(
    Debug,
    Clone,
    Default,
    Queryable,
    QueryableByName,
    Selectable,
    Insertable,
    AsChangeset,
    Identifiable,
)]
#[diesel(table_name = fund_entries, primary_key(fund_id, seq), treat_none_as_null = true)]
pub struct FundEntryRow {
    pub fund_id: Uuid,
    pub seq: i64,
    pub kind: String,
    pub business_date: NaiveDate,
    pub ministry_org_id: Option<Uuid>,
    pub vendor_org_id: Option<Uuid>,
    pub donor_org_id: Option<Uuid>,
    pub category: Option<String>,
    pub currency: Option<String>,
    pub amount: Option<Decimal>,
    pub amount_fund: Option<Decimal>,
    pub ref_seq: Option<i64>,
    pub tender_seq: Option<i64>,
    pub reversed_by: Option<i64>,
    /// The lot of an imported bid or award.
    pub lot: Option<String>,
    /// A bid's unmapped publisher status (never read as valid).
    pub status: Option<String>,
}

// ------------------------------------------------------------------------ positions

pub fn fund_position(conn: &mut PgConnection, fund: Uuid) -> QueryResult<FundPosition> {
    Ok(fund_positions::table
        .find(fund)
        .select(FundPosition::as_select())
        .first(conn)
        .optional()?
        .unwrap_or(FundPosition {
            fund_id: fund,
            ..FundPosition::default()
        }))
}

pub fn fund_position_row(conn: &mut PgConnection, fund: Uuid) -> QueryResult<Option<FundPosition>> {
    fund_positions::table
        .find(fund)
        .select(FundPosition::as_select())
        .first(conn)
        .optional()
}

pub fn donor_position_row(
    conn: &mut PgConnection,
    fund: Uuid,
    donor: Uuid,
) -> QueryResult<Option<DonorPosition>> {
    donor_positions::table
        .find((fund, donor))
        .select(DonorPosition::as_select())
        .first(conn)
        .optional()
}

pub fn ministry_position_row(
    conn: &mut PgConnection,
    fund: Uuid,
    ministry: Uuid,
) -> QueryResult<Option<MinistryPosition>> {
    ministry_positions::table
        .find((fund, ministry))
        .select(MinistryPosition::as_select())
        .first(conn)
        .optional()
}

pub fn ministry_positions_of(
    conn: &mut PgConnection,
    fund: Uuid,
) -> QueryResult<Vec<MinistryPosition>> {
    ministry_positions::table
        .filter(ministry_positions::fund_id.eq(fund))
        .order(ministry_positions::ministry_org_id.asc())
        .select(MinistryPosition::as_select())
        .load(conn)
}

pub fn donor_positions_of(conn: &mut PgConnection, fund: Uuid) -> QueryResult<Vec<DonorPosition>> {
    donor_positions::table
        .filter(donor_positions::fund_id.eq(fund))
        .order(donor_positions::donor_org_id.asc())
        .select(DonorPosition::as_select())
        .load(conn)
}

pub fn is_donor_of(conn: &mut PgConnection, fund: Uuid, org: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        donor_positions::table.find((fund, org)),
    ))
    .get_result(conn)
}

pub fn is_ministry_of(conn: &mut PgConnection, fund: Uuid, org: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        ministry_positions::table.find((fund, org)),
    ))
    .get_result(conn)
}

// ------------------------------------------------------------------------ per-kind rows

macro_rules! get_fn {
    ($name:ident, $row:ty, $table:ident) => {
        pub fn $name(conn: &mut PgConnection, fund: Uuid, seq: i64) -> QueryResult<Option<$row>> {
            $table::table
                .find((fund, seq))
                .select(<$row>::as_select())
                .first(conn)
                .optional()
        }
    };
}

/// Rows of `fund` at these seqs (a job's prefetch): one primary-key probe per seq (a
/// lateral subquery fenced with `OFFSET 0`), planned per call (`db::prepared::Unprepared`).
/// With `seq = ANY($2)` a planner without statistics (a fund seeded in a fresh database,
/// before autovacuum's first ANALYZE) read every row of the fund in another index that
/// starts with `fund_id` and filtered the seqs.
macro_rules! many_fn {
    ($name:ident, $row:ty, $table:literal) => {
        pub fn $name(conn: &mut PgConnection, fund: Uuid, seqs: &[i64]) -> QueryResult<Vec<$row>> {
            use diesel::sql_types::{Array, BigInt, Uuid as SqlUuid};
            unprepared(
                diesel::sql_query(concat!(
                    "SELECT t.* FROM unnest($2) AS k(seq) CROSS JOIN LATERAL (SELECT * FROM ",
                    $table,
                    " WHERE fund_id = $1 AND seq = k.seq OFFSET 0) AS t"
                ))
                .bind::<SqlUuid, _>(fund)
                .bind::<Array<BigInt>, _>(seqs),
            )
            .load(conn)
        }
    };
}

many_fn!(allocations_at, AllocationRow, "allocations");
many_fn!(tenders_at, TenderRow, "tenders");
many_fn!(contracts_at, ContractRow, "contracts");
many_fn!(invoices_at, InvoiceRow, "invoices");
many_fn!(entries_at, FundEntryRow, "fund_entries");

get_fn!(allocation, AllocationRow, allocations);
get_fn!(fx_rate, FxRateRow, fx_rates);
get_fn!(tender, TenderRow, tenders);
get_fn!(contract, ContractRow, contracts);
get_fn!(amendment, AmendmentRow, contract_amendments);
get_fn!(invoice, InvoiceRow, invoices);

/// The index row of entry `seq`, planned per call: `fund_entries_business_date` (fund,
/// date, seq) matches the same two columns as the primary key, and a generic plan made
/// while the table was tiny could keep walking it (`db::prepared::Unprepared`).
pub fn entry(conn: &mut PgConnection, fund: Uuid, seq: i64) -> QueryResult<Option<FundEntryRow>> {
    unprepared(
        fund_entries::table
            .find((fund, seq))
            .select(FundEntryRow::as_select())
            .limit(1),
    )
    .get_result(conn)
    .optional()
}
get_fn!(
    bid_disqualification,
    BidDisqualificationRow,
    bid_disqualifications
);
get_fn!(approval, ApprovalRow, approvals);

/// The unreversed disqualifications of bids on these tenders.
pub fn live_disqualifications(
    conn: &mut PgConnection,
    fund: Uuid,
    tenders: &[i64],
) -> QueryResult<Vec<BidDisqualificationRow>> {
    unprepared(
        bid_disqualifications::table
            .filter(bid_disqualifications::fund_id.eq(fund))
            .filter(bid_disqualifications::tender_seq.eq_any(tenders))
            .filter(bid_disqualifications::reversed.eq(false))
            .order(bid_disqualifications::seq.asc())
            .select(BidDisqualificationRow::as_select()),
    )
    .load(conn)
}

/// The unreversed approvals of an entry.
pub fn live_approvals(
    conn: &mut PgConnection,
    fund: Uuid,
    entry: i64,
) -> QueryResult<Vec<ApprovalRow>> {
    approvals::table
        .filter(approvals::fund_id.eq(fund))
        .filter(approvals::entry_seq.eq(entry))
        .filter(approvals::reversed.eq(false))
        .order(approvals::seq.asc())
        .select(ApprovalRow::as_select())
        .load(conn)
}

/// Unreversed rates for `base`→`quote` on `date`: (seq, rate).
pub fn rates_on(
    conn: &mut PgConnection,
    fund: Uuid,
    base: &str,
    quote: &str,
    date: NaiveDate,
) -> QueryResult<Vec<(i64, Decimal)>> {
    fx_rates::table
        .filter(fx_rates::fund_id.eq(fund))
        .filter(fx_rates::base.eq(base))
        .filter(fx_rates::quote.eq(quote))
        .filter(fx_rates::rate_date.eq(date))
        .filter(fx_rates::reversed.eq(false))
        .select((fx_rates::seq, fx_rates::rate))
        .load(conn)
}

/// Seqs of the unreversed bids of `vendor` on a tender.
pub fn bid_seqs(
    conn: &mut PgConnection,
    fund: Uuid,
    tender: i64,
    vendor: Uuid,
) -> QueryResult<Vec<i64>> {
    fund_entries::table
        .filter(fund_entries::fund_id.eq(fund))
        .filter(fund_entries::tender_seq.eq(tender))
        .filter(fund_entries::kind.eq("bid"))
        .filter(fund_entries::vendor_org_id.eq(vendor))
        .filter(fund_entries::reversed_by.is_null())
        .select(fund_entries::seq)
        .load(conn)
}

/// The latest unreversed amendment of a contract.
pub fn latest_amendment(
    conn: &mut PgConnection,
    fund: Uuid,
    contract: i64,
) -> QueryResult<Option<AmendmentRow>> {
    contract_amendments::table
        .filter(contract_amendments::fund_id.eq(fund))
        .filter(contract_amendments::contract_seq.eq(contract))
        .filter(contract_amendments::reversed.eq(false))
        .order(contract_amendments::seq.desc())
        .select(AmendmentRow::as_select())
        .first(conn)
        .optional()
}

pub fn contract_by_id(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<ContractRow>> {
    contracts::table
        .filter(contracts::id.eq(id))
        .select(ContractRow::as_select())
        .first(conn)
        .optional()
}

/// Every indexed entry of a tender (tender, bids, award, contract, amendments, invoices,
/// payments, and reversals of any of them), in chain order.
pub fn tender_history(
    conn: &mut PgConnection,
    fund: Uuid,
    tender: i64,
) -> QueryResult<Vec<FundEntryRow>> {
    fund_entries::table
        .filter(fund_entries::fund_id.eq(fund))
        .filter(fund_entries::tender_seq.eq(tender))
        .order(fund_entries::seq.asc())
        .select(FundEntryRow::as_select())
        .load(conn)
}

/// Filters of the entry read API; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    pub kind: Option<String>,
    pub ministry: Option<Uuid>,
    pub vendor: Option<Uuid>,
    pub donor: Option<Uuid>,
    pub category: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub min_amount: Option<Decimal>,
    pub max_amount: Option<Decimal>,
    pub after: Option<i64>,
}

/// One page of the fund's indexed entries, in seq order (keyset on seq).
pub fn list_entries(
    conn: &mut PgConnection,
    fund: Uuid,
    f: &EntryFilter,
    limit: i64,
) -> QueryResult<Vec<FundEntryRow>> {
    let mut q = fund_entries::table
        .filter(fund_entries::fund_id.eq(fund))
        .into_boxed();
    if let Some(k) = &f.kind {
        q = q.filter(fund_entries::kind.eq(k.clone()));
    }
    if let Some(m) = f.ministry {
        q = q.filter(fund_entries::ministry_org_id.eq(m));
    }
    if let Some(v) = f.vendor {
        q = q.filter(fund_entries::vendor_org_id.eq(v));
    }
    if let Some(d) = f.donor {
        q = q.filter(fund_entries::donor_org_id.eq(d));
    }
    if let Some(c) = &f.category {
        q = q.filter(fund_entries::category.eq(c.clone()));
    }
    if let Some(d) = f.from {
        q = q.filter(fund_entries::business_date.ge(d));
    }
    if let Some(d) = f.to {
        q = q.filter(fund_entries::business_date.le(d));
    }
    if let Some(a) = f.min_amount {
        q = q.filter(fund_entries::amount_fund.ge(a));
    }
    if let Some(a) = f.max_amount {
        q = q.filter(fund_entries::amount_fund.le(a));
    }
    if let Some(s) = f.after {
        q = q.filter(fund_entries::seq.gt(s));
    }
    q.order(fund_entries::seq.asc())
        .limit(limit)
        .select(FundEntryRow::as_select())
        .load(conn)
}

/// The statement of an `upsert_many!` function: every column bound as one array and
/// unnested, so its text is the same for any number of rows and is prepared once per
/// connection (a multi-row `VALUES` list is parsed and planned on every call, with a bind
/// per cell; docs/benchmarks.md, run 10).
fn upsert_sql(table: &str, columns: &[&str], keys: &[&str], set: &[&str]) -> String {
    let params: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let set: Vec<String> = set.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
    format!(
        "INSERT INTO {table} ({}) SELECT * FROM unnest({}) ON CONFLICT ({}) DO UPDATE SET {}",
        columns.join(", "),
        params.join(", "),
        keys.join(", "),
        set.join(", ")
    )
}

/// Rows in one statement at most: a group's rows, bounded so that an import's large group
/// does not build one huge statement.
const UPSERT_CHUNK: usize = 10_000;

/// Multi-row upserts of changed rows: one statement per table and flush (`upsert_sql`),
/// setting every column a later entry can change. `columns` are all of the row's fields,
/// named as the table's columns.
macro_rules! upsert_many {
    ($name:ident, $row:ident, $table:ident, ($($key:ident),+), [$($col:ident),+], columns [$($field:ident),+]) => {
        pub fn $name(conn: &mut PgConnection, rows: &[$row]) -> QueryResult<()> {
            use diesel::sql_types::Array;
            // `columns` names every field of the row: a field added later fails to compile
            // here instead of being left out of the insert.
            let _ = |r: &$row| {
                let $row { $($field: _),+ } = r;
            };
            static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            let sql = SQL.get_or_init(|| {
                upsert_sql(
                    stringify!($table),
                    &[$(stringify!($field)),+],
                    &[$(stringify!($key)),+],
                    &[$(stringify!($col)),+],
                )
            });
            for chunk in rows.chunks(UPSERT_CHUNK) {
                prepared(
                    diesel::sql_query(sql.as_str())
                    $(.bind::<Array<<$table::$field as diesel::Expression>::SqlType>, _>(
                        chunk.iter().map(|r| &r.$field).collect::<Vec<_>>(),
                    ))+,
                )
                .execute(conn)?;
            }
            Ok(())
        }
    };
}

upsert_many!(
    upsert_fund_positions,
    FundPosition,
    fund_positions,
    (fund_id),
    [pledged, received, allocated, disbursed, expended, paid],
    columns [fund_id, pledged, received, allocated, disbursed, expended, paid]
);
upsert_many!(
    upsert_donor_positions,
    DonorPosition,
    donor_positions,
    (fund_id, donor_org_id),
    [pledged, received],
    columns [fund_id, donor_org_id, pledged, received]
);
upsert_many!(
    upsert_ministry_positions,
    MinistryPosition,
    ministry_positions,
    (fund_id, ministry_org_id),
    [allocated, disbursed, expended, paid],
    columns [fund_id, ministry_org_id, allocated, disbursed, expended, paid]
);
upsert_many!(
    upsert_allocations,
    AllocationRow,
    allocations,
    (fund_id, seq),
    [disbursed_fund, reversed],
    columns [fund_id, seq, ministry_org_id, budget_line, category, amount_fund, period_start, period_end, disbursed_fund, reversed]
);
upsert_many!(
    upsert_fx_rates,
    FxRateRow,
    fx_rates,
    (fund_id, seq),
    [reversed],
    columns [fund_id, seq, base, quote, rate_date, rate, reversed]
);
upsert_many!(
    upsert_tenders,
    TenderRow,
    tenders,
    (fund_id, seq),
    [stage, bids, award_seq],
    columns [fund_id, seq, ministry_org_id, method, stage, bids, award_seq, status]
);
upsert_many!(
    upsert_contracts,
    ContractRow,
    contracts,
    (fund_id, seq),
    [value, starts_on, ends_on, amendments, invoiced, paid, reversed],
    columns [id, fund_id, seq, tender_seq, award_seq, ministry_org_id, vendor_org_id, currency, original_value, value, starts_on, ends_on, amendments, invoiced, paid, reversed]
);
upsert_many!(
    upsert_amendments,
    AmendmentRow,
    contract_amendments,
    (fund_id, seq),
    [reversed],
    columns [fund_id, seq, contract_seq, old_value, new_value, old_starts_on, old_ends_on, reversed]
);
upsert_many!(
    upsert_invoices,
    InvoiceRow,
    invoices,
    (fund_id, seq),
    [paid, reversed],
    columns [fund_id, seq, contract_seq, ministry_org_id, vendor_org_id, invoice_number, currency, amount, paid, reversed]
);
upsert_many!(
    upsert_bid_disqualifications,
    BidDisqualificationRow,
    bid_disqualifications,
    (fund_id, seq),
    [reversed],
    columns [fund_id, seq, bid_seq, tender_seq, vendor_org_id, reversed]
);
upsert_many!(
    upsert_approvals,
    ApprovalRow,
    approvals,
    (fund_id, seq),
    [reversed],
    columns [fund_id, seq, entry_seq, approver, reversed]
);
upsert_many!(
    upsert_evidence,
    EvidenceRow,
    evidence_documents,
    (fund_id, seq),
    [entry_seq],
    columns [fund_id, seq, entry_seq, ministry_org_id, sha256, size_bytes, media_type, name]
);
upsert_many!(
    upsert_entries,
    FundEntryRow,
    fund_entries,
    (fund_id, seq),
    [reversed_by],
    columns [fund_id, seq, kind, business_date, ministry_org_id, vendor_org_id, donor_org_id,
        category, currency, amount, amount_fund, ref_seq, tender_seq, reversed_by, lot, status]
);

/// The tables `fundtrail rebuild` recomputes, in an order that respects foreign keys.
pub const DERIVED_TABLES: [&str; 16] = [
    "fund_positions",
    "donor_positions",
    "ministry_positions",
    "allocations",
    "fx_rates",
    "tenders",
    "contracts",
    "contract_amendments",
    "invoices",
    "fund_entries",
    "screening_thresholds",
    "bid_disqualifications",
    "approvals",
    "evidence_documents",
    "approval_policies",
    "approval_requests",
];

/// The live allocations of `fund` (of `ministry` only, when given), oldest first.
pub fn allocations_of(
    conn: &mut PgConnection,
    fund: Uuid,
    ministry: Option<Uuid>,
) -> QueryResult<Vec<AllocationRow>> {
    let mut q = allocations::table
        .filter(allocations::fund_id.eq(fund))
        .filter(allocations::reversed.eq(false))
        .into_boxed();
    if let Some(m) = ministry {
        q = q.filter(allocations::ministry_org_id.eq(m));
    }
    q.order(allocations::seq.asc())
        .select(AllocationRow::as_select())
        .load(conn)
}

/// Filters of the contract listing.
#[derive(Debug, Clone, Default)]
pub struct ContractFilter {
    pub ministry: Option<Uuid>,
    pub vendor: Option<Uuid>,
    /// Include reversed contracts.
    pub reversed: bool,
    /// Keyset: contracts recorded after this seq.
    pub after: Option<i64>,
}

/// Contracts of `fund` matching `f`, by seq, at most `limit`.
pub fn contracts_of(
    conn: &mut PgConnection,
    fund: Uuid,
    f: &ContractFilter,
    limit: i64,
) -> QueryResult<Vec<ContractRow>> {
    let mut q = contracts::table
        .filter(contracts::fund_id.eq(fund))
        .into_boxed();
    if let Some(m) = f.ministry {
        q = q.filter(contracts::ministry_org_id.eq(m));
    }
    if let Some(v) = f.vendor {
        q = q.filter(contracts::vendor_org_id.eq(v));
    }
    if !f.reversed {
        q = q.filter(contracts::reversed.eq(false));
    }
    if let Some(a) = f.after {
        q = q.filter(contracts::seq.gt(a));
    }
    q.order(contracts::seq.asc())
        .limit(limit)
        .select(ContractRow::as_select())
        .load(conn)
}

/// Which of a fund's attached documents to read (`evidence_of`).
#[derive(Debug, Clone, Default)]
pub struct EvidenceFilter {
    /// Only those cited for this entry.
    pub entry: Option<i64>,
    /// Only those of this hash (lowercase hex).
    pub sha256: Option<String>,
    /// Only those of this ministry's entries.
    pub ministry: Option<Uuid>,
    /// Only evidence entries after this seq.
    pub after: Option<i64>,
}

/// The documents attached in `fund` that `f` selects, oldest first, at most `limit`.
pub fn evidence_of(
    conn: &mut PgConnection,
    fund: Uuid,
    f: &EvidenceFilter,
    limit: i64,
) -> QueryResult<Vec<EvidenceRow>> {
    let mut q = evidence_documents::table
        .filter(evidence_documents::fund_id.eq(fund))
        .select(EvidenceRow::as_select())
        .order(evidence_documents::seq.asc())
        .limit(limit)
        .into_boxed();
    if let Some(e) = f.entry {
        q = q.filter(evidence_documents::entry_seq.eq(e));
    }
    if let Some(h) = &f.sha256 {
        q = q.filter(evidence_documents::sha256.eq(h.clone()));
    }
    if let Some(m) = f.ministry {
        q = q.filter(evidence_documents::ministry_org_id.eq(m));
    }
    if let Some(a) = f.after {
        q = q.filter(evidence_documents::seq.gt(a));
    }
    q.load(conn)
}

// ------------------------------------------------------------------- two-person control

/// The fund's approval policy as its latest `approval_policy` entry left it.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = approval_policies, primary_key(fund_id))]
pub struct ApprovalPolicyRow {
    pub fund_id: Uuid,
    pub seq: i64,
    pub expiry_hours: i32,
    pub rules: serde_json::Value,
}

/// An entry recorded as a request under the fund's approval policy, and its decision.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = approval_requests, primary_key(fund_id, seq))]
pub struct ApprovalRequestRow {
    pub fund_id: Uuid,
    pub seq: i64,
    pub kind: String,
    pub body: serde_json::Value,
    pub business_date: NaiveDate,
    pub maker: String,
    pub approver_role: String,
    pub ministry_org_id: Option<Uuid>,
    pub amount_fund: Decimal,
    pub policy_seq: i64,
    pub requested_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub state: String,
    pub decided_seq: Option<i64>,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
}

pub fn approval_policy(
    conn: &mut PgConnection,
    fund: Uuid,
) -> QueryResult<Option<ApprovalPolicyRow>> {
    approval_policies::table
        .find(fund)
        .select(ApprovalPolicyRow::as_select())
        .first(conn)
        .optional()
}

pub fn upsert_approval_policy(conn: &mut PgConnection, row: &ApprovalPolicyRow) -> QueryResult<()> {
    diesel::insert_into(approval_policies::table)
        .values(row)
        .on_conflict(approval_policies::fund_id)
        .do_update()
        .set(row)
        .execute(conn)?;
    Ok(())
}

pub fn approval_request(
    conn: &mut PgConnection,
    fund: Uuid,
    seq: i64,
) -> QueryResult<Option<ApprovalRequestRow>> {
    approval_requests::table
        .find((fund, seq))
        .select(ApprovalRequestRow::as_select())
        .first(conn)
        .optional()
}

pub fn upsert_approval_request(
    conn: &mut PgConnection,
    row: &ApprovalRequestRow,
) -> QueryResult<()> {
    diesel::insert_into(approval_requests::table)
        .values(row)
        .on_conflict((approval_requests::fund_id, approval_requests::seq))
        .do_update()
        .set(row)
        .execute(conn)?;
    Ok(())
}

/// Requests of `fund` still pending, oldest first: those `approver_role` decides (all
/// when `None`), of `ministry` only when given; at most `limit`.
pub fn pending_requests(
    conn: &mut PgConnection,
    fund: Uuid,
    approver_role: Option<&str>,
    ministry: Option<Uuid>,
    after: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<ApprovalRequestRow>> {
    let mut q = approval_requests::table
        .filter(approval_requests::fund_id.eq(fund))
        .filter(approval_requests::state.eq("pending"))
        .select(ApprovalRequestRow::as_select())
        .order(approval_requests::seq)
        .limit(limit)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(approval_requests::seq.gt(a));
    }
    if let Some(r) = approver_role {
        q = q.filter(approval_requests::approver_role.eq(r.to_owned()));
    }
    if let Some(m) = ministry {
        q = q.filter(approval_requests::ministry_org_id.eq(m));
    }
    q.load(conn)
}

/// Seqs of `fund`'s requests still pending whose time ran out by `now`, oldest first.
pub fn expired_requests(
    conn: &mut PgConnection,
    fund: Uuid,
    now: chrono::DateTime<chrono::Utc>,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    approval_requests::table
        .filter(approval_requests::fund_id.eq(fund))
        .filter(approval_requests::state.eq("pending"))
        .filter(approval_requests::expires_at.le(now))
        .select(approval_requests::seq)
        .order(approval_requests::seq)
        .limit(limit)
        .load(conn)
}
