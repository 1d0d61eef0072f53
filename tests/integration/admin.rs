//! The admin API: only admins, every change recorded in the administrative chain in the
//! same transaction, with the acting admin as principal.

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use serde_json::{json, Value};

use crate::harness::{self, user, TestDb};

macro_rules! call {
    ($app:expr, $req:expr) => {{
        let res = test::call_service($app, $req.to_request()).await;
        let status = res.status();
        let bytes = test::read_body(res).await;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }};
}

async fn token(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    email: &str,
    pass: &str,
) -> Value {
    let (status, body) = call!(
        app,
        TestRequest::post()
            .uri("/api/v1/auth/login")
            .set_json(json!({"email": email, "password": pass}))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn bearer(req: TestRequest, tokens: &Value) -> TestRequest {
    req.insert_header((
        "authorization",
        format!("Bearer {}", tokens["access_token"].as_str().unwrap()),
    ))
}

async fn admin_entries(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
) -> Vec<Value> {
    let (_, page) = call!(
        app,
        harness::authed(TestRequest::get().uri("/api/v1/chains/admin/entries?limit=1000"))
    );
    page["entries"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn an_admin_manages_organisations_users_and_roles_and_each_change_is_recorded() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    // Reads the administrative chain, all of which is an admin's to read.
    harness::act_as(&state, "admin");
    let app = harness::app(state).await;
    let admin_id = user(&db, "root@ops.example", "administrator pass", &["admin"]);
    let admin = token(&app, "root@ops.example", "administrator pass").await;

    let (status, org) = call!(
        &app,
        bearer(
            TestRequest::post().uri("/api/v1/admin/organizations"),
            &admin
        )
        .set_json(json!({"name": "Ministry of Interior", "kind": "ministry"}))
    );
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let (status, body) = call!(
        &app,
        bearer(
            TestRequest::post().uri("/api/v1/admin/organizations"),
            &admin
        )
        .set_json(json!({"name": "Ministry of Interior", "kind": "ministry"}))
    );
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::CONFLICT, json!("organization_exists"))
    );

    let (status, u) = call!(&app, bearer(TestRequest::post().uri("/api/v1/admin/users"), &admin).set_json(json!({
        "email": "Finance@Interior.example", "password": "ministry finance 1", "organization": org["id"], "roles": ["ministry"]})));
    assert_eq!(status, StatusCode::CREATED, "{u}");
    assert_eq!(u["email"], "finance@interior.example");
    assert_eq!(u["organization"]["id"], org["id"], "{u}");
    assert_eq!(u["organization"]["name"], org["name"], "{u}");
    let (status, body) = call!(
        &app,
        bearer(TestRequest::post().uri("/api/v1/admin/users"), &admin).set_json(json!({
        "email": "weak@interior.example", "password": "short", "organization": org["id"]}))
    );
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("weak_password"))
    );

    let minister = token(&app, "finance@interior.example", "ministry finance 1").await;
    assert_eq!(minister["role"], "ministry");
    let uid = u["id"].as_str().unwrap().to_owned();
    let (status, _) = call!(
        &app,
        bearer(
            TestRequest::post().uri(&format!("/api/v1/admin/users/{uid}/roles")),
            &admin
        )
        .set_json(json!({"role": "auditor"}))
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call!(
        &app,
        bearer(
            TestRequest::post().uri(&format!("/api/v1/admin/users/{uid}/roles")),
            &admin
        )
        .set_json(json!({"role": "auditor"}))
    );
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::CONFLICT, json!("role_already_granted"))
    );

    // Revoking a role ends the user's sessions at once.
    let (status, _) = call!(
        &app,
        bearer(
            TestRequest::delete().uri(&format!("/api/v1/admin/users/{uid}/roles/ministry")),
            &admin
        )
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call!(
        &app,
        TestRequest::post()
            .uri("/api/v1/auth/refresh")
            .set_json(json!({"refresh_token": minister["refresh_token"]}))
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call!(
        &app,
        bearer(
            TestRequest::delete().uri(&format!("/api/v1/admin/users/{uid}/roles/ministry")),
            &admin
        )
    );
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = call!(
        &app,
        bearer(
            TestRequest::post().uri(&format!("/api/v1/admin/users/{uid}/deactivate")),
            &admin
        )
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call!(
        &app,
        TestRequest::post().uri("/api/v1/auth/login").set_json(
            json!({"email": "finance@interior.example", "password": "ministry finance 1"})
        )
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call!(
        &app,
        bearer(
            TestRequest::post().uri(&format!(
                "/api/v1/admin/users/{}/deactivate",
                uuid::Uuid::new_v4()
            )),
            &admin
        )
    );
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, users) = call!(
        &app,
        bearer(TestRequest::get().uri("/api/v1/admin/users"), &admin)
    );
    let listed = users
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == u["id"])
        .unwrap();
    assert_eq!(listed["active"], false);
    assert_eq!(listed["organization"], u["organization"]);
    assert_eq!(listed["roles"], json!(["auditor"]));

    // The administrative chain has exactly the successful changes, by this admin.
    let entries = admin_entries(&app).await;
    let mine: Vec<&Value> = entries
        .iter()
        .filter(|e| e["entry"]["principal"]["id"] == admin_id.to_string())
        .collect();
    let kinds: Vec<&str> = mine
        .iter()
        .map(|e| e["entry"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "organization_created",
            "user_created",
            "role_granted",
            "role_revoked",
            "user_deactivated"
        ]
    );
    assert!(mine
        .iter()
        .all(|e| e["entry"]["principal"]["role"] == "admin"));
    assert!(
        !Value::Array(entries)
            .to_string()
            .contains("ministry finance 1"),
        "no password in the ledger"
    );
}

/// An organisation's IATI organisation identifier: set when it is created, in the
/// `{RegistrationAgency}-{RegistrationNumber}` form only, one organisation per identifier,
/// listed with the organisation and recorded in the administrative chain.
#[actix_web::test]
async fn an_organisation_carries_its_iati_identifier() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state).await;
    user(&db, "root@ops.example", "administrator pass", &["admin"]);
    let admin = token(&app, "root@ops.example", "administrator pass").await;
    let create = |body: Value| {
        bearer(
            TestRequest::post().uri("/api/v1/admin/organizations"),
            &admin,
        )
        .set_json(body)
    };

    let (status, norway) = call!(
        &app,
        create(json!({"name": "Kingdom of Norway", "kind": "donor", "iati_ref": "XM-DAC-8"}))
    );
    assert_eq!(status, StatusCode::CREATED, "{norway}");
    assert_eq!(norway["iati_ref"], "XM-DAC-8");
    let (status, plain) = call!(
        &app,
        create(json!({"name": "United States", "kind": "donor"}))
    );
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    assert_eq!(plain["iati_ref"], Value::Null);

    for bad in [
        "XM-DAC",
        "xm-dac-8",
        "XM-DAC-8/1",
        "XMDAC-8",
        "XM-DAC-8 ",
        "XM-DAC-8&x",
        "X-DAC-8",
    ] {
        let (status, body) = call!(
            &app,
            create(json!({"name": format!("Bad ref {bad}"), "kind": "donor", "iati_ref": bad}))
        );
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_iati_ref")),
            "{bad}: {body}"
        );
    }
    // One identifier names one organisation; the refused one is not created.
    let (status, body) = call!(
        &app,
        create(json!({"name": "Norway again", "kind": "donor", "iati_ref": "XM-DAC-8"}))
    );
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::CONFLICT, json!("identifier_exists")),
        "{body}"
    );

    let (status, list) = call!(
        &app,
        bearer(
            TestRequest::get().uri("/api/v1/admin/organizations"),
            &admin
        )
    );
    assert_eq!(status, StatusCode::OK);
    let names: Vec<(&str, &Value)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap(), &o["iati_ref"]))
        .collect();
    assert!(
        names.contains(&("Kingdom of Norway", &json!("XM-DAC-8"))),
        "{list}"
    );
    assert!(names.contains(&("United States", &Value::Null)), "{list}");
    assert!(
        !names
            .iter()
            .any(|(n, _)| *n == "Norway again" || n.starts_with("Bad ref")),
        "{list}"
    );

    let entries = admin_entries(&app).await;
    let created = entries
        .iter()
        .find(|e| {
            e["entry"]["kind"] == "organization_created"
                && e["entry"]["body"]["name"] == "Kingdom of Norway"
        })
        .unwrap();
    assert_eq!(created["entry"]["body"]["iati_ref"], "XM-DAC-8");
}

