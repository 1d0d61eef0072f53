//! The ledger entry as hashed, its canonical encoding and its hash. Pure functions only:
//! this file, `merkle.rs` and `note.rs` are all an independent verifier needs, and
//! docs/ledger-format.md specifies them byte for byte.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

pub type Hash = [u8; 32];

/// `prev_hash` of the first entry of every chain.
pub const ZERO_HASH: Hash = [0; 32];

/// Domain separation for entry hashes: no other hash in the system starts with these bytes.
pub const ENTRY_DOMAIN_TAG: &[u8] = b"fundtrail/ledger/entry/v1\0";

/// Version of the entry format (`v` in the canonical object).
pub const FORMAT_VERSION: u32 = 1;

/// The administrative chain's id.
pub const ADMIN_CHAIN: Uuid = Uuid::nil();

/// JSON integers beyond ±(2^53 − 1) are not portable (RFC 8785 §3.2.2.3, I-JSON).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// Nesting limit for bodies: bounded work for every verifier.
const MAX_BODY_DEPTH: usize = 32;

/// Who recorded an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// User id, or `system` for entries the service writes itself.
    pub id: String,
    /// Role the principal acted in (`admin`, `treasurer`, `ministry`, `auditor`, `system`).
    pub role: String,
}

impl Principal {
    pub fn system() -> Self {
        Self {
            id: "system".to_owned(),
            role: "system".to_owned(),
        }
    }
}

/// A ledger entry without its hashes: exactly the object that is canonicalised and hashed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Format version, currently 1.
    pub v: u32,
    /// The chain's id, canonical lower-case hyphenated (other spellings are refused).
    #[serde(deserialize_with = "canonical_uuid")]
    pub chain: Uuid,
    /// Position in the chain, gap-free from 0.
    pub seq: u64,
    /// Entry kind (`[a-z][a-z0-9_]*`).
    pub kind: String,
    /// The date the fact happened (ISO 8601 date).
    #[schema(value_type = String, format = Date)]
    pub business_date: NaiveDate,
    /// When the server recorded it: UTC, RFC 3339 with exactly six fractional digits and `Z`.
    #[serde(with = "micros_utc")]
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: DateTime<Utc>,
    pub principal: Principal,
    /// The client's idempotency key, unique within the chain.
    pub idempotency_key: String,
    /// The financial or administrative fact. Amounts are decimal strings, never JSON numbers.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

/// RFC 3339 UTC with microseconds (Postgres' precision), so a timestamp read back from the
/// database encodes to the same bytes it was hashed with.
pub mod micros_utc {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        let t = DateTime::parse_from_rfc3339(&s).map_err(serde::de::Error::custom)?;
        let t = t.with_timezone(&Utc);
        if t.to_rfc3339_opts(SecondsFormat::Micros, true) != s {
            return Err(serde::de::Error::custom(
                "recorded_at must be UTC with exactly six fractional digits and Z",
            ));
        }
        Ok(t)
    }
}

/// Truncates to whole microseconds (what Postgres stores).
pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("kind must match [a-z][a-z0-9_]{{0,63}}, got {0:?}")]
    InvalidKind(String),
    #[error("idempotency key must be 1 to 128 printable ASCII characters")]
    InvalidIdempotencyKey,
    #[error("body must be a JSON object")]
    BodyNotObject,
    #[error("body nests deeper than {MAX_BODY_DEPTH} levels")]
    BodyTooDeep,
    #[error("body contains the number {0}: use a decimal string for amounts; only integers within ±(2^53-1) are allowed")]
    NonPortableNumber(String),
    #[error("canonical encoding failed: {0}")]
    Encoding(String),
    /// A string of the body (a key or a value) holds a control character other than line
    /// feed, carriage return or tab (`text::Text::Free`).
    #[error("{0}")]
    ControlCharacter(String),
}

pub fn validate_kind(kind: &str) -> Result<(), EntryError> {
    let mut chars = kind.chars();
    let ok = kind.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(EntryError::InvalidKind(kind.to_owned()))
    }
}

pub fn validate_idempotency_key(key: &str) -> Result<(), EntryError> {
    let ok = !key.is_empty() && key.len() <= 128 && key.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(EntryError::InvalidIdempotencyKey)
    }
}

