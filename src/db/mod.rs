//! Connection pool, embedded migrations and the private-cluster default.

pub mod coalesce;
pub mod embedded;
mod pool;
pub mod prepared;
pub mod replica;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::PoolSettings;
pub use pool::{Manager, Vouched};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type PgPool = Pool<Manager>;
pub type PgPooled = PooledConnection<Manager>;

/// A statement the database refused for the values it was given: retrying it can never
/// succeed, so it is the client's error (422), never `database_unavailable`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub detail: String,
}

/// Classifies `err` as a refusal of the data (SQLSTATE class 22, data exception, and the
/// integrity constraints of class 23 other than unique keys, which are conflicts) or
/// `None` for everything else (connection failures, timeouts, bugs).
///
/// diesel exposes the SQLSTATE only for class 23 (as `DatabaseErrorKind`); class 22 comes
/// as `Unknown`, so it is recognised by Postgres's (English) messages for it. The service
/// refuses control characters and out-of-range numbers before any query (`text`, the
/// extractors), so this is the last line of defence.
pub fn refusal(err: &diesel::result::Error) -> Option<Refusal> {
    use diesel::result::{DatabaseErrorKind as Kind, Error as E};
    let E::DatabaseError(kind, info) = err else {
        return None;
    };
    let constraint = || info.constraint_name().unwrap_or("a constraint").to_owned();
    let refusal = |code, detail: String| Some(Refusal { code, detail });
    match kind {
        Kind::CheckViolation | Kind::NotNullViolation => refusal(
            "invalid_value",
            format!("a value is outside what is accepted ({})", constraint()),
        ),
        Kind::ForeignKeyViolation => refusal(
            "unknown_reference",
            format!(
                "a value refers to something that does not exist ({})",
                constraint()
            ),
        ),
        Kind::Unknown => {
            let message = info.message();
            const TEXT: [&str; 4] = [
                "invalid byte sequence for encoding",
                "unsupported Unicode escape sequence",
                "has no equivalent in encoding",
                "null character not permitted",
            ];
            const VALUE: [&str; 8] = [
                "value too long for type",
                "out of range",
                "numeric field overflow",
                "invalid input syntax for type",
                "invalid input value for enum",
                "division by zero",
                "invalid regular expression",
                "date/time field value out of range",
            ];
            if TEXT.iter().any(|m| message.contains(m)) {
                refusal(
                    "invalid_text",
                    "a text holds a character the database cannot store (such as U+0000)"
                        .to_owned(),
                )
            } else if VALUE.iter().any(|m| message.contains(m)) {
                refusal(
                    "invalid_value",
                    "a value is outside what the database can store".to_owned(),
                )
            } else {
                None
            }
        }
        _ => None,
    }
}

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

/// What the login of a database URL may do, as Postgres says.
#[derive(Debug, diesel::QueryableByName)]
struct LoginRights {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    superuser: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    bypass_rls: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    replication: bool,
    /// Owns (or is a member of the owner of) the ledger's tables: could disable their
    /// append-only triggers.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    owns_ledger: bool,
}

/// The URL the service's pool logs in with: least privilege (docs/operations.md,
/// "Database roles").
///
/// `url` is the database URL the operator configured, used to migrate. If its login is a
/// superuser (the embedded default, a developer's machine), the pool logs in as the
/// service role `role` instead (given LOGIN here, without a password: the server's
/// authentication for it must allow that, as the private cluster's socket and a trust
/// setup do); the superuser login then only migrates. Any other login is used as it is,
/// and refused when it can bypass row security, replicate, or owns the ledger's tables
/// (an owner may disable the append-only triggers).
pub fn service_login_url(url: &str, role: &str) -> anyhow::Result<String> {
    login_url(url, role, true)
}

/// The URL the read side's pool logs in to a replica with (`--read-database-url`): the
/// same rules as `service_login_url`, except that a replica is read-only, so a superuser
/// login is swapped for the service role only once the primary has let that role log in
/// (the primary's start does, and the replica replays it).
pub fn replica_login_url(url: &str, role: &str) -> anyhow::Result<String> {
    login_url(url, role, false)
}

