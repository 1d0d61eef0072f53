//! The request extractors every handler uses: `Json`, `Query` and `Path`, like actix's but
//! with refusals that name the field and say what it expects (`serde_path_to_error` gives
//! the field's path, which neither serde_json's nor serde_urlencoded's error carries), and
//! `u63`, the range every size, seq and cursor parameter is read in.
//!
//! The types keep actix's names so that utoipa still reads the handlers' parameters.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// The largest seq, size or cursor a parameter takes: what a Postgres `bigint` holds.
pub const U63_MAX: u64 = 9_223_372_036_854_775_807;

/// Reads an integer from 0 to 2^63 − 1 (the range of the ledger's `bigint` seqs and
/// sizes) from a query or path parameter or a JSON number: for `deserialize_with`.
pub fn u63<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "an integer from 0 to {U63_MAX} (2^63 - 1)")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            if v <= U63_MAX {
                Ok(v)
            } else {
                Err(E::custom(format!(
                    "{v} is out of range: expected an integer from 0 to {U63_MAX} (2^63 - 1)"
                )))
            }
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| {
                E::custom(format!(
                    "{v} is out of range: expected an integer from 0 to {U63_MAX} (2^63 - 1)"
                ))
            })
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
            if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                // All digits: either in range or too large, never malformed.
                return match v.parse::<u64>() {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => self.visit_u64(u64::MAX),
                }
                .map_err(|_: E| {
                    E::custom(format!(
                        "{v} is out of range: expected an integer from 0 to {U63_MAX} (2^63 - 1)"
                    ))
                });
            }
            Err(E::custom(format!(
                "{v:?} is not an integer: expected an integer from 0 to {U63_MAX} (2^63 - 1)"
            )))
        }
    }
    d.deserialize_any(V)
}

/// `u63` for an optional parameter (with `#[serde(default)]`).
pub fn opt_u63<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    u63(d).map(Some)
}

/// What a failed field expected, when its own error does not say it: chrono's parse
/// errors ("input contains invalid characters") never name the format.
fn hint(message: &str) -> &'static str {
    const CHRONO: [&str; 6] = [
        "input contains invalid characters",
        "premature end of input",
        "trailing input",
        "input is out of range",
        "input is not enough for unique date and time",
        "no possible date and time matching input",
    ];
    if CHRONO.iter().any(|m| message.contains(m)) {
        " (expected a date as YYYY-MM-DD)"
    } else {
        ""
    }
}

/// "`field`: message (hint)", or the message alone for an error at the top level. Once
/// the field is named, serde_json's "at line L column C" is dropped: the name says more.
pub fn named<E: std::fmt::Display>(err: &serde_path_to_error::Error<E>) -> String {
    let mut message = err.inner().to_string();
    let path = err.path().to_string();
    let hint = hint(&message);
    if path.is_empty() || path == "." || path == "?" {
        return format!("{message}{hint}");
    }
    if let Some(at) = message.rfind(" at line ") {
        message.truncate(at);
    }
    format!("{path}: {message}{hint}")
}

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// A JSON request body (`Content-Type: application/json` or `…+json`, at most the
/// configured body limit). Malformed JSON is 400 `malformed_json`; JSON of the wrong shape
/// is 422 `invalid_body`, naming the field (`entries[0].business_date: …`).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    let ct = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit_bytes = req
            .app_data::<web::Data<AppState>>()
            .map_or(262_144, |s| s.settings.body_limit_bytes);
        let json = is_json(req);
        // Bytes reads the body within the `PayloadConfig` limit `app` sets.
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType {
                    expected: "application/json",
                });
            }
            let bytes =
                body.await
                    .map_err(|e| match e.as_error::<actix_web::error::PayloadError>() {
                        Some(actix_web::error::PayloadError::Overflow) => {
                            ApiError::PayloadTooLarge { limit_bytes }
                        }
                        _ => ApiError::MalformedJson(format!("the body could not be read: {e}")),
                    })?;
            if bytes.len() > limit_bytes {
                return Err(ApiError::PayloadTooLarge { limit_bytes });
            }
            let mut de = serde_json::Deserializer::from_slice(&bytes);
            let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                if e.inner().is_data() {
                    ApiError::InvalidBody(named(&e))
                } else {
                    // A syntax error has no field; its line and column say where.
                    ApiError::MalformedJson(e.inner().to_string())
                }
            })?;
            de.end()
                .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
            Ok(Json(value))
        })
    }
}

/// Query parameters; a parameter that does not parse is 400 `invalid_parameter`, naming
/// it and what it expects.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Parses a query string into `T`, naming the parameter that fails.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| ApiError::InvalidParameter(named(&e)))
}

impl<T: DeserializeOwned + 'static> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(Query))
    }
}

/// Path segments; a segment that does not parse is 400 `invalid_parameter`, naming it.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T> Path<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Path<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Path<T> {
    fn from(t: T) -> Self {
        Path(t)
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Path<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let de = actix_router::PathDeserializer::new(req.match_info());
        std::future::ready(
            serde_path_to_error::deserialize(de)
                .map(Path)
                .map_err(|e| ApiError::InvalidParameter(named(&e))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Q {
        #[serde(default, deserialize_with = "opt_u63")]
        at_size: Option<u64>,
        #[serde(default)]
        #[allow(dead_code)]
        from: Option<chrono::NaiveDate>,
    }

    fn detail(query: &str) -> String {
        match parse_query::<Q>(query) {
            Err(ApiError::InvalidParameter(d)) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sizes_are_read_up_to_2_pow_63_minus_1_and_refusals_name_the_parameter() {
        let q: Q = parse_query("at_size=9223372036854775807").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(q.at_size, Some(U63_MAX));
        for big in [
            "9223372036854775808",
            "18446744073709551615",
            "99999999999999999999999",
        ] {
            let d = detail(&format!("at_size={big}"));
            assert!(d.starts_with("at_size: "), "{d}");
            assert!(d.contains("from 0 to 9223372036854775807"), "{d}");
        }
        assert!(detail("at_size=-1").starts_with("at_size: "));
        assert!(detail("at_size=ten").contains("not an integer"));
    }

    #[test]
    fn a_date_in_another_format_is_named_with_the_format_expected() {
        let d = detail("from=31.12.2026");
        assert!(d.starts_with("from: "), "{d}");
        assert!(d.contains("YYYY-MM-DD"), "{d}");
    }
}
