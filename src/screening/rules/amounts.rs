//! Per-entry screens of amounts and thresholds: near a procurement threshold, purchases
//! split under one (payments, or consecutive direct awards), suspiciously round amounts, a
//! large amount to a new vendor.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{
    is_spend, money, AwardFact, CategoryPrior, Facts, Finding, Prior, Severity, Thresholds,
};

pub(super) fn new_vendor_large(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let (Some(amount), Some((first_seq, first_date))) = (f.amount, f.vendor_first_seen) else {
        return;
    };
    if !matches!(f.kind.as_str(), "award" | "contract" | "payment") || amount < t.new_vendor_amount
    {
        return;
    }
    // Warm-up: a vendor first seen in the fund's first `new_vendor_warmup_days` is one of
    // the vendors the fund started with, not a new one.
    if let Some(fund_first) = f.fund_first_date {
        if (first_date - fund_first).num_days() < t.new_vendor_warmup_days {
            return;
        }
    }
    let age = (f.business_date - first_date).num_days();
    if age <= t.new_vendor_days {
        let mut evidence = vec![f.seq];
        if first_seq != f.seq {
            evidence.push(first_seq);
        }
        out.push(Finding {
            rule: "new-vendor-large",
            severity: Severity::Medium,
            message: format!(
                "{} {} of {} goes to {}, first seen in this fund {age} days earlier ({})",
                f.kind,
                f.seq,
                money(amount, &f.currency),
                f.vendor.as_deref().unwrap_or("?"),
                first_date
            ),
            evidence,
        });
    }
}

pub(super) fn round_amount(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let Some(a) = f.amount else { return };
    if is_spend(&f.kind) && a >= t.round_min && (a % t.round_unit).is_zero() {
        out.push(Finding {
            rule: "round-amount",
            severity: Severity::Low,
            message: format!(
                "{} {} of {} is a round multiple of {}",
                f.kind,
                f.seq,
                money(a, &f.currency),
                t.round_unit
            ),
            evidence: vec![f.seq],
        });
    }
}

pub(super) fn near_threshold(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    if !matches!(f.kind.as_str(), "tender" | "award" | "contract") {
        return;
    }
    let Some(a) = f.amount else { return };
    for (limit, method) in t.method_limits() {
        let floor = limit - limit * t.near_share;
        let near = |x: Decimal| x >= floor && x < limit;
        // Once per procurement: an award or contract whose earlier step (the tender's
        // estimate, the award) was already just under this threshold adds no new fact.
        if near(a) && !f.earlier_amounts.iter().copied().any(near) {
            out.push(Finding {
                rule: "near-threshold",
                severity: Severity::Medium,
                message: format!(
                    "{} {} of {} is just under the {} threshold of {}",
                    f.kind,
                    f.seq,
                    money(a, &f.currency),
                    method,
                    money(limit, &f.currency)
                ),
                evidence: vec![f.seq],
            });
        }
    }
}

