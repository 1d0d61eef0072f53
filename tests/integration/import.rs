//! `fundtrail import ocds`: a hand-written OCDS release package (three contracting
//! processes, valid against the official release-package schema) imported into a fund.
//! What a user checks: the entries recorded (kinds, amounts, references), the flags the
//! per-entry screens raised on them, that a second import changes nothing (same chain size
//! and hashes), and that a process with an unknown buyer is skipped with its reason.

use std::path::PathBuf;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use fundtrail::import::run::{import, ImportOptions, ImportReport};

use crate::harness::org;
use crate::harness::{self, TestDb};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ocds/release-package.json")
}

fn post(fund: Uuid, kind: &str, body: Value) -> TestRequest {
    harness::entry(fund, kind, "2026-02-02", body)
}

/// The kinds of the entries the fixture's first process records, in order.
fn first_process_kinds() -> Vec<&'static str> {
    "tender bid award contract contract_amendment invoice payment invoice payment"
        .split(' ')
        .collect()
}

/// A EUR fund that allocated to the Ministry of Interior; its auditor acts next.
struct World {
    db: TestDb,
    state: actix_web::web::Data<fundtrail::state::AppState>,
    fund: Uuid,
    interior: Uuid,
    auditor: Uuid,
}

async fn world() -> World {
    let (db, state, app) = harness::start().await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    let donor = org(&db, "Kingdom of Norway", "donor");
    let interior = org(&db, "Ministry of Interior", "ministry");
    harness::act_as_member(&state, "treasurer", secretariat);
    for (kind, body) in [
        (
            "contribution",
            json!({"donor": donor, "amount": {"value": "1000000.00", "currency": "EUR"}, "agreement": "NOR-1"}),
        ),
        (
            "allocation",
            json!({"ministry": interior, "budget_line": "BL-04", "category": "equipment",
                   "amount": {"value": "600000.00", "currency": "EUR"},
                   "period_start": "2026-01-01", "period_end": "2026-12-31"}),
        ),
    ] {
        let (status, body) = call!(&app, post(fund, kind, body));
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    World {
        db,
        state,
        fund,
        interior,
        auditor,
    }
}

impl World {
    async fn import(&self, file: PathBuf) -> ImportReport {
        self.import_into("SSR Fund", None, file).await.unwrap()
    }

    /// Imports `file` into `fund` (a fund's name or id), for `ministry` if given.
    async fn import_into(
        &self,
        fund: &str,
        ministry: Option<&str>,
        file: PathBuf,
    ) -> anyhow::Result<ImportReport> {
        import(
            &self.state.ledger,
            &self.state.pool,
            &ImportOptions {
                ministry: ministry.map(str::to_owned),
                ..ImportOptions::new(fund, vec![file])
            },
            None,
        )
        .await
    }

    /// `(seq, kind, entry_hash)` of a chain, in order.
    fn chain(&self, chain: Uuid) -> Vec<(i64, String, Vec<u8>)> {
        use fundtrail::schema::ledger_entries as le;
        le::table
            .filter(le::chain_id.eq(chain))
            .order(le::seq.asc())
            .select((le::seq, le::kind, le::entry_hash))
            .load(&mut self.db.superuser_conn())
            .unwrap()
    }

    fn vendor(&self, name: &str) -> Uuid {
        fundtrail::auth::store::org_id_by_name(&mut self.db.superuser_conn(), name)
            .unwrap()
            .unwrap_or_else(|| panic!("no organisation {name}"))
    }
}

#[actix_web::test]
async fn the_fixture_is_a_valid_release_package() {
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    let validator = crate::exports::ocds_validator();
    let errors: Vec<String> = validator
        .iter_errors(&package)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[actix_web::test]
async fn an_ocds_package_is_recorded_as_procurement_entries_screened_and_idempotent() {
    let w = world().await;
    let fund_before = w.chain(w.fund).len();
    let report = w.import(fixture()).await;

    // The report: two processes in, one skipped for its unknown buyer.
    assert_eq!(report.records_read, 3, "{report:#?}");
    assert_eq!(report.processes_imported, 2, "{report:#?}");
    assert_eq!(report.processes_skipped, 1, "{report:#?}");
    assert_eq!(report.skipped_count("unknown_buyer"), 1, "{report:#?}");
    let unknown = report
        .skipped
        .iter()
        .find(|g| g.reason == "unknown_buyer")
        .unwrap();
    assert_eq!(unknown.examples[0].ocid, "ocds-xmpl01-mom-0003");
    assert!(
        unknown.examples[0].detail.contains("Ministry of Magic"),
        "{unknown:?}"
    );
    // Elements the domain cannot take are skipped with their reason, the rest recorded.
    assert_eq!(report.skipped_count("award_not_active"), 1, "{report:#?}");
    // Beta's second transaction takes the payments above its contract's value: recorded
    // (over-contract flags it below), not skipped.
    assert_eq!(
        report.skipped_count("invoice_exceeds_contract"),
        0,
        "{report:#?}"
    );
    assert_eq!(report.vendors_created, 3, "{report:#?}");
    // Gamma's bid is recorded with its disqualification (`bid_disqualified`).
    let expected = 19;
    assert_eq!(report.entries_appended, expected, "{report:#?}");
    assert_eq!(report.entries_already_present, 0);
    assert_eq!(
        report.appended_by_kind["bid_disqualified"], 1,
        "{report:#?}"
    );

    // What was recorded, as the auditor reads it through the API.
    let app = harness::app(w.state.clone()).await;
    harness::act_as_member(&w.state, "auditor", w.auditor);
    let (status, page) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{}/entries?limit=1000", w.fund))
    );
    assert_eq!(status, StatusCode::OK, "{page}");
    // The ledger entry's fields, and the ministry the fund derived from it.
    let mut entries: Vec<Value> = page["entries"].as_array().unwrap()[fund_before..]
        .iter()
        .map(|e| {
            let mut flat = e["entry"].clone();
            flat["ministry"] = e["ministry"]["id"].clone();
            flat
        })
        .collect();
    assert_eq!(entries.len() as u64, expected);
    // Every entry keeps the publisher's ocid (and the element's id); compared apart.
    for e in &mut entries {
        let imported = e["body"]
            .as_object_mut()
            .unwrap()
            .remove("imported")
            .unwrap();
        assert!(
            imported["ocid"]
                .as_str()
                .unwrap()
                .starts_with("ocds-xmpl01-moi-"),
            "{imported}"
        );
    }
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    let second = [
        "tender",
        "bid",
        "bid",
        "bid_disqualified",
        "award",
        "contract",
        "invoice",
        "payment",
        "invoice",
        "payment",
    ];
    assert_eq!(kinds, [&first_process_kinds()[..], &second[..]].concat());
    for e in &entries {
        assert_eq!(
            e["principal"],
            json!({"id": "ocds-import", "role": "system"})
        );
        assert_eq!(e["ministry"], json!(w.interior));
    }
    let alpha = w.vendor("Alpha Radio Systems Ltd");
    let beta = w.vendor("Beta Telecom SA");
    let seq = |i: usize| entries[i]["seq"].as_u64().unwrap();

    // Process 1: open tender, one bid, award, contract at its original value, the
    // amendment to the release's current value, two payments of 45,000 two days apart.
    let tender = &entries[0];
    assert_eq!(tender["business_date"], "2026-03-02");
    assert_eq!(
        tender["body"],
        json!({"ministry": w.interior, "title": "Handheld radios for district police stations",
               "category": "CPV 32344210", "method": "open", "status": "complete",
               "estimated_value": {"value": "120000", "currency": "EUR"}, "deadline": "2026-04-06"})
    );
    assert_eq!(
        entries[1]["body"],
        json!({"tender": seq(0), "vendor": alpha, "amount": {"value": "112400.50", "currency": "EUR"}})
    );
    assert_eq!(
        entries[2]["body"],
        json!({"tender": seq(0), "vendor": alpha, "amount": {"value": "112400.50", "currency": "EUR"}, "bids_received": 1})
    );
    assert_eq!(
        entries[3]["body"],
        json!({"award": seq(2), "value": {"value": "112400.50", "currency": "EUR"},
               "starts_on": "2026-05-01", "ends_on": "2026-12-31"})
    );
    assert_eq!(entries[3]["business_date"], "2026-04-27");
    assert_eq!(
        entries[4]["body"],
        json!({"contract": seq(3), "new_value": {"value": "124000.50", "currency": "EUR"},
               "reason": "Additional 40 radios for the border posts"})
    );
    assert_eq!(
        entries[5]["body"],
        json!({"contract": seq(3), "vendor": alpha,
               "invoice_number": "ocds-xmpl01-moi-0001/C1/TX1",
               "amount": {"value": "45000", "currency": "EUR"}})
    );
    assert_eq!(
        entries[6]["body"],
        json!({"invoice": seq(5), "amount": {"value": "45000", "currency": "EUR"}})
    );
    assert_eq!(entries[6]["business_date"], "2026-06-01");
    assert_eq!(entries[8]["body"]["invoice"], json!(seq(7)));
    assert_eq!(entries[8]["business_date"], "2026-06-03");
    // Process 2: the selective tender's bids, the active award to Beta, its payment.
    let t2 = 9;
    assert_eq!(entries[t2]["body"]["method"], "restricted");
    assert_eq!(entries[t2]["body"]["category"], "works");
    let gamma = w.vendor("Gamma Networks GmbH");
    assert_eq!(entries[t2 + 2]["body"]["vendor"], json!(gamma));
    assert_eq!(
        entries[t2 + 3]["body"],
        json!({"bid": seq(t2 + 2), "reason": "disqualified (OCDS bid status, ocds-xmpl01-moi-0002)"})
    );
    assert_eq!(entries[t2 + 3]["business_date"], "2026-04-10");
    let award2 = t2 + 4;
    assert_eq!(entries[award2]["body"]["vendor"], json!(beta));
    assert_eq!(entries[award2]["body"]["tender"], json!(seq(t2)));
    assert_eq!(entries[award2]["body"]["bids_received"], 2);
    assert_eq!(
        entries[award2 + 3]["body"]["amount"],
        json!({"value": "43250", "currency": "EUR"})
    );

    // The contract as the API shows it: amended value, what was paid.
    let contract_id = Uuid::new_v5(&w.fund, seq(3).to_string().as_bytes());
    let (status, contract) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/contracts/{contract_id}"))
    );
    assert_eq!(status, StatusCode::OK, "{contract}");
    assert_eq!(contract["original_value"], "112400.50");
    assert_eq!(contract["value"], "124000.50");
    assert_eq!(contract["amendments"], 1);
    assert_eq!(contract["paid"], "90000");

    // The per-entry screens ran on the imported entries.
    let (status, flags) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{}/flags?limit=500", w.fund))
    );
    assert_eq!(status, StatusCode::OK, "{flags}");
    let flags = flags["flags"].as_array().unwrap();
    let flag = |rule: &str, seq: u64| {
        flags
            .iter()
            .find(|f| f["rule"] == rule && f["seq"] == seq)
            .unwrap_or_else(|| panic!("no {rule} flag on entry {seq}: {flags:#?}"))
    };
    let single = flag("single-bidder", seq(2));
    assert_eq!(single["evidence"], json!([seq(2), seq(0), seq(1)]));
    let duplicate = flag("duplicate-payment", seq(8));
    assert_eq!(duplicate["evidence"], json!([seq(8), seq(6)]));
    assert_eq!(duplicate["vendor"]["id"], json!(alpha));
    // Beta won at 86,500 after Gamma's lower bid of 81,200 was disqualified.
    let steered = flag("lowest-bid-disqualified", seq(award2));
    assert_eq!(
        steered["evidence"],
        json!([seq(award2), seq(t2 + 2), seq(t2 + 3), seq(t2 + 1)])
    );
    assert!(
        !flags
            .iter()
            .any(|f| f["rule"] == "single-bidder" && f["seq"] == seq(award2)),
        "two bids: not a single bidder"
    );
    // Beta's contract of 86,500 paid 43,250 then 50,000: 93,250 is above 86,500 × 1.05,
    // flagged at the second invoice and at its payment; the first raised nothing.
    let contract2 = award2 + 1;
    let over = flag("over-contract", seq(contract2 + 3));
    assert_eq!(
        over["evidence"],
        json!([seq(contract2 + 3), seq(contract2), seq(contract2 + 1)])
    );
    assert_eq!(over["severity"], "high");
    let over = flag("over-contract", seq(contract2 + 4));
    assert_eq!(
        over["evidence"],
        json!([seq(contract2 + 4), seq(contract2), seq(contract2 + 2)])
    );
    assert_eq!(
        flags
            .iter()
            .filter(|f| f["rule"] == "over-contract")
            .count(),
        2,
        "{flags:#?}"
    );

    // A second import of the same file appends nothing, anywhere.
    let fund_chain = w.chain(w.fund);
    let admin_chain = w.chain(fundtrail::ledger::entry::ADMIN_CHAIN);
    let flag_count = flags.len();
    let again = w.import(fixture()).await;
    assert_eq!(again.entries_appended, 0, "{again:#?}");
    assert_eq!(again.entries_already_present, expected, "{again:#?}");
    assert_eq!(again.processes_already_recorded, 2, "{again:#?}");
    assert_eq!(again.processes_imported, 0);
    assert_eq!(again.vendors_created, 0);
    assert_eq!(again.skipped_count("unknown_buyer"), 1);
    assert_eq!(
        again.skipped_count("changed_since_recorded"),
        0,
        "{again:#?}"
    );
    assert!(
        again.summary().contains("already recorded"),
        "{}",
        again.summary()
    );
    assert_eq!(w.chain(w.fund), fund_chain, "same size, same hashes");
    assert_eq!(
        w.chain(fundtrail::ledger::entry::ADMIN_CHAIN),
        admin_chain,
        "no vendor registered twice"
    );
    let (_, flags) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{}/flags?limit=500", w.fund))
    );
    assert_eq!(flags["flags"].as_array().unwrap().len(), flag_count);

    // The vendors carry their OCDS identifiers.
    let by_identifier =
        fundtrail::auth::store::org_by_identifier(&mut w.db.superuser_conn(), "XI-REG", "A-0001")
            .unwrap()
            .unwrap();
    assert_eq!(by_identifier.id, alpha);
    assert_eq!(by_identifier.kind, "vendor");
}

