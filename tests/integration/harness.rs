//! Test harness: every test gets its own database, cloned from a template database that
//! was migrated once (per migration set) — so tests run in parallel against a real
//! Postgres and never see each other's rows.
//!
//! `FUNDTRAIL_TEST_PG` names the server (default `postgres://postgres@127.0.0.1:5432`);
//! the login must be allowed to create databases (and, for tamper tests, be superuser).

use std::sync::OnceLock;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test;
use actix_web::web;
use diesel::{Connection, PgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};

use fundtrail::app;
use fundtrail::auth::jwt::JwtKeys;
use fundtrail::auth::session::SessionSettings;
use fundtrail::auth::Auth;
use fundtrail::config::{AppSettings, PoolSettings};
use fundtrail::db::PgPool;
use fundtrail::ledger::note::SigningKey;
use fundtrail::ledger::Ledger;
use fundtrail::state::AppState;
use std::sync::Arc;

pub fn server_url() -> String {
    std::env::var("FUNDTRAIL_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

pub fn url_for(db: &str) -> String {
    format!("{}/{db}", server_url())
}

/// `url` with the service's login: the service role, let log in once per test process
/// (on a migrated template, so the role exists).
pub fn service_url(url: &str) -> String {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // The role is cluster-wide; a test on an unmigrated database may come first.
        diesel::sql_query(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fundtrail_app') \
             THEN CREATE ROLE fundtrail_app NOLOGIN; END IF; END $$",
        )
        .execute(&mut admin_conn())
        .unwrap();
        fundtrail::db::service_login_url(&url_for("postgres"), "fundtrail_app").unwrap();
    });
    fundtrail::db::with_user(url, "fundtrail_app").unwrap()
}

pub fn admin_conn() -> PgConnection {
    PgConnection::establish(&url_for("postgres")).unwrap_or_else(|e| {
        panic!(
            "cannot reach the test Postgres at {} ({e}); start it (see .ci/run) or set FUNDTRAIL_TEST_PG",
            server_url()
        )
    })
}

/// Name of the template for the current migration files: a change to any migration
/// yields a new template, so a stale one is never used.
fn template_name() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut paths: Vec<_> = walk(&dir);
    paths.sort();
    let mut hasher = Sha256::new();
    for p in paths {
        hasher.update(p.strip_prefix(&dir).unwrap().to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&p).unwrap());
    }
    format!("fundtrail_tpl_{}", &hex::encode(hasher.finalize())[..16])
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn ensure_template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let name = template_name();
        let mut admin = admin_conn();
        // Serialise template creation across concurrently running test processes.
        diesel::sql_query("SELECT pg_advisory_lock(7201)")
            .execute(&mut admin)
            .unwrap();
        if !database_exists(&mut admin, &name) {
            let building = format!("{name}_build");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                .execute(&mut admin)
                .unwrap();
            diesel::sql_query(format!("CREATE DATABASE {building}"))
                .execute(&mut admin)
                .unwrap();
            fundtrail::db::migrate_url(&url_for(&building)).unwrap();
            diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                .execute(&mut admin)
                .unwrap();
            diesel::sql_query(format!("ALTER DATABASE {name} IS_TEMPLATE true"))
                .execute(&mut admin)
                .unwrap();
        }
        diesel::sql_query("SELECT pg_advisory_unlock(7201)")
            .execute(&mut admin)
            .unwrap();
        name
    })
}

fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    number(
        conn,
        &format!("SELECT count(*) AS n FROM pg_database WHERE datname = '{name}'"),
    ) > 0
}

/// The one bigint a query answers as `n` (`SELECT count(*) AS n FROM …`).
pub fn number(conn: &mut PgConnection, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(conn).unwrap().n
}

