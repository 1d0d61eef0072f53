//! C2SP checkpoint cosignatures (<https://c2sp.org/tlog-cosignature>), Ed25519 type.
//!
//! A cosignature is a signed-note signature line a *witness* adds to a checkpoint after
//! checking that it is consistent with every checkpoint of that log it saw before:
//!
//! ```text
//! — <cosigner name> base64( key ID[4, big-endian] || timestamp[8, big-endian] || Ed25519 signature[64] )
//! ```
//!
//! * The signed message is `"cosignature/v1\n" || "time <timestamp>\n" || <checkpoint
//!   text>`: the timestamp in ASCII decimal (POSIX seconds, no leading zeros), then the
//!   whole checkpoint body with its final newline and any extension lines, without the
//!   blank line and without any signature line.
//! * The key ID is `SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4]`: signature
//!   type `0x04`, not the `0x01` of plain Ed25519 note signatures, so a cosignature can
//!   never be mistaken for (or verified as) a log signature by the same key.
//! * Cosigner verifier key: `<name>+<8 hex key ID>+<base64(0x04 || public key)>`.
//! * Signer key file: `PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x04 || 32-byte seed)>`;
//!   a plain Ed25519 note signer key (`0x01`, what `fundtrail keygen` writes) is accepted
//!   too and signs with the `0x04` key ID, as transparency-dev's
//!   `NewSignerForCosignatureV1` does.
//!
//! Everything here is pure; verification follows the signed-note rules: lines by unknown
//! keys are ignored, a line by a known key (name and key ID) that fails to verify
//! rejects the note.

use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, Verifier as _};
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};

use super::note::{Checkpoint, NoteError, VerifierKey, MAX_SIGNATURES};

/// Signature type of timestamped Ed25519 checkpoint cosignatures (C2SP signed-note).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// Signature type of plain Ed25519 note signatures, accepted in signer key files.
const ALG_ED25519: u8 = 0x01;

/// First line of every signed message: domain separation from note signatures.
const HEADER: &str = "cosignature/v1";

/// Prefix of every signature line: U+2014 EM DASH and one space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Prefix of a signer key string.
const SIGNER_PREFIX: &str = "PRIVATE+KEY+";

/// Largest timestamp a cosignature may carry (2^63 - 1, tlog-cosignature "Format").
pub const MAX_TIMESTAMP: u64 = 0x7fff_ffff_ffff_ffff;

/// Bytes of a decoded cosignature after the key ID: timestamp (8) and signature (64).
const TIMESTAMPED_SIGNATURE_LEN: usize = 72;

/// Why a key, a cosignature or a cosignature policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CosignatureError {
    /// A key name is empty or contains white space or `+`.
    #[error("invalid key name: must be non-empty without white space or '+'")]
    InvalidKeyName,
    /// A verifier key string is not `<name>+<hex8>+<base64(0x04 || key)>`.
    #[error("malformed cosigner verifier key")]
    MalformedVerifierKey,
    /// A signer key string is not `PRIVATE+KEY+<name>+<hex8>+<base64(type || seed)>`.
    #[error("malformed cosigner signer key")]
    MalformedSignerKey,
    /// The key ID in a key string does not match its name, type and public key.
    #[error("key ID does not match key name and public key")]
    KeyIdMismatch,
    /// The key has a signature type this module does not handle.
    #[error("signature type {0:#04x} is not a cosigner key (expected 0x04)")]
    UnknownAlgorithm(u8),
    /// The 32 public key bytes are not a valid Ed25519 point.
    #[error("invalid Ed25519 public key")]
    InvalidPublicKey,
    /// The operating system random number generator failed.
    #[error("random number generator failure")]
    Rng,
    /// The text to cosign is not a checkpoint body.
    #[error("not a checkpoint: {0}")]
    Checkpoint(NoteError),
    /// A timestamp above 2^63 - 1.
    #[error("timestamp {0} exceeds 2^63 - 1")]
    TimestampOutOfRange(u64),
    /// The note is not text, blank line, signature lines, or a signature line is malformed.
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),
    /// A line by a configured cosigner (name and key ID) failed to verify.
    #[error("invalid cosignature by {name}+{key_id:08x}")]
    InvalidCosignature {
        /// Cosigner name.
        name: String,
        /// Cosigner key ID.
        key_id: u32,
    },
    /// The policy asks for no cosignature, or for more than there are cosigners.
    #[error("policy asks for {required} of {configured} cosigners")]
    InvalidPolicy {
        /// Cosignatures asked for.
        required: usize,
        /// Distinct cosigner keys configured.
        configured: usize,
    },
    /// Fewer configured cosigners vouched for the checkpoint than the policy requires.
    #[error("{verified} valid cosignature(s), {required} required")]
    NotEnoughCosignatures {
        /// Cosignatures required.
        required: usize,
        /// Distinct cosigners whose cosignature verified.
        verified: usize,
    },
}

