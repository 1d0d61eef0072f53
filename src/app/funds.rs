//! Fund creation, composed here because it spans capabilities: the fund (`funds`) and
//! its first screening settings (`screening`, recorded as a `screening_config` entry of
//! the fund's chain with the entries' effect). Both are recorded in one transaction: the
//! `fund_created` entry's effect creates the fund's chain and row and appends the
//! settings' entry to that chain, so that a refused setting (or a failure in between)
//! leaves no fund behind. The settings are also checked before anything is recorded,
//! with the rule the `screening_config` entry itself applies, so that a refusal is
//! answered before the administrative chain's writer is asked.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use diesel::PgConnection;
use serde_json::json;
use uuid::Uuid;

use crate::auth::guard::AdminPrincipal;
use crate::entries::effect::FundEffect;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::funds::ctx::FundCtx;
use crate::funds::http::{checked_fund, Fund, NewFund};
use crate::ledger::entry::{validate_body, validate_body_text, Principal};
use crate::ledger::writer::{AppendError, AppendRequest};
use crate::ledger::Ledger;
use crate::money::Currency;
use crate::screening::rules::Thresholds;
use crate::state::AppState;

/// Create a fund (and its ledger chain), with its first screening settings if given.
/// Admins only.
#[utoipa::path(post, path = "/api/v1/admin/funds", tag = "admin", request_body = NewFund, security(("bearer" = [])),
    responses((status = 403, body = crate::error::Problem), (status = 201, body = Fund), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_fund(
    admin: AdminPrincipal,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<NewFund>,
) -> ApiResult<HttpResponse> {
    let NewFund {
        name,
        currency,
        secretariat,
        screening,
    } = body.into_inner();
    let (name, currency) = checked_fund(&name, &currency)?;
    let settings = screening.unwrap_or_default();
    // The settings' entry, checked as the fund's chain will check it, before the fund is.
    let config = (!settings.is_empty())
        .then(|| -> ApiResult<serde_json::Value> {
            Thresholds::for_currency(currency.code())
                .configured(&settings)
                .map_err(|(code, detail)| ApiError::unprocessable(code, detail))?;
            let names: Vec<&str> = settings.keys().map(String::as_str).collect();
            let body = json!({"settings": settings,
                              "reason": format!("set at the fund's creation: {}", names.join(", "))});
            validate_body(&body)
                .and_then(|()| validate_body_text(&body))
                .map_err(|e| ApiError::from(AppendError::Invalid(e)))?;
            Ok(body)
        })
        .transpose()?;
    let then = first_settings(
        state.ledger.clone(),
        currency,
        config,
        admin.0.ledger_principal(),
    );
    let fund =
        crate::funds::http::create_fund(&admin, &state, &req, (name, currency, secretariat), then)
            .await?;
    Ok(HttpResponse::Created().json(fund))
}

/// What the `fund_created` entry's transaction records in the new fund's chain: `config`,
/// the body of its first `screening_config` (none: nothing), appended with the entries'
/// effect. A refusal refuses the fund's creation with it.
pub fn first_settings(
    ledger: Arc<Ledger>,
    currency: Currency,
    config: Option<serde_json::Value>,
    principal: Principal,
) -> impl Fn(&mut PgConnection, Uuid) -> Result<(), AppendError> + Send + Sync + 'static {
    move |conn: &mut PgConnection, fund: Uuid| {
        let Some(body) = &config else {
            return Ok(());
        };
        let request = AppendRequest {
            kind: "screening_config".to_owned(),
            business_date: ledger.now().date_naive(),
            // One per fund: a retried creation replays the `fund_created` entry, and
            // with it this one.
            idempotency_key: format!("fund_created:screening_config:{fund}"),
            body: body.clone(),
            principal: principal.clone(),
        };
        let effect = FundEffect {
            ctx: FundCtx { fund, currency },
            actor: None,
            screens: Arc::new(crate::screening::Screens),
            screen: true,
        };
        ledger.append_within(conn, fund, &[request], &effect)
    }
}
