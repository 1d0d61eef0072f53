//! Access under pressure: the login throttle under simultaneous attempts, access tokens
//! whose holder is gone, the administrative chain read within scope, retried admin writes.

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use futures_util::future::join_all;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, user, TestDb};

fn login(email: &str, pass: &str, address: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/auth/login")
        .peer_addr(address.parse().unwrap())
        .set_json(json!({"email": email, "password": pass}))
}

/// Sends every request at once; their statuses.
async fn all_at_once<B: actix_web::body::MessageBody>(
    app: &impl harness::App<B>,
    reqs: Vec<TestRequest>,
) -> Vec<StatusCode> {
    join_all(
        reqs.into_iter()
            .map(|r| async { test::call_service(app, r.to_request()).await.status() }),
    )
    .await
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[actix_web::test]
async fn simultaneous_attempts_on_one_account_evaluate_at_most_five_passwords() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    user(&db, "target@example.org", "the real password", &["donor"]);
    let guesses = (0..40)
        .map(|i| {
            login(
                "target@example.org",
                &format!("guess {i:02}"),
                &format!("10.0.0.{i}:4000"),
            )
        })
        .collect();
    let statuses = all_at_once(&app, guesses).await;
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        35,
        "{statuses:?}"
    );
    let res = test::call_service(
        &app,
        login("target@example.org", "the real password", "10.9.9.9:4000").to_request(),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the right password too"
    );
}

#[actix_web::test]
async fn simultaneous_attempts_from_one_address_evaluate_at_most_twenty_passwords() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    user(&db, "someone@example.org", "the real password", &["donor"]);
    let sprayed = (0..60)
        .map(|i| {
            login(
                &format!("user{i}@example.org"),
                "a common password",
                "10.1.1.1:4000",
            )
        })
        .collect();
    let statuses = all_at_once(&app, sprayed).await;
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED),
        20,
        "{statuses:?}"
    );
    assert_eq!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        40,
        "{statuses:?}"
    );
    let res = test::call_service(
        &app,
        login("someone@example.org", "the real password", "10.1.1.1:4001").to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let res = test::call_service(
        &app,
        login("someone@example.org", "the real password", "10.2.2.2:4000").to_request(),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "another address is not locked"
    );
}

/// GET /api/v1/funds with the current token: status and problem code.
async fn funds_as_token<B: actix_web::body::MessageBody>(
    app: &impl harness::App<B>,
) -> (StatusCode, String) {
    let (status, body) = call!(app, TestRequest::get().uri("/api/v1/funds"));
    (status, body["code"].as_str().unwrap_or("").to_owned())
}

fn invalid_token() -> (StatusCode, String) {
    (StatusCode::UNAUTHORIZED, "invalid_token".to_owned())
}

