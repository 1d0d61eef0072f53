//! C2SP signed notes and transparency-log checkpoints.
//!
//! This module implements
//!
//! * the signed-note format of <https://c2sp.org/signed-note> with Ed25519
//!   keys (signature type `0x01`), wire-compatible with Go's
//!   `golang.org/x/mod/sumdb/note` package and the transparency-dev tooling;
//! * the checkpoint note body of <https://c2sp.org/tlog-checkpoint>.
//!
//! # Signed note format
//!
//! ```text
//! <note text, one or more lines, each ending in "\n">
//! <blank line>
//! — <key name> <base64(4-byte big-endian key ID || signature)>
//! — ...
//! ```
//!
//! The signed message is exactly the note text, including its final newline
//! but excluding the separating blank line. The text is separated from the
//! signatures by the *last* blank line, so the text itself may contain blank
//! lines. The whole note must be valid UTF-8 and must not contain ASCII
//! control characters other than newline.
//!
//! # Keys
//!
//! * Key names are non-empty and contain neither Unicode white space nor `+`.
//! * Key ID = first four bytes (big-endian `u32`) of
//!   `SHA-256(name || 0x0A || 0x01 || 32-byte Ed25519 public key)`.
//! * Verifier key string: `<name>+<8 hex digits key ID>+<base64(0x01 || public key)>`.
//! * Signer key string:
//!   `PRIVATE+KEY+<name>+<8 hex digits key ID>+<base64(0x01 || 32-byte seed)>`.
//!
//! # Verification semantics
//!
//! [`open_note`] follows C2SP signed-note: signatures are looked up by the
//! pair (key name, key ID). Signatures from unknown keys are kept, unverified,
//! in [`OpenedNote::unverified`]. **Every** signature line from a known key is
//! verified, and one that fails rejects the whole note (a known key vouching
//! for the text once and against it once is not a signature). If no known key
//! signed the note, the note is rejected. A verifier key given twice is one
//! key; two different keys under one (name, key ID) are ambiguous. At most
//! [`MAX_SIGNATURES`] signature lines are accepted.
//!
//! Two deliberate differences from Go's `note.Open`, which checks only the
//! first line per known key: every line is checked (above), and base64 is
//! decoded strictly (canonical padding *and* zero trailing bits), so
//! non-canonical encodings of an otherwise valid signature are rejected as
//! malformed. Every conforming encoder (including Go's) only produces
//! canonical base64.

use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, Verifier as _};
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};

/// Signature type identifier for Ed25519 in C2SP signed notes.
const ALG_ED25519: u8 = 0x01;

/// Prefix of every signature line: em dash (U+2014) followed by a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Prefix of the encoded signer (private) key.
const SIGNER_PREFIX: &str = "PRIVATE+KEY+";

/// Maximum number of signature lines accepted by [`open_note`] (same limit as
/// Go's `note.Open`; C2SP requires accepting at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Errors produced while handling keys, signed notes and checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A key name is empty or contains white space or `+`.
    #[error("invalid key name: must be non-empty without white space or '+'")]
    InvalidKeyName,
    /// A verifier key string is not `<name>+<hex8>+<base64>` or has a bad key length.
    #[error("malformed verifier key")]
    MalformedVerifierKey,
    /// A signer key string is not `PRIVATE+KEY+<name>+<hex8>+<base64>` or has a bad seed length.
    #[error("malformed signer key")]
    MalformedSignerKey,
    /// The key ID in a key string does not match its name and public key.
    #[error("key ID does not match key name and public key")]
    KeyIdMismatch,
    /// The key uses a signature type other than Ed25519 (0x01).
    #[error("unsupported signature algorithm {0:#04x}")]
    UnknownAlgorithm(u8),
    /// The 32 public key bytes are not a valid Ed25519 point.
    #[error("invalid Ed25519 public key")]
    InvalidPublicKey,
    /// The operating system random number generator failed.
    #[error("random number generator failure")]
    Rng,
    /// The note is not valid UTF-8.
    #[error("malformed note: not valid UTF-8")]
    NotUtf8,
    /// The note contains an ASCII control character other than newline.
    #[error("malformed note: control character other than newline")]
    ControlCharacter,
    /// The note text, or the signature block, does not end with a newline.
    #[error("malformed note: missing final newline")]
    MissingFinalNewline,
    /// No blank line separating text and signatures, or no signature lines.
    #[error("malformed note: missing signature block")]
    MissingSignatures,
    /// A signature line is not `— <name> <base64(key ID || signature)>`.
    #[error("malformed note: malformed signature line")]
    MalformedSignatureLine,
    /// The note has more than [`MAX_SIGNATURES`] signature lines.
    #[error("malformed note: more than {} signatures", MAX_SIGNATURES)]
    TooManySignatures,
    /// Two different verifier keys share one name and key ID: a signature line
    /// (which names only these two) cannot tell them apart.
    #[error(
        "ambiguous key {name}+{key_id:08x}: two different public keys share this name and key ID"
    )]
    AmbiguousVerifier {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: u32,
    },
    /// A signature from a known key failed to verify.
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: u32,
    },
    /// The note is well formed but no known key signed it.
    #[error("note has no verifiable signatures")]
    NoVerifiedSignature,
    /// The checkpoint body has fewer than three lines.
    #[error("malformed checkpoint: fewer than three lines")]
    CheckpointTooShort,
    /// The checkpoint origin line is empty or contains control characters.
    #[error("malformed checkpoint: invalid origin")]
    InvalidOrigin,
    /// The tree size is not a canonical decimal `u64`.
    #[error("malformed checkpoint: invalid tree size")]
    InvalidTreeSize,
    /// The root hash is not standard padded base64 of exactly 32 bytes.
    #[error("malformed checkpoint: invalid root hash")]
    InvalidRootHash,
    /// An extension line is empty or contains control characters.
    #[error("malformed checkpoint: invalid extension line")]
    InvalidExtension,
    /// The checkpoint origin differs from the expected one.
    #[error("checkpoint origin {found:?} does not match expected origin {expected:?}")]
    OriginMismatch {
        /// Origin the caller expected.
        expected: String,
        /// Origin found in the checkpoint.
        found: String,
    },
}

