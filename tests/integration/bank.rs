//! Bank reconciliation end to end through the API: accounts registered by the admin,
//! camt.053 statements uploaded by the treasurer and the ministry, lines matched by
//! amount and date, by reference, several entries by one line and in part; an unrecorded
//! debit, an unpaid payment and an amount mismatch flagged with their evidence; the same
//! statement twice adds nothing; an unbalanced statement is refused whole; the report as
//! JSON and CSV; who may do what (anonymous callers nowhere); `fundtrail rebuild --check`
//! over the bank tables; `fundtrail import bank` as the real binary. The statements written here and the published
//! samples of tests/fixtures/camt053 validate against the official XSDs.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, eur, org};

/// A statement line: (booking date, signed amount, reference, counterparty).
type L<'a> = (&'a str, &'a str, &'a str, &'a str);

fn amount_and_indicator(signed: &str) -> (&str, &str) {
    match signed.strip_prefix('-') {
        Some(a) => (a, "DBIT"),
        None => (signed, "CRDT"),
    }
}

/// A camt.053 statement (`version` "02" or "08") of `iban` as a bank writes it.
fn camt(
    version: &str,
    id: &str,
    iban: &str,
    period: (&str, &str),
    opening: &str,
    closing: &str,
    lines: &[L],
) -> String {
    let v08 = version == "08";
    let bal = |code: &str, signed: &str, date: &str| {
        let (a, ind) = amount_and_indicator(signed);
        format!(
            "<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">{a}</Amt>\
             <CdtDbtInd>{ind}</CdtDbtInd><Dt><Dt>{date}</Dt></Dt></Bal>"
        )
    };
    let mut entries = String::new();
    for (date, signed, reference, party) in lines {
        let (a, ind) = amount_and_indicator(signed);
        let sts = if v08 {
            "<Sts><Cd>BOOK</Cd></Sts>"
        } else {
            "<Sts>BOOK</Sts>"
        };
        let role = if ind == "DBIT" { "Cdtr" } else { "Dbtr" };
        let party = if v08 {
            format!("<RltdPties><{role}><Pty><Nm>{party}</Nm></Pty></{role}></RltdPties>")
        } else {
            format!("<RltdPties><{role}><Nm>{party}</Nm></{role}></RltdPties>")
        };
        let rmt = if reference.is_empty() {
            String::new()
        } else {
            format!("<RmtInf><Ustrd>{reference}</Ustrd></RmtInf>")
        };
        entries.push_str(&format!(
            "<Ntry><Amt Ccy=\"EUR\">{a}</Amt><CdtDbtInd>{ind}</CdtDbtInd>{sts}\
             <BookgDt><Dt>{date}</Dt></BookgDt><ValDt><Dt>{date}</Dt></ValDt>\
             <BkTxCd><Prtry><Cd>TRF</Cd></Prtry></BkTxCd>\
             <NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>{party}{rmt}</TxDtls></NtryDtls></Ntry>"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}\">\
         <BkToCstmrStmt><GrpHdr><MsgId>{id}</MsgId><CreDtTm>{to}T18:00:00</CreDtTm></GrpHdr>\
         <Stmt><Id>{id}</Id><CreDtTm>{to}T18:00:00</CreDtTm>\
         <FrToDt><FrDtTm>{from}T00:00:00</FrDtTm><ToDtTm>{to}T23:59:59</ToDtTm></FrToDt>\
         <Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>{open}{close}{entries}</Stmt>\
         </BkToCstmrStmt></Document>\n",
        from = period.0,
        to = period.1,
        open = bal("OPBD", opening, period.0),
        close = bal("CLBD", closing, period.1),
    )
}

/// Validates `xml` against the official schema of its version with xmllint.
fn assert_schema_valid(xml: &str, version: &str) {
    let dir = harness::temp_dir("camt");
    let path = dir.join("statement.xml");
    std::fs::write(&path, xml).unwrap();
    let xsd = format!(
        "{}/schemas/iso20022/camt.053.001.{version}.xsd",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema", &xsd])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("xmllint (Debian package libxml2-utils) is required: {e}"));
    assert!(
        out.status.success(),
        "{}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn upload(fund: Uuid, account: &str, content: &str) -> TestRequest {
    TestRequest::post()
        .uri(&format!(
            "/api/v1/funds/{fund}/bank/accounts/{account}/statements"
        ))
        .set_json(json!({"format": "camt.053", "content": content}))
}

fn register(fund: Uuid, body: Value) -> TestRequest {
    TestRequest::post()
        .uri(&format!("/api/v1/funds/{fund}/bank/accounts"))
        .set_json(body)
}

fn post(fund: Uuid, kind: &str, date: &str, body: Value) -> TestRequest {
    harness::entry(fund, kind, date, body)
}

#[test]
fn published_samples_and_generated_statements_validate_against_the_official_schemas() {
    let dir = format!("{}/tests/fixtures/camt053", env!("CARGO_MANIFEST_DIR"));
    for (file, version) in [
        ("genkgo-camt053.v2.minimal.xml", "02"),
        ("genkgo-camt053.v2.multi.statement.xml", "02"),
        ("genkgo-camt053.v2.all-balance-types.xml", "02"),
        ("genkgo-camt053.v2.five.decimals.xml", "02"),
        ("genkgo-camt053.v8.xml", "08"),
    ] {
        let xml = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        assert_schema_valid(&xml, version);
        let parsed = fundtrail::bank::camt::parse(&xml).unwrap();
        assert!(!parsed.is_empty(), "{file}");
    }
    for version in ["02", "08"] {
        let xml = camt(
            version,
            "S-1",
            "NL91ABNA0417164300",
            ("2026-03-01", "2026-03-31"),
            "0",
            "-5.00",
            &[
                ("2026-03-02", "10.00", "FT-3", "A &amp; B"),
                ("2026-03-03", "-15.00", "", "C"),
            ],
        );
        assert_schema_valid(&xml, version);
        let s = fundtrail::bank::camt::parse(&xml).unwrap();
        assert_eq!(s[0].lines[0].counterparty, "A & B");
        assert_eq!(s[0].lines[1].amount.to_string(), "-15.00");
    }
}

#[actix_web::test]
async fn statements_are_matched_and_what_does_not_reconcile_is_flagged_with_its_evidence() {
    let (db, state, app) = harness::start().await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    let donor = org(&db, "Kingdom of Norway", "donor");
    let interior = org(&db, "Ministry of Interior", "ministry");
    let defence = org(&db, "Ministry of Defence", "ministry");
    let vendor = org(&db, "Alpha Uniforms", "vendor");

    // The ledger: a contribution, an allocation and a disbursement to the ministry, and
    // five payments of the ministry.
    harness::act_as_member(&state, "treasurer", secretariat);
    ok!(
        &app,
        post(
            fund,
            "contribution",
            "2026-03-02",
            json!({"donor": donor, "amount": eur("100000.00"), "agreement": "A-1"})
        )
    );
    let mut disbursement = 0;
    for ministry in [interior, defence] {
        let alloc = ok!(
            &app,
            post(
                fund,
                "allocation",
                "2026-03-02",
                json!({"ministry": ministry, "budget_line": "B", "category": "equipment",
                   "amount": eur("60000.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
            )
        );
        if ministry == interior {
            disbursement = ok!(
                &app,
                post(
                    fund,
                    "disbursement",
                    "2026-03-03",
                    json!({"allocation": alloc, "amount": eur("50000.00")})
                )
            );
        }
    }
    harness::act_as_member(&state, "ministry", interior);
    let mut pay = Vec::new();
    for (date, amount) in [
        ("2026-03-05", "10000.00"),
        ("2026-03-05", "4000.00"),
        ("2026-03-05", "6000.00"),
        ("2026-03-06", "2500.00"),
        ("2026-03-09", "3000.00"),
    ] {
        pay.push(ok!(&app, post(fund, "payment", date,
            json!({"vendor": vendor, "ministry": interior, "category": "equipment", "amount": eur(amount)}))));
    }

    // Accounts: registered by the admin or the treasurer, nobody else.
    let fund_iban = "NL91ABNA0417164300";
    let ministry_iban = "DE89 3704 0044 0532 0130 00";
    let fund_account = json!({"account": fund_iban, "currency": "EUR", "owner": "secretariat", "name": "MDTF main account"});
    for (role, member) in [
        ("ministry", interior),
        ("auditor", auditor),
        ("donor", donor),
    ] {
        harness::act_as_member(&state, role, member);
        let (status, body) = call!(&app, register(fund, fund_account.clone()));
        assert!(
            matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{role}: {status} {body}"
        );
    }
    harness::act_as(&state, "admin");
    let other = harness::other_fund(&db, &app).await;
    harness::act_as_member(&state, "treasurer", other.secretariat);
    refused!(
        &app,
        register(fund, fund_account.clone()),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    harness::act_as(&state, "admin");
    let (status, acc) = call!(&app, register(fund, fund_account.clone()));
    assert_eq!(status, StatusCode::CREATED, "{acc}");
    let fund_acc = acc["id"].as_str().unwrap().to_owned();
    let (status, again) = call!(&app, register(fund, fund_account.clone()));
    assert_eq!(
        (status, &again["id"]),
        (StatusCode::OK, &acc["id"]),
        "{again}"
    );
    refused!(
        &app,
        register(
            fund,
            json!({"account": "X1", "currency": "EUR", "owner": "ministry", "name": "No ministry"})
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body"
    );
    harness::act_as_member(&state, "treasurer", secretariat);
    let (status, acc) = call!(
        &app,
        register(
            fund,
            json!({"account": ministry_iban, "currency": "EUR",
        "owner": "ministry", "ministry": interior, "name": "Interior operating account"})
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{acc}");
    let min_acc = acc["id"].as_str().unwrap().to_owned();

    // The fund's statement, uploaded by the treasurer: the contribution and the
    // disbursement, matched.
    let fund_march = camt(
        "08",
        "MDTF-2026-03",
        fund_iban,
        ("2026-03-01", "2026-03-31"),
        "0",
        "50000.00",
        &[
            ("2026-03-02", "100000.00", "Grant A-1", "Kingdom of Norway"),
            (
                "2026-03-04",
                "-50000.00",
                &format!("FT-{disbursement} tranche 1"),
                "Ministry of Interior",
            ),
        ],
    );
    let (status, body) = call!(&app, upload(fund, &fund_acc, &fund_march));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["reconciliation"]["matched_lines"], json!(2), "{body}");
    assert_eq!(body["reconciliation"]["findings"], json!(0), "{body}");

    // Nobody uploads to an account they may not see; the donor and the admin not at all.
    harness::act_as_member(&state, "ministry", defence);
    refused!(
        &app,
        upload(fund, &min_acc, &fund_march),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    harness::act_as_member(&state, "ministry", interior);
    refused!(
        &app,
        upload(fund, &fund_acc, &fund_march),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    harness::act_as_member(&state, "donor", donor);
    refused!(
        &app,
        upload(fund, &fund_acc, &fund_march),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
    harness::act_as_member(&state, "auditor", other.auditor);
    refused!(
        &app,
        upload(fund, &fund_acc, &fund_march),
        StatusCode::NOT_FOUND,
        "not_found"
    );

    // The ministry's statement (camt.053.001.02): the disbursement received (by amount
    // and date), three payments in one transfer (by reference), a transfer larger than
    // the payment it names, and a debit with no entry; the 2,500.00 payment never left.
    let mismatch = pay[4];
    // Registered as written on paper; the statement writes it as the schema's IBAN
    // pattern requires (no spaces): the same account.
    let ministry_march = camt(
        "02",
        "INT-2026-03",
        &ministry_iban.replace(' ', ""),
        ("2026-03-01", "2026-03-31"),
        "0",
        "18622.23",
        &[
            ("2026-03-04", "50000.00", "", "MDTF"),
            (
                "2026-03-06",
                "-20000.00",
                &format!("FT-{} FT-{} FT-{}", pay[0], pay[1], pay[2]),
                "Alpha Uniforms",
            ),
            (
                "2026-03-10",
                "-3600.00",
                &format!("Invoice 77 FT-{mismatch}"),
                "Alpha Uniforms",
            ),
            ("2026-03-12", "-7777.77", "Cash withdrawal", "Unknown"),
        ],
    );
    harness::act_as_member(&state, "ministry", interior);
    let unbalanced = ministry_march.replace("18622.23", "18622.24");
    refused!(
        &app,
        upload(fund, &min_acc, &unbalanced),
        StatusCode::UNPROCESSABLE_ENTITY,
        "statement_unbalanced"
    );
    let (status, body) = call!(&app, upload(fund, &min_acc, &ministry_march));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let stmt = body["statements"][0]["seq"].as_u64().unwrap();
    assert_eq!(body["statements"][0]["lines"], json!(4), "{body}");
    assert_eq!(body["reconciliation"]["matched_lines"], json!(2), "{body}");
    assert_eq!(body["reconciliation"]["flags_raised"], json!(4), "{body}");

    // The same statement again adds nothing.
    let (status, body) = call!(&app, upload(fund, &min_acc, &ministry_march));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["statements"][0]["replayed"], json!(true), "{body}");
    assert_eq!(body["statements"][0]["seq"], json!(stmt), "{body}");
    assert_eq!(body["reconciliation"]["matched_lines"], json!(0), "{body}");
    assert_eq!(body["reconciliation"]["flags_raised"], json!(0), "{body}");

    // Each finding is a flag with both sides as evidence, listed like any flag.
    harness::act_as_member(&state, "auditor", auditor);
    let debit = harness::flags(&app, fund, "bank-unrecorded-debit").await;
    assert_eq!(debit.len(), 1, "{debit:?}");
    assert_eq!(debit[0]["seq"], json!(stmt));
    assert_eq!(debit[0]["severity"], "high");
    assert_eq!(debit[0]["ministry"]["id"], json!(interior));
    let message = debit[0]["message"].as_str().unwrap();
    assert!(
        message.contains("7777.77")
            && message.contains("Cash withdrawal")
            && message.contains("Unknown"),
        "{message}"
    );
    let unpaid = harness::flags(&app, fund, "bank-unpaid-entry").await;
    assert_eq!(unpaid.len(), 1, "{unpaid:?}");
    assert_eq!(unpaid[0]["seq"], json!(pay[3]));
    assert!(
        unpaid[0]["message"].as_str().unwrap().contains("2500.00"),
        "{}",
        unpaid[0]
    );
    let amount = harness::flags(&app, fund, "bank-amount-mismatch").await;
    assert_eq!(amount.len(), 1, "{amount:?}");
    assert_eq!(amount[0]["evidence"], json!([stmt, mismatch]));
    let message = amount[0]["message"].as_str().unwrap();
    assert!(
        message.contains("3600.00") && message.contains("3000.00"),
        "{message}"
    );
    assert!(harness::flags(&app, fund, "bank-unrecorded-credit")
        .await
        .is_empty());
    // The closing balance against the ledger's: both figures, the difference (nothing in
    // transit: the unpaid payments are past the window). The fund's own account agrees.
    let balance = harness::flags(&app, fund, "bank-balance-differs").await;
    assert_eq!(balance.len(), 1, "{balance:?}");
    assert_eq!(balance[0]["seq"], json!(stmt));
    assert_eq!(balance[0]["ministry"]["id"], json!(interior));
    let message = balance[0]["message"].as_str().unwrap();
    assert!(
        message.contains("at 18622.23 EUR")
            && message.contains("is 24500.00 EUR")
            && message.contains("difference of -5877.77 EUR"),
        "{message}"
    );

    // The report: matched, unmatched on each side, the balance difference.
    let report = |account: &str, format: &str| {
        TestRequest::get().uri(&format!(
            "/api/v1/funds/{fund}/bank/accounts/{account}/reconciliation?from=2026-03-01&to=2026-03-31{format}"
        ))
    };
    let (status, r) = call!(&app, report(&min_acc, ""));
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["matched"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(
        r["matched"][1]["entries"].as_array().unwrap().len(),
        3,
        "{r}"
    );
    let open_lines: Vec<&str> = r["unmatched_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_str().unwrap())
        .collect();
    assert_eq!(open_lines, vec!["-3600.00", "-7777.77"], "{r}");
    let open_entries: Vec<u64> = r["unmatched_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(open_entries, vec![pay[3], pay[4]], "{r}");
    assert_eq!(r["bank_closing"], "18622.23", "{r}");
    // 50,000 in, 25,500 of payments recorded: the bank shows 5,877.77 less (7,777.77 unrecorded, 600.00 paid over, 2,500.00 never paid).
    assert_eq!(r["ledger_balance"], "24500.00", "{r}");
    assert_eq!(r["balance_difference"], "-5877.77", "{r}");
    let res = actix_web::test::call_service(
        &app,
        harness::authed(report(&min_acc, "&format=csv")).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let csv = String::from_utf8(actix_web::test::read_body(res).await.to_vec()).unwrap();
    assert!(csv.starts_with("section,statement_seq,line"), "{csv}");
    assert!(
        csv.contains("unmatched_line") && csv.contains("-7777.77"),
        "{csv}"
    );

    // Who reads: the fund's roles; a ministry its own accounts only.
    harness::act_as_member(&state, "ministry", defence);
    refused!(
        &app,
        report(&min_acc, ""),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    harness::act_as_member(&state, "donor", donor);
    let (status, _) = call!(&app, report(&min_acc, ""));
    assert_eq!(status, StatusCode::OK);
    harness::act_as_member(&state, "ministry", interior);
    let (status, list) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{fund}/bank/accounts"))
    );
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["accounts"].as_array().unwrap().len(), 1, "{list}");

    // The settings are the auditors'.
    let settings = |body: Value| {
        TestRequest::post()
            .uri(&format!("/api/v1/funds/{fund}/bank/settings"))
            .insert_header(("idempotency-key", Uuid::new_v4().to_string()))
            .set_json(body)
    };
    harness::act_as_member(&state, "treasurer", secretariat);
    refused!(
        &app,
        settings(json!({"settings": {"window_days": 20}, "reason": "slow bank"})),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
    harness::act_as_member(&state, "auditor", auditor);
    refused!(
        &app,
        settings(json!({"settings": {"window": 20}, "reason": "slow bank"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_setting"
    );
    let (status, body) = call!(
        &app,
        settings(json!({"settings": {"window_days": 20}, "reason": "slow bank"}))
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["entry"]["kind"], "reconciliation_config", "{body}");
    harness::act_as_member(&state, "donor", donor);
    refused!(
        &app,
        TestRequest::post().uri(&format!("/api/v1/funds/{fund}/bank/reconcile")),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
    harness::act_as_member(&state, "auditor", auditor);
    let (status, body) = call!(
        &app,
        TestRequest::post().uri(&format!("/api/v1/funds/{fund}/bank/reconcile"))
    );
    assert_eq!(
        (status, &body["matched_lines"]),
        (StatusCode::OK, &json!(0)),
        "{body}"
    );

    // The web page shows the same report to a signed-in auditor.
    {
        use fundtrail::auth::{password, store};
        let user = Uuid::new_v4();
        let mut conn = db.superuser_conn();
        store::insert_user(
            &mut conn,
            user,
            auditor,
            "bank-auditor@test.invalid",
            &password::hash("pass-word-2026").unwrap(),
        )
        .unwrap();
        store::insert_grant(&mut conn, Uuid::new_v4(), user, "auditor").unwrap();
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("email", "bank-auditor@test.invalid"),
                ("password", "pass-word-2026"),
                ("role", ""),
            ])
            .finish();
        let res = actix_web::test::call_service(
            &app,
            TestRequest::post()
                .uri("/login")
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload(form)
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let cookie: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect();
        let res = actix_web::test::call_service(
            &app,
            TestRequest::get()
                .uri(&format!(
                    "/funds/{fund}/bank?account={min_acc}&from=2026-03-01&to=2026-03-31"
                ))
                .insert_header(("cookie", cookie.join("; ")))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        let html = String::from_utf8(actix_web::test::read_body(res).await.to_vec()).unwrap();
        assert!(
            html.contains("Unmatched statement lines") && html.contains("-7777.77"),
            "{html}"
        );
        assert!(html.contains("-5877.77"), "{html}");
    }

    // The chain still verifies with the reconciliation entries in it.
    let (status, body) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/chains/{fund}/verify"))
    );
    assert_eq!(status, StatusCode::OK, "{body}");

    // `fundtrail rebuild --check` replays the bank entries between the others: the
    // rebuilt bank tables match the stored ones; a tampered line and a tampered match
    // are found, and a rebuild without --check repairs them.
    use diesel::RunQueryDsl;
    let rebuild = |conn: &mut diesel::PgConnection, replace: bool| {
        fundtrail::entries::rebuild::run_with(
            conn,
            replace,
            &fundtrail::screening::Screens,
            &fundtrail::bank::effect::Rebuild,
        )
        .unwrap()
    };
    let mut conn = db.superuser_conn();
    let clean = rebuild(&mut conn, false);
    assert!(clean.is_clean(), "{clean:?}");
    let count = |conn: &mut diesel::PgConnection, table: &str| {
        harness::number(conn, &format!("SELECT count(*) AS n FROM {table}"))
    };
    assert!(count(&mut conn, "bank_matches") > 0 && count(&mut conn, "bank_lines") > 0);
    diesel::sql_query(
        "UPDATE bank_lines SET amount = amount * 2 \
         WHERE (fund_id, seq, line) = (SELECT fund_id, seq, line FROM bank_lines \
         WHERE amount < 0 ORDER BY seq, line LIMIT 1)",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("DELETE FROM bank_matches WHERE seq = (SELECT max(seq) FROM bank_matches)")
        .execute(&mut conn)
        .unwrap();
    let tampered = rebuild(&mut conn, false);
    let tables: Vec<(&str, &str)> = tampered
        .differences
        .iter()
        .map(|d| (d.table.as_str(), d.only_in))
        .collect();
    assert!(
        tables.contains(&("bank_lines", "stored"))
            && tables.contains(&("bank_lines", "rebuilt"))
            && tables.contains(&("bank_matches", "rebuilt"))
            && tables.iter().all(|(t, _)| t.starts_with("bank_")),
        "{tampered:?}"
    );
    assert!(tampered.failed_entries.is_empty(), "{tampered:?}");
    let repaired = rebuild(&mut conn, true);
    assert!(repaired.replaced, "{repaired:?}");
    let again = rebuild(&mut conn, false);
    assert!(again.is_clean(), "{again:?}");
}

#[actix_web::test]
async fn a_csv_statement_is_read_through_its_declared_columns() {
    let (db, state, app) = harness::start().await;
    let (fund, secretariat, _) = harness::audited_fund(&db, &state, &app).await;
    let donor = org(&db, "Kingdom of Norway", "donor");
    harness::act_as_member(&state, "treasurer", secretariat);
    ok!(
        &app,
        post(
            fund,
            "contribution",
            "2026-03-02",
            json!({"donor": donor, "amount": eur("1234.50"), "agreement": "A-1"})
        )
    );
    let (status, acc) = call!(
        &app,
        register(
            fund,
            json!({"account": "NL91ABNA0417164300", "currency": "EUR",
        "owner": "secretariat", "name": "Main"})
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{acc}");
    let account = acc["id"].as_str().unwrap();
    let mapping = json!({"statement_id": "2026-03", "opening": "0", "closing": "1234.50",
        "delimiter": ";", "date": "Buchungstag", "date_format": "%d.%m.%Y",
        "amount": "Betrag", "decimal_comma": true, "reference": ["Verwendungszweck"], "counterparty": "Name"});
    let csv = "Buchungstag;Name;Verwendungszweck;Betrag\n03.03.2026;Norway;Grant A-1;1.234,50\n";
    let req = |mapping: Value| {
        TestRequest::post()
            .uri(&format!(
                "/api/v1/funds/{fund}/bank/accounts/{account}/statements"
            ))
            .set_json(json!({"format": "csv", "content": csv, "csv": mapping}))
    };
    refused!(
        &app,
        TestRequest::post()
            .uri(&format!(
                "/api/v1/funds/{fund}/bank/accounts/{account}/statements"
            ))
            .set_json(json!({"format": "csv", "content": csv})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "csv_mapping_required"
    );
    let mut wrong = mapping.clone();
    wrong["date"] = json!("Datum");
    refused!(
        &app,
        req(wrong),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_statement"
    );
    let (status, body) = call!(&app, req(mapping));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["reconciliation"]["matched_lines"], json!(1), "{body}");
}

/// The seeded demo year with generated statements (`fundtrail bench reconciliation`):
/// every injected unrecorded debit, unpaid payment and amount mismatch is flagged, with
/// its evidence, and nothing else of those rules is.
#[test]
fn the_seeded_year_with_injected_discrepancies_is_flagged_with_its_evidence() {
    let db = harness::TestDb::migrated();
    let dir = harness::temp_dir("bank-year");
    harness::fundtrail_ok(&db, &dir, &["seed-demo"]);
    let out = dir.join("result.json");
    let statements = dir.join("statements");
    harness::fundtrail_ok(
        &db,
        &dir,
        &[
            "bench",
            "reconciliation",
            "--per-case",
            "3",
            "--seed",
            "7",
            "--out",
            out.to_str().unwrap(),
            "--statements",
            statements.to_str().unwrap(),
        ],
    );
    let result: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let flags = result["flags"].as_array().unwrap();
    let injected = result["injected"].as_array().unwrap();
    for rule in [
        "bank-unrecorded-debit",
        "bank-unpaid-entry",
        "bank-amount-mismatch",
    ] {
        assert_eq!(
            injected.iter().filter(|i| i["rule"] == rule).count(),
            3,
            "{rule}"
        );
        let score = &result["scores"][rule];
        assert_eq!(score["recall"], json!(1.0), "{rule}: {score}");
    }
    for i in injected {
        let amount = i["amount"].as_str().unwrap();
        let flag = match i["rule"].as_str().unwrap() {
            "bank-unrecorded-debit" => flags
                .iter()
                .find(|f| {
                    f["rule"] == "bank-unrecorded-debit"
                        && f["message"].as_str().unwrap().contains(amount)
                        && result["subjects"]
                            .as_array()
                            .unwrap()
                            .contains(&f["subject"])
                })
                .unwrap_or_else(|| panic!("no flag for {i}")),
            rule => {
                let entry = i["entry"].as_i64().unwrap();
                flags
                    .iter()
                    .find(|f| {
                        f["rule"] == rule
                            && (f["seq"] == json!(entry)
                                || f["evidence"].as_array().unwrap().contains(&json!(entry)))
                    })
                    .unwrap_or_else(|| panic!("no {rule} flag for {i}"))
            }
        };
        // The evidence on both sides: the bank's amount in the message, the entry cited.
        assert!(
            flag["message"].as_str().unwrap().contains(amount),
            "{flag} {i}"
        );
        if let Some(entry) = i["entry"].as_i64() {
            let cited = flag["seq"] == json!(entry)
                || flag["evidence"].as_array().unwrap().contains(&json!(entry));
            assert!(cited, "{flag} {i}");
        }
    }
    // The generated statements are valid camt.053.001.08.
    let first = std::fs::read_dir(&statements)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_schema_valid(&std::fs::read_to_string(first).unwrap(), "08");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every bank route refuses an anonymous caller with 401 and problem JSON, whether the
/// fund and account exist or not, and nothing is recorded.
#[actix_web::test]
async fn anonymous_callers_are_refused_on_every_bank_route() {
    let (db, state, app) = harness::start().await;
    let (fund, _secretariat, _auditor) = harness::audited_fund(&db, &state, &app).await;
    harness::act_as(&state, "admin");
    let (status, acc) = call!(
        &app,
        register(
            fund,
            json!({"account": "NL91ABNA0417164300", "currency": "EUR",
                   "owner": "secretariat", "name": "MDTF main account"})
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{acc}");
    let account = acc["id"].as_str().unwrap().to_owned();
    harness::clear_token();

    let statement = camt(
        "08",
        "S-ANON",
        "NL91ABNA0417164300",
        ("2026-03-01", "2026-03-31"),
        "0.00",
        "100.00",
        &[("2026-03-05", "100.00", "FT-1", "Donor")],
    );
    for f in [fund.to_string(), Uuid::new_v4().to_string()] {
        let base = format!("/api/v1/funds/{f}/bank");
        let routes = [
            TestRequest::get().uri(&format!("{base}/accounts")),
            register(
                fund,
                json!({"account": "NL02ABNA0123456789", "currency": "EUR",
                       "owner": "secretariat", "name": "Second"}),
            )
            .uri(&format!("{base}/accounts")),
            upload(fund, &account, &statement)
                .uri(&format!("{base}/accounts/{account}/statements")),
            TestRequest::get().uri(&format!(
                "{base}/accounts/{account}/reconciliation?from=2026-01-01&to=2026-12-31"
            )),
            TestRequest::get().uri(&format!(
                "{base}/accounts/{account}/reconciliation?from=2026-01-01&to=2026-12-31&format=csv"
            )),
            TestRequest::post().uri(&format!("{base}/reconcile")),
            TestRequest::post()
                .uri(&format!("{base}/settings"))
                .insert_header(("idempotency-key", "anon-settings"))
                .set_json(json!({"settings": {"window_days": 5}, "reason": "anonymous"})),
        ];
        for req in routes {
            let res = actix_web::test::call_service(&app, req.to_request()).await;
            let status = res.status();
            let content_type = res
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            let path = res.request().uri().to_string();
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(
                content_type.as_deref(),
                Some("application/problem+json"),
                "{path}"
            );
        }
    }

    // Nothing was recorded: one account, no statement.
    harness::act_as(&state, "admin");
    let (status, accounts) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{fund}/bank/accounts"))
    );
    assert_eq!(status, StatusCode::OK, "{accounts}");
    assert_eq!(
        accounts.to_string().matches("NL02ABNA").count(),
        0,
        "{accounts}"
    );
    let (_, report) = call!(
        &app,
        TestRequest::get().uri(&format!(
            "/api/v1/funds/{fund}/bank/accounts/{account}/reconciliation?from=2026-01-01&to=2026-12-31"
        ))
    );
    assert!(!report.to_string().contains("S-ANON"), "{report}");
}

/// `fundtrail import bank` as the real binary: a camt.053 file of a registered account is
/// recorded and reconciled; importing it again adds nothing.
#[actix_web::test]
async fn the_import_bank_command_records_a_camt_file_once() {
    use diesel::RunQueryDsl;
    let (db, state, app) = harness::start().await;
    let (fund, _secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    harness::act_as(&state, "admin");
    let iban = "NL91ABNA0417164300";
    let (status, acc) = call!(
        &app,
        register(
            fund,
            json!({"account": iban, "currency": "EUR",
                   "owner": "secretariat", "name": "MDTF main account"})
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{acc}");
    let dir = std::env::temp_dir().join(format!("fundtrail-bank-cli-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("statement.xml");
    std::fs::write(
        &file,
        camt(
            "02",
            "CLI-2026-03",
            iban,
            ("2026-03-01", "2026-03-31"),
            "1000.00",
            "1250.00",
            &[
                ("2026-03-05", "400.00", "Grant", "Kingdom of Norway"),
                ("2026-03-09", "-150.00", "Fees", "Bank"),
            ],
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let fund_id = fund.to_string();
    let args = [
        "import",
        "bank",
        "--fund",
        &fund_id,
        "--account",
        iban,
        file,
    ];

    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Counts {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        statements: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        lines: i64,
    }
    let counts = || {
        diesel::sql_query(
            "SELECT (SELECT count(*) FROM bank_statements) AS statements, \
                    (SELECT count(*) FROM bank_lines) AS lines",
        )
        .get_result::<Counts>(&mut db.superuser_conn())
        .unwrap()
    };

    let first = harness::fundtrail_ok(&db, &dir.join("data"), &args);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("CLI-2026-03"), "{stderr}");
    assert_eq!(
        counts(),
        Counts {
            statements: 1,
            lines: 2
        }
    );
    // What the command recorded is what the API reports: both lines unmatched (no entry
    // accounts for them), the bank's closing balance.
    harness::act_as_member(&state, "auditor", auditor);
    let account = acc["id"].as_str().unwrap();
    let (status, report) = call!(
        &app,
        TestRequest::get().uri(&format!(
            "/api/v1/funds/{fund}/bank/accounts/{account}/reconciliation?from=2026-03-01&to=2026-03-31"
        ))
    );
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["bank_closing"], json!("1250.00"), "{report}");

    let again = harness::fundtrail_ok(&db, &dir.join("data"), &args);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("CLI-2026-03"), "{stderr}");
    assert_eq!(
        counts(),
        Counts {
            statements: 1,
            lines: 2
        }
    );

    // A file that does not conform to its schema: the command fails naming the first
    // violation and its line, and records nothing.
    let invalid = camt(
        "02",
        "CLI-2026-04",
        iban,
        ("2026-04-01", "2026-04-30"),
        "1250.00",
        "1300.00",
        &[("2026-04-03", "50.00", "Grant", "Kingdom of Norway")],
    )
    .replace(
        "<Amt Ccy=\"EUR\">50.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>",
        "<CdtDbtInd>CRDT</CdtDbtInd><Amt Ccy=\"EUR\">50.00</Amt>",
    );
    let bad_file = dir.join("invalid.xml");
    std::fs::write(&bad_file, invalid).unwrap();
    let bad_args = [
        "import",
        "bank",
        "--fund",
        &fund_id,
        "--account",
        iban,
        bad_file.to_str().unwrap(),
    ];
    let out = harness::fundtrail(&db, &dir.join("data"), &bad_args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("camt.053.001.02 schema")
            && stderr.contains("line 2:")
            && stderr.contains("CdtDbtInd"),
        "{stderr}"
    );
    assert_eq!(
        counts(),
        Counts {
            statements: 1,
            lines: 2
        }
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A camt.053 upload is validated against the official schema of its version before
/// anything is read: an element out of order or an amount that is not the schema's
/// decimal is refused (422 `camt_invalid`) naming the violation and its line, and nothing
/// is recorded; the same statement, valid, is then accepted.
#[actix_web::test]
async fn a_statement_that_does_not_conform_to_its_schema_is_refused_with_its_violations() {
    let (db, state, app) = harness::start().await;
    let (fund, secretariat, _auditor) = harness::audited_fund(&db, &state, &app).await;
    harness::act_as_member(&state, "treasurer", secretariat);
    let iban = "NL91ABNA0417164300";
    let (status, acc) = call!(
        &app,
        register(
            fund,
            json!({"account": iban, "currency": "EUR", "owner": "secretariat", "name": "Main"})
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{acc}");
    let account = acc["id"].as_str().unwrap().to_owned();
    let valid = camt(
        "08",
        "XSD-2026-03",
        iban,
        ("2026-03-01", "2026-03-31"),
        "0",
        "-15.00",
        &[("2026-03-03", "-15.00", "Fees", "Bank")],
    );
    let out_of_order = valid.replace(
        "<Amt Ccy=\"EUR\">15.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>",
        "<CdtDbtInd>DBIT</CdtDbtInd><Amt Ccy=\"EUR\">15.00</Amt><Sts>",
    );
    let bad_amount = valid.replace(
        "<Amt Ccy=\"EUR\">15.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>",
        "<Amt Ccy=\"EUR\">15,00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>",
    );
    assert_ne!(out_of_order, valid);
    assert_ne!(bad_amount, valid);
    for (content, names) in [
        (out_of_order.as_str(), "CdtDbtInd"),
        (bad_amount.as_str(), "'15,00'"),
        (
            "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt>",
            "well-formed",
        ),
    ] {
        let (status, problem) = call!(&app, upload(fund, &account, content));
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["code"], "camt_invalid", "{problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(names), "{detail}");
        if names != "well-formed" {
            assert!(
                detail.contains("camt.053.001.08 schema: line 2:"),
                "{detail}"
            );
        }
    }
    let recorded = |kind: &str| {
        harness::number(
            &mut db.superuser_conn(),
            &format!("SELECT count(*) AS n FROM ledger_entries WHERE kind = '{kind}'"),
        )
    };
    assert_eq!(recorded("bank_statement"), 0, "nothing recorded");
    let (status, body) = call!(&app, upload(fund, &account, &valid));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(recorded("bank_statement"), 1);
}

/// A statement that follows another of its account without a gap opens at its closing
/// balance; one that does not is refused whole (422 `statement_discontinuous`), and a
/// gap between periods is not checked (the statement between is not recorded yet).
#[actix_web::test]
async fn a_statement_must_open_at_the_previous_statements_closing_balance() {
    let (db, state, app) = harness::start().await;
    let (fund, secretariat, _auditor) = harness::audited_fund(&db, &state, &app).await;
    harness::act_as(&state, "admin");
    let iban = "NL91ABNA0417164300";
    let (status, acc) = call!(
        &app,
        register(
            fund,
            json!({"account": iban, "currency": "EUR",
                   "owner": "secretariat", "name": "MDTF main account"})
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{acc}");
    let account = acc["id"].as_str().unwrap().to_owned();
    harness::act_as_member(&state, "treasurer", secretariat);
    let statement = |id: &str, period: (&str, &str), opening: &str, closing: &str, day: &str| {
        let amount = (opening.parse::<rust_decimal::Decimal>().unwrap()
            - closing.parse::<rust_decimal::Decimal>().unwrap())
        .to_string();
        let amount = format!("-{amount}");
        camt(
            "08",
            id,
            iban,
            period,
            opening,
            closing,
            &[(day, amount.as_str(), "Fees", "Bank")],
        )
    };
    let (status, body) = call!(
        &app,
        upload(
            fund,
            &account,
            &statement(
                "S-03",
                ("2026-03-01", "2026-03-31"),
                "1000.00",
                "900.00",
                "2026-03-10"
            )
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // April follows March without a gap: it must open at 900.00.
    refused!(
        &app,
        upload(
            fund,
            &account,
            &statement(
                "S-04",
                ("2026-04-01", "2026-04-30"),
                "950.00",
                "850.00",
                "2026-04-10"
            )
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "statement_discontinuous"
    );
    // February, recorded late, must close at March's opening.
    refused!(
        &app,
        upload(
            fund,
            &account,
            &statement(
                "S-02",
                ("2026-02-01", "2026-02-28"),
                "1200.00",
                "1100.00",
                "2026-02-10"
            )
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "statement_discontinuous"
    );
    // May, after a gap (April not recorded), is not compared with March.
    let (status, body) = call!(
        &app,
        upload(
            fund,
            &account,
            &statement(
                "S-05",
                ("2026-05-01", "2026-05-31"),
                "700.00",
                "650.00",
                "2026-05-10"
            )
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = call!(
        &app,
        upload(
            fund,
            &account,
            &statement(
                "S-04",
                ("2026-04-01", "2026-04-30"),
                "900.00",
                "700.00",
                "2026-04-10"
            )
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, report) = call!(
        &app,
        TestRequest::get().uri(&format!(
            "/api/v1/funds/{fund}/bank/accounts/{account}/reconciliation?from=2026-01-01&to=2026-12-31"
        ))
    );
    let ids: Vec<&str> = report["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["statement_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["S-03", "S-04", "S-05"], "{report}");
}
