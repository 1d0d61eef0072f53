//! Offline check of a receipt (the answer to an append, or `GET .../proof` merged with its
//! entry): what a donor runs to prove "this disbursement is in the ledger" without trusting
//! the server. The algorithm, and the order of its checks, is specified in
//! docs/ledger-format.md ("Receipts"): the signed note is the root of trust; the entry is
//! proven into the signed tree through its own hash and the inclusion proof; then every
//! other member of the receipt that states a fact (`seq`, `chain`, the checkpoint's
//! `tree_size`, `root_hash` and `signed_at`, `leaf_hash`) must equal what was proven, so no
//! altered copy verifies. A receipt that cannot be read at all (not JSON, a missing or
//! unknown member, a hash or UUID not in its one accepted spelling) is an input error.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::entry::{self, Hash, ADMIN_CHAIN};
use super::merkle;
use super::note::{self, VerifierKey};
use super::verify;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofPart {
    leaf_index: u64,
    tree_size: u64,
    hashes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointPart {
    tree_size: u64,
    root_hash: String,
    signed_at: String,
    note: String,
}

/// Every member a receipt may have. Unknown members are refused rather than ignored, so
/// nothing in a receipt that verifies went unchecked; `replayed` is the one member that
/// states nothing about the ledger (whether the request was a retry) and is not checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptJson<'a> {
    #[serde(deserialize_with = "entry::canonical_uuid")]
    chain: Uuid,
    seq: u64,
    entry_hash: String,
    prev_hash: String,
    #[serde(borrow)]
    entry: &'a RawValue,
    #[serde(default)]
    leaf_hash: Option<String>,
    inclusion_proof: ProofPart,
    checkpoint: CheckpointPart,
    #[serde(default)]
    #[allow(dead_code)]
    replayed: Option<bool>,
    /// A fund's contract entry: the contract's id, UUIDv5 of the seq in the chain's id.
    #[serde(default, deserialize_with = "canonical_uuid_opt")]
    contract_id: Option<Uuid>,
}

fn canonical_uuid_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    entry::canonical_uuid(d).map(Some)
}

/// The receipt's hashes, decoded.
struct Hashes {
    entry_hash: Hash,
    prev_hash: Hash,
    leaf_hash: Option<Hash>,
    proof: Vec<Hash>,
    root_hash: Hash,
}

#[derive(Debug, Serialize)]
pub struct ReceiptReport {
    pub ok: bool,
    /// What the receipt proves, when it holds (`null` otherwise).
    pub chain: Option<Uuid>,
    pub seq: Option<u64>,
    pub tree_size: Option<u64>,
    pub root_hash: Option<String>,
    /// The first check that failed, when one did.
    pub failure: Option<ReceiptFailure>,
}

/// Which member of the receipt does not hold, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptFailure {
    /// The member, as a path: `checkpoint.note`, `entry`, `entry_hash`, `leaf_hash`,
    /// `inclusion_proof.leaf_index`, `inclusion_proof.tree_size`, `inclusion_proof.hashes`,
    /// `seq`, `chain`, `checkpoint.tree_size`, `checkpoint.root_hash`, `checkpoint.signed_at`.
    pub field: &'static str,
    pub detail: String,
}

fn fail<T>(field: &'static str, detail: String) -> Result<T, ReceiptFailure> {
    Err(ReceiptFailure { field, detail })
}

fn hash(s: &str, what: &str) -> Result<Hash, String> {
    entry::parse_hex32(s)
        .ok_or_else(|| format!("{what} is not a hash (64 lower-case hex digits): {s:?}"))
}

