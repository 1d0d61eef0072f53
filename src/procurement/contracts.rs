//! `GET /api/v1/funds/{fund}/contracts`: a fund's contracts with their ids, parties and
//! totals, filtered by ministry or vendor and paged by seq, so a client finds a contract's
//! id (for `GET /api/v1/contracts/{id}`) without computing it. Scope as the fund's: a
//! ministry lists its own contracts only.

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::http::u;
use crate::auth::guard::Principal;
use crate::auth::party::{self, Party};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::funds::policy::{self, Scope};
use crate::funds::state::{self, ContractFilter};
use crate::state::{with_conn, AppState};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ContractQuery {
    /// Only this ministry's contracts (a ministry always sees only its own).
    pub ministry: Option<Uuid>,
    /// Only contracts with this vendor.
    pub vendor: Option<Uuid>,
    /// Include reversed contracts (default false).
    pub reversed: Option<bool>,
    /// Cursor: the `next_after` of the previous page (for this list, the seq of the last
    /// contract shown).
    #[param(value_type = Option<String>)]
    #[serde(default, deserialize_with = "crate::extract::opt_u63")]
    pub after: Option<u64>,
    /// 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A contract as the listing shows it; its whole history is at `GET /api/v1/contracts/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContractSummary {
    pub id: Uuid,
    /// The contract entry's seq in the fund's chain.
    pub seq: u64,
    pub tender_seq: u64,
    pub ministry: Party,
    pub vendor: Party,
    pub currency: String,
    /// Current value (decimal string), after amendments.
    pub value: String,
    pub invoiced: String,
    pub paid: String,
    pub amendments: u32,
    #[schema(value_type = String, format = Date)]
    pub starts_on: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub ends_on: NaiveDate,
    pub reversed: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContractPage {
    pub contracts: Vec<ContractSummary>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

/// The fund's contracts (treasurer, auditor, donor, admin: all; a ministry: its own).
#[utoipa::path(get, path = "/api/v1/funds/{fund}/contracts", tag = "procurement", security(("bearer" = [])),
    params(("fund" = Uuid, Path), ContractQuery),
    responses((status = 200, body = ContractPage), (status = 400, body = crate::error::Problem),
              (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn list_contracts(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<Uuid>,
    query: Query<ContractQuery>,
) -> ApiResult<HttpResponse> {
    let fund = path.into_inner();
    let q = query.into_inner();
    let limit = crate::http::page_limit(q.limit)?;
    let after = q
        .after
        .map(i64::try_from)
        .transpose()
        .map_err(|_| ApiError::InvalidParameter("after must be 0 to 2^63-1".to_owned()))?;
    let page = with_conn(&state, move |_, conn| {
        let (_, scope) = policy::fund_scope(conn, &principal, fund)?;
        let ministry = match scope {
            Scope::Full => q.ministry,
            // A ministry's own contracts, whatever it asks.
            Scope::Ministry(own) => match q.ministry {
                Some(m) if m != own => return Ok((Vec::new(), Default::default())),
                _ => Some(own),
            },
        };
        let filter = ContractFilter {
            ministry,
            vendor: q.vendor,
            reversed: q.reversed.unwrap_or(false),
            after,
        };
        let rows = state::contracts_of(conn, fund, &filter, limit + 1)?;
        let ids: Vec<Uuid> = rows
            .iter()
            .flat_map(|c| [c.ministry_org_id, c.vendor_org_id])
            .collect();
        Ok((rows, party::names(conn, &ids)?))
    })
    .await?;
    let (mut rows, names) = page;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_after = if more {
        rows.last()
            .map(|c| u(c.seq))
            .transpose()?
            .map(|seq| seq.to_string())
    } else {
        None
    };
    let contracts = rows
        .into_iter()
        .map(|c| {
            Ok(ContractSummary {
                id: c.id,
                seq: u(c.seq)?,
                tender_seq: u(c.tender_seq)?,
                ministry: party::party(&names, c.ministry_org_id),
                vendor: party::party(&names, c.vendor_org_id),
                currency: c.currency,
                value: c.value.to_string(),
                invoiced: c.invoiced.to_string(),
                paid: c.paid.to_string(),
                amendments: u32::try_from(c.amendments).unwrap_or(0),
                starts_on: c.starts_on,
                ends_on: c.ends_on,
                reversed: c.reversed,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(HttpResponse::Ok().json(ContractPage {
        contracts,
        next_after,
    }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/funds/{fund}/contracts").get(list_contracts));
}
