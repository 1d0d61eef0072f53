//! Scale-out on Postgres's own machinery (docs/operations.md, "Scaling out"): several
//! `serve` processes of the real binary appending to one fund on one primary, and a
//! streaming replica answering the read side, pinned to what it has replayed.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, eur, Replicated, Served};

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn year_start() -> String {
    format!("{}-01-01", today().format("%Y"))
}

fn year_end() -> String {
    format!("{}-12-31", today().format("%Y"))
}

/// POSTs a typed entry of `kind` to `fund` at `base` with `token`: (status, body).
async fn post(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    fund: Uuid,
    kind: &str,
    body: Value,
) -> (u16, Value) {
    let res = http
        .post(format!("{base}/api/v1/funds/{fund}/entries"))
        .bearer_auth(token)
        .header("idempotency-key", Uuid::new_v4().to_string())
        .json(&json!({"kind": kind, "business_date": today(), "body": body}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(http: &reqwest::Client, base: &str, token: &str, path: &str) -> (u16, Vec<u8>) {
    let res = http
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.bytes().await.unwrap().to_vec())
}

/// Three `serve` processes on one database take a mixed typed load on one fund at once
/// (disbursements racing for one allocation, invoices and their payments), each request
/// sent to another process than the one before: the chain is gap-free with no fork, every
/// acknowledged entry is in it with its hash, the allocation is never overdrawn, and both
/// `verify` (the API's and the offline one over the export) and `rebuild --check` are clean.
#[actix_web::test]
async fn three_serve_processes_share_one_fund_without_gap_fork_or_overdraft() {
    let (db, state, app) = harness::start().await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    let interior = harness::org(&db, "Ministry of Interior", "ministry");
    let donor = harness::org(&db, "Kingdom of Norway", "donor");
    let vendor = harness::org(&db, "Alpha Uniforms", "vendor");
    harness::act_as_member(&state, "treasurer", secretariat);
    ok!(
        &app,
        harness::entry(
            fund,
            "contribution",
            today(),
            json!({"donor": donor, "amount": eur("100000.00"), "agreement": "A"})
        )
    );
    let allocation = ok!(
        &app,
        harness::entry(
            fund,
            "allocation",
            today(),
            json!({"ministry": interior, "budget_line": "B", "category": "c",
                   "amount": eur("1000.00"), "period_start": year_start(), "period_end": year_end()})
        )
    );
    harness::act_as_member(&state, "ministry", interior);
    let deadline = (today() + chrono::Days::new(10)).to_string();
    let tender = ok!(
        &app,
        harness::entry(
            fund,
            "tender",
            today(),
            json!({"ministry": interior, "title": "Uniforms", "category": "c", "method": "direct",
                   "estimated_value": eur("50000.00"), "deadline": deadline})
        )
    );
    let award = ok!(&app, harness::award(fund, tender, vendor, "50000.00", 0));
    let contract = ok!(
        &app,
        harness::entry(
            fund,
            "contract",
            today(),
            json!({"award": award, "value": eur("50000.00"), "starts_on": year_start(),
                   "ends_on": year_end()})
        )
    );
    let treasurer = harness::token_for(&state, "treasurer", secretariat);
    let ministry = harness::token_for(&state, "ministry", interior);
    let reader = harness::token_for(&state, "auditor", auditor);

    let servers: Vec<Served> = (0..3).map(|_| Served::start(&db.url(), &[])).collect();
    let http = reqwest::Client::new();
    for s in &servers {
        s.ready(&http).await;
    }
    let base = |i: usize| servers[i % servers.len()].base.clone();

    // 30 disbursements of 50.00 race for an allocation of 1,000.00: 20 fit.
    let disbursements = (0..30).map(|i| {
        let (http, base, token) = (http.clone(), base(i), treasurer.clone());
        async move {
            post(
                &http,
                &base,
                &token,
                fund,
                "disbursement",
                json!({"allocation": allocation, "amount": eur("50.00")}),
            )
            .await
        }
    });
    // 8 invoices, each paid through another process than the one that recorded it.
    let invoices = (0..8).map(|i| {
        let (http, token) = (http.clone(), ministry.clone());
        let (first, second) = (base(i), base(i + 1));
        async move {
            let (status, invoice) = post(
                &http,
                &first,
                &token,
                fund,
                "invoice",
                json!({"contract": contract, "vendor": vendor,
                       "invoice_number": format!("INV-{i}"), "amount": eur("100.00")}),
            )
            .await;
            assert_eq!(status, 201, "{invoice}");
            let seq = invoice["seq"].as_u64().unwrap();
            let payment = post(
                &http,
                &second,
                &token,
                fund,
                "payment",
                json!({"invoice": seq, "amount": eur("100.00")}),
            )
            .await;
            [(status, invoice), payment]
        }
    });
    let (disbursed, paid) = futures_util::future::join(
        futures_util::future::join_all(disbursements),
        futures_util::future::join_all(invoices),
    )
    .await;

    let mut acknowledged: Vec<(u64, String)> = Vec::new();
    let mut refusals = Vec::new();
    for (status, body) in disbursed.iter().chain(paid.iter().flatten()) {
        match status {
            201 => acknowledged.push((
                body["seq"].as_u64().unwrap(),
                body["entry_hash"].as_str().unwrap().to_owned(),
            )),
            _ => refusals.push((*status, body["code"].as_str().unwrap_or("").to_owned())),
        }
    }
    // Exactly the allocation's worth of disbursements; every other request recorded.
    assert_eq!(
        refusals,
        vec![(422, "allocation_exceeded".to_owned()); 10],
        "{disbursed:?}"
    );
    assert_eq!(acknowledged.len(), 20 + 16);

    // Gap-free, one entry per seq, every acknowledged entry there with its hash.
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        hash: String,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT seq, encode(entry_hash, 'hex') AS hash FROM ledger_entries \
         WHERE chain_id = $1 ORDER BY seq",
    )
    .bind::<diesel::sql_types::Uuid, _>(fund)
    .load(&mut db.superuser_conn())
    .unwrap();
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (0..i64::try_from(rows.len()).unwrap()).collect::<Vec<_>>()
    );
    assert_eq!(
        rows.len(),
        5 + acknowledged.len(),
        "setup entries plus the load's"
    );
    for (seq, hash) in &acknowledged {
        assert_eq!(
            &rows[usize::try_from(*seq).unwrap()].hash,
            hash,
            "seq {seq}"
        );
    }

    // The allocation is used exactly, never overdrawn, as every process reads it.
    for i in 0..3 {
        let (status, body) = get(
            &http,
            &base(i),
            &treasurer,
            &format!("/api/v1/funds/{fund}/balances"),
        )
        .await;
        assert_eq!(status, 200);
        let b: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(b["ministries"][0]["disbursed"], "1000.00", "{b}");
        assert_eq!(b["ministries"][0]["undisbursed"], "0.00", "{b}");
        assert_eq!(b["ministries"][0]["paid"], "800.00", "{b}");
    }

    // Verification through the API and offline, over the export of another process.
    let (status, body) = get(
        &http,
        &base(1),
        &reader,
        &format!("/api/v1/chains/{fund}/verify"),
    )
    .await;
    assert_eq!(status, 200);
    let report: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["entries_checked"], rows.len(), "{report}");
    let (status, export) = get(
        &http,
        &base(2),
        &reader,
        &format!("/api/v1/chains/{fund}/export"),
    )
    .await;
    assert_eq!(status, 200);
    let dir = harness::temp_dir("scale-verify");
    std::fs::write(dir.join("chain.jsonl"), &export).unwrap();
    std::fs::write(
        dir.join("keys.txt"),
        state.ledger.verifier_key().to_verifier_string() + "\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fundtrail"))
        .arg("verify")
        .arg("--export")
        .arg(dir.join("chain.jsonl"))
        .arg("--public-key")
        .arg(dir.join("keys.txt"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    harness::fundtrail_ok(&db, &dir, &["rebuild", "--check"]);
}

/// Pinned reads by where they ran, as the state's metrics count them: (replica, primary).
fn served(state: &actix_web::web::Data<fundtrail::state::AppState>) -> (u64, u64) {
    let text = state.metrics.render(&state.pool).unwrap();
    let count = |by: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "fundtrail_pinned_reads_total{{served_by=\"{by}\"}} "
                ))
            })
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    (count("replica"), count("primary"))
}

