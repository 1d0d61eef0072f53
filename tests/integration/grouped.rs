//! Typed entries committed in groups: concurrent appends to one fund are applied by its
//! writer in one transaction, what each job reads carried to the group's next job. A job
//! refused inside a group is refused alone, the others commit with exactly their effect,
//! a retried idempotency key never doubles one, and a rebuild agrees with what the groups
//! wrote.

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::web::Data;
use fundtrail::state::AppState;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, TestDb};
use crate::harness::{eur, org};

struct World {
    state: Data<AppState>,
    fund: Uuid,
    secretariat: Uuid,
    audit_body: Uuid,
    donor: Uuid,
    interior: Uuid,
    vendor: Uuid,
    db: TestDb,
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

impl World {
    async fn new() -> (Self, app_service!()) {
        let (db, state, app) = harness::start().await;
        let (fund, secretariat, audit_body) = harness::audited_fund(&db, &state, &app).await;
        let world = World {
            fund,
            secretariat,
            audit_body,
            donor: org(&db, "Kingdom of Norway", "donor"),
            interior: org(&db, "Ministry of Interior", "ministry"),
            vendor: org(&db, "Alpha Radio", "vendor"),
            state,
            db,
        };
        (world, app)
    }

    fn treasurer(&self) {
        harness::act_as_member(&self.state, "treasurer", self.secretariat);
    }

    fn ministry(&self) {
        harness::act_as_member(&self.state, "ministry", self.interior);
    }

    fn post(&self, kind: &str, body: Value) -> TestRequest {
        harness::entry(self.fund, kind, today(), body)
    }

    /// The request as the current actor, ready to be fired with others.
    fn ready(&self, req: TestRequest) -> actix_http::Request {
        harness::authed(req).to_request()
    }

    fn disbursement(&self, allocation: u64, amount: &str) -> TestRequest {
        self.post(
            "disbursement",
            json!({"allocation": allocation, "amount": eur(amount)}),
        )
    }

    /// Funded: a contribution of 100,000.00 and an allocation of `allocated` to the
    /// ministry; the allocation's seq.
    async fn funded<B: actix_web::body::MessageBody>(
        &self,
        app: &impl harness::App<B>,
        allocated: &str,
    ) -> u64 {
        self.treasurer();
        ok!(
            app,
            self.post(
                "contribution",
                json!({"donor": self.donor, "amount": eur("100000.00"), "agreement": "A"})
            )
        );
        ok!(
            app,
            self.post(
                "allocation",
                json!({"ministry": self.interior, "budget_line": "B", "category": "c",
                       "amount": eur(allocated), "period_start": "2026-01-01", "period_end": "2027-12-31"})
            )
        )
    }

    /// Funded, 900.00 disbursed, and a contract of 900.00 with the vendor awarded by an
    /// open tender; the contract's seq, with the ministry acting.
    async fn contracted<B: actix_web::body::MessageBody>(&self, app: &impl harness::App<B>) -> u64 {
        let alloc = self.funded(app, "1000.00").await;
        ok!(app, self.disbursement(alloc, "900.00"));
        self.ministry();
        let deadline = chrono::Utc::now().date_naive() + chrono::Duration::days(10);
        let tender = ok!(
            app,
            self.post(
                "tender",
                json!({"ministry": self.interior, "title": "T", "category": "c", "method": "open",
            "estimated_value": eur("900.00"), "deadline": deadline.to_string()})
            )
        );
        ok!(app, harness::bid(self.fund, tender, self.vendor, "900.00"));
        let award = ok!(
            app,
            harness::award(self.fund, tender, self.vendor, "900.00", 1)
        );
        ok!(
            app,
            self.post(
                "contract",
                json!({"award": award, "value": eur("900.00"),
            "starts_on": "2026-01-01", "ends_on": "2027-12-31"})
            )
        )
    }

    /// An invoice of the vendor against `contract`.
    fn invoice(&self, contract: u64, number: &str, amount: &str) -> TestRequest {
        self.post(
            "invoice",
            json!({"contract": contract, "vendor": self.vendor,
            "invoice_number": number, "amount": eur(amount)}),
        )
    }

