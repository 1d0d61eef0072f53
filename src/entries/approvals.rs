//! Two-person control (docs/domain.md, "Two-person control"): the fund's approval policy
//! (`approval_policy`, recorded by an auditor), and what becomes of an entry the policy
//! covers. Above the policy's threshold an entry is recorded as a *request*: it is in the
//! chain with its own kind and body, its invariants were checked, and it takes no effect
//! — no balance, allocation use, contract total, report or screen sees it — until another
//! user of the deciding organisation approves it. The approval applies the requested entry
//! at the approval's own seq (its index and derived rows are the approval's, so a report
//! pinned below the approval never counts it, one pinned above always does), checking every
//! invariant again. A rejection (with a reason) or an expiry (`approval_expired`, recorded
//! by the service once the policy's time ran out) closes the request with no effect.
//!
//! `record_request` is where a request is created; `state::pending_requests` lists what
//! is waiting.

use chrono::{DateTime, Duration, Utc};
use diesel::Connection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::apply::apply_effect;
use super::effect::Screens;
use super::kinds::FundEntry;
use crate::auth::guard::Role;
use crate::funds::ctx::{reject, require_org, row, seq_i64, unknown, Posting, Result};
use crate::funds::derived::Derived;
use crate::funds::kinds::{amount, free_text, invalid, Invalid};
use crate::funds::state::{self, ApprovalPolicyRow, ApprovalRequestRow};
use crate::ledger::writer::AppendError;
use crate::money::Money;
use crate::procurement::kinds::{Approval, Decision};

/// The kinds a policy can require a second person for.
pub const COVERED_KINDS: [&str; 4] = ["disbursement", "contract", "contract_amendment", "payment"];

/// The longest time a request may wait (90 days).
pub const EXPIRY_HOURS_MAX: u32 = 2_160;

/// Rules a policy may hold.
pub const RULES_MAX: usize = 100;

/// One rule: entries of `kind` whose amount in the fund's currency is above `above` need
/// a second person. A rule naming a ministry applies to that ministry's entries and takes
/// precedence over the rule for the kind without one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    /// `disbursement`, `contract`, `contract_amendment` (the amount is the increase of
    /// the contract's value) or `payment`.
    pub kind: String,
    /// The threshold, in the fund's currency: amounts strictly above it need approval.
    pub above: Money,
    /// Only this ministry's entries (the receiving ministry of a disbursement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ministry: Option<Uuid>,
}

/// The fund's approval policy, recorded by an auditor: it replaces the policy in force
/// (an empty `rules` lifts two-person control). Requests already pending keep the
/// expiry they were given.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    pub rules: Vec<PolicyRule>,
    /// Hours a request waits for a decision before it expires (1 to 2,160).
    pub expiry_hours: u32,
    pub reason: String,
}

/// A request whose time ran out undecided, recorded by the service
/// (`fundtrail approvals expire`); it never takes effect.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalExpired {
    /// Seq of the request.
    pub entry: u64,
}

impl ApprovalPolicy {
    /// The rules that need no database.
    pub fn check(&self) -> std::result::Result<(), Invalid> {
        if self.rules.len() > RULES_MAX {
            return Err(invalid(
                "invalid_body",
                format!("a policy holds at most {RULES_MAX} rules"),
            ));
        }
        if self.expiry_hours == 0 || self.expiry_hours > EXPIRY_HOURS_MAX {
            return Err(invalid(
                "invalid_body",
                format!("expiry_hours is 1 to {EXPIRY_HOURS_MAX}"),
            ));
        }
        for (i, r) in self.rules.iter().enumerate() {
            if !COVERED_KINDS.contains(&r.kind.as_str()) {
                return Err(invalid(
                    "invalid_body",
                    format!(
                        "rules[{i}].kind: one of {}, got {:?}",
                        COVERED_KINDS.join(", "),
                        r.kind
                    ),
                ));
            }
            amount(&r.above, &format!("rules[{i}].above"))?;
            if self
                .rules
                .iter()
                .take(i)
                .any(|o| o.kind == r.kind && o.ministry == r.ministry)
            {
                return Err(invalid(
                    "invalid_body",
                    format!("rules[{i}]: one rule per kind and ministry"),
                ));
            }
        }
        free_text(&self.reason, "reason", 500)
    }

    /// The rule that applies to an entry of `kind` for `ministry`, if any.
    pub fn rule_for(&self, kind: &str, ministry: Option<Uuid>) -> Option<&PolicyRule> {
        let of_kind = || self.rules.iter().filter(move |r| r.kind == kind);
        of_kind()
            .find(|r| r.ministry.is_some() && r.ministry == ministry)
            .or_else(|| of_kind().find(|r| r.ministry.is_none()))
    }
}

