//! Appends, with group commit: one writer thread per chain drains every append waiting
//! for that chain and commits them in ONE transaction (one fsync), then answers each
//! caller. A caller is answered only after its commit returned, i.e. is durable.
//!
//! Correctness does not depend on the thread being the only writer: each group locks the
//! chain's head row (`SELECT ... FOR UPDATE`), so several processes serialise on it, and
//! `(chain_id, seq)` / `(chain_id, idempotency_key)` are unique keys, so no gap, fork or
//! duplicate can be committed even by a buggy writer.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::{Connection, PgConnection};
use uuid::Uuid;

use super::entry::{self, Entry, EntryError, Hash, Principal};
use super::integrity;
use super::merkle::{self, Frontier, NodeId};
use super::note::{self, SigningKey};
use super::phases;
use super::store::{self, CheckpointRow, EntryRow, StoreError};
use crate::db::{PgPool, PgPooled};

/// Most entries one batch request may carry.
pub const MAX_BATCH_ENTRIES: usize = 1_000;
/// Most entries committed in one group (several requests); bounds transaction size.
const MAX_GROUP_ENTRIES: usize = 4_000;
/// Requests queued per chain before callers get 503 (back-pressure, not unbounded memory).
const QUEUE_DEPTH: usize = 4_096;
/// A writer thread with nothing to do for this long exits; the next append restarts it.
const WRITER_IDLE: Duration = Duration::from_secs(300);

/// One entry to append, as the caller states it.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub kind: String,
    pub business_date: NaiveDate,
    pub idempotency_key: String,
    pub body: serde_json::Value,
    pub principal: Principal,
}

/// A signed checkpoint: the C2SP note plus its parsed fields.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    pub tree_size: u64,
    pub root_hash: Hash,
    pub signed_at: DateTime<Utc>,
    pub note: String,
}

impl TryFrom<&CheckpointRow> for SignedCheckpoint {
    type Error = StoreError;
    fn try_from(row: &CheckpointRow) -> Result<Self, StoreError> {
        Ok(Self {
            tree_size: store::to_u64(row.tree_size)?,
            root_hash: store::to_hash(&row.root_hash)?,
            signed_at: row.signed_at,
            note: row.note.clone(),
        })
    }
}

/// Proof of what was recorded: the entry, its hash, an inclusion proof and a signed
/// checkpoint of a tree that contains it.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub entry: Entry,
    pub entry_hash: Hash,
    pub prev_hash: Hash,
    pub inclusion_proof: Vec<Hash>,
    pub checkpoint: SignedCheckpoint,
    /// True when the idempotency key was already recorded: this is the original entry.
    pub replayed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("no chain {0}")]
    ChainNotFound(Uuid),
    #[error("idempotency key {0:?} was already used for a different entry")]
    IdempotencyConflict(String),
    #[error("idempotency key {0:?} appears twice in the batch")]
    DuplicateKeyInBatch(String),
    #[error("a batch holds 1 to {MAX_BATCH_ENTRIES} entries, got {0}")]
    BatchSize(usize),
    #[error(transparent)]
    Invalid(#[from] EntryError),
    /// An `Effect` refused the entries (an invariant): 422 with this code.
    #[error("{detail}")]
    Rejected { code: &'static str, detail: String },
    /// An `Effect` found a conflicting fact (e.g. a unique name): 409 with this code.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("the writer queue of this chain is full")]
    Overloaded,
    /// The chain's stored state is not what a trusted checkpoint vouches for
    /// (`ledger::integrity`): appends to it are refused until an operator looks.
    #[error("chain {chain}: {detail}")]
    Integrity { chain: Uuid, detail: String },
    #[error("database: {0}")]
    Database(#[source] anyhow::Error),
    #[error("internal: {0}")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for AppendError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Db(db) => Self::Database(db.into()),
            StoreError::Corrupt(msg) => {
                Self::Internal(anyhow::anyhow!("corrupt ledger row: {msg}"))
            }
        }
    }
}

impl From<diesel::result::Error> for AppendError {
    /// A value the database refuses (`db::refusal`) is the request's fault: a refusal
    /// with its code, never a database failure.
    fn from(e: diesel::result::Error) -> Self {
        match crate::db::refusal(&e) {
            Some(r) => Self::Rejected {
                code: r.code,
                detail: r.detail,
            },
            None => Self::Database(e.into()),
        }
    }
}

type Reply = tokio::sync::oneshot::Sender<Answer>;

/// The writer's answer to a job: its requests back, and how each was recorded. The
/// caller builds its entries and receipts from them (moving, not copying, the requests'
/// fields): that work stays off the chain's writer thread, the serial part of appends.
struct Answer {
    requests: Vec<AppendRequest>,
    result: Result<Recorded, AppendError>,
}

/// How a job's requests were recorded, one per request, and what their receipts are
/// proved against.
struct Recorded {
    outcomes: Vec<Done>,
    proofs: Arc<GroupProofs>,
}

enum Done {
    /// Recorded by this group: the fields the server chose, and the hashes.
    New {
        seq: u64,
        recorded_at: DateTime<Utc>,
        entry_hash: Hash,
        prev_hash: Hash,
    },
    /// Recorded earlier under the same idempotency key: the stored row.
    Replay(Box<EntryRow>),
}

/// Shared by the receipts of a group: the chain, the checkpoint they are proved against
/// and every Merkle node their proofs need.
struct GroupProofs {
    chain: Uuid,
    checkpoint: SignedCheckpoint,
    nodes: HashMap<NodeId, Hash>,
}

impl GroupProofs {
    /// The receipt of `request`, recorded as `done` (`memo`: spans hashed for the
    /// receipts of the same job before).
    fn receipt(
        &self,
        request: AppendRequest,
        done: Done,
        memo: &mut merkle::SpanMemo,
    ) -> Result<Receipt, AppendError> {
        let (entry, entry_hash, prev_hash, replayed) = match done {
            Done::New {
                seq,
                recorded_at,
                entry_hash,
                prev_hash,
            } => (
                // The fields the entry was hashed with (`plan_job`).
                Entry {
                    v: entry::FORMAT_VERSION,
                    chain: self.chain,
                    seq,
                    kind: request.kind,
                    business_date: request.business_date,
                    recorded_at,
                    principal: request.principal,
                    idempotency_key: request.idempotency_key,
                    body: request.body,
                },
                entry_hash,
                prev_hash,
                false,
            ),
            Done::Replay(row) => {
                let entry: Entry = serde_json::from_str(&row.canonical).map_err(|e| {
                    AppendError::Internal(anyhow::anyhow!("stored entry unreadable: {e}"))
                })?;
                (
                    entry,
                    store::to_hash(&row.entry_hash)?,
                    store::to_hash(&row.prev_hash)?,
                    true,
                )
            }
        };
        let proof = merkle::inclusion_proof_memo(
            entry.seq,
            self.checkpoint.tree_size,
            |id| self.nodes.get(&id).copied(),
            memo,
        )
        .map_err(|e| AppendError::Internal(anyhow::anyhow!("inclusion proof: {e}")))?;
        Ok(Receipt {
            entry,
            entry_hash,
            prev_hash,
            inclusion_proof: proof,
            checkpoint: self.checkpoint.clone(),
            replayed,
        })
    }
}

