//! Funds: created by admins with their ledger chain, auditors assigned, and listed to
//! each caller within its scope only.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::{json, Value};

use crate::harness::{self, TestDb};

/// Acts as `role` of organisation `org`.
fn act(state: &actix_web::web::Data<fundtrail::state::AppState>, role: &str, org: uuid::Uuid) {
    harness::act_as_member(state, role, org);
}

#[actix_web::test]
async fn funds_are_created_with_their_chain_and_listed_within_scope() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    let app = harness::app(state.clone()).await;
    act(&state, "admin", uuid::Uuid::new_v4());
    let org = |name: &str, kind: &str| {
        TestRequest::post()
            .uri("/api/v1/admin/organizations")
            .set_json(json!({"name": name, "kind": kind}))
    };
    let (_, secretariat) = call!(&app, org("MDTF Secretariat", "fund_secretariat"));
    let (_, other_secretariat) = call!(&app, org("Other Secretariat", "fund_secretariat"));
    let (_, sai) = call!(&app, org("Supreme Audit Institution", "audit_body"));
    let (_, donor) = call!(&app, org("Kingdom of Norway", "donor"));

    let new_fund = |name: &str, currency: &str, sec: &Value| {
        TestRequest::post()
            .uri("/api/v1/admin/funds")
            .set_json(json!({"name": name, "currency": currency, "secretariat": sec["id"]}))
    };
    let (status, fund) = call!(
        &app,
        new_fund("Security Sector Reform MDTF", "EUR", &secretariat)
    );
    assert_eq!(status, StatusCode::CREATED, "{fund}");
    let fund_id = fund["id"].as_str().unwrap().to_owned();
    for (req, status_code, code) in [
        (
            new_fund("Security Sector Reform MDTF", "EUR", &secretariat),
            StatusCode::CONFLICT,
            "fund_exists",
        ),
        (
            new_fund("Second", "eur", &secretariat),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_currency",
        ),
        (
            new_fund("Third", "USD", &donor),
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_organization_kind",
        ),
    ] {
        let (status, body) = call!(&app, req);
        assert_eq!(
            (status, body["code"].clone()),
            (status_code, json!(code)),
            "{body}"
        );
    }
    let (_, other) = call!(&app, new_fund("Other fund", "USD", &other_secretariat));

    // The fund's chain exists, with a signed checkpoint of size 0.
    let (status, cp) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{fund_id}/checkpoint"))
    );
    assert_eq!(status, StatusCode::OK, "{cp}");
    assert_eq!(cp["tree_size"], 0);
    assert!(cp["note"]
        .as_str()
        .unwrap()
        .starts_with(&format!("test.fundtrail/{fund_id}\n0\n")));

    let assign = |org: &Value| {
        TestRequest::post()
            .uri(&format!("/api/v1/admin/funds/{fund_id}/auditors"))
            .set_json(json!({"organization": org["id"]}))
    };
    assert_eq!(call!(&app, assign(&sai)).0, StatusCode::NO_CONTENT);
    assert_eq!(
        call!(&app, assign(&sai)).1["code"],
        "auditor_already_assigned"
    );
    assert_eq!(
        call!(&app, assign(&donor)).1["code"],
        "wrong_organization_kind"
    );
    let (status, _) = call!(
        &app,
        TestRequest::post()
            .uri(&format!(
                "/api/v1/admin/funds/{}/auditors",
                uuid::Uuid::new_v4()
            ))
            .set_json(json!({"organization": sai["id"]}))
    );
    assert_eq!(status, StatusCode::NOT_FOUND);

    let org_id = |v: &Value| v["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap();
    let names = |body: &Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for (role, org, expected) in [
        (
            "admin",
            uuid::Uuid::new_v4(),
            vec!["Other fund", "Security Sector Reform MDTF"],
        ),
        (
            "treasurer",
            org_id(&secretariat),
            vec!["Security Sector Reform MDTF"],
        ),
        ("treasurer", org_id(&other_secretariat), vec!["Other fund"]),
        ("auditor", org_id(&sai), vec!["Security Sector Reform MDTF"]),
        ("auditor", uuid::Uuid::new_v4(), vec![]),
        ("donor", org_id(&donor), vec![]),
        ("ministry", uuid::Uuid::new_v4(), vec![]),
    ] {
        act(&state, role, org);
        let (status, body) = call!(&app, TestRequest::get().uri("/api/v1/funds"));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(names(&body), expected, "{role}");
    }
    let _ = other;

    // Only admins create funds or assign auditors.
    for role in ["treasurer", "ministry", "auditor", "donor"] {
        act(&state, role, org_id(&secretariat));
        assert_eq!(
            call!(&app, new_fund("Sneaky", "EUR", &secretariat)).0,
            StatusCode::FORBIDDEN,
            "{role}"
        );
        assert_eq!(call!(&app, assign(&sai)).0, StatusCode::FORBIDDEN, "{role}");
    }

    // The administrative chain recorded both funds and the assignment; the auditor reads
    // only what concerns the fund it audits.
    act(&state, "admin", org_id(&secretariat));
    let (_, page) = call!(
        &app,
        TestRequest::get().uri("/api/v1/chains/admin/entries?kind=fund_created")
    );
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    act(&state, "auditor", org_id(&sai));
    let (_, page) = call!(
        &app,
        TestRequest::get().uri("/api/v1/chains/admin/entries?kind=fund_created")
    );
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    let (_, page) = call!(
        &app,
        TestRequest::get().uri("/api/v1/chains/admin/entries?kind=auditor_assigned")
    );
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
}

