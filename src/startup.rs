//! `fundtrail serve`: bind the listening address, resolve the database (configured or
//! embedded), migrate, serve until SIGINT/SIGTERM, let in-flight requests finish, then
//! stop what we started.

use actix_web::{web, HttpServer};

use std::sync::Arc;

use crate::app;
use crate::auth::jwt::JwtKeys;
use crate::auth::session::SessionSettings;
use crate::auth::Auth;
use crate::config::{
    AppSettings, AuthArgs, DbArgs, DocumentArgs, HttpArgs, LedgerArgs, ReadArgs, ScreenArgs,
    WitnessArgs,
};
use crate::db::{self, embedded::EmbeddedPostgres};
use crate::ledger::{keys, Ledger};
use crate::state::{AppState, Replica};

/// The database the service uses, and the private cluster behind it if we started one.
pub struct Database {
    pub url: String,
    pub embedded: Option<EmbeddedPostgres>,
}

/// `DATABASE_URL` when set; otherwise the private cluster under the data directory.
pub fn resolve_database(args: &DbArgs) -> anyhow::Result<Database> {
    match &args.database_url {
        Some(url) => Ok(Database {
            url: url.clone(),
            embedded: None,
        }),
        None => {
            let cluster = EmbeddedPostgres::start(&args.data_dir)?;
            tracing::info!(
                pg.data_dir = %args.data_dir.display(),
                "no DATABASE_URL set: using the private PostgreSQL cluster"
            );
            Ok(Database {
                url: cluster.database_url(),
                embedded: Some(cluster),
            })
        }
    }
}

/// Loads the JWT keys, generating the default file on first start.
pub fn load_auth(args: &AuthArgs, data_dir: &std::path::Path) -> anyhow::Result<Auth> {
    let path = args.key_path(data_dir);
    if !path.exists() && args.jwt_keys.is_none() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        writeln!(f, "{}", JwtKeys::generate_line())?;
        tracing::info!(key.path = %path.display(), "generated JWT keys");
    }
    let keys = JwtKeys::load(&path)?;
    Ok(Auth::new(
        keys,
        SessionSettings {
            access_ttl: chrono::Duration::minutes(i64::from(args.access_ttl_min.max(1))),
            refresh_ttl: chrono::Duration::hours(i64::from(args.refresh_ttl_h.max(1))),
        },
    ))
}

/// The URL the service's pool logs in with (`db::service_login_url`): the configured URL
/// migrates; the pool never logs in as a superuser or an owner of the ledger's tables.
pub fn service_url(url: &str, db_args: &DbArgs) -> anyhow::Result<String> {
    let settings = db_args.pool_settings();
    let role = settings.role.as_deref().unwrap_or("fundtrail_app");
    db::service_login_url(url, role)
}

/// A fund named on the command line (`--fund` of `screen`, `import ocds`, `bench reports`,
/// `bench exports`): its id, or its name. Every command resolves `--fund` here.
pub fn find_fund(
    conn: &mut diesel::PgConnection,
    fund: &str,
) -> anyhow::Result<crate::funds::store::FundRow> {
    // Funds are few (one per pooled fund an operator runs): reading them all is cheap.
    let funds = crate::funds::store::all_funds(conn)?;
    pick_fund(fund, funds).map_err(anyhow::Error::msg)
}

/// The fund `query` names among `funds`: the fund whose id it is, else the fund of exactly
/// that name (names are unique), else the one fund of that name ignoring case and
/// surrounding blanks. Refused, listing the ids, when it could mean more than one fund (an
/// id of one fund that is another's name, or a name two funds share but for case).
fn pick_fund(
    query: &str,
    funds: Vec<crate::funds::store::FundRow>,
) -> Result<crate::funds::store::FundRow, String> {
    let id = query.trim().parse::<uuid::Uuid>().ok();
    let (exact, others): (Vec<_>, Vec<_>) = funds
        .into_iter()
        .partition(|f| Some(f.id) == id || f.name == query);
    let folded = query.trim().to_lowercase();
    let matches = if exact.is_empty() {
        others
            .into_iter()
            .filter(|f| f.name.trim().to_lowercase() == folded)
            .collect()
    } else {
        exact
    };
    let mut matches = matches.into_iter();
    match (matches.next(), matches.next()) {
        (Some(fund), None) => Ok(fund),
        (None, _) => Err(format!(
            "no fund {query:?}: give a fund's id or its name (GET /api/v1/funds lists them)"
        )),
        (Some(a), Some(b)) => {
            let listed: Vec<String> = [a, b]
                .into_iter()
                .chain(matches)
                .map(|f| format!("{} ({:?})", f.id, f.name))
                .collect();
            Err(format!(
                "fund {query:?} is ambiguous: it matches {}; give the id of the one you mean",
                listed.join(", ")
            ))
        }
    }
}