/// Bodies are JSON objects whose numbers are portable integers: money travels as decimal
/// strings, so no float ever reaches a hash.
pub fn validate_body(body: &serde_json::Value) -> Result<(), EntryError> {
    if !body.is_object() {
        return Err(EntryError::BodyNotObject);
    }
    fn walk(v: &serde_json::Value, depth: usize) -> Result<(), EntryError> {
        if depth > MAX_BODY_DEPTH {
            return Err(EntryError::BodyTooDeep);
        }
        match v {
            serde_json::Value::Number(n) => {
                let portable = n.as_u64().is_some_and(|u| u <= MAX_SAFE_INTEGER)
                    || n.as_i64()
                        .is_some_and(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER);
                if portable {
                    Ok(())
                } else {
                    Err(EntryError::NonPortableNumber(n.to_string()))
                }
            }
            serde_json::Value::Array(items) => items.iter().try_for_each(|i| walk(i, depth + 1)),
            serde_json::Value::Object(map) => map.values().try_for_each(|i| walk(i, depth + 1)),
            _ => Ok(()),
        }
    }
    walk(body, 0)
}

/// The text rule of appends: no string of the body, key or value, holds a control
/// character other than line feed, carriage return and tab (`crate::text`). Checked on
/// write only, not by verification: entries recorded before the rule stay valid.
pub fn validate_body_text(body: &serde_json::Value) -> Result<(), EntryError> {
    use crate::text::{forbidden_char, refusal, Text};
    fn walk(v: &serde_json::Value, path: &mut String) -> Result<(), EntryError> {
        let refuse =
            |path: &str, c| Err(EntryError::ControlCharacter(refusal(path, c, Text::Free)));
        match v {
            serde_json::Value::String(s) => match forbidden_char(s, Text::Free) {
                Some(c) => refuse(path, c),
                None => Ok(()),
            },
            serde_json::Value::Array(items) => {
                items.iter().enumerate().try_for_each(|(i, item)| {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(item, path)?;
                    path.truncate(len);
                    Ok(())
                })
            }
            serde_json::Value::Object(map) => map.iter().try_for_each(|(k, item)| {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                if let Some(c) = forbidden_char(k, Text::Line) {
                    return refuse(&format!("a key of {}", &path[..len]), c);
                }
                walk(item, path)?;
                path.truncate(len);
                Ok(())
            }),
            _ => Ok(()),
        }
    }
    walk(body, &mut "body".to_owned())
}

/// RFC 8785 (JCS) encoding of the entry.
///
/// Fast path: `serde_json` without `preserve_order` keeps object keys in a `BTreeMap`
/// (code-point order) and escapes strings exactly as JCS does, and our entries hold only
/// integers, so its compact output *is* JCS — except that JCS orders keys by UTF-16 code
/// units, which differs from code-point order only between U+E000..U+FFFF and
/// supplementary characters. Output free of those (no byte >= 0xEE) is therefore JCS;
/// anything else goes through the full canonicalizer. Four times faster on real entries;
/// `fast_path_equals_the_canonicalizer` and the golden vectors keep both honest.
pub fn canonical_bytes(entry: &Entry) -> Result<Vec<u8>, EntryError> {
    let value = serde_json::to_value(entry).map_err(|e| EntryError::Encoding(e.to_string()))?;
    let fast = serde_json::to_vec(&value).map_err(|e| EntryError::Encoding(e.to_string()))?;
    if fast.iter().all(|b| *b < 0xEE) {
        return Ok(fast);
    }
    serde_json_canonicalizer::to_vec(&value).map_err(|e| EntryError::Encoding(e.to_string()))
}

/// RFC 8785 (JCS) encoding of a body alone: what [`canonical_bytes_with_body`] splices
/// into its entry. Appends compute it on the caller's thread, so the chain's writer (one
/// thread per chain) only assembles and hashes.
pub fn canonical_body(body: &serde_json::Value) -> Result<Vec<u8>, EntryError> {
    let fast = serde_json::to_vec(body).map_err(|e| EntryError::Encoding(e.to_string()))?;
    if fast.iter().all(|b| *b < 0xEE) {
        return Ok(fast);
    }
    serde_json_canonicalizer::to_vec(body).map_err(|e| EntryError::Encoding(e.to_string()))
}

