//! The record forms: contribution, allocation, disbursement (treasurer), invoice and
//! payment (ministry), and the decision on a request pending approval (the approve and
//! reject buttons of the approvals page post this form). A form posts to the API's entries handler, so the API's rules and
//! roles decide; its problem message is shown next to the field it names, and after
//! success the receipt (entry, hash, inclusion proof, signed checkpoint).

use actix_web::{web, HttpRequest};
use maud::{html, Markup};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::api;
use super::layout::{render, value, Caller, PageResult, WebError};
use super::session::{check_csrf, field, fields};
use crate::entries::effect::Screens;
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

/// How a form field becomes part of the entry body.
#[derive(Clone, Copy)]
enum Field {
    /// A required string (or UUID).
    Text,
    /// A string that is left out when empty.
    Optional,
    /// A seq (an earlier entry of the chain).
    Seq,
    /// A seq that is left out when empty.
    OptionalSeq,
    /// A decimal amount, with the fund's currency.
    Money,
    /// A date.
    Date,
}

/// A body field of a form: (name, label, how).
type FormField = (&'static str, &'static str, Field);

/// The kinds the pages record, with each body field.
const KINDS: &[(&str, &[FormField])] = &[
    (
        "contribution",
        &[
            ("donor", "Donor organisation id", Field::Text),
            ("amount", "Amount", Field::Money),
            ("agreement", "Agreement reference", Field::Text),
        ],
    ),
    (
        "allocation",
        &[
            ("ministry", "Ministry organisation id", Field::Text),
            ("budget_line", "Budget line", Field::Text),
            ("category", "Category", Field::Text),
            ("amount", "Amount", Field::Money),
            ("period_start", "Period start", Field::Date),
            ("period_end", "Period end", Field::Date),
        ],
    ),
    (
        "disbursement",
        &[
            ("allocation", "Allocation entry (seq)", Field::Seq),
            ("amount", "Amount", Field::Money),
            ("tranche", "Tranche (optional)", Field::Optional),
        ],
    ),
    (
        "invoice",
        &[
            ("contract", "Contract entry (seq)", Field::Seq),
            ("vendor", "Vendor id", Field::Text),
            ("invoice_number", "Invoice number", Field::Text),
            ("amount", "Amount", Field::Money),
        ],
    ),
    (
        "payment",
        &[
            (
                "invoice",
                "Invoice entry (seq); empty for a direct purchase",
                Field::OptionalSeq,
            ),
            ("vendor", "Vendor id (direct purchase)", Field::Optional),
            ("ministry", "Ministry id (direct purchase)", Field::Optional),
            ("category", "Category (optional)", Field::Optional),
            ("amount", "Amount", Field::Money),
        ],
    ),
    (
        "approval",
        &[
            ("entry", "Request entry (seq)", Field::Seq),
            ("decision", "Decision (approved or rejected)", Field::Text),
            ("reason", "Reason (required to reject)", Field::Optional),
        ],
    ),
];

fn spec(kind: &str) -> Result<&'static [FormField], WebError> {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, f)| *f)
        .ok_or_else(|| WebError(ApiError::NotFound(format!("no form for {kind:?}"))))
}

fn fund_of(req: &HttpRequest) -> Result<Uuid, WebError> {
    Ok(api::path_uuid(req, "fund")?)
}

/// The form, with the posted values and the API's problem placed by the field it names.
fn form(
    c: &Caller,
    fund: Uuid,
    kind: &str,
    posted: &[(String, String)],
    problem: Option<&Value>,
) -> Result<Markup, WebError> {
    let fields_of = spec(kind)?;
    let detail = problem.map(|p| api::s(p, "detail")).unwrap_or("");
    // The field the message names (`body.amount: …`, `amount must …`), else the top.
    let named = fields_of
        .iter()
        .map(|(n, _, _)| *n)
        .chain(["business_date"])
        .find(|n| detail.contains(n));
    let idem = Uuid::new_v4();
    let keep = |n: &str| field(posted, n).unwrap_or("").to_owned();
    Ok(html! {
        h1 { "Record a " (kind) }
        @if let Some(p) = problem {
            p class="error" role="alert" id="form-error" {
                "The API refused this " (kind) ": " (api::s(p, "detail")) " (" code { (api::s(p, "code")) } ")"
            }
        }
        form method="post" action={"/funds/" (fund) "/record/" (kind) "?idem=" (idem)} class="stack" novalidate {
            input type="hidden" name="csrf" value=(c.csrf);
            @let date_err = named == Some("business_date");
            label for="business_date" { "Business date" }
            input id="business_date" name="business_date" type="date" required value=(keep("business_date"))
                aria-invalid=[date_err.then_some("true")] aria-describedby=[date_err.then_some("err-business_date")];
            @if date_err { p class="field-error" id="err-business_date" { (detail) } }
            @for (name, label, how) in fields_of {
                @let err = named == Some(*name);
                label for=(name) { (label) }
                @match how {
                    Field::Money => {
                        div class="money" {
                            input id=(name) name=(name) inputmode="decimal" required value=(keep(name))
                                aria-invalid=[err.then_some("true")] aria-describedby=[err.then_some(format!("err-{name}"))];
                            label for="currency" class="sr-only" { "Currency" }
                            input id="currency" name="currency" size="3" maxlength="3" required value=(keep("currency"));
                        }
                    }
                    Field::Date => {
                        input id=(name) name=(name) type="date" required value=(keep(name))
                            aria-invalid=[err.then_some("true")] aria-describedby=[err.then_some(format!("err-{name}"))];
                    }
                    _ => {
                        input id=(name) name=(name) type="text" value=(keep(name))
                            aria-invalid=[err.then_some("true")] aria-describedby=[err.then_some(format!("err-{name}"))];
                    }
                }
                @if err { p class="field-error" id={"err-" (name)} { (detail) } }
            }
            button type="submit" { "Record " (kind) }
        }
    })
}