/// Key name rule of signed notes: non-empty, no Unicode white space, no `+`.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// `SHA-256(name || 0x0A || type || public key)[:4]` as a big-endian `u32`.
fn key_id_for(name: &str, alg: u8, public_key: &[u8; 32]) -> u32 {
    let digest: [u8; 32] = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([alg])
        .chain_update(public_key)
        .finalize()
        .into();
    let [a, b, c, d, ..] = digest;
    u32::from_be_bytes([a, b, c, d])
}

/// The key ID of an Ed25519 cosigner: signature type `0x04`.
pub fn cosigner_key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    key_id_for(name, ALG_COSIGNATURE_V1, public_key)
}

/// Exactly eight hexadecimal digits as a `u32`.
fn parse_hex8(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// `type || key`, base64.
fn encode_key_data(alg: u8, key: &[u8; 32]) -> String {
    let mut data = Vec::with_capacity(33);
    data.push(alg);
    data.extend_from_slice(key);
    BASE64.encode(data)
}

/// The message an Ed25519 cosignature signs:
/// `"cosignature/v1\ntime <timestamp>\n" || checkpoint_text`.
pub fn signed_message(checkpoint_text: &str, timestamp: u64) -> String {
    format!("{HEADER}\ntime {timestamp}\n{checkpoint_text}")
}

/// A cosigner's public key: what a log's clients, or a policy, trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignerKey {
    name: String,
    key_id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl CosignerKey {
    /// A cosigner key from its name and raw 32-byte Ed25519 public key.
    pub fn from_public_key(name: &str, public_key: [u8; 32]) -> Result<Self, CosignatureError> {
        if !is_valid_name(name) {
            return Err(CosignatureError::InvalidKeyName);
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public_key)
            .map_err(|_| CosignatureError::InvalidPublicKey)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: cosigner_key_id(name, &public_key),
            key,
        })
    }

    /// The cosigner key of the same name and public key as a plain Ed25519 note key
    /// (transparency-dev's `VKeyToCosignatureV1`): the key ID changes to type `0x04`.
    pub fn from_note_verifier(key: &VerifierKey) -> Result<Self, CosignatureError> {
        Self::from_public_key(key.name(), key.public_key_bytes())
    }

    /// Parses `<name>+<hex8 key ID>+<base64(0x04 || 32-byte public key)>`. A plain
    /// Ed25519 note key (type `0x01`) is refused: its key ID is not a cosigner's.
    pub fn from_verifier_string(s: &str) -> Result<Self, CosignatureError> {
        let (name, rest) = s
            .split_once('+')
            .ok_or(CosignatureError::MalformedVerifierKey)?;
        let (hex, b64) = rest
            .split_once('+')
            .ok_or(CosignatureError::MalformedVerifierKey)?;
        let claimed = parse_hex8(hex).ok_or(CosignatureError::MalformedVerifierKey)?;
        if !is_valid_name(name) {
            return Err(CosignatureError::MalformedVerifierKey);
        }
        let data = BASE64
            .decode(b64)
            .map_err(|_| CosignatureError::MalformedVerifierKey)?;
        let (&alg, public_key) = data
            .split_first()
            .ok_or(CosignatureError::MalformedVerifierKey)?;
        if alg != ALG_COSIGNATURE_V1 {
            return Err(CosignatureError::UnknownAlgorithm(alg));
        }
        let public_key: [u8; 32] = public_key
            .try_into()
            .map_err(|_| CosignatureError::MalformedVerifierKey)?;
        if cosigner_key_id(name, &public_key) != claimed {
            return Err(CosignatureError::KeyIdMismatch);
        }
        Self::from_public_key(name, public_key)
    }

    /// `<name>+<hex8 key ID>+<base64(0x04 || public key)>`.
    pub fn to_verifier_string(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key_data(ALG_COSIGNATURE_V1, self.key.as_bytes())
        )
    }

    /// The cosigner's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cosigner's key ID (type `0x04`).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Checks `timestamp || signature` (the decoded line without its key ID) over
    /// `checkpoint_text`; returns the timestamp when it verifies.
    fn verify(&self, checkpoint_text: &str, raw: &[u8]) -> Option<u64> {
        if raw.len() != TIMESTAMPED_SIGNATURE_LEN {
            return None;
        }
        let (time, signature) = raw.split_first_chunk::<8>()?;
        let timestamp = u64::from_be_bytes(*time);
        if timestamp > MAX_TIMESTAMP {
            return None;
        }
        let signature = ed25519_dalek::Signature::from_slice(signature).ok()?;
        let message = signed_message(checkpoint_text, timestamp);
        self.key
            .verify(message.as_bytes(), &signature)
            .ok()
            .map(|()| timestamp)
    }
}

