//! Known schemes mixed into the demo year (`seed-demo --inject-schemes`) and their ground
//! truth, for `fundtrail bench screening` (docs/screening.md, "Measured precision and
//! recall").
//!
//! Every screening rule has an injector. Each injector adds entries that form one or more
//! instances of its scheme, with amounts, dates, ministries and vendors drawn from the
//! seeded generator, and records which entries form each instance and which one is its
//! key (the entry whose flag proves the scheme was seen). Injected procurements look
//! like the clean ones (same methods, bid counts, instalments) except for the one fact
//! that makes them a scheme. Two injectors (backdated, off-hours) change no amounts: they
//! record some clean spend entries late, or at night and at weekends.
//!
//! The instance counts are `per_rule` for per-entry rules; period rules are about a
//! ministry (or a vendor) over the year, so there are only a few of them: one to three.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{
    amount_cents, category_cents, category_for, eur, min_days_open, money, pick_category, r, Actor,
    ItemCategory, Plan, ITEM_CATEGORIES,
};

/// The ministry of the unspent-disbursement scheme: it receives tranches and spends none.
pub const DORMANT_MINISTRY: &str = "Office of the National Security Adviser";

/// Organisations only the injected schemes use.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// Vendors first seen in the year (new-vendor-large).
    pub new_vendors: Vec<Uuid>,
    /// A ministry with an allocation and tranches and no spending.
    pub dormant: Option<Uuid>,
}

pub struct World<'a> {
    pub today: NaiveDate,
    pub ministries: &'a [Uuid],
    pub vendors: &'a [Uuid],
    pub extra: &'a Extra,
    /// A donor contributing in euros (funds the schemes' money).
    pub eur_donor: Uuid,
    pub scale: u32,
    pub per_rule: u32,
}

/// One injected instance of a scheme, by the seqs of its entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// What was injected, in a few words.
    pub scheme: String,
    /// The entry whose flag shows the instance was found (per-entry rules: the flagged
    /// entry; period rules: one of the entries of the pattern).
    pub key: u64,
    /// All entries that form the instance.
    pub entries: Vec<u64>,
    /// Period rules: the subject (ministry and/or vendor) a flag of the rule names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ministry: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<Uuid>,
}

/// The ground truth of a seeded fund: rule code → instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truth {
    pub fund: Uuid,
    pub seed: u64,
    pub scale: u32,
    /// The year of activity (screen it with `fundtrail screen --from --to`).
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub rules: BTreeMap<String, Vec<Instance>>,
}

/// An instance by event indices (before the events have seqs).
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    rule: &'static str,
    scheme: String,
    key: usize,
    entries: Vec<usize>,
    ministry: Option<Uuid>,
    vendor: Option<Uuid>,
}

pub struct Drafts {
    drafts: Vec<Draft>,
    from: NaiveDate,
}

impl Drafts {
    /// The truth with event indices replaced by the seqs the events got.
    pub fn resolve(
        self,
        fund: Uuid,
        seed: u64,
        scale: u32,
        today: NaiveDate,
        seq_of: &[u64],
    ) -> Truth {
        let seq = |i: usize| seq_of.get(i).copied().unwrap_or(u64::MAX);
        let mut rules: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
        for d in self.drafts {
            let mut entries: Vec<u64> = d.entries.iter().map(|&i| seq(i)).collect();
            entries.sort_unstable();
            entries.dedup();
            rules.entry(d.rule.to_owned()).or_default().push(Instance {
                scheme: d.scheme,
                key: seq(d.key),
                entries,
                ministry: d.ministry,
                vendor: d.vendor,
            });
        }
        Truth {
            fund,
            seed,
            scale,
            from: self.from,
            to: today,
            rules,
        }
    }

    /// The rule codes that have at least one instance.
    pub fn rules(&self) -> std::collections::BTreeSet<&'static str> {
        self.drafts.iter().map(|d| d.rule).collect()
    }
}

pub fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// `d` itself on a working day, else the next Monday.
pub fn next_workday(d: NaiveDate) -> NaiveDate {
    let mut d = d;
    while is_weekend(d) {
        d += Duration::days(1);
    }
    d
}

/// The last working day strictly before `d`.
pub fn previous_workday(d: NaiveDate) -> NaiveDate {
    let mut d = d - Duration::days(1);
    while is_weekend(d) {
        d -= Duration::days(1);
    }
    d
}

