//! Webhook notifications end to end, against a receiver started in the test: a flag
//! raised by an append is delivered, signed (Standard Webhooks), to the subscribers who
//! may see it and to no one else; failed deliveries are retried with backoff under the
//! same `webhook-id`; two workers never attempt one delivery at once; the subscription API
//! refuses the roles and funds it must.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, eur, org};
use fundtrail::notify::deliver::{self, DeliverySettings};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> String {
        self.headers.get(name).unwrap().to_str().unwrap().to_owned()
    }
}

/// A local HTTP receiver: records every request and answers with the statuses queued
/// for its path (200 once the queue is empty).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<HashMap<String, VecDeque<u16>>>>,
    base: String,
}

impl Receiver {
    async fn start() -> Self {
        let mut r = Receiver::default();
        let shared = r.clone();
        let server = HttpServer::new(move || {
            let shared = shared.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let shared = shared.clone();
                async move {
                    let mut headers = http::HeaderMap::new();
                    for (k, v) in req.headers() {
                        headers.insert(
                            http::HeaderName::from_bytes(k.as_str().as_bytes()).unwrap(),
                            http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
                        );
                    }
                    let path = req.path().to_owned();
                    let status = shared
                        .answers
                        .lock()
                        .unwrap()
                        .get_mut(&path)
                        .and_then(VecDeque::pop_front)
                        .unwrap_or(200);
                    shared.got.lock().unwrap().push(Received {
                        path,
                        headers,
                        body: body.to_vec(),
                    });
                    HttpResponse::build(StatusCode::from_u16(status).unwrap()).finish()
                }
            }))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = server.addrs()[0];
        actix_web::rt::spawn(server.run());
        r.base = format!("http://{addr}");
        r
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn answer(&self, path: &str, statuses: &[u16]) {
        self.answers
            .lock()
            .unwrap()
            .insert(path.to_owned(), statuses.iter().copied().collect());
    }

