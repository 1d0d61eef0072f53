//! Period screens of the distribution of amounts: amounts piling up under a threshold
//! (`below-threshold-clustering`), first digits against Benford's law (`benford`, Nigrini's
//! MAD bands) and amounts far from their category's history (`amount-outlier`, robust
//! z-score on median and MAD).

use crate::screening::rules::money;
use crate::screening::rules::Severity;
use crate::screening::rules::Thresholds;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use uuid::Uuid;

use super::{
    latest, median_sorted, Context, PeriodFinding, Spend, BENFORD_EVIDENCE_MAX, EVIDENCE_MAX,
};

/// A ministry's payments and awards pile up in [T × (1 − band), T) compared with
/// [T, T × (1 + band)), for each method threshold T.
pub fn below_threshold_clustering(
    spends: &[Spend],
    t: &Thresholds,
    cx: &Context<'_>,
) -> Vec<PeriodFinding> {
    let mut out = Vec::new();
    let band = t.clustering_band;
    for (limit, method) in t.method_limits() {
        let low = limit * (Decimal::ONE - band);
        let high = limit * (Decimal::ONE + band);
        // ministry -> (seqs below, count above)
        let mut by_ministry: BTreeMap<Uuid, (Vec<u64>, u32)> = BTreeMap::new();
        for s in spends {
            let Some(m) = s.ministry else { continue };
            if s.amount >= low && s.amount < limit {
                by_ministry.entry(m).or_default().0.push(s.seq);
            } else if s.amount >= limit && s.amount < high {
                let e = by_ministry.entry(m).or_default();
                e.1 = e.1.saturating_add(1);
            }
        }
        for (m, (below, above)) in by_ministry {
            let n = u32::try_from(below.len()).unwrap_or(u32::MAX);
            if n < t.clustering_min
                || Decimal::from(n) <= t.clustering_ratio * Decimal::from(above.saturating_add(1))
            {
                continue;
            }
            let capped = if below.len() > EVIDENCE_MAX {
                format!(" (evidence: the latest {EVIDENCE_MAX})")
            } else {
                String::new()
            };
            out.push(PeriodFinding {
                rule: "below-threshold-clustering",
                severity: Severity::High,
                subject: format!("ministry:{m}/threshold:{}/{}", limit.normalize(), cx.period),
                ministry: Some(m),
                vendor: None,
                message: format!(
                    "{} made {n} payments or awards from {} to {} just under the {} limit of \
                     {} (from {}), against {above} just over it (up to {}){capped}",
                    cx.name(m),
                    cx.period.from,
                    cx.period.to,
                    method,
                    money(limit, cx.currency),
                    money(low, cx.currency),
                    money(high, cx.currency),
                ),
                evidence: latest(below, EVIDENCE_MAX),
            });
        }
    }
    out
}

/// Benford's expected share of first digit `d` (1 to 9): log10(1 + 1/d).
pub(super) fn benford_p(d: u8) -> f64 {
    (1.0 + 1.0 / f64::from(d)).log10()
}

/// The first significant digit of an amount of at least 10.
pub(super) fn first_digit(amount: Decimal) -> Option<u8> {
    if amount < Decimal::TEN {
        return None;
    }
    amount
        .trunc()
        .to_string()
        .chars()
        .next()
        .and_then(|c| c.to_digit(10))
        .and_then(|d| u8::try_from(d).ok())
        .filter(|d| (1..=9).contains(d))
}

/// Nigrini's conformity bands for the first-digit MAD.
pub fn conformity(mad: f64) -> &'static str {
    if mad <= 0.006 {
        "close conformity"
    } else if mad <= 0.012 {
        "acceptable conformity"
    } else if mad <= 0.015 {
        "marginally acceptable conformity"
    } else {
        "nonconformity"
    }
}

