//! The per-entry screens, each on the facts that should and should not raise it.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use chrono::TimeZone;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// A payment recorded on a Tuesday at 10:00 UTC, dated the same day.
fn base(kind: &str, amount: &str) -> Facts {
    Facts {
        seq: 100,
        kind: kind.to_owned(),
        business_date: d("2026-03-03"),
        recorded_at: Utc.with_ymd_and_hms(2026, 3, 3, 10, 0, 0).unwrap(),
        amount: Some(dec(amount)),
        currency: "EUR".to_owned(),
        vendor: Some("V1".to_owned()),
        ministry: Some("M1".to_owned()),
        deadline: None,
        invoice_number: None,
        direct_purchase: false,
        tender: None,
        contract: None,
        priors: Vec::new(),
        category: None,
        category_priors: Vec::new(),
        recent_awards: Vec::new(),
        contract_dates: None,
        vendor_first_seen: None,
        fund_first_date: None,
        earlier_amounts: Vec::new(),
        funding: None,
        approval: None,
        over_contract: None,
        imported: false,
        bids_received: None,
        data_quality: Vec::new(),
    }
}

fn rules(f: &Facts) -> Vec<&'static str> {
    screen(f, &Thresholds::default())
        .into_iter()
        .map(|x| x.rule)
        .collect()
}

fn prior(seq: u64, date: &str, amount: &str, number: Option<&str>) -> Prior {
    Prior {
        seq,
        date: d(date),
        amount: dec(amount),
        invoice_number: number.map(str::to_owned),
        direct: true,
    }
}

fn tender(method: &str, bids: &[(u64, &str, &str)]) -> TenderFact {
    TenderFact {
        seq: 10,
        method: method.to_owned(),
        estimate: dec("100000"),
        published: d("2026-02-01"),
        bids: bids
            .iter()
            .map(|(seq, v, a)| BidFact {
                seq: *seq,
                vendor: (*v).to_owned(),
                amount: dec(a),
                disqualified: None,
            })
            .collect(),
    }
}

#[test]
fn a_plain_payment_raises_nothing() {
    assert!(rules(&base("payment", "1234.56")).is_empty());
}

#[test]
fn round_amounts_flag_only_large_round_spend() {
    assert_eq!(rules(&base("payment", "25000.00")), ["round-amount"]);
    assert!(rules(&base("payment", "25000.01")).is_empty());
    assert!(rules(&base("payment", "9000.00")).is_empty(), "too small");
    assert!(
        rules(&base("contribution", "25000.00")).is_empty(),
        "not spend"
    );
}

#[test]
fn backdated_and_off_hours() {
    let mut f = base("payment", "1234.56");
    f.business_date = d("2026-01-15");
    assert_eq!(rules(&f), ["backdated"]);
    f.business_date = d("2026-02-10");
    assert!(rules(&f).is_empty(), "21 days is within the default 30");
    let mut f = base("payment", "1234.56");
    f.recorded_at = Utc.with_ymd_and_hms(2026, 3, 3, 23, 30, 0).unwrap();
    assert_eq!(rules(&f), ["off-hours"]);
    f.recorded_at = Utc.with_ymd_and_hms(2026, 3, 7, 11, 0, 0).unwrap(); // Saturday
    assert_eq!(rules(&f), ["off-hours"]);
    let mut c = base("contribution", "1234.56");
    c.recorded_at = Utc.with_ymd_and_hms(2026, 3, 7, 11, 0, 0).unwrap();
    assert!(rules(&c).is_empty(), "only spending is screened for hours");
}

#[test]
fn off_hours_on_the_funds_holidays() {
    // Tuesday 2026-03-03 at 10:00 UTC: working hours, unless the fund keeps it as a holiday.
    let f = base("payment", "1234.56");
    let mut t = Thresholds::default();
    assert!(screen(&f, &t).is_empty(), "an ordinary working day");
    t.holidays = vec![d("2026-01-01"), d("2026-03-03")];
    let found = screen(&f, &t);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].rule, found[0].severity, found[0].evidence.clone()),
        ("off-hours", Severity::Low, vec![100])
    );
    assert_eq!(
        found[0].message,
        "payment 100 was recorded at 2026-03-03 10:00 UTC (the fund's holiday 2026-03-03)"
    );
    // The recording date counts (UTC), not the business date.
    let mut g = base("payment", "1234.56");
    g.business_date = d("2026-03-02");
    g.recorded_at = Utc.with_ymd_and_hms(2026, 3, 4, 10, 0, 0).unwrap();
    assert!(
        screen(&g, &t).is_empty(),
        "dated, not recorded, on the holiday"
    );
    g.business_date = d("2026-03-03");
    assert!(screen(&g, &t).is_empty(), "business date is the holiday");
    // The day before the holiday, late at night: still night, not the holiday.
    g.recorded_at = Utc.with_ymd_and_hms(2026, 3, 2, 23, 59, 0).unwrap();
    let x = screen(&g, &t);
    assert!(x[0].message.ends_with("(night)"), "{}", x[0].message);
    // Not spending: no hours screen, holiday or not.
    let mut c = base("contribution", "1234.56");
    c.recorded_at = f.recorded_at;
    assert!(screen(&c, &t).is_empty());
}

#[test]
fn holidays_are_bounded_and_default_when_missing() {
    let mut t = Thresholds::default();
    assert!(t.holidays.is_empty());
    let first = d("2026-01-01");
    t.holidays = (0..366)
        .map(|i| first + chrono::Duration::days(i))
        .collect();
    assert_eq!(t.check(), Ok(()));
    t.holidays.push(d("2028-01-01"));
    assert!(t.check().unwrap_err().contains("holidays"));
    // A configuration stored before the setting existed still loads, with none.
    let mut stored = serde_json::to_value(Thresholds::default()).unwrap();
    stored.as_object_mut().unwrap().remove("holidays");
    let loaded: Thresholds = serde_json::from_value(stored).unwrap();
    assert_eq!(loaded, Thresholds::default());
    let set: Thresholds =
        serde_json::from_value(serde_json::json!({"holidays": ["2026-12-25"]})).unwrap();
    assert_eq!(set.holidays, vec![d("2026-12-25")]);
    assert!(
        serde_json::from_value::<Thresholds>(serde_json::json!({"holidays": ["25/12"]})).is_err()
    );
}