fn cents_of(v: &Value) -> i64 {
    v.pointer("/amount/value")
        .or_else(|| v.pointer("/value/value"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Decimal>().ok())
        .map(|d| (d * Decimal::from(100)).trunc())
        .and_then(|d| d.to_string().parse::<i64>().ok())
        .unwrap_or(0)
}

/// A procurement to inject.
struct Proc {
    mi: usize,
    category: &'static str,
    method: &'static str,
    published: NaiveDate,
    open_days: i64,
    estimate: i64,
    bids: Vec<(Uuid, i64)>,
    winner: Uuid,
    award: i64,
    /// Contract starts this many days after signing and lasts `contract_days`.
    starts_after: i64,
    contract_days: i64,
}

impl Proc {
    /// A procurement by ministry `mi` of an item of `category`, by `method`, estimated at
    /// `estimate`; `open` and `awarded` give the rest. Its contract starts on signing and
    /// runs 180 days, unless `contract` says otherwise.
    fn new(mi: usize, category: &'static str, method: &'static str, estimate: i64) -> Self {
        Self {
            mi,
            category,
            method,
            published: NaiveDate::default(),
            open_days: 0,
            estimate,
            bids: Vec::new(),
            winner: Uuid::nil(),
            award: 0,
            starts_after: 0,
            contract_days: 180,
        }
    }

    /// The tender is published on `published` and open `days`.
    fn open(self, published: NaiveDate, days: i64) -> Self {
        Self {
            published,
            open_days: days,
            ..self
        }
    }

    /// Receives `bids` (none for a direct award) and awards `award` to `winner`.
    fn awarded(self, bids: Vec<(Uuid, i64)>, winner: Uuid, award: i64) -> Self {
        Self {
            bids,
            winner,
            award,
            ..self
        }
    }

    /// The contract starts `starts_after` days after signing and runs `days`.
    fn contract(self, starts_after: i64, days: i64) -> Self {
        Self {
            starts_after,
            contract_days: days,
            ..self
        }
    }
}

struct Procured {
    tender: usize,
    bids: Vec<usize>,
    award: usize,
    contract: usize,
    signed: NaiveDate,
}

struct Inj<'a, 'w> {
    plan: &'a mut Plan,
    rng: StdRng,
    w: &'a World<'w>,
    start: NaiveDate,
    drafts: Vec<Draft>,
    /// Events before this index are the clean year.
    clean_len: usize,
    /// Clean events an injector already changed (backdated, off-hours).
    touched: std::collections::HashSet<usize>,
    /// The category of the last `typical` estimate, for the next `category` call.
    typical_category: Option<&'static str>,
    /// Payments no second officer approves (approval-missing) and payments with no
    /// document on file (invoice-document-missing).
    unapproved: std::collections::HashSet<usize>,
    undocumented: std::collections::HashSet<usize>,
    /// The draws of those two schemes and of the year's controls, apart from `rng`: the
    /// other schemes are drawn as they would be without them.
    controls_rng: StdRng,
}

impl Inj<'_, '_> {
    fn n(&self) -> u32 {
        self.w.per_rule
    }

    fn ministry(&self, mi: usize) -> Uuid {
        self.w.ministries.get(mi).copied().unwrap_or_default()
    }

    fn any_ministry(&mut self) -> usize {
        self.rng.gen_range(0..self.w.ministries.len().max(1))
    }

    /// A vendor the clean year lets ministry `mi` use.
    fn vendor(&mut self, mi: usize) -> Uuid {
        let n = self.w.ministries.len().max(1);
        let own: Vec<Uuid> = self
            .w
            .vendors
            .iter()
            .enumerate()
            .filter(|(vi, _)| vi % n == mi || vi % 7 == 0)
            .map(|(_, v)| *v)
            .collect();
        own.choose(&mut self.rng).copied().unwrap_or_default()
    }

    /// Another vendor of `mi` than those in `not`.
    fn other_vendor(&mut self, mi: usize, not: &[Uuid]) -> Uuid {
        for _ in 0..50 {
            let v = self.vendor(mi);
            if !not.contains(&v) {
                return v;
            }
        }
        self.w
            .vendors
            .iter()
            .find(|v| !not.contains(v))
            .copied()
            .unwrap_or_default()
    }

    /// A working day between `start + lo` and `today - room` days (both included).
    fn day(&mut self, lo: i64, room: i64) -> NaiveDate {
        let a = self.start + Duration::days(lo);
        let b = (self.w.today - Duration::days(room)).max(a);
        let span = (b - a).num_days().max(0);
        let d = a + Duration::days(self.rng.gen_range(0..=span));
        let d = next_workday(d);
        if d > b {
            previous_workday(d).max(a)
        } else {
            d
        }
    }

    /// The item category of a procurement of `cents`: the one `typical` drew it from,
    /// or else one whose values are typical of that amount (`seed::category_for`).
    fn category(&mut self, cents: i64) -> &'static str {
        match self.typical_category.take() {
            Some(c) => c,
            None => category_for(&mut self.rng, cents),
        }
    }

    /// For a procurement whose size the scheme sets (a share of what a ministry pays): the
    /// next `category` call returns a category drawn by weight, as the clean year's are,
    /// not the one its amount is typical of. Millions are typical of no category but
    /// construction, and piling every such scheme there would make that category's spread
    /// the schemes' rather than the clean year's.
    fn any_category(&mut self) {
        self.typical_category = Some(pick_category(&mut self.rng).name);
    }

    /// Makes the next `category` call return `category` (a scheme about one category).
    fn in_category(&mut self, category: &'static str) {
        self.typical_category = Some(category);
    }

    /// The estimate of a procurement whose scheme does not depend on its size (a
    /// duplicate invoice, a disqualified bid, ...): drawn like the clean year's, an item
    /// category by weight and a value typical of it (`seed::ITEM_CATEGORIES`). The next
    /// `category` call returns that category, so the injected procurements are spread
    /// over the categories as the clean ones are and are not outliers of them.
    fn typical(&mut self) -> i64 {
        let item = pick_category(&mut self.rng);
        self.typical_category = Some(item.name);
        category_cents(&mut self.rng, &item)
    }

    fn cents(&mut self, lo_eur: i64, hi_eur: i64) -> i64 {
        self.rng.gen_range(lo_eur * 100..hi_eur * 100)
    }

    fn method_for(estimate: i64) -> &'static str {
        match estimate {
            e if e < 10_000 * 100 => "direct",
            e if e < 50_000 * 100 => "request_for_quotation",
            e if e < 200_000 * 100 => "restricted",
            _ => "open",
        }
    }

    /// `method_for`, but a request for quotation where that is a direct award: for a
    /// scheme that needs bids.
    fn competitive_method_for(estimate: i64) -> &'static str {
        match Self::method_for(estimate) {
            "direct" => "request_for_quotation",
            m => m,
        }
    }

    fn push(&mut self, date: NaiveDate, kind: &'static str, mi: usize, body: Value) -> usize {
        self.plan.push(date, kind, Actor::Ministry(mi), body)
    }

    fn procure(&mut self, p: Proc) -> Procured {
        let m = self.ministry(p.mi);
        let title = format!(
            "{} lot {}-{}",
            p.category,
            p.published,
            self.rng.gen_range(100..999)
        );
        let deadline = p.published + Duration::days(p.open_days);
        let tender = self.push(
            p.published,
            "tender",
            p.mi,
            json!({"ministry": m, "title": title, "category": p.category, "method": p.method,
                   "estimated_value": money(eur(p.estimate), "EUR"), "deadline": deadline.to_string()}),
        );
        let mut bids = Vec::new();
        for (k, (vendor, amount)) in p.bids.iter().enumerate() {
            let date =
                (p.published + Duration::days(1 + i64::try_from(k).unwrap_or(0))).min(deadline);
            bids.push(self.push(
                date,
                "bid",
                p.mi,
                json!({"tender": r(tender), "vendor": vendor, "amount": money(eur(*amount), "EUR")}),
            ));
        }
        let award_on = deadline + Duration::days(1);
        let award = self.push(
            award_on,
            "award",
            p.mi,
            json!({"tender": r(tender), "vendor": p.winner, "amount": money(eur(p.award), "EUR"),
                   "bids_received": p.bids.len()}),
        );
        let signed = award_on + Duration::days(3);
        let starts = signed + Duration::days(p.starts_after);
        let contract = self.push(
            signed,
            "contract",
            p.mi,
            json!({"award": r(award), "value": money(eur(p.award), "EUR"),
                   "starts_on": starts.to_string(),
                   "ends_on": (starts + Duration::days(p.contract_days)).to_string()}),
        );
        Procured {
            tender,
            bids,
            award,
            contract,
            signed,
        }
    }

    /// Days a tender of `method` stays open, as in the clean year: the method's minimum
    /// and up to a week more.
    fn open_days(&mut self, method: &str) -> i64 {
        min_days_open(method) + self.rng.gen_range(0..8)
    }

    /// The procurement of most schemes: published on `published` by `mi`, in the item
    /// category of `estimate` (`category`), open as long as the clean year's (`open_days`),
    /// with `bids` (none for a direct award), awarded to `won.0` at `won.1`, and a contract
    /// that starts on signing and runs 180 days.
    fn tender(
        &mut self,
        mi: usize,
        method: &'static str,
        published: NaiveDate,
        estimate: i64,
        bids: Vec<(Uuid, i64)>,
        won: (Uuid, i64),
    ) -> Procured {
        let category = self.category(estimate);
        let open_days = self.open_days(method);
        self.procure(
            Proc::new(mi, category, method, estimate)
                .open(published, open_days)
                .awarded(bids, won.0, won.1),
        )
    }

    /// A clean-looking procurement of about `estimate` cents by `mi`, awarded to
    /// `winner` at its bid (the lowest), published on `published`. Its item category is
    /// drawn before its bids (or is the one `typical`, `any_category` or `in_category`
    /// set).
    fn plain(&mut self, mi: usize, published: NaiveDate, estimate: i64, winner: Uuid) -> Procured {
        let category = self.category(estimate);
        let method = Self::method_for(estimate);
        let mut bids = Vec::new();
        let award;
        if method == "direct" {
            award = estimate;
        } else {
            award = estimate * self.rng.gen_range(88..100) / 100 + self.rng.gen_range(0..100);
            bids.push((winner, award));
            for _ in 0..self.rng.gen_range(1..=3) {
                let v = self.other_vendor(mi, &bids.iter().map(|b| b.0).collect::<Vec<_>>());
                let amount =
                    award * self.rng.gen_range(103..125) / 100 + self.rng.gen_range(0..100);
                bids.push((v, amount));
            }
            bids.shuffle(&mut self.rng);
        }
        // The tender is in the category drawn above, not in one drawn again.
        self.in_category(category);
        self.tender(mi, method, published, estimate, bids, (winner, award))
    }

    fn invoice(
        &mut self,
        mi: usize,
        date: NaiveDate,
        contract: usize,
        vendor: Uuid,
        number: &str,
        cents: i64,
    ) -> usize {
        self.push(
            date,
            "invoice",
            mi,
            json!({"contract": r(contract), "vendor": vendor, "invoice_number": number,
                   "amount": money(eur(cents), "EUR")}),
        )
    }

    fn number(&mut self, date: NaiveDate) -> String {
        format!(
            "INV-{}-{}",
            date.format("%Y%m%d"),
            self.rng.gen_range(1000..9999)
        )
    }

    fn pay(&mut self, mi: usize, date: NaiveDate, invoice: usize, cents: i64) -> usize {
        self.push(
            date,
            "payment",
            mi,
            json!({"invoice": r(invoice), "amount": money(eur(cents), "EUR")}),
        )
    }

    /// An invoice of `cents` on `contract` and its payment `after` days later.
    fn bill(
        &mut self,
        mi: usize,
        date: NaiveDate,
        contract: usize,
        vendor: Uuid,
        cents: i64,
        after: i64,
    ) -> (usize, usize) {
        let number = self.number(date);
        let inv = self.invoice(mi, date, contract, vendor, &number, cents);
        let p = self.pay(mi, date + Duration::days(after), inv, cents);
        (inv, p)
    }

    fn direct(&mut self, mi: usize, date: NaiveDate, vendor: Uuid, cents: i64) -> usize {
        let m = self.ministry(mi);
        let category = self.category(cents);
        self.push(
            date,
            "payment",
            mi,
            json!({"vendor": vendor, "ministry": m, "category": category,
                   "amount": money(eur(cents), "EUR")}),
        )
    }

    fn draft(&mut self, rule: &'static str, scheme: String, key: usize, entries: Vec<usize>) {
        self.drafts.push(Draft {
            rule,
            scheme,
            key,
            entries,
            ministry: None,
            vendor: None,
        });
    }

    fn draft_subject(
        &mut self,
        rule: &'static str,
        scheme: String,
        key: usize,
        entries: Vec<usize>,
        ministry: Option<Uuid>,
        vendor: Option<Uuid>,
    ) {
        self.drafts.push(Draft {
            rule,
            scheme,
            key,
            entries,
            ministry,
            vendor,
        });
    }

    /// Sum of the amounts of `kind` recorded by ministry `mi` so far (clean and
    /// injected) dated in `[from, to)`, in cents.
    fn total(&self, kind: &str, mi: usize, from: NaiveDate, to: NaiveDate) -> i64 {
        self.plan
            .events
            .iter()
            .filter(|e| {
                e.kind == kind && e.actor == Actor::Ministry(mi) && e.date >= from && e.date < to
            })
            .map(|e| cents_of(&e.body.value()))
            .sum()
    }

    /// What `pr` awarded, in cents.
    fn awarded_cents(&self, pr: &Procured) -> i64 {
        self.plan
            .events
            .get(pr.award)
            .map_or(0, |e| cents_of(&e.body.value()))
    }

    fn year_total(&self, kind: &str, mi: usize) -> i64 {
        self.total(kind, mi, self.start, self.w.today + Duration::days(1))
    }
}

