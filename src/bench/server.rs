//! Where a benchmark's HTTP server runs: in the bench process (the default, so that figures
//! stay comparable with earlier runs), or, with `--separate-server`, as a `fundtrail serve`
//! child process on the bench's throw-away database, so that the server's own memory is
//! measured apart from the bench's clients and its pgbench driver.
//!
//! The child serves with the bench's keys, written to a temporary directory: the signing
//! key (so the child's writer accepts the chain heads the bench's setup signed, as it
//! accepts another `serve` process's: `ledger::integrity::vouch`) and the JWT keys (so it
//! accepts the tokens the bench mints). It runs with the bench's pool size and HTTP
//! workers, without the period screens and approval expiry schedules (the in-process server
//! runs neither), and logs to `server.log` in that directory, kept when the child fails.
//!
//! A thread reads the child's `/proc/<pid>/status` every 100 ms: the peak VmRSS sampled
//! since the last `mark` (a benchmark phase) and the latest VmHWM, the kernel's peak of the
//! whole run, which catches what falls between two samples.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::HttpServer;
use anyhow::Context;

use super::ledger::{Service, LOG_NAME, POOL_SIZE};

/// How often the child's memory is read.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);
/// How long the child may take to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the child gets to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// HTTP workers of the server, in either mode.
const WORKERS: usize = 2;

#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Run the server as a separate `fundtrail serve` process on the bench's database and
    /// report its peak memory (VmRSS sampled every 100 ms, VmHWM) apart from the bench's.
    /// Default: the server runs inside the bench process.
    #[arg(long)]
    pub separate_server: bool,
    /// The `fundtrail` binary to run as the separate server. Default: this executable.
    #[arg(long, requires = "separate_server")]
    pub serve_binary: Option<PathBuf>,
}

/// Peaks of the sampled memory, in KiB.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Peaks {
    /// Largest VmRSS sampled since the last `mark`.
    rss_since_mark_kib: u64,
    /// Largest VmRSS sampled over the whole run.
    rss_kib: u64,
    /// The latest VmHWM read (the kernel keeps it monotonic).
    hwm_kib: u64,
    /// Most threads sampled over the whole run.
    threads: u64,
}

impl Peaks {
    fn observe(&mut self, rss_kib: u64, hwm_kib: u64, threads: u64) {
        self.rss_since_mark_kib = self.rss_since_mark_kib.max(rss_kib);
        self.rss_kib = self.rss_kib.max(rss_kib);
        self.hwm_kib = self.hwm_kib.max(hwm_kib);
        self.threads = self.threads.max(threads);
    }

    /// The largest VmRSS sampled since the last mark; the next phase starts from nothing.
    fn mark(&mut self) -> u64 {
        std::mem::take(&mut self.rss_since_mark_kib)
    }
}

/// A field in KiB (`VmRSS:`, `VmHWM:`), or a count (`Threads:`), of a `/proc/<pid>/status`
/// text.
pub(crate) fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The server's memory over a run with `--separate-server`, in KiB.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerMemory {
    /// Per phase, as the benchmark named them: the largest VmRSS sampled during it.
    pub phases: Vec<(String, u64)>,
    /// Largest VmRSS sampled over the run.
    pub rss_peak_kib: u64,
    /// VmHWM at the end of the run: the kernel's peak, between samples too.
    pub hwm_kib: u64,
    /// VmRSS when the server answered `/readyz`.
    pub rss_ready_kib: u64,
    /// Most threads the server ran at one sample.
    pub threads_peak: u64,
    pub samples: u64,
}

impl ServerMemory {
    /// One line for the bench's table: the run's peak and each phase's.
    pub(crate) fn summary(&self) -> String {
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|(name, kib)| format!("{name} {} MiB", kib / 1024))
            .collect();
        format!(
            "peak {} MiB (VmHWM; {} MiB when ready); peak VmRSS per phase: {}; at most {} threads ({} samples, every {} ms)",
            self.hwm_kib.max(self.rss_peak_kib) / 1024,
            self.rss_ready_kib / 1024,
            phases.join(", "),
            self.threads_peak,
            self.samples,
            SAMPLE_INTERVAL.as_millis()
        )
    }
}

