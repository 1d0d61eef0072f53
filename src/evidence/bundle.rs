//! `fundtrail documents export --fund F --out DIR`: every document a fund's entries cite,
//! copied from the document store into `DIR/<sha256>`, each checked against its hash on
//! the way; with the chain's export, `DIR` is what `fundtrail verify --documents` checks
//! offline.

use std::path::Path;

use diesel::PgConnection;
use serde::Serialize;
use uuid::Uuid;

use crate::docstore::{DocumentHash, DocumentStore};
use crate::funds::state::{self, EvidenceFilter};

/// Rows read per query.
const PAGE: i64 = 1_000;

#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    pub fund: Uuid,
    /// Distinct documents written.
    pub documents: u64,
    pub bytes: u64,
}

/// Copies the documents `fund` cites into `out` (created if missing).
pub async fn export(
    conn: &mut PgConnection,
    store: &DocumentStore,
    fund: Uuid,
    out: &Path,
) -> anyhow::Result<BundleReport> {
    std::fs::create_dir_all(out)?;
    let mut report = BundleReport {
        fund,
        documents: 0,
        bytes: 0,
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut after = None;
    loop {
        let filter = EvidenceFilter {
            after,
            ..EvidenceFilter::default()
        };
        let rows = state::evidence_of(conn, fund, &filter, PAGE)?;
        let Some(last) = rows.last() else { break };
        after = Some(last.seq);
        for row in rows {
            let hash = DocumentHash::parse(&row.sha256)
                .ok_or_else(|| anyhow::anyhow!("entry {}: bad sha256", row.seq))?;
            if !seen.insert(hash) {
                continue;
            }
            let bytes = store.get(&hash).await.map_err(|e| {
                anyhow::anyhow!(
                    "entry {} (evidence for entry {}): {e}",
                    row.seq,
                    row.entry_seq
                )
            })?;
            std::fs::write(out.join(hash.hex()), &bytes)?;
            report.documents = report.documents.saturating_add(1);
            report.bytes = report
                .bytes
                .saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        }
    }
    Ok(report)
}
