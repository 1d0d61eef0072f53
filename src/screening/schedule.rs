//! The period screens on a schedule inside `serve` (docs/screening.md, "Schedule"):
//! every `--screen-interval`, for each active fund, the last complete calendar month and
//! the calendar year to date as of that month's end, each recorded as the usual
//! `period_screen_run` entry of the administrative chain under the system principal.
//!
//! A period is skipped when it was already screened by the schedule at the fund chain's
//! current size: the run's idempotency key names the fund, the period, the chain size it
//! read and the rule set, so "already screened, nothing appended since" is one lookup of
//! that key in the administrative chain (its unique index), and an idle service appends
//! nothing. Two `serve` processes on one database do not tick at the same time: a tick
//! holds a session-level Postgres advisory lock, and a process that cannot take it skips
//! its tick.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};
use diesel::PgConnection;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::period::Period;
use super::run::{self, Summary, PERIOD_RULES};
use crate::db::PgPool;
use crate::ledger::entry::{Principal, ADMIN_CHAIN};
use crate::ledger::writer::{AppendError, AppendRequest, FnEffect};
use crate::ledger::Ledger;

/// The advisory lock a tick holds (an arbitrary constant: "fts-sch" in ASCII).
pub const SCHEDULE_LOCK_KEY: i64 = 0x0066_7473_2d73_6368;

/// The `actor` of scheduled runs in their entries' bodies.
pub const ACTOR: &str = "schedule";

/// The periods a tick screens as of `now`: the last complete calendar month, and the
/// calendar year to date as of that month's end (in January, the whole previous year).
pub fn periods(now: DateTime<Utc>) -> [Period; 2] {
    let today = now.date_naive();
    let this_month = today.with_day(1).unwrap_or(today);
    let end = this_month.pred_opt().unwrap_or(this_month);
    let month = end.with_day(1).unwrap_or(end);
    let year = NaiveDate::from_ymd_opt(end.year(), 1, 1).unwrap_or(month);
    [
        Period {
            from: month,
            to: end,
        },
        Period {
            from: year,
            to: end,
        },
    ]
}

/// The idempotency key of a scheduled run: fund, period, the fund chain's size it read and
/// the rule set (a release with other rules screens the same ledger again).
pub fn run_key(fund: Uuid, period: Period, chain_size: u64) -> String {
    let rules = Sha256::digest(PERIOD_RULES.join(",").as_bytes());
    let version = hex::encode(rules.get(..4).unwrap_or_default());
    format!(
        "screen/{fund}/{}/{}/{chain_size}/{version}",
        period.from, period.to
    )
}

/// What one tick did.
#[derive(Debug, Default)]
pub struct TickReport {
    /// False: another process held the schedule lock and this tick did nothing.
    pub locked: bool,
    /// The runs recorded by this tick.
    pub ran: Vec<Summary>,
    /// Periods already screened at the fund chain's current size.
    pub skipped: u32,
    /// Periods whose run failed (logged; tried again next tick).
    pub failed: u32,
}

