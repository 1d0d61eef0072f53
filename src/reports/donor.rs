//! Donor attribution (docs/reports.md, "Donor report"): each donor's pro-rata share of
//! what the fund disbursed and what ministries spent.
//!
//! - A disbursement is shared among donors in proportion to their cumulative deposits
//!   (net of reversed deposits) dated up to and including the disbursement's date.
//!   Deposits dated the same day count, whatever their order in the chain.
//! - A reversed disbursement takes back exactly the shares of the disbursement it
//!   reverses.
//! - A ministry's spending in a category is shared in proportion to each donor's
//!   attributed disbursements to that ministry: spending before the period with the
//!   shares as they stood the day before `from`, spending within it with the shares as
//!   they stand at `to`. So the `prior` column equals the cumulative column of the report
//!   that ends the day before `from`.
//! - Every share is rounded to the currency's minor unit by the largest-remainder method
//!   (`figures::share`): the donors' parts of each disbursement and of each (ministry,
//!   category, column) cell sum exactly to it, so all donors' reports sum exactly to the
//!   fund statement.
//! - Money that cannot be attributed (a disbursement dated before any deposit, spending
//!   by a ministry that received nothing) goes to the fund-wide deposit shares at the
//!   same date; with no deposit at all it is reported as `unattributed`.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::figures::{share, Cols};
use super::statement::Sums;
use super::store::FlowRow;

/// The pseudo-donor that holds what no deposit backs.
pub const UNATTRIBUTED: Uuid = Uuid::nil();

/// Attribution of every disbursement and spending cell to every donor (fund currency).
#[derive(Debug, Default)]
pub struct Attribution {
    /// donor -> ministry -> disbursed.
    pub disbursed: BTreeMap<Uuid, BTreeMap<Uuid, Cols>>,
    /// donor -> (ministry, category) -> spent.
    pub spent: BTreeMap<Uuid, BTreeMap<(Uuid, String), Cols>>,
    /// donor -> cumulative deposits at the end of the period (the share basis).
    pub deposits: BTreeMap<Uuid, Decimal>,
}

fn credit(parts: Vec<(Uuid, Decimal)>, amount: Decimal) -> Vec<(Uuid, Decimal)> {
    if parts.is_empty() && !amount.is_zero() {
        vec![(UNATTRIBUTED, amount)]
    } else {
        parts
    }
}

