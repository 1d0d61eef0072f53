//! How a page asks the API: it calls the API's own handler and reads the JSON it answers.
//! Path and query extractors are built from the page's values with the API's own types, so
//! a page cannot ask for anything the API would refuse, nor see anything it would hide.

use actix_web::HttpResponse;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_query, Path, Query};

/// The API's path extractor, from a JSON object of its parameters.
pub fn path<T: DeserializeOwned>(v: Value) -> ApiResult<Path<T>> {
    serde_json::from_value(v)
        .map(Path)
        .map_err(|e| ApiError::InvalidParameter(e.to_string()))
}

/// A UUID path segment of the page's route, or the API's 400 naming it.
pub fn path_uuid(req: &actix_web::HttpRequest, name: &str) -> ApiResult<uuid::Uuid> {
    req.match_info()
        .get(name)
        .unwrap_or("")
        .parse()
        .map_err(|_| ApiError::InvalidParameter(format!("{name} must be a UUID")))
}

/// The API's query extractor, from a query string (as the API would parse it).
pub fn query<T: DeserializeOwned>(qs: &str) -> ApiResult<Query<T>> {
    parse_query(qs).map(Query)
}

/// The body of a handler's answer, as bytes.
pub async fn bytes(res: HttpResponse) -> ApiResult<bytes::Bytes> {
    actix_web::body::to_bytes(res.into_body())
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("reading an API answer: {e}")))
}

/// The JSON a handler answered.
pub async fn json(res: ApiResult<HttpResponse>) -> ApiResult<Value> {
    let body = bytes(res?).await?;
    serde_json::from_slice(&body).map_err(ApiError::internal)
}

/// A string member, or "".
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Any scalar member as text ("" when absent or structured).
pub fn t(v: &Value, key: &str) -> String {
    scalar(v.get(key).unwrap_or(&Value::Null))
}

/// A scalar as text; money objects (`{value, currency}`) as "value CUR".
pub fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Object(o) => match (o.get("value"), o.get("currency")) {
            (Some(Value::String(a)), Some(Value::String(c))) if o.len() == 2 => format!("{a} {c}"),
            _ => match (o.get("name"), o.get("id")) {
                (Some(Value::String(n)), _) => n.clone(),
                (_, Some(Value::String(id))) => id.clone(),
                _ => v.to_string(),
            },
        },
        Value::Array(_) => v.to_string(),
    }
}

/// A money amount: exactly `{value, currency}`.
pub fn is_money(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        o.len() == 2
            && o.get("value").is_some_and(Value::is_string)
            && o.get("currency").is_some_and(Value::is_string)
    })
}

/// The members of an array member (empty when absent).
pub fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The body of an answer built in memory (an error's problem JSON).
pub fn bytes_now(res: HttpResponse) -> bytes::Bytes {
    use actix_web::body::MessageBody;
    res.into_body().try_into_bytes().unwrap_or_default()
}
