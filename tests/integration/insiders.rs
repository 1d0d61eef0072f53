//! Attacks by insiders with database access (docs/security.md, "Insiders"): real SQL as
//! the service's own login, and as a superuser with and without the append-only triggers,
//! each checked against who must catch it and when.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use diesel::{PgConnection, RunQueryDsl};
use serde_json::{json, Value};

use fundtrail::ledger::note;

use crate::harness::{self, TestDb};

fn post_entry(chain: &str, key: &str, value: &str) -> TestRequest {
    TestRequest::post()
        .uri(&format!("/api/v1/chains/{chain}/entries"))
        .insert_header(("idempotency-key", key))
        .set_json(json!({"kind": "payment", "business_date": "2026-01-15",
            "body": {"amount": {"value": value, "currency": "EUR"}, "vendor": "Acme Ltd"}}))
}

/// A generic chain with `n` entries appended one by one, as the admin.
async fn chain_with(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    n: u32,
) -> String {
    let (status, body) = call!(
        app,
        TestRequest::post()
            .uri("/api/v1/chains")
            .set_json(json!({}))
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let chain = body["chain"]["id"].as_str().unwrap().to_owned();
    for i in 0..n {
        let (status, body) = call!(
            app,
            post_entry(&chain, &format!("e{i}"), &format!("{}.00", 100 + i))
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    chain
}

fn exec(conn: &mut PgConnection, sql: &str) -> Result<usize, String> {
    diesel::sql_query(sql)
        .execute(conn)
        .map_err(|e| e.to_string())
}

/// A superuser session with the append-only triggers off.
fn trigger_free(db: &TestDb) -> PgConnection {
    let mut su = db.superuser_conn();
    exec(&mut su, "SET session_replication_role = replica").unwrap();
    su
}

/// The counter an operator alerts on, read from `/metrics`.
async fn integrity_failures(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
) -> u64 {
    let res =
        actix_web::test::call_service(app, TestRequest::get().uri("/metrics").to_request()).await;
    let text = String::from_utf8(actix_web::test::read_body(res).await.to_vec()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("fundtrail_ledger_integrity_failures_total "))
        .unwrap_or_else(|| panic!("no integrity counter in /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[actix_web::test]
async fn a_row_forged_with_the_services_own_rights_is_refused_not_signed() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let chain = chain_with(&app, 3).await;
    let other = chain_with(&app, 1).await;
    let before = integrity_failures(&app).await;

    // The forger has exactly the service's rights: its own pooled connection.
    let mut conn = state.pool.get().unwrap();
    let forged = exec(
        &mut conn,
        &format!(
            "INSERT INTO ledger_entries (chain_id, seq, kind, business_date, recorded_at, \
             idempotency_key, canonical, prev_hash, entry_hash) \
             SELECT chain_id, 3, kind, business_date, recorded_at, 'forged', \
                    replace(canonical, '102.00', '999999.00'), entry_hash, sha256(entry_hash) \
             FROM ledger_entries WHERE chain_id = '{chain}' AND seq = 2"
        ),
    );
    assert_eq!(forged, Ok(1), "the service role may insert entries");
    assert_eq!(
        exec(
            &mut conn,
            &format!(
                "UPDATE chain_heads SET size = 4, head_hash = \
                 (SELECT entry_hash FROM ledger_entries WHERE chain_id = '{chain}' AND seq = 3) \
                 WHERE chain_id = '{chain}'"
            )
        ),
        Ok(1),
        "the service role may move the head"
    );
    drop(conn);

    // The next legitimate append is refused: nothing signs the forged entry.
    let (status, body) = call!(&app, post_entry(&chain, "legit", "5.00"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "ledger_integrity", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("entries 3 to 3"),
        "{body}"
    );
    let (_, checkpoint) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/checkpoint"))
    );
    assert_eq!(
        checkpoint["tree_size"], 3,
        "no checkpoint covers the forgery"
    );
    // A restarted process (no head in memory) refuses it too.
    let restarted = harness::state(&db).await;
    let app2 = harness::app(restarted).await;
    let (status, body) = call!(&app2, post_entry(&chain, "legit", "5.00"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "ledger_integrity");
    // Reported: counted for the alert; other chains keep working.
    assert!(integrity_failures(&app).await > before);
    let (status, body) = call!(&app, post_entry(&other, "fine", "1.00"));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Server-side verification names the unsigned tail.
    let (_, report) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/verify"))
    );
    assert_eq!(report["ok"], false, "{report}");
}

#[actix_web::test]
async fn several_processes_still_append_to_one_chain() {
    let db = TestDb::migrated();
    let first = harness::state(&db).await;
    let second = harness::state(&db).await;
    harness::act_as(&first, "admin");
    let a = harness::app(first).await;
    let b = harness::app(second).await;
    let chain = chain_with(&a, 1).await;
    for i in 0..6 {
        let app = if i % 2 == 0 { &b } else { &a };
        let (status, body) = call!(app, post_entry(&chain, &format!("p{i}"), "1.00"));
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["seq"], i + 1, "{body}");
    }
}

#[actix_web::test]
async fn the_service_login_cannot_shed_its_role_or_disable_triggers() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    let mut conn = state.pool.get().unwrap();
    #[derive(diesel::QueryableByName)]
    struct Who {
        #[diesel(sql_type = diesel::sql_types::Text)]
        session: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        current: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        superuser: bool,
    }
    exec(&mut conn, "RESET ROLE").unwrap();
    let who: Who = diesel::sql_query(
        "SELECT session_user::text AS session, current_user::text AS current, \
         (SELECT rolsuper FROM pg_roles WHERE rolname = session_user) AS superuser",
    )
    .get_result(&mut **conn)
    .unwrap();
    assert_eq!(
        (who.session.as_str(), who.current.as_str(), who.superuser),
        ("fundtrail_app", "fundtrail_app", false),
        "after RESET ROLE the service is still only fundtrail_app"
    );
    for sql in [
        "SET session_replication_role = replica",
        "SET ROLE postgres",
        "ALTER TABLE ledger_entries DISABLE TRIGGER ALL",
        "DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries",
    ] {
        let err = exec(&mut conn, sql).unwrap_err();
        assert!(
            err.contains("permission denied") || err.contains("must be owner"),
            "{sql}: {err}"
        );
    }
}

#[actix_web::test]
async fn a_key_inserted_into_the_database_is_never_trusted() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let chain = chain_with(&app, 2).await;

    // A superuser adds their own key and re-signs the latest checkpoint with it.
    let attacker = note::SigningKey::generate("test.fundtrail").unwrap();
    let v = attacker.verifier();
    let mut su = trigger_free(&db);
    exec(
        &mut su,
        &format!(
            "INSERT INTO signing_keys (key_id, name, verifier_key) VALUES ('{:08x}', '{}', '{}')",
            v.key_id(),
            v.name(),
            v.to_verifier_string()
        ),
    )
    .unwrap();
    let (_, cp) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/checkpoint"))
    );
    let opened =
        note::open_note(cp["note"].as_str().unwrap(), &[state.ledger.verifier_key()]).unwrap();
    let resigned = attacker.sign_note(opened.text()).unwrap();
    exec(
        &mut su,
        &format!(
            "UPDATE checkpoints SET note = '{resigned}', key_id = '{:08x}' \
             WHERE chain_id = '{chain}' AND tree_size = 2",
            v.key_id()
        ),
    )
    .unwrap();

    // Published as untrusted; refused by verification, proofs, reports' pins and appends.
    let (_, keys) = call!(&app, TestRequest::get().uri("/api/v1/keys"));
    let listed = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["verifier_key"] == v.to_verifier_string())
        .cloned()
        .unwrap();
    assert_eq!(listed["trusted"], false, "{keys}");
    let (_, report) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/verify"))
    );
    assert_eq!(report["ok"], false, "{report}");
    let fresh = harness::app(harness::state(&db).await).await;
    let (status, body) = call!(
        &fresh,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/entries/1/proof?size=2"))
    );
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "ledger_integrity");
    let (status, body) = call!(&fresh, post_entry(&chain, "next", "1.00"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "ledger_integrity");
}

