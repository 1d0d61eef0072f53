//! The arithmetic every report shares: before/within-period columns, the report currency
//! (one recorded rate, applied once to each line), and largest-remainder sharing that
//! makes parts sum exactly to their whole.

use std::collections::BTreeMap;
use std::ops::{Add, Neg};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::Currency;

/// An amount before the period and within it (cumulative = both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cols {
    pub prior: Decimal,
    pub period: Decimal,
}

impl Cols {
    pub fn new(prior: Decimal, period: Decimal) -> Self {
        Self { prior, period }
    }

    pub fn cumulative(self) -> Decimal {
        self.prior + self.period
    }

    pub fn is_zero(self) -> bool {
        self.prior.is_zero() && self.period.is_zero()
    }
}

impl Add for Cols {
    type Output = Cols;
    fn add(self, o: Cols) -> Cols {
        Cols::new(self.prior + o.prior, self.period + o.period)
    }
}

impl Neg for Cols {
    type Output = Cols;
    fn neg(self) -> Cols {
        Cols::new(-self.prior, -self.period)
    }
}

impl std::iter::Sum for Cols {
    fn sum<I: Iterator<Item = Cols>>(iter: I) -> Cols {
        iter.fold(Cols::default(), Add::add)
    }
}

/// `Cols` as rendered: decimal strings in the report currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Figures {
    /// Dated before the period's `from` (zero without `from`).
    pub prior: String,
    /// Dated within the period.
    pub period: String,
    /// Up to the period's `to`: prior + period.
    pub cumulative: String,
}

/// The rate a report's converted figures use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Conversion {
    /// The fund's currency, in which the ledger keeps every amount's equivalent.
    pub from: String,
    pub to: String,
    /// `1 from = rate to`, as applied (the inverse of the recorded rate when the entry
    /// quotes the pair the other way round; `inverted` says so).
    pub rate: String,
    pub recorded_rate: String,
    pub inverted: bool,
    #[schema(value_type = String, format = Date)]
    pub rate_date: NaiveDate,
    /// The `fx_rate` entry of the fund's chain the rate comes from.
    pub rate_seq: u64,
}

/// The report currency: the fund's, or another one reached by one recorded rate.
#[derive(Debug, Clone)]
pub struct Conv {
    pub currency: Currency,
    pub conversion: Option<(Decimal, Conversion)>,
}

impl Conv {
    pub fn identity(currency: Currency) -> Self {
        Self {
            currency,
            conversion: None,
        }
    }

    /// One amount of the fund's currency in the report currency, rounded half to even
    /// to its minor unit. Each line is converted once; totals are sums of converted lines.
    pub fn amount(&self, v: Decimal) -> Decimal {
        match &self.conversion {
            None => self.currency.round(v),
            Some((rate, _)) => self.currency.round(v * rate),
        }
    }

    pub fn cols(&self, c: Cols) -> Cols {
        Cols::new(self.amount(c.prior), self.amount(c.period))
    }

    /// The lines `values` (amounts of the fund's currency) in the report currency so that
    /// they add up exactly to `target`, or, without one, to their total converted once: each
    /// line is converted and rounded, then the few units the roundings miss are given to
    /// (or taken from) the lines whose rounding moved them furthest the other way, ties to
    /// the earlier line. So every breakdown of one figure — by ministry, by vendor, by
    /// category — sums to the same converted total. In the fund's own currency nothing
    /// moves (the amounts are already in its minor unit).
    pub fn apportion(
        &self,
        values: &[Decimal],
        target: Option<Decimal>,
    ) -> (Vec<Decimal>, Decimal) {
        let exact: Vec<Decimal> = match &self.conversion {
            None => values.to_vec(),
            Some((rate, _)) => values.iter().map(|v| *v * *rate).collect(),
        };
        let mut lines: Vec<Decimal> = exact.iter().map(|v| self.currency.round(*v)).collect();
        let total = target.unwrap_or_else(|| self.currency.round(exact.iter().copied().sum()));
        let unit = unit(self.currency);
        let missing = total - lines.iter().copied().sum::<Decimal>();
        let mut steps = (missing / unit).round();
        if steps.is_zero() || lines.is_empty() {
            return (lines, total);
        }
        let up = steps > Decimal::ZERO;
        // How far each rounding moved its line the other way from where it must now go.
        let mut order: Vec<usize> = (0..lines.len()).collect();
        order.sort_by(|&a, &b| {
            let err = |i: usize| {
                exact.get(i).copied().unwrap_or_default()
                    - lines.get(i).copied().unwrap_or_default()
            };
            let (ea, eb) = (err(a), err(b));
            if up {
                eb.cmp(&ea)
            } else {
                ea.cmp(&eb)
            }
        });
        let step = if up { unit } else { -unit };
        // More units than lines only when a target is far from the lines (it never is
        // for two breakdowns of one figure); they are spread round by round.
        while !steps.is_zero() {
            for &i in &order {
                if steps.is_zero() {
                    break;
                }
                if let Some(l) = lines.get_mut(i) {
                    *l += step;
                    steps -= if up { Decimal::ONE } else { -Decimal::ONE };
                }
            }
        }
        (lines, total)
    }