impl ApprovalExpired {
    pub fn check(&self) -> std::result::Result<(), Invalid> {
        Ok(())
    }
}

fn internal(e: impl std::fmt::Display) -> AppendError {
    AppendError::Internal(anyhow::anyhow!("approval policy: {e}"))
}

/// The role that decides requests of `kind`: the fund's treasurers for a disbursement,
/// the ministry's own officers for procurement.
pub fn approver_role(kind: &str) -> Role {
    if kind == "disbursement" {
        Role::Treasurer
    } else {
        Role::Ministry
    }
}

/// Applies an `approval_policy` entry: thresholds in the fund's currency, ministries
/// that exist; the policy replaces the one in force.
pub fn policy(st: &mut Derived<'_>, p: &Posting<'_>, e: &ApprovalPolicy) -> Result<()> {
    let s = p.seq_i64()?;
    for (i, r) in e.rules.iter().enumerate() {
        if r.above.currency != p.ctx.currency {
            return Err(reject(
                "currency_mismatch",
                format!(
                    "rules[{i}].above is in the fund's currency {}; got {}",
                    p.ctx.currency, r.above.currency
                ),
            ));
        }
        if let Some(m) = r.ministry {
            require_org(st, p.actor, m, "ministry", &format!("rules[{i}].ministry"))?;
        }
    }
    let hours =
        i32::try_from(e.expiry_hours).map_err(|_| reject("invalid_body", "expiry_hours"))?;
    st.save_approval_policy(&ApprovalPolicyRow {
        fund_id: p.ctx.fund,
        seq: s,
        expiry_hours: hours,
        rules: serde_json::to_value(&e.rules).map_err(internal)?,
    })?;
    Ok(st.save_entry(&row(p.ctx, s, "approval_policy", p.date))?)
}

/// Why a covered entry needs a second person.
#[derive(Debug, Clone)]
pub struct Requirement {
    pub ministry: Option<Uuid>,
    pub amount_fund: Decimal,
    pub policy_seq: i64,
    pub expiry_hours: u32,
}

/// The refusal that ends a dry run whose entry applied: never leaves this module.
const DRY_RUN_APPLIED: &str = "dry_run_applied";

/// Whether `entry` needs a second person under the fund's policy. The entry is applied
/// for real in a savepoint that is then rolled back: its invariants are checked exactly
/// as an immediate entry's (a refusal is returned as such), and the index row it would
/// have written gives its amount in the fund's currency and its ministry. Imported
/// evidence records what a publisher already did and is never held.
pub fn requirement(
    st: &mut Derived<'_>,
    p: &Posting<'_>,
    entry: &FundEntry,
    screens: &dyn Screens,
) -> Result<Option<Requirement>> {
    let kind = entry.kind();
    if !COVERED_KINDS.contains(&kind) || entry.imported().is_some() {
        return Ok(None);
    }
    let Some(policy) = st.approval_policy()? else {
        return Ok(None);
    };
    let rules: Vec<PolicyRule> = serde_json::from_value(policy.rules).map_err(internal)?;
    if !rules.iter().any(|r| r.kind == kind) {
        return Ok(None);
    }
    let seq = p.seq_i64()?;
    let fund = p.ctx.fund;
    // What the job changed so far must be visible to the dry run's own reads.
    st.flush()?;
    let mut indexed = None;
    let outcome = st.conn.transaction::<(), AppendError, _>(|c| {
        let mut scratch = Derived::new(c, fund);
        apply_effect(&mut scratch, p, entry, screens)?;
        indexed = scratch.entry(seq)?;
        Err(reject(DRY_RUN_APPLIED, ""))
    });
    match outcome {
        Err(AppendError::Rejected {
            code: DRY_RUN_APPLIED,
            ..
        }) => {}
        Err(e) => return Err(e),
        Ok(()) => return Err(internal("a dry run committed")),
    }
    let indexed = indexed.ok_or_else(|| internal(format!("{kind} wrote no index row")))?;
    let amount_fund = indexed.amount_fund.unwrap_or_default();
    let by_policy = ApprovalPolicy {
        rules,
        expiry_hours: u32::try_from(policy.expiry_hours).map_err(internal)?,
        reason: String::new(),
    };
    Ok(by_policy
        .rule_for(kind, indexed.ministry_org_id)
        .filter(|r| amount_fund > r.above.value)
        .map(|_| Requirement {
            ministry: indexed.ministry_org_id,
            amount_fund,
            policy_seq: policy.seq,
            expiry_hours: by_policy.expiry_hours,
        }))
}

