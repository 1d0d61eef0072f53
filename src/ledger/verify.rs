//! Streaming verification of one chain, shared by `GET /chains/{id}/verify` (rows from
//! Postgres) and the offline `fundtrail verify` (an export file). Memory is O(log n):
//! the previous hash and the Merkle frontier, nothing per entry.
//!
//! The algorithm is specified in docs/ledger-format.md ("Verification"); the order of
//! checks decides which failure is reported first, so it is part of the contract.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::entry::{self, Entry, Hash, ZERO_HASH};
use super::merkle::{self, Frontier};
use super::note::{self, VerifierKey};

/// Why verification stopped. Stable codes (snake_case in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// An entry is missing: the next stored entry has a later seq.
    SeqGap,
    /// The entry at this position claims another seq or chain (reordered or moved).
    SeqMismatch,
    /// The stored entry is not valid entry JSON.
    Unparseable,
    /// The stored bytes are not the RFC 8785 form of the entry they encode.
    NotCanonical,
    /// `prev_hash` is not the previous entry's hash (entries swapped, removed or inserted).
    PrevHashMismatch,
    /// The entry's content does not hash to its `entry_hash` (content edited).
    EntryHashMismatch,
    /// An indexed column (kind, date, time, key) disagrees with the hashed entry.
    ColumnMismatch,
    /// A signed checkpoint's root differs from the root recomputed from the entries.
    CheckpointRootMismatch,
    /// A checkpoint's signature does not verify with any published key, or is malformed.
    CheckpointSignatureInvalid,
    /// A checkpoint (or the chain head) covers more entries than the chain holds.
    Truncated,
    /// More entries than the chain head or export header claims.
    SizeMismatch,
    /// A checkpoint for another chain, or one placed before entries it already covers.
    CheckpointMisplaced,
    /// The entry breaks a write-time rule (format version, kind, key or body rules).
    InvalidEntry,
    /// Entries exist beyond the latest signed checkpoint.
    UnsignedTail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Failure {
    /// First entry that fails (for checkpoint failures: the first entry no valid
    /// checkpoint vouches for).
    pub seq: u64,
    pub reason: FailureReason,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Report {
    pub ok: bool,
    pub chain: Uuid,
    pub entries_checked: u64,
    pub checkpoints_checked: u64,
    /// Root of the entries checked (hex), when no entry failed.
    pub root_hash: Option<String>,
    pub first_failure: Option<Failure>,
}

/// Values of indexed columns stored beside the canonical bytes (server-side only).
pub struct Columns<'a> {
    pub kind: &'a str,
    pub business_date: chrono::NaiveDate,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    pub idempotency_key: &'a str,
}

pub struct Verifier {
    chain: Uuid,
    origin: String,
    keys: Vec<VerifierKey>,
    next_seq: u64,
    prev: Hash,
    frontier: Frontier,
    /// Largest size a genuine (signature-verified) checkpoint vouched for.
    vouched: u64,
    /// Verified checkpoints ahead of the entries, by (size, arrival): applied in size order
    /// whatever order they came in.
    pending: std::collections::BTreeMap<(u64, usize), (note::Checkpoint, String)>,
    arrivals: usize,
    checkpoints_checked: u64,
    /// The newest checkpoint that matched.
    latest: Option<(u64, String)>,
    /// A checkpoint the caller saved earlier (signature already verified): the entries
    /// must reproduce its root at its size.
    trusted: Option<note::Checkpoint>,
    failure: Option<Failure>,
}

impl Verifier {
    pub fn new(chain: Uuid, origin: &str, keys: Vec<VerifierKey>) -> Self {
        Self {
            chain,
            origin: origin.to_owned(),
            keys,
            next_seq: 0,
            prev: ZERO_HASH,
            frontier: Frontier::default(),
            vouched: 0,
            pending: std::collections::BTreeMap::new(),
            arrivals: 0,
            checkpoints_checked: 0,
            latest: None,
            trusted: None,
            failure: None,
        }
    }

    /// Also checks the entries against `signed_note`, a checkpoint the caller trusts
    /// (saved from a receipt or `/checkpoint`). Fails at once if its signature or origin
    /// is wrong.
    pub fn with_trusted(mut self, signed_note: &str) -> Result<Self, String> {
        // Tolerate the trailing newline tools add when a note is saved (`jq -r`, editors).
        let normalized = format!("{}\n", signed_note.trim_end_matches(['\n', '\r', ' ']));
        let cp = self.verify_signature(&normalized)?;
        if cp.origin != self.origin {
            return Err(format!(
                "the checkpoint is for {}, not {}",
                cp.origin, self.origin
            ));
        }
        self.trusted = Some(cp);
        self.check_trusted();
        Ok(self)
    }

