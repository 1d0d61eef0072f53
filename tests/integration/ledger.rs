//! The ledger core through the real HTTP app: receipts and proofs a separate party can
//! check, idempotency, group commit under concurrency, batches, append-only enforcement
//! in Postgres, and tampering performed for real and caught with the exact first failure.

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use diesel::{PgConnection, RunQueryDsl};
use serde_json::{json, Value};

use fundtrail::ledger::entry::{self, Entry};
use fundtrail::ledger::export;
use fundtrail::ledger::merkle::{self, Frontier};
use fundtrail::ledger::note::{self, VerifierKey};

use crate::harness::{self, TestDb};

fn h32(s: &Value) -> [u8; 32] {
    entry::parse_hex32(s.as_str().unwrap()).unwrap()
}

fn post_entry(chain: &str, key: &str, body: Value) -> TestRequest {
    TestRequest::post()
        .uri(&format!("/api/v1/chains/{chain}/entries"))
        .insert_header(("idempotency-key", key))
        .set_json(json!({"kind": "payment", "business_date": "2026-01-15", "body": body}))
}

fn amount(v: &str) -> Value {
    json!({"amount": {"value": v, "currency": "EUR"}, "vendor": "Acme Ltd"})
}

async fn new_chain(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
) -> String {
    let (status, body) = call!(
        app,
        TestRequest::post()
            .uri("/api/v1/chains")
            .set_json(json!({}))
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["checkpoint"]["tree_size"], 0);
    body["chain"]["id"].as_str().unwrap().to_owned()
}

fn check_receipt(r: &Value, key: &VerifierKey) {
    let seq = r["seq"].as_u64().unwrap();
    let entry_hash = h32(&r["entry_hash"]);
    // The entry hash is the hash of the canonical entry chained to prev_hash.
    let e: Entry = serde_json::from_value(r["entry"].clone()).unwrap();
    let canonical = entry::canonical_bytes(&e).unwrap();
    assert_eq!(
        entry::entry_hash(&h32(&r["prev_hash"]), &canonical),
        entry_hash
    );
    // The checkpoint is signed by the published key and its root includes the entry.
    let cp = note::verify_checkpoint(r["checkpoint"]["note"].as_str().unwrap(), key, None).unwrap();
    assert_eq!(cp.size, r["inclusion_proof"]["tree_size"].as_u64().unwrap());
    let proof: Vec<[u8; 32]> = r["inclusion_proof"]["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(h32)
        .collect();
    merkle::verify_inclusion(
        &merkle::leaf_hash(&entry_hash),
        seq,
        cp.size,
        &proof,
        &cp.root,
    )
    .unwrap();
}

async fn published_key(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
) -> VerifierKey {
    let (status, keys) = call!(app, TestRequest::get().uri("/api/v1/keys"));
    assert_eq!(status, StatusCode::OK);
    let current: Vec<&Value> = keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["current"] == true)
        .collect();
    assert_eq!(current.len(), 1, "{keys}");
    VerifierKey::from_verifier_string(current[0]["verifier_key"].as_str().unwrap()).unwrap()
}

#[actix_web::test]
async fn receipts_carry_proofs_a_third_party_can_check() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state).await;
    let key = published_key(&app).await;
    let chain = new_chain(&app).await;
    let mut receipts = Vec::new();
    for i in 0..7 {
        let (status, r) = call!(
            &app,
            post_entry(&chain, &format!("k{i}"), amount(&format!("{i}00.00")))
        );
        assert_eq!(status, StatusCode::CREATED, "{r}");
        assert_eq!(r["seq"], i);
        assert_eq!(r["replayed"], false);
        check_receipt(&r, &key);
        receipts.push(r);
    }
    // Proof of an old entry against the latest tree, and consistency between two
    // checkpoints the client kept: the ledger only grew.
    let (status, p) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/entries/2/proof?size=7"))
    );
    assert_eq!(status, StatusCode::OK, "{p}");
    let cp7 =
        note::verify_checkpoint(p["checkpoint"]["note"].as_str().unwrap(), &key, None).unwrap();
    let proof: Vec<[u8; 32]> = p["inclusion_proof"]["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(h32)
        .collect();
    merkle::verify_inclusion(
        &merkle::leaf_hash(&h32(&receipts[2]["entry_hash"])),
        2,
        7,
        &proof,
        &cp7.root,
    )
    .unwrap();

    let cp3 = note::verify_checkpoint(
        receipts[2]["checkpoint"]["note"].as_str().unwrap(),
        &key,
        None,
    )
    .unwrap();
    let (status, c) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/consistency?from=3&to=7"))
    );
    assert_eq!(status, StatusCode::OK, "{c}");
    let hashes: Vec<[u8; 32]> = c["hashes"].as_array().unwrap().iter().map(h32).collect();
    merkle::verify_consistency(3, 7, &cp3.root, &cp7.root, &hashes).unwrap();
    // A wrong old root is refused by the same check.
    assert!(merkle::verify_consistency(3, 7, &[7u8; 32], &cp7.root, &hashes).is_err());

    let (status, latest) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/checkpoint"))
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(latest["tree_size"], 7);

    // Reads.
    let (_, e) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/entries/4"))
    );
    assert_eq!(e["entry"]["body"]["amount"]["value"], "400.00");
    assert_eq!(e["entry_hash"], receipts[4]["entry_hash"]);
    let (_, page) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/entries?limit=3"))
    );
    assert_eq!(page["entries"].as_array().unwrap().len(), 3);
    assert_eq!(page["next_after"], "2");
    let (_, page) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/entries?limit=3&after=5"))
    );
    assert_eq!(page["entries"][0]["seq"], 6);
    assert_eq!(page["next_after"], Value::Null);
    let (_, page) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/entries?kind=refund"))
    );
    assert_eq!(page["entries"].as_array().unwrap().len(), 0);

    // Bad parameters are 400, unknown things 404.
    for uri in [
        format!("/api/v1/chains/{chain}/entries/5/proof?size=5"),
        format!("/api/v1/chains/{chain}/entries/1/proof?size=99"),
        format!("/api/v1/chains/{chain}/consistency?from=5&to=3"),
        format!("/api/v1/chains/{chain}/entries?limit=0"),
        "/api/v1/chains/not-a-chain/entries".to_owned(),
    ] {
        let (status, body) = call!(&app, TestRequest::get().uri(&uri));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["code"], "invalid_parameter");
    }
    for uri in [
        format!("/api/v1/chains/{chain}/entries/99"),
        format!("/api/v1/chains/{}/checkpoint", uuid::Uuid::new_v4()),
    ] {
        let (status, _) = call!(&app, TestRequest::get().uri(&uri));
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }

    let (_, report) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/verify"))
    );
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["entries_checked"], 7);
    assert_eq!(report["root_hash"], latest["root_hash"]);
}

