//! Who may see what of a fund (docs/security.md, "Role matrix"). Every fund-scoped route
//! decides through this module, never ad hoc in a handler; who may post which kind is
//! `entries::http::may_post`, who may read a raw chain `chains::policy`:
//!
//! | role      | sees a fund when                              | scope           | posts            |
//! |-----------|-----------------------------------------------|-----------------|------------------|
//! | admin     | always                                        | all entries     | nothing          |
//! | treasurer | their secretariat administers it              | all entries     | fund flows       |
//! | auditor   | their audit body is assigned to it            | all entries     | nothing          |
//! | donor     | their organisation pledged or contributed     | all entries     | nothing          |
//! | ministry  | it allocated to their ministry                | own ministry    | procurement, spend |
//!
//! A fund the caller cannot see is 404 (indistinguishable from a fund that does not
//! exist); a visible fund where the caller's role may not do the thing asked is 403.

use diesel::PgConnection;
use uuid::Uuid;

use super::state;
use super::store::{self, FundRow};
use crate::auth::guard::{Principal, Role};
use crate::error::{ApiError, ApiResult};

/// How much of a visible fund the caller reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every entry of the fund.
    Full,
    /// Only the entries of this ministry.
    Ministry(Uuid),
}

pub fn not_found() -> ApiError {
    ApiError::NotFound("no such fund".to_owned())
}

/// The fund and the caller's scope in it, or 404.
pub fn fund_scope(
    conn: &mut PgConnection,
    p: &Principal,
    fund: Uuid,
) -> ApiResult<(FundRow, Scope)> {
    let row = store::fund(conn, fund)?.ok_or_else(not_found)?;
    let scope = match p.role {
        Role::Admin => Some(Scope::Full),
        Role::Treasurer => (row.secretariat_org_id == p.org).then_some(Scope::Full),
        Role::Auditor => store::is_auditor_of(conn, fund, p.org)?.then_some(Scope::Full),
        Role::Donor => state::is_donor_of(conn, fund, p.org)?.then_some(Scope::Full),
        Role::Ministry => {
            state::is_ministry_of(conn, fund, p.org)?.then_some(Scope::Ministry(p.org))
        }
    };
    scope.map(|s| (row, s)).ok_or_else(not_found)
}

/// Funds the caller can see, as `GET /api/v1/funds` lists them.
pub fn visible_funds(conn: &mut PgConnection, p: &Principal) -> ApiResult<Vec<FundRow>> {
    Ok(match p.role {
        Role::Admin => store::all_funds(conn)?,
        Role::Treasurer => store::funds_of_secretariat(conn, p.org)?,
        Role::Auditor => store::funds_audited_by(conn, p.org)?,
        Role::Donor => store::funds_of_donor(conn, p.org)?,
        Role::Ministry => store::funds_of_ministry(conn, p.org)?,
    })
}
