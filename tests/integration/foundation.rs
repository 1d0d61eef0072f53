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

/// Connections the database closed (a restart, a proxy's cut) are found by the pool's
/// probe at most a second after it last vouched for them: in between a request may get 503
/// `database_unavailable`, never a 500, and then requests are served on new connections.
#[actix_web::test]
async fn connections_the_database_closed_are_replaced_within_a_second() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    let app = harness::app(state.clone()).await;
    harness::act_as(&state, "admin");
    let (status, _) = call!(&app, TestRequest::get().uri("/api/v1/funds"));
    assert_eq!(status, StatusCode::OK);

    db.terminate_sessions();
    for _ in 0..3 {
        let (status, body) = call!(&app, TestRequest::get().uri("/api/v1/funds"));
        assert!(
            status == StatusCode::OK
                || (status == StatusCode::SERVICE_UNAVAILABLE
                    && body["code"] == "database_unavailable"),
            "{status} {body}"
        );
    }
    actix_web::rt::time::sleep(std::time::Duration::from_millis(1_100)).await;
    for _ in 0..3 {
        let (status, body) = call!(&app, TestRequest::get().uri("/api/v1/funds"));
        assert_eq!(status, StatusCode::OK, "{body}");
    }
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
    // Rendered on the server from the document: every route is there, nothing is loaded
    // from another site.
    assert!(
        html.contains("/api/v1/funds/{fund}/reports/statement"),
        "{html}"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "{html}"
    );
}

/// What a client generator or fuzzer reads from the document: every refusal an operation can
/// answer, as problem JSON; integers with the bounds the API enforces; entry bodies typed per
/// kind.
/// The OpenAPI document names each schema after its type, so two types of one name would
/// silently share one schema (and one operation would be described by the other's): every
/// type the document is built from has a name of its own.
#[test]
fn every_openapi_schema_type_has_a_name_of_its_own() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut seen: std::collections::HashMap<String, std::path::PathBuf> = Default::default();
    let mut clashes = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if !(l.trim_start().starts_with("#[derive(") && l.contains("ToSchema")) {
                continue;
            }
            // The type follows its attributes: the next `pub struct` or `pub enum` line.
            let Some(decl) = lines[i + 1..]
                .iter()
                .find(|l| l.starts_with("pub struct ") || l.starts_with("pub enum "))
            else {
                continue;
            };
            let name: String = decl
                .split_whitespace()
                .nth(2)
                .unwrap()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if let Some(other) = seen.insert(name.clone(), f.clone()) {
                clashes.push(format!("{name}: {} and {}", other.display(), f.display()));
            }
        }
    }
    assert!(seen.len() > 50, "found only {} schema types", seen.len());
    assert!(clashes.is_empty(), "{clashes:#?}");
}

