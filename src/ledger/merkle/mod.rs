//! RFC 6962 / RFC 9162 Merkle tree hashing for the audit ledger.
//!
//! The ledger is an append-only list of entries. Its tree head for `size`
//! entries is `MTH(D[0:size])` as defined by RFC 6962 §2.1 (identical to
//! RFC 9162 §2.1.1), so any standard transparency-log client can check our
//! inclusion and consistency proofs.
//!
//! # Storage model
//!
//! The database stores every *complete, aligned* subtree ([`NodeId`]) as soon
//! as it is complete, never anything else: such a node's hash can never change
//! once written, so the table is append-only as well. A tree whose size is not
//! a power of two has "ephemeral" right-border nodes whose hash changes as the
//! tree grows; we never store those and instead recompute them by folding the
//! complete aligned subtrees that cover the same leaves (at most `log2(n)` of
//! them).
//!
//! # Two-phase proof generation
//!
//! Every proof function comes in two halves driven by one private *plan*
//! (the list of leaf ranges whose RFC 6962 hashes make up the proof):
//! `*_nodes` lists the stored nodes the plan needs, so a caller can fetch them
//! all in one query, and the matching proof function folds exactly those nodes
//! through a `get` callback. Because both halves are derived from the same
//! plan they cannot disagree.
//!
//! # Verification
//!
//! [`verify_inclusion`] and [`verify_consistency`] follow the algorithms of
//! RFC 9162 §2.1.3.2 and §2.1.4.2 step by step. They are pure functions with no
//! storage access, intended for clients and offline verifiers.
//!
//! # Files
//!
//! This file holds the hashing, the node ids, the errors and the streaming [`Frontier`];
//! `proof` the proof generation over stored subtrees; `verify` the client-side
//! verification; `tests` the known-answer vectors and the checks against a naive
//! reference tree.

mod proof;
#[cfg(test)]
mod tests;
mod verify;

use sha2::{Digest, Sha256};

pub use proof::{
    consistency_nodes, consistency_proof, inclusion_nodes, inclusion_proof, inclusion_proof_memo,
    root, root_nodes, SpanMemo,
};
pub use verify::{verify_consistency, verify_inclusion};

/// A SHA-256 digest: leaf hashes, interior node hashes and tree heads alike.
pub type Hash = [u8; 32];

/// Domain separation prefix for leaves (RFC 6962 §2.1), so that a leaf can
/// never be confused with an interior node (second-preimage resistance).
const LEAF_PREFIX: u8 = 0x00;

/// Domain separation prefix for interior nodes (RFC 6962 §2.1).
const NODE_PREFIX: u8 = 0x01;

/// Largest level a node can have: a level-64 node would span 2^64 leaves,
/// more than a `u64` tree size can describe.
const MAX_LEVEL: u8 = 63;

/// Hash of one leaf: `SHA-256(0x00 || data)`.
///
/// In the ledger `data` is the 32-byte entry hash; the prefix makes the leaf
/// hash differ from any interior node hash over the same bytes.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(data);
    hasher.finalize().into()
}

/// Hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// Tree head of the empty tree: `SHA-256("")` (RFC 6962 §2.1, `MTH({})`).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A complete, aligned subtree: the `2^level` leaves
/// `[index * 2^level, (index + 1) * 2^level)`.
///
/// These are exactly the nodes whose hash is final once written, which is why
/// they are the unit of storage and every proof is expressed in terms of them.
/// Level 0 nodes are the leaf hashes themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves; the node covers `2^level` leaves.
    pub level: u8,
    /// Position among the nodes of the same level, counted from the left.
    pub index: u64,
}

impl NodeId {
    /// Convenience constructor.
    pub const fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }
}

/// Why a proof or tree head could not be assembled from stored nodes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf does not exist in a tree of this size.
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange {
        /// Requested leaf index.
        index: u64,
        /// Tree size the proof was requested for.
        size: u64,
    },
    /// A consistency proof was asked for from a larger to a smaller tree.
    #[error("invalid tree sizes: old size {old_size} is larger than new size {new_size}")]
    InvalidSizes {
        /// Size of the older tree.
        old_size: u64,
        /// Size of the newer tree.
        new_size: u64,
    },
    /// The storage callback did not have a node the plan needs; this means the
    /// store is behind the requested size or has lost data.
    #[error("stored Merkle node missing: level {} index {}", .0.level, .0.index)]
    MissingNode(NodeId),
}

