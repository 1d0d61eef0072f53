//! Per-entry screens of payments against what stands behind them: duplicate and
//! near-duplicate payments, over-contract, payment without contract, payment outside the
//! contract's dates, spending before funding.

use super::{adjacent_transposition, money, percent, Facts, Finding, Prior, Severity, Thresholds};

/// A ministry pays out of the fund more than it has received from it by then.
pub(super) fn spending_before_funding(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let (Some(funding), "payment", Some(amount)) = (&f.funding, f.kind.as_str(), f.amount) else {
        return;
    };
    let allowed = funding
        .received
        .saturating_add(funding.received * t.funding_tolerance);
    if funding.paid <= allowed {
        return;
    }
    let mut evidence = vec![f.seq];
    evidence.extend(funding.latest_disbursement.map(|(s, _, _)| s));
    out.push(Finding {
        rule: "spending-before-funding",
        severity: Severity::Medium,
        message: format!(
            "{} has paid {} out of this fund by {} (payment {} of {} to {} included) but received {} in disbursements by then ({})",
            f.ministry.as_deref().unwrap_or("?"),
            money(funding.paid, &f.currency),
            f.business_date,
            f.seq,
            money(amount, &f.currency),
            f.vendor.as_deref().unwrap_or("?"),
            money(funding.received, &f.currency),
            match funding.latest_disbursement {
                Some((s, d, a)) => format!(
                    "the latest, disbursement {s} of {} on {d}",
                    money(a, &f.currency)
                ),
                None => "none yet".to_owned(),
            }
        ),
        evidence,
    });
}

/// A contract's unreversed invoices (or payments), this one included, total more than its
/// value with amendments plus `over_contract_tolerance` of it.
pub(super) fn over_contract(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let (Some(c), kind @ ("invoice" | "payment")) = (&f.over_contract, f.kind.as_str()) else {
        return;
    };
    let line = c.value.saturating_add(c.value * t.over_contract_tolerance);
    if c.cumulative <= line {
        return;
    }
    let (what, whats) = if kind == "invoice" {
        ("invoice", "invoices")
    } else {
        ("payment", "payments")
    };
    let amended = c.value - c.original;
    let amendments = match c.amendments.len() {
        0 => "no amendment".to_owned(),
        1 => format!("{} in 1 amendment", money(amended, &c.currency)),
        n => format!("{} in {n} amendments", money(amended, &c.currency)),
    };
    let mut evidence = vec![f.seq, c.contract];
    evidence.extend(&c.amendments);
    evidence.extend(&c.earlier);
    out.push(Finding {
        rule: "over-contract",
        severity: Severity::High,
        message: format!(
            "{whats} of contract {} with {} total {} with {what} {} of {}, {} above its value of {} ({} signed, {amendments}); the tolerance of {} allows {}",
            c.contract,
            c.vendor.as_deref().unwrap_or("?"),
            money(c.cumulative, &c.currency),
            f.seq,
            money(c.amount, &c.currency),
            money(c.cumulative - c.value, &c.currency),
            money(c.value, &c.currency),
            money(c.original, &c.currency),
            percent(t.over_contract_tolerance),
            money(line, &c.currency),
        ),
        evidence,
    });
}

/// How two payments' invoice numbers relate, when that makes them near duplicates: one
/// of them has none (a direct purchase), they are the same, or a transposition apart.
pub(super) fn invoice_relation(a: Option<&str>, b: Option<&str>) -> Option<String> {
    match (a, b) {
        (Some(x), Some(y)) if x == y => Some(format!("the same invoice number {x}")),
        (Some(x), Some(y)) if adjacent_transposition(x, y) => Some(format!(
            "invoice numbers {x} and {y}, a transposition apart"
        )),
        (Some(_), Some(_)) => None,
        (Some(x), None) | (None, Some(x)) => Some(format!("invoice number {x} against none")),
        (None, None) => Some("no invoice numbers".to_owned()),
    }
}

