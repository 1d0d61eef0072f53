//! The Standard Webhooks signature scheme (standardwebhooks.com): a delivery carries
//! `webhook-id` (the event's id, the same on every retry), `webhook-timestamp` (Unix
//! seconds of the attempt) and `webhook-signature`, a space-separated list of
//! `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, one per secret in force.
//! A secret is `whsec_` followed by the base64 of its key. The signing itself is the
//! reference library of the scheme's authors (`standardwebhooks`).

use base64::Engine as _;
use rand::RngCore as _;
use standardwebhooks::Webhook;

/// The prefix of every secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes of a new secret's key (256 bits, the size of the HMAC's hash).
const KEY_BYTES: usize = 32;

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// A fresh secret from the operating system's random source: `whsec_<base64 of 32 bytes>`.
pub fn new_secret() -> String {
    let mut key = [0u8; KEY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// The `webhook-signature` value for `body` sent as message `id` at `timestamp` (Unix
/// seconds): one `v1,<signature>` per secret, space-separated (during a rotation both the
/// new and the previous secret sign, so a receiver holding either accepts the delivery).
pub fn signature(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, standardwebhooks::WebhookError> {
    let mut out = Vec::with_capacity(secrets.len());
    for s in secrets {
        out.push(Webhook::new(s)?.sign(id, timestamp, body)?);
    }
    Ok(out.join(" "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    // The published test vector of the Standard Webhooks libraries (go/webhook_test.go
    // `TestWebhookSign`, python/tests/test_webhooks.py, javascript/src/webhook.test.ts).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const PAYLOAD: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_published_test_vector() {
        assert_eq!(
            signature(&[SECRET], MSG_ID, TIMESTAMP, PAYLOAD).unwrap(),
            EXPECTED
        );
    }

    #[test]
    fn the_test_vector_signed_by_hand_with_hmac_sha256_matches() {
        // The scheme written out: HMAC-SHA256 keyed with the base64-decoded secret over
        // "<id>.<timestamp>.<body>", base64 of the tag.
        let key = base64::engine::general_purpose::STANDARD
            .decode(SECRET.trim_start_matches(SECRET_PREFIX))
            .unwrap();
        let tag = hmac_sha256::HMAC::mac(
            format!(
                "{MSG_ID}.{TIMESTAMP}.{}",
                std::str::from_utf8(PAYLOAD).unwrap()
            ),
            key,
        );
        let manual = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(tag)
        );
        assert_eq!(manual, EXPECTED);
    }

    fn headers(id: &str, timestamp: i64, signature: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(HEADER_ID, id.parse().unwrap());
        h.insert(HEADER_TIMESTAMP, timestamp.to_string().parse().unwrap());
        h.insert(HEADER_SIGNATURE, signature.parse().unwrap());
        h
    }

    #[test]
    fn a_receiver_verifies_what_is_signed_and_refuses_a_changed_body_or_an_old_timestamp() {
        let secret = new_secret();
        assert!(secret.starts_with(SECRET_PREFIX));
        let now = chrono::Utc::now().timestamp();
        let sig = signature(&[&secret], "evt_1", now, b"{\"a\":1}").unwrap();
        let wh = Webhook::new(&secret).unwrap();
        wh.verify(b"{\"a\":1}", &headers("evt_1", now, &sig))
            .unwrap();
        assert!(wh
            .verify(b"{\"a\":2}", &headers("evt_1", now, &sig))
            .is_err());
        assert!(wh
            .verify(b"{\"a\":1}", &headers("evt_2", now, &sig))
            .is_err());
        // An hour old: outside the receiver's five-minute tolerance (a replay).
        let old = now - 3_600;
        let sig = signature(&[&secret], "evt_1", old, b"{\"a\":1}").unwrap();
        assert!(wh
            .verify(b"{\"a\":1}", &headers("evt_1", old, &sig))
            .is_err());
    }

    #[test]
    fn during_a_rotation_both_secrets_sign_and_either_verifies() {
        let (old, new) = (new_secret(), new_secret());
        assert_ne!(old, new);
        let now = chrono::Utc::now().timestamp();
        let sig = signature(&[&new, &old], "evt_2", now, b"{}").unwrap();
        assert_eq!(sig.split(' ').count(), 2);
        for s in [&old, &new] {
            Webhook::new(s)
                .unwrap()
                .verify(b"{}", &headers("evt_2", now, &sig))
                .unwrap();
        }
        assert!(Webhook::new(&new_secret())
            .unwrap()
            .verify(b"{}", &headers("evt_2", now, &sig))
            .is_err());
    }
}
