//! The export format (JSON lines, docs/ledger-format.md "Export") and the offline
//! verification of an export file against a saved checkpoint and public keys.

use std::io::{BufRead, Write};

use serde::Deserialize;
use uuid::Uuid;

use super::entry::{self, Hash};
use super::note::{self, NoteError, VerifierKey};
use super::store::EntryRow;
use super::verify::{self, Prepared, Report, Verifier};

pub const FORMAT: &str = "fundtrail-export/1";

/// Lines read and prepared together by the offline verifier.
const BLOCK_LINES: usize = 4_096;

/// One non-header line, prepared.
enum Item {
    Entry(Prepared),
    Checkpoint(u64, String),
}

impl Item {
    fn from_line(line_no: u64, text: &str) -> Result<Self, OfflineError> {
        let line: Line<'_> = serde_json::from_str(text).map_err(|e| OfflineError::Malformed {
            line: line_no,
            detail: e.to_string(),
        })?;
        match line.kind {
            "entry" => {
                let seq = line.seq.ok_or_else(|| missing(line_no, "seq"))?;
                let entry = line.entry.ok_or_else(|| missing(line_no, "entry"))?;
                let prev = parse_hash(
                    line.prev_hash
                        .as_deref()
                        .ok_or_else(|| missing(line_no, "prev_hash"))?,
                    line_no,
                )?;
                let hash = parse_hash(
                    line.entry_hash
                        .as_deref()
                        .ok_or_else(|| missing(line_no, "entry_hash"))?,
                    line_no,
                )?;
                Ok(Self::Entry(verify::prepare(
                    seq,
                    entry.get(),
                    false,
                    &prev,
                    &hash,
                    None,
                )))
            }
            "checkpoint" => {
                let size = line
                    .tree_size
                    .ok_or_else(|| missing(line_no, "tree_size"))?;
                let note = line.note.ok_or_else(|| missing(line_no, "note"))?;
                Ok(Self::Checkpoint(size, note))
            }
            "header" => Err(OfflineError::Malformed {
                line: line_no,
                detail: "a second header".to_owned(),
            }),
            other => Err(OfflineError::Malformed {
                line: line_no,
                detail: format!("unexpected line type {other:?}"),
            }),
        }
    }
}

/// Longest line accepted by the offline reader (an entry is far smaller).
const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

pub fn write_entry(out: &mut dyn Write, row: &EntryRow) -> std::io::Result<()> {
    // `canonical` is JSON already: embed it verbatim, no re-encoding.
    writeln!(
        out,
        r#"{{"type":"entry","seq":{},"entry":{},"prev_hash":"{}","entry_hash":"{}"}}"#,
        row.seq,
        row.canonical,
        entry::hex(&row.prev_hash),
        entry::hex(&row.entry_hash)
    )
}

pub fn write_checkpoint(out: &mut dyn Write, size: u64, note: &str) -> std::io::Result<()> {
    let line = serde_json::json!({"type": "checkpoint", "tree_size": size, "note": note});
    writeln!(out, "{line}")
}

/// One line of an export. A flat struct rather than a tagged enum: the entry is kept
/// as raw JSON (`RawValue`), which serde cannot buffer inside internally tagged enums.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    format: Option<String>,
    #[serde(default, deserialize_with = "optional_uuid")]
    chain: Option<Uuid>,
    origin: Option<String>,
    tree_size: Option<u64>,
    seq: Option<u64>,
    #[serde(borrow)]
    entry: Option<&'a serde_json::value::RawValue>,
    prev_hash: Option<String>,
    entry_hash: Option<String>,
    note: Option<String>,
}

/// `chain` on any line: absent, `null`, or a UUID in canonical form.
fn optional_uuid<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    #[derive(Deserialize)]
    struct Canonical(#[serde(deserialize_with = "entry::canonical_uuid")] Uuid);
    Ok(Option::<Canonical>::deserialize(d)?.map(|Canonical(id)| id))
}