#[test]
fn near_threshold_is_just_under_a_method_limit() {
    assert_eq!(rules(&base("award", "9600.00")), ["near-threshold"]);
    assert_eq!(rules(&base("tender", "49990.00")), ["near-threshold"]);
    assert!(rules(&base("award", "9400.00")).is_empty(), "6% under");
    assert!(rules(&base("award", "10000.50")).is_empty(), "over");
    assert!(
        rules(&base("payment", "9600.00")).is_empty(),
        "payments: split-purchase's job"
    );
}

/// One flag per procurement: the first of tender, award and contract that is just
/// under a threshold; a later step just under the same threshold adds nothing, one just
/// under another threshold is a new fact.
#[test]
fn near_threshold_flags_a_procurement_once() {
    let with = |kind: &str, amount: &str, earlier: &[&str]| {
        let mut f = base(kind, amount);
        f.earlier_amounts = earlier.iter().map(|a| dec(a)).collect();
        rules(&f)
    };
    // (kind, amount, earlier steps' amounts, flagged?)
    let table: [(&str, &str, &[&str], bool); 8] = [
        ("tender", "9700.00", &[], true),
        ("award", "9600.00", &["9700.00"], false),
        ("contract", "9600.00", &["9600.00", "9700.00"], false),
        ("award", "9600.00", &["10400.00"], true),
        ("contract", "9600.00", &["10100.00", "10400.00"], true),
        ("award", "9600.00", &["48000.00"], true),
        ("contract", "48500.00", &["9600.00", "48000.00"], false),
        ("award", "9400.00", &[], false),
    ];
    for (kind, amount, earlier, flagged) in table {
        assert_eq!(
            with(kind, amount, earlier) == ["near-threshold"],
            flagged,
            "{kind} {amount} after {earlier:?}"
        );
    }
}

#[test]
fn direct_purchases_are_payments_without_contract() {
    let mut f = base("payment", "1234.56");
    f.direct_purchase = true;
    let found = screen(&f, &Thresholds::default());
    assert_eq!(
        (found[0].rule, found[0].severity),
        ("payment-without-contract", Severity::Low)
    );
    f.amount = Some(dec("12345.67"));
    let found = screen(&f, &Thresholds::default());
    assert_eq!(
        found[0].severity,
        Severity::Medium,
        "above the direct purchase limit"
    );
}

#[test]
fn single_bidder_only_in_competitive_tenders() {
    let mut f = base("award", "80123.45");
    f.tender = Some(tender("open", &[(11, "V1", "80123.45")]));
    let found = screen(&f, &Thresholds::default());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rule, "single-bidder");
    assert_eq!(found[0].evidence, vec![100, 10, 11]);
    f.tender = Some(tender(
        "open",
        &[(11, "V1", "80123.45"), (12, "V2", "90123.45")],
    ));
    assert!(rules(&f).is_empty());
    f.tender = Some(tender(
        "open",
        &[(11, "V1", "80123.45"), (12, "V1", "79123.45")],
    ));
    assert_eq!(
        rules(&f),
        ["single-bidder"],
        "one vendor bidding twice is one bidder"
    );
    f.tender = Some(tender("request_for_quotation", &[(11, "V1", "80123.45")]));
    assert!(rules(&f).is_empty());
}

#[test]
fn award_above_the_winning_bid_or_the_estimate() {
    let mut f = base("award", "85123.45");
    f.tender = Some(tender(
        "open",
        &[(11, "V1", "80123.45"), (12, "V2", "90123.45")],
    ));
    assert_eq!(rules(&f), ["award-above-bid"]);
    f.amount = Some(dec("80123.45"));
    assert!(rules(&f).is_empty());
    // No bid from the winner: compared with the estimate.
    f.vendor = Some("V9".to_owned());
    f.amount = Some(dec("100123.45"));
    assert_eq!(rules(&f), ["award-above-bid"]);
}

#[test]
fn identical_bids_from_different_vendors() {
    let mut f = base("bid", "70000.00");
    f.tender = Some(tender(
        "open",
        &[(11, "V2", "70000.00"), (100, "V1", "70000.00")],
    ));
    let found = screen(&f, &Thresholds::default());
    assert_eq!(found[0].rule, "identical-bids");
    assert_eq!(found[0].evidence, vec![100, 11]);
    f.tender = Some(tender("open", &[(11, "V2", "70000.01")]));
    assert!(rules(&f).is_empty());
    f.tender = Some(tender("open", &[(11, "V1", "70000.00")]));
    assert!(
        rules(&f).is_empty(),
        "the same vendor twice is not collusion"
    );
}

#[test]
fn short_tender_periods_per_method() {
    let mut f = base("tender", "120000.00");
    f.tender = Some(tender("open", &[]));
    f.deadline = Some(d("2026-03-20"));
    assert_eq!(rules(&f), ["short-tender-period"]);
    f.deadline = Some(d("2026-04-02"));
    assert!(rules(&f).is_empty(), "30 days is enough");
    f.tender = Some(tender("direct", &[]));
    f.deadline = Some(d("2026-03-04"));
    assert!(rules(&f).is_empty());
}

#[test]
fn contract_inflation_by_share_or_count() {
    let mut f = base("contract_amendment", "20000.00");
    f.contract = Some(ContractFact {
        seq: 20,
        original: dec("100000"),
        value: dec("126000"),
        amendments: 1,
    });
    assert_eq!(rules(&f), ["contract-inflation"]);
    f.contract = Some(ContractFact {
        seq: 20,
        original: dec("100000"),
        value: dec("125000"),
        amendments: 3,
    });
    assert!(rules(&f).is_empty());
    f.contract = Some(ContractFact {
        seq: 20,
        original: dec("100000"),
        value: dec("101000"),
        amendments: 4,
    });
    assert_eq!(rules(&f), ["contract-inflation"]);
}

