//! The log's side of witnessing: `serve` pushes each chain's latest signed checkpoint to
//! the witnesses it is configured with (`FUNDTRAIL_WITNESSES`), with the consistency
//! proof from the size each witness last cosigned, and records the cosignature lines they
//! return (`checkpoint_cosignatures`), which are then served appended to the checkpoint's
//! note (`ledger::service::cosigned`).
//!
//! A witness that refuses — it holds a larger size of the chain (a rollback), or the proof
//! from its size does not verify (a fork or a rewritten history) — is an integrity
//! failure: logged at ERROR level with the chain and both sizes, and counted in
//! `fundtrail_ledger_integrity_failures_total`. A witness that cannot be reached is logged
//! at WARN and tried again at the next round.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use uuid::Uuid;

use super::client::{self, AddOutcome};
use crate::ledger::cosignature::{self, CosignerKey};
use crate::ledger::entry::Hash;
use crate::ledger::integrity;
use crate::ledger::store;
use crate::ledger::Ledger;

/// A witness the service pushes its checkpoints to.
#[derive(Debug, Clone)]
pub struct WitnessEndpoint {
    /// Its submission prefix (`/add-checkpoint` is appended).
    pub url: String,
    /// Its cosigner verifier key: only lines that verify with it are recorded.
    pub key: CosignerKey,
}

/// The witnesses of a file: one per line, `<url> <cosigner verifier key>` (`#` comments
/// and blank lines ignored; a witness listed twice is one).
pub fn load_witnesses(path: &Path) -> anyhow::Result<Vec<WitnessEndpoint>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the witnesses {}", path.display()))?;
    let mut out: Vec<WitnessEndpoint> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (url, key) = line.split_once(char::is_whitespace).with_context(|| {
            format!("{}: {line:?} is not `<url> <verifier key>`", path.display())
        })?;
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "{}: {url:?} is not an http(s) URL",
            path.display()
        );
        let key = CosignerKey::from_verifier_string(key.trim())
            .map_err(|e| anyhow::anyhow!("{}: {key:?}: {e}", path.display()))?;
        if !out
            .iter()
            .any(|w| w.key.to_verifier_string() == key.to_verifier_string())
        {
            out.push(WitnessEndpoint {
                url: url.to_owned(),
                key,
            });
        }
    }
    Ok(out)
}

/// What one push of a chain to a witness came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// The witness had already cosigned the latest checkpoint.
    UpToDate,
    /// The witness cosigned the checkpoint of this size; its line is recorded.
    Cosigned(u64),
}

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The witness refused the chain's history: an integrity failure (already counted).
    #[error("{0}")]
    Refused(String),
    /// The witness could not be reached or answered nonsense: retried next round.
    #[error("{0}")]
    Unreachable(String),
    /// The database or the ledger failed.
    #[error("{0}")]
    Local(String),
}

