//! Report routes: thin handlers — scope through `pin::fund_reader`, pin the checkpoints,
//! read the sums, build, render as JSON (default) or CSV (`format=csv` or
//! `Accept: text/csv`).
//!
//! | route                                         | who                                         |
//! |-----------------------------------------------|---------------------------------------------|
//! | `GET /funds/{fund}/reports/statement`         | admin, the fund's treasurer, auditors, donors |
//! | `GET /funds/{fund}/reports/donors/{donor}`    | the same, but a donor only for itself        |
//! | `GET /funds/{fund}/series`                    | admin, the fund's treasurer, auditors, donors |
//!
//! A ministry gets 403 (these cover every ministry); a caller who cannot see the fund 404.

use std::collections::{BTreeMap, HashMap};

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Datelike, NaiveDate};
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::csv::CsvOut;
use super::donor::{self, UNATTRIBUTED};
use super::figures::{unit, Cols, Conv, Conversion, Figures};
use super::pin::{self, AtSize, PinnedCheckpoint};
use super::statement::{
    self, party, Checkpoints, FlagSummary, FundRef, FundStatement, Original, Party, ReportCurrency,
    ReportPeriod, Sums,
};
use super::store::{self, SeriesGroup, SeriesMetric, SeriesSpec};
use crate::auth::guard::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::funds::store::FundRow;
use crate::money::Currency;
use crate::state::{with_pinned_read, AppState, ReadPin};

#[derive(Debug, Deserialize)]
pub struct FundPath {
    pub fund: Uuid,
}

#[derive(Debug, Deserialize)]
pub struct DonorPath {
    pub fund: Uuid,
    pub donor: Uuid,
}

/// Parameters of the statement and the donor report.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// First day of the period (inclusive); absent: from the beginning.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<NaiveDate>,
    /// Last day of the period (inclusive); absent: everything below the checkpoint.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
    /// Report currency (ISO 4217); default the fund's. Another currency needs an
    /// `fx_rate` entry between it and the fund's currency dated up to `to`.
    pub currency: Option<String>,
    /// `json` (default) or `csv`; `Accept: text/csv` also selects CSV.
    pub format: Option<String>,
    /// The fund chain's checkpoint size to compute at (default: the latest).
    #[serde(default, deserialize_with = "crate::extract::opt_u63")]
    pub at_size: Option<u64>,
    /// The administrative chain's checkpoint size for flag statuses (default: with
    /// `at_size`, the one the fund's checkpoint saw; without, the latest).
    #[serde(default, deserialize_with = "crate::extract::opt_u63")]
    pub admin_size: Option<u64>,
}

impl ReportQuery {
    fn at(&self) -> AtSize {
        AtSize {
            at_size: self.at_size,
            admin_size: self.admin_size,
        }
    }

