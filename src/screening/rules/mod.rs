//! The per-entry screens: pure functions from the facts about one entry (the entry and
//! what the fund already holds around it) to findings. No I/O here: `screening::raise`
//! gathers the facts inside the append transaction, these decide (docs/screening.md).
//!
//! This file holds the severities, the settings (`Thresholds`), the facts and `screen`,
//! which runs every rule; the rules are in one file per family: `procurement`
//! (competition and awards), `payments`, `amounts` (thresholds, round and new-vendor
//! amounts) and `timing`.

mod amounts;
mod payments;
mod procurement;
#[cfg(test)]
mod tests;
mod timing;

use chrono::{DateTime, NaiveDate, Utc};
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
    /// Invoice document missing: a payment of at least this amount (fund currency) needs a
    /// document attached to it, to the request it was approved from, or to its invoice.
    pub invoice_document_min: Decimal,
    /// Approval missing and invoice document missing judge only entries dated at least
    /// this many days before the run: a document, or a second officer's approval of
    /// history recorded before a policy, may follow the entry by a few days.
    pub evidence_grace_days: i64,
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
    /// Units of the fund's currency per euro at which the documented amount defaults
    /// (`AMOUNT_SETTINGS`, euro-sized) were converted. `None`: never converted nor set,
    /// and the fund is not in euros: the rules that compare amounts with an amount setting
    /// do not run (`Thresholds::for_currency`), since a euro-sized threshold means
    /// nothing in drams or pesos. A `screening_config` naming it converts every amount
    /// setting it does not name itself (`Thresholds::scale_amounts`).
    pub amount_scale: Option<Decimal>,
    /// The tax share awards include and bids and estimates do not (0: both stated alike).
    /// award-above-bid flags an award above bid × (1 + share): bids net and awards gross
    /// at 20 % VAT are set with 0.2.
    pub award_tax_share: Decimal,
    /// backdated and off-hours also on imported entries (principal `IMPORT_PRINCIPAL`).
    /// Off by default: an import records history, so its recording time says nothing
    /// about when the publisher acted.
    pub screen_imported_timing: bool,
}

/// The principal id of entries written by `fundtrail import` (`import::run::principal`;
/// a constant of this layer because screening sits below the importer).
pub const IMPORT_PRINCIPAL: &str = "ocds-import";

/// The amount settings: euro-sized by default, converted by `amount_scale`.
pub const AMOUNT_SETTINGS: [&str; 8] = [
    "direct_max",
    "rfq_max",
    "restricted_max",
    "round_min",
    "round_unit",
    "new_vendor_amount",
    "velocity_min_amount",
    "invoice_document_min",
];

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
            invoice_document_min: Decimal::from(50_000),
            evidence_grace_days: 14,
            // --- end of the period-screen block.
            lowest_disqualified_share: Decimal::ZERO,
            all_but_winner_min_bids: 3,
            bid_spread_close: Decimal::new(5, 3),
            bid_spread_far: Decimal::new(5, 1),
            funding_tolerance: Decimal::ZERO,
            over_contract_tolerance: Decimal::new(5, 2),
            consecutive_wins_min: 5,
            amount_scale: Some(Decimal::ONE),
            award_tax_share: Decimal::ZERO,
            screen_imported_timing: false,
        }
    }
}