/// Work a capability does inside the append transaction: check its invariants against
/// current state and write the derived state the entries cause. By default it runs after
/// the job's entries are inserted, in a savepoint of the group's transaction, so it sees
/// them and everything earlier jobs of the group wrote (what their effects left to the
/// group's end is written before an effect that does not share the `GroupScratch` runs);
/// an error rejects this job alone (its entries and writes roll back to the savepoint) and
/// the others still commit. An effect that refuses before writing may run without a
/// savepoint (`unsaved`, `apply_unsaved`). A retry whose entries are all already recorded
/// does not run it again.
pub trait Effect: Send + Sync {
    fn apply(&self, conn: &mut PgConnection, entries: &[Entry]) -> Result<(), AppendError>;

    /// `apply` as a job of a group: `scratch` holds what the effects of the group's earlier
    /// jobs kept (see `GroupScratch`). By default it is not used.
    fn apply_in_group(
        &self,
        conn: &mut PgConnection,
        entries: &[Entry],
        scratch: &mut GroupScratch,
    ) -> Result<(), AppendError> {
        let _ = scratch;
        self.apply(conn, entries)
    }

    /// Whether `apply_in_group` uses the scratch. Before an effect that does not runs,
    /// the writer writes what earlier jobs left to the group's end, so that it finds the
    /// database as `apply` expects it.
    fn uses_group_scratch(&self) -> bool {
        false
    }

    /// Whether this job's effect may run without a savepoint of its own
    /// (`apply_unsaved`). By default it may not.
    fn unsaved(&self, entries: &[Entry]) -> bool {
        let _ = entries;
        false
    }

    /// `apply_in_group` without a savepoint, for a job `unsaved` accepted: the writer
    /// inserts the job's entries with the group's at its end. A refusal with nothing of
    /// the job written (`Unsaved::Refused`) refuses the job alone; any other failure
    /// (`Unsaved::Retry`) rolls the group back and applies it again with a savepoint per
    /// job.
    fn apply_unsaved(
        &self,
        conn: &mut PgConnection,
        entries: &[Entry],
        scratch: &mut GroupScratch,
    ) -> Result<(), Unsaved> {
        self.apply_in_group(conn, entries, scratch)
            .map_err(Unsaved::Retry)
    }

    /// Called for every job of a group applied in memory (`GroupScratch::in_memory`) whose
    /// effect shares the scratch, before any of them runs: an effect may note there what
    /// its job will record, so that a read every job would make is made once for the
    /// group. By default it notes nothing.
    fn look_ahead(&self, requests: &[AppendRequest], scratch: &mut GroupScratch) {
        let _ = (requests, scratch);
    }

    /// Called after the group that ran `apply` committed, with the chain's size then. An
    /// effect that keeps state derived from what it applied promotes it here: until the
    /// commit, a savepoint or the group may still roll back.
    fn committed(&self, _chain_size: u64) {}

    /// Called when the group that ran `apply` failed as a whole (nothing of it committed).
    fn rolled_back(&self) {}
}

/// An effect that refuses a job unless `check` accepts its entries, and is otherwise
/// `inner` in every respect (group state, look-ahead, no savepoint, commit and rollback
/// notices), so that a checked job runs exactly as the unchecked one would: a job whose
/// entries must start at the seq it was built for, say. A refusal comes before `inner`
/// runs, so it writes nothing and the group's scratch keeps what earlier jobs left.
pub struct Checked<F> {
    pub inner: Arc<dyn Effect>,
    pub check: F,
}

impl<F> Effect for Checked<F>
where
    F: Fn(&[Entry]) -> Result<(), AppendError> + Send + Sync,
{
    fn apply(&self, conn: &mut PgConnection, entries: &[Entry]) -> Result<(), AppendError> {
        (self.check)(entries)?;
        self.inner.apply(conn, entries)
    }

    fn apply_in_group(
        &self,
        conn: &mut PgConnection,
        entries: &[Entry],
        scratch: &mut GroupScratch,
    ) -> Result<(), AppendError> {
        (self.check)(entries)?;
        self.inner.apply_in_group(conn, entries, scratch)
    }

    fn uses_group_scratch(&self) -> bool {
        self.inner.uses_group_scratch()
    }

    fn unsaved(&self, entries: &[Entry]) -> bool {
        self.inner.unsaved(entries)
    }

    fn apply_unsaved(
        &self,
        conn: &mut PgConnection,
        entries: &[Entry],
        scratch: &mut GroupScratch,
    ) -> Result<(), Unsaved> {
        (self.check)(entries).map_err(Unsaved::Refused)?;
        self.inner.apply_unsaved(conn, entries, scratch)
    }

    fn look_ahead(&self, requests: &[AppendRequest], scratch: &mut GroupScratch) {
        self.inner.look_ahead(requests, scratch);
    }

    fn committed(&self, chain_size: u64) {
        self.inner.committed(chain_size);
    }

    fn rolled_back(&self) {
        self.inner.rolled_back();
    }
}

/// How a job applied without a savepoint (`Effect::apply_unsaved`) failed.
pub enum Unsaved {
    /// Refused before the job wrote anything: the job alone is refused, the group goes on.
    Refused(AppendError),
    /// Failed after the job wrote, or the database failed: the group is rolled back and
    /// applied again with a savepoint per job, where this job is refused alone.
    Retry(AppendError),
}

/// Whether jobs whose effect allows it run without a savepoint each (`Effect::unsaved`;
/// on unless a benchmark turns it off to measure what it saves: `bench funds`).
pub static UNSAVED: AtomicBool = AtomicBool::new(true);

/// Whether effects share a `GroupScratch` within their group (on unless a benchmark turns
/// it off to measure what it saves: `bench funds`). Off, each job's effect runs `apply`
/// alone and reads and writes everything it needs itself.
pub static GROUP_STATE: AtomicBool = AtomicBool::new(true);

