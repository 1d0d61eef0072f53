//! `fundtrail bench replica`: report requests per second on the primary alone and with a
//! streaming replica answering the read side (docs/benchmarks.md, "Read side"). It serves
//! the real application in-process on a loopback port twice over the same database, once
//! without and once with `--read-database-url`, and drives `--clients` concurrent clients
//! for `--seconds` each over the fund's statement pinned at its latest checkpoint (no
//! `If-None-Match`: every request computes the statement) as the demo treasurer. The
//! primary alone is the baseline of the same run.
#![allow(clippy::as_conversions)] // counts and durations to f64 for rates only

use std::time::{Duration, Instant};

use anyhow::Context;

use super::exports::serving;
use crate::config::{AppSettings, DbArgs, LedgerArgs, ReadArgs};
use crate::state::AppState;

#[derive(Debug, Clone, clap::Args)]
pub struct ReplicaBenchArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    /// The signing key of the seeded ledger (default: the data directory's), trusted by
    /// the reports' pins.
    #[command(flatten)]
    pub ledger: LedgerArgs,
    /// The fund (id or name; default: the demo fund `fundtrail seed-demo` created).
    #[arg(long)]
    pub fund: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub clients: u32,
    /// Seconds each configuration is driven for, per round.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Rounds; each drives the primary alone, then the primary with the replica.
    #[arg(long, default_value_t = 2)]
    pub rounds: u32,
}

struct Run {
    what: &'static str,
    requests: u64,
    elapsed: Duration,
    sorted_us: Vec<u64>,
    by_replica: u64,
}

/// `clients` clients GET `url` until `for_how_long` has passed: every latency, in µs.
async fn drive(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    clients: u32,
    for_how_long: Duration,
) -> anyhow::Result<(Vec<u64>, Duration)> {
    let started = Instant::now();
    let deadline = started + for_how_long;
    let one = |client: reqwest::Client| async move {
        let mut us = Vec::new();
        while Instant::now() < deadline {
            let t = Instant::now();
            let resp = client.get(url).bearer_auth(token).send().await?;
            let status = resp.status();
            let body = resp.bytes().await?;
            anyhow::ensure!(
                status.is_success(),
                "{url}: {status} {}",
                String::from_utf8_lossy(&body)
            );
            us.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
        Ok::<_, anyhow::Error>(us)
    };
    let all =
        futures_util::future::join_all((0..clients.max(1)).map(|_| one(client.clone()))).await;
    let mut us = Vec::new();
    for r in all {
        us.extend(r?);
    }
    us.sort_unstable();
    Ok((us, started.elapsed()))
}

fn replica_reads(state: &AppState) -> anyhow::Result<u64> {
    let text = state.metrics.render(&state.pool)?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("fundtrail_pinned_reads_total{served_by=\"replica\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0))
}

pub fn run(args: &ReplicaBenchArgs) -> anyhow::Result<()> {
    let (database, pool, ledger) = crate::startup::open_ledger(&args.db, &args.ledger)?;
    let fund = crate::startup::find_fund(
        &mut *pool.get()?,
        args.fund.as_deref().unwrap_or(crate::seed::DEMO_FUND),
    )?
    .id;
    let replica = crate::startup::replica(&args.db, &args.read)?
        .context("give the replica: --read-database-url (FUNDTRAIL_READ_DATABASE_URL)")?;
    let state = actix_web::web::Data::new(AppState::new(
        pool.clone(),
        AppSettings::default(),
        ledger.clone(),
    )?);
    let replicated = actix_web::web::Data::new(
        AppState::new(pool, AppSettings::default(), ledger)?.with_replica(replica),
    );
    let auth = actix_web::web::Data::new(crate::auth::Auth::new(
        crate::auth::jwt::JwtKeys::parse(&crate::auth::jwt::JwtKeys::generate_line())?,
        crate::auth::session::SessionSettings::default(),
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .pool_max_idle_per_host(usize::try_from(args.clients).unwrap_or(16))
        .build()?;
    let (clients, seconds) = (
        args.clients.max(1),
        Duration::from_secs(args.seconds.max(1)),
    );
    let rounds = args.rounds.max(1);
    let system = actix_web::rt::System::new();
    let (size, runs) = system.block_on(async move {
        let mut runs = Vec::new();
        let mut size = 0;
        // Alternated, so that neither configuration alone profits from a warmer machine.
        let configurations = [
            ("primary alone", state.clone()),
            ("primary + replica", replicated.clone()),
        ];
        for (what, st) in (0..rounds).flat_map(|_| configurations.iter().cloned()) {
            let c = client.clone();
            let counted = st.clone();
            let (n, us, elapsed, by_replica) =
                serving(st.clone(), auth.clone(), |base| async move {
                    let login: serde_json::Value = c
                        .post(format!("{base}/api/v1/auth/login"))
                        .json(&serde_json::json!({"email": "treasurer@demo.fundtrail",
                                              "password": crate::seed::DEMO_PASSWORD}))
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    let tok = login
                        .get("access_token")
                        .and_then(serde_json::Value::as_str)
                        .context("the demo treasurer cannot log in: run `fundtrail seed-demo`")?
                        .to_owned();
                    let latest = format!("{base}/api/v1/funds/{fund}/reports/statement");
                    let body: serde_json::Value = c
                        .get(&latest)
                        .bearer_auth(&tok)
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    let n = body
                        .pointer("/checkpoints/fund/tree_size")
                        .and_then(serde_json::Value::as_u64)
                        .context("the statement names no checkpoint")?;
                    let url = format!("{latest}?at_size={n}");
                    let before = replica_reads(&counted)?;
                    let (us, elapsed) = drive(&c, &url, &tok, clients, seconds).await?;
                    let by_replica = replica_reads(&counted)?.saturating_sub(before);
                    Ok((n, us, elapsed, by_replica))
                })
                .await?;
            size = n;
            eprintln!("bench: {what}: {} requests in {elapsed:?}", us.len());
            runs.push(Run {
                what,
                requests: u64::try_from(us.len()).unwrap_or(u64::MAX),
                elapsed,
                sorted_us: us,
                by_replica,
            });
        }
        Ok::<_, anyhow::Error>((size, runs))
    })?;
    drop(database);
    println!(
        "Fund {fund}: statement at the checkpoint of size {size}, {clients} clients, {} s per \
         configuration and round, {rounds} rounds.\n",
        seconds.as_secs()
    );
    println!(
        "| round | configuration | requests | requests/s (× the primary alone) | p50 | p99 | answered by the replica |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut base = None;
    for (i, r) in runs.iter().enumerate() {
        let rps = super::rate(r.requests, r.elapsed);
        if i % 2 == 0 {
            base = Some(rps);
        }
        let ratio = base
            .filter(|b| *b > 0.0)
            .map(|b| format!(" ({:.2}×)", rps / b))
            .unwrap_or_default();
        println!(
            "| {} | {} | {} | {rps:.0}{ratio} | {:.1} ms | {:.1} ms | {} |",
            i / 2 + 1,
            r.what,
            r.requests,
            super::percentile(&r.sorted_us, 0.50),
            super::percentile(&r.sorted_us, 0.99),
            r.by_replica
        );
    }
    Ok(())
}
