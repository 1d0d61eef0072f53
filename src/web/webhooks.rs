//! The webhook pages (docs/notifications.md, docs/web.md): a fund's subscriptions the
//! caller holds (an administrator: all of them), a form to subscribe, a button to send a
//! test event, and each subscription's delivery log. Every page and form goes through the
//! subscription API's own handlers, so the roles are the API's: the fund's treasurer, its
//! auditors, a ministry it allocated to (events about that ministry only) and
//! administrators; a donor gets the API's 403.

use actix_web::{web, HttpRequest};
use maud::html;
use serde_json::{json, Value};
use uuid::Uuid;

use super::api::{self, arr, s, t};
use super::layout::{render, Caller, PageResult, WebError};
use super::session::{check_csrf, field, fields};
use crate::error::ApiError;
use crate::extract::Json;
use crate::notify::events::EventType;
use crate::notify::http::NewSubscription;
use crate::state::AppState;

/// Every event type a subscription may name, with what it tells.
const EVENTS: [(&str, &str); 5] = [
    ("flag.raised", "a flag is raised"),
    ("flag.triaged", "a flag is triaged"),
    ("approval.requested", "an entry waits for approval"),
    ("import.finished", "an import finished (whole fund)"),
    ("integrity.alarm", "an integrity alarm (whole fund)"),
];

async fn fund_name(
    c: &Caller,
    state: &web::Data<AppState>,
    fund: Uuid,
) -> Result<String, WebError> {
    let funds =
        api::json(crate::funds::http::list_funds(c.principal.clone(), state.clone()).await).await?;
    funds
        .as_array()
        .and_then(|a| a.iter().find(|f| s(f, "id") == fund.to_string()))
        .map(|f| s(f, "name").to_owned())
        .ok_or_else(|| WebError(crate::funds::policy::not_found()))
}

/// `GET /funds/{fund}/webhooks`: the subscriptions and the form to subscribe.
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let fund = api::path_uuid(&req, "fund")?;
    let name = fund_name(&c, &state, fund).await?;
    let subs = api::json(
        crate::notify::http::list(c.principal.clone(), state.clone(), api::path(json!(fund))?)
            .await,
    )
    .await?;
    let body = html! {
        h1 { "Webhooks of " (name) }
        p { a href={"/funds/" (fund)} { "Back to the fund" } }
        div class="scroll" tabindex="0" {
            table {
                caption { (arr(&subs, "subscriptions").len()) " subscriptions" }
                thead { tr {
                    th scope="col" { "URL" } th scope="col" { "Events" } th scope="col" { "Scope" }
                    th scope="col" { "Held by" } th scope="col" { "Since" } th scope="col" { "Deliveries" }
                } }
                tbody {
                    @for sub in arr(&subs, "subscriptions") {
                        tr {
                            td { (s(sub, "url")) }
                            td { (arr(sub, "events").iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")) }
                            td { (s(sub, "scope")) }
                            td { (s(sub, "role")) " · " (t(sub, "organization")) }
                            td { (s(sub, "created_at")) }
                            td {
                                a href={"/webhooks/" (s(sub, "id")) "/deliveries"} { "Delivery log" }
                                form method="post" action={"/webhooks/" (s(sub, "id")) "/test"} class="inline" {
                                    input type="hidden" name="csrf" value=(c.csrf);
                                    button type="submit" { "Send a test event" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Subscribe" }
        form method="post" action={"/funds/" (fund) "/webhooks"} {
            input type="hidden" name="csrf" value=(c.csrf);
            div class="field" {
                label for="w-url" { "Receiver URL (http or https)" }
                input id="w-url" name="url" type="url" required;
            }
            fieldset {
                legend { "Events" }
                @for (i, (event, what)) in EVENTS.iter().enumerate() {
                    div {
                        input id={"w-event-" (i)} type="checkbox" name="events" value=(event);
                        label for={"w-event-" (i)} { code { (event) } ": " (what) }
                    }
                }
            }
            button type="submit" { "Subscribe" }
        }
    };
    Ok(render(Some(&c), "Webhooks", body))
}

/// `POST /funds/{fund}/webhooks`: subscribes; the answer shows the signing secret, once.
pub async fn create(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let f = fields(&body);
    check_csrf(&req, &f)?;
    let fund = api::path_uuid(&req, "fund")?;
    let mut events = Vec::new();
    for (_, v) in f.iter().filter(|(k, _)| k == "events") {
        let e = EventType::parse(v).ok_or_else(|| {
            WebError(ApiError::unprocessable(
                "invalid_events",
                format!("{v:?} is not an event type"),
            ))
        })?;
        events.push(e);
    }
    let url = field(&f, "url").unwrap_or("").to_owned();
    let sub = api::json(
        crate::notify::http::create(
            c.principal.clone(),
            state.clone(),
            req.clone(),
            api::path(json!(fund))?,
            Json(NewSubscription { url, events }),
        )
        .await,
    )
    .await?;
    let body = html! {
        h1 { "Subscribed" }
        p { "Deliveries to " code { (s(&sub, "url")) } " are signed with this secret. Copy it now: it is shown only here (and after a rotation)." }
        p { code data-testid="webhook-secret" { (s(&sub, "secret")) } }
        p { a href={"/funds/" (fund) "/webhooks"} { "Back to the webhooks" } }
    };
    Ok(render(Some(&c), "Subscribed", body))
}

/// `POST /webhooks/{id}/test`: queues a `webhook.test` event for this subscription.
pub async fn test(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let f = fields(&body);
    check_csrf(&req, &f)?;
    let id = api::path_uuid(&req, "id")?;
    let queued = api::json(
        crate::notify::http::send_test(c.principal.clone(), state.clone(), api::path(json!(id))?)
            .await,
    )
    .await?;
    let body = html! {
        h1 { "Test event queued" }
        p { "Event " code { (s(&queued, "event")) } " goes out with the next delivery round; its attempts appear in the log." }
        p { a href={"/webhooks/" (id) "/deliveries"} { "Delivery log" } }
    };
    Ok(render(Some(&c), "Test event queued", body))
}

/// `GET /webhooks/{id}/deliveries?after=`: the subscription's delivery attempts.
pub async fn deliveries(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let id = api::path_uuid(&req, "id")?;
    let log = api::json(
        crate::notify::http::deliveries(
            c.principal.clone(),
            state.clone(),
            api::path(json!(id))?,
            api::query(req.query_string())?,
        )
        .await,
    )
    .await?;
    let body = html! {
        h1 { "Delivery log" }
        div class="scroll" tabindex="0" {
            table {
                caption { (arr(&log, "attempts").len()) " attempts" }
                thead { tr {
                    th scope="col" { "At" } th scope="col" { "Event" } th scope="col" { "Type" }
                    th scope="col" { "Attempt" } th scope="col" { "Outcome" } th scope="col" { "Status" }
                    th scope="col" { "Error" } th scope="col" { "Delivery" }
                } }
                tbody {
                    @for a in arr(&log, "attempts") {
                        tr {
                            td { (s(a, "at")) }
                            td { code { (s(a, "event")) } }
                            td { (s(a, "type")) }
                            td class="num" { (t(a, "attempt")) }
                            td { (s(a, "outcome")) }
                            td class="num" { (t(a, "response_status")) }
                            td { (s(a, "error")) }
                            td { (s(a, "delivery_state")) }
                        }
                    }
                }
            }
        }
        @if let Some(next) = log.get("next_after").and_then(Value::as_i64) {
            p { a href={"/webhooks/" (id) "/deliveries?after=" (next)} { "Later attempts" } }
        }
    };
    Ok(render(Some(&c), "Delivery log", body))
}