/// What the effects of one group's jobs keep for the group's later jobs, so that what
/// every job reads (a fund's row, its positions, the rows its entries refer to) is read
/// once per group, and what every job changes (a fund's positions) is written once per
/// group, not once per job. It lives inside the group's transaction only.
///
/// An effect keeps under its key only what is true after its job: when its job is refused
/// (the job's savepoint rolled back, or the job refused before writing), it keeps what
/// earlier jobs left to the group's end and nothing its own job read or wrote. When a
/// job's savepoint fails although its effect succeeded, what the effect kept is wrong,
/// and the writer fails the whole group.
#[derive(Default)]
pub struct GroupScratch {
    slots: HashMap<Uuid, Box<dyn GroupState>>,
    in_memory: bool,
}

/// A value kept in a `GroupScratch`: `finish` writes what it left to the group's end, in
/// the group's transaction, before the group commits.
pub trait GroupState: std::any::Any {
    fn finish(self: Box<Self>, conn: &mut PgConnection) -> Result<(), AppendError>;
}

impl GroupScratch {
    /// Whether the group's jobs run without a savepoint each where their effect allows it
    /// (`Effect::unsaved`). Then an effect may also leave its writes to the group's end
    /// (`finish`): a write that fails there, or before a job that does take a savepoint,
    /// rolls the group back and it is applied again with a savepoint per job, where
    /// every job writes what it changed before the next one runs.
    pub fn in_memory(&self) -> bool {
        self.in_memory
    }

    /// Takes what was kept under `key`, if it is a `T`.
    pub fn take<T: GroupState>(&mut self, key: Uuid) -> Option<T> {
        let slot: Box<dyn std::any::Any> = self.slots.remove(&key)?;
        slot.downcast::<T>().ok().map(|b| *b)
    }

    /// Keeps `value` under `key` for the group's next job and its end.
    pub fn keep<T: GroupState>(&mut self, key: Uuid, value: T) {
        self.slots.insert(key, Box::new(value));
    }

    /// Writes what every effect left to the group's end.
    fn finish(&mut self, conn: &mut PgConnection) -> Result<(), AppendError> {
        for (_, state) in self.slots.drain() {
            state.finish(conn)?;
        }
        Ok(())
    }
}

struct Job {
    requests: Vec<AppendRequest>,
    /// `entry::canonical_body` of each request's body, computed by the caller.
    bodies: Vec<Vec<u8>>,
    effect: Option<Arc<dyn Effect>>,
    reply: Reply,
}

/// Clock, injectable so tests control recording times.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct WriterContext {
    pub pool: PgPool,
    pub signer: Arc<SigningKey>,
    /// The keys whose checkpoints vouch for a head this writer did not commit.
    pub trusted: Arc<integrity::TrustedKeys>,
    pub clock: Clock,
}

/// Routes appends to the writer thread of their chain, starting it on demand.
pub struct Writers {
    ctx: Arc<WriterContext>,
    queues: Mutex<HashMap<Uuid, SyncSender<Job>>>,
}

