//! The per-entry screens: pure functions from the facts about one entry (the entry and
//! what the fund already holds around it) to findings. No I/O here: `screening::raise`
//! gathers the facts inside the append transaction, these decide (docs/screening.md).

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc, Weekday};
use rust_decimal::Decimal;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// One finding: rule code, severity, a sentence a donor can read, and the seqs of the
/// entries that form the evidence (the screened entry first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
    pub evidence: Vec<u64>,
}

/// Thresholds of the screens (amounts in the fund's currency). The defaults are
/// documented in docs/screening.md; a fund changes them with a `screening_config` entry.
///
/// A setting missing from a stored configuration takes its default (settings added after
/// the configuration was written).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Thresholds {
    /// Procurement method thresholds: below `direct_max` a direct purchase is allowed,
    /// below `rfq_max` a request for quotation, below `restricted_max` a restricted tender.
    pub direct_max: Decimal,
    pub rfq_max: Decimal,
    pub restricted_max: Decimal,
    /// "Just below" a threshold: within this share under it.
    pub near_share: Decimal,
    /// Split purchase and duplicate payment look back this many days.
    pub window_days: i64,
    /// Amendments raising a contract above `original × (1 + inflation_share)`.
    pub inflation_share: Decimal,
    pub max_amendments: i32,
    /// Minimum days between a tender's publication and its deadline, per method.
    pub min_days_open: i64,
    pub min_days_restricted: i64,
    pub min_days_rfq: i64,
    /// Round amounts: at least this large and a multiple of `round_unit`.
    pub round_min: Decimal,
    pub round_unit: Decimal,
    /// Business dates this many days before the recording date are backdated.
    pub backdated_days: i64,
    /// Near-duplicate payments: amounts within this share of each other (but not equal).
    pub near_duplicate_share: Decimal,
    /// A payment this many days after its contract ended is outside its dates.
    pub contract_grace_days: i64,
    /// New vendor: first seen in the fund at most this many days before an award,
    /// contract or payment of at least `new_vendor_amount`.
    pub new_vendor_days: i64,
    pub new_vendor_amount: Decimal,
    /// Warm-up of new-vendor-large: a vendor first seen fewer than this many days after
    /// the fund's first entry is not called new (the fund had too little history to tell
    /// a new vendor from a new fund). Default `new_vendor_days`' default, 90.
    pub new_vendor_warmup_days: i64,
    /// Working hours (UTC) for off-hours: [start, end).
    pub work_start_hour: u32,
    pub work_end_hour: u32,
    /// The fund's holidays: an entry recorded (UTC date of `recorded_at`) on one of these
    /// dates is off-hours like a weekend. At most 366 dates.
    pub holidays: Vec<NaiveDate>,
    /// Period screens (`screening::period`). Vendor concentration: one vendor takes more
    /// than this share of a ministry's payments, when the ministry made at least
    /// `concentration_min_payments` of them in the period.
    pub concentration_share: Decimal,
    pub concentration_min_payments: u32,
    /// Below-threshold clustering: counts in [T × (1 − band), T) and [T, T × (1 + band))
    /// for each method threshold T; flagged when at least `clustering_min` are below and
    /// more than `clustering_ratio` × (above + 1).
    pub clustering_band: Decimal,
    pub clustering_min: u32,
    pub clustering_ratio: Decimal,
    /// Benford: populations (a ministry's or a vendor's payments of at least 10) smaller
    /// than this are not tested (Nigrini recommends 1,000 for a reliable test; 300 is a
    /// compromise for ministries that pay less often).
    pub benford_min: u32,

    // --- Period screens: velocity, non-competitive share, amount outlier, unspent
    // --- disbursements (docs/screening.md, "Period screens"; `check_period_rules`).
    /// Velocity spike: a ministry's payments in `velocity_window_days` total at least
    /// `velocity_min_amount` and their daily rate is more than `velocity_ratio` × its
    /// daily rate over the `velocity_trailing_days` before the window.
    pub velocity_window_days: i64,
    pub velocity_trailing_days: i64,
    pub velocity_ratio: Decimal,
    pub velocity_min_amount: Decimal,
    /// Velocity warm-up: a window is tested only when its trailing days start at least
    /// this many days after the ministry's first payment in the fund (a new spender's
    /// first procurement cycles are a ramp, not a rate).
    pub velocity_warmup_days: i64,
    /// Non-competitive share: the share of a ministry's award value made by the direct
    /// method is more than `noncompetitive_share_min` and more than
    /// `noncompetitive_peer_factor` × its peers' (median of the other ministries' shares),
    /// when the ministry made at least `noncompetitive_min_awards` awards in the period.
    pub noncompetitive_share_min: Decimal,
    pub noncompetitive_peer_factor: Decimal,
    pub noncompetitive_min_awards: u32,
    /// Amount outlier: robust z-score |x − median| / (1.4826 × MAD) above `outlier_z`,
    /// in a (kind, category) population of at least `outlier_min_population` entries;
    /// x is the logarithm of the amount when `outlier_log_amounts`, else the amount.
    pub outlier_z: Decimal,
    pub outlier_min_population: u32,
    pub outlier_log_amounts: bool,
    /// Unspent disbursement (spending-before-funding): older than `unspent_days` at the
    /// period's end while the ministry paid less than `unspent_share` of it since.
    pub unspent_days: i64,
    pub unspent_share: Decimal,
    // --- end of the period-screen block.
    /// Lowest bid disqualified: the award's (winning) bid must exceed the disqualified
    /// lowest bid by more than this share of it (0: any higher bid fires).
    pub lowest_disqualified_share: Decimal,
    /// All but the winner disqualified: only tenders with at least this many bids.
    pub all_but_winner_min_bids: u32,
    /// Bid spread: the second-lowest valid bid at most `bid_spread_close` above the
    /// winning bid (but not equal), or more than `bid_spread_far` above it (shares of the
    /// winning bid).
    pub bid_spread_close: Decimal,
    pub bid_spread_far: Decimal,
    /// Spending before funding: payments may exceed disbursements received by this share
    /// of the disbursements before a payment is flagged (0: any excess).
    pub funding_tolerance: Decimal,
    /// Over-contract: the unreversed invoices (or payments) of a contract may total up to
    /// its current value (original plus amendments) × (1 + this share) before an invoice
    /// (or payment) is flagged (0: any excess).
    pub over_contract_tolerance: Decimal,
    /// Vendor concentration by repeated wins: an award is flagged when its vendor won the
    /// ministry's last `consecutive_wins_min` awards in a row, this one included (2–100).
    pub consecutive_wins_min: u32,
}

