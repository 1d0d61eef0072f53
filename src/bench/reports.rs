//! `fundtrail bench reports`: latency of the reports over a seeded fund, over HTTP
//! (docs/benchmarks.md, "Reports"). It serves the real application in-process on a
//! loopback port and, for each report, times a cold request (the fund's block sums
//! dropped first, so it sums every sealed block) and then `--requests` warm ones (p50,
//! p95, max). The baseline, measured in the same run, is the same statement computed from
//! the entries directly: an application whose summed block is larger than the fund.
#![allow(clippy::as_conversions)] // durations to f64 milliseconds only

use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::prelude::*;

use super::exports::{bench_app, serving, BenchApp};
use crate::config::{AppSettings, DbArgs, LedgerArgs};

#[derive(Debug, Clone, clap::Args)]
pub struct ReportBenchArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub ledger: LedgerArgs,
    /// The fund (id or name; default: the demo fund `fundtrail seed-demo` created).
    #[arg(long)]
    pub fund: Option<String>,
    /// Warm requests per report.
    #[arg(long, default_value_t = 100)]
    pub requests: u32,
    /// Requests of the baseline (each sums every entry).
    #[arg(long, default_value_t = 10)]
    pub baseline_requests: u32,
}

struct Timed {
    what: String,
    cold_ms: Option<f64>,
    ms: Vec<f64>,
}

impl Timed {
    fn pct(&self, p: f64) -> f64 {
        let i = ((self.ms.len() as f64) * p).floor() as usize;
        self.ms
            .get(i.min(self.ms.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    }
}

async fn time(
    client: &reqwest::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<(f64, serde_json::Value)> {
    let started = Instant::now();
    let resp = client.get(url).bearer_auth(token).send().await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    anyhow::ensure!(status.is_success(), "{url}: {status} {body}");
    Ok((started.elapsed().as_secs_f64() * 1_000.0, body))
}

pub fn run(args: &ReportBenchArgs) -> anyhow::Result<()> {
    let BenchApp {
        database,
        fund,
        state,
        auth,
        token,
    } = bench_app(
        &args.db,
        &args.ledger,
        args.fund.as_deref(),
        AppSettings::default(),
    )?;
    let baseline = bench_app(
        &args.db,
        &args.ledger,
        Some(&fund.to_string()),
        AppSettings {
            report_block_entries: i64::MAX,
            ..AppSettings::default()
        },
    )?;
    let requests = args.requests.max(1);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let system = actix_web::rt::System::new();
    let pool = state.pool.clone();
    let (results, size) = system.block_on(async move {
        let c = client.clone();
        let tok = token.clone();
        let (size, mut results) = serving(state, auth, |base| async move {
            let mut results = Vec::new();
            let statement = format!("{base}/api/v1/funds/{fund}/reports/statement");
            // Cold: drop the fund's block sums (a cache) so the first report sums them.
            diesel::delete(
                crate::schema::report_blocks::table
                    .filter(crate::schema::report_blocks::fund_id.eq(fund)),
            )
            .execute(&mut **pool.get()?)?;
            let (cold, body) = time(&c, &statement, &tok).await?;
            let size = body
                .pointer("/checkpoints/fund/tree_size")
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            let donor = body
                .pointer("/sources/donors/0/donor/id")
                .and_then(|v| v.as_str())
                .context("the fund has no donor")?
                .to_owned();
            let urls = [
                ("statement", statement.clone()),
                (
                    "statement, one quarter, in NOK",
                    format!("{statement}?from=2026-07-01&to=2026-09-30&currency=NOK"),
                ),
                (
                    "donor report",
                    format!("{base}/api/v1/funds/{fund}/reports/donors/{donor}"),
                ),
                (
                    "donor report, from July",
                    format!("{base}/api/v1/funds/{fund}/reports/donors/{donor}?from=2026-07-01"),
                ),
                (
                    "series (spent by category, monthly)",
                    format!(
                        "{base}/api/v1/funds/{fund}/series?metric=spent&by=month&group=category"
                    ),
                ),
            ];
            for (i, (what, url)) in urls.iter().enumerate() {
                let mut t = Timed {
                    what: (*what).to_owned(),
                    cold_ms: (i == 0).then_some(cold),
                    ms: Vec::new(),
                };
                for _ in 0..requests {
                    t.ms.push(time(&c, url, &tok).await?.0);
                }
                t.ms.sort_by(f64::total_cmp);
                eprintln!("bench: {what}: p50 {:.1} ms", t.pct(0.5));
                results.push(t);
            }
            Ok((size, results))
        })
        .await?;
        let base_tok = baseline.token.clone();
        let runs = args.baseline_requests.max(1);
        let base = serving(
            baseline.state.clone(),
            baseline.auth.clone(),
            |base| async move {
                let url = format!("{base}/api/v1/funds/{fund}/reports/statement");
                let mut t = Timed {
                    what: "baseline: statement summing every entry".to_owned(),
                    cold_ms: None,
                    ms: Vec::new(),
                };
                for _ in 0..runs {
                    t.ms.push(time(&client, &url, &base_tok).await?.0);
                }
                t.ms.sort_by(f64::total_cmp);
                Ok(t)
            },
        )
        .await?;
        results.push(base);
        Ok::<_, anyhow::Error>((results, size))
    })?;
    drop(database);
    println!("Fund {fund}: {size} entries at the checkpoint.\n");
    println!("| report | requests | cold (sums every sealed block) | p50 | p95 | max |");
    println!("|---|---|---|---|---|---|");
    for t in &results {
        println!(
            "| {} | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
            t.what,
            t.ms.len(),
            t.cold_ms
                .map(|c| format!("{c:.0} ms"))
                .unwrap_or_else(|| "-".to_owned()),
            t.pct(0.5),
            t.pct(0.95),
            t.ms.last().copied().unwrap_or(0.0)
        );
    }
    Ok(())
}