/// The fixture's releases as JSON lines, after `edit`, plus a line that is not JSON.
fn json_lines(edit: impl Fn(&mut Vec<Value>)) -> (tempdir::Dir, PathBuf) {
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).unwrap()).unwrap();
    let mut releases = package["releases"].as_array().unwrap().clone();
    edit(&mut releases);
    let dir = tempdir::Dir::new();
    let path = dir.0.join("releases.jsonl");
    let mut text = String::new();
    for r in &releases {
        text.push_str(&serde_json::to_string(r).unwrap());
        text.push('\n');
    }
    text.push_str("{\"ocid\": truncated\n");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Self {
            let d = std::env::temp_dir().join(format!("fundtrail-import-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&d).unwrap();
            Self(d)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[actix_web::test]
async fn a_later_release_of_a_process_appends_only_what_is_new() {
    let w = world().await;
    let first = w.import(fixture()).await;
    assert_eq!(first.entries_appended, 19, "{first:#?}");

    // The publisher's next compiled release: one more payment, and a bid whose value it
    // re-stated differently; a broken line at the end of the file.
    let (_dir, path) = json_lines(|releases| {
        let r = &mut releases[0];
        r["contracts"][0]["implementation"]["transactions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"id": "TX3", "date": "2026-07-15T00:00:00Z",
                         "value": {"amount": 12000.5, "currency": "EUR"},
                         "payee": {"id": "ALPHA", "name": "Alpha Radio Systems Ltd"}}));
        r["bids"]["details"][0]["value"]["amount"] = json!(112000);
    });
    let before = w.chain(w.fund);
    let report = w.import(path).await;
    assert_eq!(
        report.format,
        Some(fundtrail::import::read::Format::JsonLines)
    );
    assert_eq!(report.records_read, 4, "{report:#?}");
    assert_eq!(report.entries_appended, 2, "{report:#?}");
    assert_eq!(report.appended_by_kind["invoice"], 1);
    assert_eq!(report.appended_by_kind["payment"], 1);
    assert_eq!(report.entries_already_present, 19, "{report:#?}");
    assert_eq!(report.processes_imported, 1);
    assert_eq!(report.processes_already_recorded, 1);
    assert_eq!(report.skipped_count("invalid_json"), 1, "{report:#?}");
    let changed = report
        .skipped
        .iter()
        .find(|g| g.reason == "changed_since_recorded")
        .unwrap_or_else(|| panic!("{report:#?}"));
    assert_eq!(changed.count, 1);
    assert_eq!(changed.examples[0].element, "bid B1");

    // Appended after what was there, referring to the contract recorded the first time.
    let after = w.chain(w.fund);
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(after.len(), before.len() + 2);
    let contract_seq = before
        .iter()
        .find(|(_, kind, _)| kind == "contract")
        .unwrap()
        .0;
    let contract_id = Uuid::new_v5(&w.fund, contract_seq.to_string().as_bytes());
    let app = harness::app(w.state.clone()).await;
    harness::act_as_member(&w.state, "auditor", w.auditor);
    let (status, contract) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/contracts/{contract_id}"))
    );
    assert_eq!(status, StatusCode::OK, "{contract}");
    assert_eq!(contract["paid"], "102000.5");
    assert_eq!(contract["invoiced"], "102000.5");
}

