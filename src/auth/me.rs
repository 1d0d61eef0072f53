//! `GET /api/v1/me`: who the caller is — the user, its organisation, the role of its token
//! and the others it holds, and the funds it can see — so a client never has to decode
//! its token or guess its scope.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::guard::{Principal, Role};
use super::store;
use crate::error::{ApiError, ApiResult};
use crate::state::{with_conn, AppState};

/// The caller, as its access token and the directory say.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: MeUser,
    pub organization: MeOrganization,
    /// The role this token acts in.
    pub role: Role,
    /// Every role the user holds now (log in with `role` to act in another).
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeUser {
    pub id: Uuid,
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeOrganization {
    pub id: Uuid,
    pub name: String,
    /// `fund_secretariat`, `ministry`, `donor`, `audit_body`, `vendor` or `operator`.
    pub kind: String,
}

/// Who the caller is. Any valid token.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = crate::error::Problem)))]
pub async fn me(principal: Principal, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let out = with_conn(&state, move |_, conn| {
        let gone = || ApiError::Unauthorized {
            code: "invalid_token",
            detail: "the token's user or organisation no longer exists or is inactive".to_owned(),
        };
        let user = store::active_user(conn, principal.user)?.ok_or_else(gone)?;
        let org = store::org(conn, user.org_id)?.ok_or_else(gone)?;
        let roles = store::live_roles(conn, user.id)?;
        Ok(Me {
            user: MeUser {
                id: user.id,
                email: user.email,
            },
            organization: MeOrganization {
                id: org.id,
                name: org.name,
                kind: org.kind,
            },
            role: principal.role,
            roles,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/me").get(me));
}
