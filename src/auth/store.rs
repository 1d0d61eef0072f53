//! The only SQL over identity tables.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use uuid::Uuid;

use crate::schema::{organization_identifiers, organizations, refresh_tokens, role_grants, users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    pub id: Uuid,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub role: String,
    pub token_hash: Vec<u8>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An active user of an active organisation, by (lower-cased) email.
pub fn active_user_by_email(conn: &mut PgConnection, email: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .inner_join(organizations::table)
        .filter(users::email.eq(email))
        .filter(users::active.eq(true))
        .filter(organizations::active.eq(true))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn active_user(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<UserRow>> {
    users::table
        .inner_join(organizations::table)
        .filter(users::id.eq(id))
        .filter(users::active.eq(true))
        .filter(organizations::active.eq(true))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// The holders among `users` that still stand: each (user, the user's organisation, role)
/// where the user is active, the organisation is active and the role is a live grant of
/// the user. One query over the users' and organisations' primary keys and the live-grant
/// index (`role_grants_live`); a token stands when its (user, organisation, role) is here.
pub fn live_holders(
    conn: &mut PgConnection,
    users: &[Uuid],
) -> QueryResult<std::collections::HashSet<(Uuid, Uuid, String)>> {
    Ok(users::table
        .inner_join(organizations::table)
        .inner_join(role_grants::table)
        .filter(users::id.eq_any(users))
        .filter(users::active.eq(true))
        .filter(organizations::active.eq(true))
        .filter(role_grants::revoked_at.is_null())
        .select((users::id, users::org_id, role_grants::role))
        .load::<(Uuid, Uuid, String)>(conn)?
        .into_iter()
        .collect())
}

/// Roles the user holds now.
pub fn live_roles(conn: &mut PgConnection, user: Uuid) -> QueryResult<Vec<String>> {
    role_grants::table
        .filter(role_grants::user_id.eq(user))
        .filter(role_grants::revoked_at.is_null())
        .order(role_grants::role.asc())
        .select(role_grants::role)
        .load(conn)
}

pub fn org_id_by_name(conn: &mut PgConnection, name: &str) -> QueryResult<Option<Uuid>> {
    organizations::table
        .filter(organizations::name.eq(name))
        .select(organizations::id)
        .first(conn)
        .optional()
}

pub fn insert_org(conn: &mut PgConnection, id: Uuid, name: &str, kind: &str) -> QueryResult<()> {
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(id),
            organizations::name.eq(name),
            organizations::kind.eq(kind),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn insert_user(
    conn: &mut PgConnection,
    id: Uuid,
    org: Uuid,
    email: &str,
    phc: &str,
) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id),
            users::org_id.eq(org),
            users::email.eq(email),
            users::password_hash.eq(phc),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn insert_grant(conn: &mut PgConnection, id: Uuid, user: Uuid, role: &str) -> QueryResult<()> {
    diesel::insert_into(role_grants::table)
        .values((
            role_grants::id.eq(id),
            role_grants::user_id.eq(user),
            role_grants::role.eq(role),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Sets or clears the approver grant on `user`'s live grant of `role`: the number of
/// grants changed (0 when there is no live grant of the role, or it already is as asked).
pub fn set_approver(
    conn: &mut PgConnection,
    user: Uuid,
    role: &str,
    approver: bool,
) -> QueryResult<usize> {
    diesel::update(
        role_grants::table
            .filter(role_grants::user_id.eq(user))
            .filter(role_grants::role.eq(role))
            .filter(role_grants::revoked_at.is_null())
            .filter(role_grants::approver.eq(!approver)),
    )
    .set(role_grants::approver.eq(approver))
    .execute(conn)
}

/// Whether `user` holds a live grant of `role`, and whether it carries the approver grant.
pub fn approver_grant(
    conn: &mut PgConnection,
    user: Uuid,
    role: &str,
) -> QueryResult<Option<bool>> {
    role_grants::table
        .filter(role_grants::user_id.eq(user))
        .filter(role_grants::role.eq(role))
        .filter(role_grants::revoked_at.is_null())
        .select(role_grants::approver)
        .first(conn)
        .optional()
}

pub fn insert_refresh(
    conn: &mut PgConnection,
    family: Uuid,
    user: Uuid,
    role: &str,
    token_hash: &[u8],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(Uuid::new_v4()),
            refresh_tokens::family_id.eq(family),
            refresh_tokens::user_id.eq(user),
            refresh_tokens::role.eq(role),
            refresh_tokens::token_hash.eq(token_hash),
            refresh_tokens::issued_at.eq(now),
            refresh_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The token row, locked for the rest of the transaction (two concurrent refreshes of
/// one token: the second sees it used).
pub fn refresh_for_update(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> QueryResult<Option<RefreshRow>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .for_update()
        .select(RefreshRow::as_select())
        .first(conn)
        .optional()
}

pub fn mark_used(conn: &mut PgConnection, id: Uuid, now: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(refresh_tokens::table.find(id))
        .set(refresh_tokens::used_at.eq(now))
        .execute(conn)
        .map(|_| ())
}

pub fn revoke_family(
    conn: &mut PgConnection,
    family: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
}

/// Revokes every live refresh token of a user (deactivation, role revocation).
pub fn revoke_user(conn: &mut PgConnection, user: Uuid, now: DateTime<Utc>) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
}

pub fn any_user(conn: &mut PgConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(users::table.select(users::id))).get_result(conn)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organizations)]
pub struct OrgRow {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

pub fn list_orgs(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<OrgRow>> {
    organizations::table
        .order(organizations::name.asc())
        .limit(limit)
        .select(OrgRow::as_select())
        .load(conn)
}

/// Active organisations of one kind, by name.
pub fn orgs_of_kind(conn: &mut PgConnection, kind: &str, limit: i64) -> QueryResult<Vec<OrgRow>> {
    organizations::table
        .filter(organizations::kind.eq(kind))
        .filter(organizations::active.eq(true))
        .order(organizations::name.asc())
        .limit(limit)
        .select(OrgRow::as_select())
        .load(conn)
}

/// An organisation by id.
pub fn org(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<OrgRow>> {
    organizations::table
        .find(id)
        .select(OrgRow::as_select())
        .first(conn)
        .optional()
}

/// An organisation by its exact name (names are unique).
pub fn org_by_name(conn: &mut PgConnection, name: &str) -> QueryResult<Option<OrgRow>> {
    organizations::table
        .filter(organizations::name.eq(name))
        .select(OrgRow::as_select())
        .first(conn)
        .optional()
}

/// The organisation another register's identifier (`scheme`, `identifier`) names.
pub fn org_by_identifier(
    conn: &mut PgConnection,
    scheme: &str,
    identifier: &str,
) -> QueryResult<Option<OrgRow>> {
    organization_identifiers::table
        .inner_join(organizations::table)
        .filter(organization_identifiers::scheme.eq(scheme))
        .filter(organization_identifiers::identifier.eq(identifier))
        .select(OrgRow::as_select())
        .first(conn)
        .optional()
}

/// The identifier `org` has in `scheme`'s register, if any.
pub fn identifier_in_scheme(
    conn: &mut PgConnection,
    org: Uuid,
    scheme: &str,
) -> QueryResult<Option<String>> {
    organization_identifiers::table
        .filter(organization_identifiers::org_id.eq(org))
        .filter(organization_identifiers::scheme.eq(scheme))
        .select(organization_identifiers::identifier)
        .first(conn)
        .optional()
}

/// Records that `(scheme, identifier)` names `org`; a unique violation when it already
/// names an organisation.
pub fn insert_identifier(
    conn: &mut PgConnection,
    org: Uuid,
    scheme: &str,
    identifier: &str,
) -> QueryResult<()> {
    diesel::insert_into(organization_identifiers::table)
        .values((
            organization_identifiers::org_id.eq(org),
            organization_identifiers::scheme.eq(scheme),
            organization_identifiers::identifier.eq(identifier),
        ))
        .execute(conn)
        .map(|_| ())
}

/// An IATI organisation identifier `{RegistrationAgency}-{RegistrationNumber}` split into
/// the agency (an OrganisationRegistrationAgency code such as `XM-DAC`, `GB-COH`, `NO-BRC`:
/// two capital letters, a hyphen, two or more capital letters or digits) and the number
/// (1 to 100 letters, digits, `.`, `_` or `-`, starting with a letter or digit: nothing
/// the IATI ruleset forbids in a ref, `/ & | ?` or spaces). `None` when `s` is not one.
pub fn split_iati_ref(s: &str) -> Option<(&str, &str)> {
    let (country, rest) = s.split_once('-')?;
    let (agency, number) = rest.split_once('-')?;
    let upper = |t: &str| {
        t.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    let country_ok = country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase());
    let agency_ok = agency.len() >= 2 && agency.len() <= 20 && upper(agency);
    let number_ok = !number.is_empty()
        && number.chars().count() <= 100
        && number.starts_with(|c: char| c.is_ascii_alphanumeric())
        && number
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !(country_ok && agency_ok && number_ok) {
        return None;
    }
    let (scheme, rest) = s.split_at_checked(country.len() + 1 + agency.len())?;
    Some((scheme, rest.strip_prefix('-')?))
}

/// The IATI organisation identifier of each of `orgs` that has one: of its recorded
/// identifiers (`organization_identifiers`) whose scheme is a registration agency code, the
/// first recorded (up to `as_of` when given, so that an answer pinned to a checkpoint
/// never changes), as `{scheme}-{identifier}`.
pub fn iati_refs(
    conn: &mut PgConnection,
    orgs: &[Uuid],
    as_of: Option<DateTime<Utc>>,
) -> QueryResult<Vec<(Uuid, String)>> {
    if orgs.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = organization_identifiers::table
        .filter(organization_identifiers::org_id.eq_any(orgs))
        .order((
            organization_identifiers::org_id,
            organization_identifiers::created_at,
            organization_identifiers::scheme,
            organization_identifiers::identifier,
        ))
        .select((
            organization_identifiers::org_id,
            organization_identifiers::scheme,
            organization_identifiers::identifier,
        ))
        .into_boxed();
    if let Some(t) = as_of {
        q = q.filter(organization_identifiers::created_at.le(t));
    }
    let rows: Vec<(Uuid, String, String)> = q.load(conn)?;
    let mut out: Vec<(Uuid, String)> = Vec::new();
    for (org, scheme, identifier) in rows {
        if out.last().is_some_and(|(o, _)| *o == org) {
            continue;
        }
        let id = format!("{scheme}-{identifier}");
        if split_iati_ref(&id).is_some_and(|(a, _)| a == scheme) {
            out.push((org, id));
        }
    }
    Ok(out)
}

pub fn set_org_active(conn: &mut PgConnection, id: Uuid, active: bool) -> QueryResult<usize> {
    diesel::update(organizations::table.find(id))
        .set(organizations::active.eq(active))
        .execute(conn)
}

pub fn set_user_active(conn: &mut PgConnection, id: Uuid, active: bool) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set(users::active.eq(active))
        .execute(conn)
}

pub fn revoke_grant(
    conn: &mut PgConnection,
    user: Uuid,
    role: &str,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        role_grants::table
            .filter(role_grants::user_id.eq(user))
            .filter(role_grants::role.eq(role))
            .filter(role_grants::revoked_at.is_null()),
    )
    .set(role_grants::revoked_at.eq(now))
    .execute(conn)
}

/// A user's live roles, each with whether its grant carries the approver grant.
pub type LiveRoles = Vec<(String, bool)>;

/// Users with their live roles, by email (two queries, whatever the number of users).
pub fn list_users(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<(UserRow, LiveRoles)>> {
    let rows: Vec<UserRow> = users::table
        .order(users::email.asc())
        .limit(limit)
        .select(UserRow::as_select())
        .load(conn)?;
    let ids: Vec<Uuid> = rows.iter().map(|u| u.id).collect();
    let grants: Vec<(Uuid, String, bool)> = role_grants::table
        .filter(role_grants::user_id.eq_any(&ids))
        .filter(role_grants::revoked_at.is_null())
        .order((role_grants::user_id, role_grants::role))
        .select((
            role_grants::user_id,
            role_grants::role,
            role_grants::approver,
        ))
        .load(conn)?;
    let mut by_user: std::collections::HashMap<Uuid, LiveRoles> = std::collections::HashMap::new();
    for (user, role, approver) in grants {
        by_user.entry(user).or_default().push((role, approver));
    }
    Ok(rows
        .into_iter()
        .map(|u| {
            let roles = by_user.remove(&u.id).unwrap_or_default();
            (u, roles)
        })
        .collect())
}
