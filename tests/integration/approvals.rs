//! Two-person control: an auditor's approval policy holds entries above its thresholds
//! as requests that take effect only when another user of the deciding organisation
//! approves them; rejections, expiries and every refusal around them.

use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use actix_web::web::Data;
use chrono::{DateTime, Utc};
use fundtrail::state::AppState;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, eur, org, TestDb};

/// A EUR fund with a secretariat of two treasurers, two ministries of two officers each,
/// a donor, a vendor and an audit body, on a ledger whose clock the test moves.
struct World {
    state: Data<AppState>,
    clock: Arc<Mutex<DateTime<Utc>>>,
    fund: Uuid,
    secretariat: Uuid,
    auditor: Uuid,
    donor: Uuid,
    interior: Uuid,
    justice: Uuid,
    vendor: Uuid,
    treasurers: [Uuid; 2],
    officers: [Uuid; 2],
    _db: TestDb,
}

fn today() -> String {
    Utc::now().date_naive().to_string()
}

impl World {
    async fn new() -> (Self, app_service!()) {
        Self::at(Utc::now()).await
    }

    /// A world whose ledger clock starts at `now`.
    async fn at(now: DateTime<Utc>) -> (Self, app_service!()) {
        let db = TestDb::migrated();
        let clock = Arc::new(Mutex::new(now));
        let c = clock.clone();
        let ledger = Arc::new(fundtrail::ledger::Ledger::new(
            db.pool(),
            harness::signing_key(),
            "test.fundtrail",
            Arc::new(move || *c.lock().unwrap()),
        ));
        let documents = harness::temp_dir("approvals-docstore");
        let state = Data::new(
            AppState::new(
                db.pool(),
                harness::settings_with_documents(&documents, 1 << 20),
                ledger,
            )
            .unwrap(),
        );
        state.ledger.bootstrap().await.unwrap();
        let app = harness::app(state.clone()).await;
        let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
        let w = World {
            clock,
            fund,
            secretariat,
            auditor,
            donor: org(&db, "Kingdom of Norway", "donor"),
            interior: org(&db, "Ministry of Interior", "ministry"),
            justice: org(&db, "Ministry of Justice", "ministry"),
            vendor: org(&db, "Alpha Uniforms", "vendor"),
            treasurers: [Uuid::new_v4(), Uuid::new_v4()],
            officers: [Uuid::new_v4(), Uuid::new_v4()],
            state,
            _db: db,
        };
        (w, app)
    }

    /// Treasurer `n` of the secretariat, holding the approver grant.
    fn treasurer(&self, n: usize) {
        harness::act_as_approver(
            &self.state,
            "treasurer",
            self.secretariat,
            self.treasurers[n],
        );
    }

    /// Officer `n` of the Ministry of Interior, holding the approver grant.
    fn officer(&self, n: usize) {
        harness::act_as_approver(&self.state, "ministry", self.interior, self.officers[n]);
    }

    fn as_(&self, role: &str, org: Uuid) {
        harness::act_as_member(&self.state, role, org);
    }

    fn post(&self, kind: &str, body: Value) -> TestRequest {
        harness::entry(self.fund, kind, today(), body)
    }

    fn policy(&self, rules: Value, expiry_hours: u32) -> TestRequest {
        self.post(
            "approval_policy",
            json!({"rules": rules, "expiry_hours": expiry_hours, "reason": "Steering committee decision 4/2026"}),
        )
    }

    fn approve(&self, seq: u64) -> TestRequest {
        self.post("approval", json!({"entry": seq, "decision": "approved"}))
    }

    fn reject(&self, seq: u64, reason: &str) -> TestRequest {
        self.post(
            "approval",
            json!({"entry": seq, "decision": "rejected", "reason": reason}),
        )
    }

    fn requests(&self) -> TestRequest {
        TestRequest::get().uri(&format!("/api/v1/funds/{}/approval-requests", self.fund))
    }

    fn balances(&self) -> TestRequest {
        TestRequest::get().uri(&format!("/api/v1/funds/{}/balances", self.fund))
    }

    fn statement(&self, at_size: u64) -> TestRequest {
        TestRequest::get().uri(&format!(
            "/api/v1/funds/{}/reports/statement?at_size={at_size}",
            self.fund
        ))
    }

    fn later(&self, hours: i64) {
        let mut c = self.clock.lock().unwrap();
        *c += chrono::Duration::hours(hours);
    }

