//! Period screens of money over time: spending in a short window far above the trailing
//! rate (`velocity-spike`) and disbursements left unspent too long (`unspent` findings of
//! `spending-before-funding`).

use crate::screening::rules::money;
use crate::screening::rules::Severity;
use crate::screening::rules::Thresholds;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use super::{
    days_before, latest, percent, percent_limit, plural, Context, PeriodFinding, Spend,
    EVIDENCE_MAX,
};

/// Sums of amounts by business date, for O(log n) sums over any range of days.
pub(super) struct DailySums {
    /// Distinct dates, ascending.
    dates: Vec<NaiveDate>,
    /// `prefix[i]` = the sum of the amounts dated before `dates[i]`; one more element.
    prefix: Vec<Decimal>,
}

impl DailySums {
    fn new<'a>(spends: impl Iterator<Item = &'a Spend>) -> Self {
        let mut by_day: BTreeMap<NaiveDate, Decimal> = BTreeMap::new();
        for s in spends {
            let e = by_day.entry(s.date).or_default();
            *e = e.saturating_add(s.amount);
        }
        let mut prefix = Vec::with_capacity(by_day.len().saturating_add(1));
        let mut total = Decimal::ZERO;
        prefix.push(total);
        let mut dates = Vec::with_capacity(by_day.len());
        for (d, v) in by_day {
            total = total.saturating_add(v);
            dates.push(d);
            prefix.push(total);
        }
        Self { dates, prefix }
    }

    /// The sum of the amounts dated `from` to `to`, both included.
    fn sum(&self, from: NaiveDate, to: NaiveDate) -> Decimal {
        if from > to {
            return Decimal::ZERO;
        }
        let lo = self.dates.partition_point(|d| *d < from);
        let hi = self.dates.partition_point(|d| *d <= to);
        match (self.prefix.get(hi), self.prefix.get(lo)) {
            (Some(h), Some(l)) => *h - *l,
            _ => Decimal::ZERO,
        }
    }
}

/// A window of a velocity check: its last day, total, and trailing total and ratio.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    end: NaiveDate,
    total: Decimal,
    trailing: Decimal,
    ratio: Decimal,
}

/// Velocity spike (period-end rush): for each ministry and each day D of the period, the
/// window of `velocity_window_days` (w) ending on D against the `velocity_trailing_days`
/// (t) before it. A window is hot when its total is at least `velocity_min_amount`, the
/// trailing total is positive, and total / w > `velocity_ratio` × trailing / t. Hot
/// windows whose ends are less than w days apart (they overlap) are one episode, flagged
/// once at its peak (highest ratio, the earliest on a tie). Sums come from per-day prefix
/// sums: O(n log n + ministries × days × log n).
///
/// Warm-up: a window whose trailing days start less than `velocity_warmup_days` after the
/// ministry's first payment in the fund (`first_payment`; when it is missing, the
/// earliest payment of `earlier` and `spends`) is not tested: the days before a ministry
/// first paid are no rate to compare with, and its first procurement cycles (tender,
/// award, contract, invoice, payment: two to three months) are a ramp, so every new
/// spender's first months would look like a rush.
pub fn velocity_spike(
    spends: &[Spend],
    earlier: &[Spend],
    first_payment: &HashMap<Uuid, NaiveDate>,
    t: &Thresholds,
    cx: &Context<'_>,
) -> Vec<PeriodFinding> {
    let (w, tr) = (t.velocity_window_days, t.velocity_trailing_days);
    if w < 1 || tr < 1 {
        return Vec::new();
    }
    let (wd, td) = (Decimal::from(w), Decimal::from(tr));
    let mut by_ministry: BTreeMap<Uuid, Vec<&Spend>> = BTreeMap::new();
    for s in earlier.iter().chain(spends.iter()) {
        if let (Some(m), "payment") = (s.ministry, s.kind.as_str()) {
            by_ministry.entry(m).or_default().push(s);
        }
    }
    let mut out = Vec::new();
    for (m, payments) in by_ministry {
        let sums = DailySums::new(payments.iter().copied());
        let Some(first_paid) = first_payment
            .get(&m)
            .copied()
            .or_else(|| payments.iter().map(|p| p.date).min())
        else {
            continue;
        };
        let warm = u64::try_from(t.velocity_warmup_days)
            .ok()
            .and_then(|d| first_paid.checked_add_days(chrono::Days::new(d)))
            .unwrap_or(NaiveDate::MAX);
        let mut hot: Vec<Window> = Vec::new();
        for end in cx
            .period
            .from
            .iter_days()
            .take_while(|d| *d <= cx.period.to)
        {
            let start = days_before(end, w - 1);
            if days_before(start, tr) < warm {
                continue;
            }
            let total = sums.sum(start, end);
            let trailing = sums.sum(days_before(start, tr), days_before(start, 1));
            if total < t.velocity_min_amount || trailing <= Decimal::ZERO {
                continue;
            }
            // total / w > ratio × trailing / t, without dividing.
            let (Some(lhs), Some(rhs)) = (
                total.checked_mul(td),
                t.velocity_ratio
                    .checked_mul(trailing)
                    .and_then(|x| x.checked_mul(wd)),
            ) else {
                continue;
            };
            if lhs > rhs {
                let ratio = lhs.checked_div(trailing * wd).unwrap_or(Decimal::MAX);
                hot.push(Window {
                    end,
                    total,
                    trailing,
                    ratio,
                });
            }
        }
        // Episodes of overlapping hot windows, each flagged at its peak:
        // (peak, hot windows, first and last hot window's end).
        let mut episodes: Vec<(Window, u32, NaiveDate, NaiveDate)> = Vec::new();
        for win in hot {
            match episodes.last_mut() {
                Some((peak, n, _, last)) if (win.end - *last).num_days() < w => {
                    *n = n.saturating_add(1);
                    *last = win.end;
                    if win.ratio > peak.ratio {
                        *peak = win;
                    }
                }
                _ => episodes.push((win, 1, win.end, win.end)),
            }
        }
        for (peak, hot_days, first, last) in episodes {
            let start = days_before(peak.end, w - 1);
            let (t_from, t_to) = (days_before(start, tr), days_before(start, 1));
            let seqs: Vec<u64> = payments
                .iter()
                .filter(|p| p.date >= start && p.date <= peak.end)
                .map(|p| p.seq)
                .collect();
            let count = seqs.len();
            let capped = if count > EVIDENCE_MAX {
                format!(" (evidence: the latest {EVIDENCE_MAX} of them)")
            } else {
                String::new()
            };
            let daily = (peak.trailing / td).round_dp(2);
            out.push(PeriodFinding {
                rule: "velocity-spike",
                severity: Severity::Medium,
                subject: format!("ministry:{m}/window:{start}..{}", peak.end),
                ministry: Some(m),
                vendor: None,
                message: format!(
                    "{} paid {} in the {w} days from {start} to {} ({}), {} times its \
                     daily rate of the {tr} days before ({} from {t_from} to {t_to}, {} a \
                     day), above the {}-times threshold (windows of at least {}; {} ending \
                     from {first} to {last} were over it, this is the highest){capped}",
                    cx.name(m),
                    money(peak.total, cx.currency),
                    peak.end,
                    plural(count, "payment"),
                    peak.ratio.round_dp(1),
                    money(peak.trailing, cx.currency),
                    money(daily, cx.currency),
                    t.velocity_ratio.normalize(),
                    money(t.velocity_min_amount, cx.currency),
                    plural(
                        usize::try_from(hot_days).unwrap_or(usize::MAX),
                        "overlapping window"
                    ),
                ),
                evidence: latest(seqs, EVIDENCE_MAX),
            });
        }
    }
    out
}