#[actix_web::test]
async fn openapi_document_describes_refusals_bounds_and_typed_bodies() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    let res = test::call_service(&app, TestRequest::get().uri("/openapi.json").to_request()).await;
    let doc = harness::json_body(res).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 45, "{} paths", paths.len());
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let at = format!("{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            let summary = op["summary"].as_str().unwrap_or_default();
            assert!(!summary.is_empty(), "{at} has no summary");
            assert!(!summary.contains("`Write`"), "{at}: {summary}");
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut expected = vec!["414", "431"];
            if secured {
                expected.push("401");
            }
            if op.get("requestBody").is_some() {
                expected.extend(["400", "413", "415", "422"]);
            }
            if params.iter().any(|p| p["in"] == "path") {
                expected.extend(["400", "404"]);
            }
            for status in expected {
                assert!(
                    responses.contains_key(status),
                    "{at} does not document {status}"
                );
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{at} {status}"
                    );
                    assert!(
                        response["content"].get("application/json").is_none(),
                        "{at} {status}"
                    );
                }
            }
            for p in &params {
                let name = p["name"].as_str().unwrap();
                let schema = &p["schema"];
                if name == "limit" {
                    assert_eq!(
                        (schema["minimum"].as_u64(), schema["maximum"].as_u64()),
                        (Some(1), Some(1000)),
                        "{at}"
                    );
                } else if schema["format"] == "int64" {
                    assert_eq!(
                        schema["maximum"].as_u64(),
                        Some(i64::MAX as u64),
                        "{at} {name}"
                    );
                }
            }
        }
    }
    assert!(operations >= 51, "{operations} operations");
    // Role-restricted operations say so.
    for (path, method) in [
        ("/api/v1/admin/users", "post"),
        ("/api/v1/chains/{chain}/entries", "get"),
        ("/api/v1/funds/{fund}/entries", "post"),
        ("/api/v1/funds/{fund}/reports/statement", "get"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"]["403"].is_object(),
            "{method} {path}"
        );
    }
    assert!(doc["paths"]["/api/v1/auth/login"]["post"]["responses"]["429"].is_object());

    // An entry body is one schema per kind, chosen by `kind`.
    let schemas = &doc["components"]["schemas"];
    let union = &schemas["NewFundEntry"];
    assert_eq!(union["discriminator"]["propertyName"], "kind");
    let one_of = union["oneOf"].as_array().unwrap();
    assert_eq!(one_of.len(), fundtrail::entries::kinds::KINDS.len());
    for kind in fundtrail::entries::kinds::KINDS {
        let reference = union["discriminator"]["mapping"][kind].as_str().unwrap();
        let name = reference.rsplit('/').next().unwrap();
        let variant = &schemas[name];
        assert_eq!(variant["properties"]["kind"]["enum"][0], kind);
        assert!(
            variant["properties"]["body"]["$ref"].is_string(),
            "{kind}: {}",
            variant["properties"]["body"]
        );
    }
    let disbursement = &schemas["NewDisbursementEntry"];
    assert_eq!(
        disbursement["properties"]["body"]["$ref"],
        "#/components/schemas/Disbursement"
    );
    assert_eq!(
        schemas["Disbursement"]["properties"]["allocation"]["maximum"].as_u64(),
        Some(i64::MAX as u64)
    );
    let batch = &schemas["NewFundBatch"]["properties"]["entries"];
    assert_eq!(
        (batch["minItems"].as_u64(), batch["maxItems"].as_u64()),
        (Some(1), Some(1000))
    );
    assert_eq!(
        batch["items"]["$ref"],
        "#/components/schemas/NewFundBatchEntry"
    );
    assert_eq!(
        doc["paths"]["/api/v1/funds/{fund}/entries"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"]["$ref"],
        "#/components/schemas/NewFundEntry"
    );
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

/// Every migration's `down.sql` reverts exactly what its `up.sql` did: applied one by one
/// from an empty database, the schema after each up-then-down equals the schema before.
#[test]
fn every_migration_down_reverts_its_up_exactly() {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    use diesel_migrations::MigrationHarness;

    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    // Tables, columns, constraints, indexes, triggers, functions, sequences and the
    // service role's privileges of the public schema, one sorted line each.
    fn schema(conn: &mut PgConnection) -> Vec<String> {
        diesel::sql_query(
            "SELECT line FROM (
               SELECT format('column %s.%s %s null=%s default=%s', table_name, column_name, data_type, is_nullable, column_default) AS line
                 FROM information_schema.columns WHERE table_schema = 'public'
               UNION ALL SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
                 FROM pg_constraint WHERE connamespace = 'public'::regnamespace
               UNION ALL SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
               UNION ALL SELECT format('trigger %s', pg_get_triggerdef(t.oid)) FROM pg_trigger t
                 JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
               UNION ALL SELECT format('function %s', pg_get_functiondef(p.oid)) FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
               UNION ALL SELECT format('sequence %s', sequence_name) FROM information_schema.sequences WHERE sequence_schema = 'public'
               UNION ALL SELECT format('schema usage by fundtrail_app: %s', has_schema_privilege('fundtrail_app', 'public', 'USAGE'))
               UNION ALL SELECT format('grant %s %s %s', grantee, table_name, privilege_type)
                 FROM information_schema.role_table_grants WHERE table_schema = 'public' AND grantee = 'fundtrail_app'
             ) s ORDER BY line",
        )
        .load::<Line>(conn)
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        // Diesel's own bookkeeping table appears with the first migration and stays.
        .filter(|l| l.starts_with("grant") || !l.contains("__diesel_schema_migrations"))
        .collect()
    }

    let db = TestDb::empty();
    let mut conn = PgConnection::establish(&db.url()).unwrap();
    let mut checked = 0;
    while !conn
        .pending_migrations(fundtrail::db::MIGRATIONS)
        .unwrap()
        .is_empty()
    {
        let before = schema(&mut conn);
        let name = conn
            .run_next_migration(fundtrail::db::MIGRATIONS)
            .unwrap()
            .to_string();
        let applied = schema(&mut conn);
        assert_ne!(applied, before, "{name} changed nothing");
        conn.revert_last_migration(fundtrail::db::MIGRATIONS)
            .unwrap();
        let reverted = schema(&mut conn);
        let extra: Vec<&String> = reverted.iter().filter(|l| !before.contains(l)).collect();
        let missing: Vec<&String> = before.iter().filter(|l| !reverted.contains(l)).collect();
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{name}: down left {extra:#?} and lost {missing:#?}"
        );
        conn.run_next_migration(fundtrail::db::MIGRATIONS).unwrap();
        checked += 1;
    }
    let folders = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("up.sql").exists())
        .count();
    assert_eq!(checked, folders, "every migration folder was checked");
}