impl Thresholds {
    /// These thresholds with `settings` (names and values of docs/screening.md) in place,
    /// as a `screening_config` entry sets them: an `amount_scale` converts the euro-sized
    /// defaults of the amounts the settings do not set themselves. Refused with
    /// `unknown_setting` or `invalid_setting` and why.
    pub fn configured(
        &self,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, (&'static str, String)> {
        let invalid = |e: String| ("invalid_setting", e);
        let mut merged = serde_json::to_value(self).map_err(|e| invalid(e.to_string()))?;
        if let Some(obj) = merged.as_object_mut() {
            for (name, value) in settings {
                if !obj.contains_key(name) {
                    return Err((
                        "unknown_setting",
                        format!("{name:?} is not a screening setting (docs/screening.md)"),
                    ));
                }
                obj.insert(name.clone(), value.clone());
            }
        }
        let mut next: Self = serde_json::from_value(merged)
            .map_err(|e| invalid(format!("a setting has the wrong type: {e}")))?;
        if let (true, Some(scale)) = (settings.contains_key("amount_scale"), next.amount_scale) {
            next.scale_amounts(scale, &|name| settings.contains_key(name));
        }
        next.check().map_err(invalid)?;
        Ok(next)
    }

    /// A fund's thresholds before any `screening_config`: the defaults for a fund in euros;
    /// for any other currency the same without amount rules (`amount_scale` `None`) until
    /// its auditors record the rate the defaults convert at, or amounts of their own.
    pub fn for_currency(code: &str) -> Self {
        let mut t = Self::default();
        if code != "EUR" {
            t.amount_scale = None;
        }
        t
    }

    /// The amount rules run: the fund is in euros, or its amounts were converted or set.
    pub fn amounts_set(&self) -> bool {
        self.amount_scale.is_some()
    }

    /// Converts the documented defaults of the amount settings not in `named` at `scale`
    /// units per euro, rounded to two significant digits (4,025,000 becomes 4,000,000):
    /// thresholds are orders of magnitude, and a round figure is what a regulation names.
    pub fn scale_amounts(&mut self, scale: Decimal, named: &dyn Fn(&str) -> bool) {
        let d = Self::default();
        let conv = |v: Decimal| two_significant(v.saturating_mul(scale));
        for (name, field, default) in [
            ("direct_max", &mut self.direct_max, d.direct_max),
            ("rfq_max", &mut self.rfq_max, d.rfq_max),
            ("restricted_max", &mut self.restricted_max, d.restricted_max),
            ("round_min", &mut self.round_min, d.round_min),
            ("round_unit", &mut self.round_unit, d.round_unit),
            (
                "new_vendor_amount",
                &mut self.new_vendor_amount,
                d.new_vendor_amount,
            ),
            (
                "velocity_min_amount",
                &mut self.velocity_min_amount,
                d.velocity_min_amount,
            ),
            (
                "invoice_document_min",
                &mut self.invoice_document_min,
                d.invoice_document_min,
            ),
        ] {
            if !named(name) {
                *field = conv(default);
            }
        }
    }

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
            ("invoice_document_min", self.invoice_document_min),
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
        if self.amount_scale.is_some_and(|v| v <= Decimal::ZERO) {
            return Err("amount_scale must be positive (or null: no amount rules)".to_owned());
        }
        if self.award_tax_share < Decimal::ZERO || self.award_tax_share >= Decimal::ONE {
            return Err("award_tax_share must be at least 0 and less than 1".to_owned());
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
            ("evidence_grace_days", self.evidence_grace_days),
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
    /// The approved entry was recorded after the fund's first approval policy: second
    /// pairs of eyes are then the policy's requests, which the maker cannot decide.
    pub recorded_under_policy: bool,
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
    /// Written by an import (principal `IMPORT_PRINCIPAL`): recorded history.
    pub imported: bool,
    /// Award: the number of bids the ministry (or the publisher's `numberOfTenderers`)
    /// says the tender received.
    pub bids_received: Option<u32>,
    /// Imported evidence: the data-quality findings the entry records (flag rule code,
    /// what was published), each raised as a flag of the `dq-` family.
    pub data_quality: Vec<(&'static str, String)>,
}

/// `v` rounded to two significant digits (half away from zero); at least 0.01.
pub(crate) fn two_significant(v: Decimal) -> Decimal {
    if v <= Decimal::ZERO {
        return v;
    }
    let mut unit = Decimal::ONE;
    while v / unit >= Decimal::ONE_HUNDRED {
        unit *= Decimal::TEN;
    }
    while v / unit < Decimal::TEN && unit > Decimal::new(1, 2) {
        unit /= Decimal::TEN;
    }
    ((v / unit).round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        * unit)
        .max(Decimal::new(1, 2))
        .normalize()
}

/// An amount with its currency's minor-unit decimals (EUR 2, JPY 0, KWD 3).
pub(crate) fn money(v: Decimal, ccy: &str) -> String {
    match crate::money::Currency::parse(ccy) {
        Ok(c) => format!("{} {ccy}", c.format(v)),
        Err(_) => format!("{v} {ccy}"),
    }
}

/// All per-entry screens.
pub fn screen(f: &Facts, t: &Thresholds) -> Vec<Finding> {
    let mut out = Vec::new();
    let amounts = t.amounts_set();
    let timing = !f.imported || t.screen_imported_timing;
    if amounts {
        amounts::round_amount(f, t, &mut out);
    }
    if timing {
        timing::backdated(f, t, &mut out);
        timing::off_hours(f, t, &mut out);
    }
    if amounts {
        amounts::near_threshold(f, t, &mut out);
    }
    payments::payment_without_contract(f, t, &mut out);
    procurement::single_bidder(f, &mut out);
    procurement::award_above_bid(f, t, &mut out);
    procurement::identical_bids(f, &mut out);
    procurement::short_tender_period(f, t, &mut out);
    procurement::contract_inflation(f, t, &mut out);
    payments::duplicate_payment(f, t, &mut out);
    if amounts {
        amounts::split_purchase(f, t, &mut out);
        amounts::split_award(f, t, &mut out);
    }
    payments::near_duplicate_payment(f, t, &mut out);
    payments::payment_outside_contract_dates(f, t, &mut out);
    if amounts {
        amounts::new_vendor_large(f, t, &mut out);
    }
    procurement::lowest_bid_disqualified(f, t, &mut out);
    procurement::all_but_winner_disqualified(f, t, &mut out);
    procurement::bid_spread(f, t, &mut out);
    payments::spending_before_funding(f, t, &mut out);
    procurement::self_approval(f, &mut out);
    payments::over_contract(f, t, &mut out);
    procurement::consecutive_wins(f, t, &mut out);
    data_quality(f, &mut out);
    out
}

/// One flag per data-quality code the entry records (several findings of one code, e.g.
/// two amounts too precise, make one flag listing both).
fn data_quality(f: &Facts, out: &mut Vec<Finding>) {
    let mut by_code: std::collections::BTreeMap<&'static str, Vec<&str>> =
        std::collections::BTreeMap::new();
    for (code, detail) in &f.data_quality {
        by_code.entry(code).or_default().push(detail);
    }
    for (rule, details) in by_code {
        out.push(Finding {
            rule,
            severity: Severity::Low,
            message: format!(
                "imported {} {} (data quality): {}",
                f.kind.replace('_', " "),
                f.seq,
                details.join("; ")
            ),
            evidence: vec![f.seq],
        });
    }
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
pub(super) fn percent(share: Decimal) -> String {
    match share.checked_mul(Decimal::ONE_HUNDRED) {
        Some(p) => format!("{}%", p.round_dp(2)),
        None => format!("{share} times"),
    }
}

pub(super) fn is_spend(kind: &str) -> bool {
    matches!(kind, "payment" | "invoice" | "award" | "contract")
}
