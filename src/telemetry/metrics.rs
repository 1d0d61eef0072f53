//! Prometheus metrics: request counts and latencies by route pattern and status, the
//! state of the database pool, the time spent screening and the ledger integrity failures
//! found (the last three sampled at scrape time).

use std::sync::{Arc, Mutex};

use prometheus::{
    Counter, Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

use crate::db::PgPool;

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
    /// The process's screening totals (`telemetry::spent`) and integrity failures, brought
    /// up to date at scrape time; the lock keeps two concurrent scrapes from adding the
    /// same growth twice.
    screening_seconds: Counter,
    screening_jobs: IntCounter,
    screening_sync: Arc<Mutex<()>>,
    /// Integrity failures found by this process (`ledger::integrity`): alert on any.
    integrity_failures: IntCounter,
    /// Pinned reads by where they ran (`replica`, `primary`).
    reads: IntCounterVec,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new_custom(Some("fundtrail".to_owned()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route pattern and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method and route pattern",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route"],
        )?;
        let pool_connections = IntGauge::new(
            "db_pool_connections",
            "Open connections in the database pool",
        )?;
        let pool_idle = IntGauge::new(
            "db_pool_idle_connections",
            "Idle connections in the database pool",
        )?;
        let pool_max = IntGauge::new(
            "db_pool_max_connections",
            "Configured maximum size of the database pool",
        )?;
        let screening_seconds = Counter::new(
            "screening_seconds_total",
            "Time the per-entry screens took inside append transactions, and after commits",
        )?;
        let screening_jobs = IntCounter::new(
            "screening_jobs_total",
            "Append jobs (groups of entries appended together) screened",
        )?;
        registry.register(Box::new(screening_seconds.clone()))?;
        registry.register(Box::new(screening_jobs.clone()))?;
        let integrity_failures = IntCounter::new(
            "ledger_integrity_failures_total",
            "Ledger integrity failures this process found: appends refused over a head no \
             trusted checkpoint vouches for, proofs over altered or missing nodes",
        )?;
        registry.register(Box::new(integrity_failures.clone()))?;
        let reads = IntCounterVec::new(
            Opts::new(
                "pinned_reads_total",
                "Pinned reads (reports, exports, entries, proofs, verification) of a service with a \
                 replica, by where they ran: `replica`, or `primary` (the replica had not \
                 replayed the read's pin in time, or failed)",
            ),
            &["served_by"],
        )?;
        registry.register(Box::new(reads.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            pool_connections,
            pool_idle,
            pool_max,
            screening_seconds,
            screening_jobs,
            integrity_failures,
            reads,
            screening_sync: Arc::new(Mutex::new(())),
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts a pinned read served by `by` (`replica` or `primary`).
    pub fn read_served(&self, by: &str) {
        self.reads.with_label_values(&[by]).inc();
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Prometheus text exposition of everything registered.
    pub fn render(&self, pool: &PgPool) -> anyhow::Result<String> {
        let state = pool.state();
        self.pool_connections.set(i64::from(state.connections));
        self.pool_idle.set(i64::from(state.idle_connections));
        self.pool_max.set(i64::from(pool.max_size()));
        {
            let _one_at_a_time = self
                .screening_sync
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let spent = crate::telemetry::spent::Spent::now();
            let seconds = spent.seconds - self.screening_seconds.get();
            if seconds > 0.0 {
                self.screening_seconds.inc_by(seconds);
            }
            self.screening_jobs
                .inc_by(spent.jobs.saturating_sub(self.screening_jobs.get()));
            self.integrity_failures.inc_by(
                crate::ledger::integrity::failures().saturating_sub(self.integrity_failures.get()),
            );
        }
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(String::from_utf8(buf)?)
    }
}