fn login_url(url: &str, role: &str, may_grant_login: bool) -> anyhow::Result<String> {
    use diesel::RunQueryDsl;
    anyhow::ensure!(
        is_plain_identifier(role),
        "FUNDTRAIL_DB_ROLE must be a plain identifier (letters, digits, underscore), got {role:?}"
    );
    let mut conn =
        PgConnection::establish(url).context("connecting to the database to check its login")?;
    let rights: LoginRights = diesel::sql_query(
        "SELECT r.rolname::text AS name, r.rolsuper AS superuser, r.rolbypassrls AS bypass_rls, \
                r.rolreplication AS replication, \
                COALESCE((SELECT pg_has_role(session_user, c.relowner, 'MEMBER') \
                          FROM pg_class c WHERE c.oid = to_regclass('public.ledger_entries')), \
                         false) AS owns_ledger \
         FROM pg_roles r WHERE r.rolname = session_user",
    )
    .get_result(&mut conn)
    .context("reading the login's rights")?;
    if rights.superuser {
        #[derive(diesel::QueryableByName)]
        struct CanLogin {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            login: bool,
        }
        let can: Vec<CanLogin> =
            diesel::sql_query("SELECT rolcanlogin AS login FROM pg_roles WHERE rolname = $1")
                .bind::<diesel::sql_types::Text, _>(role)
                .load(&mut conn)
                .context("reading the service role")?;
        anyhow::ensure!(
            !can.is_empty(),
            "the service role {role} does not exist: run `fundtrail migrate` first"
        );
        if !can.iter().any(|c| c.login) {
            anyhow::ensure!(
                may_grant_login,
                "the service role {role} may not log in on the replica yet: start `serve` on \
                 the primary first (it lets the role log in) and let the replica replay it"
            );
            diesel::sql_query(format!("ALTER ROLE \"{role}\" LOGIN"))
                .execute(&mut conn)
                .with_context(|| format!("letting the service role {role} log in"))?;
        }
        let app = with_user(url, role)?;
        tracing::info!(
            db.login = %rights.name,
            db.service_login = role,
            "the configured database login is a superuser: it migrates; the service logs in as {role}"
        );
        return Ok(app);
    }
    anyhow::ensure!(
        !rights.bypass_rls && !rights.replication && !rights.owns_ledger,
        "the database login {} may {}: the service must not log in with such rights \
         (give DATABASE_URL a login of the service role; docs/operations.md, \"Database roles\")",
        rights.name,
        [
            (rights.bypass_rls, "bypass row security"),
            (rights.replication, "replicate"),
            (
                rights.owns_ledger,
                "alter the ledger's tables (it owns them)"
            ),
        ]
        .iter()
        .filter(|(yes, _)| *yes)
        .map(|(_, what)| *what)
        .collect::<Vec<_>>()
        .join(", ")
    );
    Ok(url.to_owned())
}

/// `url` (`postgres[ql]://[user[:password]@]host…`) with the login `user` and no password.
pub fn with_user(url: &str, user: &str) -> anyhow::Result<String> {
    let scheme_end = url
        .find("://")
        .context("the database URL must be a postgres:// URL")?
        + 3;
    let rest = url.get(scheme_end..).unwrap_or_default();
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Ok(format!(
        "{}{user}@{host}{after}",
        url.get(..scheme_end).unwrap_or_default()
    ))
}

/// Per-connection session setup: drop to the service role and bound every statement.
#[derive(Debug)]
struct SessionSetup {
    role: Option<String>,
    statement_timeout_ms: u64,
}

impl CustomizeConnection<Vouched, diesel::r2d2::Error> for SessionSetup {
    fn on_acquire(&self, conn: &mut Vouched) -> Result<(), diesel::r2d2::Error> {
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
    let manager = Manager::new(ConnectionManager::<PgConnection>::new(url));
    Ok(Pool::builder()
        .max_size(settings.max_size)
        .min_idle(Some(0))
        .connection_timeout(settings.connect_timeout)
        // `Manager::is_valid` probes only a connection not vouched for within a second.
        .test_on_check_out(true)
        .connection_customizer(Box::new(SessionSetup {
            role: settings.role.clone(),
            statement_timeout_ms: settings.statement_timeout_ms,
        }))
        .build_unchecked(manager))
}

#[cfg(test)]
mod tests {
    use super::{is_plain_identifier, with_user};

    #[test]
    fn the_service_login_replaces_user_and_password_only() {
        assert_eq!(
            with_user(
                "postgres://postgres:secret@db.example:5432/app?sslmode=require",
                "svc"
            )
            .ok(),
            Some("postgres://svc@db.example:5432/app?sslmode=require".to_owned())
        );
        assert_eq!(
            with_user(
                "postgresql://postgres@/fundtrail?host=/run/pg&port=5433",
                "svc"
            )
            .ok(),
            Some("postgresql://svc@/fundtrail?host=/run/pg&port=5433".to_owned())
        );
        assert_eq!(
            with_user("postgres://127.0.0.1:5432/app", "svc").ok(),
            Some("postgres://svc@127.0.0.1:5432/app".to_owned())
        );
        assert!(with_user("127.0.0.1:5432/app", "svc").is_err());
    }

    #[test]
    fn role_names_are_plain_identifiers() {
        assert!(is_plain_identifier("fundtrail_app"));
        assert!(!is_plain_identifier("x\"; DROP TABLE y; --"));
        assert!(!is_plain_identifier(""));
        assert!(!is_plain_identifier("1abc"));
    }
}