/// Replays deposits and disbursements (in date, seq order) and shares out spending.
pub fn attribute(
    flows: &[FlowRow],
    sums: &Sums,
    from: Option<NaiveDate>,
    unit: Decimal,
) -> Attribution {
    let mut out = Attribution::default();
    let mut deposits: BTreeMap<Uuid, Decimal> = BTreeMap::new();
    // Deposits as they stood the day before `from`, for prior spending.
    let mut deposits_before: Option<BTreeMap<Uuid, Decimal>> = None;
    // Disbursement seq -> its parts, for reversals.
    let mut parts_of: HashMap<i64, Vec<(Uuid, Decimal)>> = HashMap::new();
    // ministry -> donor -> attributed disbursements, before `from` and in all.
    let mut to_ministry_before: BTreeMap<Uuid, BTreeMap<Uuid, Decimal>> = BTreeMap::new();
    let mut to_ministry: BTreeMap<Uuid, BTreeMap<Uuid, Decimal>> = BTreeMap::new();

    let mut i = 0;
    while let Some(first) = flows.get(i) {
        let date = first.business_date;
        let day_end = flows
            .iter()
            .skip(i)
            .position(|f| f.business_date != date)
            .map_or(flows.len(), |n| i + n);
        let day = flows.get(i..day_end).unwrap_or_default();
        if deposits_before.is_none() && from.is_some_and(|f| date >= f) {
            deposits_before = Some(deposits.clone());
        }
        // The day's deposits first: they count for the day's disbursements.
        for f in day.iter().filter(|f| f.kind == "contribution") {
            if let Some(d) = f.donor {
                *deposits.entry(d).or_default() += f.amount_fund;
            }
        }
        for f in day.iter().filter(|f| f.kind == "disbursement") {
            let Some(m) = f.ministry else { continue };
            let reversed = f.ref_seq.and_then(|r| parts_of.get(&r));
            let parts = match reversed {
                Some(orig) => orig.iter().map(|(d, v)| (*d, -*v)).collect(),
                None => credit(share(f.amount_fund, unit, &deposits), f.amount_fund),
            };
            let prior = from.is_some_and(|fr| date < fr);
            for (d, v) in &parts {
                let cols = if prior {
                    Cols::new(*v, Decimal::ZERO)
                } else {
                    Cols::new(Decimal::ZERO, *v)
                };
                let e = out.disbursed.entry(*d).or_default().entry(m).or_default();
                *e = *e + cols;
                *to_ministry.entry(m).or_default().entry(*d).or_default() += *v;
                if prior {
                    *to_ministry_before
                        .entry(m)
                        .or_default()
                        .entry(*d)
                        .or_default() += *v;
                }
            }
            if f.ref_seq.is_none() {
                parts_of.insert(f.seq, parts);
            }
        }
        i = day_end;
    }
    let deposits_before = deposits_before.unwrap_or_else(|| {
        if from.is_some() {
            deposits.clone()
        } else {
            BTreeMap::new()
        }
    });

    let empty = BTreeMap::new();
    for ((m, cat), cols) in &sums.spent_cell {
        for (basis, amount, prior) in [
            (
                to_ministry_before.get(m).unwrap_or(&empty),
                cols.prior,
                true,
            ),
            (to_ministry.get(m).unwrap_or(&empty), cols.period, false),
        ] {
            if amount.is_zero() {
                continue;
            }
            let mut parts = share(amount, unit, basis);
            if parts.is_empty() {
                let fallback = if prior { &deposits_before } else { &deposits };
                parts = share(amount, unit, fallback);
            }
            for (d, v) in credit(parts, amount) {
                let c = if prior {
                    Cols::new(v, Decimal::ZERO)
                } else {
                    Cols::new(Decimal::ZERO, v)
                };
                let e = out
                    .spent
                    .entry(d)
                    .or_default()
                    .entry((*m, cat.clone()))
                    .or_default();
                *e = *e + c;
            }
        }
    }
    out.deposits = deposits;
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, n).unwrap()
    }

    fn flow(kind: &str, seq: i64, date: u32, who: Uuid, amount: &str) -> FlowRow {
        FlowRow {
            kind: kind.to_owned(),
            seq,
            ref_seq: None,
            business_date: day(date),
            donor: (kind == "contribution").then_some(who),
            ministry: (kind == "disbursement").then_some(who),
            amount_fund: d(amount),
        }
    }

    #[test]
    fn disbursements_follow_deposits_at_their_date_and_reversals_take_back_the_same_parts() {
        let (a, b, m) = (
            Uuid::from_bytes([1; 16]),
            Uuid::from_bytes([2; 16]),
            Uuid::from_bytes([9; 16]),
        );
        let mut rev = flow("disbursement", 5, 6, m, "-100.00");
        rev.ref_seq = Some(2);
        let flows = vec![
            flow("contribution", 0, 1, a, "300.00"),
            // Same day as the disbursement, recorded after it: still counts.
            flow("disbursement", 2, 3, m, "100.00"),
            flow("contribution", 3, 3, b, "100.00"),
            // After b's second deposit: 300 / 600 each.
            flow("contribution", 4, 4, b, "200.00"),
            flow("disbursement", 6, 5, m, "10.01"),
            rev,
        ];
        let mut flows = flows;
        flows.sort_by_key(|f| (f.business_date, f.seq));
        let mut sums = Sums::default();
        sums.spent_cell
            .insert((m, "equipment".to_owned()), Cols::new(d("0"), d("50.00")));
        let at = attribute(&flows, &sums, None, d("0.01"));
        // 100.00 at 3:1 -> 75.00 / 25.00, reversed; 10.01 at 1:1 -> 5.01 / 5.00.
        assert_eq!(at.disbursed[&a][&m], Cols::new(d("0"), d("5.01")));
        assert_eq!(at.disbursed[&b][&m], Cols::new(d("0"), d("5.00")));
        // Spending shared like the ministry's net disbursements (5.01 : 5.00).
        let sa = at.spent[&a][&(m, "equipment".to_owned())].period;
        let sb = at.spent[&b][&(m, "equipment".to_owned())].period;
        assert_eq!(sa + sb, d("50.00"));
        assert_eq!(sa, d("25.02"));
    }

    #[test]
    fn spending_with_no_disbursement_falls_back_to_deposits_or_unattributed() {
        let (a, m) = (Uuid::from_bytes([1; 16]), Uuid::from_bytes([9; 16]));
        let mut sums = Sums::default();
        sums.spent_cell
            .insert((m, "x".to_owned()), Cols::new(d("0"), d("7.00")));
        let at = attribute(&[], &sums, None, d("0.01"));
        assert_eq!(
            at.spent[&UNATTRIBUTED][&(m, "x".to_owned())].period,
            d("7.00")
        );
        let flows = vec![flow("contribution", 0, 1, a, "1.00")];
        let at = attribute(&flows, &sums, None, d("0.01"));
        assert_eq!(at.spent[&a][&(m, "x".to_owned())].period, d("7.00"));
    }
}