/// Spending before funding, the unspent half: a disbursement that becomes older than
/// `unspent_days` during the period (dated `from − 1 − unspent_days` to `to − 1 −
/// unspent_days`, so consecutive periods examine each disbursement once) while its
/// ministry's payments dated from the disbursement's date to the period's end total less
/// than `unspent_share` of it. `payments` must cover those dates (`lookback_start`).
pub fn unspent_disbursements(
    disbursements: &[Spend],
    payments: &[&Spend],
    t: &Thresholds,
    cx: &Context<'_>,
) -> Vec<PeriodFinding> {
    let oldest = days_before(cx.period.from, t.unspent_days.saturating_add(1));
    let newest = days_before(cx.period.to, t.unspent_days.saturating_add(1));
    let mut by_ministry: BTreeMap<Uuid, Vec<&Spend>> = BTreeMap::new();
    for p in payments.iter().filter(|p| p.kind == "payment") {
        if let Some(m) = p.ministry {
            by_ministry.entry(m).or_default().push(p);
        }
    }
    let mut out = Vec::new();
    for d in disbursements {
        let (Some(m), "disbursement") = (d.ministry, d.kind.as_str()) else {
            continue;
        };
        if d.date < oldest || d.date > newest || d.amount <= Decimal::ZERO {
            continue;
        }
        let since: Vec<&Spend> = by_ministry
            .get(&m)
            .map(|ps| {
                ps.iter()
                    .copied()
                    .filter(|p| p.date >= d.date && p.date <= cx.period.to)
                    .collect()
            })
            .unwrap_or_default();
        let paid = since
            .iter()
            .fold(Decimal::ZERO, |a, p| a.saturating_add(p.amount));
        if paid >= t.unspent_share * d.amount {
            continue;
        }
        let age = (cx.period.to - d.date).num_days();
        let mut evidence = latest(
            since.iter().map(|p| p.seq).collect(),
            EVIDENCE_MAX.saturating_sub(1),
        );
        evidence.push(d.seq);
        evidence.sort_unstable();
        out.push(PeriodFinding {
            rule: "spending-before-funding",
            severity: Severity::Medium,
            subject: format!("ministry:{m}/disbursement:{}", d.seq),
            ministry: Some(m),
            vendor: None,
            message: format!(
                "{} received disbursement {} of {} on {} and by {} ({age} days later) had \
                 paid only {} since ({}% of it, {}), under the {}% expected \
                 within {} days",
                cx.name(m),
                d.seq,
                money(d.amount, cx.currency),
                d.date,
                cx.period.to,
                money(paid, cx.currency),
                percent(paid / d.amount),
                plural(since.len(), "payment"),
                percent_limit(t.unspent_share),
                t.unspent_days,
            ),
            evidence,
        });
    }
    out
}
