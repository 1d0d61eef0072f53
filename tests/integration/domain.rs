//! Typed fund entries end to end: every invariant allowed and refused, race-free under
//! concurrency, reversals, all-or-nothing batches, scopes per role, derived state that a
//! rebuild reproduces (and a corrupted row that it reports).

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::web::Data;
use fundtrail::state::AppState;
use futures_util::future::join_all;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, TestDb};
use crate::harness::{eur, org};

/// Organisations and a EUR fund: one secretariat, two donors, two ministries (both with
/// an allocation once `allocate` ran), three vendors, an assigned and an unassigned audit
/// body, and a second fund run by another secretariat.
struct World {
    state: Data<AppState>,
    fund: Uuid,
    secretariat: Uuid,
    /// A fund, its secretariat and an audit body that are none of this fund's.
    other: harness::OtherFund,
    donor: Uuid,
    donor2: Uuid,
    other_donor: Uuid,
    interior: Uuid,
    justice: Uuid,
    vendors: [Uuid; 3],
    auditor: Uuid,
    _db: TestDb,
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

impl World {
    async fn new() -> (Self, app_service!()) {
        let (db, state, app) = harness::start().await;
        let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
        let other = harness::other_fund(&db, &app).await;
        let world = World {
            fund,
            secretariat,
            other,
            donor: org(&db, "Kingdom of Norway", "donor"),
            donor2: org(&db, "Republic of Ireland", "donor"),
            other_donor: org(&db, "Swiss Confederation", "donor"),
            interior: org(&db, "Ministry of Interior", "ministry"),
            justice: org(&db, "Ministry of Justice", "ministry"),
            vendors: [
                org(&db, "Alpha Uniforms", "vendor"),
                org(&db, "Beta Vehicles", "vendor"),
                org(&db, "Gamma Builders", "vendor"),
            ],
            auditor,
            state,
            _db: db,
        };
        (world, app)
    }

    fn as_(&self, role: &str, org: Uuid) {
        harness::act_as_member(&self.state, role, org);
    }

    fn treasurer(&self) {
        self.as_("treasurer", self.secretariat);
    }

    fn entry(&self, fund: Uuid, kind: &str, date: &str, body: Value) -> TestRequest {
        harness::entry(fund, kind, date, body)
    }

    fn post(&self, kind: &str, body: Value) -> TestRequest {
        self.entry(self.fund, kind, &today(), body)
    }

    /// A contribution of `amount` EUR by the donor (agreement "A").
    fn contribution(&self, amount: &str) -> TestRequest {
        self.post(
            "contribution",
            json!({"donor": self.donor, "amount": eur(amount), "agreement": "A"}),
        )
    }

    /// An allocation of `amount` EUR to `ministry` for `category` over 2026 (budget line "B").
    fn allocation(&self, ministry: Uuid, category: &str, amount: &str) -> TestRequest {
        self.post(
            "allocation",
            json!({"ministry": ministry, "budget_line": "B", "category": category,
                   "amount": eur(amount), "period_start": "2026-01-01", "period_end": "2026-12-31"}),
        )
    }

    /// A disbursement of `amount` EUR against `allocation`.
    fn disbursement(&self, allocation: u64, amount: &str) -> TestRequest {
        self.post(
            "disbursement",
            json!({"allocation": allocation, "amount": eur(amount)}),
        )
    }

    /// The Ministry of Interior's open tender "T" in category "c", estimated at `estimate`
    /// EUR, closing in ten days.
    fn tender(&self, estimate: &str) -> TestRequest {
        let deadline = chrono::Utc::now().date_naive() + chrono::Duration::days(10);
        self.post(
            "tender",
            json!({"ministry": self.interior, "title": "T", "category": "c", "method": "open",
                   "estimated_value": eur(estimate), "deadline": deadline.to_string()}),
        )
    }

    fn bid(&self, tender: u64, vendor: Uuid, amount: &str) -> TestRequest {
        harness::bid(self.fund, tender, vendor, amount)
    }

    fn award(&self, tender: u64, vendor: Uuid, amount: &str, bids_received: u32) -> TestRequest {
        harness::award(self.fund, tender, vendor, amount, bids_received)
    }

    fn get(&self, uri: &str) -> TestRequest {
        TestRequest::get().uri(uri)
    }

    fn balances(&self) -> TestRequest {
        self.get(&format!("/api/v1/funds/{}/balances", self.fund))
    }