#[actix_web::test]
async fn a_restart_with_a_new_key_and_no_trusted_old_one_refuses_to_extend_the_chain() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let chain = chain_with(&app, 2).await;
    // The restarted service cannot even record its new key in the administrative chain,
    // whose head only the old key vouches for: it stops at start-up, saying why.
    let refused = harness::state_signed_by(
        &db,
        note::SigningKey::generate("test.fundtrail").unwrap(),
        Vec::new(),
    )
    .await
    .err()
    .expect("a start-up that trusts no key of the existing chains must fail");
    let message = refused.to_string();
    assert!(message.contains("not vouched for"), "{message}");
    assert!(message.contains("FUNDTRAIL_TRUSTED_KEYS"), "{message}");
    // Nothing was appended by the refused start.
    let (_, checkpoint) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/checkpoint"))
    );
    assert_eq!(checkpoint["tree_size"], 2);
}

#[actix_web::test]
async fn a_proof_over_a_deleted_entry_is_an_integrity_failure_naming_the_entry() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let chain = chain_with(&app, 8).await;
    let mut su = trigger_free(&db);
    // Entry 4: its leaf is on entry 5's inclusion path at size 8 (the lower Merkle levels
    // are derived from the entries' hashes, the upper ones stored).
    assert_eq!(
        exec(
            &mut su,
            &format!("DELETE FROM ledger_entries WHERE chain_id = '{chain}' AND seq = 4")
        ),
        Ok(1)
    );
    let fresh = harness::app(harness::state(&db).await).await;
    let (status, body) = call!(
        &fresh,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/entries/5/proof?size=8"))
    );
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "ledger_integrity", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("entry 5"),
        "{body}"
    );

    // An altered hash is caught too: the proof no longer reaches the signed root.
    assert_eq!(
        exec(
            &mut su,
            &format!(
                "UPDATE ledger_entries SET entry_hash = sha256(entry_hash) \
                 WHERE chain_id = '{chain}' AND seq = 2"
            )
        ),
        Ok(1)
    );
    let (status, body) = call!(
        &fresh,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/entries/3/proof?size=8"))
    );
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "ledger_integrity", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("entry 3"),
        "{body}"
    );
}

