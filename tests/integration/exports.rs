//! The standard exports end to end (docs/exports.md): the entries CSV, IATI 2.03 XML and
//! the OCDS 1.1 release package of a fund with every kind of entry, validated against
//! the official schemas (xmllint for IATI, a JSON-schema validator offline for OCDS) and
//! codelists, pinned to checkpoints (`?at_size=N` gives the same bytes after more
//! appends), and refused outside the fund's scope.
//!
//! The schemas are found through `FUNDTRAIL_SCHEMAS`, else `../shared/schemas` beside the
//! repository, else `/work/shared/schemas`; with none of them the tests fail.

use std::collections::BTreeSet;
use std::path::PathBuf;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use actix_web::web::Data;
use fundtrail::state::AppState;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, TestDb};
use crate::harness::{eur, org};

/// The directory of the official schemas; panics (the test fails) if there is none.
pub(crate) fn schemas_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("FUNDTRAIL_SCHEMAS") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("iati-2.03").is_dir(),
            "FUNDTRAIL_SCHEMAS={} has no iati-2.03/",
            dir.display()
        );
        return dir;
    }
    let candidates = [
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/schemas"),
        PathBuf::from("/work/shared/schemas"),
    ];
    candidates
        .iter()
        .find(|d| d.join("iati-2.03").is_dir() && d.join("ocds-1.1.5").is_dir())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no official schemas found: set FUNDTRAIL_SCHEMAS or provide one of {candidates:?}"
            )
        })
}

