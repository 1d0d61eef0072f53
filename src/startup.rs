//! `fundtrail serve`: resolve the database (configured or embedded), migrate, serve
//! until SIGINT/SIGTERM, let in-flight requests finish, then stop what we started.

use actix_web::{web, HttpServer};

use crate::app::{self, AppState};
use std::sync::Arc;

use crate::config::{AppSettings, DbArgs, HttpArgs, LedgerArgs};
use crate::db::{self, embedded::EmbeddedPostgres};
use crate::ledger::{keys, Ledger};

/// The database the service uses, and the private cluster behind it if we started one.
pub struct Database {
    pub url: String,
    pub embedded: Option<EmbeddedPostgres>,
}

/// `DATABASE_URL` when set; otherwise the private cluster under the data directory.
pub fn resolve_database(args: &DbArgs) -> anyhow::Result<Database> {
    match &args.database_url {
        Some(url) => Ok(Database {
            url: url.clone(),
            embedded: None,
        }),
        None => {
            let cluster = EmbeddedPostgres::start(&args.data_dir)?;
            tracing::info!(
                pg.data_dir = %args.data_dir.display(),
                "no DATABASE_URL set: using the private PostgreSQL cluster"
            );
            Ok(Database {
                url: cluster.database_url(),
                embedded: Some(cluster),
            })
        }
    }
}

pub fn serve(db_args: &DbArgs, http: &HttpArgs, ledger_args: &LedgerArgs) -> anyhow::Result<()> {
    let key_path = ledger_args.key_path(&db_args.data_dir);
    // Generated on first start only where we own the default location.
    let signer = keys::load_or_generate(
        &key_path,
        &ledger_args.log_name,
        ledger_args.signing_key.is_none(),
    )?;
    let database = resolve_database(db_args)?;
    let applied = db::migrate_url(&database.url)?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "migrations applied");
    }
    let pool = db::build_pool(&database.url, &db_args.pool_settings())?;
    let settings = AppSettings {
        body_limit_bytes: http.body_limit_bytes,
        future_skew: chrono::Days::new(u64::from(ledger_args.future_skew_days)),
    };
    let ledger = Arc::new(Ledger::new(
        pool.clone(),
        signer,
        &ledger_args.log_name,
        Ledger::system_clock(),
    ));
    let state = web::Data::new(AppState::new(pool, settings, ledger.clone())?);

    let workers = if http.workers == 0 {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    } else {
        http.workers
    };
    let bind = http.bind;
    let shutdown_timeout_s = http.shutdown_timeout_s;
    let result = actix_web::rt::System::new().block_on(async move {
        ledger
            .bootstrap()
            .await
            .map_err(|e| std::io::Error::other(format!("ledger start-up: {e}")))?;
        let server = HttpServer::new(move || app::build(state.clone()))
            .workers(workers)
            .shutdown_timeout(shutdown_timeout_s)
            .bind(bind)?
            .run();
        tracing::info!(http.bind = %bind, "fundtrail listening (API page at /docs)");
        // actix handles SIGINT/SIGTERM: it stops accepting, lets in-flight requests
        // finish (up to the shutdown timeout), then this future resolves.
        server.await
    });
    tracing::info!("HTTP server stopped");
    drop(database); // stops the private cluster, if we started one
    result.map_err(Into::into)
}