/// Waits (at most 20 s) until the replica has replayed everything the primary has written.
fn caught_up(primary: &mut PgConnection, replica: &mut PgConnection) {
    #[derive(diesel::QueryableByName)]
    struct Lsn {
        #[diesel(sql_type = diesel::sql_types::Text)]
        lsn: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Reached {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        reached: bool,
    }
    let Lsn { lsn } = diesel::sql_query("SELECT pg_current_wal_lsn()::text AS lsn")
        .get_result(primary)
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r: Reached = diesel::sql_query(
            "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS reached",
        )
        .bind::<diesel::sql_types::Text, _>(&lsn)
        .get_result(replica)
        .unwrap();
        if r.reached {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replica did not catch up"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A streaming replica made with `pg_basebackup -R` answers the read side (reports,
/// exports, proofs, entries, verification) exactly as the primary does. While its replay
/// is paused, a read pinned to a size it has answers from it at once, and a read of a size
/// it has not reached waits `--read-wait-ms`, then is answered by the primary, correct
/// and current; once replay resumes, the replica answers again. The real binary, given
/// `--read-database-url`, answers from the replica too.
#[actix_web::test]
async fn a_replica_answers_pinned_reads_as_the_primary_would_and_hands_back_what_it_lacks() {
    use fundtrail::config::{AppSettings, PoolSettings};
    use fundtrail::ledger::Ledger;
    use fundtrail::state::{AppState, Replica};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let pair = Replicated::start();
    let settings = PoolSettings {
        connect_timeout: Duration::from_secs(2),
        max_size: 4,
        ..PoolSettings::default()
    };
    let primary_login =
        fundtrail::db::service_login_url(&pair.primary_url(), "fundtrail_app").unwrap();
    let replica_login =
        fundtrail::db::replica_login_url(&pair.replica_url(), "fundtrail_app").unwrap();
    let pool = fundtrail::db::build_pool(&primary_login, &settings).unwrap();
    let ledger = Arc::new(Ledger::new(
        pool.clone(),
        harness::signing_key(),
        "test.fundtrail",
        Ledger::system_clock(),
    ));
    let wait = Duration::from_millis(300);
    let replicated = actix_web::web::Data::new(
        AppState::new(pool.clone(), AppSettings::default(), ledger.clone())
            .unwrap()
            .with_replica(Replica {
                pool: fundtrail::db::build_pool(&replica_login, &settings).unwrap(),
                wait,
            }),
    );
    replicated.ledger.bootstrap().await.unwrap();
    let primary_only =
        actix_web::web::Data::new(AppState::new(pool, AppSettings::default(), ledger).unwrap());
    let app = harness::app(replicated.clone()).await;
    let reference = harness::app(primary_only.clone()).await;
    let mut primary_su = PgConnection::establish(&pair.primary_url()).unwrap();
    let mut replica_su = PgConnection::establish(&pair.replica_url()).unwrap();
    let org = |conn: &mut PgConnection, name: &str, kind: &str| {
        let id = Uuid::new_v4();
        fundtrail::auth::store::insert_org(conn, id, name, kind).unwrap();
        id
    };
    let secretariat = org(&mut primary_su, "MDTF Secretariat", "fund_secretariat");
    let interior = org(&mut primary_su, "Ministry of Interior", "ministry");
    let donor = org(&mut primary_su, "Kingdom of Norway", "donor");
    harness::act_as(&replicated, "admin");
    let fund = harness::create_fund(&app, "SSR Fund", secretariat).await;
    harness::act_as_member(&replicated, "treasurer", secretariat);
    ok!(
        &app,
        harness::entry(
            fund,
            "contribution",
            today(),
            json!({"donor": donor, "amount": eur("5000.00"), "agreement": "A"})
        )
    );
    let allocation = ok!(
        &app,
        harness::entry(
            fund,
            "allocation",
            today(),
            json!({"ministry": interior, "budget_line": "B", "category": "c",
                   "amount": eur("3000.00"), "period_start": year_start(), "period_end": year_end()})
        )
    );
    let disburse = |amount: &str| {
        harness::entry(
            fund,
            "disbursement",
            today(),
            json!({"allocation": allocation, "amount": eur(amount)}),
        )
    };
    ok!(&app, disburse("1200.00"));
    let size = ok!(&app, disburse("300.00")) + 1;

    // Caught up: every read is the replica's, byte for byte the primary's answer.
    caught_up(&mut primary_su, &mut replica_su);
    let reads = [
        format!("/api/v1/funds/{fund}/reports/statement?at_size={size}"),
        format!("/api/v1/funds/{fund}/reports/donors/{donor}?at_size={size}"),
        format!("/api/v1/funds/{fund}/exports/entries.csv?at_size={size}"),
        format!("/api/v1/funds/{fund}/entries"),
        format!("/api/v1/chains/{fund}/entries/2/proof?size={size}"),
        format!("/api/v1/chains/{fund}/verify"),
        format!("/api/v1/chains/{fund}/entries"),
    ];
    let before = served(&replicated);
    for uri in &reads {
        let (status, _, body) = harness::fetch(&app, uri).await;
        let (want_status, _, want) = harness::fetch(&reference, uri).await;
        assert_eq!(
            (status, want_status),
            (StatusCode::OK, StatusCode::OK),
            "{uri}"
        );
        assert_eq!(
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&want),
            "{uri}"
        );
    }
    let after = served(&replicated);
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (reads.len() as u64, 0),
        "every read answered by the replica"
    );

    // Replay paused: the replica stays at `size` while the primary grows.
    diesel::sql_query("SELECT pg_wal_replay_pause()")
        .execute(&mut replica_su)
        .unwrap();
    ok!(&app, disburse("500.00"));
    let statement = format!("/api/v1/funds/{fund}/reports/statement");
    let before = served(&replicated);
    let started = Instant::now();
    let (status, _, body) = harness::fetch(&app, &statement).await;
    let waited = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    let latest: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        latest["checkpoints"]["fund"]["tree_size"],
        size + 1,
        "the latest statement includes the entry the replica lacks: {latest}"
    );
    let (_, _, want) = harness::fetch(&reference, &statement).await;
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(&want)
    );
    assert!(
        waited >= wait,
        "the read waited for the replica first ({waited:?})"
    );
    let (_, _, old) = harness::fetch(&app, &reads[0]).await;
    let (_, _, old_want) = harness::fetch(&reference, &reads[0]).await;
    assert_eq!(
        String::from_utf8_lossy(&old),
        String::from_utf8_lossy(&old_want)
    );
    let after = served(&replicated);
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (1, 1),
        "the size the replica lacks from the primary, the size it has from the replica"
    );

    // Replay resumed: the replica answers the latest statement again.
    diesel::sql_query("SELECT pg_wal_replay_resume()")
        .execute(&mut replica_su)
        .unwrap();
    caught_up(&mut primary_su, &mut replica_su);
    let before = served(&replicated);
    let (_, _, body) = harness::fetch(&app, &statement).await;
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(&want)
    );
    assert_eq!(served(&replicated).0 - before.0, 1);

    // The real binary: `serve --read-database-url` answers the same from the replica.
    let server = Served::start(
        &pair.primary_url(),
        &["--read-database-url", &pair.replica_url()],
    );
    let http = reqwest::Client::new();
    server.ready(&http).await;
    let token = harness::token_for(&replicated, "treasurer", secretariat);
    let (status, body) = get(&http, &server.base, &token, &reads[0]).await;
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(&old_want)
    );
    let (_, metrics) = get(&http, &server.base, &token, "/metrics").await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("fundtrail_pinned_reads_total{served_by=\"replica\"} 1"),
        "{metrics}"
    );
}

