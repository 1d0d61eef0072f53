//! Liveness, readiness and metrics endpoints (outside `/api/v1`: they are for the
//! platform, not for users, and need no authentication).

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

/// Liveness: the process is up and serving HTTP. Touches nothing else.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Health)))]

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Readiness: the database answers and every migration is applied. 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Database reachable and migrated", body = Health),
        (status = 503, description = "Database unreachable or migrations pending", body = crate::error::Problem),
    ))]

pub async fn readyz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let migrated = crate::state::with_conn(&state, |_, conn| {
        crate::db::is_migrated(conn).map_err(ApiError::DatabaseUnavailable)
    })
    .await?;
    if !migrated {
        return Err(ApiError::DatabaseUnavailable(anyhow::anyhow!(
            "migrations are pending"
        )));
    }
    Ok(HttpResponse::Ok().json(Health {
        status: "ready",
        version: env!("CARGO_PKG_VERSION"),
    }))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]

pub async fn metrics(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let text = state
        .metrics
        .render(&state.pool)
        .map_err(ApiError::Internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