/// `GET /funds/{fund}/record/{kind}`: an empty form. Shown to anyone signed in; the API
/// decides on submission who may post the kind.
pub async fn form_page(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let fund = fund_of(&req)?;
    let kind = req.match_info().get("kind").unwrap_or("").to_owned();
    crate::entries::http::may_post(&c.principal, &kind)?;
    let body = form(&c, fund, &kind, &[], None)?;
    Ok(render(Some(&c), &format!("Record a {kind}"), body))
}

/// The entry body from the posted form, or the field that is malformed.
fn entry_body(kind: &str, posted: &[(String, String)]) -> Result<Value, WebError> {
    let mut body = Map::new();
    for (name, _, how) in spec(kind)? {
        let raw = field(posted, name).unwrap_or("").trim();
        let v = match how {
            Field::Optional | Field::OptionalSeq if raw.is_empty() => continue,
            Field::Seq | Field::OptionalSeq => match raw.parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) => json!(raw),
            },
            Field::Money => json!({
                "value": raw,
                "currency": field(posted, "currency").unwrap_or("").trim().to_uppercase(),
            }),
            Field::Text | Field::Optional | Field::Date => json!(raw),
        };
        body.insert((*name).to_owned(), v);
    }
    Ok(Value::Object(body))
}

/// `POST /funds/{fund}/record/{kind}`: posts the entry through the API's entries handler
/// (its roles, rules and idempotency) and shows the receipt, or the form again with the
/// API's message by the field.
pub async fn submit(
    state: web::Data<AppState>,
    screens: web::Data<dyn Screens>,
    req: HttpRequest,
    raw: web::Bytes,
) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let posted = fields(&raw);
    check_csrf(&req, &posted)?;
    let fund = fund_of(&req)?;
    let kind = req.match_info().get("kind").unwrap_or("").to_owned();
    let body = entry_body(&kind, &posted)?;
    let new: Result<crate::entries::http::NewFundEntry, _> = serde_json::from_value(json!({
        "kind": kind,
        "business_date": field(&posted, "business_date").unwrap_or(""),
        "body": body,
    }));
    let answer = match new {
        Ok(new) => {
            api::json(
                crate::entries::http::post_entry(
                    c.principal.clone(),
                    state.clone(),
                    screens,
                    req.clone(),
                    api::path(json!({ "fund": fund }))?,
                    Json(new),
                )
                .await,
            )
            .await
        }
        Err(e) => Err(ApiError::unprocessable(
            "invalid_entry",
            format!("business_date: {e}"),
        )),
    };
    match answer {
        Ok(receipt) => {
            let seq = api::t(&receipt, "seq");
            let page = html! {
                h1 { "Recorded" }
                p role="status" data-testid="receipt" {
                    "The " (kind) " is entry #" (seq) " of the fund's chain, hash "
                    code { (api::s(&receipt, "entry_hash")) } "."
                }
                p { a href={"/chains/" (fund) "/entries/" (seq)} { "Open it and verify its proof" } }
                section aria-labelledby="receipt-h" {
                    h2 id="receipt-h" { "Receipt" }
                    (value(&receipt))
                }
            };
            Ok(render(Some(&c), "Recorded", page))
        }
        Err(e) => {
            if matches!(
                actix_web::ResponseError::status_code(&e).as_u16(),
                401 | 403 | 404
            ) {
                return Err(WebError(e));
            }
            let status = actix_web::ResponseError::status_code(&e);
            let problem: Value = serde_json::from_slice(&api::bytes_now(
                actix_web::ResponseError::error_response(&e),
            ))
            .unwrap_or(Value::Null);
            let mut res = render(
                Some(&c),
                &format!("Record a {kind}"),
                form(&c, fund, &kind, &posted, Some(&problem))?,
            );
            *res.status_mut() = status;
            Ok(res)
        }
    }
}
