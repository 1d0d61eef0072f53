//! Evidence documents end to end: a document uploaded to an entry is stored under its
//! SHA-256 and recorded by an `evidence_attached` entry whose receipt proves it; the
//! fund's documents are bundled and checked offline against an exported chain (a changed
//! or missing one reported with the entry that cites it); who may attach and read; bad
//! documents refused with problem JSON and nothing written; and the same through a real
//! S3-compatible server (moto).

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use actix_web::web::Data;
use fundtrail::state::AppState;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, eur, org, TestDb};

const U422: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// A small PDF whose bytes differ by `tag`.
fn pdf(tag: &str) -> Vec<u8> {
    format!("%PDF-1.4\n1 0 obj\n<< /Title ({tag}) >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
        .into_bytes()
}

/// A PNG file shipped by werkzeug (a dependency of moto[server], which scripts/test
/// installs): a real document nobody here made.
fn shipped_png() -> Vec<u8> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import os, werkzeug; print(os.path.join(os.path.dirname(werkzeug.__file__), 'debug', 'shared', 'console.png'))",
        ])
        .output()
        .expect("python3 runs");
    let path = String::from_utf8(out.stdout).unwrap();
    std::fs::read(path.trim()).unwrap_or_else(|e| panic!("{}: {e}", path.trim()))
}

/// What a reference tool says of `bytes`: `sha256sum` (coreutils) and `file --mime-type`
/// (libmagic).
fn reference(bytes: &[u8]) -> (String, String) {
    let dir = harness::temp_dir("ref");
    let path = dir.join("doc");
    std::fs::write(&path, bytes).unwrap();
    let run = |cmd: &str, args: &[&str]| {
        let out = std::process::Command::new(cmd)
            .args(args)
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("{cmd}: {e}"));
        String::from_utf8(out.stdout).unwrap()
    };
    let sha = run("sha256sum", &[])
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let mime = run("file", &["--brief", "--mime-type"]).trim().to_owned();
    std::fs::remove_dir_all(&dir).unwrap();
    (sha, mime)
}

fn upload(fund: Uuid, seq: u64, bytes: &[u8], query: &str) -> TestRequest {
    TestRequest::post()
        .uri(&format!(
            "/api/v1/funds/{fund}/entries/{seq}/evidence{query}"
        ))
        .insert_header(("idempotency-key", Uuid::new_v4().to_string()))
        // The client's type is not what is recorded: the bytes say what they are.
        .insert_header(("content-type", "text/plain"))
        .set_payload(bytes.to_vec())
}

/// A fund with an auditor, a donor's contribution, Interior (allocated, disbursed, one
/// expenditure) and Justice (allocated); documents stored in `store`.
struct World {
    state: Data<AppState>,
    fund: Uuid,
    secretariat: Uuid,
    auditor: Uuid,
    donor: Uuid,
    interior: Uuid,
    justice: Uuid,
    disbursement: u64,
    expenditure: u64,
    store: std::path::PathBuf,
    db: TestDb,
}

impl World {
    fn as_(&self, role: &str, org: Uuid) {
        harness::act_as_member(&self.state, role, org);
    }

    fn chain_size(&self) -> i64 {
        harness::number(
            &mut self.db.superuser_conn(),
            &format!(
                "SELECT size AS n FROM chain_heads WHERE chain_id = '{}'",
                self.fund
            ),
        )
    }
}