/// The start of every command that writes: the signing key (generated on first use only
/// at the default location), the database (configured or private), migrations, the pool
/// and the ledger over it.
pub fn open_ledger(
    db_args: &DbArgs,
    ledger_args: &LedgerArgs,
) -> anyhow::Result<(Database, crate::db::PgPool, Arc<Ledger>)> {
    open_ledger_with_clock(db_args, ledger_args, Ledger::system_clock())
}

/// `open_ledger` with the writer's clock given (`seed-demo` records each day's entries on
/// their business day).
pub fn open_ledger_with_clock(
    db_args: &DbArgs,
    ledger_args: &LedgerArgs,
    clock: crate::ledger::writer::Clock,
) -> anyhow::Result<(Database, crate::db::PgPool, Arc<Ledger>)> {
    let key_path = ledger_args.key_path(&db_args.data_dir);
    let signer = keys::load_or_generate(
        &key_path,
        &ledger_args.log_name,
        ledger_args.signing_key.is_none(),
    )?;
    let database = resolve_database(db_args)?;
    let applied = db::migrate_url(&database.url)?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "migrations applied");
    }
    let trusted = match ledger_args.trusted_keys_path(&db_args.data_dir) {
        Some(path) => keys::load_verifiers(&path)?,
        None => Vec::new(),
    };
    let pool = db::build_pool(
        &service_url(&database.url, db_args)?,
        &db_args.pool_settings(),
    )?;
    let mut ledger = Ledger::trusting(pool.clone(), signer, trusted, &ledger_args.log_name, clock);
    if let Some(path) = &ledger_args.previous_signing_key {
        ledger = ledger
            .rotated_from(&keys::load(path)?)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok((database, pool, Arc::new(ledger)))
}

/// The service's listening socket, bound before anything else `serve` does: a second
/// `serve` on a busy address fails at once, naming it, before it starts a cluster,
/// migrates, generates a key or records a screening run.
pub fn listen(bind: std::net::SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    std::net::TcpListener::bind(bind).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "{bind} is in use: {e}; stop what listens there or choose another address \
             (--bind, FUNDTRAIL_BIND)"
        ),
        _ => anyhow::anyhow!("cannot listen on {bind}: {e}"),
    })
}

/// The read side's replica (`--read-database-url`): a pool like the primary's, logging in
/// as the service role, whose connections wait no longer than a read would for the replica.
pub fn replica(db_args: &DbArgs, read: &ReadArgs) -> anyhow::Result<Option<Replica>> {
    let Some(url) = &read.read_database_url else {
        return Ok(None);
    };
    let settings = db_args.pool_settings();
    let role = settings
        .role
        .clone()
        .unwrap_or_else(|| "fundtrail_app".to_owned());
    let login = db::replica_login_url(url, &role)?;
    let wait = std::time::Duration::from_millis(read.read_wait_ms);
    let pool = db::build_pool(
        &login,
        &crate::config::PoolSettings {
            // A replica that does not answer sends the read to the primary at once.
            connect_timeout: settings
                .connect_timeout
                .min(wait + std::time::Duration::from_millis(100)),
            ..settings
        },
    )?;
    match pool.get().map(|mut c| db::replica::is_standby(&mut c)) {
        Ok(Ok(true)) => tracing::info!(
            wait_ms = read.read_wait_ms,
            "pinned reads go to the replica"
        ),
        Ok(Ok(false)) => tracing::warn!(
            "the read database is not a standby: every pinned read goes to the primary"
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot ask the read database whether it is a standby")
        }
        Err(e) => {
            tracing::warn!(error = %e, "the read database does not answer yet: reads go to the primary until it does")
        }
    }
    Ok(Some(Replica { pool, wait }))
}