/// A witness's signing key. Its text form (`to_signer_string`) is secret.
#[derive(Clone)]
pub struct Cosigner {
    name: String,
    key_id: u32,
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl Cosigner {
    /// A fresh key from the operating system's random number generator.
    pub fn generate(name: &str) -> Result<Self, CosignatureError> {
        if !is_valid_name(name) {
            return Err(CosignatureError::InvalidKeyName);
        }
        let mut seed = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut seed)
            .map_err(|_| CosignatureError::Rng)?;
        Ok(Self::from_seed(name, &seed))
    }

    fn from_seed(name: &str, seed: &[u8; 32]) -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        Self {
            name: name.to_owned(),
            key_id: cosigner_key_id(name, key.verifying_key().as_bytes()),
            key,
        }
    }

    /// Parses `PRIVATE+KEY+<name>+<hex8 key ID>+<base64(type || 32-byte seed)>` with
    /// type `0x04` (key ID of type `0x04`) or `0x01` (a plain note key, key ID of type
    /// `0x01`). Either way the key ID is checked, and the cosigner signs with the `0x04`
    /// key ID. Trim a trailing newline read from a file first.
    pub fn from_signer_string(s: &str) -> Result<Self, CosignatureError> {
        let rest = s
            .strip_prefix(SIGNER_PREFIX)
            .ok_or(CosignatureError::MalformedSignerKey)?;
        let (name, rest) = rest
            .split_once('+')
            .ok_or(CosignatureError::MalformedSignerKey)?;
        let (hex, b64) = rest
            .split_once('+')
            .ok_or(CosignatureError::MalformedSignerKey)?;
        let claimed = parse_hex8(hex).ok_or(CosignatureError::MalformedSignerKey)?;
        if !is_valid_name(name) {
            return Err(CosignatureError::MalformedSignerKey);
        }
        let data = BASE64
            .decode(b64)
            .map_err(|_| CosignatureError::MalformedSignerKey)?;
        let (&alg, seed) = data
            .split_first()
            .ok_or(CosignatureError::MalformedSignerKey)?;
        if alg != ALG_COSIGNATURE_V1 && alg != ALG_ED25519 {
            return Err(CosignatureError::UnknownAlgorithm(alg));
        }
        let seed: &[u8; 32] = seed
            .try_into()
            .map_err(|_| CosignatureError::MalformedSignerKey)?;
        let cosigner = Self::from_seed(name, seed);
        if key_id_for(name, alg, cosigner.key.verifying_key().as_bytes()) != claimed {
            return Err(CosignatureError::KeyIdMismatch);
        }
        Ok(cosigner)
    }

    /// `PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x04 || seed)>`: the key file. Secret.
    pub fn to_signer_string(&self) -> String {
        format!(
            "{SIGNER_PREFIX}{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key_data(ALG_COSIGNATURE_V1, &self.key.to_bytes())
        )
    }

    /// The cosigner's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cosigner's key ID (type `0x04`).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public key others verify this cosigner's lines with.
    pub fn verifier(&self) -> CosignerKey {
        CosignerKey {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Cosigns `checkpoint_text` (a checkpoint body with its final newline, as
    /// `OpenedNote::text` returns it) at `timestamp` (POSIX seconds) and returns the
    /// signature line, `— <name> <base64>` and a newline.
    pub fn cosign(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<String, CosignatureError> {
        Checkpoint::parse(checkpoint_text).map_err(CosignatureError::Checkpoint)?;
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampOutOfRange(timestamp));
        }
        let message = signed_message(checkpoint_text, timestamp);
        let signature = self.key.sign(message.as_bytes());
        let mut raw = Vec::with_capacity(4 + TIMESTAMPED_SIGNATURE_LEN);
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{SIG_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(raw)
        ))
    }
}