/// Records `entry` as a request pending a second person's decision: the request row
/// (what is applied on approval), and an index row `approval_request` that no sum, list
/// of effective entries or screen reads. This is where a request is created (a
/// notification of approvers waiting hooks here).
pub fn record_request(
    st: &mut Derived<'_>,
    p: &Posting<'_>,
    entry: &FundEntry,
    req: &Requirement,
) -> Result<()> {
    let s = p.seq_i64()?;
    let expires_at =
        expires_at(p.at, req.expiry_hours).ok_or_else(|| internal("expiry out of range"))?;
    state::upsert_approval_request(
        st.conn,
        &ApprovalRequestRow {
            fund_id: p.ctx.fund,
            seq: s,
            kind: entry.kind().to_owned(),
            body: entry.body().map_err(internal)?,
            business_date: p.date,
            maker: p.poster.to_owned(),
            approver_role: approver_role(entry.kind()).as_str().to_owned(),
            ministry_org_id: req.ministry,
            amount_fund: req.amount_fund,
            policy_seq: req.policy_seq,
            requested_at: p.at,
            expires_at,
            state: "pending".to_owned(),
            decided_seq: None,
            decided_by: None,
            reason: None,
        },
    )?;
    // Approvers are told once, when the request is recorded; a rebuild (no actor) replays
    // the chain and tells nobody again.
    if p.actor.is_some() {
        crate::notify::events::approval_requested(
            st.conn,
            (p.ctx.fund, p.seq),
            req.ministry,
            serde_json::json!({
                "seq": p.seq,
                "kind": entry.kind(),
                "business_date": p.date,
                "amount_fund": req.amount_fund.to_string(),
                "ministry": req.ministry,
                "approver_role": approver_role(entry.kind()).as_str(),
                "expires_at": expires_at,
            }),
            p.at,
        )?;
    }
    let mut r = row(p.ctx, s, "approval_request", p.date);
    r.ministry_org_id = req.ministry;
    Ok(st.save_entry(&r)?)
}

/// The request at `entry`, as the actor may know it: a ministry knows only its own
/// ministry's requests (anything else reads as unknown, like a missing seq).
fn request_for(
    st: &mut Derived<'_>,
    p: &Posting<'_>,
    entry: u64,
) -> Result<Option<ApprovalRequestRow>> {
    let req = state::approval_request(st.conn, p.ctx.fund, seq_i64(entry)?)?;
    if let (Some(r), Some(a)) = (&req, p.actor) {
        if a.role == Role::Ministry && r.ministry_org_id != Some(a.org) {
            return Err(unknown("fund entry", entry));
        }
    }
    Ok(req)
}

fn still_pending(req: &ApprovalRequestRow) -> Result<()> {
    if req.state == "pending" {
        return Ok(());
    }
    Err(reject(
        "not_pending",
        format!(
            "request {} was {} by entry {}",
            req.seq,
            req.state,
            req.decided_seq.unwrap_or_default()
        ),
    ))
}

/// What a decision on a pending request did, for the screens: the entry that took
/// effect, or nothing.
pub enum Decided {
    Effective(Box<FundEntry>),
    Closed,
}

/// Decides a pending request (`None`: `a.entry` is no request, an approval of the kind
/// screening checks). Only the deciding role of the right organisation, never the maker;
/// an approval re-applies the requested entry at this seq, every invariant checked again.
pub fn decide(
    st: &mut Derived<'_>,
    p: &Posting<'_>,
    a: &Approval,
    screens: &dyn Screens,
) -> Result<Option<Decided>> {
    let Some(mut req) = request_for(st, p, a.entry)? else {
        if a.decision == Decision::Rejected {
            return Err(reject(
                "not_pending",
                format!(
                    "entry {} is not a request pending under the fund's approval policy; only such a request can be rejected",
                    a.entry
                ),
            ));
        }
        return Ok(None);
    };
    if let Some(act) = p.actor {
        let role = approver_role(&req.kind);
        if act.role != role {
            return Err(reject(
                "not_permitted",
                format!(
                    "a {} request is decided by {}",
                    req.kind,
                    if role == Role::Treasurer {
                        "the fund's treasurers"
                    } else {
                        "the officers of the ministry that records it"
                    }
                ),
            ));
        }
    }
    if let Some(act) = p.actor {
        // The approver grant, on the caller's live grant of the deciding role (its
        // organisation is the one checked above: the secretariat of the fund, or the
        // request's ministry).
        let user = uuid::Uuid::parse_str(p.poster).map_err(internal)?;
        let granted = crate::auth::store::approver_grant(st.conn, user, act.role.as_str())
            .map_err(AppendError::from)?;
        if granted != Some(true) {
            return Err(reject(
                "not_approver",
                format!(
                    "deciding request {} needs the approver grant on your {} role; an admin grants it",
                    req.seq,
                    act.role.as_str()
                ),
            ));
        }
    }
    still_pending(&req)?;
    if req.maker == p.poster {
        return Err(reject(
            "self_approval_refused",
            format!(
                "you recorded request {}; another approver of your organisation decides it",
                req.seq
            ),
        ));
    }
    let s = p.seq_i64()?;
    let decided = match a.decision {
        Decision::Approved => {
            if p.at >= req.expires_at {
                return Err(reject(
                    "request_expired",
                    format!(
                        "request {} expired at {}; record the entry again",
                        req.seq,
                        req.expires_at.to_rfc3339()
                    ),
                ));
            }
            let requested = FundEntry::parse(&req.kind, &req.body)
                .map_err(|i| internal(format!("request {}: {}", req.seq, i.detail)))?;
            // The requested entry, as its maker recorded it, at this seq.
            let effective = Posting {
                poster: &req.maker,
                date: req.business_date,
                ..*p
            };
            apply_effect(st, &effective, &requested, screens)?;
            req.state = "approved".to_owned();
            Decided::Effective(Box::new(requested))
        }
        Decision::Rejected => {
            let mut r = row(p.ctx, s, "approval", p.date);
            r.ministry_org_id = req.ministry_org_id;
            r.ref_seq = Some(req.seq);
            st.save_entry(&r)?;
            req.state = "rejected".to_owned();
            req.reason = a.reason.clone();
            Decided::Closed
        }
    };
    req.decided_seq = Some(s);
    req.decided_by = Some(p.poster.to_owned());
    state::upsert_approval_request(st.conn, &req)?;
    Ok(Some(decided))
}

