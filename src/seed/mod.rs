//! `fundtrail seed-demo`: a realistic demo fund, written through the same code paths as
//! the API: organisations, users, the fund and its auditor are administrative-chain
//! entries with the admin API's effects; every financial fact is a typed fund entry
//! appended with the `FundEffect`, so each one passes the same invariants.
//!
//! The year of activity is generated deterministically (seeded RNG) as events with
//! symbolic references, given a recording instant (its business day, or the next Monday
//! for a weekend date, at a working hour), sorted by that instant, given their chain
//! positions and appended one recording instant at a time (at most 1,000 per batch)
//! through a writer whose clock the seeder sets, so each entry carries the time it would
//! have been recorded at. Generation keeps every invariant by construction:
//! contributions land on days 1-5 of a month and disbursements on day 20 or later, from
//! what was contributed earlier; invoices never exceed their (amended) contract; payments
//! never exceed their invoice. A procurement whose next step would fall after today stops
//! there (it is still in progress).

pub mod bank;
pub mod schemes;

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::store as auth_store;
use crate::config::{DbArgs, LedgerArgs};
use crate::entries::effect::FundEffect;
use crate::funds::ctx::FundCtx;
use crate::ledger::entry::{Principal, ADMIN_CHAIN};
use crate::ledger::writer::{AppendError, AppendRequest, FnEffect, MAX_BATCH_ENTRIES};
use crate::ledger::Ledger;
use crate::money::Currency;
use crate::telemetry::cpu::CpuSpent;

pub const DEMO_FUND: &str = "Demo Security Sector Reform MDTF";
/// The password of every demo user (README, "Demo").
pub const DEMO_PASSWORD: &str = "demo-password-2026";

/// Demo users: (email, role, organisation).
pub const DEMO_USERS: [(&str, &str, &str); 7] = [
    ("admin@demo.fundtrail", "admin", "Demo Operator"),
    ("treasurer@demo.fundtrail", "treasurer", "MDTF Secretariat"),
    (
        "interior@demo.fundtrail",
        "ministry",
        "Ministry of Interior",
    ),
    ("defence@demo.fundtrail", "ministry", "Ministry of Defence"),
    ("justice@demo.fundtrail", "ministry", "Ministry of Justice"),
    (
        "auditor@demo.fundtrail",
        "auditor",
        "Supreme Audit Institution",
    ),
    ("donor@demo.fundtrail", "donor", "Kingdom of Norway"),
];

/// With --inject-schemes, a second officer per ministry approves payments (so that an
/// approval by the officer who recorded the payment stands out: self-approval).
pub const APPROVER_USERS: [(&str, &str, &str); 3] = [
    (
        "approver.interior@demo.fundtrail",
        "ministry",
        "Ministry of Interior",
    ),
    (
        "approver.defence@demo.fundtrail",
        "ministry",
        "Ministry of Defence",
    ),
    (
        "approver.justice@demo.fundtrail",
        "ministry",
        "Ministry of Justice",
    ),
];

/// Donors, their currency and the value of one EUR in it (the demo's rate basis).
const DONORS: [(&str, &str, &str); 4] = [
    ("Kingdom of Norway", "NOK", "11.60"),
    ("Kingdom of Sweden", "SEK", "11.40"),
    ("United Kingdom", "GBP", "0.85"),
    ("Federal Republic of Germany", "EUR", "1"),
];

const MINISTRIES: [&str; 3] = [
    "Ministry of Interior",
    "Ministry of Defence",
    "Ministry of Justice",
];

/// Cents per euro: amounts are generated as integral cents.
const CENTS: i64 = 100;

pub(crate) const CATEGORIES: [&str; 4] = ["training", "equipment", "infrastructure", "salaries"];

const VENDOR_WORDS: [&str; 10] = [
    "Alpha", "Beacon", "Cedar", "Delta", "Eagle", "Falcon", "Granite", "Harbor", "Iris", "Juniper",
];
const VENDOR_TRADES: [&str; 3] = ["Supplies", "Construction", "Services"];

#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// Multiplies donors' contributions and the number of procurements (about 1,300
    /// entries per unit).
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    /// Seed of the generator (same seed, same demo).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Append without the per-entry screens (to measure what screening costs).
    #[arg(long)]
    pub no_screening: bool,
    /// Mix known schemes (every screening rule, several instances each) into the year and
    /// write the ground truth (docs/screening.md, "Measured precision and recall").
    #[arg(long)]
    pub inject_schemes: bool,
    /// With --inject-schemes: where to write the ground truth (JSON).
    #[arg(long, requires = "inject_schemes")]
    pub truth: Option<PathBuf>,
    /// With --inject-schemes: instances injected per per-entry rule.
    #[arg(long, default_value_t = 8, requires = "inject_schemes")]
    pub per_rule: u32,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub ledger: LedgerArgs,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SeedReport {
    pub fund: Uuid,
    pub entries: u64,
    pub seconds: f64,
    /// Seconds spent appending the fund's entries (without creating users and orgs).
    pub append_seconds: f64,
    /// CPU spent by the appends, in this process and in the server's backends.
    pub append_cpu: CpuSpent,
    /// Of `append_seconds`, the time inside the per-entry screens (`telemetry::spent`).
    pub screening_seconds: f64,
    pub entries_per_second: f64,
    pub users: Vec<String>,
}

/// Who records an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Actor {
    Treasurer,
    Ministry(usize),
    /// A second finance officer of the ministry, who approves (--inject-schemes only).
    Approver(usize),
    /// The fund's auditor (the approval policy of the injected schemes).
    Auditor,
}