#[actix_web::test]
async fn a_consistency_proof_from_a_size_the_chain_lost_is_a_rollback() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let chain = chain_with(&app, 6).await;
    let (_, saved) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/checkpoint"))
    );
    assert_eq!(saved["tree_size"], 6);
    let saved_root =
        fundtrail::ledger::entry::parse_hex32(saved["root_hash"].as_str().unwrap()).unwrap();
    // A donor saved the checkpoint at 6; a superuser cuts the chain back to 4 (a
    // checkpoint boundary) and removes the later checkpoints.
    let mut su = trigger_free(&db);
    for sql in [
        format!("DELETE FROM ledger_entries WHERE chain_id = '{chain}' AND seq >= 4"),
        format!("DELETE FROM checkpoints WHERE chain_id = '{chain}' AND tree_size > 4"),
        format!(
            "UPDATE chain_heads SET size = 4, head_hash = (SELECT entry_hash FROM ledger_entries \
             WHERE chain_id = '{chain}' AND seq = 3) WHERE chain_id = '{chain}'"
        ),
    ] {
        exec(&mut su, &sql).unwrap();
    }
    let restarted = harness::state(&db).await;
    harness::act_as(&restarted, "admin");
    let fresh = harness::app(restarted).await;
    let (status, body) = call!(
        &fresh,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/consistency?from=6&to=4"))
    );
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "rollback_detected", "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains('4') && detail.contains('6'), "{body}");
    assert_eq!(body["status"], Value::from(409));

    // The cut is at a signed checkpoint, so the service extends it (a fork): only someone
    // who saw the lost checkpoint can tell, and the donor's consistency check does.
    for i in 0..3 {
        let (status, body) = call!(&fresh, post_entry(&chain, &format!("fork{i}"), "7.00"));
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, proof) = call!(
        &fresh,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/consistency?from=6&to=7"))
    );
    let (_, latest) = call!(
        &fresh,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/checkpoint"))
    );
    let hashes: Vec<[u8; 32]> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| fundtrail::ledger::entry::parse_hex32(h.as_str().unwrap()).unwrap())
        .collect();
    let new_root =
        fundtrail::ledger::entry::parse_hex32(latest["root_hash"].as_str().unwrap()).unwrap();
    assert!(
        fundtrail::ledger::merkle::verify_consistency(6, 7, &saved_root, &new_root, &hashes)
            .is_err(),
        "the forked history is not an extension of the one the donor saw"
    );
}

