//! Time spent screening appends, for the whole process: the per-entry screens inside the
//! append transaction (thresholds, reads, rules, the flag insert) and the promotion of the
//! kept flows after the commit. Exported at `/metrics` (`fundtrail_screening_seconds_total`,
//! `fundtrail_screening_jobs_total`), so an operator sees what screening costs the
//! writer, and read by `bench screening` to give screening's share of the append time of
//! the same run, which the machine's drift between runs does not move.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static NANOS: AtomicU64 = AtomicU64::new(0);
static JOBS: AtomicU64 = AtomicU64::new(0);

/// The process's totals so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    pub seconds: f64,
    /// Append jobs screened (a job is one group of entries appended together).
    pub jobs: u64,
}

impl Spent {
    pub fn now() -> Self {
        Spent {
            seconds: Duration::from_nanos(NANOS.load(Ordering::Relaxed)).as_secs_f64(),
            jobs: JOBS.load(Ordering::Relaxed),
        }
    }

    /// What was spent since `earlier`.
    pub fn since(&self, earlier: &Spent) -> Spent {
        Spent {
            seconds: (self.seconds - earlier.seconds).max(0.0),
            jobs: self.jobs.saturating_sub(earlier.jobs),
        }
    }
}

/// Adds the time since `started` to the process's total; `job` counts a screened job
/// (the promotion after the commit adds its time to the job it belongs to).
pub fn record(started: Instant, job: bool) {
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    NANOS.fetch_add(nanos, Ordering::Relaxed);
    if job {
        JOBS.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_time_and_jobs_add_up() {
        let before = Spent::now();
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        record(started, true);
        record(Instant::now(), false);
        let spent = Spent::now().since(&before);
        // Other tests may screen in parallel: at least what this one recorded.
        assert!(spent.seconds >= 0.002, "{spent:?}");
        assert!(spent.jobs >= 1, "{spent:?}");
    }
}