/// Adds the schemes to `plan` (the clean year) and returns their instances.
pub(crate) fn inject(plan: &mut Plan, seed: u64, w: &World<'_>) -> Drafts {
    let year_ago = w.today - Duration::days(364);
    let start = year_ago.with_day(1).unwrap_or(year_ago);
    let clean_len = plan.events.len();
    let mut inj = Inj {
        plan,
        rng: StdRng::seed_from_u64(seed ^ 0x5c4e_3e5e),
        w,
        start,
        drafts: Vec::new(),
        clean_len,
        touched: std::collections::HashSet::new(),
        typical_category: None,
        unapproved: std::collections::HashSet::new(),
        undocumented: std::collections::HashSet::new(),
        controls_rng: StdRng::seed_from_u64(seed ^ 0xc0_47_01_5e),
    };
    for injector in INJECTORS {
        (injector.1)(&mut inj);
    }
    fund_the_schemes(&mut inj);
    controls_of_the_schemes(&mut inj);
    Drafts {
        drafts: inj.drafts,
        from: start,
    }
}

type Injector = fn(&mut Inj<'_, '_>);

/// Every injector, by the rule code it injects.
const INJECTORS: [(&str, Injector); 31] = [
    // Before the clean approvals and documents: the payments that go without them.
    ("approval-missing", approval_missing),
    ("invoice-document-missing", invoice_document_missing),
    // Not a scheme: the second officer approves the larger clean payments.
    ("", clean_approvals),
    ("split-purchase", split_purchase),
    ("duplicate-payment", duplicate_payment),
    ("near-duplicate-payment", near_duplicate_payment),
    ("payment-without-contract", payment_without_contract),
    (
        "payment-outside-contract-dates",
        payment_outside_contract_dates,
    ),
    ("over-contract", over_contract),
    ("contract-inflation", contract_inflation),
    ("award-above-bid", award_above_bid),
    ("single-bidder", single_bidder),
    ("short-tender-period", short_tender_period),
    ("identical-bids", identical_bids),
    ("near-threshold", near_threshold),
    ("round-amount", round_amount),
    ("new-vendor-large", new_vendor_large),
    ("lowest-bid-disqualified", lowest_bid_disqualified),
    ("all-but-winner-disqualified", all_but_winner_disqualified),
    ("bid-spread", bid_spread),
    ("spending-before-funding", paid_before_funding),
    ("self-approval", self_approval),
    ("backdated", backdated),
    ("off-hours", off_hours),
    ("below-threshold-clustering", below_threshold_clustering),
    ("benford", benford),
    ("amount-outlier", amount_outlier),
    ("spending-before-funding", unspent_disbursement),
    // Last: their size is relative to what the ministry pays or awards in all.
    ("non-competitive-share", non_competitive_share),
    ("velocity-spike", velocity_spike),
    ("vendor-concentration", vendor_concentration),
];

/// The schemes' payments are funded like the clean ones: for each ministry and month, a
/// contribution and a disbursement of 1.05 times what the schemes pay that month, dated
/// the last working day before the month (the 17th day for the first month), from an
/// allocation of their own. Without it the schemes (which pay several times a ministry's
/// clean spend) would leave ministries paying more than they received, and every clean
/// payment after them would be flagged spending-before-funding. The payments injected as
/// that rule's instances are left unfunded, and they come before the first of these.
fn fund_the_schemes(x: &mut Inj<'_, '_>) {
    let unfunded: std::collections::HashSet<usize> = x
        .drafts
        .iter()
        .filter(|d| d.rule == "spending-before-funding")
        .flat_map(|d| d.entries.iter().copied())
        .collect();
    // (ministry, month index) -> cents paid by the schemes.
    let mut monthly: BTreeMap<(usize, i32), i64> = BTreeMap::new();
    let month_of = |d: NaiveDate| d.year() * 12 + i32::try_from(d.month0()).unwrap_or(0);
    for (i, e) in x.plan.events.iter().enumerate().skip(x.clean_len) {
        if let (Actor::Ministry(mi), "payment", false) = (e.actor, e.kind, unfunded.contains(&i)) {
            *monthly.entry((mi, month_of(e.date))).or_default() += cents_of(&e.body.value());
        }
    }
    let first = month_of(x.start);
    let year = x.start.year();
    let mut by_ministry: BTreeMap<usize, Vec<(NaiveDate, i64)>> = BTreeMap::new();
    for ((mi, month), cents) in monthly {
        let on = if month <= first {
            next_workday(x.start + Duration::days(16))
        } else {
            let y = month.div_euclid(12);
            let m = u32::try_from(month.rem_euclid(12)).unwrap_or(0) + 1;
            NaiveDate::from_ymd_opt(y, m, 1).map_or(x.start, previous_workday)
        };
        by_ministry
            .entry(mi)
            .or_default()
            .push((on, cents * 105 / 100));
    }
    for (mi, tranches) in by_ministry {
        let total: i64 = tranches.iter().map(|t| t.1).sum();
        let m = x.ministry(mi);
        let alloc = x.plan.push(
            x.start,
            "allocation",
            Actor::Treasurer,
            json!({"ministry": m, "budget_line": format!("BL-{}-99", mi + 1), "category": "equipment",
                   "amount": money(eur(total), "EUR"), "period_start": x.start.to_string(),
                   "period_end": (x.start + Duration::days(364)).to_string()}),
        );
        for (on, cents) in tranches {
            x.plan.push(
                on,
                "contribution",
                Actor::Treasurer,
                json!({"donor": x.w.eur_donor, "amount": money(eur(cents), "EUR"),
                       "agreement": format!("EUR-MDTF-{year}")}),
            );
            x.plan.push(
                on,
                "disbursement",
                Actor::Treasurer,
                json!({"allocation": r(alloc), "amount": money(eur(cents), "EUR"),
                       "tranche": format!("{}-{:02}-extra", on.year(), on.month())}),
            );
        }
    }
}

/// The rule codes that have an injector.
pub fn injected_rules() -> std::collections::BTreeSet<&'static str> {
    INJECTORS
        .iter()
        .map(|(rule, _)| *rule)
        .filter(|r| !r.is_empty())
        .collect()
}

/// Three direct purchases by one ministry from one vendor within the window, each under
/// a method threshold (10,000, or 50,000 for one in three), together over it.
fn split_purchase(x: &mut Inj<'_, '_>) {
    for i in 0..x.n() {
        let mi = x.any_ministry();
        let v = x.vendor(mi);
        let limit = if i % 3 == 2 { 50_000 } else { 10_000 };
        // Two parts under half the limit each, the third completes it.
        let a = x.cents(limit * 30 / 100, limit * 49 / 100);
        let b = x.cents(limit * 30 / 100, limit * 49 / 100);
        let floor = (limit * 100 - a - b + 100).max(limit * 10);
        let c = x.rng.gen_range(floor..limit * 96);
        let d0 = x.day(60, 40);
        let d1 = next_workday(d0 + Duration::days(x.rng.gen_range(1..8)));
        let d2 = next_workday(d1 + Duration::days(x.rng.gen_range(1..14)));
        let p = [
            x.direct(mi, d0, v, a),
            x.direct(mi, d1, v, b),
            x.direct(mi, d2, v, c),
        ];
        x.draft(
            "split-purchase",
            format!(
                "3 direct purchases totalling over {limit} within {} days",
                (d2 - d0).num_days()
            ),
            p[2],
            p.to_vec(),
        );
    }
}

/// A vendor paid twice: the same invoice number invoiced and paid again, or two invoices
/// of the same amount paid within the window.
fn duplicate_payment(x: &mut Inj<'_, '_>) {
    for i in 0..x.n() {
        let mi = x.any_ministry();
        let v = x.vendor(mi);
        let estimate = x.typical();
        let published = x.day(0, 150);
        let pr = x.plain(mi, published, estimate, v);
        let value = x.awarded_cents(&pr);
        let part = value * x.rng.gen_range(30..45) / 100;
        let d1 = next_workday(pr.signed + Duration::days(x.rng.gen_range(20..50)));
        let n1 = x.number(d1);
        let inv1 = x.invoice(mi, d1, pr.contract, v, &n1, part);
        let t1 = x.rng.gen_range(3..10);
        let p1 = x.pay(mi, d1 + Duration::days(t1), inv1, part);
        let d2 = next_workday(d1 + Duration::days(x.rng.gen_range(5..20)));
        let n2 = if i % 2 == 0 { n1.clone() } else { x.number(d2) };
        let inv2 = x.invoice(mi, d2, pr.contract, v, &n2, part);
        let t2 = x.rng.gen_range(3..10);
        let p2 = x.pay(mi, d2 + Duration::days(t2), inv2, part);
        let (key, scheme) = if i % 2 == 0 {
            (inv2, "invoice number invoiced twice and paid twice")
        } else {
            (p2, "two invoices of the same amount paid within the window")
        };
        x.draft(
            "duplicate-payment",
            scheme.to_owned(),
            key,
            vec![inv1, p1, inv2, p2],
        );
    }
}

