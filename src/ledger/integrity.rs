//! What the signer vouches for: before a writer extends a chain whose head it did not
//! commit itself (at start-up, or after another process appended), it checks that the head
//! it is about to build on is covered by a checkpoint signed with a trusted key — the
//! checkpoint at the head's size, whose root the stored Merkle nodes reproduce and whose
//! tree holds the head's last entry. Every group commits its checkpoint in the same
//! statement as its entries, so the heads other fundtrail processes leave always pass;
//! rows inserted behind the service's back (an `INSERT` into `ledger_entries` and a bump of
//! `chain_heads` with nothing but the service's own database rights) do not, and the chain
//! stops taking appends instead of getting the forgery signed (docs/security.md).
//!
//! A failure is logged at ERROR level with the chain and the seqs concerned and counted in
//! a process-wide total, exported at `/metrics` as `fundtrail_ledger_integrity_failures_total`
//! for an alert. The trusted keys are the service's own signing key and those configured
//! (`FUNDTRAIL_TRUSTED_KEYS`), never the `signing_keys` table. Whoever called `listen` is
//! also handed each failure as an `Alarm` (the webhook worker turns them into
//! `integrity.alarm` events).

use std::sync::atomic::{AtomicU64, Ordering};

use diesel::PgConnection;
use uuid::Uuid;

use super::entry::Hash;
use super::merkle::{self, Frontier};
use super::note::{self, VerifierKey};
use super::store;
use super::writer::AppendError;

static FAILURES: AtomicU64 = AtomicU64::new(0);

/// An integrity failure as the listeners receive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub chain: Uuid,
    /// The first and last seq concerned, when known.
    pub seqs: Option<(u64, u64)>,
    pub detail: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Alarms a listener has not taken yet, at most; past that, new ones are dropped for it
/// (they are still logged and counted).
const LISTENER_BACKLOG: usize = 1_000;

fn listeners() -> &'static std::sync::Mutex<Vec<std::sync::mpsc::SyncSender<Alarm>>> {
    static LISTENERS: std::sync::OnceLock<
        std::sync::Mutex<Vec<std::sync::mpsc::SyncSender<Alarm>>>,
    > = std::sync::OnceLock::new();
    LISTENERS.get_or_init(Default::default)
}

/// A receiver of every integrity failure found in this process from now on; dropping it
/// unregisters it.
pub fn listen() -> std::sync::mpsc::Receiver<Alarm> {
    let (tx, rx) = std::sync::mpsc::sync_channel(LISTENER_BACKLOG);
    if let Ok(mut all) = listeners().lock() {
        all.push(tx);
    }
    rx
}

fn tell_listeners(alarm: &Alarm) {
    if let Ok(mut all) = listeners().lock() {
        all.retain(|tx| {
            !matches!(
                tx.try_send(alarm.clone()),
                Err(std::sync::mpsc::TrySendError::Disconnected(_))
            )
        });
    }
}

/// The verifier keys a process trusts: its signing key's, the configured ones, and those a
/// trusted key endorsed in a `signing_key_added` entry of the administrative chain (a
/// rotation signed by the outgoing key). Shared by the ledger and its writers; it only
/// grows.
#[derive(Debug, Default)]
pub struct TrustedKeys(std::sync::RwLock<Vec<VerifierKey>>);

impl TrustedKeys {
    /// A set of `keys`, a key listed twice being one.
    pub fn new(keys: Vec<VerifierKey>) -> Self {
        let set = TrustedKeys::default();
        set.extend(keys);
        set
    }

    /// The keys now trusted.
    pub fn snapshot(&self) -> Vec<VerifierKey> {
        self.0.read().map(|k| k.clone()).unwrap_or_default()
    }

    /// Whether `key` is trusted (same key id and public key).
    pub fn contains(&self, key: &VerifierKey) -> bool {
        self.0.read().is_ok_and(|keys| {
            keys.iter().any(|t| {
                t.key_id() == key.key_id() && t.public_key_bytes() == key.public_key_bytes()
            })
        })
    }

    /// Adds `keys` not yet trusted.
    pub fn extend(&self, keys: impl IntoIterator<Item = VerifierKey>) {
        for k in keys {
            if !self.contains(&k) {
                if let Ok(mut all) = self.0.write() {
                    all.push(k);
                }
            }
        }
    }
}

/// The text a rotation's endorsement signs: the outgoing key vouches for the new one.
pub fn endorsement_text(new_key: &VerifierKey) -> String {
    format!("fundtrail signing key\n{}\n", new_key.to_verifier_string())
}

/// The key an endorsement (a signed note of `endorsement_text`) vouches for, if a key of
/// `trusted` signed it and it names `verifier_key`.
pub fn endorsed(
    endorsement: &str,
    verifier_key: &str,
    trusted: &[VerifierKey],
) -> Option<VerifierKey> {
    let opened = note::open_note(endorsement, trusted).ok()?;
    let key = VerifierKey::from_verifier_string(verifier_key).ok()?;
    (opened.text() == endorsement_text(&key)).then_some(key)
}