/// A database of its own for one test, dropped (forcibly) when the test ends.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    /// A migrated database cloned from the template.
    pub fn migrated() -> Self {
        let template = ensure_template();
        Self::create(&format!("TEMPLATE {template}"))
    }

    /// An empty database: no migrations applied.
    pub fn empty() -> Self {
        Self::create("")
    }

    fn create(clause: &str) -> Self {
        let name = format!("fundtrail_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin_conn();
        diesel::sql_query(format!("CREATE DATABASE {name} {clause}"))
            .execute(&mut admin)
            .unwrap();
        Self { name }
    }

    pub fn url(&self) -> String {
        url_for(&self.name)
    }

    /// A superuser connection: bypasses the service role (used to tamper on purpose).
    pub fn superuser_conn(&self) -> PgConnection {
        PgConnection::establish(&self.url()).unwrap()
    }

    pub fn pool(&self) -> PgPool {
        self.pool_with(PoolSettings {
            connect_timeout: std::time::Duration::from_secs(2),
            max_size: 8,
            ..PoolSettings::default()
        })
    }

    /// A pool like the service's: it logs in as the service role, never as the superuser
    /// the tests administer the server with (`db::service_login_url`).
    pub fn pool_with(&self, settings: PoolSettings) -> PgPool {
        fundtrail::db::build_pool(&service_url(&self.url()), &settings).unwrap()
    }

    /// Kills every session and drops the database (a simulated outage).
    /// Closes every session on this database but the caller's, as a PostgreSQL restart or
    /// a proxy cutting connections would.
    pub fn terminate_sessions(&self) {
        let mut admin = admin_conn();
        diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.name
        ))
        .execute(&mut admin)
        .unwrap();
    }

    pub fn drop_now(&self) {
        let mut admin = admin_conn();
        diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .unwrap();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&url_for("postgres")) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

pub async fn state(db: &TestDb) -> web::Data<AppState> {
    state_with(db, AppSettings::default()).await
}

/// The application state over `db`, with a fresh signing key; bootstrapped (admin chain,
/// key published) like `serve` does, unless the database is unmigrated.
pub async fn state_with(db: &TestDb, settings: AppSettings) -> web::Data<AppState> {
    let state = unbootstrapped_state(db, settings);
    state.ledger.bootstrap().await.unwrap();
    state
}

/// State over a database that may not even be migrated (nothing touched at start).
pub fn unbootstrapped_state(db: &TestDb, settings: AppSettings) -> web::Data<AppState> {
    let pool = db.pool();
    let ledger = Arc::new(Ledger::new(
        pool.clone(),
        signing_key(),
        "test.fundtrail",
        Ledger::system_clock(),
    ));
    web::Data::new(AppState::new(pool, settings, ledger).unwrap())
}

/// Bootstrapped state whose ledger signs with `signer` and trusts `trusted` besides it: a
/// restart with a rotated key, or a process configured with other trust roots. `Err` when
/// the start-up is refused (as `serve` would stop).
pub async fn state_signed_by(
    db: &TestDb,
    signer: SigningKey,
    trusted: Vec<fundtrail::ledger::note::VerifierKey>,
) -> Result<web::Data<AppState>, fundtrail::ledger::service::LedgerError> {
    state_rotated(db, signer, trusted, None).await
}

/// `state_signed_by`, rotating from `previous` when given (`FUNDTRAIL_PREVIOUS_SIGNING_KEY`).
pub async fn state_rotated(
    db: &TestDb,
    signer: SigningKey,
    trusted: Vec<fundtrail::ledger::note::VerifierKey>,
    previous: Option<&SigningKey>,
) -> Result<web::Data<AppState>, fundtrail::ledger::service::LedgerError> {
    let pool = db.pool();
    let mut ledger = Ledger::trusting(
        pool.clone(),
        signer,
        trusted,
        "test.fundtrail",
        Ledger::system_clock(),
    );
    if let Some(previous) = previous {
        ledger = ledger.rotated_from(previous)?;
    }
    let ledger = Arc::new(ledger);
    let state = web::Data::new(AppState::new(pool, AppSettings::default(), ledger).unwrap());
    state.ledger.bootstrap().await?;
    Ok(state)
}

/// The checkpoint signing key of every ledger the harness builds and of the binaries it
/// runs (`FUNDTRAIL_SIGNING_KEY`): one key per test process, as the processes of one
/// deployment share one key file.
pub fn signing_key() -> SigningKey {
    SigningKey::from_signer_string(&signing_key_line()).unwrap()
}

fn signing_key_line() -> String {
    static LINE: OnceLock<String> = OnceLock::new();
    LINE.get_or_init(|| {
        SigningKey::generate("test.fundtrail")
            .unwrap()
            .to_signer_string()
    })
    .clone()
}

