//! The service and a real witness together: `serve`'s pusher sends each chain's latest
//! checkpoint to a `fundtrail witness` listening on a loopback port, records its
//! cosignatures and serves them with the checkpoint; a truncation, a fork after a cut and
//! a rewritten history are each refused by the witness that cosigned an earlier checkpoint.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use actix_web::web;
use diesel::RunQueryDsl;
use serde_json::json;

use fundtrail::ledger::cosignature::{verify_cosignatures, Cosigner, CosignerKey};
use fundtrail::witness::push::{self, WitnessEndpoint};
use fundtrail::witness::state::StateDir;
use fundtrail::witness::{LogConfig, Witness};

use crate::harness::{self, TestDb};

fn post_entry(chain: &str, key: &str) -> TestRequest {
    TestRequest::post()
        .uri(&format!("/api/v1/chains/{chain}/entries"))
        .insert_header(("idempotency-key", key))
        .set_json(json!({"kind": "payment", "business_date": "2026-01-15",
            "body": {"amount": {"value": "10.00", "currency": "EUR"}, "vendor": "Acme Ltd"}}))
}

/// A witness of `origins` serving on a loopback port; its URL, its key, and the handle
/// that stops it.
fn start_witness(
    origins: &[String],
    log_key: fundtrail::ledger::note::VerifierKey,
    dir: &std::path::Path,
) -> (String, CosignerKey, actix_web::dev::ServerHandle) {
    let cosigner = Cosigner::generate("witness.donor.example").unwrap();
    let key = cosigner.verifier();
    let logs = origins
        .iter()
        .map(|o| LogConfig {
            origin: o.clone(),
            keys: vec![log_key.clone()],
        })
        .collect();
    let witness =
        web::Data::new(Witness::new(cosigner, logs, StateDir::open(dir).unwrap()).unwrap());
    let server =
        actix_web::HttpServer::new(move || fundtrail::witness::http::build(witness.clone()))
            .workers(1)
            .bind("127.0.0.1:0")
            .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (url, key, handle)
}