/// The codes of an IATI codelist file.
fn codelist(name: &str) -> BTreeSet<String> {
    let path = schemas_dir()
        .join("iati-codelists-2.03")
        .join(format!("{name}.xml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let codes: BTreeSet<String> = text
        .split("<code>")
        .skip(1)
        .map(|s| s.split("</code>").next().unwrap().trim().to_owned())
        .collect();
    assert!(!codes.is_empty(), "{}", path.display());
    codes
}

/// Values of `attr` on every `<tag ...>` element of `xml`.
fn attr_values(xml: &str, tag: &str, attr: &str) -> Vec<String> {
    xml.split(&format!("<{tag} "))
        .skip(1)
        .map(|s| {
            let head = s.split('>').next().unwrap();
            let start = head
                .find(&format!("{attr}=\""))
                .unwrap_or_else(|| panic!("<{tag} {head}> has no {attr}"));
            let rest = &head[start + attr.len() + 2..];
            rest.split('"').next().unwrap().to_owned()
        })
        .collect()
}

fn hdr(headers: &actix_web::http::header::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

/// Posts and expects success; returns the new entry's seq.
macro_rules! ok {
    ($app:expr, $w:expr, $kind:expr, $body:expr) => {{
        let (status, body) = call!($app, $w.post($kind, $body));
        assert_eq!(status, StatusCode::CREATED, "{}: {body}", $kind);
        body["seq"].as_u64().unwrap()
    }};
}

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
    vendors: [Uuid; 2],
    auditor: Uuid,
    /// Seqs of interest.
    disbursement_reversal: u64,
    payment_reversal: u64,
    disqualified: u64,
    approval: u64,
    tenders: [u64; 2],
    _db: TestDb,
}

const FORMULA_VENDOR: &str = "=HYPERLINK(\"http://evil.example\",\"Alpha\")";

impl World {
    fn as_(&self, role: &str, org: Uuid) {
        harness::act_as_member(&self.state, role, org);
    }

    fn post(&self, kind: &str, body: Value) -> TestRequest {
        harness::entry(self.fund, kind, today(), body)
    }

    fn export(&self, what: &str) -> String {
        format!("/api/v1/funds/{}/exports/{what}", self.fund)
    }
}

/// A EUR fund with an entry of every kind: pledge, contributions (one in USD at a
/// recorded rate), allocation, disbursements (one reversed), expenditure, two tenders
/// (one with bids, award, contract, amendment, invoice, payments of which one is
/// reversed; one restricted tender whose bid is reversed), a direct purchase, and an
/// auditor's screening configuration. A second fund has another secretariat and donor.
async fn world() -> (World, app_service!()) {
    let (db, state, app) = harness::start().await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    let other = harness::other_fund(&db, &app).await;
    let mut w = World {
        fund,
        secretariat,
        other,
        donor: org(&db, "Kingdom of Norway", "donor"),
        donor2: org(&db, "United States", "donor"),
        other_donor: org(&db, "Swiss Confederation", "donor"),
        interior: org(&db, "Ministry of Interior", "ministry"),
        vendors: [
            org(&db, FORMULA_VENDOR, "vendor"),
            org(&db, "Beta Vehicles, Ltd", "vendor"),
        ],
        auditor,
        disbursement_reversal: 0,
        payment_reversal: 0,
        disqualified: 0,
        approval: 0,
        tenders: [0, 0],
        state,
        _db: db,
    };
    let [v0, v1] = w.vendors;
    // Norway's IATI organisation identifier (OECD DAC donor code 8); the others have none.
    fundtrail::auth::store::insert_identifier(&mut w._db.superuser_conn(), w.donor, "XM-DAC", "8")
        .unwrap();

    // The other fund: its donor is a donor there only.
    w.as_("treasurer", w.other.secretariat);
    let (status, body) = call!(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/funds/{}/entries", w.other.fund))
            .insert_header(("idempotency-key", "other-1"))
            .set_json(json!({"kind": "contribution", "business_date": today(),
                "body": {"donor": w.other_donor, "amount": eur("10.00"), "agreement": "CH-1"}}))
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");

    w.as_("treasurer", w.secretariat);
    ok!(
        &app,
        w,
        "pledge",
        json!({"donor": w.donor, "amount": eur("500000.00"), "agreement": "NO-1"})
    );
    ok!(
        &app,
        w,
        "contribution",
        json!({"donor": w.donor, "amount": eur("300000.00"), "agreement": "NO-1"})
    );
    ok!(
        &app,
        w,
        "fx_rate",
        json!({"base": "USD", "quote": "EUR", "rate": "0.9", "source": "ECB reference rate"})
    );
    ok!(
        &app,
        w,
        "contribution",
        json!({"donor": w.donor2, "amount": {"value": "1000.00", "currency": "USD"}, "agreement": "US-1"})
    );
    let alloc = ok!(
        &app,
        w,
        "allocation",
        json!({"ministry": w.interior, "budget_line": "BL-04 Police communications",
        "category": "equipment", "amount": eur("200000.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
    );
    ok!(
        &app,
        w,
        "disbursement",
        json!({"allocation": alloc, "amount": eur("100000.00"), "tranche": "T1"})
    );
    let second = ok!(
        &app,
        w,
        "disbursement",
        json!({"allocation": alloc, "amount": eur("25000.00"), "tranche": "T2"})
    );
    w.disbursement_reversal = ok!(
        &app,
        w,
        "reversal",
        json!({"entry": second, "reason": "posted twice"})
    );

    w.as_("ministry", w.interior);
    ok!(
        &app,
        w,
        "expenditure",
        json!({"ministry": w.interior, "category": "salaries", "amount": eur("1200.00"),
        "description": "=SUM(A1:A9) overtime"})
    );
    let deadline = (chrono::Utc::now().date_naive() + chrono::Duration::days(30)).to_string();
    let t1 = ok!(
        &app,
        w,
        "tender",
        json!({"ministry": w.interior, "title": "Handheld radios", "category": "equipment",
        "method": "open", "estimated_value": eur("20000.00"), "deadline": deadline})
    );
    ok!(
        &app,
        w,
        "bid",
        json!({"tender": t1, "vendor": v0, "amount": eur("18000.00")})
    );
    ok!(
        &app,
        w,
        "bid",
        json!({"tender": t1, "vendor": v1, "amount": eur("19500.00")})
    );
    let award = ok!(
        &app,
        w,
        "award",
        json!({"tender": t1, "vendor": v0, "amount": eur("18000.00"), "bids_received": 2})
    );
    let contract = ok!(
        &app,
        w,
        "contract",
        json!({"award": award, "value": eur("18000.00"),
        "starts_on": "2026-01-01", "ends_on": "2026-12-31"})
    );
    ok!(
        &app,
        w,
        "contract_amendment",
        json!({"contract": contract, "new_value": eur("19000.00"),
        "new_ends_on": "2027-03-31", "reason": "extra batteries"})
    );
    let invoice = ok!(
        &app,
        w,
        "invoice",
        json!({"contract": contract, "vendor": v0, "invoice_number": "INV-1",
        "amount": eur("19000.00")})
    );
    let pay1 = ok!(
        &app,
        w,
        "payment",
        json!({"invoice": invoice, "amount": eur("10000.00")})
    );
    let pay2 = ok!(
        &app,
        w,
        "payment",
        json!({"invoice": invoice, "amount": eur("9000.00")})
    );
    w.payment_reversal = ok!(
        &app,
        w,
        "reversal",
        json!({"entry": pay2, "reason": "wrong account"})
    );
    let t2 = ok!(
        &app,
        w,
        "tender",
        json!({"ministry": w.interior, "title": "Patrol vehicles", "category": "vehicles",
        "method": "restricted", "estimated_value": eur("90000.00"), "deadline": deadline})
    );
    let bid = ok!(
        &app,
        w,
        "bid",
        json!({"tender": t2, "vendor": v1, "amount": eur("88000.00")})
    );
    ok!(
        &app,
        w,
        "reversal",
        json!({"entry": bid, "reason": "bid withdrawn"})
    );
    ok!(
        &app,
        w,
        "payment",
        json!({"vendor": v1, "ministry": w.interior, "category": "fuel", "amount": eur("350.00")})
    );
    // A disqualified bid and an approval: the OCDS export shows the bid's status, the
    // others list the entries and leave them out of money flows.
    let bid3 = ok!(
        &app,
        w,
        "bid",
        json!({"tender": t2, "vendor": v0, "amount": eur("87500.00")})
    );
    w.disqualified = ok!(
        &app,
        w,
        "bid_disqualified",
        json!({"bid": bid3, "reason": "no bid bond"})
    );
    w.approval = ok!(
        &app,
        w,
        "approval",
        json!({"entry": pay1, "decision": "approved"})
    );
    w.tenders = [t1, t2];

    w.as_("auditor", w.auditor);
    ok!(
        &app,
        w,
        "screening_config",
        json!({"settings": {"direct_max": "20000.00"}, "reason": "annual review"})
    );
    (w, app)
}

pub(crate) fn ocds_validator() -> jsonschema::Validator {
    struct Local(PathBuf);
    impl jsonschema::Retrieve for Local {
        fn retrieve(
            &self,
            uri: &jsonschema::Uri<String>,
        ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
            let name = uri.as_str().rsplit('/').next().unwrap_or_default();
            if uri.as_str()
                != format!("https://standard.open-contracting.org/schema/1__1__5/{name}")
            {
                return Err(format!("offline: no local copy of {uri}").into());
            }
            Ok(serde_json::from_str(&std::fs::read_to_string(
                self.0.join(name),
            )?)?)
        }
    }
    let dir = schemas_dir().join("ocds-1.1.5");
    let package: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("release-package-schema.json")).unwrap(),
    )
    .unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .with_retriever(Local(dir))
        .build(&package)
        .unwrap()
}

#[actix_web::test]
async fn iati_export_validates_against_the_schema_and_codelists() {
    let (w, app) = world().await;
    w.as_("auditor", w.auditor);
    let (status, headers, bytes) = harness::fetch(&app, &w.export("iati.xml")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    assert!(hdr(&headers, "content-type").starts_with("application/xml"));
    let xml = String::from_utf8(bytes).unwrap();

    // The official schema, with xmllint (Debian's libxml2-utils).
    let dir = std::env::temp_dir().join(format!("fundtrail-iati-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("activity.xml");
    std::fs::write(&file, &xml).unwrap();
    let xsd = schemas_dir().join("iati-2.03/iati-activities-schema.xsd");
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(&xsd)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("xmllint (Debian package libxml2-utils) is required: {e}"));
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "xmllint: {report}\n{xml}");
    assert!(report.contains("validates"), "{report}");

    // Every code against its codelist (the XSD does not check them).
    let types = attr_values(&xml, "transaction-type", "code");
    let known = codelist("TransactionType");
    for t in &types {
        assert!(known.contains(t), "transaction type {t}");
    }
    let roles = attr_values(&xml, "participating-org", "role");
    let known_roles = codelist("OrganisationRole");
    for r in &roles {
        assert!(known_roles.contains(r), "role {r}");
    }
    for s in attr_values(&xml, "activity-status", "code") {
        assert!(codelist("ActivityStatus").contains(&s), "status {s}");
    }
    for d in attr_values(&xml, "activity-date", "type") {
        assert!(codelist("ActivityDateType").contains(&d), "date type {d}");
    }
    // The fund's own flows only: pledge 13, contributions 1 (x2), allocation 2,
    // disbursements 3 (x2 + the reversal). The ministry's expenditure and payments (4) are
    // its own spending of the disbursed money: beside the 3s they would count it twice.
    assert_eq!(types, ["13", "1", "1", "2", "3", "3", "3"], "{xml}");
    assert!(!xml.contains("<transaction-type code=\"4\"/>"), "{xml}");
    // Donors fund (1), the secretariat extends (3), the ministry implements (4).
    assert_eq!(roles, ["1", "1", "3", "4"]);
    // An organisation with an IATI identifier is named by it; the others by their name only
    // (no made-up ref); the reporting organisation keeps the local ref the XSD requires.
    assert!(
        xml.contains("<participating-org ref=\"XM-DAC-8\" role=\"1\">"),
        "{xml}"
    );
    assert!(xml.contains("<provider-org ref=\"XM-DAC-8\">"), "{xml}");
    assert_eq!(
        attr_values(&xml, "participating-org", "role").len(),
        4,
        "{xml}"
    );
    assert_eq!(xml.matches("<participating-org role=").count(), 3, "{xml}");
    assert!(
        xml.contains(&format!(
            "<reporting-org ref=\"FUNDTRAIL-{}\" type=\"40\">",
            w.secretariat
        )),
        "{xml}"
    );
    // The activity's sector: DAC 15210, security system management and reform.
    assert!(
        xml.contains("<sector vocabulary=\"1\" code=\"15210\" percentage=\"100\">"),
        "{xml}"
    );

    // The reversal: a disbursement (3) with a negative value, dated when made.
    let rev = xml
        .split(&format!(
            "<transaction ref=\"{}\">",
            w.disbursement_reversal
        ))
        .nth(1)
        .unwrap()
        .split("</transaction>")
        .next()
        .unwrap();
    assert!(rev.contains("<transaction-type code=\"3\"/>"), "{rev}");
    assert!(
        rev.contains(&format!(
            "<value currency=\"EUR\" value-date=\"{}\">-25000.00</value>",
            today()
        )),
        "{rev}"
    );
    assert!(rev.contains("Reversal of entry"), "{rev}");
    // The USD contribution keeps its currency.
    assert!(xml.contains("<value currency=\"USD\""), "{xml}");
    // The checkpoint is named before the activity.
    let size = hdr(&headers, "fundtrail-checkpoint-size");
    assert!(
        xml.contains(&format!("tree_size {size} root_hash")),
        "{xml}"
    );
    assert!(xml.find("fundtrail checkpoint").unwrap() < xml.find("<iati-activity ").unwrap());
}

/// The IATI Standard ruleset (what the IATI Validator applies beyond the XSD: a sector,
/// start dates, date order, refs IATI can resolve), the 2.03 schema and every codelist,
/// checked by pyIATI, the IATI Technical Team's library (scripts/iati-validate installs it).
#[actix_web::test]
async fn iati_export_passes_the_iati_standard_ruleset() {
    let (w, app) = world().await;
    w.as_("auditor", w.auditor);
    let (status, _, bytes) = harness::fetch(&app, &w.export("iati.xml")).await;
    assert_eq!(status, StatusCode::OK);
    let dir = std::env::temp_dir().join(format!("fundtrail-iati-rules-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("activity.xml");
    std::fs::write(&file, &bytes).unwrap();
    // The same activity without its sector, which the ruleset requires: the check really
    // checks.
    let xml = String::from_utf8(bytes.to_vec()).unwrap();
    let start = xml.find("<sector ").unwrap();
    let end = xml.find("</sector>").unwrap() + "</sector>".len();
    let broken = dir.join("no-sector.xml");
    std::fs::write(&broken, format!("{}{}", &xml[..start], &xml[end..])).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/iati-validate");
    let run = |f: &std::path::Path| {
        let out = std::process::Command::new(&script)
            .arg(f)
            .output()
            .unwrap_or_else(|e| panic!("scripts/iati-validate: {e}"));
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, report) = run(&file);
    let (broken_ok, broken_report) = run(&broken);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(ok, "{report}\n{xml}");
    assert!(
        report.contains("valid (schema, codelists, standard ruleset)"),
        "{report}"
    );
    assert!(!broken_ok, "{broken_report}");
    assert!(
        broken_report.contains("err-rule-at-least-one-conformance-fail"),
        "{broken_report}"
    );
}

#[actix_web::test]
async fn ocds_export_validates_against_the_release_package_schema() {
    let (w, app) = world().await;
    w.as_("donor", w.donor);
    let (status, headers, bytes) = harness::fetch(&app, &w.export("ocds.json")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    let package: Value = serde_json::from_slice(&bytes).unwrap();
    let validator = ocds_validator();
    let errors: Vec<String> = validator
        .iter_errors(&package)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{package:#}");
    // A broken package is refused, so the validator really checks.
    let mut broken = package.clone();
    broken["releases"][0]["tender"]["procurementMethod"] = json!("auction");
    assert!(!validator.is_valid(&broken));

    let size: u64 = hdr(&headers, "fundtrail-checkpoint-size").parse().unwrap();
    assert_eq!(package["fundtrailCheckpoint"]["tree_size"], size);
    assert_eq!(package["publisher"]["name"], "MDTF Secretariat");
    let releases = package["releases"].as_array().unwrap();
    // One ocid per tender, in tender order.
    let ocids: Vec<&str> = releases
        .iter()
        .map(|r| r["ocid"].as_str().unwrap())
        .collect();
    assert_eq!(
        ocids,
        w.tenders
            .iter()
            .map(|t| format!("ocds-ftrail-{}-{t}", w.fund))
            .collect::<Vec<_>>()
    );
    let first = &releases[0];
    assert_eq!(first["tender"]["procurementMethod"], "open");
    assert_eq!(first["tender"]["status"], "complete");
    assert_eq!(first["tender"]["numberOfTenderers"], 2);
    assert_eq!(first["bids"]["details"].as_array().unwrap().len(), 2);
    assert_eq!(
        first["awards"][0]["suppliers"][0]["id"],
        w.vendors[0].to_string()
    );
    assert_eq!(first["awards"][0]["suppliers"][0]["name"], FORMULA_VENDOR);
    let contract = &first["contracts"][0];
    assert_eq!(contract["value"]["amount"], 19000.0);
    assert_eq!(contract["period"]["endDate"], "2027-03-31T00:00:00Z");
    assert_eq!(contract["amendments"][0]["rationale"], "extra batteries");
    let txs = contract["implementation"]["transactions"]
        .as_array()
        .unwrap();
    let amounts: Vec<f64> = txs
        .iter()
        .map(|t| t["value"]["amount"].as_f64().unwrap())
        .collect();
    assert_eq!(amounts, [10000.0, 9000.0, -9000.0]);
    assert_eq!(txs[2]["id"], w.payment_reversal.to_string());
    assert_eq!(txs[0]["payer"]["id"], w.interior.to_string());
    // The second tender: the withdrawn bid and the disqualified one, by status.
    let statuses: Vec<&Value> = releases[1]["bids"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["status"])
        .collect();
    assert_eq!(statuses, [&json!("withdrawn"), &json!("disqualified")]);
    // Exact decimals, not floats, in the bytes.
    assert!(String::from_utf8_lossy(&bytes).contains("\"amount\":-9000.00"));
    let roles: Vec<Value> = first["parties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["roles"].clone())
        .collect();
    assert_eq!(
        roles,
        [
            json!(["buyer", "procuringEntity", "payer"]),
            json!(["tenderer", "supplier", "payee"]),
            json!(["tenderer"]),
            json!(["funder"])
        ]
    );
    assert_eq!(first["planning"]["budget"]["projectID"], w.fund.to_string());
    let second = &releases[1];
    assert_eq!(second["tender"]["procurementMethod"], "selective");
    // The withdrawn bid does not count; the disqualified one does (its vendor tendered).
    assert_eq!(second["tender"]["numberOfTenderers"], 1);
    assert_eq!(second["bids"]["details"][0]["status"], "withdrawn");
    assert!(second.get("awards").is_none() && second.get("contracts").is_none());
}

#[actix_web::test]
async fn entries_csv_is_pinned_complete_and_formula_safe() {
    let (w, app) = world().await;
    w.as_("treasurer", w.secretariat);
    let (status, headers, before) = harness::fetch(&app, &w.export("entries.csv")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&before)
    );
    assert!(hdr(&headers, "content-type").starts_with("text/csv"));
    let size: usize = hdr(&headers, "fundtrail-checkpoint-size").parse().unwrap();
    assert_eq!(
        hdr(&headers, "fundtrail-checkpoint-chain"),
        w.fund.to_string()
    );
    assert_eq!(hdr(&headers, "fundtrail-checkpoint-root").len(), 64);
    let text = String::from_utf8(before.clone()).unwrap();
    assert!(text.ends_with("\r\n"));
    let mut reader = csv::ReaderBuilder::new().from_reader(before.as_slice());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, fundtrail::reports::ledger_csv::HEADER);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    // One row per entry below the pinned size, in seq order.
    assert_eq!(rows.len(), size);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0].parse::<usize>().unwrap(), i);
        assert_eq!(r[15].len(), 64);
    }
    let by_kind = |kind: &'static str| rows.iter().filter(move |r| &r[1] == kind);
    let pledge = by_kind("pledge").next().unwrap();
    assert_eq!((&pledge[3], &pledge[4]), ("13", "Incoming Pledge"));
    assert_eq!(&pledge[9], w.donor.to_string());
    assert_eq!(&pledge[11], w.secretariat.to_string());
    let usd = by_kind("contribution").nth(1).unwrap();
    assert_eq!(
        (&usd[3], &usd[5], &usd[6], &usd[7], &usd[8]),
        ("1", "1000.00", "USD", "900.00", "EUR")
    );
    let rev = &rows[usize::try_from(w.disbursement_reversal).unwrap()];
    assert_eq!(
        (&rev[1], &rev[3], &rev[4], &rev[5]),
        ("reversal", "3", "Disbursement", "-25000.00")
    );
    assert_eq!(&rev[12], "Ministry of Interior");
    let fx = by_kind("fx_rate").next().unwrap();
    assert_eq!((&fx[3], &fx[5], &fx[9]), ("", "", ""));
    // Procurement rows carry their ocid; the formula-looking vendor name is defused.
    let award = by_kind("award").next().unwrap();
    assert_eq!(
        &award[13],
        format!("ocds-ftrail-{}-{}", w.fund, w.tenders[0])
    );
    assert_eq!(&award[12], format!("'{FORMULA_VENDOR}"));
    assert!(
        text.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"Alpha\"\")\""),
        "{text}"
    );
    assert!(!text.contains(",=HYPERLINK"));
    assert_eq!(
        &by_kind("payment").next_back().unwrap()[12],
        "Beta Vehicles, Ltd"
    );
    assert_eq!(by_kind("screening_config").count(), 1);
    // The new kinds are listed, with what they refer to and no amount.
    let approval = &rows[usize::try_from(w.approval).unwrap()];
    assert_eq!((&approval[1], &approval[5]), ("approval", ""));
    let dq = &rows[usize::try_from(w.disqualified).unwrap()];
    assert_eq!((&dq[1], &dq[5]), ("bid_disqualified", ""));

    // Pinned: the same size gives the same bytes after more entries are appended, for
    // every export; the latest checkpoint moves on.
    let pinned = |what: &str| format!("{}?at_size={size}", w.export(what));
    w.as_("auditor", w.auditor);
    let (_, _, iati_before) = harness::fetch(&app, &pinned("iati.xml")).await;
    let (_, _, ocds_before) = harness::fetch(&app, &pinned("ocds.json")).await;
    w.as_("treasurer", w.secretariat);
    let (status, _) = call!(
        &app,
        w.post(
            "contribution",
            json!({"donor": w.donor, "amount": eur("1.00"), "agreement": "NO-2"})
        )
    );
    assert_eq!(status, StatusCode::CREATED);
    w.as_("ministry", w.interior);
    let (status, _) = call!(
        &app,
        w.post(
            "tender",
            json!({"ministry": w.interior, "title": "Boots", "category": "uniforms",
            "method": "direct", "estimated_value": eur("500.00"), "deadline": today()})
        )
    );
    assert_eq!(status, StatusCode::CREATED);
    w.as_("auditor", w.auditor);
    let (status, h, again) = harness::fetch(&app, &pinned("entries.csv")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hdr(&h, "fundtrail-checkpoint-size"), size.to_string());
    assert_eq!(again, before, "the pinned CSV changed");
    assert_eq!(
        harness::fetch(&app, &pinned("iati.xml")).await.2,
        iati_before,
        "the pinned IATI export changed"
    );
    assert_eq!(
        harness::fetch(&app, &pinned("ocds.json")).await.2,
        ocds_before,
        "the pinned OCDS export changed"
    );
    let (_, h, latest) = harness::fetch(&app, &w.export("entries.csv")).await;
    assert_eq!(hdr(&h, "fundtrail-checkpoint-size"), (size + 2).to_string());
    assert_eq!(String::from_utf8(latest).unwrap().lines().count(), size + 3);
    let (_, _, latest_ocds) = harness::fetch(&app, &w.export("ocds.json")).await;
    let latest_ocds: Value = serde_json::from_slice(&latest_ocds).unwrap();
    assert_eq!(latest_ocds["releases"].as_array().unwrap().len(), 3);

    // A size with no signed checkpoint is refused before streaming.
    for what in ["entries.csv", "iati.xml", "ocds.json"] {
        let uri = format!("{}?at_size={}", w.export(what), size + 100);
        let (status, body) = call!(&app, TestRequest::get().uri(&uri));
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        assert_eq!(body["code"], "no_checkpoint_at_size", "{what}");
    }
}

#[actix_web::test]
async fn exports_refuse_everyone_outside_their_scope() {
    let (w, app) = world().await;
    for what in ["entries.csv", "iati.xml", "ocds.json"] {
        let uri = w.export(what);
        harness::clear_token();
        let (status, body) = call!(&app, TestRequest::get().uri(&uri));
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
            "{what}"
        );
        let cases = [
            ("ministry", w.interior, StatusCode::FORBIDDEN),
            ("donor", w.other_donor, StatusCode::NOT_FOUND),
            ("treasurer", w.other.secretariat, StatusCode::NOT_FOUND),
            ("auditor", w.other.auditor, StatusCode::NOT_FOUND),
            ("admin", Uuid::new_v4(), StatusCode::OK),
            ("treasurer", w.secretariat, StatusCode::OK),
            ("auditor", w.auditor, StatusCode::OK),
            ("donor", w.donor, StatusCode::OK),
            ("donor", w.donor2, StatusCode::OK),
        ];
        for (role, org, want) in cases {
            w.as_(role, org);
            let (status, _, body) = harness::fetch(&app, &uri).await;
            assert_eq!(
                status,
                want,
                "{what} as {role} of {org}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        w.as_("admin", Uuid::new_v4());
        let (status, body) = call!(
            &app,
            TestRequest::get().uri(&format!("/api/v1/funds/{}/exports/{what}", Uuid::new_v4()))
        );
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
    }
}

/// Pages and tender windows of one entry, two, three or seven give the very bytes the
/// routes serve with pages of 10,000: no entry is lost or repeated at a page boundary,
/// and a tender's entries that span pages still fold into one release.
#[actix_web::test]
async fn exports_do_not_depend_on_the_page_size() {
    use fundtrail::reports::exports::{produce_csv, produce_iati, produce_ocds};
    let (w, app) = world().await;
    w.as_("auditor", w.auditor);
    let (_, h, csv_http) = harness::fetch(&app, &w.export("entries.csv")).await;
    let (_, _, iati_http) = harness::fetch(&app, &w.export("iati.xml")).await;
    let (_, _, ocds_http) = harness::fetch(&app, &w.export("ocds.json")).await;
    let size: u64 = hdr(&h, "fundtrail-checkpoint-size").parse().unwrap();
    let mut conn = w._db.superuser_conn();
    let fund = fundtrail::funds::store::fund(&mut conn, w.fund)
        .unwrap()
        .unwrap();
    let cp = fundtrail::reports::pin::checkpoint(&mut conn, &w.state.ledger, w.fund, Some(size))
        .unwrap();
    let ctx = fundtrail::reports::ledger_csv::CsvCtx {
        fund: w.fund,
        fund_currency: "EUR".to_owned(),
        secretariat: w.secretariat,
        ocid_prefix: "ocds-ftrail".to_owned(),
    };
    let info = fundtrail::reports::ocds::FundInfo {
        fund: w.fund,
        name: "SSR Fund".to_owned(),
        ocid_prefix: "ocds-ftrail".to_owned(),
    };
    for page in [1, 2, 3, 7] {
        let mut out = Vec::new();
        produce_csv(&mut conn, &ctx, size, page, &mut out).unwrap();
        assert_eq!(out, csv_http, "CSV, pages of {page}");
        let mut out = Vec::new();
        produce_iati(&mut conn, &fund, "MDTF Secretariat", &cp, page, &mut out).unwrap();
        assert_eq!(out, iati_http, "IATI, pages of {page}");
        let mut out = Vec::new();
        produce_ocds(
            &mut conn,
            &info,
            ("MDTF Secretariat", w.secretariat),
            &cp,
            page,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            String::from_utf8(ocds_http.clone()).unwrap(),
            "OCDS, pages of {page}"
        );
    }
}

/// Pinned answers are cacheable for ever: a strong ETag, `immutable`, and 304 for a client
/// that already holds them; the latest answers must be revalidated.
#[actix_web::test]
async fn pinned_reports_and_exports_carry_a_strong_etag_and_answer_304() {
    let (w, app) = world().await;
    w.as_("auditor", w.auditor);
    let (_, h, _) = harness::fetch(&app, &w.export("entries.csv")).await;
    let size: u64 = hdr(&h, "fundtrail-checkpoint-size").parse().unwrap();
    let statement = format!("/api/v1/funds/{}/reports/statement", w.fund);
    let uris = [
        format!("{statement}?at_size={size}"),
        format!("{statement}?at_size={size}&format=csv"),
        format!("{}?at_size={size}", w.export("entries.csv")),
        format!("{}?at_size={size}", w.export("iati.xml")),
        format!("{}?at_size={size}", w.export("ocds.json")),
    ];
    for uri in &uris {
        let (status, h, body) = harness::fetch(&app, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        let tag = hdr(&h, "etag");
        assert!(
            tag.starts_with('"') && !tag.starts_with("W/"),
            "{uri}: {tag}"
        );
        assert_eq!(
            hdr(&h, "cache-control"),
            "private, max-age=31536000, immutable"
        );
        // The same answer again: same tag; with the tag, 304 and no body.
        let (_, again, same) = harness::fetch(&app, uri).await;
        assert_eq!(hdr(&again, "etag"), tag, "{uri}");
        assert_eq!(same, body, "{uri}");
        let res = actix_web::test::call_service(
            &app,
            harness::authed(TestRequest::get().uri(uri))
                .insert_header(("if-none-match", tag.as_str()))
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{uri}");
        assert!(actix_web::test::read_body(res).await.is_empty());
    }
    // Not pinned: revalidate.
    let (_, h, _) = harness::fetch(&app, &statement).await;
    assert_eq!(hdr(&h, "cache-control"), "no-cache");
}

/// The statement and donor report CSVs carry the figures their JSON has, and the signed
/// note, so the CSV alone can be checked against the checkpoint.
#[actix_web::test]
async fn report_csvs_carry_every_figure_and_the_signed_note() {
    let (w, app) = world().await;
    w.as_("auditor", w.auditor);
    let statement = format!("/api/v1/funds/{}/reports/statement", w.fund);
    let (_, _, json) = harness::fetch(&app, &statement).await;
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let (_, _, csv) = harness::fetch(&app, &format!("{statement}?format=csv")).await;
    let rows = csv_rows(&csv);
    let has = |section: &str, item_id: &str, measure: &str, value: &str| {
        rows.iter().any(|r| {
            r[0] == section
                && r[1] == item_id
                && r[4] == measure
                && r[5..8].contains(&value.to_owned())
        })
    };
    let total = &json["uses"]["total"];
    assert!(
        has(
            "uses",
            "",
            "undisbursed",
            total["undisbursed"].as_str().unwrap()
        ),
        "{rows:?}"
    );
    assert!(has(
        "uses",
        "",
        "allocated",
        total["allocated"]["cumulative"].as_str().unwrap()
    ));
    assert!(has(
        "uses",
        "",
        "refunded",
        total["refunded"]["cumulative"].as_str().unwrap()
    ));
    assert!(has(
        "sources",
        "",
        "outstanding",
        json["sources"]["total"]["outstanding"].as_str().unwrap()
    ));
    let m = &json["uses"]["ministries"][0];
    assert!(has(
        "uses",
        m["ministry"]["id"].as_str().unwrap(),
        "undisbursed",
        m["undisbursed"].as_str().unwrap()
    ));
    let note = json["checkpoints"]["fund"]["note"].as_str().unwrap();
    assert!(
        rows.iter()
            .any(|r| r[0] == "checkpoint" && r[4] == "note" && r.contains(&note.to_owned())),
        "the fund's signed note is in the CSV"
    );

    // The donor report: its contributions in their own currency, its attributed spending
    // by ministry and by category.
    let donor = format!("/api/v1/funds/{}/reports/donors/{}", w.fund, w.donor2);
    let (_, _, json) = harness::fetch(&app, &donor).await;
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let (_, _, csv) = harness::fetch(&app, &format!("{donor}?format=csv")).await;
    let rows = csv_rows(&csv);
    let originals = json["contributions"]["contributed_original"]
        .as_array()
        .unwrap();
    assert!(
        originals.iter().any(|o| o["currency"] == "USD"),
        "the donor contributed in USD: {json}"
    );
    let attributed = &json["attributed"];
    assert!(!attributed["by_category"].as_array().unwrap().is_empty());
    for o in originals {
        assert!(
            rows.iter().any(|r| r[4] == "contributed_original"
                && r[8] == o["currency"].as_str().unwrap()
                && r[7] == o["cumulative"].as_str().unwrap()),
            "{o} in {rows:?}"
        );
    }
    for m in attributed["by_ministry"].as_array().unwrap() {
        let id = m["ministry"]["id"].as_str().unwrap();
        for figure in ["attributed_disbursed", "attributed_spent"] {
            assert!(rows.iter().any(|r| r[0] == "attributed"
                && r[1] == id
                && r[3].is_empty()
                && r[4] == figure
                && r[7] == m[figure]["cumulative"].as_str().unwrap()));
        }
    }
    for c in attributed["by_category"].as_array().unwrap() {
        let cat = c["category"].as_str().unwrap();
        assert!(rows.iter().any(|r| r[0] == "attributed"
            && r[1].is_empty()
            && r[3] == cat
            && r[4] == "attributed_spent"
            && r[7] == c["attributed_spent"]["cumulative"].as_str().unwrap()));
    }
}

fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}
