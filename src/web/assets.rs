//! The pages' static files, compiled into the binary: no CDN, no remote font or script.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// (name, content type, bytes).
const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "select.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/select.js"),
    ),
    (
        "verify.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/verify.js"),
    ),
];

/// `GET /assets/{name}`. Anyone.
pub async fn serve(name: web::Path<String>) -> HttpResponse {
    match FILES.iter().find(|(n, _, _)| *n == name.as_str()) {
        Some((_, content_type, body)) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, *content_type))
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .insert_header(("x-content-type-options", "nosniff"))
            .body(*body),
        None => HttpResponse::NotFound().finish(),
    }
}