/// One signature line of a note, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureLine {
    /// Key name.
    pub name: String,
    /// Key ID (the first four decoded bytes).
    pub key_id: u32,
    /// The decoded bytes after the key ID.
    pub signature: Vec<u8>,
}

/// Splits a signed note into its text (up to and including the newline before the last
/// blank line) and its decoded signature lines, with the signed-note rules: no control
/// character but newline, a final newline, at most `MAX_SIGNATURES` lines, each
/// `— <valid name> <strict base64 of at least five bytes>`.
pub fn split_note(note: &str) -> Result<(&str, Vec<SignatureLine>), CosignatureError> {
    use CosignatureError::MalformedNote;
    if note.chars().any(|c| c < ' ' && c != '\n') {
        return Err(MalformedNote("control character other than newline"));
    }
    let split = note
        .rfind("\n\n")
        .ok_or(MalformedNote("no blank line before the signatures"))?;
    let (text, rest) = note.split_at(split.saturating_add(1));
    let block = rest
        .strip_prefix('\n')
        .filter(|b| !b.is_empty())
        .ok_or(MalformedNote("no signature lines"))?;
    let block = block
        .strip_suffix('\n')
        .ok_or(MalformedNote("missing final newline"))?;
    let mut lines = Vec::new();
    for (count, line) in block.split('\n').enumerate() {
        if count >= MAX_SIGNATURES {
            return Err(MalformedNote("too many signature lines"));
        }
        let body = line.strip_prefix(SIG_PREFIX).ok_or(MalformedNote(
            "signature line does not start with an em dash",
        ))?;
        let (name, b64) = body
            .split_once(' ')
            .ok_or(MalformedNote("signature line without a key name"))?;
        if !is_valid_name(name) {
            return Err(MalformedNote("invalid key name in a signature line"));
        }
        let raw = BASE64
            .decode(b64)
            .map_err(|_| MalformedNote("signature is not canonical base64"))?;
        let (id, signature) = raw
            .split_first_chunk::<4>()
            .filter(|(_, s)| !s.is_empty())
            .ok_or(MalformedNote("signature shorter than five bytes"))?;
        lines.push(SignatureLine {
            name: name.to_owned(),
            key_id: u32::from_be_bytes(*id),
            signature: signature.to_vec(),
        });
    }
    Ok((text, lines))
}

/// A cosignature that verified: who vouched, and when (POSIX seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosignature {
    /// Cosigner name.
    pub name: String,
    /// Cosigner key ID.
    pub key_id: u32,
    /// The cosignature's timestamp.
    pub timestamp: u64,
}

