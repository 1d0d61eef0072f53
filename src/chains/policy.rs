//! Who may read a chain's raw entries, proofs and checkpoints (docs/security.md, "Role
//! matrix"): the administrative chain is read by admins and auditors, a fund's chain by
//! whoever has the full scope of the fund (`funds::policy`), any other chain by admins and
//! auditors only. Of the administrative chain an auditor reads only the entries that
//! concern the funds it is assigned to (`AdminScope`).

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use diesel::PgConnection;
use uuid::Uuid;

use crate::auth::guard::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::funds::policy::{fund_scope, visible_funds, Scope};
use crate::funds::store;
use crate::ledger::entry::{Entry, ADMIN_CHAIN};
use crate::state::AppState;

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

/// Which entries of the administrative chain a reader sees.
///
/// Admins see every entry. An auditor sees the entries whose body names, as `fund`, a
/// fund its audit body is assigned to: `fund_created`, `auditor_assigned`,
/// `fund_deactivated`, `fund_public_page_set`, `flag_triaged`, `period_screen_run` of those
/// funds. Entries about organisations, users, roles, vendors and keys name no fund and are
/// the admins' alone: they hold emails and names the auditor has no business with. Proofs,
/// checkpoints, consistency and verification reveal hashes and sizes only, so they stay open
/// to auditors; the export holds every entry and is the admins'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminScope {
    All,
    Funds(HashSet<Uuid>),
}

impl AdminScope {
    /// The scope of `p` (only admins and auditors read the administrative chain).
    pub fn of(conn: &mut PgConnection, p: &Principal) -> ApiResult<Self> {
        if p.role == Role::Admin {
            return Ok(AdminScope::All);
        }
        Ok(AdminScope::Funds(
            visible_funds(conn, p)?.into_iter().map(|f| f.id).collect(),
        ))
    }

    /// May the reader see this entry of the administrative chain?
    pub fn shows(&self, e: &Entry) -> bool {
        match self {
            AdminScope::All => true,
            AdminScope::Funds(funds) => e
                .body
                .get("fund")
                .and_then(|f| f.as_str())
                .and_then(|f| Uuid::parse_str(f).ok())
                .is_some_and(|f| funds.contains(&f)),
        }
    }
}

/// A caller that may read the chain named by the `{chain}` path segment.
#[derive(Debug, Clone)]
pub struct ChainReader(pub Principal);

impl ChainReader {
    /// The entries of `chain` this reader sees: `None` for every entry (any chain but
    /// the administrative one, or an admin), else the administrative chain's scope.
    pub fn scope(&self, conn: &mut PgConnection, chain: Uuid) -> ApiResult<Option<AdminScope>> {
        if chain != ADMIN_CHAIN {
            return Ok(None);
        }
        match AdminScope::of(conn, &self.0)? {
            AdminScope::All => Ok(None),
            scope => Ok(Some(scope)),
        }
    }
}

impl FromRequest for ChainReader {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let chain = req
            .match_info()
            .get("chain")
            .map(|c| c.parse::<crate::chains::http::ChainId>());
        Box::pin(async move {
            let principal = Principal::from_request(&req).await?;
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
            crate::state::with_conn(&state, move |_, conn| chain_access(conn, &p, chain)).await?;
            Ok(ChainReader(principal))
        })
    }
}