/// The largest `Thresholds::consecutive_wins_min` (it bounds the read of a ministry's
/// latest awards).
pub const CONSECUTIVE_WINS_MAX: u32 = 100;

/// The most dates `Thresholds::holidays` may list.
pub const HOLIDAYS_MAX: usize = 366;

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            direct_max: Decimal::from(10_000),
            rfq_max: Decimal::from(50_000),
            restricted_max: Decimal::from(200_000),
            near_share: Decimal::new(5, 2),
            window_days: 30,
            inflation_share: Decimal::new(25, 2),
            max_amendments: 3,
            min_days_open: 30,
            min_days_restricted: 20,
            min_days_rfq: 10,
            round_min: Decimal::from(10_000),
            round_unit: Decimal::from(1_000),
            backdated_days: 30,
            near_duplicate_share: Decimal::new(1, 2),
            contract_grace_days: 90,
            new_vendor_days: 90,
            new_vendor_amount: Decimal::from(100_000),
            new_vendor_warmup_days: 90,
            work_start_hour: 6,
            work_end_hour: 20,
            holidays: Vec::new(),
            concentration_share: Decimal::new(5, 1),
            concentration_min_payments: 10,
            clustering_band: Decimal::new(10, 2),
            clustering_min: 8,
            clustering_ratio: Decimal::from(3),
            benford_min: 300,

            // --- Period screens: velocity, non-competitive share, outlier, unspent.
            velocity_window_days: 14,
            velocity_trailing_days: 90,
            velocity_ratio: Decimal::from(3),
            velocity_min_amount: Decimal::from(50_000),
            velocity_warmup_days: 90,
            noncompetitive_share_min: Decimal::new(4, 1),
            noncompetitive_peer_factor: Decimal::from(2),
            noncompetitive_min_awards: 5,
            outlier_z: Decimal::new(35, 1),
            outlier_min_population: 30,
            outlier_log_amounts: true,
            unspent_days: 180,
            unspent_share: Decimal::new(1, 1),
            // --- end of the period-screen block.
            lowest_disqualified_share: Decimal::ZERO,
            all_but_winner_min_bids: 3,
            bid_spread_close: Decimal::new(5, 3),
            bid_spread_far: Decimal::new(5, 1),
            funding_tolerance: Decimal::ZERO,
            over_contract_tolerance: Decimal::new(5, 2),
            consecutive_wins_min: 5,
        }
    }
}