async fn world(max_bytes: u64) -> (World, app_service!()) {
    let db = TestDb::migrated();
    let store = harness::temp_dir("docstore");
    let state = harness::state_with(&db, harness::settings_with_documents(&store, max_bytes)).await;
    let app = harness::app(state.clone()).await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    let mut w = World {
        fund,
        secretariat,
        auditor,
        donor: org(&db, "Kingdom of Norway", "donor"),
        interior: org(&db, "Ministry of Interior", "ministry"),
        justice: org(&db, "Ministry of Justice", "ministry"),
        disbursement: 0,
        expenditure: 0,
        store,
        state,
        db,
    };
    w.as_("treasurer", w.secretariat);
    let post = |kind: &str, body: Value| harness::entry(fund, kind, today(), body);
    ok!(
        &app,
        post(
            "contribution",
            json!({"donor": w.donor, "amount": eur("900000.00"), "agreement": "NOR-1"})
        )
    );
    let mut allocs = Vec::new();
    for m in [w.interior, w.justice] {
        allocs.push(ok!(
            &app,
            post(
                "allocation",
                json!({"ministry": m, "budget_line": "BL-4", "category": "equipment",
                    "amount": eur("400000.00"), "period_start": "2026-01-01", "period_end": "2027-12-31"})
            )
        ));
    }
    w.disbursement = ok!(
        &app,
        post(
            "disbursement",
            json!({"allocation": allocs[0], "amount": eur("40000.00"), "tranche": "T1"})
        )
    );
    w.as_("ministry", w.interior);
    w.expenditure = ok!(
        &app,
        post(
            "expenditure",
            json!({"ministry": w.interior, "category": "fuel", "amount": eur("1200.00"), "description": "May fuel"})
        )
    );
    (w, app)
}