#[actix_web::test]
async fn a_rotation_endorsed_by_the_outgoing_key_carries_trust_from_the_root() {
    let db = TestDb::migrated();
    let first = harness::state(&db).await;
    harness::act_as(&first, "admin");
    let app = harness::app(first.clone()).await;
    let chain = chain_with(&app, 2).await;
    let root = harness::signing_key();

    // Two rotations, each endorsed by the outgoing key; only the first key is configured.
    let second_key = note::SigningKey::generate("test.fundtrail").unwrap();
    let second =
        harness::state_rotated(&db, second_key.clone(), vec![root.verifier()], Some(&root))
            .await
            .unwrap();
    let app = harness::app(second).await;
    let (status, body) = call!(&app, post_entry(&chain, "by-second", "1.00"));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let third_key = note::SigningKey::generate("test.fundtrail").unwrap();
    let third = harness::state_rotated(
        &db,
        third_key.clone(),
        vec![root.verifier()],
        Some(&second_key),
    )
    .await
    .unwrap();
    assert!(
        third.ledger.is_trusted(&second_key.verifier()),
        "the second key is trusted through the root's endorsement"
    );
    let app = harness::app(third.clone()).await;
    let (status, body) = call!(&app, post_entry(&chain, "by-third", "1.00"));
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A later process configured with the root alone trusts the whole line of keys.
    let fourth = harness::state_signed_by(
        &db,
        note::SigningKey::generate("test.fundtrail").unwrap(),
        vec![root.verifier()],
    )
    .await
    .unwrap();
    assert!(fourth.ledger.is_trusted(&third_key.verifier()));
    let app = harness::app(fourth.clone()).await;
    let (status, body) = call!(&app, post_entry(&chain, "by-fourth", "1.00"));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, report) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/verify"))
    );
    assert_eq!(report["ok"], true, "{report}");

    // An endorsement signed by a key nobody trusts, slipped into the administrative chain by
    // a superuser, endorses nothing.
    let attacker = note::SigningKey::generate("test.fundtrail").unwrap();
    let forged_key = note::SigningKey::generate("test.fundtrail").unwrap();
    let endorsement = attacker
        .sign_note(&fundtrail::ledger::integrity::endorsement_text(
            &forged_key.verifier(),
        ))
        .unwrap();
    let canonical = json!({"body": {"endorsement": endorsement,
        "verifier_key": forged_key.verifier().to_verifier_string()}})
    .to_string()
    .replace('\'', "''");
    let mut su = trigger_free(&db);
    exec(
        &mut su,
        &format!(
            "INSERT INTO ledger_entries (chain_id, seq, kind, business_date, recorded_at, \
             idempotency_key, canonical, prev_hash, entry_hash) \
             SELECT chain_id, seq + 1000, 'signing_key_added', business_date, recorded_at, \
                    'forged-key', '{canonical}', entry_hash, entry_hash \
             FROM ledger_entries WHERE chain_id = '00000000-0000-0000-0000-000000000000' \
             ORDER BY seq DESC LIMIT 1"
        ),
    )
    .unwrap();
    let fifth = harness::state_signed_by(&db, harness::signing_key(), vec![root.verifier()])
        .await
        .unwrap();
    assert!(
        !fifth.ledger.is_trusted(&forged_key.verifier()),
        "a forged endorsement extends no trust"
    );
    assert!(fifth.ledger.is_trusted(&third_key.verifier()));
}