    fn period(&self) -> ApiResult<ReportPeriod> {
        if let (Some(f), Some(t)) = (self.from, self.to) {
            if f > t {
                return Err(ApiError::InvalidParameter(format!(
                    "from ({f}) is after to ({t})"
                )));
            }
        }
        Ok(ReportPeriod {
            from: self.from,
            to: self.to,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

fn format(req: &HttpRequest, param: Option<&str>) -> ApiResult<Format> {
    match param {
        Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(ApiError::InvalidParameter(format!(
            "format must be json or csv, not {other:?}"
        ))),
        None => {
            let accept = req
                .headers()
                .get(actix_web::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            Ok(if accept.contains("text/csv") {
                Format::Csv
            } else {
                Format::Json
            })
        }
    }
}

fn to_i64(n: u64) -> ApiResult<i64> {
    i64::try_from(n).map_err(|_| ApiError::InvalidParameter("size out of range".to_owned()))
}

fn fund_currency(row: &FundRow) -> ApiResult<Currency> {
    Currency::parse(&row.currency)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("fund currency: {e}")))
}

/// The report currency: the fund's, or `code` through the latest recorded rate (below
/// the checkpoint, dated up to `on`). 422 `no_fx_rate` when none was recorded.
fn conv(
    conn: &mut PgConnection,
    fund: &FundRow,
    size: i64,
    code: Option<&str>,
    on: Option<NaiveDate>,
) -> ApiResult<Conv> {
    let book = fund_currency(fund)?;
    let Some(code) = code else {
        return Ok(Conv::identity(book));
    };
    let target = Currency::parse(code).map_err(ApiError::InvalidParameter)?;
    if target == book {
        return Ok(Conv::identity(book));
    }
    let r = store::latest_rate(conn, fund.id, size, book.code(), target.code(), on)?.ok_or_else(
        || ApiError::Unprocessable {
            code: "no_fx_rate",
            detail: format!(
                "no fx_rate between {book} and {target} is recorded in this fund{}",
                on.map(|d| format!(" on or before {d}")).unwrap_or_default()
            ),
        },
    )?;
    let inverted = r.base != book.code();
    let applied = if inverted {
        Decimal::ONE
            .checked_div(r.rate)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("zero fx rate {}", r.seq)))?
            .round_dp(12)
            .normalize()
    } else {
        r.rate
    };
    Ok(Conv {
        currency: target,
        conversion: Some((
            applied,
            Conversion {
                from: book.code().to_owned(),
                to: target.code().to_owned(),
                rate: applied.to_string(),
                recorded_rate: r.rate.normalize().to_string(),
                inverted,
                rate_date: r.rate_date,
                rate_seq: u64::try_from(r.seq).unwrap_or_default(),
            },
        )),
    })
}

/// Everything both reports read, at the pinned checkpoints.
struct Loaded {
    fund: FundRow,
    checkpoints: Checkpoints,
    conv: Conv,
    sums: Sums,
    flags: Vec<store::FlagCountRow>,
    size: i64,
}

/// What a report resolves on the primary before it reads: the fund (scope checked), the
/// checkpoints it is pinned to, and the summed blocks below them (written if missing).
struct Pinned {
    fund: FundRow,
    checkpoints: Checkpoints,
    size: i64,
}

impl Pinned {
    /// What a replica must have replayed to answer this report: both chains at their
    /// pinned sizes, and the summed blocks below the fund's.
    fn read_pin(&self, block: i64) -> ReadPin {
        let (fund, size) = (self.fund.id, self.size);
        ReadPin::sizes(vec![
            (fund, self.checkpoints.fund.tree_size),
            (
                self.checkpoints.admin.chain,
                self.checkpoints.admin.tree_size,
            ),
        ])
        .and(move |c| store::blocks_summed(c, fund, size, block))
    }
}

fn pin_report(
    conn: &mut PgConnection,
    ledger: &crate::ledger::Ledger,
    block: i64,
    p: &Principal,
    fund: Uuid,
    q: &ReportQuery,
) -> ApiResult<Pinned> {
    let row = pin::fund_reader(conn, p, fund)?;
    let (fund_cp, admin_cp) = pin::pins(conn, ledger, fund, q.at())?;
    let size = to_i64(fund_cp.tree_size)?;
    store::ensure_blocks(conn, fund, size, block)?;
    Ok(Pinned {
        fund: row,
        checkpoints: Checkpoints {
            fund: fund_cp,
            admin: admin_cp,
        },
        size,
    })
}

/// The sums, conversion and flag counts of a pinned report: reads only (on the replica
/// when it has replayed the pin).
fn load(
    conn: &mut PgConnection,
    block: i64,
    pinned: Pinned,
    q: &ReportQuery,
    period: ReportPeriod,
) -> ApiResult<Loaded> {
    let Pinned {
        fund: row,
        checkpoints,
        size,
    } = pinned;
    let fund = row.id;
    let conv = conv(conn, &row, size, q.currency.as_deref(), period.to)?;
    let rows = store::aggregate(conn, fund, size, block, period.from, period.to)?;
    let flags = store::flag_counts(
        conn,
        fund,
        size,
        block,
        to_i64(checkpoints.admin.tree_size)?,
    )?;
    Ok(Loaded {
        fund: row,
        checkpoints,
        conv,
        sums: Sums::from_rows(&rows),
        flags,
        size,
    })
}

fn fund_ref(row: &FundRow) -> FundRef {
    FundRef {
        id: row.id,
        name: row.name.clone(),
        currency: row.currency.clone(),
    }
}

/// The fund statement for a period: sources (pledged and contributed by donor), uses
/// (allocated, disbursed, refunded by ministry), balances held by the fund and by each
/// ministry, spending by ministry, category and vendor with delivery rates, and the
/// flags raised, all at a signed checkpoint (docs/reports.md).
#[utoipa::path(get, path = "/api/v1/funds/{fund}/reports/statement", tag = "reports",
    security(("bearer" = [])), params(("fund" = Uuid, Path), ReportQuery),
    responses((status = 304, description = "Not modified: `If-None-Match` names this answer's ETag"), (status = 200, body = FundStatement), (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn fund_statement(
    principal: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<FundPath>,
    query: Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let pinned = q.at_size.is_some();
    let fmt = format(&req, q.format.as_deref())?;
    let period = q.period()?;
    let fund = path.fund;
    let report = with_pinned_read(
        &state,
        move |st, conn| {
            let block = st.settings.report_block_entries;
            let pinned = pin_report(conn, &st.ledger, block, &principal, fund, &q)?;
            let read = pinned.read_pin(block);
            Ok(((pinned, q), read))
        },
        move |st, conn, (pinned, q)| {
            let l = load(conn, st.settings.report_block_entries, pinned, &q, period)?;
            let names = crate::auth::party::names(conn, &l.sums.parties())?;
            Ok(statement::build(
                statement::Context {
                    fund: fund_ref(&l.fund),
                    period,
                    checkpoints: l.checkpoints,
                    conv: &l.conv,
                    names: &names,
                },
                &l.sums,
                &l.flags,
            ))
        },
    )
    .await?;
    let resp: ApiResult<HttpResponse> = match fmt {
        Format::Json => Ok(HttpResponse::Ok().json(report)),
        Format::Csv => csv_response(
            &report.checkpoints,
            format!("statement-{fund}-{}.csv", report.checkpoints.fund.tree_size),
            |out| statement_csv(&report, out),
        ),
    };
    Ok(crate::http::cache::tagged(&req, pinned, resp?))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DonorContributions {
    pub pledged: Figures,
    pub contributed: Figures,
    pub outstanding: String,
    pub contributed_original: Vec<Original>,
    /// The donor's cumulative contributions over all donors' at the end of the period
    /// (6 decimals), the basis of the next disbursement's share.
    pub contributed_share: Option<String>,
}

/// The donor's share of what the fund disbursed and what ministries spent, in all.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttributedTotal {
    pub attributed_disbursed: Figures,
    pub attributed_spent: Figures,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MinistryAttributed {
    pub ministry: Party,
    pub attributed_disbursed: Figures,
    pub attributed_spent: Figures,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CategoryAttributed {
    pub category: String,
    pub attributed_spent: Figures,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CellAttributed {
    pub ministry: Party,
    pub category: String,
    pub attributed_spent: Figures,
}

/// The donor's pro-rata share of disbursements and spending (docs/reports.md).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attributed {
    pub total: AttributedTotal,
    /// Every ministry the donor's money reached.
    pub by_ministry: Vec<MinistryAttributed>,
    pub by_category: Vec<CategoryAttributed>,
    pub by_ministry_and_category: Vec<CellAttributed>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OtherDonors {
    /// How many other donors pledged or contributed (named nowhere in this report).
    pub count: usize,
    pub contributed: Figures,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MinistryFlags {
    pub ministry: Party,
    pub flags: FlagSummary,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DonorReport {
    /// `donor_report`.
    pub report: &'static str,
    pub fund: FundRef,
    pub donor: Party,
    pub period: ReportPeriod,
    pub checkpoints: Checkpoints,
    pub currency: ReportCurrency,
    /// How shares were computed and rounded (docs/reports.md, "Donor report").
    pub method: &'static str,
    pub contributions: DonorContributions,
    /// The donor's share of what the fund disbursed and of what ministries spent
    /// (expenditures and payments).
    pub attributed: Attributed,
    pub other_donors: OtherDonors,
    /// Flags on the ministries the donor's money reached, by ministry.
    pub flags: Vec<MinistryFlags>,
}

pub const METHOD: &str = "Each disbursement is shared among donors in proportion to their \
cumulative contributions (net of reversals, in the fund's currency) dated up to and including its \
date; a reversed disbursement takes back the shares of the one it reverses. Each ministry's \
spending per category is shared in proportion to the donors' attributed disbursements to that \
ministry: spending before the period with the shares of the day before it starts, spending in \
the period with the shares at its end. Every share is rounded to the minor unit by the \
largest-remainder method (remaining units to the largest remainders, ties to the lower donor \
id), so all donors' shares sum exactly to the fund's totals.";

/// One donor's contributions and its pro-rata share of what the fund disbursed and what
/// ministries spent, by ministry and category, at a signed checkpoint. A donor reads
/// only its own report; other donors appear only in aggregate.
#[utoipa::path(get, path = "/api/v1/funds/{fund}/reports/donors/{donor}", tag = "reports",
    security(("bearer" = [])),
    params(("fund" = Uuid, Path), ("donor" = Uuid, Path), ReportQuery),
    responses((status = 304, description = "Not modified: `If-None-Match` names this answer's ETag"), (status = 200, body = DonorReport), (status = 403, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn donor_report(
    principal: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<DonorPath>,
    query: Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let pinned = q.at_size.is_some();
    let fmt = format(&req, q.format.as_deref())?;
    let period = q.period()?;
    let DonorPath { fund, donor } = path.into_inner();
    let report = with_pinned_read(
        &state,
        move |st, conn| {
            let block = st.settings.report_block_entries;
            let pinned = pin_report(conn, &st.ledger, block, &principal, fund, &q)?;
            if principal.role == Role::Donor && principal.org != donor {
                return Err(ApiError::Forbidden(
                    "a donor reads its own report; other donors appear in it in aggregate"
                        .to_owned(),
                ));
            }
            let read = pinned.read_pin(block);
            Ok(((pinned, q), read))
        },
        move |st, conn, (pinned, q)| {
            let l = load(conn, st.settings.report_block_entries, pinned, &q, period)?;
            if !l.sums.donors().contains(&donor) {
                return Err(ApiError::NotFound(
                    "no such donor in this fund at this checkpoint".to_owned(),
                ));
            }
            let flows = store::deposits_and_disbursements(conn, fund, l.size, period.to)?;
            let at = donor::attribute(&flows, &l.sums, period.from, unit(fund_currency(&l.fund)?));
            let mut ids = l.sums.ministries();
            ids.push(donor);
            let names = crate::auth::party::names(conn, &ids)?;
            Ok(build_donor(&l, &at, donor, period, &names))
        },
    )
    .await?;
    let resp: ApiResult<HttpResponse> = match fmt {
        Format::Json => Ok(HttpResponse::Ok().json(report)),
        Format::Csv => csv_response(
            &report.checkpoints,
            format!(
                "donor-{}-{fund}-{}.csv",
                report.donor.id, report.checkpoints.fund.tree_size
            ),
            |out| donor_csv(&report, out),
        ),
    };
    Ok(crate::http::cache::tagged(&req, pinned, resp?))
}

fn build_donor(
    l: &Loaded,
    at: &donor::Attribution,
    donor: Uuid,
    period: ReportPeriod,
    names: &HashMap<Uuid, String>,
) -> DonorReport {
    let conv = &l.conv;
    let s = &l.sums;
    let get = |m: &BTreeMap<Uuid, Cols>, k: &Uuid| m.get(k).copied().unwrap_or_default();
    let pledged = conv.cols(get(&s.pledged, &donor));
    let contributed = conv.cols(get(&s.contributed, &donor));
    let all_contributed: Decimal = at.deposits.values().copied().sum();
    let own_contributed = at.deposits.get(&donor).copied().unwrap_or_default();

    let empty_d = BTreeMap::new();
    let disb = at.disbursed.get(&donor).unwrap_or(&empty_d);
    let disb_lines: Vec<(Uuid, Cols)> = disb.iter().map(|(m, c)| (*m, conv.cols(*c))).collect();
    let empty_s = BTreeMap::new();
    let spent = at.spent.get(&donor).unwrap_or(&empty_s);
    let cells: Vec<((Uuid, String), Cols)> = spent
        .iter()
        .map(|(k, c)| (k.clone(), conv.cols(*c)))
        .collect();
    let mut by_ministry: BTreeMap<Uuid, Cols> = BTreeMap::new();
    let mut by_category: BTreeMap<String, Cols> = BTreeMap::new();
    for ((m, cat), c) in &cells {
        let e = by_ministry.entry(*m).or_default();
        *e = *e + *c;
        let e = by_category.entry(cat.clone()).or_default();
        *e = *e + *c;
    }
    let reached: Vec<Uuid> = disb
        .keys()
        .chain(by_ministry.keys())
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let others: Vec<Uuid> = s.donors().into_iter().filter(|d| *d != donor).collect();
    let others_contributed: Cols = others
        .iter()
        .map(|d| conv.cols(get(&s.contributed, d)))
        .sum();
    let disb_of: BTreeMap<Uuid, Cols> = disb_lines.iter().copied().collect();

    DonorReport {
        report: "donor_report",
        fund: fund_ref(&l.fund),
        donor: party(names, donor),
        period,
        checkpoints: l.checkpoints.clone(),
        currency: ReportCurrency::of(conv),
        method: METHOD,
        contributions: DonorContributions {
            pledged: conv.render(pledged),
            contributed: conv.render(contributed),
            outstanding: conv.fmt(pledged.cumulative() - contributed.cumulative()),
            contributed_original: s
                .contributed_original
                .get(&donor)
                .map(|by| by.iter().map(|(cur, c)| Original::new(cur, *c)).collect())
                .unwrap_or_default(),
            contributed_share: (!all_contributed.is_zero()).then(|| {
                let mut r = (own_contributed / all_contributed).round_dp(6);
                r.rescale(6);
                r.to_string()
            }),
        },
        attributed: Attributed {
            total: AttributedTotal {
                attributed_disbursed: conv.render(disb_lines.iter().map(|(_, c)| *c).sum()),
                attributed_spent: conv.render(cells.iter().map(|(_, c)| *c).sum()),
            },
            by_ministry: reached
                .iter()
                .map(|m| MinistryAttributed {
                    ministry: party(names, *m),
                    attributed_disbursed: conv.render(disb_of.get(m).copied().unwrap_or_default()),
                    attributed_spent: conv.render(by_ministry.get(m).copied().unwrap_or_default()),
                })
                .collect(),
            by_category: by_category
                .into_iter()
                .map(|(category, c)| CategoryAttributed {
                    category,
                    attributed_spent: conv.render(c),
                })
                .collect(),
            by_ministry_and_category: cells
                .iter()
                .map(|((m, category), c)| CellAttributed {
                    ministry: party(names, *m),
                    category: category.clone(),
                    attributed_spent: conv.render(*c),
                })
                .collect(),
        },
        other_donors: OtherDonors {
            count: others.iter().filter(|d| **d != UNATTRIBUTED).count(),
            contributed: conv.render(others_contributed),
        },
        flags: reached
            .iter()
            .map(|m| MinistryFlags {
                ministry: party(names, *m),
                flags: statement::flags(&l.flags, |r| r.ministry == Some(*m)),
            })
            .collect(),
    }
}

// ------------------------------------------------------------------------------ series

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SeriesQuery {
    /// `contributed`, `disbursed` or `spent` (expenditures and payments).
    pub metric: String,
    /// `month` or `quarter`.
    pub by: String,
    /// `donor` (contributed only), `ministry` or `category` (disbursed and spent).
    pub group: String,
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<NaiveDate>,
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<NaiveDate>,
    pub currency: Option<String>,
    pub format: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::opt_u63")]
    pub at_size: Option<u64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeriesPoint {
    /// `2026-03` or `2026-Q1`.
    pub period: String,
    #[schema(value_type = String, format = Date)]
    pub starts_on: NaiveDate,
    /// The metric's sum over the entries dated in the bucket (glossary: `sum`).
    pub sum: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeriesLine {
    /// Donor or ministry id, or the category.
    pub key: String,
    /// The organisation's name, or the category.
    pub label: String,
    pub points: Vec<SeriesPoint>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Series {
    /// `series`.
    pub report: &'static str,
    pub fund: FundRef,
    pub metric: String,
    pub by: String,
    pub group: String,
    pub checkpoint: PinnedCheckpoint,
    pub currency: ReportCurrency,
    /// One line per group, points in time order; buckets with no entry are omitted.
    pub series: Vec<SeriesLine>,
}

/// Chart-ready sums per month or quarter, one line per donor, ministry or category, at a
/// signed checkpoint.
#[utoipa::path(get, path = "/api/v1/funds/{fund}/series", tag = "reports",
    security(("bearer" = [])), params(("fund" = Uuid, Path), SeriesQuery),
    responses((status = 304, description = "Not modified: `If-None-Match` names this answer's ETag"), (status = 422, body = crate::error::Problem), (status = 200, body = Series), (status = 400, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn series(
    principal: Principal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<FundPath>,
    query: Query<SeriesQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let pinned = q.at_size.is_some();
    let fmt = format(&req, q.format.as_deref())?;
    let metric = match q.metric.as_str() {
        "contributed" => SeriesMetric::Contributed,
        "disbursed" => SeriesMetric::Disbursed,
        "spent" => SeriesMetric::Spent,
        other => {
            return Err(ApiError::InvalidParameter(format!(
                "metric must be contributed, disbursed or spent, not {other:?}"
            )))
        }
    };
    let trunc = match q.by.as_str() {
        "month" => "month",
        "quarter" => "quarter",
        other => {
            return Err(ApiError::InvalidParameter(format!(
                "by must be month or quarter, not {other:?}"
            )))
        }
    };
    let group = match (q.group.as_str(), metric) {
        ("donor", SeriesMetric::Contributed) => SeriesGroup::Donor,
        ("ministry", SeriesMetric::Disbursed | SeriesMetric::Spent) => SeriesGroup::Ministry,
        ("category", SeriesMetric::Disbursed | SeriesMetric::Spent) => SeriesGroup::Category,
        (g, _) => {
            return Err(ApiError::InvalidParameter(format!(
                "group {g:?} does not apply to metric {}: contributed groups by donor; \
                 disbursed and spent by ministry or category (donor shares of those are in \
                 the donor report)",
                q.metric
            )))
        }
    };
    let period = ReportQuery {
        from: q.from,
        to: q.to,
        currency: None,
        format: None,
        at_size: None,
        admin_size: None,
    }
    .period()?;
    let fund = path.fund;
    let out = with_pinned_read(
        &state,
        move |st, conn| {
            let block = st.settings.report_block_entries;
            let row = pin::fund_reader(conn, &principal, fund)?;
            let cp = pin::checkpoint(conn, &st.ledger, fund, q.at_size)?;
            let size = to_i64(cp.tree_size)?;
            store::ensure_blocks(conn, fund, size, block)?;
            let read = ReadPin::sizes(vec![(fund, cp.tree_size)])
                .and(move |c| store::blocks_summed(c, fund, size, block));
            Ok(((row, cp, size, q), read))
        },
        move |st, conn, (row, cp, size, q)| {
            let block = st.settings.report_block_entries;
            let conv = conv(conn, &row, size, q.currency.as_deref(), period.to)?;
            let rows = store::series(
                conn,
                fund,
                size,
                block,
                SeriesSpec {
                    metric,
                    trunc,
                    group,
                },
                period.from,
                period.to,
            )?;
            let ids: Vec<Uuid> = rows
                .iter()
                .filter_map(|r| r.key.as_deref().and_then(|k| Uuid::parse_str(k).ok()))
                .collect();
            let names = crate::auth::party::names(conn, &ids)?;
            let mut lines: Vec<SeriesLine> = Vec::new();
            for r in rows {
                let key = r.key.unwrap_or_else(|| "uncategorised".to_owned());
                let label = Uuid::parse_str(&key)
                    .ok()
                    .and_then(|id| names.get(&id).cloned())
                    .unwrap_or_else(|| key.clone());
                let point = SeriesPoint {
                    period: bucket_label(r.bucket, trunc),
                    starts_on: r.bucket,
                    sum: conv.fmt(conv.amount(r.amount_fund)),
                };
                match lines.last_mut() {
                    Some(l) if l.key == key => l.points.push(point),
                    _ => lines.push(SeriesLine {
                        key,
                        label,
                        points: vec![point],
                    }),
                }
            }
            Ok(Series {
                report: "series",
                fund: fund_ref(&row),
                metric: q.metric,
                by: q.by,
                group: q.group,
                checkpoint: cp,
                currency: ReportCurrency::of(&conv),
                series: lines,
            })
        },
    )
    .await?;
    let resp: ApiResult<HttpResponse> = match fmt {
        Format::Json => Ok(HttpResponse::Ok().json(out)),
        Format::Csv => {
            let mut buf = Vec::new();
            {
                let mut w = CsvOut::new(&mut buf);
                let io = |e: std::io::Error| ApiError::Internal(e.into());
                w.row(["key", "label", "period", "starts_on", "sum", "currency"])
                    .map_err(io)?;
                for l in &out.series {
                    for p in &l.points {
                        w.row([
                            l.key.as_str(),
                            l.label.as_str(),
                            p.period.as_str(),
                            &p.starts_on.to_string(),
                            p.sum.as_str(),
                            out.currency.code.as_str(),
                        ])
                        .map_err(io)?;
                    }
                }
                w.flush().map_err(io)?;
            }
            Ok(with_checkpoint_headers(
                HttpResponse::Ok(),
                &out.checkpoint,
                None,
                &format!("series-{fund}-{}.csv", out.checkpoint.tree_size),
            )
            .body(buf))
        }
    };
    Ok(crate::http::cache::tagged(&req, pinned, resp?))
}

fn bucket_label(d: NaiveDate, trunc: &str) -> String {
    if trunc == "quarter" {
        format!("{}-Q{}", d.year(), d.month0() / 3 + 1)
    } else {
        format!("{}-{:02}", d.year(), d.month())
    }
}

// --------------------------------------------------------------------------------- CSV

/// Every report's CSV has these columns: one row per figure.
const CSV_HEADER: [&str; 9] = [
    "section",
    "item_id",
    "item",
    "category",
    "measure",
    "prior",
    "period",
    "cumulative",
    "currency",
];

fn with_checkpoint_headers(
    mut b: actix_web::HttpResponseBuilder,
    fund: &PinnedCheckpoint,
    admin: Option<&PinnedCheckpoint>,
    filename: &str,
) -> actix_web::HttpResponseBuilder {
    b.content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header(("fundtrail-checkpoint-size", fund.tree_size.to_string()))
        .insert_header(("fundtrail-checkpoint-root", fund.root_hash.clone()));
    if let Some(a) = admin {
        b.insert_header(("fundtrail-admin-checkpoint-size", a.tree_size.to_string()));
    }
    b
}

fn csv_response(
    cps: &Checkpoints,
    filename: String,
    write: impl FnOnce(&mut Rows<'_>) -> std::io::Result<()>,
) -> ApiResult<HttpResponse> {
    let mut buf = Vec::new();
    {
        let mut out = Rows {
            w: CsvOut::new(&mut buf),
            currency: String::new(),
        };
        let io = |e: std::io::Error| ApiError::Internal(e.into());
        out.w.row(CSV_HEADER).map_err(io)?;
        for (name, cp) in [("fund", &cps.fund), ("admin", &cps.admin)] {
            let chain = cp.chain.to_string();
            for (measure, value) in [
                ("tree_size", cp.tree_size.to_string()),
                ("root_hash", cp.root_hash.clone()),
                ("signed_at", cp.signed_at.to_rfc3339()),
                // The C2SP signed note itself, so the CSV alone can be checked.
                ("note", cp.note.clone()),
            ] {
                out.w
                    .row([
                        "checkpoint",
                        chain.as_str(),
                        name,
                        "",
                        measure,
                        "",
                        "",
                        value.as_str(),
                        "",
                    ])
                    .map_err(io)?;
            }
        }
        write(&mut out).map_err(io)?;
        out.w.flush().map_err(io)?;
    }
    Ok(
        with_checkpoint_headers(HttpResponse::Ok(), &cps.fund, Some(&cps.admin), &filename)
            .body(buf),
    )
}

/// CSV rows of one report, all in its currency.
struct Rows<'a> {
    w: CsvOut<&'a mut Vec<u8>>,
    currency: String,
}

impl Rows<'_> {
    fn fig(
        &mut self,
        section: &str,
        item: Option<&Party>,
        category: &str,
        measure: &str,
        f: &Figures,
    ) -> std::io::Result<()> {
        let id = item.map(|p| p.id.to_string()).unwrap_or_default();
        let name = item.map(|p| p.name.as_str()).unwrap_or("");
        self.w.row([
            section,
            id.as_str(),
            name,
            category,
            measure,
            f.prior.as_str(),
            f.period.as_str(),
            f.cumulative.as_str(),
            self.currency.as_str(),
        ])
    }

    fn one(
        &mut self,
        section: &str,
        item: Option<&Party>,
        measure: &str,
        value: &str,
        currency: &str,
    ) -> std::io::Result<()> {
        let id = item.map(|p| p.id.to_string()).unwrap_or_default();
        let name = item.map(|p| p.name.as_str()).unwrap_or("");
        self.w.row([
            section,
            id.as_str(),
            name,
            "",
            measure,
            "",
            "",
            value,
            currency,
        ])
    }

    /// A row of sums in the currency they were recorded in (`contributed_original`).
    fn original(&mut self, section: &str, item: &Party, o: &Original) -> std::io::Result<()> {
        self.w.row([
            section,
            &item.id.to_string(),
            &item.name,
            "",
            "contributed_original",
            &o.prior,
            &o.period,
            &o.cumulative,
            &o.currency,
        ])
    }

    fn flags(&mut self, item: Option<&Party>, f: &FlagSummary) -> std::io::Result<()> {
        for s in &f.by_severity {
            let c = &s.counts;
            for (status, n) in [
                ("open", c.open),
                ("acknowledged", c.acknowledged),
                ("escalated", c.escalated),
                ("confirmed", c.confirmed),
                ("dismissed", c.dismissed),
            ] {
                self.one(
                    "flags",
                    item,
                    &format!("{}.{status}", s.severity),
                    &n.to_string(),
                    "",
                )?;
            }
        }
        Ok(())
    }
}

fn statement_csv(s: &FundStatement, out: &mut Rows<'_>) -> std::io::Result<()> {
    out.currency = s.currency.code.clone();
    let cur = s.currency.code.clone();
    for d in &s.sources.donors {
        let me = Some(&d.donor);
        out.fig("sources", me, "", "pledged", &d.pledged)?;
        out.fig("sources", me, "", "contributed", &d.contributed)?;
        out.one("sources", me, "outstanding", &d.outstanding, &cur)?;
        for o in &d.contributed_original {
            out.original("sources", &d.donor, o)?;
        }
    }
    let total = &s.sources.total;
    out.fig("sources", None, "", "pledged", &total.pledged)?;
    out.fig("sources", None, "", "contributed", &total.contributed)?;
    out.one("sources", None, "outstanding", &total.outstanding, &cur)?;
    for m in &s.uses.ministries {
        let me = Some(&m.ministry);
        out.fig("uses", me, "", "allocated", &m.allocated)?;
        out.fig("uses", me, "", "disbursed", &m.disbursed)?;
        out.fig("uses", me, "", "refunded", &m.refunded)?;
        out.one("uses", me, "undisbursed", &m.undisbursed, &cur)?;
    }
    let total = &s.uses.total;
    out.fig("uses", None, "", "allocated", &total.allocated)?;
    out.fig("uses", None, "", "disbursed", &total.disbursed)?;
    out.fig("uses", None, "", "refunded", &total.refunded)?;
    out.one("uses", None, "undisbursed", &total.undisbursed, &cur)?;
    let available = &s.balances.fund.available;
    out.one(
        "balances",
        None,
        "available.opening",
        &available.opening,
        &cur,
    )?;
    out.one(
        "balances",
        None,
        "available.closing",
        &available.closing,
        &cur,
    )?;
    for m in &s.balances.ministries {
        let me = Some(&m.ministry);
        out.one("balances", me, "held.opening", &m.held.opening, &cur)?;
        out.one("balances", me, "held.closing", &m.held.closing, &cur)?;
    }
    for m in &s.spending.ministries {
        let me = Some(&m.ministry);
        out.fig("spending", me, "", "expended", &m.expended)?;
        out.fig("spending", me, "", "paid", &m.paid)?;
        out.fig("spending", me, "", "spent", &m.spent)?;
        if let Some(r) = &m.delivery_rate {
            out.one("spending", me, "delivery_rate", r, "")?;
        }
    }
    for c in &s.spending.categories {
        out.fig("spending", None, &c.category, "spent", &c.spent)?;
    }
    for v in &s.spending.vendors {
        out.fig("spending", Some(&v.vendor), "", "paid", &v.paid)?;
    }
    let total = &s.spending.total;
    out.fig("spending", None, "", "expended", &total.expended)?;
    out.fig("spending", None, "", "paid", &total.paid)?;
    out.fig("spending", None, "", "spent", &total.spent)?;
    out.flags(None, &s.flags)
}

fn donor_csv(r: &DonorReport, out: &mut Rows<'_>) -> std::io::Result<()> {
    out.currency = r.currency.code.clone();
    let cur = r.currency.code.clone();
    let me = Some(&r.donor);
    let c = &r.contributions;
    out.fig("contributions", me, "", "pledged", &c.pledged)?;
    out.fig("contributions", me, "", "contributed", &c.contributed)?;
    out.one("contributions", me, "outstanding", &c.outstanding, &cur)?;
    if let Some(s) = &c.contributed_share {
        out.one("contributions", me, "contributed_share", s, "")?;
    }
    for o in &c.contributed_original {
        out.original("contributions", &r.donor, o)?;
    }
    let a = &r.attributed;
    for m in &a.by_ministry {
        let me = Some(&m.ministry);
        out.fig(
            "attributed",
            me,
            "",
            "attributed_disbursed",
            &m.attributed_disbursed,
        )?;
        out.fig(
            "attributed",
            me,
            "",
            "attributed_spent",
            &m.attributed_spent,
        )?;
    }
    for c in &a.by_category {
        out.fig(
            "attributed",
            None,
            &c.category,
            "attributed_spent",
            &c.attributed_spent,
        )?;
    }
    for c in &a.by_ministry_and_category {
        let me = Some(&c.ministry);
        out.fig(
            "attributed",
            me,
            &c.category,
            "attributed_spent",
            &c.attributed_spent,
        )?;
    }
    out.fig(
        "attributed",
        None,
        "",
        "attributed_disbursed",
        &a.total.attributed_disbursed,
    )?;
    out.fig(
        "attributed",
        None,
        "",
        "attributed_spent",
        &a.total.attributed_spent,
    )?;
    out.fig(
        "other_donors",
        None,
        "",
        "contributed",
        &r.other_donors.contributed,
    )?;
    for m in &r.flags {
        out.flags(Some(&m.ministry), &m.flags)?;
    }
    Ok(())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/funds/{fund}/reports/statement").get(fund_statement))
        .service(web::resource("/funds/{fund}/reports/donors/{donor}").get(donor_report))
        .service(web::resource("/funds/{fund}/series").get(series));
}
