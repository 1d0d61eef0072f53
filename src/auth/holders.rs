//! Token holders looked up together: every request's holder check (`guard`) is answered
//! by one thread that reads, with one query, the holders of all the requests waiting when
//! its query starts.
//!
//! Nothing is cached: a lookup is answered only by a query that started after the lookup
//! arrived, so a deactivation or a revocation committed before a request arrives is seen
//! by that request, in every process, as when each request ran its own query. What is
//! saved is the rest: under load the requests of a moment share one round trip, one
//! statement and one pooled connection, and none of them waits on a thread of the blocking
//! pool for it.

use std::collections::HashSet;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Mutex;
use std::time::Duration;

use uuid::Uuid;

use super::guard::Role;
use super::store;
use crate::db::{PgPool, PgPooled};
use crate::error::ApiError;

/// Lookups waiting for the thread, past which a request is refused with 503 `overloaded`.
const QUEUE_DEPTH: usize = 4_096;
/// Most holders one query reads.
const MAX_PER_QUERY: usize = 1_024;
/// The thread ends, and returns its connection, after this long without a lookup.
const IDLE: Duration = Duration::from_secs(30);

/// A token's holder: its user, the user's organisation and the role it was issued for.
pub type Holder = (Uuid, Uuid, Role);

struct Lookup {
    holder: Holder,
    reply: tokio::sync::oneshot::Sender<Result<bool, String>>,
}

/// The lookup thread's queue; the thread starts at the first lookup and again after it
/// ended (idle, or gone).
#[derive(Debug, Default)]
pub struct Holders {
    queue: Mutex<Option<SyncSender<Lookup>>>,
}

impl Holders {
    /// Does `holder` still stand (`store::live_holders`)? Read on `pool`'s database by a
    /// query that starts after this call.
    pub async fn live(&self, pool: &PgPool, holder: Holder) -> Result<bool, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(pool, Lookup { holder, reply })?;
        match answer.await {
            Ok(Ok(live)) => Ok(live),
            Ok(Err(e)) => Err(ApiError::DatabaseUnavailable(anyhow::anyhow!(e))),
            Err(_) => Err(ApiError::Internal(anyhow::anyhow!(
                "the token holder lookup ended without an answer"
            ))),
        }
    }

    fn send(&self, pool: &PgPool, mut lookup: Lookup) -> Result<(), ApiError> {
        let mut queue = self
            .queue
            .lock()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("holder lookup queue poisoned")))?;
        // Twice at most: a thread that ended since the last lookup is started again.
        for _ in 0..2 {
            let sender = match queue.as_ref() {
                Some(s) => s.clone(),
                None => {
                    let (tx, rx) = mpsc::sync_channel(QUEUE_DEPTH);
                    let pool = pool.clone();
                    std::thread::Builder::new()
                        .name("token-holders".to_owned())
                        .spawn(move || run(&pool, &rx))
                        .map_err(|e| ApiError::Internal(e.into()))?;
                    *queue = Some(tx.clone());
                    tx
                }
            };
            match sender.try_send(lookup) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(_)) => return Err(ApiError::Overloaded),
                Err(TrySendError::Disconnected(back)) => {
                    *queue = None;
                    lookup = back;
                }
            }
        }
        Err(ApiError::Internal(anyhow::anyhow!(
            "could not start the token holder lookup"
        )))
    }
}

fn run(pool: &PgPool, rx: &Receiver<Lookup>) {
    // The connection is kept while lookups follow each other, as the chain writers do.
    let mut held: Option<PgPooled> = None;
    loop {
        let first = match held.is_some() {
            true => match rx.try_recv() {
                Ok(lookup) => Ok(lookup),
                Err(_) => {
                    held = None;
                    rx.recv_timeout(IDLE)
                }
            },
            false => rx.recv_timeout(IDLE),
        };
        let first = match first {
            Ok(lookup) => lookup,
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut lookups = vec![first];
        while lookups.len() < MAX_PER_QUERY {
            match rx.try_recv() {
                Ok(lookup) => lookups.push(lookup),
                Err(_) => break,
            }
        }
        let conn = match held.take() {
            Some(conn) => Ok(conn),
            None => pool.get().map_err(|e| e.to_string()),
        };
        let answer = conn.and_then(|mut conn| {
            let users: Vec<Uuid> = lookups
                .iter()
                .map(|l| l.holder.0)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let live = store::live_holders(&mut conn, &users).map_err(|e| e.to_string())?;
            held = Some(conn);
            Ok(live)
        });
        for Lookup { holder, reply } in lookups {
            let (user, org, role) = holder;
            // A request that went away (timeout, disconnect) simply does not read it.
            let _ = reply.send(match &answer {
                Ok(live) => Ok(live.contains(&(user, org, role.as_str().to_owned()))),
                Err(e) => Err(e.clone()),
            });
        }
    }
}
