//! Who is calling, as typed extractors: `Principal` (any valid access token) and the
//! guards built on it (`AdminPrincipal`, ...). A handler's signature says who may call it.
//! Missing or invalid tokens are 401; a valid token of the wrong role is 403.
//!
//! A token's signature is not enough: on every request the token's holder is looked up
//! (`holders`, one query over primary keys and the live-grant index shared by the requests
//! waiting at that moment): the user must exist and be active, belong to the token's
//! organisation, that organisation must be active, and the user must still hold the token's
//! role. So a deactivation or a revocation takes effect at the next request, in every
//! process. Nothing is cached: a cache could be emptied on this process's admin writes, but
//! not on another instance's.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Auth;
use crate::error::ApiError;
use crate::ledger::entry;
use crate::state::AppState;

/// The roles of docs/security.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Treasurer,
    Ministry,
    Auditor,
    Donor,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Treasurer,
        Role::Ministry,
        Role::Auditor,
        Role::Donor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Treasurer => "treasurer",
            Role::Ministry => "ministry",
            Role::Auditor => "auditor",
            Role::Donor => "donor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A caller with a valid access token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: Uuid,
    pub org: Uuid,
    pub role: Role,
    pub token_id: Uuid,
}

impl Principal {
    /// How this principal is recorded in the ledger entries it writes.
    pub fn ledger_principal(&self) -> entry::Principal {
        entry::Principal {
            id: self.user.to_string(),
            role: self.role.as_str().to_owned(),
        }
    }

    /// The caller of `req`: its token checked (`claims`), then its holder (`holder_live`).
    pub(crate) async fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        let principal = Self::claims(req)?;
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no application state")))?;
        let auth = req
            .app_data::<web::Data<Auth>>()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no authentication state")))?;
        let live = auth
            .holders
            .live(&state.pool, (principal.user, principal.org, principal.role))
            .await?;
        if !live {
            return Err(ApiError::Unauthorized {
                code: "invalid_token",
                detail: "the token's user, organisation or role is no longer active".to_owned(),
            });
        }
        Ok(principal)
    }

    /// The principal a well-formed, validly signed, unexpired token names.
    fn claims(req: &HttpRequest) -> Result<Self, ApiError> {
        let unauthenticated = |detail: &str| ApiError::Unauthorized {
            code: "unauthenticated",
            detail: detail.to_owned(),
        };
        let auth = req
            .app_data::<web::Data<Auth>>()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no authentication state")))?;
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                unauthenticated("send an access token: Authorization: Bearer <token>")
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| unauthenticated("the Authorization header must be `Bearer <token>`"))?;
        let claims = auth
            .keys
            .validate(token.trim())
            .map_err(|e| ApiError::Unauthorized {
                code: "invalid_token",
                detail: e.to_string(),
            })?;
        let role = Role::parse(&claims.role).ok_or_else(|| ApiError::Unauthorized {
            code: "invalid_token",
            detail: "the token names an unknown role".to_owned(),
        })?;
        Ok(Self {
            user: claims.sub,
            org: claims.org,
            role,
            token_id: claims.jti,
        })
    }
}

type Guarded<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Guarded<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Principal::from_request(&req).await })
    }
}

/// A caller acting as `admin`.
#[derive(Debug, Clone)]
pub struct AdminPrincipal(pub Principal);

impl FromRequest for AdminPrincipal {
    type Error = ApiError;
    type Future = Guarded<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            // The role is read from the token before its holder is looked up: a
            // non-admin is refused without a query.
            if Principal::claims(&req)?.role != Role::Admin {
                return Err(ApiError::Forbidden(
                    "this requires the admin role".to_owned(),
                ));
            }
            Principal::from_request(&req).await.map(AdminPrincipal)
        })
    }
}
