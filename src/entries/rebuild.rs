//! `fundtrail rebuild [--check]`: recompute every fund's derived state from its ledger
//! entries and compare it with what is stored.
//!
//! The replay uses the very `apply` the append path uses, pointed at temporary tables: a
//! temporary table shadows the permanent table of the same name (Postgres searches
//! `pg_temp` first), so the same queries write the scratch copy. The whole run is one
//! REPEATABLE READ transaction, so entries and stored state are read at one instant.
//! With `--check` nothing is changed; without it the stored state is replaced by the
//! rebuilt one (fund chains locked meanwhile, so no append interleaves).
//!
//! Kinds that are not typed fund entries (bank reconciliation's) keep their own tables,
//! written by a capability above this one: it replays them through `Replay`, in the
//! chain's order between the typed entries, into temporary tables compared the same way.

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::PgConnection;
use serde::Serialize;

use super::apply::apply;
use super::effect::Screens;
use super::kinds::FundEntry;
use crate::funds::ctx::{FundCtx, Posting};
use crate::funds::derived::{Derived, References};
use crate::funds::state::DERIVED_TABLES;
use crate::funds::store as fund_store;
use crate::ledger::store as ledger_store;
use crate::ledger::Ledger;
use crate::money::Currency;

/// The kinds bank reconciliation records on a fund's chain (`bank::effect::KINDS`): not
/// typed fund entries; `run_with` hands them to the `Replay` that keeps their tables.
pub const RECONCILIATION_KINDS: [&str; 4] = [
    "bank_account",
    "bank_statement",
    "bank_match",
    "reconciliation_config",
];

/// The derived state of kinds that are not typed fund entries (`RECONCILIATION_KINDS`),
/// replayed by the capability that keeps it.
pub trait Replay {
    /// Its derived tables, each referring only to tables before it.
    fn tables(&self) -> &[&'static str];
    /// Applies `entries` of `fund` (all of `RECONCILIATION_KINDS`, in chain order) to
    /// whatever tables the session's search path finds first.
    fn replay(
        &self,
        conn: &mut PgConnection,
        fund: uuid::Uuid,
        entries: &[&crate::ledger::entry::Entry],
    ) -> Result<(), String>;
}

/// Replays nothing: the reconciliation kinds are passed over.
pub struct PassOver;

impl Replay for PassOver {
    fn tables(&self) -> &[&'static str] {
        &[]
    }
    fn replay(
        &self,
        _: &mut PgConnection,
        _: uuid::Uuid,
        _: &[&crate::ledger::entry::Entry],
    ) -> Result<(), String> {
        Ok(())
    }
}

/// Entries replayed per page.
const PAGE: i64 = 5_000;
/// Differing rows reported per table and side.
const MAX_REPORTED: i64 = 100;

#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    pub table: String,
    /// `stored` (in the database, not in the rebuild) or `rebuilt` (the reverse).
    pub only_in: &'static str,
    pub row: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub funds: u64,
    pub entries: u64,
    pub differences: Vec<Difference>,
    /// Entries that no longer apply (`fund seq: reason`): the ledger itself is at odds
    /// with the rules, which only tampering or a rule change can cause.
    pub failed_entries: Vec<String>,
    pub replaced: bool,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty() && self.failed_entries.is_empty()
    }
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    row: String,
}