#[actix_web::test]
async fn with_ministry_a_process_of_an_unregistered_buyer_is_recorded_for_that_ministry() {
    let w = world().await;
    let report = w
        .import_into(&w.fund.to_string(), Some("Ministry of Interior"), fixture())
        .await
        .unwrap();
    assert_eq!(report.processes_imported, 3, "{report:#?}");
    assert_eq!(report.skipped_count("unknown_buyer"), 0);
    // The direct tender of the third process, for Interior.
    let chain = w.chain(w.fund);
    assert_eq!(chain.last().unwrap().1, "tender");

    // An organisation that is not a ministry is refused before anything is read.
    let err = w
        .import_into(&w.fund.to_string(), Some("Kingdom of Norway"), fixture())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not an active ministry"), "{err}");
}

#[actix_web::test]
async fn a_process_the_fund_refuses_is_skipped_alone_and_releases_of_one_ocid_build_on_each_other()
{
    let w = world().await;
    // Line 1: process 1 before its second payment; line 2: a process in USD, for which the
    // fund has no rate (the domain refuses it: `no_fx_rate`); line 3: process 1 complete.
    let (_dir, path) = json_lines(|releases| {
        let complete = releases[0].clone();
        let mut early = complete.clone();
        early["contracts"][0]["implementation"]["transactions"]
            .as_array_mut()
            .unwrap()
            .truncate(1);
        let mut usd = releases[1].clone();
        usd["ocid"] = json!("ocds-xmpl01-moi-0009");
        usd["tender"]["value"]["currency"] = json!("USD");
        *releases = vec![early, usd, complete];
    });
    let before = w.chain(w.fund).len();
    let report = w.import(path).await;
    assert_eq!(report.skipped_count("no_fx_rate"), 1, "{report:#?}");
    let refused = report
        .skipped
        .iter()
        .find(|g| g.reason == "no_fx_rate")
        .unwrap();
    assert_eq!(refused.examples[0].ocid, "ocds-xmpl01-moi-0009");
    assert_eq!(report.processes_skipped, 1, "{report:#?}");
    assert_eq!(report.processes_imported, 2, "{report:#?}");
    assert_eq!(report.entries_appended, 9, "{report:#?}");
    let chain = w.chain(w.fund);
    assert_eq!(chain.len(), before + 9);
    let kinds: Vec<&str> = chain[before..].iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(kinds, first_process_kinds());
    // The fixture then finds process 1 complete and adds process 2.
    let again = w.import(fixture()).await;
    assert_eq!(again.entries_already_present, 19 - 10, "{again:#?}");
}

