//! Procurement as its readers see it: `POST/GET /api/v1/vendors` (organisations a ministry
//! may register) and `GET /api/v1/contracts/{id}`, a contract with its whole history.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::admin::{created_id, db_err, organization_name, record, Organization};
use crate::auth::guard::{Principal, Role};
use crate::auth::party::{self, Party};
use crate::auth::store as auth_store;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::funds::policy::{self, Scope};
use crate::funds::state;
use crate::funds::view::{views, EntryView};
use crate::state::{with_conn, AppState};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVendor {
    pub name: String,
}

/// Register a vendor (ministry or admin). Recorded in the administrative chain.
#[utoipa::path(post, path = "/api/v1/vendors", tag = "procurement", request_body = NewVendor, security(("bearer" = [])),
    responses((status = 201, body = Organization), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn register_vendor(
    principal: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<NewVendor>,
) -> ApiResult<HttpResponse> {
    if !matches!(principal.role, Role::Ministry | Role::Admin) {
        return Err(ApiError::Forbidden(
            "vendors are registered by ministries and admins".to_owned(),
        ));
    }
    let name = organization_name(&body.into_inner().name)?;
    let id = created_id(&req, &principal, "vendor_registered");
    let n = name.clone();
    record(
        &state,
        &req,
        &principal,
        "vendor_registered",
        json!({"organization": id, "name": name, "registered_by_org": principal.org}),
        move |conn, _| {
            auth_store::insert_org(conn, id, &n, "vendor")
                .map_err(|e| db_err(e, "organization_exists", "an organisation with this name"))
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(Organization {
        id,
        name,
        kind: "vendor".to_owned(),
        active: true,
        iati_ref: None,
    }))
}

/// Active vendors (any signed-in role: vendors are public parties of procurement).
#[utoipa::path(get, path = "/api/v1/vendors", tag = "procurement", security(("bearer" = [])),
    responses((status = 200, body = [Organization]), (status = 401, body = crate::error::Problem)))]
pub async fn list_vendors(
    _principal: Principal,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let rows = with_conn(&state, |_, conn| {
        Ok(auth_store::orgs_of_kind(conn, "vendor", 10_000)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(Organization::from).collect::<Vec<_>>()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContractView {
    pub id: Uuid,
    pub fund: Uuid,
    /// Seq of the contract entry in the fund's chain.
    pub seq: u64,
    pub tender_seq: u64,
    pub award_seq: u64,
    /// Procurement stage of the tender: open, awarded, contracted or cancelled.
    pub tender_stage: String,
    pub ministry: Party,
    pub vendor: Party,
    pub currency: String,
    pub original_value: String,
    /// With amendments.
    pub value: String,
    #[schema(value_type = String, format = Date)]
    pub starts_on: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub ends_on: NaiveDate,
    pub amendments: u32,
    pub invoiced: String,
    pub paid: String,
    pub reversed: bool,
    /// Tender, bids, bid disqualifications, award, contract, amendments, invoices,
    /// payments, approvals and reversals, in chain order; each seq can be proven at `/api/v1/chains/{fund}/entries/{seq}/proof`.
    pub history: Vec<EntryView>,
}

/// A seq as the API shows it.
pub(super) fn u(v: i64) -> ApiResult<u64> {
    u64::try_from(v).map_err(|_| ApiError::Internal(anyhow::anyhow!("negative seq {v}")))
}

/// A contract with its full history. Scoped like its fund; a ministry sees its own only.
#[utoipa::path(get, path = "/api/v1/contracts/{id}", tag = "procurement", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ContractView), (status = 404, body = crate::error::Problem)))]
pub async fn get_contract(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let view = with_conn(&state, move |_, conn| {
        let missing = || ApiError::NotFound("no such contract".to_owned());
        let c = state::contract_by_id(conn, id)?.ok_or_else(missing)?;
        let (fund, scope) =
            policy::fund_scope(conn, &principal, c.fund_id).map_err(|_| missing())?;
        if let Scope::Ministry(own) = scope {
            if own != c.ministry_org_id {
                return Err(missing());
            }
        }
        let tender = state::tender(conn, c.fund_id, c.tender_seq)?.ok_or_else(missing)?;
        let rows = state::tender_history(conn, c.fund_id, c.tender_seq)?;
        let history = views(conn, c.fund_id, &fund.currency, &rows)?;
        let names = party::names(conn, &[c.ministry_org_id, c.vendor_org_id])?;
        Ok(ContractView {
            id: c.id,
            fund: c.fund_id,
            seq: u(c.seq)?,
            tender_seq: u(c.tender_seq)?,
            award_seq: u(c.award_seq)?,
            tender_stage: tender.stage,
            ministry: party::party(&names, c.ministry_org_id),
            vendor: party::party(&names, c.vendor_org_id),
            currency: c.currency,
            original_value: c.original_value.to_string(),
            value: c.value.to_string(),
            starts_on: c.starts_on,
            ends_on: c.ends_on,
            amendments: u32::try_from(c.amendments).unwrap_or(0),
            invoiced: c.invoiced.to_string(),
            paid: c.paid.to_string(),
            reversed: c.reversed,
            history,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/vendors")
            .post(register_vendor)
            .get(list_vendors),
    )
    .service(web::resource("/contracts/{id}").get(get_contract));
}
