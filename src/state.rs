//! The handles every request shares: the database pool, the metrics registry, the
//! settings, the ledger and the evidence document store, and `with_conn`, the one way a
//! handler reaches the database.
//! Capabilities that need state of their own (the token keys of `auth`, the screens
//! `entries` calls) register it beside this one in `app`; nothing here knows them.

use std::sync::Arc;

use actix_web::web;

use crate::config::AppSettings;
use crate::db::PgPool;
use crate::docstore::DocumentStore;
use crate::ledger::Ledger;
use crate::telemetry::metrics::Metrics;

/// State shared by every worker.
pub struct AppState {
    pub pool: PgPool,
    pub metrics: Metrics,
    pub settings: AppSettings,
    pub ledger: Arc<Ledger>,
    /// The evidence document store (`settings.documents`).
    pub documents: DocumentStore,
}

impl AppState {
    pub fn new(pool: PgPool, settings: AppSettings, ledger: Arc<Ledger>) -> anyhow::Result<Self> {
        let documents = DocumentStore::open(&settings.documents.store)?;
        Ok(Self {
            pool,
            metrics: Metrics::new()?,
            settings,
            ledger,
            documents,
        })
    }
}

/// Runs blocking database work on actix's blocking pool with a pooled connection: the one
/// way handlers reach the database (a pool timeout becomes 503 `database_unavailable`).
pub async fn with_conn<T, F>(state: &web::Data<AppState>, f: F) -> crate::error::ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&AppState, &mut diesel::PgConnection) -> crate::error::ApiResult<T> + Send + 'static,
{
    let state = state.clone();
    web::block(move || {
        let mut conn = state.pool.get()?;
        f(&state, &mut conn)
    })
    .await?
}