/// An invoice (or payment) 40 of `amount` on contract 20 with vendor V1, signed at
/// 100,000 EUR with amendment 25 raising it by `amended`, earlier entries 30 and 35,
/// `cumulative` in all.
fn over(kind: &str, amount: &str, amended: &str, cumulative: &str) -> Facts {
    let mut f = base(kind, amount);
    f.seq = 40;
    let amended = dec(amended);
    f.over_contract = Some(OverContractFact {
        contract: 20,
        vendor: Some("V1".to_owned()),
        currency: "EUR".to_owned(),
        amount: dec(amount),
        original: dec("100000"),
        value: dec("100000") + amended,
        cumulative: dec(cumulative),
        amendments: if amended.is_zero() { vec![] } else { vec![25] },
        earlier: vec![30, 35],
    });
    f
}

#[test]
fn over_contract_counts_amendments_and_the_tolerance() {
    // (kind, amount, amended, cumulative, flagged): the line is value × 1.05.
    let cases = [
        ("invoice", "1234.56", "0", "100000.00", false),
        ("invoice", "1234.56", "0", "105000.00", false), // exactly at the tolerance
        ("invoice", "1234.56", "0", "105000.01", true),
        ("payment", "1234.56", "0", "105000.01", true),
        ("invoice", "1234.56", "10000", "112000.00", false), // 110,000 × 1.05 = 115,500
        ("invoice", "1234.56", "10000", "115500.00", false),
        ("invoice", "1234.56", "10000", "115500.01", true),
        ("payment", "1234.56", "10000", "120000.00", true),
        ("invoice", "1234.56", "-20000", "84000.01", true), // a reduction lowers the line
        ("award", "1234.56", "0", "200000.00", false),      // only invoices and payments
    ];
    for (kind, amount, amended, cumulative, flagged) in cases {
        let f = over(kind, amount, amended, cumulative);
        let found: Vec<&str> = rules(&f)
            .into_iter()
            .filter(|r| *r == "over-contract")
            .collect();
        assert_eq!(
            !found.is_empty(),
            flagged,
            "{kind} {amount}, amended {amended}, cumulative {cumulative}"
        );
    }
    // No contract fact (a direct purchase, or totals well under the line): nothing.
    assert!(rules(&base("invoice", "1234.56")).is_empty());
}

#[test]
fn over_contract_names_the_contract_the_totals_and_the_evidence() {
    let f = over("invoice", "8000.00", "10000", "120000.00");
    let found = screen(&f, &Thresholds::default());
    let x = found.iter().find(|x| x.rule == "over-contract").unwrap();
    assert_eq!(x.severity, Severity::High);
    assert_eq!(x.evidence, [40, 20, 25, 30, 35]);
    for part in [
        "invoices of contract 20 with V1 total 120000.00 EUR",
        "with invoice 40 of 8000.00 EUR,",
        "10000.00 EUR above its value of 110000.00 EUR",
        "100000.00 EUR signed, 10000.00 EUR in 1 amendment",
        "allows 115500.00 EUR",
    ] {
        assert!(x.message.contains(part), "{part:?} not in {}", x.message);
    }
    // A tighter tolerance flags what the default lets through; 0 flags any excess.
    let t = Thresholds {
        over_contract_tolerance: Decimal::ZERO,
        ..Thresholds::default()
    };
    let f = over("payment", "1.00", "0", "100000.01");
    assert!(screen(&f, &Thresholds::default()).is_empty());
    assert_eq!(screen(&f, &t)[0].rule, "over-contract");
    assert!(screen(&over("payment", "1.00", "0", "100000.00"), &t).is_empty());
}

#[test]
fn over_contract_tolerance_is_checked() {
    for (v, ok) in [
        ("0", true),
        ("0.05", true),
        ("0.99", true),
        ("1", false),
        ("-0.01", false),
    ] {
        let t = Thresholds {
            over_contract_tolerance: dec(v),
            ..Thresholds::default()
        };
        assert_eq!(t.check().is_ok(), ok, "{v}");
    }
}

#[test]
fn duplicate_invoice_numbers_and_payments() {
    let mut f = base("invoice", "1234.56");
    f.invoice_number = Some("INV-7".to_owned());
    f.priors = vec![prior(50, "2026-01-10", "999.00", Some("INV-7"))];
    let found = screen(&f, &Thresholds::default());
    assert_eq!(
        (found[0].rule, found[0].evidence.clone()),
        ("duplicate-payment", vec![100, 50])
    );
    f.priors = vec![prior(50, "2026-01-10", "1234.56", Some("INV-8"))];
    assert!(rules(&f).is_empty());
    let mut p = base("payment", "1234.56");
    p.priors = vec![prior(60, "2026-02-20", "1234.56", None)];
    assert_eq!(rules(&p), ["duplicate-payment"]);
    p.priors = vec![prior(60, "2026-01-20", "1234.56", None)];
    assert!(rules(&p).is_empty(), "outside the window");
}

#[test]
fn near_duplicates_are_close_but_not_equal() {
    let mut p = base("payment", "1234.56");
    p.priors = vec![prior(60, "2026-02-20", "1240.00", None)];
    assert_eq!(rules(&p), ["near-duplicate-payment"]);
    p.priors = vec![prior(60, "2026-02-20", "1260.00", None)];
    assert!(rules(&p).is_empty(), "2% apart");
    p.priors = vec![prior(60, "2026-02-20", "1234.56", None)];
    assert_eq!(
        rules(&p),
        ["duplicate-payment"],
        "equal is a duplicate, not a near one"
    );
}

#[test]
fn payments_outside_their_contract_dates() {
    let mut p = base("payment", "1234.56");
    p.contract_dates = Some((20, d("2026-03-10"), d("2026-12-31")));
    assert_eq!(
        rules(&p),
        ["payment-outside-contract-dates"],
        "before signing"
    );
    p.contract_dates = Some((20, d("2025-01-01"), d("2025-12-01")));
    assert_eq!(
        rules(&p),
        ["payment-outside-contract-dates"],
        "92 days after the end"
    );
    p.contract_dates = Some((20, d("2025-01-01"), d("2025-12-15")));
    assert!(
        rules(&p).is_empty(),
        "78 days after the end is within the grace"
    );
}

