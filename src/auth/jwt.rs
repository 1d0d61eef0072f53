//! Access tokens: short-lived HS256 JWTs. The signing secrets live in a file outside the
//! database (`<kid> <base64 secret>` per line, at least 256 bits each; the first line
//! signs, every line verifies, so keys rotate by prepending a line). The validator pins
//! the algorithm, requires and checks exp/nbf/iat/iss/aud/sub, and picks the key by `kid`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context};
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const ISSUER: &str = "fundtrail";
pub const AUDIENCE: &str = "fundtrail-api";
/// Clock skew tolerated on exp/nbf, in seconds.
pub const LEEWAY_S: u64 = 30;
/// Shortest secret accepted, in bytes (HS256 needs 256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// User id.
    pub sub: Uuid,
    /// The user's organisation.
    pub org: Uuid,
    /// The role this token acts in.
    pub role: String,
    /// Token id.
    pub jti: Uuid,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token was signed with an unknown key")]
    UnknownKey,
}

#[derive(Clone)]
pub struct JwtKeys {
    signing_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.debug_struct("JwtKeys")
            .field("signing_kid", &self.signing_kid)
            .field("kids", &self.decoding.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl JwtKeys {
    /// Keys from `(kid, secret)` pairs; the first signs.
    pub fn new(keys: &[(String, Vec<u8>)]) -> anyhow::Result<Self> {
        let Some((signing_kid, signing_secret)) = keys.first() else {
            bail!("no JWT key");
        };
        let mut decoding = HashMap::new();
        for (kid, secret) in keys {
            if secret.len() < MIN_SECRET_BYTES {
                bail!("JWT key {kid:?} is shorter than {MIN_SECRET_BYTES} bytes");
            }
            if kid.is_empty()
                || !kid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                bail!("JWT key id {kid:?} must be letters, digits, '-', '_' or '.'");
            }
            decoding.insert(kid.clone(), DecodingKey::from_secret(secret));
        }
        Ok(Self {
            signing_kid: signing_kid.clone(),
            encoding: EncodingKey::from_secret(signing_secret),
            decoding,
        })
    }

    /// A random key, for tests and the embedded default's first start.
    pub fn generate_line() -> String {
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let kid = format!("k{}", Utc::now().format("%Y%m%d%H%M%S"));
        format!(
            "{kid} {}",
            base64::engine::general_purpose::STANDARD.encode(secret)
        )
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (kid, b64) = line
                .split_once(char::is_whitespace)
                .context("each JWT key line is `<kid> <base64 secret>`")?;
            let secret = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .with_context(|| format!("JWT key {kid:?} is not base64"))?;
            keys.push((kid.to_owned(), secret));
        }
        Self::new(&keys)
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading JWT keys {}", path.display()))?;
        Self::parse(&text)
    }

