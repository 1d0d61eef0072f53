//! Foundation: health, readiness (including a real database outage), metrics, OpenAPI,
//! request ids and the problem-JSON error contract.

use actix_web::http::{header, StatusCode};
use actix_web::test::{self, TestRequest};

use crate::harness::{self, TestDb};

#[actix_web::test]
async fn healthz_answers_with_a_request_id() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    let res = test::call_service(&app, TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = res
        .headers()
        .get("x-request-id")
        .expect("request id header");
    assert_eq!(
        id.to_str().unwrap().len(),
        36,
        "a UUID when the client sent none"
    );
    let body = harness::json_body(res).await;
    assert_eq!(body["status"], "ok");

    // A plain client-supplied id is kept so logs correlate across services...
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/healthz")
            .insert_header(("x-request-id", "abc-123"))
            .to_request(),
    )
    .await;
    assert_eq!(res.headers().get("x-request-id").unwrap(), "abc-123");
    // ...but anything that could forge log lines is replaced.
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/healthz")
            .insert_header(("x-request-id", "a b\"c"))
            .to_request(),
    )
    .await;
    assert_ne!(res.headers().get("x-request-id").unwrap(), "a b\"c");
}

#[actix_web::test]
async fn readyz_is_ok_on_a_migrated_database() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    let res = test::call_service(&app, TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(harness::json_body(res).await["status"], "ready");
}

#[actix_web::test]
async fn readyz_is_503_while_migrations_are_pending() {
    let db = TestDb::empty();
    // The service role cannot even read the (missing) migrations table: not ready.
    let app = harness::app(harness::unbootstrapped_state(&db, Default::default())).await;
    let res = test::call_service(&app, TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = harness::json_body(res).await;
    assert_eq!(body["code"], "database_unavailable");
}

#[actix_web::test]
async fn a_database_outage_turns_readyz_into_503_without_crashing() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    let res = test::call_service(&app, TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);

    db.drop_now(); // every session killed, the database gone

    for _ in 0..2 {
        let res = test::call_service(&app, TestRequest::get().uri("/readyz").to_request()).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/problem+json"
        );
        assert!(res.headers().contains_key(header::RETRY_AFTER));
        let body = harness::json_body(res).await;
        assert_eq!(body["code"], "database_unavailable");
        assert_eq!(body["status"], 503);
        // Internals (connection strings, driver messages) stay in the log.
        assert!(!body.to_string().contains("fundtrail_test_"), "{body}");
    }
    // The process is still up.
    let res = test::call_service(&app, TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn metrics_count_requests_by_route_and_status_and_show_the_pool() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    for _ in 0..3 {
        test::call_service(&app, TestRequest::get().uri("/healthz").to_request()).await;
    }
    test::call_service(&app, TestRequest::get().uri("/no/such/thing").to_request()).await;
    let res = test::call_service(&app, TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(
        text.contains(
            r#"fundtrail_http_requests_total{method="GET",route="/healthz",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="<unmatched>",status="404"} 1"#),
        "{text}"
    );
    assert!(text.contains("fundtrail_http_request_duration_seconds_bucket"));
    assert!(
        text.contains("fundtrail_db_pool_max_connections 8"),
        "{text}"
    );
}

#[actix_web::test]
async fn openapi_document_is_openapi_3_1_and_the_api_page_is_served() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    let res = test::call_service(&app, TestRequest::get().uri("/openapi.json").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc = harness::json_body(res).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/readyz"]["get"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // The typed entry kinds, the newest included.
    for schema in ["FundEntry", "BidDisqualified", "Approval", "Decision"] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
    let kinds = doc["components"]["schemas"]["FundEntry"].to_string();
    assert!(
        kinds.contains("bid_disqualified") && kinds.contains("\"approval\""),
        "{kinds}"
    );

    let res = test::call_service(&app, TestRequest::get().uri("/docs").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(html.contains("<html"), "{html}");
}

#[actix_web::test]
async fn unknown_routes_and_wrong_methods_are_problem_json() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    let res = test::call_service(&app, TestRequest::get().uri("/api/v1/nope").to_request()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        res.headers().get(header::CONTENT_TYPE).unwrap(),
        "application/problem+json"
    );
    let body = harness::json_body(res).await;
    assert_eq!(body["code"], "route_not_found");
    assert_eq!(body["type"], "urn:fundtrail:problem:route_not_found");

    let res = test::call_service(&app, TestRequest::post().uri("/healthz").to_request()).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body = harness::json_body(res).await;
    assert_eq!(body["code"], "method_not_allowed");
}

#[actix_web::test]
async fn bad_bodies_get_stable_client_errors_and_write_nothing() {
    let db = TestDb::migrated();
    let settings = fundtrail::config::AppSettings {
        body_limit_bytes: 2_048,
        ..Default::default()
    };
    let state = harness::state_with(&db, settings).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state).await;
    let uri = "/api/v1/chains";
    let cases: Vec<(TestRequest, StatusCode, &str)> = vec![
        (
            TestRequest::post()
                .uri(uri)
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload("{not json"),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            TestRequest::post()
                .uri(uri)
                .insert_header((header::CONTENT_TYPE, "text/plain"))
                .set_payload("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            TestRequest::post()
                .uri(uri)
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload(format!("{{\"id\": \"{}\"}}", "x".repeat(4_000))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            TestRequest::post()
                .uri(uri)
                .set_json(serde_json::json!({"id": 42})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            TestRequest::post()
                .uri(uri)
                .set_json(serde_json::json!({"unexpected": true})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ];
    for (req, status, code) in cases {
        let res = test::call_service(&app, harness::authed(req).to_request()).await;
        assert_eq!(res.status(), status);
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/problem+json"
        );
        let body = harness::json_body(res).await;
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["status"], status.as_u16());
    }
    // Only the administrative chain exists: no refused request created anything.
    let res = test::call_service(
        &app,
        harness::authed(TestRequest::get().uri(uri)).to_request(),
    )
    .await;
    let chains = harness::json_body(res).await;
    assert_eq!(chains.as_array().unwrap().len(), 1, "{chains}");
}
