//! `fundtrail bench funds`: the product's real writes — typed fund entries with their
//! invariants, derived state and per-entry screening — over HTTP on one fund, against
//! pgbench baselines measured in the same run, with the generic appends beside them
//! (docs/benchmarks.md, "Typed fund entries over HTTP").
//!
//! The workload: a treasurer's disbursements against an allocation and a ministry's
//! invoices, each followed by its payment, against a contract, from `--clients` clients at
//! once on one fund; then 100-entry batches of disbursements and of invoices. Each typed
//! phase runs twice, with the jobs of a group applied one after the other without a
//! savepoint each and their flags written at the group's end (as the service runs), and
//! with a savepoint and the flags' insert per job (`ledger::writer::UNSAVED` off), so one
//! run shows what that saves. Where the time goes is read from `ledger::phases` before and
//! after each phase. With `--separate-server` the server is a `fundtrail serve` child
//! (`bench::server`) whose peak memory per phase is reported apart from the bench's; only
//! the service's own mode runs then, and the phases, counted in the serving process, are
//! not read.
#![allow(clippy::as_conversions)] // u64 -> f64 for rates and percentiles only

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::prelude::*;
use diesel::PgConnection;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::store as auth_store;
use crate::config::DbArgs;
use crate::ledger::phases::Phase;
use crate::ledger::Ledger;

use super::ledger::{self as ledger_bench, Baselines};
use super::server::ServerArgs;
use super::{percentile, rate};

#[derive(Debug, Clone, clap::Args)]
pub struct FundsBenchArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Concurrent HTTP clients for single typed entries (and single generic appends).
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
    /// With --separate-server, only the service's own mode runs (no savepoint per job:
    /// the mode is a switch of the serving process), and the writer's phases, read inside
    /// the serving process, are not printed.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Clients of the 100-entry batch phases (as `bench ledger` and its pgbench baseline).
const BATCH_CLIENTS: usize = 4;
const BATCH_SIZE: u64 = 100;

/// The fund and who writes to it.
struct World {
    base: String,
    fund: Uuid,
    vendor: Uuid,
    allocation: u64,
    contract: u64,
    treasurer: String,
    ministry: String,
    admin: String,
}

pub fn run(args: &FundsBenchArgs) -> anyhow::Result<()> {
    ledger_bench::in_throwaway_database(&args.db, args.keep, |url| run_in(url, args))
}

/// Phase totals at one instant (`ledger::phases`).
fn phases_now() -> Vec<(&'static str, Duration, u64)> {
    let all: Vec<&Phase> = crate::ledger::phases::writer::ALL
        .iter()
        .chain(crate::entries::effect::phases::ALL.iter())
        .copied()
        .collect();
    all.into_iter()
        .map(|p| {
            let (d, n) = p.read();
            (p.name, d, n)
        })
        .collect()
}

