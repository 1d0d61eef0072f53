//! Period screens of who wins: one vendor's share of a ministry's spend
//! (`vendor-concentration`) and a ministry's share of direct awards against its peers
//! (`non-competitive-share`).

use crate::screening::rules::money;
use crate::screening::rules::Severity;
use crate::screening::rules::Thresholds;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use uuid::Uuid;

use super::{
    latest, median_sorted, percent, percent_limit, AwardShare, Context, PeriodFinding, Spend,
    EVIDENCE_MAX,
};

/// One vendor takes more than `concentration_share` of a ministry's payments (by amount)
/// when the ministry made at least `concentration_min_payments` payments.
pub fn vendor_concentration(
    spends: &[Spend],
    t: &Thresholds,
    cx: &Context<'_>,
) -> Vec<PeriodFinding> {
    // ministry -> (count, total, vendor -> (total, seqs))
    type ByVendor = BTreeMap<Uuid, (Decimal, Vec<u64>)>;
    let mut by_ministry: BTreeMap<Uuid, (u32, Decimal, ByVendor)> = BTreeMap::new();
    for s in spends.iter().filter(|s| s.kind == "payment") {
        let (Some(m), Some(v)) = (s.ministry, s.vendor) else {
            continue;
        };
        let e = by_ministry.entry(m).or_default();
        e.0 = e.0.saturating_add(1);
        e.1 += s.amount;
        let ve = e.2.entry(v).or_default();
        ve.0 += s.amount;
        ve.1.push(s.seq);
    }
    let mut out = Vec::new();
    for (m, (n, total, vendors)) in by_ministry {
        if n < t.concentration_min_payments || total <= Decimal::ZERO {
            continue;
        }
        for (v, (sum, seqs)) in vendors {
            let share = sum / total;
            if share <= t.concentration_share {
                continue;
            }
            let count = seqs.len();
            let evidence = latest(seqs, EVIDENCE_MAX);
            let capped = if count > EVIDENCE_MAX {
                format!(" (evidence: the latest {EVIDENCE_MAX} of {count} payments)")
            } else {
                String::new()
            };
            out.push(PeriodFinding {
                rule: "vendor-concentration",
                severity: Severity::Medium,
                subject: format!("ministry:{m}/vendor:{v}/{}", cx.period),
                ministry: Some(m),
                vendor: Some(v),
                message: format!(
                    "{} paid {} {}% of its payments from {} to {}: {} of {} ({count} of its \
                     {n} payments), above the {}% concentration threshold{capped}",
                    cx.name(m),
                    cx.name(v),
                    (share * Decimal::from(100)).round_dp(1),
                    cx.period.from,
                    cx.period.to,
                    money(sum, cx.currency),
                    money(total, cx.currency),
                    (t.concentration_share * Decimal::from(100)).normalize(),
                ),
                evidence,
            });
        }
    }
    out
}

/// Non-competitive share: a ministry with at least `noncompetitive_min_awards` awards in
/// the period gave more than `noncompetitive_share_min` of their value by the direct
/// method, and more than `noncompetitive_peer_factor` × its peers' share: the median share
/// of the other ministries with awards in the period when there are at least two, else
/// the direct share of the other ministry's award value (with none, nothing to compare).
pub fn non_competitive_share(
    spends: &[Spend],
    t: &Thresholds,
    cx: &Context<'_>,
) -> Vec<PeriodFinding> {
    let mut by_ministry: BTreeMap<Uuid, AwardShare> = BTreeMap::new();
    for s in spends.iter().filter(|s| s.kind == "award") {
        let Some(m) = s.ministry else { continue };
        let e = by_ministry.entry(m).or_default();
        e.0 = e.0.saturating_add(s.amount);
        e.3 = e.3.saturating_add(1);
        if s.method.as_deref() == Some("direct") {
            e.1 = e.1.saturating_add(s.amount);
            e.2.push(s.seq);
        }
    }
    let share = |(total, direct, _, _): &AwardShare| -> Option<Decimal> {
        (*total > Decimal::ZERO).then(|| *direct / *total)
    };
    let shares: BTreeMap<Uuid, Decimal> = by_ministry
        .iter()
        .filter_map(|(m, a)| Some((*m, share(a)?)))
        .collect();
    let mut out = Vec::new();
    for (m, award) in &by_ministry {
        let (total, direct, seqs, n) = award;
        let Some(own) = shares.get(m).copied() else {
            continue;
        };
        if *n < t.noncompetitive_min_awards || own <= t.noncompetitive_share_min {
            continue;
        }
        let mut peers: Vec<Decimal> = shares
            .iter()
            .filter(|(p, _)| *p != m)
            .map(|(_, s)| *s)
            .collect();
        peers.sort_unstable();
        let (baseline, against) = match peers.len() {
            0 => continue,
            1 => (
                peers.first().copied().unwrap_or_default(),
                "the other ministry's direct share".to_owned(),
            ),
            k => (
                median_sorted(&peers).unwrap_or_default(),
                format!("the median direct share of the {k} other ministries"),
            ),
        };
        if own <= t.noncompetitive_peer_factor * baseline {
            continue;
        }
        let count = seqs.len();
        let capped = if count > EVIDENCE_MAX {
            format!(" (evidence: the latest {EVIDENCE_MAX} of them)")
        } else {
            String::new()
        };
        out.push(PeriodFinding {
            rule: "non-competitive-share",
            severity: Severity::Medium,
            subject: format!("ministry:{m}/{}", cx.period),
            ministry: Some(*m),
            vendor: None,
            message: format!(
                "{} awarded {}% of its award value from {} to {} by direct (non-competitive) \
                 method: {} of {} ({count} of its {n} awards), against {}% for {against}; \
                 the thresholds are more than {}% and more than {} times the peers'{capped}",
                cx.name(*m),
                percent(own),
                cx.period.from,
                cx.period.to,
                money(*direct, cx.currency),
                money(*total, cx.currency),
                percent(baseline),
                percent_limit(t.noncompetitive_share_min),
                t.noncompetitive_peer_factor.normalize(),
            ),
            evidence: latest(seqs.clone(), EVIDENCE_MAX),
        });
    }
    out
}
