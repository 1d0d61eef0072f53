//! The composition root: the one route table, the middleware, extractor configuration and
//! the OpenAPI document, over the shared state (`state`) and each capability's own
//! (`auth::Auth`). Nothing below imports this module. `startup` serves it; the integration
//! tests drive it in-process.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, ErrorHandlerResponse, ErrorHandlers};
use actix_web::{http::StatusCode, web, App, HttpRequest, HttpResponse};
use utoipa::OpenApi;

use crate::auth::Auth;
use crate::entries::effect::Screens;
use crate::error::{json_error, ApiError};
use crate::http::{health, middleware};
use crate::state::AppState;

pub mod funds;
pub mod openapi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "fundtrail",
        description = "Tamper-evident audit ledger for pooled donor funds. Errors are RFC 7807 problem JSON with a stable `code` (see docs/api.md).",
        license(name = "Apache-2.0")
    ),
    paths(
        health::healthz, health::readyz, health::metrics,
        crate::chains::http::create_chain, crate::chains::http::list_chains, crate::chains::http::append,
        crate::chains::http::append_batch, crate::chains::http::list_entries, crate::chains::http::get_entry,
        crate::chains::http::proof, crate::chains::http::consistency, crate::chains::http::checkpoint,
        crate::chains::http::verify, crate::chains::http::export, crate::chains::http::keys,
        crate::auth::http::login, crate::auth::http::refresh, crate::auth::http::logout,
        crate::auth::me::me,
        crate::auth::admin::create_organization, crate::auth::admin::list_organizations,
        crate::auth::admin::deactivate_organization, crate::auth::admin::create_user,
        crate::auth::admin::list_users, crate::auth::admin::deactivate_user,
        crate::auth::admin::grant_role, crate::auth::admin::revoke_role,
        crate::auth::admin::grant_approver, crate::auth::admin::revoke_approver,
        funds::create_fund, crate::funds::http::assign_auditor,
        crate::funds::http::deactivate_fund,
        crate::funds::http::set_public_page,
        crate::funds::http::list_funds, crate::funds::allocations::list_allocations,
        crate::entries::http::post_entry, crate::entries::http::post_batch,
        crate::entries::http::list_entries, crate::entries::http::balances,
        crate::entries::http::list_approval_requests,
        crate::evidence::http::upload, crate::evidence::http::list, crate::evidence::http::bundle, crate::evidence::http::download,
        crate::evidence::together::post_with_documents,
        crate::procurement::http::register_vendor, crate::procurement::http::list_vendors,
        crate::procurement::http::get_contract, crate::procurement::contracts::list_contracts,
        crate::screening::http::list_flags, crate::screening::http::flag_counts,
        crate::screening::http::get_flag, crate::screening::http::triage,
        crate::screening::http::run_screens,
        crate::reports::http::fund_statement, crate::reports::http::donor_report,
        crate::reports::http::series, crate::reports::public::public_fund,
        crate::reports::exports::entries_csv, crate::reports::exports::iati_xml, crate::reports::exports::ocds_json,
        crate::notify::http::create, crate::notify::http::list, crate::notify::http::delete,
        crate::notify::http::rotate_secret, crate::notify::http::send_test, crate::notify::http::deliveries,
        crate::bank::http::register_account, crate::bank::http::list_accounts,
        crate::bank::http::upload_statement, crate::bank::http::run_reconciliation,
        crate::bank::http::configure, crate::bank::http::account_report,
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem, health::Health,
        crate::entries::kinds::FundEntry, crate::entries::kinds::Pledge, crate::entries::kinds::Contribution,
        crate::entries::kinds::Allocation, crate::entries::kinds::Disbursement, crate::entries::kinds::FxRate,
        crate::entries::kinds::Expenditure, crate::entries::kinds::Tender, crate::entries::kinds::Bid,
        crate::entries::kinds::Award, crate::entries::kinds::Contract, crate::entries::kinds::ContractAmendment,
        crate::entries::kinds::Invoice, crate::entries::kinds::Payment, crate::entries::kinds::Reversal,
        crate::entries::kinds::ScreeningConfig, crate::entries::kinds::BidDisqualified,
        crate::entries::kinds::Decision, crate::entries::kinds::Approval,
        crate::entries::kinds::EvidenceAttached, crate::entries::kinds::ApprovalPolicy,
        crate::entries::kinds::PolicyRule, crate::entries::kinds::ApprovalExpired,
        crate::evidence::http::DocumentDto)),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "ledger", description = "Hash-chained entries, Merkle proofs, signed checkpoints, verification. Who reads a chain: a fund's chain, admins and whoever sees the fund in full (its treasurer, assigned auditors, contributing donors; a ministry reads its own entries at /api/v1/funds/{fund}/entries, 403 here); the administrative chain, admins and auditors (an auditor sees only the entries about its funds; its export is the admins'). Creating generic chains and appending to them: admins. The published keys need no token."),
        (name = "auth", description = "Login, token refresh and logout"),
        (name = "admin", description = "Organisations, users, role grants and funds (admin only)"),
        (name = "funds", description = "Pooled funds and their typed entries, scoped to the caller"),
        (name = "procurement", description = "Vendors and contracts with their history"),
        (name = "screening", description = "Anomaly flags and their triage"),
        (name = "webhooks", description = "Signed notifications of a fund's events: subscriptions, test events, the delivery log"),
        (name = "reports", description = "Fund statement, donor reports, series and exports, pinned to signed checkpoints"),
        (name = "public", description = "What a fund's administrators publish for everyone (no token): sources, uses by ministry, contracts awarded, the signed checkpoint"),
        (name = "bank", description = "Bank accounts, statements (camt.053, CSV) and their reconciliation with the ledger"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the guarded paths refer to.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI 3.1 document, as served at `/openapi.json`: utoipa's, completed with what
/// every operation shares (`openapi::complete`).
pub fn openapi() -> serde_json::Value {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        openapi::complete(&mut doc);
        doc
    })
    .clone()
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(openapi())
}

