//! Over-contract end to end, through the HTTP API: invoices above a contract's value are
//! recorded (no longer refused), and the invoice and the payment that take the
//! contract's totals above its value with amendments plus the tolerance are flagged, with
//! the contract, its amendment and the earlier invoices or payments as evidence.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use actix_web::web::Data;
use fundtrail::state::AppState;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, TestDb};
use crate::harness::{eur, org};

struct World {
    state: Data<AppState>,
    fund: Uuid,
    auditor: Uuid,
    interior: Uuid,
    vendor: Uuid,
    db: TestDb,
}

impl World {
    /// The Ministry of Interior, buying from Alpha Radio, in `fund`, which `auditor` audits.
    fn new(db: TestDb, state: Data<AppState>, fund: Uuid, auditor: Uuid) -> Self {
        Self {
            fund,
            auditor,
            interior: org(&db, "Ministry of Interior", "ministry"),
            vendor: org(&db, "Alpha Radio", "vendor"),
            state,
            db,
        }
    }

    /// An allocation of `amount` EUR to the ministry for equipment (budget line BL-4, 2026
    /// and 2027).
    fn allocation(&self, amount: &str) -> TestRequest {
        self.post(
            "allocation",
            json!({"ministry": self.interior, "budget_line": "BL-4", "category": "equipment",
                   "amount": eur(amount), "period_start": "2026-01-01", "period_end": "2027-12-31"}),
        )
    }

    /// The ministry's tender for radios by `method`, estimated at `estimate` EUR, closing in
    /// 30 days.
    fn radios_tender(&self, method: &str, estimate: &str) -> TestRequest {
        let deadline = chrono::Utc::now().date_naive() + chrono::Duration::days(30);
        self.post(
            "tender",
            json!({"ministry": self.interior, "title": "Radios", "category": "equipment",
                   "method": method, "estimated_value": eur(estimate), "deadline": deadline.to_string()}),
        )
    }

    fn as_(&self, role: &str, org: Uuid) {
        harness::act_as_member(&self.state, role, org);
    }

    fn post(&self, kind: &str, body: Value) -> TestRequest {
        harness::entry(self.fund, kind, chrono::Utc::now().date_naive(), body)
    }

    /// The contract signed on `award`, of `value` EUR, for 2026 and 2027.
    fn contract(&self, award: u64, value: &str) -> TestRequest {
        self.post(
            "contract",
            json!({"award": award, "value": eur(value),
                   "starts_on": "2026-01-01", "ends_on": "2027-12-31"}),
        )
    }

    /// The fund's over-contract flags, as an auditor reads them, oldest entry first; the
    /// ministry acts next.
    async fn over_contract_flags<B: actix_web::body::MessageBody>(
        &self,
        app: &impl harness::App<B>,
    ) -> Vec<Value> {
        self.as_("auditor", self.auditor);
        let mut flags = harness::flags(app, self.fund, "over-contract").await;
        flags.sort_by_key(|f| f["seq"].as_u64());
        self.as_("ministry", self.interior);
        flags
    }
}

