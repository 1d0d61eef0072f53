//! The period screens, each on periods that should and should not raise it.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::distribution::{benford_p, first_digit};
use super::*;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn org(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

const M: u128 = 1;
const M2: u128 = 2;
const V: u128 = 10;
const V2: u128 = 11;

fn pay(seq: u64, m: u128, v: u128, amount: &str) -> Spend {
    Spend {
        seq,
        kind: "payment".to_owned(),
        date: "2026-02-01".parse().unwrap(),
        ministry: Some(org(m)),
        vendor: Some(org(v)),
        category: None,
        method: None,
        amount: dec(amount),
    }
}

fn award(seq: u64, m: u128, v: u128, amount: &str) -> Spend {
    Spend {
        kind: "award".to_owned(),
        ..pay(seq, m, v, amount)
    }
}

fn with<R>(f: impl FnOnce(&Context<'_>) -> R) -> R {
    let names: HashMap<Uuid, String> = [
        (org(M), "Ministry of Health".to_owned()),
        (org(V), "Acme Ltd".to_owned()),
    ]
    .into_iter()
    .collect();
    f(&Context {
        period: Period {
            from: "2026-01-01".parse().unwrap(),
            to: "2026-03-31".parse().unwrap(),
        },
        currency: "EUR",
        names: &names,
    })
}

/// `n` payments of ministry M: `to_v` of them 100.00 to V, the rest 100.00 to V2 (and
/// one more to V2 of `extra`).
fn concentration(n: u64, to_v: u64, extra: &str) -> Vec<Spend> {
    let mut out: Vec<Spend> = (0..n)
        .map(|i| pay(i, M, if i < to_v { V } else { V2 }, "100.00"))
        .collect();
    out.push(pay(n, M, V2, extra));
    out
}

#[test]
fn vendor_concentration_table() {
    let t = Thresholds::default();
    // (case, spends, flagged)
    let cases: Vec<(&str, Vec<Spend>, bool)> = vec![
        ("6 of 10 to one vendor", concentration(9, 6, "100.00"), true),
        (
            "exactly half is not more",
            concentration(9, 5, "100.00"),
            false,
        ),
        ("just over half", concentration(9, 5, "99.99"), true),
        (
            "9 payments are too few",
            concentration(8, 8, "100.00"),
            false,
        ),
        ("spread over vendors", concentration(20, 10, "0.00"), false),
    ];
    for (case, spends, flagged) in cases {
        let out = with(|cx| vendor_concentration(&spends, &t, cx));
        assert_eq!(out.len(), usize::from(flagged), "{case}: {out:?}");
    }
    // Another ministry's payments and awards do not count.
    let mut spends = concentration(9, 5, "100.00");
    spends.extend((100..120).map(|i| pay(i, M2, V, "100.00")));
    spends.extend((200..220).map(|i| award(i, M, V, "100.00")));
    let out = with(|cx| vendor_concentration(&spends, &t, cx));
    assert_eq!(out.len(), 1, "M2 alone: {out:?}");
    assert_eq!(out[0].ministry, Some(org(M2)));
}

#[test]
fn vendor_concentration_names_and_evidence() {
    let t = Thresholds::default();
    let spends = concentration(9, 6, "100.00");
    let out = with(|cx| vendor_concentration(&spends, &t, cx));
    let f = &out[0];
    assert_eq!(f.rule, "vendor-concentration");
    assert_eq!(f.evidence, [0, 1, 2, 3, 4, 5]);
    assert_eq!(
        f.subject,
        format!(
            "ministry:{}/vendor:{}/2026-01-01..2026-03-31",
            org(M),
            org(V)
        )
    );
    assert!(
        f.message.starts_with(
            "Ministry of Health paid Acme Ltd 60.0% of its payments from 2026-01-01 to \
             2026-03-31: 600.00 EUR of 1000.00 EUR (6 of its 10 payments)"
        ),
        "{}",
        f.message
    );
    // Evidence is capped at the latest 200.
    let spends = concentration(300, 300, "1.00");
    let out = with(|cx| vendor_concentration(&spends, &t, cx));
    assert_eq!(out[0].evidence.len(), EVIDENCE_MAX);
    assert_eq!(out[0].evidence.first(), Some(&100));
    assert_eq!(out[0].evidence.last(), Some(&299));
    assert!(
        out[0].message.contains("latest 200 of 300"),
        "{}",
        out[0].message
    );
}

/// `below` entries of M at `b` and `above` at `a`.
fn cluster(below: u64, b: &str, above: u64, a: &str) -> Vec<Spend> {
    (0..below)
        .map(|i| pay(i, M, V, b))
        .chain((0..above).map(|i| award(1_000 + i, M, V2, a)))
        .collect()
}

#[test]
fn below_threshold_clustering_table() {
    let t = Thresholds::default();
    // direct_max 10,000, band 10%: below = [9,000, 10,000), above = [10,000, 11,000).
    let cases: Vec<(&str, Vec<Spend>, bool)> = vec![
        ("8 below, none above", cluster(8, "9500.00", 0, "0"), true),
        ("7 below are too few", cluster(7, "9500.00", 0, "0"), false),
        (
            "9 below, 2 above: 9 = 3 x 3",
            cluster(9, "9500.00", 2, "10500.00"),
            false,
        ),
        (
            "10 below, 2 above",
            cluster(10, "9500.00", 2, "10500.00"),
            true,
        ),
        (
            "band's lower edge counts",
            cluster(8, "9000.00", 0, "0"),
            true,
        ),
        ("under the band", cluster(8, "8999.99", 0, "0"), false),
        (
            "at the limit is above",
            cluster(8, "10000.00", 0, "0"),
            false,
        ),
        (
            "over the band",
            cluster(20, "9500.00", 20, "11000.00"),
            true,
        ),
    ];
    for (case, spends, flagged) in cases {
        let out = with(|cx| below_threshold_clustering(&spends, &t, cx));
        assert_eq!(out.len(), usize::from(flagged), "{case}: {out:?}");
    }
    // Each threshold separately: rfq_max 50,000.
    let out = with(|cx| below_threshold_clustering(&cluster(8, "49000", 0, "0"), &t, cx));
    assert_eq!(out.len(), 1);
    assert!(out[0].subject.contains("/threshold:50000/"), "{:?}", out[0]);
    assert!(
        out[0]
            .message
            .contains("request for quotation limit of 50000.00 EUR"),
        "{}",
        out[0].message
    );
    assert_eq!(out[0].evidence, [0, 1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn period_settings_are_checked_and_default_when_missing() {
    assert!(Thresholds::default().check().is_ok());
    for (t, why) in [
        (
            Thresholds {
                concentration_share: Decimal::ONE,
                ..Thresholds::default()
            },
            "concentration_share",
        ),
        (
            Thresholds {
                clustering_band: Decimal::ZERO,
                ..Thresholds::default()
            },
            "clustering_band",
        ),
        (
            Thresholds {
                clustering_ratio: dec("0.5"),
                ..Thresholds::default()
            },
            "clustering_ratio",
        ),
        (
            Thresholds {
                benford_min: 0,
                ..Thresholds::default()
            },
            "benford_min",
        ),
    ] {
        assert!(t.check().unwrap_err().contains(why), "{why}");
    }
    // A configuration stored before the period settings existed still reads.
    let mut stored = serde_json::to_value(Thresholds::default()).unwrap();
    stored.as_object_mut().unwrap().remove("benford_min");
    let t: Thresholds = serde_json::from_value(stored).unwrap();
    assert_eq!(t.benford_min, 300);
}

/// Amounts whose first digits follow Benford's law closely: for each digit d, round(n ×
/// p(d)) payments of d × 100 + 17.
fn benford_like(n: u32, start: u64) -> Vec<Spend> {
    let mut out = Vec::new();
    let mut seq = start;
    for d in 1u8..=9 {
        let k = (f64::from(n) * benford_p(d)).round();
        let mut i = 0.0;
        while i < k {
            out.push(pay(seq, M, V, &format!("{}17.00", d)));
            seq += 1;
            i += 1.0;
        }
    }
    out
}

#[test]
fn benford_mad_and_bands() {
    let digits: Vec<(u64, u8)> = benford_like(1_000, 0)
        .iter()
        .map(|s| (s.seq, first_digit(s.amount).unwrap()))
        .collect();
    let (m, _, n) = mad(&digits).unwrap();
    assert!(m < 0.001, "{m}");
    assert_eq!(n, 1_000);
    // All on one digit: |1 - p(5)| + sum of the other p's = 2 (1 - p(5)), / 9.
    let fives: Vec<(u64, u8)> = (0..10).map(|i| (i, 5)).collect();
    let (m, d, _) = mad(&fives).unwrap();
    assert_eq!(d, 5);
    assert!((m - 2.0 * (1.0 - benford_p(5)) / 9.0).abs() < 1e-12, "{m}");
    assert!(mad(&[]).is_none());
    for (v, band) in [
        (0.006, "close conformity"),
        (0.0061, "acceptable conformity"),
        (0.012, "acceptable conformity"),
        (0.015, "marginally acceptable conformity"),
        (0.0151, "nonconformity"),
    ] {
        assert_eq!(conformity(v), band, "{v}");
    }
    assert_eq!(first_digit(dec("9.99")), None);
    assert_eq!(first_digit(dec("10.00")), Some(1));
    assert_eq!(first_digit(dec("987654.32")), Some(9));
}

#[test]
fn benford_table() {
    let t = Thresholds::default();
    let fives = |n: u64| -> Vec<Spend> { (0..n).map(|i| pay(i, M, V, "512.00")).collect() };
    let cases: Vec<(&str, Vec<Spend>, usize)> = vec![
        // The ministry's and the vendor's populations are the same payments here.
        ("300 payments all starting with 5", fives(300), 2),
        ("299 are too few", fives(299), 0),
        ("Benford-like amounts conform", benford_like(1_000, 0), 0),
        (
            "amounts under 10 do not count",
            (0..400).map(|i| pay(i, M, V, "5.00")).collect(),
            0,
        ),
        (
            "awards do not count",
            (0..400).map(|i| award(i, M, V, "512.00")).collect(),
            0,
        ),
    ];
    for (case, spends, flags) in cases {
        let out = with(|cx| benford(&spends, &t, cx));
        assert_eq!(out.len(), flags, "{case}: {out:?}");
    }
    let out = with(|cx| benford(&fives(300), &t, cx));
    let by_ministry = out.iter().find(|f| f.ministry.is_some()).unwrap();
    assert_eq!(by_ministry.evidence.len(), BENFORD_EVIDENCE_MAX);
    assert_eq!(by_ministry.evidence.last(), Some(&299));
    assert_eq!(by_ministry.severity, Severity::Medium);
    assert!(
        by_ministry
            .message
            .contains("(nonconformity, over 0.015) on 300 payments"),
        "{}",
        by_ministry.message
    );
    assert!(by_ministry.message.contains("digit 5 leads 100.0%"));
    let by_vendor = out.iter().find(|f| f.vendor.is_some()).unwrap();
    assert!(by_vendor
        .subject
        .starts_with(&format!("vendor:{}/", org(V))));
    assert!(
        by_vendor
            .message
            .starts_with("The first digits of payments to Acme Ltd from 2026-01-01"),
        "{}",
        by_vendor.message
    );
    assert!(by_ministry
        .message
        .starts_with("The first digits of Ministry of Health's payments from"));
    // A lower per-fund minimum tests smaller populations.
    let t = Thresholds {
        benford_min: 50,
        ..Thresholds::default()
    };
    assert_eq!(with(|cx| benford(&fives(50), &t, cx)).len(), 2);
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A payment of M (to V) on `date`.
fn pay_on(seq: u64, m: u128, date: &str, amount: &str) -> Spend {
    Spend {
        date: day(date),
        ..pay(seq, m, V, amount)
    }
}

/// The period spends and the earlier ones, split like `run::prepare` does.
fn split(all: Vec<Spend>) -> (Vec<Spend>, Vec<Spend>) {
    all.into_iter()
        .partition(|s| s.date >= day("2026-01-01") || s.kind != "payment")
}

/// The velocity screen of ministries that have paid out of the fund since 2025-01-01
/// (so no window is in the warm-up).
fn velocity(all: Vec<Spend>) -> Vec<PeriodFinding> {
    let history: HashMap<Uuid, NaiveDate> =
        [(org(M), day("2025-01-01")), (org(M2), day("2025-01-01"))]
            .into_iter()
            .collect();
    velocity_with(all, &history)
}

fn velocity_with(all: Vec<Spend>, first_payment: &HashMap<Uuid, NaiveDate>) -> Vec<PeriodFinding> {
    velocity_warm(
        all,
        first_payment,
        Thresholds::default().velocity_warmup_days,
    )
}

fn velocity_warm(
    all: Vec<Spend>,
    first_payment: &HashMap<Uuid, NaiveDate>,
    warmup_days: i64,
) -> Vec<PeriodFinding> {
    let (spends, earlier) = split(all);
    let t = Thresholds {
        velocity_warmup_days: warmup_days,
        ..Thresholds::default()
    };
    with(|cx| velocity_spike(&spends, &earlier, first_payment, &t, cx))
}

/// Warm-up: a window is tested only when its trailing days start at least
/// `velocity_warmup_days` after the ministry's first payment (given, or else the
/// earliest payment read). Every 14-day window holding the rush of `single_rush` is
/// over the ratio; the latest of them ends on 2026-02-28 and its trailing days start
/// on 2025-11-17, so only the warm-up decides.
#[test]
fn velocity_spike_waits_for_a_trailing_window_of_history() {
    let first =
        |date: &str| -> HashMap<Uuid, NaiveDate> { [(org(M), day(date))].into_iter().collect() };
    // (first payment of the ministry, warm-up days, flags)
    let table: [(Option<&str>, i64, usize); 9] = [
        (Some("2025-01-01"), 90, 1),
        (Some("2025-08-19"), 90, 1),
        (Some("2025-08-20"), 90, 0),
        (Some("2025-11-17"), 0, 1),
        (Some("2025-11-18"), 0, 0),
        (Some("2025-11-17"), 1, 0),
        (Some("2025-12-27"), 0, 0),
        // Not given: the earliest payment read, 2025-12-27.
        (None, 0, 0),
        (None, 90, 0),
    ];
    for (date, warmup, flags) in table {
        let map = date.map_or_else(HashMap::new, first);
        let out = velocity_warm(single_rush("63000.01"), &map, warmup);
        assert_eq!(
            out.len(),
            flags,
            "first payment {date:?}, warm-up {warmup}: {out:#?}"
        );
    }
    // The same rush with a payment long before it in the read is tested.
    let mut long = single_rush("63000.01");
    long.push(pay_on(9, M, "2025-06-02", "1.00"));
    assert_eq!(velocity_with(long, &HashMap::new()).len(), 1);
}

/// One trailing payment of 135,000 on 2025-12-27 and one payment of `amount` on
/// 2026-02-15, 50 days later: every 14-day window holding the second has the first in
/// its 90 trailing days, so the ratio is amount × 90 / (135,000 × 14) throughout.
fn single_rush(amount: &str) -> Vec<Spend> {
    vec![
        pay_on(1, M, "2025-12-27", "135000.00"),
        pay_on(2, M, "2026-02-15", amount),
    ]
}

#[test]
fn velocity_spike_table() {
    // Weekly payments of `amount` from 2025-09-01 to 2026-03-31.
    let weekly = |amount: &str, start: u64| -> Vec<Spend> {
        day("2025-09-01")
            .iter_weeks()
            .take_while(|d| *d <= day("2026-03-31"))
            .enumerate()
            .map(|(i, d)| Spend {
                date: d,
                ..pay(start + u64::try_from(i).unwrap(), M, V, amount)
            })
            .collect()
    };
    let rush = |weekly_amount: &str, rush_amount: &str| -> Vec<Spend> {
        let mut out = weekly(weekly_amount, 0);
        out.extend((0..6).map(|i| pay_on(500 + i, M, "2026-03-20", rush_amount)));
        out
    };
    let cases: Vec<(&str, Vec<Spend>, usize)> = vec![
        ("steady spending", weekly("10000.00", 0), 0),
        (
            "a rush at the end of the period",
            rush("10000.00", "10000.00"),
            1,
        ),
        (
            "far over the rate but under the minimum amount",
            rush("100.00", "5000.00"),
            0,
        ),
        (
            "no spending before: no rate to compare with",
            (0..6)
                .map(|i| pay_on(i, M, "2026-03-20", "10000.00"))
                .collect(),
            0,
        ),
        // 63,000 × 90 = 3 × 135,000 × 14.
        (
            "exactly three times is not more",
            single_rush("63000.00"),
            0,
        ),
        ("just over three times", single_rush("63000.01"), 1),
        (
            "awards do not count",
            vec![
                pay_on(1, M, "2025-12-27", "135000.00"),
                Spend {
                    date: day("2026-02-15"),
                    ..award(2, M, V, "900000.00")
                },
            ],
            0,
        ),
        (
            "another ministry's spending is not a rate",
            vec![
                pay_on(1, M2, "2025-12-27", "135000.00"),
                pay_on(2, M, "2026-02-15", "900000.00"),
            ],
            0,
        ),
        (
            "two rushes far apart are two flags",
            vec![
                pay_on(1, M, "2025-11-15", "100000.00"),
                pay_on(2, M, "2026-01-10", "60000.00"),
                pay_on(3, M, "2026-03-10", "150000.00"),
            ],
            2,
        ),
    ];
    for (case, spends, flags) in cases {
        let out = velocity(spends);
        assert_eq!(out.len(), flags, "{case}: {out:#?}");
    }
}

#[test]
fn velocity_spike_names_its_peak_window_and_evidence() {
    let out = velocity(vec![
        pay_on(1, M, "2025-11-15", "100000.00"),
        pay_on(2, M, "2026-01-10", "60000.00"),
        pay_on(3, M, "2026-03-10", "150000.00"),
    ]);
    // The first rush: 14 windows (ending 01-10 to 01-23) hold it at the same ratio;
    // the earliest is the peak. Its window holds payment 2 only.
    let f = &out[0];
    assert_eq!(f.rule, "velocity-spike");
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(
        f.subject,
        format!("ministry:{}/window:2025-12-28..2026-01-10", org(M))
    );
    assert_eq!(f.evidence, [2]);
    assert_eq!(f.ministry, Some(org(M)));
    for part in [
        "Ministry of Health paid 60000.00 EUR in the 14 days from 2025-12-28 to 2026-01-10 \
         (1 payment), ",
        // 60,000 × 90 / (100,000 × 14)
        "3.9 times its daily rate of the 90 days before (100000.00 EUR from \
         2025-09-29 to 2025-12-27, 1111.11 EUR a day)",
        "above the 3-times threshold (windows of at least 50000.00 EUR; 14 overlapping \
         windows ending from 2026-01-10 to 2026-01-23 were over it, this is the highest)",
    ] {
        assert!(f.message.contains(part), "{part:?} in {}", f.message);
    }
    // The second rush's trailing days hold the first (60,000): 150 × 90 / (60 × 14).
    assert_eq!(out[1].evidence, [3]);
    assert!(out[1].message.contains("16.1 times"), "{}", out[1].message);
}

fn award_by(seq: u64, m: u128, method: Option<&str>, amount: &str) -> Spend {
    Spend {
        method: method.map(str::to_owned),
        ..award(seq, m, V, amount)
    }
}

/// `n` awards of ministry `m` of 100.00 each, `direct` of them direct, the rest open.
fn awards(m: u128, n: u64, direct: u64, start: u64) -> Vec<Spend> {
    (0..n)
        .map(|i| {
            let method = if i < direct { "direct" } else { "open" };
            award_by(start + i, m, Some(method), "100.00")
        })
        .collect()
}

const M3: u128 = 3;

#[test]
fn non_competitive_share_table() {
    let t = Thresholds::default();
    let of = |parts: Vec<Vec<Spend>>| -> Vec<Spend> { parts.concat() };
    let cases: Vec<(&str, Vec<Spend>, usize)> = vec![
        (
            "60% direct against a peer median of 15%",
            of(vec![
                awards(M, 5, 3, 0),
                awards(M2, 10, 1, 100),
                awards(M3, 10, 2, 200),
            ]),
            1,
        ),
        (
            "40% is not more than 40%",
            of(vec![
                awards(M, 5, 2, 0),
                awards(M2, 10, 0, 100),
                awards(M3, 10, 0, 200),
            ]),
            0,
        ),
        (
            "peers as direct: 60% is not more than 2 × 50%",
            of(vec![
                awards(M, 5, 3, 0),
                awards(M2, 10, 5, 100),
                awards(M3, 10, 5, 200),
            ]),
            0,
        ),
        (
            "one peer: its share is the comparison",
            of(vec![awards(M, 5, 3, 0), awards(M2, 10, 2, 100)]),
            1,
        ),
        (
            "one peer, over 40% but not twice the peer's",
            of(vec![awards(M, 5, 3, 0), awards(M2, 10, 4, 100)]),
            0,
        ),
        ("no peer: nothing to compare with", awards(M, 5, 5, 0), 0),
        (
            "4 awards are too few",
            of(vec![
                awards(M, 4, 4, 0),
                awards(M2, 10, 0, 100),
                awards(M3, 10, 0, 200),
            ]),
            0,
        ),
        (
            "awards of unknown method are not direct",
            of(vec![
                (0..5).map(|i| award_by(i, M, None, "100.00")).collect(),
                awards(M2, 10, 0, 100),
            ]),
            0,
        ),
        (
            "payments do not count",
            of(vec![
                (0..5).map(|i| pay(i, M, V, "100.00")).collect(),
                awards(M2, 10, 0, 100),
            ]),
            0,
        ),
    ];
    for (case, spends, flags) in cases {
        let out = with(|cx| non_competitive_share(&spends, &t, cx));
        assert_eq!(out.len(), flags, "{case}: {out:#?}");
    }
    // By value, not count: one large direct award is most of the value.
    let mut spends = awards(M, 5, 0, 0);
    spends.push(award_by(9, M, Some("direct"), "1000.00"));
    spends.extend(awards(M2, 10, 0, 100));
    spends.extend(awards(M3, 10, 1, 200));
    let out = with(|cx| non_competitive_share(&spends, &t, cx));
    assert_eq!(out.len(), 1, "{out:#?}");
    let f = &out[0];
    assert_eq!(f.evidence, [9]);
    assert_eq!(
        f.subject,
        format!("ministry:{}/2026-01-01..2026-03-31", org(M))
    );
    assert!(
        f.message.starts_with(
            "Ministry of Health awarded 66.7% of its award value from 2026-01-01 to \
             2026-03-31 by direct (non-competitive) method: 1000.00 EUR of 1500.00 EUR \
             (1 of its 6 awards), against 5.0% for the median direct share of the 2 \
             other ministries; the thresholds are more than 40% and more than 2 times"
        ),
        "{}",
        f.message
    );
}

fn in_category(mut s: Spend, category: &str) -> Spend {
    s.category = Some(category.to_owned());
    s
}

/// `n` fuel payments of 1,000.00 + i, and `extra` after them.
fn fuel(n: u64, extra: &[&str]) -> Vec<Spend> {
    let mut out: Vec<Spend> = (0..n)
        .map(|i| in_category(pay(i, M, V, &format!("{}.00", 1_000 + i)), "fuel"))
        .collect();
    out.extend(
        extra
            .iter()
            .enumerate()
            .map(|(i, a)| in_category(pay(100 + u64::try_from(i).unwrap(), M, V, a), "fuel")),
    );
    out
}

/// 30 amounts doubling every five (1,000 to 32,000: heavy-tailed) and 100,000.
fn doubling() -> Vec<Spend> {
    let mut s: Vec<Spend> = (0..30)
        .map(|i| {
            let a = format!("{}.00", 1_000 * (1u64 << (i / 5)));
            in_category(pay(i, M, V, &a), "equipment")
        })
        .collect();
    s.push(in_category(pay(100, M, V, "100000.00"), "equipment"));
    s
}

#[test]
fn amount_outlier_table() {
    let raw = Thresholds {
        outlier_log_amounts: false,
        ..Thresholds::default()
    };
    let cases: Vec<(&str, Vec<Spend>, Vec<u64>)> = vec![
        ("one far above 30 others", fuel(30, &["5000.00"]), vec![100]),
        ("one far below", fuel(30, &["1.00"]), vec![100]),
        (
            "30 with the outlier are enough",
            fuel(29, &["5000.00"]),
            vec![100],
        ),
        ("29 are too few", fuel(28, &["5000.00"]), vec![]),
        ("no outlier", fuel(31, &[]), vec![]),
        (
            // 20 of 1,000.00, 10 of 1,100.00 and 5,000.00: MAD 0, the mean absolute
            // deviation scales (raw: 161.29; log: 0.083).
            "MAD 0: the mean absolute deviation scales",
            (0..31)
                .map(|i| {
                    let a = match i {
                        0..=19 => "1000.00",
                        20..=29 => "1100.00",
                        _ => "5000.00",
                    };
                    in_category(pay(i, M, V, a), "fuel")
                })
                .collect(),
            vec![30],
        ),
        (
            "all equal: no outlier",
            (0..40)
                .map(|i| in_category(pay(i, M, V, "1000.00"), "fuel"))
                .collect(),
            vec![],
        ),
        (
            "another category is another population",
            {
                let mut s = fuel(30, &[]);
                s.push(in_category(pay(200, M, V, "50000.00"), "vehicles"));
                s
            },
            vec![],
        ),
        (
            "awards are their own population",
            {
                let mut s = fuel(30, &[]);
                s.push(in_category(award(200, M, V, "50000.00"), "fuel"));
                s
            },
            vec![],
        ),
        (
            "no category: not tested",
            {
                let mut s: Vec<Spend> = (0..30).map(|i| pay(i, M, V, "1000.00")).collect();
                s.push(pay(100, M, V, "90000.00"));
                s
            },
            vec![],
        ),
    ];
    // The same in both modes.
    for t in [Thresholds::default(), raw.clone()] {
        for (case, spends, flagged) in &cases {
            let out = with(|cx| amount_outlier(spends, &t, cx));
            let seqs: Vec<u64> = out.iter().flat_map(|f| f.evidence.clone()).collect();
            assert_eq!(
                &seqs, flagged,
                "{case} (log {}): {out:#?}",
                t.outlier_log_amounts
            );
        }
    }
    // Heavy-tailed amounts: 100,000 is 12.5 × the median of 8,000. Raw: MAD 7,000, z =
    // 92,000 / 10,378 = 8.9. Log: MAD ln 4, z = ln 12.5 / (1.4826 × ln 4) = 1.2.
    let out = with(|cx| amount_outlier(&doubling(), &raw, cx));
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(out[0]
        .message
        .contains("z-score 8.9 (median 8000.00 EUR, MAD 7000.00 EUR)"));
    let out = with(|cx| amount_outlier(&doubling(), &Thresholds::default(), cx));
    assert!(out.is_empty(), "{out:#?}");

    let out = with(|cx| amount_outlier(&fuel(30, &["5000.00"]), &raw, cx));
    let f = &out[0];
    assert_eq!(f.subject, "entry:100");
    assert_eq!((f.ministry, f.vendor), (Some(org(M)), Some(org(V))));
    // 31 amounts: median 1,015, MAD 8; z = 3,985 / (1.4826 × 8) = 336.0.
    assert_eq!(
        f.message,
        "payment 100 of 5000.00 EUR on 2026-02-01 by Ministry of Health to Acme Ltd is \
         far above the 31 \"fuel\" payments from 2026-01-01 to 2026-03-31: robust \
         z-score 336.0 (median 1015.00 EUR, MAD 8.00 EUR), over 3.5"
    );
    // Log amounts: MAD ln(1,023 / 1,015) = 0.00785; z = ln(5,000 / 1,015) / (1.4826 ×
    // 0.00785) = 137.0.
    let out = with(|cx| amount_outlier(&fuel(30, &["5000.00"]), &Thresholds::default(), cx));
    assert!(
        out[0].message.ends_with(
            "robust z-score on log amounts 137.0 (median 1015.00 EUR, MAD of the log \
             amounts 0.008 (a factor of 1.01)), over 3.5"
        ),
        "{}",
        out[0].message
    );
    let mad0: Vec<Spend> = (0..31)
        .map(|i| {
            in_category(
                pay(i, M, V, if i < 30 { "1000.00" } else { "1100.00" }),
                "x",
            )
        })
        .collect();
    let out = with(|cx| amount_outlier(&mad0, &raw, cx));
    // Mean absolute deviation 100 / 31 = 3.23; z = 100 / (1.253314 × 3.23) = 24.7.
    assert_eq!(out.len(), 1);
    assert!(
        out[0].message.contains(
            "z-score 24.7 (median 1000.00 EUR, MAD 0, so scaled by the mean \
                       absolute deviation of 3.23 EUR)"
        ),
        "{}",
        out[0].message
    );
}

fn disb(seq: u64, m: u128, date: &str, amount: &str) -> Spend {
    Spend {
        kind: "disbursement".to_owned(),
        vendor: None,
        ..pay_on(seq, m, date, amount)
    }
}

fn unspent(disbursements: Vec<Spend>, payments: Vec<Spend>) -> Vec<PeriodFinding> {
    let refs: Vec<&Spend> = payments.iter().collect();
    with(|cx| unspent_disbursements(&disbursements, &refs, &Thresholds::default(), cx))
}

#[test]
fn unspent_disbursements_table() {
    // Period 2026-01-01..2026-03-31: disbursements dated 2025-07-04 (181 days before
    // the period) to 2025-10-01 (181 days before its end) become older than 180 days
    // in it.
    let d = |date: &str| vec![disb(10, M, date, "100000.00")];
    let p = |list: &[(u64, u128, &str, &str)]| -> Vec<Spend> {
        list.iter()
            .map(|(seq, m, date, a)| pay_on(*seq, *m, date, a))
            .collect()
    };
    let cases: Vec<(&str, Vec<Spend>, Vec<Spend>, usize)> = vec![
        (
            "5% paid since",
            d("2025-08-01"),
            p(&[(20, M, "2025-09-01", "5000.00")]),
            1,
        ),
        (
            "10% paid is not less than 10%",
            d("2025-08-01"),
            p(&[
                (20, M, "2025-09-01", "5000.00"),
                (21, M, "2026-03-31", "5000.00"),
            ]),
            0,
        ),
        (
            "paid after the period's end does not count",
            d("2025-08-01"),
            p(&[
                (20, M, "2025-09-01", "5000.00"),
                (21, M, "2026-04-01", "5000.00"),
            ]),
            1,
        ),
        (
            "paid before the disbursement does not count",
            d("2025-08-01"),
            p(&[(20, M, "2025-07-31", "50000.00")]),
            1,
        ),
        (
            "the same day counts",
            d("2025-08-01"),
            p(&[(20, M, "2025-08-01", "50000.00")]),
            0,
        ),
        (
            "another ministry's payments do not count",
            d("2025-08-01"),
            p(&[(20, M2, "2025-09-01", "50000.00")]),
            1,
        ),
        ("181 days old at the end", d("2025-10-01"), vec![], 1),
        (
            "180 days old is not older than 180",
            d("2025-10-02"),
            vec![],
            0,
        ),
        ("became old on the first day", d("2025-07-04"), vec![], 1),
        (
            "was already old before the period (an earlier period's)",
            d("2025-07-03"),
            vec![],
            0,
        ),
    ];
    for (case, disbursements, payments, flags) in cases {
        let out = unspent(disbursements, payments);
        assert_eq!(out.len(), flags, "{case}: {out:#?}");
    }
    let out = unspent(
        d("2025-08-01"),
        p(&[
            (20, M, "2025-09-01", "3000.00"),
            (5, M, "2025-08-02", "2000.00"),
        ]),
    );
    let f = &out[0];
    assert_eq!(f.rule, "spending-before-funding");
    assert_eq!(f.evidence, [5, 10, 20]);
    assert_eq!(f.subject, format!("ministry:{}/disbursement:10", org(M)));
    assert_eq!(
        f.message,
        "Ministry of Health received disbursement 10 of 100000.00 EUR on 2025-08-01 and \
         by 2026-03-31 (242 days later) had paid only 5000.00 EUR since (5.0% of it, 2 \
         payments), under the 10% expected within 180 days"
    );
}

#[test]
fn the_read_looks_back_far_enough_for_both() {
    let period = Period {
        from: day("2026-01-01"),
        to: day("2026-03-31"),
    };
    // max(14 + 90, 180 + 1) days before.
    assert_eq!(
        lookback_start(period, &Thresholds::default()),
        day("2025-07-04")
    );
    let t = Thresholds {
        velocity_trailing_days: 365,
        ..Thresholds::default()
    };
    assert_eq!(lookback_start(period, &t), day("2024-12-18"));
}

#[test]
fn screen_keeps_the_lookback_out_of_the_other_rules() {
    // 10 earlier payments all to V would be a concentration if they counted.
    let input = Input {
        spends: Vec::new(),
        earlier: (0..10)
            .map(|i| pay_on(i, M, "2025-12-01", "100.00"))
            .collect(),
        disbursements: Vec::new(),
        first_payment: HashMap::new(),
        controls: Controls::default(),
    };
    assert!(with(|cx| screen(&input, &Thresholds::default(), cx)).is_empty());
}

#[test]
fn period_rule_settings_are_checked() {
    for (t, why) in [
        (
            Thresholds {
                velocity_window_days: 0,
                ..Thresholds::default()
            },
            "velocity_window_days",
        ),
        (
            Thresholds {
                velocity_trailing_days: 3_651,
                ..Thresholds::default()
            },
            "velocity_trailing_days",
        ),
        (
            Thresholds {
                velocity_ratio: dec("0.9"),
                ..Thresholds::default()
            },
            "velocity_ratio",
        ),
        (
            Thresholds {
                velocity_min_amount: dec("-1"),
                ..Thresholds::default()
            },
            "velocity_min_amount",
        ),
        (
            Thresholds {
                noncompetitive_share_min: Decimal::ONE,
                ..Thresholds::default()
            },
            "noncompetitive_share_min",
        ),
        (
            Thresholds {
                noncompetitive_peer_factor: dec("0.5"),
                ..Thresholds::default()
            },
            "noncompetitive_peer_factor",
        ),
        (
            Thresholds {
                noncompetitive_min_awards: 0,
                ..Thresholds::default()
            },
            "noncompetitive_min_awards",
        ),
        (
            Thresholds {
                outlier_z: Decimal::ZERO,
                ..Thresholds::default()
            },
            "outlier_z",
        ),
        (
            Thresholds {
                outlier_min_population: 2,
                ..Thresholds::default()
            },
            "outlier_min_population",
        ),
        (
            Thresholds {
                unspent_days: 0,
                ..Thresholds::default()
            },
            "unspent_days",
        ),
        (
            Thresholds {
                unspent_share: dec("1.01"),
                ..Thresholds::default()
            },
            "unspent_share",
        ),
    ] {
        assert!(t.check().unwrap_err().contains(why), "{why}");
    }
    // Stored before these settings existed: their defaults.
    let mut stored = serde_json::to_value(Thresholds::default()).unwrap();
    stored.as_object_mut().unwrap().remove("outlier_z");
    let t: Thresholds = serde_json::from_value(stored).unwrap();
    assert_eq!(t.outlier_z, dec("3.5"));
}

// --- approval-missing and invoice-document-missing.

fn policy(rules: &[(&str, Option<u128>, &str)]) -> Policy {
    Policy {
        seq: 900,
        rules: rules
            .iter()
            .map(|(kind, m, above)| PolicyRule {
                kind: (*kind).to_owned(),
                ministry: m.map(org),
                above: dec(above),
            })
            .collect(),
    }
}

fn controls(p: Option<Policy>) -> Controls {
    Controls {
        policy: p,
        judged_until: day("2026-03-31"),
        ..Controls::default()
    }
}

#[test]
fn approval_missing_flags_covered_payments_above_the_threshold_without_a_second_person() {
    let mut c = controls(Some(policy(&[("payment", None, "50000.00")])));
    let spends = [
        pay(1, M, V, "50000.00"),   // at the threshold: not above it
        pay(2, M, V, "50000.01"),   // above, never approved
        pay(3, M, V, "90000.00"),   // above, approved by another user
        award(4, M, V, "90000.00"), // not a covered kind
    ];
    c.approved.insert(3);
    let found = with(|cx| approval_missing(spends.iter(), &c, cx));
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(f.rule, "approval-missing");
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.subject, "entry:2");
    assert_eq!(f.evidence, vec![2]);
    assert_eq!(f.ministry, Some(org(M)));
    assert!(f.message.contains("50000.01 EUR"), "{}", f.message);
    assert!(f.message.contains("above 50000.00 EUR"), "{}", f.message);
    assert!(f.message.contains("(entry 900)"), "{}", f.message);
    // No policy: nothing is required, nothing is missing.
    let none = controls(None);
    assert!(with(|cx| approval_missing(spends.iter(), &none, cx)).is_empty());
}

#[test]
fn approval_missing_takes_the_ministrys_rule_first_and_covers_disbursements() {
    let c = controls(Some(policy(&[
        ("payment", None, "100000.00"),
        ("payment", Some(M2), "1000.00"),
        ("disbursement", None, "50000.00"),
    ])));
    let disbursement = Spend {
        kind: "disbursement".to_owned(),
        vendor: None,
        ..pay(3, M, V, "60000.00")
    };
    let spends = [
        pay(1, M, V, "5000.00"),  // M: the kind's rule, 100,000
        pay(2, M2, V, "5000.00"), // M2: its own rule, 1,000
        disbursement,
    ];
    let found = with(|cx| approval_missing(spends.iter(), &c, cx));
    let seqs: Vec<u64> = found.iter().flat_map(|f| f.evidence.clone()).collect();
    assert_eq!(seqs, vec![2, 3], "{found:?}");
    assert!(
        found[1].message.starts_with("disbursement 3"),
        "{}",
        found[1].message
    );
}

#[test]
fn control_screens_leave_the_grace_window_and_other_periods_alone() {
    let mut c = controls(Some(policy(&[("payment", None, "1000.00")])));
    c.judged_until = day("2026-01-31");
    let spends = [
        pay_on(1, M, "2026-01-31", "60000.00"), // judged
        pay_on(2, M, "2026-02-01", "60000.00"), // in the grace window
        pay_on(3, M, "2025-12-31", "60000.00"), // before the period
    ];
    let t = Thresholds::default();
    let missing = with(|cx| approval_missing(spends.iter(), &c, cx));
    let undocumented = with(|cx| invoice_document_missing(&spends, &c, &t, cx));
    assert_eq!(
        missing.iter().map(|f| f.evidence[0]).collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(
        undocumented
            .iter()
            .map(|f| f.subject.clone())
            .collect::<Vec<_>>(),
        vec!["entry:1"]
    );
}

#[test]
fn invoice_document_missing_flags_large_payments_with_no_document_on_file() {
    let mut c = controls(None);
    let spends = [
        pay(1, M, V, "49999.99"), // below invoice_document_min
        pay(2, M, V, "50000.00"), // at it, no document: flagged, with its invoice
        pay(3, M, V, "80000.00"), // documented (on itself, its request or its invoice)
        pay(4, M, V, "80000.00"), // a direct purchase, no document
        award(5, M, V, "80000.00"),
    ];
    c.documented.insert(3);
    c.invoices.insert(2, 1);
    let t = Thresholds::default();
    let found = with(|cx| invoice_document_missing(&spends, &c, &t, cx));
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].rule, "invoice-document-missing");
    assert_eq!(found[0].severity, Severity::Medium);
    assert_eq!(
        found[0].evidence,
        vec![1, 2],
        "the invoice, then the payment"
    );
    assert!(
        found[0].message.contains("invoice 1"),
        "{}",
        found[0].message
    );
    assert_eq!(found[1].evidence, vec![4]);
    assert!(
        found[1].message.contains("direct purchase"),
        "{}",
        found[1].message
    );
    // A fund whose amounts are not set in its currency: not run.
    let unset = Thresholds {
        amount_scale: None,
        ..Thresholds::default()
    };
    assert!(with(|cx| invoice_document_missing(&spends, &c, &unset, cx)).is_empty());
}

#[test]
fn candidates_are_only_what_the_control_screens_can_flag() {
    let p = policy(&[("payment", None, "70000.00")]);
    let spends = [
        pay(1, M, V, "10000.00"),
        pay(2, M, V, "60000.00"),
        pay(3, M, V, "80000.00"),
        pay_on(4, M, "2026-04-01", "80000.00"),
    ];
    let (approvals, documents) = candidates(
        spends.iter(),
        Some(&p),
        &Thresholds::default(),
        day("2026-03-31"),
    );
    assert_eq!(approvals, vec![3]);
    assert_eq!(documents, vec![2, 3]);
}

#[test]
fn control_settings_are_checked_and_converted() {
    let t = Thresholds {
        invoice_document_min: Decimal::ZERO,
        ..Thresholds::default()
    };
    assert!(t.check().unwrap_err().contains("invoice_document_min"));
    let t = Thresholds {
        evidence_grace_days: -1,
        ..Thresholds::default()
    };
    assert!(t.check().unwrap_err().contains("evidence_grace_days"));
    let mut t = Thresholds::default();
    t.scale_amounts(dec("400"), &|_| false);
    assert_eq!(t.invoice_document_min, dec("20000000"));
}
