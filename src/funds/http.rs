//! Fund routes: admins create funds and assign auditors (each change recorded in the
//! administrative chain in the same transaction, which also creates the fund's chain);
//! `GET /api/v1/funds` lists the funds the caller's role and organisation may see.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::store::{self, FundRow};
use crate::auth::admin::{created_id, organization_name, record};
use crate::auth::guard::{AdminPrincipal, Principal};
use crate::auth::party::{self, Party};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::ledger::writer::AppendError;
use crate::money::Currency;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFund {
    pub name: String,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    /// The fund secretariat organisation that administers it.
    pub secretariat: Uuid,
    /// Screening settings by name (docs/screening.md), e.g. `{"amount_scale": "20"}`:
    /// recorded as the fund's first `screening_config` entry, so that the fund is screened
    /// with them from its first entry. A refused setting (`unknown_setting`,
    /// `invalid_setting`) refuses the creation: no fund is created.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub screening: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Fund {
    /// Also the id of the fund's ledger chain.
    pub id: Uuid,
    pub name: String,
    pub currency: String,
    /// The secretariat that administers it.
    pub secretariat: Party,
    /// False once deactivated: it takes no new entries.
    pub active: bool,
}

impl Fund {
    /// The fund of `f`, its secretariat named from `names`.
    fn new(f: FundRow, names: &HashMap<Uuid, String>) -> Self {
        Self {
            active: f.active,
            id: f.id,
            secretariat: party::party(names, f.secretariat_org_id),
            name: f.name,
            currency: f.currency,
        }
    }
}

/// Refuses unless `org` is an active organisation of `kind`.
fn require_kind(
    conn: &mut diesel::PgConnection,
    org: Uuid,
    kind: &str,
    what: &str,
) -> Result<(), AppendError> {
    match store::org_kind(conn, org)? {
        Some(k) if k == kind => Ok(()),
        Some(_) => Err(AppendError::Rejected {
            code: "wrong_organization_kind",
            detail: format!("the {what} must be an organisation of kind {kind}"),
        }),
        None => Err(AppendError::Rejected {
            code: "unknown_reference",
            detail: format!("no active organisation {org}"),
        }),
    }
}

/// What recording `fund_created` does in its transaction: check the secretariat, create
/// the fund's chain and the fund row. Shared by the admin API and `seed-demo`.
pub fn fund_effect(
    ledger: std::sync::Arc<crate::ledger::Ledger>,
    id: Uuid,
    name: String,
    currency: String,
    secretariat: Uuid,
) -> impl Fn(&mut diesel::PgConnection, &[crate::ledger::entry::Entry]) -> Result<(), AppendError>
       + Send
       + Sync
       + 'static {
    move |conn: &mut diesel::PgConnection, _: &[crate::ledger::entry::Entry]| {
        require_kind(conn, secretariat, "fund_secretariat", "secretariat")?;
        ledger.create_chain_with(conn, id, "fund").map_err(|e| {
            AppendError::Internal(anyhow::anyhow!("creating the fund's chain: {e}"))
        })?;
        store::insert_fund(conn, id, &name, &currency, secretariat).map_err(|e| match e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                AppendError::Conflict {
                    code: "fund_exists",
                    detail: "a fund with this name already exists".to_owned(),
                }
            }
            other => other.into(),
        })
    }
}

/// What recording `auditor_assigned` does in its transaction. Shared with `seed-demo`.
pub fn auditor_effect(
    fund: Uuid,
    org: Uuid,
) -> impl Fn(&mut diesel::PgConnection, &[crate::ledger::entry::Entry]) -> Result<(), AppendError>
       + Send
       + Sync
       + 'static {
    move |conn: &mut diesel::PgConnection, _: &[crate::ledger::entry::Entry]| {
        if !store::fund_exists(conn, fund)? {
            return Err(AppendError::Rejected {
                code: "not_found",
                detail: "no such fund".to_owned(),
            });
        }
        require_kind(conn, org, "audit_body", "auditor")?;
        store::insert_auditor(conn, fund, org).map_err(|e| match e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                AppendError::Conflict {
                    code: "auditor_already_assigned",
                    detail: "this audit body is already assigned to the fund".to_owned(),
                }
            }
            other => other.into(),
        })
    }
}

/// The name and currency of a new fund, checked: the name as organisations' names are,
/// the currency an ISO 4217 code with a minor unit.
pub fn checked_fund(name: &str, currency: &str) -> ApiResult<(String, Currency)> {
    let name = organization_name(name)?;
    let currency = Currency::parse(currency).map_err(|e| {
        ApiError::unprocessable(
            "invalid_currency",
            format!("currency must be an ISO 4217 code with a minor unit, such as EUR: {e}"),
        )
    })?;
    Ok((name, currency))
}