    fn at(&self, path: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

fn fast() -> DeliverySettings {
    DeliverySettings {
        timeout: Duration::from_secs(5),
        backoff_base: Duration::from_secs(10),
        backoff_max: Duration::from_secs(3600),
        max_attempts: 3,
        // The receiver listens on loopback.
        allow_private: true,
        ..DeliverySettings::default()
    }
}

/// `harness::start` with private webhook addresses allowed: the receiver is local.
async fn start() -> (
    harness::TestDb,
    web::Data<fundtrail::state::AppState>,
    app_service!(),
) {
    harness::start_with(fundtrail::config::AppSettings {
        webhook_allow_private: true,
        ..fundtrail::config::AppSettings::default()
    })
    .await
}

fn subscribe(fund: Uuid, url: &str, events: &[&str]) -> TestRequest {
    TestRequest::post()
        .uri(&format!("/api/v1/funds/{fund}/webhooks"))
        .set_json(json!({"url": url, "events": events}))
}

fn post(fund: Uuid, kind: &str, body: Value) -> TestRequest {
    harness::entry(fund, kind, chrono::Utc::now().date_naive(), body)
}

/// Rounds at `now` until one does nothing.
async fn drain(
    state: &web::Data<fundtrail::state::AppState>,
    s: &DeliverySettings,
    now: chrono::DateTime<chrono::Utc>,
) {
    let client = deliver::client(s).unwrap();
    for _ in 0..20 {
        let r = deliver::round(&state.pool, &client, s, now).await.unwrap();
        if r.fanned_out == 0 && r.attempted == 0 {
            return;
        }
    }
    panic!("the worker kept finding work");
}

fn verify(secret: &str, r: &Received) {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&r.body, &r.headers)
        .unwrap_or_else(|e| panic!("signature of {}: {e}", r.path));
}

#[actix_web::test]
async fn a_flag_is_delivered_signed_to_those_who_may_see_it_and_to_no_one_else() {
    let receiver = Receiver::start().await;
    let (db, state, app) = start().await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    let donor = org(&db, "Kingdom of Norway", "donor");
    let interior = org(&db, "Ministry of Interior", "ministry");
    let defence = org(&db, "Ministry of Defence", "ministry");
    let vendor = org(&db, "Alpha Uniforms", "vendor");

    harness::act_as_member(&state, "treasurer", secretariat);
    ok!(
        &app,
        post(
            fund,
            "contribution",
            json!({"donor": donor, "amount": eur("500000.00"), "agreement": "A"})
        )
    );
    for m in [interior, defence] {
        let alloc = ok!(
            &app,
            post(
                fund,
                "allocation",
                json!({"ministry": m, "budget_line": "B", "category": "equipment",
                "amount": eur("100000.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
            )
        );
        ok!(
            &app,
            post(
                fund,
                "disbursement",
                json!({"allocation": alloc, "amount": eur("50000.00")})
            )
        );
    }

    // Four subscribers: the secretariat, the auditors, and each ministry.
    let mut secrets = HashMap::new();
    for (who, role, member) in [
        ("/treasurer", "treasurer", secretariat),
        ("/auditor", "auditor", auditor),
        ("/interior", "ministry", interior),
        ("/defence", "ministry", defence),
    ] {
        harness::act_as_member(&state, role, member);
        let (status, body) = call!(
            &app,
            subscribe(fund, &receiver.url(who), &["flag.raised", "flag.triaged"])
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(
            body["secret"].as_str().unwrap().starts_with("whsec_"),
            "{body}"
        );
        let expected_scope = if role == "ministry" {
            "ministry"
        } else {
            "fund"
        };
        assert_eq!(body["scope"], expected_scope, "{body}");
        secrets.insert(
            who,
            (
                body["secret"].as_str().unwrap().to_owned(),
                body["id"].as_str().unwrap().to_owned(),
            ),
        );
        // The secret is shown once: the list does not carry it.
        let (_, list) = call!(
            &app,
            TestRequest::get().uri(&format!("/api/v1/funds/{fund}/webhooks"))
        );
        assert_eq!(list["subscriptions"].as_array().unwrap().len(), 1, "{list}");
        assert!(list["subscriptions"][0].get("secret").is_none(), "{list}");
    }

    // Interior pays a vendor with no contract behind it: a flag about Interior.
    harness::act_as_member(&state, "ministry", interior);
    let seq = ok!(
        &app,
        post(
            fund,
            "payment",
            json!({"vendor": vendor, "ministry": interior, "amount": eur("1200.00")})
        )
    );
    // The event is in the outbox, committed with the entry; nothing is sent yet.
    let mut conn = db.superuser_conn();
    let outbox: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM webhook_events WHERE event_type = 'flag.raised'",
    )
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n;
    assert!(outbox >= 1);
    assert!(receiver.got.lock().unwrap().is_empty());

    drain(&state, &fast(), chrono::Utc::now()).await;

    let at_interior = receiver.at("/interior");
    assert!(!at_interior.is_empty());
    // Other screens may flag the payment too (off-hours, when the test runs at night).
    let first = at_interior
        .iter()
        .find(|r| r.json()["data"]["flag"]["rule"] == "payment-without-contract")
        .expect("a payment-without-contract flag delivered to Interior");
    verify(&secrets["/interior"].0, first);
    let body = first.json();
    assert_eq!(body["type"], "flag.raised", "{body}");
    assert_eq!(
        body["data"]["flag"]["rule"], "payment-without-contract",
        "{body}"
    );
    assert_eq!(body["data"]["flag"]["seq"], json!(seq), "{body}");
    assert_eq!(
        body["data"]["flag"]["ministry"]["id"],
        json!(interior),
        "{body}"
    );
    assert_eq!(first.header("webhook-id").len(), 36);
    // The payload is the flag as the API shows it to Interior.
    let flag_id = body["data"]["flag"]["id"].as_str().unwrap().to_owned();
    let (status, shown) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/flags/{flag_id}"))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["message"], body["data"]["flag"]["message"]);

    // The secretariat and the auditors get the same events, each signed with their secret;
    // Defence gets nothing about Interior.
    for who in ["/treasurer", "/auditor"] {
        let got = receiver.at(who);
        assert_eq!(got.len(), at_interior.len(), "{who}");
        for r in &got {
            verify(&secrets[who].0, r);
        }
        assert!(standardwebhooks::Webhook::new(&secrets["/interior"].0)
            .unwrap()
            .verify(&got[0].body, &got[0].headers)
            .is_err());
    }
    assert!(receiver.at("/defence").is_empty());

    // The delivery log shows the attempt.
    let sub = &secrets["/interior"].1;
    let (status, log) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/webhooks/{sub}/deliveries"))
    );
    assert_eq!(status, StatusCode::OK, "{log}");
    let a = &log["attempts"][0];
    assert_eq!(
        (
            a["attempt"].clone(),
            a["outcome"].clone(),
            a["response_status"].clone(),
            a["delivery_state"].clone()
        ),
        (json!(1), json!("delivered"), json!(200), json!("delivered")),
        "{log}"
    );

    // An auditor's triage is an event too, for the same subscribers.
    harness::act_as_member(&state, "auditor", auditor);
    let (status, body) = call!(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/flags/{flag_id}/triage"))
            .set_json(json!({"action": "confirm"}))
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    drain(&state, &fast(), chrono::Utc::now()).await;
    let triaged: Vec<Value> = receiver
        .at("/interior")
        .iter()
        .map(Received::json)
        .filter(|b| b["type"] == "flag.triaged")
        .collect();
    assert_eq!(triaged.len(), 1);
    assert_eq!(
        triaged[0]["data"]["flag"]["status"], "confirmed",
        "{}",
        triaged[0]
    );
    assert_eq!(
        triaged[0]["data"]["triage"]["action"], "confirm",
        "{}",
        triaged[0]
    );
    assert!(receiver.at("/defence").is_empty());
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[actix_web::test]
async fn a_refused_append_leaves_no_event() {
    let (db, state, app) = start().await;
    let (fund, secretariat, _) = harness::audited_fund(&db, &state, &app).await;
    harness::act_as_member(&state, "treasurer", secretariat);
    // A disbursement with no allocation behind it is refused: nothing is written.
    let (status, body) = call!(
        &app,
        post(
            fund,
            "disbursement",
            json!({"allocation": 999, "amount": eur("50000.00")})
        )
    );
    assert!(status.is_client_error(), "{status} {body}");
    let n = diesel::sql_query("SELECT count(*) AS n FROM webhook_events")
        .get_result::<Count>(&mut db.superuser_conn())
        .unwrap()
        .n;
    assert_eq!(n, 0);
}

#[actix_web::test]
async fn failed_deliveries_are_retried_with_backoff_under_the_same_webhook_id() {
    let receiver = Receiver::start().await;
    let (db, state, app) = start().await;
    let (fund, _, auditor) = harness::audited_fund(&db, &state, &app).await;
    harness::act_as_member(&state, "auditor", auditor);
    let (status, sub) = call!(
        &app,
        subscribe(fund, &receiver.url("/flaky"), &["flag.raised"])
    );
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let (id, secret) = (
        sub["id"].as_str().unwrap().to_owned(),
        sub["secret"].as_str().unwrap().to_owned(),
    );
    receiver.answer("/flaky", &[500, 503]);

    // The test endpoint queues a webhook.test event through the same delivery.
    let (status, test) = call!(
        &app,
        TestRequest::post().uri(&format!("/api/v1/webhooks/{id}/test"))
    );
    assert_eq!(status, StatusCode::ACCEPTED, "{test}");
    let s = fast();
    let client = deliver::client(&s).unwrap();
    let t0 = chrono::Utc::now();
    let round = |now| {
        let (pool, client, s) = (state.pool.clone(), client.clone(), s.clone());
        async move { deliver::round(&pool, &client, &s, now).await.unwrap() }
    };
    let secs = |n: i64| chrono::Duration::seconds(n);

    assert_eq!(round(t0).await.attempted, 1); // 500
                                              // Not due before the backoff (10 s, plus up to a fifth of jitter) has passed.
    assert_eq!(round(t0 + secs(9)).await.attempted, 0);
    assert_eq!(round(t0 + secs(12)).await.attempted, 1); // 503
                                                         // The second delay doubles: 20 s (to 24 s) after the second attempt.
    assert_eq!(round(t0 + secs(12 + 19)).await.attempted, 0);
    let third = round(t0 + secs(12 + 24)).await;
    assert_eq!((third.attempted, third.delivered), (1, 1));
    assert_eq!(round(t0 + secs(3600)).await.attempted, 0);

    let got = receiver.at("/flaky");
    assert_eq!(got.len(), 3);
    let ids: Vec<String> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_eq!(ids[0], test["event"].as_str().unwrap());
    assert_eq!(got[0].body, got[2].body, "the same body on every attempt");
    for r in &got {
        verify(&secret, r);
        assert_eq!(r.json()["type"], "webhook.test");
    }

    let (status, log) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/webhooks/{id}/deliveries"))
    );
    assert_eq!(status, StatusCode::OK, "{log}");
    let seen: Vec<(Value, Value, Value)> = log["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attempt"].clone(),
                a["outcome"].clone(),
                a["response_status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (json!(1), json!("http_error"), json!(500)),
            (json!(2), json!("http_error"), json!(503)),
            (json!(3), json!("delivered"), json!(200)),
        ],
        "{log}"
    );

    // A receiver that never answers 2xx: given up after max_attempts (3), logged as failed.
    receiver.answer("/flaky", &[500, 500, 500, 500]);
    let (_, test) = call!(
        &app,
        TestRequest::post().uri(&format!("/api/v1/webhooks/{id}/test"))
    );
    for n in [0, 100, 1000, 5000] {
        round(t0 + secs(n)).await;
    }
    let (_, log) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/webhooks/{id}/deliveries?after=3"))
    );
    let attempts = log["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{log}");
    assert!(
        attempts
            .iter()
            .all(|a| a["event"] == test["event"] && a["delivery_state"] == "failed"),
        "{log}"
    );

    // A rotated secret: both the new and the previous one sign for a day.
    let (status, rotated) = call!(
        &app,
        TestRequest::post().uri(&format!("/api/v1/webhooks/{id}/rotate-secret"))
    );
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    call!(
        &app,
        TestRequest::post().uri(&format!("/api/v1/webhooks/{id}/test"))
    );
    round(chrono::Utc::now()).await;
    let last = receiver.at("/flaky").pop().unwrap();
    verify(&new_secret, &last);
    verify(&secret, &last);

    // Deleted: nothing more is sent.
    let (status, _) = call!(
        &app,
        TestRequest::delete().uri(&format!("/api/v1/webhooks/{id}"))
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call!(
        &app,
        TestRequest::post().uri(&format!("/api/v1/webhooks/{id}/test"))
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn two_workers_never_attempt_the_same_delivery() {
    let receiver = Receiver::start().await;
    let (db, state, app) = start().await;
    let (fund, secretariat, _) = harness::audited_fund(&db, &state, &app).await;
    harness::act_as_member(&state, "treasurer", secretariat);
    let (_, sub) = call!(
        &app,
        subscribe(fund, &receiver.url("/busy"), &["flag.raised"])
    );
    let id = sub["id"].as_str().unwrap().to_owned();
    for _ in 0..30 {
        let (status, _) = call!(
            &app,
            TestRequest::post().uri(&format!("/api/v1/webhooks/{id}/test"))
        );
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let s = DeliverySettings {
        batch: 10,
        ..fast()
    };
    let (c1, c2) = (deliver::client(&s).unwrap(), deliver::client(&s).unwrap());
    let now = chrono::Utc::now();
    for _ in 0..5 {
        let (a, b) = futures_util::future::join(
            deliver::round(&state.pool, &c1, &s, now),
            deliver::round(&state.pool, &c2, &s, now),
        )
        .await;
        let (a, b) = (a.unwrap(), b.unwrap());
        if a.attempted + b.attempted == 0 {
            break;
        }
    }
    let got = receiver.at("/busy");
    let mut ids: Vec<String> = got.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!((n, ids.len()), (30, 30), "each event once");
}

#[actix_web::test]
async fn the_subscription_api_refuses_other_roles_and_other_funds() {
    let (db, state, app) = start().await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    let other = harness::other_fund(&db, &app).await;
    let donor = org(&db, "Kingdom of Norway", "donor");
    let interior = org(&db, "Ministry of Interior", "ministry");
    let justice = org(&db, "Ministry of Justice", "ministry");
    harness::act_as_member(&state, "treasurer", secretariat);
    ok!(
        &app,
        post(
            fund,
            "contribution",
            json!({"donor": donor, "amount": eur("1000.00"), "agreement": "A"})
        )
    );
    ok!(
        &app,
        post(
            fund,
            "allocation",
            json!({"ministry": interior, "budget_line": "B", "category": "equipment",
        "amount": eur("500.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
        )
    );
    let url = "http://127.0.0.1:9/hook";

    // The fund's donor sees the fund but does not subscribe.
    harness::act_as_member(&state, "donor", donor);
    refused!(
        &app,
        subscribe(fund, url, &["flag.raised"]),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
    let (status, _) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{fund}/webhooks"))
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Those who do not see the fund: 404.
    for (role, member) in [
        ("treasurer", other.secretariat),
        ("auditor", other.auditor),
        ("ministry", justice),
    ] {
        harness::act_as_member(&state, role, member);
        refused!(
            &app,
            subscribe(fund, url, &["flag.raised"]),
            StatusCode::NOT_FOUND,
            "not_found"
        );
    }
    // No token: 401.
    harness::clear_token();
    let (status, _) = call!(&app, subscribe(fund, url, &["flag.raised"]));
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A ministry subscribes only to events about its own data.
    harness::act_as_member(&state, "ministry", interior);
    refused!(
        &app,
        subscribe(fund, url, &["integrity.alarm"]),
        StatusCode::UNPROCESSABLE_ENTITY,
        "event_not_visible"
    );
    refused!(
        &app,
        subscribe(fund, url, &["import.finished", "flag.raised"]),
        StatusCode::UNPROCESSABLE_ENTITY,
        "event_not_visible"
    );
    // Bad input: 4xx, nothing stored.
    refused!(
        &app,
        subscribe(fund, "ftp://example.org/x", &["flag.raised"]),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_url"
    );
    refused!(
        &app,
        subscribe(fund, "http://user:pw@example.org/x", &["flag.raised"]),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_url"
    );
    refused!(
        &app,
        subscribe(fund, "not a url", &["flag.raised"]),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_url"
    );
    refused!(
        &app,
        subscribe(fund, url, &[]),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_events"
    );
    let (status, _) = call!(&app, subscribe(fund, url, &["flag.exploded"]));
    assert!(status.is_client_error());
    let (status, mine) = call!(
        &app,
        subscribe(fund, url, &["flag.raised", "approval.requested"])
    );
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    assert_eq!(mine["ministry"]["id"], json!(interior));
    let mine = mine["id"].as_str().unwrap().to_owned();

    // Another organisation cannot see, test, rotate, delete or read the log of it.
    harness::act_as_member(&state, "auditor", auditor);
    let (status, list) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{fund}/webhooks"))
    );
    assert_eq!(
        (status, list["subscriptions"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
    for req in [
        TestRequest::post().uri(&format!("/api/v1/webhooks/{mine}/test")),
        TestRequest::post().uri(&format!("/api/v1/webhooks/{mine}/rotate-secret")),
        TestRequest::get().uri(&format!("/api/v1/webhooks/{mine}/deliveries")),
        TestRequest::delete().uri(&format!("/api/v1/webhooks/{mine}")),
    ] {
        refused!(&app, req, StatusCode::NOT_FOUND, "not_found");
    }
    // An administrator sees every subscription of the fund.
    harness::act_as(&state, "admin");
    let (_, list) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{fund}/webhooks"))
    );
    assert_eq!(list["subscriptions"].as_array().unwrap().len(), 1, "{list}");
    let n = diesel::sql_query("SELECT count(*) AS n FROM webhook_subscriptions")
        .get_result::<Count>(&mut db.superuser_conn())
        .unwrap()
        .n;
    assert_eq!(n, 1, "only the accepted subscription is stored");
}

#[actix_web::test]
async fn integrity_alarms_reach_the_whole_fund_subscribers_only() {
    let receiver = Receiver::start().await;
    let (db, state, app) = start().await;
    let (fund, _, auditor) = harness::audited_fund(&db, &state, &app).await;
    harness::act_as_member(&state, "auditor", auditor);
    let (_, sub) = call!(
        &app,
        subscribe(fund, &receiver.url("/alarm"), &["integrity.alarm"])
    );
    let secret = sub["secret"].as_str().unwrap().to_owned();

    // A failure found by the ledger reaches the listeners...
    let alarms = fundtrail::ledger::integrity::listen();
    let _ = fundtrail::ledger::integrity::failed(
        fund,
        Some((3, 4)),
        "entries 3 to 4 were altered".to_owned(),
    );
    let alarm = std::iter::from_fn(|| alarms.try_recv().ok())
        .find(|a| a.chain == fund)
        .unwrap();
    // ...and becomes one event however often it recurs that day.
    let mut conn = state.pool.get().unwrap();
    assert_eq!(
        fundtrail::notify::events::integrity_alarm(&mut conn, &alarm).unwrap(),
        1
    );
    assert_eq!(
        fundtrail::notify::events::integrity_alarm(&mut conn, &alarm).unwrap(),
        0
    );
    drop(conn);
    drain(&state, &fast(), chrono::Utc::now()).await;
    let got = receiver.at("/alarm");
    assert_eq!(got.len(), 1);
    verify(&secret, &got[0]);
    let body = got[0].json();
    assert_eq!(body["type"], "integrity.alarm");
    assert_eq!(body["data"]["seqs"], json!({"from": 3, "to": 4}), "{body}");
}

#[actix_web::test]
async fn an_import_tells_its_end_and_its_flags() {
    let receiver = Receiver::start().await;
    let (db, state, app) = start().await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    let donor = org(&db, "Kingdom of Norway", "donor");
    let interior = org(&db, "Ministry of Interior", "ministry");
    harness::act_as_member(&state, "treasurer", secretariat);
    ok!(
        &app,
        post(
            fund,
            "contribution",
            json!({"donor": donor, "amount": eur("1000000.00"), "agreement": "NOR-1"})
        )
    );
    ok!(
        &app,
        post(
            fund,
            "allocation",
            json!({"ministry": interior, "budget_line": "BL-04", "category": "equipment",
        "amount": eur("600000.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
        )
    );
    harness::act_as_member(&state, "auditor", auditor);
    let (status, sub) = call!(
        &app,
        subscribe(
            fund,
            &receiver.url("/imports"),
            &["import.finished", "flag.raised"]
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{sub}");

    let file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ocds/release-package.json");
    let report = fundtrail::import::run::import(
        &state.ledger,
        &state.pool,
        &fundtrail::import::run::ImportOptions::new("SSR Fund", vec![file]),
        None,
    )
    .await
    .unwrap();
    drain(&state, &fast(), chrono::Utc::now()).await;

    let got: Vec<Value> = receiver.at("/imports").iter().map(Received::json).collect();
    let finished: Vec<&Value> = got
        .iter()
        .filter(|b| b["type"] == "import.finished")
        .collect();
    assert_eq!(finished.len(), 1, "{got:?}");
    let data = &finished[0]["data"];
    assert_eq!(data["files"], json!(["release-package.json"]), "{data}");
    assert_eq!(
        (
            data["records_read"].clone(),
            data["processes_imported"].clone(),
            data["processes_skipped"].clone()
        ),
        (
            json!(report.records_read),
            json!(report.processes_imported),
            json!(report.processes_skipped)
        ),
        "{data}"
    );
    // The flags the import's screens raised were told too, one event per flag.
    harness::act_as_member(&state, "auditor", auditor);
    let (_, counts) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{fund}/flags?limit=1000"))
    );
    let flags = counts["flags"].as_array().unwrap().len();
    assert!(flags > 0);
    assert_eq!(
        got.iter().filter(|b| b["type"] == "flag.raised").count(),
        flags
    );
}

/// A bank statement upload tells the whole-fund subscribers its end once: the statements
/// it recorded and what the reconciliation that followed found; uploading the same
/// statement again (a replay) tells nothing.
#[actix_web::test]
async fn a_bank_statement_upload_tells_its_end_once() {
    let receiver = Receiver::start().await;
    let (db, state, app) = start().await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    let donor = org(&db, "Kingdom of Norway", "donor");
    harness::act_as_member(&state, "treasurer", secretariat);
    ok!(
        &app,
        harness::entry(
            fund,
            "contribution",
            chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            json!({"donor": donor, "amount": eur("1234.50"), "agreement": "A-1"})
        )
    );
    let (status, acc) = call!(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/funds/{fund}/bank/accounts"))
            .set_json(json!({"account": "NL91ABNA0417164300", "currency": "EUR",
                "owner": "secretariat", "name": "Main"}))
    );
    assert_eq!(status, StatusCode::CREATED, "{acc}");
    let account = acc["id"].as_str().unwrap().to_owned();
    harness::act_as_member(&state, "auditor", auditor);
    let (status, sub) = call!(
        &app,
        subscribe(fund, &receiver.url("/bank"), &["import.finished"])
    );
    assert_eq!(status, StatusCode::CREATED, "{sub}");

    // Two lines: the contribution, and money out that no entry explains.
    let csv = "Buchungstag;Name;Verwendungszweck;Betrag\n\
               03.03.2026;Norway;Grant A-1;1.234,50\n\
               04.03.2026;Unknown;Cash;-200,00\n";
    let upload = || {
        TestRequest::post()
            .uri(&format!(
                "/api/v1/funds/{fund}/bank/accounts/{account}/statements"
            ))
            .set_json(json!({"format": "csv", "content": csv, "csv": {
                "statement_id": "2026-03", "opening": "0", "closing": "1034.50",
                "delimiter": ";", "date": "Buchungstag", "date_format": "%d.%m.%Y",
                "amount": "Betrag", "decimal_comma": true,
                "reference": ["Verwendungszweck"], "counterparty": "Name"}}))
    };
    harness::act_as_member(&state, "treasurer", secretariat);
    let (status, first) = call!(&app, upload());
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = call!(&app, upload());
    assert_eq!(status, StatusCode::OK, "{again}");
    drain(&state, &fast(), chrono::Utc::now()).await;

    let got = receiver.at("/bank");
    assert_eq!(
        got.len(),
        1,
        "one event for one recording, none for the replay"
    );
    let secret = sub["secret"].as_str().unwrap();
    verify(secret, &got[0]);
    let event = got[0].json();
    assert_eq!(event["type"], "import.finished", "{event}");
    let data = &event["data"];
    assert_eq!(data["source"], "bank", "{data}");
    assert_eq!(data["account"], json!(account), "{data}");
    assert_eq!(data["statements"], first["statements"], "{data}");
    assert_eq!(data["statements"][0]["lines"], json!(2), "{data}");
    assert_eq!(data["reconciliation"], first["reconciliation"], "{data}");
    assert_eq!(data["reconciliation"]["matched_lines"], json!(1), "{data}");
    assert!(
        data["reconciliation"]["flags_raised"].as_u64().unwrap() >= 1,
        "the unexplained debit is flagged: {data}"
    );
}

#[actix_web::test]
async fn an_approval_request_reaches_its_ministry_and_the_whole_fund_readers() {
    let receiver = Receiver::start().await;
    let (db, state, app) = start().await;
    let (fund, secretariat, _) = harness::audited_fund(&db, &state, &app).await;
    let donor = org(&db, "Kingdom of Norway", "donor");
    let interior = org(&db, "Ministry of Interior", "ministry");
    let defence = org(&db, "Ministry of Defence", "ministry");
    harness::act_as_member(&state, "treasurer", secretariat);
    ok!(
        &app,
        post(
            fund,
            "contribution",
            json!({"donor": donor, "amount": eur("1000.00"), "agreement": "A"})
        )
    );
    for m in [interior, defence] {
        ok!(
            &app,
            post(
                fund,
                "allocation",
                json!({"ministry": m, "budget_line": "B", "category": "equipment",
            "amount": eur("100.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
            )
        );
    }
    let (status, _) = call!(
        &app,
        subscribe(fund, &receiver.url("/secretariat"), &["approval.requested"])
    );
    assert_eq!(status, StatusCode::CREATED);
    for (path, m) in [("/interior", interior), ("/defence", defence)] {
        harness::act_as_member(&state, "ministry", m);
        let (status, _) = call!(
            &app,
            subscribe(fund, &receiver.url(path), &["approval.requested"])
        );
        assert_eq!(status, StatusCode::CREATED);
    }
    // What the two-person control calls in its append's transaction.
    let mut conn = state.pool.get().unwrap();
    conn.transaction(|conn| {
        fundtrail::notify::events::approval_requested(
            conn,
            (fund, 7),
            Some(interior),
            json!({"seq": 7, "kind": "payment"}),
            chrono::Utc::now(),
        )
    })
    .unwrap();
    // One rolled back: never told.
    let _ = conn.transaction(|conn| {
        fundtrail::notify::events::approval_requested(
            conn,
            (fund, 8),
            Some(interior),
            json!({"seq": 8}),
            chrono::Utc::now(),
        )?;
        Err::<(), _>(diesel::result::Error::RollbackTransaction)
    });
    drop(conn);
    drain(&state, &fast(), chrono::Utc::now()).await;
    for path in ["/secretariat", "/interior"] {
        let got = receiver.at(path);
        assert_eq!(got.len(), 1, "{path}");
        assert_eq!(got[0].json()["data"], json!({"seq": 7, "kind": "payment"}));
    }
    assert!(receiver.at("/defence").is_empty());
}

#[actix_web::test]
async fn a_held_disbursement_tells_the_treasurers_once_and_a_rebuild_does_not_tell_again() {
    let receiver = Receiver::start().await;
    let (db, state, app) = start().await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    let donor = org(&db, "Kingdom of Norway", "donor");
    let interior = org(&db, "Ministry of Interior", "ministry");
    harness::act_as_member(&state, "auditor", auditor);
    ok!(
        &app,
        post(
            fund,
            "approval_policy",
            json!({"rules": [{"kind": "disbursement", "above": eur("500.00")}],
                   "expiry_hours": 72, "reason": "Steering committee decision 4/2026"})
        )
    );
    harness::act_as_member(&state, "treasurer", secretariat);
    let (status, _) = call!(
        &app,
        subscribe(fund, &receiver.url("/treasurer"), &["approval.requested"])
    );
    assert_eq!(status, StatusCode::CREATED);
    ok!(
        &app,
        post(
            fund,
            "contribution",
            json!({"donor": donor, "amount": eur("1000.00"), "agreement": "A"})
        )
    );
    let alloc = ok!(
        &app,
        post(
            fund,
            "allocation",
            json!({"ministry": interior, "budget_line": "B", "category": "equipment",
                   "amount": eur("800.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
        )
    );
    // Below the threshold: takes effect at once, nobody is asked.
    ok!(
        &app,
        post(
            fund,
            "disbursement",
            json!({"allocation": alloc, "amount": eur("100.00")})
        )
    );
    let held = ok!(
        &app,
        post(
            fund,
            "disbursement",
            json!({"allocation": alloc, "amount": eur("600.00")})
        )
    );
    drain(&state, &fast(), chrono::Utc::now()).await;
    let got = receiver.at("/treasurer");
    assert_eq!(got.len(), 1, "{got:?}");
    let body = got[0].json();
    assert_eq!(body["type"], "approval.requested");
    assert_eq!(body["data"]["seq"], json!(held));
    assert_eq!(body["data"]["kind"], "disbursement");
    assert_eq!(body["data"]["amount_fund"], "600.00");
    assert_eq!(body["data"]["approver_role"], "treasurer");

    // A rebuild replays the request from the chain and tells nobody again.
    let report = fundtrail::entries::rebuild::run(
        &mut db.superuser_conn(),
        true,
        &fundtrail::screening::Screens,
    )
    .unwrap();
    assert!(report.is_clean(), "{report:?}");
    drain(&state, &fast(), chrono::Utc::now()).await;
    assert_eq!(receiver.at("/treasurer").len(), 1);
}

/// Subscribing, rotating the secret and unsubscribing are entries of the administrative
/// chain by the subscriber, naming the fund (so the fund's auditors read them too) and
/// never the secret; a refused change records nothing.
#[actix_web::test]
async fn subscription_changes_are_recorded_in_the_administrative_chain() {
    let (db, state, app) = start().await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    harness::act_as_member(&state, "treasurer", secretariat);
    let (status, sub) = call!(
        &app,
        subscribe(fund, "http://127.0.0.1:9/hook", &["flag.raised"])
    );
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let id = sub["id"].as_str().unwrap().to_owned();
    let first_secret = sub["secret"].as_str().unwrap().to_owned();
    let (status, rotated) = call!(
        &app,
        TestRequest::post().uri(&format!("/api/v1/webhooks/{id}/rotate-secret"))
    );
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second_secret = rotated["secret"].as_str().unwrap().to_owned();
    let (status, _) = call!(
        &app,
        TestRequest::delete().uri(&format!("/api/v1/webhooks/{id}"))
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Gone: deleting or rotating again is refused and records nothing.
    refused!(
        &app,
        TestRequest::delete().uri(&format!("/api/v1/webhooks/{id}")),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    refused!(
        &app,
        TestRequest::post().uri(&format!("/api/v1/webhooks/{id}/rotate-secret")),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    refused!(
        &app,
        subscribe(fund, "ftp://example.org/x", &["flag.raised"]),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_url"
    );

    harness::act_as_member(&state, "auditor", auditor);
    let (status, page) = call!(
        &app,
        TestRequest::get().uri("/api/v1/chains/admin/entries?limit=1000")
    );
    assert_eq!(status, StatusCode::OK, "{page}");
    let hooks: Vec<&Value> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["entry"]["kind"]
                .as_str()
                .is_some_and(|k| k.starts_with("webhook_"))
        })
        .collect();
    let kinds: Vec<&str> = hooks
        .iter()
        .map(|e| e["entry"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "webhook_subscribed",
            "webhook_secret_rotated",
            "webhook_unsubscribed"
        ],
        "{page}"
    );
    for e in &hooks {
        assert_eq!(e["entry"]["body"]["subscription"], json!(id), "{e}");
        assert_eq!(e["entry"]["body"]["fund"], json!(fund), "{e}");
        assert_eq!(e["entry"]["principal"]["role"], "treasurer", "{e}");
    }
    assert_eq!(
        hooks[0]["entry"]["body"]["url"],
        json!("http://127.0.0.1:9/hook")
    );
    assert_eq!(hooks[0]["entry"]["body"]["events"], json!(["flag.raised"]));
    let text = page.to_string();
    assert!(
        !text.contains(&first_secret) && !text.contains(&second_secret),
        "no secret in the ledger"
    );
}

/// With the default settings a subscriber URL whose host is, or resolves to, a loopback,
/// link-local, private, multicast or unspecified address is refused; a subscription made
/// where they are allowed is still not delivered by a worker that does not allow them.
#[actix_web::test]
async fn subscriber_urls_reaching_private_addresses_are_refused() {
    let (db, state, app) = harness::start().await;
    let (fund, secretariat, _) = harness::audited_fund(&db, &state, &app).await;
    harness::act_as_member(&state, "treasurer", secretariat);
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::1]:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7/hook",
        "http://192.168.1.1/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0:9/hook",
        "http://224.0.0.1/hook",
    ] {
        let (status, problem) = call!(&app, subscribe(fund, url, &["flag.raised"]));
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("url_not_public")),
            "{url}: {problem}"
        );
    }
    let n = diesel::sql_query("SELECT count(*) AS n FROM webhook_subscriptions")
        .get_result::<Count>(&mut db.superuser_conn())
        .unwrap()
        .n;
    assert_eq!(n, 0, "nothing stored");

    // Made where private addresses are allowed, to a local receiver, by name and by
    // address; delivered by a worker that refuses them: nothing arrives, the log says why.
    let receiver = Receiver::start().await;
    let (db, state, app) = start().await;
    let (fund, _, auditor) = harness::audited_fund(&db, &state, &app).await;
    harness::act_as_member(&state, "auditor", auditor);
    let by_name = receiver.url("/by-name").replace("127.0.0.1", "localhost");
    let mut ids = Vec::new();
    for url in [receiver.url("/by-address"), by_name] {
        let (status, sub) = call!(&app, subscribe(fund, &url, &["flag.raised"]));
        assert_eq!(status, StatusCode::CREATED, "{sub}");
        let id = sub["id"].as_str().unwrap().to_owned();
        let (status, _) = call!(
            &app,
            TestRequest::post().uri(&format!("/api/v1/webhooks/{id}/test"))
        );
        assert_eq!(status, StatusCode::ACCEPTED);
        ids.push(id);
    }
    let guarded = DeliverySettings {
        allow_private: false,
        ..fast()
    };
    drain(&state, &guarded, chrono::Utc::now()).await;
    assert!(receiver.at("/by-address").is_empty());
    assert!(receiver.at("/by-name").is_empty());
    for id in &ids {
        let (_, log) = call!(
            &app,
            TestRequest::get().uri(&format!("/api/v1/webhooks/{id}/deliveries"))
        );
        let first = &log["attempts"][0];
        assert_eq!(first["outcome"], "unreachable", "{log}");
        let error = first["error"].as_str().unwrap();
        assert!(
            error.starts_with("refused:") && error.contains("loopback"),
            "{log}"
        );
    }
    // The same deliveries go out where the operator allows private addresses.
    drain(
        &state,
        &fast(),
        chrono::Utc::now() + chrono::Duration::hours(1),
    )
    .await;
    assert_eq!(receiver.at("/by-address").len(), 1);
    assert_eq!(receiver.at("/by-name").len(), 1);
}
