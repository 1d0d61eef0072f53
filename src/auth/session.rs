//! Sessions: login, refresh (rotating, with reuse detection) and logout.

use base64::Engine;
use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::jwt::JwtKeys;
use super::{password, store};

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub access_ttl: chrono::Duration,
    pub refresh_ttl: chrono::Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            access_ttl: chrono::Duration::minutes(15),
            refresh_ttl: chrono::Duration::hours(12),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub expires_in_s: i64,
    pub refresh_token: String,
    pub role: String,
    pub user_id: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Unknown email, wrong password, inactive user or organisation: one answer for all.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("this user holds several roles ({0}); say which one to act in")]
    RoleRequired(String),
    #[error("this user does not hold the role {0}")]
    RoleNotHeld(String),
    #[error("the refresh token is not valid")]
    InvalidRefresh,
    /// A used refresh token came back: its whole family is revoked.
    #[error("the refresh token was already used; every token of this session is revoked")]
    RefreshReused,
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error("{0}")]
    Internal(String),
}

/// A new random refresh token (256 bits, base64url) and the SHA-256 stored for it.
fn new_refresh_token() -> (String, Vec<u8>) {
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let hash = token_hash(&token);
    (token, hash)
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Checks the password (always running argon2, against a dummy hash for unknown users, so
/// the time taken does not say whether the email exists) and opens a session.
pub fn login(
    conn: &mut PgConnection,
    keys: &JwtKeys,
    settings: &SessionSettings,
    email: &str,
    pass: &str,
    role: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Tokens, SessionError> {
    let email = email.trim().to_lowercase();
    let user = store::active_user_by_email(conn, &email)?;
    let phc = user
        .as_ref()
        .map_or(password::dummy_hash(), |u| u.password_hash.as_str());
    let matches = password::verify(pass, phc);
    let user = match user {
        Some(u) if matches => u,
        _ => return Err(SessionError::InvalidCredentials),
    };
    let roles = store::live_roles(conn, user.id)?;
    let role = match (role, roles.as_slice()) {
        (_, []) => return Err(SessionError::InvalidCredentials),
        (Some(r), held) if held.iter().any(|h| h == r) => r.to_owned(),
        (Some(r), _) => return Err(SessionError::RoleNotHeld(r.to_owned())),
        (None, [only]) => only.clone(),
        (None, held) => return Err(SessionError::RoleRequired(held.join(", "))),
    };
    let family = Uuid::new_v4();
    open(conn, keys, settings, &user, &role, family, now)
}

fn open(
    conn: &mut PgConnection,
    keys: &JwtKeys,
    settings: &SessionSettings,
    user: &store::UserRow,
    role: &str,
    family: Uuid,
    now: DateTime<Utc>,
) -> Result<Tokens, SessionError> {
    let (refresh_token, hash) = new_refresh_token();
    store::insert_refresh(
        conn,
        family,
        user.id,
        role,
        &hash,
        now,
        now + settings.refresh_ttl,
    )?;
    let (access_token, _) = keys
        .issue(user.id, user.org_id, role, now, settings.access_ttl)
        .map_err(|e| SessionError::Internal(e.to_string()))?;
    Ok(Tokens {
        access_token,
        expires_in_s: settings.access_ttl.num_seconds(),
        refresh_token,
        role: role.to_owned(),
        user_id: user.id,
    })
}

/// Rotates a refresh token: the presented one is spent, a new one of the same family is
/// returned with a new access token. A spent token presented again revokes the family.
pub fn refresh(
    conn: &mut PgConnection,
    keys: &JwtKeys,
    settings: &SessionSettings,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Tokens, SessionError> {
    let hash = token_hash(token);
    // The reuse verdict must be committed even though the caller gets an error.
    conn.transaction(
        |conn| -> Result<Result<Tokens, SessionError>, SessionError> {
            let Some(row) = store::refresh_for_update(conn, &hash)? else {
                return Ok(Err(SessionError::InvalidRefresh));
            };
            if row.revoked_at.is_some() || row.expires_at <= now {
                return Ok(Err(SessionError::InvalidRefresh));
            }
            if row.used_at.is_some() {
                store::revoke_family(conn, row.family_id, now)?;
                return Ok(Err(SessionError::RefreshReused));
            }
            let user = store::active_user(conn, row.user_id)?;
            let still_holds = match &user {
                Some(u) => store::live_roles(conn, u.id)?.contains(&row.role),
                None => false,
            };
            let Some(user) = user.filter(|_| still_holds) else {
                store::revoke_family(conn, row.family_id, now)?;
                return Ok(Err(SessionError::InvalidRefresh));
            };
            store::mark_used(conn, row.id, now)?;
            Ok(open(
                conn,
                keys,
                settings,
                &user,
                &row.role,
                row.family_id,
                now,
            ))
        },
    )?
}

/// Ends the session the refresh token belongs to (idempotent; unknown tokens are ignored
/// so the answer says nothing about them).
pub fn logout(
    conn: &mut PgConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(), SessionError> {
    let hash = token_hash(token);
    conn.transaction(|conn| {
        if let Some(row) = store::refresh_for_update(conn, &hash)? {
            store::revoke_family(conn, row.family_id, now)?;
        }
        Ok(())
    })
}
