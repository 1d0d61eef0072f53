//! `fundtrail bench chain`: verification and proofs of one existing chain, such as a
//! fund `seed-demo` grew to millions of entries (docs/benchmarks.md, "A fund of
//! 10,000,000 entries"). It writes nothing to the database. As `bench ledger` does for
//! the chain it fills, it times `psql COPY` of the chain's rows (the baseline), the
//! server-side verification with the process's resident memory sampled through it, the
//! export and its offline verification (`fundtrail verify`, a child process), and
//! inclusion and consistency proofs at the chain's full size, server-side.
#![allow(clippy::as_conversions)] // u64 -> f64 for rates and percentiles only

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::{DbArgs, LedgerArgs};

use super::ledger::{offline_verify, time_proofs, vm_kib};
use super::{percentile, pg_bin, rate};

#[derive(Debug, Clone, clap::Args)]
pub struct ChainBenchArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub ledger: LedgerArgs,
    /// The fund whose chain is measured: its id or its name.
    #[arg(long)]
    pub fund: String,
    /// Inclusion proofs, and as many consistency proofs, at the chain's full size.
    #[arg(long, default_value_t = 1_000)]
    pub proofs: u32,
    /// Where the export for the offline verification is written (removed afterwards);
    /// about 700 bytes per entry.
    #[arg(long, default_value = "/tmp")]
    pub export_dir: std::path::PathBuf,
    /// Skip the export and its offline verification.
    #[arg(long)]
    pub no_offline: bool,
}

/// The resident memory of this process, sampled every `every` until stopped.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(f64, u64)>>,
}

impl RssSampler {
    fn start(every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut samples = Vec::new();
            loop {
                samples.push((started.elapsed().as_secs_f64(), vm_kib("VmRSS:")));
                if flag.load(Ordering::Relaxed) {
                    break samples;
                }
                std::thread::sleep(every);
            }
        });
        Self { stop, thread }
    }

    /// The samples, seconds since the start and KiB.
    fn finish(self) -> Vec<(f64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn copy_rows(url: &str, chain: uuid::Uuid) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let status = Command::new(pg_bin("psql"))
        .arg(url)
        .arg("-qAtc")
        .arg(format!(
            "COPY (SELECT seq, kind, business_date, recorded_at, idempotency_key, canonical, prev_hash, entry_hash \
             FROM ledger_entries WHERE chain_id = '{chain}' ORDER BY seq) TO STDOUT"
        ))
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "psql COPY failed");
    Ok(started.elapsed())
}

fn mib(kib: u64) -> u64 {
    kib / 1024
}

pub fn run(args: &ChainBenchArgs) -> anyhow::Result<()> {
    let (database, pool, ledger) = crate::startup::open_ledger(&args.db, &args.ledger)?;
    let mut conn = pool.get()?;
    let chain = crate::startup::find_fund(&mut conn, &args.fund)?.id;
    let (size, _) = crate::ledger::store::head(&mut conn, chain)?.context("the chain is empty")?;
    println!("Chain {chain}: {size} entries.\n");

    // The baseline twice: the first read may come from disk, the second finds what the
    // first left in the caches, as the verification after it does.
    let copy_first = copy_rows(&database.url, chain)?;
    eprintln!(
        "bench: COPY {:.0} rows/s ({:.1} s)",
        rate(size, copy_first),
        copy_first.as_secs_f64()
    );
    let copy = copy_rows(&database.url, chain)?;
    eprintln!(
        "bench: COPY again {:.0} rows/s ({:.1} s)",
        rate(size, copy),
        copy.as_secs_f64()
    );

    let rss_before = vm_kib("VmRSS:");
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let sampler = RssSampler::start(Duration::from_millis(500));
    let started = Instant::now();
    let report = ledger
        .verify(&mut conn, chain)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let took = started.elapsed();
    let samples = sampler.finish();
    let hwm = vm_kib("VmHWM:");
    anyhow::ensure!(
        report.ok && report.entries_checked == size,
        "verification failed: {report:?}"
    );
    eprintln!(
        "bench: verified {size} entries at {:.0}/s",
        rate(size, took)
    );
    // Memory through the run: the sample at each tenth of it.
    let tenths: Vec<String> = (0..=10)
        .filter_map(|i| {
            let at = took.as_secs_f64() * f64::from(i) / 10.0;
            samples
                .iter()
                .find(|(t, _)| *t >= at)
                .or(samples.last())
                .map(|(_, kib)| mib(*kib).to_string())
        })
        .collect();

    let mut rows = vec![(
        "full verification, server-side".to_owned(),
        format!(
            "{:.0} entries/s ({:.1} s); RSS {} MiB before, peak {} MiB; sampled each tenth of the run (MiB): {}",
            rate(size, took),
            took.as_secs_f64(),
            mib(rss_before),
            mib(hwm),
            tenths.join(", ")
        ),
        format!(
            "{:.0} rows/s (psql COPY, {:.1} s; first read {:.1} s)",
            rate(size, copy),
            copy.as_secs_f64(),
            copy_first.as_secs_f64()
        ),
        format!("{:.2}", rate(size, took) / rate(size, copy)),
    )];

    if !args.no_offline {
        let dir = args
            .export_dir
            .join(format!("fundtrail-bench-chain-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let export = dir.join("export.jsonl");
        let started = Instant::now();
        {
            let mut file = std::io::BufWriter::new(std::fs::File::create(&export)?);
            ledger
                .export(&mut conn, chain, &mut file)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            std::io::Write::flush(&mut file)?;
        }
        let export_took = started.elapsed();
        let bytes = std::fs::metadata(&export)?.len();
        let keys = dir.join("keys.txt");
        std::fs::write(
            &keys,
            format!("{}\n", ledger.verifier_key().to_verifier_string()),
        )?;
        let (offline, peak_kib) = offline_verify(&export, &keys)?;
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!(
            "bench: export {bytes} bytes in {:.1} s; offline verification {:.0}/s",
            export_took.as_secs_f64(),
            rate(size, offline)
        );
        rows.push((
            "full verification, offline (`fundtrail verify`)".to_owned(),
            format!(
                "{:.0} entries/s ({:.1} s), peak RSS {} MiB; export {:.0} MB written in {:.1} s",
                rate(size, offline),
                offline.as_secs_f64(),
                mib(peak_kib),
                bytes as f64 / 1e6,
                export_took.as_secs_f64()
            ),
            format!("{:.0} rows/s (psql COPY)", rate(size, copy)),
            format!("{:.2}", rate(size, offline) / rate(size, copy)),
        ));
    }

    let (inc, cons) = time_proofs(&ledger, &mut conn, chain, size, args.proofs.max(1) as usize)?;
    for (name, lat) in [
        ("inclusion proof at full size", &inc),
        ("consistency proof at full size", &cons),
    ] {
        rows.push((
            format!("{name} ({} proofs)", lat.len()),
            format!(
                "p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
                percentile(lat, 0.5),
                percentile(lat, 0.99),
                percentile(lat, 1.0)
            ),
            "-".to_owned(),
            "-".to_owned(),
        ));
    }
    drop(conn);
    drop(database);

    println!("\n| measurement | fundtrail | baseline (same run) | ratio |");
    println!("|---|---|---|---|");
    for (name, ours, baseline, ratio) in rows {
        println!("| {name} | {ours} | {baseline} | {ratio} |");
    }
    Ok(())
}