/// Applies an `approval_expired` entry: the request was still pending when its time ran
/// out (`at` of the expiry entry at or after the request's `expires_at`).
pub fn expire(st: &mut Derived<'_>, p: &Posting<'_>, e: &ApprovalExpired) -> Result<()> {
    if p.actor.is_some_and(|a| a.role != Role::Admin) {
        return Err(reject(
            "not_permitted",
            "an expiry is recorded by the service",
        ));
    }
    let mut req =
        request_for(st, p, e.entry)?.ok_or_else(|| unknown("approval request", e.entry))?;
    still_pending(&req)?;
    if p.at < req.expires_at {
        return Err(reject(
            "not_expired",
            format!(
                "request {} expires at {}",
                req.seq,
                req.expires_at.to_rfc3339()
            ),
        ));
    }
    let s = p.seq_i64()?;
    let mut r = row(p.ctx, s, "approval_expired", p.date);
    r.ministry_org_id = req.ministry_org_id;
    r.ref_seq = Some(req.seq);
    st.save_entry(&r)?;
    req.state = "expired".to_owned();
    req.decided_seq = Some(s);
    req.decided_by = Some(p.poster.to_owned());
    state::upsert_approval_request(st.conn, &req)?;
    Ok(())
}

/// When a request recorded at `at` under a policy of `expiry_hours` expires.
pub fn expires_at(at: DateTime<Utc>, expiry_hours: u32) -> Option<DateTime<Utc>> {
    at.checked_add_signed(Duration::hours(i64::from(expiry_hours)))
}

/// Requests one sweep expires per fund at most (the next sweep takes the rest).
pub const EXPIRE_BATCH: i64 = 1_000;

/// Records an `approval_expired` entry, as the service, for each request of `fund` still
/// pending whose time ran out by the ledger's clock (at most `EXPIRE_BATCH`); the seqs of
/// the requests expired. The idempotency key is the request's, so two sweeps racing record
/// one expiry. Run by `fundtrail approvals expire`.
pub async fn expire_due(
    ledger: &crate::ledger::Ledger,
    pool: &crate::db::PgPool,
    ctx: crate::funds::ctx::FundCtx,
    screens: std::sync::Arc<dyn Screens>,
) -> anyhow::Result<Vec<u64>> {
    let now = ledger.now();
    let pool = pool.clone();
    let fund = ctx.fund;
    let due = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<i64>> {
        let mut conn = pool.get()?;
        Ok(state::expired_requests(&mut conn, fund, now, EXPIRE_BATCH)?)
    })
    .await??;
    let seqs: Vec<u64> = due
        .into_iter()
        .filter_map(|s| u64::try_from(s).ok())
        .collect();
    if seqs.is_empty() {
        return Ok(seqs);
    }
    let requests = seqs
        .iter()
        .map(|seq| crate::ledger::writer::AppendRequest {
            kind: "approval_expired".to_owned(),
            business_date: now.date_naive(),
            idempotency_key: format!("approval_expired-{seq}"),
            body: serde_json::json!({ "entry": seq }),
            principal: crate::ledger::entry::Principal::system(),
        })
        .collect();
    let effect = super::effect::FundEffect {
        ctx,
        actor: None,
        screens,
        screen: true,
    };
    ledger
        .append_with(fund, requests, std::sync::Arc::new(effect))
        .await
        .map_err(|e| anyhow::anyhow!("fund {fund}: {e}"))?;
    Ok(seqs)
}
