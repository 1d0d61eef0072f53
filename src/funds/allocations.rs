//! `GET /api/v1/funds/{fund}/allocations`: what the fund allocated to each ministry, how much
//! of it was disbursed and what is undisbursed, so a treasurer can see what a disbursement may
//! still take and a ministry what it may still receive. Scope as the fund's
//! (`policy::fund_scope`): a ministry sees its own allocations only.

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::policy::{self, Scope};
use super::state;
use crate::auth::guard::Principal;
use crate::auth::party::{self, Party};
use crate::error::ApiResult;
use crate::extract::Path;
use crate::money::Currency;
use crate::state::{with_conn, AppState};

/// One live allocation, in the fund's currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct AllocationView {
    /// The allocation entry's seq: what a disbursement names as `allocation`.
    pub seq: u64,
    pub ministry: Party,
    pub budget_line: String,
    pub category: String,
    #[schema(value_type = String, format = Date)]
    pub period_start: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub period_end: NaiveDate,
    /// The fund's currency (ISO 4217).
    pub currency: String,
    /// Allocated (decimal string).
    pub allocated: String,
    /// Disbursed against it so far, net of reversed disbursements.
    pub disbursed: String,
    /// Allocated − disbursed: the most a further disbursement may take.
    pub undisbursed: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Allocations {
    pub fund: Uuid,
    pub allocations: Vec<AllocationView>,
}

/// The fund's live allocations with what is disbursed and undisbursed (treasurer, auditor,
/// donor, admin: all; a ministry: its own).
#[utoipa::path(get, path = "/api/v1/funds/{fund}/allocations", tag = "funds", security(("bearer" = [])),
    params(("fund" = Uuid, Path)),
    responses((status = 200, body = Allocations), (status = 401, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)))]
pub async fn list_allocations(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let fund = path.into_inner();
    let out = with_conn(&state, move |_, conn| {
        let (row, scope) = policy::fund_scope(conn, &principal, fund)?;
        let ministry = match scope {
            Scope::Full => None,
            Scope::Ministry(m) => Some(m),
        };
        let rows = state::allocations_of(conn, fund, ministry)?;
        let ids: Vec<Uuid> = rows.iter().map(|a| a.ministry_org_id).collect();
        let names = party::names(conn, &ids)?;
        let ccy = Currency::parse(&row.currency).ok();
        let fmt = |v: rust_decimal::Decimal| ccy.map_or_else(|| v.to_string(), |c| c.format(v));
        let allocations = rows
            .into_iter()
            .map(|a| {
                let undisbursed = a
                    .amount_fund
                    .checked_sub(a.disbursed_fund)
                    .unwrap_or_default();
                Ok(AllocationView {
                    seq: u64::try_from(a.seq).map_err(crate::error::ApiError::internal)?,
                    ministry: party::party(&names, a.ministry_org_id),
                    budget_line: a.budget_line,
                    category: a.category,
                    period_start: a.period_start,
                    period_end: a.period_end,
                    currency: row.currency.clone(),
                    allocated: fmt(a.amount_fund),
                    disbursed: fmt(a.disbursed_fund),
                    undisbursed: fmt(undisbursed),
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(Allocations { fund, allocations })
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/funds/{fund}/allocations").get(list_allocations));
}
