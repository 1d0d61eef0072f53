//! The pages' session (docs/security.md, "Web sessions"): the API's own access and refresh
//! tokens, held in `HttpOnly; SameSite=Strict` cookies that no script can read, so the
//! pages' scope is the API's by construction.
//!
//! `layer` runs before every page: it drops any `Authorization` header, turns the access
//! cookie into the bearer token the API's guards read, and when that token has expired,
//! exchanges the refresh cookie once through the API's refresh (rotating, with reuse
//! detection) and sets the new cookies on the answer. Form posts must come from this
//! origin (`Origin`/`Sec-Fetch-Site`) and carry the session's CSRF token (double submit:
//! the form's `csrf` field equals the `ft_csrf` cookie). Sign out revokes the refresh
//! token's whole family through the API's logout and clears the cookies.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use maud::html;
use serde_json::Value;

use super::api;
use super::layout::{render, WebError};
use crate::auth::http::{LoginRequest, RefreshRequest};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

pub const ACCESS: &str = "ft_access";
pub const REFRESH: &str = "ft_refresh";
pub const CSRF: &str = "ft_csrf";

/// The value of cookie `name` in `headers`.
fn cookie(headers: &header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The session's CSRF token, for the forms of a page.
pub fn csrf_of(req: &HttpRequest) -> Option<String> {
    cookie(req.headers(), CSRF)
}

fn set_cookie(name: &str, value: &str, max_age_s: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{}",
        if secure { "; Secure" } else { "" }
    )
}

fn session_cookies(
    tokens: &Value,
    refresh_ttl_s: i64,
    csrf: Option<&str>,
    secure: bool,
) -> Vec<String> {
    let expires_in = tokens
        .get("expires_in")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let mut out = vec![
        set_cookie(ACCESS, api::s(tokens, "access_token"), expires_in, secure),
        set_cookie(
            REFRESH,
            api::s(tokens, "refresh_token"),
            refresh_ttl_s,
            secure,
        ),
    ];
    if let Some(c) = csrf {
        out.push(set_cookie(CSRF, c, refresh_ttl_s, secure));
    }
    out
}

fn clear_cookies() -> Vec<String> {
    [ACCESS, REFRESH, CSRF]
        .iter()
        .map(|n| format!("{n}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"))
        .collect()
}

fn new_csrf() -> String {
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// Whether a post comes from this origin, as the browser says.
fn same_origin(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let info = req.connection_info();
            origin == format!("{}://{}", info.scheme(), info.host())
        }
    }
}

