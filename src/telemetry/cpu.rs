//! CPU time spent by an interval of work, on both sides of the connection: this process
//! (every thread, `getrusage(RUSAGE_SELF)`) and the server backends connected to the same
//! database (`/proc/<pid>/schedstat`, nanoseconds on the CPU).
//!
//! Wall time on a shared virtual machine moves with its neighbours; CPU time moves much
//! less, so the benchmarks report both. The server side is read only when the server runs
//! on this machine (its backends' pids are visible in `/proc` and named `postgres`);
//! otherwise it is `None` and only wall time and the client's CPU are reported.
//!
//! What is counted on the server: every process working in the database when a sample is
//! taken (client backends, and autovacuum or parallel workers while they run), matched by
//! pid between the two samples. What is not: processes that exit inside the interval
//! (their CPU leaves with them; a pid reused by a new backend in between is undercounted),
//! the cluster's background processes (WAL writer, checkpointer) and the kernel's work for
//! the disk. A pool that keeps its connections for the interval, as the seeder's does, loses
//! nothing of its own work.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::sql_types::Integer;
use diesel::{PgConnection, QueryableByName, RunQueryDsl};

/// A reading of the CPU clocks, to subtract from a later one.
#[derive(Debug, Clone, Default)]
pub struct CpuSample {
    client: Duration,
    /// Per backend pid, its time on the CPU; `None` when the server is not local.
    server: Option<BTreeMap<i32, Duration>>,
}

/// CPU spent between two samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct CpuSpent {
    pub client_seconds: f64,
    pub server_seconds: Option<f64>,
}

impl CpuSpent {
    /// Client and server together; `None` without the server's side.
    pub fn total_seconds(&self) -> Option<f64> {
        self.server_seconds.map(|s| s + self.client_seconds)
    }
}

#[derive(QueryableByName)]
struct Backend {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

/// This process's CPU time (user and system, all threads, live and exited).
fn client_cpu() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
                    + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
            };
            tv(u.user_time()) + tv(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

/// The time on the CPU of a local `postgres` process; `None` if there is no such process.
fn backend_cpu(pid: i32) -> Option<Duration> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if !comm.trim_end().starts_with("postgres") {
        return None;
    }
    parse_schedstat(&std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?)
}

/// The first field of `/proc/<pid>/schedstat`: nanoseconds spent on the CPU.
fn parse_schedstat(text: &str) -> Option<Duration> {
    Some(Duration::from_nanos(
        text.split_whitespace().next()?.parse().ok()?,
    ))
}

impl CpuSample {
    /// Reads the clocks now. `conn` must be connected to the database whose backends are
    /// measured; without one, only this process's clock is read.
    pub fn take(conn: Option<&mut PgConnection>) -> Self {
        // Every process working in this database: client backends, and autovacuum or
        // parallel workers while they run. A role without `pg_read_all_stats` (the
        // service's) sees other sessions' pid and database, not their backend type.
        let pids: Vec<Backend> = conn
            .and_then(|conn| {
                diesel::sql_query(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()",
                )
                .load(conn)
                .ok()
            })
            .unwrap_or_default();
        // A pid that cannot be read has exited since the query (or is not on this machine);
        // the others still count. None at all: the server is not local.
        let server: BTreeMap<i32, Duration> = pids
            .iter()
            .filter_map(|b| Some((b.pid, backend_cpu(b.pid)?)))
            .collect();
        CpuSample {
            client: client_cpu(),
            server: Some(server).filter(|s| !s.is_empty()),
        }
    }

    /// What was spent since `earlier`. A backend absent from `earlier` started in between
    /// and counts from zero.
    pub fn since(&self, earlier: &CpuSample) -> CpuSpent {
        let server_seconds = match (&self.server, &earlier.server) {
            (Some(now), Some(then)) => Some(
                now.iter()
                    .map(|(pid, t)| {
                        t.saturating_sub(then.get(pid).copied().unwrap_or_default())
                            .as_secs_f64()
                    })
                    .sum(),
            ),
            _ => None,
        };
        CpuSpent {
            client_seconds: self.client.saturating_sub(earlier.client).as_secs_f64(),
            server_seconds,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_first_field_is_nanoseconds() {
        assert_eq!(
            parse_schedstat("180041054 9103006 350\n"),
            Some(Duration::from_nanos(180_041_054))
        );
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
    }

    #[test]
    fn new_backends_count_from_zero_and_vanished_ones_are_not_counted() {
        let ms = Duration::from_millis;
        let then = CpuSample {
            client: ms(100),
            server: Some(BTreeMap::from([(1, ms(50)), (2, ms(70))])),
        };
        let now = CpuSample {
            client: ms(400),
            server: Some(BTreeMap::from([(1, ms(250)), (3, ms(30))])),
        };
        let spent = now.since(&then);
        assert!((spent.client_seconds - 0.3).abs() < 1e-9);
        assert!((spent.server_seconds.unwrap() - 0.23).abs() < 1e-9);
        assert!((spent.total_seconds().unwrap() - 0.53).abs() < 1e-9);
        let remote = CpuSample {
            client: ms(400),
            server: None,
        };
        assert_eq!(remote.since(&then).server_seconds, None);
    }

    #[test]
    fn this_process_spends_cpu() {
        let before = client_cpu();
        let mut x = 0_u64;
        for i in 0..5_000_000_u64 {
            x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        assert!(client_cpu() > before);
    }
}