    fn check_trusted(&mut self) {
        let Some(cp) = &self.trusted else { return };
        if cp.size != self.next_seq || cp.root == self.frontier.root() {
            return;
        }
        let (size, from) = (cp.size, self.vouched);
        self.fail(
            from,
            FailureReason::CheckpointRootMismatch,
            format!(
                "the trusted checkpoint of size {size} does not match the entries: {}",
                first_altered(from, size)
            ),
        );
    }

    pub fn failed(&self) -> bool {
        self.failure.is_some()
    }

    pub fn size(&self) -> u64 {
        self.next_seq
    }

    fn fail(&mut self, seq: u64, reason: FailureReason, detail: String) -> bool {
        if self.failure.is_none() {
            self.failure = Some(Failure {
                seq,
                reason,
                detail,
            });
        }
        false
    }

    /// The order-dependent part of checking an entry, in the documented order of checks.
    /// Returns false once verification has failed.
    pub fn apply(&mut self, p: Prepared) -> bool {
        if self.failed() {
            return false;
        }
        let k = self.next_seq;
        if p.stored_seq > k {
            let next = p.stored_seq;
            return self.fail(
                k,
                FailureReason::SeqGap,
                format!("entry {k} is missing (next entry is {next})"),
            );
        }
        if p.stored_seq < k {
            let again = p.stored_seq;
            return self.fail(
                k,
                FailureReason::SeqMismatch,
                format!("entry {again} appears again after {k}"),
            );
        }
        let (seq, chain) = match p.parsed {
            Ok(ids) => ids,
            Err((reason, detail)) => return self.fail(k, reason, format!("entry {k}: {detail}")),
        };
        if seq != k || chain != self.chain {
            return self.fail(
                k,
                FailureReason::SeqMismatch,
                format!("position {k} holds an entry claiming chain {chain} seq {seq}"),
            );
        }
        if !p.canonical_ok {
            return self.fail(
                k,
                FailureReason::NotCanonical,
                format!("entry {k} is not stored in canonical form"),
            );
        }
        if p.prev_hash != self.prev {
            return self.fail(
                k,
                FailureReason::PrevHashMismatch,
                format!(
                    "entry {k} links to {} but the previous entry hashes to {}",
                    entry::hex32(&p.prev_hash),
                    entry::hex32(&self.prev)
                ),
            );
        }
        // `computed` was hashed over the stored prev_hash, which now equals ours.
        if p.computed != p.entry_hash {
            return self.fail(
                k,
                FailureReason::EntryHashMismatch,
                format!(
                    "entry {k} hashes to {} but records {}: its content was changed",
                    entry::hex32(&p.computed),
                    entry::hex32(&p.entry_hash)
                ),
            );
        }
        if !p.columns_ok {
            return self.fail(
                k,
                FailureReason::ColumnMismatch,
                format!("entry {k}: indexed columns disagree with the hashed entry"),
            );
        }
        self.frontier.push(merkle::leaf_hash(&p.computed));
        self.prev = p.computed;
        self.next_seq = k + 1;
        self.apply_pending();
        self.check_trusted();
        !self.failed()
    }

    /// Checks a signed checkpoint. Every checkpoint's signature is verified (with any
    /// published key), so only genuine checkpoints ever vouch for a prefix. A checkpoint
    /// ahead of the entries checked so far is held until they reach its size (at most
    /// `MAX_PENDING`); one behind them is misplaced.
    pub fn checkpoint(&mut self, size: u64, signed_note: &str) -> bool {
        if self.failed() {
            return false;
        }
        let cp = match self.verify_signature(signed_note) {
            Ok(cp) => cp,
            Err(e) => {
                return self.fail(
                    self.vouched,
                    FailureReason::CheckpointSignatureInvalid,
                    format!("checkpoint {size}: {e}"),
                )
            }
        };
        if cp.size != size || cp.origin != self.origin || cp.size < self.next_seq {
            return self.fail(
                self.vouched,
                FailureReason::CheckpointMisplaced,
                format!(
                    "a checkpoint for {} size {} appears at size {} of {}",
                    cp.origin, cp.size, self.next_seq, self.origin
                ),
            );
        }
        if cp.size > self.next_seq {
            if self.pending.len() >= MAX_PENDING {
                return self.fail(
                    self.vouched,
                    FailureReason::CheckpointMisplaced,
                    "too many checkpoints ahead of their entries".to_owned(),
                );
            }
            self.arrivals += 1;
            self.pending
                .insert((cp.size, self.arrivals), (cp, signed_note.to_owned()));
            return true;
        }
        self.apply_checkpoint(cp, signed_note)
    }

