//! HTTP caching of pinned answers. A report or export asked at a signed checkpoint's size
//! (`at_size`) is the same bytes for ever, so it carries a strong `ETag` and
//! `Cache-Control: private, max-age=31536000, immutable`: a client or a cache in front of
//! the service may keep it (private: the answer depends on the caller's scope), and a
//! request whose `If-None-Match` names the tag is answered 304 without a body. An answer
//! not pinned is `Cache-Control: no-cache` (a cache must revalidate it).

use actix_web::body::{BoxBody, MessageBody as _};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// What `Cache-Control` says of a pinned answer.
pub const IMMUTABLE: &str = "private, max-age=31536000, immutable";

/// A strong entity tag for the bytes (or the identity) `parts` describe: the first 128
/// bits of their SHA-256, quoted.
pub fn etag(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(u64::try_from(p.len()).unwrap_or(u64::MAX).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    format!("\"{}\"", hex::encode(digest.get(..16).unwrap_or_default()))
}

/// Whether the request's `If-None-Match` names `tag` (or `*`).
pub fn matches(req: &HttpRequest, tag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t == tag || t.strip_prefix("W/") == Some(tag))
}

/// 304 Not Modified for `tag`.
pub fn not_modified(tag: &str) -> HttpResponse {
    let mut r = HttpResponse::build(StatusCode::NOT_MODIFIED).finish();
    set(&mut r, Some(tag), true);
    r
}

/// Sets `ETag` (when given) and `Cache-Control` on `resp`.
pub fn set(resp: &mut HttpResponse, tag: Option<&str>, pinned: bool) {
    if let Some(v) = tag.and_then(|t| HeaderValue::from_str(t).ok()) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if pinned { IMMUTABLE } else { "no-cache" }),
    );
}

/// An answer held in memory, tagged by its bytes: 304 when the request already holds it.
pub fn tagged(req: &HttpRequest, pinned: bool, resp: HttpResponse) -> HttpResponse {
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let (head, body) = resp.into_parts();
    match body.try_into_bytes() {
        Ok(bytes) => {
            let tag = etag(&[&bytes]);
            if pinned && matches(req, &tag) {
                return not_modified(&tag);
            }
            let mut resp = head.set_body(BoxBody::new(bytes));
            set(&mut resp, Some(&tag), pinned);
            resp
        }
        Err(body) => {
            let mut resp = head.set_body(body);
            set(&mut resp, None, false);
            resp
        }
    }
}