fn run_ok(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[actix_web::test]
async fn an_uploaded_document_is_proven_by_its_entry_and_checked_offline() {
    let (w, app) = world(1 << 20).await;
    let invoice = pdf("Invoice 17, Alpha Fuel");
    let (ref_sha, ref_mime) = reference(&invoice);
    assert_eq!(ref_mime, "application/pdf");

    // The ministry attaches the invoice to its expenditure: the receipt's entry carries
    // the document's hash, size and sniffed type.
    w.as_("ministry", w.interior);
    let req = upload(w.fund, w.expenditure, &invoice, "?name=invoice-17.pdf");
    let (status, receipt) = call!(&app, req);
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let attached = receipt["seq"].as_u64().unwrap();
    let body = &receipt["entry"]["body"];
    assert_eq!(receipt["entry"]["kind"], "evidence_attached");
    assert_eq!(body["entry"], w.expenditure);
    assert_eq!(body["sha256"], ref_sha.as_str());
    assert_eq!(body["size_bytes"], invoice.len());
    assert_eq!(body["media_type"], ref_mime.as_str());
    assert_eq!(body["name"], "invoice-17.pdf");

    // A retry with the same key is the same entry, not a second one.
    let key = "retry-me";
    let again = |bytes: &[u8]| {
        upload(w.fund, w.expenditure, bytes, "").insert_header(("idempotency-key", key))
    };
    let (s1, first) = call!(&app, again(&invoice));
    let (s2, second) = call!(&app, again(&invoice));
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK), "{second}");
    assert_eq!(first["seq"], second["seq"]);
    assert_eq!(second["replayed"], true);

    // The treasurer attaches a real PNG (a bank advice scan, say) to the disbursement.
    w.as_("treasurer", w.secretariat);
    let advice = shipped_png();
    let (advice_sha, advice_mime) = reference(&advice);
    let (status, r) = call!(&app, upload(w.fund, w.disbursement, &advice, ""));
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["entry"]["body"]["media_type"], advice_mime.as_str());
    let advice_seq = r["seq"].as_u64().unwrap();

    // The receipt proves the entry, hence the hash, offline.
    let dir = harness::temp_dir("evidence");
    let (_, keys) = call!(&app, TestRequest::get().uri("/api/v1/keys"));
    let keys_file = dir.join("keys.txt");
    let key_lines: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["verifier_key"].as_str().unwrap())
        .collect();
    std::fs::write(&keys_file, key_lines.join("\n") + "\n").unwrap();
    let receipt_file = dir.join("receipt.json");
    std::fs::write(&receipt_file, receipt.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fundtrail"))
        .args(["verify-receipt", "--receipt"])
        .arg(&receipt_file)
        .arg("--public-key")
        .arg(&keys_file)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Anyone who reads the fund downloads the document, checked against its hash.
    w.as_("auditor", w.auditor);
    let (status, headers, bytes) = harness::fetch(
        &app,
        &format!("/api/v1/funds/{}/documents/{ref_sha}", w.fund),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, invoice);
    assert_eq!(headers.get("content-type").unwrap(), "application/pdf");
    assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
    let digest = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(hex::decode(&ref_sha).unwrap())
    };
    assert_eq!(
        headers.get("repr-digest").unwrap().to_str().unwrap(),
        format!("sha-256=:{digest}:")
    );
    let (_, list) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{}/documents", w.fund))
    );
    assert_eq!(list["next_after"], Value::Null, "one page: {list}");
    let listed: Vec<(u64, &str)> = list["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["entry"].as_u64().unwrap(), d["sha256"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (w.expenditure, ref_sha.as_str()),
            (w.expenditure, ref_sha.as_str()),
            (w.disbursement, advice_sha.as_str())
        ]
    );
    // The database holds the hash, never the document.
    let ledger_bytes = harness::number(
        &mut w.db.superuser_conn(),
        "SELECT coalesce(sum(length(canonical)), 0)::bigint AS n FROM ledger_entries",
    );
    assert!(
        ledger_bytes < 20_000,
        "the ledger stays small: {ledger_bytes}"
    );

    // The bundle and the export, checked offline: intact...
    let export = dir.join("chain.jsonl");
    let (status, _, exported) =
        harness::fetch(&app, &format!("/api/v1/chains/{}/export", w.fund)).await;
    assert_eq!(status, StatusCode::OK);
    std::fs::write(&export, exported).unwrap();
    let bundle = dir.join("documents");
    let store = w.store.to_str().unwrap().to_owned();
    let fund = w.fund.to_string();
    let args = [
        "documents",
        "export",
        "--fund",
        &fund,
        "--out",
        bundle.to_str().unwrap(),
        "--documents-dir",
        &store,
    ];
    let report = run_ok(&harness::fundtrail(&w.db, &dir, &args));
    assert_eq!(report["documents"], 2, "{report}");
    let verify = |docs: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fundtrail"))
            .args(["verify", "--export"])
            .arg(&export)
            .arg("--public-key")
            .arg(&keys_file)
            .arg("--documents")
            .arg(docs)
            .output()
            .unwrap()
    };
    let out = verify(&bundle);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // ...and the store itself, in its own layout.
    assert_eq!(verify(&w.store).status.code(), Some(0));
    // The same bundle through the API, as a tar archive: the same files, checked alike.
    let (status, headers, tarball) =
        harness::fetch(&app, &format!("/api/v1/funds/{}/documents/bundle", w.fund)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("content-type").unwrap(), "application/x-tar");
    let unpacked = dir.join("api-documents");
    tar::Archive::new(tarball.as_slice())
        .unpack(&unpacked)
        .unwrap();
    let names = |d: &std::path::Path| {
        let mut n: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&unpacked), names(&bundle));
    for name in names(&unpacked) {
        assert_eq!(
            std::fs::read(unpacked.join(&name)).unwrap(),
            std::fs::read(bundle.join(&name)).unwrap()
        );
    }
    assert_eq!(verify(&unpacked).status.code(), Some(0));
    // The independent Python verifier (written from the docs) agrees.
    let python = |docs: &std::path::Path| {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tools/independent-verifier/verify.py");
        std::process::Command::new("python3")
            .arg(script)
            .arg("--export")
            .arg(&export)
            .arg("--public-key")
            .arg(&keys_file)
            .arg("--documents")
            .arg(docs)
            .output()
            .unwrap()
    };
    let theirs = python(&bundle);
    assert_eq!(
        theirs.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&theirs.stderr)
    );

    // A changed invoice and a missing advice are reported with the entries citing them.
    let mut altered = invoice.clone();
    *altered.last_mut().unwrap() = b' ';
    std::fs::write(bundle.join(&ref_sha), &altered).unwrap();
    std::fs::remove_file(bundle.join(&advice_sha)).unwrap();
    let last_report = |out: &std::process::Output| -> Value {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        serde_json::from_str(&text[text.rfind("{\n  \"ok\"").unwrap()..]).unwrap()
    };
    let problems = |docs: &Value| -> Vec<(u64, u64, String)> {
        docs["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["seq"].as_u64().unwrap(),
                    p["entry"].as_u64().unwrap(),
                    p["problem"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let out = verify(&bundle);
    assert_eq!(out.status.code(), Some(1));
    let docs = last_report(&out);
    let expected = vec![
        (attached, w.expenditure, "changed".to_owned()),
        (
            first["seq"].as_u64().unwrap(),
            w.expenditure,
            "changed".to_owned(),
        ),
        (advice_seq, w.disbursement, "missing".to_owned()),
    ];
    assert_eq!(problems(&docs), expected, "{docs}");
    let theirs = python(&bundle);
    assert_eq!(theirs.status.code(), Some(1));
    assert_eq!(problems(&last_report(&theirs)), expected);

    // The derived rows are rebuilt from the ledger alone.
    let report = fundtrail::entries::rebuild::run(
        &mut w.db.superuser_conn(),
        false,
        &fundtrail::screening::Screens,
    )
    .unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[actix_web::test]
async fn documents_are_attached_and_read_only_within_scope() {
    let (w, app) = world(4 << 20).await;
    let other = {
        w.as_("admin", Uuid::new_v4());
        harness::other_fund(&w.db, &app).await
    };
    let doc = pdf("scope");
    let sha = reference(&doc).0;
    let before = w.chain_size();

    // Who may not attach: admin and donor by role; the auditor and the treasurer to a
    // ministry's entry; another ministry (its entries are unknown to it); another fund's
    // treasurer (the fund is unknown to it); nobody anonymous.
    w.as_("admin", Uuid::new_v4());
    refused!(
        &app,
        upload(w.fund, w.expenditure, &doc, ""),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
    w.as_("donor", w.donor);
    refused!(
        &app,
        upload(w.fund, w.expenditure, &doc, ""),
        StatusCode::FORBIDDEN,
        "forbidden"
    );
    w.as_("auditor", w.auditor);
    refused!(
        &app,
        upload(w.fund, w.expenditure, &doc, ""),
        U422,
        "not_permitted"
    );
    w.as_("treasurer", w.secretariat);
    refused!(
        &app,
        upload(w.fund, w.expenditure, &doc, ""),
        U422,
        "not_permitted"
    );
    w.as_("ministry", w.justice);
    refused!(
        &app,
        upload(w.fund, w.expenditure, &doc, ""),
        U422,
        "unknown_reference"
    );
    refused!(
        &app,
        upload(w.fund, w.disbursement, &doc, ""),
        U422,
        "unknown_reference"
    );
    w.as_("ministry", w.interior);
    refused!(
        &app,
        upload(w.fund, w.disbursement, &doc, ""),
        U422,
        "not_permitted"
    );
    w.as_("treasurer", other.secretariat);
    refused!(
        &app,
        upload(w.fund, w.disbursement, &doc, ""),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    harness::clear_token();
    let (status, _) = call!(&app, upload(w.fund, w.expenditure, &doc, ""));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(w.chain_size(), before, "no refusal wrote an entry");

    // The interior ministry attaches to its own expenditure.
    w.as_("ministry", w.interior);
    ok!(&app, upload(w.fund, w.expenditure, &doc, ""));
    let uri = format!("/api/v1/funds/{}/documents/{sha}", w.fund);
    let list = format!("/api/v1/funds/{}/documents", w.fund);

    // Who reads it: everyone who reads the fund's entries, a ministry only its own.
    for (role, org) in [
        ("ministry", w.interior),
        ("treasurer", w.secretariat),
        ("auditor", w.auditor),
        ("donor", w.donor),
        ("admin", Uuid::new_v4()),
    ] {
        w.as_(role, org);
        let (status, _, bytes) = harness::fetch(&app, &uri).await;
        assert_eq!((role, status), (role, StatusCode::OK));
        assert_eq!(bytes, doc);
        let (_, docs) = call!(&app, TestRequest::get().uri(&list));
        assert_eq!(
            docs["documents"].as_array().unwrap().len(),
            1,
            "{role}: {docs}"
        );
    }
    // Who does not: another ministry of the fund, another fund's people (also asking
    // through their own fund), anonymous callers.
    w.as_("ministry", w.justice);
    refused!(
        &app,
        TestRequest::get().uri(&uri),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    let (_, docs) = call!(&app, TestRequest::get().uri(&list));
    assert_eq!(docs, json!({"documents": [], "next_after": null}));
    // The bundle follows the same scope: another ministry's archive holds nothing of it.
    let bundle = format!("/api/v1/funds/{}/documents/bundle", w.fund);
    let (status, _, tarball) = harness::fetch(&app, &bundle).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tarball, vec![0; 1024], "an empty archive");
    w.as_("ministry", w.interior);
    let (status, _, tarball) = harness::fetch(&app, &bundle).await;
    assert_eq!(status, StatusCode::OK);
    let mut archive = tar::Archive::new(tarball.as_slice());
    let members: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(members, vec![sha.clone()]);
    for (role, org) in [("treasurer", other.secretariat), ("auditor", other.auditor)] {
        w.as_(role, org);
        refused!(
            &app,
            TestRequest::get().uri(&uri),
            StatusCode::NOT_FOUND,
            "not_found"
        );
        refused!(
            &app,
            TestRequest::get().uri(&list),
            StatusCode::NOT_FOUND,
            "not_found"
        );
        refused!(
            &app,
            TestRequest::get().uri(&format!("/api/v1/funds/{}/documents/bundle", w.fund)),
            StatusCode::NOT_FOUND,
            "not_found"
        );
    }
    w.as_("treasurer", other.secretariat);
    let through_own = format!("/api/v1/funds/{}/documents/{sha}", other.fund);
    refused!(
        &app,
        TestRequest::get().uri(&through_own),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    harness::clear_token();
    let (status, _) = call!(&app, TestRequest::get().uri(&uri));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{}/documents/bundle", w.fund))
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A scan larger than the JSON body limit (1 MiB) but within the document limit.
    w.as_("ministry", w.interior);
    let mut scan = pdf("scan");
    scan.resize(2 << 20, b' ');
    let (status, r) = call!(&app, upload(w.fund, w.expenditure, &scan, ""));
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["entry"]["body"]["size_bytes"], 2 << 20);
}

#[actix_web::test]
async fn bad_documents_are_refused_with_problem_json_and_nothing_written() {
    let (w, app) = world(4_096).await;
    w.as_("ministry", w.interior);
    let before = w.chain_size();
    let e = w.expenditure;
    let big = {
        let mut b = pdf("big");
        b.resize(5_000, b' ');
        b
    };
    refused!(
        &app,
        upload(w.fund, e, b"<html><script>alert(1)</script></html>", ""),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_document_type"
    );
    refused!(
        &app,
        upload(w.fund, e, b"plain words, no document", ""),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_document_type"
    );
    refused!(&app, upload(w.fund, e, b"", ""), U422, "empty_document");
    refused!(
        &app,
        upload(w.fund, e, &big, ""),
        StatusCode::PAYLOAD_TOO_LARGE,
        "document_too_large"
    );
    refused!(
        &app,
        upload(w.fund, 9_999, &pdf("x"), ""),
        U422,
        "unknown_reference"
    );
    refused!(
        &app,
        upload(w.fund, e, &pdf("x"), "?name=a%0Ab"),
        U422,
        "invalid_text"
    );
    refused!(
        &app,
        upload(w.fund, e, &pdf("x"), "?colour=red"),
        StatusCode::BAD_REQUEST,
        "invalid_parameter"
    );
    refused!(
        &app,
        upload(w.fund, e, &pdf("x"), "?business_date=2999-01-01"),
        U422,
        "business_date_in_future"
    );
    let no_key = TestRequest::post()
        .uri(&format!("/api/v1/funds/{}/entries/{e}/evidence", w.fund))
        .set_payload(pdf("x"));
    refused!(&app, no_key, U422, "idempotency_key_required");
    // The evidence entry is written by the upload only, never posted as JSON.
    let sha = reference(&pdf("x")).0;
    refused!(
        &app,
        harness::entry(
            w.fund,
            "evidence_attached",
            today(),
            json!({"entry": e, "sha256": sha, "size_bytes": 10, "media_type": "application/pdf"})
        ),
        U422,
        "evidence_by_upload"
    );
    assert_eq!(w.chain_size(), before, "no refusal wrote an entry");

    // Attached evidence stays attached; its document is served only as recorded.
    let attached = ok!(&app, upload(w.fund, e, &pdf("x"), ""));
    refused!(
        &app,
        harness::entry(
            w.fund,
            "reversal",
            today(),
            json!({"entry": attached, "reason": "wrong file"})
        ),
        U422,
        "reversal_blocked"
    );
    let base = format!("/api/v1/funds/{}/documents", w.fund);
    refused!(
        &app,
        TestRequest::get().uri(&format!("{base}/{}", sha.to_uppercase())),
        StatusCode::BAD_REQUEST,
        "invalid_parameter"
    );
    refused!(
        &app,
        TestRequest::get().uri(&format!("{base}/abc")),
        StatusCode::BAD_REQUEST,
        "invalid_parameter"
    );
    refused!(
        &app,
        TestRequest::get().uri(&format!("{base}/{}", "0".repeat(64))),
        StatusCode::NOT_FOUND,
        "not_found"
    );
    refused!(
        &app,
        TestRequest::get().uri(&format!("{base}?limit=0")),
        StatusCode::BAD_REQUEST,
        "invalid_parameter"
    );
    // A document changed or lost in the store is never served.
    let stored = w.store.join("sha256").join(&sha[..2]).join(&sha);
    std::fs::write(&stored, pdf("y")).unwrap();
    refused!(
        &app,
        TestRequest::get().uri(&format!("{base}/{sha}")),
        StatusCode::SERVICE_UNAVAILABLE,
        "document_integrity"
    );
    std::fs::remove_file(&stored).unwrap();
    refused!(
        &app,
        TestRequest::get().uri(&format!("{base}/{sha}")),
        StatusCode::SERVICE_UNAVAILABLE,
        "document_integrity"
    );
}

#[actix_web::test]
async fn documents_are_kept_in_an_s3_compatible_store() {
    let endpoint = harness::s3_endpoint();
    let bucket = format!("ft-{}", Uuid::new_v4().simple());
    // The test reads and overwrites objects behind the service's back with plain
    // requests: a bucket anyone may read and write. The service's requests are signed.
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .header("x-amz-acl", "public-read-write")
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());

    let db = TestDb::migrated();
    let settings = fundtrail::config::AppSettings {
        documents: fundtrail::config::DocumentSettings {
            store: fundtrail::config::DocumentStoreConfig::S3 {
                bucket: bucket.clone(),
                endpoint: Some(endpoint.clone()),
                region: "us-east-1".to_owned(),
                credentials: Some(("testing".to_owned(), "testing".to_owned())),
            },
            max_bytes: 1 << 20,
        },
        ..fundtrail::config::AppSettings::default()
    };
    let state = harness::state_with(&db, settings).await;
    let app = harness::app(state.clone()).await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    let donor = org(&db, "Kingdom of Norway", "donor");
    harness::act_as_member(&state, "treasurer", secretariat);
    let contribution = ok!(
        &app,
        harness::entry(
            fund,
            "contribution",
            today(),
            json!({"donor": donor, "amount": eur("5000.00"), "agreement": "NOR-9"})
        )
    );
    let advice = shipped_png();
    let (sha, _) = reference(&advice);
    let (status, r) = call!(
        &app,
        upload(fund, contribution, &advice, "?name=bank-advice.png")
    );
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["entry"]["body"]["sha256"], sha.as_str());

    // The object is in the bucket under its hash, byte for byte.
    let object = reqwest::Client::new()
        .get(format!("{endpoint}/{bucket}/sha256/{}/{sha}", &sha[..2]))
        .send()
        .await
        .unwrap();
    assert_eq!(object.status(), reqwest::StatusCode::OK);
    assert_eq!(object.bytes().await.unwrap().to_vec(), advice);

    harness::act_as_member(&state, "auditor", auditor);
    let uri = format!("/api/v1/funds/{fund}/documents/{sha}");
    let (status, headers, bytes) = harness::fetch(&app, &uri).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, advice);
    assert_eq!(headers.get("content-type").unwrap(), "image/png");

    // Overwritten in the bucket behind the service's back: refused, not served.
    let put = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}/sha256/{}/{sha}", &sha[..2]))
        .body(pdf("forged"))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    refused!(
        &app,
        TestRequest::get().uri(&uri),
        StatusCode::SERVICE_UNAVAILABLE,
        "document_integrity"
    );
}

const BOUNDARY: &str = "ft-boundary-7d1c";

/// A `multipart/form-data` request recording `entry` with its documents: each part is
/// (name, file name, bytes).
fn with_documents(fund: Uuid, key: &str, parts: &[(&str, Option<&str>, Vec<u8>)]) -> TestRequest {
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = match file {
            Some(f) => {
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n")
            }
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        // The client's type is not what is recorded: the bytes say what they are.
        body.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    TestRequest::post()
        .uri(&format!("/api/v1/funds/{fund}/entries/with-documents"))
        .insert_header(("idempotency-key", key.to_owned()))
        .insert_header((
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        ))
        .set_payload(body)
}

fn entry_part(kind: &str, body: Value) -> (&'static str, Option<&'static str>, Vec<u8>) {
    (
        "entry",
        None,
        json!({"kind": kind, "business_date": today(), "body": body})
            .to_string()
            .into_bytes(),
    )
}

/// One request records an entry and attaches its documents: the attachments cite the
/// entry's seq, each document is listed and downloads as sent, and a retry replays all of
/// it. All or nothing: a refused document (type, size) records no entry, a refused entry
/// no attachment; a request that is not multipart, has no document, or an unknown part is
/// refused; only the roles that record the entry's kind may send one.
#[actix_web::test]
async fn an_entry_and_its_documents_are_recorded_together_or_not_at_all() {
    let (w, app) = world(4096).await;
    w.as_("ministry", w.interior);
    let fuel = |amount: &str| {
        entry_part(
            "expenditure",
            json!({"ministry": w.interior, "category": "fuel", "amount": eur(amount), "description": "June fuel"}),
        )
    };
    let invoice = pdf("Invoice 18, Alpha Fuel");
    let note = pdf("Delivery note 18");
    let parts = vec![
        fuel("800.00"),
        ("document", Some("invoice-18.pdf"), invoice.clone()),
        ("document", Some("delivery-18.pdf"), note.clone()),
    ];
    let before = w.chain_size();
    let (status, batch) = call!(&app, with_documents(w.fund, "june-fuel", &parts));
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let receipts = batch["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 3, "{batch}");
    let seq = receipts[0]["seq"].as_u64().unwrap();
    assert_eq!(seq, u64::try_from(before).unwrap());
    assert_eq!(receipts[0]["entry"]["kind"], "expenditure");
    for (r, (bytes, name)) in receipts[1..]
        .iter()
        .zip([(&invoice, "invoice-18.pdf"), (&note, "delivery-18.pdf")])
    {
        assert_eq!(r["entry"]["kind"], "evidence_attached", "{r}");
        let body = &r["entry"]["body"];
        assert_eq!(body["entry"], seq, "{r}");
        assert_eq!(body["name"], name, "{r}");
        assert_eq!(body["media_type"], "application/pdf", "{r}");
        assert_eq!(body["size_bytes"], bytes.len(), "{r}");
        let sha = body["sha256"].as_str().unwrap();
        let (status, _, got) =
            harness::fetch(&app, &format!("/api/v1/funds/{}/documents/{sha}", w.fund)).await;
        assert_eq!((status, &got), (StatusCode::OK, bytes));
    }
    let (_, listed) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{}/documents?entry={seq}", w.fund))
    );
    assert_eq!(listed["documents"].as_array().unwrap().len(), 2, "{listed}");
    // A retry replays the same entries.
    let (status, again) = call!(&app, with_documents(w.fund, "june-fuel", &parts));
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["receipts"][0]["seq"], seq);
    assert_eq!(again["receipts"][2]["entry"]["body"]["entry"], seq);
    let size = w.chain_size();
    assert_eq!(size, before + 3);

    // A refused document: nothing is recorded.
    let html = b"<html><body>not an invoice</body></html>".to_vec();
    for (doc, status, code) in [
        (
            html,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_document_type",
        ),
        (
            pdf(&"x".repeat(5000)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "document_too_large",
        ),
        (
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_document",
        ),
    ] {
        let parts = vec![fuel("700.00"), ("document", Some("a.pdf"), doc)];
        refused!(
            &app,
            with_documents(w.fund, &Uuid::new_v4().to_string(), &parts),
            status,
            code
        );
    }
    assert_eq!(w.chain_size(), size, "no entry for a refused document");

    // A refused entry: no attachment, and the document is served to nobody.
    let orphan = pdf("Invoice 19, never recorded");
    let parts = vec![
        entry_part(
            "expenditure",
            json!({"ministry": w.justice, "category": "fuel", "amount": eur("10.00"), "description": "d"}),
        ),
        ("document", Some("invoice-19.pdf"), orphan.clone()),
    ];
    refused!(
        &app,
        with_documents(w.fund, "not-ours", &parts),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_own_ministry"
    );
    assert_eq!(w.chain_size(), size, "no attachment for a refused entry");
    let (sha, _) = reference(&orphan);
    w.as_("auditor", w.auditor);
    let (status, _, _) =
        harness::fetch(&app, &format!("/api/v1/funds/{}/documents/{sha}", w.fund)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Malformed requests, and roles that do not record the kind.
    w.as_("ministry", w.interior);
    let doc = || ("document", Some("a.pdf"), pdf("A"));
    for (parts, code) in [
        (vec![fuel("1.00")], "invalid_body"),
        (vec![doc()], "invalid_body"),
        (
            vec![fuel("1.00"), doc(), ("comment", None, b"hi".to_vec())],
            "invalid_body",
        ),
    ] {
        refused!(
            &app,
            with_documents(w.fund, &Uuid::new_v4().to_string(), &parts),
            StatusCode::UNPROCESSABLE_ENTITY,
            code
        );
    }
    refused!(
        &app,
        with_documents(
            w.fund,
            "evidence",
            &[
                entry_part(
                    "evidence_attached",
                    json!({"entry": 0, "sha256": "0".repeat(64), "size_bytes": 1, "media_type": "application/pdf"})
                ),
                doc()
            ]
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "evidence_by_upload"
    );
    let (status, body) = call!(
        &app,
        harness::entry(w.fund, "expenditure", today(), json!({}))
            .uri(&format!("/api/v1/funds/{}/entries/with-documents", w.fund))
    );
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    for (role, org) in [
        ("donor", w.donor),
        ("auditor", w.auditor),
        ("treasurer", w.secretariat),
        ("admin", Uuid::new_v4()),
    ] {
        w.as_(role, org);
        let parts = vec![fuel("1.00"), doc()];
        let (status, body) = call!(
            &app,
            with_documents(w.fund, &Uuid::new_v4().to_string(), &parts)
        );
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {body}");
    }
    // Unauthenticated: 401.
    harness::clear_token();
    let (status, body) = call!(&app, with_documents(w.fund, "anon", &[fuel("1.00"), doc()]));
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(w.chain_size(), size);
}