/// Swaps two adjacent, different digits of an invoice number.
fn transpose(number: &str, rng: &mut StdRng) -> String {
    let mut chars: Vec<char> = number.chars().collect();
    let n = chars.len();
    for _ in 0..20 {
        let k = rng.gen_range(n.saturating_sub(4)..n.saturating_sub(1).max(1));
        if let (Some(a), Some(b)) = (chars.get(k).copied(), chars.get(k + 1).copied()) {
            if a != b && a.is_ascii_digit() && b.is_ascii_digit() {
                chars.swap(k, k + 1);
                return chars.into_iter().collect();
            }
        }
    }
    format!("{number}X")
}

/// A second invoice within 1% of the first (not equal), its number a transposition of
/// the first's, both paid within the window.
fn near_duplicate_payment(x: &mut Inj<'_, '_>) {
    for _ in 0..x.n() {
        let mi = x.any_ministry();
        let v = x.vendor(mi);
        let estimate = x.typical();
        let published = x.day(0, 150);
        let pr = x.plain(mi, published, estimate, v);
        let value = x.awarded_cents(&pr);
        let a = value * x.rng.gen_range(30..45) / 100;
        let delta = (a * x.rng.gen_range(1..9) / 1000).max(1);
        let b = if x.rng.gen_bool(0.5) {
            a + delta
        } else {
            a - delta
        };
        let d1 = next_workday(pr.signed + Duration::days(x.rng.gen_range(20..50)));
        let n1 = x.number(d1);
        let n2 = transpose(&n1, &mut x.rng);
        let inv1 = x.invoice(mi, d1, pr.contract, v, &n1, a);
        let t3 = x.rng.gen_range(3..10);
        let p1 = x.pay(mi, d1 + Duration::days(t3), inv1, a);
        let d2 = next_workday(d1 + Duration::days(x.rng.gen_range(3..15)));
        let inv2 = x.invoice(mi, d2, pr.contract, v, &n2, b);
        let t4 = x.rng.gen_range(3..10);
        let p2 = x.pay(mi, d2 + Duration::days(t4), inv2, b);
        x.draft(
            "near-duplicate-payment",
            "second invoice within 1% of the first, number transposed".to_owned(),
            p2,
            vec![inv1, p1, inv2, p2],
        );
    }
}

/// A payment with no invoice or contract behind it.
fn payment_without_contract(x: &mut Inj<'_, '_>) {
    for _ in 0..x.n() {
        let mi = x.any_ministry();
        let v = x.vendor(mi);
        let cents = amount_cents(&mut x.rng, 800.0, 60_000.0);
        let d = x.day(20, 5);
        let p = x.direct(mi, d, v, cents);
        x.draft(
            "payment-without-contract",
            "a direct purchase".to_owned(),
            p,
            vec![p],
        );
    }
}

/// Paid long after the contract ended, or before it started.
fn payment_outside_contract_dates(x: &mut Inj<'_, '_>) {
    for i in 0..x.n() {
        let mi = x.any_ministry();
        let v = x.vendor(mi);
        let estimate = x.typical();
        let late = i % 2 == 0;
        let published = if late { x.day(0, 260) } else { x.day(0, 120) };
        let method = Inj::method_for(estimate);
        let category = x.category(estimate);
        let open_days = x.open_days(method);
        let bids = if method == "direct" {
            vec![]
        } else {
            vec![(v, estimate)]
        };
        let (starts_after, days) = if late {
            (0, x.rng.gen_range(30..60))
        } else {
            (x.rng.gen_range(60..90), 180)
        };
        let pr = x.procure(
            Proc::new(mi, category, method, estimate)
                .open(published, open_days)
                .awarded(bids, v, estimate)
                .contract(starts_after, days),
        );
        let when = if late {
            pr.signed + Duration::days(days + x.rng.gen_range(95..140))
        } else {
            pr.signed + Duration::days(x.rng.gen_range(5..20))
        };
        let when = next_workday(when).min(x.w.today);
        let inv_on = when - Duration::days(x.rng.gen_range(2..5));
        let part = estimate * x.rng.gen_range(40..90) / 100;
        let number = x.number(inv_on);
        let inv = x.invoice(mi, inv_on, pr.contract, v, &number, part);
        let p = x.pay(mi, when, inv, part);
        x.draft(
            "payment-outside-contract-dates",
            if late {
                "paid over 90 days after the contract ended"
            } else {
                "paid before the contract started"
            }
            .to_owned(),
            p,
            vec![pr.contract, inv, p],
        );
    }
}

/// Invoiced and paid 10-40% above the contract value, with no amendment: a first
/// invoice of 55-65% of the value, a second that takes the total over.
fn over_contract(x: &mut Inj<'_, '_>) {
    for _ in 0..x.n() {
        let mi = x.any_ministry();
        let v = x.vendor(mi);
        let estimate = x.typical();
        let published = x.day(0, 150);
        let pr = x.plain(mi, published, estimate, v);
        let value = x.awarded_cents(&pr);
        let first = value * x.rng.gen_range(55..65) / 100;
        let second = value * x.rng.gen_range(110..140) / 100 - first;
        let d1 = next_workday(pr.signed + Duration::days(x.rng.gen_range(20..40)));
        let t1 = x.rng.gen_range(5..15);
        let (inv1, p1) = x.bill(mi, d1, pr.contract, v, first, t1);
        let d2 = next_workday(d1 + Duration::days(x.rng.gen_range(20..40)));
        let t2 = x.rng.gen_range(5..15);
        let (inv2, p2) = x.bill(mi, d2, pr.contract, v, second, t2);
        x.draft(
            "over-contract",
            "invoiced and paid 10-40% above the contract value".to_owned(),
            inv2,
            vec![pr.contract, inv1, p1, inv2, p2],
        );
    }
}

/// Amendments raising a contract by 30-80%, or many small change orders.
fn contract_inflation(x: &mut Inj<'_, '_>) {
    for i in 0..x.n() {
        let mi = x.any_ministry();
        let v = x.vendor(mi);
        let estimate = x.typical();
        let published = x.day(0, 150);
        let pr = x.plain(mi, published, estimate, v);
        let value = x.awarded_cents(&pr);
        let mut entries = vec![pr.contract];
        let mut d = pr.signed;
        let mut total = value;
        let steps = if i % 3 == 2 { 4 } else { 1 };
        for _ in 0..steps {
            d = next_workday(d + Duration::days(x.rng.gen_range(10..25)));
            total += if steps == 1 {
                value * x.rng.gen_range(30..80) / 100
            } else {
                value * x.rng.gen_range(2..5) / 100
            };
            entries.push(x.push(
                d,
                "contract_amendment",
                mi,
                json!({"contract": r(pr.contract), "new_value": money(eur(total), "EUR"),
                       "reason": "additional works"}),
            ));
        }
        let key = *entries.last().unwrap_or(&pr.contract);
        x.draft(
            "contract-inflation",
            if steps == 1 {
                "one amendment adding 30-80%"
            } else {
                "four change orders"
            }
            .to_owned(),
            key,
            entries,
        );
    }
}

/// Award above the winner's own bid.
fn award_above_bid(x: &mut Inj<'_, '_>) {
    for _ in 0..x.n() {
        let mi = x.any_ministry();
        let v = x.vendor(mi);
        let estimate = x.typical();
        let method = Inj::competitive_method_for(estimate);
        let bid = estimate * x.rng.gen_range(88..100) / 100 + x.rng.gen_range(0..100);
        let mut bids = vec![(v, bid)];
        for _ in 0..x.rng.gen_range(1..=2) {
            let o = x.other_vendor(mi, &bids.iter().map(|b| b.0).collect::<Vec<_>>());
            // Cents of noise, as the clean bids have: two covers drawn at the same
            // percentage would be identical bids, another scheme.
            bids.push((
                o,
                bid * x.rng.gen_range(103..125) / 100 + x.rng.gen_range(0..100),
            ));
        }
        let award = bid + bid * x.rng.gen_range(2..15) / 100;
        let published = x.day(0, 60);
        let pr = x.tender(mi, method, published, estimate, bids, (v, award));
        x.draft(
            "award-above-bid",
            "award 2-15% above the winner's bid".to_owned(),
            pr.award,
            vec![pr.award, pr.tender],
        );
    }
}

