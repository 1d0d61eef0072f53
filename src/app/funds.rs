//! Fund creation, composed here because it spans capabilities: the fund (`funds`) and
//! its first screening settings (`screening`, recorded as a `screening_config` entry of
//! the fund's chain with the entries' effect). The settings are checked before anything
//! is recorded, with the rule the `screening_config` entry itself applies, so that a
//! refused setting leaves no fund behind.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::auth::guard::AdminPrincipal;
use crate::entries::effect::FundEffect;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::funds::ctx::FundCtx;
use crate::funds::http::{checked_fund, Fund, NewFund};
use crate::ledger::entry::{validate_body, validate_body_text};
use crate::ledger::writer::{AppendError, AppendRequest};
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
    let fund =
        crate::funds::http::create_fund(&admin, &state, &req, name, currency, secretariat).await?;
    if let Some(body) = config {
        let request = AppendRequest {
            kind: "screening_config".to_owned(),
            business_date: state.ledger.now().date_naive(),
            // One per fund: a retried creation replays it.
            idempotency_key: format!("fund_created:screening_config:{}", fund.id),
            body,
            principal: admin.0.ledger_principal(),
        };
        let effect = FundEffect {
            ctx: FundCtx {
                fund: fund.id,
                currency,
            },
            actor: None,
            screens: Arc::new(crate::screening::Screens),
            screen: true,
        };
        state
            .ledger
            .append_with(fund.id, vec![request], Arc::new(effect))
            .await?;
    }
    Ok(HttpResponse::Created().json(fund))
}
