//! Proof generation over the stored complete subtrees (RFC 9162 §2.1.3 and §2.1.4): each
//! proof is planned as the list of stored nodes it needs (`inclusion_nodes`,
//! `consistency_nodes`, `root_nodes`), which the store reads in one query, then assembled
//! from their hashes (`inclusion_proof`, `consistency_proof`, `root`).

use super::{empty_root, node_hash, Hash, NodeId, ProofError, MAX_LEVEL};

/// A run of leaves `[start, start + len)` whose RFC 6962 hash is one element
/// of a proof (or the tree head).
///
/// Every span produced by the RFC recursion has `start` aligned to a multiple
/// of `len` rounded up to a power of two, which is what lets
/// [`span_nodes`] cover it with complete aligned nodes that fold to the RFC
/// hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    start: u64,
    len: u64,
}

/// Largest power of two strictly smaller than `n`: the RFC's split point `k`.
/// Only called with `n >= 2`.
pub(super) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The stored nodes covering `span`, left to right (largest first).
///
/// MTH of a range splits at the largest power of two below its length, so the
/// binary digits of `len` from high to low are exactly the complete subtrees
/// the RFC recursion bottoms out in; folding them from the right
/// (`H(a, H(b, c))`) reproduces the RFC hash of an incomplete subtree.
pub(super) fn span_nodes(span: Span, out: &mut Vec<NodeId>) {
    let mut pos = span.start;
    for level in (0..=MAX_LEVEL).rev() {
        if (span.len >> level) & 1 == 1 {
            out.push(NodeId::new(level, pos >> level));
            // Cannot overflow: pos + 2^level <= start + len <= tree size.
            pos += 1u64 << level;
        }
    }
}

/// RFC 6962 hash of `span`, fetching its covering nodes through `get` in the
/// order [`span_nodes`] lists them.
pub(super) fn span_hash(
    span: Span,
    get: &impl Fn(NodeId) -> Option<Hash>,
) -> Result<Hash, ProofError> {
    let mut ids = Vec::new();
    span_nodes(span, &mut ids);
    let hashes = ids
        .into_iter()
        .map(|id| get(id).ok_or(ProofError::MissingNode(id)))
        .collect::<Result<Vec<_>, _>>()?;
    // Spans are never empty, so the fallback is never taken.
    Ok(fold_right(&hashes).unwrap_or_else(empty_root))
}

/// Hash of adjacent complete subtrees given left to right (largest first):
/// `H(a, H(b, H(c, d)))`, i.e. the RFC 6962 hash of the range they cover.
/// `None` for an empty list.
pub(super) fn fold_right(hashes: &[Hash]) -> Option<Hash> {
    let mut from_right = hashes.iter().rev();
    let last = *from_right.next()?;
    Some(from_right.fold(last, |acc, left| node_hash(left, &acc)))
}

pub(super) fn plan_nodes(plan: &[Span]) -> Vec<NodeId> {
    let mut out = Vec::new();
    for span in plan {
        span_nodes(*span, &mut out);
    }
    out
}

pub(super) fn plan_hashes(
    plan: &[Span],
    get: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, ProofError> {
    plan.iter().map(|span| span_hash(*span, &get)).collect()
}

/// PATH(m, D[n]) of RFC 6962 §2.1.1 as spans, leaf-to-root order.
///
/// The recursion is unrolled top-down; each level contributes the sibling
/// subtree, so reversing the collected list gives the RFC order.
pub(super) fn inclusion_plan(leaf_index: u64, tree_size: u64) -> Result<Vec<Span>, ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange {
            index: leaf_index,
            size: tree_size,
        });
    }
    let mut plan = Vec::new();
    let (mut start, mut n, mut m) = (0u64, tree_size, leaf_index);
    while n > 1 {
        let k = split_point(n);
        if m < k {
            plan.push(Span {
                start: start + k,
                len: n - k,
            });
            n = k;
        } else {
            plan.push(Span { start, len: k });
            start += k;
            m -= k;
            n -= k;
        }
    }
    plan.reverse();
    Ok(plan)
}

/// PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 6962 §2.1.2 as spans.
///
/// The RFC defines PROOF only for `0 < m < n`; `m == 0` and `m == n` are
/// trivially consistent and get an empty proof, which is what
/// [`verify_consistency`] requires for them.
pub(super) fn consistency_plan(old_size: u64, new_size: u64) -> Result<Vec<Span>, ProofError> {
    if old_size > new_size {
        return Err(ProofError::InvalidSizes { old_size, new_size });
    }
    let mut plan = Vec::new();
    if old_size == 0 || old_size == new_size {
        return Ok(plan);
    }
    let (mut start, mut n, mut m, mut known_root) = (0u64, new_size, old_size, true);
    loop {
        if m == n {
            // SUBPROOF(m, D[m], b): the old root itself, unless the verifier
            // already has it (b == true).
            if !known_root {
                plan.push(Span { start, len: n });
            }
            break;
        }
        // Here 0 < m < n, so n >= 2.
        let k = split_point(n);
        if m <= k {
            plan.push(Span {
                start: start + k,
                len: n - k,
            });
            n = k;
        } else {
            plan.push(Span { start, len: k });
            start += k;
            m -= k;
            n -= k;
            known_root = false;
        }
    }
    plan.reverse();
    Ok(plan)
}

pub(super) fn root_plan(size: u64) -> Vec<Span> {
    if size == 0 {
        Vec::new()
    } else {
        vec![Span {
            start: 0,
            len: size,
        }]
    }
}

/// Stored nodes needed by [`inclusion_proof`] for the same arguments, in the
/// order it will request them. At most `2 * ceil(log2(tree_size))` nodes.
pub fn inclusion_nodes(leaf_index: u64, tree_size: u64) -> Result<Vec<NodeId>, ProofError> {
    Ok(plan_nodes(&inclusion_plan(leaf_index, tree_size)?))
}

/// The RFC 6962 audit path `PATH(leaf_index, D[0:tree_size])`, leaf to root.
///
/// `get` must return the stored hash of each node listed by
/// [`inclusion_nodes`]; a `None` is reported as [`ProofError::MissingNode`].
pub fn inclusion_proof(
    leaf_index: u64,
    tree_size: u64,
    get: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, ProofError> {
    plan_hashes(&inclusion_plan(leaf_index, tree_size)?, get)
}

/// Hashes of incomplete subtrees (spans of several stored nodes) already computed for
/// one tree, shared by the inclusion proofs of many of its leaves: the receipts of a
/// batch of consecutive entries need the same right-hand spans again and again.
#[derive(Debug, Default)]
pub struct SpanMemo(std::collections::HashMap<(u64, u64), Hash>);

/// [`inclusion_proof`], remembering in `memo` the hashes of the spans it folds (`memo`
/// must only ever be used with one `tree_size` and one `get`).
pub fn inclusion_proof_memo(
    leaf_index: u64,
    tree_size: u64,
    get: impl Fn(NodeId) -> Option<Hash>,
    memo: &mut SpanMemo,
) -> Result<Vec<Hash>, ProofError> {
    inclusion_plan(leaf_index, tree_size)?
        .into_iter()
        .map(|span| {
            if span.len.is_power_of_two() {
                // One stored node: nothing to fold.
                return span_hash(span, &get);
            }
            if let Some(hash) = memo.0.get(&(span.start, span.len)) {
                return Ok(*hash);
            }
            let hash = span_hash(span, &get)?;
            memo.0.insert((span.start, span.len), hash);
            Ok(hash)
        })
        .collect()
}

/// Stored nodes needed by [`consistency_proof`] for the same arguments, in the
/// order it will request them. At most `2 * ceil(log2(new_size))` nodes.
pub fn consistency_nodes(old_size: u64, new_size: u64) -> Result<Vec<NodeId>, ProofError> {
    Ok(plan_nodes(&consistency_plan(old_size, new_size)?))
}

/// The RFC 6962 consistency proof `PROOF(old_size, D[0:new_size])`.
///
/// Empty when `old_size == 0` or `old_size == new_size`; an error when
/// `old_size > new_size`.
pub fn consistency_proof(
    old_size: u64,
    new_size: u64,
    get: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, ProofError> {
    plan_hashes(&consistency_plan(old_size, new_size)?, get)
}

/// Stored nodes needed by [`root`]: one per set bit of `size`.
pub fn root_nodes(size: u64) -> Vec<NodeId> {
    plan_nodes(&root_plan(size))
}

/// The tree head `MTH(D[0:size])`; [`empty_root`] for size 0.
pub fn root(size: u64, get: impl Fn(NodeId) -> Option<Hash>) -> Result<Hash, ProofError> {
    match root_plan(size).first() {
        None => Ok(empty_root()),
        Some(span) => span_hash(*span, &get),
    }
}
