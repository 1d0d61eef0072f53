//! Bid disqualifications and approvals end to end, through the HTTP API: their invariants
//! and who may post them, the flags they lead to (lowest-bid-disqualified, bid-spread,
//! all-but-winner-disqualified, self-approval), spending-before-funding and
//! near-duplicate-payment by invoice numbers, and a rebuild that agrees.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use actix_web::web::Data;
use fundtrail::state::AppState;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, TestDb};
use crate::harness::{eur, org};

const U422: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// A EUR fund with an assigned auditor, a donor that contributed, Interior (allocated and
/// disbursed 40,000.00), Justice (allocated, nothing disbursed), Defence (no position in
/// the fund) and three vendors.
struct World {
    state: Data<AppState>,
    fund: Uuid,
    secretariat: Uuid,
    auditor: Uuid,
    donor: Uuid,
    interior: Uuid,
    justice: Uuid,
    defence: Uuid,
    vendors: [Uuid; 3],
    disbursement: u64,
    db: TestDb,
}

impl World {
    fn as_(&self, role: &str, org: Uuid) {
        harness::act_as_member(&self.state, role, org);
    }

    /// The fund's treasurer, auditor and donor: every role in the fund but a ministry's.
    fn fund_roles_but_ministry(&self) -> [(&'static str, Uuid); 3] {
        [
            ("treasurer", self.secretariat),
            ("auditor", self.auditor),
            ("donor", self.donor),
        ]
    }

    fn post_on(&self, date: chrono::NaiveDate, kind: &str, body: Value) -> TestRequest {
        harness::entry(self.fund, kind, date, body)
    }

    fn post(&self, kind: &str, body: Value) -> TestRequest {
        self.post_on(today(), kind, body)
    }

    /// The Ministry of Interior's open tender for equipment `title`, estimated at
    /// `estimate` EUR, closing in 30 days.
    fn open_tender(&self, title: &str, estimate: &str) -> TestRequest {
        self.post(
            "tender",
            json!({"ministry": self.interior, "title": title, "category": "equipment",
                "method": "open", "estimated_value": eur(estimate), "deadline": deadline()}),
        )
    }

    fn bid(&self, tender: u64, vendor: Uuid, amount: &str) -> TestRequest {
        harness::bid(self.fund, tender, vendor, amount)
    }

    fn award(&self, tender: u64, vendor: Uuid, amount: &str, bids_received: u32) -> TestRequest {
        harness::award(self.fund, tender, vendor, amount, bids_received)
    }

    /// The fund's flags of `rule`, as an auditor reads them.
    async fn flags<B: actix_web::body::MessageBody>(
        &self,
        app: &impl harness::App<B>,
        rule: &str,
    ) -> Vec<Value> {
        self.as_("auditor", self.auditor);
        harness::flags(app, self.fund, rule).await
    }

    fn rebuild_agrees(&self) {
        let mut conn = self.db.superuser_conn();
        let report =
            fundtrail::entries::rebuild::run(&mut conn, false, &fundtrail::screening::Screens)
                .unwrap();
        assert!(report.is_clean(), "{report:?}");
    }
}

async fn world() -> (World, app_service!()) {
    let (db, state, app) = harness::start().await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    let mut w = World {
        fund,
        secretariat,
        auditor,
        donor: org(&db, "Kingdom of Norway", "donor"),
        interior: org(&db, "Ministry of Interior", "ministry"),
        justice: org(&db, "Ministry of Justice", "ministry"),
        defence: org(&db, "Ministry of Defence", "ministry"),
        vendors: [
            org(&db, "Alpha Radio", "vendor"),
            org(&db, "Beta Telecom", "vendor"),
            org(&db, "Gamma Systems", "vendor"),
        ],
        disbursement: 0,
        state,
        db,
    };
    w.as_("treasurer", w.secretariat);
    ok!(
        &app,
        w.post(
            "contribution",
            json!({"donor": w.donor, "amount": eur("900000.00"), "agreement": "NOR-1"})
        )
    );
    let mut allocs = Vec::new();
    for m in [w.interior, w.justice] {
        allocs.push(ok!(
            &app,
            w.post(
                "allocation",
                json!({"ministry": m, "budget_line": "BL-4", "category": "equipment",
                    "amount": eur("400000.00"), "period_start": "2026-01-01", "period_end": "2027-12-31"})
            )
        ));
    }
    w.disbursement = ok!(
        &app,
        w.post(
            "disbursement",
            json!({"allocation": allocs[0], "amount": eur("40000.00"), "tranche": "T1"})
        )
    );
    (w, app)
}

fn deadline() -> String {
    (today() + chrono::Duration::days(30)).to_string()
}

#[actix_web::test]
async fn bid_disqualifications_keep_their_invariants() {
    let (w, app) = world().await;
    let [v0, v1, v2] = w.vendors;
    w.as_("ministry", w.interior);
    let tender = ok!(&app, w.open_tender("Radios", "120000.00"));
    let mut bids = Vec::new();
    for (v, a) in [(v0, "100123.45"), (v1, "104211.10"), (v2, "109870.00")] {
        bids.push(ok!(&app, w.bid(tender, v, a)));
    }
    let disqualify =
        |bid: u64, reason: &str| w.post("bid_disqualified", json!({"bid": bid, "reason": reason}));

    // Who may post: the tender's ministry only.
    for (role, org) in w.fund_roles_but_ministry() {
        w.as_(role, org);
        refused!(
            &app,
            disqualify(bids[0], "late"),
            StatusCode::FORBIDDEN,
            "forbidden"
        );
    }
    w.as_("ministry", w.justice);
    refused!(&app, disqualify(bids[0], "late"), U422, "unknown_reference");
    w.as_("ministry", w.defence);
    refused!(
        &app,
        disqualify(bids[0], "late"),
        StatusCode::NOT_FOUND,
        "not_found"
    );

    w.as_("ministry", w.interior);
    refused!(&app, disqualify(bids[0], " late"), U422, "invalid_text");
    refused!(
        &app,
        disqualify(bids[0], &"x".repeat(501)),
        U422,
        "invalid_text"
    );
    refused!(
        &app,
        disqualify(tender, "not a bid"),
        U422,
        "unknown_reference"
    );
    refused!(
        &app,
        disqualify(9_999, "no such entry"),
        U422,
        "unknown_reference"
    );
    let dq = ok!(&app, disqualify(bids[0], "Bid bond missing"));
    refused!(
        &app,
        disqualify(bids[0], "again"),
        U422,
        "bid_already_disqualified"
    );
    // The disqualified vendor cannot win, and its bid stays until the disqualification goes.
    refused!(
        &app,
        w.award(tender, v0, "100123.45", 3),
        U422,
        "vendor_disqualified"
    );
    refused!(
        &app,
        w.post("reversal", json!({"entry": bids[0], "reason": "withdrawn"})),
        U422,
        "reversal_blocked"
    );
    // Reversed, the bid stands again (and may be disqualified again).
    ok!(
        &app,
        w.post("reversal", json!({"entry": dq, "reason": "bond found"}))
    );
    let dq = ok!(&app, disqualify(bids[0], "Bid bond expired"));
    // The index shows the disqualification with its bid, tender and vendor.
    let (status, page) = call!(
        &app,
        TestRequest::get().uri(&format!(
            "/api/v1/funds/{}/entries?kind=bid_disqualified",
            w.fund
        ))
    );
    assert_eq!(status, StatusCode::OK, "{page}");
    let rows = page["entries"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["seq"], dq);
    assert_eq!(rows[1]["refers_to"], bids[0]);
    assert_eq!(rows[1]["vendor"]["id"], v0.to_string());
    assert_eq!(rows[1]["reversed_by"], Value::Null);
    assert_eq!(rows[0]["reversed_by"].as_u64(), Some(dq - 1));

    ok!(&app, w.award(tender, v1, "104211.10", 3));
    // After the award: no more disqualifications, and none is undone.
    refused!(&app, disqualify(bids[2], "late"), U422, "tender_not_open");
    refused!(
        &app,
        w.post("reversal", json!({"entry": dq, "reason": "oops"})),
        U422,
        "reversal_blocked"
    );
    w.rebuild_agrees();
}

#[actix_web::test]
async fn a_disqualified_lowest_bid_and_a_close_runner_up_are_flagged() {
    let (w, app) = world().await;
    let [v0, v1, v2] = w.vendors;
    w.as_("ministry", w.interior);
    let tender = ok!(&app, w.open_tender("Handheld radios", "120000.00"));
    let mut bids = Vec::new();
    // Alpha lowest; Beta and Gamma 0.38 % apart (a cover bid).
    for (v, a) in [(v0, "98765.43"), (v1, "104211.10"), (v2, "104611.10")] {
        bids.push(ok!(&app, w.bid(tender, v, a)));
    }
    let dq = ok!(
        &app,
        w.post(
            "bid_disqualified",
            json!({"bid": bids[0], "reason": "Technical offer incomplete"})
        )
    );
    let award = ok!(&app, w.award(tender, v1, "104211.10", 3));

    let flags = w.flags(&app, "lowest-bid-disqualified").await;
    assert_eq!(flags.len(), 1, "{flags:?}");
    let f = &flags[0];
    assert_eq!(f["seq"], award);
    assert_eq!(f["severity"], "high");
    assert_eq!(f["evidence"], json!([award, bids[0], dq, bids[1]]));
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains("Beta Telecom")
            && msg.contains("104211.10 EUR")
            && msg.contains("98765.43 EUR")
            && msg.contains("Alpha Radio"),
        "{msg}"
    );
    // The flag's evidence entries, each with its seq for a proof.
    let (status, one) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/flags/{}", f["id"].as_str().unwrap()))
    );
    assert_eq!(status, StatusCode::OK, "{one}");
    let kinds: Vec<&str> = one["evidence_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["award", "bid", "bid_disqualified", "bid"]);

    let spread = w.flags(&app, "bid-spread").await;
    assert_eq!(spread.len(), 1, "{spread:?}");
    assert_eq!(
        spread[0]["evidence"],
        json!([award, bids[1], bids[2], tender])
    );
    assert_eq!(spread[0]["severity"], "medium");
    assert!(
        spread[0]["message"].as_str().unwrap().contains("0.38%"),
        "{}",
        spread[0]["message"]
    );
    assert!(w
        .flags(&app, "all-but-winner-disqualified")
        .await
        .is_empty());

    // A second tender where everyone but the winner is ruled out.
    w.as_("ministry", w.interior);
    let t2 = ok!(&app, w.open_tender("Repeaters", "60000.00"));
    let mut b2 = Vec::new();
    for (v, a) in [(v0, "51234.50"), (v1, "52345.60"), (v2, "55432.10")] {
        b2.push(ok!(&app, w.bid(t2, v, a)));
    }
    let d1 = ok!(
        &app,
        w.post(
            "bid_disqualified",
            json!({"bid": b2[0], "reason": "Unsigned"})
        )
    );
    let d2 = ok!(
        &app,
        w.post("bid_disqualified", json!({"bid": b2[1], "reason": "Late"}))
    );
    let a2 = ok!(&app, w.award(t2, v2, "55432.10", 3));
    let all = w.flags(&app, "all-but-winner-disqualified").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["evidence"], json!([a2, b2[0], b2[1], b2[2], d1, d2]));
    assert_eq!(w.flags(&app, "lowest-bid-disqualified").await.len(), 2);
    // The first award raised no all-but-winner flag, the second no bid-spread (one valid bid).
    assert_eq!(w.flags(&app, "bid-spread").await.len(), 1);
    w.rebuild_agrees();
}

