//! Period screens of the controls on one payment: a payment (or disbursement) above its
//! approval policy's threshold that took effect without a second person's approval
//! (`approval-missing`), and a large payment with no document on file
//! (`invoice-document-missing`). Both judge single entries, so each flag is about its
//! entry (`entry:<seq>`), whatever period found it: two runs over overlapping periods
//! raise it once.

use std::collections::HashSet;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::screening::rules::{money, Severity, Thresholds};

use super::{Context, PeriodFinding, Spend};

/// One rule of the approval policy in force, as the screen reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRule {
    /// `payment`, `disbursement`, `contract` or `contract_amendment`.
    pub kind: String,
    /// Only this ministry's entries (a ministry's rule takes precedence).
    pub ministry: Option<Uuid>,
    /// In the fund's currency: amounts strictly above it need a second person.
    pub above: Decimal,
}

/// The approval policy in force when the screen runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policy {
    /// Seq of the `approval_policy` entry.
    pub seq: u64,
    pub rules: Vec<PolicyRule>,
}

impl Policy {
    /// The threshold that applies to an entry of `kind` of `ministry`, if any.
    pub fn above(&self, kind: &str, ministry: Option<Uuid>) -> Option<Decimal> {
        let of_kind = || self.rules.iter().filter(move |r| r.kind == kind);
        of_kind()
            .find(|r| r.ministry.is_some() && r.ministry == ministry)
            .or_else(|| of_kind().find(|r| r.ministry.is_none()))
            .map(|r| r.above)
    }
}

/// What the control screens read besides the entries.
#[derive(Debug, Clone, Default)]
pub struct Controls {
    /// The fund's approval policy in force (none: `approval-missing` does not run).
    pub policy: Option<Policy>,
    /// Payments and disbursements that took effect with a second person's approval: by
    /// the approval of a request, or (history recorded outside a policy) with a standing
    /// `approval` by a user other than the one who recorded the entry.
    pub approved: HashSet<u64>,
    /// Payments with a document attached to themselves, to the request they were
    /// approved from, or to their invoice.
    pub documented: HashSet<u64>,
    /// A payment's invoice, for the evidence of `invoice-document-missing`.
    pub invoices: std::collections::HashMap<u64, u64>,
    /// The day the run judges from: entries dated after `judged_until` are in their grace
    /// window (`evidence_grace_days`) and not judged yet.
    pub judged_until: NaiveDate,
}

/// The seqs whose approvals and documents the screens need: covered entries above their
/// threshold, payments of at least `invoice_document_min`, dated by `judged_until`.
pub fn candidates<'a>(
    entries: impl Iterator<Item = &'a Spend>,
    policy: Option<&Policy>,
    t: &Thresholds,
    judged_until: NaiveDate,
) -> (Vec<u64>, Vec<u64>) {
    let mut approvals = Vec::new();
    let mut documents = Vec::new();
    for s in entries.filter(|s| s.date <= judged_until) {
        if policy
            .and_then(|p| p.above(&s.kind, s.ministry))
            .is_some_and(|above| s.amount > above)
        {
            approvals.push(s.seq);
        }
        if s.kind == "payment" && t.amounts_set() && s.amount >= t.invoice_document_min {
            documents.push(s.seq);
        }
    }
    (approvals, documents)
}

fn kind_name(kind: &str) -> String {
    kind.replace('_', " ")
}

/// Approval missing: an entry of a kind the fund's approval policy covers, above its
/// threshold, dated in the period and at least `evidence_grace_days` before the run,
/// that took effect without a second person: recorded before the policy existed (or
/// imported) and never approved by another user. Under a policy such an entry is held
/// until approved, so what this finds is history, imports, and anything that bypassed
/// the hold. High severity: money moved on one person's word.
pub fn approval_missing<'a>(
    entries: impl Iterator<Item = &'a Spend>,
    c: &Controls,
    cx: &Context<'_>,
) -> Vec<PeriodFinding> {
    let Some(policy) = &c.policy else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in entries {
        if s.date < cx.period.from || s.date > cx.period.to || s.date > c.judged_until {
            continue;
        }
        let Some(above) = policy.above(&s.kind, s.ministry) else {
            continue;
        };
        if s.amount <= above || c.approved.contains(&s.seq) {
            continue;
        }
        let who = s
            .ministry
            .map(|m| format!(" to {}", cx.name(m)))
            .unwrap_or_default();
        let who = if s.kind == "payment" {
            s.ministry
                .map(|m| format!(" by {}", cx.name(m)))
                .unwrap_or_default()
        } else {
            who
        };
        out.push(PeriodFinding {
            rule: "approval-missing",
            severity: Severity::High,
            subject: format!("entry:{}", s.seq),
            ministry: s.ministry,
            vendor: s.vendor,
            message: format!(
                "{} {} of {}{} dated {} took effect without a second person's approval; the fund's approval policy (entry {}) requires one for {}s above {}",
                kind_name(&s.kind),
                s.seq,
                money(s.amount, cx.currency),
                who,
                s.date,
                policy.seq,
                kind_name(&s.kind),
                money(above, cx.currency)
            ),
            evidence: vec![s.seq],
        });
    }
    out
}

/// Invoice document missing: a payment of at least `invoice_document_min` (fund
/// currency), dated in the period and at least `evidence_grace_days` before the run, with
/// no document attached to it, to the request it was approved from, or to its invoice.
/// Medium severity: the payment may be right, but the ledger cannot prove what it paid.
/// Needs the fund's amounts in its currency (`Thresholds::amounts_set`).
pub fn invoice_document_missing(
    spends: &[Spend],
    c: &Controls,
    t: &Thresholds,
    cx: &Context<'_>,
) -> Vec<PeriodFinding> {
    if !t.amounts_set() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for s in spends {
        if s.kind != "payment"
            || s.date < cx.period.from
            || s.date > cx.period.to
            || s.date > c.judged_until
            || s.amount < t.invoice_document_min
            || c.documented.contains(&s.seq)
        {
            continue;
        }
        let invoice = c.invoices.get(&s.seq).copied();
        let mut evidence: Vec<u64> = invoice.into_iter().collect();
        evidence.push(s.seq);
        evidence.sort_unstable();
        let what = match invoice {
            Some(i) => format!("neither it nor its invoice {i} has a document attached"),
            None => "it has no document attached (a direct purchase: no invoice)".to_owned(),
        };
        let by = s
            .ministry
            .map(|m| format!(" by {}", cx.name(m)))
            .unwrap_or_default();
        let to = s
            .vendor
            .map(|v| format!(" to {}", cx.name(v)))
            .unwrap_or_default();
        out.push(PeriodFinding {
            rule: "invoice-document-missing",
            severity: Severity::Medium,
            subject: format!("entry:{}", s.seq),
            ministry: s.ministry,
            vendor: s.vendor,
            message: format!(
                "payment {} of {}{by}{to} dated {}: {what}; payments of at least {} need the invoice on file",
                s.seq,
                money(s.amount, cx.currency),
                s.date,
                money(t.invoice_document_min, cx.currency)
            ),
            evidence,
        });
    }
    out
}