// `serve`'s settings, as clap parsed them: one group per concern.
#[allow(clippy::too_many_arguments)]
pub fn serve(
    db_args: &DbArgs,
    read_args: &ReadArgs,
    http: &HttpArgs,
    ledger_args: &LedgerArgs,
    auth_args: &AuthArgs,
    screen_args: &ScreenArgs,
    witness_args: &WitnessArgs,
    document_args: &DocumentArgs,
) -> anyhow::Result<()> {
    let listener = listen(http.bind)?;
    let witnesses = match &witness_args.witnesses {
        Some(path) => crate::witness::push::load_witnesses(path)?,
        None => Vec::new(),
    };
    let policy = match witness_args.witnesses_required {
        Some(k) => Some(
            crate::ledger::cosignature::WitnessPolicy::new(
                witnesses.iter().map(|w| w.key.clone()).collect(),
                k,
            )
            .map_err(|e| anyhow::anyhow!("FUNDTRAIL_WITNESSES_REQUIRED: {e}"))?,
        ),
        None => None,
    };
    let auth = load_auth(auth_args, &db_args.data_dir)?;
    let (database, pool, ledger) = open_ledger(db_args, ledger_args)?;
    if let Some(policy) = policy {
        ledger.require_witnesses(policy);
    }
    let settings = AppSettings {
        body_limit_bytes: http.body_limit_bytes,
        future_skew: chrono::Days::new(u64::from(ledger_args.future_skew_days)),
        report_block_entries: http.report_block_entries,
        ocds_prefix: ledger_args.ocds_prefix.clone(),
        documents: document_args.settings(&db_args.data_dir),
        webhook_allow_private: http.webhook_allow_private,
    };
    if let Ok(mut conn) = pool.get() {
        if matches!(crate::auth::store::any_user(&mut conn), Ok(false)) {
            let target = if database.embedded.is_some() {
                format!(" --data-dir {}", db_args.data_dir.display())
            } else {
                " --database-url <DATABASE_URL>".to_owned()
            };
            eprintln!(
                "No users yet. Create the first administrator (password read from stdin):\n  \
                 fundtrail user create --email you@example.org --role admin --org \"Fund operations\"{target}"
            );
        }
    }
    let mut state = AppState::new(pool.clone(), settings, ledger.clone())?;
    if let Some(r) = replica(db_args, read_args)? {
        state = state.with_replica(r);
    }
    let state = web::Data::new(state);
    let auth = web::Data::new(auth);

    let workers = if http.workers == 0 {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    } else {
        http.workers
    };
    let bind = listener.local_addr()?;
    let shutdown_timeout_s = http.shutdown_timeout_s;
    let interval = screen_args.screen_interval.0;
    let mut scheduler = None;
    let hooks_pool = pool.clone();
    let allow_private_hooks = http.webhook_allow_private;
    let expiry_interval = screen_args.approval_expiry_interval.0;
    let expiry_pool = pool.clone();
    let result = actix_web::rt::System::new().block_on(async {
        ledger
            .bootstrap()
            .await
            .map_err(|e| std::io::Error::other(format!("ledger start-up: {e}")))?;
        match interval {
            Some(every) => {
                scheduler = Some(crate::screening::schedule::Scheduler::spawn(
                    pool,
                    ledger.clone(),
                    every,
                )?);
            }
            None => tracing::info!("period screens: no schedule (FUNDTRAIL_SCREEN_INTERVAL=off)"),
        }
        match expiry_interval {
            Some(every) => spawn_expiry_sweep(expiry_pool, ledger.clone(), every),
            None => tracing::info!(
                "approval requests: no expiry sweep (FUNDTRAIL_APPROVAL_EXPIRY_INTERVAL=off)"
            ),
        }
        if !witnesses.is_empty() {
            crate::witness::push::spawn(
                ledger.clone(),
                witnesses,
                std::time::Duration::from_secs(witness_args.witness_interval_s),
            );
        }
        // Webhook deliveries, after commit (docs/notifications.md).
        crate::notify::deliver::spawn(
            hooks_pool,
            crate::notify::deliver::DeliverySettings {
                allow_private: allow_private_hooks,
                ..crate::notify::deliver::DeliverySettings::default()
            },
        )
        .map_err(|e| std::io::Error::other(format!("webhook worker: {e}")))?;
        let blocking_threads = state.blocking_threads(workers);
        let server = HttpServer::new(move || app::build(state.clone(), auth.clone()))
            .workers(workers)
            .worker_max_blocking_threads(blocking_threads)
            .shutdown_timeout(shutdown_timeout_s)
            // The head of a request must arrive within 5 s (slow-loris); its size limits
            // are `http::middleware::head_limits` below actix-http's fixed ones.
            .client_request_timeout(std::time::Duration::from_secs(5))
            .client_disconnect_timeout(std::time::Duration::from_secs(1))
            .listen(listener)?
            .run();
        tracing::info!(http.bind = %bind, "fundtrail listening (API page at /docs)");
        // actix handles SIGINT/SIGTERM: it stops accepting, lets in-flight requests
        // finish (up to the shutdown timeout), then this future resolves.
        server.await
    });
    tracing::info!("HTTP server stopped");
    if let Some(s) = scheduler {
        s.stop(); // lets a tick in progress finish before the database goes
    }
    drop(database); // stops the private cluster, if we started one
    result.map_err(Into::into)
}