#[actix_web::test]
async fn payments_before_funding_and_transposed_invoice_numbers_are_flagged() {
    let (w, app) = world().await;
    let v = w.vendors[0];
    w.as_("ministry", w.interior);
    let tender = ok!(&app, w.open_tender("Radios", "90000.00"));
    ok!(&app, w.bid(tender, v, "80123.45"));
    let award = ok!(&app, w.award(tender, v, "80123.45", 1));
    let contract = ok!(
        &app,
        w.post("contract", json!({"award": award, "value": eur("80123.45"),
            "starts_on": today() - chrono::Duration::days(10), "ends_on": today() + chrono::Duration::days(200)}))
    );
    let invoice = |n: &str, a: &str| {
        w.post(
            "invoice",
            json!({"contract": contract, "vendor": v, "invoice_number": n, "amount": eur(a)}),
        )
    };
    let i1 = ok!(&app, invoice("INV-1042", "15310.20"));
    let i2 = ok!(&app, invoice("INV-1402", "15360.75"));
    let i3 = ok!(&app, invoice("INV-1240", "15320.40"));
    let i4 = ok!(&app, invoice("INV-2077", "20111.00"));
    // 15,310.20 of the 40,000.00 disbursed (dated today): funded.
    let p1 = ok!(
        &app,
        w.post("payment", json!({"invoice": i1, "amount": eur("15310.20")}))
    );
    // INV-1402 is INV-1042 with two digits swapped, 0.33 % apart: a near duplicate.
    let p2 = ok!(
        &app,
        w.post("payment", json!({"invoice": i2, "amount": eur("15360.75")}))
    );
    // INV-1240 is not a transposition of either (0 and 2 are not neighbours): nothing.
    let p3 = ok!(
        &app,
        w.post("payment", json!({"invoice": i3, "amount": eur("15320.40")}))
    );
    let near = w.flags(&app, "near-duplicate-payment").await;
    assert_eq!(near.len(), 1, "{near:?}");
    assert_eq!(near[0]["evidence"], json!([p2, p1]));
    assert!(
        near[0]["message"]
            .as_str()
            .unwrap()
            .contains("INV-1402 and INV-1042"),
        "{}",
        near[0]["message"]
    );
    // Paid 45,991.35 by today against 40,000.00 received: p3 is spending before funding.
    let sbf = w.flags(&app, "spending-before-funding").await;
    assert_eq!(sbf.len(), 1, "{sbf:?}");
    assert_eq!(sbf[0]["seq"], p3);
    assert_eq!(sbf[0]["evidence"], json!([p3, w.disbursement]));
    let msg = sbf[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("Ministry of Interior")
            && msg.contains("45991.35 EUR")
            && msg.contains("40000.00 EUR"),
        "{msg}"
    );
    // Dated before the tranche arrived: nothing received by then, whatever came since.
    w.as_("ministry", w.interior);
    let p4 = ok!(
        &app,
        w.post_on(
            today() - chrono::Duration::days(5),
            "payment",
            json!({"invoice": i4, "amount": eur("5000.50")})
        )
    );
    let sbf = w.flags(&app, "spending-before-funding").await;
    assert_eq!(sbf.len(), 2, "{sbf:?}");
    assert_eq!(sbf[1]["evidence"], json!([p4]));
    assert!(
        sbf[1]["message"].as_str().unwrap().contains("none yet"),
        "{}",
        sbf[1]["message"]
    );
    // A new tranche covers what was paid: the next payment raises nothing.
    w.as_("treasurer", w.secretariat);
    let (status, page) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{}/entries?kind=allocation", w.fund))
    );
    assert_eq!(status, StatusCode::OK);
    let alloc = page["entries"][0]["seq"].as_u64().unwrap();
    ok!(
        &app,
        w.post(
            "disbursement",
            json!({"allocation": alloc, "amount": eur("60000.00")})
        )
    );
    w.as_("ministry", w.interior);
    ok!(
        &app,
        w.post("payment", json!({"invoice": i4, "amount": eur("3000.25")}))
    );
    assert_eq!(w.flags(&app, "spending-before-funding").await.len(), 2);
    w.rebuild_agrees();
}

