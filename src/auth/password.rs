//! Passwords: argon2id with parameters written out (OWASP's minimum: 19 MiB, 2 passes,
//! 1 lane), stored as PHC strings so the parameters travel with each hash and can be
//! raised later. Hashing is CPU-heavy: callers run it on a blocking thread.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory cost in KiB (19 MiB).
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over memory.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const PARALLELISM: u32 = 1;
/// Shortest accepted password, in characters.
pub const MIN_LENGTH: usize = 12;
/// Longest accepted password, in bytes (bounds hashing work per request).
pub const MAX_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("the password must have at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("the password must have at most {MAX_BYTES} bytes")]
    TooLong,
    #[error("the password must not be the email address")]
    EqualsEmail,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The password policy: length, and not the email address (case-insensitively).
pub fn check_policy(password: &str, email: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return Err(PasswordError::EqualsEmail);
    }
    Ok(())
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// True when `password` matches `phc`. Uses the parameters stored in `phc`; a malformed
/// hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    if password.len() > MAX_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    hasher().is_ok_and(|h| h.verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A real hash of a random password, made once: verifying against it when the user does
/// not exist costs the same as for a real user, so timing does not reveal which emails exist.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = uuid::Uuid::new_v4().to_string();
        hash(&random).unwrap_or_else(|_| {
            // Parameters are constants; hashing cannot fail. Keep a valid-format fallback.
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG".to_owned()
        })
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let phc = hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse batterY", &phc));
        assert!(!verify("correct horse battery", "not a phc string"));
        // Two hashes of one password differ (random salt).
        assert_ne!(phc, hash("correct horse battery").unwrap());
    }

    #[test]
    fn stronger_stored_parameters_are_honoured() {
        let params = Params::new(MEMORY_KIB * 2, 3, 1, None).unwrap();
        let strong = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let phc = strong
            .hash_password(b"a much stronger one", &salt)
            .unwrap()
            .to_string();
        assert!(phc.contains("m=38912,t=3,p=1"));
        assert!(verify("a much stronger one", &phc));
    }

    #[test]
    fn policy() {
        assert_eq!(
            check_policy("short", "a@b.org"),
            Err(PasswordError::TooShort)
        );
        assert_eq!(
            check_policy("Alice@Example.org", "alice@example.org"),
            Err(PasswordError::EqualsEmail)
        );
        assert_eq!(
            check_policy(&"x".repeat(2000), "a@b.org"),
            Err(PasswordError::TooLong)
        );
        assert!(check_policy("twelve chars", "a@b.org").is_ok());
        // Characters, not bytes: 12 accented letters pass.
        assert!(check_policy("éééééééééééé", "a@b.org").is_ok());
    }

    #[test]
    fn the_dummy_hash_is_a_real_hash() {
        assert!(dummy_hash().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!verify("anything at all", dummy_hash()));
    }
}