#[test]
fn large_amounts_to_new_vendors() {
    let mut a = base("award", "150123.45");
    a.vendor_first_seen = Some((90, d("2026-02-01")));
    let found = screen(&a, &Thresholds::default());
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].rule, found[0].evidence.clone()),
        ("new-vendor-large", vec![100, 90])
    );
    a.vendor_first_seen = Some((90, d("2025-10-01")));
    assert!(rules(&a).is_empty(), "known for five months");
    a.vendor_first_seen = Some((90, d("2026-02-01")));
    a.amount = Some(dec("99123.45"));
    assert!(rules(&a).is_empty(), "not large");
}

/// The warm-up: a vendor first seen fewer than `new_vendor_warmup_days` after the
/// fund's first entry is one the fund started with, not a new one.
#[test]
fn new_vendor_large_waits_for_the_funds_warm_up() {
    // The award is dated 2026-03-03; the vendor first seen 2026-02-01.
    let flagged = |fund_first: Option<&str>, warmup: i64| {
        let mut a = base("award", "150123.45");
        a.vendor_first_seen = Some((90, d("2026-02-01")));
        a.fund_first_date = fund_first.map(d);
        let t = Thresholds {
            new_vendor_warmup_days: warmup,
            ..Thresholds::default()
        };
        screen(&a, &t).iter().any(|x| x.rule == "new-vendor-large")
    };
    // (fund's first entry, warm-up days, flagged?)
    let table: [(Option<&str>, i64, bool); 7] = [
        (None, 90, true),
        (Some("2026-01-15"), 90, false),
        (Some("2025-11-03"), 90, true),
        (Some("2025-11-04"), 90, false),
        (Some("2026-01-15"), 17, true),
        (Some("2026-01-15"), 18, false),
        (Some("2026-02-01"), 0, true),
    ];
    for (fund_first, warmup, want) in table {
        assert_eq!(flagged(fund_first, warmup), want, "{fund_first:?} {warmup}");
    }
    let bad = Thresholds {
        new_vendor_warmup_days: 3_651,
        ..Thresholds::default()
    };
    assert!(bad.check().is_err());
}

#[test]
fn split_purchases_each_under_together_over() {
    let mut p = base("payment", "4000.00");
    p.direct_purchase = true;
    let split = |f: &Facts| {
        screen(f, &Thresholds::default())
            .into_iter()
            .find(|x| x.rule == "split-purchase")
    };
    p.priors = vec![
        prior(61, "2026-02-20", "3500.00", None),
        prior(62, "2026-02-25", "3000.00", None),
    ];
    let found = split(&p).unwrap();
    assert_eq!(found.evidence, vec![100, 61, 62]);
    assert!(found.message.contains("10500.00 EUR"), "{}", found.message);
    p.priors.truncate(1);
    assert!(split(&p).is_none(), "7,500 stays under 10,000");
    p.priors = vec![prior(61, "2026-01-02", "9000.00", None)];
    assert!(split(&p).is_none(), "outside the window");
    // Contract instalments are not splits, neither as the payment nor as the priors.
    p.priors = vec![prior(61, "2026-02-20", "9000.00", None)];
    assert!(split(&p).is_some());
    p.priors[0].direct = false;
    assert!(split(&p).is_none());
    p.priors[0].direct = true;
    p.direct_purchase = false;
    assert!(split(&p).is_none());
}

#[test]
fn split_purchases_by_item_category_across_vendors() {
    let cat = |seq: u64, date: &str, amount: &str, vendor: &str| CategoryPrior {
        seq,
        date: d(date),
        amount: dec(amount),
        vendor: vendor.to_owned(),
    };
    let split = |f: &Facts| {
        screen(f, &Thresholds::default())
            .into_iter()
            .filter(|x| x.rule == "split-purchase")
            .collect::<Vec<_>>()
    };
    let mut p = base("payment", "4000.00");
    p.direct_purchase = true;
    p.category = Some("uniforms".to_owned());
    p.category_priors = vec![
        cat(62, "2026-02-25", "3000.00", "V3"),
        cat(61, "2026-02-20", "3500.00", "V2"),
    ];
    let found = split(&p);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::High);
    assert_eq!(found[0].evidence, vec![100, 61, 62]);
    assert_eq!(
        found[0].message,
        "3 payments by M1 for uniforms (to V1, V2, V3) within 30 days total 10500.00 EUR, \
         each under the direct purchase threshold of 10000.00 EUR"
    );
    // Must not flag: together under the threshold, outside the window, a part at or
    // over the threshold itself, no category, or not a direct purchase.
    p.category_priors.truncate(1);
    assert!(split(&p).is_empty(), "7,000 stays under 10,000");
    p.category_priors = vec![cat(61, "2026-01-02", "9000.00", "V2")];
    assert!(split(&p).is_empty(), "outside the window");
    p.category_priors = vec![cat(61, "2026-02-20", "12000.00", "V2")];
    assert!(split(&p).is_empty(), "that part needed no split");
    p.category_priors = vec![cat(61, "2026-02-20", "9000.00", "V2")];
    assert_eq!(split(&p).len(), 1);
    p.category = None;
    assert!(split(&p).is_empty(), "no category");
    p.category = Some("uniforms".to_owned());
    p.direct_purchase = false;
    assert!(split(&p).is_empty(), "a contract instalment");
    p.direct_purchase = true;
    // A later-recorded part (a batch's later entry) is not evidence for this one.
    p.category_priors = vec![cat(101, "2026-02-20", "9000.00", "V2")];
    assert!(split(&p).is_empty());
    // Higher thresholds: parts each under 50,000 reaching it.
    let mut big = base("payment", "30000.00");
    big.direct_purchase = true;
    big.category = Some("vehicles".to_owned());
    big.category_priors = vec![cat(61, "2026-02-20", "25000.00", "V2")];
    let found = split(&big);
    assert!(
        found[0]
            .message
            .contains("request for quotation threshold of 50000.00 EUR"),
        "{}",
        found[0].message
    );
    // The vendor form fires first and alone: the same entry is not flagged twice.
    p.category_priors = vec![cat(61, "2026-02-20", "9000.00", "V1")];
    p.priors = vec![prior(61, "2026-02-20", "9000.00", None)];
    let found = split(&p);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].message.contains("to V1 within"),
        "{}",
        found[0].message
    );
    // With the vendor form quiet, the category form names what it adds.
    p.priors = vec![prior(61, "2026-02-20", "1000.00", None)];
    p.category_priors = vec![
        cat(61, "2026-02-20", "1000.00", "V1"),
        cat(63, "2026-02-27", "5500.00", "V2"),
    ];
    let found = split(&p);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].evidence, vec![100, 61, 63]);
    assert!(
        found[0].message.contains("(to V1, V2)"),
        "{}",
        found[0].message
    );
}