/// The members of an entry other than `body`, borrowed, in JCS order (`body` sorts first
/// of all keys): what the writer knows of an entry before it builds one.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Header<'a> {
    pub business_date: NaiveDate,
    pub chain: Uuid,
    pub idempotency_key: &'a str,
    pub kind: &'a str,
    pub principal: &'a Principal,
    #[serde(with = "micros_utc")]
    pub recorded_at: DateTime<Utc>,
    pub seq: u64,
    pub v: u32,
}

impl<'a> Header<'a> {
    pub fn of(entry: &'a Entry) -> Self {
        Self {
            business_date: entry.business_date,
            chain: entry.chain,
            idempotency_key: &entry.idempotency_key,
            kind: &entry.kind,
            principal: &entry.principal,
            recorded_at: entry.recorded_at,
            seq: entry.seq,
            v: entry.v,
        }
    }

    /// The entry with this header and `body`.
    pub fn entry(&self, body: serde_json::Value) -> Entry {
        Entry {
            v: self.v,
            chain: self.chain,
            seq: self.seq,
            kind: self.kind.to_owned(),
            business_date: self.business_date,
            recorded_at: self.recorded_at,
            principal: self.principal.clone(),
            idempotency_key: self.idempotency_key.to_owned(),
            body,
        }
    }
}

/// [`canonical_bytes`] of `entry` given `body`, the [`canonical_body`] of `entry.body`
/// (which is not read again): `{"body":` + body + the other members.
///
/// JCS of an object is its members sorted by key, each as `"key":` and the JCS of its
/// value, so splicing the body's own JCS is exact. The other members are written by
/// `serde_json` in the struct's order, which is the sorted order; the same fast-path
/// argument as [`canonical_bytes`] applies to them (and `principal`'s fields, `id` and
/// `role`, are declared in sorted order too). When their bytes reach 0xEE, the full
/// encoder decides. `spliced_encoding_equals_the_full_one` keeps both honest.
pub fn canonical_bytes_with_body(entry: &Entry, body: &[u8]) -> Result<Vec<u8>, EntryError> {
    canonical_bytes_spliced(&Header::of(entry), &entry.body, body)
}

/// [`canonical_bytes_with_body`] from an entry's parts: `header`, its body `value` and
/// `body`, the [`canonical_body`] of `value` (read only on the rare full-encoder path).
pub fn canonical_bytes_spliced(
    header: &Header<'_>,
    value: &serde_json::Value,
    body: &[u8],
) -> Result<Vec<u8>, EntryError> {
    let rest = serde_json::to_vec(header).map_err(|e| EntryError::Encoding(e.to_string()))?;
    let Some((b'{', members)) = rest.split_first() else {
        return Err(EntryError::Encoding(
            "entry members are not an object".into(),
        ));
    };
    if members.iter().any(|b| *b >= 0xEE) {
        return canonical_bytes(&header.entry(value.clone()));
    }
    let mut out = Vec::with_capacity(body.len() + rest.len() + 10);
    out.extend_from_slice(b"{\"body\":");
    out.extend_from_slice(body);
    out.push(b',');
    out.extend_from_slice(members);
    Ok(out)
}

/// `SHA-256(ENTRY_DOMAIN_TAG || prev_hash || canonical)`.
pub fn entry_hash(prev_hash: &Hash, canonical: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(ENTRY_DOMAIN_TAG);
    h.update(prev_hash);
    h.update(canonical);
    h.finalize().into()
}

/// Lower-case hex, the encoding of hashes in JSON.
pub fn hex32(h: &Hash) -> String {
    hex(h)
}

/// Lower-case hex of any bytes. `hex::encode` collects an iterator of `char`s, which
/// showed up in profiles of receipts (about 20 hashes each); this writes the digits
/// straight into a string of the right capacity.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digit = |nibble: u8| char::from(DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'));
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        out.push(digit(b >> 4));
        out.push(digit(b & 0x0f));
    }
    out
}