/// A fund created with screening settings starts with them: its chain's first entry is the
/// `screening_config` that records them, and the fund screens with them. A refused setting
/// refuses the creation and leaves nothing: no fund, no chain, nothing in the
/// administrative chain. Only admins create funds, with or without settings.
#[actix_web::test]
async fn a_fund_created_with_screening_settings_starts_with_them_or_is_not_created() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    let app = harness::app(state.clone()).await;
    act(&state, "admin", uuid::Uuid::new_v4());
    let (_, secretariat) = call!(
        &app,
        TestRequest::post()
            .uri("/api/v1/admin/organizations")
            .set_json(json!({"name": "MDTF Secretariat", "kind": "fund_secretariat"}))
    );
    let secretariat: uuid::Uuid = secretariat["id"].as_str().unwrap().parse().unwrap();
    let new_fund = |name: &str, screening: Value| {
        TestRequest::post().uri("/api/v1/admin/funds").set_json(
            json!({"name": name, "currency": "MXN", "secretariat": secretariat,
                   "screening": screening}),
        )
    };
    let admin_size = |db: &TestDb| {
        use diesel::prelude::*;
        use fundtrail::schema::ledger_entries as le;
        le::table
            .filter(le::chain_id.eq(fundtrail::ledger::entry::ADMIN_CHAIN))
            .count()
            .get_result::<i64>(&mut db.superuser_conn())
            .unwrap()
    };
    let funds_stored = |db: &TestDb| {
        use diesel::prelude::*;
        use fundtrail::schema::funds;
        funds::table
            .count()
            .get_result::<i64>(&mut db.superuser_conn())
            .unwrap()
    };

    // Refused: nothing stored, whoever asks.
    let before = admin_size(&db);
    for (screening, status_code, code) in [
        (
            json!({"amount_scale": "20", "no_such_setting": 3}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_setting",
        ),
        (
            json!({"amount_scale": "-20"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_setting",
        ),
        (
            json!({"window_days": "many"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_setting",
        ),
        (
            json!({"amount_scale": 20.5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_entry",
        ),
    ] {
        let (status, body) = call!(&app, new_fund("Refused Fund", screening.clone()));
        assert_eq!(
            (status, body["code"].clone()),
            (status_code, json!(code)),
            "{screening}: {body}"
        );
    }
    for role in ["treasurer", "ministry", "auditor", "donor"] {
        act(&state, role, secretariat);
        let (status, body) = call!(
            &app,
            new_fund("Refused Fund", json!({"amount_scale": "20"}))
        );
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {body}");
    }
    assert_eq!(admin_size(&db), before);
    assert_eq!(funds_stored(&db), 0);

    // Created with its settings.
    act(&state, "admin", uuid::Uuid::new_v4());
    let (status, fund) = call!(
        &app,
        new_fund(
            "CDMX Fund",
            json!({"amount_scale": "20", "window_days": 45})
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{fund}");
    assert_eq!(fund["currency"], "MXN");
    let fund_id: uuid::Uuid = fund["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(funds_stored(&db), 1);
    act(&state, "treasurer", secretariat);
    let (status, page) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{fund_id}/entries"))
    );
    assert_eq!(status, StatusCode::OK, "{page}");
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{page}");
    let config = &entries[0]["entry"];
    assert_eq!(config["seq"], 0, "{config}");
    assert_eq!(config["kind"], "screening_config", "{config}");
    assert_eq!(
        config["body"]["settings"],
        json!({"amount_scale": "20", "window_days": 45}),
        "{config}"
    );
    // The fund screens with them: the euro-sized amounts converted at 20 MXN per euro.
    let thresholds = fundtrail::screening::store::thresholds(&mut db.superuser_conn(), fund_id)
        .unwrap()
        .unwrap();
    let eur = fundtrail::screening::rules::Thresholds::for_currency("EUR");
    assert_eq!(
        thresholds.amount_scale,
        Some(rust_decimal::Decimal::from(20))
    );
    assert_eq!(
        thresholds.direct_max,
        eur.direct_max * rust_decimal::Decimal::from(20)
    );
    assert_eq!(thresholds.window_days, 45);

    // Without settings: no entry, the currency's defaults.
    act(&state, "admin", uuid::Uuid::new_v4());
    let (status, plain) = call!(
        &app,
        TestRequest::post()
            .uri("/api/v1/admin/funds")
            .set_json(json!({"name": "Plain Fund", "currency": "MXN", "secretariat": secretariat}))
    );
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    let plain_id: uuid::Uuid = plain["id"].as_str().unwrap().parse().unwrap();
    assert!(
        fundtrail::screening::store::thresholds(&mut db.superuser_conn(), plain_id)
            .unwrap()
            .is_none()
    );
}

/// A fund and its first settings commit together: when the settings' entry is refused in
/// the transaction that creates the fund (here settings the route's own check would have
/// caught first), nothing of the fund is left: no fund row, no chain, no checkpoint, no
/// `fund_created`. With settings it accepts, the same call records both, and a retry
/// with the same `Idempotency-Key` records neither again.
#[actix_web::test]
async fn a_fund_and_its_first_settings_commit_together_or_not_at_all() {
    use diesel::prelude::*;
    use fundtrail::auth::guard::{AdminPrincipal, Principal, Role};
    use fundtrail::schema::{chains, checkpoints, funds, ledger_entries as le};
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    let app = harness::app(state.clone()).await;
    act(&state, "admin", uuid::Uuid::new_v4());
    let (_, secretariat) = call!(
        &app,
        TestRequest::post()
            .uri("/api/v1/admin/organizations")
            .set_json(json!({"name": "MDTF Secretariat", "kind": "fund_secretariat"}))
    );
    let secretariat: uuid::Uuid = secretariat["id"].as_str().unwrap().parse().unwrap();
    let admin = Principal {
        user: uuid::Uuid::new_v4(),
        org: uuid::Uuid::new_v4(),
        role: Role::Admin,
        token_id: uuid::Uuid::new_v4(),
    };
    let mxn = fundtrail::money::Currency::parse("MXN").unwrap();
    let stored = |db: &TestDb| {
        let mut conn = db.superuser_conn();
        (
            funds::table.count().get_result::<i64>(&mut conn).unwrap(),
            chains::table
                .filter(chains::kind.eq("fund"))
                .count()
                .get_result::<i64>(&mut conn)
                .unwrap(),
            checkpoints::table
                .count()
                .get_result::<i64>(&mut conn)
                .unwrap(),
            le::table
                .filter(le::chain_id.eq(fundtrail::ledger::entry::ADMIN_CHAIN))
                .count()
                .get_result::<i64>(&mut conn)
                .unwrap(),
        )
    };
    let create = |key: &str, settings: Value| {
        let req = TestRequest::default()
            .insert_header(("idempotency-key", key.to_owned()))
            .to_http_request();
        let then = fundtrail::app::funds::first_settings(
            state.ledger.clone(),
            mxn,
            Some(json!({"settings": settings, "reason": "set at the fund's creation"})),
            admin.ledger_principal(),
        );
        let admin = AdminPrincipal(admin.clone());
        let state = state.clone();
        async move {
            fundtrail::funds::http::create_fund(
                &admin,
                &state,
                &req,
                ("CDMX Fund".to_owned(), mxn, secretariat),
                then,
            )
            .await
        }
    };

    let before = stored(&db);
    for settings in [
        json!({"no_such_setting": 3}),
        json!({"amount_scale": "-20"}),
    ] {
        let refused = create("refused", settings.clone())
            .await
            .expect_err("refused settings");
        assert_eq!(
            actix_web::ResponseError::status_code(&refused),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{settings}: {refused}"
        );
        assert_eq!(
            stored(&db),
            before,
            "{settings}: something of the fund is left"
        );
    }

    let fund = create("accepted", json!({"amount_scale": "20"}))
        .await
        .unwrap();
    let after = stored(&db);
    assert_eq!(
        (after.0, after.1, after.3),
        (before.0 + 1, before.1 + 1, before.3 + 1)
    );
    let kinds = |db: &TestDb| {
        le::table
            .filter(le::chain_id.eq(fund.id))
            .select(le::kind)
            .order(le::seq)
            .load::<String>(&mut db.superuser_conn())
            .unwrap()
    };
    assert_eq!(kinds(&db), ["screening_config"]);
    let thresholds = fundtrail::screening::store::thresholds(&mut db.superuser_conn(), fund.id)
        .unwrap()
        .unwrap();
    assert_eq!(
        thresholds.amount_scale,
        Some(rust_decimal::Decimal::from(20))
    );
    // A retry: the same fund, nothing recorded again.
    let again = create("accepted", json!({"amount_scale": "20"}))
        .await
        .unwrap();
    assert_eq!(again.id, fund.id);
    assert_eq!(stored(&db), after);
    assert_eq!(kinds(&db), ["screening_config"]);
    // The fund's chain takes entries after the one written in the creation's
    // transaction: its writer finds a head it did not commit and goes on from it.
    let later = state
        .ledger
        .append_with(
            fund.id,
            vec![fundtrail::ledger::writer::AppendRequest {
                kind: "screening_config".to_owned(),
                business_date: state.ledger.now().date_naive(),
                idempotency_key: "later-settings".to_owned(),
                body: json!({"settings": {"window_days": 45}, "reason": "later"}),
                principal: admin.ledger_principal(),
            }],
            std::sync::Arc::new(fundtrail::entries::effect::FundEffect {
                ctx: fundtrail::funds::ctx::FundCtx {
                    fund: fund.id,
                    currency: mxn,
                },
                actor: None,
                screens: std::sync::Arc::new(fundtrail::screening::Screens),
                screen: true,
            }),
        )
        .await
        .unwrap();
    assert_eq!(later[0].entry.seq, 1);
    assert_eq!(kinds(&db), ["screening_config", "screening_config"]);
}
