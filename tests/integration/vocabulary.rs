//! One vocabulary over a seeded demo fund: every money figure of every JSON answer, report
//! CSV and series is named by a term of the glossary in docs/api.md, and one term is one
//! figure (the same sum on `/balances`, `/allocations`, the statement, its CSV, the donor
//! reports, their CSVs and the series); every party is `{id, name}`; an entry is the same
//! object on every read; every paged list pages with the same `after` / `next_after`.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use actix_web::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::harness::{self, TestDb};

/// The terms of the glossary's table (docs/api.md, "Glossary of money terms" → "Terms").
fn glossary() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api.md")).unwrap();
    let section = doc
        .split("## Glossary of money terms")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let table = section.split("### Terms").nth(1).unwrap();
    let terms: BTreeSet<String> = table
        .lines()
        .take_while(|l| !l.starts_with("### "))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    assert!(terms.len() >= 20, "{terms:?}");
    terms
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not a decimal: {v}"))).unwrap()
}

fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let mut parts = s.split('.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    parts.next().is_none()
        && !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.is_some_and(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// A figure: report columns, an opening/closing pair, a money object or a decimal string.
fn is_figure(v: &Value) -> bool {
    match v {
        Value::String(s) => is_decimal(s),
        Value::Object(o) => {
            ["prior", "period", "cumulative"]
                .iter()
                .all(|k| o.contains_key(*k))
                || (o.contains_key("opening") && o.contains_key("closing"))
                || (o.len() == 2 && o.contains_key("value") && o.contains_key("currency"))
        }
        _ => false,
    }
}

/// Every key holding a money figure (or a list of them) outside the glossary, with its
/// path; also every party that is not `{id, name}`. The ledger entry as recorded
/// (`entry`, its `body`) and the report currency's conversion rates are not figures.
fn audit(v: &Value, path: &str, terms: &BTreeSet<String>, bad: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, val) in o {
                let here = format!("{path}.{k}");
                if ["entry", "body", "conversion", "checkpoints", "checkpoint"]
                    .contains(&k.as_str())
                {
                    continue;
                }
                if ["ministry", "vendor", "donor", "secretariat"].contains(&k.as_str()) {
                    let party = val.get("id").is_some_and(Value::is_string)
                        && val
                            .get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| !n.is_empty());
                    if !party {
                        bad.push(format!("{here} is not a party {{id, name}}: {val}"));
                    }
                    continue;
                }
                let figure = is_figure(val)
                    || val
                        .as_array()
                        .is_some_and(|a| !a.is_empty() && a.iter().all(is_figure));
                if figure {
                    if !terms.contains(k) {
                        bad.push(format!("{here} is not a glossary term"));
                    }
                    continue;
                }
                audit(val, &here, terms, bad);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                audit(x, &format!("{path}[{i}]"), terms, bad);
            }
        }
        _ => {}
    }
}

fn csv_rows(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// The figure names of a report CSV (`measure`, `available.closing` → `available`).
fn csv_measures(rows: &[Vec<String>]) -> BTreeSet<String> {
    rows.iter()
        .filter(|r| r[0] != "checkpoint" && r[0] != "flags")
        .map(|r| r[4].split('.').next().unwrap().to_owned())
        .collect()
}

/// The `cumulative` of the CSV row `section, item_id, category, measure`.
fn csv_cumulative(rows: &[Vec<String>], section: &str, item: &str, measure: &str) -> Decimal {
    let row = rows
        .iter()
        .find(|r| r[0] == section && r[1] == item && r[3].is_empty() && r[4] == measure)
        .unwrap_or_else(|| panic!("no CSV row {section},{item},,{measure}"));
    Decimal::from_str(&row[7]).unwrap()
}

macro_rules! get_json {
    ($app:expr, $uri:expr) => {{
        let uri: String = $uri;
        let (status, _, bytes) = harness::fetch($app, &uri).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{uri}: {}",
            String::from_utf8_lossy(&bytes)
        );
        serde_json::from_slice::<Value>(&bytes).unwrap()
    }};
}

macro_rules! get_csv {
    ($app:expr, $uri:expr) => {{
        let uri: String = $uri;
        let (status, _, bytes) = harness::fetch($app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        csv_rows(&bytes)
    }};
}

fn by_party<'a>(list: &'a Value, key: &str) -> BTreeMap<String, &'a Value> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|x| (x[key]["id"].as_str().unwrap().to_owned(), x))
        .collect()
}