/// An open or restricted tender with one bid, awarded.
fn single_bidder(x: &mut Inj<'_, '_>) {
    for _ in 0..x.n() {
        let mi = x.any_ministry();
        let v = x.vendor(mi);
        let estimate = x.cents(60_000, 400_000);
        let method = if estimate < 20_000_000 {
            "restricted"
        } else {
            "open"
        };
        let bid = estimate * x.rng.gen_range(95..110) / 100 + x.rng.gen_range(0..100);
        let published = x.day(0, 60);
        let pr = x.tender(mi, method, published, estimate, vec![(v, bid)], (v, bid));
        let mut entries = vec![pr.award, pr.tender];
        entries.extend(pr.bids);
        x.draft(
            "single-bidder",
            format!("{method} tender with one bid"),
            pr.award,
            entries,
        );
    }
}

/// A tender open for less than its method's minimum.
fn short_tender_period(x: &mut Inj<'_, '_>) {
    for _ in 0..x.n() {
        let mi = x.any_ministry();
        let v = x.vendor(mi);
        let estimate = x.typical();
        let method = Inj::competitive_method_for(estimate);
        let min = min_days_open(method);
        let open_days = x.rng.gen_range(min / 4..min);
        let bid = estimate * x.rng.gen_range(90..105) / 100;
        let mut bids = vec![(v, bid)];
        let o = x.other_vendor(mi, &[v]);
        bids.push((o, bid * x.rng.gen_range(104..120) / 100));
        let published = x.day(0, 60);
        let category = x.category(estimate);
        let pr = x.procure(
            Proc::new(mi, category, method, estimate)
                .open(published, open_days.max(2))
                .awarded(bids, v, bid),
        );
        x.draft(
            "short-tender-period",
            format!("{method} tender open {open_days} days (minimum {min})"),
            pr.tender,
            vec![pr.tender],
        );
    }
}

/// Two vendors bid exactly the same amount.
fn identical_bids(x: &mut Inj<'_, '_>) {
    for _ in 0..x.n() {
        let mi = x.any_ministry();
        let v = x.vendor(mi);
        let estimate = x.typical();
        let method = Inj::competitive_method_for(estimate);
        let low = estimate * x.rng.gen_range(88..98) / 100 + x.rng.gen_range(0..100);
        let same = low * x.rng.gen_range(102..115) / 100 + x.rng.gen_range(0..100);
        let a = x.other_vendor(mi, &[v]);
        let b = x.other_vendor(mi, &[v, a]);
        let bids = vec![(v, low), (a, same), (b, same)];
        let published = x.day(0, 60);
        let pr = x.tender(mi, method, published, estimate, bids, (v, low));
        let key = *pr.bids.last().unwrap_or(&pr.tender);
        x.draft(
            "identical-bids",
            "two vendors bid the same amount".to_owned(),
            key,
            pr.bids.clone(),
        );
    }
}

/// A procurement estimated and awarded just under a method threshold.
fn near_threshold(x: &mut Inj<'_, '_>) {
    for i in 0..x.n() {
        let mi = x.any_ministry();
        let v = x.vendor(mi);
        let limit: i64 = match i % 3 {
            0 => 10_000,
            1 => 50_000,
            _ => 200_000,
        };
        let estimate = x.rng.gen_range(limit * 95..limit * 100);
        let method = Inj::method_for(estimate);
        let (bids, award) = if method == "direct" {
            (vec![], estimate)
        } else {
            let low = x.rng.gen_range(limit * 95..estimate.max(limit * 95 + 1));
            let o = x.other_vendor(mi, &[v]);
            let high = low * x.rng.gen_range(103..120) / 100;
            (vec![(v, low), (o, high)], low)
        };
        let published = x.day(0, 60);
        let pr = x.tender(mi, method, published, estimate, bids, (v, award));
        x.draft(
            "near-threshold",
            format!("estimated and awarded just under {limit}"),
            pr.tender,
            vec![pr.tender, pr.award, pr.contract],
        );
    }
}

/// A large contract of a round amount, invoiced and paid in round amounts.
fn round_amount(x: &mut Inj<'_, '_>) {
    for _ in 0..x.n() {
        let mi = x.any_ministry();
        let v = x.vendor(mi);
        let award = x.rng.gen_range(12..250) * 1_000 * 100;
        let method = Inj::competitive_method_for(award);
        let o = x.other_vendor(mi, &[v]);
        let bids = vec![
            (v, award),
            (o, award * x.rng.gen_range(104..120) / 100 + 37),
        ];
        let published = x.day(0, 100);
        let category = x.category(award);
        let open_days = x.open_days(method);
        let estimate = award + x.cents(100, 5_000);
        let pr = x.procure(
            Proc::new(mi, category, method, estimate)
                .open(published, open_days)
                .awarded(bids, v, award),
        );
        let d = next_workday(pr.signed + Duration::days(x.rng.gen_range(20..40)));
        let t5 = x.rng.gen_range(5..15);
        let (inv, p) = x.bill(mi, d, pr.contract, v, award, t5);
        x.draft(
            "round-amount",
            "contract, invoice and payment of a round amount".to_owned(),
            pr.award,
            vec![pr.award, pr.contract, inv, p],
        );
    }
}

/// A vendor first seen in the year wins a large award weeks after its first bid.
fn new_vendor_large(x: &mut Inj<'_, '_>) {
    let vendors = x.w.extra.new_vendors.clone();
    for nv in vendors {
        let mi = x.any_ministry();
        let estimate = x.cents(120_000, 400_000);
        let method = Inj::method_for(estimate);
        let bid = estimate * x.rng.gen_range(88..98) / 100 + x.rng.gen_range(0..100);
        let bid = bid.max(100_500 * 100);
        let o = x.other_vendor(mi, &[]);
        let bids = vec![(nv, bid), (o, bid * x.rng.gen_range(103..120) / 100)];
        let published = x.day(100, 120);
        let pr = x.tender(mi, method, published, estimate, bids, (nv, bid));
        x.draft(
            "new-vendor-large",
            "a vendor first seen weeks before wins a large award".to_owned(),
            pr.award,
            vec![pr.award, pr.contract],
        );
    }
}

/// The second officer of the ministry approves every clean payment of 50,000 or more a
/// working day or two later (segregation of duties as it should be; not a scheme).
fn clean_approvals(x: &mut Inj<'_, '_>) {
    let today = x.w.today;
    let payments: Vec<(usize, usize, NaiveDate)> = x
        .plan
        .events
        .iter()
        .enumerate()
        .take(x.clean_len)
        .filter_map(|(i, e)| match e.actor {
            Actor::Ministry(mi)
                if e.kind == "payment" && cents_of(&e.body.value()) >= CONTROLLED_CENTS =>
            {
                Some((i, mi, e.date))
            }
            _ => None,
        })
        .collect();
    for (i, mi, date) in payments {
        // Drawn for every payment, so that the draws after it do not depend on which
        // payments approval-missing keeps unapproved.
        let d = next_workday(date + Duration::days(x.rng.gen_range(1..3)));
        if x.unapproved.contains(&i) {
            continue;
        }
        if d > today {
            continue;
        }
        x.plan.push(
            d,
            "approval",
            Actor::Approver(mi),
            json!({"entry": r(i), "decision": "approved"}),
        );
        // Recorded before its approval: neither backdated nor moved to the night.
        x.touched.insert(i);
    }
}

/// Payments of at least this (in cents) are approved by a second officer and have their
/// invoice on file in the seeded year: the approval policy's threshold and
/// `invoice_document_min`.
const CONTROLLED_CENTS: i64 = 50_000 * 100;

/// Clean payments are judged by the control screens only when dated this many days before
/// the year's end (`evidence_grace_days`, 14, with room).
const CONTROL_ROOM_DAYS: i64 = 21;

/// Clean payments above the approval policy's threshold, dated well before the year's end,
/// that no second officer approves; the fund's auditor records the policy (payments above
/// 50,000 EUR) after the year's last entry, so the whole year is history recorded before
/// it: exactly what approval-missing judges.
fn approval_missing(x: &mut Inj<'_, '_>) {
    let last = x.w.today - Duration::days(CONTROL_ROOM_DAYS);
    let large: Vec<usize> = pick_clean_where(x, |e| {
        e.kind == "payment" && cents_of(&e.body.value()) > CONTROLLED_CENTS && e.date <= last
    });
    for i in large {
        x.unapproved.insert(i);
        x.draft(
            "approval-missing",
            "a payment above the approval threshold that no second officer approved".to_owned(),
            i,
            vec![i],
        );
    }
    let today = x.w.today;
    let policy = x.plan.push(
        today,
        "approval_policy",
        Actor::Auditor,
        json!({"rules": [{"kind": "payment", "above": money(eur(CONTROLLED_CENTS), "EUR")}],
               "expiry_hours": 72, "reason": "Steering committee: two-person control of payments"}),
    );
    // After every entry of the year's last day (recorded at 08:00-15:59), in working hours.
    if let Some(e) = x.plan.events.get_mut(policy) {
        e.record_at = today.and_hms_opt(16, 30, 0);
    }
}

