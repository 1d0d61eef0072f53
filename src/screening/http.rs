//! Flags over HTTP: list (filters, keyset), counts, one flag with its evidence and
//! history, and triage by the fund's auditors. Scope as the fund's (`funds::policy`): a
//! ministry sees the flags on its own entries; only auditors triage.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::store::{self, FlagFilter, FlagRow};
use crate::auth::admin::record;
use crate::auth::guard::{Principal, Role};
use crate::auth::party::{self, Party};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::funds::policy::{self, Scope};
use crate::funds::view::{views, EntryView};
use crate::ledger::writer::AppendError;
use crate::state::{with_conn, AppState};

/// The screens' rules, then bank reconciliation's (`bank::matching::RULES`, raised into the
/// same flags).
const RULES: [&str; 35] = [
    "round-amount",
    "backdated",
    "off-hours",
    "near-threshold",
    "payment-without-contract",
    "single-bidder",
    "award-above-bid",
    "identical-bids",
    "short-tender-period",
    "contract-inflation",
    "duplicate-payment",
    "split-purchase",
    "near-duplicate-payment",
    "payment-outside-contract-dates",
    "new-vendor-large",
    "lowest-bid-disqualified",
    "all-but-winner-disqualified",
    "bid-spread",
    "spending-before-funding",
    "self-approval",
    "over-contract",
    "vendor-concentration",
    "below-threshold-clustering",
    "benford",
    "velocity-spike",
    "non-competitive-share",
    "amount-outlier",
    "approval-missing",
    "invoice-document-missing",
    "bank-unrecorded-debit",
    "bank-unrecorded-credit",
    "bank-unpaid-entry",
    "bank-amount-mismatch",
    "bank-currency-mismatch",
    "bank-balance-differs",
];
const SEVERITIES: [&str; 3] = ["low", "medium", "high"];
const STATUSES: [&str; 5] = [
    "open",
    "acknowledged",
    "confirmed",
    "dismissed",
    "escalated",
];

#[derive(Debug, Serialize, ToSchema)]
pub struct Flag {
    pub id: Uuid,
    pub fund: Uuid,
    pub rule: String,
    pub severity: String,
    pub status: String,
    /// The entry that raised it; of a period flag, the last entry of its evidence.
    pub seq: u64,
    /// A period flag: what it is about and the period
    /// (`ministry:<id>[/vendor:<id>|/threshold:<amount>]/<from>..<to>`, `vendor:<id>/...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Seqs of the entries forming the evidence (the raising entry first; of a period
    /// flag, in seq order); each can be proven at `/api/v1/chains/{fund}/entries/{seq}/proof`.
    pub evidence: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ministry: Option<Party>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<Party>,
    pub message: String,
    #[schema(value_type = String, format = Date)]
    pub business_date: NaiveDate,
    pub raised_at: DateTime<Utc>,
}

impl Flag {
    /// The flag of `r`, its parties named from `names` (`party_names`).
    pub fn new(r: FlagRow, names: &HashMap<Uuid, String>) -> Self {
        Self {
            id: r.id,
            fund: r.fund_id,
            rule: r.rule,
            severity: r.severity,
            status: r.status,
            seq: u64::try_from(r.seq).unwrap_or_default(),
            subject: Some(r.subject).filter(|s| !s.is_empty()),
            evidence: r
                .evidence
                .into_iter()
                .flatten()
                .filter_map(|s| u64::try_from(s).ok())
                .collect(),
            ministry: r.ministry_org_id.map(|id| party::party(names, id)),
            vendor: r.vendor_org_id.map(|id| party::party(names, id)),
            message: r.message,
            business_date: r.business_date,
            raised_at: r.raised_at,
        }
    }
}