    fn apply_checkpoint(&mut self, cp: note::Checkpoint, signed_note: &str) -> bool {
        self.checkpoints_checked += 1;
        let size = cp.size;
        if cp.root != self.frontier.root() {
            let from = self.vouched;
            return self.fail(
                from,
                FailureReason::CheckpointRootMismatch,
                format!(
                    "the checkpoint signed for size {size} does not match the entries: {}",
                    first_altered(from, size)
                ),
            );
        }
        self.vouched = size;
        self.latest = Some((size, signed_note.to_owned()));
        true
    }

    /// Applies held checkpoints whose size the entries have now reached.
    fn apply_pending(&mut self) {
        while self
            .pending
            .first_key_value()
            .is_some_and(|((size, _), _)| *size == self.next_seq)
        {
            if let Some((_, (cp, note))) = self.pending.pop_first() {
                if !self.apply_checkpoint(cp, &note) {
                    return;
                }
            }
        }
    }

    fn verify_signature(&self, signed_note: &str) -> Result<note::Checkpoint, String> {
        if self.keys.is_empty() {
            return Err("no public key to verify checkpoints with".to_owned());
        }
        let opened = note::open_note(signed_note, &self.keys).map_err(|e| e.to_string())?;
        note::Checkpoint::parse(opened.text()).map_err(|e| e.to_string())
    }

    /// Ends the scan. `expected_size`: how many entries the source claims (chain head,
    /// export header).
    pub fn finish(mut self, expected_size: Option<u64>) -> Report {
        if !self.failed() {
            self.finish_checks(expected_size);
        }
        let ok = self.failure.is_none();
        Report {
            ok,
            chain: self.chain,
            entries_checked: self.next_seq,
            checkpoints_checked: self.checkpoints_checked,
            root_hash: ok.then(|| entry::hex32(&self.frontier.root())),
            first_failure: self.failure,
        }
    }

    fn finish_checks(&mut self, expected_size: Option<u64>) {
        let n = self.next_seq;
        if let Some(expected) = expected_size.filter(|e| *e < n) {
            self.fail(
                expected,
                FailureReason::SizeMismatch,
                format!("{n} entries exist but the chain claims {expected}"),
            );
            return;
        }
        if let Some(((size, _), _)) = self.pending.first_key_value() {
            let size = *size;
            self.fail(
                n,
                FailureReason::Truncated,
                format!("a signed checkpoint covers {size} entries but only {n} exist"),
            );
            return;
        }
        if let Some(expected) = expected_size.filter(|e| *e > n) {
            self.fail(n, FailureReason::Truncated, format!("the chain claims {expected} entries but only {n} exist: entries from {n} on are missing"));
            return;
        }
        if let Some(size) = self.trusted.as_ref().map(|cp| cp.size).filter(|s| *s > n) {
            self.fail(
                n,
                FailureReason::Truncated,
                format!("the trusted checkpoint covers {size} entries but only {n} exist"),
            );
            return;
        }
        // Every entry must lie under a signed checkpoint (size 0 vouches for nothing).
        let covered = self.latest.as_ref().map_or(0, |(size, _)| *size);
        if covered < n {
            self.fail(
                covered,
                FailureReason::UnsignedTail,
                format!(
                    "entries from {covered} to {} are not covered by any signed checkpoint",
                    n - 1
                ),
            );
        }
    }
}

/// The order-independent work of checking one entry: parsing, rules, canonical form,
/// hashing over the entry's own `prev_hash`. Pure, so a page of entries can be prepared
/// on several threads and then applied in order.
#[derive(Debug)]
pub struct Prepared {
    stored_seq: u64,
    /// (seq, chain) claimed by the entry, or why it could not be read.
    parsed: Result<(u64, Uuid), (FailureReason, String)>,
    canonical_ok: bool,
    prev_hash: Hash,
    entry_hash: Hash,
    /// SHA-256(tag || stored prev_hash || canonical bytes).
    computed: Hash,
    columns_ok: bool,
}

/// Prepares one entry. `stored` is the JSON as stored or exported; with `strict`, it must
/// already be canonical (the database stores the hashed bytes).
pub fn prepare(
    stored_seq: u64,
    stored: &str,
    strict: bool,
    prev_hash: &Hash,
    entry_hash: &Hash,
    columns: Option<Columns<'_>>,
) -> Prepared {
    let mut p = Prepared {
        stored_seq,
        parsed: Err((FailureReason::Unparseable, String::new())),
        canonical_ok: false,
        prev_hash: *prev_hash,
        entry_hash: *entry_hash,
        computed: [0; 32],
        columns_ok: false,
    };
    let (parsed, canonical) = match read_entry(stored) {
        Ok(read) => read,
        Err(why) => {
            p.parsed = Err(why);
            return p;
        }
    };
    p.parsed = Ok((parsed.seq, parsed.chain));
    p.canonical_ok = !strict || canonical == stored.as_bytes();
    p.computed = entry::entry_hash(prev_hash, &canonical);
    p.columns_ok = columns.is_none_or(|c| {
        c.kind == parsed.kind
            && c.business_date == parsed.business_date
            && c.recorded_at == parsed.recorded_at
            && c.idempotency_key == parsed.idempotency_key
    });
    p
}

