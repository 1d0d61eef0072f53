//! Verification of inclusion and consistency proofs (RFC 9162 §2.1.3.2 and §2.1.4.2), as
//! any client runs it: no storage, only the proof, the sizes and the hashes it is given.
//! The expected proof lengths let a verifier refuse a proof of the wrong shape early.

use super::{empty_root, node_hash, Hash, VerifyError};

/// Number of significant bits of `x` (0 for 0). Counted in `usize` directly so
/// proof lengths need no integer casts.
pub(super) fn bit_len(mut x: u64) -> usize {
    let mut n = 0;
    while x != 0 {
        n += 1;
        x >>= 1;
    }
    n
}

pub(super) fn ones(mut x: u64) -> usize {
    let mut n = 0;
    while x != 0 {
        n += usize::from(x & 1 == 1);
        x >>= 1;
    }
    n
}

pub(super) fn trailing_zeros(mut x: u64) -> usize {
    let mut n = 0;
    while x != 0 && x & 1 == 0 {
        n += 1;
        x >>= 1;
    }
    n
}

/// Length of a valid audit path for `index < size`: the levels where the
/// paths to `index` and to the last leaf differ (`inner`), plus one left
/// sibling per set bit above them on the shared right border.
pub(super) fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let diverge = index ^ (size - 1);
    // All bits up to and including the highest set bit of `diverge`.
    let inner_mask = if diverge == 0 {
        0
    } else {
        u64::MAX >> diverge.leading_zeros()
    };
    bit_len(diverge) + ones(index & !inner_mask)
}

/// Length of a valid consistency proof for `0 < old < new`: the inclusion
/// path of the old tree's last complete subtree, plus that subtree's hash
/// unless it is the whole old tree (old size a power of two).
pub(super) fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    let shift = trailing_zeros(old_size);
    let seed = usize::from(!old_size.is_power_of_two());
    inclusion_proof_len(old_size - 1, new_size) - shift + seed
}

/// Checks that `leaf_hash` is leaf `leaf_index` of the tree of `tree_size`
/// leaves whose head is `root`, using the RFC 9162 §2.1.3.2 algorithm.
///
/// The algorithm's own `sn` checks are what reject a proof of the wrong
/// length; they are reported as [`VerifyError::WrongProofSize`] (with the
/// length the sizes call for) rather than as a root mismatch.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    leaf_index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    // Step 1.
    if leaf_index >= tree_size {
        return Err(VerifyError::IndexBeyondSize {
            index: leaf_index,
            size: tree_size,
        });
    }
    let wrong_size = || VerifyError::WrongProofSize {
        expected: inclusion_proof_len(leaf_index, tree_size),
        got: proof.len(),
    };
    // Steps 2-3.
    let mut f_n = leaf_index;
    let mut s_n = tree_size - 1;
    let mut r = *leaf_hash;
    // Step 4.
    for p in proof {
        // 4a: the path already reached the root, so the proof is too long.
        if s_n == 0 {
            return Err(wrong_size());
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5: not at the root yet means the proof is too short.
    if s_n != 0 {
        return Err(wrong_size());
    }
    if r != *root {
        return Err(VerifyError::RootMismatch {
            expected: *root,
            calculated: r,
        });
    }
    Ok(())
}

/// Checks that the tree of `new_size` leaves with head `new_root` is an
/// append-only extension of the tree of `old_size` leaves with head
/// `old_root`, using the RFC 9162 §2.1.4.2 algorithm.
///
/// Cases the RFC algorithm does not cover (it assumes `0 < old < new`):
/// - `old_size > new_size`: rejected.
/// - `old_size == new_size`: the proof must be empty and the roots equal.
/// - `old_size == 0`: the proof must be empty and `old_root` must be
///   [`empty_root`], the only valid head of an empty tree (some
///   implementations accept any old root here; we do not). Nothing is learnt
///   about `new_root` in this case.
///
/// As in [`verify_inclusion`], a proof of the wrong length is rejected by the
/// algorithm's own checks and reported as [`VerifyError::WrongProofSize`].
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::OldSizeExceedsNewSize { old_size, new_size });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(VerifyError::WrongProofSize {
                expected: 0,
                got: proof.len(),
            });
        }
        if old_size == new_size {
            if old_root != new_root {
                return Err(VerifyError::NewRootMismatch {
                    expected: *new_root,
                    calculated: *old_root,
                });
            }
        } else if *old_root != empty_root() {
            return Err(VerifyError::OldRootMismatch {
                expected: *old_root,
                calculated: empty_root(),
            });
        }
        return Ok(());
    }

    // Now 0 < old_size < new_size.
    let wrong_size = || VerifyError::WrongProofSize {
        expected: consistency_proof_len(old_size, new_size),
        got: proof.len(),
    };
    // Step 1.
    if proof.is_empty() {
        return Err(wrong_size());
    }
    // Step 2: for a power-of-two old size the old root is itself the first
    // path element, so the verifier supplies it instead of the proof.
    let (seed, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        proof.split_first().ok_or_else(wrong_size)?
    };
    // Step 3.
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    // Step 4.
    if f_n & 1 == 1 {
        while f_n & 1 == 1 {
            f_n >>= 1;
            s_n >>= 1;
        }
    }
    // Step 5.
    let mut f_r = *seed;
    let mut s_r = *seed;
    // Step 6.
    for c in rest {
        // 6a: the path already reached the root, so the proof is too long.
        if s_n == 0 {
            return Err(wrong_size());
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 7: not at the root yet means the proof is too short.
    if s_n != 0 {
        return Err(wrong_size());
    }
    if f_r != *old_root {
        return Err(VerifyError::OldRootMismatch {
            expected: *old_root,
            calculated: f_r,
        });
    }
    if s_r != *new_root {
        return Err(VerifyError::NewRootMismatch {
            expected: *new_root,
            calculated: s_r,
        });
    }
    Ok(())
}