    pub fn fmt(&self, v: Decimal) -> String {
        self.currency.format(v)
    }

    /// Converted columns, rendered.
    pub fn figures(&self, c: Cols) -> Figures {
        let c = self.cols(c);
        Figures {
            prior: self.fmt(c.prior),
            period: self.fmt(c.period),
            cumulative: self.fmt(c.cumulative()),
        }
    }

    /// Already converted columns, rendered.
    pub fn render(&self, c: Cols) -> Figures {
        Figures {
            prior: self.fmt(c.prior),
            period: self.fmt(c.period),
            cumulative: self.fmt(c.cumulative()),
        }
    }
}

/// Shares `amount` (a multiple of `unit`) among `weights` in proportion, so that the
/// parts are multiples of `unit` and sum exactly to `amount` (Hamilton's
/// largest-remainder method): each part is first rounded toward zero, then the units
/// left over go one each to the largest remainders, ties to the smallest id. Negative
/// amounts are shared as their absolute value, negated. Weights at or below zero get
/// nothing; with no positive weight at all the result is empty.
pub fn share(
    amount: Decimal,
    unit: Decimal,
    weights: &BTreeMap<Uuid, Decimal>,
) -> Vec<(Uuid, Decimal)> {
    let positive: Vec<(Uuid, Decimal)> = weights
        .iter()
        .filter(|(_, w)| **w > Decimal::ZERO)
        .map(|(id, w)| (*id, *w))
        .collect();
    let total: Decimal = positive.iter().map(|(_, w)| *w).sum();
    if total.is_zero() || unit.is_zero() {
        return Vec::new();
    }
    let negative = amount < Decimal::ZERO;
    let abs = amount.abs();
    let mut parts: Vec<(Uuid, Decimal, Decimal)> = positive
        .iter()
        .map(|(id, w)| {
            let exact = abs * *w / total;
            let floor = (exact / unit).trunc() * unit;
            (*id, floor, exact - floor)
        })
        .collect();
    let assigned: Decimal = parts.iter().map(|(_, f, _)| *f).sum();
    let mut left = ((abs - assigned) / unit).round();
    // Largest remainder first; the sort is stable on id order for ties.
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = parts.get(a).map(|p| p.2).unwrap_or_default();
        let rb = parts.get(b).map(|p| p.2).unwrap_or_default();
        rb.cmp(&ra)
    });
    for i in order {
        if left <= Decimal::ZERO {
            break;
        }
        if let Some(p) = parts.get_mut(i) {
            p.1 += unit;
            left -= Decimal::ONE;
        }
    }
    parts
        .into_iter()
        .map(|(id, v, _)| (id, if negative { -v } else { v }))
        .collect()
}