#[actix_web::test]
async fn the_admin_chain_records_the_signing_key() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let (status, e) = call!(
        &app,
        TestRequest::get().uri("/api/v1/chains/admin/entries/0")
    );
    assert_eq!(status, StatusCode::OK, "{e}");
    assert_eq!(e["entry"]["kind"], "signing_key_added");
    assert_eq!(
        e["entry"]["body"]["verifier_key"],
        state.ledger.verifier_key().to_verifier_string()
    );
    // Bootstrapping again (a restart with the same key) records nothing new.
    state.ledger.bootstrap().await.unwrap();
    let (_, page) = call!(&app, TestRequest::get().uri("/api/v1/chains/admin/entries"));
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn a_retry_with_the_same_idempotency_key_returns_the_original() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state).await;
    let chain = new_chain(&app).await;
    let (s1, first) = call!(&app, post_entry(&chain, "pay-1", amount("10.00")));
    assert_eq!(s1, StatusCode::CREATED);
    let (s2, again) = call!(&app, post_entry(&chain, "pay-1", amount("10.00")));
    assert_eq!(s2, StatusCode::OK);
    assert_eq!(again["replayed"], true);
    assert_eq!(again["seq"], first["seq"]);
    assert_eq!(again["entry_hash"], first["entry_hash"]);
    // Same key, different content: refused, nothing written.
    let (s3, conflict) = call!(&app, post_entry(&chain, "pay-1", amount("11.00")));
    assert_eq!(s3, StatusCode::CONFLICT);
    assert_eq!(conflict["code"], "idempotency_key_reused");
    let (_, cp) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/checkpoint"))
    );
    assert_eq!(cp["tree_size"], 1);
}

#[actix_web::test]
async fn entries_are_validated_before_anything_is_written() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state).await;
    let chain = new_chain(&app).await;
    let cases = [
        (
            post_entry(&chain, "f", json!({"amount": 12.5})),
            "invalid_entry",
        ),
        (post_entry(&chain, "k k", amount("1.00")), "invalid_entry"),
        (
            TestRequest::post()
                .uri(&format!("/api/v1/chains/{chain}/entries"))
                .set_json(json!({"kind": "payment", "business_date": "2026-01-15", "body": {}})),
            "idempotency_key_required",
        ),
        (
            TestRequest::post()
                .uri(&format!("/api/v1/chains/{chain}/entries"))
                .insert_header(("idempotency-key", "future"))
                .set_json(json!({"kind": "payment", "business_date": "2999-01-01", "body": {}})),
            "business_date_in_future",
        ),
        (
            TestRequest::post()
                .uri(&format!("/api/v1/chains/{chain}/entries"))
                .insert_header(("idempotency-key", "kind"))
                .set_json(json!({"kind": "Payment!", "business_date": "2026-01-15", "body": {}})),
            "invalid_entry",
        ),
    ];
    for (req, code) in cases {
        let (status, body) = call!(&app, req);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], code, "{body}");
    }
    let (status, _) = call!(
        &app,
        post_entry(&uuid::Uuid::new_v4().to_string(), "x", amount("1.00"))
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, cp) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/checkpoint"))
    );
    assert_eq!(cp["tree_size"], 0, "nothing was written");
}

#[actix_web::test]
async fn batches_are_all_or_nothing() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state).await;
    let key = published_key(&app).await;
    let chain = new_chain(&app).await;
    let item = |k: &str, body: Value| json!({"kind": "payment", "business_date": "2026-01-15", "idempotency_key": k, "body": body});
    let uri = format!("/api/v1/chains/{chain}/entries/batch");

    let bad = json!({"entries": [item("b1", amount("1.00")), item("b2", json!({"amount": 1.5})), item("b3", amount("3.00"))]});
    let (status, body) = call!(&app, TestRequest::post().uri(&uri).set_json(bad));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let dup = json!({"entries": [item("d", amount("1.00")), item("d", amount("2.00"))]});
    let (status, body) = call!(&app, TestRequest::post().uri(&uri).set_json(dup));
    assert_eq!(body["code"], "duplicate_idempotency_key", "{status} {body}");
    let too_many: Vec<Value> = (0..1001)
        .map(|i| item(&format!("m{i}"), amount("1.00")))
        .collect();
    let (status, body) = call!(
        &app,
        TestRequest::post()
            .uri(&uri)
            .set_json(json!({"entries": too_many}))
    );
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("batch_size"))
    );
    let (_, cp) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/checkpoint"))
    );
    assert_eq!(cp["tree_size"], 0, "no refused batch left a trace");

    let good: Vec<Value> = (0..250)
        .map(|i| item(&format!("g{i}"), amount(&format!("{i}.00"))))
        .collect();
    let (status, body) = call!(
        &app,
        TestRequest::post()
            .uri(&uri)
            .set_json(json!({"entries": good}))
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let receipts = body["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 250);
    for (i, r) in receipts.iter().enumerate() {
        assert_eq!(r["seq"], i);
        assert!(
            r.get("checkpoint").is_none(),
            "the checkpoint is given once per batch"
        );
        let mut with_checkpoint = r.clone();
        with_checkpoint["checkpoint"] = body["checkpoint"].clone();
        check_receipt(&with_checkpoint, &key);
    }
    // A batch whose key was already used for other content is refused whole.
    let clash = json!({"entries": [item("new-1", amount("1.00")), item("g3", amount("999.00"))]});
    let (status, body) = call!(&app, TestRequest::post().uri(&uri).set_json(clash));
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, cp) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/checkpoint"))
    );
    assert_eq!(cp["tree_size"], 250);
}

/// The receipt a successful append answered, and its idempotency key.
async fn keyed_receipt<B: actix_web::body::MessageBody>(
    res: actix_web::dev::ServiceResponse<B>,
) -> (String, Value) {
    assert!(res.status().is_success(), "{}", res.status());
    let body: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
    let key = body["entry"]["idempotency_key"]
        .as_str()
        .unwrap()
        .to_owned();
    (key, body)
}

