//! `fundtrail bench ledger`: the ledger's performance against raw Postgres baselines
//! measured in the same run, on the same machine and database (docs/benchmarks.md).
//!
//! It creates a throw-away database in the configured server (or the private cluster),
//! serves the real application in-process on a loopback port, drives it over HTTP, runs
//! pgbench/psql for the baselines, and prints a table. Statistics use floats; money never
//! appears here.
#![allow(clippy::as_conversions)] // u64 -> f64 for rates and percentiles only

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use anyhow::{bail, Context};
use diesel::{Connection, PgConnection};
use rand::Rng;
use serde_json::json;

use crate::config::{AppSettings, DbArgs, PoolSettings};
use crate::ledger::note::SigningKey;
use crate::ledger::Ledger;
use crate::state::AppState;

use super::{percentile, pg_bin, rate, sql, with_database};

#[derive(Debug, Clone, clap::Args)]
pub struct LedgerBenchArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Entries in the chain used for verification and proofs.
    #[arg(long, default_value_t = 1_000_000)]
    pub entries: u64,
    /// Concurrent HTTP clients for single-entry appends.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// pgbench clients for the single-row INSERT baseline.
    #[arg(long, default_value_t = 16)]
    pub baseline_clients: usize,
    /// Seconds each throughput phase runs.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Keep the benchmark database afterwards.
    #[arg(long)]
    pub keep: bool,
    /// With --separate-server, the verification and proofs still run in the bench
    /// process (they call the ledger directly, not over HTTP).
    #[command(flatten)]
    pub server: super::server::ServerArgs,
}

/// A canonical-sized body like a real payment entry, as JSON text.
///
/// The load generator writes request bodies as text, as pgbench sends a fixed script:
/// building a `serde_json::Value` per request spent the bench process's CPU (shared with
/// the server on the same machine) on the client's side of the measurement.
fn body(i: u64) -> String {
    format!(
        r#"{{"amount":{{"value":"{}.{:02}","currency":"EUR"}},"vendor":"vendor-{}","invoice":"INV-{i:08}","contract":"c4f1e9b2-5a77-4d0e-9f3a-2b6c8d1e0a55","ministry":"Ministry of Interior","description":"Radio equipment for district police stations, second tranche"}}"#,
        1000 + i % 90_000,
        i % 100,
        i % 997
    )
}

