//! The bank reconciliation API (docs/reconciliation.md, "API"). Who may do what:
//!
//! | route | admin | treasurer | auditor | ministry | donor |
//! |---|---|---|---|---|---|
//! | register an account | yes | yes | 403 | 403 | 403 |
//! | list accounts, read a report | yes | yes | yes | its own accounts | yes |
//! | upload a statement | 403 | yes | yes | its own accounts | 403 |
//! | run reconciliation | 403 | yes | yes | 403 | 403 |
//! | change the settings | 403 | 403 | yes | 403 | 403 |
//!
//! A fund the caller cannot see is 404 (`funds::policy`); so is another ministry's
//! account for a ministry.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::csv::CsvMapping;
use super::effect::{AccountBody, ConfigBody};
use super::report::{self, AccountView, ReconciliationReport};
use super::service::{self, RecordedStatement, RunSummary};
use super::statement::StatementBody;
use super::store::{self, AccountRow};
use crate::auth::guard::{Principal, Role};
use crate::chains::http::ReceiptDto;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::funds::policy::{self, Scope};
use crate::ledger::Ledger;
use crate::money::Currency;
use crate::state::{with_conn, AppState};

#[derive(Debug, Deserialize, IntoParams)]
pub struct FundPath {
    pub fund: Uuid,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AccountPath {
    pub fund: Uuid,
    /// The account's id.
    pub account: Uuid,
}

/// An account to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// The account as its statements name it: an IBAN or the bank's identifier (1 to 64
    /// letters, digits, spaces or hyphens).
    pub account: String,
    pub currency: Currency,
    /// `secretariat` (the fund's own account) or `ministry`.
    pub owner: String,
    /// The ministry, for a ministry's account.
    #[serde(default)]
    pub ministry: Option<Uuid>,
    /// 1 to 200 characters.
    pub name: String,
}

/// A statement file, as text.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementUpload {
    /// `camt.053` (ISO 20022 XML, versions .001.02 and .001.08) or `csv`.
    pub format: String,
    /// The file's content.
    pub content: String,
    /// How to read a CSV file (required for `csv`).
    #[serde(default)]
    pub csv: Option<CsvMapping>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    pub statements: Vec<RecordedStatement>,
    /// The reconciliation run that followed.
    pub reconciliation: RunSummary,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// First booking and business date of the period.
    #[param(value_type = String, format = Date)]
    pub from: NaiveDate,
    /// Last date of the period.
    #[param(value_type = String, format = Date)]
    pub to: NaiveDate,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

fn ledger_of(state: &web::Data<AppState>) -> Arc<Ledger> {
    state.ledger.clone()
}

/// Reads statements from an upload or a file, checked against `account`. A camt.053
/// file is first validated against the official schema of its version (`xsd`); this
/// blocks on the validator, so async callers run it on the blocking pool.
pub fn read_statements(
    format: &str,
    content: &str,
    mapping: Option<&CsvMapping>,
    account: &AccountRow,
) -> ApiResult<Vec<StatementBody>> {
    let refused = |e: super::statement::StatementError| ApiError::Unprocessable {
        code: e.code,
        detail: e.detail,
    };
    let statements = match (format, mapping) {
        ("camt.053", _) => {
            let verdict =
                super::xsd::verdict(content).map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
            if let Some(e) = super::xsd::refusal(&verdict) {
                return Err(refused(e));
            }
            super::camt::parse(content).map_err(refused)?
        }
        ("csv", Some(m)) => {
            let mut s = super::csv::parse(content, m, &account.currency).map_err(refused)?;
            s.account.clone_from(&account.account);
            vec![s]
        }
        ("csv", None) => {
            return Err(ApiError::unprocessable(
                "csv_mapping_required",
                "a CSV statement needs its column mapping (csv)",
            ))
        }
        (other, _) => {
            return Err(ApiError::unprocessable(
                "unsupported_format",
                format!("format is camt.053 or csv, not {other:?}"),
            ))
        }
    };
    statements
        .iter()
        .map(|s| {
            super::statement::check(s, account.id, &account.account, &account.currency)
                .map_err(refused)
        })
        .collect()
}

/// The fund's account for this caller, or 404; a ministry knows only its own.
async fn account_for(
    state: &web::Data<AppState>,
    principal: &Principal,
    fund: Uuid,
    account: Uuid,
) -> ApiResult<AccountRow> {
    let p = principal.clone();
    with_conn(state, move |_, conn| {
        let (_, scope) = policy::fund_scope(conn, &p, fund)?;
        let found = store::accounts_of(conn, fund)?
            .into_iter()
            .find(|a| a.id == account)
            .filter(|a| match scope {
                Scope::Full => true,
                Scope::Ministry(m) => a.ministry_org_id == Some(m),
            });
        found.ok_or_else(|| ApiError::NotFound("no such bank account".to_owned()))
    })
    .await
}