#[actix_web::test]
async fn concurrent_writers_never_fork_gap_or_duplicate() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let chain = new_chain(&app).await;
    // 64 concurrent clients, 5 appends each, and every one retried once concurrently.
    let mut calls = Vec::new();
    for client in 0..64 {
        for n in 0..5 {
            for _attempt in 0..2 {
                let req = harness::authed(post_entry(
                    &chain,
                    &format!("c{client}-{n}"),
                    amount(&format!("{client}.{n:02}")),
                ))
                .to_request();
                calls.push(test::call_service(&app, req));
            }
        }
    }
    let responses = futures_util::future::join_all(calls).await;
    let mut by_key = std::collections::HashMap::new();
    for res in responses {
        let (key, body) = keyed_receipt(res).await;
        let seq = body["seq"].as_u64().unwrap();
        if let Some(prev) = by_key.insert(key.clone(), seq) {
            assert_eq!(prev, seq, "a retry of {key} got another seq");
        }
    }
    let mut seqs: Vec<u64> = by_key.values().copied().collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..320).collect::<Vec<u64>>(),
        "gap-free, no duplicates"
    );
    let (_, report) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/verify"))
    );
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["entries_checked"], 320);
}

/// Two service processes (each with its own chain writer) appending to one chain at once,
/// every key sent through both: a writer's one-statement optimistic group write must see
/// that the head moved under it or that the other process recorded a key, write nothing,
/// and retry under the head lock, where a key recorded by the other process replays.
#[actix_web::test]
async fn two_processes_on_one_chain_never_fork_and_replay_each_others_keys() {
    let db = TestDb::migrated();
    let state_a = harness::state(&db).await;
    let state_b = harness::state(&db).await;
    // One person: a retry by somebody else would be an idempotency conflict.
    let (org, user) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    harness::act_as_user(&state_a, "admin", org, user);
    let app_a = harness::app(state_a.clone()).await;
    let app_b = harness::app(state_b.clone()).await;
    let chain = new_chain(&app_a).await;
    let keys: Vec<String> = (0..150).map(|i| format!("both-{i}")).collect();
    let body = |i: usize| amount(&format!("{i}.00"));
    let via_a: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| harness::authed(post_entry(&chain, k, body(i))).to_request())
        .collect();
    harness::act_as_user(&state_b, "admin", org, user);
    let via_b: Vec<_> = keys
        .iter()
        .enumerate()
        .rev()
        .map(|(i, k)| harness::authed(post_entry(&chain, k, body(i))).to_request())
        .collect();
    let (answers_a, answers_b) = futures_util::future::join(
        futures_util::future::join_all(via_a.into_iter().map(|r| test::call_service(&app_a, r))),
        futures_util::future::join_all(via_b.into_iter().map(|r| test::call_service(&app_b, r))),
    )
    .await;
    let mut by_key: std::collections::HashMap<String, (u64, String)> = Default::default();
    let mut replays = 0;
    for res in answers_a.into_iter().chain(answers_b) {
        let (key, body) = keyed_receipt(res).await;
        let seen = (
            body["seq"].as_u64().unwrap(),
            body["entry_hash"].as_str().unwrap().to_owned(),
        );
        if body["replayed"] == true {
            replays += 1;
        }
        if let Some(first) = by_key.insert(key.clone(), seen.clone()) {
            assert_eq!(first, seen, "the two processes answered {key} differently");
        }
    }
    assert_eq!(replays, 150, "each key recorded once and replayed once");
    let mut seqs: Vec<u64> = by_key.values().map(|(seq, _)| *seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..150).collect::<Vec<u64>>(),
        "gap-free, no duplicates"
    );
    for (state, app) in [(&state_a, &app_a), (&state_b, &app_b)] {
        harness::act_as(state, "admin");
        let (_, report) = call!(
            app,
            TestRequest::get().uri(&format!("/api/v1/chains/{chain}/verify"))
        );
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(report["entries_checked"], 150);
    }
}

#[actix_web::test]
async fn the_database_refuses_updates_deletes_and_truncates_of_ledger_rows() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let chain = new_chain(&app).await;
    call!(&app, post_entry(&chain, "a", amount("1.00")));
    // The service's own pooled connection (role fundtrail_app)...
    let mut conn = state.pool.get().unwrap();
    for sql in [
        format!("UPDATE ledger_entries SET canonical = canonical WHERE chain_id = '{chain}'"),
        format!("DELETE FROM ledger_entries WHERE chain_id = '{chain}'"),
        "TRUNCATE ledger_entries CASCADE".to_owned(),
        format!("UPDATE merkle_nodes SET hash = hash WHERE chain_id = '{chain}'"),
        format!("DELETE FROM checkpoints WHERE chain_id = '{chain}'"),
        "DELETE FROM signing_keys".to_owned(),
    ] {
        let err = diesel::sql_query(&sql).execute(&mut **conn).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("permission denied") || msg.contains("append-only"),
            "{sql}: {msg}"
        );
    }
    // ...and even a superuser, unless they disable the triggers (which verify catches).
    let mut su = db.superuser_conn();
    let err = diesel::sql_query(format!(
        "DELETE FROM ledger_entries WHERE chain_id = '{chain}'"
    ))
    .execute(&mut su)
    .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let (_, report) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/verify"))
    );
    assert_eq!(report["ok"], true);
}

// ---------------------------------------------------------------------------- tampering

/// A chain of 8 entries appended one by one (a signed checkpoint at every size), the
/// signed checkpoint a donor saved at size 8, and the export before any tampering.
struct Scene {
    db: TestDb,
    app_state: actix_web::web::Data<fundtrail::state::AppState>,
    chain: String,
    saved_checkpoint: String,
}

async fn scene() -> Scene {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let chain = new_chain(&app).await;
    let mut last = Value::Null;
    for i in 0..8 {
        let (status, r) = call!(
            &app,
            post_entry(
                &chain,
                &format!("t{i}"),
                amount(&format!("{}.00", 1000 + i))
            )
        );
        assert_eq!(status, StatusCode::CREATED);
        last = r;
    }
    let saved_checkpoint = last["checkpoint"]["note"].as_str().unwrap().to_owned();
    Scene {
        db,
        app_state: state,
        chain,
        saved_checkpoint,
    }
}

impl Scene {
    /// A superuser session with triggers off: the attacker with full database access.
    fn attacker(&self) -> PgConnection {
        let mut su = self.db.superuser_conn();
        diesel::sql_query("SET session_replication_role = replica")
            .execute(&mut su)
            .unwrap();
        su
    }

    fn exec(&self, su: &mut PgConnection, sql: String) {
        let n = diesel::sql_query(&sql).execute(su).unwrap();
        assert!(n > 0, "tampering changed nothing: {sql}");
    }

    async fn server_verdict(&self) -> Value {
        harness::act_as(&self.app_state, "auditor");
        let app = harness::app(self.app_state.clone()).await;
        let (status, report) = call!(
            &app,
            TestRequest::get().uri(&format!("/api/v1/chains/{}/verify", self.chain))
        );
        assert_eq!(status, StatusCode::OK);
        report
    }