#[actix_web::test]
async fn self_approval_is_flagged_and_a_colleagues_is_not() {
    let (w, app) = world().await;
    let v = w.vendors[1];
    let (clerk, colleague) = (Uuid::new_v4(), Uuid::new_v4());
    let as_clerk = || harness::act_as_user(&w.state, "ministry", w.interior, clerk);
    let as_colleague = || harness::act_as_user(&w.state, "ministry", w.interior, colleague);
    as_clerk();
    let tender = ok!(
        &app,
        w.post(
            "tender",
            json!({"ministry": w.interior, "title": "Vehicles", "category": "vehicles",
                "method": "request_for_quotation", "estimated_value": eur("30000.00"), "deadline": deadline()})
        )
    );
    ok!(&app, w.bid(tender, v, "28765.40"));
    let award = ok!(&app, w.award(tender, v, "28765.40", 1));
    let contract = ok!(
        &app,
        w.post(
            "contract",
            json!({"award": award, "value": eur("28765.40"),
            "starts_on": today(), "ends_on": today() + chrono::Duration::days(90)})
        )
    );
    let invoice = ok!(
        &app,
        w.post("invoice", json!({"contract": contract, "vendor": v, "invoice_number": "BT-77", "amount": eur("28765.40")}))
    );
    let payment = ok!(
        &app,
        w.post(
            "payment",
            json!({"invoice": invoice, "amount": eur("12345.67")})
        )
    );
    let approve = |entry: u64| w.post("approval", json!({"entry": entry, "decision": "approved"}));

    // Who may approve: a ministry user of the entry's ministry (a treasurer decides only
    // requests pending under an approval policy).
    for (role, org) in w.fund_roles_but_ministry() {
        w.as_(role, org);
        if role == "treasurer" {
            refused!(&app, approve(payment), U422, "not_permitted");
        } else {
            refused!(&app, approve(payment), StatusCode::FORBIDDEN, "forbidden");
        }
    }
    w.as_("ministry", w.justice);
    refused!(&app, approve(payment), U422, "unknown_reference");
    w.as_("ministry", w.defence);
    refused!(&app, approve(payment), StatusCode::NOT_FOUND, "not_found");

    as_colleague();
    refused!(&app, approve(tender), U422, "not_approvable");
    refused!(&app, approve(9_999), U422, "unknown_reference");
    refused!(
        &app,
        w.post(
            "approval",
            json!({"entry": payment, "decision": "rejected"})
        ),
        U422,
        "invalid_body"
    );
    // The colleague's approval raises nothing; the clerk approving their own payment does.
    let by_colleague = ok!(&app, approve(payment));
    refused!(&app, approve(payment), U422, "already_approved");
    assert!(w.flags(&app, "self-approval").await.is_empty());
    as_clerk();
    let by_clerk = ok!(&app, approve(payment));
    refused!(&app, approve(payment), U422, "already_approved");
    let flags = w.flags(&app, "self-approval").await;
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0]["seq"], by_clerk);
    assert_eq!(flags[0]["severity"], "high");
    assert_eq!(flags[0]["evidence"], json!([by_clerk, payment]));
    assert_eq!(flags[0]["ministry"]["id"], w.interior.to_string());
    let msg = flags[0]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("payment {payment}"))
            && msg.contains("12345.67 EUR")
            && msg.contains(&clerk.to_string()),
        "{msg}"
    );
    assert_ne!(by_colleague, by_clerk);
    // The ministry sees the flag on its own entry.
    w.as_("ministry", w.interior);
    let (status, page) = call!(
        &app,
        TestRequest::get().uri(&format!(
            "/api/v1/funds/{}/flags?rule=self-approval",
            w.fund
        ))
    );
    assert_eq!(
        (status, page["flags"].as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );

    // Reversed, an approval no longer counts: the clerk may approve again. A reversed entry
    // cannot be approved.
    as_clerk();
    ok!(
        &app,
        w.post(
            "reversal",
            json!({"entry": by_clerk, "reason": "not mine to approve"})
        )
    );
    ok!(&app, approve(payment));
    ok!(
        &app,
        w.post(
            "reversal",
            json!({"entry": payment, "reason": "wrong amount"})
        )
    );
    as_colleague();
    refused!(&app, approve(payment), U422, "not_approvable");
    // Contracts, awards and invoices are approvable too.
    ok!(&app, approve(contract));
    assert_eq!(w.flags(&app, "self-approval").await.len(), 2);
    // Reports leave approvals (and their reversals) out of the money: the one payment was
    // reversed, so Interior paid nothing.
    w.as_("treasurer", w.secretariat);
    let (status, statement) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{}/reports/statement", w.fund))
    );
    assert_eq!(status, StatusCode::OK, "{statement}");
    let interior = statement["spending"]["ministries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["ministry"]["id"] == w.interior.to_string())
        .unwrap_or_else(|| panic!("{statement:#}"));
    assert_eq!(interior["paid"]["cumulative"], "0.00", "{statement:#}");
    // ... and count the self-approval flags (the only high ones here) like any other.
    let high = statement["flags"]["by_severity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["severity"] == "high")
        .unwrap_or_else(|| panic!("{statement:#}"));
    assert_eq!(high["counts"]["total"], 2, "{statement:#}");
    w.rebuild_agrees();
}

/// In a batch, later entries see the disqualifications and approvals of earlier ones
/// (the job's cache), a refusal takes the whole batch, and an approval of an entry of the
/// same batch knows who recorded it.
#[actix_web::test]
async fn batches_see_their_own_disqualifications_and_approvals() {
    let (w, app) = world().await;
    let [v0, v1, _] = w.vendors;
    let clerk = Uuid::new_v4();
    let as_clerk = || harness::act_as_user(&w.state, "ministry", w.interior, clerk);
    let batch = |entries: Vec<(&str, Value)>| {
        let entries: Vec<Value> = entries
            .into_iter()
            .map(|(kind, body)| {
                json!({"kind": kind, "business_date": today(), "idempotency_key": Uuid::new_v4().to_string(), "body": body})
            })
            .collect();
        TestRequest::post()
            .uri(&format!("/api/v1/funds/{}/entries/batch", w.fund))
            .set_json(json!({"entries": entries}))
    };
    as_clerk();
    let tender = ok!(&app, w.open_tender("Radios", "30000.00"));
    let b0 = ok!(&app, w.bid(tender, v0, "25123.40"));
    let b1 = ok!(&app, w.bid(tender, v1, "26234.50"));
    refused!(
        &app,
        batch(vec![
            ("bid_disqualified", json!({"bid": b0, "reason": "Late"})),
            (
                "award",
                json!({"tender": tender, "vendor": v0, "amount": eur("25123.40"), "bids_received": 2})
            ),
        ]),
        U422,
        "vendor_disqualified"
    );
    let (status, page) = call!(
        &app,
        TestRequest::get().uri(&format!(
            "/api/v1/funds/{}/entries?kind=bid_disqualified",
            w.fund
        ))
    );
    assert_eq!(
        (status, page["entries"].as_array().unwrap().len()),
        (StatusCode::OK, 0),
        "nothing written"
    );
    let (status, body) = call!(
        &app,
        batch(vec![
            ("bid_disqualified", json!({"bid": b0, "reason": "Late"})),
            (
                "award",
                json!({"tender": tender, "vendor": v1, "amount": eur("26234.50"), "bids_received": 2})
            ),
        ])
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let award = b1 + 2;
    let flags = w.flags(&app, "lowest-bid-disqualified").await;
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0]["evidence"], json!([award, b0, b1 + 1, b1]));

    as_clerk();
    let contract = ok!(
        &app,
        w.post(
            "contract",
            json!({"award": award, "value": eur("26234.50"),
            "starts_on": today(), "ends_on": today() + chrono::Duration::days(90)})
        )
    );
    let invoice = ok!(
        &app,
        w.post("invoice", json!({"contract": contract, "vendor": v1, "invoice_number": "BT-9", "amount": eur("26234.50")}))
    );
    let payment = invoice + 1;
    let approve = json!({"entry": payment, "decision": "approved"});
    let (status, body) = call!(
        &app,
        batch(vec![
            (
                "payment",
                json!({"invoice": invoice, "amount": eur("9876.54")})
            ),
            ("approval", approve.clone()),
        ])
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let flags = w.flags(&app, "self-approval").await;
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0]["evidence"], json!([payment + 1, payment]));
    // Twice by one user in one batch: refused; a reversal then a new approval: accepted.
    harness::act_as_user(&w.state, "ministry", w.interior, Uuid::new_v4());
    refused!(
        &app,
        batch(vec![
            ("approval", approve.clone()),
            ("approval", approve.clone())
        ]),
        U422,
        "already_approved"
    );
    as_clerk();
    let (status, body) = call!(
        &app,
        batch(vec![
            (
                "reversal",
                json!({"entry": payment + 1, "reason": "ask a colleague"})
            ),
            ("approval", approve.clone()),
        ])
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(w.flags(&app, "self-approval").await.len(), 2);
    w.rebuild_agrees();
}

