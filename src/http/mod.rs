//! Cross-cutting HTTP pieces: the request-context middleware (request id, completion log
//! line, request metrics), the health, readiness and metrics endpoints, streamed bodies,
//! and the caching headers of pinned answers (`cache`).

pub mod cache;
pub mod health;
pub mod middleware;
pub mod stream;

/// The `limit` of a paged listing: 1 to 1,000, default 100 (400 `invalid_parameter`
/// otherwise).
pub fn page_limit(limit: Option<u32>) -> crate::error::ApiResult<i64> {
    let limit = i64::from(limit.unwrap_or(100));
    if !(1..=1_000).contains(&limit) {
        return Err(crate::error::ApiError::InvalidParameter(
            "limit must be 1 to 1000".to_owned(),
        ));
    }
    Ok(limit)
}