/// Only direct purchases count: instalments of a contract awarded by a tender are not a
/// split (the tender chose the method for the whole value). First by vendor (the same
/// ministry paying the same vendor); when that does not fire, by item category (the same
/// ministry buying in the same category from any vendors).
pub(super) fn split_purchase(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let (Some(amount), "payment", true) = (f.amount, f.kind.as_str(), f.direct_purchase) else {
        return;
    };
    let in_window = |date: NaiveDate| (f.business_date - date).num_days().abs() <= t.window_days;
    for (limit, method) in t.method_limits() {
        if amount >= limit {
            continue;
        }
        let parts: Vec<&Prior> = f
            .priors
            .iter()
            .filter(|p| p.direct && p.amount < limit && in_window(p.date))
            .collect();
        let total = parts.iter().fold(amount, |s, p| s.saturating_add(p.amount));
        // Each part under the threshold, together over it: report the lowest threshold
        // the parts dodge, once.
        if !parts.is_empty() && total >= limit {
            let mut evidence = vec![f.seq];
            evidence.extend(parts.iter().map(|p| p.seq));
            out.push(Finding {
                rule: "split-purchase",
                severity: Severity::High,
                message: format!(
                    "{} payments by {} to {} within {} days total {}, each under the {} threshold of {}",
                    parts.len() + 1,
                    f.ministry.as_deref().unwrap_or("?"),
                    f.vendor.as_deref().unwrap_or("?"),
                    t.window_days,
                    money(total, &f.currency),
                    method,
                    money(limit, &f.currency)
                ),
                evidence,
            });
            return;
        }
    }
    // By category. The vendor form did not fire, so these parts are not all this vendor's
    // (its earlier purchases in the category are a subset of the vendor form's priors):
    // the set differs from any the vendor form flags for this entry.
    let Some(category) = &f.category else { return };
    for (limit, method) in t.method_limits() {
        if amount >= limit {
            continue;
        }
        let parts: Vec<&CategoryPrior> = f
            .category_priors
            .iter()
            .filter(|p| p.seq < f.seq && p.amount < limit && in_window(p.date))
            .collect();
        let total = parts.iter().fold(amount, |s, p| s.saturating_add(p.amount));
        if !parts.is_empty() && total >= limit {
            let mut evidence = vec![f.seq];
            let mut seqs: Vec<u64> = parts.iter().map(|p| p.seq).collect();
            seqs.sort_unstable();
            evidence.extend(seqs);
            let mut vendors: Vec<&str> = parts.iter().map(|p| p.vendor.as_str()).collect();
            vendors.extend(f.vendor.as_deref());
            vendors.sort_unstable();
            vendors.dedup();
            out.push(Finding {
                rule: "split-purchase",
                severity: Severity::High,
                message: format!(
                    "{} payments by {} for {} (to {}) within {} days total {}, each under the {} threshold of {}",
                    parts.len() + 1,
                    f.ministry.as_deref().unwrap_or("?"),
                    category,
                    vendors.join(", "),
                    t.window_days,
                    money(total, &f.currency),
                    method,
                    money(limit, &f.currency)
                ),
                evidence,
            });
            return;
        }
    }
}

/// split-purchase at the award level: a direct award under a method threshold whose
/// ministry's awards just before it (consecutive, among its latest `recent_awards`) went to
/// the same supplier within the window, each under that threshold, together reaching it.
/// Publishers without payments (or whose payments are not recorded) show splits here.
pub(super) fn split_award(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let (Some(amount), "award", Some(tender), Some(vendor)) =
        (f.amount, f.kind.as_str(), &f.tender, &f.vendor)
    else {
        return;
    };
    if tender.method != "direct" {
        return;
    }
    let in_window = |date: NaiveDate| (f.business_date - date).num_days().abs() <= t.window_days;
    for (limit, method) in t.method_limits() {
        if amount >= limit {
            continue;
        }
        // The run of the ministry's awards before this one (latest first) that went to
        // this supplier, each under the threshold and in the window.
        let parts: Vec<&AwardFact> = f
            .recent_awards
            .iter()
            .filter(|a| a.seq != f.seq)
            .take_while(|a| {
                &a.vendor == vendor && in_window(a.date) && a.amount.is_some_and(|x| x < limit)
            })
            .collect();
        let total = parts.iter().fold(amount, |s, a| {
            s.saturating_add(a.amount.unwrap_or_default())
        });
        if !parts.is_empty() && total >= limit {
            let mut evidence = vec![f.seq];
            let mut seqs: Vec<u64> = parts.iter().map(|a| a.seq).collect();
            seqs.sort_unstable();
            evidence.extend(seqs);
            out.push(Finding {
                rule: "split-purchase",
                severity: Severity::High,
                message: format!(
                    "{} consecutive direct awards by {} to {} within {} days total {}, each under the {} threshold of {}",
                    parts.len() + 1,
                    f.ministry.as_deref().unwrap_or("?"),
                    vendor,
                    t.window_days,
                    money(total, &f.currency),
                    method,
                    money(limit, &f.currency)
                ),
                evidence,
            });
            return;
        }
    }
}