    async fn export(&self) -> Vec<u8> {
        harness::act_as(&self.app_state, "auditor");
        let app = harness::app(self.app_state.clone()).await;
        let res = test::call_service(
            &app,
            harness::authed(
                TestRequest::get().uri(&format!("/api/v1/chains/{}/export", self.chain)),
            )
            .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        test::read_body(res).await.to_vec()
    }

    fn offline_verdict(&self, export_bytes: &[u8]) -> Value {
        let keys = vec![self.app_state.ledger.verifier_key()];
        let report =
            export::verify_offline(export_bytes, Some(&self.saved_checkpoint), keys).unwrap();
        serde_json::to_value(report).unwrap()
    }

    /// Both verifiers (server-side and offline with the donor's checkpoint) must name
    /// the same first failure.
    async fn assert_caught(&self, seq: u64, reason: &str) {
        let report = self.server_verdict().await;
        assert_eq!(report["ok"], false, "{report}");
        assert_eq!(report["first_failure"]["seq"], seq, "{report}");
        assert_eq!(report["first_failure"]["reason"], reason, "{report}");
        let offline = self.offline_verdict(&self.export().await);
        assert_eq!(offline["ok"], false, "{offline}");
        assert_eq!(offline["first_failure"]["seq"], seq, "{offline}");
        assert_eq!(offline["first_failure"]["reason"], reason, "{offline}");
    }

    fn canonical(&self, su: &mut PgConnection, seq: u64) -> String {
        #[derive(diesel::QueryableByName)]
        struct C {
            #[diesel(sql_type = diesel::sql_types::Text)]
            canonical: String,
        }
        diesel::sql_query(format!(
            "SELECT canonical FROM ledger_entries WHERE chain_id = '{}' AND seq = {seq}",
            self.chain
        ))
        .get_result::<C>(su)
        .unwrap()
        .canonical
    }
}

#[actix_web::test]
async fn a_clean_chain_verifies_on_the_server_and_offline() {
    let s = scene().await;
    let report = s.server_verdict().await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["entries_checked"], 8);
    assert_eq!(report["checkpoints_checked"], 9);
    let offline = s.offline_verdict(&s.export().await);
    assert_eq!(offline["ok"], true, "{offline}");
    assert_eq!(offline["root_hash"], report["root_hash"]);
    // The saved checkpoint is from another chain? Then it is refused outright.
    let other = scene().await;
    let keys = vec![s.app_state.ledger.verifier_key()];
    assert!(
        export::verify_offline(&s.export().await[..], Some(&other.saved_checkpoint), keys).is_err()
    );
}

#[actix_web::test]
async fn an_edited_body_is_caught_at_its_seq() {
    let s = scene().await;
    let mut su = s.attacker();
    let original = s.canonical(&mut su, 3);
    let edited = original.replace("Acme Ltd", "Acme Holdings");
    s.exec(
        &mut su,
        format!(
            "UPDATE ledger_entries SET canonical = '{edited}' WHERE chain_id = '{}' AND seq = 3",
            s.chain
        ),
    );
    s.assert_caught(3, "entry_hash_mismatch").await;
}

#[actix_web::test]
async fn an_edited_amount_is_caught_at_its_seq() {
    let s = scene().await;
    let mut su = s.attacker();
    let edited = s.canonical(&mut su, 5).replace("1005.00", "10050.00");
    s.exec(
        &mut su,
        format!(
            "UPDATE ledger_entries SET canonical = '{edited}' WHERE chain_id = '{}' AND seq = 5",
            s.chain
        ),
    );
    s.assert_caught(5, "entry_hash_mismatch").await;
}

#[actix_web::test]
async fn a_deleted_entry_is_caught_at_its_seq() {
    let s = scene().await;
    let mut su = s.attacker();
    s.exec(
        &mut su,
        format!(
            "DELETE FROM ledger_entries WHERE chain_id = '{}' AND seq = 4",
            s.chain
        ),
    );
    s.assert_caught(4, "seq_gap").await;
}

#[actix_web::test]
async fn two_swapped_entries_are_caught_at_the_first() {
    let s = scene().await;
    let mut su = s.attacker();
    // Swap everything but the position.
    s.exec(
        &mut su,
        format!(
            "UPDATE ledger_entries t SET canonical = o.canonical, prev_hash = o.prev_hash, entry_hash = o.entry_hash, \
             idempotency_key = o.idempotency_key || '~' \
             FROM ledger_entries o WHERE t.chain_id = '{c}' AND o.chain_id = '{c}' AND \
             ((t.seq = 2 AND o.seq = 3) OR (t.seq = 3 AND o.seq = 2))",
            c = s.chain
        ),
    );
    s.exec(&mut su, format!("UPDATE ledger_entries SET idempotency_key = rtrim(idempotency_key, '~') WHERE chain_id = '{}'", s.chain));
    s.assert_caught(2, "seq_mismatch").await;
}

#[actix_web::test]
async fn a_truncated_tail_is_caught() {
    let s = scene().await;
    let mut su = s.attacker();
    s.exec(
        &mut su,
        format!(
            "DELETE FROM ledger_entries WHERE chain_id = '{}' AND seq >= 6",
            s.chain
        ),
    );
    s.assert_caught(6, "truncated").await;

    // Full cover-up: head, checkpoints and tree nodes rolled back too. The server has
    // nothing left to compare with, but the donor's saved checkpoint still catches it.
    s.exec(
        &mut su,
        format!(
            "DELETE FROM checkpoints WHERE chain_id = '{}' AND tree_size > 6",
            s.chain
        ),
    );
    s.exec(&mut su, format!("UPDATE chain_heads SET size = 6, head_hash = (SELECT entry_hash FROM ledger_entries WHERE chain_id = '{c}' AND seq = 5) WHERE chain_id = '{c}'", c = s.chain));
    let offline = s.offline_verdict(&s.export().await);
    assert_eq!(offline["ok"], false, "{offline}");
    assert_eq!(offline["first_failure"]["seq"], 6, "{offline}");
    assert_eq!(offline["first_failure"]["reason"], "truncated", "{offline}");
}

