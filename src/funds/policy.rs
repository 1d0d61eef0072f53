//! Who may see and post what in a fund (docs/security.md, "Role matrix"). Every fund and
//! chain route decides through this module, never ad hoc in a handler:
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

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use diesel::PgConnection;
use uuid::Uuid;

use super::kinds::{FUND_FLOW_KINDS, KINDS};
use super::state;
use super::store::{self, FundRow};
use crate::app::AppState;
use crate::auth::guard::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::ledger::entry::ADMIN_CHAIN;

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

/// May this caller post an entry of `kind` in a fund it can see? (Reversals: the role
/// that records the reversed kind, decided when the reversed entry is known.)
pub fn may_post(p: &Principal, kind: &str) -> ApiResult<()> {
    let fund_flow = FUND_FLOW_KINDS.contains(&kind);
    let known = KINDS.contains(&kind);
    match p.role {
        // A poster sending an unknown kind learns that it is unknown (422 later).
        Role::Treasurer | Role::Ministry if !known => Ok(()),
        // Screening thresholds are the auditors' (docs/screening.md).
        Role::Auditor if kind == "screening_config" => Ok(()),
        Role::Treasurer | Role::Ministry if kind == "screening_config" => Err(ApiError::Forbidden(
            "screening thresholds are set by the fund's auditors".to_owned(),
        )),
        Role::Treasurer if fund_flow || kind == "reversal" => Ok(()),
        Role::Ministry if !fund_flow => Ok(()),
        Role::Treasurer => Err(ApiError::Forbidden(format!(
            "a treasurer records {}; a ministry records {kind}",
            FUND_FLOW_KINDS.join(", ")
        ))),
        Role::Ministry => Err(ApiError::Forbidden(format!(
            "{kind} entries are recorded by the fund's treasurer"
        ))),
        Role::Admin | Role::Auditor | Role::Donor => Err(ApiError::Forbidden(format!(
            "the {} role records no financial entries (separation of duties)",
            p.role.as_str()
        ))),
    }
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

/// May the caller read this chain's raw entries, proofs and checkpoints?
/// The administrative chain: admins and auditors (403 for others: its existence is
/// public). A fund's chain: whoever has the full scope of the fund; a ministry gets 403
/// (it reads its own entries through the fund's entry API). Any other chain: admins and
/// auditors; for others it does not exist.
pub fn chain_access(conn: &mut PgConnection, p: &Principal, chain: Uuid) -> ApiResult<()> {
    let operator = matches!(p.role, Role::Admin | Role::Auditor);
    if chain == ADMIN_CHAIN {
        return if operator {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "the administrative chain is read by admins and auditors".to_owned(),
            ))
        };
    }
    if store::fund(conn, chain)?.is_some() {
        return match fund_scope(conn, p, chain)? {
            (_, Scope::Full) => Ok(()),
            (_, Scope::Ministry(_)) => Err(ApiError::Forbidden(
                "a ministry reads its own entries at /api/v1/funds/{fund}/entries".to_owned(),
            )),
        };
    }
    if operator {
        Ok(())
    } else {
        Err(ApiError::NotFound("no such chain".to_owned()))
    }
}

/// A caller that may read the chain named by the `{chain}` path segment.
#[derive(Debug, Clone)]
pub struct ChainReader(pub Principal);

impl FromRequest for ChainReader {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = Principal::from_request(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let chain = req
            .match_info()
            .get("chain")
            .map(|c| c.parse::<crate::ledger::http::ChainId>());
        Box::pin(async move {
            let principal = principal?;
            let state =
                state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no application state")))?;
            let chain = match chain {
                Some(Ok(c)) => c.0,
                Some(Err(e)) => return Err(ApiError::InvalidParameter(e)),
                None => {
                    return Err(ApiError::Internal(anyhow::anyhow!(
                        "ChainReader on a route without {{chain}}"
                    )))
                }
            };
            let p = principal.clone();
            crate::app::with_conn(&state, move |_, conn| chain_access(conn, &p, chain)).await?;
            Ok(ChainReader(principal))
        })
    }
}