/// One entry to be, with references to earlier events as `{"$ref": index}`.
pub(crate) struct Event {
    pub(crate) date: NaiveDate,
    pub(crate) kind: &'static str,
    pub(crate) actor: Actor,
    pub(crate) body: Body,
    /// When it is recorded, if not on its business day in working hours (an injected
    /// backdated or off-hours entry; only with --inject-schemes).
    pub(crate) record_at: Option<NaiveDateTime>,
}

/// An event's body, kept as compact JSON text until it is appended. A year is generated
/// whole before the first append (references are resolved to seqs in recording order),
/// and a `Value` tree takes several times the memory of its text: at ten million events
/// the trees alone would not fit in the machine's memory.
pub(crate) struct Body(Box<str>);

impl Body {
    pub(crate) fn new(value: &Value) -> Self {
        Self(value.to_string().into_boxed_str())
    }

    /// The body as a `Value` (parsed from the text it was made from).
    pub(crate) fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }

    /// Frees the text once the event is appended.
    fn clear(&mut self) {
        self.0 = Box::default();
    }
}

impl std::fmt::Display for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn r(index: usize) -> Value {
    json!({ "$ref": index })
}

pub(crate) fn money(value: Decimal, currency: &str) -> Value {
    json!({"value": value.to_string(), "currency": currency})
}

/// Replaces `{"$ref": i}` by the seq of event i.
fn resolve(v: &Value, seq_of: &[u64]) -> anyhow::Result<Value> {
    Ok(match v {
        Value::Object(map) => {
            if let (1, Some(i)) = (map.len(), map.get("$ref").and_then(Value::as_u64)) {
                let i = usize::try_from(i)?;
                json!(seq_of.get(i).copied().context("dangling reference")?)
            } else {
                let mut out = serde_json::Map::new();
                for (k, x) in map {
                    out.insert(k.clone(), resolve(x, seq_of)?);
                }
                Value::Object(out)
            }
        }
        other => other.clone(),
    })
}

pub(crate) fn eur(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

/// An amount in cents, roughly log-uniform between `lo` and `hi` euros.
pub(crate) fn amount_cents(rng: &mut StdRng, lo: f64, hi: f64) -> i64 {
    // Floats only to draw a random magnitude; money itself is integral cents from here.
    let x: f64 = rng.gen_range(lo.ln()..hi.ln());
    let euros = x.exp().round();
    let euros = if euros.is_finite() { euros } else { lo };
    let whole = format!("{euros:.0}").parse::<i64>().unwrap_or(1_000);
    whole * 100 + rng.gen_range(0..100)
}

/// An item category of the realistic year's procurements (`--inject-schemes`): contract
/// values are log-normal around `median_eur` with `sigma` the standard deviation of their
/// natural logarithm, and `weight` is the category's share of the procurements (out of
/// the weights' sum). Prices of one kind of item vary by a factor of about e^sigma either
/// way (quantities, specifications); kinds differ by orders of magnitude (fuel
/// and stationery against vehicles and construction). docs/screening.md, "The clean year".
#[derive(Debug, Clone, Copy)]
pub(crate) struct ItemCategory {
    pub(crate) name: &'static str,
    pub(crate) median_eur: f64,
    pub(crate) sigma: f64,
    pub(crate) weight: u32,
}

const EQUIPMENT: ItemCategory = ItemCategory {
    name: "equipment",
    median_eur: 45_000.0,
    sigma: 0.6,
    weight: 3,
};

/// Twelve kinds of purchase of a security-sector fund, from office supplies to
/// construction. Their medians spread over the decades (the mantissas of their
/// logarithms cover [0, 1)), so that a ministry's payments, a mixture of all of them and
/// of instalments, have first digits close to Benford's, as real payment populations do.
pub(crate) const ITEM_CATEGORIES: [ItemCategory; 12] = [
    ItemCategory {
        name: "stationery",
        median_eur: 1_100.0,
        sigma: 0.5,
        weight: 2,
    },
    ItemCategory {
        name: "fuel",
        median_eur: 1_800.0,
        sigma: 0.45,
        weight: 3,
    },
    ItemCategory {
        name: "maintenance",
        median_eur: 3_200.0,
        sigma: 0.55,
        weight: 2,
    },
    ItemCategory {
        name: "catering",
        median_eur: 5_500.0,
        sigma: 0.5,
        weight: 2,
    },
    ItemCategory {
        name: "medical supplies",
        median_eur: 8_000.0,
        sigma: 0.5,
        weight: 2,
    },
    ItemCategory {
        name: "training",
        median_eur: 14_000.0,
        sigma: 0.55,
        weight: 3,
    },
    ItemCategory {
        name: "IT services",
        median_eur: 22_000.0,
        sigma: 0.5,
        weight: 2,
    },
    ItemCategory {
        name: "uniforms",
        median_eur: 30_000.0,
        sigma: 0.5,
        weight: 2,
    },
    EQUIPMENT,
    ItemCategory {
        name: "communications",
        median_eur: 70_000.0,
        sigma: 0.5,
        weight: 2,
    },
    ItemCategory {
        name: "vehicles",
        median_eur: 140_000.0,
        sigma: 0.4,
        weight: 2,
    },
    ItemCategory {
        name: "infrastructure",
        median_eur: 260_000.0,
        sigma: 0.55,
        weight: 1,
    },
];

/// An item category drawn by weight.
pub(crate) fn pick_category(rng: &mut StdRng) -> ItemCategory {
    let total: u32 = ITEM_CATEGORIES.iter().map(|c| c.weight).sum();
    let mut x = rng.gen_range(0..total.max(1));
    for c in ITEM_CATEGORIES {
        if x < c.weight {
            return c;
        }
        x -= c.weight;
    }
    EQUIPMENT
}

/// A standard normal draw (Box-Muller; floats only to draw a random magnitude).
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A contract value of category `c` in cents: log-normal around its median, at least 100
/// euros.
pub(crate) fn category_cents(rng: &mut StdRng, c: &ItemCategory) -> i64 {
    let euros = (c.median_eur.ln() + c.sigma * standard_normal(rng))
        .exp()
        .round();
    let euros = if euros.is_finite() {
        euros.max(100.0)
    } else {
        c.median_eur
    };
    let whole = format!("{euros:.0}").parse::<i64>().unwrap_or(1_000);
    whole * 100 + rng.gen_range(0..100)
}

/// The item category of a procurement of `cents` (for the injected schemes, whose
/// amounts are drawn from their own ranges): drawn with probability proportional to each
/// category's weight times its density at that amount, so that an injected 200,000 is
/// construction or vehicles, not stationery.
pub(crate) fn category_for(rng: &mut StdRng, cents: i64) -> &'static str {
    let euros = format!("{}", cents.max(100) / 100)
        .parse::<f64>()
        .unwrap_or(1_000.0)
        .ln();
    let likelihood = |c: &ItemCategory| {
        let z = (euros - c.median_eur.ln()) / c.sigma;
        f64::from(c.weight) / c.sigma * (-0.5 * z * z).exp()
    };
    let total: f64 = ITEM_CATEGORIES.iter().map(likelihood).sum();
    if !(total > 0.0 && total.is_finite()) {
        // Far outside every category: the nearest one on the log scale.
        return ITEM_CATEGORIES
            .iter()
            .min_by(|a, b| {
                let da = (euros - a.median_eur.ln()).abs();
                let db = (euros - b.median_eur.ln()).abs();
                da.total_cmp(&db)
            })
            .map_or("equipment", |c| c.name);
    }
    let mut x = rng.gen_range(0.0..total);
    for c in &ITEM_CATEGORIES {
        let l = likelihood(c);
        if x < l {
            return c.name;
        }
        x -= l;
    }
    "equipment"
}