/// `signing_key()` in a file (mode 0600), for the binaries the tests run.
pub fn signing_key_file() -> std::path::PathBuf {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = std::env::temp_dir().join(format!("fundtrail-test-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoint.key");
        let _ = std::fs::remove_file(&path);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        writeln!(f, "{}", signing_key_line()).unwrap();
        path
    })
    .clone()
}

/// The access-token keys of every application the harness builds: one secret per test
/// process, so `act_as` can issue tokens that any of them accepts.
pub fn jwt_keys() -> JwtKeys {
    JwtKeys::parse(jwt_keys_line()).unwrap()
}

fn jwt_keys_line() -> &'static str {
    static LINE: OnceLock<String> = OnceLock::new();
    LINE.get_or_init(JwtKeys::generate_line)
}

/// `jwt_keys()` in a file (mode 0600), for the `serve` processes the tests run.
pub fn jwt_keys_file() -> std::path::PathBuf {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = std::env::temp_dir().join(format!("fundtrail-test-jwt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jwt.keys");
        let _ = std::fs::remove_file(&path);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        writeln!(f, "{}", jwt_keys_line()).unwrap();
        path
    })
    .clone()
}

/// An access token for a principal of `role` in `org` (the user, organisation and grant
/// written to `state`'s database when missing), valid for 15 minutes.
pub fn token_for(state: &web::Data<AppState>, role: &str, org: uuid::Uuid) -> String {
    let user = uuid::Uuid::new_v4();
    ensure_holder(state, role, org, user);
    signed_token(user, org, role)
}

/// An access token signed for `user` in `org` as `role`, valid for 15 minutes, whether or
/// not they exist.
pub fn signed_token(user: uuid::Uuid, org: uuid::Uuid, role: &str) -> String {
    jwt_keys()
        .issue(
            user,
            org,
            role,
            chrono::Utc::now(),
            chrono::Duration::minutes(15),
        )
        .unwrap()
        .0
}

/// A `fundtrail serve` process of the real binary on a free loopback port, killed and
/// reaped when dropped. It signs with `signing_key_file()` and accepts `jwt_keys()`'s
/// tokens, as every process of one deployment shares their files.
pub struct Served {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its data directory; `serve.log` there holds its stderr.
    pub dir: std::path::PathBuf,
}

