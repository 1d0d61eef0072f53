//! Per-entry screens of competition and awards: single bidder, short tender period,
//! identical bids, disqualification patterns (lowest bid, all but the winner), bid spread,
//! award above the winning bid, contract inflation, consecutive wins, self-approval.

use rust_decimal::Decimal;

use super::{money, percent, AwardFact, BidFact, Facts, Finding, Severity, TenderFact, Thresholds};

/// The winning bid of an award: the lowest valid (not disqualified) bid of the award's
/// vendor recorded before it.
pub(super) fn winning_bid<'a>(tender: &'a TenderFact, vendor: &str) -> Option<&'a BidFact> {
    tender
        .bids
        .iter()
        .filter(|b| b.vendor == vendor && b.disqualified.is_none())
        .min_by(|x, y| x.amount.cmp(&y.amount).then(x.seq.cmp(&y.seq)))
}

/// The award went above a lowest bid that was disqualified.
pub(super) fn lowest_bid_disqualified(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let (Some(tender), "award", Some(amount), Some(vendor)) =
        (&f.tender, f.kind.as_str(), f.amount, &f.vendor)
    else {
        return;
    };
    let Some(lowest) = tender
        .bids
        .iter()
        .min_by(|x, y| x.amount.cmp(&y.amount).then(x.seq.cmp(&y.seq)))
    else {
        return;
    };
    // Among equal lowest amounts, one that was disqualified.
    let Some((bid, dq)) = tender
        .bids
        .iter()
        .filter(|b| b.amount == lowest.amount && &b.vendor != vendor)
        .find_map(|b| b.disqualified.map(|d| (b, d)))
    else {
        return;
    };
    let winning = winning_bid(tender, vendor);
    let price = winning.map_or(amount, |w| w.amount);
    if price
        <= bid
            .amount
            .saturating_add(bid.amount * t.lowest_disqualified_share)
    {
        return;
    }
    let mut evidence = vec![f.seq, bid.seq, dq];
    evidence.extend(winning.map(|w| w.seq));
    out.push(Finding {
        rule: "lowest-bid-disqualified",
        severity: Severity::High,
        message: format!(
            "award {} on tender {} went to {} at {}{}, above the lowest bid {} of {} by {}, which entry {dq} disqualified",
            f.seq,
            tender.seq,
            vendor,
            money(price, &f.currency),
            winning.map_or_else(String::new, |w| format!(" (bid {})", w.seq)),
            bid.seq,
            money(bid.amount, &f.currency),
            bid.vendor
        ),
        evidence,
    });
}