#[actix_web::test]
async fn checkpoints_are_cosigned_by_the_witness_and_a_rollback_or_fork_is_refused() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    harness::act_as(&state, "admin");
    let app = harness::app(state.clone()).await;
    let (status, body) = call!(
        &app,
        TestRequest::post()
            .uri("/api/v1/chains")
            .set_json(json!({}))
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let chain = body["chain"]["id"].as_str().unwrap().to_owned();
    let origin = body["chain"]["origin"].as_str().unwrap().to_owned();
    for i in 0..3 {
        call!(&app, post_entry(&chain, &format!("a{i}")));
    }
    let dir = std::env::temp_dir().join(format!("ft-witnessing-{}", uuid::Uuid::new_v4()));
    let admin_origin = state
        .ledger
        .origin_for(fundtrail::ledger::entry::ADMIN_CHAIN);
    let (url, wkey, handle) = start_witness(
        &[origin.clone(), admin_origin],
        state.ledger.verifier_key(),
        &dir,
    );
    let witnesses = vec![WitnessEndpoint {
        url,
        key: wkey.clone(),
    }];

    // Cosigned and served: the checkpoint's note carries the witness's line.
    let (cosigned, failed) = push::push_all(&state.ledger, &witnesses).await;
    assert_eq!(
        (cosigned, failed),
        (2, 0),
        "the fund chain and the admin chain"
    );
    let (_, cp) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/checkpoint"))
    );
    assert_eq!(cp["tree_size"], 3);
    let note = cp["note"].as_str().unwrap();
    let vouched = verify_cosignatures(note, std::slice::from_ref(&wkey), 1).unwrap();
    assert_eq!(vouched.len(), 1, "{note}");
    // The log's own signature still verifies beside the cosignature.
    fundtrail::ledger::note::open_note(note, &[state.ledger.verifier_key()]).unwrap();
    // Nothing new: nothing pushed.
    assert_eq!(push::push_all(&state.ledger, &witnesses).await, (0, 0));

    // Growth is cosigned with a consistency proof from the witnessed size.
    let mut last_receipt = serde_json::Value::Null;
    for i in 0..2 {
        let (_, r) = call!(&app, post_entry(&chain, &format!("b{i}")));
        last_receipt = r;
    }
    assert_eq!(push::push_all(&state.ledger, &witnesses).await, (1, 0));
    receipts_need_the_witness(&state, &app, &chain, &last_receipt, &wkey).await;
    let (_, proof) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/entries/4/proof?size=5"))
    );
    let note = proof["checkpoint"]["note"].as_str().unwrap();
    assert_eq!(
        verify_cosignatures(note, std::slice::from_ref(&wkey), 1)
            .unwrap()
            .len(),
        1,
        "a proof's checkpoint carries the cosignature: {proof}"
    );

    // A superuser cuts the chain back to 3 (a checkpoint boundary), removing the later
    // checkpoints and their cosignatures: the witness holds 5 and refuses the truncation.
    let mut su = db.superuser_conn();
    for sql in [
        "SET session_replication_role = replica".to_owned(),
        format!("DELETE FROM checkpoint_cosignatures WHERE chain_id = '{chain}' AND tree_size > 3"),
        format!("DELETE FROM ledger_entries WHERE chain_id = '{chain}' AND seq >= 3"),
        format!("DELETE FROM checkpoints WHERE chain_id = '{chain}' AND tree_size > 3"),
        format!(
            "UPDATE chain_heads SET size = 3, head_hash = (SELECT entry_hash FROM ledger_entries \
             WHERE chain_id = '{chain}' AND seq = 2) WHERE chain_id = '{chain}'"
        ),
    ] {
        diesel::sql_query(&sql).execute(&mut su).unwrap();
    }
    let before = fundtrail::ledger::integrity::failures();
    let restarted = harness::state(&db).await;
    harness::act_as(&restarted, "admin");
    let app = harness::app(restarted.clone()).await;
    // Shown the truncated chain's checkpoint, the witness answers that it holds size 5.
    let (_, cp) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/checkpoint"))
    );
    assert_eq!(cp["tree_size"], 3);
    let shown = fundtrail::witness::client::add_checkpoint(
        &witnesses[0].url,
        3,
        &[],
        cp["note"].as_str().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        shown,
        fundtrail::witness::client::AddOutcome::Conflict { latest_size: 5 },
        "the witness holds a larger size than the chain now has: a rollback"
    );

    // A fork after the cut (a different entry at seq 3, signed by the service): refused.
    let (status, body) = call!(&app, post_entry(&chain, "fork"));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, failed) = push::push_all(&restarted.ledger, &witnesses).await;
    assert_eq!(failed, 1, "the fork is refused");
    assert!(
        fundtrail::ledger::integrity::failures() > before,
        "the refusal is counted for the alert"
    );
    // A rewritten history past the witnessed size: the proof from 5 does not verify.
    for i in 0..3 {
        let (status, body) = call!(&app, post_entry(&chain, &format!("rewrite{i}")));
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, failed) = push::push_all(&restarted.ledger, &witnesses).await;
    assert_eq!(failed, 1, "the rewritten history is refused");
    // So the rewritten chain's checkpoint carries no cosignature: a donor requiring the
    // witness refuses it.
    let (_, cp) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{chain}/checkpoint"))
    );
    assert_eq!(cp["tree_size"], 7);
    assert!(
        verify_cosignatures(cp["note"].as_str().unwrap(), std::slice::from_ref(&wkey), 1).is_err()
    );
    handle.stop(true).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn reports_are_pinned_to_checkpoints_the_required_witnesses_cosigned() {
    let (db, state, app) = harness::start().await;
    let (fund, secretariat, _) = harness::audited_fund(&db, &state, &app).await;
    let donor = harness::org(&db, "Kingdom of Norway", "donor");
    harness::act_as_member(&state, "treasurer", secretariat);
    let contribution = |agreement: &str| {
        harness::entry(
            fund,
            "contribution",
            "2026-02-02",
            json!({"donor": donor, "amount": harness::eur("1000.00"), "agreement": agreement}),
        )
    };
    let (status, body) = call!(&app, contribution("NOR-1"));
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let dir = std::env::temp_dir().join(format!("ft-witnessing-{}", uuid::Uuid::new_v4()));
    let (url, wkey, handle) = start_witness(
        &[
            state.ledger.origin_for(fund),
            state
                .ledger
                .origin_for(fundtrail::ledger::entry::ADMIN_CHAIN),
        ],
        state.ledger.verifier_key(),
        &dir,
    );
    state.ledger.require_witnesses(
        fundtrail::ledger::cosignature::WitnessPolicy::new(vec![wkey.clone()], 1).unwrap(),
    );
    let statement = format!("/api/v1/funds/{fund}/reports/statement");
    let (status, body) = call!(&app, TestRequest::get().uri(&statement));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["code"], "not_witnessed",
        "nothing is cosigned yet: {body}"
    );

    let witnesses = vec![WitnessEndpoint { url, key: wkey }];
    push::push_all(&state.ledger, &witnesses).await;
    let (status, body) = call!(&app, TestRequest::get().uri(&statement));
    assert_eq!(status, StatusCode::OK, "{body}");
    let witnessed = body["checkpoints"]["fund"]["tree_size"].as_u64().unwrap();

    // A later entry, not yet cosigned: the default pin stays on the witnessed checkpoint,
    // and asking for the newer one names what is missing.
    let (status, receipt) = call!(&app, contribution("NOR-2"));
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let newer = receipt["checkpoint"]["tree_size"].as_u64().unwrap();
    assert!(newer > witnessed);
    let (status, body) = call!(&app, TestRequest::get().uri(&statement));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checkpoints"]["fund"]["tree_size"], witnessed);
    let (status, body) = call!(
        &app,
        TestRequest::get().uri(&format!("{statement}?at_size={newer}"))
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "not_witnessed", "{body}");
    push::push_all(&state.ledger, &witnesses).await;
    let (status, body) = call!(&app, TestRequest::get().uri(&statement));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checkpoints"]["fund"]["tree_size"], newer);
    handle.stop(true).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A donor requiring the witness (`verify-receipt --witness-key`): the receipt of an
