//! Hand-written SQL that diesel prepares once per connection.
//!
//! `diesel::sql_query` marks every query unsafe to cache (its text could be built at run
//! time), so Postgres parses and plans it on each call. For the hot read paths (inclusion
//! and consistency proofs) that planning was a measurable share of a sub-millisecond
//! budget. [`prepared`] wraps a `sql_query` with its binds and declares it safe to cache:
//! diesel's statement cache keys it by its SQL text and bind types, so the first call on a
//! connection prepares a named statement and later calls only bind and execute it.
//!
//! Only for queries whose text is a constant, or one of a small fixed set of texts (the
//! parts `screening::store::job_reads` includes: at most 64): every distinct text is a
//! cache entry for the life of the connection.
//!
//! A prepared statement may run a *generic* plan, made once (after five executions) from
//! the statistics of that moment and kept until the table's statistics change (autovacuum's
//! ANALYZE). A query whose best plan depends on a table that grows fast from empty can
//! keep a small-table plan meanwhile: the idempotency-key lookup of group commits, prepared
//! for a while, kept a sequential scan per key in a fresh benchmark database (5.5 ms for 31
//! keys) and is planned per call again (`ledger::store::entries_by_keys`). Prepare reads
//! of large, long-lived tables by primary key or a fenced per-key probe; check the generic
//! plan with `SET plan_cache_mode = force_generic_plan` and `EXPLAIN EXECUTE`.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::QueryResult;
use diesel::RunQueryDsl;

/// A query with its statement-cache decision fixed: `CACHED` queries are prepared once per
/// connection, the others are parsed and planned on every call. Built by [`prepared`] and
/// [`unprepared`].
#[derive(Debug, Clone)]
pub struct Planned<Q, const CACHED: bool>(Q);

/// A raw query (`diesel::sql_query(CONSTANT).bind(..)...`) that may be prepared once per
/// connection.
pub type Prepared<Q> = Planned<Q, true>;

/// Wraps `query`, whose SQL text must be a constant, so diesel caches its prepared
/// statement.
pub fn prepared<Q>(query: Q) -> Prepared<Q> {
    Planned(query)
}

/// A query (typically diesel's DSL) that Postgres plans on every call, for lookups whose
/// cached generic plan can go wrong on a table that grows from empty.
///
/// diesel caches every DSL query as a named prepared statement, and Postgres switches a
/// prepared statement to a generic plan after five executions, made from the statistics of
/// that moment. For a fund created in a fresh database that moment is a table of a few rows
/// without statistics, where every index costs the same: the job prefetches of
/// `funds::state` (`seq = ANY($2)`) then kept plans that read every row of the fund and
/// filtered the seqs (the fund's invoices for one invoice, 0.3 ms at 900 invoices), and
/// the by-seq lookup of `fund_entries` walked `fund_entries_business_date`, whose key also
/// ends in `seq` (0.2 ms at 12,000 entries instead of 0.01), until autovacuum's next
/// ANALYZE. Planned per call, the planner sees the array's size and the table's current
/// size (for a small single-table query, tens of microseconds).
pub type Unprepared<Q> = Planned<Q, false>;

/// Wraps `query` so that it is planned on every call (see [`Unprepared`]).
pub fn unprepared<Q>(query: Q) -> Unprepared<Q> {
    Planned(query)
}

impl<Q: QueryFragment<Pg>, const CACHED: bool> QueryFragment<Pg> for Planned<Q, CACHED> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(out)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(CACHED)
    }
}

// No static query id: diesel keys a cached statement by its SQL text and bind types.
impl<Q, const CACHED: bool> QueryId for Planned<Q, CACHED> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query, const CACHED: bool> Query for Planned<Q, CACHED> {
    type SqlType = Q::SqlType;
}

impl<Conn, Q, const CACHED: bool> RunQueryDsl<Conn> for Planned<Q, CACHED> {}
