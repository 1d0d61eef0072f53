//! HTTP caching of reports and exports. Every report and export carries a strong `ETag`,
//! and a request whose `If-None-Match` names it is answered 304 without a body. One asked
//! at a signed checkpoint's size (`at_size`) is the same bytes for ever, so it also carries
//! `Cache-Control: private, max-age=31536000, immutable`: the caller's browser or a cache
//! it runs may keep it and never ask again (private: the answer is read with the caller's
//! credentials, so a shared cache must not hand it to others). An answer not pinned (the
//! latest checkpoint) is `Cache-Control: no-cache`: a cache keeps it but revalidates it,
//! and gets 304 while the latest checkpoint has not moved.

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

/// 304 Not Modified for `tag`, with the `Cache-Control` of the answer it stands for.
pub fn not_modified(tag: &str, pinned: bool) -> HttpResponse {
    let mut r = HttpResponse::build(StatusCode::NOT_MODIFIED).finish();
    set(&mut r, Some(tag), pinned);
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

/// An answer held in memory, tagged by its bytes: 304 when the request already holds it
/// (pinned or not: the tag is of the bytes this request would get).
pub fn tagged(req: &HttpRequest, pinned: bool, resp: HttpResponse) -> HttpResponse {
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let (head, body) = resp.into_parts();
    match body.try_into_bytes() {
        Ok(bytes) => {
            let tag = etag(&[&bytes]);
            if matches(req, &tag) {
                return not_modified(&tag, pinned);
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
