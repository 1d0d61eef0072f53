//! Completes the OpenAPI document utoipa generates from the handlers' `#[utoipa::path]`
//! annotations with what every operation shares and no annotation says well:
//!
//! - the answers of the extractors and middleware every route goes through (`extract`,
//!   `http::middleware`, `auth::guard`): 400 for a parameter or JSON that does not parse,
//!   401 without a valid token, 404 for a path naming nothing the caller may see, 413, 415
//!   and 422 for bodies, 414 and 431 for oversized heads, 503 when the database is
//!   unavailable; every refusal as `application/problem+json` with the `Problem` schema;
//! - the bounds of integers: seqs, sizes and cursors are 0 to 2^63 − 1 (the ledger's
//!   `bigint`), a page `limit` 1 to 1,000 (`http::page_limit`);
//! - the typed entry bodies as one schema per kind, chosen by `kind` (a `oneOf` with a
//!   discriminator), built from `FundEntry`'s own schema so a new kind appears by itself.
//!
//! What differs per operation (403, 409, the 422s of domain rules, 429, 304) stays on the
//! handler's annotation. `app::tests` checks the result.

use serde_json::{json, Map, Value};

/// The largest seq, size or cursor: the ledger stores them as `bigint`.
pub const MAX_BIGINT: u64 = 9_223_372_036_854_775_807;

/// Largest `limit` of a page (`http::page_limit`).
const MAX_PAGE: u64 = 1_000;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// What a refusal with `status` means, for operations whose annotation does not say.
fn describe(status: &str) -> &'static str {
    match status {
        "400" => "A parameter or the JSON body does not parse (`invalid_parameter`, `malformed_json`); the detail names the parameter and the expected format",
        "401" => "No bearer token, or one that is invalid, expired, or whose user, organisation or role is no longer active",
        "403" => "The caller's role may not do this (`forbidden`)",
        "404" => "Nothing the caller may see has this id (`not_found`)",
        "409" => "Conflicts with what is recorded",
        "413" => "The body exceeds the configured limit (`payload_too_large`)",
        "414" => "The request target exceeds 8,192 bytes (`uri_too_long`)",
        "415" => "The body is not `application/json` (`unsupported_media_type`)",
        "422" => "The body or a value is refused; `code` says why (`invalid_body` names the field)",
        "429" => "Too many failed attempts; retry after `Retry-After` seconds",
        "431" => "The request's headers exceed 32,768 bytes (`headers_too_large`)",
        "503" => "The database is unavailable, the service is overloaded or shutting down (retry after `Retry-After`), or the ledger failed an integrity check (`ledger_integrity`)",
        _ => "Refused",
    }
}

/// Adds what every operation shares (see the module's documentation) to `doc`.
pub fn complete(doc: &mut Value) {
    entry_bodies(doc);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for method in METHODS {
                if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                    operation(path, op);
                }
            }
        }
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for schema in schemas.values_mut() {
            bound_integers(schema);
        }
    }
}

/// The statuses an operation shares with every other of its shape, its parameters'
/// bounds, and problem JSON for every refusal.
fn operation(path: &str, op: &mut Map<String, Value>) {
    let secured = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    let has_body = op.contains_key("requestBody");
    let params: Vec<(String, String)> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let field = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                    (field("name"), field("in"))
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(ps) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in ps.iter_mut() {
            parameter(p);
        }
    }

    let mut statuses = vec!["414", "431"];
    if path != "/healthz" {
        statuses.push("503");
    }
    if secured {
        statuses.push("401");
    }
    if has_body || !params.is_empty() {
        statuses.push("400");
    }
    if has_body {
        statuses.extend(["413", "415", "422"]);
    }
    if params.iter().any(|(_, at)| at == "path") {
        statuses.push("404");
    }
    if params
        .iter()
        .any(|(name, at)| at == "header" && name.eq_ignore_ascii_case("idempotency-key"))
    {
        // A key that is missing or not printable ASCII is refused before anything else.
        statuses.push("422");
    }

    let responses = op
        .entry("responses")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    for status in statuses {
        responses
            .entry(status)
            .or_insert_with(|| json!({ "description": describe(status) }));
    }
    for (status, response) in responses.iter_mut() {
        if status.starts_with('4') || status.starts_with('5') {
            problem(status, response);
        }
    }
}