/// One entry of a request, as JSON text (`key`: the batch form's idempotency key).
fn entry_json(i: u64, key: Option<&str>) -> String {
    let key = key
        .map(|k| format!(r#""idempotency_key":"{k}","#))
        .unwrap_or_default();
    format!(
        r#"{{"kind":"payment","business_date":"2026-01-15",{key}"body":{}}}"#,
        body(i)
    )
}

struct Row {
    name: &'static str,
    ours: String,
    baseline: String,
    ratio: String,
    target: &'static str,
}

pub fn run_ledger(args: &LedgerBenchArgs) -> anyhow::Result<()> {
    in_throwaway_database(&args.db, args.keep, |url| run_in(url, args))
}

/// Runs `bench` in a throw-away database (`fundtrail_bench_<timestamp>`) of the configured
/// server or the private cluster, dropped afterwards unless `keep`.
pub(crate) fn in_throwaway_database(
    db: &DbArgs,
    keep: bool,
    bench: impl FnOnce(&str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let database = crate::startup::resolve_database(db)?;
    let bench_db = format!(
        "fundtrail_bench_{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S")
    );
    let maintenance = match &database.embedded {
        Some(cluster) => cluster.url_for("postgres"),
        None => database.url.clone(),
    };
    let mut admin = PgConnection::establish(&maintenance)
        .context("connecting to create the benchmark database")?;
    sql(&mut admin, &format!("CREATE DATABASE {bench_db}"))?;
    let url = with_database(&maintenance, &bench_db)?;
    eprintln!("bench: database {bench_db}");
    let result = bench(&url);
    if !keep {
        let _ = sql(
            &mut admin,
            &format!("DROP DATABASE IF EXISTS {bench_db} WITH (FORCE)"),
        );
    }
    drop(database);
    result
}

/// The raw-Postgres baselines of a run: pgbench single-row INSERTs per second and rows
/// per second of 100-row INSERTs.
pub(crate) struct Baselines {
    pub single: f64,
    pub batch: f64,
}

/// Measures the baselines on `raw`'s database: `bench_raw`, a table shaped like the
/// ledger's entries, filled by pgbench (`single_clients` clients of single-row INSERTs,
/// then `batch_clients` of 100-row INSERTs), `seconds` each.
pub(crate) fn baselines(
    url: &str,
    raw: &mut PgConnection,
    single_clients: usize,
    batch_clients: usize,
    seconds: u64,
) -> anyhow::Result<Baselines> {
    sql(
        raw,
        "CREATE TABLE bench_raw (chain_id uuid NOT NULL, seq bigserial, kind text NOT NULL, business_date date NOT NULL, \
         recorded_at timestamptz NOT NULL, idempotency_key text NOT NULL, canonical text NOT NULL, \
         prev_hash bytea NOT NULL, entry_hash bytea NOT NULL, PRIMARY KEY (chain_id, seq), UNIQUE (chain_id, idempotency_key))",
    )?;
    let canonical_example = body(12345).replace('\'', "''");
    let tmp = std::env::temp_dir().join(format!("fundtrail-baselines-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;

    // Baseline A: single-row INSERTs, pgbench, N clients.
    let single = tmp.join("single.sql");
    std::fs::write(
        &single,
        format!(
            "INSERT INTO bench_raw (chain_id, kind, business_date, recorded_at, idempotency_key, canonical, prev_hash, entry_hash) \
             VALUES ('6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10', 'payment', current_date, now(), md5(random()::text), \
             '{{\"v\":1,\"body\":{canonical_example}}}', sha256(random()::text::bytea), sha256(random()::text::bytea));\n"
        ),
    )?;
    let tps_single = pgbench(url, &single, single_clients, seconds)?;
    eprintln!("bench: baseline single-row INSERT {tps_single:.0}/s");

    // Baseline B: 100-row INSERT batches.
    let batch = tmp.join("batch.sql");
    std::fs::write(
        &batch,
        format!(
            "INSERT INTO bench_raw (chain_id, kind, business_date, recorded_at, idempotency_key, canonical, prev_hash, entry_hash) \
             SELECT '6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e11', 'payment', current_date, now(), md5(random()::text), \
             '{{\"v\":1,\"body\":{canonical_example}}}', sha256(random()::text::bytea), sha256(random()::text::bytea) FROM generate_series(1, 100);\n"
        ),
    )?;
    let tps_batch = pgbench(url, &batch, batch_clients, seconds)? * 100.0;
    eprintln!("bench: baseline 100-row INSERT batches {tps_batch:.0} rows/s");
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(Baselines {
        single: tps_single,
        batch: tps_batch,
    })
}

/// The log name of a benchmark's ledger (and of its signing key).
pub(super) const LOG_NAME: &str = "bench.fundtrail";
/// Connections of a benchmark's service pool.
pub(super) const POOL_SIZE: u32 = 24;

/// What a benchmark serves through: the migrated database's service pool, a throwaway
/// signing key, the ledger, token keys and the shared state, as `serve` builds them.
pub(super) struct Service {
    pub pool: crate::db::PgPool,
    pub signer: SigningKey,
    pub ledger: Arc<Ledger>,
    /// The JWT keys file's text (`<kid> <base64 secret>`), for a separate server.
    pub jwt_keys: String,
    pub auth: web::Data<crate::auth::Auth>,
    pub state: web::Data<AppState>,
}

/// Migrates the database at `url` and builds the service over it.
pub(super) fn service(url: &str) -> anyhow::Result<Service> {
    crate::db::migrate_url(url)?;
    let pool = crate::db::build_pool(
        &crate::db::service_login_url(url, "fundtrail_app")?,
        &PoolSettings {
            max_size: POOL_SIZE,
            ..PoolSettings::default()
        },
    )?;
    let signer = SigningKey::generate(LOG_NAME).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ledger = Arc::new(Ledger::new(
        pool.clone(),
        signer.clone(),
        LOG_NAME,
        Ledger::system_clock(),
    ));
    let jwt_keys = crate::auth::jwt::JwtKeys::generate_line();
    let auth = web::Data::new(crate::auth::Auth::new(
        crate::auth::jwt::JwtKeys::parse(&jwt_keys)?,
        crate::auth::session::SessionSettings::default(),
    ));
    let state = web::Data::new(AppState::new(
        pool.clone(),
        AppSettings::default(),
        ledger.clone(),
    )?);
    Ok(Service {
        pool,
        signer,
        ledger,
        jwt_keys,
        auth,
        state,
    })
}

fn run_in(url: &str, args: &LedgerBenchArgs) -> anyhow::Result<()> {
    let service = service(url)?;
    let Service {
        pool,
        signer,
        ledger,
        auth,
        ..
    } = &service;
    // The benchmark acts as an administrator (generic chains are admin-written), a
    // recorded user with the role granted, as the service checks.
    let operator = super::funds::new_org(pool, "Bench Operator", "operator")?;
    let bearer = super::funds::user(pool, auth, operator, "admin")?;
    let mut rows: Vec<Row> = Vec::new();
    let mut raw = PgConnection::establish(url)?;
    let tmp = std::env::temp_dir().join(format!("fundtrail-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let batch_clients = 4;
    let Baselines {
        single: tps_single,
        batch: tps_batch,
    } = baselines(
        url,
        &mut raw,
        args.baseline_clients,
        batch_clients,
        args.seconds,
    )?;

    let system = actix_web::rt::System::new();
    let (http_single, lat_single, http_batch, fill, server_memory) = system.block_on(async {
        ledger
            .bootstrap()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let (base, mut server) = super::server::start(&args.server, url, &service).await?;

        let chain_a = create_chain(&base, &bearer).await?;
        let (n, lat, took) = drive_single(
            &base,
            &bearer,
            &chain_a,
            args.clients,
            Duration::from_secs(args.seconds),
        )
        .await?;
        server.phase("single appends");
        eprintln!("bench: HTTP single appends {:.0}/s", rate(n, took));
        let chain_b = create_chain(&base, &bearer).await?;
        let (nb, took_b) = drive_batches(
            &base,
            &bearer,
            std::slice::from_ref(&chain_b),
            batch_clients,
            100,
            Duration::from_secs(args.seconds),
            u64::MAX,
        )
        .await?;
        server.phase("batches on 1 chain");
        eprintln!(
            "bench: HTTP 100-entry batches {:.0} entries/s",
            rate(nb, took_b)
        );
        // The same load spread over one chain per client (funds are independent chains,
        // each with its own writer), as the baseline's clients share no ordering either.
        let mut spread = Vec::new();
        for _ in 0..batch_clients {
            spread.push(create_chain(&base, &bearer).await?);
        }
        let (ns, took_s) = drive_batches(
            &base,
            &bearer,
            &spread,
            batch_clients,
            100,
            Duration::from_secs(args.seconds),
            u64::MAX,
        )
        .await?;
        server.phase("batches on 1 chain per client");
        eprintln!(
            "bench: HTTP 100-entry batches over {batch_clients} chains {:.0} entries/s",
            rate(ns, took_s)
        );
        let chain_v = create_chain(&base, &bearer).await?;
        let (nv, took_v) = drive_batches(
            &base,
            &bearer,
            std::slice::from_ref(&chain_v),
            batch_clients,
            1_000,
            Duration::from_secs(24 * 3600),
            args.entries,
        )
        .await?;
        server.phase("fill");
        eprintln!("bench: filled {nv} entries at {:.0}/s", rate(nv, took_v));
        let server_memory = server.stop().await?;
        Ok::<_, anyhow::Error>((
            (n, took),
            lat,
            ((nb, took_b), (ns, took_s)),
            (chain_v, nv, took_v),
            server_memory,
        ))
    })?;
    let verifying_process = if server_memory.is_some() {
        "the bench process"
    } else {
        "the serving process"
    };
    let (n, took) = http_single;
    let mut lat = lat_single;
    lat.sort_unstable();
    rows.push(Row {
        name: "single appends over HTTP, 1 chain",
        ours: format!(
            "{:.0}/s ({} clients), p50 {:.1} ms, p99 {:.1} ms",
            rate(n, took),
            args.clients,
            percentile(&lat, 0.50),
            percentile(&lat, 0.99)
        ),
        baseline: format!(
            "{tps_single:.0}/s (pgbench single-row INSERT, {} clients)",
            args.baseline_clients
        ),
        ratio: format!("{:.2}", rate(n, took) / tps_single),
        target: ">= 1.00, p99 < 50 ms",
    });
    let ((nb, took_b), (ns, took_s)) = http_batch;
    for (name, n, took) in [
        ("100-entry batch appends over HTTP, 1 chain", nb, took_b),
        (
            "100-entry batch appends over HTTP, 1 chain per client",
            ns,
            took_s,
        ),
    ] {
        rows.push(Row {
            name,
            ours: format!("{:.0} entries/s ({batch_clients} clients)", rate(n, took)),
            baseline: format!(
                "{tps_batch:.0} rows/s (pgbench 100-row INSERT, {batch_clients} clients)"
            ),
            ratio: format!("{:.2}", rate(n, took) / tps_batch),
            target: ">= 0.50",
        });
    }
    let (chain_v, nv, took_v) = fill;
    rows.push(Row {
        name: "1,000-entry batch appends (fill)",
        ours: format!("{:.0} entries/s", rate(nv, took_v)),
        baseline: "-".to_owned(),
        ratio: "-".to_owned(),
        target: "-",
    });

    // Verification vs COPY of the same rows.
    sql(&mut raw, "VACUUM ANALYZE ledger_entries")?;
    let copy_started = Instant::now();
    let status = Command::new(pg_bin("psql"))
        .arg(url)
        .arg("-qAtc")
        .arg(format!(
            "COPY (SELECT seq, kind, business_date, recorded_at, idempotency_key, canonical, prev_hash, entry_hash \
             FROM ledger_entries WHERE chain_id = '{chain_v}' ORDER BY seq) TO STDOUT"
        ))
        .stdout(std::process::Stdio::null())
        .status()?;
    let copy_took = copy_started.elapsed();
    anyhow::ensure!(status.success(), "psql COPY failed");
    let chain_uuid: uuid::Uuid = chain_v.parse()?;
    // Reset the peak-RSS mark (Linux: 5 > clear_refs), so VmHWM afterwards is the peak of
    // the verification alone.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = vm_kib("VmRSS:");
    let verify_started = Instant::now();
    let mut conn = pool.get()?;
    let report = ledger
        .verify(&mut conn, chain_uuid)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let verify_took = verify_started.elapsed();
    anyhow::ensure!(
        report.ok && report.entries_checked == nv,
        "verification failed: {report:?}"
    );
    let hwm_after = vm_kib("VmHWM:");
    rows.push(Row {
        name: "full verification, server-side",
        ours: format!(
            "{:.0} entries/s ({nv} in {:.1} s), peak RSS growth {} MiB (in {verifying_process})",
            rate(nv, verify_took),
            verify_took.as_secs_f64(),
            hwm_after.saturating_sub(rss_before) / 1024
        ),
        baseline: format!(
            "{:.0} rows/s (psql COPY TO STDOUT, {:.1} s)",
            rate(nv, copy_took),
            copy_took.as_secs_f64()
        ),
        ratio: format!("{:.2}", rate(nv, verify_took) / rate(nv, copy_took)),
        target: ">= 0.50, < 100 MB",
    });

    // Offline verification of the export, in a child process to measure its peak memory.
    let export_path = tmp.join("export.jsonl");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&export_path)?);
        ledger
            .export(&mut conn, chain_uuid, &mut file)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        std::io::Write::flush(&mut file)?;
    }
    let key_path = tmp.join("keys.txt");
    std::fs::write(
        &key_path,
        format!("{}\n", signer.verifier().to_verifier_string()),
    )?;
    let (offline_took, offline_maxrss_kib) = offline_verify(&export_path, &key_path)?;
    rows.push(Row {
        name: "full verification, offline (`fundtrail verify`)",
        ours: format!(
            "{:.0} entries/s ({:.1} s), peak RSS {} MiB",
            rate(nv, offline_took),
            offline_took.as_secs_f64(),
            offline_maxrss_kib / 1024
        ),
        baseline: format!("{:.0} rows/s (psql COPY)", rate(nv, copy_took)),
        ratio: format!("{:.2}", rate(nv, offline_took) / rate(nv, copy_took)),
        target: ">= 0.50, < 100 MB",
    });

    // Proofs at full size, server-side (no HTTP), with the time of each phase.
    let (inc, cons) = time_proofs(ledger, &mut conn, chain_uuid, nv, 1_000)?;
    rows.push(Row {
        name: "inclusion proof at full size",
        ours: format!(
            "p50 {:.3} ms, p99 {:.3} ms",
            percentile(&inc, 0.5),
            percentile(&inc, 0.99)
        ),
        baseline: "-".to_owned(),
        ratio: "-".to_owned(),
        target: "< 1 ms",
    });
    rows.push(Row {
        name: "consistency proof at full size",
        ours: format!(
            "p50 {:.3} ms, p99 {:.3} ms",
            percentile(&cons, 0.5),
            percentile(&cons, 0.99)
        ),
        baseline: "-".to_owned(),
        ratio: "-".to_owned(),
        target: "< 1 ms",
    });
    let _ = std::fs::remove_dir_all(&tmp);
    if let Some(memory) = &server_memory {
        rows.push(Row {
            name: "server peak RSS (separate `fundtrail serve` process, HTTP phases)",
            ours: memory.summary(),
            baseline: "-".to_owned(),
            ratio: "-".to_owned(),
            target: "< 150 MB (143 MiB)",
        });
    }

    println!("| measurement | fundtrail | baseline (same run) | ratio | target |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.name, r.ours, r.baseline, r.ratio, r.target
        );
    }
    Ok(())
}

/// Proof phase totals at one instant (`ledger::phases::proof`).
/// Times `rounds` inclusion proofs (a random leaf, at `size`) and as many consistency
/// proofs (from a random smaller size to `size`) of `chain`, server-side, then prints the
/// mean time of each proof phase over them. The latencies (µs) come back sorted.
pub(crate) fn time_proofs(
    ledger: &Ledger,
    conn: &mut PgConnection,
    chain: uuid::Uuid,
    size: u64,
    rounds: usize,
) -> anyhow::Result<(Vec<u64>, Vec<u64>)> {
    let micros = |t: Instant| u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
    let mut rng = rand::thread_rng();
    let phases_before = proof_phases_now();
    let mut inc = Vec::with_capacity(rounds);
    let mut cons = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let seq = rng.gen_range(0..size);
        let t = Instant::now();
        ledger
            .inclusion(conn, chain, seq, Some(size))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        inc.push(micros(t));
        let from = rng.gen_range(1..size.max(2));
        let t = Instant::now();
        ledger
            .consistency(conn, chain, from, size)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        cons.push(micros(t));
    }
    inc.sort_unstable();
    cons.sort_unstable();
    for ((name, d0, n0), (_, d1, n1)) in phases_before.iter().zip(proof_phases_now()) {
        let runs = n1.saturating_sub(*n0);
        println!(
            "{name}: {runs} runs, mean {:.1} µs",
            d1.saturating_sub(*d0).as_secs_f64() * 1e6 / (runs.max(1) as f64)
        );
    }
    Ok((inc, cons))
}

pub(crate) fn proof_phases_now() -> Vec<(&'static str, std::time::Duration, u64)> {
    crate::ledger::phases::proof::ALL
        .iter()
        .map(|p| {
            let (d, n) = p.read();
            (p.name, d, n)
        })
        .collect()
}

pub(crate) fn vm_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| super::server::status_kib(&s, field))
        .unwrap_or(0)
}