/// Checks a k-of-n witness policy over a signed checkpoint: at least `k` distinct keys of
/// `witnesses` cosigned its text. Lines by other keys (the log's own signature, unknown
/// witnesses) are ignored; a line whose name and key ID are a configured witness's but
/// that fails to verify rejects the note, as signed-note asks. Returns the verified
/// cosignatures, one per witness, in `witnesses` order.
///
/// This checks the witnesses only: verify the log's signature separately
/// (`note::verify_checkpoint`).
pub fn verify_cosignatures(
    note: &str,
    witnesses: &[CosignerKey],
    k: usize,
) -> Result<Vec<Cosignature>, CosignatureError> {
    let mut seen = HashSet::new();
    let witnesses: Vec<&CosignerKey> = witnesses
        .iter()
        .filter(|w| seen.insert((w.name.as_str(), w.key_id, w.key.to_bytes())))
        .collect();
    if k == 0 || k > witnesses.len() {
        return Err(CosignatureError::InvalidPolicy {
            required: k,
            configured: witnesses.len(),
        });
    }
    let (text, lines) = split_note(note)?;
    Checkpoint::parse(text).map_err(CosignatureError::Checkpoint)?;
    let mut verified = Vec::new();
    for witness in witnesses {
        let mut found = None;
        for line in lines
            .iter()
            .filter(|l| l.name == witness.name && l.key_id == witness.key_id)
        {
            let timestamp = witness.verify(text, &line.signature).ok_or_else(|| {
                CosignatureError::InvalidCosignature {
                    name: witness.name.clone(),
                    key_id: witness.key_id,
                }
            })?;
            found = Some(found.map_or(timestamp, |t: u64| t.max(timestamp)));
        }
        if let Some(timestamp) = found {
            verified.push(Cosignature {
                name: witness.name.clone(),
                key_id: witness.key_id,
                timestamp,
            });
        }
    }
    if verified.len() < k {
        return Err(CosignatureError::NotEnoughCosignatures {
            required: k,
            verified: verified.len(),
        });
    }
    Ok(verified)
}

/// A k-of-n witness policy: at least `required` of `witnesses` must have cosigned a
/// checkpoint for it to count (reports' pins, `verify-receipt --witnesses-required`).
#[derive(Clone, Debug)]
pub struct WitnessPolicy {
    pub witnesses: Vec<CosignerKey>,
    pub required: usize,
}

impl WitnessPolicy {
    /// A policy of `required` among `witnesses`; refused when it cannot be met.
    pub fn new(witnesses: Vec<CosignerKey>, required: usize) -> Result<Self, CosignatureError> {
        let distinct = {
            let mut keys: Vec<String> = witnesses
                .iter()
                .map(CosignerKey::to_verifier_string)
                .collect();
            keys.sort();
            keys.dedup();
            keys.len()
        };
        if required == 0 || required > distinct {
            return Err(CosignatureError::InvalidPolicy {
                required,
                configured: distinct,
            });
        }
        Ok(Self {
            witnesses,
            required,
        })
    }

    /// The cosignatures of `note` that meet the policy.
    pub fn check(&self, note: &str) -> Result<Vec<Cosignature>, CosignatureError> {
        verify_cosignatures(note, &self.witnesses, self.required)
    }

    /// The witnesses' verifier keys, as recorded with their cosignatures.
    pub fn witness_strings(&self) -> Vec<String> {
        self.witnesses
            .iter()
            .map(CosignerKey::to_verifier_string)
            .collect()
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::as_conversions
)]
mod tests {
    use super::*;
    use crate::ledger::note::{open_note, SigningKey};

    // ---- Vectors from transparency-dev/formats note/note_cosigv1_test.go ----
    /// A real cosigner key of the public witness network (type 0x04).
    const REMORA_VKEY: &str =
        "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";
    /// A plain Ed25519 note key (type 0x01) the Go code converts to a cosigner key.
    const TEST_NOTE_VKEY: &str = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6";
    /// `TestCoSigV1Timestamp`: a cosignature whose timestamp is 1727964367.
    const TIMESTAMP_SIG_B64: &str = "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==";

    // ---- Example from C2SP tlog-cosignature.md ----
    const C2SP_COSIGNED: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
    const C2SP_BODY: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    const BODY: &str = "fundtrail/86807e3c-4ee6-4063-b922-5164384137b2\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\ntime 2026-11-22T04:58:05.251329Z\n";

    fn witness() -> Cosigner {
        Cosigner::generate("witness.example/w1").unwrap()
    }

