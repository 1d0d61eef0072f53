//! Integration tests: the real actix application, in-process, against a real Postgres.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

/// Calls the app as the current actor (`harness::act_as`, `harness::authed`) and returns
/// the status and the JSON body (`Null` when the body is not JSON).
macro_rules! call {
    ($app:expr, $req:expr) => {{
        let res =
            actix_web::test::call_service($app, crate::harness::authed($req).to_request()).await;
        let status = res.status();
        let bytes = actix_web::test::read_body(res).await;
        let body: serde_json::Value =
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, body)
    }};
}

/// The type of the application `harness::app` returns, for a function that returns it
/// (`-> (World, app_service!())`).
macro_rules! app_service {
    () => {
        impl actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
            Error = actix_web::Error,
        >
    };
}

/// Posts an entry and expects it recorded; returns its seq.
macro_rules! ok {
    ($app:expr, $req:expr) => {{
        let (status, body) = call!($app, $req);
        assert_eq!(status, actix_web::http::StatusCode::CREATED, "{body}");
        body["seq"].as_u64().unwrap()
    }};
}

/// Posts and expects a refusal with this status and code.
macro_rules! refused {
    ($app:expr, $req:expr, $status:expr, $code:expr) => {{
        let (status, body) = call!($app, $req);
        assert_eq!(
            (status, body["code"].as_str().unwrap_or("")),
            ($status, $code),
            "{body}"
        );
    }};
}

mod access;
mod admin;
mod approvals;
mod auth;
mod bad_input;
mod bank;
mod browser;
mod cli;
mod domain;
mod embedded;
mod entry_rules;
mod evidence;
mod exports;
mod foundation;
mod funds;
mod grouped;
#[allow(dead_code)] // helpers are shared by test modules that each use a subset
mod harness;
mod import;
mod import_real;
mod insiders;
mod ledger;
mod over_contract;
mod real_screens;
mod reports;
mod scale;
mod screens;
mod vocabulary;
mod web;
mod webhooks;
mod witness;
mod witnessing;
