//! Upper Merkle nodes kept in memory for proofs.
//!
//! A proof at a million entries needs one sibling per level, about 20 nodes; those of
//! levels 4 and up are stored rows, each an index probe of `merkle_nodes` (about four
//! buffer reads). Nodes never change once written (complete subtrees of an append-only
//! log), so the upper ones, which every proof of a chain shares, are kept here after their
//! first read: a node of level `l` stands for `2^l` entries, so levels 8 and up are at most
//! one node per 128 entries of a chain. Memory is bounded by `MAX_NODES`; past it, nodes
//! are read from the database as before.

use std::collections::HashMap;
use std::sync::RwLock;

use uuid::Uuid;

use super::entry::Hash;
use super::merkle::NodeId;

/// Lowest level kept.
pub const CACHED_MIN_LEVEL: u8 = 8;
/// Most nodes kept, all chains together (about 100 bytes each: under 50 MiB).
const MAX_NODES: usize = 1 << 19;

#[derive(Default)]
pub struct NodeCache {
    nodes: RwLock<HashMap<(Uuid, NodeId), Hash>>,
}

impl NodeCache {
    /// The nodes of `ids` held here.
    pub fn get_many(&self, chain: Uuid, ids: &[NodeId]) -> HashMap<NodeId, Hash> {
        let Ok(nodes) = self.nodes.read() else {
            return HashMap::new();
        };
        ids.iter()
            .filter(|id| id.level >= CACHED_MIN_LEVEL)
            .filter_map(|id| nodes.get(&(chain, *id)).map(|h| (*id, *h)))
            .collect()
    }

    /// Keeps the nodes of `found` of level `CACHED_MIN_LEVEL` and up, while there is room.
    pub fn keep(&self, chain: Uuid, found: &HashMap<NodeId, Hash>) {
        let upper = found.iter().filter(|(id, _)| id.level >= CACHED_MIN_LEVEL);
        let Ok(mut nodes) = self.nodes.write() else {
            return;
        };
        for (id, hash) in upper {
            if nodes.len() >= MAX_NODES {
                return;
            }
            nodes.insert((chain, *id), *hash);
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.read().map(|n| n.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn id(level: u8, index: u64) -> NodeId {
        NodeId { level, index }
    }

    #[test]
    fn keeps_only_upper_nodes_of_their_own_chain() {
        let cache = NodeCache::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let found: HashMap<NodeId, Hash> = [
            (id(4, 1), [1; 32]),
            (id(8, 2), [2; 32]),
            (id(19, 0), [3; 32]),
        ]
        .into();
        cache.keep(a, &found);
        assert_eq!(cache.len(), 2, "level 4 is below the cached levels");
        let ids = [id(4, 1), id(8, 2), id(19, 0), id(8, 3)];
        let got = cache.get_many(a, &ids);
        assert_eq!(got.len(), 2);
        assert_eq!(got.get(&id(8, 2)), Some(&[2; 32]));
        assert_eq!(got.get(&id(19, 0)), Some(&[3; 32]));
        assert!(cache.get_many(b, &ids).is_empty(), "another chain's nodes");
    }
}
