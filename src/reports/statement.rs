//! The fund statement (docs/reports.md, "Fund statement"): sources and uses of the fund
//! for a period, in the layout pooled-fund administrators use, from the sums of the
//! entries below a pinned checkpoint.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::figures::{Cols, Conv, Conversion, Figures};
use super::pin::PinnedCheckpoint;
use super::store::{AggRow, FlagCountRow};

pub use crate::auth::party::{party, Party};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FundRef {
    pub id: Uuid,
    pub name: String,
    /// The fund's book currency: every entry's amount has an equivalent in it.
    pub currency: String,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct ReportPeriod {
    /// First day of the period (inclusive); absent: from the fund's first entry.
    #[schema(value_type = Option<String>, format = Date)]
    pub from: Option<NaiveDate>,
    /// Last day (inclusive); absent: every entry below the checkpoint (as-of report).
    #[schema(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Checkpoints {
    /// The fund chain's checkpoint: the report reads exactly its entries.
    pub fund: PinnedCheckpoint,
    /// The administrative chain's checkpoint: flag statuses are as of it.
    pub admin: PinnedCheckpoint,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportCurrency {
    /// Currency of every figure that is not marked as original.
    pub code: String,
    /// Present when `code` is not the fund's currency.
    pub conversion: Option<Conversion>,
}

impl ReportCurrency {
    pub fn of(conv: &Conv) -> Self {
        Self {
            code: conv.currency.code().to_owned(),
            conversion: conv.conversion.as_ref().map(|(_, c)| c.clone()),
        }
    }
}

/// Sums in a currency as recorded, unconverted.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Original {
    pub currency: String,
    pub prior: String,
    pub period: String,
    pub cumulative: String,
}

impl Original {
    /// Sums of one currency, at its minor unit (as recorded: amounts are never finer).
    pub fn new(currency: &str, c: Cols) -> Self {
        let f = |v: Decimal| match crate::money::Currency::parse(currency) {
            Ok(cur) => cur.format(v),
            Err(_) => v.to_string(),
        };
        Self {
            currency: currency.to_owned(),
            prior: f(c.prior),
            period: f(c.period),
            cumulative: f(c.cumulative()),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DonorSource {
    pub donor: Party,
    /// Pledges: contribution agreements signed (IATI incoming pledge), i.e. committed.
    pub pledged: Figures,
    /// Contributions received, at each contribution's recorded rate.
    pub contributed: Figures,
    /// Cumulative pledged minus cumulative contributed (negative: contributed beyond the
    /// pledges).
    pub outstanding: String,
    /// Contributions in the currency they were made in, unconverted.
    pub contributed_original: Vec<Original>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourcesTotal {
    pub pledged: Figures,
    pub contributed: Figures,
    pub outstanding: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Sources {
    pub donors: Vec<DonorSource>,
    pub total: SourcesTotal,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MinistryUse {
    pub ministry: Party,
    pub allocated: Figures,
    /// Disbursed net of reversals.
    pub disbursed: Figures,
    /// Disbursements reversed (money back to the fund: the refunds line), as a positive
    /// amount; already netted out of `disbursed`.
    pub refunded: Figures,
    /// Cumulative allocated minus cumulative disbursed.
    pub undisbursed: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsesTotal {
    pub allocated: Figures,
    pub disbursed: Figures,
    pub refunded: Figures,
    pub undisbursed: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Uses {
    pub ministries: Vec<MinistryUse>,
    pub total: UsesTotal,
}

/// A balance at the start and at the end of the period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpeningClosing {
    /// At the start of the period (cumulative before `from`).
    pub opening: String,
    /// At the end of the period.
    pub closing: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MinistryHeld {
    pub ministry: Party,
    /// Disbursed to the ministry minus what it spent (expenditures and payments).
    pub held: OpeningClosing,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FundAvailable {
    /// Contributed minus disbursed: what the fund can still disburse.
    pub available: OpeningClosing,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatementBalances {
    pub fund: FundAvailable,
    pub ministries: Vec<MinistryHeld>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MinistrySpend {
    pub ministry: Party,
    /// Expenditures the ministry reported.
    pub expended: Figures,
    /// Payments to vendors.
    pub paid: Figures,
    /// expended + paid.
    pub spent: Figures,
    /// Cumulative spent / cumulative disbursed, 4 decimals; absent when nothing was
    /// disbursed.
    pub delivery_rate: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CategorySpend {
    pub category: String,
    pub spent: Figures,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VendorSpend {
    pub vendor: Party,
    pub paid: Figures,
}

/// What all ministries spent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SpendTotal {
    pub expended: Figures,
    pub paid: Figures,
    /// expended + paid.
    pub spent: Figures,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SpendSection {
    pub ministries: Vec<MinistrySpend>,
    pub categories: Vec<CategorySpend>,
    pub vendors: Vec<VendorSpend>,
    pub total: SpendTotal,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct FlagStatusCounts {
    pub open: i64,
    pub acknowledged: i64,
    pub escalated: i64,
    pub confirmed: i64,
    pub dismissed: i64,
    pub total: i64,
}

impl FlagStatusCounts {
    fn add(&mut self, status: &str, n: i64) {
        match status {
            "open" => self.open += n,
            "acknowledged" => self.acknowledged += n,
            "escalated" => self.escalated += n,
            "confirmed" => self.confirmed += n,
            _ => self.dismissed += n,
        }
        self.total += n;
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeverityCounts {
    pub severity: String,
    pub counts: FlagStatusCounts,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FlagSummary {
    /// Flags raised by the entries below the fund checkpoint, by severity (high first),
    /// with their status as of the administrative checkpoint. Not limited to the period:
    /// an open flag matters whenever it was raised.
    pub by_severity: Vec<SeverityCounts>,
    /// Not yet resolved: open, acknowledged or escalated.
    pub unresolved: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FundStatement {
    /// `fund_statement`.
    pub report: &'static str,
    pub fund: FundRef,
    pub period: ReportPeriod,
    pub checkpoints: Checkpoints,
    pub currency: ReportCurrency,
    pub sources: Sources,
    pub uses: Uses,
    pub balances: StatementBalances,
    /// What ministries spent: expenditures they reported and payments to vendors.
    pub spending: SpendSection,
    pub flags: FlagSummary,
}

/// Sums keyed by one dimension, in the fund's currency.
type By<K> = BTreeMap<K, Cols>;

fn bump<K: Ord>(map: &mut By<K>, key: K, c: Cols) {
    let e = map.entry(key).or_default();
    *e = *e + c;
}

/// The statement's sums, by what they are and who they concern (fund currency).
#[derive(Debug, Default)]
pub struct Sums {
    pub pledged: By<Uuid>,
    pub contributed: By<Uuid>,
    /// Donor -> currency -> sums in that currency.
    pub contributed_original: BTreeMap<Uuid, By<String>>,
    pub allocated: By<Uuid>,
    /// Net of reversals.
    pub disbursed: By<Uuid>,
    /// Reversed disbursements, positive.
    pub refunded: By<Uuid>,
    pub expended: By<Uuid>,
    pub paid: By<Uuid>,
    pub spent_category: By<String>,
    /// From the `vendor` grain (the `flow` grain has no vendor).
    pub paid_vendor: By<Uuid>,
    /// (ministry, category) -> spent: what donor attribution shares out.
    pub spent_cell: By<(Uuid, String)>,
}

impl Sums {
    pub fn from_rows(rows: &[AggRow]) -> Self {
        let mut s = Sums::default();
        for r in rows {
            let fund = Cols::new(r.prior_fund, r.period_fund);
            let own = Cols::new(r.prior, r.period);
            if r.grain == "vendor" {
                if let Some(v) = r.vendor {
                    bump(&mut s.paid_vendor, v, fund);
                }
                continue;
            }
            match (r.kind.as_str(), r.donor, r.ministry) {
                ("pledge", Some(d), _) => bump(&mut s.pledged, d, fund),
                ("contribution", Some(d), _) => {
                    bump(&mut s.contributed, d, fund);
                    bump(
                        s.contributed_original.entry(d).or_default(),
                        r.currency.clone(),
                        own,
                    );
                }
                ("allocation", _, Some(m)) => bump(&mut s.allocated, m, fund),
                ("disbursement", _, Some(m)) => {
                    bump(&mut s.disbursed, m, fund);
                    if r.reversal {
                        bump(&mut s.refunded, m, -fund);
                    }
                }
                (kind @ ("expenditure" | "payment"), _, Some(m)) => {
                    if kind == "expenditure" {
                        bump(&mut s.expended, m, fund);
                    } else {
                        bump(&mut s.paid, m, fund);
                    }
                    let cat = r
                        .category
                        .clone()
                        .unwrap_or_else(|| "uncategorised".to_owned());
                    bump(&mut s.spent_category, cat.clone(), fund);
                    bump(&mut s.spent_cell, (m, cat), fund);
                }
                _ => {}
            }
        }
        s
    }

    /// Every organisation the sums name.
    pub fn parties(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self
            .pledged
            .keys()
            .chain(self.contributed.keys())
            .chain(self.allocated.keys())
            .chain(self.disbursed.keys())
            .chain(self.expended.keys())
            .chain(self.paid.keys())
            .chain(self.paid_vendor.keys())
            .copied()
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    pub fn donors(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self
            .pledged
            .keys()
            .chain(self.contributed.keys())
            .copied()
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    pub fn ministries(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self
            .allocated
            .keys()
            .chain(self.disbursed.keys())
            .chain(self.expended.keys())
            .chain(self.paid.keys())
            .copied()
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

fn get<K: Ord>(map: &By<K>, k: &K) -> Cols {
    map.get(k).copied().unwrap_or_default()
}

/// Converted columns of every key and their total, the lines apportioned so that they sum
/// exactly to the total converted once (`Conv::apportion`), or to `target` when the keys
/// break down a figure already converted (vendors' share of what ministries paid).
fn converted<K: Ord + Clone>(
    conv: &Conv,
    keys: &[K],
    map: &By<K>,
    target: Option<Cols>,
) -> (Vec<Cols>, Cols) {
    let raw: Vec<Cols> = keys.iter().map(|k| get(map, k)).collect();
    let prior: Vec<Decimal> = raw.iter().map(|c| c.prior).collect();
    let period: Vec<Decimal> = raw.iter().map(|c| c.period).collect();
    let (prior, prior_total) = conv.apportion(&prior, target.map(|t| t.prior));
    let (period, period_total) = conv.apportion(&period, target.map(|t| t.period));
    let lines = prior
        .into_iter()
        .zip(period)
        .map(|(a, b)| Cols::new(a, b))
        .collect();
    (lines, Cols::new(prior_total, period_total))
}

/// `converted` (a figure's total in the report currency) when the lines of `map` add up to
/// `of` (that figure in the fund's currency): they break it down, so they are apportioned
/// to the same converted total.
fn target_if_breakdown<K>(map: &By<K>, of: Cols, converted: Cols) -> Option<Cols> {
    (map.values().copied().sum::<Cols>() == of).then_some(converted)
}

/// Everything `build` reads besides the sums.
pub struct Context<'a> {
    pub fund: FundRef,
    pub period: ReportPeriod,
    pub checkpoints: Checkpoints,
    pub conv: &'a Conv,
    pub names: &'a HashMap<Uuid, String>,
}

pub fn build(cx: Context<'_>, sums: &Sums, flag_rows: &[FlagCountRow]) -> FundStatement {
    let conv = cx.conv;
    let names = cx.names;
    let donors = sums.donors();
    let ministries = sums.ministries();

    // Sources.
    let (pledged, pledged_total) = converted(conv, &donors, &sums.pledged, None);
    let (contributed, contributed_total) = converted(conv, &donors, &sums.contributed, None);
    let donor_lines = donors
        .iter()
        .zip(pledged.iter().zip(&contributed))
        .map(|(d, (p, c))| DonorSource {
            donor: party(names, *d),
            pledged: conv.render(*p),
            contributed: conv.render(*c),
            outstanding: conv.fmt(p.cumulative() - c.cumulative()),
            contributed_original: sums
                .contributed_original
                .get(d)
                .map(|by| by.iter().map(|(cur, c)| Original::new(cur, *c)).collect())
                .unwrap_or_default(),
        })
        .collect();

    // Uses.
    let (allocated, allocated_total) = converted(conv, &ministries, &sums.allocated, None);
    let (disbursed, disbursed_total) = converted(conv, &ministries, &sums.disbursed, None);
    let (refunded, refunded_total) = converted(conv, &ministries, &sums.refunded, None);
    let (expended, expended_total) = converted(conv, &ministries, &sums.expended, None);
    let (paid, paid_total) = converted(conv, &ministries, &sums.paid, None);
    let mut uses = Vec::new();
    let mut ministry_balances = Vec::new();
    let mut spend = Vec::new();
    for (i, m) in ministries.iter().enumerate() {
        let at = |v: &Vec<Cols>| v.get(i).copied().unwrap_or_default();
        let (a, d, r, e, p) = (
            at(&allocated),
            at(&disbursed),
            at(&refunded),
            at(&expended),
            at(&paid),
        );
        let spent = e + p;
        uses.push(MinistryUse {
            ministry: party(names, *m),
            allocated: conv.render(a),
            disbursed: conv.render(d),
            refunded: conv.render(r),
            undisbursed: conv.fmt(a.cumulative() - d.cumulative()),
        });
        ministry_balances.push(MinistryHeld {
            ministry: party(names, *m),
            held: OpeningClosing {
                opening: conv.fmt(d.prior - spent.prior),
                closing: conv.fmt(d.cumulative() - spent.cumulative()),
            },
        });
        spend.push(MinistrySpend {
            ministry: party(names, *m),
            expended: conv.render(e),
            paid: conv.render(p),
            spent: conv.render(spent),
            delivery_rate: rate(spent.cumulative(), d.cumulative()),
        });
    }

    let categories: Vec<String> = sums.spent_category.keys().cloned().collect();
    // Categories and vendors break down what ministries spent and paid: apportioned to
    // those converted totals when they cover the same amounts of the fund's currency.
    let total_of = |map: &By<Uuid>| map.values().copied().sum::<Cols>();
    let (cat_lines, _) = converted(
        conv,
        &categories,
        &sums.spent_category,
        target_if_breakdown(
            &sums.spent_category,
            total_of(&sums.expended) + total_of(&sums.paid),
            expended_total + paid_total,
        ),
    );
    let vendors: Vec<Uuid> = sums.paid_vendor.keys().copied().collect();
    let (vendor_lines, _) = converted(
        conv,
        &vendors,
        &sums.paid_vendor,
        target_if_breakdown(&sums.paid_vendor, total_of(&sums.paid), paid_total),
    );

    FundStatement {
        report: "fund_statement",
        fund: cx.fund,
        period: cx.period,
        checkpoints: cx.checkpoints,
        currency: ReportCurrency::of(conv),
        sources: Sources {
            donors: donor_lines,
            total: SourcesTotal {
                pledged: conv.render(pledged_total),
                contributed: conv.render(contributed_total),
                outstanding: conv.fmt(pledged_total.cumulative() - contributed_total.cumulative()),
            },
        },
        uses: Uses {
            ministries: uses,
            total: UsesTotal {
                allocated: conv.render(allocated_total),
                disbursed: conv.render(disbursed_total),
                refunded: conv.render(refunded_total),
                undisbursed: conv.fmt(allocated_total.cumulative() - disbursed_total.cumulative()),
            },
        },
        balances: StatementBalances {
            fund: FundAvailable {
                available: OpeningClosing {
                    opening: conv.fmt(contributed_total.prior - disbursed_total.prior),
                    closing: conv
                        .fmt(contributed_total.cumulative() - disbursed_total.cumulative()),
                },
            },
            ministries: ministry_balances,
        },
        spending: SpendSection {
            ministries: spend,
            categories: categories
                .into_iter()
                .zip(cat_lines)
                .map(|(category, c)| CategorySpend {
                    category,
                    spent: conv.render(c),
                })
                .collect(),
            vendors: vendors
                .iter()
                .zip(vendor_lines)
                .map(|(v, c)| VendorSpend {
                    vendor: party(names, *v),
                    paid: conv.render(c),
                })
                .collect(),
            total: SpendTotal {
                expended: conv.render(expended_total),
                paid: conv.render(paid_total),
                spent: conv.render(expended_total + paid_total),
            },
        },
        flags: flags(flag_rows, |_| true),
    }
}

/// `num / den` to 4 decimals, half to even; none when `den` is zero.
pub fn rate(num: Decimal, den: Decimal) -> Option<String> {
    if den.is_zero() {
        return None;
    }
    let mut r =
        (num / den).round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointNearestEven);
    r.rescale(4);
    Some(r.to_string())
}

/// Flag counts by severity (high, medium, low) of the rows `keep` selects.
pub fn flags(rows: &[FlagCountRow], keep: impl Fn(&FlagCountRow) -> bool) -> FlagSummary {
    let mut by: BTreeMap<u8, (String, FlagStatusCounts)> = BTreeMap::new();
    for r in rows.iter().filter(|r| keep(r)) {
        let order = match r.severity.as_str() {
            "high" => 0,
            "medium" => 1,
            _ => 2,
        };
        by.entry(order)
            .or_insert_with(|| (r.severity.clone(), FlagStatusCounts::default()))
            .1
            .add(&r.status, r.count);
    }
    let unresolved = by
        .values()
        .map(|(_, c)| c.open + c.acknowledged + c.escalated)
        .sum();
    FlagSummary {
        by_severity: by
            .into_values()
            .map(|(severity, counts)| SeverityCounts { severity, counts })
            .collect(),
        unresolved,
    }
}