/// MAD of a first-digit population, the most over-represented digit, and N; `None` for
/// an empty population. `digits` are (seq, first digit).
pub fn mad(digits: &[(u64, u8)]) -> Option<(f64, u8, u32)> {
    let n = u32::try_from(digits.len()).ok().filter(|n| *n > 0)?;
    let mut counts = [0u32; 9];
    for (_, d) in digits {
        if let Some(c) = counts.get_mut(usize::from(d.saturating_sub(1))) {
            *c = c.saturating_add(1);
        }
    }
    let mut sum = 0.0;
    let mut worst = (1u8, f64::MIN);
    for (d, c) in (1u8..=9).zip(counts) {
        let diff = f64::from(c) / f64::from(n) - benford_p(d);
        sum += diff.abs();
        if diff > worst.1 {
            worst = (d, diff);
        }
    }
    Some((sum / 9.0, worst.0, n))
}

/// The first-digit test of each ministry's and each vendor's payments of at least 10;
/// nonconforming populations of at least `benford_min` are flagged.
pub fn benford(spends: &[Spend], t: &Thresholds, cx: &Context<'_>) -> Vec<PeriodFinding> {
    let mut ministries: BTreeMap<Uuid, Vec<(u64, u8)>> = BTreeMap::new();
    let mut vendors: BTreeMap<Uuid, Vec<(u64, u8)>> = BTreeMap::new();
    for s in spends.iter().filter(|s| s.kind == "payment") {
        let Some(d) = first_digit(s.amount) else {
            continue;
        };
        if let Some(m) = s.ministry {
            ministries.entry(m).or_default().push((s.seq, d));
        }
        if let Some(v) = s.vendor {
            vendors.entry(v).or_default().push((s.seq, d));
        }
    }
    let populations = ministries
        .into_iter()
        .map(|(m, ds)| (Some(m), None, ds))
        .chain(vendors.into_iter().map(|(v, ds)| (None, Some(v), ds)));
    let mut out = Vec::new();
    for (ministry, vendor, digits) in populations {
        let Some((mad, digit, n)) = mad(&digits) else {
            continue;
        };
        if n < t.benford_min || mad <= 0.015 {
            continue;
        }
        let (who, subject) = match (ministry, vendor) {
            (Some(m), _) => (
                format!("{}'s payments", cx.name(m)),
                format!("ministry:{m}/{}", cx.period),
            ),
            (_, Some(v)) => (
                format!("payments to {}", cx.name(v)),
                format!("vendor:{v}/{}", cx.period),
            ),
            _ => continue,
        };
        let with_digit =
            u32::try_from(digits.iter().filter(|(_, d)| *d == digit).count()).unwrap_or(u32::MAX);
        let evidence = latest(
            digits
                .iter()
                .filter(|(_, d)| *d == digit)
                .map(|(s, _)| *s)
                .collect(),
            BENFORD_EVIDENCE_MAX,
        );
        out.push(PeriodFinding {
            rule: "benford",
            severity: Severity::Medium,
            subject,
            ministry,
            vendor,
            message: format!(
                "The first digits of {who} from {} to {} deviate from Benford's law: \
                 MAD {mad:.4} ({}, over 0.015) on {n} payments; digit {digit} leads \
                 {:.1}% of them against {:.1}% expected (evidence: up to \
                 {BENFORD_EVIDENCE_MAX} of them)",
                cx.period.from,
                cx.period.to,
                conformity(mad),
                100.0 * f64::from(with_digit) / f64::from(n),
                100.0 * benford_p(digit),
            ),
            evidence,
        });
    }
    out
}

/// 1.4826: MAD × this estimates the standard deviation of a normal population.
pub(super) const MAD_SCALE: f64 = 1.4826;

/// 1.253314 (√(π/2)): mean absolute deviation × this estimates it, used when MAD is 0.
pub(super) const MEAN_AD_SCALE: f64 = 1.253_314;

/// The median of values sorted ascending; `None` when empty.
pub(super) fn median_f64(v: &[f64]) -> Option<f64> {
    let n = v.len();
    let mid = n / 2;
    if n == 0 {
        None
    } else if n % 2 == 1 {
        v.get(mid).copied()
    } else {
        Some((v.get(mid.checked_sub(1)?)? + v.get(mid)?) / 2.0)
    }
}