/// A service that already answered a proof against a checkpoint (and remembers that
/// checkpoint's signature as checked) refuses the next proof once a superuser re-signs that
/// checkpoint with their own key, or changes its stored root under the same note.
#[actix_web::test]
async fn a_checkpoint_altered_after_a_proof_was_answered_is_refused_by_the_same_service() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let chain = chain_with(&app, 2).await;
    let uri = format!("/api/v1/chains/{chain}/entries/1/proof?size=2");
    for _ in 0..2 {
        let (status, body) = call!(&app, TestRequest::get().uri(&uri));
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, cp) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/checkpoint"))
    );
    let original = cp["note"].as_str().unwrap().to_owned();
    let mut su = trigger_free(&db);

    // The stored root changed under the note the service checked before.
    exec(
        &mut su,
        &format!(
            "UPDATE checkpoints SET root_hash = '\\x{}' WHERE chain_id = '{chain}' AND tree_size = 2",
            "11".repeat(32)
        ),
    )
    .unwrap();
    let (status, body) = call!(&app, TestRequest::get().uri(&uri));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "ledger_integrity");

    // The note re-signed by a key the service does not trust.
    let attacker = note::SigningKey::generate("test.fundtrail").unwrap();
    let opened = note::open_note(&original, &[state.ledger.verifier_key()]).unwrap();
    let resigned = attacker.sign_note(opened.text()).unwrap();
    exec(
        &mut su,
        &format!("UPDATE checkpoints SET note = '{resigned}' WHERE chain_id = '{chain}' AND tree_size = 2"),
    )
    .unwrap();
    let (status, body) = call!(&app, TestRequest::get().uri(&uri));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "ledger_integrity");
}

