//! The handles every request shares: the database pool, the metrics registry, the
//! settings, the ledger and the evidence document store, and `with_conn`, the one way a
//! handler reaches the database, and `with_read` / `with_pinned_read`, the way a read
//! reaches the replica when one is configured (docs/operations.md, "Scaling out").
//! Capabilities that need state of their own (the token keys of `auth`, the screens
//! `entries` calls) register it beside this one in `app`; nothing here knows them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;

use crate::config::AppSettings;
use crate::db::{PgPool, PgPooled};
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
    /// The streaming replica pinned reads go to (`--read-database-url`), if any.
    pub replica: Option<Replica>,
}

/// A streaming replica of the primary, for the read side.
pub struct Replica {
    pub pool: PgPool,
    /// How long a read waits for the replica to replay its pin before going to the primary.
    pub wait: Duration,
}

/// What a replica must have replayed to answer a read exactly as the primary would: the
/// sizes of the chains the read is pinned to (their entries, index rows, checkpoints and
/// flags commit together), and whatever else the read needs (`ReadPin::and`). The default
/// pin sends the read to the primary.
#[derive(Default)]
pub struct ReadPin(Option<Box<Reached>>);

type Reached = dyn Fn(&mut diesel::PgConnection) -> diesel::QueryResult<bool> + Send;

impl ReadPin {
    /// Pinned to these chains at these sizes: a replica whose head of each is at least that
    /// size has every row below it.
    pub fn sizes(sizes: Vec<(uuid::Uuid, u64)>) -> Self {
        Self(Some(Box::new(move |conn| {
            for (chain, size) in &sizes {
                let head = crate::ledger::store::head(conn, *chain)
                    .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?;
                if head.is_none_or(|(have, _)| have < *size) {
                    return Ok(false);
                }
            }
            Ok(true)
        })))
    }

    /// Pinned to `chain` at the size its head has on the primary now (`conn`).
    pub fn chain_now(
        conn: &mut diesel::PgConnection,
        chain: uuid::Uuid,
    ) -> crate::error::ApiResult<Self> {
        match crate::ledger::store::head(conn, chain)
            .map_err(|e| crate::error::ApiError::Internal(anyhow::anyhow!("chain head: {e}")))?
        {
            Some((size, _)) => Ok(Self::sizes(vec![(chain, size)])),
            // No such chain: the read answers 404, on the primary.
            None => Ok(Self::default()),
        }
    }

    /// This pin, and `also` true on the replica.
    pub fn and(
        self,
        also: impl Fn(&mut diesel::PgConnection) -> diesel::QueryResult<bool> + Send + 'static,
    ) -> Self {
        match self.0 {
            Some(first) => Self(Some(Box::new(move |conn| Ok(first(conn)? && also(conn)?)))),
            None => Self::default(),
        }
    }

    fn reached(&self, conn: &mut diesel::PgConnection) -> diesel::QueryResult<bool> {
        self.0.as_ref().map_or(Ok(false), |f| f(conn))
    }
}

/// How often a read waiting for the replica asks it how far it has replayed.
const REPLAY_POLL: Duration = Duration::from_millis(5);

impl AppState {
    pub fn new(pool: PgPool, settings: AppSettings, ledger: Arc<Ledger>) -> anyhow::Result<Self> {
        let documents = DocumentStore::open(&settings.documents.store)?;
        Ok(Self {
            pool,
            metrics: Metrics::new()?,
            settings,
            ledger,
            documents,
            replica: None,
        })
    }

    /// This state with pinned reads sent to `replica`.
    pub fn with_replica(mut self, replica: Replica) -> Self {
        self.replica = Some(replica);
        self
    }

