//! The page frame (skip link, header with who is signed in, main landmark), the caller of
//! a page (`Caller`) and the error page, which keeps the API's status and problem code.

use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use maud::{html, Markup, DOCTYPE};
use serde_json::Value;

use super::api;
use super::session;
use crate::auth::guard::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// Who asks for a page: the principal the API's guards would extract, what `GET /me`
/// answers for it, and the session's CSRF token for the page's forms.
pub struct Caller {
    pub principal: Principal,
    pub me: Value,
    pub csrf: String,
}

impl Caller {
    /// The caller of `req`, or the API's 401 (which the pages turn into the sign-in page).
    pub async fn of(req: &HttpRequest, state: &web::Data<AppState>) -> Result<Self, WebError> {
        let principal = Principal::from_request(req).await?;
        let me = api::json(crate::auth::me::me(principal.clone(), state.clone()).await).await?;
        Ok(Caller {
            principal,
            me,
            csrf: session::csrf_of(req).unwrap_or_default(),
        })
    }

    pub fn role(&self) -> &'static str {
        self.principal.role.as_str()
    }
}

/// A page's failure: the API's error, shown as HTML with the same status and code.
#[derive(Debug)]
pub struct WebError(pub ApiError);

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        WebError(e)
    }
}

impl fmt::Display for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.0.status_code();
        if status == StatusCode::UNAUTHORIZED {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .finish();
        }
        // The problem the API would answer (its internals logged there, never shown).
        let problem = api::bytes_now(self.0.error_response());
        let problem: Value = serde_json::from_slice(&problem).unwrap_or(Value::Null);
        let body = html! {
            h1 { (api::s(&problem, "title")) }
            p role="alert" { (api::s(&problem, "detail")) }
            p { "Status " (status.as_u16()) ", code " code { (api::s(&problem, "code")) } "." }
            p { a href="/" { "Back to your funds" } }
        };
        let mut res = render(None, api::s(&problem, "title"), body);
        *res.status_mut() = status;
        res
    }
}

pub type PageResult = Result<HttpResponse, WebError>;

/// The whole page around `body`.
pub fn render(caller: Option<&Caller>, title: &str, body: Markup) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · fundtrail" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/" { "fundtrail" }
                    nav aria-label="Main" {
                        ul {
                            li { a href="/" { "Funds" } }
                            li { a href="/docs" { "API reference" } }
                        }
                    }
                    @if let Some(c) = caller {
                        div class="who" {
                            span data-testid="whoami" {
                                (api::s(c.me.get("user").unwrap_or(&Value::Null), "email"))
                                " · " (c.role()) " · "
                                (api::s(c.me.get("organization").unwrap_or(&Value::Null), "name"))
                            }
                            form method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(c.csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    (body)
                }
            }
        }
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("content-security-policy", CSP))
        .insert_header(("referrer-policy", "same-origin"))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("x-frame-options", "DENY"))
        .body(markup.into_string())
}

/// Everything from this origin, nothing from anywhere else; no inline script.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// A table of `rows` with `cols` (header, member) read from each row.
pub fn table(caption: &str, cols: &[(&str, &str)], rows: &[Value]) -> Markup {
    html! {
        div class="scroll" tabindex="0" {
            table {
                caption { (caption) }
                thead { tr { @for (h, _) in cols { th scope="col" { (h) } } } }
                tbody {
                    @for r in rows {
                        tr { @for (_, k) in cols { td { (cell(r, k)) } } }
                    }
                    @if rows.is_empty() {
                        tr { td colspan=(cols.len()) { "None." } }
                    }
                }
            }
        }
    }
}

/// A row's member for a table cell; `a.b` reads a nested member.
pub fn cell(r: &Value, key: &str) -> String {
    let mut v = r;
    for part in key.split('.') {
        v = v.get(part).unwrap_or(&Value::Null);
    }
    api::scalar(v)
}

/// A JSON value as a definition list (objects), list (arrays) or text, for the parts of an
/// answer a page shows as they are.
pub fn value(v: &Value) -> Markup {
    if let Some(o) = v.as_object().filter(|o| {
        o.len() == 3
            && ["period", "prior", "cumulative"]
                .iter()
                .all(|k| o.get(*k).is_some_and(Value::is_string))
    }) {
        // A report figure (docs/reports.md): the period, before it, and both.
        return html! {
            (api::scalar(o.get("period").unwrap_or(&Value::Null)))
            span class="hint" {
                " (before: " (api::scalar(o.get("prior").unwrap_or(&Value::Null)))
                "; cumulative: " (api::scalar(o.get("cumulative").unwrap_or(&Value::Null))) ")"
            }
        };
    }
    match v {
        Value::Object(o) if !api::is_money(v) => html! {
            dl class="kv" {
                @for (k, x) in o {
                    dt { (k.replace('_', " ")) }
                    dd { (value(x)) }
                }
            }
        },
        Value::Array(a) if !a.is_empty() && a.iter().all(is_record) => {
            // Rows of one shape: a table, one column per member.
            let mut cols: Vec<&String> = Vec::new();
            for x in a.iter().filter_map(Value::as_object) {
                for k in x.keys() {
                    if !cols.contains(&k) {
                        cols.push(k);
                    }
                }
            }
            html! {
                div class="scroll" tabindex="0" {
                    table {
                        thead { tr { @for k in &cols { th scope="col" { (k.replace('_', " ")) } } } }
                        tbody {
                            @for x in a {
                                tr { @for k in &cols { td { (value(x.get(k.as_str()).unwrap_or(&Value::Null))) } } }
                            }
                        }
                    }
                }
            }
        }
        Value::Array(a) => html! {
            @if a.is_empty() { "none" } @else {
                ul class="plain" { @for x in a { li { (value(x)) } } }
            }
        },
        other => html! { (api::scalar(other)) },
    }
}

/// An object that is not a money amount (a row of a table).
fn is_record(v: &Value) -> bool {
    v.is_object() && !api::is_money(v)
}