#[actix_web::test]
async fn a_consistently_rewritten_chain_is_caught_by_the_signed_checkpoints() {
    let s = scene().await;
    let mut su = s.attacker();
    // Rewrite entry 3 and re-hash everything after it, Merkle tree and head included:
    // every hash link is valid again. Only the signatures cannot be redone.
    let chain: uuid::Uuid = s.chain.parse().unwrap();
    let mut prev = entry::ZERO_HASH;
    let mut frontier = Frontier::default();
    for seq in 0..8u64 {
        let mut e: Entry = serde_json::from_str(&s.canonical(&mut su, seq)).unwrap();
        if seq == 3 {
            e.body["vendor"] = json!("Shell Company SA");
        }
        let canonical = String::from_utf8(entry::canonical_bytes(&e).unwrap()).unwrap();
        let hash = entry::entry_hash(&prev, canonical.as_bytes());
        if seq >= 3 {
            s.exec(
                &mut su,
                format!(
                    "UPDATE ledger_entries SET canonical = '{canonical}', prev_hash = '\\x{}', entry_hash = '\\x{}' WHERE chain_id = '{chain}' AND seq = {seq}",
                    hex::encode(prev),
                    hex::encode(hash)
                ),
            );
        }
        for (node, h) in frontier.push(merkle::leaf_hash(&hash)) {
            diesel::sql_query(format!(
                "UPDATE merkle_nodes SET hash = '\\x{}' WHERE chain_id = '{chain}' AND level = {} AND idx = {}",
                hex::encode(h),
                node.level,
                node.index
            ))
            .execute(&mut su)
            .unwrap();
        }
        prev = hash;
    }
    s.exec(
        &mut su,
        format!(
            "UPDATE chain_heads SET head_hash = '\\x{}' WHERE chain_id = '{chain}'",
            hex::encode(prev)
        ),
    );
    s.assert_caught(3, "checkpoint_root_mismatch").await;

    // The attacker also deletes every checkpoint they invalidated: the export then vouches
    // only up to size 3, and the donor's saved checkpoint (size 8) no longer matches.
    s.exec(
        &mut su,
        format!("DELETE FROM checkpoints WHERE chain_id = '{chain}' AND tree_size > 3"),
    );
    let offline = s.offline_verdict(&s.export().await);
    assert_eq!(
        offline["first_failure"]["reason"], "checkpoint_root_mismatch",
        "{offline}"
    );
    assert_eq!(offline["first_failure"]["seq"], 3, "{offline}");
    let report = s.server_verdict().await;
    assert_eq!(
        report["first_failure"]["reason"], "unsigned_tail",
        "{report}"
    );
    assert_eq!(report["first_failure"]["seq"], 3, "{report}");
}

#[actix_web::test]
async fn a_forged_checkpoint_or_a_lowered_size_is_refused_offline() {
    let s = scene().await;
    let clean = String::from_utf8(s.export().await).unwrap();
    // Replace the checkpoint of size 4 by one with the same content signed by a stranger.
    let stranger = note::SigningKey::generate("test.fundtrail").unwrap();
    let forged: String = clean
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            if v["type"] == "checkpoint" && v["tree_size"] == 4 {
                let text = v["note"]
                    .as_str()
                    .unwrap()
                    .split("\n\n")
                    .next()
                    .unwrap()
                    .to_owned()
                    + "\n";
                let note = stranger.sign_note(&text).unwrap();
                json!({"type": "checkpoint", "tree_size": 4, "note": note}).to_string()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let v = s.offline_verdict(forged.as_bytes());
    assert_eq!(
        v["first_failure"]["reason"], "checkpoint_signature_invalid",
        "{v}"
    );
    assert_eq!(v["first_failure"]["seq"], 3, "{v}");

    // A header that claims fewer entries than the file holds.
    let lowered = clean.replacen("\"tree_size\":8", "\"tree_size\":6", 1);
    assert_ne!(lowered, clean);
    let keys = vec![s.app_state.ledger.verifier_key()];
    let report =
        serde_json::to_value(export::verify_offline(lowered.as_bytes(), None, keys).unwrap())
            .unwrap();
    assert_eq!(
        report["first_failure"]["reason"], "size_mismatch",
        "{report}"
    );
    assert_eq!(report["first_failure"]["seq"], 6, "{report}");
}

#[actix_web::test]
async fn a_rotated_key_is_audited_and_old_checkpoints_stay_verifiable() {
    let db = TestDb::migrated();
    let first = harness::state(&db).await;
    harness::act_as(&first, "admin");
    let app = harness::app(first.clone()).await;
    let chain = new_chain(&app).await;
    call!(&app, post_entry(&chain, "before-1", amount("1.00")));
    call!(&app, post_entry(&chain, "before-2", amount("2.00")));

    // Restart with a new signing key, the old one configured as trusted (a key found in
    // the database is never trusted for being there).
    let second = harness::state_signed_by(
        &db,
        note::SigningKey::generate("test.fundtrail").unwrap(),
        vec![first.ledger.verifier_key()],
    )
    .await
    .unwrap();
    harness::act_as(&second, "admin");
    let app = harness::app(second.clone()).await;
    let (_, admin) = call!(&app, TestRequest::get().uri("/api/v1/chains/admin/entries"));
    let kinds: Vec<&Value> = admin["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["entry"]["kind"])
        .collect();
    assert_eq!(
        kinds,
        vec!["signing_key_added", "signing_key_added"],
        "{admin}"
    );
    assert_eq!(
        admin["entries"][1]["entry"]["body"]["verifier_key"],
        second.ledger.verifier_key().to_verifier_string()
    );
    let (status, r) = call!(&app, post_entry(&chain, "after-1", amount("3.00")));
    assert_eq!(status, StatusCode::CREATED);
    check_receipt(&r, &second.ledger.verifier_key());

    let (_, keys) = call!(&app, TestRequest::get().uri("/api/v1/keys"));
    let keys = keys.as_array().unwrap().clone();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["current"], false);
    assert_eq!(keys[0]["valid_until"], keys[1]["valid_from"]);
    assert_eq!(keys[1]["current"], true);
    assert_eq!(
        keys[0]["trusted"], true,
        "the old key is configured as trusted"
    );
    assert_eq!(keys[1]["trusted"], true);

    // Checkpoints signed by both keys verify against the published set...
    let (_, report) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/verify"))
    );
    assert_eq!(report["ok"], true, "{report}");
    let res = test::call_service(
        &app,
        harness::authed(TestRequest::get().uri(&format!("/api/v1/chains/{chain}/export")))
            .to_request(),
    )
    .await;
    let exported = test::read_body(res).await;
    let both = vec![first.ledger.verifier_key(), second.ledger.verifier_key()];
    assert!(
        export::verify_offline(&exported[..], None, both)
            .unwrap()
            .ok
    );
    // ...and not against the new key alone.
    let only_new = vec![second.ledger.verifier_key()];
    let report = export::verify_offline(&exported[..], None, only_new).unwrap();
    assert_eq!(report.first_failure.unwrap().seq, 0);
}