/// Pushes the latest checkpoint of `chain` to `witness` and records its cosignature.
pub async fn push(
    ledger: &Arc<Ledger>,
    chain: Uuid,
    witness: &WitnessEndpoint,
) -> Result<Pushed, PushError> {
    let key = witness.key.to_verifier_string();
    let (size, note, mut old) = {
        let ledger = ledger.clone();
        let key = key.clone();
        blocking(move || {
            let mut conn = ledger.pool().get().map_err(|e| e.to_string())?;
            let cp = store::latest_checkpoint(&mut conn, chain)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("chain {chain} has no checkpoint"))?;
            let witnessed =
                store::witnessed_size(&mut conn, chain, &key).map_err(|e| e.to_string())?;
            Ok((
                store::to_u64(cp.tree_size).map_err(|e| e.to_string())?,
                cp.note,
                witnessed,
            ))
        })
        .await?
    };
    if old == Some(size) {
        return Ok(Pushed::UpToDate);
    }
    // At most: the size we believe, then the size the witness says it holds.
    for _ in 0..2 {
        let from = old.unwrap_or(0);
        if from > size {
            return Err(refused(
                chain,
                &witness.url,
                format!(
                    "the witness cosigned size {from} of this chain, which now has {size} \
                     entries: the chain was rolled back"
                ),
            ));
        }
        let proof = consistency(ledger, chain, from, size).await?;
        let outcome = client::add_checkpoint(&witness.url, from, &proof, &note)
            .await
            .map_err(|e| PushError::Unreachable(format!("{}: {e}", witness.url)))?;
        match outcome {
            AddOutcome::Cosigned(lines) => {
                let full = format!("{note}{lines}");
                cosignature::verify_cosignatures(&full, std::slice::from_ref(&witness.key), 1)
                    .map_err(|e| {
                        PushError::Unreachable(format!(
                            "{}: its cosignature does not verify with its configured key: {e}",
                            witness.url
                        ))
                    })?;
                let prefix = format!("\u{2014} {} ", witness.key.name());
                let mine: Vec<(String, String)> = lines
                    .lines()
                    .filter(|l| l.starts_with(&prefix))
                    .map(|l| (key.clone(), l.to_owned()))
                    .collect();
                let ledger = ledger.clone();
                blocking(move || {
                    let mut conn = ledger.pool().get().map_err(|e| e.to_string())?;
                    store::insert_cosignatures(&mut conn, chain, size, &mine)
                        .map_err(|e| e.to_string())
                })
                .await?;
                return Ok(Pushed::Cosigned(size));
            }
            AddOutcome::Conflict { latest_size } => old = Some(latest_size),
            AddOutcome::Refused { status, reason } => {
                return Err(refused(
                    chain,
                    &witness.url,
                    format!(
                        "the witness refused the checkpoint of size {size} from size {from} \
                         ({status}: {reason}): the chain's history is not the one it cosigned \
                         (a fork or a rewrite)"
                    ),
                ))
            }
        }
    }
    Err(PushError::Unreachable(format!(
        "{}: the witness's size kept changing",
        witness.url
    )))
}

/// One round: every chain's latest checkpoint to every witness. Returns how many
/// checkpoints were newly cosigned and how many pushes failed.
pub async fn push_all(ledger: &Arc<Ledger>, witnesses: &[WitnessEndpoint]) -> (usize, usize) {
    let chains = {
        let ledger = ledger.clone();
        blocking(move || {
            let mut conn = ledger.pool().get().map_err(|e| e.to_string())?;
            store::latest_sizes(&mut conn).map_err(|e| e.to_string())
        })
        .await
    };
    let chains = match chains {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "witnessing: could not list the chains");
            return (0, 1);
        }
    };
    let (mut cosigned, mut failed) = (0, 0);
    for (chain, _) in chains {
        for w in witnesses {
            match push(ledger, chain, w).await {
                Ok(Pushed::Cosigned(_)) => cosigned += 1,
                Ok(Pushed::UpToDate) => {}
                Err(PushError::Refused(_)) => failed += 1,
                Err(e) => {
                    failed += 1;
                    tracing::warn!(chain.id = %chain, witness.url = %w.url, error = %e, "witnessing failed; retried next round");
                }
            }
        }
    }
    (cosigned, failed)
}

/// Pushes every `every` until the process ends (a task of `serve`'s runtime).
pub fn spawn(ledger: Arc<Ledger>, witnesses: Vec<WitnessEndpoint>, every: Duration) {
    tracing::info!(
        witnesses = witnesses.len(),
        interval_s = every.as_secs(),
        "witnessing: checkpoints are pushed to the configured witnesses"
    );
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(every);
        loop {
            tick.tick().await;
            push_all(&ledger, &witnesses).await;
        }
    });
}

fn refused(chain: Uuid, url: &str, detail: String) -> PushError {
    let e = integrity::failed(chain, None, format!("witness {url}: {detail}"));
    PushError::Refused(e.to_string())
}

async fn consistency(
    ledger: &Arc<Ledger>,
    chain: Uuid,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, PushError> {
    if from == 0 || from == to {
        return Ok(Vec::new());
    }
    let ledger = ledger.clone();
    blocking(move || {
        let mut conn = ledger.pool().get().map_err(|e| e.to_string())?;
        ledger
            .consistency(&mut conn, chain, from, to)
            .map_err(|e| e.to_string())
    })
    .await
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, PushError> {
    actix_web::rt::task::spawn_blocking(f)
        .await
        .map_err(|e| PushError::Local(e.to_string()))?
        .map_err(PushError::Local)
}
