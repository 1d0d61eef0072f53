//! `fundtrail import ocds` on real publications (tests/fixtures/ocds/real, README there):
//! Prozorro (Ukraine), the INAI and the State of Jalisco (Mexico), and the DNCP
//! (Paraguay). What an auditor checks: every process with an ocid is recorded with what
//! was published; breaks of the entry kinds' rules are data-quality flags (listed, counted,
//! triaged); lots, tender and bid statuses, awards without bids, transactions without id,
//! date or currency, vendors by identifier, releases spread over files; the ocid kept on
//! export and a re-import that appends nothing. Expected figures are read from the
//! fixtures themselves, not written down.

use std::path::PathBuf;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use fundtrail::import::run::{
    award_statuses, bid_statuses, import, methods, screening_settings, ImportOptions, ImportReport,
};

use crate::harness::{self, org, TestDb};

fn real(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ocds/real")
        .join(dir)
}

/// Every release of a fixture directory (packages' releases, records' compiled releases).
fn releases(dir: &str) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(real(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        if let Some(r) = v["releases"].as_array() {
            out.extend(r.iter().cloned());
        }
        if let Some(r) = v["records"].as_array() {
            out.extend(r.iter().map(|r| r["compiledRelease"].clone()));
        }
        if v.get("ocid").is_some() {
            out.push(v);
        }
    }
    out
}

/// A fund in `currency` with one ministry: imports go to that ministry (`--ministry`).
struct World {
    db: TestDb,
    state: actix_web::web::Data<fundtrail::state::AppState>,
    fund: Uuid,
    auditor: Uuid,
    secretariat: Uuid,
}

async fn world(currency: &str) -> (World, app_service!()) {
    let (db, state, app) = harness::start().await;
    let secretariat = org(&db, "MDTF Secretariat", "fund_secretariat");
    let auditor = org(&db, "Supreme Audit Institution", "audit_body");
    org(&db, "Publishing Ministry", "ministry");
    harness::act_as(&state, "admin");
    let (status, fund) = call!(
        &app,
        TestRequest::post().uri("/api/v1/admin/funds").set_json(
            json!({"name": "SSR Fund", "currency": currency, "secretariat": secretariat})
        )
    );
    assert_eq!(status, StatusCode::CREATED, "{fund}");
    let fund: Uuid = fund["id"].as_str().unwrap().parse().unwrap();
    harness::assign_auditor(&app, fund, auditor).await;
    harness::act_as_member(&state, "auditor", auditor);
    (
        World {
            db,
            state,
            fund,
            auditor,
            secretariat,
        },
        app,
    )
}

impl World {
    /// Records `rate` MXN (the fund's currency) per USD for every day a date of the
    /// releases in `dir` names (the fund converts at the exact business date).
    async fn usd_rates<B: actix_web::body::MessageBody>(
        &self,
        app: &impl actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
        dir: &str,
        rate: &str,
    ) {
        fn dates(v: &Value, out: &mut std::collections::BTreeSet<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        if let (true, Some(s)) = (k.to_lowercase().contains("date"), x.as_str()) {
                            out.extend(s.get(..10).map(str::to_owned));
                        }
                        dates(x, out);
                    }
                }
                Value::Array(a) => a.iter().for_each(|x| dates(x, out)),
                _ => {}
            }
        }
        let mut days = std::collections::BTreeSet::new();
        for r in releases(dir) {
            dates(&r, &mut days);
        }
        harness::act_as_member(&self.state, "treasurer", self.secretariat);
        for day in days {
            let (status, body) = call!(
                app,
                harness::entry(
                    self.fund,
                    "fx_rate",
                    &day,
                    json!({"base": "USD", "quote": "MXN", "rate": rate, "source": "test rate"})
                )
            );
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        harness::act_as_member(&self.state, "auditor", self.auditor);
    }

    async fn import_with(&self, opts: ImportOptions) -> ImportReport {
        import(
            &self.state.ledger,
            &self.state.pool,
            &ImportOptions {
                ministry: Some("Publishing Ministry".to_owned()),
                ..opts
            },
            None,
        )
        .await
        .unwrap()
    }

    async fn import(&self, files: Vec<PathBuf>) -> ImportReport {
        self.import_with(ImportOptions::new("SSR Fund", files))
            .await
    }

    /// `(kind, body)` of the fund's entries, in chain order.
    fn entries(&self) -> Vec<(String, Value)> {
        use fundtrail::schema::ledger_entries as le;
        let rows: Vec<(String, String)> = le::table
            .filter(le::chain_id.eq(self.fund))
            .order(le::seq.asc())
            .select((le::kind, le::canonical))
            .load(&mut self.db.superuser_conn())
            .unwrap();
        rows.into_iter()
            .map(|(k, c)| {
                let v: Value = serde_json::from_str(&c).unwrap();
                (k, v["body"].clone())
            })
            .collect()
    }

    fn of_kind(&self, kind: &str) -> Vec<Value> {
        self.entries()
            .into_iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, b)| b)
            .collect()
    }

    fn chain_size(&self) -> usize {
        self.entries().len()
    }

    /// The ocids of the entries that `flags` name as evidence.
    fn ocids(&self, flags: &[Value]) -> std::collections::BTreeSet<String> {
        use fundtrail::schema::ledger_entries as le;
        let rows: Vec<(i64, String)> = le::table
            .filter(le::chain_id.eq(self.fund))
            .select((le::seq, le::canonical))
            .load(&mut self.db.superuser_conn())
            .unwrap();
        let by_seq: std::collections::HashMap<u64, String> = rows
            .into_iter()
            .filter_map(|(seq, c)| {
                let v: Value = serde_json::from_str(&c).unwrap();
                let ocid = v["body"]["imported"]["ocid"].as_str()?.to_owned();
                Some((u64::try_from(seq).unwrap(), ocid))
            })
            .collect();
        flags
            .iter()
            .flat_map(|f| f["evidence"].as_array().unwrap().clone())
            .filter_map(|s| by_seq.get(&s.as_u64().unwrap()).cloned())
            .collect()
    }
}