async fn route_not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound {
        method: req.method().to_string(),
        path: req.path().to_owned(),
    })
}

/// actix answers a known path with the wrong method by an empty 405; give it a problem body.
fn method_not_allowed<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let (req, _) = res.into_parts();
    let res = ServiceResponse::new(
        req,
        actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed),
    );
    Ok(ErrorHandlerResponse::Response(res.map_into_right_body()))
}

/// The screens the entries API appends with.
fn screens() -> web::Data<dyn Screens> {
    let screens: std::sync::Arc<dyn Screens> = std::sync::Arc::new(crate::screening::Screens);
    web::Data::from(screens)
}

/// Builds the application around `state` and `auth`: the one route table.
pub fn build(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limit = state.settings.body_limit_bytes;
    App::new()
        .app_data(state.clone())
        .app_data(auth)
        // The screens the entries API appends with (`entries` cannot name `screening`,
        // which builds on it).
        .app_data(screens())
        .app_data(
            web::JsonConfig::default()
                .limit(limit)
                .error_handler(move |err, _req| json_error(err, limit).into()),
        )
        .app_data(web::PayloadConfig::default().limit(limit))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|err, _req| ApiError::InvalidParameter(err.to_string()).into()),
        )
        .app_data(
            web::PathConfig::default()
                .error_handler(|err, _req| ApiError::InvalidParameter(err.to_string()).into()),
        )
        .wrap(from_fn(middleware::head_limits))
        .wrap(ErrorHandlers::new().handler(StatusCode::METHOD_NOT_ALLOWED, method_not_allowed))
        .wrap(from_fn(middleware::request_context))
        .service(web::resource("/healthz").get(health::healthz))
        .service(web::resource("/readyz").get(health::readyz))
        .service(web::resource("/metrics").get(health::metrics))
        .service(web::resource("/openapi.json").get(openapi_json))
        .service(
            web::scope("/api/v1")
                .configure(crate::auth::http::routes)
                .configure(crate::auth::me::routes)
                .configure(crate::auth::admin::routes)
                .service(web::resource("/admin/funds").post(funds::create_fund))
                .configure(crate::funds::http::routes)
                .configure(crate::funds::allocations::routes)
                .configure(crate::entries::http::routes)
                .configure(crate::evidence::http::routes)
                .configure(crate::evidence::together::routes)
                .configure(crate::procurement::http::routes)
                .configure(crate::procurement::contracts::routes)
                .configure(crate::screening::http::routes)
                .configure(crate::notify::http::routes)
                .configure(crate::reports::http::routes)
                .configure(crate::reports::public::routes)
                .configure(crate::reports::exports::routes)
                .configure(crate::bank::http::routes)
                .configure(crate::chains::http::routes),
        )
        .app_data(web::Data::new(crate::web::docs::ApiDocument(
            serde_json::to_value(openapi()).unwrap_or_default(),
        )))
        .configure(crate::web::routes)
        .default_service(web::to(route_not_found))
}