    /// Signs an access token for `lifetime`.
    pub fn issue(
        &self,
        user: Uuid,
        org: Uuid,
        role: &str,
        now: DateTime<Utc>,
        lifetime: chrono::Duration,
    ) -> Result<(String, Claims), TokenError> {
        let claims = Claims {
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            sub: user,
            org,
            role: role.to_owned(),
            jti: Uuid::new_v4(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + lifetime).timestamp(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing_kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map(|t| (t, claims))
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// Validates a token: HS256 only, known `kid`, signature, exp/nbf (with leeway), issuer,
    /// audience, and every claim present.
    pub fn validate(&self, token: &str) -> Result<Claims, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let key = header
            .kid
            .as_ref()
            .and_then(|kid| self.decoding.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = LEEWAY_S;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(e.to_string()),
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;

    fn keys() -> JwtKeys {
        JwtKeys::new(&[
            ("k1".to_owned(), vec![7u8; 32]),
            ("k0".to_owned(), vec![9u8; 32]),
        ])
        .unwrap()
    }

    fn token(k: &JwtKeys, now: DateTime<Utc>, minutes: i64) -> String {
        k.issue(
            Uuid::new_v4(),
            Uuid::new_v4(),
            "auditor",
            now,
            chrono::Duration::minutes(minutes),
        )
        .unwrap()
        .0
    }

    #[test]
    fn a_fresh_token_validates_and_carries_the_claims() {
        let k = keys();
        let user = Uuid::new_v4();
        let (t, issued) = k
            .issue(
                user,
                Uuid::nil(),
                "treasurer",
                Utc::now(),
                chrono::Duration::minutes(15),
            )
            .unwrap();
        let claims = k.validate(&t).unwrap();
        assert_eq!(claims, issued);
        assert_eq!(claims.sub, user);
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn expired_tokens_are_refused() {
        let k = keys();
        let t = token(&k, Utc::now() - chrono::Duration::hours(1), 15);
        assert_eq!(k.validate(&t), Err(TokenError::Expired));
    }

    #[test]
    fn not_yet_valid_tokens_are_refused() {
        let k = keys();
        let t = token(&k, Utc::now() + chrono::Duration::hours(1), 15);
        assert!(matches!(k.validate(&t), Err(TokenError::Invalid(_))));
    }

    #[test]
    fn alg_none_is_refused() {
        let k = keys();
        let t = token(&k, Utc::now(), 15);
        let mut parts: Vec<&str> = t.split('.').collect();
        let none = B64URL.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
        parts[0] = &none;
        let unsigned = format!("{}.{}.", parts[0], parts[1]);
        assert!(k.validate(&unsigned).is_err());
    }

    #[test]
    fn another_algorithm_is_refused() {
        let k = keys();
        let t = token(&k, Utc::now(), 15);
        let parts: Vec<&str> = t.split('.').collect();
        let hs512 = B64URL.encode(br#"{"alg":"HS512","typ":"JWT","kid":"k1"}"#);
        assert!(k
            .validate(&format!("{hs512}.{}.{}", parts[1], parts[2]))
            .is_err());
    }

    #[test]
    fn tampered_claims_are_refused() {
        let k = keys();
        let t = token(&k, Utc::now(), 15);
        let parts: Vec<&str> = t.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
        claims["role"] = serde_json::json!("admin");
        let forged = B64URL.encode(serde_json::to_vec(&claims).unwrap());
        assert!(matches!(
            k.validate(&format!("{}.{forged}.{}", parts[0], parts[2])),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn wrong_or_unknown_keys_are_refused() {
        let k = keys();
        let other = JwtKeys::new(&[("k1".to_owned(), vec![8u8; 32])]).unwrap();
        let t = token(&other, Utc::now(), 15);
        assert!(
            matches!(k.validate(&t), Err(TokenError::Invalid(_))),
            "same kid, other secret"
        );
        let stranger = JwtKeys::new(&[("zz".to_owned(), vec![7u8; 32])]).unwrap();
        assert_eq!(
            k.validate(&token(&stranger, Utc::now(), 15)),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn an_older_key_still_validates_after_rotation() {
        let old = JwtKeys::new(&[("k0".to_owned(), vec![9u8; 32])]).unwrap();
        let t = token(&old, Utc::now(), 15);
        assert!(keys().validate(&t).is_ok());
    }

    #[test]
    fn wrong_issuer_or_audience_is_refused() {
        let k = keys();
        let now = Utc::now().timestamp();
        for (iss, aud) in [("someone-else", AUDIENCE), (ISSUER, "other-api")] {
            let claims = serde_json::json!({"iss": iss, "aud": aud, "sub": Uuid::new_v4(), "org": Uuid::new_v4(),
                "role": "donor", "jti": Uuid::new_v4(), "iat": now, "nbf": now, "exp": now + 600});
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some("k1".to_owned());
            let t = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&[7u8; 32]))
                .unwrap();
            assert!(k.validate(&t).is_err(), "{iss} {aud}");
        }
    }

    #[test]
    fn short_secrets_and_bad_files_are_refused() {
        assert!(JwtKeys::new(&[("k".to_owned(), vec![1u8; 16])]).is_err());
        assert!(JwtKeys::parse("").is_err());
        assert!(JwtKeys::parse("k1 not-base64!").is_err());
        let line = JwtKeys::generate_line();
        let parsed = JwtKeys::parse(&format!("# comment\n{line}\n")).unwrap();
        assert!(parsed.validate(&token(&parsed, Utc::now(), 1)).is_ok());
        assert!(!format!("{parsed:?}").contains(line.split_whitespace().nth(1).unwrap()));
    }
}
