//! Offline check of a receipt (the answer to an append, or of `GET .../proof`): the
//! entry hashes to `entry_hash`, the checkpoint is signed by a published key, and the
//! inclusion proof puts the entry in that checkpoint's tree. What a donor runs to prove
//! "this disbursement is in the ledger" without trusting the server.

use serde::{Deserialize, Serialize};

use super::entry::{self, Entry, Hash};
use super::merkle;
use super::note::{self, VerifierKey};

#[derive(Debug, Deserialize)]
struct ProofPart {
    leaf_index: u64,
    tree_size: u64,
    hashes: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct CheckpointPart {
    note: String,
}

/// The fields of a receipt this check reads (others are ignored).
#[derive(Debug, Deserialize)]
struct ReceiptJson {
    entry: Entry,
    prev_hash: String,
    entry_hash: String,
    inclusion_proof: ProofPart,
    checkpoint: CheckpointPart,
}

#[derive(Debug, Serialize)]
pub struct ReceiptReport {
    pub ok: bool,
    pub chain: Option<String>,
    pub seq: Option<u64>,
    pub tree_size: Option<u64>,
    /// Why the receipt does not hold, when it does not.
    pub failure: Option<String>,
}

fn hash(s: &str, what: &str) -> Result<Hash, String> {
    entry::parse_hex32(s).ok_or_else(|| format!("{what} is not a 32-byte hex hash"))
}

fn check(receipt: &ReceiptJson, keys: &[VerifierKey]) -> Result<u64, String> {
    let canonical = entry::canonical_bytes(&receipt.entry).map_err(|e| e.to_string())?;
    let prev = hash(&receipt.prev_hash, "prev_hash")?;
    let claimed = hash(&receipt.entry_hash, "entry_hash")?;
    let computed = entry::entry_hash(&prev, &canonical);
    if computed != claimed {
        return Err(format!(
            "the entry hashes to {} but the receipt says {}: the entry was altered",
            entry::hex32(&computed),
            entry::hex32(&claimed)
        ));
    }
    let opened = note::open_note(&receipt.checkpoint.note, keys)
        .map_err(|e| format!("the checkpoint signature does not verify: {e}"))?;
    let cp = note::Checkpoint::parse(opened.text())
        .map_err(|e| format!("the checkpoint is malformed: {e}"))?;
    let proof = &receipt.inclusion_proof;
    if proof.leaf_index != receipt.entry.seq || proof.tree_size != cp.size {
        return Err(format!(
            "the proof is for leaf {} of {} but the entry is seq {} and the checkpoint has size {}",
            proof.leaf_index, proof.tree_size, receipt.entry.seq, cp.size
        ));
    }
    let path = proof
        .hashes
        .iter()
        .map(|h| hash(h, "a proof hash"))
        .collect::<Result<Vec<_>, _>>()?;
    merkle::verify_inclusion(
        &merkle::leaf_hash(&computed),
        proof.leaf_index,
        cp.size,
        &path,
        &cp.root,
    )
    .map_err(|e| format!("the inclusion proof does not lead to the signed root: {e}"))?;
    Ok(cp.size)
}

/// Checks a receipt given as JSON text against the published keys.
pub fn verify_receipt(json: &str, keys: &[VerifierKey]) -> Result<ReceiptReport, String> {
    let receipt: ReceiptJson =
        serde_json::from_str(json).map_err(|e| format!("not a receipt: {e}"))?;
    let (chain, seq) = (
        Some(receipt.entry.chain.to_string()),
        Some(receipt.entry.seq),
    );
    Ok(match check(&receipt, keys) {
        Ok(size) => ReceiptReport {
            ok: true,
            chain,
            seq,
            tree_size: Some(size),
            failure: None,
        },
        Err(failure) => ReceiptReport {
            ok: false,
            chain,
            seq,
            tree_size: None,
            failure: Some(failure),
        },
    })
}