impl Served {
    /// Starts `serve` on `database_url` with `extra` arguments (period screens off);
    /// `ready` waits until it answers.
    pub fn start(database_url: &str, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = temp_dir("serve");
        let log = std::fs::File::create(dir.join("serve.log")).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_fundtrail"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(["--screen-interval", "off", "--workers", "2"])
            .arg("--database-url")
            .arg(database_url)
            .arg("--data-dir")
            .arg(&dir)
            .arg("--jwt-keys")
            .arg(jwt_keys_file())
            .args(extra)
            .env("FUNDTRAIL_SIGNING_KEY", signing_key_file())
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    /// Waits (at most 60 s) until `/readyz` answers 200.
    pub async fn ready(&self, http: &reqwest::Client) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let ok = http
                .get(format!("{}/readyz", self.base))
                .timeout(std::time::Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve at {} not ready within 60 s: {}",
                self.base,
                std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
            );
            actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private primary and its streaming replica, made for one test: `initdb` (as the
/// `postgres` user when we are root, as `scripts/ensure-postgres` does), the database
/// `fundtrail` migrated and its service role let log in, then `pg_basebackup -R` into a
/// second cluster started as a hot standby. Both are stopped and removed when dropped.
/// A private pair rather than the shared test server: a replica of that one would copy
/// every other test's database, and pausing its replay must touch nothing else.
pub struct Replicated {
    bin: std::path::PathBuf,
    root: std::path::PathBuf,
    pub primary_port: u16,
    pub replica_port: u16,
}

impl Replicated {
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql (scripts/ensure-postgres installs them)")
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|v| v.parse::<u32>().ok()))
            .max()
            .map(|v| std::path::PathBuf::from(format!("/usr/lib/postgresql/{v}/bin")))
            .unwrap();
        let root = temp_dir("pg-pair");
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let pair = Self {
            bin,
            root,
            primary_port: free(),
            replica_port: free(),
        };
        pair.as_postgres("chown", &["postgres".as_ref(), pair.root.as_os_str()], true);
        let primary = pair.root.join("primary");
        let replica = pair.root.join("replica");
        pair.pg(
            "initdb",
            &[
                "-D".as_ref(),
                primary.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--locale=C".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        pair.start_cluster(&primary, pair.primary_port);
        let mut admin = PgConnection::establish(&pair.url("postgres", pair.primary_port)).unwrap();
        diesel::sql_query("CREATE DATABASE fundtrail")
            .execute(&mut admin)
            .unwrap();
        fundtrail::db::migrate_url(&pair.primary_url()).unwrap();
        fundtrail::db::service_login_url(&pair.primary_url(), "fundtrail_app").unwrap();
        pair.pg(
            "pg_basebackup",
            &[
                "-h".as_ref(),
                "127.0.0.1".as_ref(),
                "-p".as_ref(),
                pair.primary_port.to_string().as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-D".as_ref(),
                replica.as_os_str(),
                "-R".as_ref(),
                "-X".as_ref(),
                "stream".as_ref(),
                "-c".as_ref(),
                "fast".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        pair.start_cluster(&replica, pair.replica_port);
        pair
    }

    fn url(&self, db: &str, port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/{db}")
    }

    /// The primary's `fundtrail` database, as its superuser.
    pub fn primary_url(&self) -> String {
        self.url("fundtrail", self.primary_port)
    }

    /// The replica's `fundtrail` database, as its superuser.
    pub fn replica_url(&self) -> String {
        self.url("fundtrail", self.replica_port)
    }

    fn start_cluster(&self, dir: &std::path::Path, port: u16) {
        let log = dir.with_extension("log");
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c max_connections=60              -c hot_standby=on",
            self.root.display()
        );
        self.pg(
            "pg_ctl",
            &[
                "start".as_ref(),
                "-D".as_ref(),
                dir.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "-o".as_ref(),
                opts.as_ref(),
            ],
        );
    }

    /// Runs the PostgreSQL program `program` (as `postgres` when we are root).
    fn pg(&self, program: &str, args: &[&std::ffi::OsStr]) {
        let path = self.bin.join(program);
        self.as_postgres(path.to_str().unwrap(), args, false);
    }

    fn as_postgres(&self, program: &str, args: &[&std::ffi::OsStr], root_only: bool) {
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        if root_only && !root {
            return;
        }
        let mut cmd = if root && !root_only {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            std::process::Command::new(program)
        };
        let out = cmd
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Replicated {
    fn drop(&mut self) {
        for name in ["replica", "primary"] {
            let dir = self.root.join(name);
            let path = self.bin.join("pg_ctl");
            let mut cmd = if std::process::Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
            {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&path);
                c
            } else {
                std::process::Command::new(&path)
            };
            let _ = cmd
                .args(["stop", "-m", "immediate", "-D"])
                .arg(&dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The real application, in-process (with its own login throttle).
pub async fn app(state: web::Data<AppState>) -> app_service!() {
    let auth = web::Data::new(Auth::new(jwt_keys(), SessionSettings::default()));
    test::init_service(app::build(state, auth)).await
}

/// A migrated database of this test's own, the bootstrapped state over it and the
/// application.
pub async fn start() -> (TestDb, web::Data<AppState>, app_service!()) {
    start_with(AppSettings::default()).await
}

/// `start` with these application settings.
pub async fn start_with(settings: AppSettings) -> (TestDb, web::Data<AppState>, app_service!()) {
    let db = TestDb::migrated();
    let state = state_with(&db, settings).await;
    let app = app(state.clone()).await;
    (db, state, app)
}

/// Runs the real `fundtrail` binary with `args`, on `db` and the data directory `dir`,
/// logging warnings only.
pub fn fundtrail<S: AsRef<std::ffi::OsStr>>(
    db: &TestDb,
    dir: &std::path::Path,
    args: &[S],
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_fundtrail"))
        .args(args)
        .arg("--database-url")
        .arg(db.url())
        .arg("--data-dir")
        .arg(dir)
        .env("FUNDTRAIL_SIGNING_KEY", signing_key_file())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// `fundtrail`, expected to succeed.
pub fn fundtrail_ok<S: AsRef<std::ffi::OsStr>>(
    db: &TestDb,
    dir: &std::path::Path,
    args: &[S],
) -> std::process::Output {
    let out = fundtrail(db, dir, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// GETs `uri` as the current actor (`authed`): the status, headers and body bytes.
pub async fn fetch<B: MessageBody>(
    app: &impl App<B>,
    uri: &str,
) -> (
    actix_web::http::StatusCode,
    actix_web::http::header::HeaderMap,
    Vec<u8>,
) {
    let res = test::call_service(app, authed(test::TestRequest::get().uri(uri)).to_request()).await;
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = test::read_body(res).await;
    (status, headers, bytes.to_vec())
}

/// Reads a response body as JSON.
pub async fn json_body<B: MessageBody>(res: ServiceResponse<B>) -> serde_json::Value {
    let bytes = test::read_body(res).await;
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "body is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// A user of a fresh organisation holding `roles`, written straight to the database.
pub fn user(db: &TestDb, email: &str, pass: &str, roles: &[&str]) -> uuid::Uuid {
    use fundtrail::auth::{password, store};
    let mut conn = db.superuser_conn();
    let org = uuid::Uuid::new_v4();
    store::insert_org(&mut conn, org, &format!("Org {org}"), "donor").unwrap();
    let id = uuid::Uuid::new_v4();
    store::insert_user(&mut conn, id, org, email, &password::hash(pass).unwrap()).unwrap();
    for r in roles {
        store::insert_grant(&mut conn, uuid::Uuid::new_v4(), id, r).unwrap();
    }
    id
}

thread_local! {
    /// The access token `authed` adds to requests (each test runs on its own thread).
    static TOKEN: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Makes this test act as a principal of `role`: a user of a fresh organisation holding
/// `role`, and a signed token for it (the guards look the holder up on every request).
pub fn act_as(state: &web::Data<AppState>, role: &str) -> uuid::Uuid {
    let user = uuid::Uuid::new_v4();
    act_as_user(state, role, uuid::Uuid::new_v4(), user);
    user
}

/// `req` with this test's access token, if it set one.
pub fn authed(req: actix_web::test::TestRequest) -> actix_web::test::TestRequest {
    match TOKEN.with(|t| t.borrow().clone()) {
        Some(token) => req.insert_header(("authorization", format!("Bearer {token}"))),
        None => req,
    }
}

/// Like `act_as`, for a member of organisation `org`.
pub fn act_as_member(state: &web::Data<AppState>, role: &str, org: uuid::Uuid) {
    act_as_user(state, role, org, uuid::Uuid::new_v4());
}

/// Like `act_as_member`, for a given user id (to act as the same person twice). The user,
/// its organisation (of the kind the role belongs to, unless it exists) and the grant are
/// written straight to `state`'s database when missing, as an administrator would have;
/// the token is signed with `jwt_keys()`, which every app of this process accepts.
pub fn act_as_user(state: &web::Data<AppState>, role: &str, org: uuid::Uuid, user: uuid::Uuid) {
    ensure_holder(state, role, org, user);
    act_with_token(role, org, user);
}

/// Acts with a signed token for `user` in `org` as `role`, whether or not they exist.
pub fn act_with_token(role: &str, org: uuid::Uuid, user: uuid::Uuid) {
    let token = signed_token(user, org, role);
    TOKEN.with(|t| *t.borrow_mut() = Some(token));
}

/// The rows a token holder needs: organisation, user, live grant (each kept if present).
fn ensure_holder(state: &web::Data<AppState>, role: &str, org: uuid::Uuid, user: uuid::Uuid) {
    use diesel::sql_types::{Text, Uuid as SqlUuid};
    let kind = match role {
        "admin" => "operator",
        "treasurer" => "fund_secretariat",
        "ministry" => "ministry",
        "auditor" => "audit_body",
        _ => "donor",
    };
    let mut conn = state.pool.get().unwrap();
    diesel::sql_query(
        "INSERT INTO organizations (id, name, kind) VALUES ($1, 'Org ' || $1::text, $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(org)
    .bind::<Text, _>(kind)
    .execute(&mut **conn)
    .unwrap();
    diesel::sql_query(
        "INSERT INTO users (id, org_id, email, password_hash) \
         VALUES ($1, $2, $1::text || '@test.invalid', '!') ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(user)
    .bind::<SqlUuid, _>(org)
    .execute(&mut **conn)
    .unwrap();
    diesel::sql_query(
        "INSERT INTO role_grants (id, user_id, role) VALUES (gen_random_uuid(), $1, $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(user)
    .bind::<Text, _>(role)
    .execute(&mut **conn)
    .unwrap();
}

/// Like `act_as_user`, for a user whose grant of `role` also carries the approver grant
/// (set straight in the database, as `POST /api/v1/admin/users/{id}/roles/{role}/approver`
/// would).
pub fn act_as_approver(state: &web::Data<AppState>, role: &str, org: uuid::Uuid, user: uuid::Uuid) {
    ensure_holder(state, role, org, user);
    set_approver(state, user, role);
    act_with_token(role, org, user);
}

/// Sets the approver grant on `user`'s live grant of `role`.
pub fn set_approver(state: &web::Data<AppState>, user: uuid::Uuid, role: &str) {
    use diesel::sql_types::{Text, Uuid as SqlUuid};
    let mut conn = state.pool.get().unwrap();
    diesel::sql_query(
        "UPDATE role_grants SET approver = true          WHERE user_id = $1 AND role = $2 AND revoked_at IS NULL",
    )
    .bind::<SqlUuid, _>(user)
    .bind::<Text, _>(role)
    .execute(&mut **conn)
    .unwrap();
}

/// Makes later `authed` requests anonymous again.
pub fn clear_token() {
    TOKEN.with(|t| *t.borrow_mut() = None);
}

/// A row in `organizations` (written as superuser, as an administrator would); its id.
pub fn org(db: &TestDb, name: &str, kind: &str) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    fundtrail::auth::store::insert_org(&mut db.superuser_conn(), id, name, kind).unwrap();
    id
}

/// A EUR amount as the API takes it.
pub fn eur(v: &str) -> serde_json::Value {
    serde_json::json!({"value": v, "currency": "EUR"})
}

/// The in-process application as a service (what `app` returns), for helpers that call it.
pub trait App<B>:
    Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>
{
}

impl<S, B> App<B> for S where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>
{
}

/// A request that records an entry of `kind`, dated `business_date`, in `fund`'s chain,
/// under an idempotency key of its own.
pub fn entry(
    fund: uuid::Uuid,
    kind: &str,
    business_date: impl serde::Serialize,
    body: serde_json::Value,
) -> test::TestRequest {
    test::TestRequest::post()
        .uri(&format!("/api/v1/funds/{fund}/entries"))
        .insert_header(("idempotency-key", uuid::Uuid::new_v4().to_string()))
        .set_json(serde_json::json!({"kind": kind, "business_date": business_date, "body": body}))
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// A bid of `amount` EUR by `vendor` for `tender` in `fund`, dated today.
pub fn bid(fund: uuid::Uuid, tender: u64, vendor: uuid::Uuid, amount: &str) -> test::TestRequest {
    entry(
        fund,
        "bid",
        today(),
        serde_json::json!({"tender": tender, "vendor": vendor, "amount": eur(amount)}),
    )
}

/// The award of `tender` in `fund` to `vendor` at `amount` EUR, out of `bids_received`
/// bids, dated today.
pub fn award(
    fund: uuid::Uuid,
    tender: u64,
    vendor: uuid::Uuid,
    amount: &str,
    bids_received: u32,
) -> test::TestRequest {
    entry(
        fund,
        "award",
        today(),
        serde_json::json!({"tender": tender, "vendor": vendor, "amount": eur(amount),
                           "bids_received": bids_received}),
    )
}

/// Creates the EUR fund `name` run by `secretariat` through the admin API (the current
/// actor must be an administrator); its id.
pub async fn create_fund<B: MessageBody>(
    app: &impl App<B>,
    name: &str,
    secretariat: uuid::Uuid,
) -> uuid::Uuid {
    let (status, fund) = call!(
        app,
        test::TestRequest::post()
            .uri("/api/v1/admin/funds")
            .set_json(
                serde_json::json!({"name": name, "currency": "EUR", "secretariat": secretariat})
            )
    );
    assert_eq!(status, actix_web::http::StatusCode::CREATED, "{fund}");
    fund["id"].as_str().unwrap().parse().unwrap()
}

/// Assigns the audit body `auditor` to `fund` through the admin API (the current actor
/// must be an administrator).
pub async fn assign_auditor<B: MessageBody>(
    app: &impl App<B>,
    fund: uuid::Uuid,
    auditor: uuid::Uuid,
) {
    let (status, body) = call!(
        app,
        test::TestRequest::post()
            .uri(&format!("/api/v1/admin/funds/{fund}/auditors"))
            .set_json(serde_json::json!({"organization": auditor}))
    );
    assert_eq!(status, actix_web::http::StatusCode::NO_CONTENT, "{body}");
}

/// Creates "SSR Fund" (EUR), run by "MDTF Secretariat" and audited by "Supreme Audit
/// Institution", through the admin API: (fund, secretariat, auditor). The test acts as an
/// administrator afterwards.
pub async fn audited_fund<B: MessageBody>(
    db: &TestDb,
    state: &web::Data<AppState>,
    app: &impl App<B>,
) -> (uuid::Uuid, uuid::Uuid, uuid::Uuid) {
    let secretariat = org(db, "MDTF Secretariat", "fund_secretariat");
    let auditor = org(db, "Supreme Audit Institution", "audit_body");
    act_as(state, "admin");
    let fund = create_fund(app, "SSR Fund", secretariat).await;
    assign_auditor(app, fund, auditor).await;
    (fund, secretariat, auditor)
}

/// "Other Fund" (EUR), run by "Other Secretariat", and "Other Auditors", an audit body
/// assigned to no fund: who stands outside an `audited_fund`.
pub struct OtherFund {
    pub fund: uuid::Uuid,
    pub secretariat: uuid::Uuid,
    pub auditor: uuid::Uuid,
}

/// Creates an `OtherFund` through the admin API (the current actor must be an
/// administrator).
pub async fn other_fund<B: MessageBody>(db: &TestDb, app: &impl App<B>) -> OtherFund {
    let secretariat = org(db, "Other Secretariat", "fund_secretariat");
    let auditor = org(db, "Other Auditors", "audit_body");
    let fund = create_fund(app, "Other Fund", secretariat).await;
    OtherFund {
        fund,
        secretariat,
        auditor,
    }
}

/// The flags of `rule` in `fund` (at most 1000), as the current actor reads them.
pub async fn flags<B: MessageBody>(
    app: &impl App<B>,
    fund: uuid::Uuid,
    rule: &str,
) -> Vec<serde_json::Value> {
    let (status, body) = call!(
        app,
        test::TestRequest::get().uri(&format!(
            "/api/v1/funds/{fund}/flags?rule={rule}&limit=1000"
        ))
    );
    assert_eq!(status, actix_web::http::StatusCode::OK, "{body}");
    body["flags"].as_array().unwrap().clone()
}

/// A fresh directory under the system's temporary directory, named for `what`.
pub fn temp_dir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ft-{what}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Application settings whose document store is the directory `dir`, documents at most
/// `max_bytes` long.
pub fn settings_with_documents(dir: &std::path::Path, max_bytes: u64) -> AppSettings {
    AppSettings {
        documents: fundtrail::config::DocumentSettings {
            store: fundtrail::config::DocumentStoreConfig::Directory(dir.to_owned()),
            max_bytes,
        },
        ..AppSettings::default()
    }
}

/// The endpoint of a local S3-compatible server (moto, from PyPI): `FUNDTRAIL_TEST_S3`
/// when set, else a `moto_server` started once for this test process on a free port, which
/// a watchdog shell stops when the process ends. `scripts/test` installs moto when missing.
pub fn s3_endpoint() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("FUNDTRAIL_TEST_S3") {
            return url.trim_end_matches('/').to_owned();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = format!(
            "moto_server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
             while kill -0 {pid} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done; kill $m 2>/dev/null",
            pid = std::process::id()
        );
        // Not waited on: the watchdog outlives this call and stops moto when the test
        // process is gone (its parent, init, reaps it).
        #[allow(clippy::zombie_processes)]
        std::process::Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("sh starts moto_server (pip install 'moto[server]', or run scripts/test)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server did not listen on port {port} within 60 s; is moto[server] installed (scripts/test installs it)?"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        format!("http://127.0.0.1:{port}")
    })
    .clone()
}