/// Every other bid was disqualified, leaving the winner alone.
pub(super) fn all_but_winner_disqualified(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let (Some(tender), "award", Some(vendor)) = (&f.tender, f.kind.as_str(), &f.vendor) else {
        return;
    };
    let n = tender.bids.len();
    if u32::try_from(n).unwrap_or(u32::MAX) < t.all_but_winner_min_bids {
        return;
    }
    let (own, others): (Vec<&BidFact>, Vec<&BidFact>) =
        tender.bids.iter().partition(|b| &b.vendor == vendor);
    if others.is_empty()
        || own.iter().all(|b| b.disqualified.is_some())
        || others.iter().any(|b| b.disqualified.is_none())
    {
        return;
    }
    let mut rest: Vec<u64> = own.iter().map(|b| b.seq).collect();
    for b in &others {
        rest.push(b.seq);
        rest.extend(b.disqualified);
    }
    rest.sort_unstable();
    let mut evidence = vec![f.seq];
    evidence.extend(rest);
    out.push(Finding {
        rule: "all-but-winner-disqualified",
        severity: Severity::High,
        message: format!(
            "award {} on tender {} went to {}, the only bidder left: the other {} of its {n} bids ({}) were disqualified",
            f.seq,
            tender.seq,
            vendor,
            others.len(),
            others
                .iter()
                .map(|b| format!("{} by {} of {}", b.seq, b.vendor, money(b.amount, &f.currency)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        evidence,
    });
}

/// The runner-up's valid bid unusually close to the winning bid (cover bidding) or far
/// above it.
pub(super) fn bid_spread(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let (Some(tender), "award", Some(vendor)) = (&f.tender, f.kind.as_str(), &f.vendor) else {
        return;
    };
    let Some(win) = winning_bid(tender, vendor) else {
        return;
    };
    if win.amount <= Decimal::ZERO {
        return;
    }
    let valid = tender.bids.iter().filter(|b| b.disqualified.is_none());
    // Only when the award went to the lowest valid bid: the spread is that of the price
    // competition the award settled.
    if valid.clone().any(|b| b.amount < win.amount) {
        return;
    }
    let Some(second) = valid
        .filter(|b| &b.vendor != vendor)
        .min_by(|x, y| x.amount.cmp(&y.amount).then(x.seq.cmp(&y.seq)))
    else {
        return;
    };
    // Amounts are within the decimal range, so the difference is; the quotient of two
    // such amounts may not be (a winning bid of 0.01): then it is far in any case.
    let spread = (second.amount - win.amount)
        .checked_div(win.amount)
        .unwrap_or(Decimal::MAX);
    let close = spread > Decimal::ZERO && spread <= t.bid_spread_close;
    let far = spread > t.bid_spread_far;
    if !(close || far) {
        return;
    }
    out.push(Finding {
        rule: "bid-spread",
        severity: if close { Severity::Medium } else { Severity::Low },
        message: format!(
            "award {} on tender {}: the second-lowest valid bid {} of {} by {} is {} above the winning bid {} of {} by {}, {}",
            f.seq,
            tender.seq,
            second.seq,
            money(second.amount, &f.currency),
            second.vendor,
            percent(spread),
            win.seq,
            money(win.amount, &f.currency),
            vendor,
            if close {
                format!("within {} (possible cover bidding)", percent(t.bid_spread_close))
            } else {
                format!("more than {} (possible bid suppression)", percent(t.bid_spread_far))
            }
        ),
        evidence: vec![f.seq, win.seq, second.seq, tender.seq],
    });
}

/// The award's vendor won the ministry's last `consecutive_wins_min` awards in a row, this
/// one included (latest dated first; vendors compare by name).
pub(super) fn consecutive_wins(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let ("award", Some(vendor)) = (f.kind.as_str(), &f.vendor) else {
        return;
    };
    let n = usize::try_from(t.consecutive_wins_min).unwrap_or(usize::MAX);
    let last: Vec<&AwardFact> = f.recent_awards.iter().take(n).collect();
    if last.len() < n.max(2)
        || !last.iter().any(|a| a.seq == f.seq)
        || last.iter().any(|a| &a.vendor != vendor)
    {
        return;
    }
    let mut seqs: Vec<u64> = last.iter().map(|a| a.seq).collect();
    seqs.sort_unstable();
    let total = last
        .iter()
        .filter_map(|a| a.amount)
        .fold(Decimal::ZERO, Decimal::saturating_add);
    let first = last.iter().map(|a| a.date).min().unwrap_or(f.business_date);
    let latest = last.iter().map(|a| a.date).max().unwrap_or(f.business_date);
    let mut evidence = vec![f.seq];
    evidence.extend(seqs.iter().filter(|s| **s != f.seq));
    out.push(Finding {
        rule: "vendor-concentration",
        severity: Severity::Medium,
        message: format!(
            "award {} to {} makes it the winner of the last {n} awards of {} in a row (awards {}, dated {} to {}), together {}",
            f.seq,
            vendor,
            f.ministry.as_deref().unwrap_or("?"),
            seqs.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
            first,
            latest,
            money(total, &f.currency)
        ),
        evidence,
    });
}

/// The user who recorded an entry approved it: history recorded before the fund had an
/// approval policy (under one, the maker of a request cannot decide it at all).
pub(super) fn self_approval(f: &Facts, out: &mut Vec<Finding>) {
    let (Some(a), "approval") = (&f.approval, f.kind.as_str()) else {
        return;
    };
    if a.approver != a.recorder || a.recorded_under_policy {
        return;
    }
    let mut what = vec![format!("dated {}", a.approved_date)];
    if let Some(v) = a.approved_amount {
        what.insert(0, money(v, &f.currency));
    }
    if let Some(v) = &f.vendor {
        what.push(format!("vendor {v}"));
    }
    out.push(Finding {
        rule: "self-approval",
        severity: Severity::High,
        message: format!(
            "approval {} of {} {} by {} ({}) was made by user {}, who recorded that {} too",
            f.seq,
            a.approved_kind,
            a.approved_seq,
            f.ministry.as_deref().unwrap_or("?"),
            what.join(", "),
            a.approver,
            a.approved_kind
        ),
        evidence: vec![f.seq, a.approved_seq],
    });
}

pub(super) fn single_bidder(f: &Facts, out: &mut Vec<Finding>) {
    let (Some(tender), "award") = (&f.tender, f.kind.as_str()) else {
        return;
    };
    let bidders: std::collections::BTreeSet<&str> =
        tender.bids.iter().map(|b| b.vendor.as_str()).collect();
    // The vendors that bid, unless the award states more bids than were recorded (a
    // publisher that gives `numberOfTenderers` but not every bid, or no bid at all): then
    // that number.
    let received = usize::try_from(f.bids_received.unwrap_or(0)).unwrap_or(usize::MAX);
    let count = if received > tender.bids.len() {
        received
    } else {
        bidders.len()
    };
    if matches!(tender.method.as_str(), "open" | "restricted") && count == 1 {
        let mut evidence = vec![f.seq, tender.seq];
        evidence.extend(tender.bids.iter().map(|b| b.seq));
        out.push(Finding {
            rule: "single-bidder",
            severity: Severity::Medium,
            message: format!(
                "award {} on {} tender {} followed a single bid",
                f.seq, tender.method, tender.seq
            ),
            evidence,
        });
    }
}

pub(super) fn award_above_bid(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let (Some(tender), "award", Some(amount), Some(vendor)) =
        (&f.tender, f.kind.as_str(), f.amount, &f.vendor)
    else {
        return;
    };
    // The award may carry `award_tax_share` more than the bid or estimate it is compared
    // with (bids net, awards gross); 0 compares them as recorded.
    let with_tax = |v: Decimal| v.saturating_mul(Decimal::ONE + t.award_tax_share);
    let tax = if t.award_tax_share.is_zero() {
        String::new()
    } else {
        format!(" plus {} tax", percent(t.award_tax_share))
    };
    if let Some(bid) = tender.bids.iter().find(|b| &b.vendor == vendor) {
        if amount > with_tax(bid.amount) {
            out.push(Finding {
                rule: "award-above-bid",
                severity: Severity::High,
                message: format!(
                    "award {} of {} is above the winner's bid {} of {}{tax}",
                    f.seq,
                    money(amount, &f.currency),
                    bid.seq,
                    money(bid.amount, &f.currency)
                ),
                evidence: vec![f.seq, bid.seq, tender.seq],
            });
        }
    } else if tender.method != "direct" && amount > with_tax(tender.estimate) {
        out.push(Finding {
            rule: "award-above-bid",
            severity: Severity::High,
            message: format!(
                "award {} of {} is above tender {}'s estimate of {}{tax}",
                f.seq,
                money(amount, &f.currency),
                tender.seq,
                money(tender.estimate, &f.currency)
            ),
            evidence: vec![f.seq, tender.seq],
        });
    }
}

pub(super) fn identical_bids(f: &Facts, out: &mut Vec<Finding>) {
    let (Some(tender), "bid", Some(amount), Some(vendor)) =
        (&f.tender, f.kind.as_str(), f.amount, &f.vendor)
    else {
        return;
    };
    let same: Vec<&BidFact> = tender
        .bids
        .iter()
        .filter(|b| b.seq != f.seq && &b.vendor != vendor && b.amount == amount)
        .collect();
    if !same.is_empty() {
        let mut evidence = vec![f.seq];
        evidence.extend(same.iter().map(|b| b.seq));
        out.push(Finding {
            rule: "identical-bids",
            severity: Severity::High,
            message: format!(
                "bid {} of {} on tender {} equals {} other vendor(s)' bid",
                f.seq,
                money(amount, &f.currency),
                tender.seq,
                same.len()
            ),
            evidence,
        });
    }
}

pub(super) fn short_tender_period(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let (Some(tender), Some(deadline), "tender") = (&f.tender, f.deadline, f.kind.as_str()) else {
        return;
    };
    let minimum = match tender.method.as_str() {
        "open" => t.min_days_open,
        "restricted" => t.min_days_restricted,
        "request_for_quotation" => t.min_days_rfq,
        _ => return,
    };
    let days = (deadline - f.business_date).num_days();
    if days < minimum {
        out.push(Finding {
            rule: "short-tender-period",
            severity: Severity::Medium,
            message: format!(
                "{} tender {} gives {days} days to bid (from {} to {deadline}); the minimum is {minimum}",
                tender.method, f.seq, f.business_date
            ),
            evidence: vec![f.seq],
        });
    }
}

pub(super) fn contract_inflation(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let (Some(c), "contract_amendment") = (&f.contract, f.kind.as_str()) else {
        return;
    };
    let cap = c.original + c.original * t.inflation_share;
    if c.value > cap || c.amendments > t.max_amendments {
        out.push(Finding {
            rule: "contract-inflation",
            severity: Severity::Medium,
            message: format!(
                "contract {} now stands at {} after {} amendment(s), from {} originally",
                c.seq,
                money(c.value, &f.currency),
                c.amendments,
                money(c.original, &f.currency)
            ),
            evidence: vec![f.seq, c.seq],
        });
    }
}