/// The session layer around every page (see the module documentation).
pub async fn layer(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::POST && !same_origin(&req) {
        let refusal = WebError(ApiError::Forbidden(
            "a form must be posted from this site".to_owned(),
        ));
        return Ok(req
            .into_response(actix_web::ResponseError::error_response(&refusal))
            .map_into_right_body());
    }
    req.headers_mut().remove(header::AUTHORIZATION);
    let auth = req.app_data::<web::Data<Auth>>().cloned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let secure = req.connection_info().scheme() == "https";
    let mut set: Vec<String> = Vec::new();
    let mut bearer = None;
    if let (Some(auth), Some(state)) = (auth, state) {
        let access = cookie(req.headers(), ACCESS).filter(|t| auth.keys.validate(t).is_ok());
        bearer = match (access, cookie(req.headers(), REFRESH)) {
            (Some(t), _) => Some(t),
            (None, Some(refresh_token)) => {
                let ttl = auth.sessions.refresh_ttl.num_seconds();
                let answer =
                    crate::auth::http::refresh(state, auth, Json(RefreshRequest { refresh_token }))
                        .await;
                match api::json(answer).await {
                    Ok(tokens) => {
                        set = session_cookies(&tokens, ttl, None, secure);
                        Some(api::s(&tokens, "access_token").to_owned())
                    }
                    Err(_) => {
                        set = clear_cookies();
                        None
                    }
                }
            }
            (None, None) => None,
        };
    }
    if let Some(token) = bearer {
        if let Ok(v) = header::HeaderValue::from_str(&format!("Bearer {token}")) {
            req.headers_mut().insert(header::AUTHORIZATION, v);
        }
    }
    // A form's idempotency key travels in its action URL, so a resubmitted form (the same
    // page posted twice) replays the first entry instead of writing a second.
    if req.method() == Method::POST {
        let idem = form_urlencoded::parse(req.query_string().as_bytes())
            .find(|(k, _)| k == "idem")
            .map(|(_, v)| v.into_owned());
        if let Some(key) = idem.and_then(|k| header::HeaderValue::from_str(&k).ok()) {
            req.headers_mut()
                .insert(header::HeaderName::from_static("idempotency-key"), key);
        }
    }
    let mut res = next.call(req).await?.map_into_left_body();
    for c in set {
        if let Ok(v) = header::HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(res)
}

/// The fields of a posted form, in order (a name may repeat).
pub fn fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of field `name`.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Refuses a post whose `csrf` field is not the session's token.
pub fn check_csrf(req: &HttpRequest, fields: &[(String, String)]) -> Result<(), WebError> {
    match (csrf_of(req), field(fields, "csrf")) {
        (Some(c), Some(f)) if !c.is_empty() && c.as_bytes() == f.as_bytes() => Ok(()),
        _ => Err(WebError(ApiError::Forbidden(
            "the form's CSRF token does not match this session; reload the page".to_owned(),
        ))),
    }
}

fn login_form(email: &str, error: Option<&Value>) -> maud::Markup {
    html! {
        h1 { "Sign in" }
        @if let Some(p) = error {
            p class="error" role="alert" id="login-error" {
                (api::s(p, "detail")) " (" code { (api::s(p, "code")) } ")"
            }
        }
        form method="post" action="/login" class="stack" {
            label for="email" { "Email" }
            input id="email" name="email" type="email" autocomplete="username" required value=(email);
            label for="password" { "Password" }
            input id="password" name="password" type="password" autocomplete="current-password" required;
            label for="role" { "Role (when you hold several)" }
            select id="role" name="role" {
                option value="" { "My only role" }
                @for r in crate::auth::guard::Role::ALL { option value=(r.as_str()) { (r.as_str()) } }
            }
            button type="submit" { "Sign in" }
        }
    }
}

/// `GET /login`: the sign-in form. Anyone.
pub async fn login_page() -> HttpResponse {
    render(None, "Sign in", login_form("", None))
}

/// `POST /login`: signs in through the API's login (same throttling, same answers) and
/// keeps the tokens in the session cookies. Anyone.
pub async fn login(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let f = fields(&body);
    let email = field(&f, "email").unwrap_or("").to_owned();
    let role = field(&f, "role")
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let request = LoginRequest {
        email: email.clone(),
        password: field(&f, "password").unwrap_or("").to_owned(),
        role,
    };
    let ttl = auth.sessions.refresh_ttl.num_seconds();
    let secure = req.connection_info().scheme() == "https";
    match api::json(crate::auth::http::login(state, auth, req, Json(request)).await).await {
        Ok(tokens) => {
            let mut res = HttpResponse::SeeOther();
            res.insert_header((header::LOCATION, "/"));
            for c in session_cookies(&tokens, ttl, Some(&new_csrf()), secure) {
                res.append_header((header::SET_COOKIE, c));
            }
            res.finish()
        }
        Err(e) => {
            let status = actix_web::ResponseError::status_code(&e);
            let problem: Value = serde_json::from_slice(&api::bytes_now(
                actix_web::ResponseError::error_response(&e),
            ))
            .unwrap_or(Value::Null);
            let mut res = render(None, "Sign in", login_form(&email, Some(&problem)));
            *res.status_mut() = status;
            res
        }
    }
}

/// `POST /logout`: revokes the session's refresh tokens (the API's logout) and clears the
/// cookies. Anyone with a session.
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    check_csrf(&req, &fields(&body))?;
    if let Some(refresh_token) = cookie(req.headers(), REFRESH) {
        crate::auth::http::logout(state, Json(RefreshRequest { refresh_token })).await?;
    }
    let mut res = HttpResponse::SeeOther();
    res.insert_header((header::LOCATION, "/login"));
    for c in clear_cookies() {
        res.append_header((header::SET_COOKIE, c));
    }
    Ok(res.finish())
}