/// Reports whether `name` is a valid key name: non-empty, no Unicode white
/// space (Go's `unicode.IsSpace`, i.e. the `White_Space` property) and no `+`.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// Computes the C2SP key ID: the first four bytes, big-endian, of
/// `SHA-256(name || "\n" || encoded_key)` where `encoded_key` is the
/// signature type byte followed by the public key.
fn key_id_for(name: &str, encoded_key: &[u8]) -> u32 {
    let digest: [u8; 32] = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update(encoded_key)
        .finalize()
        .into();
    let [a, b, c, d, ..] = digest;
    u32::from_be_bytes([a, b, c, d])
}

fn ed25519_key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut encoded = [0u8; 33];
    let (alg, rest) = encoded.split_at_mut(1);
    alg.fill(ALG_ED25519);
    rest.copy_from_slice(public_key);
    key_id_for(name, &encoded)
}

/// `0x01 || key` base64-encoded, as used in both key string formats.
fn encode_key_data(key: &[u8; 32]) -> String {
    let mut encoded = Vec::with_capacity(33);
    encoded.push(ALG_ED25519);
    encoded.extend_from_slice(key);
    BASE64.encode(encoded)
}

/// Splits `s` at the first `sep`; without `sep` returns `(s, "")` (Go's `chop`).
fn chop(s: &str, sep: char) -> (&str, &str) {
    s.split_once(sep).unwrap_or((s, ""))
}