fn pgbench(url: &str, script: &Path, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let out = Command::new(pg_bin("pgbench"))
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            "-f",
        ])
        .arg(script)
        .arg(url)
        .output()
        .context("running pgbench (Debian: apt-get install postgresql)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no tps in pgbench output: {text}"))
}

/// Runs the offline verifier as a child process; returns its run time and its peak
/// resident memory (VmHWM, polled from /proc while it runs: monotonic, so the last reading
/// is the peak up to within one polling interval).
pub(crate) fn offline_verify(export: &Path, keys: &Path) -> anyhow::Result<(Duration, u64)> {
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args(["verify", "--export"])
        .arg(export)
        .arg("--public-key")
        .arg(keys)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed();
    anyhow::ensure!(status.success(), "offline verification failed");
    Ok((took, peak_kib))
}

pub(crate) async fn create_chain(base: &str, bearer: &str) -> anyhow::Result<String> {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/chains"))
        .header("authorization", bearer)
        .json(&json!({}))
        .send()
        .await?
        .json()
        .await?;
    body.pointer("/chain/id")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .context("no chain id")
}

/// `clients` tasks each appending one entry at a time until `duration` passes.
pub(crate) async fn drive_single(
    base: &str,
    bearer: &str,
    chain: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<(u64, Vec<u64>, Duration)> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let url = format!("{base}/chains/{chain}/entries");
        let bearer = bearer.to_owned();
        tasks.push(actix_web::rt::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?;
            let mut lat = Vec::new();
            let mut i: u64 = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                let res = client
                    .post(&url)
                    .header("authorization", &bearer)
                    .header("idempotency-key", format!("s{c}-{i}"))
                    .header("content-type", "application/json")
                    .body(entry_json(i, None))
                    .send()
                    .await?;
                anyhow::ensure!(
                    res.status().as_u16() == 201,
                    "append answered {}",
                    res.status()
                );
                // Read the receipt, as a client keeping proof would (and to reuse the connection).
                res.bytes().await?;
                lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                i += 1;
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((u64::try_from(all.len())?, all, started.elapsed()))
}

/// `clients` tasks appending batches of `size` until `duration` passes or `total` entries;
/// client `c` appends to `chains[c % chains.len()]`.
pub(crate) async fn drive_batches(
    base: &str,
    bearer: &str,
    chains: &[String],
    clients: usize,
    size: u64,
    duration: Duration,
    total: u64,
) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let deadline = started + duration;
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let chain = chains
            .get(c % chains.len().max(1))
            .context("no chain to append to")?;
        let url = format!("{base}/chains/{chain}/entries/batch");
        let next = next.clone();
        let bearer = bearer.to_owned();
        tasks.push(actix_web::rt::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()?;
            let mut done = 0u64;
            while Instant::now() < deadline {
                let start = next.fetch_add(size, std::sync::atomic::Ordering::Relaxed);
                if start >= total {
                    break;
                }
                let end = start.saturating_add(size).min(total);
                let entries: Vec<String> = (start..end)
                    .map(|i| entry_json(i, Some(&format!("b{i}"))))
                    .collect();
                let res = client
                    .post(&url)
                    .header("authorization", &bearer)
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"entries":[{}]}}"#, entries.join(",")))
                    .send()
                    .await?;
                anyhow::ensure!(
                    res.status().as_u16() == 201,
                    "batch answered {}",
                    res.status()
                );
                res.bytes().await?;
                done += end - start;
            }
            Ok::<_, anyhow::Error>(done)
        }));
    }
    let mut n = 0;
    for t in tasks {
        n += t.await??;
    }
    Ok((n, started.elapsed()))
}
