//! Screens fit for real data, on real releases (tests/fixtures/ocds/real): a fund in
//! hryvnias imports Prozorro's 2016–2017 processes. What an auditor checks: nothing is
//! screened against the euro-sized amount defaults, the publisher's history is not flagged
//! as backdated or off-hours because it was imported today, and both come back when the
//! fund's auditors record a conversion rate and ask for timing screens.

use std::path::PathBuf;

use actix_web::test::TestRequest;
use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use fundtrail::import::run::{import, ImportOptions};

use crate::harness::{self, org};

fn prozorro() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ocds/real/prozorro-ua.jsonl")
}

const AMOUNT_RULES: [&str; 4] = [
    "round-amount",
    "near-threshold",
    "split-purchase",
    "new-vendor-large",
];

fn flag_rules(db: &harness::TestDb, fund: Uuid) -> Vec<String> {
    use fundtrail::schema::flags::dsl as f;
    f::flags
        .filter(f::fund_id.eq(fund))
        .select(f::rule)
        .load(&mut db.superuser_conn())
        .unwrap()
}

#[actix_web::test]
async fn a_hryvnia_fund_screens_real_history_without_euro_amounts_or_timing_until_asked() {
    let (db, state, app) = harness::start().await;
    let secretariat = org(&db, "MDTF Secretariat", "fund_secretariat");
    let auditor = org(&db, "Supreme Audit Institution", "audit_body");
    let ministry = org(&db, "Ministry of Health", "ministry");
    let mut funds = Vec::new();
    for name in ["UA Fund", "UA Fund (converted)"] {
        harness::act_as(&state, "admin");
        let (status, fund) = call!(
            &app,
            TestRequest::post()
                .uri("/api/v1/admin/funds")
                .set_json(json!({"name": name, "currency": "UAH", "secretariat": secretariat}))
        );
        assert_eq!(status, actix_web::http::StatusCode::CREATED, "{fund}");
        let fund: Uuid = fund["id"].as_str().unwrap().parse().unwrap();
        harness::assign_auditor(&app, fund, auditor).await;
        funds.push(fund);
    }
    let (plain, converted) = (funds[0], funds[1]);
    // The second fund's auditors convert the defaults at 30 UAH per euro and ask for the
    // timing screens on imported entries.
    harness::act_as_member(&state, "auditor", auditor);
    let (status, body) = call!(
        &app,
        harness::entry(
            converted,
            "screening_config",
            "2026-02-02",
            json!({"settings": {"amount_scale": "30", "screen_imported_timing": true},
                   "reason": "NBU rate of 2026-02-02; a live feed"})
        )
    );
    assert_eq!(status, actix_web::http::StatusCode::CREATED, "{body}");

    for fund in [plain, converted] {
        let report = import(
            &state.ledger,
            &state.pool,
            &ImportOptions {
                ministry: Some(ministry.to_string()),
                ..ImportOptions::new(&fund.to_string(), vec![prozorro()])
            },
            None,
        )
        .await
        .unwrap();
        assert!(report.entries_appended > 0, "{report:#?}");
    }

    let plain_rules = flag_rules(&db, plain);
    assert!(
        !plain_rules.is_empty(),
        "the competition screens still run on the hryvnia fund"
    );
    for rule in AMOUNT_RULES.iter().chain(&["backdated", "off-hours"]) {
        assert!(
            !plain_rules.iter().any(|r| r == rule),
            "{rule} raised in a UAH fund without converted amounts or on imported history: {plain_rules:?}"
        );
    }
    // Every entry is years older than its import: the converted fund, which asked for
    // timing screens, flags them all as backdated.
    let converted_rules = flag_rules(&db, converted);
    assert!(
        converted_rules.iter().any(|r| r == "backdated"),
        "{converted_rules:?}"
    );
    for rule in &plain_rules {
        assert!(
            converted_rules.contains(rule),
            "{rule} raised in the plain fund only"
        );
    }
}