/// The smallest amount of a currency (0.01 for EUR).
pub fn unit(c: Currency) -> Decimal {
    Decimal::new(1, c.minor_units())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn to_nok(rate: &str) -> Conv {
        Conv {
            currency: Currency::parse("NOK").unwrap(),
            conversion: Some((
                d(rate),
                Conversion {
                    from: "EUR".to_owned(),
                    to: "NOK".to_owned(),
                    rate: rate.to_owned(),
                    recorded_rate: rate.to_owned(),
                    inverted: false,
                    rate_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                    rate_seq: 1,
                },
            )),
        }
    }

    #[test]
    fn converted_lines_add_up_to_the_total_converted_once() {
        let conv = to_nok("1.5");
        // Each line is 1.5 øre, rounded half to even to 2: three lines make 0.06 NOK, while
        // the 0.03 EUR they add up to is 0.045, rounded once 0.04 NOK.
        let lines = [d("0.01"), d("0.01"), d("0.01")];
        let (out, total) = conv.apportion(&lines, None);
        assert_eq!(total, d("0.04"));
        assert_eq!(out.iter().copied().sum::<Decimal>(), total, "{out:?}");
        for o in &out {
            assert!((*o - d("0.015")).abs() < d("0.01"), "{o}");
        }
        // To a target (another breakdown's total): the lines meet it exactly.
        let (out, total) = conv.apportion(&lines, Some(d("0.05")));
        assert_eq!(
            (out.iter().copied().sum::<Decimal>(), total),
            (d("0.05"), d("0.05"))
        );
        // In the fund's own currency nothing moves.
        let same = Conv::identity(Currency::parse("EUR").unwrap());
        let (out, total) = same.apportion(&lines, None);
        assert_eq!((out, total), (lines.to_vec(), d("0.03")));
    }

    fn ids(n: u8) -> Vec<Uuid> {
        (1..=n).map(|i| Uuid::from_bytes([i; 16])).collect()
    }

    #[test]
    fn shares_sum_exactly_and_residue_goes_to_largest_remainders() {
        let id = ids(3);
        let w: BTreeMap<Uuid, Decimal> = id.iter().map(|i| (*i, d("1"))).collect();
        // 100.00 / 3 = 33.333...: one cent left over, to the first id (equal remainders).
        let parts = share(d("100.00"), d("0.01"), &w);
        assert_eq!(
            parts,
            vec![
                (id[0], d("33.34")),
                (id[1], d("33.33")),
                (id[2], d("33.33"))
            ]
        );
        let w: BTreeMap<Uuid, Decimal> = [(id[0], d("1")), (id[1], d("2")), (id[2], d("7"))].into();
        // 0.05 in 10ths: 0.005 / 0.010 / 0.035 -> floors 0.00/0.01/0.03, 1 cent left:
        // remainders 0.005, 0.000, 0.005 -> the tie goes to the smaller id.
        let parts = share(d("0.05"), d("0.01"), &w);
        assert_eq!(
            parts,
            vec![(id[0], d("0.01")), (id[1], d("0.01")), (id[2], d("0.03"))]
        );
        let total: Decimal = parts.iter().map(|p| p.1).sum();
        assert_eq!(total, d("0.05"));
    }

    #[test]
    fn negative_amounts_mirror_positive_ones_and_zero_weights_get_nothing() {
        let id = ids(3);
        let w: BTreeMap<Uuid, Decimal> =
            [(id[0], d("3")), (id[1], d("0")), (id[2], d("-1"))].into();
        assert_eq!(
            share(d("-10.01"), d("0.01"), &w),
            vec![(id[0], d("-10.01"))]
        );
        let none: BTreeMap<Uuid, Decimal> = [(id[0], d("0"))].into();
        assert!(share(d("5.00"), d("0.01"), &none).is_empty());
    }

    #[test]
    fn many_random_splits_always_sum_to_the_whole() {
        let id = ids(7);
        let mut seed = 7_u64;
        for _ in 0..2_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let cents = i64::try_from(seed >> 40).unwrap();
            let w: BTreeMap<Uuid, Decimal> = id
                .iter()
                .enumerate()
                .map(|(k, i)| {
                    (
                        *i,
                        Decimal::from(i64::try_from((seed >> (k * 5)) & 0x3ff).unwrap()),
                    )
                })
                .collect();
            let amount = Decimal::new(cents, 2);
            let parts = share(amount, d("0.01"), &w);
            if w.values().any(|v| *v > Decimal::ZERO) {
                assert_eq!(parts.iter().map(|p| p.1).sum::<Decimal>(), amount);
                assert!(parts.iter().all(|p| p.1.scale() <= 2));
            }
        }
    }
}