/// Reads the receipt: JSON objects at the three levels (serde would also take arrays),
/// every member known, the required ones present and not `null`, hashes and the chain id
/// in their one spelling. Any problem is an input error.
fn read(json: &str) -> Result<(ReceiptJson<'_>, Hashes), String> {
    let shape: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not a receipt: {e}"))?;
    for (what, value) in [
        ("the receipt", Some(&shape)),
        ("inclusion_proof", shape.get("inclusion_proof")),
        ("checkpoint", shape.get("checkpoint")),
    ] {
        if value.is_some_and(|v| !v.is_object()) {
            return Err(format!("not a receipt: {what} must be a JSON object"));
        }
    }
    let receipt: ReceiptJson<'_> =
        serde_json::from_str(json).map_err(|e| format!("not a receipt: {e}"))?;
    if receipt.entry.get() == "null" {
        return Err("not a receipt: missing field `entry`".to_owned());
    }
    let hashes = Hashes {
        entry_hash: hash(&receipt.entry_hash, "entry_hash")?,
        prev_hash: hash(&receipt.prev_hash, "prev_hash")?,
        leaf_hash: receipt
            .leaf_hash
            .as_deref()
            .map(|h| hash(h, "leaf_hash"))
            .transpose()?,
        proof: receipt
            .inclusion_proof
            .hashes
            .iter()
            .map(|h| hash(h, "an inclusion_proof hash"))
            .collect::<Result<_, _>>()?,
        root_hash: hash(&receipt.checkpoint.root_hash, "checkpoint.root_hash")?,
    };
    utc_instant(&receipt.checkpoint.signed_at).ok_or_else(|| {
        format!(
            "checkpoint.signed_at is not a UTC time YYYY-MM-DDTHH:MM:SS[.fraction]Z: {:?}",
            receipt.checkpoint.signed_at
        )
    })?;
    Ok((receipt, hashes))
}

/// `YYYY-MM-DDTHH:MM:SS[.f]Z` (1 to 9 fraction digits, ASCII digits, capital `T` and `Z`)
/// as (the 19 characters before the fraction, the fraction padded to 9 digits): two
/// spellings denote the same instant iff these are equal.
fn utc_instant(s: &str) -> Option<(&str, String)> {
    const PATTERN: &[u8; 19] = b"dddd-dd-ddTdd:dd:dd";
    let body = s.strip_suffix('Z')?;
    let (whole, fraction) = match body.split_once('.') {
        Some((whole, fraction)) => {
            let digits = !fraction.is_empty()
                && fraction.len() <= 9
                && fraction.bytes().all(|b| b.is_ascii_digit());
            (whole, digits.then_some(fraction)?)
        }
        None => (body, ""),
    };
    let shaped = whole.len() == PATTERN.len()
        && whole.bytes().zip(PATTERN).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            _ => c == *p,
        });
    shaped.then(|| (whole, format!("{fraction:0<9}")))
}

/// The origin `<log name>/<chain id>` (`<log name>/admin` for the administrative chain).
fn origin_names(origin: &str, chain: Uuid) -> bool {
    let id = if chain == ADMIN_CHAIN {
        "admin".to_owned()
    } else {
        chain.to_string()
    };
    origin
        .strip_suffix(id.as_str())
        .and_then(|log| log.strip_suffix('/'))
        .is_some_and(|log| !log.is_empty())
}

