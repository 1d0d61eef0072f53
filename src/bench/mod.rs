//! Benchmarks, one file per subject, run by `fundtrail bench …` (docs/benchmarks.md):
//! `ledger` (generic appends, verification and proofs against pgbench and COPY), `chain`
//! (verification and proofs of an existing fund's chain against COPY), `funds`
//! (typed fund entries over HTTP on one fund against pgbench, where their time goes),
//! `screening` (precision, recall and cost of the screens on a seeded year), `reports`
//! (statement and donor report latency), `replica` (report requests per second with and
//! without a streaming replica), `exports` (export throughput) and `ocds`
//! (the screens against cardinal-rs on real publications); `server` runs the HTTP server of
//! `ledger` and `funds` in the bench process or as a separate `fundtrail serve` whose memory
//! is measured apart. The service's modules hold no benchmark code; this folder only drives them. Statistics use floats;
//! money never appears here.
#![allow(clippy::as_conversions)] // u64 -> f64 for rates and percentiles only

pub mod chain;
pub mod exports;
pub mod funds;
pub mod ledger;
pub mod ocds;
pub mod reconciliation;
pub mod replica;
pub mod reports;
pub mod screening;
pub mod server;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use diesel::{PgConnection, RunQueryDsl};

pub(crate) fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

pub(crate) fn percentile(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us.get(rank - 1).copied().unwrap_or(0) as f64 / 1000.0
}

/// Replaces the database name in a libpq URL (`scheme://authority/db?params`).
pub(crate) fn with_database(url: &str, db: &str) -> anyhow::Result<String> {
    let scheme_end = url
        .find("://")
        .context("DATABASE_URL must be a postgres:// URL")?
        + 3;
    let rest = url.get(scheme_end..).unwrap_or_default();
    let path_start = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = rest.get(..path_start).unwrap_or_default();
    let after = rest.get(path_start..).unwrap_or_default();
    let query = after
        .find('?')
        .map(|i| after.get(i..).unwrap_or_default())
        .unwrap_or("");
    Ok(format!(
        "{}{authority}/{db}{query}",
        url.get(..scheme_end).unwrap_or_default()
    ))
}

pub(crate) fn pg_bin(tool: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| d.join(tool).exists())
        .collect();
    dirs.sort();
    dirs.pop()
        .map_or_else(|| PathBuf::from(tool), |d| d.join(tool))
}

pub(crate) fn sql(conn: &mut PgConnection, q: &str) -> anyhow::Result<()> {
    diesel::sql_query(q)
        .execute(conn)
        .with_context(|| q.to_owned())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://u@h:5432/app", "b")
                .ok()
                .as_deref(),
            Some("postgres://u@h:5432/b")
        );
        assert_eq!(
            with_database(
                "postgresql://postgres@/fundtrail?host=/x/run&port=5432",
                "b"
            )
            .ok()
            .as_deref(),
            Some("postgresql://postgres@/b?host=/x/run&port=5432")
        );
        assert_eq!(
            with_database("postgres://u@h", "b").ok().as_deref(),
            Some("postgres://u@h/b")
        );
    }
}