/// `fundtrail user create`: the organisation (if new), the user and the grant, written in
/// the same transaction as their entries in the administrative chain (a writer `Effect`).
pub fn create_user(
    db_args: &DbArgs,
    ledger_args: &LedgerArgs,
    email: &str,
    password: &str,
    role: &str,
    org: &str,
    org_kind: &str,
) -> anyhow::Result<uuid::Uuid> {
    use crate::auth::store;
    use crate::ledger::writer::{AppendError, AppendRequest, FnEffect};

    let email = email.trim().to_lowercase();
    anyhow::ensure!(
        email.contains('@') && email.len() >= 3 && email.len() <= 254,
        "{email:?} is not an email address"
    );
    crate::auth::password::check_policy(password, &email)?;
    let phc = crate::auth::password::hash(password)?;
    let (database, pool, ledger) = open_ledger(db_args, ledger_args)?;

    let existing_org = {
        let mut conn = pool.get()?;
        store::org_id_by_name(&mut conn, org)?
    };
    let org_id = existing_org.unwrap_or_else(uuid::Uuid::new_v4);
    let user_id = uuid::Uuid::new_v4();
    let today = ledger.now().date_naive();
    let entry = |kind: &str, key: String, body: serde_json::Value| AppendRequest {
        kind: kind.to_owned(),
        business_date: today,
        idempotency_key: key,
        body,
        principal: crate::ledger::entry::Principal::system(),
    };
    let mut entries = Vec::new();
    if existing_org.is_none() {
        entries.push(entry(
            "organization_created",
            format!("org-created-{org_id}"),
            serde_json::json!({"organization": org_id, "name": org, "kind": org_kind}),
        ));
    }
    entries.push(entry(
        "user_created",
        format!("user-created-{user_id}"),
        serde_json::json!({"user": user_id, "organization": org_id, "email": email}),
    ));
    entries.push(entry(
        "role_granted",
        format!("role-granted-{user_id}-{role}"),
        serde_json::json!({"user": user_id, "role": role}),
    ));
    let (org_name, kind, role_name, mail) = (
        org.to_owned(),
        org_kind.to_owned(),
        role.to_owned(),
        email.clone(),
    );
    let effect = FnEffect(
        move |conn: &mut diesel::PgConnection, _: &[crate::ledger::entry::Entry]| {
            let fail = |what: &str, e: diesel::result::Error| AppendError::Conflict {
                code: "conflict",
                detail: format!("{what}: {e}"),
            };
            if existing_org.is_none() {
                store::insert_org(conn, org_id, &org_name, &kind)
                    .map_err(|e| fail("creating the organisation", e))?;
            }
            store::insert_user(conn, user_id, org_id, &mail, &phc)
                .map_err(|e| fail("creating the user", e))?;
            store::insert_grant(conn, uuid::Uuid::new_v4(), user_id, &role_name)
                .map_err(|e| fail("granting the role", e))?;
            Ok(())
        },
    );
    actix_web::rt::System::new().block_on(async {
        ledger
            .bootstrap()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        ledger
            .append_with(crate::ledger::entry::ADMIN_CHAIN, entries, Arc::new(effect))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    })?;
    drop(database);
    Ok(user_id)
}