/// Parses exactly eight hexadecimal digits (either case) as a `u32`.
fn parse_hex8(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Rejects ASCII control characters other than newline.
fn check_no_control_chars(s: &str) -> Result<(), NoteError> {
    if s.chars().any(|c| c < ' ' && c != '\n') {
        return Err(NoteError::ControlCharacter);
    }
    Ok(())
}

/// An Ed25519 note signing key together with its key name.
///
/// Its persistent form is the signer key string returned by
/// [`SigningKey::to_signer_string`]; that string is the on-disk key file
/// format and is secret.
#[derive(Clone)]
pub struct SigningKey {
    name: String,
    key_id: u32,
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh Ed25519 key for `name` using the OS random number
    /// generator.
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let mut seed = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut seed)
            .map_err(|_| NoteError::Rng)?;
        Ok(Self::from_seed(name.to_owned(), &seed))
    }

    fn from_seed(name: String, seed: &[u8; 32]) -> Self {
        let key = ed25519_dalek::SigningKey::from_bytes(seed);
        let key_id = ed25519_key_id(&name, key.verifying_key().as_bytes());
        Self { name, key_id, key }
    }

    /// Parses a signer key string
    /// `PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x01 || 32-byte seed)>`.
    ///
    /// This is the on-disk key file format. The input must be exactly the key
    /// string: trim any trailing newline read from a file first. The key ID is
    /// checked against the public key derived from the seed.
    pub fn from_signer_string(s: &str) -> Result<Self, NoteError> {
        let rest = s
            .strip_prefix(SIGNER_PREFIX)
            .ok_or(NoteError::MalformedSignerKey)?;
        let (name, rest) = chop(rest, '+');
        let (hash16, key64) = chop(rest, '+');
        let claimed_id = parse_hex8(hash16).ok_or(NoteError::MalformedSignerKey)?;
        if !is_valid_name(name) {
            return Err(NoteError::MalformedSignerKey);
        }
        let data = BASE64
            .decode(key64)
            .map_err(|_| NoteError::MalformedSignerKey)?;
        let (&alg, seed) = data.split_first().ok_or(NoteError::MalformedSignerKey)?;
        if alg != ALG_ED25519 {
            return Err(NoteError::UnknownAlgorithm(alg));
        }
        let seed: &[u8; 32] = seed.try_into().map_err(|_| NoteError::MalformedSignerKey)?;
        let key = Self::from_seed(name.to_owned(), seed);
        if key.key_id != claimed_id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(key)
    }

    /// Encodes the key as
    /// `PRIVATE+KEY+<name>+<hex8 key ID>+<base64(0x01 || 32-byte seed)>`.
    ///
    /// This is the on-disk key file format (identical to Go's
    /// `note.GenerateKey` output). It contains the private key: store it with
    /// restrictive permissions and never log it.
    pub fn to_signer_string(&self) -> String {
        format!(
            "{SIGNER_PREFIX}{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key_data(&self.key.to_bytes())
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching public verifier key.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text` and returns the complete signed note:
    /// `text || "\n" || "— <name> <base64(key ID || signature)>\n"`.
    ///
    /// `text` must end with a newline and must not contain control characters
    /// other than newline.
    pub fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') {
            return Err(NoteError::MissingFinalNewline);
        }
        check_no_control_chars(text)?;
        let signature = self.key.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(68);
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(raw)
        ))
    }
}

/// A public Ed25519 note verifier key together with its key name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl VerifierKey {
    /// Builds a verifier key from a name and a raw 32-byte Ed25519 public key
    /// (Go's `note.NewEd25519VerifierKey`).
    pub fn from_public_key(name: &str, public_key: [u8; 32]) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public_key)
            .map_err(|_| NoteError::InvalidPublicKey)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: ed25519_key_id(name, &public_key),
            key,
        })
    }

    /// Parses a verifier key string `<name>+<hex8 key ID>+<base64(0x01 || public key)>`.
    pub fn from_verifier_string(s: &str) -> Result<Self, NoteError> {
        let (name, rest) = chop(s, '+');
        let (hash16, key64) = chop(rest, '+');
        let claimed_id = parse_hex8(hash16).ok_or(NoteError::MalformedVerifierKey)?;
        if !is_valid_name(name) {
            return Err(NoteError::MalformedVerifierKey);
        }
        let data = BASE64
            .decode(key64)
            .map_err(|_| NoteError::MalformedVerifierKey)?;
        if data.is_empty() {
            return Err(NoteError::MalformedVerifierKey);
        }
        // As in Go, the key ID covers the algorithm byte and is checked first.
        if key_id_for(name, &data) != claimed_id {
            return Err(NoteError::KeyIdMismatch);
        }
        let (&alg, public_key) = data.split_first().ok_or(NoteError::MalformedVerifierKey)?;
        if alg != ALG_ED25519 {
            return Err(NoteError::UnknownAlgorithm(alg));
        }
        let public_key: &[u8; 32] = public_key
            .try_into()
            .map_err(|_| NoteError::MalformedVerifierKey)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(public_key)
            .map_err(|_| NoteError::InvalidPublicKey)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: claimed_id,
            key,
        })
    }

    /// Encodes the key as `<name>+<hex8 key ID>+<base64(0x01 || public key)>`.
    pub fn to_verifier_string(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key_data(self.key.as_bytes())
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 32-bit key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Verifies a raw signature (without the key ID prefix) over `msg`.
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match ed25519_dalek::Signature::from_slice(sig) {
            Ok(sig) => self.key.verify(msg, &sig).is_ok(),
            Err(_) => false,
        }
    }
}

/// One signature line of a note, verified or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name from the signature line.
    pub name: String,
    /// Key ID (first four bytes of the decoded signature field).
    pub key_id: u32,
    /// The base64 signature field exactly as it appeared on the line
    /// (`base64(key ID || signature)`), so it can be re-emitted verbatim.
    pub base64: String,
}

/// A successfully opened note: its text and its signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedNote {
    text: String,
    verified: Vec<NoteSignature>,
    unverified: Vec<NoteSignature>,
}

impl OpenedNote {
    /// The note text (everything before the separating blank line, including
    /// the final newline).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Consumes the note and returns its text.
    pub fn into_text(self) -> String {
        self.text
    }

    /// Signatures by known keys, all of which verified (never empty).
    pub fn verified(&self) -> &[NoteSignature] {
        &self.verified
    }

    /// Signatures by unknown keys, preserved but not verified.
    pub fn unverified(&self) -> &[NoteSignature] {
        &self.unverified
    }
}

/// Like [`open_note`], for raw bytes; rejects input that is not valid UTF-8.
pub fn open_note_bytes(signed: &[u8], verifiers: &[VerifierKey]) -> Result<OpenedNote, NoteError> {
    let signed = std::str::from_utf8(signed).map_err(|_| NoteError::NotUtf8)?;
    open_note(signed, verifiers)
}

/// Parses a signed note and verifies its signatures against `verifiers`
/// (C2SP signed-note).
///
/// * Signatures whose (name, key ID) matches no verifier are returned
///   unverified.
/// * Every signature line from a known key is verified, repeated lines
///   included; any that fails yields [`NoteError::InvalidSignature`].
/// * Two verifiers with the same (name, key ID) but different public keys
///   yield [`NoteError::AmbiguousVerifier`] if a signature refers to them; the
///   same key given twice is one key.
/// * If no known key signed the note, [`NoteError::NoVerifiedSignature`].
/// * Several signatures by one known key, and repeated identical unknown
///   signature lines, are reported once.
pub fn open_note(signed: &str, verifiers: &[VerifierKey]) -> Result<OpenedNote, NoteError> {
    check_no_control_chars(signed)?;

    let split = signed.rfind("\n\n").ok_or(NoteError::MissingSignatures)?;
    let (text, rest) = signed.split_at(split.saturating_add(1));
    let sigs = rest
        .strip_prefix('\n')
        .ok_or(NoteError::MissingSignatures)?;
    if sigs.is_empty() {
        return Err(NoteError::MissingSignatures);
    }
    let Some(sigs) = sigs.strip_suffix('\n') else {
        return Err(NoteError::MissingFinalNewline);
    };

    let mut verified = Vec::new();
    let mut unverified = Vec::new();
    let mut seen_known: HashSet<(&str, u32)> = HashSet::new();
    let mut seen_unknown: HashSet<&str> = HashSet::new();

    for (count, line) in sigs.split('\n').enumerate() {
        let body = line
            .strip_prefix(SIG_PREFIX)
            .ok_or(NoteError::MalformedSignatureLine)?;
        let (name, b64) = chop(body, ' ');
        if !is_valid_name(name) || b64.is_empty() {
            return Err(NoteError::MalformedSignatureLine);
        }
        let raw = BASE64
            .decode(b64)
            .map_err(|_| NoteError::MalformedSignatureLine)?;
        let (id_bytes, sig) = raw
            .split_first_chunk::<4>()
            .ok_or(NoteError::MalformedSignatureLine)?;
        if sig.is_empty() {
            return Err(NoteError::MalformedSignatureLine);
        }
        let key_id = u32::from_be_bytes(*id_bytes);

        if count >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }

        let entry = NoteSignature {
            name: name.to_owned(),
            key_id,
            base64: b64.to_owned(),
        };
        let mut matches = verifiers
            .iter()
            .filter(|v| v.name == name && v.key_id == key_id);
        let Some(verifier) = matches.next() else {
            if seen_unknown.insert(body) {
                unverified.push(entry);
            }
            continue;
        };
        if matches.any(|other| other.key != verifier.key) {
            return Err(NoteError::AmbiguousVerifier {
                name: name.to_owned(),
                key_id,
            });
        }
        // Every line by a known key is checked, not only its first one.
        if !verifier.verify(text.as_bytes(), sig) {
            return Err(NoteError::InvalidSignature {
                name: name.to_owned(),
                key_id,
            });
        }
        if seen_known.insert((name, key_id)) {
            verified.push(entry);
        }
    }

    if verified.is_empty() {
        return Err(NoteError::NoVerifiedSignature);
    }
    Ok(OpenedNote {
        text: text.to_owned(),
        verified,
        unverified,
    })
}

/// The keys of a key file as a set: a key listed twice (same name, key ID and
/// public key) is one key. Two different public keys under one name and key ID
/// are refused ([`NoteError::AmbiguousVerifier`]): a signature line names only
/// the pair, so no verifier could tell which of the two it claims.
pub fn distinct_keys(keys: Vec<VerifierKey>) -> Result<Vec<VerifierKey>, NoteError> {
    let mut distinct: Vec<VerifierKey> = Vec::with_capacity(keys.len());
    for key in keys {
        match distinct
            .iter()
            .find(|k| k.name == key.name && k.key_id == key.key_id)
        {
            Some(known) if known.key == key.key => {}
            Some(_) => {
                return Err(NoteError::AmbiguousVerifier {
                    name: key.name,
                    key_id: key.key_id,
                })
            }
            None => distinct.push(key),
        }
    }
    Ok(distinct)
}

/// A C2SP tlog checkpoint body (<https://c2sp.org/tlog-checkpoint>).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Log identity (first line); non-empty.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 6962 Merkle tree root hash at `size`.
    pub root: [u8; 32],
    /// Optional opaque extension lines; each non-empty.
    pub extensions: Vec<String>,
}

fn is_valid_line(line: &str) -> bool {
    !line.is_empty() && !line.chars().any(|c| c < ' ')
}

/// Parses a canonical decimal tree size: digits only, no sign, no leading
/// zeros except for `0` itself.
fn parse_tree_size(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

impl Checkpoint {
    /// Encodes the checkpoint as note text:
    /// `origin\nsize\nbase64(root)\n` followed by `extension\n` per extension.
    ///
    /// Fails if the origin or an extension line is empty or contains a
    /// control character (including newline).
    pub fn to_note_text(&self) -> Result<String, NoteError> {
        if !is_valid_line(&self.origin) {
            return Err(NoteError::InvalidOrigin);
        }
        if !self.extensions.iter().all(|e| is_valid_line(e)) {
            return Err(NoteError::InvalidExtension);
        }
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for extension in &self.extensions {
            text.push_str(extension);
            text.push('\n');
        }
        Ok(text)
    }

    /// Parses checkpoint note text (as returned by [`OpenedNote::text`]).
    ///
    /// Requires: final newline; at least three lines; non-empty origin; tree
    /// size in canonical decimal; root hash as standard padded base64 of 32
    /// bytes; every extension line non-empty.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        check_no_control_chars(text)?;
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::MissingFinalNewline)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(NoteError::CheckpointTooShort);
        };
        if origin.is_empty() {
            return Err(NoteError::InvalidOrigin);
        }
        let size = parse_tree_size(size).ok_or(NoteError::InvalidTreeSize)?;
        let root: [u8; 32] = BASE64
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(NoteError::InvalidRootHash)?;
        let extensions = lines
            .map(|line| {
                if line.is_empty() {
                    Err(NoteError::InvalidExtension)
                } else {
                    Ok(line.to_owned())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// Encodes `checkpoint` and signs it with `key`, returning the signed note.
pub fn sign_checkpoint(key: &SigningKey, checkpoint: &Checkpoint) -> Result<String, NoteError> {
    key.sign_note(&checkpoint.to_note_text()?)
}

/// Opens a signed checkpoint that must carry a valid signature by `verifier`
/// (other signatures are ignored) and parses its body.
///
/// If `expected_origin` is `Some`, the checkpoint origin must equal it
/// exactly ([`NoteError::OriginMismatch`] otherwise). Pass `None` only when
/// the verifier key alone identifies the log. The key name is not required
/// to equal the origin (e.g. `sum.golang.org` signs `go.sum database tree`).
pub fn verify_checkpoint(
    signed: &str,
    verifier: &VerifierKey,
    expected_origin: Option<&str>,
) -> Result<Checkpoint, NoteError> {
    let note = open_note(signed, std::slice::from_ref(verifier))?;
    let checkpoint = Checkpoint::parse(note.text())?;
    if let Some(expected) = expected_origin {
        if checkpoint.origin != expected {
            return Err(NoteError::OriginMismatch {
                expected: expected.to_owned(),
                found: checkpoint.origin,
            });
        }
    }
    Ok(checkpoint)
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

    // ---- Vectors from golang/mod sumdb/note/note_test.go (and note.go docs) ----
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
    const PETER_B64: &str = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";
    const ENOCH_B64: &str = "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=";

    // ---- Vectors from transparency-dev/formats log/note_test.go ----
    const TD_KEYS: [(&str, &str); 4] = [
        (
            "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs",
            "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
        ),
        (
            "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH",
            "PRIVATE+KEY+Known+451c786d+AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci",
        ),
        (
            "KnownAgain+4893b26c+AQ+LR7BFF/F/dkpIBjBpSvT0crkteizuUkavAoGeaYMj",
            "PRIVATE+KEY+KnownAgain+4893b26c+ARhZda/l25zjGZswYLDZsLNRzNpmv5wYTN9IoTr1OJ2+",
        ),
        (
            "Unknown+fdbb2e08+AWgRIYZ+8x1Vl+1Q+sR8zciNHiYI1SdlBjNw+RV0rots",
            "PRIVATE+KEY+Unknown+fdbb2e08+Aav2knTC6orbhXX8pMWuNiWgO+Wwk2DB+h1eU2Q1W1nU",
        ),
    ];
    const SUMDB_VKEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
    const SUMDB_CHECKPOINT: &str = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";

    // ---- Examples from C2SP signed-note.md and tlog-checkpoint.md ----
    const C2SP_NOTE: &str = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    const C2SP_CHECKPOINT: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

    fn peter() -> VerifierKey {
        VerifierKey::from_verifier_string(PETER_VKEY).unwrap()
    }
    fn enoch() -> VerifierKey {
        VerifierKey::from_verifier_string(ENOCH_VKEY).unwrap()
    }
    fn peter_signer() -> SigningKey {
        SigningKey::from_signer_string(PETER_SKEY).unwrap()
    }
    fn sig(name: &str, key_id: u32, b64: &str) -> NoteSignature {
        NoteSignature {
            name: name.into(),
            key_id,
            base64: b64.into(),
        }
    }

    #[test]
    fn go_verifier_key_parses_and_round_trips() {
        let v = peter();
        assert_eq!(v.name(), "PeterNeumann");
        assert_eq!(v.key_id(), 0xc74f20a3);
        assert_eq!(v.to_verifier_string(), PETER_VKEY);
        assert_eq!(
            ed25519_key_id("PeterNeumann", &v.public_key_bytes()),
            0xc74f20a3
        );
        let again = VerifierKey::from_public_key("PeterNeumann", v.public_key_bytes()).unwrap();
        assert_eq!(again, v);
        assert_eq!(enoch().key_id(), 0xaf0cfe78);
        assert_eq!(enoch().to_verifier_string(), ENOCH_VKEY);
    }

    #[test]
    fn go_verifier_key_manglings_rejected() {
        // Mirrors TestNewVerifier: every proper substring and every
        // single-byte increment must be rejected.
        let b = PETER_VKEY.as_bytes().to_vec();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i != 0 || j != b.len() {
                    let s = std::str::from_utf8(&b[i..j]).unwrap();
                    assert!(VerifierKey::from_verifier_string(s).is_err(), "{s:?}");
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.clone();
            m[i] += 1;
            let s = std::str::from_utf8(&m).unwrap();
            assert!(VerifierKey::from_verifier_string(s).is_err(), "{s:?}");
        }
        // Wrong length key, with adjusted key hash.
        assert_eq!(
            VerifierKey::from_verifier_string(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            ),
            Err(NoteError::MalformedVerifierKey)
        );
        // Unknown algorithm, with adjusted key hash.
        assert_eq!(
            VerifierKey::from_verifier_string(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteError::UnknownAlgorithm(0x65))
        );
        // Wrong key ID.
        assert_eq!(
            VerifierKey::from_verifier_string(
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteError::KeyIdMismatch)
        );
        // Key ID with seven hex digits.
        assert_eq!(
            VerifierKey::from_verifier_string(
                "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteError::MalformedVerifierKey)
        );
    }

    #[test]
    fn go_signer_key_parses_and_round_trips() {
        let s = peter_signer();
        assert_eq!(s.name(), "PeterNeumann");
        assert_eq!(s.key_id(), 0xc74f20a3);
        assert_eq!(s.to_signer_string(), PETER_SKEY);
        assert_eq!(s.verifier(), peter());
        assert!(!format!("{s:?}").contains("AYEKFALV"));
    }

    #[test]
    fn go_signer_key_manglings_rejected() {
        let b = PETER_SKEY.as_bytes().to_vec();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i == 0 && j == b.len() {
                    continue;
                }
                let s = std::str::from_utf8(&b[i..j]).unwrap();
                assert!(SigningKey::from_signer_string(s).is_err(), "{s:?}");
            }
        }
        for i in 0..b.len() {
            let mut m = b.clone();
            m[i] += 1;
            let s = std::str::from_utf8(&m).unwrap();
            assert!(SigningKey::from_signer_string(s).is_err(), "{s:?}");
        }
        assert_eq!(
            SigningKey::from_signer_string(
                "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
            )
            .map(|k| k.key_id()),
            Err(NoteError::KeyIdMismatch)
        );
    }

    #[test]
    fn transparency_dev_key_pairs_match() {
        for (vkey, skey) in TD_KEYS {
            let s = SigningKey::from_signer_string(skey).unwrap();
            let v = VerifierKey::from_verifier_string(vkey).unwrap();
            assert_eq!(s.verifier(), v);
            assert_eq!(s.to_signer_string(), skey);
            assert_eq!(v.to_verifier_string(), vkey);
        }
    }

    #[test]
    fn go_sign_known_answer() {
        let want = format!("{TEXT}\n{PETER_SIG}");
        assert_eq!(peter_signer().sign_note(TEXT).unwrap(), want);
    }

    #[test]
    fn go_open_one_verified_one_unverified() {
        let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let n = open_note(&msg, &[peter()]).unwrap();
        assert_eq!(n.text(), TEXT);
        assert_eq!(n.verified(), &[sig("PeterNeumann", 0xc74f20a3, PETER_B64)]);
        assert_eq!(n.unverified(), &[sig("EnochRoot", 0xaf0cfe78, ENOCH_B64)]);
    }

    #[test]
    fn go_open_both_verified() {
        let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let n = open_note(&msg, &[peter(), enoch()]).unwrap();
        assert_eq!(
            n.verified(),
            &[
                sig("PeterNeumann", 0xc74f20a3, PETER_B64),
                sig("EnochRoot", 0xaf0cfe78, ENOCH_B64)
            ]
        );
        assert!(n.unverified().is_empty());
        // Enoch alone also verifies its own signature.
        let n = open_note(&msg, &[enoch()]).unwrap();
        assert_eq!(n.verified(), &[sig("EnochRoot", 0xaf0cfe78, ENOCH_B64)]);
    }

    #[test]
    fn go_open_unverified_and_ambiguous() {
        let msg = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        assert_eq!(open_note(&msg, &[]), Err(NoteError::NoVerifiedSignature));

        // One key given twice is one key.
        let msg = format!("{TEXT}\n{ENOCH_SIG}");
        let n = open_note(&msg, &[enoch(), peter(), enoch()]).unwrap();
        assert_eq!(n.verified(), &[sig("EnochRoot", 0xaf0cfe78, ENOCH_B64)]);
    }

    // Two valid keys found by a birthday search: same name, same key ID, different
    // public keys.
    const COLLIDING: [&str; 2] = [
        "fundtrail+9f21edd1+AT75mNGBhj4lK1NPedcJ7KOjlCiHWQrVtmAhsDIszfV7",
        "fundtrail+9f21edd1+AZrjSmFkJnKvnVxZyF7nM9+mBQe+GvR4juB0LSicvs/s",
    ];

    #[test]
    fn a_key_listed_twice_is_one_key_and_a_collision_is_refused() {
        let keys = distinct_keys(vec![peter(), enoch(), peter(), enoch()]).unwrap();
        assert_eq!(keys, vec![peter(), enoch()]);
        let [a, b] = COLLIDING.map(|k| VerifierKey::from_verifier_string(k).unwrap());
        assert_eq!((a.name(), a.key_id()), (b.name(), b.key_id()));
        assert_ne!(a.public_key_bytes(), b.public_key_bytes());
        let collision = NoteError::AmbiguousVerifier {
            name: "fundtrail".into(),
            key_id: 0x9f21edd1,
        };
        assert_eq!(
            distinct_keys(vec![a.clone(), peter(), b.clone()]),
            Err(collision.clone())
        );
        // Handed to open_note anyway, a line naming the pair is ambiguous.
        let mut raw = BASE64.decode(PETER_B64).unwrap();
        raw[..4].copy_from_slice(&0x9f21edd1u32.to_be_bytes());
        let msg = format!("{TEXT}\n— fundtrail {}\n", BASE64.encode(raw));
        assert_eq!(open_note(&msg, &[a, b]), Err(collision));
    }

    /// A second valid signature by PeterNeumann over TEXT (Ed25519 with another nonce,
    /// made with the signer in tools/independent-verifier/make_vectors.py).
    const PETER_SIG_2: &str = "— PeterNeumann x08goxqwm+E/1YIBvM3oTkdv0USPgsojhU31B8ITbfbVOZpFxIyQwL9RZSkOKSfwb6L6GtUxbaMzgWhIiGF0iBROFwc=\n";

    #[test]
    fn every_signature_line_by_a_known_key_is_checked() {
        let p = &[peter()];
        let peter_once = [sig("PeterNeumann", 0xc74f20a3, PETER_B64)];
        // Two different valid signatures by one key: valid, reported once.
        assert_ne!(PETER_SIG, PETER_SIG_2);
        let n = open_note(&format!("{TEXT}\n{PETER_SIG}{PETER_SIG_2}"), p).unwrap();
        assert_eq!(n.verified(), &peter_once);
        // A valid line then an invalid one by the same key, in either order: invalid.
        let bad = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        let invalid = Err(NoteError::InvalidSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3,
        });
        assert_eq!(open_note(&format!("{TEXT}\n{PETER_SIG}{bad}"), p), invalid);
        assert_eq!(open_note(&format!("{TEXT}\n{bad}{PETER_SIG}"), p), invalid);
        // A line by an unknown key is ignored, whatever it holds.
        let stranger = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
        let n = open_note(&format!("{TEXT}\n{stranger}{PETER_SIG}"), p).unwrap();
        assert_eq!(n.verified(), &peter_once);
        assert_eq!(n.unverified().len(), 1);
        // No line by a known key: refused.
        assert_eq!(
            open_note(&format!("{TEXT}\n{ENOCH_SIG}"), p),
            Err(NoteError::NoVerifiedSignature)
        );
    }

    #[test]
    fn go_open_too_many_signatures() {
        let msg = format!("{TEXT}\n{}", PETER_SIG.repeat(101));
        assert_eq!(
            open_note(&msg, &[peter()]),
            Err(NoteError::TooManySignatures)
        );
        assert_eq!(open_note(&msg, &[]), Err(NoteError::TooManySignatures));
        let msg = format!("{TEXT}\n{}", PETER_SIG.repeat(100));
        assert_eq!(open_note(&msg, &[peter()]).unwrap().verified().len(), 1);
    }

    #[test]
    fn go_open_invalid_signature() {
        let bad = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        let msg = format!("{TEXT}\n{bad}");
        assert_eq!(
            open_note(&msg, &[peter()]),
            Err(NoteError::InvalidSignature {
                name: "PeterNeumann".into(),
                key_id: 0xc74f20a3
            })
        );
    }

    #[test]
    fn go_open_duplicates() {
        let enoch_abcd = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
        let msg = format!("{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{enoch_abcd}");
        let n = open_note(&msg, &[peter()]).unwrap();
        assert_eq!(n.verified(), &[sig("PeterNeumann", 0xc74f20a3, PETER_B64)]);
        let enoch_abcd_b64 = "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n\
                              ABCD2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=";
        assert_eq!(
            n.unverified(),
            &[
                sig("EnochRoot", 0xaf0cfe78, ENOCH_B64),
                sig("EnochRoot", 0xaf0cfe78, enoch_abcd_b64)
            ]
        );
    }

    #[test]
    fn go_open_malformed_messages() {
        let p = &[peter()];
        let no_nl = &PETER_SIG[..PETER_SIG.len() - 1];
        let cases: Vec<(String, NoteError)> = vec![
            (TEXT.into(), NoteError::MissingSignatures),
            (format!("{TEXT}\n"), NoteError::MissingSignatures),
            (format!("{TEXT}\n{no_nl}"), NoteError::MissingFinalNewline),
            (
                format!("\x01{TEXT}\n{PETER_SIG}"),
                NoteError::ControlCharacter,
            ),
            (
                format!("{TEXT}\n— Bad Name {PETER_B64}"),
                NoteError::MissingFinalNewline,
            ),
            (
                format!("{TEXT}\n— Bad Name {PETER_B64}\n"),
                NoteError::MalformedSignatureLine,
            ),
            (
                format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
                NoteError::MalformedSignatureLine,
            ),
        ];
        for (msg, want) in cases {
            assert_eq!(open_note(&msg, p), Err(want), "{msg:?}");
        }
        let mut bytes = vec![0xff];
        bytes.extend_from_slice(format!("{TEXT}\n{PETER_SIG}").as_bytes());
        assert_eq!(open_note_bytes(&bytes, p), Err(NoteError::NotUtf8));
        let ok = format!("{TEXT}\n{PETER_SIG}");
        assert!(open_note_bytes(ok.as_bytes(), p).is_ok());
    }

    #[test]
    fn go_open_misnamed_or_wrong_key_id_is_unknown() {
        let misnamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego");
        let msg = format!("{TEXT}\n{misnamed}");
        assert_eq!(
            open_note(&msg, &[peter()]),
            Err(NoteError::NoVerifiedSignature)
        );
        let wrong_id = PETER_SIG.replace("x08g", "xxxx");
        let msg = format!("{TEXT}\n{wrong_id}");
        assert_eq!(
            open_note(&msg, &[peter()]),
            Err(NoteError::NoVerifiedSignature)
        );
    }

    #[test]
    fn tampered_text_and_signature_rejected() {
        let msg = format!("{TEXT}\n{PETER_SIG}").replace("problem,", "problem;");
        assert_eq!(
            open_note(&msg, &[peter()]),
            Err(NoteError::InvalidSignature {
                name: "PeterNeumann".into(),
                key_id: 0xc74f20a3
            })
        );
        // Flip one base64 character in the signature (not the key ID).
        let tampered = PETER_SIG.replace("ZJkuBS9U", "ZJkuBS9V");
        let msg = format!("{TEXT}\n{tampered}");
        assert!(matches!(
            open_note(&msg, &[peter()]),
            Err(NoteError::InvalidSignature { .. })
        ));
        // Truncated signature (key ID + 1 byte) from a known key.
        let short = BASE64.encode([0xc7, 0x4f, 0x20, 0xa3, 0x00]);
        let msg = format!("{TEXT}\n— PeterNeumann {short}\n");
        assert!(matches!(
            open_note(&msg, &[peter()]),
            Err(NoteError::InvalidSignature { .. })
        ));
        // Only the key ID, no signature bytes: malformed.
        let id_only = BASE64.encode([0xc7, 0x4f, 0x20, 0xa3]);
        let msg = format!("{TEXT}\n— PeterNeumann {id_only}\n");
        assert_eq!(
            open_note(&msg, &[peter()]),
            Err(NoteError::MalformedSignatureLine)
        );
    }

    #[test]
    fn wrong_key_rejected() {
        let msg = format!("{TEXT}\n{PETER_SIG}");
        // Different key with the same name: different key ID, so unknown.
        let other = SigningKey::generate("PeterNeumann").unwrap();
        assert_ne!(other.key_id(), 0xc74f20a3);
        assert_eq!(
            open_note(&msg, &[other.verifier()]),
            Err(NoteError::NoVerifiedSignature)
        );
        // Same name and key ID but a different public key: must be verified
        // and therefore fails.
        let imposter = VerifierKey {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3,
            key: other.verifier().key,
        };
        assert!(matches!(
            open_note(&msg, &[imposter]),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn hyphen_instead_of_em_dash_rejected() {
        let msg = format!("{TEXT}\n{}", PETER_SIG.replace('—', "-"));
        assert_eq!(
            open_note(&msg, &[peter()]),
            Err(NoteError::MalformedSignatureLine)
        );
        let msg = format!("{TEXT}\n{}", PETER_SIG.replace("— ", "—"));
        assert_eq!(
            open_note(&msg, &[peter()]),
            Err(NoteError::MalformedSignatureLine)
        );
    }

    #[test]
    fn control_characters_rejected() {
        let p = &[peter()];
        for bad in ["\t", "\r", "\0", "\x1b"] {
            let msg = format!("{}{bad}\n\n{PETER_SIG}", &TEXT[..TEXT.len() - 1]);
            assert_eq!(open_note(&msg, p), Err(NoteError::ControlCharacter));
            let text = format!("a{bad}b\n");
            assert_eq!(
                peter_signer().sign_note(&text),
                Err(NoteError::ControlCharacter)
            );
        }
        let msg = format!("{TEXT}\n{}", PETER_SIG.replace('\n', "\r\n"));
        assert_eq!(open_note(&msg, p), Err(NoteError::ControlCharacter));
    }

    #[test]
    fn sign_requires_final_newline() {
        let s = peter_signer();
        assert_eq!(s.sign_note(""), Err(NoteError::MissingFinalNewline));
        assert_eq!(s.sign_note("abc"), Err(NoteError::MissingFinalNewline));
    }

    #[test]
    fn key_names_validated() {
        for bad in ["", "a b", "a+b", "a\u{a0}b", "a\u{3000}b", "a\tb", "a\nb"] {
            assert_eq!(
                SigningKey::generate(bad).map(|k| k.key_id()),
                Err(NoteError::InvalidKeyName),
                "{bad:?}"
            );
            assert_eq!(
                VerifierKey::from_public_key(bad, peter().public_key_bytes()),
                Err(NoteError::InvalidKeyName)
            );
        }
        assert!(SigningKey::generate("Señor-1/é").is_ok());
    }

    #[test]
    fn generated_keys_round_trip() {
        let k = SigningKey::generate("example.com/ledger").unwrap();
        let skey = k.to_signer_string();
        assert!(skey.starts_with("PRIVATE+KEY+example.com/ledger+"));
        let k2 = SigningKey::from_signer_string(&skey).unwrap();
        assert_eq!(k2.key_id(), k.key_id());
        assert_eq!(k2.verifier(), k.verifier());
        let vkey = k.verifier().to_verifier_string();
        let v = VerifierKey::from_verifier_string(&vkey).unwrap();
        assert_eq!(v, k.verifier());
        assert_eq!(v.to_verifier_string(), vkey);

        let text = "hello\n\nworld\n";
        let signed = k.sign_note(text).unwrap();
        let n = open_note(&signed, &[v]).unwrap();
        assert_eq!(n.text(), text);
        assert_eq!(n.verified().len(), 1);
        assert_eq!(n.clone().into_text(), text);
    }

    #[test]
    fn c2sp_note_example_with_cosignature() {
        // The C2SP example's key is not published: its signature must be
        // preserved as unverified; the text ends at the last blank line.
        assert_eq!(
            open_note(C2SP_NOTE, &[]),
            Err(NoteError::NoVerifiedSignature)
        );
        let text = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n";
        let me = SigningKey::generate("witness.example").unwrap();
        let my_line = me.sign_note(text).unwrap()[text.len() + 1..].to_owned();
        let msg = format!("{C2SP_NOTE}{my_line}");
        let n = open_note(&msg, &[me.verifier()]).unwrap();
        assert_eq!(n.text(), text);
        assert_eq!(n.verified()[0].name, "witness.example");
        assert_eq!(n.unverified().len(), 1);
        assert_eq!(n.unverified()[0].name, "quasimodo.example/salvatore");
    }

    #[test]
    fn c2sp_checkpoint_example() {
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let cp = Checkpoint::parse(body).unwrap();
        assert_eq!(cp.origin, "example.com/behind-the-sofa");
        assert_eq!(cp.size, 20852163);
        assert_eq!(
            BASE64.encode(cp.root),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
        );
        assert!(cp.extensions.is_empty());
        assert_eq!(cp.to_note_text().unwrap(), body);

        // Add our own cosignature to the example and verify through it.
        let me = SigningKey::generate("example.com/behind-the-sofa").unwrap();
        let my_line = me.sign_note(body).unwrap()[body.len() + 1..].to_owned();
        let msg = format!("{C2SP_CHECKPOINT}{my_line}");
        let got =
            verify_checkpoint(&msg, &me.verifier(), Some("example.com/behind-the-sofa")).unwrap();
        assert_eq!(got, cp);
        let n = open_note(&msg, &[me.verifier()]).unwrap();
        assert_eq!(n.unverified()[0].key_id, 0x033de0ae);
    }

    #[test]
    fn sumdb_checkpoint_verifies() {
        let v = VerifierKey::from_verifier_string(SUMDB_VKEY).unwrap();
        let cp = verify_checkpoint(SUMDB_CHECKPOINT, &v, Some("go.sum database tree")).unwrap();
        assert_eq!(cp.origin, "go.sum database tree");
        assert_eq!(cp.size, 6476701);
        assert_eq!(
            BASE64.encode(cp.root),
            "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk="
        );
        assert_eq!(verify_checkpoint(SUMDB_CHECKPOINT, &v, None).unwrap(), cp);
        assert_eq!(
            verify_checkpoint(SUMDB_CHECKPOINT, &v, Some("Go rocks")),
            Err(NoteError::OriginMismatch {
                expected: "Go rocks".into(),
                found: "go.sum database tree".into()
            })
        );
        // Tampered size.
        let tampered = SUMDB_CHECKPOINT.replace("6476701", "6476702");
        assert!(matches!(
            verify_checkpoint(&tampered, &v, None),
            Err(NoteError::InvalidSignature { .. })
        ));
        // Wrong key.
        assert_eq!(
            verify_checkpoint(SUMDB_CHECKPOINT, &peter(), None),
            Err(NoteError::NoVerifiedSignature)
        );
    }

    #[test]
    fn checkpoint_sign_verify_round_trip() {
        let k = SigningKey::generate("example.com/log").unwrap();
        for cp in [
            Checkpoint {
                origin: "example.com/log".into(),
                size: 0,
                root: [0; 32],
                extensions: vec![],
            },
            Checkpoint {
                origin: "example.com/log".into(),
                size: u64::MAX,
                root: [0xab; 32],
                extensions: vec!["ext one".into(), "— two".into()],
            },
        ] {
            let signed = sign_checkpoint(&k, &cp).unwrap();
            let got = verify_checkpoint(&signed, &k.verifier(), Some("example.com/log")).unwrap();
            assert_eq!(got, cp);
            assert_eq!(Checkpoint::parse(&cp.to_note_text().unwrap()).unwrap(), cp);
        }
    }

    #[test]
    fn checkpoint_invalid_bodies() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let root31 = BASE64.encode([7u8; 31]);
        let root33 = BASE64.encode([7u8; 33]);
        let cases: Vec<(String, NoteError)> = vec![
            // From transparency-dev/formats log/checkpoint_test.go.
            ("Head\n9944\n".into(), NoteError::CheckpointTooShort),
            (format!("\n9944\n{root}\n"), NoteError::InvalidOrigin),
            (
                "Log\n123\nYmFuYW5hcw==".into(),
                NoteError::MissingFinalNewline,
            ),
            (
                format!("Log\nbananas\n{root}\n"),
                NoteError::InvalidTreeSize,
            ),
            (format!("Log\n-34\n{root}\n"), NoteError::InvalidTreeSize),
            (
                format!("Log\n3438945738945739845734895735\n{root}\n"),
                NoteError::InvalidTreeSize,
            ),
            (
                "Log\n123\nThisIsn'tBase64\n".into(),
                NoteError::InvalidRootHash,
            ),
            (
                "Log\n123\nYmFuYW5hcw==\n".into(),
                NoteError::InvalidRootHash,
            ),
            // C2SP rules.
            (format!("Log\n0123\n{root}\n"), NoteError::InvalidTreeSize),
            (format!("Log\n00\n{root}\n"), NoteError::InvalidTreeSize),
            (format!("Log\n+5\n{root}\n"), NoteError::InvalidTreeSize),
            (format!("Log\n\n{root}\n"), NoteError::InvalidTreeSize),
            (
                format!("Log\n18446744073709551616\n{root}\n"),
                NoteError::InvalidTreeSize,
            ),
            (format!("Log\n5\n{root31}\n"), NoteError::InvalidRootHash),
            (format!("Log\n5\n{root33}\n"), NoteError::InvalidRootHash),
            (
                format!("Log\n5\n{}\n", root.trim_end_matches('=')),
                NoteError::InvalidRootHash,
            ),
            (format!("Log\n5\n{root}\n\n"), NoteError::InvalidExtension),
            (
                format!("Log\n5\n{root}\next\n\n"),
                NoteError::InvalidExtension,
            ),
            (format!("Log\n5\n{root}"), NoteError::MissingFinalNewline),
            (format!("Log\t1\n5\n{root}\n"), NoteError::ControlCharacter),
        ];
        for (text, want) in cases {
            assert_eq!(Checkpoint::parse(&text), Err(want), "{text:?}");
        }
        assert_eq!(
            Checkpoint::parse(&format!("Log\n0\n{root}\nx\n"))
                .unwrap()
                .size,
            0
        );
    }

    #[test]
    fn checkpoint_encode_rejects_bad_fields() {
        let k = peter_signer();
        let mut cp = Checkpoint {
            origin: String::new(),
            size: 1,
            root: [1; 32],
            extensions: vec![],
        };
        assert_eq!(cp.to_note_text(), Err(NoteError::InvalidOrigin));
        assert_eq!(sign_checkpoint(&k, &cp), Err(NoteError::InvalidOrigin));
        cp.origin = "a\nb".into();
        assert_eq!(cp.to_note_text(), Err(NoteError::InvalidOrigin));
        cp.origin = "ok".into();
        cp.extensions = vec![String::new()];
        assert_eq!(cp.to_note_text(), Err(NoteError::InvalidExtension));
        cp.extensions = vec!["x\ny".into()];
        assert_eq!(cp.to_note_text(), Err(NoteError::InvalidExtension));
    }

    #[test]
    fn verify_checkpoint_rejects_non_checkpoint_body() {
        let k = peter_signer();
        let signed = k
            .sign_note("if this is a valid checkpoint then I'll eat my hat\n")
            .unwrap();
        assert_eq!(
            verify_checkpoint(&signed, &peter(), None),
            Err(NoteError::CheckpointTooShort)
        );
    }
}