/// The phases' time between two readings, per typed entry appended meanwhile.
fn phase_table(
    title: &str,
    before: &[(&'static str, Duration, u64)],
    entries: u64,
    took: Duration,
) -> String {
    let mut out = format!(
        "\n{title}: {entries} entries in {:.1} s\n\n| phase | total ms | runs | µs per entry |\n|---|---|---|---|\n",
        took.as_secs_f64()
    );
    for ((name, d0, n0), (_, d1, n1)) in before.iter().zip(phases_now()) {
        let d = d1.saturating_sub(*d0);
        out.push_str(&format!(
            "| {name} | {:.0} | {} | {:.0} |\n",
            d.as_secs_f64() * 1e3,
            n1.saturating_sub(*n0),
            d.as_secs_f64() * 1e6 / entries.max(1) as f64
        ));
    }
    out
}

fn run_in(url: &str, args: &FundsBenchArgs) -> anyhow::Result<()> {
    let service = ledger_bench::service(url)?;
    let (pool, ledger, auth) = (&service.pool, &service.ledger, &service.auth);
    let separate = args.server.separate_server;
    let mut raw = PgConnection::establish(url)?;
    let Baselines {
        single: tps_single,
        batch: tps_batch,
    } = ledger_bench::baselines(
        url,
        &mut raw,
        args.baseline_clients,
        BATCH_CLIENTS,
        args.seconds,
    )?;
    let rss_start_kib = ledger_bench::vm_kib("VmRSS:");

    let system = actix_web::rt::System::new();
    let measured = system.block_on(async {
        let (base, mut server) = super::server::start(&args.server, url, &service).await?;

        // Each typed phase twice: a savepoint and the flags' insert per job
        // (`ledger::writer::UNSAVED` off: how a group of typed jobs was written before),
        // and without (as the service runs). A separate server runs as the service runs.
        let mut typed = Vec::new();
        let modes: &[(&str, bool)] = if separate {
            &[("no savepoint per job", true)]
        } else {
            &[
                ("a savepoint per job", false),
                ("no savepoint per job", true),
            ]
        };
        // Each mode on a fund of its own, so that neither screens the other's history.
        let mut world_now = None;
        for &(mode, unsaved) in modes {
            let world = world(ledger, pool, auth, base.clone(), mode).await?;
            server.phase("setup");
            crate::ledger::writer::UNSAVED.store(unsaved, Ordering::Relaxed);
            let run = if unsaved { "u" } else { "s" };
            let before = phases_now();
            let (n, lat, took) =
                drive_typed_single(&world, run, args.clients, secs(args.seconds)).await?;
            server.phase("typed single");
            let single_phases =
                phase_table(&format!("typed single entries, {mode}"), &before, n, took);
            eprintln!(
                "bench: typed single entries, {mode}: {:.0}/s",
                rate(n, took)
            );
            let before = phases_now();
            let (nb, took_b) = drive_typed_batches(&world, run, secs(args.seconds)).await?;
            server.phase("typed batches");
            let batch_phases = phase_table(
                &format!("typed 100-entry batches, {mode}"),
                &before,
                nb,
                took_b,
            );
            eprintln!(
                "bench: typed 100-entry batches, {mode}: {:.0}/s",
                rate(nb, took_b)
            );
            let flagged = {
                use crate::schema::flags;
                flags::table
                    .filter(flags::fund_id.eq(world.fund))
                    .count()
                    .get_result::<i64>(&mut **pool.get()?)?
            };
            eprintln!(
                "bench: {mode}: {flagged} flags raised on {} typed entries",
                n + nb
            );
            typed.push((
                mode,
                (n, lat, took, single_phases),
                (nb, took_b, batch_phases),
            ));
            world_now = Some(world);
        }
        let world = world_now.context("no typed phase ran")?;
        crate::ledger::writer::UNSAVED.store(true, Ordering::Relaxed);

        // The generic rows, as `bench ledger` measures them.
        let chain = ledger_bench::create_chain(&world.base, &world.admin).await?;
        let (gn, glat, gtook) = ledger_bench::drive_single(
            &world.base,
            &world.admin,
            &chain,
            args.clients,
            secs(args.seconds),
        )
        .await?;
        server.phase("generic single");
        eprintln!("bench: generic single appends {:.0}/s", rate(gn, gtook));
        let chain_b = ledger_bench::create_chain(&world.base, &world.admin).await?;
        let (gnb, gtook_b) = ledger_bench::drive_batches(
            &world.base,
            &world.admin,
            std::slice::from_ref(&chain_b),
            BATCH_CLIENTS,
            BATCH_SIZE,
            secs(args.seconds),
            u64::MAX,
        )
        .await?;
        server.phase("generic batches");
        eprintln!(
            "bench: generic 100-entry batches {:.0}/s",
            rate(gnb, gtook_b)
        );
        let server_memory = server.stop().await?;
        Ok::<_, anyhow::Error>((typed, (gn, glat, gtook), (gnb, gtook_b), server_memory))
    })?;
    let rss_peak_kib = ledger_bench::vm_kib("VmHWM:");
    let (typed, (gn, mut glat, gtook), (gnb, gtook_b), server_memory) = measured;
    glat.sort_unstable();
    let single_base = format!(
        "{tps_single:.0}/s (pgbench single-row INSERT, {} clients)",
        args.baseline_clients
    );
    let batch_base =
        format!("{tps_batch:.0} rows/s (pgbench 100-row INSERT, {BATCH_CLIENTS} clients)");
    let mut rows = Vec::new();
    let mut phase_tables = String::new();
    for (mode, (n, mut lat, took, single_phases), (nb, took_b, batch_phases)) in typed {
        lat.sort_unstable();
        rows.push([
            format!("typed single entries over HTTP, 1 fund, screening on, {mode}"),
            format!(
                "{:.0}/s ({} clients), p50 {:.1} ms, p99 {:.1} ms",
                rate(n, took),
                args.clients,
                percentile(&lat, 0.50),
                percentile(&lat, 0.99)
            ),
            single_base.clone(),
            format!("{:.2}", rate(n, took) / tps_single),
            ">= 0.50, p99 < 50 ms".to_owned(),
        ]);
        rows.push([
            format!("typed 100-entry batches over HTTP, 1 fund, screening on, {mode}"),
            format!(
                "{:.0} entries/s ({BATCH_CLIENTS} clients)",
                rate(nb, took_b)
            ),
            batch_base.clone(),
            format!("{:.2}", rate(nb, took_b) / tps_batch),
            ">= 0.30".to_owned(),
        ]);
        phase_tables.push_str(&single_phases);
        phase_tables.push_str(&batch_phases);
    }
    rows.push([
        "generic single appends over HTTP, 1 chain".to_owned(),
        format!(
            "{:.0}/s ({} clients), p50 {:.1} ms, p99 {:.1} ms",
            rate(gn, gtook),
            args.clients,
            percentile(&glat, 0.50),
            percentile(&glat, 0.99)
        ),
        single_base,
        format!("{:.2}", rate(gn, gtook) / tps_single),
        ">= 1.00, p99 < 50 ms".to_owned(),
    ]);
    rows.push([
        "generic 100-entry batches over HTTP, 1 chain".to_owned(),
        format!(
            "{:.0} entries/s ({BATCH_CLIENTS} clients)",
            rate(gnb, gtook_b)
        ),
        batch_base,
        format!("{:.2}", rate(gnb, gtook_b) / tps_batch),
        ">= 0.50".to_owned(),
    ]);
    let bench_rss = format!(
        "{} MiB at start, peak {} MiB",
        rss_start_kib / 1024,
        rss_peak_kib / 1024
    );
    match server_memory {
        None => rows.push([
            "bench process RSS (server and clients)".to_owned(),
            bench_rss,
            "-".to_owned(),
            "-".to_owned(),
            "server < 150 MB".to_owned(),
        ]),
        Some(memory) => {
            rows.push([
                "server peak RSS (separate `fundtrail serve` process)".to_owned(),
                memory.summary(),
                "-".to_owned(),
                "-".to_owned(),
                "< 150 MB (143 MiB)".to_owned(),
            ]);
            rows.push([
                "bench process RSS (clients, setup, pgbench driver; server apart)".to_owned(),
                bench_rss,
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
            ]);
        }
    }
    println!("| measurement | fundtrail | baseline (same run) | ratio | target |");
    println!("|---|---|---|---|---|");
    for [a, b, c, d, e] in rows {
        println!("| {a} | {b} | {c} | {d} | {e} |");
    }
    if separate {
        println!(
            "\n(The writer's phases are counted inside the serving process: run without \
             --separate-server to see where its time goes.)"
        );
    } else {
        println!("{phase_tables}");
    }
    Ok(())
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Users of the bench, recorded directly (the database is thrown away): their token.
pub(super) fn user(
    pool: &crate::db::PgPool,
    auth: &crate::auth::Auth,
    org: Uuid,
    role: &str,
) -> anyhow::Result<String> {
    let id = Uuid::new_v4();
    let conn = &mut *pool.get()?;
    auth_store::insert_user(conn, id, org, &format!("{role}-{id}@bench.fundtrail"), "-")?;
    auth_store::insert_grant(conn, Uuid::new_v4(), id, role)?;
    let (token, _) = auth
        .keys
        .issue(
            id,
            org,
            role,
            chrono::Utc::now(),
            chrono::Duration::hours(24),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(format!("Bearer {token}"))
}

pub(super) fn new_org(pool: &crate::db::PgPool, name: &str, kind: &str) -> anyhow::Result<Uuid> {
    let id = Uuid::new_v4();
    auth_store::insert_org(&mut *pool.get()?, id, name, kind)?;
    Ok(id)
}

/// The fund, funded and with a contract to invoice: a contribution, an allocation to the
/// ministry with a first disbursement, and an open tender awarded and contracted.
async fn world(
    ledger: &Arc<Ledger>,
    pool: &crate::db::PgPool,
    auth: &crate::auth::Auth,
    base: String,
    name: &str,
) -> anyhow::Result<World> {
    let made = crate::seed::empty_fund(
        ledger,
        pool,
        &format!("Bench Fund ({name})"),
        "EUR",
        &format!("Ministry of Interior ({name})"),
    )
    .await?;
    let secretariat = auth_store::org_id_by_name(&mut *pool.get()?, "Fund Secretariat")?
        .context("the fund's secretariat")?;
    let donor = new_org(pool, &format!("Kingdom of Norway ({name})"), "donor")?;
    let vendor = new_org(pool, &format!("Alpha Radio ({name})"), "vendor")?;
    let other = new_org(pool, &format!("Beta Telecom ({name})"), "vendor")?;
    let operator = new_org(pool, &format!("Bench Operator ({name})"), "operator")?;
    let treasurer = user(pool, auth, secretariat, "treasurer")?;
    let ministry = user(pool, auth, made.ministry, "ministry")?;
    let admin = user(pool, auth, operator, "admin")?;
    let mut w = World {
        base,
        fund: made.fund,
        vendor,
        allocation: 0,
        contract: 0,
        treasurer,
        ministry,
        admin,
    };
    let client = reqwest::Client::new();
    let eur = |v: &str| json!({"value": v, "currency": "EUR"});
    let today = chrono::Utc::now().date_naive();
    let (base, fund) = (w.base.clone(), w.fund);
    let post = |bearer: &String, kind: &'static str, body: Value| {
        let (client, base, bearer) = (client.clone(), base.clone(), bearer.clone());
        async move {
            post_entry(
                &client,
                &base,
                fund,
                &bearer,
                kind,
                Uuid::new_v4().to_string(),
                body,
            )
            .await
        }
    };
    // The run's dates are the fund's holidays: `off-hours` flags every invoice and payment
    // whatever the hour of the run (a flag on about half the typed entries), so that runs
    // by day and by night screen and write the same.
    let auditor = user(pool, auth, made.audit_body, "auditor")?;
    post(
        &auditor,
        "screening_config",
        json!({"settings": {"holidays": [today, today + chrono::Duration::days(1)]},
               "reason": "bench funds: the run's dates are holidays"}),
    )
    .await?;
    post(
        &w.treasurer,
        "contribution",
        json!({"donor": donor, "amount": eur("900000000.00"), "agreement": "NOR-1"}),
    )
    .await?;
    let allocation = post(
        &w.treasurer,
        "allocation",
        json!({"ministry": made.ministry, "budget_line": "BL-4", "category": "equipment",
               "amount": eur("800000000.00"), "period_start": "2026-01-01", "period_end": "2027-12-31"}),
    )
    .await?;
    post(
        &w.treasurer,
        "disbursement",
        json!({"allocation": allocation, "amount": eur("400000000.00"), "tranche": "T1"}),
    )
    .await?;
    let tender = post(
        &w.ministry,
        "tender",
        json!({"ministry": made.ministry, "title": "Radios", "category": "equipment", "method": "open",
               "estimated_value": eur("300000000.00"), "deadline": (today + chrono::Duration::days(30)).to_string()}),
    )
    .await?;
    post(
        &w.ministry,
        "bid",
        json!({"tender": tender, "vendor": vendor, "amount": eur("299000000.00")}),
    )
    .await?;
    post(
        &w.ministry,
        "bid",
        json!({"tender": tender, "vendor": other, "amount": eur("299500000.00")}),
    )
    .await?;
    let award = post(
        &w.ministry,
        "award",
        json!({"tender": tender, "vendor": vendor, "amount": eur("299000000.00"), "bids_received": 2}),
    )
    .await?;
    let contract = post(
        &w.ministry,
        "contract",
        json!({"award": award, "value": eur("299000000.00"), "starts_on": "2026-01-01", "ends_on": "2027-12-31"}),
    )
    .await?;
    w.allocation = allocation;
    w.contract = contract;
    Ok(w)
}

/// Posts one typed entry; its seq.
async fn post_entry(
    client: &reqwest::Client,
    base: &str,
    fund: Uuid,
    bearer: &str,
    kind: &str,
    key: String,
    body: Value,
) -> anyhow::Result<u64> {
    let today = chrono::Utc::now().date_naive();
    let res = client
        .post(format!("{base}/funds/{fund}/entries"))
        .header("authorization", bearer)
        .header("idempotency-key", key)
        .json(&json!({"kind": kind, "business_date": today, "body": body}))
        .send()
        .await?;
    let status = res.status().as_u16();
    let answer: Value = res.json().await?;
    anyhow::ensure!(status == 201, "{kind} answered {status}: {answer}");
    answer
        .get("seq")
        .and_then(Value::as_u64)
        .context("a receipt without seq")
}

/// An amount that varies by `i`, small enough that the run never exhausts the fund.
fn amount(i: u64) -> Value {
    json!({"value": format!("{}.{:02}", 100 + i % 900, i % 100), "currency": "EUR"})
}

/// `clients` tasks until `duration` passes: even clients disburse (treasurer), odd ones
/// record an invoice and then its payment (ministry). Latency per entry.
async fn drive_typed_single(
    w: &World,
    run: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<(u64, Vec<u64>, Duration)> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (base, fund, vendor) = (w.base.clone(), w.fund, w.vendor);
        let (allocation, contract) = (w.allocation, w.contract);
        let bearer = match c % 2 {
            0 => w.treasurer.clone(),
            _ => w.ministry.clone(),
        };
        let run = run.to_owned();
        tasks.push(actix_web::rt::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?;
            let mut lat = Vec::new();
            let mut i: u64 = 0;
            let timed = |t: Instant| u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
            while Instant::now() < deadline {
                let t = Instant::now();
                let key = format!("{run}s{c}-{i}");
                if c % 2 == 0 {
                    let body =
                        json!({"allocation": allocation, "amount": amount(i), "tranche": key});
                    post_entry(&client, &base, fund, &bearer, "disbursement", key, body).await?;
                    lat.push(timed(t));
                } else {
                    let body = json!({"contract": contract, "vendor": vendor,
                                      "invoice_number": format!("INV-{key}"), "amount": amount(i)});
                    let invoice =
                        post_entry(&client, &base, fund, &bearer, "invoice", key.clone(), body)
                            .await?;
                    lat.push(timed(t));
                    let t = Instant::now();
                    let body = json!({"invoice": invoice, "amount": amount(i)});
                    post_entry(
                        &client,
                        &base,
                        fund,
                        &bearer,
                        "payment",
                        format!("{key}-p"),
                        body,
                    )
                    .await?;
                    lat.push(timed(t));
                }
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

/// `BATCH_CLIENTS` tasks appending 100-entry batches until `duration` passes: even clients
/// batches of disbursements, odd ones batches of invoices.
async fn drive_typed_batches(
    w: &World,
    run: &str,
    duration: Duration,
) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let deadline = started + duration;
    let next = Arc::new(AtomicU64::new(0));
    let today = chrono::Utc::now().date_naive();
    let mut tasks = Vec::new();
    for c in 0..BATCH_CLIENTS {
        let url = format!("{}/funds/{}/entries/batch", w.base, w.fund);
        let (vendor, allocation, contract) = (w.vendor, w.allocation, w.contract);
        let bearer = match c % 2 {
            0 => w.treasurer.clone(),
            _ => w.ministry.clone(),
        };
        let next = next.clone();
        let run = run.to_owned();
        tasks.push(actix_web::rt::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()?;
            let mut done = 0u64;
            while Instant::now() < deadline {
                let start = next.fetch_add(BATCH_SIZE, Ordering::Relaxed);
                let entries: Vec<Value> = (start..start + BATCH_SIZE)
                    .map(|i| match c % 2 {
                        0 => json!({"kind": "disbursement", "business_date": today,
                                    "idempotency_key": format!("{run}b{i}"),
                                    "body": {"allocation": allocation, "amount": amount(i), "tranche": format!("B{i}")}}),
                        _ => json!({"kind": "invoice", "business_date": today,
                                    "idempotency_key": format!("{run}b{i}"),
                                    "body": {"contract": contract, "vendor": vendor,
                                             "invoice_number": format!("INV-{run}b{i}"), "amount": amount(i)}}),
                    })
                    .collect();
                let res = client
                    .post(&url)
                    .header("authorization", &bearer)
                    .json(&json!({ "entries": entries }))
                    .send()
                    .await?;
                let status = res.status().as_u16();
                let body = res.bytes().await?;
                anyhow::ensure!(
                    status == 201,
                    "typed batch answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
                done += BATCH_SIZE;
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
