//! Connection pool, embedded migrations and the private-cluster default.

pub mod embedded;
pub mod prepared;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::PoolSettings;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type PgPool = Pool<ConnectionManager<PgConnection>>;
pub type PgPooled = PooledConnection<ConnectionManager<PgConnection>>;

/// Applies every pending migration; returns the versions applied.
pub fn run_migrations(conn: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
    Ok(applied.iter().map(|v| v.to_string()).collect())
}

/// Opens one connection to `url` and migrates it.
pub fn migrate_url(url: &str) -> anyhow::Result<Vec<String>> {
    let mut conn =
        PgConnection::establish(url).context("connecting to the database to migrate it")?;
    run_migrations(&mut conn)
}

/// True when the database is reachable and every embedded migration is applied.
///
/// Reads the migrations table directly: diesel's own check first tries to create that
/// table, which the service role (rightly) may not do.
pub fn is_migrated(conn: &mut PgConnection) -> anyhow::Result<bool> {
    use diesel::migration::MigrationSource;
    use diesel::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Applied {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let applied: std::collections::HashSet<String> =
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
            .load::<Applied>(conn)
            .map_err(|e| anyhow::anyhow!("reading applied migrations: {e}"))?
            .into_iter()
            .map(|a| a.version)
            .collect();
    let embedded = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("listing embedded migrations: {e}"))?;
    Ok(embedded
        .iter()
        .all(|m| applied.contains(&m.name().version().to_string())))
}

/// Per-connection session setup: drop to the service role and bound every statement.
#[derive(Debug)]
struct SessionSetup {
    role: Option<String>,
    statement_timeout_ms: u64,
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for SessionSetup {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        let mut sql = format!(
            "SET statement_timeout = {}; SET idle_in_transaction_session_timeout = 60000; SET TIME ZONE 'UTC';",
            self.statement_timeout_ms
        );
        if let Some(role) = &self.role {
            // Validated as a plain identifier in `build_pool`, so quoting is enough.
            sql.push_str(&format!(" SET ROLE \"{role}\";"));
        }
        conn.batch_execute(&sql)
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

fn is_plain_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Builds the pool without connecting: the service starts (and `/healthz` answers)
/// while the database is down, and `/readyz` reports it.
pub fn build_pool(url: &str, settings: &PoolSettings) -> anyhow::Result<PgPool> {
    if let Some(role) = &settings.role {
        anyhow::ensure!(
            is_plain_identifier(role),
            "FUNDTRAIL_DB_ROLE must be a plain identifier (letters, digits, underscore), got {role:?}"
        );
    }
    let manager = ConnectionManager::<PgConnection>::new(url);
    Ok(Pool::builder()
        .max_size(settings.max_size)
        .min_idle(Some(0))
        .connection_timeout(settings.connect_timeout)
        .test_on_check_out(true)
        .connection_customizer(Box::new(SessionSetup {
            role: settings.role.clone(),
            statement_timeout_ms: settings.statement_timeout_ms,
        }))
        .build_unchecked(manager))
}

#[cfg(test)]
mod tests {
    use super::is_plain_identifier;

    #[test]
    fn role_names_are_plain_identifiers() {
        assert!(is_plain_identifier("fundtrail_app"));
        assert!(!is_plain_identifier("x\"; DROP TABLE y; --"));
        assert!(!is_plain_identifier(""));
        assert!(!is_plain_identifier("1abc"));
    }
}