fn findings(body: &Value) -> Vec<String> {
    body["imported"]["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["code"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[actix_web::test]
async fn jalisco_records_keep_every_award_and_amounts_exactly_as_published() {
    let (w, app) = world("MXN").await;
    let report = w.import(vec![real("mexico-jalisco")]).await;
    let published = releases("mexico-jalisco");
    assert_eq!(report.processes_skipped, 0, "{report:#?}");
    assert_eq!(
        report.processes_imported,
        u64::try_from(published.len()).unwrap(),
        "{report:#?}"
    );

    // Every active award and its contract: several per tender (Jalisco awards one
    // tender to several suppliers), none dropped.
    let active_awards = published
        .iter()
        .flat_map(|r| r["awards"].as_array().unwrap().iter())
        .filter(|a| a["status"] == "active")
        .count();
    assert!(active_awards >= 5, "{active_awards}");
    assert_eq!(w.of_kind("award").len(), active_awards);
    let contracts = published
        .iter()
        .flat_map(|r| r["contracts"].as_array().unwrap().iter())
        .filter(|c| c["status"] == "active")
        .count();
    assert_eq!(w.of_kind("contract").len(), contracts);

    // 55463.776 MXN is finer than the peso's cents: kept exactly, raised as dq-precision.
    let fine = w
        .of_kind("contract")
        .into_iter()
        .find(|c| c["value"]["value"] == "55463.776")
        .expect("the contract of 55463.776 MXN as published");
    assert!(findings(&fine).contains(&"dq-precision".to_owned()));
    assert_eq!(fine["imported"]["ocid"], "ocds-xs1qbl-02-0070-00-2017");
    // No tenderPeriod published: the tender is recorded, with a finding, and the tender
    // period screen does not say "0 days".
    for t in w.of_kind("tender") {
        assert!(
            findings(&t).contains(&"dq-missing-deadline".to_owned()),
            "{t}"
        );
    }
    assert!(harness::flags(&app, w.fund, "short-tender-period")
        .await
        .is_empty());

    // The findings are flags: listed by rule, counted, triaged like any flag.
    let dq = harness::flags(&app, w.fund, "dq-precision").await;
    assert!(!dq.is_empty());
    assert!(dq
        .iter()
        .any(|f| f["message"].as_str().unwrap().contains("55463.776")));
    assert!(
        report
            .findings_by_code
            .get("dq-precision")
            .copied()
            .unwrap_or(0)
            >= 1
    );
    assert!(report.processes_with_findings >= 1, "{report:#?}");
    let (status, counts) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{}/flags/counts", w.fund))
    );
    assert_eq!(status, StatusCode::OK, "{counts}");
    assert!(
        counts.to_string().contains("dq-missing-deadline"),
        "{counts}"
    );
    let id = dq[0]["id"].as_str().unwrap();
    let (status, detail) = call!(
        &app,
        TestRequest::post()
            .uri(&format!("/api/v1/flags/{id}/triage"))
            .set_json(json!({"action": "dismiss", "reason": "the publisher's amounts carry tenths of a cent"}))
    );
    assert_eq!(status, StatusCode::OK, "{detail}");
    let _ = w.auditor;

    // A known anomaly of the source: SFIN-03-0001's contract of 9,396,000 MXN was paid
    // 11,275,200 (20 % over), the last payment 117 days after the contract ended.
    let over = harness::flags(&app, w.fund, "over-contract").await;
    assert!(
        over.iter()
            .any(|f| f["message"].as_str().unwrap().contains("11275200")
                || f["message"].as_str().unwrap().contains("11,275,200")),
        "{over:#?}"
    );
    // ... while the rounding of 259658.286 to a payment of 259658.29 stays within the
    // tolerance and raises nothing.
    assert!(
        !over
            .iter()
            .any(|f| f["message"].as_str().unwrap().contains("259")),
        "{over:#?}"
    );

    // Vendors by the publisher's identifier (scheme PROV-GOB-JAL).
    let ids: i64 = fundtrail::schema::organization_identifiers::table
        .filter(fundtrail::schema::organization_identifiers::scheme.eq("PROV-GOB-JAL"))
        .count()
        .get_result(&mut w.db.superuser_conn())
        .unwrap();
    assert!(ids >= 3, "{ids}");
}

#[actix_web::test]
async fn inai_awards_contracts_and_transactions_without_id_or_date_are_recorded() {
    let (w, app) = world("MXN").await;
    // PC-0012 is priced in USD: the fund converts at recorded rates.
    w.usd_rates(&app, "mexico-inai", "18.50").await;
    let report = w.import(vec![real("mexico-inai")]).await;
    let published = releases("mexico-inai");
    // Every process with an ocid is recorded (INAI publishes no bids).
    assert_eq!(report.processes_skipped, 0, "{report:#?}");
    assert_eq!(
        report.processes_imported,
        u64::try_from(published.len()).unwrap()
    );
    assert!(w.of_kind("bid").is_empty());

    // Every transaction of a signed contract: an invoice and a payment.
    let transactions: Vec<Value> = published
        .iter()
        .flat_map(|r| r["contracts"].as_array().unwrap().iter())
        .filter(|c| matches!(c["status"].as_str(), Some("active" | "terminated")))
        .flat_map(|c| {
            c["implementation"]["transactions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert!(transactions.len() >= 5);
    let payments = w.of_kind("payment");
    assert_eq!(payments.len(), transactions.len());
    // Those without id got a stable derived one, those without date the release's date,
    // each a finding.
    let without_id = transactions
        .iter()
        .filter(|t| t.get("id").is_none())
        .count();
    let derived: Vec<&Value> = payments
        .iter()
        .filter(|p| findings(p).contains(&"dq-derived-id".to_owned()))
        .collect();
    assert_eq!(derived.len(), without_id);
    assert!(derived.iter().all(|p| p["imported"]["id"]
        .as_str()
        .unwrap()
        .starts_with("derived-")));
    let without_date = transactions
        .iter()
        .filter(|t| t.get("date").is_none())
        .count();
    assert!(without_date >= 1);
    assert_eq!(
        payments
            .iter()
            .filter(|p| findings(p).contains(&"dq-derived-date".to_owned()))
            .count(),
        without_date
    );
    assert!(!harness::flags(&app, w.fund, "dq-derived-id")
        .await
        .is_empty());
    // PC-0012 publishes no tender value: recorded as zero, with a finding.
    let pc12 = w
        .of_kind("tender")
        .into_iter()
        .find(|t| t["imported"]["ocid"] == "PC-0012")
        .unwrap();
    assert_eq!(pc12["estimated_value"]["value"], "0");
    assert!(findings(&pc12).contains(&"dq-missing-value".to_owned()));
    // Direct and limited awards are recorded without bids.
    assert_eq!(
        w.of_kind("award").len(),
        published
            .iter()
            .flat_map(|r| r["awards"].as_array().unwrap().iter())
            .filter(|a| a["status"] == "active")
            .count()
    );

    // PC-0001 spells its supplier three ways ("Hectarea Producciones S.A. de C.V.",
    // "Hectárea Producciones S.A. de C.V." in `parties`, "Hectárea Producciones SA DE CV"
    // in the award) under one identifier, RFC HPR060210B71: one vendor.
    {
        use fundtrail::schema::{organization_identifiers as oi, organizations as o};
        let mut conn = w.db.superuser_conn();
        let by_id: Vec<Uuid> = oi::table
            .filter(oi::scheme.eq("RFC"))
            .filter(oi::identifier.eq("HPR060210B71"))
            .select(oi::org_id)
            .load(&mut conn)
            .unwrap();
        assert_eq!(by_id.len(), 1);
        let spelled: i64 = o::table
            .filter(o::name.ilike("hect%rea producciones%"))
            .count()
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(spelled, 1);
        let award = w
            .of_kind("award")
            .into_iter()
            .find(|a| a["imported"]["ocid"] == "PC-0001")
            .unwrap();
        assert_eq!(award["vendor"], json!(by_id[0]));
    }

    // A second import appends nothing.
    let size = w.chain_size();
    let again = w.import(vec![real("mexico-inai")]).await;
    assert_eq!(again.entries_appended, 0, "{again:#?}");
    assert_eq!(w.chain_size(), size);
}

#[actix_web::test]
async fn prozorro_lots_tender_statuses_bid_statuses_and_inline_identifiers() {
    let (w, app) = world("UAH").await;
    // Prozorro's bid status "active" is not in the codelist: unmapped, the bids are
    // recorded and reported, never read as valid.
    let report = w.import(vec![real("ukraine-prozorro")]).await;
    let published = releases("ukraine-prozorro");
    assert_eq!(report.processes_skipped, 0, "{report:#?}");
    let bids = w.of_kind("bid");
    let published_bids: usize = published
        .iter()
        .map(|r| r["bids"]["details"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(bids.len(), published_bids);
    assert!(bids.iter().all(|b| b["unknown_status"] == "active"));
    assert_eq!(
        harness::flags(&app, w.fund, "dq-unknown-status")
            .await
            .len(),
        published_bids
    );
    // ... so no bid comparison fires on them.
    for rule in ["bid-spread", "award-above-bid"] {
        assert!(
            harness::flags(&app, w.fund, rule).await.is_empty(),
            "{rule}"
        );
    }
    // single-bidder does not compare bids: it reads the publisher's `numberOfTenderers`
    // (1 for 000468-c's open tender), as the reference tool cardinal's R018 does.
    let single = harness::flags(&app, w.fund, "single-bidder").await;
    assert_eq!(single.len(), 1, "{single:?}");
    // Lots: a bid related to a lot records it.
    let lots: Vec<&Value> = bids.iter().filter(|b| b.get("lot").is_some()).collect();
    assert!(!lots.is_empty());
    // Tender statuses as published.
    let statuses: Vec<(String, String)> = w
        .of_kind("tender")
        .iter()
        .map(|t| {
            (
                t["imported"]["ocid"].as_str().unwrap().to_owned(),
                t["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(statuses.contains(&(
        "ocds-be6bcu-UA-2016-12-29-000657-c".to_owned(),
        "cancelled".to_owned()
    )));
    assert!(statuses.contains(&(
        "ocds-be6bcu-UA-2016-06-07-000066-a".to_owned(),
        "unsuccessful".to_owned()
    )));
    // No `parties` in these releases: the identifier inside each tenderer names the
    // vendor (scheme UA-EDR).
    let edr: i64 = fundtrail::schema::organization_identifiers::table
        .filter(fundtrail::schema::organization_identifiers::scheme.eq("UA-EDR"))
        .count()
        .get_result(&mut w.db.superuser_conn())
        .unwrap();
    assert!(edr >= 3, "{edr}");

    // With the mapping, the same publication in a fresh fund reads them as valid bids
    // and compares them: 002020-b's award above its winner's bid is flagged no more
    // than the bids allow, and no bid is unknown.
    let (w2, app2) = world("UAH").await;
    let report = w2
        .import_with(ImportOptions {
            bid_statuses: bid_statuses(&["active=valid".to_owned()]).unwrap(),
            ..ImportOptions::new("SSR Fund", vec![real("ukraine-prozorro")])
        })
        .await;
    assert_eq!(report.processes_skipped, 0, "{report:#?}");
    assert!(w2
        .of_kind("bid")
        .iter()
        .all(|b| b.get("unknown_status").is_none()));
    assert!(harness::flags(&app2, w2.fund, "dq-unknown-status")
        .await
        .is_empty());
}

#[actix_web::test]
async fn paraguay_releases_of_one_process_over_several_files_are_merged() {
    let (w, _app) = world("PYG").await;
    let mut files: Vec<PathBuf> = std::fs::read_dir(real("paraguay-dncp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4);
    // The planning, tender, award and contract releases, each in its own file, given as
    // separate arguments: one process.
    let report = w.import(files).await;
    assert_eq!(report.processes_imported, 1, "{report:#?}");
    let tender = &w.of_kind("tender")[0];
    assert_eq!(tender["imported"]["ocid"], "ocds-03ad3f-274231");
    assert_eq!(tender["estimated_value"]["value"], "600000000.0");
    let award = &w.of_kind("award")[0];
    assert_eq!(award["amount"]["value"], "180941450.0");
    let contract = &w.of_kind("contract")[0];
    assert_eq!(contract["value"]["value"], "180941456.0");
    assert_eq!(contract["imported"]["id"], "274231-rieder-cia-saci-2");
}

#[actix_web::test]
async fn import_export_import_keeps_every_ocid_and_appends_nothing() {
    let (w, app) = world("MXN").await;
    w.usd_rates(&app, "mexico-inai", "18.50").await;
    w.import(vec![real("mexico-jalisco"), real("mexico-inai")])
        .await;
    let size = w.chain_size();
    let (status, _, bytes) =
        harness::fetch(&app, &format!("/api/v1/funds/{}/exports/ocds.json", w.fund)).await;
    assert_eq!(status, StatusCode::OK);
    let package: Value = serde_json::from_slice(&bytes).unwrap();
    let mut exported: Vec<String> = package["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ocid"].as_str().unwrap().to_owned())
        .collect();
    exported.sort();
    let mut published: Vec<String> = releases("mexico-jalisco")
        .iter()
        .chain(releases("mexico-inai").iter())
        .map(|r| r["ocid"].as_str().unwrap().to_owned())
        .collect();
    published.sort();
    assert_eq!(exported, published);

    let dir = std::env::temp_dir().join(format!("ocds-roundtrip-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("export.json");
    std::fs::write(&file, &bytes).unwrap();
    let again = w.import(vec![file]).await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(again.entries_appended, 0, "{again:#?}");
    assert_eq!(w.chain_size(), size);
}

#[actix_web::test]
async fn a_disqualification_on_one_lot_does_not_refuse_the_award_of_another() {
    let (db, state, app) = harness::start().await;
    let (fund, secretariat, _) = harness::audited_fund(&db, &state, &app).await;
    let interior = org(&db, "Ministry of Interior", "ministry");
    let v = org(&db, "Vendor V", "vendor");
    let x = org(&db, "Vendor X", "vendor");
    let donor = org(&db, "Donor", "donor");
    harness::act_as_member(&state, "treasurer", secretariat);
    ok!(
        &app,
        harness::entry(
            fund,
            "contribution",
            "2026-02-02",
            json!({"donor": donor, "amount": harness::eur("100000.00"), "agreement": "A"})
        )
    );
    ok!(
        &app,
        harness::entry(
            fund,
            "allocation",
            "2026-02-02",
            json!({"ministry": interior, "budget_line": "BL", "category": "equipment",
                   "amount": harness::eur("50000.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
        )
    );
    harness::act_as_member(&state, "ministry", interior);
    let tender = ok!(
        &app,
        harness::entry(
            fund,
            "tender",
            "2026-02-02",
            json!({"ministry": interior, "title": "Radios in two lots", "category": "radios",
                   "method": "open", "estimated_value": harness::eur("20000.00"), "deadline": "2026-03-10"})
        )
    );
    let bid = |vendor: Uuid, lot: &str, amount: &str| {
        harness::entry(
            fund,
            "bid",
            "2026-03-01",
            json!({"tender": tender, "vendor": vendor, "amount": harness::eur(amount), "lot": lot}),
        )
    };
    let v_a = ok!(&app, bid(v, "A", "9000.00"));
    ok!(&app, bid(v, "B", "8000.00"));
    ok!(&app, bid(x, "A", "9500.00"));
    ok!(
        &app,
        harness::entry(
            fund,
            "bid_disqualified",
            "2026-03-11",
            json!({"bid": v_a, "reason": "missing certificate"})
        )
    );
    let award = |vendor: Uuid, lot: &str, amount: &str| {
        harness::entry(
            fund,
            "award",
            "2026-03-12",
            json!({"tender": tender, "vendor": vendor, "amount": harness::eur(amount),
                   "bids_received": 2, "lot": lot}),
        )
    };
    // Lot B to V: its disqualification was on lot A.
    ok!(&app, award(v, "B", "8000.00"));
    // Lot A to V: refused.
    let (status, body) = call!(&app, award(v, "A", "9000.00"));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "vendor_disqualified", "{body}");

    // The API's own entries never carry `imported`: the relaxed rules are the import's.
    let (status, body) = call!(
        &app,
        harness::entry(
            fund,
            "tender",
            "2026-02-02",
            json!({"ministry": interior, "title": "T", "category": "c", "method": "open",
                   "estimated_value": harness::eur("0.001"), "deadline": "2026-01-01",
                   "imported": {"ocid": "x", "findings": [{"code": "dq-precision", "detail": "d"}]}})
        )
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "imported_reserved", "{body}");
}

/// `fundtrail import ocds` as a user runs it: plain messages for what cannot be read,
/// exit status 2 when nothing could be recorded, `--report` as JSON lines with every skip
/// and finding and the summary last.
#[actix_web::test]
async fn the_command_says_plainly_what_it_cannot_read_and_fails_when_nothing_is_recorded() {
    let (w, _app) = world("PYG").await;
    let dir = std::env::temp_dir().join(format!("fundtrail-import-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let mut all = vec![
            "import",
            "ocds",
            "--fund",
            "SSR Fund",
            "--ministry",
            "Publishing Ministry",
        ];
        all.extend_from_slice(args);
        let out = harness::fundtrail(&w.db, &dir, &all);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let missing = dir.join("nothing-here.json");
    let (code, stderr) = run(&[missing.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("nothing-here.json: no such file or directory"),
        "{stderr}"
    );

    let gz = dir.join("releases.json.gz");
    std::fs::write(&gz, [0x1f_u8, 0x8b, 8, 0, 0, 0, 0, 0]).unwrap();
    let (code, stderr) = run(&[gz.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("gzip-compressed; decompress it first"),
        "{stderr}"
    );

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, stderr) = run(&[empty.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("holds no .json, .jsonl or .ndjson file"),
        "{stderr}"
    );

    // The DNCP's planning release alone: nothing the ledger records.
    let planning = std::fs::read_dir(real("paraguay-dncp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().ends_with("planning.json"))
        .unwrap();
    let report = dir.join("report.jsonl");
    let (code, stderr) = run(&[
        "--report",
        report.to_str().unwrap(),
        planning.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("nothing could be recorded"), "{stderr}");
    let lines: Vec<Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "skip");
    assert_eq!(lines[0]["reason"], "no_procurement");
    assert_eq!(lines.last().unwrap()["type"], "summary");

    // The whole process: recorded, each finding a line of the report.
    let (code, stderr) = run(&[
        "--report",
        report.to_str().unwrap(),
        real("paraguay-dncp").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let findings: Vec<&Value> = lines.iter().filter(|l| l["type"] == "finding").collect();
    assert!(findings
        .iter()
        .any(|f| f["code"] == "dq-unknown-status" && f["ocid"] == "ocds-03ad3f-274231"));
    let summary = &lines.last().unwrap()["report"];
    assert_eq!(summary["processes_imported"], 1, "{summary}");
    assert_eq!(
        summary["findings_by_code"]["dq-unknown-status"],
        u64::try_from(
            findings
                .iter()
                .filter(|f| f["code"] == "dq-unknown-status")
                .count()
        )
        .unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two suppliers of the same name under different identifiers of one register are two
/// vendors (organisation names are unique: the second is registered with its identifier
/// in its name); one supplier under one identifier, spelled two ways, is one.
#[actix_web::test]
async fn namesakes_with_different_identifiers_are_two_vendors() {
    let (w, _app) = world("MXN").await;
    let process = |ocid: &str, name: &str, id: &str| {
        json!({"ocid": ocid, "date": "2017-05-01T00:00:00Z", "tag": ["compiled"],
               "parties": [{"id": "s", "name": name, "identifier": {"scheme": "RFC", "id": id}}],
               "tender": {"procurementMethod": "direct", "value": {"amount": 100, "currency": "MXN"}},
               "awards": [{"id": "a", "status": "active", "value": {"amount": 100, "currency": "MXN"},
                           "suppliers": [{"id": "s", "name": name}]}]})
    };
    let dir = std::env::temp_dir().join(format!("fundtrail-namesakes-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("releases.jsonl");
    let lines = [
        process("o-1", "Servicios Integrales SA", "AAA010101AAA"),
        process("o-2", "Servicios Integrales SA", "BBB020202BBB"),
        process("o-3", "SERVICIOS INTEGRALES S.A.", "AAA010101AAA"),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    std::fs::write(&file, lines).unwrap();
    let report = w.import(vec![file]).await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(report.processes_imported, 3, "{report:#?}");
    assert_eq!(report.vendors_created, 2, "{report:#?}");
    let vendors: Vec<Value> = w
        .of_kind("award")
        .iter()
        .map(|a| a["vendor"].clone())
        .collect();
    assert_ne!(vendors[0], vendors[1]);
    assert_eq!(vendors[0], vendors[2]);
}

/// Prozorro rules a bidder out with an `unsuccessful` award, not a `disqualified` bid.
/// Read as a disqualification (`--award-status unsuccessful=disqualified`), the processes
/// whose lowest bidder was ruled out and whose award went to a higher bid are flagged
/// lowest-bid-disqualified; without the mapping they are not.
#[actix_web::test]
async fn prozorro_unsuccessful_awards_read_as_disqualifications_flag_the_lowest_bid_ruled_out() {
    // From the fixtures: the lowest bid's tenderer got an unsuccessful award, another
    // supplier the active one.
    let id = |p: &Value| p["identifier"]["id"].as_str().map(str::to_owned);
    let mut expected = std::collections::BTreeSet::new();
    let mut ruled_out = std::collections::BTreeSet::new();
    for r in releases("ukraine-prozorro") {
        let (Some(bids), Some(awards)) = (r["bids"]["details"].as_array(), r["awards"].as_array())
        else {
            continue;
        };
        for a in awards.iter().filter(|a| a["status"] == "unsuccessful") {
            ruled_out.insert((r["ocid"].to_string(), a["id"].to_string()));
        }
        let lowest = bids
            .iter()
            .min_by(|a, b| {
                let v = |x: &Value| x["value"]["amount"].as_f64().unwrap();
                v(a).total_cmp(&v(b))
            })
            .and_then(|b| id(&b["tenderers"][0]));
        let status_of = |supplier: &Option<String>| {
            awards
                .iter()
                .filter(|a| id(&a["suppliers"][0]) == *supplier)
                .map(|a| a["status"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        let other_active = awards
            .iter()
            .any(|a| a["status"] == "active" && id(&a["suppliers"][0]) != lowest);
        if status_of(&lowest).contains(&"unsuccessful".to_owned()) && other_active {
            expected.insert(r["ocid"].as_str().unwrap().to_owned());
        }
    }
    assert!(expected.len() >= 2, "{expected:?}");

    let (w, app) = world("UAH").await;
    let report = w
        .import_with(ImportOptions {
            bid_statuses: bid_statuses(&["active=valid".to_owned()]).unwrap(),
            award_statuses: award_statuses(&["unsuccessful=disqualified".to_owned()]).unwrap(),
            ..ImportOptions::new("SSR Fund", vec![real("ukraine-prozorro")])
        })
        .await;
    assert_eq!(report.processes_skipped, 0, "{report:#?}");
    // One disqualification per ruled-out supplier, saying which award ruled it out.
    let disqualified = w.of_kind("bid_disqualified");
    assert_eq!(disqualified.len(), ruled_out.len(), "{disqualified:?}");
    assert!(disqualified
        .iter()
        .all(|d| d["reason"].as_str().unwrap().contains("unsuccessful")));
    let flags = harness::flags(&app, w.fund, "lowest-bid-disqualified").await;
    assert_eq!(w.ocids(&flags), expected, "{flags:?}");
    // The winners' awards are recorded, not refused as awards to a disqualified bidder.
    assert_eq!(
        report.skipped_count("vendor_disqualified"),
        0,
        "{report:#?}"
    );

    // Without the award mapping the same publication raises no such flag.
    let (w2, app2) = world("UAH").await;
    w2.import_with(ImportOptions {
        bid_statuses: bid_statuses(&["active=valid".to_owned()]).unwrap(),
        ..ImportOptions::new("SSR Fund", vec![real("ukraine-prozorro")])
    })
    .await;
    assert!(harness::flags(&app2, w2.fund, "lowest-bid-disqualified")
        .await
        .is_empty());
    assert!(w2.of_kind("bid_disqualified").is_empty());
}

/// The Mexico City finance secretariat leased from one supplier four times on
/// 2016-01-01 (`OCDS-87SD3T-SEFIN-DRM-A-001`, `-002`, `-004`, `-006`), each a `limited`
/// award the publisher left `pending` although the contracts were signed and paid. Read
/// as direct awards in effect, with the amount defaults converted at 20 MXN per euro at
/// import (`--amount-scale 20`: restricted tenders from 4,000,000 MXN), each is under
/// the threshold and together they reach it: split-purchase at the award level.
#[actix_web::test]
async fn cdmx_direct_awards_to_one_supplier_together_over_the_threshold_are_a_split_purchase() {
    let options = |scale: Option<&str>| ImportOptions {
        methods: methods(&["limited=direct".to_owned()]).unwrap(),
        award_statuses: award_statuses(&["pending=active".to_owned()]).unwrap(),
        screening: screening_settings(&[], scale).unwrap(),
        ..ImportOptions::new("SSR Fund", vec![real("mexico-cdmx")])
    };
    // From the fixtures: one supplier, each award under the threshold, together over.
    let published = releases("mexico-cdmx");
    let threshold = 4_000_000.0;
    let amounts: Vec<f64> = published
        .iter()
        .map(|r| r["awards"][0]["value"]["amount"].as_f64().unwrap())
        .collect();
    assert_eq!(amounts.len(), 4);
    assert!(amounts.iter().all(|a| *a < threshold), "{amounts:?}");
    assert!(amounts.iter().sum::<f64>() >= threshold, "{amounts:?}");
    let suppliers: std::collections::BTreeSet<&str> = published
        .iter()
        .map(|r| r["awards"][0]["suppliers"][0]["name"].as_str().unwrap())
        .collect();
    assert_eq!(suppliers.len(), 1);

    let (w, app) = world("MXN").await;
    let report = w.import_with(options(Some("20"))).await;
    assert_eq!(report.processes_skipped, 0, "{report:#?}");
    assert!(report.screening_config.is_some(), "{report:#?}");
    assert_eq!(w.of_kind("award").len(), 4);
    let config = w.of_kind("screening_config");
    assert_eq!(config.len(), 1);
    assert_eq!(config[0]["settings"]["amount_scale"], "20");
    let split = harness::flags(&app, w.fund, "split-purchase").await;
    assert_eq!(split.len(), 1, "{split:?}");
    assert!(
        split[0]["message"]
            .as_str()
            .unwrap()
            .contains("4 consecutive direct awards"),
        "{split:?}"
    );
    let ocids: std::collections::BTreeSet<String> = published
        .iter()
        .map(|r| r["ocid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(w.ocids(&split), ocids);
    // Importing again with the same setting records nothing: no entry, no second
    // configuration.
    let size = w.chain_size();
    let again = w.import_with(options(Some("20"))).await;
    assert_eq!(again.screening_config, None);
    assert_eq!(again.entries_appended, 0);
    assert_eq!(w.chain_size(), size);

    // A peso fund without converted amounts does not screen amounts against the
    // euro-sized defaults: no split-purchase.
    let (w2, app2) = world("MXN").await;
    let report = w2.import_with(options(None)).await;
    assert_eq!(report.screening_config, None);
    assert_eq!(w2.of_kind("award").len(), 4);
    assert!(harness::flags(&app2, w2.fund, "split-purchase")
        .await
        .is_empty());
}

/// The DNCP's `ocds-03ad3f-275348` (an open tender, "LPN 76-15", that publishes no
/// `procurementMethod`) awarded 2,607,178,400 PYG against an estimate of 2,597,729,024:
/// award-above-bid. An award within the estimate plus `award_tax_share` (set at import,
/// `--screening award_tax_share=0.1`) is not flagged.
#[actix_web::test]
async fn paraguay_award_above_its_estimate_is_flagged_unless_within_the_tax_share() {
    let r = &releases("paraguay-dncp-records")[0];
    let estimate = r["tender"]["value"]["amount"].as_f64().unwrap();
    let award = r["awards"][0]["value"]["amount"].as_f64().unwrap();
    assert!(
        award > estimate && award <= estimate * 1.1,
        "{award} {estimate}"
    );
    for (tax, flagged) in [(None, 1), (Some("award_tax_share=0.1"), 0)] {
        let (w, app) = world("PYG").await;
        let report = w
            .import_with(ImportOptions {
                methods: methods(&["=open".to_owned()]).unwrap(),
                screening: screening_settings(
                    &tax.map(str::to_owned).into_iter().collect::<Vec<_>>(),
                    None,
                )
                .unwrap(),
                ..ImportOptions::new("SSR Fund", vec![real("paraguay-dncp-records")])
            })
            .await;
        assert_eq!(report.processes_imported, 1, "{report:#?}");
        let flags = harness::flags(&app, w.fund, "award-above-bid").await;
        assert_eq!(flags.len(), flagged, "{tax:?}: {flags:?}");
        if flagged > 0 {
            assert_eq!(
                w.ocids(&flags),
                std::collections::BTreeSet::from(["ocds-03ad3f-275348".to_owned()])
            );
        } else {
            assert_eq!(
                w.of_kind("screening_config")[0]["settings"]["award_tax_share"],
                "0.1"
            );
        }
    }
}