#[actix_web::test]
async fn a_token_stops_working_when_its_holder_is_deactivated_or_loses_the_role() {
    let (db, state, app) = harness::start().await;
    let donors = harness::org(&db, "Donor Org", "donor");
    let (gone, revoked, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    for u in [gone, revoked, other] {
        harness::act_as_user(&state, "donor", donors, u);
        assert_eq!(funds_as_token(&app).await.0, StatusCode::OK);
    }

    harness::act_as(&state, "admin");
    refused!(
        &app,
        TestRequest::post().uri(&format!("/api/v1/admin/users/{gone}/deactivate")),
        StatusCode::NO_CONTENT,
        ""
    );
    refused!(
        &app,
        TestRequest::delete().uri(&format!("/api/v1/admin/users/{revoked}/roles/donor")),
        StatusCode::NO_CONTENT,
        ""
    );
    harness::act_with_token("donor", donors, gone);
    assert_eq!(
        funds_as_token(&app).await,
        invalid_token(),
        "deactivated user"
    );
    harness::act_with_token("donor", donors, revoked);
    assert_eq!(funds_as_token(&app).await, invalid_token(), "revoked role");
    harness::act_with_token("donor", donors, other);
    assert_eq!(
        funds_as_token(&app).await.0,
        StatusCode::OK,
        "the others keep theirs"
    );
    harness::act_with_token("auditor", donors, other);
    assert_eq!(
        funds_as_token(&app).await,
        invalid_token(),
        "a role never granted"
    );
    harness::act_with_token("donor", Uuid::new_v4(), other);
    assert_eq!(
        funds_as_token(&app).await,
        invalid_token(),
        "another organisation"
    );

    harness::act_as(&state, "admin");
    refused!(
        &app,
        TestRequest::post().uri(&format!("/api/v1/admin/organizations/{donors}/deactivate")),
        StatusCode::NO_CONTENT,
        ""
    );
    harness::act_with_token("donor", donors, other);
    assert_eq!(
        funds_as_token(&app).await,
        invalid_token(),
        "deactivated organisation"
    );
}

/// Holders are looked up together (one query for the requests waiting at that moment):
/// requests sent at once, from holders that stand and from holders that do not, are each
/// answered for their own holder, and a revocation is seen by the next burst.
#[actix_web::test]
async fn requests_sent_at_once_are_each_answered_for_their_own_holder() {
    let (db, state, app) = harness::start().await;
    let donors = harness::org(&db, "Donor Org", "donor");
    let auditors = harness::org(&db, "Audit Office", "audit_body");
    let live: Vec<String> = (0..6)
        .map(|_| harness::token_for(&state, "donor", donors))
        .chain((0..6).map(|_| harness::token_for(&state, "auditor", auditors)))
        .collect();
    let token = harness::signed_token;
    // A user that does not exist, one in the wrong organisation, a role never granted.
    let revocable = Uuid::new_v4();
    harness::act_as_user(&state, "donor", donors, revocable);
    let refused: Vec<String> = vec![
        token(Uuid::new_v4(), donors, "donor"),
        token(revocable, auditors, "donor"),
        token(revocable, donors, "auditor"),
    ];
    let burst = |tokens: Vec<String>| {
        let app = &app;
        join_all(tokens.into_iter().map(move |t| async move {
            let res = test::call_service(
                app,
                TestRequest::get()
                    .uri("/api/v1/funds")
                    .insert_header(("Authorization", format!("Bearer {t}")))
                    .to_request(),
            )
            .await;
            res.status()
        }))
    };
    let revocable_token = token(revocable, donors, "donor");
    for _ in 0..3 {
        let mut tokens = live.clone();
        tokens.extend(refused.iter().cloned());
        tokens.push(revocable_token.clone());
        let statuses = burst(tokens).await;
        let (ok, rest) = statuses.split_at(live.len());
        assert!(ok.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
        assert_eq!(
            rest,
            [
                StatusCode::UNAUTHORIZED,
                StatusCode::UNAUTHORIZED,
                StatusCode::UNAUTHORIZED,
                StatusCode::OK
            ]
        );
    }
    harness::act_as(&state, "admin");
    refused!(
        &app,
        TestRequest::delete().uri(&format!("/api/v1/admin/users/{revocable}/roles/donor")),
        StatusCode::NO_CONTENT,
        ""
    );
    let mut tokens = live.clone();
    tokens.push(revocable_token);
    let statuses = burst(tokens).await;
    assert_eq!(statuses.last(), Some(&StatusCode::UNAUTHORIZED), "revoked");
    assert!(statuses[..live.len()].iter().all(|s| *s == StatusCode::OK));
}

#[actix_web::test]
async fn a_token_for_a_user_that_does_not_exist_is_refused_everywhere() {
    let (_db, _state, app) = harness::start().await;
    for role in ["admin", "auditor", "donor"] {
        harness::act_with_token(role, Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(funds_as_token(&app).await, invalid_token(), "{role}");
        let (status, body) = call!(&app, TestRequest::get().uri("/api/v1/admin/users"));
        let expected = if role == "admin" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, expected, "{role}: {body}");
        let (status, body) = call!(
            &app,
            TestRequest::get().uri("/api/v1/chains/admin/checkpoint")
        );
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{role}: {body}");
    }
}

/// `req` with `Idempotency-Key: key`.
fn keyed(req: TestRequest, key: &str) -> TestRequest {
    req.insert_header(("idempotency-key", key))
}

#[actix_web::test]
async fn a_retried_admin_write_answers_the_original_answer() {
    let (db, state, app) = harness::start().await;
    let secretariat = harness::org(&db, "Secretariat", "fund_secretariat");
    harness::act_as(&state, "admin");
    let writes: [(&str, Value, Value); 3] = [
        (
            "/api/v1/admin/organizations",
            json!({"name": "Ministry of Health", "kind": "ministry"}),
            json!({"name": "Ministry of Roads", "kind": "ministry"}),
        ),
        (
            "/api/v1/admin/funds",
            json!({"name": "Health Fund", "currency": "EUR", "secretariat": secretariat}),
            json!({"name": "Roads Fund", "currency": "EUR", "secretariat": secretariat}),
        ),
        (
            "/api/v1/admin/users",
            json!({"email": "clerk@example.org", "password": "a long passphrase",
                   "organization": secretariat, "roles": ["treasurer"]}),
            json!({"email": "other@example.org", "password": "a long passphrase",
                   "organization": secretariat, "roles": ["treasurer"]}),
        ),
    ];
    for (uri, body, other) in writes {
        let key = format!("retry-{uri}");
        let post = |b: &Value| keyed(TestRequest::post().uri(uri).set_json(b), &key);
        let (status, first) = call!(&app, post(&body));
        assert_eq!(status, StatusCode::CREATED, "{uri}: {first}");
        let (status, again) = call!(&app, post(&body));
        assert_eq!(
            (status, &again),
            (StatusCode::CREATED, &first),
            "{uri}: the retry"
        );
        refused!(
            &app,
            post(&other),
            StatusCode::CONFLICT,
            "idempotency_key_reused"
        );
    }
    // One entry per write in the administrative chain, none for the retries.
    let (_, page) = call!(
        &app,
        TestRequest::get().uri("/api/v1/chains/admin/entries?limit=1000")
    );
    let kinds: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["kind"].as_str().unwrap())
        .filter(|k| matches!(*k, "organization_created" | "fund_created" | "user_created"))
        .collect();
    assert_eq!(
        kinds,
        ["organization_created", "fund_created", "user_created"]
    );
    // Deactivations and grants replay too.
    let (_, orgs) = call!(&app, TestRequest::get().uri("/api/v1/admin/organizations"));
    let health = orgs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "Ministry of Health")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        refused!(
            &app,
            keyed(
                TestRequest::post()
                    .uri(&format!("/api/v1/admin/organizations/{health}/deactivate")),
                "deactivate-health"
            ),
            StatusCode::NO_CONTENT,
            ""
        );
    }
}

