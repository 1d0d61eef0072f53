//! The admin API: organisations, users and role grants. Admin only (`AdminPrincipal`).
//! Every change is an entry in the administrative chain, written in the same transaction
//! as the state it changes (a writer `Effect`), with the acting admin as its principal.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::guard::{AdminPrincipal, Principal, Role};
use super::party::Party;
use super::{password, store};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::ledger::entry::{Entry, ADMIN_CHAIN};
use crate::ledger::writer::{AppendError, AppendRequest, FnEffect};
use crate::state::{with_conn, AppState};
use crate::text::{self, Text};

const ORG_KINDS: [&str; 6] = [
    "donor",
    "ministry",
    "fund_secretariat",
    "audit_body",
    "vendor",
    "operator",
];

pub(crate) fn db_err(e: DieselError, conflict: &'static str, what: &str) -> AppendError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            AppendError::Conflict {
                code: conflict,
                detail: format!("{what} already exists"),
            }
        }
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            AppendError::Rejected {
                code: "unknown_reference",
                detail: format!("{what} refers to something that does not exist"),
            }
        }
        other => other.into(),
    }
}

fn not_found(what: &str) -> AppendError {
    AppendError::Rejected {
        code: "not_found",
        detail: format!("no such {what}"),
    }
}

/// Ids derived from idempotency keys (UUIDv5 under this namespace).
const CREATED_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6b1d_0c1e_5f3a_4d8e_9a07_2c4b_e1f0_7d53);

/// The id of what a write of `kind` creates. With an `Idempotency-Key`, derived from the
/// acting user, the kind and the key: a retry of the same request then builds the same
/// entry body, which the ledger replays (and answers with the original id), while the same
/// key with another request still differs and is refused (409 `idempotency_key_reused`).
/// Without a key, a random id.
pub(crate) fn created_id(req: &HttpRequest, actor: &Principal, kind: &str) -> Uuid {
    match idempotency_key(req) {
        Some(key) => Uuid::new_v5(
            &CREATED_ID_NAMESPACE,
            format!("{}\n{kind}\n{key}", actor.user).as_bytes(),
        ),
        None => Uuid::new_v4(),
    }
}

fn idempotency_key(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
}

/// Records `kind` in the administrative chain with `effect` applied in the same transaction
/// (the actor as principal; the request's `Idempotency-Key`, if any, as key). An
/// effect's `not_found` refusal becomes a 404. Shared by every admin route.
pub(crate) async fn record<F>(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    actor: &Principal,
    kind: &str,
    body: serde_json::Value,
    effect: F,
) -> ApiResult<()>
where
    F: Fn(&mut PgConnection, &[Entry]) -> Result<(), AppendError> + Send + Sync + 'static,
{
    let key =
        idempotency_key(req).map_or_else(|| format!("{kind}-{}", Uuid::new_v4()), str::to_owned);
    let request = AppendRequest {
        kind: kind.to_owned(),
        business_date: state.ledger.now().date_naive(),
        idempotency_key: key,
        body,
        principal: actor.ledger_principal(),
    };
    state
        .ledger
        .append_with(ADMIN_CHAIN, vec![request], Arc::new(FnEffect(effect)))
        .await
        .map_err(|e| match e {
            AppendError::Rejected {
                code: "not_found",
                detail,
            } => ApiError::NotFound(detail),
            other => other.into(),
        })?;
    Ok(())
}

/// An organisation's (or a fund's) name as stored: trimmed, 1 to 200 characters, one
/// line with no control character; else 422 `invalid_name`.
pub(crate) fn organization_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::unprocessable(
            "invalid_name",
            "the name must be 1 to 200 characters",
        ));
    }
    text::check(name, "name", Text::Line)
        .map_err(|d| ApiError::unprocessable("invalid_name", d))?;
    Ok(name.to_owned())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    pub name: String,
    /// donor, ministry, fund_secretariat, audit_body, vendor or operator.
    pub kind: String,
    /// The organisation's IATI organisation identifier, `{RegistrationAgency}-{RegistrationNumber}`
    /// (e.g. `XM-DAC-8`, `GB-COH-01234567`; the agency from IATI's
    /// OrganisationRegistrationAgency codelist). The IATI export names the organisation by it
    /// (docs/exports.md). Optional; 422 `invalid_iati_ref` when not of that form, 409
    /// `identifier_exists` when it already names an organisation.
    #[serde(default)]
    #[schema(
        example = "XM-DAC-8",
        pattern = "^[A-Z]{2}-[A-Z0-9]{2,20}-[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
    )]
    pub iati_ref: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub active: bool,
    /// Its IATI organisation identifier (`{RegistrationAgency}-{RegistrationNumber}`), or
    /// null when none is recorded.
    pub iati_ref: Option<String>,
}