#[actix_web::test]
async fn an_overrun_is_recorded_and_flagged_at_the_invoice_and_the_payment() {
    let (db, state, app) = harness::start().await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    let donor = org(&db, "Kingdom of Norway", "donor");
    let w = World::new(db, state, fund, auditor);

    // Funding: enough disbursed that payments are not spending before funding.
    w.as_("treasurer", secretariat);
    ok!(
        &app,
        w.post(
            "contribution",
            json!({"donor": donor, "amount": eur("500000.00"), "agreement": "NOR-1"})
        )
    );
    let alloc = ok!(&app, w.allocation("300000.00"));
    ok!(
        &app,
        w.post(
            "disbursement",
            json!({"allocation": alloc, "amount": eur("200000.00"), "tranche": "T1"})
        )
    );

    // A contract of 100,000 amended by +10,000: the line is 110,000 × 1.05 = 115,500.
    w.as_("ministry", w.interior);
    let tender = ok!(&app, w.radios_tender("open", "101000.00"));
    ok!(&app, harness::bid(w.fund, tender, w.vendor, "99990.00"));
    ok!(&app, w.post("bid", json!({"tender": tender, "vendor": org(&w.db, "Beta Telecom", "vendor"), "amount": eur("104321.00")})));
    let award = ok!(
        &app,
        harness::award(w.fund, tender, w.vendor, "99990.00", 2)
    );
    let contract = ok!(&app, w.contract(award, "100000.00"));
    let amendment = ok!(
        &app,
        w.post(
            "contract_amendment",
            json!({"contract": contract, "new_value": eur("110000.00"), "reason": "10 more radios"})
        )
    );
    let invoice = |n: &str, a: &str| {
        w.post("invoice", json!({"contract": contract, "vendor": w.vendor, "invoice_number": n, "amount": eur(a)}))
    };
    let pay = |i: u64, a: &str| w.post("payment", json!({"invoice": i, "amount": eur(a)}));

    // 112,000 invoiced and paid: above the value, within the tolerance; nothing raised.
    let inv_a = ok!(&app, invoice("INV-1", "60000.00"));
    let pay_a = ok!(&app, pay(inv_a, "60000.00"));
    let inv_b = ok!(&app, invoice("INV-2", "52000.00"));
    let pay_b = ok!(&app, pay(inv_b, "52000.00"));
    assert!(w.over_contract_flags(&app).await.is_empty());

    // 8,000 more: 120,000 invoiced (recorded, not refused), then 120,000 paid. Each raises
    // over-contract with the contract, its amendment and the earlier ones as evidence.
    let inv_c = ok!(&app, invoice("INV-3", "8000.00"));
    let pay_c = ok!(&app, pay(inv_c, "8000.00"));
    let flags = w.over_contract_flags(&app).await;
    assert_eq!(flags.len(), 2, "{flags:#?}");
    let (fi, fp) = (&flags[0], &flags[1]);
    assert_eq!(fi["seq"], json!(inv_c));
    assert_eq!(fi["severity"], "high");
    assert_eq!(fi["ministry"]["id"], json!(w.interior));
    assert_eq!(fi["vendor"]["id"], json!(w.vendor));
    assert_eq!(
        fi["evidence"],
        json!([inv_c, contract, amendment, inv_a, inv_b]),
        "{fi}"
    );
    assert_eq!(fp["seq"], json!(pay_c));
    assert_eq!(
        fp["evidence"],
        json!([pay_c, contract, amendment, pay_a, pay_b]),
        "{fp}"
    );
    for (flag, what) in [(fi, "invoices"), (fp, "payments")] {
        let m = flag["message"].as_str().unwrap();
        for part in [
            format!("{what} of contract {contract} with Alpha Radio total 120000.00 EUR"),
            "10000.00 EUR above its value of 110000.00 EUR".to_owned(),
            "100000.00 EUR signed, 10000.00 EUR in 1 amendment".to_owned(),
            "allows 115500.00 EUR".to_owned(),
        ] {
            assert!(m.contains(&part), "{part:?} not in {m}");
        }
    }

    // The payment and the invoice reversed, a smaller invoice paid: 115,000, under the
    // line, so nothing new; the earlier flags stay (flags are never deleted).
    ok!(
        &app,
        w.post(
            "reversal",
            json!({"entry": pay_c, "reason": "paid in error"})
        )
    );
    ok!(
        &app,
        w.post(
            "reversal",
            json!({"entry": inv_c, "reason": "wrong amount"})
        )
    );
    let inv_d = ok!(&app, invoice("INV-3b", "3000.00"));
    ok!(&app, pay(inv_d, "3000.00"));
    let after = w.over_contract_flags(&app).await;
    assert_eq!(after.len(), 2, "{after:#?}");
    assert_eq!(
        (&after[0]["seq"], &after[1]["seq"]),
        (&json!(inv_c), &json!(pay_c))
    );

    // The contract as a user reads it: over its value, and what the ledger holds agrees.
    let id = fundtrail::procurement::rules::contract_id(w.fund, contract);
    let (status, c) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/contracts/{id}"))
    );
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(
        (
            c["value"].as_str(),
            c["invoiced"].as_str(),
            c["paid"].as_str()
        ),
        (Some("110000.00"), Some("115000.00"), Some("115000.00")),
        "{c}"
    );
    let report = fundtrail::entries::rebuild::run(
        &mut w.db.superuser_conn(),
        false,
        &fundtrail::screening::Screens,
    )
    .unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[actix_web::test]
async fn amendments_of_an_overrun_contract_may_raise_but_not_lower_its_value() {
    let (db, state, app) = harness::start().await;
    let secretariat = org(&db, "MDTF Secretariat", "fund_secretariat");
    harness::act_as(&state, "admin");
    let fund = harness::create_fund(&app, "SSR Fund", secretariat).await;
    let auditor = org(&db, "Supreme Audit Institution", "audit_body");
    let w = World::new(db, state, fund, auditor);
    // The ministry sees the fund once it holds an allocation in it.
    w.as_("treasurer", secretariat);
    ok!(&app, w.allocation("1000.00"));
    w.as_("ministry", w.interior);
    let tender = ok!(&app, w.radios_tender("direct", "9000.00"));
    let award = ok!(&app, harness::award(w.fund, tender, w.vendor, "9000.00", 0));
    let contract = ok!(&app, w.contract(award, "9000.00"));
    ok!(&app, w.post("invoice", json!({"contract": contract, "vendor": w.vendor, "invoice_number": "1", "amount": eur("12000.00")})));
    // Lowering below the 12,000 invoiced is refused; raising, even to less, is not.
    let (status, body) = call!(
        &app,
        w.post(
            "contract_amendment",
            json!({"contract": contract, "new_value": eur("8000.00"), "reason": "cut"})
        )
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("amendment_below_invoiced")
        ),
        "{body}"
    );
    let raise = ok!(&app, w.post("contract_amendment", json!({"contract": contract, "new_value": eur("11000.00"), "reason": "partly regularised"})));
    // Reversing that raise would lower the value below what is invoiced: blocked.
    let (status, body) = call!(
        &app,
        w.post("reversal", json!({"entry": raise, "reason": "x"}))
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reversal_blocked")),
        "{body}"
    );
    let report = fundtrail::entries::rebuild::run(
        &mut w.db.superuser_conn(),
        false,
        &fundtrail::screening::Screens,
    )
    .unwrap();
    assert!(report.is_clean(), "{report:?}");
}
