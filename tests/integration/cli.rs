//! The `fundtrail` binary as an operator meets it: what it writes on stderr and how it
//! exits.

use std::process::{Command, Output};

use uuid::Uuid;

use crate::harness::{self, TestDb};

/// A data directory of this test's own (not created: commands create what they need).
fn data_dir(what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("fundtrail-{what}-{}", Uuid::new_v4()))
}

/// The binary with `args` on `db`, logging at `info`, stdout and stderr captured (pipes,
/// never a terminal).
fn run_logged(db: &TestDb, dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fundtrail"))
        .env("FUNDTRAIL_USER_PASSWORD", "a long enough passphrase 2026")
        .args(args)
        .arg("--database-url")
        .arg(db.url())
        .arg("--data-dir")
        .arg(dir)
        .env("FUNDTRAIL_SIGNING_KEY", harness::signing_key_file())
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

/// Logs written to a pipe (or a file) are plain text: no escape code of a terminal's
/// colours; JSON logs never carry one either.
#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    for format in ["human", "json"] {
        let db = TestDb::empty();
        let dir = data_dir("log");
        // Migrates, publishes the signing key and records a user: several info lines.
        let user = "user create --email ops@example.org --role admin --org Ops";
        let args = [
            &["--log-format", format][..],
            &user.split(' ').collect::<Vec<_>>(),
        ]
        .concat();
        let out = run_logged(&db, &dir, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("migrations applied"), "{format}: {stderr}");
        assert!(
            !out.stderr.contains(&0x1b),
            "{format} logs carry escape codes: {stderr:?}"
        );
        if format == "json" {
            for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
                let _: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line:?}"));
            }
        }
    }
}

/// A failing command says why once, on stderr: one `error: …` line and no log line
/// repeating it, in either log format, and exit 2. A usage error is clap's one message.
#[test]
fn an_error_is_printed_once_on_stderr_with_a_non_zero_exit() {
    let db = TestDb::migrated();
    let dir = data_dir("error");
    let missing = Uuid::new_v4().to_string();
    for format in ["human", "json"] {
        let out = harness::fundtrail(
            &db,
            &dir,
            &[
                "--log-format",
                format,
                "screen",
                "--fund",
                &missing,
                "--from",
                "2026-01-01",
                "--to",
                "2026-01-31",
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.matches(&missing).count(), 1, "{format}: {stderr}");
        assert_eq!(
            stderr.to_lowercase().matches("error").count(),
            1,
            "{format}: {stderr}"
        );
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("error: no fund \"{missing}\""))),
            "{stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_fundtrail"))
        .args(["screen", "--from", "2026-01-01"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert!(stderr.contains("--fund"), "{stderr}");
}

/// `--fund` of every command that takes one (`screen`, `import ocds`, `bench reports`,
/// `bench exports`) is a fund's id or its name, resolved alike; a name that could mean two
/// funds (they differ only in case) is refused, naming both ids, before anything is read.
#[actix_web::test]
async fn every_fund_option_takes_an_id_or_a_name_and_refuses_an_ambiguous_one() {
    let (db, state, app) = harness::start().await;
    harness::act_as(&state, "admin");
    let secretariat = harness::org(&db, "MDTF Secretariat", "fund_secretariat");
    let health = harness::create_fund(&app, "Health MDTF", secretariat).await;
    let shouted = harness::create_fund(&app, "HEALTH MDTF", secretariat).await;
    let dir = data_dir("fund");
    let period = ["--from", "2026-01-01", "--to", "2026-01-31"];

    let id = health.to_string();
    for fund in [id.as_str(), "Health MDTF"] {
        let args = [&["screen", "--fund", fund][..], &period].concat();
        let out = harness::fundtrail_ok(&db, &dir, &args);
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["fund"], id, "--fund {fund}: {summary}");
    }

    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ocds/release-package.json");
    let file = file.to_str().unwrap();
    for args in [
        [&["screen", "--fund", "health mdtf"][..], &period].concat(),
        vec!["import", "ocds", "--fund", "health mdtf", file],
        vec!["bench", "reports", "--fund", "health mdtf"],
        vec!["bench", "exports", "--fund", "health mdtf"],
    ] {
        let out = harness::fundtrail(&db, &dir, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("error: fund \"health mdtf\" is ambiguous"),
            "{args:?}: {stderr}"
        );
        for fund in [health, shouted] {
            assert!(stderr.contains(&fund.to_string()), "{args:?}: {stderr}");
        }
    }
}

/// Entries of the administrative chain.
fn admin_chain_size(db: &TestDb) -> i64 {
    use diesel::prelude::*;
    use fundtrail::schema::ledger_entries;
    ledger_entries::table
        .filter(ledger_entries::chain_id.eq(fundtrail::ledger::entry::ADMIN_CHAIN))
        .count()
        .get_result(&mut db.superuser_conn())
        .unwrap()
}

/// `fundtrail serve --bind addr` on `db`, waited for (killed after a minute: a serve that
/// does not fail would run until stopped).
fn serve_once(db: &TestDb, dir: &std::path::Path, addr: std::net::SocketAddr) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fundtrail"))
        .args([
            "serve",
            "--bind",
            &addr.to_string(),
            "--database-url",
            &db.url(),
        ])
        .arg("--data-dir")
        .arg(dir)
        .env("FUNDTRAIL_SIGNING_KEY", harness::signing_key_file())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "serve on a busy address kept running: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// A second `serve` on an address already in use fails at once, naming the address, and
/// exits 2 having written nothing: no migration, no screening run in the administrative
/// chain, no key file in the data directory.
#[actix_web::test]
async fn serve_on_a_busy_address_fails_naming_it_and_writes_nothing() {
    let (db, state, app) = harness::start().await;
    harness::act_as(&state, "admin");
    let secretariat = harness::org(&db, "MDTF Secretariat", "fund_secretariat");
    // An active fund: a serve that got as far as its schedule would screen it.
    harness::create_fund(&app, "Health MDTF", secretariat).await;
    let before = admin_chain_size(&db);

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let dir = data_dir("serve");
    let out = serve_once(&db, &dir, addr);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("error: {addr} is in use: ")),
        "{stderr}"
    );
    assert_eq!(admin_chain_size(&db), before, "{stderr}");
    assert!(!dir.exists(), "serve wrote into its data directory");

    // On a database never migrated: still nothing written.
    let empty = TestDb::empty();
    let out = serve_once(&empty, &dir, addr);
    assert_eq!(out.status.code(), Some(2));
    let tables: i64 = diesel::RunQueryDsl::get_result::<Count>(
        diesel::sql_query(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
        ),
        &mut empty.superuser_conn(),
    )
    .unwrap()
    .n;
    assert_eq!(tables, 0, "serve migrated a database before failing");
    drop(busy);
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
