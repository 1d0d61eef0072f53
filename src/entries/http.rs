//! Typed fund entries over HTTP: post one or a batch (answered with ledger receipts), read
//! them with filters, read the fund's balances. Handlers are thin: parse and check the
//! typed body, decide scope (`funds::policy`) and role (`may_post`), append with the
//! `FundEffect`.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::effect::{FundEffect, Screens};
use super::kinds::{FundEntry, FUND_FLOW_KINDS, KINDS};
use crate::auth::guard::{Principal, Role};
use crate::auth::party::{self, Party};
use crate::chains::http::{check_business_date, idempotency_key, BatchReceipts, ReceiptDto};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::funds::ctx::{Actor, FundCtx};
use crate::funds::policy::{self, Scope};
use crate::funds::state::{self, EntryFilter};
use crate::funds::view::{views, EntryView};
use crate::ledger::entry::Principal as LedgerPrincipal;
use crate::ledger::writer::{AppendRequest, MAX_BATCH_ENTRIES};
use crate::money::{self, Currency};
use crate::state::{with_conn, with_read, AppState};

#[derive(Debug, Deserialize)]
pub struct FundPath {
    pub fund: Uuid,
}

/// One typed entry: `kind` selects the schema of `body` (see `FundEntry`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFundEntry {
    /// One of the fund entry kinds (`FundEntry`).
    pub kind: String,
    /// When the fact happened (value date, invoice date, ...); not after today plus the
    /// configured skew.
    #[schema(value_type = String, format = Date)]
    pub business_date: NaiveDate,
    /// The kind's body, as in `FundEntry`.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFundBatchEntry {
    pub kind: String,
    #[schema(value_type = String, format = Date)]
    pub business_date: NaiveDate,
    pub idempotency_key: String,
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFundBatch {
    /// 1 to 1,000 entries, checked and appended in order, all or none.
    #[schema(min_items = 1, max_items = 1000)]
    pub entries: Vec<NewFundBatchEntry>,
}

/// Parses and checks what needs no database; the recorded body is the typed one.
pub(crate) fn typed(
    state: &AppState,
    kind: &str,
    date: NaiveDate,
    body: &serde_json::Value,
) -> ApiResult<(FundEntry, serde_json::Value)> {
    check_business_date(state, date)?;
    if kind == "evidence_attached" {
        return Err(ApiError::unprocessable(
            "evidence_by_upload",
            "a document is attached by uploading it to POST /api/v1/funds/{fund}/entries/{seq}/evidence, which records the evidence_attached entry",
        ));
    }
    typed_entry(kind, date, body)
}

/// Parses and checks a typed body (any kind, `evidence_attached` included).
pub fn typed_entry(
    kind: &str,
    date: NaiveDate,
    body: &serde_json::Value,
) -> ApiResult<(FundEntry, serde_json::Value)> {
    let entry = FundEntry::parse(kind, body).map_err(|i| ApiError::Unprocessable {
        code: i.code,
        detail: i.detail,
    })?;
    if entry.imported().is_some() {
        return Err(ApiError::Unprocessable {
            code: "imported_reserved",
            detail: "imported is written by the OCDS import only: the API's entries keep every rule of their kind".to_owned(),
        });
    }
    entry.check(date).map_err(|i| ApiError::Unprocessable {
        code: i.code,
        detail: i.detail,
    })?;
    let recorded = entry.body().map_err(ApiError::internal)?;
    Ok((entry, recorded))
}

/// Scope and role checks, then the effect the append runs.
pub async fn prepare(
    state: &web::Data<AppState>,
    screens: &web::Data<dyn Screens>,
    principal: &Principal,
    fund: Uuid,
    kinds: Vec<String>,
) -> ApiResult<Arc<FundEffect>> {
    let p = principal.clone();
    let (row, _) = with_conn(state, move |_, conn| policy::fund_scope(conn, &p, fund)).await?;
    for kind in &kinds {
        may_post(principal, kind)?;
    }
    let currency = Currency::parse(&row.currency)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("fund {fund} currency: {e}")))?;
    Ok(Arc::new(FundEffect {
        ctx: FundCtx { fund, currency },
        actor: Some(Actor {
            org: principal.org,
            role: principal.role,
        }),
        screens: screens.clone().into_inner(),
        screen: true,
    }))
}

