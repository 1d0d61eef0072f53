//! `fundtrail verify --documents DIR`: every document an exported chain cites (its
//! `evidence_attached` entries) must be in `DIR` and hash to the recorded SHA-256 and size.
//! A document is looked up as `DIR/<sha256>` (what `fundtrail documents export` writes)
//! and else as `DIR/sha256/<first two hex digits>/<sha256>` (the layout of a directory
//! document store), so the same check runs on a bundle and on the store itself. Pure
//! over the export's lines and the files; the chain itself is verified separately.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A document that fails the check, with the entries that cite it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentProblem {
    /// Seq of the `evidence_attached` entry that records the document.
    pub seq: u64,
    /// Seq of the entry the document is evidence for.
    pub entry: u64,
    pub sha256: String,
    /// `missing` or `changed`.
    pub problem: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentsReport {
    pub ok: bool,
    /// `evidence_attached` entries checked.
    pub documents_checked: u64,
    pub problems: Vec<DocumentProblem>,
}

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: String,
    entry: Option<EntryPart>,
}

#[derive(Deserialize)]
struct EntryPart {
    seq: u64,
    kind: String,
    body: serde_json::Value,
}

#[derive(Deserialize)]
struct Evidence {
    entry: u64,
    sha256: String,
    size_bytes: u64,
}

fn locate(dir: &Path, sha256: &str) -> Option<PathBuf> {
    let flat = dir.join(sha256);
    if flat.is_file() {
        return Some(flat);
    }
    let fan = sha256.get(..2)?;
    Some(dir.join("sha256").join(fan).join(sha256)).filter(|p| p.is_file())
}

/// SHA-256 and length of a file, read in blocks.
fn digest(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut len: u64 = 0;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        len = len.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
    Ok((hex::encode(hasher.finalize()), len))
}

/// Checks every document `export` cites against the files in `dir`.
pub fn check(export: impl BufRead, dir: &Path) -> anyhow::Result<DocumentsReport> {
    let mut checked = 0u64;
    let mut problems = Vec::new();
    for (i, line) in export.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line)
            .map_err(|e| anyhow::anyhow!("line {}: {e}", i.saturating_add(1)))?;
        let Some(entry) = parsed.entry.filter(|_| parsed.kind == "entry") else {
            continue;
        };
        if entry.kind != "evidence_attached" {
            continue;
        }
        let ev: Evidence = serde_json::from_value(entry.body).map_err(|e| {
            anyhow::anyhow!("entry {}: not an evidence_attached body: {e}", entry.seq)
        })?;
        checked = checked.saturating_add(1);
        let problem = |problem, detail: String| DocumentProblem {
            seq: entry.seq,
            entry: ev.entry,
            sha256: ev.sha256.clone(),
            problem,
            detail,
        };
        let Some(path) = locate(dir, &ev.sha256) else {
            problems.push(problem(
                "missing",
                format!(
                    "no file {} in {} (cited by entry {} as evidence for entry {})",
                    ev.sha256,
                    dir.display(),
                    entry.seq,
                    ev.entry
                ),
            ));
            continue;
        };
        let (actual, len) = digest(&path)?;
        if actual != ev.sha256 || len != ev.size_bytes {
            problems.push(problem(
                "changed",
                format!(
                    "{} has SHA-256 {actual} and {len} bytes; entry {} recorded {} and {} bytes",
                    path.display(),
                    entry.seq,
                    ev.sha256,
                    ev.size_bytes
                ),
            ));
        }
    }
    Ok(DocumentsReport {
        ok: problems.is_empty(),
        documents_checked: checked,
        problems,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn line(seq: u64, entry: u64, doc: &[u8]) -> String {
        let body = serde_json::json!({"entry": entry, "sha256": hex::encode(Sha256::digest(doc)),
            "size_bytes": doc.len(), "media_type": "application/pdf"});
        serde_json::json!({"type": "entry", "seq": seq,
            "entry": {"seq": seq, "kind": "evidence_attached", "body": body},
            "prev_hash": "00", "entry_hash": "00"})
        .to_string()
    }

    #[test]
    fn reports_missing_and_changed_documents_with_their_entries() {
        let dir = std::env::temp_dir().join(format!("ft-docs-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b, c) = (
            b"%PDF a".as_slice(),
            b"%PDF b".as_slice(),
            b"%PDF c".as_slice(),
        );
        std::fs::write(dir.join(hex::encode(Sha256::digest(a))), a).unwrap();
        std::fs::write(dir.join(hex::encode(Sha256::digest(b))), b"%PDF B").unwrap();
        let export = [
            r#"{"type":"header"}"#.to_owned(),
            r#"{"type":"entry","seq":1,"entry":{"seq":1,"kind":"invoice","body":{}}}"#.to_owned(),
            line(2, 1, a),
            line(3, 1, b),
            line(4, 0, c),
        ]
        .join("\n");
        let report = check(export.as_bytes(), &dir).unwrap();
        assert!(!report.ok);
        assert_eq!(report.documents_checked, 3);
        let found: Vec<_> = report
            .problems
            .iter()
            .map(|p| (p.seq, p.entry, p.problem))
            .collect();
        assert_eq!(found, vec![(3, 1, "changed"), (4, 0, "missing")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