/// Clean payments of at least `invoice_document_min` whose invoice never reaches the
/// ledger's document store.
fn invoice_document_missing(x: &mut Inj<'_, '_>) {
    let last = x.w.today - Duration::days(CONTROL_ROOM_DAYS);
    let large: Vec<usize> = pick_clean_where(x, |e| {
        e.kind == "payment" && cents_of(&e.body.value()) >= CONTROLLED_CENTS && e.date <= last
    });
    for i in large {
        x.undocumented.insert(i);
        x.draft(
            "invoice-document-missing",
            "a large payment with no invoice document on file".to_owned(),
            i,
            vec![i],
        );
    }
}

/// Not a scheme: the controls a well-run year has on its large payments, for the schemes'
/// payments too (they are schemes of other rules, not of these): a second officer approves
/// each payment of at least 50,000 EUR that the clean approvals did not, and the paying
/// ministry attaches the invoice (to the invoice entry, or to a direct purchase itself), a
/// few days after the payment. Payments an injector recorded at another time than their
/// business day (backdated, off-hours) are left alone: their approval or document could
/// otherwise be recorded before them.
fn controls_of_the_schemes(x: &mut Inj<'_, '_>) {
    let today = x.w.today;
    let large: Vec<(usize, usize, NaiveDate, Option<usize>)> = x
        .plan
        .events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e.actor {
            Actor::Ministry(mi)
                if e.kind == "payment"
                    && e.record_at.is_none()
                    && cents_of(&e.body.value()) >= CONTROLLED_CENTS =>
            {
                let invoice = e
                    .body
                    .value()
                    .pointer("/invoice/$ref")
                    .and_then(Value::as_u64)
                    .and_then(|v| usize::try_from(v).ok());
                Some((i, mi, e.date, invoice))
            }
            _ => None,
        })
        .collect();
    for (i, mi, date, invoice) in large {
        if i >= x.clean_len && !x.unapproved.contains(&i) {
            let d = next_workday(date + Duration::days(x.controls_rng.gen_range(1..3)));
            if d <= today {
                x.plan.push(
                    d,
                    "approval",
                    Actor::Approver(mi),
                    json!({"entry": r(i), "decision": "approved"}),
                );
            }
        }
        if x.undocumented.contains(&i) {
            continue;
        }
        let d = next_workday(date + Duration::days(x.controls_rng.gen_range(0..4)));
        if d > today {
            continue;
        }
        let sha: String = (0..32)
            .map(|_| format!("{:02x}", x.controls_rng.gen::<u8>()))
            .collect();
        let size: u32 = x.controls_rng.gen_range(20_000..900_000);
        let name = format!("invoice-{i}.pdf");
        x.plan.push(
            d,
            "evidence_attached",
            Actor::Ministry(mi),
            json!({"entry": r(invoice.unwrap_or(i)), "sha256": sha, "size_bytes": size,
                   "media_type": "application/pdf", "name": name}),
        );
    }
}

fn dq(x: &mut Inj<'_, '_>, mi: usize, date: NaiveDate, bid: usize) -> usize {
    const REASONS: [&str; 3] = [
        "bid security missing",
        "technical offer incomplete",
        "tax clearance certificate expired",
    ];
    let reason = REASONS
        .choose(&mut x.rng)
        .copied()
        .unwrap_or("non-compliant");
    x.push(
        date,
        "bid_disqualified",
        mi,
        json!({"bid": r(bid), "reason": reason}),
    )
}

/// A competitive tender with `bids` (winner first in the list or not), its winner and
/// award at the winner's bid; returns the procurement.
fn tender_with(
    x: &mut Inj<'_, '_>,
    mi: usize,
    estimate: i64,
    bids: Vec<(Uuid, i64)>,
    winner: Uuid,
    award: i64,
    room: i64,
) -> Procured {
    let method = Inj::competitive_method_for(estimate);
    let published = x.day(0, room);
    x.tender(mi, method, published, estimate, bids, (winner, award))
}

/// The lowest bid is disqualified and the award goes to a dearer one.
fn lowest_bid_disqualified(x: &mut Inj<'_, '_>) {
    for _ in 0..x.n() {
        let mi = x.any_ministry();
        let estimate = x.typical();
        let low = estimate * x.rng.gen_range(85..95) / 100 + x.rng.gen_range(0..100);
        let win = low * x.rng.gen_range(103..118) / 100 + x.rng.gen_range(0..100);
        let third = win * x.rng.gen_range(104..120) / 100;
        let a = x.vendor(mi);
        let b = x.other_vendor(mi, &[a]);
        let c = x.other_vendor(mi, &[a, b]);
        // The disqualification must come before the award: insert it by date.
        let pr = tender_with(
            x,
            mi,
            estimate,
            vec![(a, low), (b, win), (c, third)],
            b,
            win,
            60,
        );
        let award_on = x.plan.events.get(pr.award).map_or(x.w.today, |e| e.date);
        let lowest = *pr.bids.first().unwrap_or(&pr.tender);
        let d = dq_before(x, mi, award_on, lowest);
        x.draft(
            "lowest-bid-disqualified",
            "lowest bid disqualified, a bid 3-18% dearer awarded".to_owned(),
            pr.award,
            vec![pr.award, lowest, d],
        );
    }
}

/// A disqualification dated the day before `award_on`, recorded before the award.
fn dq_before(x: &mut Inj<'_, '_>, mi: usize, award_on: NaiveDate, bid: usize) -> usize {
    let d = dq(x, mi, award_on - Duration::days(1), bid);
    // Recorded on its business day (or the next Monday), which may be the award's day:
    // on the same instant the lower index would come first, so record it earlier.
    let day = next_workday(award_on - Duration::days(1));
    if let Some(e) = x.plan.events.get_mut(d) {
        e.record_at = day.and_hms_opt(7, 30, 0);
    }
    d
}

/// Every bid but the winner's is disqualified (the winner the lowest or not).
fn all_but_winner_disqualified(x: &mut Inj<'_, '_>) {
    for i in 0..x.n() {
        let mi = x.any_ministry();
        let estimate = x.typical();
        let base = estimate * x.rng.gen_range(88..98) / 100 + x.rng.gen_range(0..100);
        let count = x.rng.gen_range(3..=4);
        let mut bids: Vec<(Uuid, i64)> = Vec::new();
        for k in 0..count {
            let v = x.other_vendor(mi, &bids.iter().map(|b| b.0).collect::<Vec<_>>());
            bids.push((v, base * (100 + 6 * k) / 100 + x.rng.gen_range(0..100)));
        }
        // Even instances: the winner is the lowest; odd: the second lowest.
        let w = if i % 2 == 0 { 0 } else { 1 };
        let (winner, award) = bids.get(w).copied().unwrap_or_default();
        let pr = tender_with(x, mi, estimate, bids, winner, award, 60);
        let award_on = x.plan.events.get(pr.award).map_or(x.w.today, |e| e.date);
        let mut entries = vec![pr.award];
        for (k, b) in pr.bids.clone().into_iter().enumerate() {
            entries.push(b);
            if k != w {
                entries.push(dq_before(x, mi, award_on, b));
            }
        }
        x.draft(
            "all-but-winner-disqualified",
            format!(
                "{} of {count} bids disqualified, the winner's not",
                count - 1
            ),
            pr.award,
            entries,
        );
    }
}

/// The runner-up's bid within 0.05-0.45% of the winner's (cover bidding), or (one in
/// four) 55-120% above it.
fn bid_spread(x: &mut Inj<'_, '_>) {
    for i in 0..x.n() {
        let mi = x.any_ministry();
        let estimate = x.typical();
        let win = estimate * x.rng.gen_range(88..98) / 100 + x.rng.gen_range(0..100);
        let far = i % 4 == 3;
        let second = if far {
            win * x.rng.gen_range(155..220) / 100
        } else {
            win + (win * x.rng.gen_range(5..45) / 10_000).max(1)
        };
        let a = x.vendor(mi);
        let b = x.other_vendor(mi, &[a]);
        let mut bids = vec![(a, win), (b, second)];
        if !far {
            let c = x.other_vendor(mi, &[a, b]);
            bids.push((c, second * x.rng.gen_range(101..110) / 100));
        }
        let pr = tender_with(x, mi, estimate, bids, a, win, 60);
        let mut entries = vec![pr.award, pr.tender];
        entries.extend(pr.bids.iter().copied());
        x.draft(
            "bid-spread",
            if far {
                "runner-up 55-120% above the winner"
            } else {
                "runner-up within 0.5% of the winner"
            }
            .to_owned(),
            pr.award,
            entries,
        );
    }
}

/// Direct purchases in the year's first days, before the ministry's first tranche.
fn paid_before_funding(x: &mut Inj<'_, '_>) {
    let mut used: Vec<Uuid> = Vec::new();
    for _ in 0..x.n() {
        let mi = x.any_ministry();
        let v = x.other_vendor(mi, &used);
        used.push(v);
        let a = x.start + Duration::days(1);
        let d = next_workday(a + Duration::days(x.rng.gen_range(0..14)));
        let cents = x.cents(1_000, 8_000);
        let p = x.direct(mi, d, v, cents);
        x.draft(
            "spending-before-funding",
            "a payment before the ministry's first disbursement".to_owned(),
            p,
            vec![p],
        );
    }
}

