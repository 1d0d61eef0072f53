//! Hand-written SQL that diesel prepares once per connection.
//!
//! `diesel::sql_query` marks every query unsafe to cache (its text could be built at run
//! time), so Postgres parses and plans it on each call. For the hot read paths (inclusion
//! and consistency proofs) that planning was a measurable share of a sub-millisecond
//! budget. [`prepared`] wraps a `sql_query` with its binds and declares it safe to cache:
//! diesel's statement cache keys it by its SQL text and bind types, so the first call on a
//! connection prepares a named statement and later calls only bind and execute it.
//!
//! Only for queries whose text is a constant: every distinct text is a cache entry for the
//! life of the connection.
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
use diesel::sql_types::Untyped;
use diesel::QueryResult;
use diesel::RunQueryDsl;

/// A raw query (`diesel::sql_query(CONSTANT).bind(..)...`) that may be prepared once per
/// connection.
#[derive(Debug, Clone)]
pub struct Prepared<Q>(Q);

/// Wraps `query`, whose SQL text must be a constant, so diesel caches its prepared
/// statement.
pub fn prepared<Q>(query: Q) -> Prepared<Q> {
    Prepared(query)
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(out)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

// No static query id: diesel keys the cached statement by its SQL text and bind types.
impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Prepared<Q> {
    type SqlType = Untyped;
}

impl<Conn, Q> RunQueryDsl<Conn> for Prepared<Q> {}