/// The checks of docs/ledger-format.md ("Receipts"), in their order. Returns the proven
/// tree size and root.
fn check(
    r: &ReceiptJson<'_>,
    h: &Hashes,
    keys: &[VerifierKey],
) -> Result<(u64, Hash), ReceiptFailure> {
    // 1. The signed note: the root of trust.
    let cp = note::open_note(&r.checkpoint.note, keys)
        .map_err(|e| format!("the checkpoint signature does not verify: {e}"))
        .and_then(|opened| {
            note::Checkpoint::parse(opened.text())
                .map_err(|e| format!("the checkpoint is malformed: {e}"))
        })
        .or_else(|detail| fail("checkpoint.note", detail))?;
    // 2. The entry.
    let (e, canonical) = verify::read_entry(r.entry.get())
        .or_else(|(_, detail)| fail("entry", format!("the entry is not valid: {detail}")))?;
    // 3. Its hash, recomputed.
    let computed = entry::entry_hash(&h.prev_hash, &canonical);
    if computed != h.entry_hash {
        return fail(
            "entry_hash",
            format!(
                "the entry (with prev_hash) hashes to {} but entry_hash is {}: the entry, prev_hash or entry_hash was altered",
                entry::hex32(&computed),
                entry::hex32(&h.entry_hash)
            ),
        );
    }
    let leaf = merkle::leaf_hash(&computed);
    if h.leaf_hash.is_some_and(|claimed| claimed != leaf) {
        return fail(
            "leaf_hash",
            format!(
                "leaf_hash is not SHA-256(00 || entry_hash) = {}",
                entry::hex32(&leaf)
            ),
        );
    }
    // 4. The inclusion proof: for this entry's seq, at the signed size, to the signed root.
    let proof = &r.inclusion_proof;
    if proof.leaf_index != e.seq {
        return fail(
            "inclusion_proof.leaf_index",
            format!(
                "the proof is for leaf {} but the entry is seq {}",
                proof.leaf_index, e.seq
            ),
        );
    }
    if proof.tree_size != cp.size {
        return fail(
            "inclusion_proof.tree_size",
            format!(
                "the proof is for size {} but the signed checkpoint has size {}",
                proof.tree_size, cp.size
            ),
        );
    }
    merkle::verify_inclusion(&leaf, e.seq, cp.size, &h.proof, &cp.root).or_else(|err| {
        fail(
            "inclusion_proof.hashes",
            format!("the inclusion proof does not lead to the signed root: {err}"),
        )
    })?;
    // 5. The receipt's own copies of what is now proven.
    if r.seq != e.seq {
        return fail(
            "seq",
            format!("seq is {} but the proven entry is seq {}", r.seq, e.seq),
        );
    }
    if r.chain != e.chain {
        return fail(
            "chain",
            format!(
                "chain is {} but the proven entry is in chain {}",
                r.chain, e.chain
            ),
        );
    }
    if let Some(claimed) = r.contract_id {
        let derived = Uuid::new_v5(&e.chain, e.seq.to_string().as_bytes());
        if e.kind != "contract" || claimed != derived {
            return fail(
                "contract_id",
                format!(
                    "contract_id is {claimed} but a contract recorded at seq {} of chain {} is {derived} (and only a contract entry names one)",
                    e.seq, e.chain
                ),
            );
        }
    }
    if !origin_names(&cp.origin, e.chain) {
        return fail(
            "checkpoint.note",
            format!(
                "the signed checkpoint's origin {:?} does not name chain {}",
                cp.origin, e.chain
            ),
        );
    }
    if r.checkpoint.tree_size != cp.size {
        return fail(
            "checkpoint.tree_size",
            format!(
                "checkpoint.tree_size is {} but the signed note says {}",
                r.checkpoint.tree_size, cp.size
            ),
        );
    }
    if h.root_hash != cp.root {
        return fail(
            "checkpoint.root_hash",
            format!(
                "checkpoint.root_hash is {} but the signed note says {}",
                entry::hex32(&h.root_hash),
                entry::hex32(&cp.root)
            ),
        );
    }
    let signed = cp
        .extensions
        .iter()
        .find_map(|line| line.strip_prefix("time "));
    if signed.and_then(utc_instant) != utc_instant(&r.checkpoint.signed_at) {
        return fail(
            "checkpoint.signed_at",
            format!(
                "checkpoint.signed_at is {} but the signed note's time line is {}",
                r.checkpoint.signed_at,
                signed.unwrap_or("missing")
            ),
        );
    }
    Ok((cp.size, cp.root))
}

/// Checks a receipt given as JSON text against the published keys. `Err`: the receipt
/// cannot be read (exit status 2); `Ok` with `ok: false`: it does not hold (exit status 1).
pub fn verify_receipt(json: &str, keys: &[VerifierKey]) -> Result<ReceiptReport, String> {
    verify_witnessed_receipt(json, keys, None)
}