/// The officer who recorded a payment approves it.
fn self_approval(x: &mut Inj<'_, '_>) {
    let today = x.w.today;
    for i in pick_clean(x, &["payment"], |d| d + Duration::days(5) <= today) {
        let Some((date, actor)) = x.plan.events.get(i).map(|e| (e.date, e.actor)) else {
            continue;
        };
        let d = next_workday(date + Duration::days(x.rng.gen_range(1..3)));
        let a = x.plan.push(
            d,
            "approval",
            actor,
            json!({"entry": r(i), "decision": "approved"}),
        );
        // The approved payment itself is clean: only the approval is injected.
        x.draft(
            "self-approval",
            "the officer who recorded a payment approved it".to_owned(),
            a,
            vec![a],
        );
    }
}

/// Clean events not yet touched for which `fits` holds: `per_rule` of them, drawn at
/// random, now touched.
fn pick_clean_where(x: &mut Inj<'_, '_>, fits: impl Fn(&super::Event) -> bool) -> Vec<usize> {
    let mut found: Vec<usize> = x
        .plan
        .events
        .iter()
        .enumerate()
        .take(x.clean_len)
        .filter(|(i, e)| fits(e) && !x.touched.contains(i))
        .map(|(i, _)| i)
        .collect();
    found.shuffle(&mut x.controls_rng);
    found.truncate(usize::try_from(x.n()).unwrap_or(0));
    x.touched.extend(found.iter().copied());
    found
}

/// Clean events of `kinds` not yet touched, dated so that `fits` holds.
fn pick_clean(x: &mut Inj<'_, '_>, kinds: &[&str], fits: impl Fn(NaiveDate) -> bool) -> Vec<usize> {
    let mut found: Vec<usize> = x
        .plan
        .events
        .iter()
        .enumerate()
        .take(x.clean_len)
        .filter(|(i, e)| kinds.contains(&e.kind) && fits(e.date) && !x.touched.contains(i))
        .map(|(i, _)| i)
        .collect();
    found.shuffle(&mut x.rng);
    found.truncate(usize::try_from(x.n()).unwrap_or(0));
    x.touched.extend(found.iter().copied());
    found
}

/// Clean payments recorded 31-150 days after their business date (a payment is never
/// referred to, so it can be recorded later).
fn backdated(x: &mut Inj<'_, '_>) {
    let today = x.w.today;
    for i in pick_clean(x, &["payment"], |d| d + Duration::days(40) <= today) {
        let Some(date) = x.plan.events.get(i).map(|e| e.date) else {
            continue;
        };
        let room = (today - date).num_days().min(150);
        let late = x.rng.gen_range(31..=room.max(31));
        let day = next_workday(date + Duration::days(late)).min(today);
        let day = if is_weekend(day) {
            previous_workday(day)
        } else {
            day
        };
        let at = day.and_hms_opt(x.rng.gen_range(9..17), x.rng.gen_range(0..60), 0);
        if let Some(e) = x.plan.events.get_mut(i) {
            e.record_at = at;
        }
        x.draft(
            "backdated",
            format!(
                "a payment recorded {} days after its date",
                (day - date).num_days()
            ),
            i,
            vec![i],
        );
    }
}

/// Clean spend entries recorded at night on their business day, or on the weekend day
/// they are dated (the entries that refer to them come days later).
fn off_hours(x: &mut Inj<'_, '_>) {
    for i in pick_clean(x, &["payment", "invoice", "award", "contract"], |_| true) {
        let Some(date) = x.plan.events.get(i).map(|e| e.date) else {
            continue;
        };
        let at: Option<NaiveDateTime> = if is_weekend(date) {
            date.and_hms_opt(x.rng.gen_range(9..18), x.rng.gen_range(0..60), 0)
        } else {
            date.and_hms_opt(x.rng.gen_range(20..24), x.rng.gen_range(0..60), 0)
        };
        if let Some(e) = x.plan.events.get_mut(i) {
            e.record_at = at;
        }
        x.draft(
            "off-hours",
            if is_weekend(date) {
                "recorded on a weekend"
            } else {
                "recorded at night"
            }
            .to_owned(),
            i,
            vec![i],
        );
    }
}

/// One vendor gets most of a ministry's payments over the year: contracts spread over
/// the months, together worth 1.3 times what the ministry pays everyone else (clean and
/// other schemes).
fn vendor_concentration(x: &mut Inj<'_, '_>) {
    let mi = 0;
    let v = x.vendor(mi);
    let target = x.year_total("payment", mi) * 13 / 10;
    let k = 10_i64;
    let mut entries = Vec::new();
    let mut key = None;
    for j in 0..k {
        let published = x.day(20 + j * 22, 120);
        let each = target / k * x.rng.gen_range(85..115) / 100;
        x.any_category();
        let pr = x.plain(mi, published, each, v);
        let value = x.awarded_cents(&pr);
        let d = next_workday(pr.signed + Duration::days(x.rng.gen_range(15..40)));
        let t6 = x.rng.gen_range(5..20);
        let (inv, p) = x.bill(mi, d, pr.contract, v, value, t6);
        // The contracts are the scheme as much as their payments.
        entries.extend([pr.award, pr.contract, inv, p]);
        key = Some(p);
    }
    let m = x.ministry(mi);
    if let Some(key) = key {
        x.draft_subject(
            "vendor-concentration",
            "one vendor paid 1.3x everyone else together".to_owned(),
            key,
            entries,
            Some(m),
            Some(v),
        );
    }
}

/// Awards and payments piled up just under a threshold: a sixth of the ministry's
/// yearly procurements (6 per scale unit; the clean year has 36) kept within 10% under it
/// (ministry 2 at 10,000; ministry 0 at 50,000).
fn below_threshold_clustering(x: &mut Inj<'_, '_>) {
    let n = x.w.ministries.len();
    let count = 6 * x.w.scale;
    for (mi, limit) in [(2 % n, 10_000_i64), (0, 50_000_i64)] {
        let mut entries = Vec::new();
        for _ in 0..count {
            let v = x.vendor(mi);
            let amount = x.rng.gen_range(limit * 90..limit * 100);
            let published = x.day(0, 120);
            let method = Inj::method_for(amount);
            let (bids, award) = if method == "direct" {
                (vec![], amount)
            } else {
                let o = x.other_vendor(mi, &[v]);
                (
                    vec![(v, amount), (o, amount * x.rng.gen_range(104..120) / 100)],
                    amount,
                )
            };
            let pr = x.tender(mi, method, published, amount, bids, (v, award));
            let d = next_workday(pr.signed + Duration::days(x.rng.gen_range(15..40)));
            let t7 = x.rng.gen_range(5..20);
            let (inv, p) = x.bill(mi, d, pr.contract, v, award, t7);
            // The whole procurement is kept under the threshold: tender, award, contract,
            // invoice and payment are the scheme.
            entries.extend([pr.tender, pr.award, pr.contract, inv, p]);
        }
        let m = x.ministry(mi);
        let key = *entries.last().unwrap_or(&0);
        x.draft_subject(
            "below-threshold-clustering",
            format!("{count} awards and payments within 10% under {limit}"),
            key,
            entries,
            Some(m),
            None,
        );
    }
}

/// Fabricated invoices: 320 payments to one vendor whose amounts all start with 6-9.
fn benford(x: &mut Inj<'_, '_>) {
    let mi = 1 % x.w.ministries.len();
    let v = x.vendor(mi);
    let count = 320_i64;
    let amounts: Vec<i64> = (0..count).map(|_| x.cents(600, 999)).collect();
    let total: i64 = amounts.iter().sum();
    let published = x.day(0, 330);
    // Fuel vouchers: a category of their own, so that 320 small payments do not change
    // the population the amount-outlier screen compares the clean payments with (the
    // clean year's "fuel" purchases).
    let category = "fuel vouchers";
    let o = x.other_vendor(mi, &[v]);
    let method = Inj::method_for(total);
    let open_days = x.open_days(method);
    let pr = x.procure(
        Proc::new(mi, category, method, total + 10_000)
            .open(published, open_days)
            .awarded(vec![(v, total), (o, total * 112 / 100)], v, total)
            .contract(0, 360),
    );
    let first = pr.signed + Duration::days(5);
    let span = (x.w.today - first).num_days().max(1);
    let mut entries = Vec::new();
    let mut key = pr.award;
    for (k, a) in amounts.into_iter().enumerate() {
        let d = next_workday(first + Duration::days(x.rng.gen_range(0..span)));
        let d = if d > x.w.today {
            previous_workday(d)
        } else {
            d
        };
        // Numbered in sequence, as a vendor's voucher book is.
        let number = format!("FV-{}-{:05}", published.format("%Y"), 10_000 + k);
        let inv = x.invoice(mi, d, pr.contract, v, &number, a);
        key = x.pay(mi, d, inv, a);
        entries.extend([inv, key]);
    }
    // The voucher book's contract is part of the scheme (a fuel contract hundreds of
    // times the category's usual one).
    entries.extend([pr.award, pr.contract]);
    let m = x.ministry(mi);
    x.draft_subject(
        "benford",
        "320 payments all starting with 6-9".to_owned(),
        key,
        entries,
        Some(m),
        Some(v),
    );
}