#[test]
fn vendor_concentration_by_consecutive_wins() {
    let award = |seq: u64, date: &str, vendor: &str| AwardFact {
        seq,
        date: d(date),
        vendor: vendor.to_owned(),
        amount: Some(dec("20000.00")),
    };
    let wins = |f: &Facts, t: &Thresholds| {
        screen(f, t)
            .into_iter()
            .filter(|x| x.rule == "vendor-concentration")
            .collect::<Vec<_>>()
    };
    let t = Thresholds::default();
    let mut a = base("award", "20000.00");
    // Latest dated first, as the read returns them; this award (100) among them.
    a.recent_awards = vec![
        award(100, "2026-03-03", "V1"),
        award(80, "2026-02-20", "V1"),
        award(60, "2026-02-01", "V1"),
        award(40, "2026-01-15", "V1"),
        award(20, "2026-01-02", "V1"),
    ];
    let found = wins(&a, &t);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].severity, Severity::Medium);
    assert_eq!(found[0].evidence, vec![100, 20, 40, 60, 80]);
    assert_eq!(
        found[0].message,
        "award 100 to V1 makes it the winner of the last 5 awards of M1 in a row \
         (awards 20, 40, 60, 80, 100, dated 2026-01-02 to 2026-03-03), together 100000.00 EUR"
    );
    // Must not flag: another vendor among the last five, fewer than five awards, or
    // this award not among the latest (backdated behind them).
    let mut b = a.clone();
    b.recent_awards[3].vendor = "V2".to_owned();
    assert!(wins(&b, &t).is_empty(), "V2 broke the run");
    let mut b = a.clone();
    b.recent_awards.truncate(4);
    assert!(wins(&b, &t).is_empty(), "four in a row");
    let mut b = a.clone();
    b.recent_awards[0].seq = 90;
    assert!(wins(&b, &t).is_empty(), "this award is not the latest five");
    // An earlier run by another vendor further back does not matter.
    let mut b = a.clone();
    b.recent_awards.push(award(10, "2025-12-01", "V2"));
    assert_eq!(wins(&b, &t).len(), 1);
    // The setting: four in a row fire with 4.
    let four = Thresholds {
        consecutive_wins_min: 4,
        ..Thresholds::default()
    };
    let mut b = a.clone();
    b.recent_awards.truncate(4);
    assert_eq!(wins(&b, &four)[0].evidence, vec![100, 40, 60, 80]);
    // Only awards.
    let mut c = a.clone();
    c.kind = "contract".to_owned();
    assert!(wins(&c, &t).is_empty());
    // Bounds of the setting.
    let bad = |n| {
        Thresholds {
            consecutive_wins_min: n,
            ..Thresholds::default()
        }
        .check()
        .is_err()
    };
    assert!(bad(1) && bad(101) && !bad(2) && !bad(100));
}

/// An award to V2 on an open tender with these bids; `dq` maps bid seq to the seq of
/// its disqualification.
fn award_on(amount: &str, winner: &str, bids: &[(u64, &str, &str)], dq: &[(u64, u64)]) -> Facts {
    let mut f = base("award", amount);
    f.vendor = Some(winner.to_owned());
    let mut t = tender("open", bids);
    for b in &mut t.bids {
        b.disqualified = dq.iter().find(|(bid, _)| *bid == b.seq).map(|(_, d)| *d);
    }
    f.tender = Some(t);
    f
}

fn found(f: &Facts, rule: &str) -> Option<Finding> {
    screen(f, &Thresholds::default())
        .into_iter()
        .find(|x| x.rule == rule)
}

#[test]
fn lowest_bid_disqualified_when_a_higher_bid_wins() {
    let bids = [
        (11, "V1", "90123.45"),
        (12, "V2", "95123.45"),
        (13, "V3", "99123.45"),
    ];
    let f = award_on("95123.45", "V2", &bids, &[(11, 20)]);
    let x = found(&f, "lowest-bid-disqualified").unwrap();
    assert_eq!(x.severity, Severity::High);
    assert_eq!(x.evidence, vec![100, 11, 20, 12]);
    assert!(
        x.message.contains("90123.45 EUR") && x.message.contains("95123.45 EUR"),
        "{}",
        x.message
    );
    // Must not flag: the lowest bid stands (and wins), or a higher bid was ruled out.
    let f = award_on("90123.45", "V1", &bids, &[]);
    assert!(found(&f, "lowest-bid-disqualified").is_none());
    let f = award_on("90123.45", "V1", &bids, &[(13, 20)]);
    assert!(found(&f, "lowest-bid-disqualified").is_none());
    // A higher bid won with the lowest standing: not this rule.
    let f = award_on("95123.45", "V2", &bids, &[]);
    assert!(found(&f, "lowest-bid-disqualified").is_none());
    // The margin setting: 95,123.45 is 5.5 % above 90,123.45.
    let f = award_on("95123.45", "V2", &bids, &[(11, 20)]);
    let mut t = Thresholds {
        lowest_disqualified_share: dec("0.06"),
        ..Thresholds::default()
    };
    assert!(screen(&f, &t)
        .iter()
        .all(|x| x.rule != "lowest-bid-disqualified"));
    t.lowest_disqualified_share = dec("0.05");
    assert!(screen(&f, &t)
        .iter()
        .any(|x| x.rule == "lowest-bid-disqualified"));
}

