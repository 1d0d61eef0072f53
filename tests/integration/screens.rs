//! Period screens end to end: an auditor runs them over a period through the API, the
//! flag carries its evidence, a re-run raises nothing new, the run is in the
//! administrative chain, and only the fund's auditors may run them.

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, TestDb};

macro_rules! call {
    ($app:expr, $req:expr) => {{
        let res = test::call_service($app, harness::authed($req).to_request()).await;
        let status = res.status();
        let bytes = test::read_body(res).await;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }};
}

macro_rules! ok {
    ($app:expr, $req:expr) => {{
        let (status, body) = call!($app, $req);
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["seq"].as_u64().unwrap()
    }};
}

fn org(db: &TestDb, name: &str, kind: &str) -> Uuid {
    let id = Uuid::new_v4();
    fundtrail::auth::store::insert_org(&mut db.superuser_conn(), id, name, kind).unwrap();
    id
}

fn eur(v: &str) -> Value {
    json!({"value": v, "currency": "EUR"})
}

fn post(fund: Uuid, kind: &str, body: Value) -> TestRequest {
    TestRequest::post()
        .uri(&format!("/api/v1/funds/{fund}/entries"))
        .insert_header(("idempotency-key", Uuid::new_v4().to_string()))
        .set_json(
            json!({"kind": kind, "business_date": chrono::Utc::now().date_naive(), "body": body}),
        )
}

fn urlencode(s: &str) -> String {
    s.replace('/', "%2F").replace(':', "%3A")
}