/// Steps 3, 4 and 6 of checking an entry (docs/ledger-format.md): parses `stored` as an
/// entry object (`Unparseable`), checks the write-time rules (`InvalidEntry`) and
/// computes its canonical bytes. Shared by the export verifier and receipts.
pub fn read_entry(stored: &str) -> Result<(Entry, Vec<u8>), (FailureReason, String)> {
    let parsed: Entry = serde_json::from_str(stored).map_err(|e| {
        (
            FailureReason::Unparseable,
            format!("not a valid entry: {e}"),
        )
    })?;
    check_rules(&parsed).map_err(|e| (FailureReason::InvalidEntry, e))?;
    // The body's JCS spliced into the envelope: no copy of the body into a second tree.
    let canonical = entry::canonical_body(&parsed.body)
        .and_then(|body| entry::canonical_bytes_with_body(&parsed, &body))
        .map_err(|e| (FailureReason::Unparseable, e.to_string()))?;
    Ok((parsed, canonical))
}

/// Maps `f` over `items` on up to `threads` threads, keeping their order (used to prepare
/// a page of entries on every core).
pub fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let chunk = items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let f = &f;
                scope.spawn(move || part.iter().map(f).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Threads used to prepare entries: the machine's cores, at most 8.
pub fn verify_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// Where the first altered entry is, when a signed root of size `size` disagrees and
/// entries before `from` match a signed checkpoint. A root commits to its leaves but says
/// nothing about which one differs, so without the signed tree's inner nodes (which an
/// export does not carry) the entry is named exactly only when the range holds one.
fn first_altered(from: u64, size: u64) -> String {
    if size.checked_sub(from) == Some(1) {
        format!("entries before {from} match a signed checkpoint, so entry {from} was altered (or one was removed or inserted there)")
    } else {
        format!("entries before {from} match a signed checkpoint, so the first altered entry is in [{from}, {size})")
    }
}

/// Most verified checkpoints held ahead of their entries.
const MAX_PENDING: usize = 1_024;

/// The write-time rules every stored entry must satisfy (the writer enforces them, so a
/// violation means the row was written by something else).
fn check_rules(e: &Entry) -> Result<(), String> {
    if e.v != entry::FORMAT_VERSION {
        return Err(format!("unknown format version {}", e.v));
    }
    entry::validate_kind(&e.kind).map_err(|x| x.to_string())?;
    entry::validate_idempotency_key(&e.idempotency_key).map_err(|x| x.to_string())?;
    entry::validate_body(&e.body).map_err(|x| x.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const GOLDEN: &str = r#"{"body":{"agreement":"NOR-22/117","amount":{"currency":"EUR","value":"2500000.00"},"donor":"Kingdom of Norway","note":"Première tranche — €"},"business_date":"2026-03-31","chain":"6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10","idempotency_key":"contrib-2026-0001","kind":"contribution","principal":{"id":"3d0f4c55-8f0e-4a8e-b7a4-2f0d9b1c6e01","role":"treasurer"},"recorded_at":"2026-04-01T08:15:30.123456Z","seq":0,"v":1}"#;

    #[test]
    fn an_entry_chain_id_has_one_spelling() {
        let (e, canonical) = read_entry(GOLDEN).unwrap();
        assert_eq!(canonical, GOLDEN.as_bytes());
        assert_eq!(e.chain.to_string(), "6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10");
        for other in [
            "6F1C2A9E-3B7D-4E21-9A55-0C8D2F4B7E10",
            "6f1c2a9e3b7d4e219a550c8d2f4b7e10",
            "{6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10}",
            "urn:uuid:6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10",
        ] {
            let spelled = GOLDEN.replace("6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10", other);
            let (reason, _) = read_entry(&spelled).unwrap_err();
            assert_eq!(reason, FailureReason::Unparseable, "{other}");
        }
    }

    #[test]
    fn a_mismatch_names_the_entry_when_one_is_in_range() {
        assert!(first_altered(4, 5).contains("entry 4 was altered"));
        assert!(first_altered(4, 6).contains("in [4, 6)"));
        assert!(first_altered(0, 3).contains("in [0, 3)"));
    }
}