#[test]
fn all_but_winner_disqualified_needs_three_bids() {
    let bids = [
        (11, "V1", "90123.45"),
        (12, "V2", "95123.45"),
        (13, "V3", "99123.45"),
    ];
    let f = award_on("95123.45", "V2", &bids, &[(11, 20), (13, 21)]);
    let x = found(&f, "all-but-winner-disqualified").unwrap();
    assert_eq!(x.severity, Severity::High);
    assert_eq!(x.evidence, vec![100, 11, 12, 13, 20, 21]);
    assert!(x.message.contains("other 2 of its 3 bids"), "{}", x.message);
    // One other bid still stands.
    let f = award_on("95123.45", "V2", &bids, &[(11, 20)]);
    assert!(found(&f, "all-but-winner-disqualified").is_none());
    // Two bids only (under the default minimum of 3).
    let f = award_on("95123.45", "V2", &bids[..2], &[(11, 20)]);
    assert!(found(&f, "all-but-winner-disqualified").is_none());
    let t = Thresholds {
        all_but_winner_min_bids: 2,
        ..Thresholds::default()
    };
    assert!(screen(&f, &t)
        .iter()
        .any(|x| x.rule == "all-but-winner-disqualified"));
}

#[test]
fn bid_spread_close_or_far() {
    // 0.4 % apart: cover bidding.
    let close = [(11, "V1", "100000.00"), (12, "V2", "100400.00")];
    let f = award_on("100000.00", "V1", &close, &[]);
    let x = found(&f, "bid-spread").unwrap();
    assert_eq!(x.evidence, vec![100, 11, 12, 10]);
    assert_eq!(x.severity, Severity::Medium);
    assert!(x.message.contains("0.40%"), "{}", x.message);
    // 0.6 % apart: ordinary.
    let f = award_on(
        "100000.00",
        "V1",
        &[(11, "V1", "100000.00"), (12, "V2", "100600.00")],
        &[],
    );
    assert!(found(&f, "bid-spread").is_none());
    // Exactly 0.5 % fires (within); equal bids are identical-bids' business.
    let f = award_on(
        "100000.00",
        "V1",
        &[(11, "V1", "100000.00"), (12, "V2", "100500.00")],
        &[],
    );
    assert!(found(&f, "bid-spread").is_some());
    let f = award_on(
        "100000.00",
        "V1",
        &[(11, "V1", "100000.00"), (12, "V2", "100000.00")],
        &[],
    );
    assert!(found(&f, "bid-spread").is_none());
    // 60 % above: far; exactly 50 % is not.
    let f = award_on(
        "100000.00",
        "V1",
        &[(11, "V1", "100000.00"), (12, "V2", "160000.00")],
        &[],
    );
    assert_eq!(found(&f, "bid-spread").unwrap().severity, Severity::Low);
    let f = award_on(
        "100000.00",
        "V1",
        &[(11, "V1", "100000.00"), (12, "V2", "150000.00")],
        &[],
    );
    assert!(found(&f, "bid-spread").is_none());
    // Disqualified bids do not count as the second-lowest: the valid runner-up is far.
    let f = award_on(
        "100000.00",
        "V1",
        &[
            (11, "V1", "100000.00"),
            (12, "V2", "100100.00"),
            (13, "V3", "170000.00"),
        ],
        &[(12, 20)],
    );
    let x = found(&f, "bid-spread").unwrap();
    assert_eq!(x.evidence, vec![100, 11, 13, 10]);
    // A single valid bidder, or an award above the lowest valid bid: no spread.
    let f = award_on("100000.00", "V1", &[(11, "V1", "100000.00")], &[]);
    assert!(found(&f, "bid-spread").is_none());
    let f = award_on("100400.00", "V2", &close, &[]);
    assert!(found(&f, "bid-spread").is_none());
    // Extreme amounts neither panic nor hide the spread.
    let f = award_on(
        "0.01",
        "V1",
        &[
            (11, "V1", "0.01"),
            (12, "V2", "79228162514264337593543950335"),
        ],
        &[],
    );
    assert_eq!(found(&f, "bid-spread").unwrap().severity, Severity::Low);
}

#[test]
fn spending_before_funding_compares_paid_with_received_by_the_date() {
    let mut p = base("payment", "1234.56");
    p.funding = Some(FundingFact {
        paid: dec("60000.00"),
        received: dec("50000.00"),
        latest_disbursement: Some((7, d("2026-02-01"), dec("50000.00"))),
    });
    let x = found(&p, "spending-before-funding").unwrap();
    assert_eq!(
        (x.severity, x.evidence.clone()),
        (Severity::Medium, vec![100, 7])
    );
    assert!(
        x.message.contains("60000.00 EUR") && x.message.contains("disbursement 7"),
        "{}",
        x.message
    );
    p.funding = Some(FundingFact {
        paid: dec("50000.00"),
        received: dec("50000.00"),
        latest_disbursement: Some((7, d("2026-02-01"), dec("50000.00"))),
    });
    assert!(
        found(&p, "spending-before-funding").is_none(),
        "exactly funded"
    );
    p.funding = Some(FundingFact {
        paid: dec("1234.56"),
        received: Decimal::ZERO,
        latest_disbursement: None,
    });
    let x = found(&p, "spending-before-funding").unwrap();
    assert_eq!(x.evidence, vec![100], "no disbursement to cite");
    assert!(x.message.contains("none yet"), "{}", x.message);
    // Tolerance: 10 % over 50,000 allows 55,000.
    let t = Thresholds {
        funding_tolerance: dec("0.1"),
        ..Thresholds::default()
    };
    p.funding = Some(FundingFact {
        paid: dec("55000.00"),
        received: dec("50000.00"),
        latest_disbursement: None,
    });
    assert!(screen(&p, &t)
        .iter()
        .all(|x| x.rule != "spending-before-funding"));
    // Only payments.
    let mut e = base("expenditure", "1234.56");
    e.funding = p.funding.clone();
    e.funding.as_mut().unwrap().paid = dec("99999.00");
    assert!(found(&e, "spending-before-funding").is_none());
}

