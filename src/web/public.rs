//! The public page of a fund (docs/web.md, "Public fund page"), readable without signing in
//! once the fund's administrators publish it (`POST /api/v1/admin/funds/{id}/public-page`,
//! recorded as `fund_public_page_set` in the administrative chain). Any other fund, or one
//! that does not exist, answers 404 `not_found`, the same either way.
//!
//! The page renders the API's public view of the fund (`GET /api/v1/public/funds/{fund}`,
//! `reports::public`), which is built without any caller and holds only what is meant for
//! the public: sources and uses (organisations, never users), disbursements by ministry,
//! the contracts awarded and the signed checkpoint the figures were computed at. Flags,
//! their triage, spending by vendor and entries are not in it.

use actix_web::{web, HttpRequest};
use maud::html;
use serde_json::{json, Value};
use uuid::Uuid;

use super::api::{self, arr, s, scalar};
use super::layout::{render, value, PageResult};
use crate::reports::public::CONTRACTS_MAX;
use crate::state::AppState;

/// `GET /public/funds/{fund}`: anyone, when the fund publishes it; 404 otherwise.
pub async fn fund_page(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let fund: Uuid = api::path_uuid(&req, "fund")?;
    let statement = api::json(
        crate::reports::public::public_fund(state.clone(), api::path(json!({ "fund": fund }))?)
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
    let awarded = arr(&statement, "contracts");
    let body = html! {
        h1 { (name) }
        p { "The public page of this fund, published by its administrators. Figures are in "
            (s(statement.get("currency").unwrap_or(&Value::Null), "code")) "." }
        (super::pages::pin(statement.get("checkpoint")))
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
                        @for c in awarded {
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
            @if statement.get("contracts_truncated") == Some(&Value::Bool(true)) {
                p { "The first " (CONTRACTS_MAX) " contracts; the fund has more." }
            }
        }
    };
    Ok(render(None, &format!("{name} (public)"), body))
}