impl From<store::OrgRow> for Organization {
    fn from(o: store::OrgRow) -> Self {
        Self {
            id: o.id,
            name: o.name,
            kind: o.kind,
            active: o.active,
            iati_ref: None,
        }
    }
}

/// Create an organisation.
#[utoipa::path(post, path = "/api/v1/admin/organizations", tag = "admin", request_body = NewOrganization,
    security(("bearer" = [])),
    responses((status = 201, body = Organization), (status = 401, body = crate::error::Problem),
              (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn create_organization(
    admin: AdminPrincipal,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<NewOrganization>,
) -> ApiResult<HttpResponse> {
    let NewOrganization {
        name,
        kind,
        iati_ref,
    } = body.into_inner();
    let name = organization_name(&name)?;
    if !ORG_KINDS.contains(&kind.as_str()) {
        return Err(ApiError::unprocessable(
            "invalid_kind",
            format!("kind must be one of {}", ORG_KINDS.join(", ")),
        ));
    }
    let identifier = match iati_ref.as_deref() {
        None => None,
        Some(r) => match store::split_iati_ref(r) {
            Some((agency, number)) => Some((agency.to_owned(), number.to_owned())),
            None => {
                return Err(ApiError::unprocessable(
                    "invalid_iati_ref",
                    "iati_ref must be an IATI organisation identifier {RegistrationAgency}-{RegistrationNumber}, \
                     such as XM-DAC-8 or GB-COH-01234567: an agency code of two capital letters, a hyphen and \
                     capital letters or digits, then a hyphen and 1 to 100 letters, digits, '.', '_' or '-'",
                ))
            }
        },
    };
    let id = created_id(&req, &admin.0, "organization_created");
    let (n, k) = (name.clone(), kind.clone());
    let mut fact = json!({"organization": id, "name": name, "kind": kind});
    if let (Some(r), Some(obj)) = (&iati_ref, fact.as_object_mut()) {
        obj.insert("iati_ref".to_owned(), json!(r));
    }
    record(
        &state,
        &req,
        &admin.0,
        "organization_created",
        fact,
        move |conn, _| {
            store::insert_org(conn, id, &n, &k)
                .map_err(|e| db_err(e, "organization_exists", "an organisation with this name"))?;
            if let Some((agency, number)) = &identifier {
                store::insert_identifier(conn, id, agency, number).map_err(|e| {
                    db_err(
                        e,
                        "identifier_exists",
                        "an organisation with this IATI identifier",
                    )
                })?;
            }
            Ok(())
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(Organization {
        id,
        name,
        kind,
        active: true,
        iati_ref,
    }))
}

/// List organisations.
#[utoipa::path(get, path = "/api/v1/admin/organizations", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [Organization]), (status = 403, body = crate::error::Problem)))]
pub async fn list_organizations(
    _admin: AdminPrincipal,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let (rows, refs) = with_conn(&state, |_, conn| {
        let rows = store::list_orgs(conn, 1_000)?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let refs: std::collections::HashMap<Uuid, String> =
            store::iati_refs(conn, &ids, None)?.into_iter().collect();
        Ok((rows, refs))
    })
    .await?;
    let out: Vec<Organization> = rows
        .into_iter()
        .map(|r| {
            let iati_ref = refs.get(&r.id).cloned();
            Organization {
                iati_ref,
                ..Organization::from(r)
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

/// Deactivate an organisation: its users can no longer log in or refresh.
#[utoipa::path(post, path = "/api/v1/admin/organizations/{id}/deactivate", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn deactivate_organization(
    admin: AdminPrincipal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let now = state.ledger.now();
    record(
        &state,
        &req,
        &admin.0,
        "organization_deactivated",
        json!({"organization": id}),
        move |conn, _| {
            if store::set_org_active(conn, id, false).map_err(AppendError::from)? == 0 {
                return Err(not_found("organisation"));
            }
            revoke_org_sessions(conn, id, now)
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn revoke_org_sessions(
    conn: &mut PgConnection,
    org: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AppendError> {
    use diesel::prelude::*;
    let users: Vec<Uuid> = crate::schema::users::table
        .filter(crate::schema::users::org_id.eq(org))
        .select(crate::schema::users::id)
        .load(conn)?;
    for u in users {
        store::revoke_user(conn, u, now)?;
    }
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    /// At least 12 characters, not the email. Never recorded in the ledger.
    pub password: String,
    pub organization: Uuid,
    /// Roles to grant at once.
    #[serde(default)]
    pub roles: Vec<Role>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub organization: Party,
    pub active: bool,
    pub roles: Vec<String>,
    /// The live roles whose grant carries the approver grant (may decide requests held
    /// under an approval policy).
    pub approver_roles: Vec<String>,
}

/// Create a user (and grant roles).
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = NewUser, security(("bearer" = [])),
    responses((status = 403, body = crate::error::Problem), (status = 201, body = User), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_user(
    admin: AdminPrincipal,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<NewUser>,
) -> ApiResult<HttpResponse> {
    let NewUser {
        email,
        password: pass,
        organization,
        roles,
    } = body.into_inner();
    let email = email.trim().to_lowercase();
    if !(3..=254).contains(&email.len()) || !email.contains('@') {
        return Err(ApiError::unprocessable(
            "invalid_email",
            "not an email address",
        ));
    }
    text::check(&email, "email", Text::Line)
        .map_err(|d| ApiError::unprocessable("invalid_email", d))?;
    password::check_policy(&pass, &email)
        .map_err(|e| ApiError::unprocessable("weak_password", e.to_string()))?;
    let phc = web::block(move || password::hash(&pass))
        .await?
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?;
    let id = created_id(&req, &admin.0, "user_created");
    let role_names: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
    let (e, r) = (email.clone(), role_names.clone());
    record(
        &state,
        &req,
        &admin.0,
        "user_created",
        json!({"user": id, "organization": organization, "email": email, "roles": role_names}),
        move |conn, _| {
            store::insert_user(conn, id, organization, &e, &phc)
                .map_err(|err| db_err(err, "user_exists", "a user with this email"))?;
            for role in &r {
                store::insert_grant(conn, Uuid::new_v4(), id, role)?;
            }
            Ok(())
        },
    )
    .await?;
    let names = with_conn(&state, move |_, conn| {
        Ok(super::party::names(conn, &[organization])?)
    })
    .await?;
    Ok(HttpResponse::Created().json(User {
        id,
        email,
        organization: super::party::party(&names, organization),
        active: true,
        roles: role_names,
        approver_roles: Vec::new(),
    }))
}

/// List users with their live roles.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [User]), (status = 403, body = crate::error::Problem)))]
pub async fn list_users(
    _admin: AdminPrincipal,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let (rows, names) = with_conn(&state, |_, conn| {
        let rows = store::list_users(conn, 1_000)?;
        let ids: Vec<Uuid> = rows.iter().map(|(u, _)| u.org_id).collect();
        let names = super::party::names(conn, &ids)?;
        Ok((rows, names))
    })
    .await?;
    Ok(HttpResponse::Ok().json(
        rows.into_iter()
            .map(|(u, roles)| User {
                id: u.id,
                email: u.email,
                organization: super::party::party(&names, u.org_id),
                active: u.active,
                approver_roles: roles
                    .iter()
                    .filter(|(_, approver)| *approver)
                    .map(|(r, _)| r.clone())
                    .collect(),
                roles: roles.into_iter().map(|(r, _)| r).collect(),
            })
            .collect::<Vec<_>>(),
    ))
}

/// Deactivate a user: its refresh and access tokens stop at once (the guards check the
/// holder on every request).
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/deactivate", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn deactivate_user(
    admin: AdminPrincipal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let now = state.ledger.now();
    record(
        &state,
        &req,
        &admin.0,
        "user_deactivated",
        json!({"user": id}),
        move |conn, _| {
            if store::set_user_active(conn, id, false)? == 0 {
                return Err(not_found("user"));
            }
            store::revoke_user(conn, id, now)?;
            Ok(())
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub role: Role,
}

/// Grant a role.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/roles", tag = "admin", request_body = GrantRequest,
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 403, body = crate::error::Problem), (status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn grant_role(
    admin: AdminPrincipal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<Uuid>,
    body: Json<GrantRequest>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let role = body.role.as_str();
    record(
        &state,
        &req,
        &admin.0,
        "role_granted",
        json!({"user": id, "role": role}),
        move |conn, _| {
            store::insert_grant(conn, Uuid::new_v4(), id, role).map_err(|e| match e {
                DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                    not_found("user")
                }
                other => db_err(other, "role_already_granted", "this grant"),
            })
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
pub struct RolePath {
    id: Uuid,
    role: Role,
}

/// Revoke a role: the user's refresh tokens die at once.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}/roles/{role}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("role" = Role, Path)),
    responses((status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn revoke_role(
    admin: AdminPrincipal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<RolePath>,
) -> ApiResult<HttpResponse> {
    let RolePath { id, role } = path.into_inner();
    let role = role.as_str();
    let now = state.ledger.now();
    record(
        &state,
        &req,
        &admin.0,
        "role_revoked",
        json!({"user": id, "role": role}),
        move |conn, _| {
            if store::revoke_grant(conn, id, role, now)? == 0 {
                return Err(not_found("live grant of this role"));
            }
            store::revoke_user(conn, id, now)?;
            Ok(())
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The roles whose grant may carry the approver grant: those that decide requests held
/// under a fund's approval policy.
const APPROVER_ROLES: [Role; 2] = [Role::Treasurer, Role::Ministry];

/// Set or clear the approver grant on a user's live grant of `role`.
async fn approver(
    admin: AdminPrincipal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<RolePath>,
    approver: bool,
) -> ApiResult<HttpResponse> {
    let RolePath { id, role } = path.into_inner();
    if !APPROVER_ROLES.contains(&role) {
        return Err(ApiError::unprocessable(
            "not_an_approver_role",
            "only a treasurer or ministry grant carries the approver grant",
        ));
    }
    let role = role.as_str();
    let kind = if approver {
        "approver_granted"
    } else {
        "approver_revoked"
    };
    record(
        &state,
        &req,
        &admin.0,
        kind,
        json!({"user": id, "role": role}),
        move |conn, _| {
            if store::set_approver(conn, id, role, approver)? == 1 {
                return Ok(());
            }
            match store::approver_grant(conn, id, role)? {
                None => Err(not_found("live grant of this role")),
                Some(_) if approver => Err(AppendError::Conflict {
                    code: "approver_already_granted",
                    detail: "this grant already carries the approver grant".to_owned(),
                }),
                Some(_) => Err(not_found("approver grant on this role")),
            }
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Grant the approver grant: the user's grant of `role` (treasurer or ministry) may then
/// decide requests held under a fund's approval policy, in its own organisation.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/roles/{role}/approver", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("role" = Role, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn grant_approver(
    admin: AdminPrincipal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<RolePath>,
) -> ApiResult<HttpResponse> {
    approver(admin, state, req, path, true).await
}

/// Revoke the approver grant; the role itself stays.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}/roles/{role}/approver", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("role" = Role, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn revoke_approver(
    admin: AdminPrincipal,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: Path<RolePath>,
) -> ApiResult<HttpResponse> {
    approver(admin, state, req, path, false).await
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/organizations")
            .get(list_organizations)
            .post(create_organization),
    )
    .service(web::resource("/admin/organizations/{id}/deactivate").post(deactivate_organization))
    .service(
        web::resource("/admin/users")
            .get(list_users)
            .post(create_user),
    )
    .service(web::resource("/admin/users/{id}/deactivate").post(deactivate_user))
    .service(web::resource("/admin/users/{id}/roles").post(grant_role))
    .service(web::resource("/admin/users/{id}/roles/{role}").delete(revoke_role))
    .service(
        web::resource("/admin/users/{id}/roles/{role}/approver")
            .post(grant_approver)
            .delete(revoke_approver),
    );
}