/// The child process, its directory and its memory sampler.
pub(super) struct Child {
    process: std::process::Child,
    pid: u32,
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    peaks: Arc<Mutex<(Peaks, u64)>>,
    sampler: Option<std::thread::JoinHandle<()>>,
    memory: ServerMemory,
    /// Keep `dir` (the log) when the child is dropped: it failed.
    keep_dir: bool,
}

/// The running server of a benchmark.
pub(super) enum Running {
    InProcess(ServerHandle),
    Separate(Box<Child>),
}

/// Starts the server over `service` (or a `serve` child on `url` with its keys) on a
/// loopback port; its API base URL (`http://127.0.0.1:PORT/api/v1`).
pub(super) async fn start(
    args: &ServerArgs,
    url: &str,
    service: &Service,
) -> anyhow::Result<(String, Running)> {
    if !args.separate_server {
        let (st, au) = (service.state.clone(), service.auth.clone());
        let blocking_threads = st.blocking_threads(WORKERS);
        let server = HttpServer::new(move || crate::app::build(st.clone(), au.clone()))
            .workers(WORKERS)
            .worker_max_blocking_threads(blocking_threads)
            .bind(("127.0.0.1", 0))?;
        let addr = *server.addrs().first().context("no bound address")?;
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        return Ok((format!("http://{addr}/api/v1"), Running::InProcess(handle)));
    }
    let binary = match &args.serve_binary {
        Some(path) => path.clone(),
        None => std::env::current_exe().context("the bench's own executable")?,
    };
    let (mut child, port) = spawn(&binary, url, service)?;
    let base = format!("http://127.0.0.1:{port}/api/v1");
    child.wait_ready(&base).await?;
    eprintln!(
        "bench: separate server pid {} ready, VmRSS {} MiB",
        child.pid,
        child.memory.rss_ready_kib / 1024
    );
    Ok((base, Running::Separate(Box::new(child))))
}

/// A free loopback port (bound, read and released: the child binds it next).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

/// Writes `text` to a new file at `path`, readable by its owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{text}")?;
    Ok(())
}

fn spawn(binary: &Path, url: &str, service: &Service) -> anyhow::Result<(Child, u16)> {
    let dir = std::env::temp_dir().join(format!(
        "fundtrail-bench-server-{}-{}",
        std::process::id(),
        chrono::Utc::now().format("%H%M%S%3f")
    ));
    std::fs::create_dir_all(&dir)?;
    let signing_key = dir.join("checkpoint.key");
    write_private(&signing_key, &service.signer.to_signer_string())?;
    let jwt_keys = dir.join("jwt.keys");
    write_private(&jwt_keys, &service.jwt_keys)?;
    let log = std::fs::File::create(dir.join("server.log"))?;
    let port = free_port()?;
    let process = Command::new(binary)
        .arg("serve")
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--signing-key")
        .arg(&signing_key)
        .arg("--jwt-keys")
        .arg(&jwt_keys)
        .args(["--log-name", LOG_NAME])
        .args(["--db-pool-size", &POOL_SIZE.to_string()])
        .args(["--workers", &WORKERS.to_string()])
        .args([
            "--screen-interval",
            "off",
            "--approval-expiry-interval",
            "off",
        ])
        .args(["--shutdown-timeout-s", "5"])
        .env("DATABASE_URL", url)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {} serve", binary.display()))?;
    let pid = process.id();
    let stop = Arc::new(AtomicBool::new(false));
    let peaks = Arc::new(Mutex::new((Peaks::default(), 0u64)));
    let sampler = {
        let (stop, peaks) = (stop.clone(), peaks.clone());
        let status = format!("/proc/{pid}/status");
        std::thread::Builder::new()
            .name("bench-rss".to_owned())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(text) = std::fs::read_to_string(&status) else {
                        break; // the child is gone
                    };
                    let rss = status_kib(&text, "VmRSS:").unwrap_or(0);
                    let hwm = status_kib(&text, "VmHWM:").unwrap_or(0);
                    let threads = status_kib(&text, "Threads:").unwrap_or(0);
                    if let Ok(mut p) = peaks.lock() {
                        p.0.observe(rss, hwm, threads);
                        p.1 += 1;
                    }
                    std::thread::sleep(SAMPLE_INTERVAL);
                }
            })?
    };
    Ok((
        Child {
            process,
            pid,
            dir,
            stop,
            peaks,
            sampler: Some(sampler),
            memory: ServerMemory::default(),
            keep_dir: false,
        },
        port,
    ))
}

