//! Time spent per phase of the append path, summed over the process's life: how long a
//! chain's writer spends locking, applying effects and committing, and how long effects
//! spend in each of their steps. `bench funds` reads them to show where an append's time
//! goes; they cost two clock reads per phase.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One phase: its total time and how many times it ran.
#[derive(Debug)]
pub struct Phase {
    pub name: &'static str,
    total_ns: AtomicU64,
    count: AtomicU64,
}

impl Phase {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            total_ns: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Counts the time since `started` once; returns now, the start of the next phase.
    pub fn since(&self, started: Instant) -> Instant {
        let now = Instant::now();
        self.add(now.saturating_duration_since(started));
        now
    }

    pub fn add(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.total_ns.fetch_add(ns, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// (total time, count) so far.
    pub fn read(&self) -> (Duration, u64) {
        (
            Duration::from_nanos(self.total_ns.load(Ordering::Relaxed)),
            self.count.load(Ordering::Relaxed),
        )
    }
}

/// The chain writer's phases (`writer`).
pub mod writer {
    use super::Phase;

    /// Checking out the connection, `BEGIN`, locking the head row, reading the group's
    /// idempotency keys.
    pub static LOCK_AND_KEYS: Phase = Phase::new("writer: begin, lock head, read keys");
    /// Per job with an effect: the savepoint, inserting its entries, releasing it
    /// (everything but the effect itself).
    pub static JOB_SAVEPOINT_INSERT: Phase =
        Phase::new("writer: per job savepoint + insert entries + release");
    /// Per group applied in memory: each job's effect noting what it will record
    /// (`Effect::look_ahead`) before any runs.
    pub static LOOK_AHEAD: Phase = Phase::new("writer: look ahead (per group)");
    /// Per job with an effect: the effect's `apply`.
    pub static JOB_EFFECT: Phase = Phase::new("writer: per job effect");
    /// Per group: what the jobs' effects left to the group's end (derived rows, flags)
    /// written before the group's entries.
    pub static GROUP_END: Phase = Phase::new("writer: derived rows at the group's end");
    /// Signing, writing nodes, checkpoint and head, `COMMIT`.
    pub static WRITE_COMMIT: Phase = Phase::new("writer: sign, write group, commit");
    /// Proofs' nodes and the answers after the commit.
    pub static RECEIPTS: Phase = Phase::new("writer: after commit (receipts' nodes)");

    pub static ALL: [&Phase; 7] = [
        &LOCK_AND_KEYS,
        &LOOK_AHEAD,
        &JOB_SAVEPOINT_INSERT,
        &JOB_EFFECT,
        &GROUP_END,
        &WRITE_COMMIT,
        &RECEIPTS,
    ];
}

/// A proof's phases (`service::inclusion`, `service::consistency`).
pub mod proof {
    use super::Phase;

    /// The in-memory node cache and the tree's node ids.
    pub static CACHE: Phase = Phase::new("proof: node cache lookup");
    /// The one query: head, entry, checkpoint, its cosignatures and the nodes not in memory.
    pub static CONTEXT_QUERY: Phase =
        Phase::new("proof: context query (head, entry, checkpoint, nodes)");
    /// Further reads: nodes not known before the head was read, and cosignature lines.
    pub static MORE_QUERIES: Phase = Phase::new("proof: further queries (nodes, cosignatures)");
    /// Checking the checkpoint's signature against the trusted keys.
    pub static SIGNATURE: Phase = Phase::new("proof: checkpoint signature check");
    /// Building the path from the nodes and verifying it against the signed root.
    pub static BUILD: Phase = Phase::new("proof: build and verify the path");

    pub static ALL: [&Phase; 5] = [&CACHE, &CONTEXT_QUERY, &MORE_QUERIES, &SIGNATURE, &BUILD];
}
