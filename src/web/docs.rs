//! `GET /docs`: the API reference, rendered on the server from the OpenAPI document the
//! app serves at `/openapi.json`, so it needs no script and no network (the page it
//! replaces loaded its script from a CDN). One section per tag; per operation its method,
//! path, summary, roles note, parameters and answers.

use maud::{html, Markup};
use serde_json::Value;

use super::api::{s, scalar};
use super::layout::render;

fn operation(method: &str, path: &str, op: &Value) -> Markup {
    let anchor = format!("{method}-{path}").replace(['/', '{', '}'], "-");
    html! {
        article class="op" id=(anchor) {
            h3 { span class={"method " (method)} { (method.to_uppercase()) } " " code { (path) } }
            @if !s(op, "summary").is_empty() { p { strong { (s(op, "summary")) } } }
            @if !s(op, "description").is_empty() { p { (s(op, "description")) } }
            @if op.get("security").is_some() { p class="hint" { "Needs a bearer access token." } }
            @if let Some(params) = op.get("parameters").and_then(Value::as_array) {
                div class="scroll" tabindex="0" {
                    table {
                        caption { "Parameters" }
                        thead { tr { th scope="col" { "Name" } th scope="col" { "In" } th scope="col" { "Required" } th scope="col" { "Description" } } }
                        tbody {
                            @for p in params {
                                tr { td { code { (s(p, "name")) } } td { (s(p, "in")) } td { (scalar(p.get("required").unwrap_or(&Value::Bool(false)))) } td { (s(p, "description")) } }
                            }
                        }
                    }
                }
            }
            @if let Some(body) = op.pointer("/requestBody/content/application~1json/schema/$ref").and_then(Value::as_str) {
                p { "Request body: " code { (body.rsplit('/').next().unwrap_or(body)) } }
            }
            @if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                ul class="plain" {
                    @for (status, r) in responses {
                        li { code { (status) } " " (s(r, "description")) }
                    }
                }
            }
        }
    }
}

/// The OpenAPI document, registered by the composition root (which builds it).
pub struct ApiDocument(pub Value);

/// `GET /docs`: the reference. Anyone (the OpenAPI document is public).
pub async fn reference(doc: actix_web::web::Data<ApiDocument>) -> actix_web::HttpResponse {
    let doc = &doc.0;
    let tags: Vec<(String, String)> = doc
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|t| (s(t, "name").to_owned(), s(t, "description").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let body = html! {
        h1 { "API reference" }
        p { (s(doc.get("info").unwrap_or(&Value::Null), "description")) }
        p { "The machine-readable document is at " a href="/openapi.json" { "/openapi.json" } "." }
        nav aria-label="Sections" { ul { @for (t, _) in &tags { li { a href={"#tag-" (t)} { (t) } } } } }
        @for (tag, description) in &tags {
            section aria-labelledby={"tag-" (tag)} {
                h2 id={"tag-" (tag)} { (tag) }
                p { (description) }
                @for (path, item) in &paths {
                    @if let Some(ops) = item.as_object() {
                        @for (method, op) in ops {
                            @if op.get("tags").and_then(Value::as_array).is_some_and(|t| t.iter().any(|x| x.as_str() == Some(tag))) {
                                (operation(method, path, op))
                            }
                        }
                    }
                }
            }
        }
    };
    render(None, "API reference", body)
}