#[actix_web::test]
async fn vendor_concentration_is_flagged_once_by_the_auditors_period_screen() {
    let db = TestDb::migrated();
    let state = harness::state(&db).await;
    let app = harness::app(state.clone()).await;
    let secretariat = org(&db, "MDTF Secretariat", "fund_secretariat");
    let auditor = org(&db, "Supreme Audit Institution", "audit_body");
    let other_auditor = org(&db, "Other Auditors", "audit_body");
    let donor = org(&db, "Kingdom of Norway", "donor");
    let interior = org(&db, "Ministry of Interior", "ministry");
    let alpha = org(&db, "Alpha Uniforms", "vendor");
    let beta = org(&db, "Beta Vehicles", "vendor");

    harness::act_as(&state, "admin");
    let (status, fund) = call!(
        &app,
        TestRequest::post()
            .uri("/api/v1/admin/funds")
            .set_json(json!({"name": "SSR Fund", "currency": "EUR", "secretariat": secretariat}))
    );
    assert_eq!(status, StatusCode::CREATED, "{fund}");
    let fund: Uuid = fund["id"].as_str().unwrap().parse().unwrap();
    let (status, _) = call!(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/admin/funds/{fund}/auditors"))
            .set_json(json!({"organization": auditor}))
    );
    assert_eq!(status, StatusCode::NO_CONTENT);

    harness::act_as_member(&state, "treasurer", secretariat);
    ok!(
        &app,
        post(
            fund,
            "contribution",
            json!({"donor": donor, "amount": eur("500000.00"), "agreement": "A"})
        )
    );
    let alloc = ok!(
        &app,
        post(
            fund,
            "allocation",
            json!({"ministry": interior, "budget_line": "B", "category": "equipment",
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

    // Ten payments of the ministry, seven of them (7,000 of 10,000 EUR) to Alpha.
    harness::act_as_member(&state, "ministry", interior);
    let mut to_alpha = Vec::new();
    for i in 0..10 {
        let vendor = if i % 3 == 1 { beta } else { alpha };
        let seq = ok!(
            &app,
            post(
                fund,
                "payment",
                json!({"vendor": vendor, "ministry": interior, "amount": eur("1000.00")})
            )
        );
        if vendor == alpha {
            to_alpha.push(seq);
        }
    }
    assert_eq!(to_alpha.len(), 7);

    let today = chrono::Utc::now().date_naive();
    let period = json!({"from": today - chrono::Duration::days(30), "to": today});
    let screens = || {
        TestRequest::post()
            .uri(&format!("/api/v1/funds/{fund}/screens"))
            .set_json(period.clone())
    };

    // Only the fund's auditors run screens; an auditor not assigned does not see the fund.
    for (role, member) in [
        ("ministry", interior),
        ("donor", donor),
        ("treasurer", secretariat),
    ] {
        harness::act_as_member(&state, role, member);
        let (status, body) = call!(&app, screens());
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {body}");
    }
    harness::act_as_member(&state, "auditor", other_auditor);
    let (status, body) = call!(&app, screens());
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    harness::act_as_member(&state, "auditor", auditor);
    let (status, body) = call!(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/funds/{fund}/screens"))
            .set_json(json!({"from": today, "to": today - chrono::Duration::days(1)}))
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_period")),
        "{body}"
    );

    let (status, summary) = call!(&app, screens());
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["entries"], json!(10), "{summary}");
    assert_eq!(
        summary["rules"]["vendor-concentration"],
        json!({"raised": 1, "already_present": 0}),
        "{summary}"
    );
    assert_eq!(
        summary["rules"]["benford"],
        json!({"raised": 0, "already_present": 0}),
        "ten payments are far too few for Benford: {summary}"
    );

    let (status, page) = call!(
        &app,
        TestRequest::get().uri(&format!(
            "/api/v1/funds/{fund}/flags?rule=vendor-concentration"
        ))
    );
    assert_eq!(status, StatusCode::OK, "{page}");
    let flags = page["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 1, "{page}");
    let flag = &flags[0];
    assert_eq!(flag["evidence"], json!(to_alpha), "{flag}");
    assert_eq!(flag["seq"], json!(to_alpha.last().unwrap()), "{flag}");
    assert_eq!(flag["ministry"], json!(interior));
    assert_eq!(flag["vendor"], json!(alpha));
    assert_eq!(flag["severity"], "medium");
    assert_eq!(flag["status"], "open");
    assert!(flag["subject"]
        .as_str()
        .unwrap()
        .starts_with(&format!("ministry:{interior}/vendor:{alpha}/")));
    let message = flag["message"].as_str().unwrap();
    for part in [
        "Ministry of Interior paid Alpha Uniforms 70.0% of its payments",
        "7000.00 EUR of 10000.00 EUR (7 of its 10 payments)",
        &today.to_string(),
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }

    // A re-run over the same period finds the same flag and raises nothing.
    let (status, again) = call!(&app, screens());
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        again["rules"]["vendor-concentration"],
        json!({"raised": 0, "already_present": 1}),
        "{again}"
    );
    let (_, page) = call!(
        &app,
        TestRequest::get().uri(&format!(
            "/api/v1/funds/{fund}/flags?rule=vendor-concentration"
        ))
    );
    assert_eq!(page["flags"].as_array().unwrap().len(), 1, "{page}");

    // Another period is another subject: its own flag, on the same last entry.
    let (status, other) = call!(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/funds/{fund}/screens"))
            .set_json(json!({"from": today - chrono::Duration::days(29), "to": today}))
    );
    assert_eq!(status, StatusCode::OK, "{other}");
    assert_eq!(
        other["rules"]["vendor-concentration"],
        json!({"raised": 1, "already_present": 0}),
        "{other}"
    );
    // Pages of one flag each walk both flags of (seq, rule), by subject.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let (status, page) = call!(
            &app,
            TestRequest::get().uri(&format!(
                "/api/v1/funds/{fund}/flags?rule=vendor-concentration&limit=1{after}"
            ))
        );
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].clone()),
        );
        match page["next_after"].as_str() {
            Some(next) => after = format!("&after={}", urlencode(next)),
            None => break,
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_ne!(seen[0], seen[1]);

    // Triaged like any other flag.
    let id = flag["id"].as_str().unwrap();
    let (status, detail) = call!(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/flags/{id}/triage"))
            .set_json(json!({"action": "acknowledge"}))
    );
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["evidence_entries"].as_array().unwrap().len(), 7);

    // Both runs are in the administrative chain, with their counts.
    use fundtrail::schema::ledger_entries;
    let runs: Vec<String> = ledger_entries::table
        .filter(ledger_entries::kind.eq("period_screen_run"))
        .order(ledger_entries::seq.asc())
        .select(ledger_entries::canonical)
        .load(&mut db.superuser_conn())
        .unwrap();
    assert_eq!(runs.len(), 3, "{runs:?}");
    for run in &runs {
        assert!(run.contains(&fund.to_string()), "{run}");
        assert!(run.contains("vendor-concentration"), "{run}");
    }
}