/// The rows typed entries derive (`fund_entries`, `invoices`, `contracts`, `flags`) name
/// only funds and organisations that exist, checked once per statement over all its rows:
/// a statement with one row naming a missing one writes nothing and fails as a foreign key
/// fails (SQLSTATE 23503, the constraint's name, `unknown_reference` for the API). Funds
/// and organisations are never deleted, by the service's login or by a superuser.
#[actix_web::test]
async fn derived_rows_name_only_funds_and_organisations_that_exist() {
    use diesel::result::{DatabaseErrorKind, Error};

    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let secretariat = harness::org(&db, "MDTF Secretariat", "fund_secretariat");
    let ministry = harness::org(&db, "Ministry of Health", "ministry");
    let vendor = harness::org(&db, "Acme Ltd", "vendor");
    let fund = harness::create_fund(&app, "Health Fund", secretariat).await;
    let missing = uuid::Uuid::new_v4();
    let invoice_entry = |seq: u32, ministry: uuid::Uuid, vendor: uuid::Uuid| {
        format!("('{fund}', {seq}, 'invoice', '2026-01-15', '{ministry}', '{vendor}')")
    };
    let fund_entries = "INSERT INTO fund_entries \
        (fund_id, seq, kind, business_date, ministry_org_id, vendor_org_id) VALUES";
    let invoices = "INSERT INTO invoices (fund_id, seq, contract_seq, ministry_org_id, \
        vendor_org_id, invoice_number, currency, amount) VALUES";
    let contracts = "INSERT INTO contracts (id, fund_id, seq, tender_seq, award_seq, \
        ministry_org_id, vendor_org_id, currency, original_value, value, starts_on, ends_on) VALUES";
    let mut conn = state.pool.get().unwrap();
    let refused = [
        (
            format!(
                "{fund_entries} {}, {}, {}",
                invoice_entry(1, ministry, vendor),
                invoice_entry(2, ministry, missing),
                invoice_entry(3, ministry, vendor)
            ),
            "fund_entries_vendor_org_id_fkey",
        ),
        (
            format!(
                "INSERT INTO fund_entries (fund_id, seq, kind, business_date, donor_org_id) \
                 VALUES ('{fund}', 4, 'contribution', '2026-01-15', '{missing}')"
            ),
            "fund_entries_donor_org_id_fkey",
        ),
        (
            format!(
                "{invoices} ('{missing}', 5, 1, '{ministry}', '{vendor}', 'INV-5', 'EUR', 10), \
                 ('{fund}', 6, 1, '{ministry}', '{vendor}', 'INV-6', 'EUR', 10)"
            ),
            "invoices_fund_id_fkey",
        ),
        (
            format!(
                "{contracts} ('{}', '{fund}', 7, 1, 2, '{missing}', '{vendor}', 'EUR', 10, 10, \
                 '2026-01-01', '2026-12-31')",
                uuid::Uuid::new_v4()
            ),
            "contracts_ministry_org_id_fkey",
        ),
    ];
    for (sql, constraint) in refused {
        let err = diesel::sql_query(&sql).execute(&mut **conn).unwrap_err();
        match &err {
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                assert_eq!(info.constraint_name(), Some(constraint), "{sql}");
                assert!(info.message().contains(constraint), "{}", info.message());
            }
            other => panic!("{sql}: {other:?}"),
        }
        assert_eq!(
            fundtrail::db::refusal(&err).map(|r| r.code),
            Some("unknown_reference")
        );
    }
    let count = |conn: &mut PgConnection, table: &str| {
        harness::number(conn, &format!("SELECT count(*) AS n FROM {table}"))
    };
    for table in ["fund_entries", "invoices", "contracts"] {
        assert_eq!(count(&mut conn, table), 0, "{table}: nothing half-written");
    }

    // Rows naming what exists are written; the service's login may not move one to another
    // fund or organisation, only change what later entries change.
    diesel::sql_query(format!(
        "{fund_entries} {}, {}",
        invoice_entry(1, ministry, vendor),
        invoice_entry(2, ministry, vendor)
    ))
    .execute(&mut **conn)
    .unwrap();
    for sql in [
        format!("UPDATE fund_entries SET ministry_org_id = '{missing}' WHERE seq = 2"),
        format!("UPDATE fund_entries SET fund_id = '{missing}' WHERE seq = 2"),
        format!("UPDATE invoices SET vendor_org_id = '{missing}'"),
        format!("UPDATE contracts SET ministry_org_id = '{missing}'"),
        format!("UPDATE flags SET vendor_org_id = '{missing}'"),
    ] {
        let err = diesel::sql_query(&sql).execute(&mut **conn).unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
    }
    diesel::sql_query("UPDATE fund_entries SET reversed_by = 9 WHERE seq = 2")
        .execute(&mut **conn)
        .unwrap();
    assert_eq!(count(&mut conn, "fund_entries"), 2);

    // Funds and organisations stay: the service's login may not delete them, and a
    // superuser is refused by the triggers.
    let mut su = db.superuser_conn();
    for sql in [
        format!("DELETE FROM organizations WHERE id = '{vendor}'"),
        format!("DELETE FROM funds WHERE id = '{fund}'"),
        "TRUNCATE organizations CASCADE".to_owned(),
        "TRUNCATE funds CASCADE".to_owned(),
    ] {
        let err = diesel::sql_query(&sql).execute(&mut **conn).unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
        let err = diesel::sql_query(&sql).execute(&mut su).unwrap_err();
        assert!(err.to_string().contains("never deleted"), "{sql}: {err}");
    }
    assert_eq!(
        count(&mut su, &format!("organizations WHERE id = '{vendor}'")),
        1
    );
}
