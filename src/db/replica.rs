//! The read side's replica (docs/operations.md, "Scaling out"): a streaming replica of
//! the primary (hot standby) answers a pinned read once it has replayed the sizes the read
//! is pinned to (`state::ReadPin`).

use diesel::pg::PgConnection;
use diesel::sql_types::Bool;
use diesel::{QueryResult, QueryableByName, RunQueryDsl};

#[derive(QueryableByName)]
struct Recovery {
    #[diesel(sql_type = Bool)]
    standby: bool,
}

/// Whether the server behind `conn` is a standby (replaying a primary's log).
pub fn is_standby(conn: &mut PgConnection) -> QueryResult<bool> {
    diesel::sql_query("SELECT pg_is_in_recovery() AS standby")
        .get_result::<Recovery>(conn)
        .map(|r| r.standby)
}