/// Register a bank account of the fund: the secretariat's or a ministry's (admin,
/// treasurer). The same account registered again with the same details returns the
/// first registration (200); with other details, 409.
#[utoipa::path(post, path = "/api/v1/funds/{fund}/bank/accounts", tag = "bank", security(("bearer" = [])),
    request_body = NewAccount, params(FundPath),
    responses((status = 201, body = AccountView), (status = 200, description = "Already registered", body = AccountView),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn register_account(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<FundPath>,
    body: Json<NewAccount>,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let p = principal.clone();
    with_conn(&state, move |_, conn| policy::fund_scope(conn, &p, fund)).await?;
    if !matches!(principal.role, Role::Admin | Role::Treasurer) {
        return Err(ApiError::Forbidden(
            "bank accounts are registered by an admin or the fund's treasurer".to_owned(),
        ));
    }
    let b = body.into_inner();
    let body = AccountBody {
        id: Uuid::new_v5(
            &fund,
            super::statement::normalise_account(&b.account).as_bytes(),
        ),
        account: b.account,
        currency: b.currency,
        owner: b.owner,
        ministry: b.ministry,
        name: b.name,
    };
    body.check()
        .map_err(|e| ApiError::unprocessable("invalid_body", e))?;
    let receipt = service::register_account(
        &ledger_of(&state),
        principal.ledger_principal(),
        fund,
        body.clone(),
    )
    .await?;
    let ministry = body.ministry;
    let names = with_conn(&state, move |_, conn| {
        Ok(crate::auth::party::names(
            conn,
            &ministry.into_iter().collect::<Vec<_>>(),
        )?)
    })
    .await?;
    let view = AccountView {
        id: body.id,
        account: body.account,
        currency: body.currency.code().to_owned(),
        owner: body.owner,
        ministry: ministry.map(|id| crate::auth::party::party(&names, id)),
        name: body.name,
        seq: i64::try_from(receipt.entry.seq).map_err(ApiError::internal)?,
    };
    Ok(if receipt.replayed {
        HttpResponse::Ok().json(view)
    } else {
        HttpResponse::Created().json(view)
    })
}

/// The fund's bank accounts (a ministry: its own).
#[utoipa::path(get, path = "/api/v1/funds/{fund}/bank/accounts", tag = "bank", security(("bearer" = [])),
    params(FundPath),
    responses((status = 200, body = AccountList), (status = 404, body = crate::error::Problem)))]
pub async fn list_accounts(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<FundPath>,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let accounts = with_conn(&state, move |_, conn| {
        let (_, scope) = policy::fund_scope(conn, &principal, fund)?;
        let rows: Vec<_> = store::accounts_of(conn, fund)?
            .into_iter()
            .filter(|a| match scope {
                Scope::Full => true,
                Scope::Ministry(m) => a.ministry_org_id == Some(m),
            })
            .collect();
        let ids: Vec<Uuid> = rows.iter().filter_map(|a| a.ministry_org_id).collect();
        let names = crate::auth::party::names(conn, &ids)?;
        Ok(rows.iter().map(|a| AccountView::of(a, &names)).collect())
    })
    .await?;
    Ok(HttpResponse::Ok().json(AccountList { accounts }))
}

