//! Request context: a request id on every response and every log line of the request,
//! one completion log line with its latency, and the request metrics; and the limits of a
//! request's head (`head_limits`).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use tracing::Instrument;

use crate::error::ApiError;
use crate::state::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request's id, available to handlers as a request extension.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// A client-supplied id is kept when it is short and plain (so it can correlate logs
/// across services); anything else is replaced by a fresh UUID.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request_id(&req);
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.clone());
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id);
    let started = Instant::now();

    let mut res = next.call(req).instrument(span.clone()).await?;

    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_owned());
    if let Some(metrics) = metrics {
        metrics.observe(&method, &route, status, elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        tracing::info!(
            http.method = %method,
            http.path = %path,
            http.route = %route,
            http.status = status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request completed"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(res)
}

/// The longest request target (path and query) served, in bytes.
pub const URI_MAX_BYTES: usize = 8_192;
/// The most header bytes (names and values) a request may carry.
pub const HEADERS_MAX_BYTES: usize = 32_768;

/// Refuses a request whose target or headers exceed this service's limits, with problem
/// JSON (414 `uri_too_long`, 431 `headers_too_large`). Far below actix-http's own fixed
/// limits (a head of 128 KiB, a target of 65,534 bytes, 96 headers), which answer before
/// any middleware with an empty body (docs/api.md, "Known quirks").
pub async fn head_limits(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    let headers: usize = req
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len().saturating_add(v.len()))
        .sum();
    let refusal = if target > URI_MAX_BYTES {
        Some(ApiError::UriTooLong {
            limit_bytes: URI_MAX_BYTES,
        })
    } else if headers > HEADERS_MAX_BYTES {
        Some(ApiError::HeadersTooLarge {
            limit_bytes: HEADERS_MAX_BYTES,
        })
    } else {
        None
    };
    match refusal {
        Some(e) => {
            let res = actix_web::ResponseError::error_response(&e);
            Ok(req.into_response(res).map_into_right_body())
        }
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}