/// Why a proof was rejected. Variants are distinct so that callers can tell a
/// malformed proof (wrong size) from a forged one (root mismatch).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Inclusion proof for a leaf the tree does not contain.
    #[error("leaf index {index} is beyond tree size {size}")]
    IndexBeyondSize {
        /// Claimed leaf index.
        index: u64,
        /// Claimed tree size.
        size: u64,
    },
    /// Consistency proof from a larger to a smaller tree.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    OldSizeExceedsNewSize {
        /// Claimed old tree size.
        old_size: u64,
        /// Claimed new tree size.
        new_size: u64,
    },
    /// The proof does not have the length the tree sizes dictate.
    #[error("wrong proof size: got {got} hashes, expected {expected}")]
    WrongProofSize {
        /// Number of hashes the sizes require.
        expected: usize,
        /// Number of hashes supplied.
        got: usize,
    },
    /// The inclusion proof leads to a different tree head.
    #[error("root mismatch: calculated {}, expected {}", to_hex(.calculated), to_hex(.expected))]
    RootMismatch {
        /// Root the caller supplied.
        expected: Hash,
        /// Root the proof leads to.
        calculated: Hash,
    },
    /// The consistency proof does not reproduce the old tree head.
    #[error("old root mismatch: calculated {}, expected {}", to_hex(.calculated), to_hex(.expected))]
    OldRootMismatch {
        /// Old root the caller supplied.
        expected: Hash,
        /// Old root the proof leads to.
        calculated: Hash,
    },
    /// The consistency proof does not reproduce the new tree head.
    #[error("new root mismatch: calculated {}, expected {}", to_hex(.calculated), to_hex(.expected))]
    NewRootMismatch {
        /// New root the caller supplied.
        expected: Hash,
        /// New root the proof leads to.
        calculated: Hash,
    },
}

/// Lower-case hex for error messages, kept local so the module needs no
/// extra dependency.
fn to_hex(hash: &Hash) -> String {
    use std::fmt::Write;
    hash.iter().fold(String::with_capacity(64), |mut s, b| {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The right edge of a growing tree (a compact range starting at leaf 0): one
/// hash per set bit of `size`, the roots of the complete aligned subtrees that
/// together cover every leaf pushed so far.
///
/// This is all a writer needs in memory (O(log n)) to keep appending leaves,
/// emit each newly complete node for storage and compute the current head
/// without reading the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Subtree roots, left to right (largest subtree first). Invariant:
    /// `nodes.len() == size.count_ones()` and `nodes[i]` is the node
    /// `root_nodes(size)[i]`.
    nodes: Vec<Hash>,
}

impl Frontier {
    /// An empty frontier (tree size 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one leaf hash and returns every node that became complete,
    /// bottom-up, starting with the leaf itself at level 0.
    ///
    /// # Panics
    ///
    /// If the tree already holds `u64::MAX` leaves (unreachable in practice).
    pub fn push(&mut self, leaf: Hash) -> Vec<(NodeId, Hash)> {
        assert!(self.size < u64::MAX, "Merkle frontier is full");
        let mut index = self.size;
        let mut level = 0u8;
        let mut hash = leaf;
        let mut completed = vec![(NodeId::new(level, index), hash)];
        // Each trailing one bit of the old size is a left sibling waiting for
        // exactly this right neighbour.
        while index & 1 == 1 {
            let Some(left) = self.nodes.pop() else {
                unreachable!("frontier holds one node per set bit of its size");
            };
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            completed.push((NodeId::new(level, index), hash));
        }
        self.nodes.push(hash);
        self.size += 1;
        completed
    }

    /// The frontier's nodes with their ids: the complete subtrees covering `[0, size)`,
    /// left to right. With the nodes a later `push` returns, they hold every node an
    /// inclusion proof of a later leaf needs (a sibling left of `size` is one of them).
    pub fn nodes(&self) -> Vec<(NodeId, Hash)> {
        root_nodes(self.size)
            .into_iter()
            .zip(self.nodes.iter().copied())
            .collect()
    }

    /// Number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Tree head `MTH(D[0:size])` of everything pushed so far.
    pub fn root(&self) -> Hash {
        proof::fold_right(&self.nodes).unwrap_or_else(empty_root)
    }

    /// Stored nodes needed to rebuild the frontier of a tree of `size` leaves
    /// (one per set bit of `size`), in the order [`Frontier::from_nodes`]
    /// requests them.
    pub fn required_nodes(size: u64) -> Vec<NodeId> {
        root_nodes(size)
    }

    /// Rebuilds the frontier of a stored tree of `size` leaves, e.g. when a
    /// writer restarts, without replaying the leaves.
    pub fn from_nodes(size: u64, get: impl Fn(NodeId) -> Option<Hash>) -> Result<Self, ProofError> {
        let nodes = Self::required_nodes(size)
            .into_iter()
            .map(|id| get(id).ok_or(ProofError::MissingNode(id)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { size, nodes })
    }
}