/// Amount outlier: within each (kind, category) population of the period's payments and
/// awards of at least `outlier_min_population` entries, an amount whose robust z-score
/// |x − median| / (1.4826 × MAD) is over `outlier_z`, where x is the natural logarithm of
/// the amount when `outlier_log_amounts` (the default; amounts are heavy-tailed) and the
/// amount itself otherwise. When MAD is 0 (more than half the values equal the median)
/// the scale is 1.253314 × the mean absolute deviation instead (Iglewicz and Hoaglin);
/// when that is 0 too every value is the median and none is an outlier. The statistic is
/// computed in f64; amounts in the message are the exact decimals. Entries with no
/// category are not tested.
pub fn amount_outlier(spends: &[Spend], t: &Thresholds, cx: &Context<'_>) -> Vec<PeriodFinding> {
    use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
    let log = t.outlier_log_amounts;
    let Some(limit) = t.outlier_z.to_f64() else {
        return Vec::new();
    };
    let mut populations: BTreeMap<(&str, &str), Vec<(&Spend, f64)>> = BTreeMap::new();
    for s in spends {
        let (Some(c), "payment" | "award") = (s.category.as_deref(), s.kind.as_str()) else {
            continue;
        };
        let value = match (s.amount.to_f64(), log) {
            (Some(x), true) if x > 0.0 => x.ln(),
            (Some(x), false) => x,
            _ => continue,
        };
        populations
            .entry((s.kind.as_str(), c))
            .or_default()
            .push((s, value));
    }
    let money_f = |v: f64| {
        Decimal::from_f64(v)
            .map(|d| money(d.round_dp(2), cx.currency))
            .unwrap_or_else(|| format!("{v:.2} {}", cx.currency))
    };
    let mut out = Vec::new();
    for ((kind, category), pop) in populations {
        let n = pop.len();
        if u32::try_from(n).unwrap_or(u32::MAX) < t.outlier_min_population {
            continue;
        }
        let mut values: Vec<f64> = pop.iter().map(|(_, v)| *v).collect();
        values.sort_by(f64::total_cmp);
        let Some(median) = median_f64(&values) else {
            continue;
        };
        let mut devs: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
        devs.sort_by(f64::total_cmp);
        let Some(mad) = median_f64(&devs) else {
            continue;
        };
        let describe = |d: f64| {
            if log {
                format!("{d:.3} (a factor of {:.2})", d.exp())
            } else {
                money_f(d)
            }
        };
        let of_what = if log { " of the log amounts" } else { "" };
        let (scale, spread) = if mad > 0.0 {
            (MAD_SCALE * mad, format!("MAD{of_what} {}", describe(mad)))
        } else {
            let mean_ad = devs.iter().sum::<f64>() / n.to_f64().unwrap_or(1.0);
            if mean_ad <= 0.0 {
                continue;
            }
            (
                MEAN_AD_SCALE * mean_ad,
                format!(
                    "MAD{of_what} 0, so scaled by the mean absolute deviation of {}",
                    describe(mean_ad)
                ),
            )
        };
        let mut amounts: Vec<Decimal> = pop.iter().map(|(s, _)| s.amount).collect();
        amounts.sort_unstable();
        let median_amount = median_sorted(&amounts).unwrap_or_default();
        let on = if log { " on log amounts" } else { "" };
        for (s, v) in pop {
            let z = (v - median).abs() / scale;
            if z <= limit {
                continue;
            }
            let parties = match (s.ministry, s.vendor) {
                (Some(m), Some(v)) => format!(" by {} to {}", cx.name(m), cx.name(v)),
                (Some(m), None) => format!(" by {}", cx.name(m)),
                (None, Some(v)) => format!(" to {}", cx.name(v)),
                (None, None) => String::new(),
            };
            out.push(PeriodFinding {
                rule: "amount-outlier",
                severity: Severity::Medium,
                subject: format!("entry:{}", s.seq),
                ministry: s.ministry,
                vendor: s.vendor,
                message: format!(
                    "{kind} {} of {} on {}{parties} is far {} the {n} {category:?} {kind}s \
                     from {} to {}: robust z-score{on} {z:.1} (median {}, {spread}), over {}",
                    s.seq,
                    money(s.amount, cx.currency),
                    s.date,
                    if v > median { "above" } else { "below" },
                    cx.period.from,
                    cx.period.to,
                    money(median_amount, cx.currency),
                    t.outlier_z.normalize(),
                ),
                evidence: vec![s.seq],
            });
        }
    }
    out
}
