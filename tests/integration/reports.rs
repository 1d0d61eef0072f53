//! Reports end to end over a seeded demo fund: the donors' shares sum exactly to the
//! fund's totals, a report pinned with `at_size` does not change when the chain grows,
//! the report currency goes through a recorded rate, CSV renders the same figures, and
//! every role outside the fund's readers is refused.

use std::collections::BTreeMap;
use std::str::FromStr;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, TestDb};
use fundtrail::config::AppSettings;

fn small_blocks() -> AppSettings {
    AppSettings {
        report_block_entries: 97,
        ..AppSettings::default()
    }
}

#[derive(diesel::QueryableByName)]
struct CountRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// GET with this test's token: status, raw body, content type.
macro_rules! get {
    ($app:expr, $uri:expr) => {{
        let (status, headers, bytes) = harness::fetch($app, &$uri).await;
        let ctype = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, bytes, ctype)
    }};
}

macro_rules! get_json {
    ($app:expr, $uri:expr) => {{
        let (status, bytes, _) = get!($app, $uri);
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }};
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(
        v.as_str()
            .unwrap_or_else(|| panic!("not a decimal string: {v}")),
    )
    .unwrap()
}

/// A database holding `fundtrail seed-demo` (the real binary), and the demo fund's id.
fn seeded() -> (TestDb, std::path::PathBuf) {
    let db = TestDb::migrated();
    let dir = std::env::temp_dir().join(format!("fundtrail-reports-{}", Uuid::new_v4()));
    harness::fundtrail_ok(&db, &dir, &["seed-demo"]);
    (db, dir)
}

fn sum_by(
    items: &[Value],
    key: impl Fn(&Value) -> String,
    figure: &str,
    col: &str,
) -> BTreeMap<String, Decimal> {
    let mut out = BTreeMap::new();
    for i in items {
        *out.entry(key(i)).or_default() += dec(&i[figure][col]);
    }
    out
}