/// The names of the parties `rows` name.
fn party_names(
    conn: &mut diesel::PgConnection,
    rows: &[&FlagRow],
) -> ApiResult<HashMap<Uuid, String>> {
    let ids: Vec<Uuid> = rows
        .iter()
        .flat_map(|r| [r.ministry_org_id, r.vendor_org_id])
        .flatten()
        .collect();
    Ok(party::names(conn, &ids)?)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FlagQuery {
    pub ministry: Option<Uuid>,
    pub vendor: Option<Uuid>,
    pub rule: Option<String>,
    pub severity: Option<String>,
    pub status: Option<String>,
    /// Business date of the raising entry, on or after.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<NaiveDate>,
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
    /// Cursor: the `next_after` of the previous page (for this list,
    /// `<seq>/<rule>[/<subject>]` of the last flag shown).
    pub after: Option<String>,
    /// 1 to 1000, default 100.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagPage {
    pub flags: Vec<Flag>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

fn one_of(v: &Option<String>, allowed: &[&str], name: &str) -> ApiResult<()> {
    match v {
        Some(x) if !allowed.contains(&x.as_str()) => Err(ApiError::InvalidParameter(format!(
            "{name} must be one of {}",
            allowed.join(", ")
        ))),
        _ => Ok(()),
    }
}

#[derive(Debug, Deserialize)]
pub struct FundPath {
    pub fund: Uuid,
}

/// A fund's flags, filtered, in order of the entries that raised them.
#[utoipa::path(get, path = "/api/v1/funds/{fund}/flags", tag = "screening", security(("bearer" = [])),
    params(("fund" = Uuid, Path), FlagQuery),
    responses((status = 200, body = FlagPage), (status = 404, body = crate::error::Problem)))]