/// Records `fund_created` (and with it the fund's chain and row) for a fund checked by
/// `checked_fund`; the fund as created. `then` runs in the same transaction once the
/// fund's chain and row exist, with the fund's id: what it records commits with the
/// fund or not at all (a refusal leaves no fund, no chain and no `fund_created`). The
/// route (`POST /api/v1/admin/funds`) is the composition root's, whose `then` records the
/// fund's first screening settings.
pub async fn create_fund<F>(
    admin: &AdminPrincipal,
    state: &web::Data<AppState>,
    req: &HttpRequest,
    (name, currency, secretariat): (String, Currency, Uuid),
    then: F,
) -> ApiResult<Fund>
where
    F: Fn(&mut diesel::PgConnection, Uuid) -> Result<(), AppendError> + Send + Sync + 'static,
{
    let currency = currency.code().to_owned();
    let id = created_id(req, &admin.0, "fund_created");
    let create = fund_effect(
        state.ledger.clone(),
        id,
        name.clone(),
        currency.clone(),
        secretariat,
    );
    let effect = move |conn: &mut diesel::PgConnection, entries: &[crate::ledger::entry::Entry]| {
        create(conn, entries)?;
        then(conn, id)
    };
    let body = json!({"fund": id, "name": name, "currency": currency, "secretariat": secretariat});
    record(state, req, &admin.0, "fund_created", body, effect).await?;
    let names = crate::state::with_conn(state, move |_, conn| {
        Ok(party::names(conn, &[secretariat])?)
    })
    .await?;
    Ok(Fund {
        id,
        name,
        currency,
        secretariat: party::party(&names, secretariat),
        active: true,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignAuditor {
    /// An audit body.
    pub organization: Uuid,
}

/// Assign an audit body to a fund: its auditors may then read the fund.
#[utoipa::path(post, path = "/api/v1/admin/funds/{id}/auditors", tag = "admin", request_body = AssignAuditor,
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 403, body = crate::error::Problem), (status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn assign_auditor(
    admin: AdminPrincipal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<Uuid>,
    body: Json<AssignAuditor>,
) -> ApiResult<HttpResponse> {
    let fund = path.into_inner();
    let org = body.organization;
    let effect = auditor_effect(fund, org);
    let body = json!({"fund": fund, "organization": org});
    record(&state, &req, &admin.0, "auditor_assigned", body, effect).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The funds the caller may see (docs/security.md): all (admin), those its secretariat
/// administers (treasurer), its audit body is assigned to (auditor), its organisation
/// pledged or contributed to (donor), that allocated to it (ministry).
#[utoipa::path(get, path = "/api/v1/funds", tag = "funds", security(("bearer" = [])),
    responses((status = 200, body = [Fund]), (status = 401, body = crate::error::Problem)))]
pub async fn list_funds(
    principal: Principal,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let funds = crate::state::with_conn(&state, move |_, conn| {
        let rows = super::policy::visible_funds(conn, &principal)?;
        let ids: Vec<Uuid> = rows.iter().map(|f| f.secretariat_org_id).collect();
        let names = party::names(conn, &ids)?;
        Ok(rows
            .into_iter()
            .map(|f| Fund::new(f, &names))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(funds))
}

/// Deactivate a fund: it takes no new entries (422 `fund_inactive`); everything recorded
/// stays readable and verifiable.
#[utoipa::path(post, path = "/api/v1/admin/funds/{id}/deactivate", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 409, body = crate::error::Problem), (status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn deactivate_fund(
    admin: AdminPrincipal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let fund = path.into_inner();
    let effect = move |conn: &mut diesel::PgConnection, _: &[crate::ledger::entry::Entry]| {
        match store::set_fund_active(conn, fund, false)? {
            0 => Err(AppendError::Rejected {
                code: "not_found",
                detail: "no such fund".to_owned(),
            }),
            _ => Ok(()),
        }
    };
    record(
        &state,
        &req,
        &admin.0,
        "fund_deactivated",
        json!({"fund": fund}),
        effect,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicPage {
    /// True publishes the fund's public page (`/public/funds/{id}`), false withdraws it.
    pub published: bool,
}

/// Publish or withdraw a fund's public page: sources and uses, disbursements by ministry,
/// contracts awarded and the latest signed checkpoint, readable without signing in
/// (docs/web.md, "Public fund page"). Off until set.
#[utoipa::path(post, path = "/api/v1/admin/funds/{id}/public-page", tag = "admin", request_body = PublicPage,
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn set_public_page(
    admin: AdminPrincipal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<Uuid>,
    body: Json<PublicPage>,
) -> ApiResult<HttpResponse> {
    let fund = path.into_inner();
    let published = body.published;
    let effect = move |conn: &mut diesel::PgConnection, _: &[crate::ledger::entry::Entry]| {
        match store::set_public_page(conn, fund, published)? {
            0 => Err(AppendError::Rejected {
                code: "not_found",
                detail: "no such fund".to_owned(),
            }),
            _ => Ok(()),
        }
    };
    record(
        &state,
        &req,
        &admin.0,
        "fund_public_page_set",
        json!({"fund": fund, "published": published}),
        effect,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/admin/funds/{id}/public-page").post(set_public_page))
        .service(web::resource("/admin/funds/{id}/deactivate").post(deactivate_fund))
        .service(web::resource("/admin/funds/{id}/auditors").post(assign_auditor))
        .service(web::resource("/funds").get(list_funds));
}