impl Thresholds {
    /// Consistency of a configuration: positive amounts and days, shares in (0, 1),
    /// method thresholds increasing, working hours a non-empty part of the day.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("direct_max", self.direct_max),
            ("rfq_max", self.rfq_max),
            ("restricted_max", self.restricted_max),
            ("round_min", self.round_min),
            ("round_unit", self.round_unit),
            ("new_vendor_amount", self.new_vendor_amount),
        ];
        for (name, v) in positive {
            if v <= Decimal::ZERO {
                return Err(format!("{name} must be positive"));
            }
        }
        for (name, v) in [
            ("near_share", self.near_share),
            ("inflation_share", self.inflation_share),
            ("near_duplicate_share", self.near_duplicate_share),
            ("concentration_share", self.concentration_share),
            ("clustering_band", self.clustering_band),
            ("bid_spread_close", self.bid_spread_close),
        ] {
            if v <= Decimal::ZERO || v >= Decimal::ONE {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        // Shares where 0 means "any".
        for (name, v) in [
            ("lowest_disqualified_share", self.lowest_disqualified_share),
            ("funding_tolerance", self.funding_tolerance),
            ("over_contract_tolerance", self.over_contract_tolerance),
        ] {
            if v < Decimal::ZERO || v >= Decimal::ONE {
                return Err(format!("{name} must be at least 0 and less than 1"));
            }
        }
        if !(self.bid_spread_far > self.bid_spread_close && self.bid_spread_far <= Decimal::TEN) {
            return Err("bid_spread_far must be above bid_spread_close and at most 10".to_owned());
        }
        if !(2..=CONSECUTIVE_WINS_MAX).contains(&self.consecutive_wins_min) {
            return Err(format!(
                "consecutive_wins_min must be 2 to {CONSECUTIVE_WINS_MAX}"
            ));
        }
        if !(2..=1_000).contains(&self.all_but_winner_min_bids) {
            return Err("all_but_winner_min_bids must be 2 to 1000".to_owned());
        }
        for (name, v) in [
            ("window_days", self.window_days),
            ("min_days_open", self.min_days_open),
            ("min_days_restricted", self.min_days_restricted),
            ("min_days_rfq", self.min_days_rfq),
            ("backdated_days", self.backdated_days),
            ("contract_grace_days", self.contract_grace_days),
            ("new_vendor_days", self.new_vendor_days),
            ("new_vendor_warmup_days", self.new_vendor_warmup_days),
        ] {
            if !(0..=3_650).contains(&v) {
                return Err(format!("{name} must be 0 to 3650 days"));
            }
        }
        if self.clustering_ratio < Decimal::ONE {
            return Err("clustering_ratio must be at least 1".to_owned());
        }
        for (name, v) in [
            (
                "concentration_min_payments",
                self.concentration_min_payments,
            ),
            ("clustering_min", self.clustering_min),
            ("benford_min", self.benford_min),
        ] {
            if !(1..=1_000_000).contains(&v) {
                return Err(format!("{name} must be 1 to 1000000"));
            }
        }
        if self.max_amendments < 0 {
            return Err("max_amendments must not be negative".to_owned());
        }
        if !(self.direct_max < self.rfq_max && self.rfq_max < self.restricted_max) {
            return Err("direct_max < rfq_max < restricted_max must hold".to_owned());
        }
        if !(self.work_start_hour < self.work_end_hour && self.work_end_hour <= 24) {
            return Err("working hours must satisfy start < end <= 24".to_owned());
        }
        if self.holidays.len() > HOLIDAYS_MAX {
            return Err(format!("holidays must list at most {HOLIDAYS_MAX} dates"));
        }
        self.check_period_rules()
    }

    /// The period-screen block: velocity, non-competitive share, outlier, unspent.
    fn check_period_rules(&self) -> Result<(), String> {
        if !(1..=366).contains(&self.velocity_window_days) {
            return Err("velocity_window_days must be 1 to 366".to_owned());
        }
        for (name, v) in [
            ("velocity_trailing_days", self.velocity_trailing_days),
            ("unspent_days", self.unspent_days),
        ] {
            if !(1..=3_650).contains(&v) {
                return Err(format!("{name} must be 1 to 3650 days"));
            }
        }
        if !(0..=3_650).contains(&self.velocity_warmup_days) {
            return Err("velocity_warmup_days must be 0 to 3650 days".to_owned());
        }
        for (name, v) in [
            ("velocity_ratio", self.velocity_ratio),
            (
                "noncompetitive_peer_factor",
                self.noncompetitive_peer_factor,
            ),
        ] {
            if v < Decimal::ONE || v > Decimal::from(1_000) {
                return Err(format!("{name} must be 1 to 1000"));
            }
        }
        if self.velocity_min_amount < Decimal::ZERO {
            return Err("velocity_min_amount must not be negative".to_owned());
        }
        if self.noncompetitive_share_min <= Decimal::ZERO
            || self.noncompetitive_share_min >= Decimal::ONE
        {
            return Err("noncompetitive_share_min must be between 0 and 1".to_owned());
        }
        if self.unspent_share <= Decimal::ZERO || self.unspent_share > Decimal::ONE {
            return Err("unspent_share must be more than 0 and at most 1".to_owned());
        }
        if self.outlier_z <= Decimal::ZERO || self.outlier_z > Decimal::from(1_000) {
            return Err("outlier_z must be more than 0 and at most 1000".to_owned());
        }
        if !(1..=1_000_000).contains(&self.noncompetitive_min_awards) {
            return Err("noncompetitive_min_awards must be 1 to 1000000".to_owned());
        }
        // A median and a MAD need a few values to mean anything.
        if !(3..=1_000_000).contains(&self.outlier_min_population) {
            return Err("outlier_min_population must be 3 to 1000000".to_owned());
        }
        Ok(())
    }

    /// The method thresholds, lowest first, with the method each one caps.
    pub(crate) fn method_limits(&self) -> [(Decimal, &'static str); 3] {
        [
            (self.direct_max, "direct purchase"),
            (self.rfq_max, "request for quotation"),
            (self.restricted_max, "restricted tender"),
        ]
    }
}

/// A bid as screens see it.
#[derive(Debug, Clone)]
pub struct BidFact {
    pub seq: u64,
    pub vendor: String,
    pub amount: Decimal,
    /// Seq of the `bid_disqualified` entry that ruled it out (unreversed, recorded before
    /// the screened entry).
    pub disqualified: Option<u64>,
}

/// A payment's funding: what the paying ministry had paid and received out of this fund
/// by the payment's business date (fund currency, unreversed entries up to this one).
#[derive(Debug, Clone)]
pub struct FundingFact {
    /// Payments dated on or before the payment's date, this one included.
    pub paid: Decimal,
    /// Disbursements to the ministry dated on or before the payment's date.
    pub received: Decimal,
    /// The latest of those disbursements: (seq, date, amount).
    pub latest_disbursement: Option<(u64, NaiveDate, Decimal)>,
}

/// An approval and what it approves.
#[derive(Debug, Clone)]
pub struct ApprovalFact {
    pub approved_seq: u64,
    pub approved_kind: String,
    pub approved_date: NaiveDate,
    /// In the fund's currency.
    pub approved_amount: Option<Decimal>,
    /// User ids (ledger principals) of the approval and of the approved entry.
    pub approver: String,
    pub recorder: String,
}

#[derive(Debug, Clone)]
pub struct TenderFact {
    pub seq: u64,
    pub method: String,
    pub estimate: Decimal,
    pub published: NaiveDate,
    pub bids: Vec<BidFact>,
}

#[derive(Debug, Clone)]
pub struct ContractFact {
    pub seq: u64,
    pub original: Decimal,
    pub value: Decimal,
    pub amendments: i32,
}

/// An invoice's or a payment's contract, for `over-contract`: amounts in the contract's
/// currency (invoices and their payments are in it), as they stood when the entry was
/// recorded.
#[derive(Debug, Clone)]
pub struct OverContractFact {
    pub contract: u64,
    pub vendor: Option<String>,
    pub currency: String,
    /// The entry's own amount.
    pub amount: Decimal,
    pub original: Decimal,
    /// Original plus the unreversed amendments recorded before the entry.
    pub value: Decimal,
    /// Unreversed invoices (for an invoice) or payments (for a payment) of the contract
    /// recorded up to the entry, the entry included.
    pub cumulative: Decimal,
    /// Seqs of those amendments and of the earlier invoices (or payments), oldest first;
    /// at most the latest `OVER_CONTRACT_EVIDENCE_MAX` of each.
    pub amendments: Vec<u64>,
    pub earlier: Vec<u64>,
}

/// The most amendments, and the most earlier invoices or payments, an over-contract flag
/// lists as evidence (the latest ones).
pub const OVER_CONTRACT_EVIDENCE_MAX: usize = 50;

/// An earlier payment (or invoice) screens compare with.
#[derive(Debug, Clone)]
pub struct Prior {
    pub seq: u64,
    pub date: NaiveDate,
    pub amount: Decimal,
    pub invoice_number: Option<String>,
    /// A payment with no invoice behind it (a direct purchase).
    pub direct: bool,
}

/// An earlier direct purchase by the same ministry in the same item category (any vendor),
/// for `split-purchase` by category.
#[derive(Debug, Clone)]
pub struct CategoryPrior {
    pub seq: u64,
    pub date: NaiveDate,
    pub amount: Decimal,
    pub vendor: String,
}

/// One of a ministry's awards, for `vendor-concentration` by repeated wins.
#[derive(Debug, Clone)]
pub struct AwardFact {
    pub seq: u64,
    pub date: NaiveDate,
    pub vendor: String,
    /// In the fund's currency.
    pub amount: Option<Decimal>,
}

/// Everything the per-entry screens need about one entry.
#[derive(Debug, Clone)]
pub struct Facts {
    pub seq: u64,
    pub kind: String,
    pub business_date: NaiveDate,
    pub recorded_at: DateTime<Utc>,
    /// In the fund's currency.
    pub amount: Option<Decimal>,
    pub currency: String,
    pub vendor: Option<String>,
    pub ministry: Option<String>,
    /// Tender: its deadline.
    pub deadline: Option<NaiveDate>,
    /// Invoice: its number; payment of an invoice: that invoice's number.
    pub invoice_number: Option<String>,
    /// Payment without an invoice behind it.
    pub direct_purchase: bool,
    pub tender: Option<TenderFact>,
    pub contract: Option<ContractFact>,
    /// Unreversed earlier payments of the same ministry to the same vendor within the
    /// window (for payments), or earlier invoices of the same vendor (for invoices).
    pub priors: Vec<Prior>,
    /// Direct purchase: its item category, and the unreversed earlier direct purchases by
    /// the same ministry in that category (any vendor) dated from the window's start on.
    pub category: Option<String>,
    pub category_priors: Vec<CategoryPrior>,
    /// Award: the ministry's latest unreversed awards recorded up to this one (this one
    /// included), latest dated first (seq breaks ties), at most `consecutive_wins_min`.
    pub recent_awards: Vec<AwardFact>,
    /// Payment of an invoice: its contract's (seq, start, end).
    pub contract_dates: Option<(u64, NaiveDate, NaiveDate)>,
    /// The vendor's first entry in the fund: (seq, business date). Gathered only for
    /// awards, contracts and payments of at least `new_vendor_amount`.
    pub vendor_first_seen: Option<(u64, NaiveDate)>,
    /// The business date of the fund's earliest entry (with `vendor_first_seen`).
    pub fund_first_date: Option<NaiveDate>,
    /// Award: its tender's estimate; contract: its award's amount and its tender's
    /// estimate (fund currency; only read when the contract's value is near a threshold).
    /// near-threshold raises one flag per procurement: on the first of its steps that is
    /// just under a threshold.
    pub earlier_amounts: Vec<Decimal>,
    /// Payment: the ministry's payments and disbursements by its date.
    pub funding: Option<FundingFact>,
    /// Approval: the approved entry and who recorded it.
    pub approval: Option<ApprovalFact>,
    /// Invoice or payment of an invoice: its contract's value and totals. Only gathered
    /// when the contract's totals could be over the line (`screening::raise`).
    pub over_contract: Option<OverContractFact>,
}

/// An amount with its currency's minor-unit decimals (EUR 2, JPY 0, KWD 3).
pub(crate) fn money(v: Decimal, ccy: &str) -> String {
    match crate::funds::money::Currency::parse(ccy) {
        Ok(c) => format!("{} {ccy}", c.format(v)),
        Err(_) => format!("{v} {ccy}"),
    }
}

/// All per-entry screens.
pub fn screen(f: &Facts, t: &Thresholds) -> Vec<Finding> {
    let mut out = Vec::new();
    round_amount(f, t, &mut out);
    backdated(f, t, &mut out);
    off_hours(f, t, &mut out);
    near_threshold(f, t, &mut out);
    payment_without_contract(f, t, &mut out);
    single_bidder(f, &mut out);
    award_above_bid(f, &mut out);
    identical_bids(f, &mut out);
    short_tender_period(f, t, &mut out);
    contract_inflation(f, t, &mut out);
    duplicate_payment(f, t, &mut out);
    split_purchase(f, t, &mut out);
    near_duplicate_payment(f, t, &mut out);
    payment_outside_contract_dates(f, t, &mut out);
    new_vendor_large(f, t, &mut out);
    lowest_bid_disqualified(f, t, &mut out);
    all_but_winner_disqualified(f, t, &mut out);
    bid_spread(f, t, &mut out);
    spending_before_funding(f, t, &mut out);
    self_approval(f, &mut out);
    over_contract(f, t, &mut out);
    consecutive_wins(f, t, &mut out);
    out
}

/// `a` and `b` differ only by two adjacent characters swapped ("INV-1042" and
/// "INV-1402"): same length, exactly two differing positions, next to each other, each
/// holding the other's character.
pub fn adjacent_transposition(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len() != b.len() {
        return false;
    }
    let diffs: Vec<usize> = (0..a.len()).filter(|&i| a.get(i) != b.get(i)).collect();
    match diffs.as_slice() {
        [i, j] if *j == i + 1 => a.get(*i) == b.get(*j) && a.get(*j) == b.get(*i),
        _ => false,
    }
}

/// A share as a percentage with two decimals ("0.44%").
fn percent(share: Decimal) -> String {
    match share.checked_mul(Decimal::ONE_HUNDRED) {
        Some(p) => format!("{}%", p.round_dp(2)),
        None => format!("{share} times"),
    }
}

/// The winning bid of an award: the lowest valid (not disqualified) bid of the award's
/// vendor recorded before it.
fn winning_bid<'a>(tender: &'a TenderFact, vendor: &str) -> Option<&'a BidFact> {
    tender
        .bids
        .iter()
        .filter(|b| b.vendor == vendor && b.disqualified.is_none())
        .min_by(|x, y| x.amount.cmp(&y.amount).then(x.seq.cmp(&y.seq)))
}