/// The Python verifier in tools/independent-verifier was written from
/// docs/ledger-format.md alone; it must reach the same verdicts as ours.
#[actix_web::test]
async fn the_independent_python_verifier_agrees() {
    let s = scene().await;
    let dir = std::env::temp_dir().join(format!("ft-indep-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("keys.txt");
    std::fs::write(
        &keys,
        s.app_state.ledger.verifier_key().to_verifier_string() + "\n",
    )
    .unwrap();
    let saved = dir.join("checkpoint.txt");
    std::fs::write(&saved, &s.saved_checkpoint).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tools/independent-verifier/verify.py");
    let python = |export: &[u8]| -> Value {
        let file = dir.join("export.jsonl");
        std::fs::write(&file, export).unwrap();
        let out = std::process::Command::new("python3")
            .arg(&script)
            .args([
                "--export",
                file.to_str().unwrap(),
                "--public-key",
                keys.to_str().unwrap(),
            ])
            .args(["--checkpoint", saved.to_str().unwrap()])
            .output()
            .expect("python3 runs the independent verifier");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    let clean = s.export().await;
    let (ours, theirs) = (s.offline_verdict(&clean), python(&clean));
    assert_eq!(theirs["ok"], true, "{theirs}");
    assert_eq!(theirs["root_hash"], ours["root_hash"]);

    let mut su = s.attacker();
    let edited = s.canonical(&mut su, 5).replace("1005.00", "1500.00");
    s.exec(
        &mut su,
        format!(
            "UPDATE ledger_entries SET canonical = '{edited}' WHERE chain_id = '{}' AND seq = 5",
            s.chain
        ),
    );
    let tampered = s.export().await;
    let (ours, theirs) = (s.offline_verdict(&tampered), python(&tampered));
    assert_eq!(theirs["ok"], false, "{theirs}");
    assert_eq!(
        theirs["first_failure"]["seq"], ours["first_failure"]["seq"],
        "{theirs} vs {ours}"
    );
    assert_eq!(
        theirs["first_failure"]["reason"], ours["first_failure"]["reason"],
        "{theirs} vs {ours}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn a_saved_receipt_proves_its_entry_offline() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let chain = new_chain(&app).await;
    let mut saved = Value::Null;
    for i in 0..5 {
        let (_, r) = call!(
            &app,
            post_entry(&chain, &format!("r{i}"), amount(&format!("{i}.50")))
        );
        if i == 2 {
            saved = r;
        }
    }
    let keys = vec![state.ledger.verifier_key()];
    let verdict = |receipt: &Value| {
        fundtrail::ledger::receipt::verify_receipt(&receipt.to_string(), &keys).unwrap()
    };
    let ok = verdict(&saved);
    assert!(ok.ok, "{:?}", ok.failure);
    assert_eq!((ok.seq, ok.tree_size), (Some(2), Some(3)));

    // The proof endpoint gives a fresh proof against today's tree: same entry, bigger tree.
    let (_, p) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/entries/2/proof"))
    );
    let mut fresh = saved.clone();
    fresh["inclusion_proof"] = p["inclusion_proof"].clone();
    fresh["checkpoint"] = p["checkpoint"].clone();
    let later = verdict(&fresh);
    assert!(later.ok, "{:?}", later.failure);
    assert_eq!(later.tree_size, Some(5));

    let failed = |receipt: &Value| verdict(receipt).failure.map(|f| f.field);
    let mut altered = saved.clone();
    altered["entry"]["body"]["amount"]["value"] = json!("2000.50");
    assert_eq!(failed(&altered), Some("entry_hash"));
    let mut wrong_proof = saved.clone();
    wrong_proof["inclusion_proof"]["hashes"][0] = json!(hex::encode([9u8; 32]));
    assert_eq!(failed(&wrong_proof), Some("inclusion_proof.hashes"));
    // The receipt's own copies of what the proof establishes are checked too.
    for (member, value, field) in [
        ("seq", json!(3), "seq"),
        ("chain", json!(uuid::Uuid::new_v4().to_string()), "chain"),
    ] {
        let mut copy = saved.clone();
        copy[member] = value;
        assert_eq!(failed(&copy), Some(field), "{member}");
    }
    let mut copy = saved.clone();
    copy["checkpoint"]["tree_size"] = json!(5);
    assert_eq!(failed(&copy), Some("checkpoint.tree_size"));
    let mut copy = saved.clone();
    copy["checkpoint"]["root_hash"] = p["checkpoint"]["root_hash"].clone();
    assert_eq!(failed(&copy), Some("checkpoint.root_hash"));
    let stranger = vec![note::SigningKey::generate("test.fundtrail")
        .unwrap()
        .verifier()];
    let foreign =
        fundtrail::ledger::receipt::verify_receipt(&saved.to_string(), &stranger).unwrap();
    assert_eq!(foreign.failure.map(|f| f.field), Some("checkpoint.note"));
}

/// The binary's offline commands, as a separate process would run them: exit 0 when the
/// evidence holds, 1 when it does not.
#[actix_web::test]
async fn the_offline_commands_exit_0_when_intact_and_1_when_tampered() {
    let s = scene().await;
    let dir = std::env::temp_dir().join(format!("ft-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("keys.txt");
    std::fs::write(
        &keys,
        s.app_state.ledger.verifier_key().to_verifier_string() + "\n",
    )
    .unwrap();
    let saved = dir.join("checkpoint.txt");
    // Saved with a trailing newline, as `jq -r` would: still accepted.
    std::fs::write(&saved, format!("{}\n", s.saved_checkpoint)).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fundtrail"))
            .args(args)
            .output()
            .unwrap()
    };
    let export = dir.join("chain.jsonl");
    std::fs::write(&export, s.export().await).unwrap();
    let (e, k, c) = (
        export.to_str().unwrap(),
        keys.to_str().unwrap(),
        saved.to_str().unwrap(),
    );
    let out = run(&[
        "verify",
        "--export",
        e,
        "--public-key",
        k,
        "--checkpoint",
        c,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let app = harness::app(s.app_state.clone()).await;
    harness::act_as(&s.app_state, "admin");
    let (_, receipt) = call!(&app, post_entry(&s.chain, "late", amount("7.00")));
    let receipt_file = dir.join("receipt.json");
    std::fs::write(&receipt_file, receipt.to_string()).unwrap();
    let r = receipt_file.to_str().unwrap();
    assert_eq!(
        run(&["verify-receipt", "--receipt", r, "--public-key", k])
            .status
            .code(),
        Some(0)
    );
    // The independent verifier reads the server's receipts as they are (its `signed_at`
    // spelling included) and names the same member when one is altered.
    let python = |receipt: &Value| {
        std::fs::write(&receipt_file, receipt.to_string()).unwrap();
        let out = std::process::Command::new("python3")
            .arg(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tools/independent-verifier/verify.py"),
            )
            .args(["--receipt", r, "--public-key", k])
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), report["failure"]["field"].clone())
    };
    assert_eq!(python(&receipt), (Some(0), Value::Null));
    let mut copy = receipt.clone();
    copy["checkpoint"]["tree_size"] = json!(1);
    assert_eq!(python(&copy), (Some(1), json!("checkpoint.tree_size")));
    let (status, batch) = call!(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/chains/{}/entries/batch", s.chain))
            .set_json(json!({"entries": [
                {"kind": "generic", "business_date": "2026-01-15", "idempotency_key": "late-b1", "body": amount("8.00")},
                {"kind": "generic", "business_date": "2026-01-15", "idempotency_key": "late-b2", "body": amount("9.00")},
            ]}))
    );
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let mut kept = batch["receipts"][0].clone();
    kept["checkpoint"] = batch["checkpoint"].clone();
    assert_eq!(python(&kept), (Some(0), Value::Null));
    std::fs::write(&receipt_file, kept.to_string()).unwrap();
    assert_eq!(
        run(&["verify-receipt", "--receipt", r, "--public-key", k])
            .status
            .code(),
        Some(0)
    );

    let mut su = s.attacker();
    let edited = s.canonical(&mut su, 1).replace("1001.00", "1100.00");
    s.exec(
        &mut su,
        format!(
            "UPDATE ledger_entries SET canonical = '{edited}' WHERE chain_id = '{}' AND seq = 1",
            s.chain
        ),
    );
    std::fs::write(&export, s.export().await).unwrap();
    let out = run(&[
        "verify",
        "--export",
        e,
        "--public-key",
        k,
        "--checkpoint",
        c,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["first_failure"]["seq"], 1, "{report}");

    let mut forged = receipt.clone();
    forged["entry"]["body"]["vendor"] = json!("Someone Else");
    std::fs::write(&receipt_file, forged.to_string()).unwrap();
    assert_eq!(
        run(&["verify-receipt", "--receipt", r, "--public-key", k])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        run(&[
            "verify-receipt",
            "--receipt",
            "/nonexistent",
            "--public-key",
            k
        ])
        .status
        .code(),
        Some(2)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------- effects

/// A capability stand-in: keeps a table of unique names, refuses bodies that say so.
struct NamesEffect;

impl fundtrail::ledger::writer::Effect for NamesEffect {
    fn apply(
        &self,
        conn: &mut PgConnection,
        entries: &[Entry],
    ) -> Result<(), fundtrail::ledger::writer::AppendError> {
        use fundtrail::ledger::writer::AppendError;
        for e in entries {
            if e.body["refuse"] == true {
                return Err(AppendError::Rejected {
                    code: "refused_by_rule",
                    detail: "the rule says no".to_owned(),
                });
            }
            let name = e.body["name"].as_str().unwrap_or_default();
            diesel::sql_query(format!(
                "INSERT INTO test_names (name, seq) VALUES ('{name}', {})",
                e.seq
            ))
            .execute(conn)
            .map_err(|err| match err {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ) => AppendError::Conflict {
                    code: "name_taken",
                    detail: format!("{name} is taken"),
                },
                other => AppendError::Database(other.into()),
            })?;
        }
        Ok(())
    }
}

fn named(key: &str, name: &str, refuse: bool) -> fundtrail::ledger::writer::AppendRequest {
    fundtrail::ledger::writer::AppendRequest {
        kind: "name_claimed".to_owned(),
        business_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 15).unwrap(),
        idempotency_key: key.to_owned(),
        body: json!({"name": name, "refuse": refuse}),
        principal: fundtrail::ledger::entry::Principal::system(),
    }
}

#[actix_web::test]
async fn effects_commit_with_their_entries_or_not_at_all() {
    use fundtrail::ledger::writer::AppendError;
    let db = TestDb::migrated();
    let mut su = db.superuser_conn();
    diesel::sql_query("CREATE TABLE test_names (name text PRIMARY KEY, seq bigint NOT NULL)")
        .execute(&mut su)
        .unwrap();
    diesel::sql_query("GRANT SELECT, INSERT ON test_names TO fundtrail_app")
        .execute(&mut su)
        .unwrap();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let chain: uuid::Uuid = new_chain(&app).await.parse().unwrap();
    let ledger = state.ledger.clone();
    let effect: std::sync::Arc<dyn fundtrail::ledger::writer::Effect> =
        std::sync::Arc::new(NamesEffect);
    let count = |table: &str| {
        let where_ = if table == "ledger_entries" {
            format!(" WHERE chain_id = '{chain}'")
        } else {
            String::new()
        };
        harness::number(
            &mut db.superuser_conn(),
            &format!("SELECT count(*) AS n FROM {table}{where_}"),
        )
    };

    // Twelve concurrent jobs: two claim the same name, one is refused by the rule.
    let mut calls = Vec::new();
    for i in 0..12 {
        let name = if i == 7 {
            "n3".to_owned()
        } else {
            format!("n{i}")
        };
        calls.push(ledger.append_with(
            chain,
            vec![named(&format!("k{i}"), &name, i == 9)],
            effect.clone(),
        ));
    }
    let results = futures_util::future::join_all(calls).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let taken = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(AppendError::Conflict {
                    code: "name_taken",
                    ..
                })
            )
        })
        .count();
    let refused = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(AppendError::Rejected {
                    code: "refused_by_rule",
                    ..
                })
            )
        })
        .count();
    assert_eq!((ok, taken, refused), (10, 1, 1), "{results:?}");
    // Entries and state agree: every committed entry has its row, nothing else exists.
    assert_eq!(count("ledger_entries"), 10);
    assert_eq!(count("test_names"), 10);
    let (_, report) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/verify"))
    );
    assert_eq!(report["ok"], true, "{report}");

    // A batch whose second entry is refused writes nothing at all.
    let batch = vec![named("b1", "fresh", false), named("b2", "other", true)];
    assert!(ledger
        .append_with(chain, batch, effect.clone())
        .await
        .is_err());
    assert_eq!((count("ledger_entries"), count("test_names")), (10, 10));

    // A retry of a committed job replays it without running the effect again.
    let first_ok = results.iter().position(|r| r.is_ok()).unwrap();
    let key = format!("k{first_ok}");
    let name = if first_ok == 7 {
        "n3".to_owned()
    } else {
        format!("n{first_ok}")
    };
    let again = ledger
        .append_with(chain, vec![named(&key, &name, false)], effect.clone())
        .await
        .unwrap();
    assert!(again[0].replayed);
    assert_eq!((count("ledger_entries"), count("test_names")), (10, 10));
}

