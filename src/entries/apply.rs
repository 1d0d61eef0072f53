//! Applying a typed entry: the dispatch of each kind to the rules of the capability that
//! owns it (`funds::rules`, `procurement::rules`, the screening settings through
//! `Screens`), and reversals, which any chain has. `apply` runs inside the append
//! transaction of the fund's chain (in a writer `Effect`, so a refusal rolls back the entry
//! and everything it wrote) and again, with no actor, when `fundtrail rebuild` replays the
//! chain.
//!
//! Every check reads state written by earlier entries of the same chain, and all writers
//! of a chain are serialised by its head row lock, so no two appends can both pass a check
//! that only one of them may pass (the 50-concurrent-disbursements test).

use crate::auth::guard::Role;
use crate::funds::ctx::{blocked, reject, row, seq_i64, unknown, Posting, Result};
use crate::funds::derived::Derived;
use crate::{funds, procurement};

use super::approvals::{self, Decided};
use super::effect::Screens;
use super::kinds::{poster_of, EvidenceAttached, FundEntry, Reversal};

/// What the screens see of an applied entry.
pub enum Screened {
    /// The entry itself took effect.
    Itself,
    /// Another entry took effect at this seq: the request this approval approved.
    Instead(Box<FundEntry>),
    /// Nothing took effect: a request held for approval, a rejection, an expiry.
    Nothing,
}

/// Checks `entry` against the fund's state and applies it, unless the fund's approval
/// policy holds it as a request (`approvals`); a decision on a request applies what was
/// requested.
pub fn apply(
    st: &mut Derived<'_>,
    p: &Posting<'_>,
    entry: &FundEntry,
    screens: &dyn Screens,
) -> Result<Screened> {
    if let Some(req) = approvals::requirement(st, p, entry, screens)? {
        approvals::record_request(st, p, entry, &req)?;
        return Ok(Screened::Nothing);
    }
    if let FundEntry::Approval(a) = entry {
        match approvals::decide(st, p, a, screens)? {
            Some(Decided::Effective(e)) => return Ok(Screened::Instead(e)),
            Some(Decided::Closed) => return Ok(Screened::Nothing),
            // Outside a policy, an approval is a ministry's second pair of eyes on its
            // own procurement; a treasurer decides only requests.
            None if p.actor.is_some_and(|a| a.role != Role::Ministry) => {
                return Err(reject(
                    "not_permitted",
                    format!(
                        "entry {} is not a request pending under the fund's approval policy; a treasurer approves only such requests",
                        a.entry
                    ),
                ))
            }
            None => {}
        }
    }
    apply_effect(st, p, entry, screens)?;
    Ok(Screened::Itself)
}

/// Checks `entry` against the fund's state and applies it now, whatever the policy.
pub fn apply_effect(
    st: &mut Derived<'_>,
    p: &Posting<'_>,
    entry: &FundEntry,
    screens: &dyn Screens,
) -> Result<()> {
    use funds::rules as f;
    use procurement::rules as pr;
    match entry {
        FundEntry::Pledge(e) => f::donor_flow(st, p, e.donor, &e.amount, true),
        FundEntry::Contribution(e) => f::donor_flow(st, p, e.donor, &e.amount, false),
        FundEntry::Allocation(e) => f::allocation(st, p, e),
        FundEntry::Disbursement(e) => f::disbursement(st, p, e),
        FundEntry::FxRate(e) => f::fx_rate(st, p, e),
        FundEntry::Expenditure(e) => f::expenditure(st, p, e),
        FundEntry::Tender(e) => pr::tender(st, p, e),
        FundEntry::Bid(e) => pr::bid(st, p, e),
        FundEntry::Award(e) => pr::award(st, p, e),
        FundEntry::Contract(e) => pr::contract(st, p, e),
        FundEntry::ContractAmendment(e) => pr::contract_amendment(st, p, e),
        FundEntry::Invoice(e) => pr::invoice(st, p, e),
        FundEntry::Payment(e) => pr::payment(st, p, e),
        FundEntry::BidDisqualified(e) => pr::bid_disqualified(st, p, e),
        FundEntry::Approval(e) => pr::approval(st, p, e),
        FundEntry::Reversal(e) => reverse(st, p, e),
        FundEntry::EvidenceAttached(e) => evidence(st, p, e),
        FundEntry::ApprovalPolicy(e) => approvals::policy(st, p, e),
        FundEntry::ApprovalExpired(e) => approvals::expire(st, p, e),
        FundEntry::ScreeningConfig(e) => {
            screens.configure(st, p, e)?;
            st.save_entry(&row(p.ctx, p.seq_i64()?, "screening_config", p.date))?;
            Ok(())
        }
    }
}