/// Several groups in flight at once: a process refused in the middle (USD without a
/// rate) is skipped alone, the groups handed to the writer after it are planned again and
/// recorded, a process's earlier release several groups back is built on, and a second
/// import finds everything recorded.
#[actix_web::test]
async fn a_refusal_while_groups_are_in_flight_skips_only_the_refused_process() {
    let w = world().await;
    const N: usize = 450;
    let (_dir, path) = json_lines(|releases| {
        let complete = releases[0].clone();
        let copy = |i: usize| {
            let mut r = complete.clone();
            r["ocid"] = json!(format!("ocds-xmpl01-moi-p{i:04}"));
            r
        };
        let mut early = copy(10);
        early["contracts"][0]["implementation"]["transactions"]
            .as_array_mut()
            .unwrap()
            .truncate(1);
        let mut out = vec![early];
        for i in (0..N).filter(|i| *i != 10) {
            let mut r = copy(i);
            if i == 150 {
                r["tender"]["value"]["currency"] = json!("USD");
            }
            out.push(r);
        }
        out.push(copy(10));
        *releases = out;
    });
    let before = w.chain(w.fund).len();
    let report = w.import(path.clone()).await;
    assert_eq!(report.processes_skipped, 1, "{report:#?}");
    assert_eq!(report.skipped_count("no_fx_rate"), 1, "{report:#?}");
    // Every other process, p0010 twice (its early release, then what its complete one adds).
    assert_eq!(
        report.processes_imported,
        u64::try_from(N).unwrap(),
        "{report:#?}"
    );
    let appended = usize::try_from(report.entries_appended).unwrap();
    assert!(
        appended > 4_000,
        "more than one writer transaction: {appended}"
    );
    assert_eq!(w.chain(w.fund).len(), before + appended);
    // Each recorded process has the same entries as any other, none of the refused one.
    use fundtrail::schema::ledger_entries as le;
    let bodies: Vec<String> = le::table
        .filter(le::chain_id.eq(w.fund))
        .select(le::canonical)
        .load(&mut w.db.superuser_conn())
        .unwrap();
    let mut per_ocid: std::collections::BTreeMap<String, usize> = Default::default();
    for b in bodies {
        let v: Value = serde_json::from_str(&b).unwrap();
        if let Some(o) = v["body"]["imported"]["ocid"].as_str() {
            *per_ocid.entry(o.to_owned()).or_default() += 1;
        }
    }
    assert!(!per_ocid.contains_key("ocds-xmpl01-moi-p0150"));
    assert_eq!(per_ocid.len(), N - 1);
    let counts: std::collections::BTreeSet<usize> = per_ocid.values().copied().collect();
    assert_eq!(counts.len(), 1, "{per_ocid:?}");
    // Again: nothing appended.
    let again = w.import(path).await;
    assert_eq!(again.entries_appended, 0, "{again:#?}");
    assert_eq!(again.processes_skipped, 1, "{again:#?}");
    assert_eq!(w.chain(w.fund).len(), before + appended);
}

