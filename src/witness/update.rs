//! The add-checkpoint decision (C2SP tlog-witness): verify the log's signature, compare
//! the checkpoint with the latest one cosigned for its log, check the consistency proof,
//! cosign, store, answer. No HTTP here; `http` maps the outcome to status codes.
//!
//! Whatever `old` a client sends, a validly signed checkpoint that contradicts the stored
//! one raises an alarm (an ERROR log line `witness.alarm = …` and the counter
//! `fundtrail_witness_alarms_total`):
//!
//! | alarm | the presented checkpoint, validly signed by the log's key |
//! |---|---|
//! | `rollback` | is smaller than the one cosigned before |
//! | `fork` | has the same size and another root |
//! | `inconsistent` | is larger, but the consistency proof from the stored one fails |
//!
//! A `fork` is proof by itself (two signed roots for one size); a `rollback` is either a
//! log that dropped entries or a stale checkpoint sent again; an `inconsistent` is either
//! a rewritten history or a faulty proof. None is ever cosigned.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{Encoder as _, IntCounterVec, Opts, Registry, TextEncoder};

use crate::ledger::cosignature::{verify_cosignatures, Cosigner, CosignerKey};
use crate::ledger::merkle::{empty_root, verify_consistency, Hash};
use crate::ledger::note::{open_note, Checkpoint, NoteError, VerifierKey};

use super::state::{LogState, StateDir, StateError};

/// Most consistency proof lines a request may carry (tlog-witness: a client MUST NOT
/// send more than 63).
pub const PROOF_LINES_MAX: usize = 63;

/// One log the witness follows: its origin line and the keys that sign its checkpoints.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// The checkpoint origin line, e.g. `fundtrail/86807e3c-4ee6-4063-b922-5164384137b2`.
    pub origin: String,
    /// Every verifier key the log signs (or signed) checkpoints with.
    pub keys: Vec<VerifierKey>,
}

/// An add-checkpoint request, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the latest checkpoint the client believes the witness cosigned.
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub note: String,
}

/// The witness's answer to an accepted checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosigned {
    /// The cosignature line(s), each ending with a newline.
    pub lines: String,
    /// The size now stored for the log.
    pub size: u64,
}