/// Auditors list the fund's holidays in its screening thresholds; spending recorded on one
/// of them is off-hours and the flag names the holiday. Lists that are too long, or dates
/// that are not dates, are refused.
#[actix_web::test]
async fn spending_recorded_on_a_funds_holiday_is_off_hours() {
    let (w, app) = world().await;
    let config = |settings: Value| {
        w.post(
            "screening_config",
            json!({"settings": settings, "reason": "the fund's calendar"}),
        )
    };
    w.as_("ministry", w.interior);
    refused!(
        &app,
        config(json!({"holidays": [today()]})),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
    w.as_("auditor", w.auditor);
    let too_many: Vec<chrono::NaiveDate> = (0..367)
        .map(|i| today() + chrono::Duration::days(i))
        .collect();
    refused!(
        &app,
        config(json!({ "holidays": too_many })),
        U422,
        "invalid_setting"
    );
    refused!(
        &app,
        config(json!({"holidays": ["25 December"]})),
        U422,
        "invalid_setting"
    );
    ok!(&app, config(json!({ "holidays": [today()] })));
    w.as_("ministry", w.interior);
    let pay = ok!(
        &app,
        w.post(
            "payment",
            json!({"vendor": w.vendors[0], "ministry": w.interior, "category": "equipment",
                "amount": eur("1234.56")})
        )
    );
    let off = w.flags(&app, "off-hours").await;
    assert_eq!(off.len(), 1, "{off:?}");
    assert_eq!(
        (&off[0]["seq"], &off[0]["evidence"]),
        (&json!(pay), &json!([pay]))
    );
    let msg = off[0]["message"].as_str().unwrap();
    assert!(
        msg.ends_with(&format!("(the fund's holiday {})", today())),
        "{msg}"
    );
    w.rebuild_agrees();
}

/// Direct purchases by one ministry in one item category from several vendors, each under
/// the direct-purchase threshold and together over it, are a split purchase; other
/// categories, other ministries and reversed purchases do not count.
#[actix_web::test]
async fn direct_purchases_split_across_vendors_in_one_category_are_flagged() {
    let (w, app) = world().await;
    let buy = |ministry: Uuid, vendor: Uuid, category: &str, amount: &str| {
        w.post(
            "payment",
            json!({"vendor": vendor, "ministry": ministry, "category": category,
                "amount": eur(amount)}),
        )
    };
    let [a, b, c] = w.vendors;
    w.as_("ministry", w.interior);
    let p1 = ok!(&app, buy(w.interior, a, "uniforms", "3900.00"));
    let p2 = ok!(&app, buy(w.interior, b, "uniforms", "3850.50"));
    // Another category, and a purchase reversed: neither is part of the split.
    ok!(&app, buy(w.interior, c, "fuel", "3000.00"));
    // (9,750.50 with the first two: no flag when it was recorded.)
    let gone = ok!(&app, buy(w.interior, c, "uniforms", "2000.00"));
    ok!(
        &app,
        w.post(
            "reversal",
            json!({"entry": gone, "reason": "entered twice"})
        )
    );
    w.as_("ministry", w.justice);
    ok!(&app, buy(w.justice, c, "uniforms", "3000.00"));
    assert_eq!(w.flags(&app, "split-purchase").await, Vec::<Value>::new());
    // 3,900.00 + 3,850.50 + 2,300.00 = 10,050.50 by Interior for uniforms.
    w.as_("ministry", w.interior);
    let p3 = ok!(&app, buy(w.interior, c, "uniforms", "2300.00"));
    let split = w.flags(&app, "split-purchase").await;
    assert_eq!(split.len(), 1, "{split:?}");
    assert_eq!(split[0]["seq"], json!(p3));
    assert_eq!(split[0]["severity"], json!("high"));
    assert_eq!(split[0]["evidence"], json!([p3, p1, p2]));
    assert_eq!(
        split[0]["message"],
        json!(
            "3 payments by Ministry of Interior for uniforms (to Alpha Radio, Beta Telecom, \
            Gamma Systems) within 30 days total 10050.50 EUR, each under the direct purchase \
            threshold of 10000.00 EUR"
        )
    );
    w.rebuild_agrees();
}

/// A ministry's fifth award in a row to the same vendor is flagged with the five awards as
/// evidence; four in a row, another ministry's awards and an earlier winner do not count.
#[actix_web::test]
async fn a_fifth_award_in_a_row_to_one_vendor_is_flagged() {
    let (w, app) = world().await;
    let [alpha, beta, _] = w.vendors;
    let tender = |ministry: Uuid, date: chrono::NaiveDate| {
        w.post_on(
            date,
            "tender",
            json!({"ministry": ministry, "title": "Spare parts", "category": "equipment",
                "method": "direct", "estimated_value": eur("21000.00"),
                "deadline": date + chrono::Duration::days(30)}),
        )
    };
    let award = |tender: u64, vendor: Uuid, date: chrono::NaiveDate| {
        w.post_on(
            date,
            "award",
            json!({"tender": tender, "vendor": vendor, "amount": eur("20123.45"),
                "bids_received": 0}),
        )
    };
    // A direct tender of `ministry` dated `days_ago`, awarded to `vendor`: the award's seq.
    macro_rules! win {
        ($ministry:expr, $vendor:expr, $days_ago:expr) => {{
            let date = today() - chrono::Duration::days($days_ago);
            w.as_("ministry", $ministry);
            let t = ok!(&app, tender($ministry, date));
            ok!(&app, award(t, $vendor, date))
        }};
    }
    let mut won = Vec::new();
    for (ministry, vendor, days_ago) in [
        (w.interior, beta, 60),
        (w.interior, alpha, 50),
        (w.interior, alpha, 40),
        (w.justice, alpha, 35),
        (w.interior, alpha, 30),
        (w.interior, alpha, 20),
    ] {
        won.push(win!(ministry, vendor, days_ago));
    }
    assert_eq!(
        w.flags(&app, "vendor-concentration").await,
        Vec::<Value>::new(),
        "four in a row for Interior"
    );
    let fifth = win!(w.interior, alpha, 10);
    let flags = w.flags(&app, "vendor-concentration").await;
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0]["seq"], json!(fifth));
    assert_eq!(flags[0]["severity"], json!("medium"));
    assert_eq!(
        flags[0]["evidence"],
        json!([fifth, won[1], won[2], won[4], won[5]])
    );
    let msg = flags[0]["message"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!(
            "award {fifth} to Alpha Radio makes it the winner of the last 5 awards of Ministry of Interior in a row"
        )) && msg.ends_with("together 100617.25 EUR"),
        "{msg}"
    );
    // Backdated behind the run, another award to Alpha is not among the latest: no flag.
    win!(w.interior, alpha, 90);
    assert_eq!(w.flags(&app, "vendor-concentration").await.len(), 1);
    // The fifth award reversed, the next win's run is the four before it and the new one
    // (the latest awards kept between appends drop a reversed one).
    w.as_("ministry", w.interior);
    ok!(
        &app,
        w.post(
            "reversal",
            json!({"entry": fifth, "reason": "award annulled"})
        )
    );
    let sixth = win!(w.interior, alpha, 5);
    let flags = w.flags(&app, "vendor-concentration").await;
    assert_eq!(flags.len(), 2, "{flags:?}");
    let again = flags.iter().find(|f| f["seq"] == json!(sixth)).unwrap();
    assert_eq!(
        again["evidence"],
        json!([sixth, won[1], won[2], won[4], won[5]]),
        "{again}"
    );
    w.rebuild_agrees();
}