#[actix_web::test]
async fn everyone_but_an_admin_is_refused_and_nothing_is_written() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    // Reads the administrative chain, all of which is an admin's to read.
    harness::act_as(&state, "admin");
    let app = harness::app(state).await;
    let mut tokens = Vec::new();
    for role in ["treasurer", "ministry", "auditor", "donor"] {
        let email = format!("{role}@example.org");
        user(&db, &email, "a valid password", &[role]);
        tokens.push((role, token(&app, &email, "a valid password").await));
    }
    let before = admin_entries(&app).await.len();
    let id = uuid::Uuid::new_v4();
    let routes: Vec<(TestRequest, &str)> = vec![
        (
            TestRequest::get().uri("/api/v1/admin/organizations"),
            "GET organizations",
        ),
        (
            TestRequest::post()
                .uri("/api/v1/admin/organizations")
                .set_json(json!({"name": "X", "kind": "donor"})),
            "POST organizations",
        ),
        (
            TestRequest::post().uri(&format!("/api/v1/admin/organizations/{id}/deactivate")),
            "deactivate organization",
        ),
        (TestRequest::get().uri("/api/v1/admin/users"), "GET users"),
        (
            TestRequest::post().uri("/api/v1/admin/users").set_json(
                json!({"email": "x@y.z", "password": "a valid password", "organization": id}),
            ),
            "POST users",
        ),
        (
            TestRequest::post().uri(&format!("/api/v1/admin/users/{id}/deactivate")),
            "deactivate user",
        ),
        (
            TestRequest::post()
                .uri(&format!("/api/v1/admin/users/{id}/roles"))
                .set_json(json!({"role": "admin"})),
            "grant",
        ),
        (
            TestRequest::delete().uri(&format!("/api/v1/admin/users/{id}/roles/admin")),
            "revoke",
        ),
    ];
    for (req, name) in routes {
        let req = req.to_request();
        let (method, uri) = (req.method().clone(), req.uri().clone());
        let rebuild = || {
            TestRequest::default().method(method.clone()).uri(&uri.to_string()).set_json(json!({"name": "X", "kind": "donor", "email": "x@y.z", "password": "a valid password", "organization": id, "role": "admin"}))
        };
        let (status, body) = call!(&app, rebuild());
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::UNAUTHORIZED, json!("unauthenticated")),
            "{name}"
        );
        let (status, body) = call!(
            &app,
            rebuild().insert_header(("authorization", "Bearer not.a.token"))
        );
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::UNAUTHORIZED, json!("invalid_token")),
            "{name}"
        );
        for (role, t) in &tokens {
            let (status, body) = call!(&app, bearer(rebuild(), t));
            assert_eq!(
                (status, body["code"].clone()),
                (StatusCode::FORBIDDEN, json!("forbidden")),
                "{name} as {role}"
            );
        }
    }
    assert_eq!(
        admin_entries(&app).await.len(),
        before,
        "refused calls write nothing"
    );
}