    /// A replica connection for a read pinned at `pin`, once the replica has replayed it;
    /// `None` (the read goes to the primary) when no replica is configured, it cannot be
    /// reached, or it has not replayed the pin within `Replica::wait`. Blocking.
    pub fn replica_conn(&self, pin: &ReadPin) -> Option<PgPooled> {
        let replica = self.replica.as_ref().filter(|_| pin.0.is_some())?;
        let served = |by| self.metrics.read_served(by);
        let deadline = Instant::now() + replica.wait;
        let mut conn = match replica.pool.get() {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "replica unreachable: the read goes to the primary");
                served("primary");
                return None;
            }
        };
        loop {
            match pin.reached(&mut conn) {
                Ok(true) => {
                    served("replica");
                    return Some(conn);
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "replica failed: the read goes to the primary");
                    served("primary");
                    return None;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::debug!(
                    "the replica has not replayed the read's pin in time: the read goes to the primary"
                );
                served("primary");
                return None;
            }
            std::thread::sleep(REPLAY_POLL.min(deadline - now));
        }
    }

    /// Threads of each of `workers` HTTP workers' blocking pools, where handlers' database
    /// work runs: the pool's connections shared among the workers (rounded up), since a
    /// thread past those would only wait for a connection, and each thread that allocates
    /// keeps memory of its own. Work beyond them waits in its worker's queue (`conn_since`).
    pub fn blocking_threads(&self, workers: usize) -> usize {
        usize::try_from(self.pool.max_size())
            .unwrap_or(1)
            .div_ceil(workers.max(1))
            .max(1)
    }

    /// A pooled connection for work queued on the blocking pool at `queued`. The pool's wait
    /// (`FUNDTRAIL_DB_CONNECT_TIMEOUT_MS`) counts from then: a request waits that long in
    /// all, in the queue and for a connection, then gets 503 `database_unavailable` with
    /// nothing done.
    pub fn conn_since(&self, queued: Instant) -> crate::error::ApiResult<PgPooled> {
        let timeout = self.pool.connection_timeout();
        let wait = timeout.saturating_sub(queued.elapsed());
        if wait.is_zero() {
            return Err(crate::error::ApiError::DatabaseUnavailable(
                anyhow::anyhow!("no database connection within {} ms", timeout.as_millis()),
            ));
        }
        Ok(self.pool.get_timeout(wait)?)
    }
}

/// Runs blocking database work on actix's blocking pool with a pooled connection: the one
/// way handlers reach the database (no connection in time is 503 `database_unavailable`,
/// `AppState::conn_since`).
pub async fn with_conn<T, F>(state: &web::Data<AppState>, f: F) -> crate::error::ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&AppState, &mut diesel::PgConnection) -> crate::error::ApiResult<T> + Send + 'static,
{
    let state = state.clone();
    let queued = Instant::now();
    web::block(move || {
        let mut conn = state.conn_since(queued)?;
        f(&state, &mut conn)
    })
    .await?
}

/// A read of `chain` as the primary holds it now, on the replica when one is configured
/// and has replayed that far (else on the primary): `with_pinned_read` pinned to the chain's
/// head.
pub async fn with_read<T, F>(
    state: &web::Data<AppState>,
    chain: uuid::Uuid,
    f: F,
) -> crate::error::ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&AppState, &mut diesel::PgConnection) -> crate::error::ApiResult<T> + Send + 'static,
{
    with_pinned_read(
        state,
        move |st, conn| {
            let pin = if st.replica.is_some() {
                ReadPin::chain_now(conn, chain)?
            } else {
                ReadPin::default()
            };
            Ok(((), pin))
        },
        move |st, conn, ()| f(st, conn),
    )
    .await
}

/// A pinned read: `pin` runs on the primary (scope, the checkpoint the read is pinned to,
/// anything the read needs written) and says what the read needs (`ReadPin`); `read`
/// then runs on the replica once it has replayed that, waiting at most `Replica::wait`,
/// else on the primary. Either way `read` sees the same rows below the pinned sizes, so it
/// answers the same.
pub async fn with_pinned_read<P, T, F, G>(
    state: &web::Data<AppState>,
    pin: F,
    read: G,
) -> crate::error::ApiResult<T>
where
    P: Send + 'static,
    T: Send + 'static,
    F: FnOnce(&AppState, &mut diesel::PgConnection) -> crate::error::ApiResult<(P, ReadPin)>
        + Send
        + 'static,
    G: FnOnce(&AppState, &mut diesel::PgConnection, P) -> crate::error::ApiResult<T>
        + Send
        + 'static,
{
    let state = state.clone();
    let queued = Instant::now();
    web::block(move || {
        let mut primary = state.conn_since(queued)?;
        let (pinned, at) = pin(&state, &mut primary)?;
        match state.replica_conn(&at) {
            Some(mut conn) => {
                drop(primary);
                read(&state, &mut conn, pinned)
            }
            None => read(&state, &mut primary, pinned),
        }
    })
    .await?
}