/// The administrative chain's entries as the current actor reads them (all pages).
async fn admin_chain<B: actix_web::body::MessageBody>(app: &impl harness::App<B>) -> Vec<Value> {
    let (mut out, mut after) = (Vec::new(), None::<String>);
    loop {
        let uri = match after {
            Some(a) => format!("/api/v1/chains/admin/entries?limit=2&after={a}"),
            None => "/api/v1/chains/admin/entries?limit=2".to_owned(),
        };
        let (status, page) = call!(app, TestRequest::get().uri(&uri));
        assert_eq!(status, StatusCode::OK, "{page}");
        out.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_str() {
            Some(a) => after = Some(a.to_owned()),
            None => return out,
        }
    }
}

#[actix_web::test]
async fn an_auditor_reads_only_the_administrative_entries_about_its_funds() {
    let (db, state, app) = harness::start().await;
    let (fund_a, _, auditor_a) = harness::audited_fund(&db, &state, &app).await;
    let other = harness::other_fund(&db, &app).await;
    harness::assign_auditor(&app, other.fund, other.auditor).await;
    let unassigned = harness::org(&db, "Idle Auditors", "audit_body");
    let (status, body) = call!(
        &app,
        TestRequest::post()
            .uri("/api/v1/admin/users")
            .set_json(json!({
            "email": "clerk@example.org", "password": "a long passphrase",
            "organization": other.secretariat, "roles": ["treasurer"]}))
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A flag of fund B, triaged by B's auditors with a reason.
    let donor = harness::org(&db, "Donor", "donor");
    harness::act_as_member(&state, "treasurer", other.secretariat);
    let seq = ok!(
        &app,
        harness::entry(
            other.fund,
            "pledge",
            chrono::Utc::now().date_naive(),
            json!({"donor": donor, "amount": harness::eur("5.00"), "agreement": "B-1"})
        )
    );
    let flag = Uuid::new_v4();
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "INSERT INTO flags (id, fund_id, rule, severity, seq, evidence, message, business_date, \
             raised_at, subject) VALUES ('{flag}', '{}', 'split-purchase', 'low', {seq}, '{{{seq}}}', \
             'm', current_date, now(), '')",
            other.fund
        )),
        &mut db.superuser_conn(),
    )
    .unwrap();
    harness::act_as_member(&state, "auditor", other.auditor);
    let (status, body) = call!(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/flags/{flag}/triage"))
            .set_json(json!({"action": "dismiss", "reason": "the secret reason of fund B"}))
    );
    assert_eq!(status, StatusCode::OK, "{body}");

    let text = |entries: &[Value]| serde_json::to_string(entries).unwrap();
    harness::act_as(&state, "admin");
    let all = admin_chain(&app).await;
    assert!(text(&all).contains("the secret reason of fund B"));
    assert!(text(&all).contains("clerk@example.org"));
    let triaged = all
        .iter()
        .find(|e| e["entry"]["kind"] == "flag_triaged")
        .unwrap()["seq"]
        .as_u64()
        .unwrap();

    harness::act_as_member(&state, "auditor", auditor_a);
    let seen = admin_chain(&app).await;
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|e| e["entry"]["body"]["fund"] == fund_a.to_string()),
        "{}",
        text(&seen)
    );
    let kinds: Vec<&str> = seen
        .iter()
        .map(|e| e["entry"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["fund_created", "auditor_assigned"]);
    assert!(!text(&seen).contains("the secret reason of fund B"));
    assert!(!text(&seen).contains("@"), "no email of any user");
    refused!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/admin/entries/{triaged}")),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    refused!(
        &app,
        TestRequest::get().uri("/api/v1/chains/admin/export"),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
    // Hashes and sizes only: still the auditor's to check.
    for uri in [
        format!("/api/v1/chains/admin/entries/{triaged}/proof"),
        "/api/v1/chains/admin/checkpoint".to_owned(),
        "/api/v1/chains/admin/verify".to_owned(),
    ] {
        let (status, body) = call!(&app, TestRequest::get().uri(&uri));
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }

    harness::act_as_member(&state, "auditor", unassigned);
    assert!(
        admin_chain(&app).await.is_empty(),
        "an auditor of no fund sees nothing"
    );
    harness::act_as_member(&state, "donor", donor);
    refused!(
        &app,
        TestRequest::get().uri("/api/v1/chains/admin/entries"),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
}