/// A hash as JSON carries it: exactly 64 **lower-case** hex digits, the only spelling the
/// server writes (upper-case digits are refused, so one hash has one spelling).
pub fn parse_hex32(s: &str) -> Option<Hash> {
    if !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// A UUID as entries, exports and receipts carry it: the canonical lower-case hyphenated
/// form `8-4-4-4-12` only (no upper case, braces, `urn:uuid:` or simple form).
pub fn parse_uuid(s: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(s).ok()?;
    let mut buf = Uuid::encode_buffer();
    (id.hyphenated().encode_lower(&mut buf) == s).then_some(id)
}

/// Serde's side of [`parse_uuid`].
pub fn canonical_uuid<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
    let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
    parse_uuid(&s).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "{s:?} is not a UUID in canonical form (lower-case, hyphenated)"
        ))
    })
}

/// Formats a timestamp the way entries do.
pub fn format_micros(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    #[test]
    fn hex_is_lower_case_and_matches_the_hex_crate() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        assert_eq!(hex(&bytes), ::hex::encode(&bytes));
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0xab, 0x01]), "ab01");
    }

    use super::*;
    use serde_json::json;

    /// The worked example of docs/ledger-format.md; its bytes and hashes are published
    /// there and in tests/vectors/ledger-vectors.json, so they must never change.
    pub(crate) fn golden_entry() -> Entry {
        Entry {
            v: 1,
            chain: Uuid::parse_str("6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10").unwrap(),
            seq: 0,
            kind: "contribution".to_owned(),
            business_date: NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
            recorded_at: DateTime::parse_from_rfc3339("2026-04-01T08:15:30.123456Z")
                .unwrap()
                .with_timezone(&Utc),
            principal: Principal {
                id: "3d0f4c55-8f0e-4a8e-b7a4-2f0d9b1c6e01".to_owned(),
                role: "treasurer".to_owned(),
            },
            idempotency_key: "contrib-2026-0001".to_owned(),
            body: json!({"donor": "Kingdom of Norway", "amount": {"value": "2500000.00", "currency": "EUR"}, "agreement": "NOR-22/117", "note": "Première tranche — €"}),
        }
    }

    #[test]
    fn canonical_bytes_sort_keys_and_escape_minimally() {
        let bytes = canonical_bytes(&golden_entry()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            r#"{"body":{"agreement":"NOR-22/117","amount":{"currency":"EUR","value":"2500000.00"},"donor":"Kingdom of Norway","note":"Première tranche — €"},"business_date":"2026-03-31","chain":"6f1c2a9e-3b7d-4e21-9a55-0c8d2f4b7e10","idempotency_key":"contrib-2026-0001","kind":"contribution","principal":{"id":"3d0f4c55-8f0e-4a8e-b7a4-2f0d9b1c6e01","role":"treasurer"},"recorded_at":"2026-04-01T08:15:30.123456Z","seq":0,"v":1}"#
        );
    }

    #[test]
    fn golden_entry_hash() {
        let bytes = canonical_bytes(&golden_entry()).unwrap();
        let h0 = entry_hash(&ZERO_HASH, &bytes);
        // Independent check of the rule: sha256(tag || 32 zero bytes || canonical).
        let mut manual = Vec::new();
        manual.extend_from_slice(b"fundtrail/ledger/entry/v1\0");
        manual.extend_from_slice(&[0u8; 32]);
        manual.extend_from_slice(&bytes);
        assert_eq!(h0, <[u8; 32]>::from(Sha256::digest(&manual)));
        assert_eq!(hex32(&h0), GOLDEN_HASH_0);
    }

    pub(crate) const GOLDEN_HASH_0: &str =
        "e519ac0d923e2a2d63f61651381cc91074b10890b14cc8db6bb90ddd4c4da66d";

    #[test]
    fn fast_path_equals_the_canonicalizer() {
        let strings = [
            "plain",
            "quote \" and \\ backslash",
            "controls \u{1}\u{8}\u{9}\u{a}\u{c}\u{d}\u{1f}\u{7f}",
            "slash / and <html>",
            "é ü ñ — € 中文",
            "\u{e000}private",
            "\u{ffff}",
            "emoji 😀 𝄞",
            "line\u{2028}sep\u{2029}",
            "",
        ];
        for (i, a) in strings.iter().enumerate() {
            for b in &strings {
                let mut e = golden_entry();
                e.seq = u64::try_from(i).unwrap() * 1_000_003;
                e.body = json!({ *a: b, "k": { *b: [1, -2, 9007199254740991_u64, a] }, "z": null, "t": true });
                let fast = canonical_bytes(&e).unwrap();
                let full = serde_json_canonicalizer::to_vec(&e).unwrap();
                assert_eq!(fast, full, "{a:?} / {b:?}");
                // The same with the strings in the other members too.
                e.kind = "payment".to_owned();
                e.idempotency_key = format!("k-{i}");
                e.principal = Principal {
                    id: (*a).to_owned(),
                    role: (*b).to_owned(),
                };
                let full = serde_json_canonicalizer::to_vec(&e).unwrap();
                let body = canonical_body(&e.body).unwrap();
                assert_eq!(
                    canonical_bytes_with_body(&e, &body).unwrap(),
                    full,
                    "spliced {a:?} / {b:?}"
                );
                assert_eq!(canonical_bytes(&e).unwrap(), full);
            }
        }
    }

    #[test]
    fn spliced_encoding_equals_the_full_one() {
        let mut e = golden_entry();
        for body in [
            json!({}),
            json!({"amount": {"value": "1.00", "currency": "EUR"}, "a": [1, {"z": 1, "b": null}]}),
            json!({"\u{e000}": 1, "\u{1f600}": 2, "é": "\u{2028}"}),
        ] {
            e.body = body;
            let body = canonical_body(&e.body).unwrap();
            assert_eq!(
                canonical_bytes_with_body(&e, &body).unwrap(),
                serde_json_canonicalizer::to_vec(&e).unwrap()
            );
        }
    }

    #[test]
    fn entry_round_trips_through_its_canonical_form() {
        let e = golden_entry();
        let bytes = canonical_bytes(&e).unwrap();
        let back: Entry = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, e);
        assert_eq!(canonical_bytes(&back).unwrap(), bytes);
    }

    #[test]
    fn recorded_at_must_be_exactly_microsecond_utc() {
        let mut v = serde_json::to_value(golden_entry()).unwrap();
        v["recorded_at"] = json!("2026-04-01T08:15:30.123Z");
        assert!(serde_json::from_value::<Entry>(v.clone()).is_err());
        v["recorded_at"] = json!("2026-04-01T10:15:30.123456+02:00");
        assert!(serde_json::from_value::<Entry>(v).is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut v = serde_json::to_value(golden_entry()).unwrap();
        v["extra"] = json!(1);
        assert!(serde_json::from_value::<Entry>(v).is_err());
    }

    #[test]
    fn bodies_carry_no_floats_and_no_unsafe_integers() {
        assert!(
            validate_body(&json!({"amount": "12.50", "n": 3, "m": -9007199254740991_i64})).is_ok()
        );
        assert_eq!(
            validate_body(&json!({"amount": 12.5})),
            Err(EntryError::NonPortableNumber("12.5".to_owned()))
        );
        assert!(validate_body(&json!({"n": 9007199254740992_u64})).is_err());
        assert!(validate_body(&json!({"deep": [[{"x": 1.0}]]})).is_err());
        assert_eq!(validate_body(&json!([1])), Err(EntryError::BodyNotObject));
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!({ "d": deep });
        }
        assert_eq!(validate_body(&deep), Err(EntryError::BodyTooDeep));
    }

    #[test]
    fn kinds_and_keys_are_plain() {
        assert!(validate_kind("contract_amendment").is_ok());
        for bad in ["", "Payment", "9x", "a-b", "a b", &"x".repeat(65)] {
            assert!(validate_kind(bad).is_err(), "{bad:?}");
        }
        assert!(validate_idempotency_key("retry-1:abc").is_ok());
        for bad in ["", "has space", "tab\t", "é", &"k".repeat(129)] {
            assert!(validate_idempotency_key(bad).is_err(), "{bad:?}");
        }
    }
}