/// What a fund shows after an import, without ids or times (which differ between
/// databases): each entry's kind and body, the flags, the positions and the derived
/// procurement rows, in order.
fn fund_snapshot(w: &World) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let sql = r"
        WITH lines AS (
          SELECT 'entry ' || seq || ' ' || kind || ' ' || (canonical::jsonb -> 'body')::text AS l
            FROM ledger_entries WHERE chain_id = $1
          UNION ALL SELECT 'flag ' || seq || ' ' || rule || ' ' || severity || ' ' || status
              || ' ' || subject || ' ' || evidence::text || ' ' || business_date || ' ' || message
            FROM flags WHERE fund_id = $1
          UNION ALL SELECT 'fund ' || pledged || ' ' || received || ' ' || allocated || ' '
              || disbursed || ' ' || expended || ' ' || paid
            FROM fund_positions WHERE fund_id = $1
          UNION ALL SELECT 'ministry ' || allocated || ' ' || disbursed || ' ' || expended
              || ' ' || paid
            FROM ministry_positions WHERE fund_id = $1
          UNION ALL SELECT 'tender ' || seq || ' ' || method || ' ' || stage || ' ' || bids
              || ' ' || coalesce(award_seq::text, '-') || ' ' || coalesce(status, '-')
            FROM tenders WHERE fund_id = $1
          UNION ALL SELECT 'contract ' || seq || ' ' || tender_seq || ' ' || award_seq || ' '
              || currency || ' ' || original_value || ' ' || value || ' ' || amendments || ' '
              || invoiced || ' ' || paid || ' ' || reversed
            FROM contracts WHERE fund_id = $1
          UNION ALL SELECT 'invoice ' || seq || ' ' || contract_seq || ' ' || invoice_number
              || ' ' || currency || ' ' || amount || ' ' || paid || ' ' || reversed
            FROM invoices WHERE fund_id = $1
        )
        SELECT regexp_replace(l, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}',
                              'ID', 'g') AS line
          FROM lines ORDER BY line";
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::Uuid, _>(w.fund)
        .load::<Line>(&mut w.db.superuser_conn())
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect()
}

