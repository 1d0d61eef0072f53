//! The ledger as the rest of the service sees it: create chains, append, read, prove,
//! verify, export. Blocking database work runs on the caller's thread (handlers wrap it
//! in `web::block`); appends go through the per-chain group-commit writers.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection};
use uuid::Uuid;

use super::entry::{self, Entry, Hash, Principal, ADMIN_CHAIN};
use super::merkle::{self, NodeId};
use super::node_cache::NodeCache;
use super::note::{SigningKey, VerifierKey};
use super::phases::proof as phases;
use super::store::{self, ChainRow, EntryRow, StoreError};
use super::verify::{self, Columns, Report, Verifier};
use super::writer::{
    self, AppendError, AppendRequest, Clock, Receipt, SignedCheckpoint, WriterContext, Writers,
};
use crate::db::PgPool;

/// Entries read per query by scans (verification, export): bounds memory.
pub const SCAN_PAGE: i64 = 10_000;

pub struct Ledger {
    pool: PgPool,
    signer: Arc<SigningKey>,
    /// The verifier keys trusted: the signer's, the configured ones and those they endorsed
    /// (never a table's).
    trusted: Arc<super::integrity::TrustedKeys>,
    /// The outgoing key's endorsement of the signer, recorded with its `signing_key_added`.
    endorsement: Option<String>,
    log_name: String,
    clock: Clock,
    writers: Writers,
    /// Kind of each chain seen (a chain's kind never changes: `chains` is append-only).
    chain_kinds: std::sync::RwLock<HashMap<Uuid, String>>,
    /// Upper Merkle nodes already read (immutable), shared by every proof.
    node_cache: NodeCache,
    /// Checkpoint notes (with their cosignatures) already found signed by a trusted key,
    /// with the size and root they sign: the trusted keys only grow, so a note vouched
    /// for stays vouched for, and a proof against it skips the signature check.
    vouched: std::sync::RwLock<HashMap<String, (u64, Hash)>>,
    /// The witnesses whose cosignatures a checkpoint needs to pin a report (set once).
    witness_policy: std::sync::OnceLock<super::cosignature::WitnessPolicy>,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    /// Stored ledger data that contradicts what a trusted checkpoint vouches for.
    #[error("{0}")]
    Integrity(String),
    /// A consistency proof asked from a size the chain no longer has.
    #[error("the chain has {current} entries, fewer than the {saved} of the checkpoint you hold: it was rolled back, or your checkpoint is not of this chain")]
    Rollback { saved: u64, current: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Append(#[from] AppendError),
}

impl From<diesel::result::Error> for LedgerError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

pub type LedgerResult<T> = Result<T, LedgerError>;

impl Ledger {
    /// A ledger signing with `signer` and trusting its own key only.
    pub fn new(pool: PgPool, signer: SigningKey, log_name: &str, clock: Clock) -> Self {
        Self::trusting(pool, signer, Vec::new(), log_name, clock)
    }

    /// A ledger signing with `signer` and trusting, besides its own key, the verifier keys
    /// `trusted` (earlier signing keys, other processes' keys): the trust roots of
    /// append-time checks, server-side verification, proofs and reports. Keys found in the
    /// database are never trusted for being there.
    pub fn trusting(
        pool: PgPool,
        signer: SigningKey,
        trusted: Vec<VerifierKey>,
        log_name: &str,
        clock: Clock,
    ) -> Self {
        let signer = Arc::new(signer);
        let trusted = Arc::new(super::integrity::TrustedKeys::new(
            std::iter::once(signer.verifier()).chain(trusted).collect(),
        ));
        let writers = Writers::new(WriterContext {
            pool: pool.clone(),
            signer: signer.clone(),
            trusted: trusted.clone(),
            clock: clock.clone(),
        });
        Self {
            pool,
            signer,
            trusted,
            endorsement: None,
            log_name: log_name.to_owned(),
            clock,
            writers,
            chain_kinds: std::sync::RwLock::new(HashMap::new()),
            node_cache: NodeCache::default(),
            vouched: std::sync::RwLock::new(HashMap::new()),
            witness_policy: std::sync::OnceLock::new(),
        }
    }

    /// Trusts every key a trusted key endorsed in the administrative chain's
    /// `signing_key_added` entries, in chain order (trust flows from the configured roots
    /// through each rotation). The entries need not be trusted themselves: an endorsement
    /// counts only if a trusted key signed it.
    fn learn_endorsements(&self, conn: &mut PgConnection) -> LedgerResult<()> {
        for row in store::entries_of_kind(conn, ADMIN_CHAIN, "signing_key_added")? {
            let Ok(entry) = Self::parse_entry(&row) else {
                // Verification reports such a row; it endorses nothing.
                tracing::warn!(entry.seq = row.seq, "an unreadable signing_key_added entry");
                continue;
            };
            let (Some(endorsement), Some(key)) = (
                entry.body.get("endorsement").and_then(|v| v.as_str()),
                entry.body.get("verifier_key").and_then(|v| v.as_str()),
            ) else {
                continue;
            };
            if let Some(k) = super::integrity::endorsed(endorsement, key, &self.trusted.snapshot())
            {
                if !self.trusted.contains(&k) {
                    tracing::info!(key.verifier = %key, "trusting a key endorsed by a trusted key");
                    self.trusted.extend([k]);
                }
            }
        }
        Ok(())
    }

    /// Logs every key of the `signing_keys` table this service does not trust: one that
    /// was rotated away without being configured as trusted, or one inserted behind the
    /// service's back. Checkpoints it signed are refused by verification and proofs.
    async fn report_untrusted_keys(self: &Arc<Self>) {
        let this = self.clone();
        let rows = tokio::task::spawn_blocking(move || -> LedgerResult<Vec<String>> {
            let mut conn = this.conn()?;
            Ok(store::signing_keys(&mut conn)?
                .into_iter()
                .filter(|r| {
                    !VerifierKey::from_verifier_string(&r.verifier_key)
                        .is_ok_and(|k| this.is_trusted(&k))
                })
                .map(|r| r.verifier_key)
                .collect())
        })
        .await;
        match rows {
            Ok(Ok(untrusted)) => {
                for key in untrusted {
                    tracing::warn!(
                        key.verifier = %key,
                        "a signing key recorded in the database is not trusted (not in \
                         FUNDTRAIL_TRUSTED_KEYS): checkpoints it signed are refused"
                    );
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "could not list the recorded signing keys"),
            Err(e) => tracing::warn!(error = %e, "could not list the recorded signing keys"),
        }
    }

    /// The kind of `chain` (`admin`, `fund`, `generic`), `None` if there is no such chain.
    /// Read from the database once per chain, then from memory.
    pub fn chain_kind(&self, conn: &mut PgConnection, chain: Uuid) -> LedgerResult<Option<String>> {
        if let Some(kind) = self.cached_chain_kind(chain) {
            return Ok(Some(kind));
        }
        let Some(row) = store::chain(conn, chain)? else {
            return Ok(None);
        };
        if let Ok(mut kinds) = self.chain_kinds.write() {
            kinds.insert(chain, row.kind.clone());
        }
        Ok(Some(row.kind))
    }

    /// The kind of `chain` if it was read before (no database access).
    pub fn cached_chain_kind(&self, chain: Uuid) -> Option<String> {
        self.chain_kinds
            .read()
            .ok()
            .and_then(|kinds| kinds.get(&chain).cloned())
    }

    pub fn system_clock() -> Clock {
        Arc::new(Utc::now)
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    pub fn verifier_key(&self) -> VerifierKey {
        self.signer.verifier()
    }

    /// The verifier keys this service trusts: its signing key's, the configured ones and
    /// those a trusted key endorsed.
    pub fn trusted_keys(&self) -> Vec<VerifierKey> {
        self.trusted.snapshot()
    }

    /// Rotating from `previous`: it is trusted, and its endorsement of the new signing key
    /// is recorded with the new key's `signing_key_added` entry, so that whoever trusts the
    /// previous key trusts the new one (docs/operations.md, "Checkpoint signing keys").
    pub fn rotated_from(mut self, previous: &SigningKey) -> Result<Self, LedgerError> {
        let text = super::integrity::endorsement_text(&self.signer.verifier());
        let note = previous.sign_note(&text).map_err(|e| {
            LedgerError::Append(AppendError::Internal(anyhow::anyhow!(
                "endorsing the key: {e}"
            )))
        })?;
        self.trusted.extend([previous.verifier()]);
        self.endorsement = Some(note);
        Ok(self)
    }

    /// Requires `policy` of the checkpoints reports are pinned to (once, at start-up).
    pub fn require_witnesses(&self, policy: super::cosignature::WitnessPolicy) {
        if self.witness_policy.set(policy).is_err() {
            tracing::warn!("a witness policy was already set; the first one stands");
        }
    }

    /// The witness policy reports' pins must meet, if one is configured.
    pub fn witness_policy(&self) -> Option<&super::cosignature::WitnessPolicy> {
        self.witness_policy.get()
    }

    /// Whether `key` is one of the trusted keys (same id and public key).
    pub fn is_trusted(&self, key: &VerifierKey) -> bool {
        self.trusted.contains(key)
    }

    /// Checkpoint origin of a chain: `<log name>/<chain id>`, or `<log name>/admin`.
    pub fn origin_for(&self, chain: Uuid) -> String {
        if chain == ADMIN_CHAIN {
            format!("{}/admin", self.log_name)
        } else {
            format!("{}/{chain}", self.log_name)
        }
    }

    /// Start-up: the administrative chain exists, and the signing key is published; a
    /// key not seen before is recorded as a `signing_key_added` entry in the
    /// administrative chain (key rotation is itself audited).
    pub async fn bootstrap(self: &Arc<Self>) -> LedgerResult<()> {
        let this = self.clone();
        let new_key = tokio::task::spawn_blocking(move || -> LedgerResult<bool> {
            let mut conn = this.conn()?;
            this.learn_endorsements(&mut conn)?;
            let v = this.signer.verifier();
            let added = store::ensure_signing_key(
                &mut conn,
                &format!("{:08x}", v.key_id()),
                v.name(),
                &v.to_verifier_string(),
            )?;
            this.create_chain_with(&mut conn, ADMIN_CHAIN, "admin")?;
            Ok(added)
        })
        .await
        .map_err(|e| LedgerError::Append(AppendError::Internal(e.into())))??;
        self.report_untrusted_keys().await;
        if new_key {
            let v = self.signer.verifier();
            let key_id = format!("{:08x}", v.key_id());
            self.append(
                ADMIN_CHAIN,
                vec![AppendRequest {
                    kind: "signing_key_added".to_owned(),
                    business_date: self.now().date_naive(),
                    idempotency_key: format!("signing-key-{key_id}"),
                    body: {
                        let mut body = serde_json::json!({
                            "key_id": key_id,
                            "name": v.name(),
                            "verifier_key": v.to_verifier_string(),
                        });
                        if let (Some(e), Some(obj)) = (&self.endorsement, body.as_object_mut()) {
                            obj.insert("endorsement".to_owned(), serde_json::json!(e));
                        }
                        body
                    },
                    principal: Principal::system(),
                }],
            )
            .await?;
            tracing::info!(key.id = %key_id, "published a new checkpoint signing key");
        }
        Ok(())
    }

    fn conn(&self) -> LedgerResult<crate::db::PgPooled> {
        self.pool
            .get()
            .map_err(|e| LedgerError::Append(AppendError::Database(e.into())))
    }

    /// Creates a chain with a signed checkpoint of size 0 (idempotent).
    pub fn create_chain(&self, id: Uuid, kind: &str) -> LedgerResult<(ChainRow, bool)> {
        let mut conn = self.conn()?;
        self.create_chain_with(&mut conn, id, kind)
    }

    pub fn create_chain_with(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        kind: &str,
    ) -> LedgerResult<(ChainRow, bool)> {
        let origin = self.origin_for(id);
        conn.transaction(|conn| {
            let (row, created) = store::ensure_chain(conn, id, kind, &origin)?;
            if created {
                let cp = writer::sign(
                    &self.signer,
                    &row.origin,
                    0,
                    merkle::empty_root(),
                    entry::truncate_to_micros(self.now()),
                )?;
                store::insert_checkpoint(conn, &writer::checkpoint_row(id, &self.signer, &cp)?)?;
            }
            Ok((row, created))
        })
    }

    pub async fn append(
        &self,
        chain: Uuid,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Receipt>, AppendError> {
        self.writers.append(chain, requests).await
    }

    /// Appends with an `Effect` run in the same transaction (invariants, derived state).
    pub async fn append_with(
        &self,
        chain: Uuid,
        requests: Vec<AppendRequest>,
        effect: Arc<dyn super::writer::Effect>,
    ) -> Result<Vec<Receipt>, AppendError> {
        self.writers
            .append_with(chain, requests, Some(effect))
            .await
    }

    /// Appends `requests` to `chain` inside the caller's transaction on `conn`, so that
    /// they commit or roll back with it (`Writers::append_within`).
    pub fn append_within(
        &self,
        conn: &mut PgConnection,
        chain: Uuid,
        requests: &[AppendRequest],
        effect: &dyn super::writer::Effect,
    ) -> Result<(), AppendError> {
        self.writers.append_within(conn, chain, requests, effect)
    }

    /// Appends one entry (with an `Effect` when given) and answers its receipt.
    pub async fn append_one(
        &self,
        chain: Uuid,
        request: AppendRequest,
        effect: Option<Arc<dyn super::writer::Effect>>,
    ) -> Result<Receipt, AppendError> {
        self.writers
            .append_with(chain, vec![request], effect)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| AppendError::Internal(anyhow::anyhow!("append returned no receipt")))
    }

    pub fn chain(&self, conn: &mut PgConnection, id: Uuid) -> LedgerResult<ChainRow> {
        store::chain(conn, id)?.ok_or(LedgerError::NotFound)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Inclusion proof of `seq` against the tree of `size` (default: the latest checkpoint),
    /// with the checkpoint of that size when one was signed.
    pub fn inclusion(
        &self,
        conn: &mut PgConnection,
        chain: Uuid,
        seq: u64,
        size: Option<u64>,
    ) -> LedgerResult<(EntryRow, Vec<Hash>, u64, Option<SignedCheckpoint>)> {
        // One round trip when the caller names the tree size (the nodes are known then):
        // head, entry, checkpoint and the nodes not in memory together.
        let t = Instant::now();
        let ids = size
            .and_then(|s| merkle::inclusion_nodes(seq, s).ok())
            .unwrap_or_default();
        let (mut found, missing) = self.cached_nodes(chain, &ids);
        let t = phases::CACHE.since(t);
        let (head, row, cp, fetched, cosignatures) =
            store::proof_context(conn, chain, Some(seq), size, &missing)?
                .ok_or(LedgerError::NotFound)?;
        let t = phases::CONTEXT_QUERY.since(t);
        self.node_cache.keep(chain, &fetched);
        found.extend(fetched);
        let row = row.ok_or(LedgerError::NotFound)?;
        let size = size.unwrap_or(head);
        if size <= seq || size > head {
            return Err(LedgerError::BadRequest(format!(
                "size must satisfy seq < size <= {head} (chain size), got {size}"
            )));
        }
        let ids = merkle::inclusion_nodes(seq, size)
            .map_err(|e| LedgerError::BadRequest(e.to_string()))?;
        // Without a size the nodes were not known in the first round trip.
        let unread: Vec<NodeId> = ids
            .iter()
            .filter(|id| !found.contains_key(id))
            .copied()
            .collect();
        if !unread.is_empty() {
            found.extend(self.proof_nodes(conn, chain, &unread)?);
        }
        let t = phases::MORE_QUERIES.since(t);
        let proof =
            merkle::inclusion_proof(seq, size, |id| found.get(&id).copied()).map_err(|e| {
                self.integrity(
                    chain,
                    seq,
                    format!(
                        "the stored Merkle nodes of entry {seq} at size {size} are incomplete: {e}"
                    ),
                )
            })?;
        let t = phases::BUILD.since(t);
        let cp = cp
            .map(|r| SignedCheckpoint::try_from(&r).map(|cp| with_cosignatures(cp, &cosignatures)))
            .transpose()?;
        let mut t = phases::MORE_QUERIES.since(t);
        if let Some(cp) = &cp {
            // A proof is answered only if it proves the entry against a root signed by a
            // trusted key.
            let (signed_size, signed_root) = self.vouched_for(&cp.note).map_err(|why| {
                self.integrity(
                    chain,
                    seq,
                    format!("the checkpoint at size {size} is not vouched for: {why}"),
                )
            })?;
            t = phases::SIGNATURE.since(t);
            let leaf = merkle::leaf_hash(&store::to_hash(&row.entry_hash)?);
            if signed_size != size
                || signed_root != cp.root_hash
                || merkle::verify_inclusion(&leaf, seq, size, &proof, &cp.root_hash).is_err()
            {
                return Err(self.integrity(
                    chain,
                    seq,
                    format!(
                        "entry {seq} or a stored Merkle node on its path was altered: the proof \
                         does not reach the root signed at size {size}"
                    ),
                ));
            }
            phases::BUILD.since(t);
        }
        Ok((row, proof, size, cp))
    }

    /// Consistency proof between sizes `from <= to <= chain size`.
    pub fn consistency(
        &self,
        conn: &mut PgConnection,
        chain: Uuid,
        from: u64,
        to: u64,
    ) -> LedgerResult<Vec<Hash>> {
        // One round trip: the head (the chain exists exactly when its head row does) and
        // the nodes not in memory.
        let t = Instant::now();
        let ids = match from <= to {
            true => merkle::consistency_nodes(from, to).unwrap_or_default(),
            false => Vec::new(),
        };
        let (mut found, missing) = self.cached_nodes(chain, &ids);
        let t = phases::CACHE.since(t);
        let (head, _, _, fetched, _) = store::proof_context(conn, chain, None, Some(to), &missing)?
            .ok_or(LedgerError::NotFound)?;
        let t = phases::CONTEXT_QUERY.since(t);
        if from > head {
            return Err(LedgerError::Rollback {
                saved: from,
                current: head,
            });
        }
        if from > to || to > head {
            return Err(LedgerError::BadRequest(format!(
                "sizes must satisfy from <= to <= {head} (chain size), got from={from} to={to}"
            )));
        }
        self.node_cache.keep(chain, &fetched);
        found.extend(fetched);
        let proof =
            merkle::consistency_proof(from, to, |id| found.get(&id).copied()).map_err(|e| {
                self.integrity(
                    chain,
                    to.saturating_sub(1),
                    format!(
                        "the stored Merkle nodes between sizes {from} and {to} are incomplete: {e}"
                    ),
                )
            });
        phases::BUILD.since(t);
        proof
    }

    /// The size and root `note` signs, if a trusted key signed it (checked once per note).
    fn vouched_for(&self, note: &str) -> Result<(u64, Hash), String> {
        if let Some(known) = self.vouched.read().ok().and_then(|v| v.get(note).copied()) {
            return Ok(known);
        }
        let signed = super::integrity::trusted_checkpoint(note, &self.trusted.snapshot(), None)?;
        if let Ok(mut vouched) = self.vouched.write() {
            if vouched.len() >= MAX_VOUCHED_NOTES {
                vouched.clear();
            }
            vouched.insert(note.to_owned(), (signed.size, signed.root));
        }
        Ok((signed.size, signed.root))
    }

    /// An integrity failure found while proving: counted and logged like the writer's.
    fn integrity(&self, chain: Uuid, seq: u64, detail: String) -> LedgerError {
        match super::integrity::failed(chain, Some((seq, seq)), detail) {
            AppendError::Integrity { detail, .. } => LedgerError::Integrity(detail),
            other => LedgerError::Append(other),
        }
    }

    /// The nodes of `ids` already in memory, and the ids of the others.
    fn cached_nodes(&self, chain: Uuid, ids: &[NodeId]) -> (HashMap<NodeId, Hash>, Vec<NodeId>) {
        let found = self.node_cache.get_many(chain, ids);
        let missing = ids
            .iter()
            .filter(|id| !found.contains_key(id))
            .copied()
            .collect();
        (found, missing)
    }

    /// The nodes of `ids`: the upper ones from memory when a proof read them before, the
    /// others (and those) from the database in one query.
    fn proof_nodes(
        &self,
        conn: &mut PgConnection,
        chain: Uuid,
        ids: &[NodeId],
    ) -> LedgerResult<HashMap<NodeId, Hash>> {
        let (mut found, missing) = self.cached_nodes(chain, ids);
        if !missing.is_empty() {
            let fetched = store::nodes(conn, chain, &missing)?;
            self.node_cache.keep(chain, &fetched);
            found.extend(fetched);
        }
        Ok(found)
    }

    pub fn latest_checkpoint(
        &self,
        conn: &mut PgConnection,
        chain: Uuid,
    ) -> LedgerResult<SignedCheckpoint> {
        self.chain(conn, chain)?;
        let row = store::latest_checkpoint(conn, chain)?.ok_or(LedgerError::NotFound)?;
        cosigned(conn, chain, SignedCheckpoint::try_from(&row)?)
    }

    /// Re-hashes every entry in pages, rebuilds the Merkle root, checks every stored
    /// checkpoint's root and the newest one's signature against all published keys.
    pub fn verify(&self, conn: &mut PgConnection, chain: Uuid) -> LedgerResult<Report> {
        // One snapshot for the whole scan: appends committed meanwhile are invisible, so
        // the head, the entries and the checkpoints always agree with each other.
        conn.build_transaction()
            .read_only()
            .repeatable_read()
            .run(|conn| self.verify_in_snapshot(conn, chain))
    }

    fn verify_in_snapshot(&self, conn: &mut PgConnection, chain: Uuid) -> LedgerResult<Report> {
        let row = self.chain(conn, chain)?;
        // Only the trusted keys: a key found in `signing_keys` is never trusted for it.
        let mut v = Verifier::new(chain, &row.origin, self.trusted.snapshot());
        let threads = verify::verify_threads();
        let (head, _) = store::head(conn, chain)?.ok_or(LedgerError::NotFound)?;
        // Checkpoint of size 0 first (checkpoints_in excludes the lower bound).
        if let Some(cp0) = store::checkpoint_at(conn, chain, 0)? {
            v.checkpoint(0, &cp0.note);
        }
        // Entries appended while we verify are beyond the head read above: not ours to
        // check now (a row beyond it that is not a later append shows up next time).
        let head_i = store::to_i64(head)?;
        let fetch = |conn: &mut PgConnection, after: Option<i64>| -> LedgerResult<Vec<EntryRow>> {
            let mut page = store::entries_after(conn, chain, after, SCAN_PAGE)?;
            page.retain(|r| r.seq < head_i);
            Ok(page)
        };
        // Pipelined: while this page is prepared and applied, the next one is read.
        let mut page = fetch(conn, None)?;
        while let Some(last) = page.last() {
            let from = v.size();
            let last_seq = last.seq;
            let cps = store::checkpoints_in(
                conn,
                chain,
                from,
                store::to_u64(last_seq)?.saturating_add(1),
            )?;
            let mut cps = cps.iter().peekable();
            let next = std::thread::scope(|scope| -> LedgerResult<Vec<EntryRow>> {
                let reader = scope.spawn(|| fetch(conn, Some(last_seq)));
                let prepared = verify::par_map(&page, threads, |r| {
                    verify::prepare(
                        u64::try_from(r.seq).unwrap_or(u64::MAX),
                        &r.canonical,
                        true,
                        &store::to_hash(&r.prev_hash).unwrap_or([0; 32]),
                        &store::to_hash(&r.entry_hash).unwrap_or([0; 32]),
                        Some(Columns {
                            kind: &r.kind,
                            business_date: r.business_date,
                            recorded_at: r.recorded_at,
                            idempotency_key: &r.idempotency_key,
                        }),
                    )
                });
                for (r, p) in page.iter().zip(prepared) {
                    if !v.apply(p) {
                        break;
                    }
                    while let Some(cp) = cps.next_if(|cp| cp.tree_size <= r.seq.saturating_add(1)) {
                        v.checkpoint(store::to_u64(cp.tree_size)?, &cp.note);
                    }
                }
                reader
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })?;
            if v.failed() {
                break;
            }
            page = next;
        }
        // Checkpoints beyond the entries mean entries were removed from the tail.
        let beyond = store::latest_checkpoint(conn, chain)?
            .map(|c| store::to_u64(c.tree_size))
            .transpose()?
            .unwrap_or(0);
        Ok(v.finish(Some(head.max(beyond))))
    }

    /// Writes the chain's export (JSON lines, docs/ledger-format.md "Export") up to the
    /// size it has when the export starts, page by page.
    pub fn export(
        &self,
        conn: &mut PgConnection,
        chain: Uuid,
        out: &mut dyn Write,
    ) -> LedgerResult<()> {
        let row = self.chain(conn, chain)?;
        let (size, _) = store::head(conn, chain)?.ok_or(LedgerError::NotFound)?;
        let io = |e: std::io::Error| LedgerError::Append(AppendError::Internal(e.into()));
        let header = serde_json::json!({
            "type": "header",
            "format": super::export::FORMAT,
            "chain": chain,
            "origin": row.origin,
            "tree_size": size,
        });
        writeln!(out, "{header}").map_err(io)?;
        if let Some(cp0) = store::checkpoint_at(conn, chain, 0)? {
            super::export::write_checkpoint(out, 0, &cp0.note).map_err(io)?;
        }
        let mut after: Option<i64> = None;
        let size_i = store::to_i64(size)?;
        'pages: loop {
            let page = store::entries_after(conn, chain, after, SCAN_PAGE)?;
            let Some(last) = page.last() else { break };
            let from = after.map_or(0, |a| a.saturating_add(1));
            after = Some(last.seq);
            let upto = last.seq.min(size_i.saturating_sub(1)).saturating_add(1);
            let cps =
                store::checkpoints_in(conn, chain, store::to_u64(from)?, store::to_u64(upto)?)?;
            let mut cps = cps.iter().peekable();
            for r in &page {
                if r.seq >= size_i {
                    break 'pages;
                }
                super::export::write_entry(out, r).map_err(io)?;
                while let Some(cp) = cps.next_if(|cp| cp.tree_size <= r.seq.saturating_add(1)) {
                    super::export::write_checkpoint(out, store::to_u64(cp.tree_size)?, &cp.note)
                        .map_err(io)?;
                }
            }
        }
        Ok(())
    }

    /// Entry as stored, parsed.
    pub fn parse_entry(row: &EntryRow) -> LedgerResult<Entry> {
        serde_json::from_str(&row.canonical)
            .map_err(|e| LedgerError::Store(StoreError::Corrupt(format!("entry {}: {e}", row.seq))))
    }
}

/// `cp` with the witnesses' cosignature lines recorded for it appended to its note (a C2SP
/// cosigned checkpoint: verifiers that know only the log's key ignore the extra lines).
pub fn cosigned(
    conn: &mut PgConnection,
    chain: Uuid,
    cp: SignedCheckpoint,
) -> LedgerResult<SignedCheckpoint> {
    let lines: Vec<String> = store::cosignatures_at(conn, chain, cp.tree_size)?
        .into_iter()
        .map(|row| row.line)
        .collect();
    Ok(with_cosignatures(cp, &lines))
}

/// `cp` with the witnesses' signature `lines` appended to its note.
fn with_cosignatures(mut cp: SignedCheckpoint, lines: &[String]) -> SignedCheckpoint {
    for line in lines {
        if !cp.note.ends_with('\n') {
            cp.note.push('\n');
        }
        cp.note.push_str(line.trim_end_matches('\n'));
        cp.note.push('\n');
    }
    cp
}

/// Most checkpoint notes remembered as vouched for (a few hundred bytes each).
const MAX_VOUCHED_NOTES: usize = 4096;