/// A refusal's body: problem JSON, never `application/json`.
fn problem(status: &str, response: &mut Value) {
    let Some(response) = response.as_object_mut() else {
        return;
    };
    let described = response
        .get("description")
        .and_then(Value::as_str)
        .is_some_and(|d| !d.is_empty());
    if !described {
        response.insert("description".to_owned(), json!(describe(status)));
    }
    response.insert(
        "content".to_owned(),
        json!({ "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }),
    );
}

/// Bounds of a parameter: a page `limit` 1 to 1,000; every other unsigned 64-bit integer
/// (seqs, sizes, cursors) 0 to 2^63 − 1; the idempotency key 1 to 128 printable ASCII
/// characters.
fn parameter(p: &mut Value) {
    let name = p
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let Some(schema) = p.get_mut("schema") else {
        return;
    };
    if name == "limit" {
        if let Some(s) = schema.as_object_mut() {
            s.insert("minimum".to_owned(), json!(1));
            s.insert("maximum".to_owned(), json!(MAX_PAGE));
        }
        return;
    }
    if name.eq_ignore_ascii_case("idempotency-key") {
        if let Some(s) = schema.as_object_mut() {
            s.insert("minLength".to_owned(), json!(1));
            s.insert("maxLength".to_owned(), json!(128));
            s.insert("pattern".to_owned(), json!("^[\\x21-\\x7E]+$"));
        }
        if let Some(p) = p.as_object_mut() {
            p.insert("required".to_owned(), json!(true));
        }
        return;
    }
    bound_integers(schema);
}

/// Every unsigned 64-bit integer of `schema`, however deep, gets the `bigint` maximum.
fn bound_integers(schema: &mut Value) {
    match schema {
        Value::Object(s) => {
            let unsigned_64 = s.get("format").and_then(Value::as_str) == Some("int64")
                && s.get("minimum").and_then(Value::as_u64) == Some(0);
            if unsigned_64 && !s.contains_key("maximum") {
                s.insert("maximum".to_owned(), json!(MAX_BIGINT));
            }
            for v in s.values_mut() {
                bound_integers(v);
            }
        }
        Value::Array(items) => {
            for v in items {
                bound_integers(v);
            }
        }
        _ => {}
    }
}

/// `NewFundEntry` and `NewFundBatchEntry` as a `oneOf` of one schema per kind, chosen by
/// `kind`, each with the kind's body schema; the kinds and bodies are read from
/// `FundEntry`'s generated schema (`entries::kinds::FundEntry`, tagged by `kind`).
fn entry_bodies(doc: &mut Value) {
    let variants: Vec<(String, Value)> = doc
        .pointer("/components/schemas/FundEntry/oneOf")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter_map(|v| {
                    let kind = v
                        .pointer("/properties/kind/enum/0")
                        .and_then(Value::as_str)?;
                    let body = v.pointer("/properties/body")?.clone();
                    Some((kind.to_owned(), body))
                })
                .collect()
        })
        .unwrap_or_default();
    if variants.is_empty() {
        return;
    }
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (union, suffix, batch) in [
        ("NewFundEntry", "Entry", false),
        ("NewFundBatchEntry", "BatchEntry", true),
    ] {
        let mut one_of = Vec::new();
        let mut mapping = Map::new();
        for (kind, body) in &variants {
            let name = format!("New{}{suffix}", pascal(kind));
            let reference = format!("#/components/schemas/{name}");
            let mut properties = Map::new();
            properties.insert(
                "kind".to_owned(),
                json!({ "type": "string", "enum": [kind] }),
            );
            properties.insert(
                "business_date".to_owned(),
                json!({
                    "type": "string", "format": "date",
                    "description": "When the fact happened (value date, invoice date, ...), as YYYY-MM-DD; not after today plus the configured skew (`FUNDTRAIL_FUTURE_SKEW_DAYS`)."
                }),
            );
            let mut required = vec![json!("kind"), json!("business_date"), json!("body")];
            if batch {
                properties.insert(
                    "idempotency_key".to_owned(),
                    json!({
                        "type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[\\x21-\\x7E]+$",
                        "description": "Client-chosen key, unique per fund: a retry with the same key replays the original entry."
                    }),
                );
                required.push(json!("idempotency_key"));
            }
            properties.insert("body".to_owned(), body.clone());
            schemas.insert(
                name,
                json!({
                    "type": "object",
                    "description": format!("A `{kind}` entry."),
                    "properties": properties,
                    "required": required,
                    "additionalProperties": false,
                }),
            );
            one_of.push(json!({ "$ref": reference }));
            mapping.insert(kind.clone(), json!(reference));
        }
        let description = if batch {
            "One entry of a batch: `kind` selects the schema of `body`; `idempotency_key` is the entry's own key."
        } else {
            "One typed entry: `kind` selects the schema of `body` (docs/domain.md)."
        };
        schemas.insert(
            union.to_owned(),
            json!({
                "description": description,
                "oneOf": one_of,
                "discriminator": { "propertyName": "kind", "mapping": mapping },
            }),
        );
    }
}

/// `contract_amendment` → `ContractAmendment`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}