#[actix_web::test]
async fn one_name_one_figure_across_balances_reports_and_csvs() {
    let terms = glossary();
    let db = TestDb::migrated();
    let dir = std::env::temp_dir().join(format!("fundtrail-vocabulary-{}", Uuid::new_v4()));
    harness::fundtrail_ok(&db, &dir, &["seed-demo"]);
    let state = harness::state(&db).await;
    let app = harness::app(state.clone()).await;
    harness::act_as(&state, "admin");
    let funds = get_json!(&app, "/api/v1/funds".to_owned());
    let fund = funds[0]["id"].as_str().unwrap().to_owned();
    let base = format!("/api/v1/funds/{fund}");

    let statement = get_json!(&app, format!("{base}/reports/statement"));
    let (_, st_csv) = get_csv!(&app, format!("{base}/reports/statement?format=csv"));
    let balances = get_json!(&app, format!("{base}/balances"));
    let allocations = get_json!(&app, format!("{base}/allocations"));
    let contracts = get_json!(&app, format!("{base}/contracts?limit=1000"));
    let entries = get_json!(&app, format!("{base}/entries?limit=200"));
    let flags = get_json!(&app, format!("{base}/flags?limit=200"));
    let mut answers = vec![
        ("funds", funds.clone()),
        ("statement", statement.clone()),
        ("balances", balances.clone()),
        ("allocations", allocations.clone()),
        ("contracts", contracts.clone()),
        ("entries", entries.clone()),
        ("flags", flags.clone()),
    ];
    let mut csv_names = csv_measures(&st_csv);
    for (metric, group) in [
        ("contributed", "donor"),
        ("disbursed", "ministry"),
        ("spent", "category"),
    ] {
        let q = format!("{base}/series?metric={metric}&by=quarter&group={group}");
        answers.push(("series", get_json!(&app, q.clone())));
        let (header, _) = get_csv!(&app, format!("{q}&format=csv"));
        csv_names.extend(header.into_iter().filter(|h| {
            !["key", "label", "period", "starts_on", "currency"].contains(&h.as_str())
        }));
    }
    let donors = by_party(&statement["sources"]["donors"], "donor");
    assert_eq!(donors.len(), 4, "the demo's four donors");
    let mut donor_reports = BTreeMap::new();
    for d in donors.keys() {
        let r = get_json!(&app, format!("{base}/reports/donors/{d}"));
        let (_, rows) = get_csv!(&app, format!("{base}/reports/donors/{d}?format=csv"));
        csv_names.extend(csv_measures(&rows));
        answers.push(("donor report", r.clone()));
        donor_reports.insert(d.clone(), (r, rows));
    }

    // Every figure's name is a glossary term; every party is {id, name}.
    let mut bad = Vec::new();
    for (what, v) in &answers {
        audit(v, what, &terms, &mut bad);
    }
    for m in &csv_names {
        if !terms.contains(m) {
            bad.push(format!("CSV measure or column {m} is not a glossary term"));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
    assert!(csv_names.contains("contributed") && csv_names.contains("sum"));

    // One term, one figure: per donor.
    let live_donors = by_party(&balances["donors"], "donor");
    for (d, line) in &donors {
        let (report, rows) = &donor_reports[d];
        for term in ["pledged", "contributed"] {
            let figure = dec(&line[term]["cumulative"]);
            assert_eq!(
                csv_cumulative(&st_csv, "sources", d, term),
                figure,
                "{term} {d}"
            );
            assert_eq!(dec(&report["contributions"][term]["cumulative"]), figure);
            assert_eq!(csv_cumulative(rows, "contributions", d, term), figure);
            assert_eq!(dec(&live_donors[d][term]), figure, "/balances {term} {d}");
        }
        let outstanding = dec(&line["outstanding"]);
        assert_eq!(dec(&report["contributions"]["outstanding"]), outstanding);
        assert_eq!(dec(&live_donors[d]["outstanding"]), outstanding);
    }
    // Per ministry.
    let uses = by_party(&statement["uses"]["ministries"], "ministry");
    let spending = by_party(&statement["spending"]["ministries"], "ministry");
    let held = by_party(&statement["balances"]["ministries"], "ministry");
    let live = by_party(&balances["ministries"], "ministry");
    let mut allocation_undisbursed: BTreeMap<String, Decimal> = BTreeMap::new();
    for a in allocations["allocations"].as_array().unwrap() {
        let left = dec(&a["allocated"]) - dec(&a["disbursed"]);
        assert_eq!(dec(&a["undisbursed"]), left, "{a}");
        *allocation_undisbursed
            .entry(a["ministry"]["id"].as_str().unwrap().to_owned())
            .or_default() += left;
    }
    assert!(!live.is_empty());
    for (m, row) in &live {
        for term in ["allocated", "disbursed"] {
            assert_eq!(
                dec(&row[term]),
                dec(&uses[m][term]["cumulative"]),
                "{term} {m}"
            );
            assert_eq!(csv_cumulative(&st_csv, "uses", m, term), dec(&row[term]));
        }
        assert_eq!(dec(&row["undisbursed"]), dec(&uses[m]["undisbursed"]));
        assert_eq!(
            dec(&row["undisbursed"]),
            allocation_undisbursed.get(m).copied().unwrap_or_default(),
            "Σ undisbursed of {m}'s allocations"
        );
        for term in ["expended", "paid", "spent"] {
            assert_eq!(
                dec(&row[term]),
                dec(&spending[m][term]["cumulative"]),
                "{term} {m}"
            );
            assert_eq!(
                csv_cumulative(&st_csv, "spending", m, term),
                dec(&row[term])
            );
        }
        assert_eq!(
            dec(&row["spent"]),
            dec(&row["expended"]) + dec(&row["paid"])
        );
        assert_eq!(
            dec(&row["held"]),
            dec(&held[m]["held"]["closing"]),
            "held {m}"
        );
        assert_eq!(
            dec(&row["held"]),
            dec(&row["disbursed"]) - dec(&row["spent"])
        );
    }
    // The fund's totals.
    let t = &balances["totals"];
    assert_eq!(
        dec(&t["contributed"]),
        dec(&statement["sources"]["total"]["contributed"]["cumulative"])
    );
    assert_eq!(
        dec(&t["available"]),
        dec(&statement["balances"]["fund"]["available"]["closing"])
    );
    assert_eq!(
        dec(&t["available"]),
        dec(&t["contributed"]) - dec(&t["disbursed"])
    );
    assert_eq!(
        dec(&t["spent"]),
        dec(&statement["spending"]["total"]["spent"]["cumulative"])
    );
    assert_eq!(
        dec(&t["undisbursed"]),
        dec(&statement["uses"]["total"]["undisbursed"])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every paged list answers `next_after` as a string that, passed back as `after`, gives
/// the next page; an entry is the same object in the fund's list, the chain's list, the
/// single read and a contract's history, and a contract entry names its contract's id.
#[actix_web::test]
async fn one_entry_shape_and_one_cursor_on_every_list() {
    let db = TestDb::migrated();
    let dir = std::env::temp_dir().join(format!("fundtrail-vocabulary-{}", Uuid::new_v4()));
    harness::fundtrail_ok(&db, &dir, &["seed-demo"]);
    let state = harness::state(&db).await;
    let app = harness::app(state.clone()).await;
    harness::act_as(&state, "admin");
    let funds = get_json!(&app, "/api/v1/funds".to_owned());
    let fund = funds[0]["id"].as_str().unwrap().to_owned();

    for (list, items) in [
        (format!("/api/v1/funds/{fund}/entries"), "entries"),
        (format!("/api/v1/chains/{fund}/entries"), "entries"),
        (format!("/api/v1/funds/{fund}/flags"), "flags"),
        (format!("/api/v1/funds/{fund}/contracts"), "contracts"),
        ("/api/v1/chains/admin/entries".to_owned(), "entries"),
    ] {
        let first = get_json!(&app, format!("{list}?limit=2"));
        let next = first["next_after"]
            .as_str()
            .unwrap_or_else(|| panic!("{list}: next_after is a string: {first}"));
        let second = get_json!(&app, format!("{list}?limit=2&after={next}"));
        let both = get_json!(&app, format!("{list}?limit=4"));
        let paged: Vec<&Value> = first[items]
            .as_array()
            .unwrap()
            .iter()
            .chain(second[items].as_array().unwrap())
            .collect();
        assert_eq!(paged.len(), 4, "{list}");
        assert_eq!(
            paged,
            both[items].as_array().unwrap().iter().collect::<Vec<_>>(),
            "{list}: two pages of 2 are the page of 4"
        );
    }

    let from_fund = get_json!(&app, format!("/api/v1/funds/{fund}/entries?limit=300"));
    let from_chain = get_json!(&app, format!("/api/v1/chains/{fund}/entries?limit=300"));
    assert_eq!(
        from_fund["entries"], from_chain["entries"],
        "one entry shape"
    );
    let contracts = get_json!(&app, format!("/api/v1/funds/{fund}/contracts?limit=1"));
    let c = &contracts["contracts"][0];
    let contract_entry = from_fund["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["seq"] == c["seq"])
        .expect("the contract entry is in the first 300");
    assert_eq!(contract_entry["entry"]["kind"], "contract");
    assert_eq!(contract_entry["contract_id"], c["id"]);
    assert!(contract_entry["ministry"]["name"].is_string());
    let one = get_json!(&app, format!("/api/v1/chains/{fund}/entries/{}", c["seq"]));
    assert_eq!(&one, contract_entry);
    let detail = get_json!(
        &app,
        format!("/api/v1/contracts/{}", c["id"].as_str().unwrap())
    );
    let in_history = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["seq"] == c["seq"])
        .unwrap();
    assert_eq!(in_history, contract_entry);
    assert_eq!(detail["ministry"]["id"], c["ministry"]["id"]);
    let _ = std::fs::remove_dir_all(&dir);
}