impl Child {
    fn fail(&mut self, why: String) -> anyhow::Error {
        self.keep_dir = true;
        anyhow::anyhow!(
            "separate server: {why} (its log: {})",
            self.dir.join("server.log").display()
        )
    }

    /// Waits until the child answers `/readyz` (it has migrated and bound its port).
    async fn wait_ready(&mut self, base: &str) -> anyhow::Result<()> {
        let ready = base.replace("/api/v1", "/readyz");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let started = Instant::now();
        loop {
            if let Some(status) = self.process.try_wait()? {
                return Err(self.fail(format!("exited before it was ready ({status})")));
            }
            if let Ok(res) = client.get(&ready).send().await {
                if res.status().is_success() {
                    break;
                }
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(self.fail(format!("not ready after {} s", READY_TIMEOUT.as_secs())));
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        self.memory.rss_ready_kib = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| status_kib(&s, "VmRSS:"))
            .unwrap_or(0);
        self.mark("start");
        Ok(())
    }

    /// Closes the phase `name`: records the largest VmRSS sampled since the last mark.
    fn mark(&mut self, name: &str) {
        let kib = match self.peaks.lock() {
            Ok(mut p) => p.0.mark(),
            Err(_) => 0,
        };
        if name != "start" {
            self.memory.phases.push((name.to_owned(), kib));
        }
    }

    /// Stops the child (SIGTERM, then a kill past `STOP_TIMEOUT`) and the sampler; the
    /// memory of the run.
    async fn stop(mut self) -> anyhow::Result<ServerMemory> {
        // The last reading before the child goes: VmHWM is the peak of the whole run.
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{}/status", self.pid)) {
            if let Ok(mut p) = self.peaks.lock() {
                p.0.observe(
                    status_kib(&text, "VmRSS:").unwrap_or(0),
                    status_kib(&text, "VmHWM:").unwrap_or(0),
                    status_kib(&text, "Threads:").unwrap_or(0),
                );
            }
        }
        self.stop.store(true, Ordering::Relaxed);
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.pid)?);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let asked = Instant::now();
        let status = loop {
            if let Some(status) = self.process.try_wait()? {
                break Some(status);
            }
            if asked.elapsed() > STOP_TIMEOUT {
                break None;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        };
        if status.is_none() {
            let _ = self.process.kill();
            let _ = self.process.wait();
            return Err(self.fail(format!(
                "did not stop within {} s of SIGTERM; killed",
                STOP_TIMEOUT.as_secs()
            )));
        }
        let (peaks, samples) = self.peaks.lock().map(|p| *p).unwrap_or_default();
        let mut memory = std::mem::take(&mut self.memory);
        memory.rss_peak_kib = peaks.rss_kib;
        memory.hwm_kib = peaks.hwm_kib;
        memory.threads_peak = peaks.threads;
        memory.samples = samples;
        Ok(memory)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if matches!(self.process.try_wait(), Ok(None)) {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Running {
    /// Closes a benchmark phase: with a separate server, its peak VmRSS is recorded under
    /// `name` (in-process, nothing is).
    pub(crate) fn phase(&mut self, name: &str) {
        if let Self::Separate(child) = self {
            child.mark(name);
        }
    }

    /// Stops the server; with a separate one, what it used.
    pub(crate) async fn stop(self) -> anyhow::Result<Option<ServerMemory>> {
        match self {
            Self::InProcess(handle) => {
                handle.stop(true).await;
                Ok(None)
            }
            Self::Separate(child) => child.stop().await.map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{status_kib, Peaks};

    #[test]
    fn status_fields_are_read_in_kib() {
        let status = "Name:\tfundtrail\nVmHWM:\t  123456 kB\nVmRSS:\t   98765 kB\nThreads:\t93\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(98_765));
        assert_eq!(status_kib(status, "Threads:"), Some(93));
        assert_eq!(status_kib(status, "VmHWM:"), Some(123_456));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn a_mark_closes_a_phase_and_keeps_the_run_peak() {
        let mut p = Peaks::default();
        p.observe(100, 120, 20);
        p.observe(300, 310, 90);
        p.observe(200, 310, 40);
        assert_eq!(p.mark(), 300);
        p.observe(150, 310, 30);
        assert_eq!(p.mark(), 150);
        assert_eq!(p.mark(), 0);
        assert_eq!((p.rss_kib, p.hwm_kib, p.threads), (300, 310, 90));
    }
}