/// A rush: a ministry pays in 10 days six times its usual 14-day spend.
fn velocity_spike(x: &mut Inj<'_, '_>) {
    let n = x.w.ministries.len();
    for (mi, month) in [(2 % n, 8_i64), (1 % n, 10_i64)] {
        let window = x.day(month * 30, 15);
        // Six times the rate of the 90 days before the window (all the ministry's
        // payments there, clean and injected).
        let trailing = x.total(
            "payment",
            mi,
            window - Duration::days(104),
            window - Duration::days(14),
        );
        let total = (trailing / 90 * 14 * 6).max(60_000 * 100);
        let v = x.vendor(mi);
        let published = window - Duration::days(75);
        x.any_category();
        let pr = x.plain(mi, published, total * 105 / 100, v);
        let value = x.awarded_cents(&pr);
        let parts = 5_i64;
        // The contract paid in the rush is part of the scheme.
        let mut entries = vec![pr.award, pr.contract];
        for j in 0..parts {
            let d = next_workday(window + Duration::days(j * 2)).min(x.w.today);
            let amount = value / parts;
            let number = x.number(d);
            let inv = x.invoice(mi, d - Duration::days(2), pr.contract, v, &number, amount);
            entries.push(x.pay(mi, d, inv, amount));
        }
        // Found by a flag of the ministry citing its payments (the peak window the rule
        // reports need not end on the last one).
        let key = *entries.last().unwrap_or(&pr.award);
        let m = x.ministry(mi);
        x.draft_subject(
            "velocity-spike",
            "six times the usual 14-day spend paid in 10 days".to_owned(),
            key,
            entries,
            Some(m),
            None,
        );
    }
}

/// A ministry awards directly, without competition, 1.5 times what it awards otherwise
/// (a direct share of about 60%).
fn non_competitive_share(x: &mut Inj<'_, '_>) {
    let mi = 1 % x.w.ministries.len();
    let target = x.year_total("award", mi) * 15 / 10;
    let k = 6_i64;
    let mut entries = Vec::new();
    for _ in 0..k {
        let v = x.vendor(mi);
        let value = target / k * x.rng.gen_range(80..120) / 100;
        let published = x.day(10, 30);
        x.any_category();
        let category = x.category(value);
        let pr = x.procure(
            Proc::new(mi, category, "direct", value)
                .open(published, 5)
                .awarded(vec![], v, value),
        );
        entries.push(pr.award);
    }
    let key = *entries.last().unwrap_or(&0);
    let m = x.ministry(mi);
    x.draft_subject(
        "non-competitive-share",
        "direct awards worth 1.2x the ministry's competitive ones".to_owned(),
        key,
        entries,
        Some(m),
        None,
    );
}

/// An inflated contract: 10 to 100 times the median contract value of its item category
/// (the clean year's, `seed::ITEM_CATEGORIES`), invoiced and paid in full.
fn amount_outlier(x: &mut Inj<'_, '_>) {
    let total: u32 = ITEM_CATEGORIES.iter().map(|c| c.weight).sum();
    for _ in 0..(x.n() / 2).max(3) {
        let mi = x.any_ministry();
        let v = x.vendor(mi);
        let mut pick = x.rng.gen_range(0..total.max(1));
        let mut item: Option<ItemCategory> = None;
        for c in ITEM_CATEGORIES {
            if pick < c.weight {
                item = Some(c);
                break;
            }
            pick -= c.weight;
        }
        let Some(item) = item else { continue };
        let factor = x.rng.gen_range(10..100);
        let median = format!("{:.0}", item.median_eur)
            .parse::<i64>()
            .unwrap_or(10_000);
        let value = median * 100 * factor + x.rng.gen_range(0..100_000);
        let published = x.day(0, 100);
        x.in_category(item.name);
        let pr = x.plain(mi, published, value, v);
        let award = x.awarded_cents(&pr);
        let d = next_workday(pr.signed + Duration::days(x.rng.gen_range(15..40)));
        let t8 = x.rng.gen_range(5..20);
        let (inv, p) = x.bill(mi, d, pr.contract, v, award, t8);
        x.draft(
            "amount-outlier",
            format!(
                "a {} contract and payment about {factor} times the category's median",
                item.name
            ),
            p,
            vec![pr.award, pr.contract, inv, p],
        );
    }
}

/// Tranches to a ministry that spends none of them (the unspent half of
/// spending-before-funding).
fn unspent_disbursement(x: &mut Inj<'_, '_>) {
    let Some(dormant) = x.w.extra.dormant else {
        return;
    };
    let start = x.start;
    let scale = i64::from(x.w.scale);
    let alloc = x.plan.push(
        start,
        "allocation",
        Actor::Treasurer,
        json!({"ministry": dormant, "budget_line": "BL-9-01", "category": "training",
               "amount": money(eur(600_000 * 100 * scale), "EUR"),
               "period_start": start.to_string(), "period_end": (start + Duration::days(364)).to_string()}),
    );
    // Right after the second quarter's contributions, and small: the clean year
    // disburses three quarters of what the fund holds each month, so the fund's balance
    // must not depend on these.
    for k in [0_i64, 1, 2] {
        let d = next_workday(start + Duration::days(3 * 30 + 20 + 3 * k));
        let cents = x.cents(5_000, 15_000) * scale;
        let e = x.plan.push(
            d,
            "disbursement",
            Actor::Treasurer,
            json!({"allocation": r(alloc), "amount": money(eur(cents), "EUR"),
                   "tranche": format!("ONSA-{}", k + 1)}),
        );
        x.draft_subject(
            "spending-before-funding",
            "a tranche left unspent for over 180 days".to_owned(),
            e,
            vec![e],
            Some(dormant),
            None,
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn transpositions_swap_two_adjacent_digits() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..50 {
            let t = transpose("INV-20260305-4821", &mut rng);
            assert_eq!(t.len(), 17);
            let diff: Vec<usize> = t
                .chars()
                .zip("INV-20260305-4821".chars())
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(i, _)| i)
                .collect();
            assert_eq!(diff.len(), 2, "{t}");
            assert_eq!(diff[1], diff[0] + 1, "{t}");
        }
    }

    #[test]
    fn every_injector_injects_on_a_small_year() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let ids = |n: usize| (0..n).map(|_| Uuid::new_v4()).collect::<Vec<_>>();
        let (ministries, vendors) = (ids(3), ids(30));
        let extra = Extra {
            new_vendors: ids(2),
            dormant: Some(Uuid::new_v4()),
        };
        let mut plan = super::super::generate(1, 3, today, &ids(4), &ministries, &vendors, true);
        let w = World {
            today,
            ministries: &ministries,
            vendors: &vendors,
            extra: &extra,
            eur_donor: Uuid::new_v4(),
            scale: 1,
            per_rule: 2,
        };
        let drafts = inject(&mut plan, 3, &w);
        assert_eq!(drafts.rules(), injected_rules());
        // Nothing after the year's end; references backwards, in date and recording order.
        for (i, e) in plan.events.iter().enumerate() {
            assert!(e.date <= today, "{} on {}", e.kind, e.date);
            if let Some(at) = e.record_at {
                assert!(at.date() >= e.date && at.date() <= today);
            }
            let text = e.body.to_string();
            for (pos, _) in text.match_indices("\"$ref\":") {
                let n: usize = text[pos + 7..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(n < i, "event {i} refers forward to {n}");
                assert!(
                    plan.events[n].date <= e.date,
                    "{} refers to a later {}",
                    e.kind,
                    plan.events[n].kind
                );
                // Recorded before the entry that refers to it.
                let day = |k: &super::super::Event| {
                    k.record_at
                        .map_or_else(|| next_workday(k.date), |t| t.date())
                };
                let (a, b) = (&plan.events[n], e);
                assert!(
                    day(a) < day(b)
                        || (day(a) == day(b) && a.record_at.is_none() && b.record_at.is_none()),
                    "{} {n} recorded {:?} is referred to by {} {i} recorded {:?}",
                    a.kind,
                    a.record_at,
                    b.kind,
                    b.record_at
                );
            }
        }
        // Every instance's key is one of its entries (or the flagged entry itself).
        for d in &drafts.drafts {
            assert!(d.entries.contains(&d.key), "{}: {}", d.rule, d.scheme);
        }
    }

    #[test]
    fn workdays() {
        let sat = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        assert_eq!(
            next_workday(sat),
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
        );
        assert_eq!(
            previous_workday(sat),
            NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
        );
        let mon = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(next_workday(mon), mon);
        assert_eq!(
            previous_workday(mon),
            NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
        );
    }
}
