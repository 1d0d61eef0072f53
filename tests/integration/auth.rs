//! Sessions: login, token refresh with rotation and reuse detection, logout, throttling.

use actix_web::http::{header, StatusCode};
use actix_web::test::{self, TestRequest};
use serde_json::{json, Value};

use crate::harness::{self, TestDb};

macro_rules! call {
    ($app:expr, $req:expr) => {{
        let res = test::call_service($app, $req.to_request()).await;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = test::read_body(res).await;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body, headers)
    }};
}

use crate::harness::user;

fn login(email: &str, pass: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/auth/login")
        .set_json(json!({"email": email, "password": pass}))
}

fn refresh(token: &Value) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/auth/refresh")
        .set_json(json!({"refresh_token": token}))
}

#[actix_web::test]
async fn login_issues_a_valid_access_token_and_a_refresh_token() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    let app = harness::app(state.clone()).await;
    let id = user(&db, "donor@norway.example", "a long passphrase", &["donor"]);
    let (status, body, _) = call!(&app, login("Donor@Norway.example ", "a long passphrase"));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["role"], "donor");
    let claims = harness::jwt_keys()
        .validate(body["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.sub, id);
    assert_eq!(claims.role, "donor");
    assert_eq!(
        body["refresh_token"].as_str().unwrap().len(),
        43,
        "256 random bits, base64url"
    );
    // Only a hash of the refresh token is stored.
    let mut conn = db.superuser_conn();
    let stored: i64 = diesel::RunQueryDsl::get_result(
        diesel::dsl::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "(SELECT count(*) FROM refresh_tokens WHERE token_hash = sha256('{}'::bytea))",
            body["refresh_token"].as_str().unwrap()
        ))),
        &mut conn,
    )
    .unwrap();
    assert_eq!(stored, 1);
}

#[actix_web::test]
async fn wrong_passwords_unknown_users_and_inactive_users_get_the_same_answer() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    let id = user(
        &db,
        "ministry@interior.example",
        "another passphrase",
        &["ministry"],
    );
    user(&db, "gone@example.org", "another passphrase", &["auditor"]);
    diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE users SET active = false WHERE email = 'gone@example.org'"),
        &mut db.superuser_conn(),
    )
    .unwrap();
    let mut answers = Vec::new();
    for (email, pass) in [
        ("ministry@interior.example", "wrong passphrase!"),
        ("nobody@example.org", "another passphrase"),
        ("gone@example.org", "another passphrase"),
    ] {
        let (status, body, headers) = call!(&app, login(email, pass));
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
        answers.push((body["code"].clone(), body["detail"].clone()));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(answers[0].0, "invalid_credentials");
    let _ = id;
}

#[actix_web::test]
async fn users_with_several_roles_choose_one() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    let app = harness::app(state.clone()).await;
    user(
        &db,
        "both@example.org",
        "two hats person",
        &["auditor", "donor"],
    );
    let (status, body, _) = call!(&app, login("both@example.org", "two hats person"));
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("role_required"))
    );
    let (status, body, _) = call!(
        &app,
        TestRequest::post().uri("/api/v1/auth/login").set_json(
            json!({"email": "both@example.org", "password": "two hats person", "role": "auditor"})
        )
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        harness::jwt_keys()
            .validate(body["access_token"].as_str().unwrap())
            .unwrap()
            .role,
        "auditor"
    );
    let (status, _, _) = call!(
        &app,
        TestRequest::post().uri("/api/v1/auth/login").set_json(
            json!({"email": "both@example.org", "password": "two hats person", "role": "admin"})
        )
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_session() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    user(
        &db,
        "auditor@sai.example",
        "audit all the things",
        &["auditor"],
    );
    let (_, first, _) = call!(&app, login("auditor@sai.example", "audit all the things"));
    let (status, second, _) = call!(&app, refresh(&first["refresh_token"]));
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);

    // The first token again: theft signal. The whole family dies, the newest token too.
    let (status, body, _) = call!(&app, refresh(&first["refresh_token"]));
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("refresh_token_reused"))
    );
    let (status, body, _) = call!(&app, refresh(&second["refresh_token"]));
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_refresh_token"))
    );
    let (status, _, _) = call!(&app, refresh(&json!("made-up")));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn logout_and_deactivation_end_refresh_at_once() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    let id = user(
        &db,
        "treasurer@fund.example",
        "pooled funds rule",
        &["treasurer"],
    );
    let (_, a, _) = call!(&app, login("treasurer@fund.example", "pooled funds rule"));
    let (status, _, _) = call!(
        &app,
        TestRequest::post()
            .uri("/api/v1/auth/logout")
            .set_json(json!({"refresh_token": a["refresh_token"]}))
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call!(&app, refresh(&a["refresh_token"]));
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, b, _) = call!(&app, login("treasurer@fund.example", "pooled funds rule"));
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!("UPDATE users SET active = false WHERE id = '{id}'")),
        &mut db.superuser_conn(),
    )
    .unwrap();
    let (status, _, _) = call!(&app, refresh(&b["refresh_token"]));
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a deactivated user's refresh token stops at once"
    );
}