/// Who may call the ledger routes of a generic (non-fund) chain: admins write them, admins
/// and auditors read them, for everyone else they do not exist (404); only admins list
/// chains; the keys are public. Fund chains are covered in `domain`.
#[actix_web::test]
async fn ledger_routes_refuse_everyone_outside_their_roles() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let chain = new_chain(&app).await;
    call!(&app, post_entry(&chain, "seed", amount("1.00")));
    let reads = [
        "/api/v1/chains".to_owned(),
        format!("/api/v1/chains/{chain}/entries"),
        format!("/api/v1/chains/{chain}/entries/0"),
        format!("/api/v1/chains/{chain}/entries/0/proof"),
        format!("/api/v1/chains/{chain}/consistency?from=0&to=1"),
        format!("/api/v1/chains/{chain}/checkpoint"),
        format!("/api/v1/chains/{chain}/verify"),
        format!("/api/v1/chains/{chain}/export"),
    ];
    let writes = || {
        vec![
            TestRequest::post().uri("/api/v1/chains").set_json(json!({})),
            post_entry(&chain, "w1", amount("2.00")),
            TestRequest::post()
                .uri(&format!("/api/v1/chains/{chain}/entries/batch"))
                .set_json(json!({"entries": [{"kind": "x", "business_date": "2026-01-01", "idempotency_key": "w2", "body": {}}]})),
        ]
    };
    let status_of = |res: &actix_web::dev::ServiceResponse<_>| res.status();
    for role in ["treasurer", "ministry", "donor", "auditor", "admin"] {
        harness::act_as(&state, role);
        for uri in &reads {
            let res = test::call_service(
                &app,
                harness::authed(TestRequest::get().uri(uri)).to_request(),
            )
            .await;
            let want = if uri == "/api/v1/chains" {
                if role == "admin" {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                }
            } else if matches!(role, "admin" | "auditor") {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(status_of(&res), want, "{role} GET {uri}");
        }
        for req in writes() {
            let req = harness::authed(req).to_request();
            let what = format!("{} {}", req.method(), req.path());
            let res = test::call_service(&app, req).await;
            if role == "admin" {
                assert!(
                    status_of(&res).is_success(),
                    "{role} {what}: {}",
                    res.status()
                );
            } else {
                assert_eq!(status_of(&res), StatusCode::FORBIDDEN, "{role} {what}");
            }
        }
    }
    // Without a token: 401 everywhere but the public keys.
    for uri in &reads {
        let res = test::call_service(&app, TestRequest::get().uri(uri).to_request()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "GET {uri}");
    }
    for req in writes() {
        let res = test::call_service(&app, req.to_request()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = test::call_service(&app, TestRequest::get().uri("/api/v1/keys").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Nobody appends to the administrative chain through the API, not even an admin.
    harness::act_as(&state, "admin");
    let (status, body) = call!(&app, post_entry("admin", "sneaky", amount("1.00")));
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::FORBIDDEN, json!("forbidden"))
    );
}

/// The published test vectors (tests/vectors/ledger-vectors.json: golden entry, hashes,
/// proofs, 86 export cases and 44 receipt cases with their verdicts) hold for this build's
/// `fundtrail verify` and `fundtrail verify-receipt` and for the independent Python
/// verifier alike.
#[test]
fn the_published_vectors_hold_for_both_verifiers() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("python3")
        .arg(dir.join("tools/independent-verifier/check_vectors.py"))
        .arg("--vectors")
        .arg(dir.join("tests/vectors/ledger-vectors.json"))
        .arg("--rust")
        .arg(env!("CARGO_BIN_EXE_fundtrail"))
        .output()
        .expect("python3 runs check_vectors.py");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("86 export cases, 44 receipt cases (Python and Rust); mismatches: 0"),
        "{text}"
    );
}

