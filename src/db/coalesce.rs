//! Lookups of concurrent requests answered together: one thread reads, with one query, the
//! keys of every lookup waiting when its query starts (`Coalescer`).
//!
//! Nothing is cached: a lookup is answered only by a query that started after the lookup
//! arrived, so a change committed before a request arrives is seen by that request, as when
//! each request ran its own query. What is saved is the rest: under load the requests of a
//! moment share one round trip, one statement and one pooled connection, and none of them
//! waits on a thread of the blocking pool for it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Mutex;
use std::time::Duration;

use diesel::{PgConnection, QueryResult};

use super::{PgPool, PgPooled};

/// Lookups waiting for the thread, past which a lookup is refused (`Overloaded`).
const QUEUE_DEPTH: usize = 4_096;
/// Most lookups one query answers.
const MAX_PER_QUERY: usize = 1_024;
/// The thread ends, and returns its connection, after this long without a lookup.
const IDLE: Duration = Duration::from_secs(30);

/// Why a lookup has no answer.
#[derive(Debug, thiserror::Error)]
pub enum Unanswered {
    #[error("too many lookups are waiting")]
    Overloaded,
    #[error("the database: {0}")]
    Database(String),
    #[error("{0}")]
    Internal(String),
}

/// Reads the answers of distinct keys, one per key, in the keys' order.
pub type Read<K, V> = fn(&mut PgConnection, &[K]) -> QueryResult<Vec<V>>;

struct Lookup<K, V> {
    key: K,
    reply: tokio::sync::oneshot::Sender<Result<V, String>>,
}

/// The lookup thread's queue; the thread starts at the first lookup and again after it
/// ended (idle, or gone).
pub struct Coalescer<K, V> {
    name: &'static str,
    read: Read<K, V>,
    queue: Mutex<Option<SyncSender<Lookup<K, V>>>>,
}

impl<K, V> std::fmt::Debug for Coalescer<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer")
            .field("name", &self.name)
            .finish()
    }
}

impl<K, V> Coalescer<K, V>
where
    K: Clone + Eq + Hash + Send + 'static,
    V: Clone + Send + 'static,
{
    /// A coalescer whose thread is named `name` and answers with `read`.
    pub fn new(name: &'static str, read: Read<K, V>) -> Self {
        Self {
            name,
            read,
            queue: Mutex::new(None),
        }
    }

    /// The answer for `key`, read on `pool`'s database by a query that starts after this
    /// call.
    pub async fn get(&self, pool: &PgPool, key: K) -> Result<V, Unanswered> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(pool, Lookup { key, reply })?;
        match answer.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Unanswered::Database(e)),
            Err(_) => Err(Unanswered::Internal(format!(
                "{}: the lookup ended without an answer",
                self.name
            ))),
        }
    }

    fn send(&self, pool: &PgPool, mut lookup: Lookup<K, V>) -> Result<(), Unanswered> {
        let mut queue = self
            .queue
            .lock()
            .map_err(|_| Unanswered::Internal(format!("{}: queue poisoned", self.name)))?;
        // Twice at most: a thread that ended since the last lookup is started again.
        for _ in 0..2 {
            let sender = match queue.as_ref() {
                Some(s) => s.clone(),
                None => {
                    let (tx, rx) = mpsc::sync_channel(QUEUE_DEPTH);
                    let (pool, read) = (pool.clone(), self.read);
                    std::thread::Builder::new()
                        .name(self.name.to_owned())
                        .spawn(move || run(&pool, read, &rx))
                        .map_err(|e| Unanswered::Internal(e.to_string()))?;
                    *queue = Some(tx.clone());
                    tx
                }
            };
            match sender.try_send(lookup) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(_)) => return Err(Unanswered::Overloaded),
                Err(TrySendError::Disconnected(back)) => {
                    *queue = None;
                    lookup = back;
                }
            }
        }
        Err(Unanswered::Internal(format!(
            "{}: could not start the lookup thread",
            self.name
        )))
    }
}

fn run<K, V>(pool: &PgPool, read: Read<K, V>, rx: &Receiver<Lookup<K, V>>)
where
    K: Clone + Eq + Hash,
    V: Clone,
{
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
        let mut keys: Vec<K> = Vec::with_capacity(lookups.len());
        let mut index: HashMap<K, usize> = HashMap::with_capacity(lookups.len());
        for l in &lookups {
            index.entry(l.key.clone()).or_insert_with(|| {
                keys.push(l.key.clone());
                keys.len() - 1
            });
        }
        let conn = match held.take() {
            Some(conn) => Ok(conn),
            None => pool.get().map_err(|e| e.to_string()),
        };
        let answers = conn.and_then(|mut conn| {
            let answers = read(&mut conn, &keys).map_err(|e| e.to_string())?;
            if answers.len() != keys.len() {
                return Err(format!("{} answers for {} keys", answers.len(), keys.len()));
            }
            held = Some(conn);
            Ok(answers)
        });
        for Lookup { key, reply } in lookups {
            // A request that went away (timeout, disconnect) simply does not read it.
            let _ = reply.send(match &answers {
                Ok(answers) => index
                    .get(&key)
                    .and_then(|&i| answers.get(i))
                    .cloned()
                    .ok_or_else(|| "no answer for a key".to_owned()),
                Err(e) => Err(e.clone()),
            });
        }
    }
}