    /// (disbursed, left) of the allocation, as the treasurer reads them.
    async fn allocation_use<B: actix_web::body::MessageBody>(
        &self,
        app: &impl harness::App<B>,
        allocation: u64,
    ) -> (String, String) {
        self.treasurer();
        let (status, body) = call!(
            app,
            TestRequest::get().uri(&format!("/api/v1/funds/{}/allocations", self.fund))
        );
        assert_eq!(status, StatusCode::OK, "{body}");
        let a = body["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["seq"].as_u64() == Some(allocation))
            .unwrap()
            .clone();
        (
            a["disbursed"].as_str().unwrap().to_owned(),
            a["undisbursed"].as_str().unwrap().to_owned(),
        )
    }

    fn chain_size(&self) -> i64 {
        use diesel::prelude::*;
        fundtrail::schema::chain_heads::table
            .find(self.fund)
            .select(fundtrail::schema::chain_heads::size)
            .first(&mut self.db.superuser_conn())
            .unwrap()
    }

    /// `fundtrail rebuild --check` over the database: clean.
    fn rebuild_is_clean(&self) {
        let mut conn = self.db.superuser_conn();
        let report =
            fundtrail::entries::rebuild::run(&mut conn, false, &fundtrail::screening::Screens)
                .unwrap();
        assert!(report.is_clean(), "{report:?}");
    }
}

/// Fires every request at once; (status, body) of each, in order.
async fn fire<B: actix_web::body::MessageBody>(
    app: &impl harness::App<B>,
    requests: Vec<actix_http::Request>,
) -> Vec<(StatusCode, Value)> {
    let answers =
        futures_util::future::join_all(requests.into_iter().map(|r| test::call_service(app, r)))
            .await;
    let mut out = Vec::new();
    for res in answers {
        let status = res.status();
        let body = serde_json::from_slice(&test::read_body(res).await).unwrap_or(Value::Null);
        out.push((status, body));
    }
    out
}

/// 50 disbursements of 30.00 against an allocation of 1,000.00, fired at once with a
/// ministry's invoices against a contract: exactly 33 disbursements are recorded and 17
/// refused as exceeding the allocation, which ends with 10.00 left; every invoice is
/// recorded; the chain verifies and a rebuild agrees with the derived state.
#[actix_web::test]
async fn concurrent_typed_appends_overdraw_no_allocation_and_rebuild_agrees() {
    let (w, app) = World::new().await;
    let alloc = w.funded(&app, "1000.00").await;
    ok!(&app, w.disbursement(alloc, "500.00"));
    w.ministry();
    let deadline = chrono::Utc::now().date_naive() + chrono::Duration::days(10);
    let tender = ok!(
        &app,
        w.post(
            "tender",
            json!({"ministry": w.interior, "title": "T", "category": "c", "method": "open",
        "estimated_value": eur("900.00"), "deadline": deadline.to_string()})
        )
    );
    ok!(&app, harness::bid(w.fund, tender, w.vendor, "900.00"));
    let award = ok!(&app, harness::award(w.fund, tender, w.vendor, "900.00", 1));
    let contract = ok!(
        &app,
        w.post(
            "contract",
            json!({"award": award, "value": eur("900.00"),
        "starts_on": "2026-01-01", "ends_on": "2027-12-31"})
        )
    );
    let before = w.chain_size();

    let mut requests = Vec::new();
    w.treasurer();
    for _ in 0..50 {
        requests.push(w.ready(w.disbursement(alloc, "10.00")));
    }
    w.ministry();
    for i in 0..10 {
        requests.push(w.ready(w.post(
            "invoice",
            json!({"contract": contract, "vendor": w.vendor,
            "invoice_number": format!("INV-{i}"), "amount": eur("50.00")}),
        )));
    }
    let answers = fire(&app, requests).await;
    let (mut ok, mut exceeded) = (0, 0);
    for (status, body) in answers.iter().take(50) {
        match *status {
            StatusCode::CREATED => ok += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(body["code"], "allocation_exceeded", "{body}");
                exceeded += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((ok, exceeded), (50, 0), "500.00 was left: all fit");
    for (status, body) in answers.iter().skip(50) {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
    }
    assert_eq!(
        w.allocation_use(&app, alloc).await,
        ("1000.00".to_owned(), "0.00".to_owned())
    );

    // The allocation is used up: a second allocation, overdrawn by 50 at once.
    let second = ok!(
        &app,
        w.post(
            "allocation",
            json!({"ministry": w.interior, "budget_line": "B2", "category": "c",
                   "amount": eur("1000.00"), "period_start": "2026-01-01", "period_end": "2027-12-31"})
        )
    );
    let requests = (0..50)
        .map(|_| w.ready(w.disbursement(second, "30.00")))
        .collect();
    let answers = fire(&app, requests).await;
    let (mut ok, mut exceeded) = (0, 0);
    for (status, body) in &answers {
        match *status {
            StatusCode::CREATED => ok += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(body["code"], "allocation_exceeded", "{body}");
                exceeded += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((ok, exceeded), (33, 17));
    assert_eq!(
        w.allocation_use(&app, second).await,
        ("990.00".to_owned(), "10.00".to_owned())
    );
    assert_eq!(w.chain_size(), before + 50 + 10 + 1 + 33);
    let (_, report) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{}/verify", w.fund))
    );
    assert_eq!(report["ok"], json!(true), "{report}");
    w.rebuild_is_clean();
}

/// Jobs refused in the middle of concurrent appends (too large for the allocation, an
/// unknown allocation, an invoice on no contract) are refused alone: the others are
/// recorded with exactly their amounts, and the refused ones leave no entry and no
/// derived change behind.
#[actix_web::test]
async fn a_refused_job_among_concurrent_ones_is_refused_alone() {
    let (w, app) = World::new().await;
    let alloc = w.funded(&app, "1000.00").await;
    let before = w.chain_size();
    w.treasurer();
    let mut requests = Vec::new();
    for round in 0..4 {
        requests.push(w.ready(w.disbursement(alloc, "10.00")));
        requests.push(w.ready(w.disbursement(alloc, "5000.00")));
        requests.push(w.ready(w.disbursement(alloc + 999, "1.00")));
        requests.push(w.ready(w.disbursement(alloc, &format!("2{round}.00"))));
    }
    w.ministry();
    requests.push(w.ready(w.post(
        "invoice",
        json!({"contract": 999, "vendor": w.vendor,
        "invoice_number": "X", "amount": eur("1.00")}),
    )));
    let answers = fire(&app, requests).await;
    let codes: Vec<(u16, String)> = answers
        .iter()
        .map(|(s, b)| (s.as_u16(), b["code"].as_str().unwrap_or("").to_owned()))
        .collect();
    for (i, (status, code)) in codes.iter().enumerate() {
        let expected = match (i, i % 4) {
            (16, _) => (422, "unknown_reference"),
            (_, 0) | (_, 3) => (201, ""),
            (_, 1) => (422, "allocation_exceeded"),
            _ => (422, "unknown_reference"),
        };
        assert_eq!((*status, code.as_str()), expected, "request {i}: {codes:?}");
    }
    // 4 × 10.00 + 20.00 + 21.00 + 22.00 + 23.00.
    assert_eq!(
        w.allocation_use(&app, alloc).await,
        ("126.00".to_owned(), "874.00".to_owned())
    );
    assert_eq!(w.chain_size(), before + 8);
    w.rebuild_is_clean();
}

/// An approval policy fired at once with disbursements above its threshold: the jobs of a
/// group keep the policy they read, and one of them replacing it must change what the
/// group's later jobs see. Exactly the disbursements recorded after the policy are held;
/// those before it take effect; a rebuild agrees.
#[actix_web::test]
async fn a_policy_among_concurrent_disbursements_holds_exactly_those_after_it() {
    let (w, app) = World::new().await;
    let alloc = w.funded(&app, "10000.00").await;
    w.treasurer();
    let mut requests: Vec<_> = (0..12)
        .map(|_| w.ready(w.disbursement(alloc, "600.00")))
        .collect();
    harness::act_as_member(&w.state, "auditor", w.audit_body);
    let policy = w.ready(w.post(
        "approval_policy",
        json!({"rules": [{"kind": "disbursement", "above": eur("500.00")}],
               "expiry_hours": 72, "reason": "Steering committee decision"}),
    ));
    requests.insert(4, policy);
    let answers = fire(&app, requests).await;
    let mut seqs = Vec::new();
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
        seqs.push(body["seq"].as_u64().unwrap());
    }
    let policy_seq = seqs.remove(4);
    let before = seqs.iter().filter(|s| **s < policy_seq).count();
    let after = seqs.len() - before;
    assert_eq!(
        w.allocation_use(&app, alloc).await.0,
        format!("{}.00", 600 * before),
        "{before} disbursements before the policy at {policy_seq}, {after} after: {seqs:?}"
    );
    let held = harness::number(
        &mut w.db.superuser_conn(),
        &format!(
            "SELECT count(*) AS n FROM approval_requests WHERE fund_id = '{}'",
            w.fund
        ),
    );
    assert_eq!(held, i64::try_from(after).unwrap(), "{seqs:?}");
    w.rebuild_is_clean();
}

/// The same disbursement sent five times at once under one idempotency key, among other
/// appends, and once more afterwards: one entry, its amount counted once, every answer the
/// same entry.
#[actix_web::test]
async fn a_retried_key_among_concurrent_appends_counts_once() {
    let (w, app) = World::new().await;
    let alloc = w.funded(&app, "1000.00").await;
    let before = w.chain_size();
    w.treasurer();
    let retried = || {
        w.disbursement(alloc, "100.00")
            .insert_header(("idempotency-key", "retried-disbursement"))
    };
    let mut requests = Vec::new();
    for _ in 0..5 {
        requests.push(w.ready(retried()));
        requests.push(w.ready(w.disbursement(alloc, "1.00")));
    }
    let answers = fire(&app, requests).await;
    let mut seqs = std::collections::BTreeSet::new();
    for (i, (status, body)) in answers.iter().enumerate() {
        assert!(
            *status == StatusCode::CREATED || *status == StatusCode::OK,
            "{status}: {body}"
        );
        if i % 2 == 0 {
            seqs.insert(body["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(seqs.len(), 1, "one entry for the key: {seqs:?}");
    let (status, body) = call!(&app, retried());
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["replayed"], json!(true));
    assert_eq!(Some(body["seq"].as_u64().unwrap()), seqs.first().copied());
    assert_eq!(
        w.allocation_use(&app, alloc).await,
        ("105.00".to_owned(), "895.00".to_owned())
    );
    assert_eq!(w.chain_size(), before + 6);
    w.rebuild_is_clean();
}

/// A job the database refuses only when its derived rows are written (here a trigger
/// refuses one invoice number, as a check constraint would) is refused alone, among
/// concurrent jobs applied without a savepoint each: its group is applied again with one
/// per job, the others are recorded once and screened as if posted one by one (a repeated
/// invoice number is flagged, whether the first was recorded before the burst or in it),
/// and nothing of the refused job is left.
#[actix_web::test]
async fn a_job_the_database_refuses_after_its_writes_is_refused_alone() {
    use diesel::prelude::*;
    let (w, app) = World::new().await;
    let contract = w.contracted(&app).await;
    let invoice = |number: &str, amount: &str| w.invoice(contract, number, amount);
    ok!(&app, invoice("DUP-1", "11.11"));
    let mut conn = w.db.superuser_conn();
    diesel::sql_query(
        "CREATE FUNCTION refuse_one_invoice() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'refused by a test' USING ERRCODE = 'check_violation'; END $$",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query(
        "CREATE TRIGGER refuse_one_invoice BEFORE INSERT ON invoices FOR EACH ROW \
         WHEN (NEW.invoice_number = 'REFUSED') EXECUTE FUNCTION refuse_one_invoice()",
    )
    .execute(&mut conn)
    .unwrap();
    let before = w.chain_size();

    let mut requests = Vec::new();
    for i in 0..12 {
        requests.push(w.ready(invoice(&format!("INV-{i}"), &format!("1{i}.37"))));
        match i {
            3 => requests.push(w.ready(invoice("DUP-1", "12.34"))),
            4 | 8 => requests.push(w.ready(invoice("DUP-2", &format!("2{i}.71")))),
            6 => requests.push(w.ready(invoice("REFUSED", "13.13"))),
            _ => {}
        }
    }
    let answers = fire(&app, requests).await;
    let mut refused = 0;
    for (status, body) in &answers {
        match body["code"].as_str() {
            Some("invalid_value") => {
                assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
                refused += 1;
            }
            _ => assert_eq!(*status, StatusCode::CREATED, "{body}"),
        }
    }
    assert_eq!(refused, 1);
    assert_eq!(w.chain_size(), before + 15);
    let duplicates: Vec<i64> = {
        use fundtrail::schema::flags::dsl as f;
        f::flags
            .filter(f::fund_id.eq(w.fund))
            .filter(f::rule.eq("duplicate-payment"))
            .filter(f::seq.ge(before))
            .select(f::seq)
            .load(&mut conn)
            .unwrap()
    };
    assert_eq!(
        duplicates.len(),
        2,
        "DUP-1 once more, DUP-2 twice: {duplicates:?}"
    );
    let invoiced: rust_decimal::Decimal = {
        use fundtrail::schema::contracts::dsl as c;
        c::contracts
            .filter(c::fund_id.eq(w.fund))
            .filter(c::seq.eq(i64::try_from(contract).unwrap()))
            .select(c::invoiced)
            .first(&mut conn)
            .unwrap()
    };
    // 11.11 before; the twelve INV- amounts, 12.34, 24.71 and 28.71 in the burst.
    let burst: rust_decimal::Decimal = (0..12)
        .map(|i| format!("1{i}.37").parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    let expected = burst + rust_decimal::Decimal::new(1111 + 1234 + 2471 + 2871, 2);
    assert_eq!(invoiced, expected);
    diesel::sql_query("DROP TRIGGER refuse_one_invoice ON invoices")
        .execute(&mut conn)
        .unwrap();
    w.treasurer();
    let (_, report) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{}/verify", w.fund))
    );
    assert_eq!(report["ok"], json!(true), "{report}");
    w.rebuild_is_clean();
}

/// Invoices fired at once are screened against each other and against what was recorded
/// before, whether or not they share a group: a burst repeating an earlier number, a
/// number twice within the burst and (once) the number of a reversed invoice raises exactly
/// `duplicate-payment` for the earlier number's repeat and for the burst's second copy,
/// each naming the invoice it repeats. A reversal fired in the same burst (it writes as it
/// goes) changes nothing of that.
#[actix_web::test]
async fn invoices_fired_at_once_find_their_duplicates_within_the_burst_and_before_it() {
    use diesel::prelude::*;
    let (w, app) = World::new().await;
    let contract = w.contracted(&app).await;
    let invoice = |number: &str, amount: &str| w.invoice(contract, number, amount);
    let earlier = ok!(&app, invoice("EARLY-1", "10.01"));
    let reversed = ok!(&app, invoice("GONE-1", "10.02"));
    let other = ok!(&app, invoice("OTHER-1", "10.03"));
    ok!(
        &app,
        w.post(
            "reversal",
            json!({"entry": reversed, "reason": "entered twice"})
        )
    );
    let before = w.chain_size();

    for with_reversal in [false, true] {
        let tag = if with_reversal { "R" } else { "N" };
        let mut requests = Vec::new();
        for i in 0..10 {
            requests.push(w.ready(invoice(&format!("{tag}-{i}"), &format!("2{i}.50"))));
            match i {
                2 => requests.push(w.ready(invoice("EARLY-1", "30.01"))),
                4 | 7 => requests.push(w.ready(invoice(&format!("TWICE-{tag}"), "30.02"))),
                5 if !with_reversal => requests.push(w.ready(invoice("GONE-1", "30.03"))),
                6 if with_reversal => requests.push(
                    w.ready(w.post("reversal", json!({"entry": other, "reason": "not ours"}))),
                ),
                _ => {}
            }
        }
        for (status, body) in fire(&app, requests).await {
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    }

    let mut conn = w.db.superuser_conn();
    let flagged: Vec<(i64, Vec<Option<i64>>)> = {
        use fundtrail::schema::flags::dsl as f;
        f::flags
            .filter(f::fund_id.eq(w.fund))
            .filter(f::rule.eq("duplicate-payment"))
            .filter(f::seq.ge(before))
            .select((f::seq, f::evidence))
            .order(f::seq)
            .load(&mut conn)
            .unwrap()
    };
    let numbers: std::collections::HashMap<i64, String> = {
        use fundtrail::schema::invoices::dsl as i;
        i::invoices
            .filter(i::fund_id.eq(w.fund))
            .select((i::seq, i::invoice_number))
            .load(&mut conn)
            .unwrap()
            .into_iter()
            .collect()
    };
    let earlier = i64::try_from(earlier).unwrap();
    let repeats: Vec<(&str, Vec<i64>)> = flagged
        .iter()
        .map(|(seq, evidence)| {
            (
                numbers[seq].as_str(),
                evidence.iter().skip(1).flatten().copied().collect(),
            )
        })
        .collect();
    // Per round: EARLY-1 repeats the earlier invoice, the second TWICE- repeats the first;
    // GONE-1 repeats only a reversed invoice.
    assert_eq!(repeats.len(), 4, "{repeats:?}");
    for tag in ["N", "R"] {
        let twice = format!("TWICE-{tag}");
        let copies: Vec<i64> = numbers
            .iter()
            .filter(|(_, n)| **n == twice)
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(copies.len(), 2);
        let (first, second) = (copies.iter().min().unwrap(), copies.iter().max().unwrap());
        assert!(
            flagged.iter().any(|(s, e)| s == second
                && e.iter().skip(1).flatten().copied().collect::<Vec<_>>() == [*first]),
            "{twice}: {repeats:?}"
        );
    }
    let early: Vec<&(&str, Vec<i64>)> = repeats.iter().filter(|r| r.0 == "EARLY-1").collect();
    assert_eq!(early.len(), 2, "{repeats:?}");
    // The second round's EARLY-1 repeats the earlier invoice and the first round's copy.
    assert_eq!(early[0].1, [earlier]);
    assert_eq!(early[1].1.len(), 2);
    assert!(early[1].1.contains(&earlier));
    assert!(repeats.iter().all(|r| r.0 != "GONE-1"), "{repeats:?}");
    w.rebuild_is_clean();
}