impl TickReport {
    pub fn raised(&self) -> u64 {
        self.ran.iter().map(Summary::raised).sum()
    }
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

fn try_lock(conn: &mut PgConnection) -> QueryResult<bool> {
    diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
        .bind::<BigInt, _>(SCHEDULE_LOCK_KEY)
        .get_result::<Locked>(conn)
        .map(|r| r.locked)
}

fn unlock(conn: &mut PgConnection) -> QueryResult<bool> {
    diesel::sql_query("SELECT pg_advisory_unlock($1) AS locked")
        .bind::<BigInt, _>(SCHEDULE_LOCK_KEY)
        .get_result::<Locked>(conn)
        .map(|r| r.locked)
}

/// One tick of the schedule as of `now` (the ledger's clock in `serve`; any instant in
/// tests). Does the database work on the calling thread: call it from a thread that may
/// block (the schedule's own, or a test).
pub async fn tick(
    pool: &PgPool,
    ledger: &Ledger,
    now: DateTime<Utc>,
) -> anyhow::Result<TickReport> {
    let started = Instant::now();
    let mut lock_conn = pool.get()?;
    if !try_lock(&mut lock_conn)? {
        tracing::info!(
            lock.key = SCHEDULE_LOCK_KEY,
            "period screens: another process is running the schedule; tick skipped"
        );
        return Ok(TickReport::default());
    }
    let result = run_locked(pool, ledger, now).await;
    // A failed unlock means a broken connection, whose session (and lock) the server ends.
    if let Err(e) = unlock(&mut lock_conn) {
        tracing::warn!(error = %e, "period screens: could not release the schedule lock");
    }
    let report = result?;
    tracing::info!(
        screen.ran = report.ran.len(),
        screen.skipped = report.skipped,
        screen.failed = report.failed,
        flags.raised = report.raised(),
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "period screens: scheduled tick done"
    );
    Ok(report)
}

async fn run_locked(
    pool: &PgPool,
    ledger: &Ledger,
    now: DateTime<Utc>,
) -> anyhow::Result<TickReport> {
    let funds = {
        let mut conn = pool.get()?;
        super::store::active_funds(&mut conn)?
    };
    let mut report = TickReport {
        locked: true,
        ..TickReport::default()
    };
    for (fund, currency) in funds {
        for period in periods(now) {
            let started = Instant::now();
            match run_one(pool, ledger, fund, &currency, period, now).await {
                Ok(Some(summary)) => {
                    tracing::info!(
                        fund.id = %fund,
                        period.from = %period.from,
                        period.to = %period.to,
                        chain.size = summary.chain_size,
                        flags.raised = summary.raised(),
                        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                        "period screens: scheduled run recorded"
                    );
                    report.ran.push(summary);
                }
                Ok(None) => report.skipped = report.skipped.saturating_add(1),
                Err(e) => {
                    tracing::warn!(
                        fund.id = %fund,
                        period.from = %period.from,
                        period.to = %period.to,
                        error = format!("{e:#}"),
                        "period screens: scheduled run failed; tried again next tick"
                    );
                    report.failed = report.failed.saturating_add(1);
                }
            }
        }
    }
    Ok(report)
}

/// Screens one period of one fund unless already screened at the chain's current size.
async fn run_one(
    pool: &PgPool,
    ledger: &Ledger,
    fund: Uuid,
    currency: &str,
    period: Period,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Summary>> {
    let (new, summary) = {
        let mut conn = pool.get()?;
        let size = crate::ledger::store::head(&mut conn, fund)?.map_or(0, |(size, _)| size);
        let key = run_key(fund, period, size);
        if !crate::ledger::store::entries_by_keys(&mut conn, ADMIN_CHAIN, &[key.as_str()])?
            .is_empty()
        {
            return Ok(None);
        }
        run::prepare(&mut conn, fund, currency, period, now)?
    };
    // The size the screens actually read (entries may have been appended meanwhile).
    let request = AppendRequest {
        kind: "period_screen_run".to_owned(),
        business_date: now.date_naive(),
        idempotency_key: run_key(fund, period, summary.chain_size),
        body: run::entry_body(&summary, ACTOR),
        principal: Principal::system(),
    };
    let effect = Arc::new(FnEffect(run::effect(new)));
    match ledger.append_with(ADMIN_CHAIN, vec![request], effect).await {
        Ok(receipts) if receipts.iter().all(|r| r.replayed) => Ok(None),
        Ok(_) => Ok(Some(summary)),
        // Recorded meanwhile at this size with other counts: screened already.
        Err(AppendError::IdempotencyConflict(_)) => Ok(None),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

/// The schedule's thread; `stop` ends it after the tick in progress, if any.
pub struct Scheduler {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Scheduler {
    /// Starts ticking now, then every `interval`, on a thread of its own (ticks block on
    /// the database). The ledger must be bootstrapped.
    pub fn spawn(pool: PgPool, ledger: Arc<Ledger>, interval: Duration) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("screen-schedule".to_owned())
            .spawn(move || {
                let system = actix_web::rt::System::new();
                tracing::info!(
                    interval_s = interval.as_secs(),
                    "period screens: schedule started"
                );
                loop {
                    let now = ledger.now();
                    if let Err(e) = system.block_on(tick(&pool, &ledger, now)) {
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "period screens: scheduled tick failed"
                        );
                    }
                    match stopped.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                tracing::info!("period screens: schedule stopped");
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the schedule and waits for a tick in progress to finish.
    pub fn stop(mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::warn!("period screens: the schedule's thread panicked");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn p(from: &str, to: &str) -> Period {
        Period {
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
        }
    }

    #[test]
    fn a_tick_screens_last_month_and_the_year_to_its_end() {
        let at = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
        assert_eq!(
            periods(at(2026, 11, 22, 10)),
            [p("2026-10-01", "2026-10-31"), p("2026-01-01", "2026-10-31")]
        );
        // The first day of a month: the month just ended is complete.
        assert_eq!(
            periods(at(2026, 3, 1, 0)),
            [p("2026-02-01", "2026-02-28"), p("2026-01-01", "2026-02-28")]
        );
        // January: December, and the whole previous year.
        assert_eq!(
            periods(at(2027, 1, 15, 12)),
            [p("2026-12-01", "2026-12-31"), p("2026-01-01", "2026-12-31")]
        );
    }

    #[test]
    fn the_run_key_changes_with_the_chain_and_fits_the_ledger() {
        let fund = Uuid::from_u128(7);
        let period = p("2026-01-01", "2026-10-31");
        let key = run_key(fund, period, 1_234);
        assert!(key.starts_with(&format!("screen/{fund}/2026-01-01/2026-10-31/1234/")));
        assert_ne!(key, run_key(fund, period, 1_235));
        assert_eq!(key, run_key(fund, period, 1_234));
        crate::ledger::entry::validate_idempotency_key(&run_key(fund, period, u64::MAX)).unwrap();
    }
}
