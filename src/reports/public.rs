//! The public view of a fund, for parliaments and civil society: what the fund's
//! administrators publish once they opt in (`POST /api/v1/admin/funds/{id}/public-page`,
//! recorded in the administrative chain).
//!
//! | route                           | who                                                     |
//! |---------------------------------|---------------------------------------------------------|
//! | `GET /api/v1/public/funds/{fund}` | anyone, without signing in, when the fund publishes it |
//!
//! Any other fund, or one that does not exist, answers the same 404. The answer is built
//! with no caller at all, from the fund's row and its latest signed checkpoint, and holds
//! only the parts typed below: sources (donors are organisations), uses by ministry, the
//! contracts awarded, and the checkpoint. Flags, their triage, users, entries and spending
//! by vendor are not in it, whoever asks.

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::figures::Conv;
use super::pin::{self, AtSize, PinnedCheckpoint};
use super::statement::{self, Checkpoints, FundRef, ReportCurrency, ReportPeriod, Sources, Uses};
use super::store;
use crate::auth::party::{self, Party};
use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::funds::state::{self as fund_state, ContractFilter};
use crate::money::Currency;
use crate::state::{with_conn, AppState};

/// Contracts the public view lists, oldest first; `contracts_truncated` says when the fund
/// has more.
pub const CONTRACTS_MAX: usize = 200;

#[derive(Debug, Deserialize)]
pub struct PublicPath {
    pub fund: Uuid,
}

/// A contract as the public sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicContract {
    pub id: Uuid,
    /// The contract entry's seq in the fund chain (below the checkpoint's size).
    pub seq: u64,
    pub ministry: Party,
    pub vendor: Party,
    /// ISO 4217.
    pub currency: String,
    /// Value after amendments, as recorded now.
    pub value: String,
    #[schema(value_type = String, format = Date)]
    pub starts_on: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub ends_on: NaiveDate,
}

/// The public view of a fund.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicFund {
    /// `public_fund`.
    pub report: &'static str,
    pub fund: FundRef,
    /// The fund chain's signed checkpoint the sources and uses were computed at; the
    /// contracts listed are those recorded below its size.
    pub checkpoint: PinnedCheckpoint,
    pub currency: ReportCurrency,
    pub sources: Sources,
    pub uses: Uses,
    /// Contracts in force (reversed ones left out), oldest first, at most 200.
    pub contracts: Vec<PublicContract>,
    /// True when the fund has more contracts than are listed.
    pub contracts_truncated: bool,
}

/// The fund, when it publishes its public view; the same 404 otherwise.
fn published(conn: &mut PgConnection, fund: Uuid) -> ApiResult<crate::funds::store::FundRow> {
    let row = crate::funds::store::fund(conn, fund)?.ok_or_else(crate::funds::policy::not_found)?;
    if !crate::funds::store::has_public_page(conn, fund)? {
        return Err(crate::funds::policy::not_found());
    }
    Ok(row)
}

/// The public view of `fund` at its latest signed checkpoint.
pub fn build(
    conn: &mut PgConnection,
    ledger: &crate::ledger::Ledger,
    block: i64,
    fund: Uuid,
) -> ApiResult<PublicFund> {
    let row = published(conn, fund)?;
    let (fund_cp, admin_cp) = pin::pins(conn, ledger, fund, AtSize::default())?;
    let size = i64::try_from(fund_cp.tree_size)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("checkpoint size: {e}")))?;
    let conv = Conv::identity(
        Currency::parse(&row.currency)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("fund currency: {e}")))?,
    );
    store::ensure_blocks(conn, fund, size, block)?;
    let rows = store::aggregate(conn, fund, size, block, None, None)?;
    let sums = statement::Sums::from_rows(&rows);
    let names = party::names(conn, &sums.parties())?;
    let statement = statement::build(
        statement::Context {
            fund: FundRef {
                id: row.id,
                name: row.name.clone(),
                currency: row.currency.clone(),
            },
            period: ReportPeriod {
                from: None,
                to: None,
            },
            checkpoints: Checkpoints {
                fund: fund_cp,
                admin: admin_cp,
            },
            conv: &conv,
            names: &names,
        },
        &sums,
        &[],
    );
    let filter = ContractFilter {
        ministry: None,
        vendor: None,
        reversed: false,
        after: None,
    };
    let limit = i64::try_from(CONTRACTS_MAX)
        .unwrap_or(i64::MAX)
        .saturating_add(1);
    let mut found: Vec<_> = fund_state::contracts_of(conn, fund, &filter, limit)?
        .into_iter()
        .filter(|c| c.seq < size)
        .collect();
    let contracts_truncated = found.len() > CONTRACTS_MAX;
    found.truncate(CONTRACTS_MAX);
    let ids: Vec<Uuid> = found
        .iter()
        .flat_map(|c| [c.ministry_org_id, c.vendor_org_id])
        .collect();
    let contract_names = party::names(conn, &ids)?;
    let contracts = found
        .into_iter()
        .map(|c| PublicContract {
            id: c.id,
            seq: u64::try_from(c.seq).unwrap_or_default(),
            ministry: party::party(&contract_names, c.ministry_org_id),
            vendor: party::party(&contract_names, c.vendor_org_id),
            currency: c.currency,
            value: c.value.to_string(),
            starts_on: c.starts_on,
            ends_on: c.ends_on,
        })
        .collect();
    Ok(PublicFund {
        report: "public_fund",
        fund: statement.fund,
        checkpoint: statement.checkpoints.fund,
        currency: statement.currency,
        sources: statement.sources,
        uses: statement.uses,
        contracts,
        contracts_truncated,
    })
}

/// `GET /api/v1/public/funds/{fund}`: the public view of a fund. Anyone, without a token,
/// when the fund's administrators publish it; 404 otherwise.
#[utoipa::path(get, path = "/api/v1/public/funds/{fund}", tag = "public",
    params(("fund" = Uuid, Path)),
    responses((status = 200, body = PublicFund),
        (status = 404, description = "No fund with this id publishes a public view", body = crate::error::Problem)))]
pub async fn public_fund(
    state: web::Data<AppState>,
    path: Path<PublicPath>,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let view = with_conn(&state, move |st, conn| {
        build(conn, &st.ledger, st.settings.report_block_entries, fund)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=60"))
        .json(view))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/public/funds/{fund}").get(public_fund));
}