#[test]
fn adjacent_transpositions_are_two_neighbours_swapped() {
    assert!(adjacent_transposition("INV-1042", "INV-1402"));
    assert!(adjacent_transposition("INV-1042", "INV-1024"));
    assert!(adjacent_transposition("AB", "BA"));
    assert!(
        !adjacent_transposition("INV-1042", "INV-1240"),
        "0 and 2 are not neighbours"
    );
    assert!(!adjacent_transposition("INV-1042", "INV-1042"), "equal");
    assert!(
        !adjacent_transposition("INV-1042", "INV-1043"),
        "one change"
    );
    assert!(
        !adjacent_transposition("INV-1042", "INV-10420"),
        "lengths differ"
    );
    assert!(!adjacent_transposition("INV-1042", "INV-0142X"));
    assert!(
        !adjacent_transposition("AB", "BC"),
        "two neighbours changed, not swapped"
    );
}

#[test]
fn near_duplicates_need_transposed_equal_or_missing_invoice_numbers() {
    let mut p = base("payment", "1234.56");
    p.invoice_number = Some("INV-1042".to_owned());
    let near = |n: Option<&str>| vec![prior(60, "2026-02-20", "1240.00", n)];
    p.priors = near(Some("INV-1402"));
    let x = found(&p, "near-duplicate-payment").unwrap();
    assert_eq!(x.evidence, vec![100, 60]);
    assert!(x.message.contains("a transposition apart"), "{}", x.message);
    p.priors = near(Some("INV-1042"));
    assert!(found(&p, "near-duplicate-payment").is_some(), "same number");
    p.priors = near(None);
    assert!(
        found(&p, "near-duplicate-payment").is_some(),
        "prior has none"
    );
    p.priors = near(Some("INV-1240"));
    assert!(
        found(&p, "near-duplicate-payment").is_none(),
        "not adjacent"
    );
    p.priors = near(Some("INV-2001"));
    assert!(
        found(&p, "near-duplicate-payment").is_none(),
        "another invoice"
    );
    p.invoice_number = None;
    assert!(
        found(&p, "near-duplicate-payment").is_some(),
        "this one has none"
    );
    // Numbers alone never fire: the amounts must be within 1 %.
    p.invoice_number = Some("INV-1042".to_owned());
    p.priors = vec![prior(60, "2026-02-20", "1300.00", Some("INV-1402"))];
    assert!(found(&p, "near-duplicate-payment").is_none());
}

#[test]
fn self_approval_is_the_recorder_approving() {
    let mut a = base("approval", "1234.56");
    a.amount = None;
    a.approval = Some(ApprovalFact {
        approved_seq: 42,
        approved_kind: "payment".to_owned(),
        approved_date: d("2026-03-02"),
        approved_amount: Some(dec("45000.00")),
        approver: "u-1".to_owned(),
        recorder: "u-1".to_owned(),
        recorded_under_policy: false,
    });
    let x = found(&a, "self-approval").unwrap();
    assert_eq!(
        (x.severity, x.evidence.clone()),
        (Severity::High, vec![100, 42])
    );
    assert!(
        x.message.contains("payment 42") && x.message.contains("45000.00 EUR"),
        "{}",
        x.message
    );
    // Recorded once the fund had an approval policy: second pairs of eyes are then the
    // policy's requests (which their maker cannot decide), not this rule's business.
    a.approval.as_mut().unwrap().recorded_under_policy = true;
    assert!(found(&a, "self-approval").is_none());
    a.approval.as_mut().unwrap().recorded_under_policy = false;
    a.approval.as_mut().unwrap().recorder = "u-2".to_owned();
    assert!(rules(&a).is_empty(), "a colleague approved");
}

#[test]
fn thresholds_of_the_new_rules_are_checked() {
    let ok = Thresholds::default();
    assert_eq!(ok.check(), Ok(()));
    let bad = |f: fn(&mut Thresholds)| {
        let mut t = Thresholds::default();
        f(&mut t);
        t.check().is_err()
    };
    assert!(bad(|t| t.bid_spread_close = Decimal::ZERO));
    assert!(bad(|t| t.bid_spread_far = dec("0.004")), "far under close");
    assert!(bad(|t| t.bid_spread_far = dec("11")));
    assert!(bad(|t| t.all_but_winner_min_bids = 1));
    assert!(bad(|t| t.funding_tolerance = dec("-0.1")));
    assert!(bad(|t| t.lowest_disqualified_share = Decimal::ONE));
    assert!(!bad(|t| t.funding_tolerance = dec("0.2")));
}

// --- Screens fit for real data: currency, tax, split awards, imported history.

#[test]
fn a_fund_outside_the_euro_screens_no_amount_against_euro_sized_defaults() {
    // 100,000 AMD is about 250 USD: neither round nor large; 5,000 + 9,000 AMD split
    // nothing.
    let raised = |f: &Facts, code: &str| -> Vec<&'static str> {
        screen(f, &Thresholds::for_currency(code))
            .into_iter()
            .map(|x| x.rule)
            .collect()
    };
    let mut round = base("payment", "100000.00");
    round.direct_purchase = true;
    let mut split = base("payment", "5000.00");
    split.direct_purchase = true;
    split.priors = vec![prior(61, "2026-02-25", "9000.00", None)];
    // In a euro fund both are screened against the defaults.
    assert!(raised(&round, "EUR").contains(&"round-amount"));
    assert!(raised(&split, "EUR").contains(&"split-purchase"));
    for f in [&mut round, &mut split] {
        f.currency = "AMD".to_owned();
    }
    assert_eq!(raised(&round, "AMD"), ["payment-without-contract"]);
    assert_eq!(raised(&split, "AMD"), ["payment-without-contract"]);
    let pwc = screen(&round, &Thresholds::for_currency("AMD"))
        .into_iter()
        .find(|x| x.rule == "payment-without-contract")
        .unwrap();
    assert_eq!(
        pwc.severity,
        Severity::Low,
        "no euro-sized direct_max to compare with"
    );
}