/// Upload a statement of the account (camt.053 or CSV with its mapping): each statement
/// becomes a `bank_statement` entry (a statement recorded before is not added again),
/// then the fund is reconciled. Treasurer and auditor: any account of the fund; ministry:
/// its own accounts.
#[utoipa::path(post, path = "/api/v1/funds/{fund}/bank/accounts/{account}/statements", tag = "bank",
    security(("bearer" = [])), request_body = StatementUpload, params(AccountPath),
    responses((status = 201, body = ImportResult), (status = 200, description = "Every statement was recorded before", body = ImportResult),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn upload_statement(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<AccountPath>,
    body: Json<StatementUpload>,
) -> ApiResult<HttpResponse> {
    let account = account_for(&state, &principal, path.fund, path.account).await?;
    if !matches!(
        principal.role,
        Role::Treasurer | Role::Auditor | Role::Ministry
    ) {
        return Err(ApiError::Forbidden(
            "statements are uploaded by the fund's treasurer, its auditors or the account's ministry"
                .to_owned(),
        ));
    }
    let upload = body.into_inner();
    let statements = web::block(move || {
        read_statements(
            &upload.format,
            &upload.content,
            upload.csv.as_ref(),
            &account,
        )
    })
    .await??;
    let ledger = ledger_of(&state);
    let recorded =
        service::record_statements(&ledger, principal.ledger_principal(), path.fund, statements)
            .await?;
    let reconciliation = service::reconcile(&ledger, path.fund).await?;
    service::announce_import(&ledger, path.fund, path.account, &recorded, &reconciliation).await?;
    let fresh = recorded.iter().any(|s| !s.replayed);
    let result = ImportResult {
        statements: recorded,
        reconciliation,
    };
    Ok(if fresh {
        HttpResponse::Created().json(result)
    } else {
        HttpResponse::Ok().json(result)
    })
}

/// Reconcile the fund now (treasurer, auditor): match what is open, raise flags for what
/// does not reconcile. Runs after every upload by itself; run it after recording entries
/// late.
#[utoipa::path(post, path = "/api/v1/funds/{fund}/bank/reconcile", tag = "bank", security(("bearer" = [])),
    params(FundPath),
    responses((status = 200, body = RunSummary), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn run_reconciliation(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<FundPath>,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let p = principal.clone();
    with_conn(&state, move |_, conn| policy::fund_scope(conn, &p, fund)).await?;
    if !matches!(principal.role, Role::Treasurer | Role::Auditor) {
        return Err(ApiError::Forbidden(
            "reconciliation is run by the fund's treasurer or its auditors".to_owned(),
        ));
    }
    let summary = service::reconcile(&ledger_of(&state), fund).await?;
    Ok(HttpResponse::Ok().json(summary))
}

/// Change the fund's reconciliation settings (auditor): a `reconciliation_config` entry;
/// the named settings replace the current ones. Requires an `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/funds/{fund}/bank/settings", tag = "bank", security(("bearer" = [])),
    request_body = ConfigBody,
    params(FundPath, ("Idempotency-Key" = String, Header, description = "client-chosen key, unique per fund")),
    responses((status = 201, body = ReceiptDto), (status = 200, description = "Replayed", body = ReceiptDto),
              (status = 400, body = crate::error::Problem), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn configure(
    principal: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<FundPath>,
    body: Json<ConfigBody>,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let p = principal.clone();
    with_conn(&state, move |_, conn| policy::fund_scope(conn, &p, fund)).await?;
    if principal.role != Role::Auditor {
        return Err(ApiError::Forbidden(
            "reconciliation settings are changed by the fund's auditors".to_owned(),
        ));
    }
    let body = body.into_inner();
    let n = body.reason.chars().count();
    if n == 0 || n > 500 || body.reason.trim() != body.reason {
        return Err(ApiError::unprocessable(
            "invalid_text",
            "reason is 1 to 500 characters, no padding",
        ));
    }
    let key = crate::chains::http::idempotency_key(&req)?;
    let receipt = service::configure(
        &ledger_of(&state),
        principal.ledger_principal(),
        fund,
        key,
        body,
    )
    .await?;
    ReceiptDto::from(receipt).response()
}

/// The reconciliation report of an account over a period (JSON, or CSV with
/// `format=csv`): matched lines, unmatched lines, entries not seen at the bank, and the
/// bank's closing balance against the ledger's.
#[utoipa::path(get, path = "/api/v1/funds/{fund}/bank/accounts/{account}/reconciliation", tag = "bank",
    security(("bearer" = [])), params(AccountPath, ReportQuery),
    responses((status = 200, body = ReconciliationReport, content_type = "application/json"),
              (status = 400, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn account_report(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<AccountPath>,
    query: Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::InvalidParameter(format!(
                "format must be json or csv, not {other:?}"
            )))
        }
    };
    if q.from > q.to {
        return Err(ApiError::InvalidParameter("from is after to".to_owned()));
    }
    let account = account_for(&state, &principal, path.fund, path.account).await?;
    let (from, to) = (q.from, q.to);
    let report = with_conn(&state, move |_, conn| {
        report::build(conn, &account, from, to)
    })
    .await?;
    if csv {
        let body = report::csv(&report).map_err(ApiError::internal)?;
        Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(body))
    } else {
        Ok(HttpResponse::Ok().json(report))
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/funds/{fund}/bank/accounts")
            .post(register_account)
            .get(list_accounts),
    )
    .service(
        web::resource("/funds/{fund}/bank/accounts/{account}/statements").post(upload_statement),
    )
    .service(
        web::resource("/funds/{fund}/bank/accounts/{account}/reconciliation").get(account_report),
    )
    .service(web::resource("/funds/{fund}/bank/reconcile").post(run_reconciliation))
    .service(web::resource("/funds/{fund}/bank/settings").post(configure));
}