/// The importer's groups share state between their jobs as the API's appends do; what an
/// import records (entries, flags, positions, tenders, contracts, invoices) is the same as
/// with each job reading and writing everything itself. The file has many processes (groups
/// of several jobs once a refusal makes the importer append process by process), a refused
/// one and a process built on by a later release.
#[actix_web::test]
async fn an_import_records_the_same_with_group_shared_state_as_without() {
    use fundtrail::ledger::writer::GROUP_STATE;
    use std::sync::atomic::Ordering;

    const N: usize = 60;
    let (_dir, path) = json_lines(|releases| {
        let complete = releases[0].clone();
        let copy = |i: usize| {
            let mut r = complete.clone();
            r["ocid"] = json!(format!("ocds-xmpl01-moi-s{i:04}"));
            r
        };
        let mut early = copy(3);
        early["contracts"][0]["implementation"]["transactions"]
            .as_array_mut()
            .unwrap()
            .truncate(1);
        let mut out = vec![early, releases[1].clone()];
        for i in (0..N).filter(|i| *i != 3) {
            let mut r = copy(i);
            if i == 20 {
                r["tender"]["value"]["currency"] = json!("USD");
            }
            out.push(r);
        }
        out.push(copy(3));
        *releases = out;
    });
    // Each job alone (the flag is global to the process: other tests running meanwhile
    // append each job alone too, which is as correct, only slower).
    let alone = world().await;
    GROUP_STATE.store(false, Ordering::Relaxed);
    let report_alone = alone.import(path.clone()).await;
    GROUP_STATE.store(true, Ordering::Relaxed);
    let shared = world().await;
    let report_shared = shared.import(path).await;

    assert_eq!(report_shared.processes_skipped, 1, "{report_shared:#?}");
    assert_eq!(report_shared.skipped_count("no_fx_rate"), 1);
    assert_eq!(
        report_shared.processes_imported,
        u64::try_from(N + 1).unwrap(),
        "{report_shared:#?}"
    );
    assert_eq!(
        report_shared.entries_appended,
        report_alone.entries_appended
    );
    assert_eq!(
        report_shared.appended_by_kind,
        report_alone.appended_by_kind
    );
    let (a, s) = (fund_snapshot(&alone), fund_snapshot(&shared));
    assert!(s.iter().any(|l| l.starts_with("flag ")), "{s:#?}");
    assert!(s.iter().any(|l| l.starts_with("invoice ")), "{s:#?}");
    assert_eq!(a.len(), s.len());
    for (x, y) in a.iter().zip(&s) {
        assert_eq!(x, y);
    }
}
