//! Identity and access (issue 4, in progress): password hashing and access tokens.
//! Users, login, refresh and the role guards build on these.

pub mod jwt;
pub mod password;