pub(crate) struct Plan {
    pub(crate) events: Vec<Event>,
}

impl Plan {
    pub(crate) fn push(
        &mut self,
        date: NaiveDate,
        kind: &'static str,
        actor: Actor,
        body: Value,
    ) -> usize {
        self.events.push(Event {
            date,
            kind,
            actor,
            body: Body::new(&body),
            record_at: None,
        });
        self.events.len() - 1
    }
}

/// The legal minimum days a tender of `method` stays open (the default thresholds of
/// `short-tender-period`), used by the realistic year.
pub(crate) fn min_days_open(method: &str) -> i64 {
    match method {
        "open" => 30,
        "restricted" => 20,
        "request_for_quotation" => 10,
        _ => 5,
    }
}

/// The year of activity ending `today`. `realistic` (with --inject-schemes) gives every
/// tender at least its method's legal minimum period and awards it after its deadline;
/// without it the demo keeps its historical shape (21 days for every method).
fn generate(
    scale: u32,
    seed: u64,
    today: NaiveDate,
    donors: &[Uuid],
    ministries: &[Uuid],
    vendors: &[Uuid],
    realistic: bool,
) -> Plan {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut plan = Plan { events: Vec::new() };
    let scale_i = i64::from(scale.max(1));
    // The first day of the month a year ago: pledges and allocations are dated then.
    let year_ago = today - Duration::days(364);
    let start = year_ago.with_day(1).unwrap_or(year_ago);
    let month_start = |m: u32| -> NaiveDate {
        let total = start.month0() + m;
        NaiveDate::from_ymd_opt(
            start.year() + i32::try_from(total / 12).unwrap_or(0),
            total % 12 + 1,
            1,
        )
        .unwrap_or(start)
    };

    // Pledges at the start of the year; contributions each quarter.
    let mut pending: Vec<(NaiveDate, i64)> = Vec::new();
    for (d, (_, ccy, per_eur)) in donors.iter().zip(DONORS) {
        let rate: Decimal = per_eur.parse().unwrap_or(Decimal::ONE);
        let yearly_eur = 4_000_000_i64 * scale_i;
        let yearly = Decimal::from(yearly_eur) * rate;
        if ccy != "EUR" {
            plan.push(
                start,
                "fx_rate",
                Actor::Treasurer,
                json!({"base": "EUR", "quote": ccy, "rate": rate.to_string(), "source": "ECB euro reference rate"}),
            );
        }
        plan.push(
            start,
            "pledge",
            Actor::Treasurer,
            json!({"donor": d, "amount": money(yearly.round_dp(0), ccy),
                   "agreement": format!("{ccy}-MDTF-{}", start.year())}),
        );
        for q in 0..4_u32 {
            let date = month_start(q * 3) + Duration::days(rng.gen_range(0..5));
            if date > today {
                continue;
            }
            let value = (yearly / Decimal::from(4)).round_dp(0);
            if ccy != "EUR" {
                plan.push(
                    date,
                    "fx_rate",
                    Actor::Treasurer,
                    json!({"base": "EUR", "quote": ccy, "rate": rate.to_string(), "source": "ECB euro reference rate"}),
                );
            }
            plan.push(
                date,
                "contribution",
                Actor::Treasurer,
                json!({"donor": d, "amount": money(value, ccy),
                       "agreement": format!("{ccy}-MDTF-{}", start.year())}),
            );
            let converted = Currency::parse(ccy)
                .ok()
                .and_then(|_| Currency::parse("EUR").ok())
                .map(|c| c.round(value / rate))
                .unwrap_or(Decimal::ZERO);
            let cents = (converted * Decimal::from(100))
                .trunc()
                .to_string()
                .parse::<i64>()
                .unwrap_or(0);
            pending.push((date, cents));
        }
    }
    // Allocations: each ministry, each category, for the year.
    let mut allocations: Vec<(usize, usize, i64)> = Vec::new(); // (event, ministry, remaining cents)
    for (mi, m) in ministries.iter().enumerate() {
        for (ci, cat) in CATEGORIES.iter().enumerate().take(3 + mi % 2) {
            let cents =
                1_000_000 * CENTS * scale_i + i64::try_from(ci).unwrap_or(0) * 100_000 * CENTS;
            let e = plan.push(
                start,
                "allocation",
                Actor::Treasurer,
                json!({"ministry": m, "budget_line": format!("BL-{}-{:02}", mi + 1, ci + 1),
                       "category": cat, "amount": money(eur(cents), "EUR"),
                       "period_start": start.to_string(), "period_end": (start + Duration::days(364)).to_string()}),
            );
            allocations.push((e, mi, cents));
        }
    }
    // Monthly: disbursements from what arrived, procurement, expenditure.
    let mut disbursed = 0_i64;
    for month in 0..12_u32 {
        let first = month_start(month);
        if first > today {
            break;
        }
        let disburse_on = first + Duration::days(19);
        // What has arrived by this month's day 5.
        let received: i64 = pending
            .iter()
            .filter(|(d, _)| *d <= first + Duration::days(5))
            .map(|(_, c)| *c)
            .sum();
        if disburse_on <= today {
            let mut budget = (received - disbursed) * 3 / 4;
            for (event, _, remaining) in allocations.iter_mut() {
                let tranche = (*remaining / 4).min(budget).max(0);
                if tranche <= 0 {
                    continue;
                }
                plan.push(
                    disburse_on,
                    "disbursement",
                    Actor::Treasurer,
                    json!({"allocation": r(*event), "amount": money(eur(tranche), "EUR"),
                           "tranche": format!("{}-{:02}", first.year(), first.month())}),
                );
                *remaining -= tranche;
                budget -= tranche;
                disbursed += tranche;
            }
        }
        for (mi, m) in ministries.iter().enumerate() {
            let own_vendors: Vec<Uuid> = vendors
                .iter()
                .enumerate()
                .filter(|(vi, _)| vi % ministries.len() == mi || vi % 7 == 0)
                .map(|(_, v)| *v)
                .collect();
            let mut spent = [0_i64; 4];
            for _ in 0..(3 * scale_i) {
                // The realistic year draws an item category and a value typical of it;
                // the plain demo keeps its historical draws (one log-uniform range for
                // three categories), so its entries stay as they were.
                let (category, cat, item) = if realistic {
                    let item = pick_category(&mut rng);
                    (usize::MAX, item.name, Some(item))
                } else {
                    let category = rng.gen_range(0..3_usize);
                    let cat = CATEGORIES.get(category).copied().unwrap_or("equipment");
                    (category, cat, None)
                };
                let day = rng.gen_range(0..28);
                let published = first + Duration::days(day);
                if published > today {
                    continue;
                }
                let estimate = match &item {
                    Some(item) => category_cents(&mut rng, item),
                    None => amount_cents(&mut rng, 2_000.0, 400_000.0),
                };
                let method = match estimate {
                    e if e < 10_000 * CENTS => "direct",
                    e if e < 50_000 * CENTS => "request_for_quotation",
                    e if e < 200_000 * CENTS => "restricted",
                    _ => "open",
                };
                let open_days = if realistic {
                    min_days_open(method) + rng.gen_range(0..8)
                } else {
                    21
                };
                let tender = plan.push(
                    published,
                    "tender",
                    Actor::Ministry(mi),
                    json!({"ministry": m, "title": format!("{cat} lot {}-{}", published, rng.gen_range(100..999)),
                           "category": cat, "method": method, "estimated_value": money(eur(estimate), "EUR"),
                           "deadline": (published + Duration::days(open_days)).to_string()}),
                );
                let pick = |rng: &mut StdRng| {
                    own_vendors
                        .get(rng.gen_range(0..own_vendors.len().max(1)))
                        .copied()
                        .unwrap_or(Uuid::nil())
                };
                // Bids (none for a direct award).
                let mut bids: Vec<(Uuid, i64)> = Vec::new();
                if method != "direct" {
                    for b in 0..rng.gen_range(1..=4) {
                        let vendor = pick(&mut rng);
                        if bids.iter().any(|(v, _)| *v == vendor) {
                            continue;
                        }
                        // The realistic year's bids are continuous (a bidder's price is
                        // not a whole percentage of the estimate): whole percentages made
                        // two bids in thirty differ only by the noise of up to 100 euros.
                        let amount = if realistic {
                            estimate * rng.gen_range(8_500..11_500) / 10_000 + rng.gen_range(0..100)
                        } else {
                            estimate * rng.gen_range(85..115) / 100 + rng.gen_range(0..10_000)
                        };
                        let date = published + Duration::days(5 + b);
                        if date > today {
                            break;
                        }
                        plan.push(
                            date,
                            "bid",
                            Actor::Ministry(mi),
                            json!({"tender": r(tender), "vendor": vendor, "amount": money(eur(amount), "EUR")}),
                        );
                        bids.push((vendor, amount));
                    }
                }
                let award_on = published + Duration::days(open_days.max(21) + 1);
                if award_on > today {
                    continue;
                }
                let (vendor, value) = if method == "direct" {
                    (pick(&mut rng), estimate)
                } else {
                    match bids.iter().min_by_key(|(_, a)| *a) {
                        Some(best) => *best,
                        None => continue,
                    }
                };
                let award = plan.push(
                    award_on,
                    "award",
                    Actor::Ministry(mi),
                    json!({"tender": r(tender), "vendor": vendor, "amount": money(eur(value), "EUR"),
                           "bids_received": bids.len()}),
                );
                let signed = award_on + Duration::days(3);
                if signed > today {
                    continue;
                }
                let ends = signed + Duration::days(180);
                let contract = plan.push(
                    signed,
                    "contract",
                    Actor::Ministry(mi),
                    json!({"award": r(award), "value": money(eur(value), "EUR"),
                           "starts_on": signed.to_string(), "ends_on": ends.to_string()}),
                );
                let mut total = value;
                if rng.gen_range(0..10) == 0 && signed + Duration::days(5) <= today {
                    total = value + value / 10;
                    plan.push(
                        signed + Duration::days(5),
                        "contract_amendment",
                        Actor::Ministry(mi),
                        json!({"contract": r(contract), "new_value": money(eur(total), "EUR"),
                               "reason": "additional quantities"}),
                    );
                }
                let parts = rng.gen_range(1..=3_i64);
                let mut left = total;
                for p in 0..parts {
                    // Instalments of clearly different sizes (50/30/20 or 60/40), as real
                    // invoices are: near-equal ones would look like (near-)duplicates.
                    let share = match (parts, p) {
                        (3, 0) => 50,
                        (3, 1) => 30,
                        (2, 0) => 60,
                        _ => 100,
                    };
                    let amount = if p == parts - 1 {
                        left
                    } else {
                        total * share / 100
                    };
                    left -= amount;
                    let invoiced = signed + Duration::days(30 + 20 * p);
                    if invoiced > today || amount <= 0 {
                        break;
                    }
                    let invoice = plan.push(
                        invoiced,
                        "invoice",
                        Actor::Ministry(mi),
                        json!({"contract": r(contract), "vendor": vendor,
                               "invoice_number": format!("INV-{}-{}", invoiced.format("%Y%m%d"), rng.gen_range(1000..9999)),
                               "amount": money(eur(amount), "EUR")}),
                    );
                    let paid = invoiced + Duration::days(rng.gen_range(5..30));
                    if paid > today {
                        continue;
                    }
                    plan.push(
                        paid,
                        "payment",
                        Actor::Ministry(mi),
                        json!({"invoice": r(invoice), "amount": money(eur(amount), "EUR")}),
                    );
                    if let Some(s) = spent.get_mut(category) {
                        *s += amount;
                    }
                }
            }
            // Salaries and running costs reported as expenditure at month end.
            let month_end = first + Duration::days(27);
            if month_end <= today {
                let payroll = 150_000 * CENTS * scale_i + amount_cents(&mut rng, 1_000.0, 20_000.0);
                plan.push(
                    month_end,
                    "expenditure",
                    Actor::Ministry(mi),
                    json!({"ministry": m, "category": "salaries", "amount": money(eur(payroll), "EUR"),
                           "description": format!("payroll {}-{:02}", first.year(), first.month())}),
                );
            }
        }
    }
    plan
}

