//! The pool's connection manager: diesel's, with the liveness probe on check-out skipped
//! for a connection that answered one within the last second.
//!
//! A probe (`SELECT 1`) per check-out is a round trip per request on top of the request's
//! own statements. On a busy pool every connection is checked out many times a second, and
//! a connection that answered a moment ago is as good as one that answers now: the probe
//! runs at most once a second per connection, so a connection that died (the server
//! restarted, a proxy cut it) is found by the probe within a second of its last answer, as
//! HikariCP's `aliveBypassWindowMs` does. Until then a request on it fails with
//! `database_unavailable` and the connection's transaction state, if broken, still drops
//! it (`has_broken`).

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Error, ManageConnection};

/// How long a probe's answer vouches for a connection.
const VOUCHED_FOR: Duration = Duration::from_secs(1);

/// A pooled connection and when it last proved alive (made, or answered the probe).
pub struct Vouched {
    conn: PgConnection,
    at: Instant,
}

impl Deref for Vouched {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl DerefMut for Vouched {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

/// diesel's `ConnectionManager` with the probe of a vouched-for connection skipped.
#[derive(Debug)]
pub struct Manager {
    inner: ConnectionManager<PgConnection>,
}

impl Manager {
    pub fn new(inner: ConnectionManager<PgConnection>) -> Self {
        Self { inner }
    }
}

impl ManageConnection for Manager {
    type Connection = Vouched;
    type Error = Error;

    fn connect(&self) -> Result<Vouched, Error> {
        Ok(Vouched {
            conn: self.inner.connect()?,
            at: Instant::now(),
        })
    }

    fn is_valid(&self, conn: &mut Vouched) -> Result<(), Error> {
        if conn.at.elapsed() < VOUCHED_FOR {
            return Ok(());
        }
        self.inner.is_valid(&mut conn.conn)?;
        conn.at = Instant::now();
        Ok(())
    }

    fn has_broken(&self, conn: &mut Vouched) -> bool {
        self.inner.has_broken(&mut conn.conn)
    }
}