/// May this caller post an entry of `kind` in a fund it can see? (Reversals: the role
/// that records the reversed kind, decided when the reversed entry is known.)
pub fn may_post(p: &Principal, kind: &str) -> ApiResult<()> {
    let fund_flow = FUND_FLOW_KINDS.contains(&kind);
    let known = KINDS.contains(&kind);
    match p.role {
        // A poster sending an unknown kind learns that it is unknown (422 later).
        Role::Treasurer | Role::Ministry if !known => Ok(()),
        // Screening thresholds and the approval policy are the auditors' (docs/screening.md,
        // docs/domain.md).
        Role::Auditor if kind == "screening_config" || kind == "approval_policy" => Ok(()),
        // Expiries are recorded by the service (`fundtrail approvals expire`).
        _ if kind == "approval_expired" => Err(ApiError::Forbidden(
            "an expiry is recorded by the service when a request's time runs out".to_owned(),
        )),
        Role::Treasurer | Role::Ministry if kind == "approval_policy" => Err(ApiError::Forbidden(
            "the approval policy is set by the fund's auditors".to_owned(),
        )),
        // A treasurer decides fund-flow requests, a ministry its procurement (decided
        // when the request is known).
        Role::Treasurer if kind == "approval" => Ok(()),
        // Evidence: the role that records the cited entry (decided when it is known).
        Role::Treasurer | Role::Ministry | Role::Auditor if kind == "evidence_attached" => Ok(()),
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

pub fn ledger_principal(p: &Principal) -> LedgerPrincipal {
    p.ledger_principal()
}

/// Record one typed entry (treasurer: pledge, contribution, allocation, disbursement,
/// fx_rate; ministry: expenditure and procurement for itself; either: reversal of what
/// its role records). A retry with the same `Idempotency-Key` returns the original receipt.
#[utoipa::path(post, path = "/api/v1/funds/{fund}/entries", tag = "funds", security(("bearer" = [])),
    request_body = NewFundEntry,
    params(("fund" = Uuid, Path), ("Idempotency-Key" = String, Header, description = "client-chosen key, unique per fund")),
    responses((status = 201, body = ReceiptDto), (status = 200, description = "Replayed", body = ReceiptDto),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn post_entry(
    principal: Principal,
    state: web::Data<AppState>,
    screens: web::Data<dyn Screens>,
    req: HttpRequest,
    path: Path<FundPath>,
    body: Json<NewFundEntry>,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let NewFundEntry {
        kind,
        business_date,
        body,
    } = body.into_inner();
    let effect = prepare(&state, &screens, &principal, fund, vec![kind.clone()]).await?;
    let key = idempotency_key(&req)?;
    let (entry, recorded) = typed(&state, &kind, business_date, &body)?;
    let receipt = state
        .ledger
        .append_one(
            fund,
            AppendRequest {
                kind: entry.kind().to_owned(),
                business_date,
                idempotency_key: key,
                body: recorded,
                principal: ledger_principal(&principal),
            },
            Some(effect),
        )
        .await?;
    let mut dto = ReceiptDto::from(receipt);
    name_contracts(&state, fund, std::slice::from_mut(&mut dto)).await?;
    dto.response()
}

/// A receipt that put a contract into effect names the contract's id: a contract entry
/// recorded at once, or the approval of a contract request. A contract request held for
/// approval has no contract (yet).
async fn name_contracts(
    state: &web::Data<AppState>,
    fund: Uuid,
    dtos: &mut [ReceiptDto],
) -> ApiResult<()> {
    let seqs: Vec<i64> = dtos
        .iter()
        .filter(|d| d.entry.kind == "contract" || d.entry.kind == "approval")
        .filter_map(|d| i64::try_from(d.seq).ok())
        .collect();
    if seqs.is_empty() {
        return Ok(());
    }
    let live = with_conn(state, move |_, conn| {
        let mut live = std::collections::HashSet::new();
        for s in seqs {
            if state::contract(conn, fund, s)?.is_some() {
                live.insert(s);
            }
        }
        Ok(live)
    })
    .await?;
    for d in dtos {
        if i64::try_from(d.seq).is_ok_and(|s| live.contains(&s)) {
            d.contract_id = Some(crate::procurement::rules::contract_id(fund, d.seq));
        }
    }
    Ok(())
}

/// Record up to 1,000 typed entries, all or none, in order (later entries may refer to
/// earlier ones of the same batch by their seq).
#[utoipa::path(post, path = "/api/v1/funds/{fund}/entries/batch", tag = "funds", security(("bearer" = [])),
    request_body = NewFundBatch, params(("fund" = Uuid, Path)),
    responses((status = 409, body = crate::error::Problem), (status = 201, body = BatchReceipts), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn post_batch(
    principal: Principal,
    state: web::Data<AppState>,
    screens: web::Data<dyn Screens>,
    path: Path<FundPath>,
    body: Json<NewFundBatch>,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let entries = body.into_inner().entries;
    if entries.is_empty() || entries.len() > MAX_BATCH_ENTRIES {
        return Err(ApiError::unprocessable(
            "batch_size",
            format!("a batch holds 1 to {MAX_BATCH_ENTRIES} entries"),
        ));
    }
    let mut kinds: Vec<String> = entries.iter().map(|e| e.kind.clone()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let effect = prepare(&state, &screens, &principal, fund, kinds).await?;
    let mut requests = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        let (entry, recorded) =
            typed(&state, &e.kind, e.business_date, &e.body).map_err(|err| match err {
                ApiError::Unprocessable { code, detail } => ApiError::Unprocessable {
                    code,
                    detail: format!("entries[{i}]: {detail}"),
                },
                other => other,
            })?;
        requests.push(AppendRequest {
            kind: entry.kind().to_owned(),
            business_date: e.business_date,
            idempotency_key: e.idempotency_key,
            body: recorded,
            principal: ledger_principal(&principal),
        });
    }
    let receipts = state.ledger.append_with(fund, requests, effect).await?;
    let mut batch = BatchReceipts::new(receipts)?;
    name_contracts(&state, fund, &mut batch.receipts).await?;
    batch.response()
}

// ---------------------------------------------------------------------------- reads

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EntryQuery {
    /// Only entries of this kind.
    pub kind: Option<String>,
    pub ministry: Option<Uuid>,
    pub vendor: Option<Uuid>,
    pub donor: Option<Uuid>,
    pub category: Option<String>,
    /// Business date on or after.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<NaiveDate>,
    /// Business date on or before.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
    /// Amount in the fund's currency, at least (decimal string).
    pub min_amount: Option<String>,
    /// Amount in the fund's currency, at most (decimal string).
    pub max_amount: Option<String>,
    /// Cursor: the `next_after` of the previous page (for this list, the seq of the last
    /// entry shown).
    #[param(value_type = Option<String>)]
    #[serde(default, deserialize_with = "crate::extract::opt_u63")]
    pub after: Option<u64>,
    /// 1 to 1000, default 100.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FundEntryPage {
    pub entries: Vec<EntryView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

fn amount_param(v: Option<String>, name: &str) -> ApiResult<Option<Decimal>> {
    v.map(|s| {
        money::parse_decimal(&s).map_err(|e| ApiError::InvalidParameter(format!("{name}: {e}")))
    })
    .transpose()
}

/// Typed entries of a fund, filtered, in seq order. A ministry sees only its own.
#[utoipa::path(get, path = "/api/v1/funds/{fund}/entries", tag = "funds", security(("bearer" = [])),
    params(("fund" = Uuid, Path), EntryQuery),
    responses((status = 200, body = FundEntryPage), (status = 404, body = crate::error::Problem)))]
pub async fn list_entries(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<FundPath>,
    query: Query<EntryQuery>,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let q = query.into_inner();
    let limit = crate::http::page_limit(q.limit)?;
    if let Some(k) = &q.kind {
        if !KINDS.contains(&k.as_str()) {
            return Err(ApiError::InvalidParameter(format!(
                "kind must be one of {}",
                KINDS.join(", ")
            )));
        }
    }
    let mut filter = EntryFilter {
        kind: q.kind,
        ministry: q.ministry,
        vendor: q.vendor,
        donor: q.donor,
        category: q.category,
        from: q.from,
        to: q.to,
        min_amount: amount_param(q.min_amount, "min_amount")?,
        max_amount: amount_param(q.max_amount, "max_amount")?,
        after: q.after.map(|a| i64::try_from(a).unwrap_or(i64::MAX)),
    };
    let page = with_read(&state, fund, move |_, conn| {
        let (row, scope) = policy::fund_scope(conn, &principal, fund)?;
        if let Scope::Ministry(own) = scope {
            if filter.ministry.is_some_and(|m| m != own) {
                return Ok(FundEntryPage {
                    entries: Vec::new(),
                    next_after: None,
                });
            }
            filter.ministry = Some(own);
        }
        let rows = state::list_entries(conn, fund, &filter, limit + 1)?;
        let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        let rows: Vec<_> = rows
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        let entries = views(conn, fund, &row.currency, &rows)?;
        let next_after = if more {
            entries.last().map(|e| e.seq.to_string())
        } else {
            None
        };
        Ok(FundEntryPage {
            entries,
            next_after,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The fund's figures (docs/api.md, "Glossary of money terms").
#[derive(Debug, Serialize, ToSchema)]
pub struct FundTotals {
    pub pledged: String,
    /// Σ contribution.
    pub contributed: String,
    /// Pledged minus contributed.
    pub outstanding: String,
    pub allocated: String,
    pub disbursed: String,
    /// Allocated minus disbursed.
    pub undisbursed: String,
    /// Contributed minus disbursed: what the fund can still disburse.
    pub available: String,
    pub expended: String,
    pub paid: String,
    /// Expended plus paid.
    pub spent: String,
    /// Disbursed minus spent: what the ministries hold of the fund's money.
    pub held: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MinistryBalance {
    pub ministry: Party,
    pub allocated: String,
    pub disbursed: String,
    /// Allocated minus disbursed.
    pub undisbursed: String,
    pub expended: String,
    pub paid: String,
    /// Expended plus paid.
    pub spent: String,
    /// Disbursed minus spent: what the ministry holds of the fund's money.
    pub held: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DonorBalance {
    pub donor: Party,
    pub pledged: String,
    /// Σ contribution.
    pub contributed: String,
    /// Pledged minus contributed.
    pub outstanding: String,
}

/// Balances in the fund's currency. Treasurers, auditors and admins see every ministry and
/// donor; a donor sees the fund's totals, the ministries and its own row; a ministry only
/// its own row.
#[derive(Debug, Serialize, ToSchema)]
pub struct Balances {
    pub fund: Uuid,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals: Option<FundTotals>,
    pub ministries: Vec<MinistryBalance>,
    pub donors: Vec<DonorBalance>,
}

/// The fund's derived balances, as of the last committed entry.
#[utoipa::path(get, path = "/api/v1/funds/{fund}/balances", tag = "funds", security(("bearer" = [])),
    params(("fund" = Uuid, Path)),
    responses((status = 200, body = Balances), (status = 404, body = crate::error::Problem)))]
pub async fn balances(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<FundPath>,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let out = with_conn(&state, move |_, conn| {
        let (row, scope) = policy::fund_scope(conn, &principal, fund)?;
        let fp = state::fund_position(conn, fund)?;
        let ccy = Currency::parse(&row.currency)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("fund currency: {e}")))?;
        let f = |d: Decimal| ccy.format(d);
        let ministry_rows: Vec<_> = state::ministry_positions_of(conn, fund)?
            .into_iter()
            .filter(|m| match scope {
                Scope::Ministry(own) => m.ministry_org_id == own,
                Scope::Full => true,
            })
            .collect();
        let donor_rows: Vec<_> = state::donor_positions_of(conn, fund)?
            .into_iter()
            .filter(|d| principal.role != Role::Donor || d.donor_org_id == principal.org)
            .filter(|_| matches!(scope, Scope::Full))
            .collect();
        let ids: Vec<Uuid> = ministry_rows
            .iter()
            .map(|m| m.ministry_org_id)
            .chain(donor_rows.iter().map(|d| d.donor_org_id))
            .collect();
        let names = party::names(conn, &ids)?;
        let ministries = ministry_rows
            .into_iter()
            .map(|m| {
                let spent = m.expended + m.paid;
                MinistryBalance {
                    ministry: party::party(&names, m.ministry_org_id),
                    allocated: f(m.allocated),
                    disbursed: f(m.disbursed),
                    undisbursed: f(m.allocated - m.disbursed),
                    expended: f(m.expended),
                    paid: f(m.paid),
                    spent: f(spent),
                    held: f(m.disbursed - spent),
                }
            })
            .collect();
        let donors = donor_rows
            .into_iter()
            .map(|d| DonorBalance {
                donor: party::party(&names, d.donor_org_id),
                pledged: f(d.pledged),
                contributed: f(d.received),
                outstanding: f(d.pledged - d.received),
            })
            .collect();
        let totals = matches!(scope, Scope::Full).then(|| {
            let spent = fp.expended + fp.paid;
            FundTotals {
                pledged: f(fp.pledged),
                contributed: f(fp.received),
                outstanding: f(fp.pledged - fp.received),
                allocated: f(fp.allocated),
                disbursed: f(fp.disbursed),
                undisbursed: f(fp.allocated - fp.disbursed),
                available: f(fp.available()),
                expended: f(fp.expended),
                paid: f(fp.paid),
                spent: f(spent),
                held: f(fp.disbursed - spent),
            }
        });
        Ok(Balances {
            fund,
            currency: row.currency,
            totals,
            ministries,
            donors,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

// ------------------------------------------------------------------ approval requests

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RequestQuery {
    /// Cursor: the `next_after` of the previous page (for this list, the seq of the last
    /// request shown).
    #[param(value_type = Option<String>)]
    #[serde(default, deserialize_with = "crate::extract::opt_u63")]
    pub after: Option<u64>,
    /// 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// An entry held for a second person's decision under the fund's approval policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalRequestView {
    /// Seq of the request (what an `approval` names as its `entry`).
    pub seq: u64,
    /// The requested entry's kind and body, as recorded.
    pub kind: String,
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    #[schema(value_type = String, format = Date)]
    pub business_date: NaiveDate,
    /// Ledger principal id of the user who recorded it: not the one who may decide it.
    pub maker: String,
    /// `treasurer` (fund flows) or `ministry` (the ministry's own procurement).
    pub approver_role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ministry: Option<Party>,
    /// Its amount in the fund's currency, above the policy's threshold.
    pub amount_fund: crate::funds::view::Amount,
    pub requested_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// Whether its time ran out (it can no longer be approved; the next expiry sweep
    /// records it as expired).
    pub expired: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalRequestList {
    pub requests: Vec<ApprovalRequestView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

/// Requests pending a second person's decision in the fund, oldest first: a treasurer
/// sees the fund-flow requests, a ministry its own ministry's procurement requests, an
/// auditor all of them; admins and donors are refused (403). Decide one by posting an
/// `approval` entry (`decision` `approved`, or `rejected` with a `reason`).
#[utoipa::path(get, path = "/api/v1/funds/{fund}/approval-requests", tag = "funds", security(("bearer" = [])),
    params(("fund" = Uuid, Path), RequestQuery),
    responses((status = 200, body = ApprovalRequestList), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn list_approval_requests(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<FundPath>,
    query: Query<RequestQuery>,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let q = query.into_inner();
    let limit = crate::http::page_limit(q.limit)?;
    let after = q
        .after
        .map(i64::try_from)
        .transpose()
        .map_err(|_| ApiError::InvalidParameter("after must be 0 to 2^63-1".to_owned()))?;
    let now = state.ledger.now();
    let out = with_conn(&state, move |_, conn| {
        let (row, scope) = policy::fund_scope(conn, &principal, fund)?;
        let (role, ministry) = match (principal.role, scope) {
            (Role::Treasurer, _) => (Some(Role::Treasurer.as_str()), None),
            (Role::Ministry, Scope::Ministry(own)) => (Some(Role::Ministry.as_str()), Some(own)),
            (Role::Auditor, _) => (None, None),
            _ => {
                return Err(ApiError::Forbidden(
                    "requests pending approval are listed for the fund's approvers and auditors"
                        .to_owned(),
                ))
            }
        };
        let ccy = Currency::parse(&row.currency)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("fund currency: {e}")))?;
        let mut rows = state::pending_requests(conn, fund, role, ministry, after, limit + 1)?;
        let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_after = if more {
            rows.last().map(|r| r.seq.to_string())
        } else {
            None
        };
        let ids: Vec<Uuid> = rows.iter().filter_map(|r| r.ministry_org_id).collect();
        let names = crate::auth::party::names(conn, &ids)?;
        let requests = rows
            .into_iter()
            .map(|r| {
                Ok(ApprovalRequestView {
                    seq: u64::try_from(r.seq).map_err(ApiError::internal)?,
                    kind: r.kind,
                    body: r.body,
                    business_date: r.business_date,
                    maker: r.maker,
                    approver_role: r.approver_role,
                    ministry: r.ministry_org_id.map(|id| party::party(&names, id)),
                    amount_fund: crate::funds::view::Amount {
                        value: ccy.format(r.amount_fund),
                        currency: row.currency.clone(),
                    },
                    requested_at: r.requested_at,
                    expires_at: r.expires_at,
                    expired: now >= r.expires_at,
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(ApprovalRequestList {
            requests,
            next_after,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/funds/{fund}/entries")
            .post(post_entry)
            .get(list_entries),
    )
    .service(web::resource("/funds/{fund}/entries/batch").post(post_batch))
    .service(web::resource("/funds/{fund}/balances").get(balances))
    .service(web::resource("/funds/{fund}/approval-requests").get(list_approval_requests));
}
