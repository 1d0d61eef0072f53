//! Identity and access (issue 4, in progress): argon2id passwords, HS256 access tokens,
//! rotating refresh tokens, login throttling, and the bootstrap `user create` command.
//! Still to come: the role guards on every route, the admin API, funds and their scopes.

pub mod admin;
pub mod guard;
pub mod http;
pub mod jwt;
pub mod password;
pub mod session;
pub mod store;
pub mod throttle;