#[test]
fn documented_defaults_convert_at_the_recorded_rate_to_round_figures() {
    let mut t = Thresholds::for_currency("AMD");
    t.amount_scale = Some(dec("402.5"));
    t.scale_amounts(dec("402.5"), &|name| name == "round_unit");
    assert_eq!(t.direct_max, dec("4000000"));
    assert_eq!(t.rfq_max, dec("20000000"));
    assert_eq!(t.restricted_max, dec("81000000"));
    assert_eq!(t.new_vendor_amount, dec("40000000"));
    assert_eq!(
        t.round_unit,
        dec("1000"),
        "a setting named in the same config stays"
    );
    assert!(t.check().is_ok());
    // 100,000 AMD is now an ordinary purchase; 4,100,000 AMD is round and large.
    let mut small = base("payment", "100000.00");
    small.currency = "AMD".to_owned();
    assert!(!screen(&small, &t).iter().any(|x| x.rule == "round-amount"));
    assert_eq!(two_significant(dec("1015000")), dec("1000000"));
    assert_eq!(two_significant(dec("0.0042")), dec("0.01"));
    assert_eq!(two_significant(dec("95")), dec("95"));
}

#[test]
fn bids_net_and_awards_gross_do_not_flag_at_the_fund_tax_rate() {
    let mut a = base("award", "1200.00");
    a.tender = Some(tender(
        "open",
        &[(11, "V1", "1000.00"), (12, "V2", "1100.00")],
    ));
    let above = |f: &Facts, t: &Thresholds| {
        screen(f, t)
            .into_iter()
            .any(|x| x.rule == "award-above-bid")
    };
    assert!(
        above(&a, &Thresholds::default()),
        "with no tax set the award is 20 % above"
    );
    let vat = Thresholds {
        award_tax_share: dec("0.20"),
        ..Thresholds::default()
    };
    assert!(!above(&a, &vat), "exactly bid × 1.20");
    a.amount = Some(dec("1200.01"));
    let found = screen(&a, &vat)
        .into_iter()
        .find(|x| x.rule == "award-above-bid")
        .unwrap();
    assert!(
        found.message.contains("plus 20.00% tax"),
        "{}",
        found.message
    );
    assert!(Thresholds {
        award_tax_share: dec("1"),
        ..Thresholds::default()
    }
    .check()
    .is_err());
}

#[test]
fn consecutive_direct_awards_to_one_supplier_each_under_the_threshold_are_a_split() {
    let award = |seq: u64, date: &str, vendor: &str, amount: &str| AwardFact {
        seq,
        date: d(date),
        vendor: vendor.to_owned(),
        amount: Some(dec(amount)),
    };
    let mut a = base("award", "4000.00");
    a.tender = Some(tender("direct", &[]));
    a.recent_awards = vec![
        award(100, "2026-03-03", "V1", "4000.00"),
        award(90, "2026-02-25", "V1", "3500.00"),
        award(80, "2026-02-20", "V1", "3000.00"),
        award(70, "2026-02-18", "V2", "9000.00"),
    ];
    let split = |f: &Facts| {
        screen(f, &Thresholds::default())
            .into_iter()
            .find(|x| x.rule == "split-purchase")
    };
    let found = split(&a).unwrap();
    assert_eq!(found.evidence, vec![100, 80, 90]);
    assert!(found.message.contains("10500.00 EUR"), "{}", found.message);
    // Another supplier's award in between breaks the run.
    a.recent_awards
        .insert(1, award(95, "2026-03-01", "V2", "500.00"));
    assert!(split(&a).is_none());
    a.recent_awards.remove(1);
    // An open tender's award is not a direct award.
    a.tender = Some(tender("open", &[(11, "V1", "4000.00")]));
    assert!(split(&a).is_none());
    a.tender = Some(tender("direct", &[]));
    // Outside the window, or together under the threshold: no split.
    a.recent_awards.truncate(2);
    assert!(split(&a).is_none(), "7,500 stays under 10,000");
}

#[test]
fn imported_history_is_not_screened_for_timing_unless_asked() {
    // Recorded on a Sunday night, a year after its business date.
    let mut p = base("payment", "123.45");
    p.business_date = d("2025-03-02");
    p.recorded_at = Utc.with_ymd_and_hms(2026, 3, 1, 23, 0, 0).unwrap();
    let timing = |f: &Facts, t: &Thresholds| -> Vec<&'static str> {
        screen(f, t)
            .into_iter()
            .map(|x| x.rule)
            .filter(|r| matches!(*r, "backdated" | "off-hours"))
            .collect()
    };
    assert_eq!(
        timing(&p, &Thresholds::default()),
        ["backdated", "off-hours"]
    );
    p.imported = true;
    assert!(timing(&p, &Thresholds::default()).is_empty());
    let asked = Thresholds {
        screen_imported_timing: true,
        ..Thresholds::default()
    };
    assert_eq!(timing(&p, &asked), ["backdated", "off-hours"]);
}

#[test]
fn a_single_tenderer_stated_without_bid_details_is_a_single_bid() {
    // Publishers that give `numberOfTenderers` but no bids: the award's bids_received.
    let mut a = base("award", "5000.00");
    a.tender = Some(tender("open", &[]));
    a.bids_received = Some(1);
    assert!(rules(&a).contains(&"single-bidder"));
    a.bids_received = Some(3);
    assert!(!rules(&a).contains(&"single-bidder"));
    // One bid recorded but three received (only the winner's bid published): not single.
    a.tender = Some(tender("open", &[(11, "V1", "5000.00")]));
    assert!(!rules(&a).contains(&"single-bidder"));
    a.bids_received = None;
    assert!(rules(&a).contains(&"single-bidder"));
}
