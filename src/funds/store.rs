//! The only SQL over fund tables.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use uuid::Uuid;

use crate::schema::{donor_positions, fund_auditors, funds, ministry_positions, organizations};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = funds)]
pub struct FundRow {
    pub id: Uuid,
    pub name: String,
    pub currency: String,
    pub secretariat_org_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// A deactivated fund takes no new entries.
    pub active: bool,
}

pub fn insert_fund(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    currency: &str,
    secretariat: Uuid,
) -> QueryResult<()> {
    diesel::insert_into(funds::table)
        .values((
            funds::id.eq(id),
            funds::name.eq(name),
            funds::currency.eq(currency),
            funds::secretariat_org_id.eq(secretariat),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn insert_auditor(conn: &mut PgConnection, fund: Uuid, org: Uuid) -> QueryResult<()> {
    diesel::insert_into(fund_auditors::table)
        .values((
            fund_auditors::fund_id.eq(fund),
            fund_auditors::org_id.eq(org),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The kind of an active organisation.
pub fn org_kind(conn: &mut PgConnection, org: Uuid) -> QueryResult<Option<String>> {
    organizations::table
        .filter(organizations::id.eq(org))
        .filter(organizations::active.eq(true))
        .select(organizations::kind)
        .first(conn)
        .optional()
}

pub fn fund_exists(conn: &mut PgConnection, id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(funds::table.find(id))).get_result(conn)
}

pub fn all_funds(conn: &mut PgConnection) -> QueryResult<Vec<FundRow>> {
    funds::table
        .order(funds::name.asc())
        .select(FundRow::as_select())
        .load(conn)
}

/// Funds a secretariat administers.
pub fn funds_of_secretariat(conn: &mut PgConnection, org: Uuid) -> QueryResult<Vec<FundRow>> {
    funds::table
        .filter(funds::secretariat_org_id.eq(org))
        .order(funds::name.asc())
        .select(FundRow::as_select())
        .load(conn)
}

/// Funds an audit body is assigned to.
pub fn funds_audited_by(conn: &mut PgConnection, org: Uuid) -> QueryResult<Vec<FundRow>> {
    funds::table
        .inner_join(fund_auditors::table)
        .filter(fund_auditors::org_id.eq(org))
        .order(funds::name.asc())
        .select(FundRow::as_select())
        .load(conn)
}

pub fn fund(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<FundRow>> {
    funds::table
        .find(id)
        .select(FundRow::as_select())
        .first(conn)
        .optional()
}

pub fn is_auditor_of(conn: &mut PgConnection, fund: Uuid, org: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(fund_auditors::table.find((fund, org)))).get_result(conn)
}

/// Funds a donor organisation pledged or contributed to.
pub fn funds_of_donor(conn: &mut PgConnection, org: Uuid) -> QueryResult<Vec<FundRow>> {
    funds::table
        .filter(
            funds::id.eq_any(
                donor_positions::table
                    .filter(donor_positions::donor_org_id.eq(org))
                    .select(donor_positions::fund_id),
            ),
        )
        .order(funds::name.asc())
        .select(FundRow::as_select())
        .load(conn)
}

/// Funds that allocated to a ministry.
pub fn funds_of_ministry(conn: &mut PgConnection, org: Uuid) -> QueryResult<Vec<FundRow>> {
    funds::table
        .filter(
            funds::id.eq_any(
                ministry_positions::table
                    .filter(ministry_positions::ministry_org_id.eq(org))
                    .select(ministry_positions::fund_id),
            ),
        )
        .order(funds::name.asc())
        .select(FundRow::as_select())
        .load(conn)
}

#[derive(diesel::QueryableByName)]
struct OrgKindRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    active: bool,
}

/// The kind and whether it is active of each of `orgs` that exists, in one query: one
/// primary-key probe per organisation, fenced so that a planner without statistics does
/// not read the whole register instead.
pub fn org_kinds(
    conn: &mut PgConnection,
    orgs: &[Uuid],
) -> QueryResult<std::collections::HashMap<Uuid, (String, bool)>> {
    let rows: Vec<OrgKindRow> = diesel::sql_query(
        "SELECT o.id, o.kind, o.active FROM unnest($1::uuid[]) AS k(id) \
         CROSS JOIN LATERAL (SELECT id, kind, active FROM organizations \
             WHERE id = k.id OFFSET 0) o",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(orgs)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, (r.kind, r.active)))
        .collect())
}

/// The kind of an organisation, active or not (replays of old entries).
pub fn org_kind_any(conn: &mut PgConnection, org: Uuid) -> QueryResult<Option<String>> {
    organizations::table
        .filter(organizations::id.eq(org))
        .select(organizations::kind)
        .first(conn)
        .optional()
}

/// Activates or deactivates a fund; the number of funds changed (0: no such fund).
pub fn set_fund_active(conn: &mut PgConnection, id: Uuid, active: bool) -> QueryResult<usize> {
    diesel::update(funds::table.find(id))
        .set(funds::active.eq(active))
        .execute(conn)
}

#[derive(diesel::QueryableByName)]
struct ActiveRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    active: bool,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Jsonb>)]
    config: Option<serde_json::Value>,
}

/// Whether the fund takes entries (false also for a fund that does not exist), with its
/// stored screening thresholds (`None`: the defaults), in one round trip: every append
/// reads both. The fund's row is share-locked until the caller's transaction ends, so a
/// deactivation waits for appends in flight and every later append sees it.
pub fn fund_active(
    conn: &mut PgConnection,
    id: Uuid,
) -> QueryResult<(bool, Option<serde_json::Value>)> {
    let row: Option<ActiveRow> = crate::db::prepared::prepared(
        diesel::sql_query(
            "SELECT f.active, \
                 (SELECT t.config FROM screening_thresholds t WHERE t.fund_id = f.id) AS config \
             FROM funds f WHERE f.id = $1 FOR SHARE OF f",
        )
        .bind::<diesel::sql_types::Uuid, _>(id),
    )
    .get_result(conn)
    .optional()?;
    Ok(row.map_or((false, None), |r| (r.active, r.config)))
}

/// Publishes or withdraws a fund's public page; the number of funds changed (0: no such
/// fund).
pub fn set_public_page(conn: &mut PgConnection, id: Uuid, public: bool) -> QueryResult<usize> {
    diesel::update(funds::table.find(id))
        .set(funds::public_page.eq(public))
        .execute(conn)
}

/// Whether a fund publishes its public page (false for a fund that does not exist).
pub fn has_public_page(conn: &mut PgConnection, id: Uuid) -> QueryResult<bool> {
    Ok(funds::table
        .find(id)
        .select(funds::public_page)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false))
}