    /// The auditor records `rules`, the treasurer funds the fund and allocates 800.00 EUR
    /// to the Ministry of Interior; the allocation's seq.
    async fn funded<B: actix_web::body::MessageBody>(
        &self,
        app: &impl harness::App<B>,
        rules: Value,
        expiry_hours: u32,
    ) -> u64 {
        self.as_("auditor", self.auditor);
        ok!(app, self.policy(rules, expiry_hours));
        self.treasurer(0);
        ok!(
            app,
            self.post(
                "contribution",
                json!({"donor": self.donor, "amount": eur("1000.00"), "agreement": "A"})
            )
        );
        ok!(
            app,
            self.post(
                "allocation",
                json!({"ministry": self.interior, "budget_line": "B", "category": "c",
                       "amount": eur("800.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
            )
        )
    }

    /// The Ministry of Interior's contract of `value` EUR with the vendor, and an invoice
    /// of the same amount on it (officer 0 records them); the invoice's seq.
    async fn invoiced<B: actix_web::body::MessageBody>(
        &self,
        app: &impl harness::App<B>,
        value: &str,
    ) -> u64 {
        self.officer(0);
        let deadline = Utc::now().date_naive() + chrono::Duration::days(10);
        let t = ok!(
            app,
            self.post(
                "tender",
                json!({"ministry": self.interior, "title": "T", "category": "c", "method": "open",
                       "estimated_value": eur(value), "deadline": deadline.to_string()})
            )
        );
        ok!(app, harness::bid(self.fund, t, self.vendor, value));
        let a = ok!(app, harness::award(self.fund, t, self.vendor, value, 1));
        let c = ok!(
            app,
            self.post(
                "contract",
                json!({"award": a, "value": eur(value), "starts_on": "2026-01-01", "ends_on": "2026-12-31"})
            )
        );
        ok!(
            app,
            self.post(
                "invoice",
                json!({"contract": c, "vendor": self.vendor, "invoice_number": "INV-1", "amount": eur(value)})
            )
        )
    }

    fn rebuild_is_clean(&self) {
        let report = fundtrail::entries::rebuild::run(
            &mut self._db.superuser_conn(),
            false,
            &fundtrail::screening::Screens,
        )
        .unwrap();
        assert!(report.is_clean(), "{report:?}");
    }
}

fn seqs(list: &Value) -> Vec<u64> {
    list["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect()
}

#[actix_web::test]
async fn a_disbursement_above_the_threshold_takes_effect_only_when_another_treasurer_approves() {
    let (w, app) = World::new().await;
    let alloc = w
        .funded(
            &app,
            json!([{"kind": "disbursement", "above": eur("500.00")}]),
            72,
        )
        .await;
    // Below the threshold: at once.
    ok!(
        &app,
        w.post(
            "disbursement",
            json!({"allocation": alloc, "amount": eur("100.00")})
        )
    );
    // Above: recorded, provable, and held.
    let request = ok!(
        &app,
        w.post(
            "disbursement",
            json!({"allocation": alloc, "amount": eur("600.00")})
        )
    );
    let (_, proof) = call!(
        &app,
        TestRequest::get().uri(&format!(
            "/api/v1/chains/{}/entries/{request}/proof",
            w.fund
        ))
    );
    assert_eq!(
        proof["inclusion_proof"]["leaf_index"],
        json!(request),
        "{proof}"
    );
    let (_, b) = call!(&app, w.balances());
    assert_eq!(b["totals"]["disbursed"], "100.00", "{b}");
    assert_eq!(b["ministries"][0]["disbursed"], "100.00");

    // The other treasurer sees it waiting; the ministry (fund flows are not its to
    // decide) sees nothing; donors and admins are refused.
    w.treasurer(1);
    let (status, list) = call!(&app, w.requests());
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(seqs(&list), [request]);
    let r = &list["requests"][0];
    assert_eq!(
        (
            r["kind"].as_str(),
            r["approver_role"].as_str(),
            r["amount_fund"]["value"].as_str()
        ),
        (Some("disbursement"), Some("treasurer"), Some("600.00"))
    );
    assert_eq!(r["maker"], w.treasurers[0].to_string());
    assert_eq!(r["expired"], false);
    w.officer(1);
    let (_, list) = call!(&app, w.requests());
    assert_eq!(seqs(&list), Vec::<u64>::new());
    for role in ["donor", "admin"] {
        w.as_(
            role,
            if role == "donor" {
                w.donor
            } else {
                Uuid::new_v4()
            },
        );
        refused!(&app, w.requests(), StatusCode::FORBIDDEN, "forbidden");
    }
    // A treasurer of another secretariat does not see the fund at all.
    w.as_("treasurer", Uuid::new_v4());
    refused!(&app, w.requests(), StatusCode::NOT_FOUND, "not_found");
    w.as_("auditor", w.auditor);
    let (_, list) = call!(&app, w.requests());
    assert_eq!(seqs(&list), [request]);
    // Auditors and ministries do not decide a disbursement; the maker never does.
    refused!(&app, w.approve(request), StatusCode::FORBIDDEN, "forbidden");
    w.officer(0);
    refused!(
        &app,
        w.approve(request),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_permitted"
    );
    w.treasurer(0);
    refused!(
        &app,
        w.approve(request),
        StatusCode::UNPROCESSABLE_ENTITY,
        "self_approval_refused"
    );
    // A request is not reversed: it is decided.
    refused!(
        &app,
        w.post("reversal", json!({"entry": request, "reason": "r"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "reversal_blocked"
    );
    w.as_("auditor", w.auditor);
    let (_, before) = call!(&app, w.statement(request + 1));
    assert_eq!(before["uses"]["total"]["disbursed"]["cumulative"], "100.00");

    w.treasurer(1);
    let approval = ok!(&app, w.approve(request));
    let (_, b) = call!(&app, w.balances());
    assert_eq!(b["totals"]["disbursed"], "700.00", "{b}");
    let (_, list) = call!(&app, w.requests());
    assert_eq!(seqs(&list), Vec::<u64>::new());
    refused!(
        &app,
        w.approve(request),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_pending"
    );
    // Reports pinned below the approval never count it; from the approval on they do.
    w.as_("auditor", w.auditor);
    let (_, still) = call!(&app, w.statement(approval));
    assert_eq!(still["uses"]["total"]["disbursed"]["cumulative"], "100.00");
    let (_, after) = call!(&app, w.statement(approval + 1));
    assert_eq!(
        after["uses"]["total"]["disbursed"]["cumulative"], "700.00",
        "{after}"
    );
    // Exports follow: the request carries no amount, the approval is the disbursement.
    let export = |what: &str| format!("/api/v1/funds/{}/exports/{what}", w.fund);
    let (status, _, csv) = harness::fetch(&app, &export("entries.csv")).await;
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert!(csv.contains("approval_request"), "{csv}");
    let (status, _, xml) = harness::fetch(&app, &export("iati.xml")).await;
    let xml = String::from_utf8(xml).unwrap();
    assert_eq!(status, StatusCode::OK, "{xml}");
    assert!(xml.contains(">600.00<"), "{xml}");
    // The approved disbursement is reversed where it took effect.
    w.treasurer(0);
    ok!(
        &app,
        w.post(
            "reversal",
            json!({"entry": approval, "reason": "wrong tranche"})
        )
    );
    let (_, b) = call!(&app, w.balances());
    assert_eq!(b["totals"]["disbursed"], "100.00", "{b}");
    w.rebuild_is_clean();
}

#[actix_web::test]
async fn an_approval_after_the_allocation_was_spent_is_refused() {
    let (w, app) = World::new().await;
    let alloc = w
        .funded(
            &app,
            json!([{"kind": "disbursement", "above": eur("500.00")}]),
            72,
        )
        .await;
    // Checked at request: more than the allocation is refused outright.
    refused!(
        &app,
        w.post(
            "disbursement",
            json!({"allocation": alloc, "amount": eur("900.00")})
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "allocation_exceeded"
    );
    let request = ok!(
        &app,
        w.post(
            "disbursement",
            json!({"allocation": alloc, "amount": eur("600.00")})
        )
    );
    // Meanwhile 300.00 of the 800.00 go out at once (below the threshold).
    ok!(
        &app,
        w.post(
            "disbursement",
            json!({"allocation": alloc, "amount": eur("300.00")})
        )
    );
    // Checked again at approval: 600.00 no longer fit.
    w.treasurer(1);
    refused!(
        &app,
        w.approve(request),
        StatusCode::UNPROCESSABLE_ENTITY,
        "allocation_exceeded"
    );
    let (_, b) = call!(&app, w.balances());
    assert_eq!(b["totals"]["disbursed"], "300.00", "{b}");
    // Still pending: it can be rejected.
    ok!(
        &app,
        w.reject(request, "Allocation used by the March tranche")
    );
    w.rebuild_is_clean();
}

#[actix_web::test]
async fn a_ministry_payment_above_its_threshold_is_decided_by_another_officer_of_that_ministry() {
    let (w, app) = World::new().await;
    // Payments over 1,000.00; the Ministry of Interior's over 50.00.
    w.funded(
        &app,
        json!([{"kind": "payment", "above": eur("1000.00")},
               {"kind": "payment", "above": eur("50.00"), "ministry": w.interior}]),
        72,
    )
    .await;
    // The Ministry of Justice sees the fund too (it has an allocation).
    ok!(
        &app,
        w.post(
            "allocation",
            json!({"ministry": w.justice, "budget_line": "B", "category": "c",
                   "amount": eur("100.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
        )
    );
    let invoice = w.invoiced(&app, "200.00").await;
    let request = ok!(
        &app,
        w.post(
            "payment",
            json!({"invoice": invoice, "amount": eur("80.00")})
        )
    );
    let paid = |b: &Value| {
        b["ministries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["ministry"]["id"] == json!(w.interior))
            .unwrap()["paid"]
            .clone()
    };
    let (_, b) = call!(&app, w.balances());
    assert_eq!(paid(&b), "0.00", "{b}");

    // Another ministry cannot see it; the treasurer does not decide procurement.
    w.as_("ministry", w.justice);
    let (_, list) = call!(&app, w.requests());
    assert_eq!(seqs(&list), Vec::<u64>::new());
    w.treasurer(0);
    refused!(
        &app,
        w.approve(request),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_permitted"
    );
    let (_, list) = call!(&app, w.requests());
    assert_eq!(
        seqs(&list),
        Vec::<u64>::new(),
        "procurement is the ministry's"
    );
    w.officer(1);
    let (_, list) = call!(&app, w.requests());
    assert_eq!(seqs(&list), [request]);
    assert_eq!(
        list["requests"][0]["ministry"]["id"],
        w.interior.to_string()
    );
    // A rejection states its reason.
    refused!(
        &app,
        w.post(
            "approval",
            json!({"entry": request, "decision": "rejected"})
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body"
    );
    w.officer(0);
    refused!(
        &app,
        w.reject(request, "mine"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "self_approval_refused"
    );
    w.officer(1);
    let rejection = ok!(&app, w.reject(request, "No delivery note"));
    refused!(
        &app,
        w.approve(request),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_pending"
    );
    let (_, b) = call!(&app, w.balances());
    assert_eq!(paid(&b), "0.00", "a rejected payment never counts");
    let (_, entries) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{}/entries?kind=approval", w.fund))
    );
    let recorded = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["seq"] == json!(rejection))
        .unwrap()
        .clone();
    assert_eq!(
        recorded["entry"]["body"]["reason"], "No delivery note",
        "{recorded}"
    );

    // Paid again and approved: now it counts, and the payment screens see it.
    w.officer(0);
    let again = ok!(
        &app,
        w.post(
            "payment",
            json!({"invoice": invoice, "amount": eur("80.00")})
        )
    );
    w.officer(1);
    ok!(&app, w.approve(again));
    let (_, b) = call!(&app, w.balances());
    assert_eq!(paid(&b), "80.00", "{b}");
    // Below the ministry's threshold: at once.
    w.officer(0);
    ok!(
        &app,
        w.post(
            "payment",
            json!({"invoice": invoice, "amount": eur("40.00")})
        )
    );
    let (_, b) = call!(&app, w.balances());
    assert_eq!(paid(&b), "120.00", "{b}");

    // Screens see a request only once approved, at the approval's seq: a direct purchase
    // (no contract behind it) is flagged then, not before.
    let direct = ok!(
        &app,
        w.post(
            "payment",
            json!({"vendor": w.vendor, "ministry": w.interior, "category": "c", "amount": eur("90.00")})
        )
    );
    w.as_("auditor", w.auditor);
    assert_eq!(
        harness::flags(&app, w.fund, "payment-without-contract").await,
        Vec::<Value>::new()
    );
    w.officer(1);
    let effective = ok!(&app, w.approve(direct));
    w.as_("auditor", w.auditor);
    let flagged = harness::flags(&app, w.fund, "payment-without-contract").await;
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert_eq!(flagged[0]["evidence"], json!([effective]), "{flagged:?}");

    // A contract above its threshold: references go to the approval, where it took effect.
    w.as_("auditor", w.auditor);
    ok!(
        &app,
        w.policy(
            json!([{"kind": "contract", "above": eur("150.00")},
                   {"kind": "payment", "above": eur("50.00"), "ministry": w.interior}]),
            72
        )
    );
    w.officer(0);
    let deadline = Utc::now().date_naive() + chrono::Duration::days(10);
    let t = ok!(
        &app,
        w.post(
            "tender",
            json!({"ministry": w.interior, "title": "T2", "category": "c", "method": "open",
                   "estimated_value": eur("300.00"), "deadline": deadline.to_string()})
        )
    );
    ok!(&app, harness::bid(w.fund, t, w.vendor, "300.00"));
    let a = ok!(&app, harness::award(w.fund, t, w.vendor, "300.00", 1));
    let (status, held) = call!(
        &app,
        w.post(
            "contract",
            json!({"award": a, "value": eur("300.00"), "starts_on": "2026-01-01", "ends_on": "2026-12-31"})
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{held}");
    assert!(held.get("contract_id").is_none(), "no contract yet: {held}");
    let contract_request = held["seq"].as_u64().unwrap();
    let invoice_on = |contract: u64| {
        w.post(
            "invoice",
            json!({"contract": contract, "vendor": w.vendor, "invoice_number": "INV-2", "amount": eur("40.00")}),
        )
    };
    refused!(
        &app,
        invoice_on(contract_request),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_reference"
    );
    w.officer(1);
    let (status, approved) = call!(&app, w.approve(contract_request));
    assert_eq!(status, StatusCode::CREATED, "{approved}");
    let contract = approved["seq"].as_u64().unwrap();
    let contract_id = approved["contract_id"].as_str().unwrap().to_owned();
    let (status, history) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/contracts/{contract_id}"))
    );
    assert_eq!(status, StatusCode::OK, "{history}");
    w.officer(0);
    ok!(&app, invoice_on(contract));
    w.as_("auditor", w.auditor);
    let (status, _, ocds) =
        harness::fetch(&app, &format!("/api/v1/funds/{}/exports/ocds.json", w.fund)).await;
    let ocds = String::from_utf8(ocds).unwrap();
    assert_eq!(status, StatusCode::OK, "{ocds}");
    assert!(ocds.contains("INV-2") || ocds.contains("300.0"), "{ocds}");
    w.rebuild_is_clean();
}

#[actix_web::test]
async fn an_expired_request_is_never_approved_and_the_sweep_records_its_expiry() {
    let (w, app) = World::new().await;
    let alloc = w
        .funded(
            &app,
            json!([{"kind": "disbursement", "above": eur("500.00")}]),
            1,
        )
        .await;
    let request = ok!(
        &app,
        w.post(
            "disbursement",
            json!({"allocation": alloc, "amount": eur("600.00")})
        )
    );
    let screens: Arc<dyn fundtrail::entries::effect::Screens> =
        Arc::new(fundtrail::screening::Screens);
    let ctx = fundtrail::funds::ctx::FundCtx {
        fund: w.fund,
        currency: fundtrail::money::Currency::parse("EUR").unwrap(),
    };
    let sweep = || {
        fundtrail::entries::approvals::expire_due(
            &w.state.ledger,
            &w.state.pool,
            ctx,
            screens.clone(),
        )
    };
    // Not yet due: the sweep records nothing.
    assert_eq!(sweep().await.unwrap(), Vec::<u64>::new());
    w.later(2);
    w.treasurer(1);
    let (_, list) = call!(&app, w.requests());
    assert_eq!(list["requests"][0]["expired"], true, "{list}");
    refused!(
        &app,
        w.approve(request),
        StatusCode::UNPROCESSABLE_ENTITY,
        "request_expired"
    );
    // Nobody posts an expiry through the API.
    refused!(
        &app,
        w.post("approval_expired", json!({"entry": request})),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
    assert_eq!(sweep().await.unwrap(), [request]);
    assert_eq!(sweep().await.unwrap(), Vec::<u64>::new(), "swept once");
    let (_, list) = call!(&app, w.requests());
    assert_eq!(seqs(&list), Vec::<u64>::new());
    refused!(
        &app,
        w.approve(request),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_pending"
    );
    let (_, b) = call!(&app, w.balances());
    assert_eq!(b["totals"]["disbursed"], "0.00", "{b}");
    w.rebuild_is_clean();
}

#[actix_web::test]
async fn the_approval_policy_is_the_auditors_and_in_the_funds_currency() {
    let (w, app) = World::new().await;
    let rules = json!([{"kind": "disbursement", "above": eur("500.00")}]);
    w.treasurer(0);
    ok!(
        &app,
        w.post(
            "contribution",
            json!({"donor": w.donor, "amount": eur("1000.00"), "agreement": "A"})
        )
    );
    let alloc = ok!(
        &app,
        w.post(
            "allocation",
            json!({"ministry": w.interior, "budget_line": "B", "category": "c",
                   "amount": eur("800.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
        )
    );
    for (role, org) in [
        ("treasurer", w.secretariat),
        ("ministry", w.interior),
        ("donor", w.donor),
    ] {
        w.as_(role, org);
        refused!(
            &app,
            w.policy(rules.clone(), 24),
            StatusCode::FORBIDDEN,
            "forbidden"
        );
    }
    w.as_("auditor", w.auditor);
    refused!(
        &app,
        w.policy(
            json!([{"kind": "payment", "above": {"value": "10.00", "currency": "USD"}}]),
            24
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "currency_mismatch"
    );
    refused!(
        &app,
        w.policy(
            json!([{"kind": "payment", "above": eur("10.00"), "ministry": w.vendor}]),
            24
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong_organization_kind"
    );
    refused!(
        &app,
        w.policy(json!([{"kind": "expenditure", "above": eur("10.00")}]), 24),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body"
    );
    let first = ok!(&app, w.policy(rules, 24));
    w.treasurer(0);
    refused!(
        &app,
        w.post("reversal", json!({"entry": first, "reason": "r"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_permitted"
    );
    // An empty policy lifts two-person control; a rejection needs a request.
    w.as_("auditor", w.auditor);
    ok!(&app, w.policy(json!([]), 24));
    w.treasurer(0);
    let d = ok!(
        &app,
        w.post(
            "disbursement",
            json!({"allocation": alloc, "amount": eur("600.00")})
        )
    );
    w.treasurer(1);
    refused!(
        &app,
        w.reject(d, "late"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_pending"
    );
    let (_, b) = call!(&app, w.balances());
    assert_eq!(b["totals"]["disbursed"], "600.00", "{b}");
}

/// `fundtrail approvals expire --fund F`, as its own process on the real clock: requests
/// recorded three hours ago under a one-hour expiry are recorded as expired, once.
#[actix_web::test]
async fn the_expire_command_records_what_ran_out() {
    let (w, app) = World::at(Utc::now() - chrono::Duration::hours(3)).await;
    let alloc = w
        .funded(
            &app,
            json!([{"kind": "disbursement", "above": eur("500.00")}]),
            1,
        )
        .await;
    let request = ok!(
        &app,
        w.post(
            "disbursement",
            json!({"allocation": alloc, "amount": eur("600.00")})
        )
    );
    let dir = harness::temp_dir("approvals-expire");
    let fund = w.fund.to_string();
    let args = ["approvals", "expire", "--fund", fund.as_str()];
    let out = harness::fundtrail_ok(&w._db, &dir, &args);
    let expired: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(expired, json!([{"fund": fund, "requests": [request]}]));
    let out = harness::fundtrail_ok(&w._db, &dir, &args);
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again, json!([{"fund": fund, "requests": []}]));
    w.treasurer(1);
    let (_, list) = call!(&app, w.requests());
    assert_eq!(seqs(&list), Vec::<u64>::new());
    w.rebuild_is_clean();
}

/// `serve`'s expiry sweep records what ran out on its first round, with no command run.
#[actix_web::test]
async fn the_sweep_inside_serve_records_what_ran_out() {
    let (w, app) = World::new().await;
    let alloc = w
        .funded(
            &app,
            json!([{"kind": "disbursement", "above": eur("500.00")}]),
            1,
        )
        .await;
    let request = ok!(
        &app,
        w.post(
            "disbursement",
            json!({"allocation": alloc, "amount": eur("600.00")})
        )
    );
    w.later(2);
    fundtrail::startup::spawn_expiry_sweep(
        w.state.pool.clone(),
        w.state.ledger.clone(),
        std::time::Duration::from_secs(3600),
    );
    w.treasurer(1);
    let mut pending = vec![request];
    for _ in 0..100 {
        let (_, list) = call!(&app, w.requests());
        pending = seqs(&list);
        if pending.is_empty() {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(pending, Vec::<u64>::new(), "still pending after 20 s");
    refused!(
        &app,
        w.approve(request),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_pending"
    );
    let (_, b) = call!(&app, w.balances());
    assert_eq!(b["totals"]["disbursed"], "0.00", "{b}");
    w.rebuild_is_clean();
}

/// A small PDF whose bytes differ by `tag`.
fn pdf(tag: &str) -> Vec<u8> {
    format!("%PDF-1.4\n1 0 obj\n<< /Title ({tag}) >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
        .into_bytes()
}

fn upload(fund: Uuid, seq: u64, tag: &str) -> TestRequest {
    TestRequest::post()
        .uri(&format!("/api/v1/funds/{fund}/entries/{seq}/evidence"))
        .insert_header(("idempotency-key", Uuid::new_v4().to_string()))
        .insert_header(("content-type", "application/pdf"))
        .set_payload(pdf(tag))
}

/// The seqs a rule's flags are about (each flag's `seq`), ascending.
async fn flagged<B: actix_web::body::MessageBody>(
    app: &impl harness::App<B>,
    fund: Uuid,
    rule: &str,
) -> Vec<u64> {
    let mut out: Vec<u64> = harness::flags(app, fund, rule)
        .await
        .iter()
        .map(|f| f["seq"].as_u64().unwrap())
        .collect();
    out.sort_unstable();
    out
}

/// The period screens judge payments against the approval policy in force and the
/// documents on file. History recorded before the policy: a payment above its threshold
/// that no second officer approved is `approval-missing` (one its maker approved is
/// `self-approval` as well), one a colleague approved is not. Under the policy, a payment
/// held and approved by another officer is not, and its document may be on the request.
/// A payment of at least `invoice_document_min` with no document on itself, its request
/// or its invoice is `invoice-document-missing`; one dated inside the grace window is not
/// judged yet. A second run raises nothing new.
#[actix_web::test]
async fn payments_without_their_approval_or_invoice_document_are_flagged_by_the_period_screens() {
    let (w, app) = World::new().await;
    let ago = |days: i64| (Utc::now().date_naive() - chrono::Duration::days(days)).to_string();
    let on = |days: i64, kind: &str, body: Value| harness::entry(w.fund, kind, ago(days), body);
    w.as_("auditor", w.auditor);
    ok!(
        &app,
        w.post(
            "screening_config",
            json!({"settings": {"invoice_document_min": "200.00"}, "reason": "Small fund"})
        )
    );
    w.treasurer(0);
    ok!(
        &app,
        w.post(
            "contribution",
            json!({"donor": w.donor, "amount": eur("5000.00"), "agreement": "A"})
        )
    );
    let alloc = ok!(
        &app,
        w.post(
            "allocation",
            json!({"ministry": w.interior, "budget_line": "B", "category": "c",
                   "amount": eur("4000.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
        )
    );
    ok!(
        &app,
        w.post(
            "disbursement",
            json!({"allocation": alloc, "amount": eur("3000.00")})
        )
    );
    // Before any policy: an invoice paid (600.00) and approved by a colleague, with the
    // invoice on file; a direct purchase (400.00) its maker approved, with no document.
    let invoice = w.invoiced(&app, "600.00").await;
    ok!(&app, upload(w.fund, invoice, "INV-1"));
    let colleague = ok!(
        &app,
        on(
            40,
            "payment",
            json!({"invoice": invoice, "amount": eur("600.00")})
        )
    );
    let direct = |amount: &str| json!({"vendor": w.vendor, "ministry": w.interior, "category": "c", "amount": eur(amount)});
    let alone = ok!(&app, on(40, "payment", direct("400.00")));
    let self_approval = ok!(&app, w.approve(alone));
    w.officer(1);
    ok!(&app, w.approve(colleague));

    // The policy: payments above 300.00 need a second officer.
    w.as_("auditor", w.auditor);
    ok!(
        &app,
        w.policy(json!([{"kind": "payment", "above": eur("300.00")}]), 72)
    );
    // Under it: held, documented on the request, approved by the other officer.
    w.officer(0);
    let request = ok!(&app, on(30, "payment", direct("500.00")));
    ok!(&app, upload(w.fund, request, "delivery"));
    // Its maker's own approval is refused, not flagged.
    refused!(
        &app,
        w.approve(request),
        StatusCode::UNPROCESSABLE_ENTITY,
        "self_approval_refused"
    );
    w.officer(1);
    let approved = ok!(&app, w.approve(request));
    // Below the policy's threshold, above the document minimum, dated today: in its grace
    // window, not judged yet.
    w.officer(0);
    let recent = ok!(&app, w.post("payment", direct("250.00")));

    w.as_("auditor", w.auditor);
    let today = Utc::now().date_naive();
    let run = || {
        TestRequest::post()
            .uri(&format!("/api/v1/funds/{}/screens", w.fund))
            .set_json(json!({"from": today - chrono::Duration::days(60), "to": today}))
    };
    let (status, summary) = call!(&app, run());
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(
        summary["rules"]["approval-missing"],
        json!({"raised": 1, "already_present": 0}),
        "{summary}"
    );
    assert_eq!(
        summary["rules"]["invoice-document-missing"],
        json!({"raised": 1, "already_present": 0}),
        "{summary}"
    );
    assert_eq!(flagged(&app, w.fund, "approval-missing").await, [alone]);
    assert_eq!(
        flagged(&app, w.fund, "invoice-document-missing").await,
        [alone]
    );
    assert_eq!(
        flagged(&app, w.fund, "self-approval").await,
        [self_approval]
    );
    let flag = &harness::flags(&app, w.fund, "approval-missing").await[0];
    assert_eq!(flag["severity"], "high", "{flag}");
    assert_eq!(flag["subject"], format!("entry:{alone}"), "{flag}");
    assert!(
        flag["message"]
            .as_str()
            .unwrap()
            .contains("above 300.00 EUR"),
        "{flag}"
    );
    let flag = &harness::flags(&app, w.fund, "invoice-document-missing").await[0];
    assert_eq!(flag["severity"], "medium", "{flag}");
    assert_eq!(flag["evidence"], json!([alone]), "{flag}");
    // Neither the colleague's, the approved request's nor the recent payment is flagged.
    for seq in [colleague, approved, recent] {
        for rule in ["approval-missing", "invoice-document-missing"] {
            assert!(
                !flagged(&app, w.fund, rule).await.contains(&seq),
                "{rule} {seq}"
            );
        }
    }
    // The same flags over another overlapping period are found again, not raised again.
    let (_, again) = call!(&app, run());
    assert_eq!(
        again["rules"]["approval-missing"],
        json!({"raised": 0, "already_present": 1}),
        "{again}"
    );
}

/// Deciding a request needs the approver grant on the deciding role, which an admin sets
/// and clears through the admin API (each an administrative-chain entry): an officer of
/// the right ministry without it is refused, with it may decide, and loses it when it is
/// revoked; another ministry's approver never sees the request. Only admins set it, only
/// on a live treasurer or ministry grant.
#[actix_web::test]
async fn deciding_a_request_needs_the_approver_grant_in_the_right_organisation() {
    let (w, app) = World::new().await;
    w.funded(
        &app,
        json!([{"kind": "payment", "above": eur("50.00")}]),
        72,
    )
    .await;
    ok!(
        &app,
        w.post(
            "allocation",
            json!({"ministry": w.justice, "budget_line": "B", "category": "c",
                   "amount": eur("100.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
        )
    );
    let invoice = w.invoiced(&app, "200.00").await;
    let request = ok!(
        &app,
        w.post(
            "payment",
            json!({"invoice": invoice, "amount": eur("80.00")})
        )
    );
    // A third officer of the Ministry of Interior, with the role and not the grant.
    let third = Uuid::new_v4();
    harness::act_as_user(&w.state, "ministry", w.interior, third);
    refused!(
        &app,
        w.approve(request),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_approver"
    );
    refused!(
        &app,
        w.reject(request, "no"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_approver"
    );
    // Another ministry's approver: the request is not theirs to know.
    harness::act_as_approver(&w.state, "ministry", w.justice, Uuid::new_v4());
    refused!(
        &app,
        w.approve(request),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_reference"
    );

    // Only an admin grants it.
    let grant = |user: Uuid, role: &str| {
        TestRequest::post().uri(&format!("/api/v1/admin/users/{user}/roles/{role}/approver"))
    };
    let revoke = |user: Uuid, role: &str| {
        TestRequest::delete().uri(&format!("/api/v1/admin/users/{user}/roles/{role}/approver"))
    };
    for (role, org) in [
        ("ministry", w.interior),
        ("treasurer", w.secretariat),
        ("auditor", w.auditor),
        ("donor", w.donor),
    ] {
        w.as_(role, org);
        let (status, body) = call!(&app, grant(third, "ministry"));
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {body}");
    }
    harness::act_as(&w.state, "admin");
    refused!(
        &app,
        grant(third, "auditor"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_an_approver_role"
    );
    refused!(
        &app,
        grant(third, "treasurer"),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    let (status, body) = call!(&app, grant(third, "ministry"));
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, users) = call!(&app, TestRequest::get().uri("/api/v1/admin/users"));
    let listed = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == json!(third))
        .unwrap()
        .clone();
    assert_eq!(listed["approver_roles"], json!(["ministry"]), "{listed}");
    refused!(
        &app,
        grant(third, "ministry"),
        StatusCode::CONFLICT,
        "approver_already_granted"
    );
    let (_, admin_chain) = call!(
        &app,
        TestRequest::get().uri("/api/v1/chains/admin/entries?kind=approver_granted")
    );
    assert!(
        admin_chain.to_string().contains(&third.to_string()),
        "the grant is in the administrative chain: {admin_chain}"
    );

    // With the grant, the third officer decides; revoked, they no longer may.
    let other = ok!(&app, {
        w.officer(0);
        w.post(
            "payment",
            json!({"invoice": invoice, "amount": eur("90.00")}),
        )
    });
    harness::act_with_token("ministry", w.interior, third);
    ok!(&app, w.approve(request));
    harness::act_as(&w.state, "admin");
    let (status, body) = call!(&app, revoke(third, "ministry"));
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    refused!(
        &app,
        revoke(third, "ministry"),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    harness::act_with_token("ministry", w.interior, third);
    refused!(
        &app,
        w.approve(other),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_approver"
    );
    w.rebuild_is_clean();
}
