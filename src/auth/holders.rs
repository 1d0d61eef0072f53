//! Token holders looked up together: every request's holder check (`guard`) is answered
//! by one thread that reads, with one query, the holders of all the requests waiting when
//! its query starts (`db::coalesce`). Nothing is cached: a request is answered only by a
//! query that started after it arrived, so a deactivation or a revocation committed before
//! a request arrives is seen by that request, in every process.

use diesel::{PgConnection, QueryResult};
use uuid::Uuid;

use super::guard::Role;
use super::store;
use crate::db::coalesce::{Coalescer, Unanswered};
use crate::db::PgPool;

/// A token's holder: its user, the user's organisation and the role it was issued for.
pub type Holder = (Uuid, Uuid, Role);

/// The holder lookups of a process.
#[derive(Debug)]
pub struct Holders(Coalescer<Holder, bool>);

impl Default for Holders {
    fn default() -> Self {
        Self(Coalescer::new("token-holders", read))
    }
}

impl Holders {
    /// Does `holder` still stand (`store::live_holders`)? Read on `pool`'s database by a
    /// query that starts after this call.
    pub async fn live(&self, pool: &PgPool, holder: Holder) -> Result<bool, Unanswered> {
        self.0.get(pool, holder).await
    }
}

fn read(conn: &mut PgConnection, holders: &[Holder]) -> QueryResult<Vec<bool>> {
    let mut users: Vec<Uuid> = holders.iter().map(|h| h.0).collect();
    users.sort_unstable();
    users.dedup();
    let live = store::live_holders(conn, &users)?;
    Ok(holders
        .iter()
        .map(|(user, org, role)| live.contains(&(*user, *org, role.as_str().to_owned())))
        .collect())
}