/// Proofs are served from the stored upper levels of the tree and lower levels recomputed
/// from entry hashes (docs/ledger-format.md, "Storage"): every inclusion proof of every
/// entry, and every consistency proof between two sizes, at sizes on both sides of each
/// block boundary, of a chain
/// appended in uneven groups (so block and group boundaries fall everywhere), must check
/// against roots computed here from the entry hashes alone.
#[actix_web::test]
async fn every_proof_of_a_chain_appended_in_uneven_groups_checks() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let chain = new_chain(&app).await;
    let uri = format!("/api/v1/chains/{chain}/entries/batch");
    let mut seq = 0u64;
    for size in [1u64, 2, 13, 1, 16, 3, 17, 1, 31] {
        let entries: Vec<Value> = (seq..seq + size)
            .map(|i| json!({"kind": "payment", "business_date": "2026-01-15", "idempotency_key": format!("k{i}"), "body": amount(&format!("{i}.00"))}))
            .collect();
        let (status, body) = call!(
            &app,
            TestRequest::post()
                .uri(&uri)
                .set_json(json!({"entries": entries}))
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        seq += size;
    }
    assert_eq!(seq, 85);
    let chain_id: uuid::Uuid = chain.parse().unwrap();
    let mut conn = state.pool.get().unwrap();
    let leaves: Vec<[u8; 32]> = (0..seq)
        .map(|s| {
            let (row, _, _, _) = state
                .ledger
                .inclusion(&mut conn, chain_id, s, Some(s + 1))
                .unwrap();
            merkle::leaf_hash(&row.entry_hash)
        })
        .collect();
    // Roots at every size, from the leaves alone.
    let mut roots = vec![merkle::empty_root()];
    let mut frontier = Frontier::default();
    for leaf in &leaves {
        frontier.push(*leaf);
        roots.push(frontier.root());
    }
    // Every size up to 20, and the sizes around each boundary of 16 leaves after that.
    let sizes: Vec<u64> = (1..=20)
        .chain([31, 32, 33, 47, 48, 49, 63, 64, 65, 84, 85])
        .collect();
    for &size in &sizes {
        for s in 0..size {
            let (_, proof, at, _) = state
                .ledger
                .inclusion(&mut conn, chain_id, s, Some(size))
                .unwrap();
            assert_eq!(at, size);
            merkle::verify_inclusion(&leaves[s as usize], s, size, &proof, &roots[size as usize])
                .unwrap_or_else(|e| panic!("inclusion of {s} at {size}: {e}"));
        }
        for &old in sizes.iter().filter(|&&old| old <= size) {
            let proof = state
                .ledger
                .consistency(&mut conn, chain_id, old, size)
                .unwrap();
            merkle::verify_consistency(
                old,
                size,
                &roots[old as usize],
                &roots[size as usize],
                &proof,
            )
            .unwrap_or_else(|e| panic!("consistency {old} -> {size}: {e}"));
        }
    }
    // Only levels from 4 up are stored: one node per 16, 32, ... complete leaves.
    let stored: i64 = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM merkle_nodes WHERE chain_id = '{chain}'"
    ))
    .get_result::<Count>(&mut **conn)
    .unwrap()
    .n;
    assert_eq!(stored, 85 / 16 + 85 / 32 + 85 / 64);
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