/// Every report and export carries a strong ETag and answers 304 to a request naming it:
/// pinned at a size, `Cache-Control: private, max-age=31536000, immutable` (the statement,
/// the donor report and the series in JSON and CSV, the three exports); at the latest
/// checkpoint, `no-cache`, revalidated with 304 until the fund grows, then 200 and a new
/// tag.
#[actix_web::test]
async fn reports_and_exports_answer_304_to_their_etag_and_pinned_ones_are_immutable() {
    let (db, state, app) = harness::start().await;
    let (fund, secretariat, _) = harness::audited_fund(&db, &state, &app).await;
    let donor = harness::org(&db, "Kingdom of Norway", "donor");
    harness::act_as_member(&state, "treasurer", secretariat);
    let contribution = |amount: &str| {
        harness::entry(
            fund,
            "contribution",
            today(),
            json!({"donor": donor, "amount": eur(amount), "agreement": "A"}),
        )
    };
    let size = ok!(&app, contribution("900.00")) + 1;
    let hdr = |h: &actix_web::http::header::HeaderMap, name: &str| {
        h.get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let if_none_match = |uri: &str, tag: &str| {
        harness::authed(TestRequest::get().uri(uri))
            .insert_header(("if-none-match", tag.to_owned()))
            .to_request()
    };
    let reports = [
        format!("/api/v1/funds/{fund}/reports/statement"),
        format!("/api/v1/funds/{fund}/reports/statement?format=csv"),
        format!("/api/v1/funds/{fund}/reports/donors/{donor}"),
        format!("/api/v1/funds/{fund}/reports/donors/{donor}?format=csv"),
        format!("/api/v1/funds/{fund}/series?metric=contributed&by=month&group=donor"),
        format!("/api/v1/funds/{fund}/exports/entries.csv"),
        format!("/api/v1/funds/{fund}/exports/iati.xml"),
        format!("/api/v1/funds/{fund}/exports/ocds.json"),
    ];
    let pinned = |uri: &str| {
        let sep = if uri.contains('?') { '&' } else { '?' };
        format!("{uri}{sep}at_size={size}")
    };
    let mut latest_tags = Vec::new();
    for uri in &reports {
        for (uri, control) in [
            (pinned(uri), "private, max-age=31536000, immutable"),
            (uri.clone(), "no-cache"),
        ] {
            let (status, h, _) = harness::fetch(&app, &uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
            let tag = hdr(&h, "etag");
            assert!(tag.starts_with('"') && tag.len() > 2, "{uri}: {tag:?}");
            assert_eq!(hdr(&h, "cache-control"), control, "{uri}");
            let res = actix_web::test::call_service(&app, if_none_match(&uri, &tag)).await;
            assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{uri}");
            assert_eq!(hdr(res.headers(), "etag"), tag, "{uri}");
            assert_eq!(hdr(res.headers(), "cache-control"), control, "{uri}");
            assert!(actix_web::test::read_body(res).await.is_empty(), "{uri}");
            if control == "no-cache" {
                latest_tags.push((uri, tag));
            }
        }
    }
    // The fund grows: the latest answers change, their old tags no longer match.
    ok!(&app, contribution("100.00"));
    for (uri, tag) in &latest_tags {
        let res = actix_web::test::call_service(&app, if_none_match(uri, tag)).await;
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
        assert_ne!(&hdr(res.headers(), "etag"), tag, "{uri}");
    }
}