/// Why a checkpoint was not cosigned (each maps to one tlog-witness status).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Not a request or not a signed checkpoint (400).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The checkpoint's origin is not a log this witness follows (404).
    #[error("unknown log {0:?}")]
    UnknownLog(String),
    /// No valid signature by the log's keys, or a failing one (403).
    #[error("log signature: {0}")]
    Signature(NoteError),
    /// `old` above the checkpoint's size (400).
    #[error("old size {old_size} is above the checkpoint's size {size}")]
    OldSizeAboveSize {
        /// `old` of the request.
        old_size: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// `old` is not the size the witness last cosigned (409, with that size).
    #[error("old size {old_size} is not the latest cosigned size {latest_size}")]
    Conflict {
        /// `old` of the request.
        old_size: u64,
        /// The size the witness last cosigned for the log (0 if none).
        latest_size: u64,
    },
    /// The checkpoint is not consistent with the latest cosigned one (422).
    #[error("not consistent: {0}")]
    Inconsistent(String),
    /// The witness could not read or write its state (500; nothing cosigned).
    #[error(transparent)]
    State(#[from] StateError),
    /// Signing failed (500; nothing cosigned).
    #[error("cosigning: {0}")]
    Cosign(String),
}

/// What the witness counts, under the `fundtrail_witness_` prefix.
#[derive(Clone)]
pub struct WitnessMetrics {
    registry: Registry,
    alarms: IntCounterVec,
    cosigned: IntCounterVec,
    refused: IntCounterVec,
}

impl WitnessMetrics {
    fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("fundtrail_witness".to_owned()), None)?;
        let alarms = IntCounterVec::new(
            Opts::new(
                "alarms_total",
                "Validly signed checkpoints that contradict the latest cosigned one, by kind (rollback, fork, inconsistent) and log",
            ),
            &["kind", "origin"],
        )?;
        let cosigned = IntCounterVec::new(
            Opts::new("cosignatures_total", "Checkpoints cosigned, by log"),
            &["origin"],
        )?;
        let refused = IntCounterVec::new(
            Opts::new(
                "refusals_total",
                "add-checkpoint requests refused, by reason",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(alarms.clone()))?;
        registry.register(Box::new(cosigned.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        Ok(Self {
            registry,
            alarms,
            cosigned,
            refused,
        })
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding counters into a Vec cannot fail but for a bug in the encoder.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding the witness metrics");
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// What contradicts the stored checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alarm {
    Rollback,
    Fork,
    Inconsistent,
}

impl Alarm {
    fn as_str(self) -> &'static str {
        match self {
            Alarm::Rollback => "rollback",
            Alarm::Fork => "fork",
            Alarm::Inconsistent => "inconsistent",
        }
    }
}

/// A clock in POSIX seconds (injected so tests choose the cosignatures' times).
pub type Clock = Box<dyn Fn() -> u64 + Send + Sync>;

fn system_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A witness: its key, the logs it follows, their state.
pub struct Witness {
    cosigner: Cosigner,
    logs: HashMap<String, Vec<VerifierKey>>,
    state: StateDir,
    /// Held from reading a log's state to writing the new one, so two requests can
    /// never both pass the check against the same old state (tlog-witness's race).
    lock: Mutex<()>,
    metrics: WitnessMetrics,
    clock: Clock,
}

impl Witness {
    /// A witness cosigning with `cosigner` the checkpoints of `logs`, its state in
    /// `state`. A log listed twice has the union of its keys.
    pub fn new(
        cosigner: Cosigner,
        logs: Vec<LogConfig>,
        state: StateDir,
    ) -> Result<Self, prometheus::Error> {
        let mut by_origin: HashMap<String, Vec<VerifierKey>> = HashMap::new();
        for log in logs {
            let keys = by_origin.entry(log.origin).or_default();
            for key in log.keys {
                // One key per (name, key ID): a duplicate would make open_note ambiguous.
                if !keys
                    .iter()
                    .any(|k| k.name() == key.name() && k.key_id() == key.key_id())
                {
                    keys.push(key);
                }
            }
        }
        Ok(Self {
            cosigner,
            logs: by_origin,
            state,
            lock: Mutex::new(()),
            metrics: WitnessMetrics::new()?,
            clock: Box::new(system_clock),
        })
    }

    /// The same witness with another clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The witness's public cosigner key.
    pub fn cosigner_key(&self) -> CosignerKey {
        self.cosigner.verifier()
    }

    /// The origins it follows, sorted.
    pub fn origins(&self) -> Vec<&str> {
        let mut origins: Vec<&str> = self.logs.keys().map(String::as_str).collect();
        origins.sort_unstable();
        origins
    }

    /// Its counters.
    pub fn metrics(&self) -> &WitnessMetrics {
        &self.metrics
    }

    /// The stored note of the log whose origin hashes to `origin_hash`.
    pub fn latest(&self, origin_hash: &str) -> Result<Option<String>, StateError> {
        self.state.read_note(origin_hash)
    }

    /// Decides on one add-checkpoint request; on success the new state is on disk.
    pub fn add_checkpoint(&self, request: &AddCheckpoint) -> Result<Cosigned, Refusal> {
        let result = self.decide(request);
        if let Err(refusal) = &result {
            let reason = match refusal {
                Refusal::Malformed(_) | Refusal::OldSizeAboveSize { .. } => "malformed",
                Refusal::UnknownLog(_) => "unknown_log",
                Refusal::Signature(_) => "signature",
                Refusal::Conflict { .. } => "conflict",
                Refusal::Inconsistent(_) => "inconsistent",
                Refusal::State(_) | Refusal::Cosign(_) => "internal",
            };
            self.metrics.refused.with_label_values(&[reason]).inc();
        }
        result
    }

    fn decide(&self, request: &AddCheckpoint) -> Result<Cosigned, Refusal> {
        if request.proof.len() > PROOF_LINES_MAX {
            return Err(Refusal::Malformed(format!(
                "more than {PROOF_LINES_MAX} proof lines"
            )));
        }
        let (origin, _) = request
            .note
            .split_once('\n')
            .ok_or_else(|| Refusal::Malformed("the checkpoint has no origin line".into()))?;
        let keys = self
            .logs
            .get(origin)
            .ok_or_else(|| Refusal::UnknownLog(origin.to_owned()))?;
        let opened = open_note(&request.note, keys).map_err(|e| match e {
            NoteError::NoVerifiedSignature
            | NoteError::InvalidSignature { .. }
            | NoteError::AmbiguousVerifier { .. } => Refusal::Signature(e),
            other => Refusal::Malformed(other.to_string()),
        })?;
        let checkpoint =
            Checkpoint::parse(opened.text()).map_err(|e| Refusal::Malformed(e.to_string()))?;
        if checkpoint.size == 0 && checkpoint.root != empty_root() {
            return Err(Refusal::Inconsistent(
                "a checkpoint of size 0 must have the empty tree's root".into(),
            ));
        }

        // A poisoned lock only means another request panicked; the state is on disk.
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stored = self.state.load(origin)?;
        if let Some(stored) = &stored {
            if checkpoint.size < stored.size {
                self.alarm(Alarm::Rollback, stored, &checkpoint, opened.text());
            } else if checkpoint.size == stored.size && checkpoint.root != stored.root {
                self.alarm(Alarm::Fork, stored, &checkpoint, opened.text());
            }
        }
        if request.old_size > checkpoint.size {
            return Err(Refusal::OldSizeAboveSize {
                old_size: request.old_size,
                size: checkpoint.size,
            });
        }
        let latest_size = stored.as_ref().map_or(0, |s| s.size);
        if request.old_size != latest_size {
            return Err(Refusal::Conflict {
                old_size: request.old_size,
                latest_size,
            });
        }
        // Now old_size == latest_size <= checkpoint.size.
        match &stored {
            None => {
                if !request.proof.is_empty() {
                    return Err(Refusal::Inconsistent(
                        "a request with old size 0 takes no proof".into(),
                    ));
                }
            }
            Some(stored) if stored.size == checkpoint.size => {
                if stored.root != checkpoint.root {
                    return Err(Refusal::Inconsistent(format!(
                        "size {} was cosigned with another root",
                        stored.size
                    )));
                }
                if !request.proof.is_empty() {
                    return Err(Refusal::Inconsistent(
                        "a checkpoint of the stored size takes no proof".into(),
                    ));
                }
            }
            Some(stored) if stored.size == 0 => {
                if !request.proof.is_empty() {
                    return Err(Refusal::Inconsistent(
                        "a request with old size 0 takes no proof".into(),
                    ));
                }
            }
            Some(stored) => {
                if let Err(e) = verify_consistency(
                    stored.size,
                    checkpoint.size,
                    &stored.root,
                    &checkpoint.root,
                    &request.proof,
                ) {
                    self.alarm(Alarm::Inconsistent, stored, &checkpoint, opened.text());
                    return Err(Refusal::Inconsistent(format!(
                        "consistency proof from size {} to {}: {e}",
                        stored.size, checkpoint.size
                    )));
                }
            }
        }

        // Timestamps never go back for a log, even if the clock does.
        let previous_time = stored
            .as_ref()
            .and_then(|s| verify_cosignatures(&s.note, &[self.cosigner.verifier()], 1).ok())
            .and_then(|c| c.first().map(|c| c.timestamp))
            .unwrap_or(0);
        let timestamp = (self.clock)().max(previous_time);
        let line = self
            .cosigner
            .cosign(opened.text(), timestamp)
            .map_err(|e| Refusal::Cosign(e.to_string()))?;
        let mut note = format!("{}\n", opened.text());
        for signature in opened.verified() {
            note.push_str(&format!(
                "\u{2014} {} {}\n",
                signature.name, signature.base64
            ));
        }
        note.push_str(&line);
        self.state.store(origin, &note)?;
        self.metrics.cosigned.with_label_values(&[origin]).inc();
        tracing::info!(
            log.origin = origin,
            checkpoint.size = checkpoint.size,
            checkpoint.previous_size = latest_size,
            cosignature.time = timestamp,
            "cosigned a checkpoint"
        );
        Ok(Cosigned {
            lines: line,
            size: checkpoint.size,
        })
    }

    fn alarm(&self, alarm: Alarm, stored: &LogState, presented: &Checkpoint, text: &str) {
        self.metrics
            .alarms
            .with_label_values(&[alarm.as_str(), presented.origin.as_str()])
            .inc();
        tracing::error!(
            witness.alarm = alarm.as_str(),
            log.origin = presented.origin.as_str(),
            checkpoint.stored_size = stored.size,
            checkpoint.presented_size = presented.size,
            checkpoint.stored_root = hex::encode(stored.root),
            checkpoint.presented_root = hex::encode(presented.root),
            checkpoint.presented = text,
            "a checkpoint signed by the log contradicts the one this witness cosigned; not cosigned"
        );
    }
}