/// `verify_receipt`, and with a witness `policy` the receipt's checkpoint must also carry
/// the cosignatures of the required number of its witnesses (C2SP tlog-cosignature lines
/// appended to the note; a receipt refreshed from `GET …/entries/{seq}/proof?size=N` once
/// the witnesses cosigned size N carries them), else the check of `checkpoint.note` fails.
pub fn verify_witnessed_receipt(
    json: &str,
    keys: &[VerifierKey],
    policy: Option<&super::cosignature::WitnessPolicy>,
) -> Result<ReceiptReport, String> {
    let keys = note::distinct_keys(keys.to_vec()).map_err(|e| e.to_string())?;
    if keys.is_empty() {
        return Err("no verifier key".to_owned());
    }
    let (receipt, hashes) = read(json)?;
    let checked = check(&receipt, &hashes, &keys).and_then(|proven| match policy {
        None => Ok(proven),
        Some(p) => p
            .check(&receipt.checkpoint.note)
            .map(|_| proven)
            .or_else(|e| {
                fail(
                    "checkpoint.note",
                    format!(
                        "the checkpoint is not cosigned by {} of the {} required witnesses: {e}",
                        p.required,
                        p.witnesses.len()
                    ),
                )
            }),
    });
    Ok(match checked {
        Ok((size, root)) => ReceiptReport {
            ok: true,
            chain: Some(receipt.chain),
            seq: Some(receipt.seq),
            tree_size: Some(size),
            root_hash: Some(entry::hex32(&root)),
            failure: None,
        },
        Err(failure) => ReceiptReport {
            ok: false,
            chain: None,
            seq: None,
            tree_size: None,
            root_hash: None,
            failure: Some(failure),
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    /// The three-entry chain of the published vectors: a genuine receipt of entry 1 against
    /// the signed checkpoint of size 3, as the server would have answered it.
    fn vectors() -> Value {
        serde_json::from_str(include_str!("../../tests/vectors/ledger-vectors.json")).unwrap()
    }

    fn chain_key() -> Vec<VerifierKey> {
        let key = vectors()["three_entry_chain"]["verifier_key"].clone();
        vec![VerifierKey::from_verifier_string(key.as_str().unwrap()).unwrap()]
    }

    fn genuine() -> Value {
        let t = vectors()["three_entry_chain"].clone();
        let e = &t["entries"][1];
        let entry: Value = serde_json::from_str(e["canonical"].as_str().unwrap()).unwrap();
        json!({
            "chain": t["chain"],
            "seq": 1,
            "entry_hash": e["entry_hash"],
            "prev_hash": e["prev_hash"],
            "entry": entry,
            "inclusion_proof": t["inclusion_proof_leaf1_size3"],
            "checkpoint": {
                "tree_size": 3,
                "root_hash": t["roots"]["3"],
                "signed_at": "2026-11-22T04:55:19.225782Z",
                "note": t["checkpoint_notes"]["3"],
            },
            "replayed": false,
        })
    }

    fn verdict(receipt: &Value) -> ReceiptReport {
        verify_receipt(&receipt.to_string(), &chain_key()).unwrap()
    }

    fn failed_field(receipt: &Value) -> &'static str {
        let report = verdict(receipt);
        assert!(!report.ok);
        assert_eq!(report.chain, None, "nothing is claimed proven");
        report.failure.unwrap().field
    }

    #[test]
    fn a_genuine_receipt_holds_and_says_what_it_proves() {
        let report = verdict(&genuine());
        assert!(report.ok, "{:?}", report.failure);
        assert_eq!(
            report.chain.unwrap().to_string(),
            "86807e3c-4ee6-4063-b922-5164384137b2"
        );
        assert_eq!((report.seq, report.tree_size), (Some(1), Some(3)));
        assert_eq!(
            report.root_hash.as_deref(),
            Some("96c0095675455349272e687fc815350e03deec5e8950df6c37b3fdbd4ab88562")
        );
        // The same instant spelled with fewer or more fraction digits; a receipt
        // re-serialised with other member order and spacing; the key listed twice.
        let mut r = genuine();
        r["checkpoint"]["signed_at"] = json!("2026-11-22T04:55:19.225782000Z");
        assert!(verdict(&r).ok);
        let spaced = serde_json::to_string_pretty(&genuine()).unwrap();
        let twice = [chain_key(), chain_key()].concat();
        assert!(verify_receipt(&spaced, &twice).unwrap().ok);
        // Without a checkpoint of its own, a batch receipt copied the shared one: the
        // leaf hash of GET .../proof may be kept.
        let mut r = genuine();
        r["leaf_hash"] = vectors()["three_entry_chain"]["entries"][1]["leaf_hash"].clone();
        assert!(verdict(&r).ok);
    }

    #[test]
    fn every_altered_member_is_refused_naming_the_member() {
        let t = vectors()["three_entry_chain"].clone();
        type Edit = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Edit, &str)> = vec![
            ("seq", Box::new(|r| r["seq"] = json!(2)), "seq"),
            (
                "a contract id on an entry that is no contract",
                Box::new(|r| {
                    let chain: Uuid = r["chain"].as_str().unwrap_or_default().parse().unwrap();
                    r["contract_id"] = json!(Uuid::new_v5(&chain, b"1").to_string());
                }),
                "contract_id",
            ),
            (
                "seq, to the next entry",
                Box::new(|r| r["seq"] = json!(0)),
                "seq",
            ),
            (
                "chain",
                Box::new(|r| r["chain"] = json!("6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10")),
                "chain",
            ),
            (
                "checkpoint.tree_size",
                Box::new(|r| r["checkpoint"]["tree_size"] = json!(2)),
                "checkpoint.tree_size",
            ),
            (
                "checkpoint.root_hash",
                Box::new(move |r| r["checkpoint"]["root_hash"] = t["roots"]["2"].clone()),
                "checkpoint.root_hash",
            ),
            (
                "checkpoint.signed_at",
                Box::new(|r| r["checkpoint"]["signed_at"] = json!("2026-11-22T04:55:19.225783Z")),
                "checkpoint.signed_at",
            ),
            (
                "an amount in the entry",
                Box::new(|r| r["entry"]["body"]["amount"]["value"] = json!("12.50")),
                "entry_hash",
            ),
            (
                "the entry's seq",
                Box::new(|r| r["entry"]["seq"] = json!(2)),
                "entry_hash",
            ),
            (
                "entry_hash",
                Box::new(|r| r["entry_hash"] = json!("00".repeat(32))),
                "entry_hash",
            ),
            (
                "prev_hash",
                Box::new(|r| r["prev_hash"] = json!("00".repeat(32))),
                "entry_hash",
            ),
            (
                "a float in the body",
                Box::new(|r| r["entry"]["body"]["n"] = json!(12.5)),
                "entry",
            ),
            (
                "leaf_hash",
                Box::new(|r| r["leaf_hash"] = json!("00".repeat(32))),
                "leaf_hash",
            ),
            (
                "inclusion_proof.leaf_index",
                Box::new(|r| r["inclusion_proof"]["leaf_index"] = json!(0)),
                "inclusion_proof.leaf_index",
            ),
            (
                "inclusion_proof.tree_size",
                Box::new(|r| r["inclusion_proof"]["tree_size"] = json!(4)),
                "inclusion_proof.tree_size",
            ),
            (
                "inclusion_proof.hashes swapped",
                Box::new(|r| {
                    let h = r["inclusion_proof"]["hashes"].as_array_mut().unwrap();
                    h.swap(0, 1);
                }),
                "inclusion_proof.hashes",
            ),
            (
                "the signed note's size",
                Box::new(|r| {
                    let note = r["checkpoint"]["note"]
                        .as_str()
                        .unwrap()
                        .replacen("\n3\n", "\n4\n", 1);
                    r["checkpoint"]["note"] = json!(note);
                }),
                "checkpoint.note",
            ),
        ];
        for (what, edit, field) in cases {
            let mut r = genuine();
            edit(&mut r);
            assert_eq!(failed_field(&r), field, "{what}");
        }
    }

    #[test]
    fn a_checkpoint_must_be_signed_by_a_given_key_and_name_the_chain() {
        let stranger = note::SigningKey::generate("fundtrail").unwrap();
        let report = verify_receipt(&genuine().to_string(), &[stranger.verifier()]).unwrap();
        assert_eq!(report.failure.unwrap().field, "checkpoint.note");
        // A genuine note (signed by a given key) over the right root for another origin.
        let mut r = genuine();
        let text = note::Checkpoint::parse(
            note::open_note(r["checkpoint"]["note"].as_str().unwrap(), &chain_key())
                .unwrap()
                .text(),
        )
        .unwrap();
        for (origin, holds) in [
            ("fundtrail/86807e3c-4ee6-4063-b922-5164384137b2", true),
            ("example.org/log/86807e3c-4ee6-4063-b922-5164384137b2", true),
            ("fundtrail/6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10", false),
            ("fundtrail/admin", false),
            ("/86807e3c-4ee6-4063-b922-5164384137b2", false),
            ("86807e3c-4ee6-4063-b922-5164384137b2", false),
        ] {
            let cp = note::Checkpoint {
                origin: origin.to_owned(),
                ..text.clone()
            };
            r["checkpoint"]["note"] = json!(note::sign_checkpoint(&stranger, &cp).unwrap());
            let report = verify_receipt(&r.to_string(), &[stranger.verifier()]).unwrap();
            assert_eq!(report.ok, holds, "{origin}: {:?}", report.failure);
            if !holds {
                assert_eq!(report.failure.unwrap().field, "checkpoint.note", "{origin}");
            }
        }
    }

    #[test]
    fn a_receipt_that_cannot_be_read_is_an_input_error() {
        type Edit = Box<dyn Fn(&mut Value)>;
        let upper = |v: &Value| json!(v.as_str().unwrap().to_uppercase());
        let cases: Vec<(&str, Edit)> = vec![
            (
                "upper-case entry_hash",
                Box::new(move |r| r["entry_hash"] = upper(&r["entry_hash"])),
            ),
            (
                "upper-case proof hash",
                Box::new(move |r| {
                    r["inclusion_proof"]["hashes"][0] = upper(&r["inclusion_proof"]["hashes"][0])
                }),
            ),
            (
                "a 63-digit root_hash",
                Box::new(|r| r["checkpoint"]["root_hash"] = json!("0".repeat(63))),
            ),
            (
                "upper-case chain",
                Box::new(move |r| r["chain"] = upper(&r["chain"])),
            ),
            (
                "braced chain",
                Box::new(|r| r["chain"] = json!("{86807e3c-4ee6-4063-b922-5164384137b2}")),
            ),
            (
                "simple-form chain",
                Box::new(|r| r["chain"] = json!("86807e3c4ee64063b9225164384137b2")),
            ),
            (
                "an unknown member",
                Box::new(|r| r["note"] = json!("trust me")),
            ),
            (
                "an unknown checkpoint member",
                Box::new(|r| r["checkpoint"]["key_id"] = json!("d017f0c7")),
            ),
            (
                "no seq",
                Box::new(|r| {
                    r.as_object_mut().unwrap().remove("seq");
                }),
            ),
            (
                "a null checkpoint",
                Box::new(|r| r["checkpoint"] = Value::Null),
            ),
            ("a null entry", Box::new(|r| r["entry"] = Value::Null)),
            (
                "no signed_at",
                Box::new(|r| {
                    r["checkpoint"].as_object_mut().unwrap().remove("signed_at");
                }),
            ),
            (
                "signed_at with an offset",
                Box::new(|r| {
                    r["checkpoint"]["signed_at"] = json!("2026-11-22T04:55:19.225782+00:00")
                }),
            ),
            (
                "the proof as an array",
                Box::new(|r| r["inclusion_proof"] = json!([1, 3, []])),
            ),
        ];
        for (what, edit) in cases {
            let mut r = genuine();
            edit(&mut r);
            assert!(
                verify_receipt(&r.to_string(), &chain_key()).is_err(),
                "{what}"
            );
        }
        assert!(verify_receipt("[]", &chain_key()).is_err());
        let dup = genuine()
            .to_string()
            .replacen("{\"chain\"", "{\"seq\":1,\"chain\"", 1);
        assert!(
            verify_receipt(&dup, &chain_key()).is_err(),
            "a duplicate member"
        );
    }

    #[test]
    fn utc_instants_compare_by_value() {
        let same = [
            "2026-11-22T04:55:19Z",
            "2026-11-22T04:55:19.0Z",
            "2026-11-22T04:55:19.000000000Z",
        ];
        for s in same {
            assert_eq!(
                utc_instant(s),
                utc_instant("2026-11-22T04:55:19.000000Z"),
                "{s}"
            );
        }
        for bad in [
            "2026-11-22T04:55:19.Z",
            "2026-11-22T04:55:19.0000000000Z",
            "2026-11-22t04:55:19Z",
            "2026-11-22T04:55:19z",
            "2026-11-22 04:55:19Z",
            "２026-11-22T04:55:19Z",
        ] {
            assert_eq!(utc_instant(bad), None, "{bad}");
        }
    }
}