/// Reverses an earlier entry of the chain: checks who may and whether anything depends on
/// it, undoes its effect through the capability that owns its kind, marks it reversed and
/// indexes the reversal as its mirror image.
fn reverse(st: &mut Derived<'_>, p: &Posting<'_>, rev: &Reversal) -> Result<()> {
    let Posting {
        ctx, actor, date, ..
    } = *p;
    let s = p.seq_i64()?;
    let mut target = st
        .entry(seq_i64(rev.entry)?)?
        .ok_or_else(|| unknown("fund entry", rev.entry))?;
    if let Some(a) = actor {
        // A ministry knows only its own entries: anything else reads as unknown.
        if a.role == Role::Ministry && target.ministry_org_id != Some(a.org) {
            return Err(unknown("fund entry", rev.entry));
        }
        if poster_of(&target.kind).is_some_and(|r| r != a.role) {
            return Err(reject(
                "not_permitted",
                format!(
                    "a {} entry is reversed by the role that records it",
                    target.kind
                ),
            ));
        }
    }
    if target.kind == "screening_config" || target.kind == "approval_policy" {
        return Err(reject(
            "reversal_blocked",
            format!(
                "a {} is changed by a new {0} entry, not reversed",
                target.kind
            ),
        ));
    }
    if target.kind == "approval_request" || target.kind == "approval_expired" {
        return Err(reject(
            "reversal_blocked",
            "a request pending approval is rejected by an approver; an approved one is reversed at its approval's seq, where it took effect",
        ));
    }
    if target.kind == "evidence_attached" {
        return Err(reject(
            "reversal_blocked",
            "an attached document stays attached; attach the correct document, or reverse the entry it is evidence for",
        ));
    }
    if target.kind == "reversal" {
        return Err(reject(
            "cannot_reverse_reversal",
            "a reversal cannot be reversed; record the original fact again",
        ));
    }
    if let Some(by) = target.reversed_by {
        return Err(reject(
            "already_reversed",
            format!("entry {} was already reversed by entry {by}", rev.entry),
        ));
    }
    if funds::kinds::KINDS.contains(&target.kind.as_str()) {
        funds::rules::undo(st, ctx, &target)?;
    } else if procurement::kinds::KINDS.contains(&target.kind.as_str()) {
        procurement::rules::undo(st, &target)?;
    } else {
        return Err(blocked(&target, &format!("unknown kind {}", target.kind)));
    }
    target.reversed_by = Some(s);
    st.save_entry(&target)?;
    // The reversal's index row mirrors the reversed entry with negated amounts, so that
    // sums over the index net out.
    let mut r = row(ctx, s, "reversal", date);
    r.ministry_org_id = target.ministry_org_id;
    r.vendor_org_id = target.vendor_org_id;
    r.donor_org_id = target.donor_org_id;
    r.category = target.category.clone();
    r.currency = target.currency.clone();
    r.amount = target.amount.map(|a| -a);
    r.amount_fund = target.amount_fund.map(|a| -a);
    r.ref_seq = Some(target.seq);
    r.tender_seq = target.tender_seq;
    Ok(st.save_entry(&r)?)
}

/// Attaches a document to an earlier entry of the chain: the caller must be the role that
/// records the cited entry's kind (a ministry, for its own entries only); the document's
/// row is indexed for downloads and the entry indexed with the cited entry's ministry.
fn evidence(st: &mut Derived<'_>, p: &Posting<'_>, e: &EvidenceAttached) -> Result<()> {
    let Posting {
        ctx, actor, date, ..
    } = *p;
    let s = p.seq_i64()?;
    let target = st
        .entry(seq_i64(e.entry)?)?
        .ok_or_else(|| unknown("fund entry", e.entry))?;
    if let Some(a) = actor {
        if a.role == Role::Ministry && target.ministry_org_id != Some(a.org) {
            return Err(unknown("fund entry", e.entry));
        }
        let poster = poster_of(&target.kind);
        let allowed = match poster {
            Some(r) => r == a.role,
            None => matches!(a.role, Role::Treasurer | Role::Ministry),
        };
        if !allowed {
            return Err(reject(
                "not_permitted",
                format!(
                    "evidence for a {} entry is attached by the role that records it",
                    target.kind
                ),
            ));
        }
    }
    if target.kind == "evidence_attached" {
        return Err(reject(
            "not_permitted",
            "a document is attached to the entry it is evidence for, not to another attachment",
        ));
    }
    let size = i64::try_from(e.size_bytes)
        .map_err(|_| reject("invalid_body", "size_bytes is out of range"))?;
    st.save_evidence(&funds::state::EvidenceRow {
        fund_id: ctx.fund,
        seq: s,
        entry_seq: target.seq,
        ministry_org_id: target.ministry_org_id,
        sha256: e.sha256.clone(),
        size_bytes: size,
        media_type: e.media_type.clone(),
        name: e.name.clone(),
    })?;
    let mut r = row(ctx, s, "evidence_attached", date);
    r.ministry_org_id = target.ministry_org_id;
    r.vendor_org_id = target.vendor_org_id;
    r.ref_seq = Some(target.seq);
    r.tender_seq = target.tender_seq;
    Ok(st.save_entry(&r)?)
}