impl Writers {
    pub fn new(ctx: WriterContext) -> Self {
        Self {
            ctx: Arc::new(ctx),
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Appends `requests` to `chain` atomically (all or none) and waits for the commit.
    pub async fn append(
        &self,
        chain: Uuid,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Receipt>, AppendError> {
        self.append_with(chain, requests, None).await
    }

    /// Like `append`, running `effect` in the same transaction (see `Effect`).
    pub async fn append_with(
        &self,
        chain: Uuid,
        requests: Vec<AppendRequest>,
        effect: Option<Arc<dyn Effect>>,
    ) -> Result<Vec<Receipt>, AppendError> {
        // Here, on the caller's thread: the chain's writer thread is the bottleneck.
        let bodies = checked_bodies(&requests)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(
            chain,
            Job {
                requests,
                bodies,
                effect,
                reply: tx,
            },
        )?;
        let Answer { requests, result } = rx
            .await
            .map_err(|_| AppendError::Internal(anyhow::anyhow!("the chain writer stopped")))?;
        let Recorded { outcomes, proofs } = result?;
        let mut memo = merkle::SpanMemo::default();
        requests
            .into_iter()
            .zip(outcomes)
            .map(|(request, done)| proofs.receipt(request, done, &mut memo))
            .collect()
    }

    /// Appends `requests` to `chain` inside the caller's transaction on `conn`, with
    /// `effect`, as a group of its own: for entries that must commit or roll back with
    /// what the caller writes, such as a new fund's first entry recorded with the
    /// `fund_created` entry whose effect creates the fund's chain. The chain's head is
    /// locked in that transaction; the chain's writer thread, if it runs, finds a head it
    /// did not commit and re-reads it. The effect's `committed` is not called (the
    /// caller's transaction decides): what it kept is dropped (`rolled_back`) instead.
    pub fn append_within(
        &self,
        conn: &mut PgConnection,
        chain: Uuid,
        requests: &[AppendRequest],
        effect: &dyn Effect,
    ) -> Result<(), AppendError> {
        let bodies = checked_bodies(requests)?;
        let jobs: [JobRef<'_>; 1] = [(requests, bodies.as_slice(), Some(effect))];
        let started = std::time::Instant::now();
        let mut t = Timings {
            started,
            locked: started,
            keys: started,
            planned: started,
        };
        let recorded_at = entry::truncate_to_micros((self.ctx.clock)());
        let committed = commit_locked(
            &self.ctx,
            conn,
            chain,
            (&mut None, &mut None),
            recorded_at,
            &jobs,
            &mut t,
            // One job, in a savepoint of its own: nothing to apply again.
            (true, &mut false),
        );
        effect.rolled_back();
        match committed?.plan.plans.into_iter().next() {
            Some(Planned::Accepted(_)) => Ok(()),
            Some(Planned::Rejected(e)) => Err(e),
            None => Err(AppendError::Internal(anyhow::anyhow!(
                "chain {chain}: a group of one job planned no job"
            ))),
        }
    }

    fn submit(&self, chain: Uuid, mut job: Job) -> Result<(), AppendError> {
        let mut queues = self
            .queues
            .lock()
            .map_err(|_| AppendError::Internal(anyhow::anyhow!("writer registry poisoned")))?;
        // At most two tries: the cached sender may belong to a thread that exited idle.
        for _ in 0..2 {
            let sender = match queues.get(&chain) {
                Some(s) => s.clone(),
                None => {
                    let (tx, rx) = mpsc::sync_channel(QUEUE_DEPTH);
                    let ctx = self.ctx.clone();
                    std::thread::Builder::new()
                        .name(format!("ledger-writer-{chain}"))
                        .spawn(move || run_writer(ctx, chain, rx))
                        .map_err(|e| AppendError::Internal(e.into()))?;
                    queues.insert(chain, tx.clone());
                    tx
                }
            };
            match sender.try_send(job) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(_)) => return Err(AppendError::Overloaded),
                Err(TrySendError::Disconnected(back)) => {
                    queues.remove(&chain);
                    job = back;
                }
            }
        }
        Err(AppendError::Internal(anyhow::anyhow!(
            "could not start a chain writer"
        )))
    }
}

/// Checks a batch (size, kinds, keys, bodies) and returns each body's canonical bytes.
fn checked_bodies(requests: &[AppendRequest]) -> Result<Vec<Vec<u8>>, AppendError> {
    if requests.is_empty() || requests.len() > MAX_BATCH_ENTRIES {
        return Err(AppendError::BatchSize(requests.len()));
    }
    let mut seen = BTreeSet::new();
    let mut bodies = Vec::with_capacity(requests.len());
    for r in requests {
        entry::validate_kind(&r.kind)?;
        entry::validate_idempotency_key(&r.idempotency_key)?;
        entry::validate_body(&r.body)?;
        entry::validate_body_text(&r.body)?;
        if !seen.insert(r.idempotency_key.as_str()) {
            return Err(AppendError::DuplicateKeyInBatch(r.idempotency_key.clone()));
        }
        bodies.push(entry::canonical_body(&r.body)?);
    }
    Ok(bodies)
}

fn run_writer(ctx: Arc<WriterContext>, chain: Uuid, rx: Receiver<Job>) {
    // The chain's head as of this writer's last commit; re-read whenever the head moved
    // under us (another process) or a transaction failed.
    let mut head: Option<Head> = None;
    // The chain's checkpoint origin: immutable once the chain exists, read once.
    let mut origin: Option<String> = None;
    // The connection of the previous group, kept only while groups follow each other
    // back to back: a busy chain skips the pool's checkout (and its liveness query) per
    // group, an idle one holds no connection.
    let mut held: Option<PgPooled> = None;
    loop {
        let next = match held.is_some() {
            true => match rx.try_recv() {
                Ok(job) => Ok(job),
                Err(_) => {
                    held = None;
                    rx.recv_timeout(WRITER_IDLE)
                }
            },
            false => rx.recv_timeout(WRITER_IDLE),
        };
        let first = match next {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut jobs = vec![first];
        let mut entries = jobs.iter().map(|j| j.requests.len()).sum::<usize>();
        while entries < MAX_GROUP_ENTRIES {
            match rx.try_recv() {
                Ok(job) => {
                    entries += job.requests.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let requests: Vec<JobRef<'_>> = jobs
            .iter()
            .map(|j| {
                (
                    j.requests.as_slice(),
                    j.bodies.as_slice(),
                    j.effect.as_deref(),
                )
            })
            .collect();
        let conn = match held.take() {
            Some(conn) => Ok(conn),
            None => ctx.pool.get(),
        };
        let results = match conn {
            Ok(mut conn) => {
                let results =
                    commit_group(&ctx, &mut conn, chain, (&mut head, &mut origin), &requests);
                // After a failed transaction the head is re-read; the connection is
                // returned too, so the pool's check decides whether it is still usable.
                if head.is_some() {
                    held = Some(conn);
                }
                results
            }
            Err(e) => {
                head = None;
                requests
                    .iter()
                    .map(|_| {
                        Err(AppendError::Database(anyhow::anyhow!(
                            "no database connection: {e}"
                        )))
                    })
                    .collect()
            }
        };
        for (job, result) in jobs.into_iter().zip(results) {
            // A caller that went away (timeout, disconnect) simply does not read it.
            let _ = job.reply.send(Answer {
                requests: job.requests,
                result,
            });
        }
    }
}

/// A job as the group sees it: its requests and its effect.
type JobRef<'a> = (&'a [AppendRequest], &'a [Vec<u8>], Option<&'a dyn Effect>);

/// What one job became inside the group, before the commit.
enum Planned {
    Rejected(AppendError),
    /// Per request: a new entry (index into `new_rows`) or a replay of a stored row.
    Accepted(Vec<Outcome>),
}

enum Outcome {
    New(usize),
    Replay(Box<EntryRow>),
}

/// The chain's head as this writer last committed it: its Merkle frontier and the hash of
/// its last entry. A group planned on it is written with one autocommit statement that
/// succeeds only if the head is still this one (`store::write_group`).
#[derive(Clone)]
struct Head {
    frontier: Frontier,
    hash: Hash,
}

/// A group planned and ready to write.
struct GroupPlan {
    frontier: Frontier,
    plans: Vec<Planned>,
    new_rows: Vec<EntryRow>,
    new_nodes: Vec<(NodeId, Hash)>,
    /// Ranges of `new_rows` the group statement inserts (jobs with an effect inserted
    /// their own rows inside their savepoint).
    to_insert: Vec<std::ops::Range<usize>>,
    /// Hash of the group's last entry: the chain's new head.
    prev: Hash,
}

/// A group after its commit.
struct Committed {
    plan: GroupPlan,
    checkpoint: Option<SignedCheckpoint>,
    /// The frontier's nodes before the group: with the nodes the group completed, every
    /// node the receipts of its new entries need (`Frontier::nodes`).
    old_frontier: Vec<(NodeId, Hash)>,
}

/// Timings of one group, for the debug log.
struct Timings {
    started: std::time::Instant,
    locked: std::time::Instant,
    keys: std::time::Instant,
    planned: std::time::Instant,
}

/// Commits one group and returns one result per job, in order.
///
/// Two ways to commit. The **optimistic** one, when this writer committed the chain's
/// previous group (it knows the head) and no job has an effect: plan every job assuming
/// its idempotency key is new, then write everything with ONE autocommit statement
/// guarded by the head (one round trip, one fsync). If the head moved (another process
/// appended) or a key was already recorded (unique violation: a retry), that statement
/// wrote nothing and the group is planned again the **locked** way: a transaction that
/// locks the head row, reads the group's keys (retries are answered with their original
/// entry) and runs each job's effect in a savepoint.
fn commit_group(
    ctx: &WriterContext,
    conn: &mut PgConnection,
    chain: Uuid,
    (cached, origin_cache): (&mut Option<Head>, &mut Option<String>),
    jobs: &[JobRef<'_>],
) -> Vec<Result<Recorded, AppendError>> {
    let recorded_at = entry::truncate_to_micros((ctx.clock)());
    let started = std::time::Instant::now();
    let mut t = Timings {
        started,
        locked: started,
        keys: started,
        planned: started,
    };
    let mut path = "locked";
    let mut committed = None;
    if let (Some(head), Some(origin), true) = (
        cached.as_ref(),
        origin_cache.as_deref(),
        jobs.iter().all(|(_, _, effect)| effect.is_none()),
    ) {
        match commit_optimistic(ctx, conn, chain, head, origin, recorded_at, jobs, &mut t) {
            Ok(Some(done)) => {
                path = "optimistic";
                committed = Some(Ok(done));
            }
            Ok(None) => tracing::debug!(chain.id = %chain, "head moved: group retried under lock"),
            Err(e) => {
                tracing::debug!(chain.id = %chain, error = %e, "optimistic group write refused: retried under lock")
            }
        }
    }
    let committed = match committed {
        Some(done) => done,
        None => {
            let saved = (cached.clone(), origin_cache.clone());
            let mut retry = false;
            let first = commit_locked(
                ctx,
                conn,
                chain,
                (&mut *cached, &mut *origin_cache),
                recorded_at,
                jobs,
                &mut t,
                (false, &mut retry),
            );
            match (first, retry) {
                (Err(e), true) => {
                    // Rolled back: applied again, each job in a savepoint, where the job
                    // that failed is refused alone.
                    tracing::debug!(chain.id = %chain, error = %e, "group applied again with a savepoint per job");
                    for effect in jobs.iter().filter_map(|(_, _, effect)| *effect) {
                        effect.rolled_back();
                    }
                    (*cached, *origin_cache) = saved;
                    path = "locked, savepoint per job";
                    retry = false;
                    commit_locked(
                        ctx,
                        conn,
                        chain,
                        (&mut *cached, &mut *origin_cache),
                        recorded_at,
                        jobs,
                        &mut t,
                        (true, &mut retry),
                    )
                }
                (first, _) => first,
            }
        }
    };
    let Committed {
        plan,
        checkpoint,
        old_frontier,
    } = match committed {
        Ok(done) => done,
        Err(e) => {
            *cached = None;
            for effect in jobs.iter().filter_map(|(_, _, effect)| *effect) {
                effect.rolled_back();
            }
            let shared = Arc::new(e);
            return jobs.iter().map(|_| Err(clone_error(&shared))).collect();
        }
    };
    let GroupPlan {
        frontier,
        plans,
        new_rows,
        new_nodes,
        prev,
        ..
    } = plan;
    let chain_size = frontier.size();
    *cached = Some(Head {
        frontier,
        hash: prev,
    });
    for effect in jobs.iter().filter_map(|(_, _, effect)| *effect) {
        effect.committed(chain_size);
    }
    let committed_at = phases::writer::WRITE_COMMIT.since(t.planned);

    // After the commit: what the receipts need (proofs against the checkpoint just signed,
    // or the latest one when the group only replayed). The callers build them.
    let checkpoint = match checkpoint {
        Some(cp) => cp,
        None => match latest_checkpoint(conn, chain) {
            Ok(cp) => cp,
            Err(e) => {
                let shared = Arc::new(e);
                return jobs.iter().map(|_| Err(clone_error(&shared))).collect();
            }
        },
    };
    // The proofs of new entries need only nodes the group completed and the frontier's
    // before it; those of replays may need older ones: one query.
    let mut nodes: HashMap<NodeId, Hash> = new_nodes.into_iter().chain(old_frontier).collect();
    let size = checkpoint.tree_size;
    let mut missing = BTreeSet::new();
    for plan in &plans {
        if let Planned::Accepted(outcomes) = plan {
            for o in outcomes {
                if let Outcome::Replay(row) = o {
                    if let Some(Ok(ids)) = store::to_u64(row.seq)
                        .ok()
                        .map(|s| merkle::inclusion_nodes(s, size))
                    {
                        missing.extend(ids.into_iter().filter(|id| !nodes.contains_key(id)));
                    }
                }
            }
        }
    }
    let missing_at = std::time::Instant::now();
    let missing_count = missing.len();
    if !missing.is_empty() {
        let ids: Vec<NodeId> = missing.into_iter().collect();
        match store::nodes(conn, chain, &ids) {
            Ok(found) => nodes.extend(found),
            Err(e) => {
                let shared = Arc::new(AppendError::from(e));
                return jobs.iter().map(|_| Err(clone_error(&shared))).collect();
            }
        }
    }
    let proofs = Arc::new(GroupProofs {
        chain,
        checkpoint,
        nodes,
    });
    let done = |o: Outcome| -> Result<Done, AppendError> {
        match o {
            Outcome::New(i) => {
                let row = new_rows
                    .get(i)
                    .ok_or_else(|| AppendError::Internal(anyhow::anyhow!("receipt index")))?;
                Ok(Done::New {
                    seq: store::to_u64(row.seq)?,
                    recorded_at: row.recorded_at,
                    entry_hash: store::to_hash(&row.entry_hash)?,
                    prev_hash: store::to_hash(&row.prev_hash)?,
                })
            }
            Outcome::Replay(row) => Ok(Done::Replay(row)),
        }
    };
    let results: Vec<Result<Recorded, AppendError>> = plans
        .into_iter()
        .map(|plan| match plan {
            Planned::Rejected(e) => Err(e),
            Planned::Accepted(outcomes) => Ok(Recorded {
                outcomes: outcomes.into_iter().map(done).collect::<Result<_, _>>()?,
                proofs: proofs.clone(),
            }),
        })
        .collect();
    phases::writer::RECEIPTS.since(committed_at);
    tracing::debug!(
        chain.id = %chain,
        group.path = path,
        group.jobs = jobs.len(),
        group.new_entries = new_rows.len(),
        plan_ms = (t.planned - t.started).as_secs_f64() * 1e3,
        begin_lock_ms = (t.locked - t.started).as_secs_f64() * 1e3,
        keys_ms = (t.keys - t.locked).as_secs_f64() * 1e3,
        write_commit_ms = (committed_at - t.planned).as_secs_f64() * 1e3,
        receipts_ms = committed_at.elapsed().as_secs_f64() * 1e3,
        missing_ms = (missing_at - committed_at).as_secs_f64() * 1e3,
        missing = missing_count,
        "group committed"
    );
    results
}

/// The optimistic commit (see `commit_group`): `Ok(None)` when the head moved, `Err` when
/// the statement failed (a recorded key, or the database); in both cases nothing was
/// written.
#[allow(clippy::too_many_arguments)]
fn commit_optimistic(
    ctx: &WriterContext,
    conn: &mut PgConnection,
    chain: Uuid,
    head: &Head,
    origin: &str,
    recorded_at: DateTime<Utc>,
    jobs: &[JobRef<'_>],
    t: &mut Timings,
) -> Result<Option<Committed>, AppendError> {
    let old_frontier = head.frontier.nodes();
    let expected = (head.frontier.size(), head.hash);
    let plan = plan_group(
        chain,
        recorded_at,
        jobs,
        &HashMap::new(),
        head.frontier.clone(),
        head.hash,
        |_, _, _, _| {
            Err(AppendError::Internal(anyhow::anyhow!(
                "an effect cannot run outside a transaction"
            )))
        },
    )?;
    t.planned = std::time::Instant::now();
    if plan.new_rows.is_empty() {
        // Every job was refused while planning: nothing to write.
        return Ok(Some(Committed {
            plan,
            checkpoint: None,
            old_frontier,
        }));
    }
    let checkpoint = write_plan(ctx, conn, chain, origin, &plan, expected, recorded_at)?;
    Ok(checkpoint.map(|checkpoint| Committed {
        plan,
        checkpoint: Some(checkpoint),
        old_frontier,
    }))
}

/// The locked commit (see `commit_group`). With `savepoints` every job with an effect runs
/// in a savepoint of its own; without, a job whose effect allows it (`Effect::unsaved`)
/// runs without one, and `retry` is set when the group must be applied again with them
/// (`Unsaved::Retry`: the transaction was rolled back).
#[allow(clippy::too_many_arguments)]
fn commit_locked(
    ctx: &WriterContext,
    conn: &mut PgConnection,
    chain: Uuid,
    (cached, origin_cache): (&mut Option<Head>, &mut Option<String>),
    recorded_at: DateTime<Utc>,
    jobs: &[JobRef<'_>],
    t: &mut Timings,
    (savepoints, retry): (bool, &mut bool),
) -> Result<Committed, AppendError> {
    conn.transaction::<_, AppendError, _>(|conn| {
        let Some((size, head)) = store::lock_head(conn, chain)? else {
            return Err(AppendError::ChainNotFound(chain));
        };
        let origin = match origin_cache.take() {
            Some(o) => o,
            None => {
                store::chain(conn, chain)?
                    .ok_or(AppendError::ChainNotFound(chain))?
                    .origin
            }
        };
        let frontier = match cached.take() {
            // The head this writer committed: the chain is append-only.
            Some(h) if h.frontier.size() == size && h.hash == head => h.frontier,
            // A head this writer did not commit (start-up, another process appended, or
            // rows written behind the service's back): extended only if a trusted
            // checkpoint vouches for it.
            _ => {
                let frontier = load_frontier(conn, chain, size)?;
                integrity::vouch(
                    conn,
                    chain,
                    &origin,
                    (size, head),
                    &frontier,
                    &ctx.trusted.snapshot(),
                )?;
                frontier
            }
        };
        let old_frontier = frontier.nodes();
        t.locked = std::time::Instant::now();
        let keys: Vec<&str> = jobs
            .iter()
            .flat_map(|(j, _, _)| j.iter().map(|r| r.idempotency_key.as_str()))
            .collect();
        let stored: HashMap<String, EntryRow> = store::entries_by_keys(conn, chain, &keys)?
            .into_iter()
            .map(|r| (r.idempotency_key.clone(), r))
            .collect();
        t.keys = phases::writer::LOCK_AND_KEYS.since(t.started);
        let in_memory = !savepoints && UNSAVED.load(Ordering::Relaxed);
        let mut scratch = GroupScratch {
            in_memory,
            ..GroupScratch::default()
        };
        if in_memory && GROUP_STATE.load(Ordering::Relaxed) {
            let started = std::time::Instant::now();
            for (requests, _, effect) in jobs {
                if let Some(effect) = effect.filter(|e| e.uses_group_scratch()) {
                    effect.look_ahead(requests, &mut scratch);
                }
            }
            phases::writer::LOOK_AHEAD.since(started);
        }
        // Set when a job's savepoint failed although its effect did not: what the effect
        // kept describes writes that were rolled back.
        let mut unsure = false;
        // A failure to write what effects left to the group's end fails the group.
        let mut group_failed: Option<AppendError> = None;
        let plan = plan_group(
            chain,
            recorded_at,
            jobs,
            &stored,
            frontier,
            head,
            |rows, entries, effect, (earlier, unwritten)| {
                if *retry {
                    return Err(AppendError::Internal(anyhow::anyhow!(
                        "the group is applied again with a savepoint per job"
                    )));
                }
                let shared = GROUP_STATE.load(Ordering::Relaxed) && effect.uses_group_scratch();
                if shared && in_memory && effect.unsaved(entries) {
                    let started = std::time::Instant::now();
                    let applied = effect.apply_unsaved(conn, entries, &mut scratch);
                    phases::writer::JOB_EFFECT.add(started.elapsed());
                    return match applied {
                        Ok(()) => Ok(true),
                        // Nothing of the job was written; a refusal the database made
                        // (`db::refusal`) would have aborted the transaction, which this
                        // finds out.
                        Err(Unsaved::Refused(e)) => {
                            if store::ping(conn).is_err() {
                                *retry = true;
                            }
                            Err(e)
                        }
                        Err(Unsaved::Retry(e)) => {
                            *retry = true;
                            Err(e)
                        }
                    };
                }
                // This job inserts its rows in its savepoint: the rows of earlier jobs
                // left to the group statement go first, and what their effects left to
                // the group's end (so that a failure of theirs is not taken for this
                // job's: in memory, it makes the group be applied again).
                let mut pending_written = Ok(());
                if !unwritten.is_empty() {
                    let pending: Vec<EntryRow> = unwritten
                        .drain(..)
                        .filter_map(|r| earlier.get(r))
                        .flatten()
                        .cloned()
                        .collect();
                    pending_written = store::insert_entries(conn, &pending).map_err(Into::into);
                }
                if pending_written.is_ok() && (in_memory || !shared) {
                    pending_written = scratch.finish(conn);
                }
                if let Err(e) = pending_written {
                    match in_memory {
                        true => *retry = true,
                        false => group_failed = Some(e),
                    }
                    return Err(AppendError::Internal(anyhow::anyhow!(
                        "the group's pending writes failed"
                    )));
                }
                let started = std::time::Instant::now();
                let mut effect_took = Duration::ZERO;
                let mut effect_ok = false;
                let applied = conn.transaction::<_, AppendError, _>(|conn| {
                    store::insert_entries(conn, rows)?;
                    let effect_started = std::time::Instant::now();
                    let applied = match shared {
                        true => effect.apply_in_group(conn, entries, &mut scratch),
                        false => effect.apply(conn, entries),
                    };
                    effect_took = effect_started.elapsed();
                    effect_ok = applied.is_ok();
                    applied
                });
                if applied.is_err() && effect_ok {
                    unsure = true;
                }
                phases::writer::JOB_EFFECT.add(effect_took);
                phases::writer::JOB_SAVEPOINT_INSERT
                    .add(started.elapsed().saturating_sub(effect_took));
                applied.map(|()| false)
            },
        )?;
        if let Some(e) = group_failed {
            return Err(e);
        }
        if *retry {
            return Err(AppendError::Internal(anyhow::anyhow!(
                "chain {chain}: the group is applied again with a savepoint per job"
            )));
        }
        if unsure {
            return Err(AppendError::Internal(anyhow::anyhow!(
                "chain {chain}: a job's savepoint failed after its effect ran"
            )));
        }
        // What the jobs' effects left to the group's end, written before the group is. In
        // memory, a failure there is a job's, found by applying the group again.
        let started = std::time::Instant::now();
        let finished = scratch.finish(conn);
        phases::writer::GROUP_END.since(started);
        if let Err(e) = finished {
            if in_memory {
                *retry = true;
            }
            return Err(e);
        }
        t.planned = std::time::Instant::now();
        if plan.new_rows.is_empty() {
            return Ok(Committed {
                plan,
                checkpoint: None,
                old_frontier,
            });
        }
        let written = write_plan(ctx, conn, chain, &origin, &plan, (size, head), recorded_at);
        *origin_cache = Some(origin);
        match written? {
            Some(checkpoint) => Ok(Committed {
                plan,
                checkpoint: Some(checkpoint),
                old_frontier,
            }),
            None => Err(AppendError::Internal(anyhow::anyhow!(
                "chain {chain}: head moved while locked"
            ))),
        }
    })
}

/// Signs the group's checkpoint and writes the group (`store::write_group`) if the chain's
/// head is still `expected`; `None` when it is not (nothing written).
fn write_plan(
    ctx: &WriterContext,
    conn: &mut PgConnection,
    chain: Uuid,
    origin: &str,
    plan: &GroupPlan,
    expected: (u64, Hash),
    recorded_at: DateTime<Utc>,
) -> Result<Option<SignedCheckpoint>, AppendError> {
    let mut rows: Vec<&EntryRow> = Vec::new();
    for range in &plan.to_insert {
        rows.extend(plan.new_rows.get(range.clone()).ok_or_else(|| {
            AppendError::Internal(anyhow::anyhow!("group row range out of bounds"))
        })?);
    }
    let cp = sign(
        &ctx.signer,
        origin,
        plan.frontier.size(),
        plan.frontier.root(),
        recorded_at,
    )?;
    let cp_row = checkpoint_row(chain, &ctx.signer, &cp)?;
    let head = store::GroupHead {
        expected_size: expected.0,
        expected_hash: &expected.1,
        new_hash: &plan.prev,
    };
    match store::write_group(conn, chain, &rows, &plan.new_nodes, &cp_row, head)? {
        true => Ok(Some(cp)),
        false => Ok(None),
    }
}

/// Plans every job of a group against the chain's state (`frontier`, `head`, the stored
/// rows of the group's keys); `apply` runs a job's effect on its new rows and entries.
fn plan_group(
    chain: Uuid,
    recorded_at: DateTime<Utc>,
    jobs: &[JobRef<'_>],
    stored: &HashMap<String, EntryRow>,
    mut frontier: Frontier,
    head: Hash,
    mut apply: impl FnMut(
        &[EntryRow],
        &[Entry],
        &dyn Effect,
        Unwritten<'_>,
    ) -> Result<bool, AppendError>,
) -> Result<GroupPlan, AppendError> {
    // Keys this group records, to the index of their row in `new_rows`: a later job of the
    // group retrying one of them replays it.
    let mut recorded: HashMap<&str, usize> = HashMap::new();
    let mut new_rows: Vec<EntryRow> = Vec::new();
    let mut new_nodes: Vec<(NodeId, Hash)> = Vec::new();
    let mut prev = head;
    let mut plans = Vec::with_capacity(jobs.len());
    let mut to_insert: Vec<std::ops::Range<usize>> = Vec::new();
    for (job, bodies, effect) in jobs {
        let before = frontier.clone();
        let known = Known {
            stored,
            recorded: &recorded,
            new_rows: &new_rows,
        };
        let (outcomes, rows, entries, nodes) = match plan_job(
            (chain, recorded_at),
            (job, bodies),
            effect.is_some(),
            known,
            &mut frontier,
            prev,
        ) {
            Ok(plan) => plan,
            Err((e, restored)) => {
                frontier = restored;
                plans.push(Planned::Rejected(e));
                continue;
            }
        };
        // Whether the job's rows are left to the group statement (no effect, or an effect
        // that ran without a savepoint of its own).
        let mut deferred = true;
        if let (Some(effect), false) = (effect, rows.is_empty()) {
            match apply(&rows, &entries, *effect, (&new_rows, &mut to_insert)) {
                Ok(d) => deferred = d,
                Err(e) => {
                    frontier = before;
                    plans.push(Planned::Rejected(e));
                    continue;
                }
            }
        }
        let base = new_rows.len();
        if deferred {
            match to_insert.last_mut() {
                Some(r) if r.end == base => r.end = base + rows.len(),
                _ => to_insert.push(base..base + rows.len()),
            }
        }
        if let Some(last) = rows.last() {
            prev = store::to_hash(&last.entry_hash)?;
        }
        for (i, req) in job.iter().enumerate() {
            if let Some(Outcome::New(at)) = outcomes.get(i) {
                recorded.insert(req.idempotency_key.as_str(), base + at);
            }
        }
        new_rows.extend(rows);
        new_nodes.extend(nodes);
        plans.push(Planned::Accepted(
            outcomes
                .into_iter()
                .map(|o| match o {
                    Outcome::New(i) => Outcome::New(base + i),
                    replay => replay,
                })
                .collect(),
        ));
    }
    Ok(GroupPlan {
        frontier,
        plans,
        new_rows,
        new_nodes,
        to_insert,
        prev,
    })
}

/// The rows of a group's earlier jobs, and the ranges of them not inserted yet (left to
/// the group statement): a job that inserts its own rows inserts these first.
type Unwritten<'a> = (&'a [EntryRow], &'a mut Vec<std::ops::Range<usize>>);

type JobPlan = (Vec<Outcome>, Vec<EntryRow>, Vec<Entry>, Vec<(NodeId, Hash)>);

/// What a group already knows about idempotency keys when it plans a job.
#[derive(Clone, Copy)]
struct Known<'a> {
    /// Rows recorded by earlier commits, by key.
    stored: &'a HashMap<String, EntryRow>,
    /// Keys recorded by earlier jobs of this group, to their index in `new_rows`.
    recorded: &'a HashMap<&'a str, usize>,
    new_rows: &'a [EntryRow],
}

impl Known<'_> {
    fn get(&self, key: &str) -> Option<&EntryRow> {
        self.stored
            .get(key)
            .or_else(|| self.recorded.get(key).and_then(|i| self.new_rows.get(*i)))
    }
}

/// Plans one job against the group's running state. On rejection, returns the frontier
/// as it was before the job so the job leaves no trace. The job's entries are built (a
/// copy of each request) only `with_entries`, for its effect.
fn plan_job(
    (chain, recorded_at): (Uuid, DateTime<Utc>),
    (job, bodies): (&[AppendRequest], &[Vec<u8>]),
    with_entries: bool,
    known: Known<'_>,
    frontier: &mut Frontier,
    prev: Hash,
) -> Result<JobPlan, (AppendError, Frontier)> {
    let before = frontier.clone();
    let fail = |e: AppendError, before: Frontier| Err((e, before));
    let mut outcomes = Vec::with_capacity(job.len());
    let mut rows = Vec::with_capacity(job.len());
    let mut entries = Vec::new();
    let mut nodes = Vec::new();
    let mut prev = prev;
    for (req, body) in job.iter().zip(bodies) {
        if let Some(row) = known.get(&req.idempotency_key) {
            if !same_request(row, req) {
                return fail(
                    AppendError::IdempotencyConflict(req.idempotency_key.clone()),
                    before,
                );
            }
            outcomes.push(Outcome::Replay(Box::new(row.clone())));
            continue;
        }
        let seq = frontier.size();
        let header = entry::Header {
            business_date: req.business_date,
            chain,
            idempotency_key: &req.idempotency_key,
            kind: &req.kind,
            principal: &req.principal,
            recorded_at,
            seq,
            v: entry::FORMAT_VERSION,
        };
        let built = (|| -> Result<(EntryRow, Hash), AppendError> {
            let canonical = entry::canonical_bytes_spliced(&header, &req.body, body)?;
            let hash = entry::entry_hash(&prev, &canonical);
            let canonical =
                String::from_utf8(canonical).map_err(|err| AppendError::Internal(err.into()))?;
            Ok((
                EntryRow {
                    chain_id: chain,
                    seq: store::to_i64(seq)?,
                    kind: req.kind.clone(),
                    business_date: req.business_date,
                    recorded_at,
                    idempotency_key: req.idempotency_key.clone(),
                    canonical,
                    prev_hash: prev.to_vec(),
                    entry_hash: hash.to_vec(),
                },
                hash,
            ))
        })();
        let (row, hash) = match built {
            Ok(b) => b,
            Err(err) => return fail(err, before),
        };
        nodes.extend(frontier.push(merkle::leaf_hash(&hash)));
        prev = hash;
        outcomes.push(Outcome::New(rows.len()));
        rows.push(row);
        if with_entries {
            entries.push(header.entry(req.body.clone()));
        }
    }
    Ok((outcomes, rows, entries, nodes))
}

/// A retry must say the same thing: kind, business date, principal and body.
fn same_request(row: &EntryRow, req: &AppendRequest) -> bool {
    match serde_json::from_str::<Entry>(&row.canonical) {
        Ok(e) => {
            e.kind == req.kind
                && e.business_date == req.business_date
                && e.principal == req.principal
                && e.body == req.body
        }
        Err(_) => false,
    }
}

fn load_frontier(conn: &mut PgConnection, chain: Uuid, size: u64) -> Result<Frontier, AppendError> {
    let ids = Frontier::required_nodes(size);
    let found = store::nodes(conn, chain, &ids)?;
    Frontier::from_nodes(size, |id| found.get(&id).copied()).map_err(|e| {
        integrity::failed(
            chain,
            None,
            format!("the stored Merkle nodes of size {size} are incomplete: {e}"),
        )
    })
}

/// Signs the checkpoint (origin, size, root) with the signing time as an extension line.
pub fn sign(
    signer: &SigningKey,
    origin: &str,
    size: u64,
    root: Hash,
    at: DateTime<Utc>,
) -> Result<SignedCheckpoint, AppendError> {
    let body = note::Checkpoint {
        origin: origin.to_owned(),
        size,
        root,
        extensions: vec![format!("time {}", entry::format_micros(&at))],
    };
    let note = note::sign_checkpoint(signer, &body)
        .map_err(|e| AppendError::Internal(anyhow::anyhow!("signing a checkpoint: {e}")))?;
    Ok(SignedCheckpoint {
        tree_size: size,
        root_hash: root,
        signed_at: at,
        note,
    })
}

pub fn checkpoint_row(
    chain: Uuid,
    signer: &SigningKey,
    cp: &SignedCheckpoint,
) -> Result<CheckpointRow, AppendError> {
    Ok(CheckpointRow {
        chain_id: chain,
        tree_size: store::to_i64(cp.tree_size)?,
        root_hash: cp.root_hash.to_vec(),
        signed_at: cp.signed_at,
        key_id: format!("{:08x}", signer.key_id()),
        note: cp.note.clone(),
    })
}

fn latest_checkpoint(
    conn: &mut PgConnection,
    chain: Uuid,
) -> Result<SignedCheckpoint, AppendError> {
    let row = store::latest_checkpoint(conn, chain)?
        .ok_or_else(|| AppendError::Internal(anyhow::anyhow!("chain {chain} has no checkpoint")))?;
    Ok(SignedCheckpoint::try_from(&row)?)
}

/// Errors are not `Clone` (they carry sources); each job of a failed group gets its own.
fn clone_error(e: &Arc<AppendError>) -> AppendError {
    match e.as_ref() {
        AppendError::ChainNotFound(c) => AppendError::ChainNotFound(*c),
        AppendError::Database(inner) => AppendError::Database(anyhow::anyhow!("{inner:#}")),
        AppendError::Integrity { chain, detail } => AppendError::Integrity {
            chain: *chain,
            detail: detail.clone(),
        },
        other => AppendError::Internal(anyhow::anyhow!("{other}")),
    }
}

/// An `Effect` from a closure.
pub struct FnEffect<F>(pub F);

impl<F> Effect for FnEffect<F>
where
    F: Fn(&mut PgConnection, &[Entry]) -> Result<(), AppendError> + Send + Sync,
{
    fn apply(&self, conn: &mut PgConnection, entries: &[Entry]) -> Result<(), AppendError> {
        (self.0)(conn, entries)
    }
}
