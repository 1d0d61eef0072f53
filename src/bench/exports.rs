//! `fundtrail bench exports`: times the three standard exports of a seeded fund over
//! HTTP (docs/benchmarks.md, "Exports"). It serves the real application in-process on a
//! loopback port, downloads each export as an administrator (reading the body as it
//! streams, keeping nothing), and reports entries per second (the pinned checkpoint's
//! size over the wall time of the whole response) and the process's peak RSS during
//! each download (Linux: the peak is reset through `/proc/self/clear_refs` before each).
#![allow(clippy::as_conversions)] // u64 -> f64 for rates only

use std::time::{Duration, Instant};

use actix_web::{web, HttpServer};
use anyhow::Context;
use uuid::Uuid;

use crate::app;
use crate::config::{AppSettings, DbArgs, LedgerArgs};
use crate::state::AppState;

#[derive(Debug, Clone, clap::Args)]
pub struct ExportBenchArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub ledger: LedgerArgs,
    /// The fund to export (id or name; default: the demo fund `fundtrail seed-demo` created).
    #[arg(long)]
    pub fund: Option<String>,
    /// Downloads of each export (the table shows the fastest and the median).
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
}

/// `VmHWM` or `VmRSS` of this process, in KiB.
fn status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resets the peak RSS to the current RSS (Linux 4.0+).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct Measured {
    what: &'static str,
    entries: u64,
    bytes: u64,
    seconds: Vec<f64>,
    peak_kib: u64,
    base_kib: u64,
}

/// What an in-process benchmark of fund reads needs: the database (kept alive), the
/// fund, an application state over it and an administrator's token.
pub struct BenchApp {
    pub database: crate::startup::Database,
    pub fund: Uuid,
    pub state: web::Data<AppState>,
    pub auth: web::Data<crate::auth::Auth>,
    pub token: String,
}

/// The administrator `seed-demo` creates.
const ADMIN_EMAIL: &str = "admin@demo.fundtrail";

/// Opens the database of `db` and the ledger as `serve` does (the signing key and trusted
/// keys of `ledger`'s data dir, so the chain's checkpoints are vouched for), finds `fund`
/// (default: the demo fund) and builds the application state with `settings`.
pub fn bench_app(
    db: &DbArgs,
    ledger: &LedgerArgs,
    fund: Option<&str>,
    settings: AppSettings,
) -> anyhow::Result<BenchApp> {
    let (database, pool, ledger) = crate::startup::open_ledger(db, ledger)?;
    let fund = match fund {
        Some(f) => crate::startup::find_fund(&mut *pool.get()?, f)?.id,
        None => {
            crate::startup::find_fund(&mut *pool.get()?, crate::seed::DEMO_FUND)
                .context("no demo fund in this database: run `fundtrail seed-demo` or pass --fund")?
                .id
        }
    };
    let auth = web::Data::new(crate::auth::Auth::new(
        crate::auth::jwt::JwtKeys::parse(&crate::auth::jwt::JwtKeys::generate_line())?,
        crate::auth::session::SessionSettings::default(),
    ));
    // A token of the demo's administrator: the service accepts a token only while its
    // user, organisation and role are active, and the benchmark writes no user of its own
    // into a database it does not throw away.
    let admin = crate::auth::store::active_user_by_email(&mut *pool.get()?, ADMIN_EMAIL)?
        .with_context(|| {
            format!("no active {ADMIN_EMAIL} in this database: run `fundtrail seed-demo`")
        })?;
    let state = web::Data::new(AppState::new(pool, settings, ledger)?);
    let (token, _) = auth
        .keys
        .issue(
            admin.id,
            admin.org_id,
            "admin",
            chrono::Utc::now(),
            chrono::Duration::hours(24),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(BenchApp {
        database,
        fund,
        state,
        auth,
        token,
    })
}

/// Serves `state` on a loopback port (one worker) and runs `f` against its base URL.
pub async fn serving<F, Fut, T>(
    state: web::Data<AppState>,
    auth: web::Data<crate::auth::Auth>,
    f: F,
) -> anyhow::Result<T>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let st = state.clone();
    let server = HttpServer::new(move || app::build(st.clone(), auth.clone()))
        .workers(1)
        .bind(("127.0.0.1", 0))?;
    let addr = *server.addrs().first().context("no bound address")?;
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let out = f(format!("http://{addr}")).await;
    handle.stop(true).await;
    out
}

pub fn run(args: &ExportBenchArgs) -> anyhow::Result<()> {
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
    let runs = args.runs.max(1);
    let system = actix_web::rt::System::new();
    let results = system.block_on(serving(state, auth, |base| async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3_600))
            .build()?;
        let mut results = Vec::new();
        for what in ["entries.csv", "iati.xml", "ocds.json"] {
            let url = format!("{base}/api/v1/funds/{fund}/exports/{what}");
            let mut m = Measured {
                what,
                entries: 0,
                bytes: 0,
                seconds: Vec::new(),
                peak_kib: 0,
                base_kib: 0,
            };
            for _ in 0..runs {
                reset_peak();
                m.base_kib = m.base_kib.max(status_kib("VmRSS:").unwrap_or(0));
                let started = Instant::now();
                let mut resp = client.get(&url).bearer_auth(&token).send().await?;
                anyhow::ensure!(resp.status().is_success(), "{what}: {}", resp.status());
                m.entries = resp
                    .headers()
                    .get("fundtrail-checkpoint-size")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .context("no checkpoint size header")?;
                let mut bytes = 0_u64;
                while let Some(chunk) = resp.chunk().await? {
                    bytes += chunk.len() as u64;
                }
                m.seconds.push(started.elapsed().as_secs_f64());
                m.bytes = bytes;
                m.peak_kib = m.peak_kib.max(status_kib("VmHWM:").unwrap_or(0));
                eprintln!(
                    "bench: {what} {} entries, {bytes} bytes in {:.2} s",
                    m.entries,
                    m.seconds.last().copied().unwrap_or(0.0)
                );
            }
            results.push(m);
        }
        Ok::<_, anyhow::Error>(results)
    }))?;
    drop(database);
    println!("| export | entries | bytes | fastest | median | entries/s (fastest) | peak RSS | RSS before |");
    println!("|---|---|---|---|---|---|---|---|");
    for mut m in results {
        m.seconds.sort_by(f64::total_cmp);
        let fastest = m.seconds.first().copied().unwrap_or(0.0);
        let median = m.seconds.get(m.seconds.len() / 2).copied().unwrap_or(0.0);
        println!(
            "| {} | {} | {} | {fastest:.2} s | {median:.2} s | {:.0} | {} MiB | {} MiB |",
            m.what,
            m.entries,
            m.bytes,
            m.entries as f64 / fastest.max(1e-9),
            m.peak_kib / 1024,
            m.base_kib / 1024
        );
    }
    Ok(())
}