/// Applies `entries` in order with no actor, through one cache.
fn replay(
    conn: &mut PgConnection,
    ctx: &FundCtx,
    entries: &[crate::ledger::entry::Entry],
    screens: &dyn Screens,
) -> Result<(), ReplayError> {
    let mut st = Derived::new(conn, ctx.fund);
    // Reconciliation's entries keep no fund state (`replay_in_order` hands them on).
    let entries: Vec<&crate::ledger::entry::Entry> = entries
        .iter()
        .filter(|e| !RECONCILIATION_KINDS.contains(&e.kind.as_str()))
        .collect();
    let typed = entries
        .iter()
        .map(|e| {
            FundEntry::parse(&e.kind, &e.body)
                .map_err(|i| ReplayError(format!("{}: {}", i.code, i.detail)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut refs = References::default();
    for t in &typed {
        t.references(&mut refs);
    }
    st.prefetch(refs)?;
    for (entry, typed) in entries.iter().zip(&typed) {
        let posting = Posting {
            ctx,
            actor: None,
            poster: &entry.principal.id,
            seq: entry.seq,
            date: entry.business_date,
            at: entry.recorded_at,
        };
        apply(&mut st, &posting, typed, screens).map_err(|e| ReplayError(e.to_string()))?;
    }
    st.flush().map_err(|e| ReplayError(e.to_string()))
}

/// Applies `entries` in chain order: each run of typed entries through `replay`, each
/// run of reconciliation entries through `other`, so each sees the state the entries
/// before it left, as the append did.
fn replay_in_order(
    conn: &mut PgConnection,
    ctx: &FundCtx,
    entries: &[crate::ledger::entry::Entry],
    screens: &dyn Screens,
    other: &dyn Replay,
) -> Result<(), ReplayError> {
    let is_other =
        |e: &crate::ledger::entry::Entry| RECONCILIATION_KINDS.contains(&e.kind.as_str());
    for run in entries.chunk_by(|a, b| is_other(a) == is_other(b)) {
        match run.first() {
            Some(first) if is_other(first) => {
                let run: Vec<&crate::ledger::entry::Entry> = run.iter().collect();
                other.replay(conn, ctx.fund, &run).map_err(ReplayError)?;
            }
            Some(_) => replay(conn, ctx, run, screens)?,
            None => {}
        }
    }
    Ok(())
}

/// Why an entry does not replay.
#[derive(Debug)]
struct ReplayError(String);

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<diesel::result::Error> for ReplayError {
    fn from(e: diesel::result::Error) -> Self {
        ReplayError(e.to_string())
    }
}

/// Rebuilds into temporary tables and compares; with `replace`, also writes the rebuild
/// over the stored state when the replay itself succeeded.
pub fn run(
    conn: &mut PgConnection,
    replace: bool,
    screens: &dyn Screens,
) -> anyhow::Result<Report> {
    run_with(conn, replace, screens, &PassOver)
}

/// `run`, with the reconciliation kinds replayed by `other` and its tables compared and
/// replaced after the fund's own.
pub fn run_with(
    conn: &mut PgConnection,
    replace: bool,
    screens: &dyn Screens,
    other: &dyn Replay,
) -> anyhow::Result<Report> {
    let tables: Vec<&str> = DERIVED_TABLES
        .iter()
        .copied()
        .chain(other.tables().iter().copied())
        .collect();
    conn.build_transaction()
        .repeatable_read()
        .run(|conn| -> anyhow::Result<Report> {
            if replace {
                // The snapshot's first statement: fund chains are locked as of the snapshot
                // the replay reads, so no append commits unseen before the replacement.
                diesel::sql_query(
                    "SELECT 1 FROM chain_heads h JOIN funds f ON f.id = h.chain_id FOR UPDATE OF h",
                )
                .execute(conn)?;
            }
            let funds = fund_store::all_funds(conn)?;
            for t in &tables {
                diesel::sql_query(format!(
                    "CREATE TEMP TABLE {t} (LIKE public.{t} INCLUDING ALL) ON COMMIT DROP"
                ))
                .execute(conn)?;
            }
            let mut report = Report::default();
            for fund in &funds {
                report.funds += 1;
                let currency = Currency::parse(&fund.currency).map_err(anyhow::Error::msg)?;
                let ctx = FundCtx {
                    fund: fund.id,
                    currency,
                };
                let mut after = None;
                loop {
                    let rows = ledger_store::entries_after(conn, fund.id, after, PAGE)?;
                    let Some(last) = rows.last() else { break };
                    after = Some(last.seq);
                    let entries = rows
                        .iter()
                        .map(Ledger::parse_entry)
                        .collect::<Result<Vec<_>, _>>()?;
                    report.entries += u64::try_from(entries.len())?;
                    // The whole page in one savepoint with one cache; if any entry fails,
                    // replay the page entry by entry to name each failure.
                    let page = conn
                        .transaction(|conn| replay_in_order(conn, &ctx, &entries, screens, other));
                    if page.is_err() {
                        for entry in &entries {
                            let one = conn.transaction(|conn| {
                                replay_in_order(
                                    conn,
                                    &ctx,
                                    std::slice::from_ref(entry),
                                    screens,
                                    other,
                                )
                            });
                            if let Err(why) = one {
                                report
                                    .failed_entries
                                    .push(format!("fund {} seq {}: {why}", fund.id, entry.seq));
                            }
                        }
                    }
                }
            }
            for t in &tables {
                for (only_in, left, right) in [
                    ("stored", "public", "pg_temp"),
                    ("rebuilt", "pg_temp", "public"),
                ] {
                    let rows: Vec<JsonRow> = diesel::sql_query(format!(
                        "SELECT row_to_json(d)::text AS row FROM \
                         (SELECT * FROM {left}.{t} EXCEPT ALL SELECT * FROM {right}.{t}) d \
                         LIMIT {MAX_REPORTED}"
                    ))
                    .load(conn)?;
                    for r in rows {
                        report.differences.push(Difference {
                            table: (*t).to_owned(),
                            only_in,
                            row: serde_json::from_str(&r.row)?,
                        });
                    }
                }
            }
            if replace && report.failed_entries.is_empty() && !report.differences.is_empty() {
                for t in tables.iter().rev() {
                    diesel::sql_query(format!("DELETE FROM public.{t}")).execute(conn)?;
                }
                for t in &tables {
                    diesel::sql_query(format!("INSERT INTO public.{t} SELECT * FROM pg_temp.{t}"))
                        .execute(conn)?;
                }
                report.replaced = true;
            }
            Ok(report)
        })
}