/// near-threshold raises one flag per procurement: on the first step just under a
/// threshold (the tender's estimate), not again on the award and the contract just under
/// the same threshold; a procurement estimated over it and awarded just under it is
/// flagged at the award (a new fact), and its contract at the same value adds nothing.
#[actix_web::test]
async fn near_threshold_is_flagged_once_per_procurement() {
    let (w, app) = world().await;
    let [alpha, _, _] = w.vendors;
    w.as_("ministry", w.interior);
    let mut flagged = Vec::new();
    for (estimate, value) in [("9700.00", "9650.00"), ("10400.00", "9800.00")] {
        let tender = ok!(
            &app,
            w.post(
                "tender",
                json!({"ministry": w.interior, "title": "Radios", "category": "equipment",
                    "method": "direct", "estimated_value": eur(estimate), "deadline": deadline()})
            )
        );
        let award = ok!(
            &app,
            w.post(
                "award",
                json!({"tender": tender, "vendor": alpha, "amount": eur(value),
                    "bids_received": 0})
            )
        );
        let contract = ok!(
            &app,
            w.post(
                "contract",
                json!({"award": award, "value": eur(value), "starts_on": today(),
                    "ends_on": today() + chrono::Duration::days(90)})
            )
        );
        flagged.push((tender, award, contract));
    }
    let flags = w.flags(&app, "near-threshold").await;
    let seqs: Vec<u64> = flags.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    // The first procurement at its tender; the second (estimated over 10,000) at its award.
    assert_eq!(seqs, [flagged[0].0, flagged[1].1], "{flags:?}");
    w.rebuild_agrees();
}