/// `fundtrail screen --fund F --from D --to D` (see `screening::run`): the flags and the
/// `period_screen_run` entry of the administrative chain in one transaction. `fund` is an
/// id or a name (`find_fund`).
pub fn screen(
    db_args: &DbArgs,
    ledger_args: &LedgerArgs,
    fund: &str,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> anyhow::Result<crate::screening::run::Summary> {
    use crate::screening::run;
    let period = run::check_period(from, to).map_err(|e| anyhow::anyhow!(e))?;
    let (database, pool, ledger) = open_ledger(db_args, ledger_args)?;
    let now = ledger.now();
    let (new, summary) = {
        let mut conn = pool.get()?;
        let row = find_fund(&mut conn, fund)?;
        run::prepare(&mut conn, row.id, &row.currency, period, now)?
    };
    let request = crate::ledger::writer::AppendRequest {
        kind: "period_screen_run".to_owned(),
        business_date: now.date_naive(),
        idempotency_key: format!("period_screen_run-{}", uuid::Uuid::new_v4()),
        body: run::entry_body(&summary, "system"),
        principal: crate::ledger::entry::Principal::system(),
    };
    let effect = crate::ledger::writer::FnEffect(run::effect(new));
    actix_web::rt::System::new().block_on(async {
        ledger
            .bootstrap()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        ledger
            .append_with(
                crate::ledger::entry::ADMIN_CHAIN,
                vec![request],
                Arc::new(effect),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    })?;
    drop(database);
    Ok(summary)
}

/// What `fundtrail approvals expire` recorded in one fund.
#[derive(Debug, serde::Serialize)]
pub struct Expired {
    pub fund: uuid::Uuid,
    /// Seqs of the requests recorded as expired.
    pub requests: Vec<u64>,
}

/// `fundtrail approvals expire [--fund F]` (see `entries::approvals::expire_due`): every
/// active fund, or the one named.
pub fn expire_approvals(
    db_args: &DbArgs,
    ledger_args: &LedgerArgs,
    fund: Option<&str>,
) -> anyhow::Result<Vec<Expired>> {
    let (database, pool, ledger) = open_ledger(db_args, ledger_args)?;
    let funds = {
        let mut conn = pool.get()?;
        match fund {
            Some(f) => vec![find_fund(&mut conn, f)?],
            None => crate::funds::store::all_funds(&mut conn)?
                .into_iter()
                .filter(|f| f.active)
                .collect(),
        }
    };
    let out = actix_web::rt::System::new().block_on(async {
        ledger
            .bootstrap()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        expire_in(&ledger, &pool, funds).await
    })?;
    drop(database);
    Ok(out)
}

/// Records the expiries due in each of `funds` (see `entries::approvals::expire_due`).
async fn expire_in(
    ledger: &Ledger,
    pool: &crate::db::PgPool,
    funds: Vec<crate::funds::store::FundRow>,
) -> anyhow::Result<Vec<Expired>> {
    let screens: Arc<dyn crate::entries::effect::Screens> = Arc::new(crate::screening::Screens);
    let mut out = Vec::new();
    for f in funds {
        let currency = crate::money::Currency::parse(&f.currency)
            .map_err(|e| anyhow::anyhow!("fund {} currency: {e}", f.id))?;
        let ctx = crate::funds::ctx::FundCtx {
            fund: f.id,
            currency,
        };
        let requests =
            crate::entries::approvals::expire_due(ledger, pool, ctx, screens.clone()).await?;
        out.push(Expired {
            fund: f.id,
            requests,
        });
    }
    Ok(out)
}

/// The expiry sweep inside `serve`: every `every`, what `fundtrail approvals expire`
/// records for every active fund. A failed sweep is logged and tried again next time.
pub fn spawn_expiry_sweep(
    pool: crate::db::PgPool,
    ledger: Arc<Ledger>,
    every: std::time::Duration,
) {
    tracing::info!(
        interval_s = every.as_secs(),
        "approval requests: expiries are recorded on a schedule"
    );
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let lister = pool.clone();
            let funds = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let mut conn = lister.get()?;
                Ok(crate::funds::store::all_funds(&mut conn)?
                    .into_iter()
                    .filter(|f| f.active)
                    .collect::<Vec<_>>())
            })
            .await;
            let result = match funds {
                Ok(Ok(funds)) => expire_in(&ledger, &pool, funds).await,
                Ok(Err(e)) => Err(e),
                Err(e) => Err(e.into()),
            };
            match result {
                Ok(out) => {
                    let expired: usize = out.iter().map(|e| e.requests.len()).sum();
                    if expired > 0 {
                        tracing::info!(expired, "approval requests: expiries recorded");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "approval requests: expiry sweep failed"),
            }
        }
    });
}

