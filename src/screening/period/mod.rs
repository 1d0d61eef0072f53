//! The period screens: pure functions from a fund's unreversed payments and awards of a
//! period (with the payments and disbursements of a bounded lookback before it) to
//! findings about a ministry, a vendor, a window or one entry (docs/screening.md, "Period
//! screens"). No I/O here: `screening::run` reads the period and records the flags.
//!
//! This file holds the inputs, the context, `screen` (which runs every period screen) and
//! the helpers they share; the screens are in one file per family: `concentration`,
//! `controls` (approvals and documents of single payments), `distribution` and `flows`.

mod concentration;
mod controls;
mod distribution;
mod flows;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::rules::{Severity, Thresholds};

pub use concentration::{non_competitive_share, vendor_concentration};
pub use controls::{
    approval_missing, candidates, invoice_document_missing, Controls, Policy, PolicyRule,
};
pub use distribution::{amount_outlier, below_threshold_clustering, benford, conformity, mad};
pub use flows::{unspent_disbursements, velocity_spike};

/// At most this many seqs in a concentration or clustering flag's evidence (the latest).
pub const EVIDENCE_MAX: usize = 200;

/// At most this many seqs in a Benford flag's evidence.
pub const BENFORD_EVIDENCE_MAX: usize = 50;

/// An unreversed payment, award or disbursement, as period screens see it.
#[derive(Debug, Clone)]
pub struct Spend {
    pub seq: u64,
    /// `payment`, `award` or `disbursement`.
    pub kind: String,
    /// Business date.
    pub date: NaiveDate,
    pub ministry: Option<Uuid>,
    pub vendor: Option<Uuid>,
    /// Item category: a payment's own or its tender's; an award's tender's.
    pub category: Option<String>,
    /// An award's tender method (`direct` is the non-competitive one).
    pub method: Option<String>,
    /// In the fund's currency.
    pub amount: Decimal,
}

/// What the period screens read: the period's entries and a bounded lookback before it.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// Unreversed payments and awards dated in the period.
    pub spends: Vec<Spend>,
    /// Unreversed payments dated from `lookback_start` to the day before the period.
    pub earlier: Vec<Spend>,
    /// Unreversed disbursements dated from `lookback_start` to the period's end.
    pub disbursements: Vec<Spend>,
    /// Each paying ministry's earliest unreversed payment in the fund (any date): a
    /// velocity window is compared only with trailing days on or after it.
    pub first_payment: HashMap<Uuid, NaiveDate>,
    /// What `approval-missing` and `invoice-document-missing` read.
    pub controls: Controls,
}

/// The first day the screens of `period` need payments from: the velocity windows ending
/// on the period's first day look back `velocity_window_days + velocity_trailing_days`;
/// the disbursements that reach `unspent_days` during the period are at most
/// `unspent_days + 1` days older than its first day.
pub fn lookback_start(period: Period, t: &Thresholds) -> NaiveDate {
    let velocity = t
        .velocity_window_days
        .saturating_add(t.velocity_trailing_days);
    let unspent = t.unspent_days.saturating_add(1);
    let days = u64::try_from(velocity.max(unspent)).unwrap_or(0);
    period
        .from
        .checked_sub_days(chrono::Days::new(days))
        .unwrap_or(NaiveDate::MIN)
}

/// The period screened, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.from, self.to)
    }
}

/// A finding about a ministry or vendor over a period, or about one entry. `subject`
/// (with the rule) names it uniquely in the fund:
/// `ministry:<uuid>[/vendor:<uuid>|/threshold:<amount>]/<from>..<to>`,
/// `vendor:<uuid>/<from>..<to>`, or `entry:<seq>` (the control screens: one flag per
/// entry, whatever period found it). Evidence is in seq order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodFinding {
    pub rule: &'static str,
    pub severity: Severity,
    pub subject: String,
    pub ministry: Option<Uuid>,
    pub vendor: Option<Uuid>,
    pub message: String,
    pub evidence: Vec<u64>,
}

/// What the messages need besides the entries.
pub struct Context<'a> {
    pub period: Period,
    pub currency: &'a str,
    pub names: &'a HashMap<Uuid, String>,
}

impl Context<'_> {
    fn name(&self, org: Uuid) -> String {
        self.names
            .get(&org)
            .cloned()
            .unwrap_or_else(|| org.to_string())
    }
}

/// The last `max` seqs, in order.
pub(super) fn latest(mut seqs: Vec<u64>, max: usize) -> Vec<u64> {
    seqs.sort_unstable();
    let skip = seqs.len().saturating_sub(max);
    seqs.into_iter().skip(skip).collect()
}

/// All period screens.
pub fn screen(input: &Input, t: &Thresholds, cx: &Context<'_>) -> Vec<PeriodFinding> {
    let spends = &input.spends;
    let mut out = vendor_concentration(spends, t, cx);
    // Clustering and velocity compare amounts with amount settings: not until the fund's
    // amounts are in its currency (`Thresholds::amounts_set`).
    if t.amounts_set() {
        out.extend(below_threshold_clustering(spends, t, cx));
    }
    out.extend(benford(spends, t, cx));
    if t.amounts_set() {
        out.extend(velocity_spike(
            spends,
            &input.earlier,
            &input.first_payment,
            t,
            cx,
        ));
    }
    out.extend(non_competitive_share(spends, t, cx));
    out.extend(amount_outlier(spends, t, cx));
    let payments: Vec<&Spend> = input.earlier.iter().chain(spends.iter()).collect();
    out.extend(unspent_disbursements(
        &input.disbursements,
        &payments,
        t,
        cx,
    ));
    out.extend(approval_missing(
        spends.iter().chain(&input.disbursements),
        &input.controls,
        cx,
    ));
    out.extend(invoice_document_missing(spends, &input.controls, t, cx));
    out
}

pub(super) fn days_before(d: NaiveDate, n: i64) -> NaiveDate {
    u64::try_from(n)
        .ok()
        .and_then(|n| d.checked_sub_days(chrono::Days::new(n)))
        .unwrap_or(NaiveDate::MIN)
}

/// "1 payment", "2 payments".
pub(super) fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A share as a percentage with one decimal ("66.7", "100.0").
pub(super) fn percent(share: Decimal) -> String {
    format!("{:.1}", (share * Decimal::ONE_HUNDRED).round_dp(1))
}

/// A threshold share as a percentage, as short as it goes ("40", "12.5").
pub(super) fn percent_limit(share: Decimal) -> Decimal {
    (share * Decimal::ONE_HUNDRED).normalize()
}

/// The median of values sorted ascending; `None` when empty.
pub(super) fn median_sorted(v: &[Decimal]) -> Option<Decimal> {
    let n = v.len();
    let mid = n / 2;
    if n == 0 {
        None
    } else if n % 2 == 1 {
        v.get(mid).copied()
    } else {
        let (a, b) = (v.get(mid.checked_sub(1)?)?, v.get(mid)?);
        Some((*a + *b) / Decimal::TWO)
    }
}

/// A ministry's awards of the period: (total, direct total, direct award seqs, count).
pub(super) type AwardShare = (Decimal, Decimal, Vec<u64>, u32);