/// Amounts within `near_duplicate_share` (not equal: that is `duplicate-payment`) and
/// invoice numbers that do not tell the payments apart.
pub(super) fn near_duplicate_payment(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let (Some(amount), "payment") = (f.amount, f.kind.as_str()) else {
        return;
    };
    let own = f.invoice_number.as_deref();
    let near: Vec<(&Prior, String)> = f
        .priors
        .iter()
        .filter(|p| {
            p.amount != amount
                && (p.amount - amount).abs() <= amount * t.near_duplicate_share
                && (f.business_date - p.date).num_days().abs() <= t.window_days
        })
        .filter_map(|p| invoice_relation(own, p.invoice_number.as_deref()).map(|why| (p, why)))
        .collect();
    if let Some((first, why)) = near.first() {
        let mut evidence = vec![f.seq];
        evidence.extend(near.iter().map(|(p, _)| p.seq));
        out.push(Finding {
            rule: "near-duplicate-payment",
            severity: Severity::Medium,
            message: format!(
                "payment {} of {} to {} is within {} of payment {} of {} on {} ({why})",
                f.seq,
                money(amount, &f.currency),
                f.vendor.as_deref().unwrap_or("?"),
                percent(t.near_duplicate_share),
                first.seq,
                money(first.amount, &f.currency),
                first.date
            ),
            evidence,
        });
    }
}

pub(super) fn payment_outside_contract_dates(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let (Some((contract, starts, ends)), "payment") = (f.contract_dates, f.kind.as_str()) else {
        return;
    };
    let late = (f.business_date - ends).num_days();
    if f.business_date < starts || late > t.contract_grace_days {
        out.push(Finding {
            rule: "payment-outside-contract-dates",
            severity: Severity::Medium,
            message: format!(
                "payment {} on {} falls outside contract {} ({} to {}{})",
                f.seq,
                f.business_date,
                contract,
                starts,
                ends,
                if late > 0 {
                    format!(", {late} days after its end")
                } else {
                    String::new()
                }
            ),
            evidence: vec![f.seq, contract],
        });
    }
}

/// Medium for direct purchases at or above the direct-purchase threshold (they needed a
/// procurement), low under it.
pub(super) fn payment_without_contract(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    if f.kind == "payment" && f.direct_purchase {
        out.push(Finding {
            rule: "payment-without-contract",
            severity: if t.amounts_set() && f.amount.is_some_and(|a| a >= t.direct_max) {
                Severity::Medium
            } else {
                Severity::Low
            },
            message: format!(
                "payment {} of {} to {} has no invoice or contract behind it",
                f.seq,
                f.amount.map_or_else(String::new, |a| money(a, &f.currency)),
                f.vendor.as_deref().unwrap_or("?")
            ),
            evidence: vec![f.seq],
        });
    }
}

pub(super) fn duplicate_payment(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    match f.kind.as_str() {
        // The same vendor invoicing the same number twice.
        "invoice" => {
            let Some(number) = &f.invoice_number else {
                return;
            };
            let dups: Vec<u64> = f
                .priors
                .iter()
                .filter(|p| p.invoice_number.as_ref() == Some(number))
                .map(|p| p.seq)
                .collect();
            if !dups.is_empty() {
                let mut evidence = vec![f.seq];
                evidence.extend(&dups);
                out.push(Finding {
                    rule: "duplicate-payment",
                    severity: Severity::High,
                    message: format!(
                        "invoice {} from {} repeats invoice number {number} of entry {}",
                        f.seq,
                        f.vendor.as_deref().unwrap_or("?"),
                        dups.iter()
                            .map(u64::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    evidence,
                });
            }
        }
        // The same amount to the same vendor within the window.
        "payment" => {
            let Some(amount) = f.amount else { return };
            let dups: Vec<&Prior> = f
                .priors
                .iter()
                .filter(|p| {
                    p.amount == amount
                        && (f.business_date - p.date).num_days().abs() <= t.window_days
                })
                .collect();
            if let Some(first) = dups.first() {
                let mut evidence = vec![f.seq];
                evidence.extend(dups.iter().map(|p| p.seq));
                out.push(Finding {
                    rule: "duplicate-payment",
                    severity: Severity::High,
                    message: format!(
                        "payment {} of {} to {} repeats payment {} of {} on {}",
                        f.seq,
                        money(amount, &f.currency),
                        f.vendor.as_deref().unwrap_or("?"),
                        first.seq,
                        money(first.amount, &f.currency),
                        first.date
                    ),
                    evidence,
                });
            }
        }
        _ => {}
    }
}