    #[test]
    fn c2sp_signed_message_layout() {
        // tlog-cosignature.md, "Ed25519 signed message".
        assert_eq!(
            signed_message(C2SP_BODY, 1679315147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn c2sp_example_line_decodes_to_its_timestamp() {
        let (text, lines) = split_note(C2SP_COSIGNED).unwrap();
        assert_eq!(text, C2SP_BODY);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].key_id, 0x033de0ae);
        let w = &lines[1];
        assert_eq!(w.name, "witness.example.com/w1");
        assert_eq!(w.key_id, 0x8d66cf3f);
        assert_eq!(w.signature.len(), TIMESTAMPED_SIGNATURE_LEN);
        // The time of the spec's signed-message example.
        assert_eq!(
            u64::from_be_bytes(w.signature[..8].try_into().unwrap()),
            1679315147
        );
    }

    #[test]
    fn transparency_dev_timestamp_vector() {
        let raw = BASE64.decode(TIMESTAMP_SIG_B64).unwrap();
        assert_eq!(raw.len(), 4 + TIMESTAMPED_SIGNATURE_LEN);
        assert_eq!(
            u64::from_be_bytes(raw[4..12].try_into().unwrap()),
            1727964367
        );
    }

    #[test]
    fn transparency_dev_cosigner_key_parses_with_type_0x04_key_id() {
        let k = CosignerKey::from_verifier_string(REMORA_VKEY).unwrap();
        assert_eq!(k.name(), "remora.n621.de");
        assert_eq!(k.key_id(), 0xda77ade7);
        assert_eq!(cosigner_key_id(k.name(), &k.public_key_bytes()), 0xda77ade7);
        // The same key with type 0x01 would have another ID.
        assert_ne!(
            key_id_for(k.name(), ALG_ED25519, &k.public_key_bytes()),
            0xda77ade7
        );
        assert_eq!(k.to_verifier_string(), REMORA_VKEY);
    }

    #[test]
    fn note_key_converts_to_cosigner_key_and_is_refused_as_one() {
        let note_key = VerifierKey::from_verifier_string(TEST_NOTE_VKEY).unwrap();
        assert_eq!(
            CosignerKey::from_verifier_string(TEST_NOTE_VKEY),
            Err(CosignatureError::UnknownAlgorithm(0x01))
        );
        let k = CosignerKey::from_note_verifier(&note_key).unwrap();
        assert_eq!(k.public_key_bytes(), note_key.public_key_bytes());
        assert_ne!(k.key_id(), note_key.key_id());
        assert_eq!(
            k.key_id(),
            key_id_for("TEST", ALG_COSIGNATURE_V1, &k.public_key_bytes())
        );
        let s = k.to_verifier_string();
        assert!(s.starts_with(&format!("TEST+{:08x}+B", k.key_id())), "{s}");
        assert_eq!(CosignerKey::from_verifier_string(&s).unwrap(), k);
    }

    #[test]
    fn malformed_verifier_keys_refused() {
        let (name, rest) = REMORA_VKEY.split_once('+').unwrap();
        let (_, b64) = rest.split_once('+').unwrap();
        for (bad, want) in [
            (
                "remora.n621.de+da77ade7",
                CosignatureError::MalformedVerifierKey,
            ),
            (
                "remora.n621.de+00000000+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
                CosignatureError::KeyIdMismatch,
            ),
            (
                "remora.n621.de+da77ade7+THIS_IS_NOT_BASE64!",
                CosignatureError::MalformedVerifierKey,
            ),
            (
                "remora.n621.de+da77ade7+BAEB",
                CosignatureError::MalformedVerifierKey,
            ),
            ("+da77ade7+BAEB", CosignatureError::MalformedVerifierKey),
            (
                "remora.n621.de+da77ade+BAEB",
                CosignatureError::MalformedVerifierKey,
            ),
        ] {
            assert_eq!(CosignerKey::from_verifier_string(bad), Err(want), "{bad}");
        }
        let renamed = format!("remora.example+da77ade7+{b64}");
        assert_eq!(
            CosignerKey::from_verifier_string(&renamed),
            Err(CosignatureError::KeyIdMismatch)
        );
        assert_eq!(name, "remora.n621.de");
    }

    #[test]
    fn cosign_round_trip() {
        let w = witness();
        let line = w.cosign(BODY, 1_767_225_600).unwrap();
        assert!(line.starts_with("— witness.example/w1 "));
        assert!(line.ends_with('\n'));
        let raw = BASE64
            .decode(line.trim_end().rsplit(' ').next().unwrap())
            .unwrap();
        // key ID (type 0x04) || timestamp || signature.
        assert_eq!(raw.len(), 76);
        assert_eq!(raw[..4], w.key_id().to_be_bytes());
        assert_eq!(
            w.key_id(),
            key_id_for(
                w.name(),
                ALG_COSIGNATURE_V1,
                &w.verifier().public_key_bytes()
            )
        );
        assert_eq!(raw[4..12], 1_767_225_600u64.to_be_bytes());
        // The signature is plain Ed25519 over the cosignature/v1 message.
        let sig = ed25519_dalek::Signature::from_slice(&raw[12..]).unwrap();
        w.key
            .verifying_key()
            .verify(signed_message(BODY, 1_767_225_600).as_bytes(), &sig)
            .unwrap();

        let log = SigningKey::generate("fundtrail").unwrap();
        let note = format!("{}{line}", log.sign_note(BODY).unwrap());
        let got = verify_cosignatures(&note, &[w.verifier()], 1).unwrap();
        assert_eq!(
            got,
            vec![Cosignature {
                name: "witness.example/w1".into(),
                key_id: w.key_id(),
                timestamp: 1_767_225_600
            }]
        );
        // The log's own verification ignores the cosignature (another key ID).
        let opened = open_note(&note, &[log.verifier()]).unwrap();
        assert_eq!(opened.text(), BODY);
        assert_eq!(opened.unverified().len(), 1);
    }

    #[test]
    fn keys_round_trip_through_their_strings() {
        let w = witness();
        let again = Cosigner::from_signer_string(&w.to_signer_string()).unwrap();
        assert_eq!(again.verifier(), w.verifier());
        assert!(w.to_signer_string().starts_with(&format!(
            "PRIVATE+KEY+witness.example/w1+{:08x}+B",
            w.key_id()
        )));
        let v = CosignerKey::from_verifier_string(&w.verifier().to_verifier_string()).unwrap();
        assert_eq!(v, w.verifier());
        assert!(!format!("{w:?}").contains(&w.to_signer_string()));
    }

    #[test]
    fn fundtrail_keygen_file_signs_with_the_cosigner_key_id() {
        let note_key = SigningKey::generate("donor.example/witness").unwrap();
        let w = Cosigner::from_signer_string(&note_key.to_signer_string()).unwrap();
        assert_ne!(w.key_id(), note_key.key_id());
        assert_eq!(
            w.verifier(),
            CosignerKey::from_note_verifier(&note_key.verifier()).unwrap()
        );
        // A wrong key ID in the file is refused.
        let bad = note_key
            .to_signer_string()
            .replace(&format!("{:08x}", note_key.key_id()), "00000000");
        assert_eq!(
            Cosigner::from_signer_string(&bad).map(|c| c.key_id()),
            Err(CosignatureError::KeyIdMismatch)
        );
    }

    #[test]
    fn wrong_key_is_not_enough_and_same_id_wrong_key_is_invalid() {
        let w = witness();
        let other = witness();
        let line = w.cosign(BODY, 1).unwrap();
        let note = format!(
            "{}{line}",
            SigningKey::generate("log")
                .unwrap()
                .sign_note(BODY)
                .unwrap()
        );
        assert_eq!(
            verify_cosignatures(&note, &[other.verifier()], 1),
            Err(CosignatureError::NotEnoughCosignatures {
                required: 1,
                verified: 0
            })
        );
        // A key that claims the witness's name and key ID but is another key.
        let imposter = CosignerKey {
            name: w.name.clone(),
            key_id: w.key_id,
            key: other.verifier().key,
        };
        assert_eq!(
            verify_cosignatures(&note, &[imposter], 1),
            Err(CosignatureError::InvalidCosignature {
                name: w.name.clone(),
                key_id: w.key_id
            })
        );
        // A plain Ed25519 verifier of the witness's key does not accept the line either:
        // the note signature over the body is not what a cosignature signs.
        let as_note_key =
            VerifierKey::from_public_key(w.name(), w.verifier().public_key_bytes()).unwrap();
        assert!(open_note(&note, &[as_note_key]).is_err());
    }

    #[test]
    fn tampered_timestamp_or_body_fails() {
        let w = witness();
        let line = w.cosign(BODY, 1_767_225_600).unwrap();
        let b64 = line.trim_end().rsplit(' ').next().unwrap();
        let mut raw = BASE64.decode(b64).unwrap();
        raw[11] ^= 1; // last byte of the timestamp
        let tampered_line = format!("— {} {}\n", w.name(), BASE64.encode(&raw));
        let invalid = Err(CosignatureError::InvalidCosignature {
            name: w.name().to_owned(),
            key_id: w.key_id(),
        });
        let note = |body: &str, line: &str| format!("{body}\n{line}");
        assert_eq!(
            verify_cosignatures(&note(BODY, &tampered_line), &[w.verifier()], 1),
            invalid
        );
        let other_body = BODY.replace("\n3\n", "\n4\n");
        assert_eq!(
            verify_cosignatures(&note(&other_body, &line), &[w.verifier()], 1),
            invalid
        );
        // An extension line is covered too.
        let other_time = BODY.replace("04:58:05", "04:58:06");
        assert_eq!(
            verify_cosignatures(&note(&other_time, &line), &[w.verifier()], 1),
            invalid
        );
        // Timestamp above 2^63 - 1: refused when signing and when verifying.
        assert_eq!(
            w.cosign(BODY, MAX_TIMESTAMP + 1),
            Err(CosignatureError::TimestampOutOfRange(MAX_TIMESTAMP + 1))
        );
        assert!(w.cosign(BODY, MAX_TIMESTAMP).is_ok());
    }

    #[test]
    fn k_of_n_policy() {
        let ws: Vec<Cosigner> = (0..3).map(|_| witness()).collect();
        let keys: Vec<CosignerKey> = ws.iter().map(Cosigner::verifier).collect();
        let log = SigningKey::generate("fundtrail").unwrap();
        let mut note = log.sign_note(BODY).unwrap();
        note.push_str(&ws[0].cosign(BODY, 10).unwrap());
        note.push_str(&ws[2].cosign(BODY, 12).unwrap());
        // Unknown cosigner lines are ignored.
        note.push_str(&witness().cosign(BODY, 11).unwrap());
        let got = verify_cosignatures(&note, &keys, 2).unwrap();
        assert_eq!(
            got.iter().map(|c| c.timestamp).collect::<Vec<_>>(),
            vec![10, 12]
        );
        assert_eq!(
            verify_cosignatures(&note, &keys, 3),
            Err(CosignatureError::NotEnoughCosignatures {
                required: 3,
                verified: 2
            })
        );
        // A witness listed twice counts once.
        let doubled = vec![keys[0].clone(), keys[0].clone()];
        assert_eq!(
            verify_cosignatures(&note, &doubled, 2),
            Err(CosignatureError::InvalidPolicy {
                required: 2,
                configured: 1
            })
        );
        assert_eq!(
            verify_cosignatures(&note, &keys, 0),
            Err(CosignatureError::InvalidPolicy {
                required: 0,
                configured: 3
            })
        );
    }

    #[test]
    fn only_checkpoints_are_cosigned() {
        let w = witness();
        assert_eq!(
            w.cosign("hello\n", 1),
            Err(CosignatureError::Checkpoint(NoteError::CheckpointTooShort))
        );
        assert!(matches!(
            w.cosign(BODY.trim_end(), 1),
            Err(CosignatureError::Checkpoint(_))
        ));
    }

    #[test]
    fn malformed_notes_refused() {
        let w = witness();
        let line = w.cosign(BODY, 1).unwrap();
        let keys = [w.verifier()];
        for bad in [
            format!("{BODY}{line}"),                       // no blank line
            format!("{BODY}\n{}", line.trim_end()),        // no final newline
            format!("{BODY}\n{}", line.replace('—', "-")), // hyphen, not em dash
            format!("{BODY}\n{line}\r\n"),                 // control character
            format!("{BODY}\n— {} AAAA\n", w.name()),      // key ID only
        ] {
            assert!(
                matches!(
                    verify_cosignatures(&bad, &keys, 1),
                    Err(CosignatureError::MalformedNote(_))
                ),
                "{bad:?}"
            );
        }
    }
}