    fn superuser(&self) -> diesel::PgConnection {
        self._db.superuser_conn()
    }
}

fn chain_size(w: &World) -> i64 {
    use diesel::prelude::*;
    fundtrail::schema::chain_heads::table
        .find(w.fund)
        .select(fundtrail::schema::chain_heads::size)
        .first(&mut w.superuser())
        .unwrap()
}

#[actix_web::test]
async fn fund_flows_keep_their_invariants() {
    let (w, app) = World::new().await;
    w.treasurer();
    let u422 = StatusCode::UNPROCESSABLE_ENTITY;
    ok!(
        &app,
        w.post(
            "pledge",
            json!({"donor": w.donor, "amount": eur("5000.00"), "agreement": "NO-2026-1"})
        )
    );
    ok!(
        &app,
        w.post(
            "contribution",
            json!({"donor": w.donor, "amount": eur("1000.00"), "agreement": "NO-2026-1"})
        )
    );
    // Amounts: positive, within the currency's minor unit; donors are donors.
    refused!(&app, w.contribution("10.001"), u422, "invalid_amount");
    refused!(
        &app,
        w.post(
            "contribution",
            json!({"donor": w.donor, "amount": eur("-5.00"), "agreement": "A"})
        ),
        u422,
        "invalid_amount"
    );
    refused!(
        &app,
        w.post(
            "contribution",
            json!({"donor": w.donor, "amount": {"value": 5.5, "currency": "EUR"}, "agreement": "A"})
        ),
        u422,
        "invalid_body"
    );
    refused!(
        &app,
        w.post(
            "contribution",
            json!({"donor": w.interior, "amount": eur("5.00"), "agreement": "A"})
        ),
        u422,
        "wrong_organization_kind"
    );
    refused!(
        &app,
        w.post(
            "contribution",
            json!({"donor": Uuid::new_v4(), "amount": eur("5.00"), "agreement": "A"})
        ),
        u422,
        "unknown_reference"
    );
    // Dates: not in the future beyond the skew.
    refused!(
        &app,
        w.entry(
            w.fund,
            "contribution",
            "2099-01-01",
            json!({"donor": w.donor, "amount": eur("5.00"), "agreement": "A"})
        ),
        u422,
        "business_date_in_future"
    );
    // Currency: the fund's, or one with a rate recorded for that date (either direction).
    let usd = json!({"donor": w.donor2, "amount": {"value": "100.00", "currency": "USD"}, "agreement": "IE-1"});
    refused!(
        &app,
        w.post("contribution", usd.clone()),
        u422,
        "no_fx_rate"
    );
    ok!(
        &app,
        w.post(
            "fx_rate",
            json!({"base": "EUR", "quote": "USD", "rate": "1.25", "source": "ECB reference rate"})
        )
    );
    ok!(&app, w.post("contribution", usd.clone()));
    refused!(
        &app,
        w.entry(w.fund, "contribution", "2026-01-02", usd),
        u422,
        "no_fx_rate"
    );
    // received: 1000 + 100/1.25 = 1080.00

    let alloc = ok!(&app, w.post("allocation", json!({"ministry": w.interior, "budget_line": "BL-1 Police training",
        "category": "training", "amount": eur("700.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})));
    let alloc2 = ok!(&app, w.post("allocation", json!({"ministry": w.justice, "budget_line": "BL-2 Courts",
        "category": "infrastructure", "amount": eur("5000.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})));
    refused!(
        &app,
        w.post(
            "allocation",
            json!({"ministry": w.vendors[0], "budget_line": "B", "category": "c",
        "amount": eur("1.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
        ),
        u422,
        "wrong_organization_kind"
    );
    // Disbursements: within the allocation and within the fund's available balance.
    ok!(
        &app,
        w.post(
            "disbursement",
            json!({"allocation": alloc, "amount": eur("500.00"), "tranche": "T1"})
        )
    );
    refused!(
        &app,
        w.disbursement(alloc, "200.01"),
        u422,
        "allocation_exceeded"
    );
    ok!(&app, w.disbursement(alloc, "200.00"));
    refused!(
        &app,
        w.disbursement(alloc2, "380.01"),
        u422,
        "insufficient_fund_balance"
    );
    ok!(&app, w.disbursement(alloc2, "380.00"));
    refused!(
        &app,
        w.disbursement(9999, "1.00"),
        u422,
        "unknown_reference"
    );
    refused!(&app, w.disbursement(0, "1.00"), u422, "unknown_reference");

    let (status, b) = call!(&app, w.balances());
    assert_eq!(status, StatusCode::OK, "{b}");
    let t = &b["totals"];
    assert_eq!(
        (
            t["pledged"].as_str(),
            t["contributed"].as_str(),
            t["allocated"].as_str(),
            t["disbursed"].as_str(),
            t["available"].as_str()
        ),
        (
            Some("5000.00"),
            Some("1080.00"),
            Some("5700.00"),
            Some("1080.00"),
            Some("0.00")
        ),
        "{b}"
    );
    let interior = b["ministries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["ministry"]["id"] == json!(w.interior))
        .unwrap();
    assert_eq!(
        (
            interior["disbursed"].as_str(),
            interior["undisbursed"].as_str()
        ),
        (Some("700.00"), Some("0.00"))
    );
    // Nothing refused above was written.
    let (_, page) = call!(
        &app,
        w.get(&format!("/api/v1/funds/{}/entries?limit=1000", w.fund))
    );
    assert_eq!(page["entries"].as_array().unwrap().len(), 9, "{page}");
    assert_eq!(chain_size(&w), 9);

    // The raw chain's kind and date filters (served from the fund's entry index) page
    // through exactly the entries a reader would pick out of the whole chain.
    let (_, all) = call!(
        &app,
        w.get(&format!("/api/v1/chains/{}/entries?limit=1000", w.fund))
    );
    let all = all["entries"].as_array().unwrap().clone();
    assert_eq!(all.len(), 9);
    for query in [
        "kind=disbursement",
        "kind=allocation",
        &format!("from={}", today()),
        &format!("kind=contribution&to={}", today()),
        "kind=none",
    ] {
        let want: Vec<&Value> = all
            .iter()
            .filter(|e| {
                let kind = e["entry"]["kind"].as_str().unwrap();
                match query.split_once('=').unwrap() {
                    ("kind", k) if k.contains('&') => kind == k.split('&').next().unwrap(),
                    ("kind", k) => kind == k,
                    _ => true,
                }
            })
            .collect();
        let mut got = Vec::new();
        let mut after = String::new();
        for _ in 0..all.len() + 1 {
            let (status, page) = call!(
                &app,
                w.get(&format!(
                    "/api/v1/chains/{}/entries?{query}&limit=2{after}",
                    w.fund
                ))
            );
            assert_eq!(status, StatusCode::OK, "{query}: {page}");
            got.extend(page["entries"].as_array().unwrap().clone());
            match page["next_after"].as_str() {
                Some(n) => after = format!("&after={n}"),
                None => break,
            }
        }
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "{query}");
    }
}

#[actix_web::test]
async fn procurement_follows_its_lifecycle() {
    let (w, app) = World::new().await;
    let u422 = StatusCode::UNPROCESSABLE_ENTITY;
    w.treasurer();
    ok!(&app, w.contribution("100000.00"));
    let alloc = ok!(&app, w.allocation(w.interior, "equipment", "50000.00"));
    ok!(&app, w.allocation(w.justice, "equipment", "50000.00"));
    ok!(&app, w.disbursement(alloc, "40000.00"));

    w.as_("ministry", w.interior);
    let [v0, v1, v2] = w.vendors;
    let deadline = (chrono::Utc::now().date_naive() + chrono::Duration::days(30)).to_string();
    refused!(&app, w.post("tender", json!({"ministry": w.justice, "title": "Radios", "category": "equipment", "method": "open",
        "estimated_value": eur("20000.00"), "deadline": deadline})), u422, "not_own_ministry");
    let tender = ok!(
        &app,
        w.post(
            "tender",
            json!({"ministry": w.interior, "title": "Radios", "category": "equipment",
        "method": "open", "estimated_value": eur("20000.00"), "deadline": deadline})
        )
    );
    ok!(&app, w.bid(tender, v0, "18000.00"));
    ok!(&app, w.bid(tender, v1, "19500.00"));
    refused!(
        &app,
        w.bid(tender, w.justice, "1.00"),
        u422,
        "wrong_organization_kind"
    );
    refused!(
        &app,
        w.award(tender, v2, "17000.00", 2),
        u422,
        "vendor_did_not_bid"
    );
    refused!(&app, w.award(1, v0, "1.00", 2), u422, "unknown_reference");
    let award = ok!(&app, w.award(tender, v0, "18000.00", 2));
    refused!(
        &app,
        w.award(tender, v1, "19500.00", 2),
        u422,
        "tender_not_open"
    );
    refused!(&app, w.bid(tender, v2, "1.00"), u422, "tender_not_open");
    let (status, receipt) = call!(
        &app,
        w.post(
            "contract",
            json!({"award": award, "value": eur("18000.00"),
        "starts_on": "2026-01-01", "ends_on": "2026-12-31"})
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let contract = receipt["seq"].as_u64().unwrap();
    refused!(&app, w.post("contract", json!({"award": award, "value": eur("18000.00"), "starts_on": "2026-01-01", "ends_on": "2026-12-31"})), u422, "award_already_contracted");
    // Invoices from the contract's vendor, in its currency. Invoices above the contract's
    // value are recorded and flagged (over_contract::an_overrun_is_recorded_and_flagged_...).
    refused!(&app, w.post("invoice", json!({"contract": contract, "vendor": v1, "invoice_number": "INV-1", "amount": eur("10.00")})), u422, "vendor_mismatch");
    refused!(
        &app,
        w.post(
            "invoice",
            json!({"contract": contract, "vendor": v0, "invoice_number": "INV-1",
        "amount": {"value": "10.00", "currency": "USD"}})
        ),
        u422,
        "currency_mismatch"
    );
    let inv1 = ok!(&app, w.post("invoice", json!({"contract": contract, "vendor": v0, "invoice_number": "INV-1", "amount": eur("12000.00")})));
    refused!(
        &app,
        w.post(
            "contract_amendment",
            json!({"contract": contract, "new_value": eur("11000.00"), "reason": "scope cut"})
        ),
        u422,
        "amendment_below_invoiced"
    );
    ok!(
        &app,
        w.post(
            "contract_amendment",
            json!({"contract": contract, "new_value": eur("20000.00"), "reason": "20 more radios"})
        )
    );
    let inv2 = ok!(&app, w.post("invoice", json!({"contract": contract, "vendor": v0, "invoice_number": "INV-2", "amount": eur("8000.00")})));
    // Payments within the invoice, of the same ministry.
    refused!(
        &app,
        w.post(
            "payment",
            json!({"invoice": inv1, "amount": eur("12000.01")})
        ),
        u422,
        "payment_exceeds_invoice"
    );
    ok!(
        &app,
        w.post(
            "payment",
            json!({"invoice": inv1, "amount": eur("12000.00")})
        )
    );
    refused!(
        &app,
        w.post("payment", json!({"invoice": inv1, "amount": eur("0.01")})),
        u422,
        "payment_exceeds_invoice"
    );
    w.as_("ministry", w.justice);
    refused!(
        &app,
        w.post("payment", json!({"invoice": inv2, "amount": eur("1.00")})),
        u422,
        "unknown_reference"
    );
    refused!(
        &app,
        w.award(tender, v0, "1.00", 1),
        u422,
        "unknown_reference"
    );
    // A direct tender needs no bid; a direct purchase needs no invoice (screening flags it).
    let direct = ok!(
        &app,
        w.post(
            "tender",
            json!({"ministry": w.justice, "title": "Emergency repair", "category": "works",
        "method": "direct", "estimated_value": eur("3000.00"), "deadline": deadline})
        )
    );
    ok!(&app, w.award(direct, v2, "3000.00", 0));
    ok!(&app, w.post("payment", json!({"vendor": v2, "ministry": w.justice, "category": "works", "amount": eur("250.00")})));
    refused!(
        &app,
        w.post(
            "payment",
            json!({"vendor": v2, "ministry": w.interior, "amount": eur("250.00")})
        ),
        u422,
        "not_own_ministry"
    );

    // The contract with its whole history, each item with its seq.
    w.as_("ministry", w.interior);
    let id = fundtrail::procurement::rules::contract_id(w.fund, contract);
    let (status, c) = call!(&app, w.get(&format!("/api/v1/contracts/{id}")));
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(
        (
            c["value"].as_str(),
            c["invoiced"].as_str(),
            c["paid"].as_str(),
            c["tender_stage"].as_str()
        ),
        (
            Some("20000.00"),
            Some("20000.00"),
            Some("12000.00"),
            Some("contracted")
        ),
        "{c}"
    );
    let kinds: Vec<&str> = c["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["entry"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "tender",
            "bid",
            "bid",
            "award",
            "contract",
            "invoice",
            "contract_amendment",
            "invoice",
            "payment"
        ]
    );
    // Justice cannot see Interior's contract; a donor of the fund can once it contributed.
    w.as_("ministry", w.justice);
    let (status, _) = call!(&app, w.get(&format!("/api/v1/contracts/{id}")));
    assert_eq!(status, StatusCode::NOT_FOUND);
    w.as_("donor", w.donor);
    let (status, _) = call!(&app, w.get(&format!("/api/v1/contracts/{id}")));
    assert_eq!(status, StatusCode::OK);
    w.as_("donor", w.other_donor);
    let (status, _) = call!(&app, w.get(&format!("/api/v1/contracts/{id}")));
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn reversals_restore_state_once() {
    let (w, app) = World::new().await;
    let u422 = StatusCode::UNPROCESSABLE_ENTITY;
    w.treasurer();
    let contribution = ok!(&app, w.contribution("1000.00"));
    let alloc = ok!(&app, w.allocation(w.interior, "c", "1000.00"));
    let d = ok!(&app, w.disbursement(alloc, "600.00"));
    let available = |b: &Value| b["totals"]["available"].as_str().unwrap().to_owned();
    let (_, b) = call!(&app, w.balances());
    assert_eq!(available(&b), "400.00");
    refused!(
        &app,
        w.post(
            "reversal",
            json!({"entry": contribution, "reason": "bounced"})
        ),
        u422,
        "reversal_blocked"
    );
    refused!(
        &app,
        w.post("reversal", json!({"entry": alloc, "reason": "cut"})),
        u422,
        "reversal_blocked"
    );
    let r = ok!(
        &app,
        w.post("reversal", json!({"entry": d, "reason": "wrong tranche"}))
    );
    let (_, b) = call!(&app, w.balances());
    assert_eq!(available(&b), "1000.00", "{b}");
    assert_eq!(b["ministries"][0]["disbursed"].as_str(), Some("0.00"));
    refused!(
        &app,
        w.post("reversal", json!({"entry": d, "reason": "again"})),
        u422,
        "already_reversed"
    );
    refused!(
        &app,
        w.post("reversal", json!({"entry": r, "reason": "undo"})),
        u422,
        "cannot_reverse_reversal"
    );
    refused!(
        &app,
        w.post("reversal", json!({"entry": 999, "reason": "x"})),
        u422,
        "unknown_reference"
    );
    // The reversed disbursement's allocation is whole again.
    ok!(&app, w.disbursement(alloc, "1000.00"));
    // Reversals are by the role that records the kind; a ministry reverses its own only.
    w.as_("ministry", w.interior);
    let tender = ok!(&app, w.tender("10.00"));
    refused!(
        &app,
        w.post("reversal", json!({"entry": alloc, "reason": "x"})),
        u422,
        "not_permitted"
    );
    // Entries of no ministry (a contribution) are unknown to a ministry, like missing ones.
    refused!(
        &app,
        w.post("reversal", json!({"entry": contribution, "reason": "x"})),
        u422,
        "unknown_reference"
    );
    w.treasurer();
    refused!(
        &app,
        w.post("reversal", json!({"entry": tender, "reason": "x"})),
        u422,
        "not_permitted"
    );
    w.as_("ministry", w.interior);
    ok!(
        &app,
        w.post("reversal", json!({"entry": tender, "reason": "cancelled"}))
    );
    refused!(
        &app,
        w.bid(tender, w.vendors[0], "1.00"),
        u422,
        "tender_not_open"
    );
    // The reversal and what it reversed are both in the read API, linked.
    let (_, page) = call!(
        &app,
        w.get(&format!("/api/v1/funds/{}/entries?kind=reversal", w.fund))
    );
    assert_eq!(
        page["entries"].as_array().unwrap().len(),
        2,
        "the tender's and the disbursement's: {page}"
    );
    w.treasurer();
    let (_, page) = call!(
        &app,
        w.get(&format!(
            "/api/v1/funds/{}/entries?kind=disbursement",
            w.fund
        ))
    );
    assert_eq!(page["entries"][0]["reversed_by"], json!(r));
}

/// 50 disbursements of 30.00 fired at once against an available balance of 1000.00:
/// exactly 33 succeed, 17 are refused, the balance ends at 10.00 and never went negative
/// (the database's own CHECK would have refused it), the chain has no gap.
#[actix_web::test]
async fn fifty_concurrent_disbursements_never_overdraw() {
    let (w, app) = World::new().await;
    w.treasurer();
    ok!(&app, w.contribution("1000.00"));
    let alloc = ok!(&app, w.allocation(w.interior, "c", "5000.00"));
    let requests: Vec<_> = (0..50)
        .map(|_| {
            harness::authed(w.post(
                "disbursement",
                json!({"allocation": alloc, "amount": eur("30.00")}),
            ))
            .to_request()
        })
        .collect();
    let results =
        futures_util::future::join_all(requests.into_iter().map(|r| test::call_service(&app, r)))
            .await;
    let mut ok = 0;
    let mut refused = 0;
    for res in results {
        match res.status() {
            StatusCode::CREATED => ok += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {
                let body: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
                assert_eq!(body["code"], "insufficient_fund_balance", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, refused), (33, 17));
    let (_, b) = call!(&app, w.balances());
    assert_eq!(b["totals"]["available"].as_str(), Some("10.00"), "{b}");
    assert_eq!(b["totals"]["disbursed"].as_str(), Some("990.00"));
    assert_eq!(chain_size(&w), 2 + 33);
    let (_, report) = call!(&app, w.get(&format!("/api/v1/chains/{}/verify", w.fund)));
    assert_eq!(report["ok"], json!(true), "{report}");
}

#[actix_web::test]
async fn a_batch_is_all_or_nothing() {
    let (w, app) = World::new().await;
    w.treasurer();
    let batch = |entries: Value| {
        TestRequest::post()
            .uri(&format!("/api/v1/funds/{}/entries/batch", w.fund))
            .set_json(json!({"entries": entries}))
    };
    let e = |key: &str, kind: &str, body: Value| json!({"kind": kind, "business_date": today(), "idempotency_key": key, "body": body});
    // seq 0 contribution, 1 allocation, 2 disbursement of 1 (refers to seq 1), 3 too much.
    let entries = json!([
        e(
            "c1",
            "contribution",
            json!({"donor": w.donor, "amount": eur("100.00"), "agreement": "A"})
        ),
        e(
            "a1",
            "allocation",
            json!({"ministry": w.interior, "budget_line": "B", "category": "c", "amount": eur("100.00"),
            "period_start": "2026-01-01", "period_end": "2026-12-31"})
        ),
        e(
            "d1",
            "disbursement",
            json!({"allocation": 1, "amount": eur("60.00")})
        ),
        e(
            "d2",
            "disbursement",
            json!({"allocation": 1, "amount": eur("60.00")})
        ),
    ]);
    let (status, body) = call!(&app, batch(entries.clone()));
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("allocation_exceeded")
        ),
        "{body}"
    );
    assert!(body["detail"].as_str().unwrap().contains("d2"), "{body}");
    assert_eq!(chain_size(&w), 0);
    let (_, b) = call!(&app, w.balances());
    assert_eq!(
        b["totals"]["contributed"].as_str(),
        Some("0.00"),
        "no position was written: {b}"
    );
    let ok_entries = json!([entries[0], entries[1], entries[2]]);
    let (status, body) = call!(&app, batch(ok_entries.clone()));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["receipts"].as_array().unwrap().len(), 3);
    // A retried batch replays, nothing doubles.
    let (status, body) = call!(&app, batch(ok_entries));
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["receipts"][2]["replayed"], json!(true));
    let (_, b) = call!(&app, w.balances());
    assert_eq!(b["totals"]["available"].as_str(), Some("40.00"), "{b}");
}

/// Who may post and read what in a fund: each role, inside and outside its scope.
#[actix_web::test]
async fn fund_routes_refuse_everyone_outside_their_scope() {
    let (w, app) = World::new().await;
    w.treasurer();
    ok!(&app, w.contribution("1000.00"));
    let alloc = ok!(&app, w.allocation(w.interior, "c", "100.00"));
    ok!(&app, w.allocation(w.justice, "c", "100.00"));
    ok!(&app, w.disbursement(alloc, "10.00"));
    w.as_("ministry", w.justice);
    ok!(&app, w.post("expenditure", json!({"ministry": w.justice, "category": "salaries", "amount": eur("5.00"), "description": "May"})));
    // The other fund has its own donor.
    w.as_("treasurer", w.other.secretariat);
    ok!(
        &app,
        w.entry(
            w.other.fund,
            "contribution",
            &today(),
            json!({"donor": w.other_donor, "amount": eur("1.00"), "agreement": "B"})
        )
    );

    let fund = w.fund;
    let contribution = || {
        w.post(
            "contribution",
            json!({"donor": w.donor, "amount": eur("1.00"), "agreement": "A"}),
        )
    };
    let tender = || {
        w.post("expenditure", json!({"ministry": w.interior, "category": "c", "amount": eur("1.00"), "description": "d"}))
    };
    let reads = [
        format!("/api/v1/funds/{fund}/entries"),
        format!("/api/v1/funds/{fund}/balances"),
        format!("/api/v1/chains/{fund}/entries"),
        format!("/api/v1/chains/{fund}/entries/0"),
        format!("/api/v1/chains/{fund}/entries/0/proof"),
        format!("/api/v1/chains/{fund}/checkpoint"),
        format!("/api/v1/chains/{fund}/verify"),
        format!("/api/v1/chains/{fund}/export"),
    ];
    let s = |c: u16| StatusCode::from_u16(c).unwrap();
    // (role, org, post contribution, post ministry spend, fund reads, chain reads)
    let cases: Vec<(&str, Uuid, u16, u16, u16, u16)> = vec![
        ("admin", Uuid::new_v4(), 403, 403, 200, 200),
        ("treasurer", w.secretariat, 201, 403, 200, 200),
        ("treasurer", w.other.secretariat, 404, 404, 404, 404),
        ("auditor", w.auditor, 403, 403, 200, 200),
        ("auditor", w.other.auditor, 404, 404, 404, 404),
        ("donor", w.donor, 403, 403, 200, 200),
        ("donor", w.other_donor, 404, 404, 404, 404),
        ("donor", w.donor2, 404, 404, 404, 404),
        ("ministry", w.interior, 403, 201, 200, 403),
        ("ministry", Uuid::new_v4(), 404, 404, 404, 404),
    ];
    for (role, org, post_c, post_m, fund_read, chain_read) in cases {
        w.as_(role, org);
        let (status, body) = call!(&app, contribution());
        assert_eq!(
            status,
            s(post_c),
            "{role} {org} posts a contribution: {body}"
        );
        let (status, body) = call!(&app, tender());
        assert_eq!(
            status,
            s(post_m),
            "{role} {org} posts a ministry expenditure: {body}"
        );
        for (i, uri) in reads.iter().enumerate() {
            let want = if i < 2 { fund_read } else { chain_read };
            let (status, body) = call!(&app, w.get(uri));
            assert_eq!(status, s(want), "{role} {org} GET {uri}: {body}");
            if status == StatusCode::NOT_FOUND {
                assert_eq!(
                    body["detail"]
                        .as_str()
                        .map(|d| d.contains("fund") || d.contains("chain")),
                    Some(true),
                    "{body}"
                );
            }
        }
    }
    // A ministry reads its own entries only, whatever it filters on.
    w.as_("ministry", w.interior);
    let (_, page) = call!(
        &app,
        w.get(&format!("/api/v1/funds/{fund}/entries?limit=1000"))
    );
    let ministries: Vec<&Value> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["ministry"]["id"])
        .collect();
    assert!(!ministries.is_empty());
    assert!(
        ministries.iter().all(|m| **m == json!(w.interior)),
        "{page}"
    );
    let (_, page) = call!(
        &app,
        w.get(&format!(
            "/api/v1/funds/{fund}/entries?ministry={}",
            w.justice
        ))
    );
    assert_eq!(page["entries"], json!([]));
    let (_, b) = call!(&app, w.balances());
    assert_eq!(
        (
            b["totals"].clone(),
            b["ministries"].as_array().unwrap().len(),
            b["donors"].clone()
        ),
        (Value::Null, 1, json!([])),
        "{b}"
    );
    // A donor sees the fund but only its own donor row; funds list by scope.
    w.as_("donor", w.donor);
    let (_, b) = call!(&app, w.balances());
    assert_eq!(b["donors"].as_array().unwrap().len(), 1, "{b}");
    let (_, funds) = call!(&app, w.get("/api/v1/funds"));
    assert_eq!(
        funds
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(fund)]
    );
    w.as_("ministry", w.justice);
    let (_, funds) = call!(&app, w.get("/api/v1/funds"));
    assert_eq!(funds.as_array().unwrap().len(), 1);
    // Nobody posts to a fund chain through the generic ledger route, not even an admin.
    harness::act_as(&w.state, "admin");
    let (status, _) = call!(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/chains/{fund}/entries"))
            .insert_header(("idempotency-key", "x"))
            .set_json(json!({"kind": "contribution", "business_date": today(), "body": {}}))
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Vendors: registered by a ministry (or an admin), recorded in the administrative
    // chain, listed to everyone signed in.
    let vendor = |name: &str| {
        TestRequest::post()
            .uri("/api/v1/vendors")
            .set_json(json!({ "name": name }))
    };
    w.as_("ministry", w.interior);
    let (status, v) = call!(&app, vendor("Delta Radios"));
    assert_eq!(status, StatusCode::CREATED, "{v}");
    refused!(
        &app,
        vendor("Delta Radios"),
        StatusCode::CONFLICT,
        "organization_exists"
    );
    for role in ["donor", "auditor", "treasurer"] {
        w.as_(role, Uuid::new_v4());
        refused!(&app, vendor("Epsilon"), StatusCode::FORBIDDEN, "forbidden");
    }
    let (status, vendors) = call!(&app, w.get("/api/v1/vendors"));
    assert_eq!(status, StatusCode::OK);
    assert!(vendors
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["id"] == v["id"]));
    // The new vendor can bid at once.
    w.as_("ministry", w.interior);
    let t = ok!(&app, w.tender("10.00"));
    ok!(
        &app,
        w.post(
            "bid",
            json!({"tender": t, "vendor": v["id"], "amount": eur("9.00")})
        )
    );
    // A role that posts nothing is refused whatever the kind, even an unknown one.
    harness::act_as(&w.state, "admin");
    refused!(
        &app,
        w.post("gift", json!({})),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
    w.treasurer();
    refused!(
        &app,
        w.post("gift", json!({})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_kind"
    );
    // Unauthenticated: 401.
    harness::clear_token();
    for uri in [
        format!("/api/v1/funds/{fund}/entries"),
        format!("/api/v1/funds/{fund}/balances"),
        "/api/v1/vendors".to_owned(),
        format!("/api/v1/contracts/{}", Uuid::new_v4()),
    ] {
        let (status, _) = call!(&app, w.get(&uri));
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    let (status, _) = call!(&app, vendor("Zeta"));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call!(&app, contribution());
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// The derived state is a function of the ledger: a rebuild reproduces it exactly, and a
/// derived row changed behind the service's back is reported.
/// Typed posts sent at once by callers inside and outside the fund (their holders looked up
/// together, `auth::holders`) are each answered for their own caller, as when sent one by
/// one.
#[actix_web::test]
async fn typed_posts_sent_at_once_are_each_scoped_to_their_caller() {
    let (w, app) = World::new().await;
    w.treasurer();
    ok!(&app, w.contribution("1000.00"));
    let alloc = ok!(&app, w.allocation(w.interior, "c", "100.00"));
    ok!(&app, w.disbursement(alloc, "10.00"));
    let s = |c: u16| StatusCode::from_u16(c).unwrap();
    // (role, org, post contribution, post ministry spend); Justice has no allocation here.
    let cases: Vec<(&str, Uuid, u16, u16)> = vec![
        ("treasurer", w.secretariat, 201, 403),
        ("treasurer", w.other.secretariat, 404, 404),
        ("auditor", w.auditor, 403, 403),
        ("auditor", w.other.auditor, 404, 404),
        ("donor", w.donor, 403, 403),
        ("donor", w.other_donor, 404, 404),
        ("ministry", w.interior, 403, 201),
        ("ministry", w.justice, 404, 404),
        ("ministry", Uuid::new_v4(), 404, 404),
    ];
    let mut requests = Vec::new();
    let mut wanted = Vec::new();
    for (i, (role, org, post_c, post_m)) in cases.iter().enumerate() {
        w.as_(role, *org);
        let amount = eur(&format!("1.{i:02}"));
        requests.push(harness::authed(w.post(
            "contribution",
            json!({"donor": w.donor, "amount": amount, "agreement": "A"}),
        )));
        wanted.push((format!("{role} {org} posts a contribution"), s(*post_c)));
        requests.push(harness::authed(w.post(
            "expenditure",
            json!({"ministry": w.interior, "category": "c", "amount": amount, "description": "d"}),
        )));
        wanted.push((
            format!("{role} {org} posts a ministry expenditure"),
            s(*post_m),
        ));
    }
    let statuses = join_all(requests.into_iter().map(|r| {
        let app = &app;
        async move { test::call_service(app, r.to_request()).await.status() }
    }))
    .await;
    for ((what, want), got) in wanted.into_iter().zip(statuses) {
        assert_eq!(got, want, "{what}");
    }
}

#[actix_web::test]
async fn rebuild_check_agrees_and_reports_a_corrupted_row() {
    use diesel::prelude::*;
    let (w, app) = World::new().await;
    w.treasurer();
    ok!(&app, w.contribution("1000.00"));
    ok!(
        &app,
        w.post(
            "fx_rate",
            json!({"base": "USD", "quote": "EUR", "rate": "0.9", "source": "S"})
        )
    );
    ok!(&app, w.post("contribution", json!({"donor": w.donor2, "amount": {"value": "100.00", "currency": "USD"}, "agreement": "B"})));
    let alloc = ok!(&app, w.allocation(w.interior, "c", "800.00"));
    let d = ok!(&app, w.disbursement(alloc, "300.00"));
    ok!(&app, w.post("reversal", json!({"entry": d, "reason": "r"})));
    ok!(&app, w.disbursement(alloc, "200.00"));
    w.as_("ministry", w.interior);
    let t = ok!(&app, w.tender("100.00"));
    ok!(&app, w.bid(t, w.vendors[0], "90.00"));
    let a = ok!(&app, w.award(t, w.vendors[0], "90.00", 1));
    let c = ok!(&app, w.post("contract", json!({"award": a, "value": eur("90.00"), "starts_on": "2026-01-01", "ends_on": "2026-06-30"})));
    ok!(
        &app,
        w.post(
            "contract_amendment",
            json!({"contract": c, "new_ends_on": "2026-09-30", "reason": "delay"})
        )
    );
    let i = ok!(&app, w.post("invoice", json!({"contract": c, "vendor": w.vendors[0], "invoice_number": "1", "amount": eur("90.00")})));
    ok!(
        &app,
        w.post("payment", json!({"invoice": i, "amount": eur("45.00")}))
    );

    // A contract with a standing amendment cannot be reversed.
    refused!(
        &app,
        w.post("reversal", json!({"entry": c, "reason": "x"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "reversal_blocked"
    );

    let mut conn = w.superuser();
    // Organisations deactivated since still replay (their entries were valid when made).
    diesel::sql_query("UPDATE organizations SET active = false WHERE kind = 'vendor'")
        .execute(&mut conn)
        .unwrap();
    let report =
        fundtrail::entries::rebuild::run(&mut conn, false, &fundtrail::screening::Screens).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.entries, 14);

    diesel::sql_query("UPDATE fund_positions SET received = received + 1")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query("UPDATE contracts SET paid = 40")
        .execute(&mut conn)
        .unwrap();
    let report =
        fundtrail::entries::rebuild::run(&mut conn, false, &fundtrail::screening::Screens).unwrap();
    let tables: Vec<(&str, &str)> = report
        .differences
        .iter()
        .map(|d| (d.table.as_str(), d.only_in))
        .collect();
    assert_eq!(
        tables,
        [
            ("fund_positions", "stored"),
            ("fund_positions", "rebuilt"),
            ("contracts", "stored"),
            ("contracts", "rebuilt")
        ],
        "{report:?}"
    );
    assert_eq!(
        report.differences[0].row["received"],
        json!(1091.0),
        "{:?}",
        report.differences[0]
    );
    // Without --check the stored state is repaired, and a second check is clean.
    let repaired =
        fundtrail::entries::rebuild::run(&mut conn, true, &fundtrail::screening::Screens).unwrap();
    assert!(repaired.replaced);
    assert!(
        fundtrail::entries::rebuild::run(&mut conn, false, &fundtrail::screening::Screens)
            .unwrap()
            .is_clean()
    );
}

/// `fundtrail seed-demo` then `fundtrail rebuild --check`, as separate processes: the demo
/// fund holds every flow and procurement step, the rebuild agrees (exit 0), a derived row
/// changed behind the service's back makes it exit 1 naming the table, and the demo
/// donor the README lists can log in and sees the fund.
#[actix_web::test]
async fn seed_demo_then_rebuild_check_agrees() {
    use diesel::prelude::*;
    let db = TestDb::migrated();
    let dir = std::env::temp_dir().join(format!("fundtrail-seed-{}", Uuid::new_v4()));
    let run = |args: &[&str]| harness::fundtrail(&db, &dir, args);
    harness::fundtrail_ok(&db, &dir, &["seed-demo"]);
    let mut conn = db.superuser_conn();
    #[derive(QueryableByName)]
    struct KindCount {
        #[diesel(sql_type = diesel::sql_types::Text)]
        kind: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let counts: Vec<KindCount> = diesel::sql_query(
        "SELECT e.kind, count(*) AS n FROM ledger_entries e JOIN funds f ON f.id = e.chain_id GROUP BY e.kind",
    )
    .load(&mut conn)
    .unwrap();
    let n = |k: &str| counts.iter().find(|c| c.kind == k).map_or(0, |c| c.n);
    for kind in [
        "pledge",
        "contribution",
        "fx_rate",
        "allocation",
        "disbursement",
        "tender",
        "bid",
        "award",
        "contract",
        "invoice",
        "payment",
        "expenditure",
    ] {
        assert!(n(kind) > 0, "no {kind} in the demo");
    }
    assert!(counts.iter().map(|c| c.n).sum::<i64>() > 800);

    let out = run(&["rebuild", "--check"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{report}");
    assert_eq!(report["differences"], json!([]));

    diesel::sql_query("UPDATE ministry_positions SET paid = paid + 1 WHERE ctid = (SELECT min(ctid) FROM ministry_positions)")
        .execute(&mut conn)
        .unwrap();
    let out = run(&["rebuild", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["differences"][0]["table"], "ministry_positions",
        "{report}"
    );

    let state = harness::state(&db).await;
    let app = harness::app(state).await;
    let (status, tokens) = call!(
        &app,
        TestRequest::post().uri("/api/v1/auth/login").set_json(
            json!({"email": "donor@demo.fundtrail", "password": fundtrail::seed::DEMO_PASSWORD})
        )
    );
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let token = tokens["access_token"].as_str().unwrap();
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/api/v1/funds")
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_request(),
    )
    .await;
    let funds: Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
    assert_eq!(funds[0]["name"], fundtrail::seed::DEMO_FUND);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Screening end to end: a split purchase and a duplicate invoice posted through the API
/// raise flags with the right evidence, in the same transaction as the entries; scope
/// follows the fund's; auditors triage and the history (and administrative chain) shows it.
#[actix_web::test]
async fn split_purchase_and_duplicate_invoice_are_flagged_and_triaged() {
    let (w, app) = World::new().await;
    w.treasurer();
    ok!(&app, w.contribution("500000.00"));
    let alloc = ok!(&app, w.allocation(w.interior, "equipment", "100000.00"));
    ok!(&app, w.allocation(w.justice, "equipment", "100000.00"));
    ok!(&app, w.disbursement(alloc, "50000.00"));
    w.as_("ministry", w.interior);
    let v = w.vendors[0];
    // Three direct purchases from one vendor within days, each under the 10,000 direct
    // purchase threshold, together over it.
    let p1 = ok!(
        &app,
        w.post(
            "payment",
            json!({"vendor": v, "ministry": w.interior, "amount": eur("3900.00")})
        )
    );
    let p2 = ok!(
        &app,
        w.post(
            "payment",
            json!({"vendor": v, "ministry": w.interior, "amount": eur("3850.50")})
        )
    );
    let p3 = ok!(
        &app,
        w.post(
            "payment",
            json!({"vendor": v, "ministry": w.interior, "amount": eur("3700.25")})
        )
    );
    // A contract invoiced twice under the same invoice number.
    let deadline = (chrono::Utc::now().date_naive() + chrono::Duration::days(40)).to_string();
    let t = ok!(
        &app,
        w.post(
            "tender",
            json!({"ministry": w.interior, "title": "Radios", "category": "equipment",
        "method": "restricted", "estimated_value": eur("60000.00"), "deadline": deadline})
        )
    );
    ok!(&app, w.bid(t, v, "55123.45"));
    ok!(&app, w.bid(t, w.vendors[1], "57123.45"));
    let a = ok!(&app, w.award(t, v, "55123.45", 2));
    let c = ok!(&app, w.post("contract", json!({"award": a, "value": eur("55123.45"), "starts_on": "2026-01-01", "ends_on": "2026-12-31"})));
    let i1 = ok!(&app, w.post("invoice", json!({"contract": c, "vendor": v, "invoice_number": "AU-2026-17", "amount": eur("20000.45")})));
    let i2 = ok!(&app, w.post("invoice", json!({"contract": c, "vendor": v, "invoice_number": "AU-2026-17", "amount": eur("20000.45")})));

    w.as_("auditor", w.auditor);
    let fund = w.fund;
    let (status, page) = call!(
        &app,
        w.get(&format!("/api/v1/funds/{fund}/flags?rule=split-purchase"))
    );
    assert_eq!(status, StatusCode::OK, "{page}");
    let splits = page["flags"].as_array().unwrap();
    assert_eq!(
        splits.len(),
        1,
        "the 2nd payment is not yet over (7,750.50), the 3rd is: {page}"
    );
    let split = splits.iter().find(|f| f["seq"] == json!(p3)).unwrap();
    assert_eq!(split["evidence"], json!([p3, p1, p2]), "{split}");
    assert_eq!(split["severity"], "high");
    assert!(
        split["message"].as_str().unwrap().contains("11450.75 EUR"),
        "{split}"
    );
    assert!(
        split["message"]
            .as_str()
            .unwrap()
            .contains("Alpha Uniforms"),
        "{split}"
    );
    assert!(splits.iter().all(|f| f["seq"] != json!(p1)));
    let (_, page) = call!(
        &app,
        w.get(&format!(
            "/api/v1/funds/{fund}/flags?rule=duplicate-payment"
        ))
    );
    let dup = &page["flags"][0];
    assert_eq!(
        (dup["seq"].clone(), dup["evidence"].clone()),
        (json!(i2), json!([i2, i1])),
        "{page}"
    );
    // Direct purchases are flagged too; counts add up.
    let (_, counts) = call!(&app, w.get(&format!("/api/v1/funds/{fund}/flags/counts")));
    let n = |rule: &str| {
        counts
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["rule"] == rule)
            .map(|c| c["count"].as_i64().unwrap())
            .sum::<i64>()
    };
    assert_eq!(
        (
            n("payment-without-contract"),
            n("split-purchase"),
            n("duplicate-payment")
        ),
        (3, 1, 1),
        "{counts}"
    );

    // Scope: the fund's donor sees them; another fund's donor and Justice do not.
    let flag_id = dup["id"].as_str().unwrap().to_owned();
    w.as_("donor", w.donor);
    let (status, _) = call!(&app, w.get(&format!("/api/v1/flags/{flag_id}")));
    assert_eq!(status, StatusCode::OK);
    w.as_("donor", w.other_donor);
    let (status, _) = call!(&app, w.get(&format!("/api/v1/flags/{flag_id}")));
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call!(&app, w.get(&format!("/api/v1/funds/{fund}/flags")));
    assert_eq!(status, StatusCode::NOT_FOUND);
    w.as_("ministry", w.justice);
    let (status, _) = call!(&app, w.get(&format!("/api/v1/flags/{flag_id}")));
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = call!(&app, w.get(&format!("/api/v1/funds/{fund}/flags")));
    assert_eq!(page["flags"], json!([]), "Justice has no flags of its own");

    // Triage: auditors only; dismissal needs a reason; transitions are checked.
    let triage = |action: &str, reason: Option<&str>| {
        TestRequest::post()
            .uri(&format!("/api/v1/flags/{flag_id}/triage"))
            .set_json(json!({"action": action, "reason": reason}))
    };
    w.as_("donor", w.donor);
    refused!(
        &app,
        triage("confirm", None),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
    w.as_("ministry", w.interior);
    refused!(
        &app,
        triage("dismiss", Some("ours")),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
    w.as_("auditor", w.other.auditor);
    refused!(
        &app,
        triage("confirm", None),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    w.as_("auditor", w.auditor);
    refused!(
        &app,
        triage("dismiss", None),
        StatusCode::UNPROCESSABLE_ENTITY,
        "reason_required"
    );
    refused!(
        &app,
        triage("reopen", None),
        StatusCode::CONFLICT,
        "invalid_transition"
    );
    let (status, _) = call!(&app, triage("acknowledge", None));
    assert_eq!(status, StatusCode::OK);
    let (status, detail) = call!(
        &app,
        triage(
            "dismiss",
            Some("the vendor re-sent the same invoice; paid once")
        )
    );
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["status"], "dismissed");
    let history: Vec<(String, String)> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["action"].as_str().unwrap().to_owned(),
                h["to_status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            ("acknowledge".to_owned(), "acknowledged".to_owned()),
            ("dismiss".to_owned(), "dismissed".to_owned())
        ]
    );
    assert_eq!(
        detail["evidence_entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].clone())
            .collect::<Vec<_>>(),
        vec![json!(i2), json!(i1)]
    );
    // Each transition is an administrative-chain entry with its actor and reason.
    let (_, admin) = call!(
        &app,
        w.get("/api/v1/chains/admin/entries?kind=flag_triaged")
    );
    let entries = admin["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[1]["entry"]["body"]["reason"],
        "the vendor re-sent the same invoice; paid once"
    );
    assert_eq!(entries[1]["entry"]["principal"]["role"], "auditor");
    // Nobody deletes a flag, not even the service's own database role.
    use diesel::prelude::*;
    let mut conn = w.superuser();
    diesel::sql_query("SET ROLE fundtrail_app")
        .execute(&mut conn)
        .unwrap();
    assert!(diesel::sql_query("DELETE FROM flags")
        .execute(&mut conn)
        .is_err());
    // What screening cost the writer is exported: this test screened the 14 appends
    // above (the counters are the process's, so other tests may add to them).
    let res = test::call_service(&app, TestRequest::get().uri("/metrics").to_request()).await;
    let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing: {text}"))
    };
    assert!(value("fundtrail_screening_jobs_total") >= 14.0, "{text}");
    assert!(value("fundtrail_screening_seconds_total") > 0.0, "{text}");
}

/// Auditors change a fund's screening thresholds with a `screening_config` entry; the
/// new thresholds apply to later entries, nobody else may change them, bad settings are
/// refused, and the thresholds are derived state that `rebuild` reproduces.
#[actix_web::test]
async fn auditors_tune_screening_thresholds_through_the_ledger() {
    let (w, app) = World::new().await;
    w.treasurer();
    ok!(&app, w.contribution("500000.00"));
    ok!(&app, w.allocation(w.interior, "equipment", "100000.00"));
    let config = |settings: Value| {
        w.post(
            "screening_config",
            json!({"settings": settings, "reason": "annual review"}),
        )
    };
    let u422 = StatusCode::UNPROCESSABLE_ENTITY;
    refused!(
        &app,
        config(json!({"direct_max": "20000.00"})),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
    w.as_("ministry", w.interior);
    refused!(
        &app,
        config(json!({"direct_max": "20000.00"})),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
    w.as_("auditor", w.auditor);
    refused!(
        &app,
        config(json!({"direct_maximum": "20000.00"})),
        u422,
        "unknown_setting"
    );
    refused!(
        &app,
        config(json!({"direct_max": "60000.00"})),
        u422,
        "invalid_setting"
    );
    refused!(
        &app,
        config(json!({"window_days": "soon"})),
        u422,
        "invalid_setting"
    );
    let c = ok!(&app, config(json!({"direct_max": "20000.00"})));
    refused!(
        &app,
        w.post("reversal", json!({"entry": c, "reason": "x"})),
        StatusCode::FORBIDDEN,
        "forbidden"
    );

    w.as_("ministry", w.interior);
    let v = w.vendors[2];
    let pay = |amount: &str| {
        w.post(
            "payment",
            json!({"vendor": v, "ministry": w.interior, "amount": eur(amount)}),
        )
    };
    ok!(&app, pay("3900.00"));
    ok!(&app, pay("3850.50"));
    ok!(&app, pay("3700.25"));
    w.as_("auditor", w.auditor);
    let fund = w.fund;
    let (_, page) = call!(
        &app,
        w.get(&format!("/api/v1/funds/{fund}/flags?rule=split-purchase"))
    );
    assert_eq!(
        page["flags"],
        json!([]),
        "11,450.75 is under the raised threshold: {page}"
    );
    w.as_("ministry", w.interior);
    let last = ok!(&app, pay("9000.25"));
    w.as_("auditor", w.auditor);
    let (_, page) = call!(
        &app,
        w.get(&format!("/api/v1/funds/{fund}/flags?rule=split-purchase"))
    );
    assert_eq!(page["flags"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["flags"][0]["seq"], json!(last));
    assert!(
        page["flags"][0]["message"]
            .as_str()
            .unwrap()
            .contains("threshold of 20000.00 EUR"),
        "{page}"
    );

    let mut conn = w.superuser();
    let report =
        fundtrail::entries::rebuild::run(&mut conn, false, &fundtrail::screening::Screens).unwrap();
    assert!(report.is_clean(), "{report:?}");
    use diesel::prelude::*;
    diesel::sql_query(
        "UPDATE screening_thresholds SET config = jsonb_set(config, '{direct_max}', '\"50000\"')",
    )
    .execute(&mut conn)
    .unwrap();
    let report =
        fundtrail::entries::rebuild::run(&mut conn, false, &fundtrail::screening::Screens).unwrap();
    assert_eq!(
        report.differences[0].table, "screening_thresholds",
        "{report:?}"
    );
}

/// An admin deactivates a fund: it takes no new entries, its records stay readable, and
/// only admins may do it.
#[actix_web::test]
async fn a_deactivated_fund_takes_no_entries() {
    let (w, app) = World::new().await;
    w.treasurer();
    ok!(&app, w.contribution("100.00"));
    let deactivate =
        |fund: Uuid| TestRequest::post().uri(&format!("/api/v1/admin/funds/{fund}/deactivate"));
    refused!(&app, deactivate(w.fund), StatusCode::FORBIDDEN, "forbidden");
    harness::act_as(&w.state, "admin");
    refused!(
        &app,
        deactivate(Uuid::new_v4()),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    let (status, _) = call!(&app, deactivate(w.fund));
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, funds) = call!(&app, w.get("/api/v1/funds"));
    let fund = funds
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == json!(w.fund))
        .unwrap()
        .clone();
    assert_eq!(fund["active"], json!(false));
    w.treasurer();
    refused!(
        &app,
        w.contribution("1.00"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "fund_inactive"
    );
    let (_, b) = call!(&app, w.balances());
    assert_eq!(b["totals"]["contributed"].as_str(), Some("100.00"));
    let (status, report) = call!(&app, w.get(&format!("/api/v1/chains/{}/verify", w.fund)));
    assert_eq!(
        (status, report["ok"].clone()),
        (StatusCode::OK, json!(true))
    );
}

#[actix_web::test]
async fn allocations_contracts_and_the_caller_are_readable_within_scope() {
    let (w, app) = World::new().await;
    w.treasurer();
    ok!(&app, w.contribution("100000.00"));
    let alloc = ok!(&app, w.allocation(w.interior, "equipment", "50000.00"));
    ok!(&app, w.allocation(w.justice, "works", "30000.00"));
    ok!(&app, w.disbursement(alloc, "12000.00"));
    let allocations = format!("/api/v1/funds/{}/allocations", w.fund);
    let (status, body) = call!(&app, w.get(&allocations));
    assert_eq!(status, StatusCode::OK, "{body}");
    let interior = &body["allocations"][0];
    assert_eq!(interior["seq"], alloc);
    assert_eq!(interior["ministry"]["id"], w.interior.to_string());
    assert_eq!(interior["ministry"]["name"], "Ministry of Interior");
    assert_eq!(
        (
            &interior["allocated"],
            &interior["disbursed"],
            &interior["undisbursed"]
        ),
        (&json!("50000.00"), &json!("12000.00"), &json!("38000.00"))
    );
    assert_eq!(body["allocations"].as_array().unwrap().len(), 2);

    // A contract's receipt names its id, and the listing finds it.
    w.as_("ministry", w.interior);
    let [v0, v1, _] = w.vendors;
    let tender = ok!(&app, w.tender("20000.00"));
    ok!(&app, w.bid(tender, v0, "18000.00"));
    ok!(&app, w.bid(tender, v1, "19000.00"));
    let award = ok!(&app, w.award(tender, v0, "18000.00", 2));
    let (status, receipt) = call!(
        &app,
        w.post(
            "contract",
            json!({"award": award, "value": eur("18000.00"),
                   "starts_on": "2026-01-01", "ends_on": "2026-12-31"})
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let id = receipt["contract_id"].as_str().unwrap().to_owned();
    // The receipt, contract id included, proves itself offline.
    let report = fundtrail::ledger::receipt::verify_receipt(
        &receipt.to_string(),
        &[w.state.ledger.verifier_key()],
    )
    .unwrap();
    assert!(report.ok, "{:?}", report.failure);
    let (status, one) = call!(&app, w.get(&format!("/api/v1/contracts/{id}")));
    assert_eq!(status, StatusCode::OK, "{one}");
    let contracts = format!("/api/v1/funds/{}/contracts", w.fund);
    let (status, page) = call!(&app, w.get(&contracts));
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["contracts"][0]["id"], id.as_str());
    assert_eq!(page["contracts"][0]["vendor"]["name"], "Alpha Uniforms");
    assert_eq!(page["contracts"][0]["value"], "18000.00");
    let (_, own) = call!(&app, w.get(&allocations));
    assert_eq!(
        own["allocations"].as_array().unwrap().len(),
        1,
        "a ministry sees its own allocation only: {own}"
    );

    // Another ministry of the fund sees neither the contract nor the allocation.
    w.as_("ministry", w.justice);
    let (_, page) = call!(&app, w.get(&contracts));
    assert_eq!(page["contracts"], json!([]), "{page}");
    let (_, own) = call!(&app, w.get(&allocations));
    assert_eq!(own["allocations"][0]["category"], "works");
    assert_eq!(own["allocations"].as_array().unwrap().len(), 1);
    // Outside the fund: 404, as for the fund itself.
    w.as_("treasurer", w.other.secretariat);
    let (status, _) = call!(&app, w.get(&contracts));
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call!(&app, w.get(&allocations));
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Who am I: a real user of the directory, its organisation and roles.
    let user = harness::user(
        &w._db,
        "donor@norway.example",
        "a long passphrase",
        &["donor"],
    );
    #[derive(diesel::QueryableByName)]
    struct Org {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        org_id: Uuid,
    }
    let org: Org = diesel::RunQueryDsl::get_result(
        diesel::sql_query(format!("SELECT org_id FROM users WHERE id = '{user}'")),
        &mut w.superuser(),
    )
    .unwrap();
    harness::act_as_user(&w.state, "donor", org.org_id, user);
    let (status, me) = call!(&app, w.get("/api/v1/me"));
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["email"], "donor@norway.example");
    assert_eq!(me["organization"]["id"], org.org_id.to_string());
    assert_eq!(me["role"], "donor");
    assert_eq!(me["roles"], json!(["donor"]));
    // A token whose user does not exist is no one.
    harness::act_with_token("donor", Uuid::new_v4(), Uuid::new_v4());
    let (status, body) = call!(&app, w.get("/api/v1/me"));
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}
