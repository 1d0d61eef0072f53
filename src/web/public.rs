//! The public page of a fund (docs/web.md, "Public fund page"), readable without signing in
//! once the fund's administrators publish it (`POST /api/v1/admin/funds/{id}/public-page`,
//! recorded as `fund_public_page_set` in the administrative chain). Any other fund, or one
//! that does not exist, answers 404 `not_found`, the same either way.
//!
//! The page asks the same API handlers as the signed-in pages, as a reader of the whole fund,
//! and shows only what is meant for the public: sources and uses (organisations, never
//! users), disbursements by ministry, the contracts awarded and the signed checkpoint the
//! figures were computed at. Flags, their triage, spending by vendor and entries are not on it.

use actix_web::{web, HttpRequest};
use maud::html;
use serde_json::{json, Value};
use uuid::Uuid;

use super::api::{self, arr, s, scalar};
use super::layout::{render, value, PageResult, WebError};
use crate::auth::guard::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// Contracts listed on the page (the API's page size; the page says when there are more).
const CONTRACTS_MAX: u32 = 200;

/// The reader the page asks the API as: the whole fund, as its administrators see it. Only
/// the parts named in the module's comment are rendered from what it reads.
fn public_reader() -> Principal {
    Principal {
        user: Uuid::nil(),
        org: Uuid::nil(),
        role: Role::Admin,
        token_id: Uuid::nil(),
    }
}

/// `GET /public/funds/{fund}`: anyone, when the fund publishes it; 404 otherwise.
pub async fn fund_page(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let fund: Uuid = req
        .match_info()
        .get("fund")
        .unwrap_or("")
        .parse()
        .map_err(|_| WebError(ApiError::InvalidParameter("fund must be a UUID".to_owned())))?;
    let published = crate::state::with_conn(&state, move |_, conn| {
        Ok(crate::funds::store::has_public_page(conn, fund)?)
    })
    .await?;
    if !published {
        return Err(WebError(crate::funds::policy::not_found()));
    }
    let reader = public_reader();
    let statement = api::json(
        crate::reports::http::fund_statement(
            reader.clone(),
            state.clone(),
            req.clone(),
            api::path(json!({ "fund": fund }))?,
            api::query("format=json")?,
        )
        .await,
    )
    .await?;
    let contracts = api::json(
        crate::procurement::contracts::list_contracts(
            reader,
            state.clone(),
            api::path(json!(fund))?,
            api::query(&format!("limit={CONTRACTS_MAX}"))?,
        )
        .await,
    )
    .await?;
    let name = statement
        .pointer("/fund/name")
        .map(scalar)
        .unwrap_or_default();
    let ministries: Vec<Value> = statement
        .pointer("/uses/ministries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let awarded: Vec<&Value> = arr(&contracts, "contracts")
        .iter()
        .filter(|c| c.get("reversed") != Some(&Value::Bool(true)))
        .collect();
    let body = html! {
        h1 { (name) }
        p { "The public page of this fund, published by its administrators. Figures are in "
            (s(statement.get("currency").unwrap_or(&Value::Null), "code")) "." }
        (super::pages::pin(statement.pointer("/checkpoints/fund")))
        section aria-labelledby="p-sources" {
            h2 id="p-sources" { "Sources" }
            (value(statement.get("sources").unwrap_or(&Value::Null)))
        }
        section aria-labelledby="p-uses" {
            h2 id="p-uses" { "Uses" }
            (value(statement.get("uses").unwrap_or(&Value::Null)))
        }
        section aria-labelledby="p-disbursed" {
            h2 id="p-disbursed" { "Disbursements by ministry" }
            div class="scroll" {
                table {
                    caption { "Disbursed to each ministry, net of refunds, cumulative" }
                    thead { tr { th scope="col" { "Ministry" } th scope="col" { "Disbursed" } th scope="col" { "Refunded" } } }
                    tbody {
                        @for m in &ministries {
                            tr {
                                th scope="row" { (m.get("ministry").map(scalar).unwrap_or_default()) }
                                td { (m.pointer("/disbursed/cumulative").map(scalar).unwrap_or_default()) }
                                td { (m.pointer("/refunded/cumulative").map(scalar).unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="p-contracts" {
            h2 id="p-contracts" { "Contracts awarded" }
            div class="scroll" {
                table {
                    caption { "Contracts in force (reversed ones left out), current value after amendments" }
                    thead { tr {
                        th scope="col" { "Ministry" } th scope="col" { "Vendor" }
                        th scope="col" { "Value" } th scope="col" { "Currency" }
                        th scope="col" { "Starts" } th scope="col" { "Ends" }
                    } }
                    tbody {
                        @for c in &awarded {
                            tr {
                                td { (c.get("ministry").map(scalar).unwrap_or_default()) }
                                td { (c.get("vendor").map(scalar).unwrap_or_default()) }
                                td { (s(c, "value")) }
                                td { (s(c, "currency")) }
                                td { (s(c, "starts_on")) }
                                td { (s(c, "ends_on")) }
                            }
                        }
                    }
                }
            }
            @if contracts.get("next_after").is_some_and(|n| !n.is_null()) {
                p { "The first " (CONTRACTS_MAX) " contracts; the fund has more." }
            }
        }
    };
    Ok(render(None, &format!("{name} (public)"), body))
}
