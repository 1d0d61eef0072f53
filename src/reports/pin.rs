//! Every report and export is computed at a signed checkpoint of the fund's chain, and
//! from exactly the entries below its tree size (docs/reports.md, "Pinning"). Entries,
//! and the index rows written with them, never change once committed, so the same size
//! gives the same numbers for ever: `?at_size=N` reproduces a past report byte for byte.
//!
//! Flag statuses come from the administrative chain (triage is recorded there), so a
//! report that shows them is pinned to a checkpoint of that chain too (`?admin_size=M`).

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::guard::Principal;
use crate::error::{ApiError, ApiResult};
use crate::funds::policy::{self, Scope};
use crate::funds::store::FundRow;
use crate::ledger::entry::{hex32, ADMIN_CHAIN};
use crate::ledger::store as ledger_store;
use crate::ledger::writer::SignedCheckpoint;
use crate::ledger::Ledger;

/// A signed checkpoint a report was computed at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PinnedCheckpoint {
    pub chain: Uuid,
    /// The report reads the entries with `seq < tree_size`.
    pub tree_size: u64,
    /// Merkle root, hex.
    pub root_hash: String,
    #[schema(value_type = String, format = DateTime)]
    pub signed_at: DateTime<Utc>,
    /// The C2SP signed note: check it with `GET /api/v1/keys`, prove entries against it
    /// with the chain's inclusion and consistency proofs.
    pub note: String,
}

impl PinnedCheckpoint {
    fn new(chain: Uuid, cp: &SignedCheckpoint) -> Self {
        Self {
            chain,
            tree_size: cp.tree_size,
            root_hash: hex32(&cp.root_hash),
            signed_at: cp.signed_at,
            note: cp.note.clone(),
        }
    }
}

/// The checkpoint parameters every report and export takes.
#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtSize {
    /// Compute at the fund chain's signed checkpoint of this size (default: the latest).
    #[serde(default, deserialize_with = "crate::extract::opt_u63")]
    pub at_size: Option<u64>,
    /// Flag statuses as of the administrative chain's checkpoint of this size (default:
    /// with `at_size`, the administrative chain as the fund's checkpoint saw it — its latest
    /// checkpoint signed by then — so the same `at_size` gives the same bytes for ever;
    /// without, the latest).
    #[serde(default, deserialize_with = "crate::extract::opt_u63")]
    pub admin_size: Option<u64>,
}

/// The checkpoint of `chain` at `size`, or its latest; 422 `no_checkpoint_at_size` when
/// no checkpoint of that size was signed (sizes inside a batch have none).
///
/// The checkpoint must verify with a key the service trusts (`Ledger::trusted_keys`): a
/// report is never pinned to a checkpoint found in the database but signed otherwise
/// (503 `ledger_integrity`). With a witness policy (`FUNDTRAIL_WITNESSES_REQUIRED`), it
/// must also be cosigned by the required witnesses: the default is then the latest
/// checkpoint they cosigned, and an explicit size they did not is 422 `not_witnessed`.
/// The pinned note is the log's signed note alone, so a report at a size stays the same
/// bytes whatever cosignatures arrive later.
pub fn checkpoint(
    conn: &mut PgConnection,
    ledger: &Ledger,
    chain: Uuid,
    size: Option<u64>,
) -> ApiResult<PinnedCheckpoint> {
    let policy = ledger.witness_policy();
    let size = match (size, policy) {
        (None, Some(p)) => Some(
            ledger_store::latest_witnessed_size(conn, chain, &p.witness_strings(), p.required)
                .map_err(internal)?
                .ok_or_else(|| ApiError::Unprocessable {
                    code: "not_witnessed",
                    detail: format!(
                        "no checkpoint of chain {chain} is cosigned by {} of the required \
                         witnesses yet; retry shortly",
                        p.required
                    ),
                })?,
        ),
        (size, _) => size,
    };
    let row = match size {
        Some(n) => ledger_store::checkpoint_at(conn, chain, n)
            .map_err(internal)?
            .ok_or_else(|| ApiError::Unprocessable {
                code: "no_checkpoint_at_size",
                detail: format!(
                    "no signed checkpoint of size {n}; use a tree_size from the chain's \
                     checkpoints (every committed append signs one)"
                ),
            })?,
        None => ledger_store::latest_checkpoint(conn, chain)
            .map_err(internal)?
            .ok_or_else(|| ApiError::NotFound("the chain has no checkpoint yet".to_owned()))?,
    };
    let cp = SignedCheckpoint::try_from(&row).map_err(internal)?;
    match crate::ledger::integrity::trusted_checkpoint(&cp.note, &ledger.trusted_keys(), None) {
        Ok(signed) if signed.size == cp.tree_size && signed.root == cp.root_hash => {}
        Ok(_) => {
            return Err(ApiError::LedgerIntegrity(format!(
                "the checkpoint of chain {chain} at size {} does not match its signed note",
                cp.tree_size
            )))
        }
        Err(why) => {
            return Err(ApiError::LedgerIntegrity(format!(
                "the checkpoint of chain {chain} at size {} is not vouched for: {why}",
                cp.tree_size
            )))
        }
    }
    if let Some(p) = policy {
        let cosigned =
            crate::ledger::service::cosigned(conn, chain, cp.clone()).map_err(ApiError::from)?;
        if let Err(e) = p.check(&cosigned.note) {
            return Err(ApiError::Unprocessable {
                code: "not_witnessed",
                detail: format!(
                    "the checkpoint of chain {chain} at size {} is not cosigned by {} of the \
                     required witnesses ({e})",
                    cp.tree_size, p.required
                ),
            });
        }
    }
    Ok(PinnedCheckpoint::new(chain, &cp))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("checkpoint: {e}"))
}

/// The fund, for a caller allowed to read whole-fund reports and exports: admins,
/// the fund's treasurers, its auditors and its donors. A ministry sees only its own
/// entries, so it gets 403; a caller who cannot see the fund gets 404.
pub fn fund_reader(conn: &mut PgConnection, p: &Principal, fund: Uuid) -> ApiResult<FundRow> {
    match policy::fund_scope(conn, p, fund)? {
        (row, Scope::Full) => Ok(row),
        (_, Scope::Ministry(_)) => Err(ApiError::Forbidden(
            "fund reports cover every ministry; a ministry reads its own entries and \
             balance at /api/v1/funds/{fund}/entries and /balances"
                .to_owned(),
        )),
    }
}

/// Both checkpoints a report names.
pub fn pins(
    conn: &mut PgConnection,
    ledger: &Ledger,
    fund: Uuid,
    at: AtSize,
) -> ApiResult<(PinnedCheckpoint, PinnedCheckpoint)> {
    let fund_cp = checkpoint(conn, ledger, fund, at.at_size)?;
    // A report asked at a size is the same bytes for ever: without `admin_size`, its flag
    // statuses are those of the administrative chain as the fund's checkpoint saw it (its
    // latest checkpoint signed by then). The latest report shows the latest triage.
    let admin_size = match (at.at_size, at.admin_size) {
        (_, Some(n)) => Some(n),
        // (Its first checkpoint, of size 0, when none was signed by then.)
        (Some(_), None) => Some(
            ledger_store::checkpoint_size_signed_by(conn, ADMIN_CHAIN, fund_cp.signed_at)
                .map_err(internal)?
                .unwrap_or(0),
        ),
        (None, None) => None,
    };
    Ok((fund_cp, checkpoint(conn, ledger, ADMIN_CHAIN, admin_size)?))
}