/// `fundtrail documents export --fund F --out DIR` (see `evidence::bundle`).
pub fn export_documents(
    db_args: &DbArgs,
    document_args: &DocumentArgs,
    fund: &str,
    out: &std::path::Path,
) -> anyhow::Result<crate::evidence::bundle::BundleReport> {
    let database = resolve_database(db_args)?;
    let pool = db::build_pool(
        &service_url(&database.url, db_args)?,
        &db_args.pool_settings(),
    )?;
    let store =
        crate::docstore::DocumentStore::open(&document_args.settings(&db_args.data_dir).store)?;
    let mut conn = pool.get()?;
    let row = find_fund(&mut conn, fund)?;
    let report = actix_web::rt::System::new().block_on(crate::evidence::bundle::export(
        &mut conn, &store, row.id, out,
    ))?;
    drop(conn);
    drop(database);
    Ok(report)
}

/// `fundtrail rebuild [--check]` (see `entries::rebuild`).
pub fn rebuild(db_args: &DbArgs, replace: bool) -> anyhow::Result<crate::entries::rebuild::Report> {
    let database = resolve_database(db_args)?;
    db::migrate_url(&database.url)?;
    let pool = db::build_pool(
        &service_url(&database.url, db_args)?,
        &db_args.pool_settings(),
    )?;
    let mut conn = pool.get()?;
    // A rebuild reads every entry: no statement timeout for this session.
    diesel::RunQueryDsl::execute(diesel::sql_query("SET statement_timeout = 0"), &mut **conn)?;
    let report = crate::entries::rebuild::run_with(
        &mut conn,
        replace,
        &crate::screening::Screens,
        &crate::bank::effect::Rebuild,
    )?;
    drop(conn);
    drop(database);
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::pick_fund;
    use crate::funds::store::FundRow;

    fn fund(name: &str) -> FundRow {
        FundRow {
            id: uuid::Uuid::new_v4(),
            name: name.to_owned(),
            currency: "EUR".to_owned(),
            secretariat_org_id: uuid::Uuid::new_v4(),
            created_at: chrono::Utc::now(),
            active: true,
        }
    }

    #[test]
    fn a_fund_is_named_by_its_id_or_its_name() {
        let funds = vec![fund("Health MDTF"), fund("Justice MDTF")];
        let (health, justice) = (funds[0].id, funds[1].id);
        let pick = |q: &str| pick_fund(q, funds.clone()).map(|f| f.id);
        assert_eq!(pick(&health.to_string()), Ok(health));
        assert_eq!(pick(&justice.to_string().to_uppercase()), Ok(justice));
        assert_eq!(pick("Justice MDTF"), Ok(justice));
        assert_eq!(pick(" justice mdtf "), Ok(justice));
        let none = pick("Education MDTF").unwrap_err();
        assert!(none.contains("no fund \"Education MDTF\""), "{none}");
        let none = pick(&uuid::Uuid::new_v4().to_string()).unwrap_err();
        assert!(none.starts_with("no fund"), "{none}");
    }

    #[test]
    fn a_name_that_could_mean_two_funds_is_refused_with_their_ids() {
        // Names are unique, but not ignoring case.
        let funds = vec![fund("Demo"), fund("DEMO"), fund("Other")];
        let err = pick_fund("demo", funds.clone()).unwrap_err();
        assert!(err.contains("is ambiguous"), "{err}");
        assert!(err.contains(&funds[0].id.to_string()), "{err}");
        assert!(err.contains(&funds[1].id.to_string()), "{err}");
        assert!(!err.contains(&funds[2].id.to_string()), "{err}");
        // The exact spelling is one fund.
        assert_eq!(pick_fund("DEMO", funds.clone()).unwrap().id, funds[1].id);
        // One fund's id that is another's name.
        let mut funds = vec![fund("A")];
        let id = funds[0].id.to_string();
        funds.push(fund(&id));
        let err = pick_fund(&id, funds.clone()).unwrap_err();
        assert!(err.contains("is ambiguous"), "{err}");
        assert!(err.contains(&funds[1].id.to_string()), "{err}");
    }
}