/// append, signed before the witness saw it, fails; the same receipt refreshed with the
/// cosigned checkpoint of its size (`GET …/proof?size=N`) holds.
async fn receipts_need_the_witness(
    state: &web::Data<fundtrail::state::AppState>,
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    chain: &str,
    receipt: &serde_json::Value,
    wkey: &CosignerKey,
) {
    let dir = std::env::temp_dir().join(format!("ft-receipt-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("log.keys");
    std::fs::write(&keys, state.ledger.verifier_key().to_verifier_string()).unwrap();
    let witness = dir.join("witness.keys");
    std::fs::write(&witness, wkey.to_verifier_string()).unwrap();
    let run = |receipt: &serde_json::Value| {
        let file = dir.join(format!("{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&file, receipt.to_string()).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fundtrail"))
            .args(["verify-receipt", "--receipt"])
            .arg(&file)
            .arg("--public-key")
            .arg(&keys)
            .arg("--witness-key")
            .arg(&witness)
            .output()
            .unwrap();
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out.status.code(), report)
    };
    let (code, report) = run(receipt);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["failure"]["field"], "checkpoint.note", "{report}");
    let seq = receipt["seq"].as_u64().unwrap();
    let size = receipt["checkpoint"]["tree_size"].as_u64().unwrap();
    let (_, proof) = call!(
        app,
        TestRequest::get().uri(&format!(
            "/api/v1/chains/{chain}/entries/{seq}/proof?size={size}"
        ))
    );
    let mut refreshed = receipt.clone();
    refreshed["checkpoint"] = proof["checkpoint"].clone();
    let (code, report) = run(&refreshed);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["ok"], true, "{report}");

    // `fundtrail verify` of an export, with the donor's saved checkpoint: it counts only
    // with the witness's cosignature.
    let res = actix_web::test::call_service(
        app,
        crate::harness::authed(TestRequest::get().uri(&format!("/api/v1/chains/{chain}/export")))
            .to_request(),
    )
    .await;
    let export = dir.join("export.jsonl");
    std::fs::write(&export, actix_web::test::read_body(res).await).unwrap();
    let verify = |note: &str| {
        let saved = dir.join(format!("{}.note", uuid::Uuid::new_v4()));
        std::fs::write(&saved, note).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fundtrail"))
            .args(["verify", "--export"])
            .arg(&export)
            .arg("--checkpoint")
            .arg(&saved)
            .arg("--public-key")
            .arg(&keys)
            .arg("--witness-key")
            .arg(&witness)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = verify(receipt["checkpoint"]["note"].as_str().unwrap());
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("not_witnessed"), "{out}");
    let (code, out) = verify(proof["checkpoint"]["note"].as_str().unwrap());
    assert_eq!(code, Some(0), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