/// The award went above a lowest bid that was disqualified.
fn lowest_bid_disqualified(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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
fn all_but_winner_disqualified(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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
fn bid_spread(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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

/// A ministry pays out of the fund more than it has received from it by then.
fn spending_before_funding(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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
fn over_contract(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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

/// The award's vendor won the ministry's last `consecutive_wins_min` awards in a row, this
/// one included (latest dated first; vendors compare by name).
fn consecutive_wins(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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

/// The user who recorded an entry approved it.
fn self_approval(f: &Facts, out: &mut Vec<Finding>) {
    let (Some(a), "approval") = (&f.approval, f.kind.as_str()) else {
        return;
    };
    if a.approver != a.recorder {
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

/// How two payments' invoice numbers relate, when that makes them near duplicates: one
/// of them has none (a direct purchase), they are the same, or a transposition apart.
fn invoice_relation(a: Option<&str>, b: Option<&str>) -> Option<String> {
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
fn near_duplicate_payment(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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

fn payment_outside_contract_dates(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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

fn new_vendor_large(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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

fn is_spend(kind: &str) -> bool {
    matches!(kind, "payment" | "invoice" | "award" | "contract")
}

fn round_amount(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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

fn backdated(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let recorded = f.recorded_at.date_naive();
    let days = (recorded - f.business_date).num_days();
    if days > t.backdated_days {
        out.push(Finding {
            rule: "backdated",
            severity: if days > 3 * t.backdated_days {
                Severity::Medium
            } else {
                Severity::Low
            },
            message: format!(
                "{} {} dated {} was recorded on {}, {days} days later",
                f.kind, f.seq, f.business_date, recorded
            ),
            evidence: vec![f.seq],
        });
    }
}

/// Recorded on a weekend, one of the fund's holidays, or outside working hours (UTC).
fn off_hours(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    if !is_spend(&f.kind) {
        return;
    }
    let at = f.recorded_at;
    let day = at.date_naive();
    let why = if t.holidays.contains(&day) {
        format!("the fund's holiday {day}")
    } else if matches!(at.weekday(), Weekday::Sat | Weekday::Sun) {
        "weekend".to_owned()
    } else if at.hour() < t.work_start_hour || at.hour() >= t.work_end_hour {
        "night".to_owned()
    } else {
        return;
    };
    out.push(Finding {
        rule: "off-hours",
        severity: Severity::Low,
        message: format!(
            "{} {} was recorded at {} UTC ({why})",
            f.kind,
            f.seq,
            at.format("%Y-%m-%d %H:%M"),
        ),
        evidence: vec![f.seq],
    });
}

fn near_threshold(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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

/// Medium for direct purchases at or above the direct-purchase threshold (they needed a
/// procurement), low under it.
fn payment_without_contract(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    if f.kind == "payment" && f.direct_purchase {
        out.push(Finding {
            rule: "payment-without-contract",
            severity: if f.amount.is_some_and(|a| a >= t.direct_max) {
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

fn single_bidder(f: &Facts, out: &mut Vec<Finding>) {
    let (Some(tender), "award") = (&f.tender, f.kind.as_str()) else {
        return;
    };
    let bidders: std::collections::BTreeSet<&str> =
        tender.bids.iter().map(|b| b.vendor.as_str()).collect();
    if matches!(tender.method.as_str(), "open" | "restricted") && bidders.len() == 1 {
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

fn award_above_bid(f: &Facts, out: &mut Vec<Finding>) {
    let (Some(tender), "award", Some(amount), Some(vendor)) =
        (&f.tender, f.kind.as_str(), f.amount, &f.vendor)
    else {
        return;
    };
    // Amounts compare as recorded (tax-inclusive on both sides: bids and awards are
    // stated gross in this ledger, docs/screening.md).
    if let Some(bid) = tender.bids.iter().find(|b| &b.vendor == vendor) {
        if amount > bid.amount {
            out.push(Finding {
                rule: "award-above-bid",
                severity: Severity::High,
                message: format!(
                    "award {} of {} is above the winner's bid {} of {}",
                    f.seq,
                    money(amount, &f.currency),
                    bid.seq,
                    money(bid.amount, &f.currency)
                ),
                evidence: vec![f.seq, bid.seq, tender.seq],
            });
        }
    } else if tender.method != "direct" && amount > tender.estimate {
        out.push(Finding {
            rule: "award-above-bid",
            severity: Severity::High,
            message: format!(
                "award {} of {} is above tender {}'s estimate of {}",
                f.seq,
                money(amount, &f.currency),
                tender.seq,
                money(tender.estimate, &f.currency)
            ),
            evidence: vec![f.seq, tender.seq],
        });
    }
}

fn identical_bids(f: &Facts, out: &mut Vec<Finding>) {
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

fn short_tender_period(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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

fn contract_inflation(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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

fn duplicate_payment(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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

/// Only direct purchases count: instalments of a contract awarded by a tender are not a
/// split (the tender chose the method for the whole value). First by vendor (the same
/// ministry paying the same vendor); when that does not fire, by item category (the same
/// ministry buying in the same category from any vendors).
fn split_purchase(f: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
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
            serde_json::from_value::<Thresholds>(serde_json::json!({"holidays": ["25/12"]}))
                .is_err()
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
    fn award_on(
        amount: &str,
        winner: &str,
        bids: &[(u64, &str, &str)],
        dq: &[(u64, u64)],
    ) -> Facts {
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
}
