//! Cross-cutting HTTP pieces: the request-context middleware (request id, completion log
//! line, request metrics), the health, readiness and metrics endpoints, streamed bodies,
//! and the caching headers of pinned answers (`cache`).

pub mod cache;
pub mod health;
pub mod middleware;
pub mod stream;
