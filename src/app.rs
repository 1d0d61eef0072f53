//! The application: shared state, the one route table, extractor configuration and the
//! OpenAPI document. `startup` serves it; the integration tests drive it in-process.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, ErrorHandlerResponse, ErrorHandlers};
use actix_web::{http::StatusCode, web, App, HttpRequest, HttpResponse};
use utoipa::OpenApi;
use utoipa_scalar::{Scalar, Servable};

use std::sync::Arc;

use crate::auth::http::Auth;
use crate::config::AppSettings;
use crate::db::PgPool;
use crate::error::{json_error, ApiError};
use crate::http::{health, metrics::Metrics, middleware};
use crate::ledger::{self, Ledger};

/// State shared by every worker.
pub struct AppState {
    pub pool: PgPool,
    pub metrics: Metrics,
    pub settings: AppSettings,
    pub ledger: Arc<Ledger>,
    pub auth: Auth,
}

impl AppState {
    pub fn new(
        pool: PgPool,
        settings: AppSettings,
        ledger: Arc<Ledger>,
        auth: Auth,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pool,
            metrics: Metrics::new()?,
            settings,
            ledger,
            auth,
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "fundtrail",
        description = "Tamper-evident audit ledger for pooled donor funds. Errors are RFC 7807 problem JSON with a stable `code` (see docs/api.md).",
        license(name = "Apache-2.0")
    ),
    paths(
        health::healthz, health::readyz, health::metrics,
        ledger::http::create_chain, ledger::http::list_chains, ledger::http::append,
        ledger::http::append_batch, ledger::http::list_entries, ledger::http::get_entry,
        ledger::http::proof, ledger::http::consistency, ledger::http::checkpoint,
        ledger::http::verify, ledger::http::export, ledger::http::keys,
        crate::auth::http::login, crate::auth::http::refresh, crate::auth::http::logout,
        crate::auth::admin::create_organization, crate::auth::admin::list_organizations,
        crate::auth::admin::deactivate_organization, crate::auth::admin::create_user,
        crate::auth::admin::list_users, crate::auth::admin::deactivate_user,
        crate::auth::admin::grant_role, crate::auth::admin::revoke_role,
        crate::funds::http::create_fund, crate::funds::http::assign_auditor,
        crate::funds::http::deactivate_fund,
        crate::funds::http::list_funds,
        crate::funds::entries::post_entry, crate::funds::entries::post_batch,
        crate::funds::entries::list_entries, crate::funds::entries::balances,
        crate::procurement::http::register_vendor, crate::procurement::http::list_vendors,
        crate::procurement::http::get_contract,
        crate::screening::http::list_flags, crate::screening::http::flag_counts,
        crate::screening::http::get_flag, crate::screening::http::triage,
        crate::screening::http::run_screens,
        crate::reports::http::fund_statement, crate::reports::http::donor_report,
        crate::reports::http::series,
        crate::reports::exports::entries_csv, crate::reports::exports::iati_xml, crate::reports::exports::ocds_json,
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem, health::Health,
        crate::funds::kinds::FundEntry, crate::funds::kinds::Pledge, crate::funds::kinds::Contribution,
        crate::funds::kinds::Allocation, crate::funds::kinds::Disbursement, crate::funds::kinds::FxRate,
        crate::funds::kinds::Expenditure, crate::funds::kinds::Tender, crate::funds::kinds::Bid,
        crate::funds::kinds::Award, crate::funds::kinds::Contract, crate::funds::kinds::ContractAmendment,
        crate::funds::kinds::Invoice, crate::funds::kinds::Payment, crate::funds::kinds::Reversal,
        crate::funds::kinds::ScreeningConfig, crate::funds::kinds::BidDisqualified,
        crate::funds::kinds::Decision, crate::funds::kinds::Approval)),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "ledger", description = "Hash-chained entries, Merkle proofs, signed checkpoints, verification"),
        (name = "auth", description = "Login, token refresh and logout"),
        (name = "admin", description = "Organisations, users, role grants and funds (admin only)"),
        (name = "funds", description = "Pooled funds and their typed entries, scoped to the caller"),
        (name = "procurement", description = "Vendors and contracts with their history"),
        (name = "screening", description = "Anomaly flags and their triage"),
        (name = "reports", description = "Fund statement, donor reports, series and exports, pinned to signed checkpoints"),
    )
)]
pub struct ApiDoc;

/// Runs blocking database work on actix's blocking pool with a pooled connection: the one
/// way handlers reach the database (a pool timeout becomes 503 `database_unavailable`).
pub async fn with_conn<T, F>(state: &web::Data<AppState>, f: F) -> crate::error::ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&AppState, &mut diesel::PgConnection) -> crate::error::ApiResult<T> + Send + 'static,
{
    let state = state.clone();
    web::block(move || {
        let mut conn = state.pool.get()?;
        f(&state, &mut conn)
    })
    .await?
}

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

/// The OpenAPI 3.1 document, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
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

/// Builds the application around `state`: the one route table.
pub fn build(
    state: web::Data<AppState>,
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
        .wrap(ErrorHandlers::new().handler(StatusCode::METHOD_NOT_ALLOWED, method_not_allowed))
        .wrap(from_fn(middleware::request_context))
        .service(web::resource("/healthz").get(health::healthz))
        .service(web::resource("/readyz").get(health::readyz))
        .service(web::resource("/metrics").get(health::metrics))
        .service(web::resource("/openapi.json").get(openapi_json))
        .service(Scalar::with_url("/docs", openapi()))
        .service(
            web::scope("/api/v1")
                .configure(crate::auth::http::routes)
                .configure(crate::auth::admin::routes)
                .configure(crate::funds::http::routes)
                .configure(crate::funds::entries::routes)
                .configure(crate::procurement::http::routes)
                .configure(crate::screening::http::routes)
                .configure(crate::reports::http::routes)
                .configure(crate::reports::exports::routes)
                .configure(ledger::http::routes),
        )
        .default_service(web::to(route_not_found))
}