fn missing(line: u64, field: &str) -> OfflineError {
    OfflineError::Malformed {
        line,
        detail: format!("missing field {field}"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error("line {line}: {detail}")]
    Malformed { line: u64, detail: String },
    #[error("the export has no header line")]
    NoHeader,
    #[error("the trusted checkpoint is unusable: {0}")]
    Trusted(String),
    #[error("the verifier keys are unusable: {0}")]
    Keys(#[from] NoteError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn parse_hash(s: &str, line: u64) -> Result<Hash, OfflineError> {
    entry::parse_hex32(s).ok_or_else(|| OfflineError::Malformed {
        line,
        detail: format!("{s:?} is not a hash (64 lower-case hex digits)"),
    })
}

/// Verifies an export read from `input` without any database: every entry re-hashed, the
/// Merkle root rebuilt, every embedded checkpoint's root compared, the newest embedded
/// checkpoint's signature and the `trusted` checkpoint checked with `keys`.
pub fn verify_offline(
    input: impl BufRead,
    trusted: Option<&str>,
    keys: Vec<VerifierKey>,
) -> Result<Report, OfflineError> {
    let mut lines = input.lines();
    let mut n: u64 = 0;
    let mut next_line =
        |lines: &mut std::io::Lines<_>| -> Result<Option<(u64, String)>, OfflineError> {
            match lines.next() {
                None => Ok(None),
                Some(l) => {
                    n += 1;
                    let l: String = l?;
                    if l.len() > MAX_LINE_BYTES {
                        return Err(OfflineError::Malformed {
                            line: n,
                            detail: "line too long".to_owned(),
                        });
                    }
                    Ok(Some((n, l)))
                }
            }
        };
    let (line_no, first) = next_line(&mut lines)?.ok_or(OfflineError::NoHeader)?;
    let header: Line<'_> = serde_json::from_str(&first).map_err(|e| OfflineError::Malformed {
        line: line_no,
        detail: e.to_string(),
    })?;
    if header.kind != "header" {
        return Err(OfflineError::NoHeader);
    }
    let format = header.format.ok_or_else(|| missing(line_no, "format"))?;
    if format != FORMAT {
        return Err(OfflineError::Malformed {
            line: line_no,
            detail: format!("unsupported format {format:?} (expected {FORMAT})"),
        });
    }
    let chain = header.chain.ok_or_else(|| missing(line_no, "chain"))?;
    let origin = header.origin.ok_or_else(|| missing(line_no, "origin"))?;
    let tree_size = header
        .tree_size
        .ok_or_else(|| missing(line_no, "tree_size"))?;
    let mut v = Verifier::new(chain, &origin, note::distinct_keys(keys)?);
    if let Some(t) = trusted {
        v = v.with_trusted(t).map_err(OfflineError::Trusted)?;
    }
    // Lines are read in blocks; each block's entries are prepared (parsed, canonicalised,
    // hashed) on all cores, then applied in order. Memory: one block.
    let threads = verify::verify_threads();
    let mut block: Vec<(u64, String)> = Vec::with_capacity(BLOCK_LINES);
    let mut done = false;
    while !done {
        block.clear();
        while block.len() < BLOCK_LINES {
            match next_line(&mut lines)? {
                Some((n, text)) if text.trim().is_empty() => {
                    let _ = n;
                }
                Some(line) => block.push(line),
                None => {
                    done = true;
                    break;
                }
            }
        }
        let items = verify::par_map(&block, threads, |(line_no, text)| {
            Item::from_line(*line_no, text)
        });
        for item in items {
            let go_on = match item? {
                Item::Entry(p) => v.apply(p),
                Item::Checkpoint(size, note) => v.checkpoint(size, &note),
            };
            if !go_on {
                return Ok(v.finish(Some(tree_size)));
            }
        }
    }
    Ok(v.finish(Some(tree_size)))
}