#[actix_web::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    user(&db, "target@example.org", "the real password", &["donor"]);
    for _ in 0..5 {
        let (status, _, _) = call!(&app, login("target@example.org", "guess guess guess"));
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Locked now, even with the right password.
    let (status, body, headers) = call!(&app, login("target@example.org", "the real password"));
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "too_many_requests");
    let retry: u64 = headers
        .get(header::RETRY_AFTER)
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
}

#[actix_web::test]
async fn login_time_does_not_reveal_whether_the_email_exists() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    user(&db, "exists@example.org", "some long secret", &["donor"]);
    // Warm up (the dummy hash is computed once).
    call!(&app, login("nobody-0@example.org", "some long secret"));
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..6 {
        for (email, out) in [
            ("exists@example.org".to_owned(), &mut known),
            (format!("nobody-{i}@example.org"), &mut unknown),
        ] {
            let started = std::time::Instant::now();
            call!(&app, login(&email, "wrong wrong wrong"));
            out.push(started.elapsed());
        }
    }
    known.sort();
    unknown.sort();
    // Both run one full argon2id verification (tens of ms); skipping it for unknown emails
    // would make them ~100x faster. Medians within a factor of three, robust to CI noise.
    let (k, u) = (known[3].as_secs_f64(), unknown[3].as_secs_f64());
    assert!(
        k / u < 3.0 && u / k < 3.0,
        "known {known:?} unknown {unknown:?}"
    );
}

#[actix_web::test]
async fn the_cli_bootstraps_the_first_admin_and_records_it_in_the_admin_chain() {
    let db = TestDb::migrated();
    let dir = std::env::temp_dir().join(format!("ft-user-{}", uuid::Uuid::new_v4().simple()));
    let run = |password: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fundtrail"))
            .args([
                "user",
                "create",
                "--email",
                "Admin@Fund.example",
                "--role",
                "admin",
                "--org",
                "Fund Operations",
            ])
            .arg("--database-url")
            .arg(db.url())
            .arg("--data-dir")
            .arg(&dir)
            // The deployment's one signing key, shared with the service started below.
            .env("FUNDTRAIL_SIGNING_KEY", harness::signing_key_file())
            .env("FUNDTRAIL_USER_PASSWORD", password)
            .output()
            .unwrap()
    };
    let weak = run("short");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12"));
    let out = run("a strong admin passphrase");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let state = harness::state(&db).await;
    let app = harness::app(state.clone()).await;
    let (status, body, _) = call!(
        &app,
        login("admin@fund.example", "a strong admin passphrase")
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "admin");
    harness::act_as(&state, "admin");
    let (_, admin, _) = call!(
        &app,
        harness::authed(TestRequest::get().uri("/api/v1/chains/admin/entries"))
    );
    let kinds: Vec<String> = admin["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["kind"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["organization_created", "user_created", "role_granted"] {
        assert!(kinds.iter().any(|k| k == kind), "{kinds:?}");
    }
    // The password never reaches the ledger.
    assert!(!admin.to_string().contains("a strong admin passphrase"));
    let _ = std::fs::remove_dir_all(&dir);
}