/// Every donor's report over the demo fund, for the whole year and for a period from
/// July: the donors' attributed disbursements per ministry and attributed spending per
/// ministry and per category sum exactly (to the cent) to the statement's figures, in
/// each column.
#[actix_web::test]
async fn donor_shares_of_a_seeded_fund_sum_exactly_to_the_totals() {
    let (db, dir) = seeded();
    // Summed blocks of 97 entries (the demo has about 1,070): most of the fund is read
    // from block sums, the rest from the entries; a second app without summed blocks
    // (one block larger than the fund) must give the same statements.
    let state = harness::state_with(&db, small_blocks()).await;
    let app = harness::app(state.clone()).await;
    let unblocked_state = harness::state_with(
        &db,
        AppSettings {
            report_block_entries: i64::MAX,
            ..AppSettings::default()
        },
    )
    .await;
    let unblocked = harness::app(unblocked_state.clone()).await;
    harness::act_as(&state, "admin");
    let (_, funds) = get_json!(&app, "/api/v1/funds");
    let fund = funds[0]["id"].as_str().unwrap().to_owned();
    let year = chrono::Utc::now().date_naive().format("%Y").to_string();

    for period in ["".to_owned(), format!("from={year}-07-01")] {
        let (status, st) = get_json!(
            &app,
            format!("/api/v1/funds/{fund}/reports/statement?{period}")
        );
        assert_eq!(status, StatusCode::OK, "{st}");
        harness::act_as(&unblocked_state, "admin");
        let (_, plain) = get_json!(
            &unblocked,
            format!("/api/v1/funds/{fund}/reports/statement?{period}")
        );
        harness::act_as(&state, "admin");
        assert_eq!(st, plain, "block sums change nothing");
        let blocks: i64 = diesel::RunQueryDsl::get_result::<CountRow>(
            diesel::sql_query("SELECT count(*) AS n FROM report_blocks WHERE block_size = 97"),
            &mut db.superuser_conn(),
        )
        .unwrap()
        .n;
        assert!(blocks >= 10, "{blocks} blocks summed");
        assert_eq!(st["report"], "fund_statement");
        assert_eq!(st["currency"]["code"], "EUR");
        let donors: Vec<String> = st["sources"]["donors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["donor"]["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(donors.len(), 4, "the demo has four donors");

        let mut disbursed: Vec<BTreeMap<String, Decimal>> = vec![BTreeMap::new(); 3];
        let mut spent_m: Vec<BTreeMap<String, Decimal>> = vec![BTreeMap::new(); 3];
        let mut spent_c: Vec<BTreeMap<String, Decimal>> = vec![BTreeMap::new(); 3];
        for d in &donors {
            let (status, r) = get_json!(
                &app,
                format!("/api/v1/funds/{fund}/reports/donors/{d}?{period}")
            );
            assert_eq!(status, StatusCode::OK, "{r}");
            assert_eq!(
                r["checkpoints"], st["checkpoints"],
                "same pinned checkpoints"
            );
            assert!(
                dec(&r["attributed"]["total"]["attributed_disbursed"]["cumulative"])
                    > Decimal::ZERO
            );
            let ministry = |i: &Value| i["ministry"]["id"].to_string();
            for (k, col) in ["prior", "period", "cumulative"].iter().enumerate() {
                let by_m = r["attributed"]["by_ministry"].as_array().unwrap();
                for (m, v) in sum_by(by_m, ministry, "attributed_disbursed", col) {
                    if !v.is_zero() {
                        *disbursed[k].entry(m).or_default() += v;
                    }
                }
                for (m, v) in sum_by(by_m, ministry, "attributed_spent", col) {
                    if !v.is_zero() {
                        *spent_m[k].entry(m).or_default() += v;
                    }
                }
                let by_c = r["attributed"]["by_category"].as_array().unwrap();
                for (c, v) in sum_by(by_c, |i| i["category"].to_string(), "attributed_spent", col) {
                    *spent_c[k].entry(c).or_default() += v;
                }
            }
        }
        for (k, col) in ["prior", "period", "cumulative"].iter().enumerate() {
            let want: BTreeMap<String, Decimal> = st["uses"]["ministries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| (m["ministry"]["id"].to_string(), dec(&m["disbursed"][*col])))
                .filter(|(_, v)| !v.is_zero())
                .collect();
            assert_eq!(disbursed[k], want, "disbursed {col} ({period})");
            let want: BTreeMap<String, Decimal> = st["spending"]["ministries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| (m["ministry"]["id"].to_string(), dec(&m["spent"][*col])))
                .filter(|(_, v)| !v.is_zero())
                .collect();
            assert_eq!(spent_m[k], want, "spent by ministry {col} ({period})");
            let want: BTreeMap<String, Decimal> = st["spending"]["categories"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c["category"].to_string(), dec(&c["spent"][*col])))
                .collect();
            assert_eq!(spent_c[k], want, "spent by category {col} ({period})");
        }
        // The statement's own arithmetic.
        let total_dep: Decimal = st["sources"]["donors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| dec(&d["contributed"]["cumulative"]))
            .sum();
        assert_eq!(
            total_dep,
            dec(&st["sources"]["total"]["contributed"]["cumulative"])
        );
        assert_eq!(
            dec(&st["balances"]["fund"]["available"]["closing"]),
            total_dep - dec(&st["uses"]["total"]["disbursed"]["cumulative"])
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A report pinned at `at_size=N` is byte-identical (JSON and CSV) before and after more
/// entries are appended, while the latest report moves; a size without a checkpoint is
/// 422; the report currency converts at the recorded rate it names.
#[actix_web::test]
async fn a_report_at_a_size_never_changes_and_converts_at_a_named_rate() {
    let (db, dir) = seeded();
    let state = harness::state_with(&db, small_blocks()).await;
    let app = harness::app(state.clone()).await;
    harness::act_as(&state, "admin");
    let (_, funds) = get_json!(&app, "/api/v1/funds");
    let fund = funds[0]["id"].as_str().unwrap().to_owned();
    let secretariat: Uuid = funds[0]["secretariat"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let (_, latest) = get_json!(&app, format!("/api/v1/funds/{fund}/reports/statement"));
    let n = latest["checkpoints"]["fund"]["tree_size"].as_u64().unwrap();
    let donor = latest["sources"]["donors"][0]["donor"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let uris = [
        format!("/api/v1/funds/{fund}/reports/statement?at_size={n}"),
        format!("/api/v1/funds/{fund}/reports/statement?at_size={n}&format=csv"),
        format!("/api/v1/funds/{fund}/reports/donors/{donor}?at_size={n}"),
        format!("/api/v1/funds/{fund}/reports/donors/{donor}?at_size={n}&format=csv"),
        format!(
            "/api/v1/funds/{fund}/series?metric=contributed&by=quarter&group=donor&at_size={n}"
        ),
    ];
    let mut before = Vec::new();
    for u in &uris {
        let (status, body, _) = get!(&app, u);
        assert_eq!(
            status,
            StatusCode::OK,
            "{u}: {}",
            String::from_utf8_lossy(&body)
        );
        before.push(body);
    }

    // The treasurer records another contribution.
    harness::act_as_member(&state, "treasurer", secretariat);
    let today = chrono::Utc::now().date_naive().to_string();
    let res = test::call_service(
        &app,
        harness::authed(TestRequest::post().uri(&format!("/api/v1/funds/{fund}/entries")))
            .insert_header(("idempotency-key", "late-contribution"))
            .set_json(json!({"kind": "contribution", "business_date": today,
                "body": {"donor": donor, "amount": {"value": "1000.00", "currency": "EUR"},
                         "agreement": "late"}}))
            .to_request(),
    )
    .await;
    let status = res.status();
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        harness::json_body(res).await
    );

    harness::act_as(&state, "admin");
    for (u, b) in uris.iter().zip(&before) {
        let (_, body, _) = get!(&app, u);
        assert_eq!(&body, b, "{u} changed after an append");
    }
    let (_, now) = get_json!(&app, format!("/api/v1/funds/{fund}/reports/statement"));
    assert_eq!(
        now["checkpoints"]["fund"]["tree_size"].as_u64().unwrap(),
        n + 1
    );
    assert_eq!(
        dec(&now["sources"]["total"]["contributed"]["cumulative"])
            - dec(&latest["sources"]["total"]["contributed"]["cumulative"]),
        Decimal::from(1000)
    );

    // Triage moves a flag out of `open` in the latest report, not in the one pinned to
    // the administrative checkpoint before it.
    let admin_n = latest["checkpoints"]["admin"]["tree_size"]
        .as_u64()
        .unwrap();
    let open_before = latest["flags"]["by_severity"][0]["counts"]["open"]
        .as_i64()
        .unwrap();
    let severity = latest["flags"]["by_severity"][0]["severity"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, flags) = get_json!(
        &app,
        format!("/api/v1/funds/{fund}/flags?severity={severity}&limit=1")
    );
    let flag = flags["flags"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{flags}"))
        .to_owned();
    let auditor: Uuid = diesel::RunQueryDsl::get_result::<IdRow>(
        diesel::sql_query("SELECT org_id AS id FROM fund_auditors LIMIT 1"),
        &mut db.superuser_conn(),
    )
    .unwrap()
    .id;
    harness::act_as_member(&state, "auditor", auditor);
    let res = test::call_service(
        &app,
        harness::authed(TestRequest::post().uri(&format!("/api/v1/flags/{flag}/triage")))
            .set_json(json!({"action": "acknowledge", "reason": "looking into it"}))
            .to_request(),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        harness::json_body(res).await
    );
    let (_, pinned) = get_json!(
        &app,
        format!("/api/v1/funds/{fund}/reports/statement?at_size={n}&admin_size={admin_n}")
    );
    assert_eq!(
        pinned["flags"]["by_severity"][0]["counts"]["open"],
        open_before
    );
    let (_, moved) = get_json!(&app, format!("/api/v1/funds/{fund}/reports/statement"));
    assert_eq!(
        moved["flags"]["by_severity"][0]["counts"]["open"],
        open_before - 1
    );
    assert_eq!(
        moved["flags"]["by_severity"][0]["counts"]["acknowledged"],
        1
    );
    harness::act_as(&state, "admin");
    // Asked at a size alone, every report keeps its bytes after the triage too: its flag
    // statuses are the administrative chain's as the fund's checkpoint saw it.
    for (u, b) in uris.iter().zip(&before) {
        let (_, body, _) = get!(&app, u);
        assert_eq!(&body, b, "{u} changed after a triage");
    }

    // A size no checkpoint was signed at.
    let (status, body) = get_json!(
        &app,
        format!("/api/v1/funds/{fund}/reports/statement?at_size={}", n + 100)
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "no_checkpoint_at_size");

    // Report currency: NOK through the recorded EUR/NOK rate; JPY has none.
    let (status, nok) = get_json!(
        &app,
        format!("/api/v1/funds/{fund}/reports/statement?at_size={n}&currency=NOK")
    );
    assert_eq!(status, StatusCode::OK, "{nok}");
    let conv = &nok["currency"]["conversion"];
    assert_eq!(conv["from"], "EUR");
    assert_eq!(conv["to"], "NOK");
    assert!(conv["rate_seq"].as_u64().unwrap() < n);
    let rate = dec(&conv["rate"]);
    let eur = &latest["uses"]["ministries"][0]["disbursed"]["cumulative"];
    let want = (dec(eur) * rate).round_dp(2);
    let got = dec(&nok["uses"]["ministries"][0]["disbursed"]["cumulative"]);
    assert!(
        (got - want).abs() <= Decimal::new(1, 2),
        "a line is its own conversion, give or take the cent that makes the lines add up: {got} vs {want}"
    );
    // Converted, the statement reconciles with its own breakdowns, to the cent.
    let sum = |list: &Value, path: &[&str]| -> Decimal {
        list.as_array()
            .unwrap()
            .iter()
            .map(|x| {
                let mut v = x;
                for p in path {
                    v = &v[*p];
                }
                dec(v)
            })
            .sum()
    };
    let cum = |v: &Value| dec(&v["cumulative"]);
    assert_eq!(
        sum(&nok["uses"]["ministries"], &["disbursed", "cumulative"]),
        cum(&nok["uses"]["total"]["disbursed"])
    );
    let ministries_paid = sum(&nok["spending"]["ministries"], &["paid", "cumulative"]);
    assert_eq!(
        sum(&nok["spending"]["vendors"], &["paid", "cumulative"]),
        ministries_paid,
        "vendors paid = ministries paid, in NOK"
    );
    assert_eq!(
        sum(&nok["spending"]["categories"], &["spent", "cumulative"]),
        cum(&nok["spending"]["total"]["spent"]),
        "categories = the spending total, in NOK"
    );
    assert_eq!(
        sum(&nok["spending"]["ministries"], &["spent", "cumulative"]),
        cum(&nok["spending"]["total"]["spent"])
    );
    let (status, body) = get_json!(
        &app,
        format!("/api/v1/funds/{fund}/reports/statement?currency=JPY")
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "no_fx_rate");

    // CSV: RFC 4180 rows, checkpoint named, the same figures as the JSON.
    let (_, csv, ctype) = get!(&app, uris[1]);
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    let text = String::from_utf8(csv.to_vec()).unwrap();
    let mut lines = text.split("\r\n");
    assert_eq!(
        lines.next().unwrap(),
        "section,item_id,item,category,measure,prior,period,cumulative,currency"
    );
    assert!(text.contains(&format!("checkpoint,{fund},fund,,tree_size,,,{n},")));
    let closing = latest["balances"]["fund"]["available"]["closing"]
        .as_str()
        .unwrap();
    assert!(
        text.contains(&format!("balances,,,,available.closing,,,{closing},EUR")),
        "{text}"
    );

    // Series: quarterly contributions per donor add up to the contributed total.
    let (_, series) = get_json!(&app, uris[4]);
    let total: Decimal = series["series"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["points"].as_array().unwrap().iter())
        .map(|p| dec(&p["sum"]))
        .sum();
    assert_eq!(
        total,
        dec(&latest["sources"]["total"]["contributed"]["cumulative"])
    );
    let (status, body) = get_json!(
        &app,
        format!("/api/v1/funds/{fund}/series?metric=spent&by=week&group=ministry")
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_parameter");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Who may read reports: admin, the fund's treasurer, auditors and donors; a donor only
/// its own donor report; a ministry 403; a donor, auditor or treasurer of nothing here
/// 404; no token 401.
#[actix_web::test]
async fn reports_refuse_everyone_outside_the_funds_readers() {
    use diesel::prelude::*;
    let (db, dir) = seeded();
    let state = harness::state(&db).await;
    let app = harness::app(state.clone()).await;
    harness::act_as(&state, "admin");
    let (_, funds) = get_json!(&app, "/api/v1/funds");
    let fund = funds[0]["id"].as_str().unwrap().to_owned();
    let secretariat: Uuid = funds[0]["secretariat"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (_, st) = get_json!(&app, format!("/api/v1/funds/{fund}/reports/statement"));
    let donor_a: Uuid = st["sources"]["donors"][0]["donor"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let donor_b: Uuid = st["sources"]["donors"][1]["donor"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let ministry: Uuid = st["uses"]["ministries"][0]["ministry"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut conn = db.superuser_conn();
    let auditor: Uuid = diesel::sql_query("SELECT org_id AS id FROM fund_auditors LIMIT 1")
        .get_result::<IdRow>(&mut conn)
        .map(|r| r.id)
        .unwrap();
    let stranger = Uuid::new_v4();

    let statement = format!("/api/v1/funds/{fund}/reports/statement");
    let own = format!("/api/v1/funds/{fund}/reports/donors/{donor_a}");
    let other = format!("/api/v1/funds/{fund}/reports/donors/{donor_b}");
    let series = format!("/api/v1/funds/{fund}/series?metric=disbursed&by=month&group=ministry");
    let cases: [(&str, Uuid, [StatusCode; 4]); 7] = [
        ("treasurer", secretariat, [StatusCode::OK; 4]),
        ("auditor", auditor, [StatusCode::OK; 4]),
        (
            "donor",
            donor_a,
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::FORBIDDEN,
                StatusCode::OK,
            ],
        ),
        ("ministry", ministry, [StatusCode::FORBIDDEN; 4]),
        ("donor", stranger, [StatusCode::NOT_FOUND; 4]),
        ("auditor", stranger, [StatusCode::NOT_FOUND; 4]),
        ("treasurer", stranger, [StatusCode::NOT_FOUND; 4]),
    ];
    for (role, org, want) in cases {
        harness::act_as_member(&state, role, org);
        for (uri, want) in [&statement, &own, &other, &series].iter().zip(want) {
            let (status, body, _) = get!(&app, uri);
            assert_eq!(
                status,
                want,
                "{role} of {org} on {uri}: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    harness::clear_token();
    let (status, _, _) = get!(&app, statement);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let _ = std::fs::remove_dir_all(&dir);
}

#[derive(diesel::QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}