/// Integrity failures this process found (appends refused, proofs over altered nodes).
pub fn failures() -> u64 {
    FAILURES.load(Ordering::Relaxed)
}

/// Counts and logs an integrity failure of `chain`; returns the error to answer with.
pub fn failed(chain: Uuid, seqs: Option<(u64, u64)>, detail: String) -> AppendError {
    FAILURES.fetch_add(1, Ordering::Relaxed);
    match seqs {
        Some((from, to)) => tracing::error!(
            chain.id = %chain,
            seq.from = from,
            seq.to = to,
            "ledger integrity: {detail}"
        ),
        None => tracing::error!(chain.id = %chain, "ledger integrity: {detail}"),
    }
    tell_listeners(&Alarm {
        chain,
        seqs,
        detail: detail.clone(),
        at: chrono::Utc::now(),
    });
    AppendError::Integrity { chain, detail }
}

/// The checkpoint `signed` (a C2SP note) opened with the trusted keys and parsed, of
/// `origin` when one is given; `Err` says why it is not vouched for.
pub fn trusted_checkpoint(
    signed: &str,
    trusted: &[VerifierKey],
    origin: Option<&str>,
) -> Result<note::Checkpoint, String> {
    let opened = note::open_note(signed, trusted)
        .map_err(|e| format!("its signature does not verify with a trusted key ({e})"))?;
    let cp = note::Checkpoint::parse(opened.text()).map_err(|e| e.to_string())?;
    if let Some(origin) = origin.filter(|o| *o != cp.origin) {
        return Err(format!(
            "it names the origin {:?}, not {origin:?}",
            cp.origin
        ));
    }
    Ok(cp)
}

/// Checks that the head `(size, head_hash)` of `chain`, with the Merkle `frontier` read
/// from its stored nodes, is what a trusted checkpoint vouches for (see the module doc).
pub fn vouch(
    conn: &mut PgConnection,
    chain: Uuid,
    origin: &str,
    (size, head_hash): (u64, Hash),
    frontier: &Frontier,
    trusted: &[VerifierKey],
) -> Result<(), AppendError> {
    let Some(row) = store::latest_checkpoint(conn, chain)? else {
        return Err(failed(
            chain,
            (size > 0).then(|| (0, size.saturating_sub(1))),
            format!("the chain has {size} entries and no checkpoint"),
        ));
    };
    let signed_size = store::to_u64(row.tree_size)?;
    if signed_size < size {
        return Err(failed(
            chain,
            Some((signed_size, size.saturating_sub(1))),
            format!(
                "entries {signed_size} to {} are not covered by a signed checkpoint (unsigned \
                 tail): they were not written by fundtrail; appends to this chain are refused",
                size.saturating_sub(1)
            ),
        ));
    }
    if signed_size > size {
        return Err(failed(
            chain,
            Some((size, signed_size.saturating_sub(1))),
            format!(
                "the head is at size {size} but a checkpoint covers {signed_size}: entries \
                 were removed (rollback)"
            ),
        ));
    }
    let cp = trusted_checkpoint(&row.note, trusted, Some(origin)).map_err(|why| {
        failed(
            chain,
            None,
            format!(
                "the checkpoint at size {size} is not vouched for: {why}; if the signing key \
                 was rotated, list the previous key in FUNDTRAIL_TRUSTED_KEYS"
            ),
        )
    })?;
    if cp.size != size || cp.root != frontier.root() {
        return Err(failed(
            chain,
            None,
            format!(
                "the stored Merkle nodes do not reproduce the signed root at size {size}: \
                 nodes or entries were altered"
            ),
        ));
    }
    if size == 0 {
        return Ok(());
    }
    // The head's hash is the last entry's, and that entry is the tree's last leaf.
    let last = size - 1;
    let entry = store::entry(conn, chain, last)?.ok_or_else(|| {
        failed(
            chain,
            Some((last, last)),
            format!("entry {last} (the head) is missing"),
        )
    })?;
    let entry_hash = store::to_hash(&entry.entry_hash)?;
    let ids = merkle::inclusion_nodes(last, size)
        .map_err(|e| AppendError::Internal(anyhow::anyhow!("inclusion plan: {e}")))?;
    let nodes = store::nodes(conn, chain, &ids)?;
    let included = merkle::inclusion_proof(last, size, |id| nodes.get(&id).copied())
        .ok()
        .is_some_and(|proof| {
            merkle::verify_inclusion(
                &merkle::leaf_hash(&entry_hash),
                last,
                size,
                &proof,
                &cp.root,
            )
            .is_ok()
        });
    if entry_hash != head_hash || !included {
        return Err(failed(
            chain,
            Some((last, last)),
            format!(
                "the head's hash is not the signed tree's last entry ({}): the head or entry \
                 {last} was altered",
                if included {
                    "head hash differs"
                } else {
                    "entry not in the tree"
                }
            ),
        ));
    }
    Ok(())
}
