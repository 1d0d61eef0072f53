//! Cross-cutting HTTP pieces: request context middleware, metrics, health endpoints,
//! extractor configuration.

pub mod health;
pub mod metrics;
pub mod middleware;
pub mod stream;
