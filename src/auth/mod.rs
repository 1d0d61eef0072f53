//! Identity and access (docs/security.md): argon2id passwords (`password`), HS256 access
//! tokens (`jwt`), rotating refresh tokens (`session`), login throttling (`throttle`), the
//! typed guards every handler names in its signature (`guard`), login, refresh and logout
//! (`http`), `GET /api/v1/me` (`me`), and the admin API for organisations, users and role
//! grants (`admin`), each change recorded in the administrative chain. `party` names an
//! organisation as every API does (`{id, name}`). `store` is the SQL of all of it.

pub mod admin;
pub mod guard;
pub mod holders;
pub mod http;
pub mod jwt;
pub mod me;
pub mod party;
pub mod password;
pub mod session;
pub mod store;
pub mod throttle;

use jwt::JwtKeys;
use session::SessionSettings;
use throttle::Throttle;

/// Authentication state shared by the workers, registered by `app` beside the shared
/// `AppState` (the guards and the login handlers read it from the request's app data).
#[derive(Debug)]
pub struct Auth {
    pub keys: JwtKeys,
    pub throttle: Throttle,
    pub sessions: SessionSettings,
    /// Every request's token holder check, coalesced (`holders`).
    pub holders: holders::Holders,
}

impl Auth {
    pub fn new(keys: JwtKeys, sessions: SessionSettings) -> Self {
        Auth {
            keys,
            throttle: Throttle::default(),
            sessions,
            holders: holders::Holders::default(),
        }
    }
}