fn system() -> Principal {
    Principal::system()
}

/// A clock the seeder drives: 0 is the system clock, anything else that instant (in
/// microseconds since the epoch). Each day's entries are recorded on their business day,
/// as they would have been.
#[derive(Clone, Default)]
pub struct SeedClock(Arc<AtomicI64>);

impl SeedClock {
    pub fn clock(&self) -> crate::ledger::writer::Clock {
        let at = self.0.clone();
        Arc::new(move || match at.load(Ordering::SeqCst) {
            0 => Utc::now(),
            micros => DateTime::from_timestamp_micros(micros).unwrap_or_else(Utc::now),
        })
    }

    fn set(&self, at: Option<NaiveDateTime>) {
        self.0.store(
            at.map_or(0, |t| t.and_utc().timestamp_micros()),
            Ordering::SeqCst,
        );
    }
}

/// Runs `seed-demo`.
pub fn run(args: &SeedArgs) -> anyhow::Result<SeedReport> {
    let (report, truth) = run_with_truth(args)?;
    if let (Some(path), Some(truth)) = (&args.truth, &truth) {
        std::fs::write(path, serde_json::to_string_pretty(truth)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report)
}

/// Runs `seed-demo` and returns the ground truth of the injected schemes (with
/// --inject-schemes).
pub fn run_with_truth(args: &SeedArgs) -> anyhow::Result<(SeedReport, Option<schemes::Truth>)> {
    let clock = SeedClock::default();
    let (database, pool, ledger) =
        crate::startup::open_ledger_with_clock(&args.db, &args.ledger, clock.clock())?;
    let started = std::time::Instant::now();
    let rt = actix_web::rt::System::new();
    let report = rt.block_on(seed(args, &pool, &ledger, &clock));
    clock.set(None);
    let report = report?;
    let seconds = started.elapsed().as_secs_f64();
    drop(database);
    Ok((
        SeedReport {
            seconds,
            append_seconds: report.append_seconds,
            append_cpu: report.append_cpu,
            screening_seconds: report.screening_seconds,
            entries_per_second: if report.append_seconds > 0.0 {
                f64::from(u32::try_from(report.entries).unwrap_or(u32::MAX)) / report.append_seconds
            } else {
                0.0
            },
            fund: report.fund,
            entries: report.entries,
            users: DEMO_USERS
                .iter()
                .map(|(e, role, _)| format!("{e} ({role})"))
                .collect(),
        },
        report.truth,
    ))
}

struct Seeded {
    fund: Uuid,
    entries: u64,
    append_seconds: f64,
    append_cpu: CpuSpent,
    screening_seconds: f64,
    truth: Option<schemes::Truth>,
}

async fn admin_record(
    ledger: &Ledger,
    kind: &str,
    key: String,
    body: Value,
    effect: impl Fn(&mut diesel::PgConnection, &[crate::ledger::entry::Entry]) -> Result<(), AppendError>
        + Send
        + Sync
        + 'static,
) -> anyhow::Result<()> {
    ledger
        .append_with(
            ADMIN_CHAIN,
            vec![AppendRequest {
                kind: kind.to_owned(),
                business_date: ledger.now().date_naive(),
                idempotency_key: key,
                body,
                principal: system(),
            }],
            Arc::new(FnEffect(effect)),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{kind}: {e}"))?;
    Ok(())
}

/// An organisation by name, created (and recorded) if missing.
async fn org(
    ledger: &Ledger,
    pool: &crate::db::PgPool,
    name: &str,
    kind: &str,
) -> anyhow::Result<Uuid> {
    if let Some(id) = auth_store::org_id_by_name(&mut *pool.get()?, name)? {
        return Ok(id);
    }
    let id = Uuid::new_v4();
    let (n, k) = (name.to_owned(), kind.to_owned());
    let iati_ref = IATI_REFS.iter().find(|(n, _)| *n == name).map(|(_, r)| *r);
    let mut fact = json!({"organization": id, "name": name, "kind": kind});
    if let (Some(r), Some(obj)) = (iati_ref, fact.as_object_mut()) {
        obj.insert("iati_ref".to_owned(), json!(r));
    }
    admin_record(
        ledger,
        "organization_created",
        format!("org-created-{id}"),
        fact,
        move |conn, _| {
            auth_store::insert_org(conn, id, &n, &k)?;
            if let Some((agency, number)) = iati_ref.and_then(auth_store::split_iati_ref) {
                auth_store::insert_identifier(conn, id, agency, number)?;
            }
            Ok(())
        },
    )
    .await?;
    Ok(id)
}

/// The demo donors' IATI organisation identifiers: their real OECD DAC donor codes.
const IATI_REFS: [(&str, &str); 4] = [
    ("Kingdom of Norway", "XM-DAC-8"),
    ("Kingdom of Sweden", "XM-DAC-10"),
    ("United Kingdom", "XM-DAC-12"),
    ("Federal Republic of Germany", "XM-DAC-5"),
];

/// What `empty_fund` made: the fund, its one ministry and its auditing organisation.
#[derive(Debug, Clone, Copy)]
pub struct EmptyFund {
    pub fund: Uuid,
    pub ministry: Uuid,
    pub audit_body: Uuid,
}

/// A fund with no entries, in `currency`, with one ministry and an assigned audit body,
/// recorded as the admin API records them (`bench ocds` imports publishers' files into
/// such funds). The organisations are shared by name between funds of one database.
pub async fn empty_fund(
    ledger: &Arc<Ledger>,
    pool: &crate::db::PgPool,
    name: &str,
    currency: &str,
    ministry: &str,
) -> anyhow::Result<EmptyFund> {
    ledger
        .bootstrap()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let secretariat = org(ledger, pool, "Fund Secretariat", "fund_secretariat").await?;
    let audit_body = org(ledger, pool, "Audit Body", "audit_body").await?;
    let ministry = org(ledger, pool, ministry, "ministry").await?;
    let fund = Uuid::new_v4();
    admin_record(
        ledger,
        "fund_created",
        format!("fund-created-{fund}"),
        json!({"fund": fund, "name": name, "currency": currency, "secretariat": secretariat}),
        crate::funds::http::fund_effect(
            ledger.clone(),
            fund,
            name.to_owned(),
            currency.to_owned(),
            secretariat,
        ),
    )
    .await?;
    admin_record(
        ledger,
        "auditor_assigned",
        format!("auditor-assigned-{fund}-{audit_body}"),
        json!({"fund": fund, "organization": audit_body}),
        crate::funds::http::auditor_effect(fund, audit_body),
    )
    .await?;
    Ok(EmptyFund {
        fund,
        ministry,
        audit_body,
    })
}

async fn seed(
    args: &SeedArgs,
    pool: &crate::db::PgPool,
    ledger: &Arc<Ledger>,
    clock: &SeedClock,
) -> anyhow::Result<Seeded> {
    ledger
        .bootstrap()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if crate::funds::store::all_funds(&mut *pool.get()?)?
        .iter()
        .any(|f| f.name == DEMO_FUND)
    {
        anyhow::bail!("the demo fund already exists in this database; seed a fresh one");
    }
    let operator = org(ledger, pool, "Demo Operator", "operator").await?;
    let secretariat = org(ledger, pool, "MDTF Secretariat", "fund_secretariat").await?;
    let audit = org(ledger, pool, "Supreme Audit Institution", "audit_body").await?;
    let mut donors = Vec::new();
    for (name, _, _) in DONORS {
        donors.push(org(ledger, pool, name, "donor").await?);
    }
    let mut ministries = Vec::new();
    for name in MINISTRIES {
        ministries.push(org(ledger, pool, name, "ministry").await?);
    }
    let mut vendors = Vec::new();
    for w in VENDOR_WORDS {
        for t in VENDOR_TRADES {
            vendors.push(org(ledger, pool, &format!("{w} {t} Ltd"), "vendor").await?);
        }
    }
    let _ = operator;
    // Demo users (one argon2id hash, shared: they all have the demo password).
    let phc = crate::auth::password::hash(DEMO_PASSWORD)?;
    let mut user_ids = std::collections::HashMap::new();
    let approvers: &[(&str, &str, &str)] = if args.inject_schemes {
        &APPROVER_USERS
    } else {
        &[]
    };
    for &(email, role, org_name) in DEMO_USERS.iter().chain(approvers) {
        let org_id = auth_store::org_id_by_name(&mut *pool.get()?, org_name)?
            .context("demo organisation")?;
        if let Some(u) = auth_store::active_user_by_email(&mut *pool.get()?, email)? {
            user_ids.insert(email, u.id);
            continue;
        }
        let id = Uuid::new_v4();
        let (mail, hash, role_name) = (email.to_owned(), phc.clone(), role.to_owned());
        admin_record(
            ledger,
            "user_created",
            format!("user-created-{id}"),
            json!({"user": id, "organization": org_id, "email": email, "role": role}),
            move |conn, _| {
                auth_store::insert_user(conn, id, org_id, &mail, &hash)?;
                auth_store::insert_grant(conn, Uuid::new_v4(), id, &role_name)?;
                Ok(())
            },
        )
        .await?;
        user_ids.insert(email, id);
    }
    // The second officers approve: their ministry grant carries the approver grant, as
    // `POST /api/v1/admin/users/{id}/roles/ministry/approver` records it.
    for &(email, role, _) in approvers {
        let id = *user_ids.get(email).context("demo approver")?;
        let role_name = role.to_owned();
        admin_record(
            ledger,
            "approver_granted",
            format!("approver-granted-{id}-{role}"),
            json!({"user": id, "role": role}),
            move |conn, _| {
                auth_store::set_approver(conn, id, &role_name, true)?;
                Ok(())
            },
        )
        .await?;
    }
    // The fund and its auditor, as the admin API records them.
    let fund = Uuid::new_v4();
    admin_record(
        ledger,
        "fund_created",
        format!("fund-created-{fund}"),
        json!({"fund": fund, "name": DEMO_FUND, "currency": "EUR", "secretariat": secretariat}),
        crate::funds::http::fund_effect(
            ledger.clone(),
            fund,
            DEMO_FUND.to_owned(),
            "EUR".to_owned(),
            secretariat,
        ),
    )
    .await?;
    admin_record(
        ledger,
        "auditor_assigned",
        format!("auditor-assigned-{fund}-{audit}"),
        json!({"fund": fund, "organization": audit}),
        crate::funds::http::auditor_effect(fund, audit),
    )
    .await?;

    // Injected schemes need a few organisations of their own: vendors first seen in the
    // year (new-vendor-large) and a ministry that receives money and spends none of it
    // (the unspent half of spending-before-funding).
    let mut extra = schemes::Extra::default();
    if args.inject_schemes {
        for i in 0..args.per_rule.max(1) {
            let word = VENDOR_WORDS
                .get(usize::try_from(i).unwrap_or(0) % VENDOR_WORDS.len())
                .copied()
                .unwrap_or("Nova");
            extra.new_vendors.push(
                org(
                    ledger,
                    pool,
                    &format!("Nova {word} Trading {i} Ltd"),
                    "vendor",
                )
                .await?,
            );
        }
        extra.dormant = Some(org(ledger, pool, schemes::DORMANT_MINISTRY, "ministry").await?);
    }

    // The year ends on the last working day before today, so that every entry can be
    // recorded in the working hours of a working day that has passed (below).
    let today = schemes::previous_workday(ledger.now().date_naive());
    let mut plan = generate(
        args.scale,
        args.seed,
        today,
        &donors,
        &ministries,
        &vendors,
        args.inject_schemes,
    );
    let drafts = if args.inject_schemes {
        let world = schemes::World {
            today,
            ministries: &ministries,
            vendors: &vendors,
            extra: &extra,
            eur_donor: donors
                .iter()
                .zip(DONORS)
                .find(|(_, (_, ccy, _))| *ccy == "EUR")
                .map(|(d, _)| *d)
                .unwrap_or_default(),
            scale: args.scale.max(1),
            per_rule: args.per_rule.max(1),
        };
        Some(schemes::inject(&mut plan, args.seed, &world))
    } else {
        None
    };
    // The recording instant of every event: its business day (the next Monday for a
    // weekend date) at a working hour of that day (08:00-15:59 UTC, one instant per day),
    // unless an injector chose otherwise. Recording the whole year at the moment of
    // seeding would make every entry `backdated` and, at night, `off-hours`: flags of
    // the seeding, not of the year, burying the ones the year raises.
    let record: Vec<Option<NaiveDateTime>> = {
        let mut rng = StdRng::seed_from_u64(args.seed ^ 0x5eed_c10c);
        let mut day_time: std::collections::HashMap<NaiveDate, NaiveDateTime> =
            std::collections::HashMap::new();
        plan.events
            .iter()
            .map(|e| {
                Some(e.record_at.unwrap_or_else(|| {
                    let day = schemes::next_workday(e.date);
                    *day_time.entry(day).or_insert_with(|| {
                        day.and_hms_opt(rng.gen_range(8..16), rng.gen_range(0..60), 0)
                            .unwrap_or_default()
                    })
                }))
            })
            .collect()
    };
    // Chronological; for equal dates, generation order (which puts referenced events first).
    let mut order: Vec<usize> = (0..plan.events.len()).collect();
    order.sort_by_key(|&i| {
        (
            record.get(i).copied().flatten(),
            plan.events.get(i).map(|e| e.date),
            i,
        )
    });
    let mut seq_of = vec![0_u64; plan.events.len()];
    for (pos, &i) in order.iter().enumerate() {
        if let Some(s) = seq_of.get_mut(i) {
            *s = u64::try_from(pos)?;
        }
    }
    let principal_of = |a: Actor| -> Principal {
        let email = match a {
            Actor::Treasurer => "treasurer@demo.fundtrail",
            Actor::Ministry(0) => "interior@demo.fundtrail",
            Actor::Ministry(1) => "defence@demo.fundtrail",
            Actor::Ministry(_) => "justice@demo.fundtrail",
            Actor::Approver(0) => "approver.interior@demo.fundtrail",
            Actor::Approver(1) => "approver.defence@demo.fundtrail",
            Actor::Approver(_) => "approver.justice@demo.fundtrail",
            Actor::Auditor => "auditor@demo.fundtrail",
        };
        let role = match a {
            Actor::Treasurer => "treasurer",
            Actor::Ministry(_) | Actor::Approver(_) => "ministry",
            Actor::Auditor => "auditor",
        };
        Principal {
            id: user_ids.get(email).map(Uuid::to_string).unwrap_or_default(),
            role: role.to_owned(),
        }
    };
    let effect = Arc::new(FundEffect {
        ctx: FundCtx {
            fund,
            currency: Currency::parse("EUR").map_err(anyhow::Error::msg)?,
        },
        actor: None,
        screens: Arc::new(crate::screening::Screens),
        screen: !args.no_screening,
    });
    // Jobs: runs of events recorded at the same instant, at most MAX_BATCH_ENTRIES each.
    let mut jobs: Vec<(Option<NaiveDateTime>, Vec<usize>)> = Vec::new();
    for &i in &order {
        let at = record.get(i).copied().flatten();
        match jobs.last_mut() {
            Some((t, job)) if *t == at && job.len() < MAX_BATCH_ENTRIES => job.push(i),
            _ => jobs.push((at, vec![i])),
        }
    }
    // The CPU samples use one connection held from here to the end: a `pool.get()` after
    // the last append could start a new connection on r2d2's worker thread while the
    // writer's is being returned, and that connection could still be opening when the
    // process exits (a crash in libc at exit, seen as a silent failure of `seed-demo`).
    // A pool of one connection is left to the writer (only this process's CPU is read).
    let mut sampler = match pool.max_size() {
        0 | 1 => None,
        _ => Some(pool.get()?),
    };
    let cpu_before =
        crate::telemetry::cpu::CpuSample::take(sampler.as_deref_mut().map(|c| &mut **c));
    let screening_before = crate::telemetry::spent::Spent::now();
    let appending = std::time::Instant::now();
    let mut written = 0_u64;
    for (at, chunk) in &jobs {
        let mut requests = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let e = plan.events.get_mut(i).context("event")?;
            requests.push(AppendRequest {
                kind: e.kind.to_owned(),
                business_date: e.date,
                idempotency_key: format!("seed-{i}"),
                body: resolve(&e.body.value(), &seq_of)?,
                principal: principal_of(e.actor),
            });
            e.body.clear();
        }
        clock.set(*at);
        let receipts = ledger
            .append_with(fund, requests, effect.clone())
            .await
            .map_err(|e| anyhow::anyhow!("appending demo entries: {e}"))?;
        let first = receipts.first().map(|r| r.entry.seq);
        anyhow::ensure!(
            first == Some(written),
            "the demo fund's chain moved under the seeder (expected seq {written}, got {first:?})"
        );
        written += u64::try_from(receipts.len())?;
    }
    clock.set(None);
    let append_seconds = appending.elapsed().as_secs_f64();
    let screening_seconds = crate::telemetry::spent::Spent::now()
        .since(&screening_before)
        .seconds;
    let append_cpu =
        crate::telemetry::cpu::CpuSample::take(sampler.as_deref_mut().map(|c| &mut **c))
            .since(&cpu_before);
    drop(sampler);
    let truth = drafts.map(|d| d.resolve(fund, args.seed, args.scale, today, &seq_of));
    Ok(Seeded {
        fund,
        entries: written,
        append_seconds,
        append_cpu,
        screening_seconds,
        truth,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_to_seqs() {
        let v = json!({"a": r(1), "b": [1, 2], "c": {"d": r(0)}, "e": {"$ref": 1, "x": 2}});
        let out = resolve(&v, &[7, 9]).unwrap();
        assert_eq!(
            out,
            json!({"a": 9, "b": [1, 2], "c": {"d": 7}, "e": {"$ref": 1, "x": 2}})
        );
    }

    #[test]
    fn a_plan_refers_only_backwards_and_stays_in_the_past() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let ids = |n: usize| (0..n).map(|_| Uuid::new_v4()).collect::<Vec<_>>();
        let plan = generate(1, 7, today, &ids(4), &ids(3), &ids(30), false);
        assert!(plan.events.len() > 800, "{}", plan.events.len());
        for (i, e) in plan.events.iter().enumerate() {
            assert!(e.date <= today, "{} on {}", e.kind, e.date);
            let text = e.body.to_string();
            for (pos, _) in text.match_indices("\"$ref\":") {
                let n: usize = text[pos + 7..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(n < i, "event {i} refers forward to {n}");
                assert!(plan.events[n].date <= e.date, "reference to a later date");
            }
        }
    }
}