pub async fn list_flags(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<FundPath>,
    query: Query<FlagQuery>,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let q = query.into_inner();
    // The screens' rules and the data-quality family of imported evidence.
    let rules: Vec<&str> = RULES
        .iter()
        .copied()
        .chain(crate::entries::kinds::Dq::ALL.iter().map(|d| d.code()))
        .collect();
    one_of(&q.rule, &rules, "rule")?;
    one_of(&q.severity, &SEVERITIES, "severity")?;
    one_of(&q.status, &STATUSES, "status")?;
    let limit = crate::http::page_limit(q.limit)?;
    let after_seq = match &q.after {
        None => None,
        Some(a) => {
            let bad = || {
                ApiError::InvalidParameter(format!(
                    "after must be `<seq>/<rule>[/<subject>]`, seq an integer from 0 to {}",
                    crate::extract::U63_MAX
                ))
            };
            let (seq, rest) = a.split_once('/').ok_or_else(bad)?;
            let (rule, subject) = rest.split_once('/').unwrap_or((rest, ""));
            let seq = seq
                .parse::<u64>()
                .ok()
                .and_then(|s| i64::try_from(s).ok())
                .ok_or_else(bad)?;
            Some((seq, rule.to_owned(), subject.to_owned()))
        }
    };
    let mut filter = FlagFilter {
        ministry: q.ministry,
        vendor: q.vendor,
        rule: q.rule,
        severity: q.severity,
        status: q.status,
        from: q.from,
        to: q.to,
        after_seq,
    };
    let page = with_conn(&state, move |_, conn| {
        let (_, scope) = policy::fund_scope(conn, &principal, fund)?;
        if let Scope::Ministry(own) = scope {
            if filter.ministry.is_some_and(|m| m != own) {
                return Ok(FlagPage {
                    flags: Vec::new(),
                    next_after: None,
                });
            }
            filter.ministry = Some(own);
        }
        let mut rows = store::list(conn, fund, &filter, limit + 1)?;
        let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_after = if more {
            rows.last().map(|r| match r.subject.as_str() {
                "" => format!("{}/{}", r.seq, r.rule),
                subject => format!("{}/{}/{subject}", r.seq, r.rule),
            })
        } else {
            None
        };
        let names = party_names(conn, &rows.iter().collect::<Vec<_>>())?;
        Ok(FlagPage {
            flags: rows.into_iter().map(|r| Flag::new(r, &names)).collect(),
            next_after,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagCount {
    pub rule: String,
    pub severity: String,
    pub status: String,
    pub count: i64,
}

/// Flag counts by rule, severity and status.
#[utoipa::path(get, path = "/api/v1/funds/{fund}/flags/counts", tag = "screening", security(("bearer" = [])),
    params(("fund" = Uuid, Path)),
    responses((status = 200, body = [FlagCount]), (status = 404, body = crate::error::Problem)))]
pub async fn flag_counts(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<FundPath>,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let counts = with_conn(&state, move |_, conn| {
        let (_, scope) = policy::fund_scope(conn, &principal, fund)?;
        let ministry = match scope {
            Scope::Ministry(m) => Some(m),
            Scope::Full => None,
        };
        Ok(store::counts(conn, fund, ministry)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(
        counts
            .into_iter()
            .map(|(rule, severity, status, count)| FlagCount {
                rule,
                severity,
                status,
                count,
            })
            .collect::<Vec<_>>(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagEvent {
    pub action: String,
    pub from_status: String,
    pub to_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub actor: Uuid,
    pub actor_role: String,
    /// Seq of the administrative-chain entry recording it.
    pub admin_seq: u64,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagDetail {
    #[serde(flatten)]
    pub flag: Flag,
    /// The evidence entries themselves.
    pub evidence_entries: Vec<EntryView>,
    /// Every triage transition, oldest first.
    pub history: Vec<FlagEvent>,
}

/// The flag, its scope checked: a flag of a fund the caller cannot see, or (ministry) on
/// another ministry's entry, does not exist for it.
fn visible_flag(
    conn: &mut diesel::PgConnection,
    principal: &Principal,
    id: Uuid,
) -> ApiResult<(FlagRow, crate::funds::store::FundRow)> {
    let missing = || ApiError::NotFound("no such flag".to_owned());
    let flag = store::flag(conn, id)?.ok_or_else(missing)?;
    let (fund, scope) = policy::fund_scope(conn, principal, flag.fund_id).map_err(|_| missing())?;
    if let Scope::Ministry(own) = scope {
        if flag.ministry_org_id != Some(own) {
            return Err(missing());
        }
    }
    Ok((flag, fund))
}

/// One flag with its evidence entries and triage history.
#[utoipa::path(get, path = "/api/v1/flags/{id}", tag = "screening", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = FlagDetail), (status = 404, body = crate::error::Problem)))]
pub async fn get_flag(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let detail = with_conn(&state, move |_, conn| {
        let (flag, fund) = visible_flag(conn, &principal, id)?;
        let seqs: Vec<i64> = flag.evidence.iter().flatten().copied().collect();
        let mut rows = crate::funds::state::entries_at(conn, flag.fund_id, &seqs)?;
        rows.sort_by_key(|r| seqs.iter().position(|s| *s == r.seq));
        let evidence_entries = views(conn, flag.fund_id, &fund.currency, &rows)?;
        let names = party_names(conn, &[&flag])?;
        let history = store::events(conn, id)?
            .into_iter()
            .map(|e| FlagEvent {
                action: e.action,
                from_status: e.from_status,
                to_status: e.to_status,
                reason: e.reason,
                actor: e.actor_user_id,
                actor_role: e.actor_role,
                admin_seq: u64::try_from(e.admin_seq).unwrap_or_default(),
                at: e.at,
            })
            .collect();
        Ok(FlagDetail {
            flag: Flag::new(flag, &names),
            evidence_entries,
            history,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(detail))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Triage {
    /// acknowledge, confirm, dismiss, escalate or reopen.
    pub action: String,
    /// Required to dismiss; at most 2,000 characters.
    pub reason: Option<String>,
}

/// The status an action leads to from `from`, if allowed.
pub fn transition(from: &str, action: &str) -> Option<&'static str> {
    match (action, from) {
        ("acknowledge", "open") => Some("acknowledged"),
        ("confirm", "open" | "acknowledged" | "escalated") => Some("confirmed"),
        ("dismiss", "open" | "acknowledged" | "escalated") => Some("dismissed"),
        ("escalate", "open" | "acknowledged") => Some("escalated"),
        ("reopen", "acknowledged" | "confirmed" | "dismissed" | "escalated") => Some("open"),
        _ => None,
    }
}

/// Triage a flag (auditors of its fund). Recorded in the administrative chain as
/// `flag_triaged` with actor and reason, and in the flag's history, in one transaction.
#[utoipa::path(post, path = "/api/v1/flags/{id}/triage", tag = "screening", security(("bearer" = [])),
    request_body = Triage, params(("id" = Uuid, Path)),
    responses((status = 200, body = FlagDetail), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn triage(
    principal: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<Uuid>,
    body: Json<Triage>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let Triage { action, reason } = body.into_inner();
    let p = principal.clone();
    let (flag, _) = with_conn(&state, move |_, conn| visible_flag(conn, &p, id)).await?;
    if principal.role != Role::Auditor {
        return Err(ApiError::Forbidden(
            "flags are triaged by the fund's auditors".to_owned(),
        ));
    }
    if !["acknowledge", "confirm", "dismiss", "escalate", "reopen"].contains(&action.as_str()) {
        return Err(ApiError::unprocessable(
            "invalid_action",
            "action must be acknowledge, confirm, dismiss, escalate or reopen",
        ));
    }
    let reason = reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if action == "dismiss" && reason.is_none() {
        return Err(ApiError::unprocessable(
            "reason_required",
            "dismissing a flag needs a reason",
        ));
    }
    if reason.as_ref().is_some_and(|r| r.chars().count() > 2_000) {
        return Err(ApiError::unprocessable(
            "invalid_text",
            "the reason is at most 2,000 characters",
        ));
    }
    if let Some(r) = &reason {
        crate::text::check(r, "reason", crate::text::Text::Free)
            .map_err(|d| ApiError::unprocessable("invalid_text", d))?;
    }
    let (actor, role) = (principal.user, principal.role.as_str().to_owned());
    let (act, why) = (action.clone(), reason.clone());
    let now = state.ledger.now();
    let effect = move |conn: &mut diesel::PgConnection, entries: &[crate::ledger::entry::Entry]| {
        let current = store::flag_for_update(conn, id)?.ok_or(AppendError::Rejected {
            code: "not_found",
            detail: "no such flag".to_owned(),
        })?;
        let to = transition(&current.status, &act).ok_or_else(|| AppendError::Conflict {
            code: "invalid_transition",
            detail: format!("cannot {act} a flag that is {}", current.status),
        })?;
        let admin_seq = entries
            .first()
            .and_then(|e| i64::try_from(e.seq).ok())
            .ok_or_else(|| AppendError::Internal(anyhow::anyhow!("no entry")))?;
        store::set_status(conn, id, to)?;
        let triage_id = Uuid::new_v4();
        let (fund, ministry) = (current.fund_id, current.ministry_org_id);
        let names = party::names(
            conn,
            &[current.ministry_org_id, current.vendor_org_id]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        )?;
        let mut after = Flag::new(current.clone(), &names);
        after.status = to.to_owned();
        crate::notify::events::flag_triaged(
            conn,
            triage_id,
            (fund, ministry),
            json!({"flag": after, "triage": {"action": act, "from_status": current.status,
                   "to_status": to, "reason": why, "actor": actor, "actor_role": role,
                   "admin_seq": admin_seq, "at": now}}),
            now,
        )?;
        store::insert_event(
            conn,
            &store::FlagEventRow {
                id: triage_id,
                flag_id: id,
                action: act.clone(),
                from_status: current.status,
                to_status: to.to_owned(),
                reason: why.clone(),
                actor_user_id: actor,
                actor_role: role.clone(),
                admin_seq,
                at: now,
            },
        )?;
        Ok(())
    };
    record(
        &state,
        &req,
        &principal,
        "flag_triaged",
        json!({"flag": id, "fund": flag.fund_id, "rule": flag.rule, "seq": flag.seq,
               "action": action, "reason": reason}),
        effect,
    )
    .await?;
    get_flag(principal, state, Path::from(id)).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenRequest {
    /// First business date of the period.
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    /// Last business date of the period (included); at most 3,660 days after `from`.
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
}

/// Run the period screens (vendor concentration, below-threshold clustering, Benford,
/// velocity spike, non-competitive share, amount outlier, unspent disbursements) over a
/// period of the fund (its auditors). Re-running a period raises nothing twice.
/// Recorded in the administrative chain as `period_screen_run` with the counts, in the
/// transaction that inserts the flags.
#[utoipa::path(post, path = "/api/v1/funds/{fund}/screens", tag = "screening", security(("bearer" = [])),
    request_body = ScreenRequest, params(("fund" = Uuid, Path)),
    responses((status = 200, body = super::run::Summary), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn run_screens(
    principal: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<FundPath>,
    body: Json<ScreenRequest>,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let ScreenRequest { from, to } = body.into_inner();
    let p = principal.clone();
    let (fund_row, _) =
        with_conn(&state, move |_, conn| policy::fund_scope(conn, &p, fund)).await?;
    if principal.role != Role::Auditor {
        return Err(ApiError::Forbidden(
            "period screens are run by the fund's auditors".to_owned(),
        ));
    }
    let period = super::run::check_period(from, to)
        .map_err(|e| ApiError::unprocessable("invalid_period", e))?;
    let now = state.ledger.now();
    let (new, summary) = with_conn(&state, move |_, conn| {
        Ok(super::run::prepare(
            conn,
            fund,
            &fund_row.currency,
            period,
            now,
        )?)
    })
    .await?;
    record(
        &state,
        &req,
        &principal,
        "period_screen_run",
        super::run::entry_body(&summary, &principal.user.to_string()),
        super::run::effect(new),
    )
    .await?;
    Ok(HttpResponse::Ok().json(summary))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/funds/{fund}/flags").get(list_flags))
        .service(web::resource("/funds/{fund}/screens").post(run_screens))
        .service(web::resource("/funds/{fund}/flags/counts").get(flag_counts))
        .service(web::resource("/flags/{id}").get(get_flag))
        .service(web::resource("/flags/{id}/triage").post(triage));
}
