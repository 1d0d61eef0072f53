//! The embedded default: a private Postgres cluster under the data directory, started
//! from the machine's installed PostgreSQL when no `DATABASE_URL` is configured.
//!
//! Layout under the data directory (default `./.fundtrail`):
//! - `pg/`      the cluster (`initdb` on first start, reused afterwards), mode 0700
//! - `run/`     its Unix socket directory (no TCP listener at all)
//! - `pg.log`   the server log
//!
//! Postgres refuses to run as root, so when we are root every cluster command runs as
//! the `postgres` system user, which then owns `pg/` and `run/`.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context};
use diesel::{Connection, PgConnection, RunQueryDsl};

/// Name of the database the service uses inside the private cluster.
pub const DATABASE: &str = "fundtrail";
const PORT: u16 = 5432;

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "no DATABASE_URL is set and no PostgreSQL server binaries were found \
         (looked in $FUNDTRAIL_PG_BIN, /usr/lib/postgresql/*/bin and PATH). \
         Install PostgreSQL (Debian/Ubuntu: `apt-get install postgresql`) or set DATABASE_URL."
    )]
    NotInstalled,
    #[error("running as root but there is no `postgres` system user to run the cluster as; create it or set DATABASE_URL")]
    NoPostgresUser,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

#[derive(Debug)]
struct RunAs {
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
}

/// A running private cluster; stopped when dropped.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<RunAs>,
    /// True when we started the server (and so stop it); false when we adopted one already
    /// running — another `fundtrail` process (e.g. `serve` while `user create` runs) owns it.
    running: bool,
}

impl EmbeddedPostgres {
    /// Initialises the cluster on first use, starts it (or adopts one already running
    /// from this data directory) and makes sure the service database exists.
    pub fn start(data_dir: &Path) -> Result<Self, EmbeddedError> {
        let bin_dir = find_bin_dir().ok_or(EmbeddedError::NotInstalled)?;
        let run_as = if nix::unistd::geteuid().is_root() {
            let user = nix::unistd::User::from_name("postgres")
                .context("looking up the postgres user")?
                .ok_or(EmbeddedError::NoPostgresUser)?;
            Some(RunAs {
                uid: user.uid,
                gid: user.gid,
            })
        } else {
            None
        };

        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let base = data_dir
            .canonicalize()
            .with_context(|| format!("resolving {}", data_dir.display()))?;
        let pgdata = base.join("pg");
        let socket_dir = base.join("run");
        // pg_ctl passes options through a shell: keep paths free of anything to quote.
        let base_str = base.to_string_lossy();
        if base_str
            .chars()
            .any(|c| c.is_whitespace() || "'\"\\$`".contains(c))
        {
            return Err(anyhow::anyhow!(
                "the data directory path {base_str:?} contains whitespace or quotes; choose another with --data-dir"
            )
            .into());
        }
        // A Unix socket path is limited to 107 bytes (".s.PGSQL.5432" included).
        if socket_dir.as_os_str().len() > 90 {
            return Err(anyhow::anyhow!(
                "the data directory path {base_str:?} is too long for a Unix socket; choose a shorter --data-dir"
            )
            .into());
        }
        for dir in [&pgdata, &socket_dir] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("restricting {}", dir.display()))?;
            if let Some(run_as) = &run_as {
                std::os::unix::fs::chown(
                    dir.as_path(),
                    Some(run_as.uid.as_raw()),
                    Some(run_as.gid.as_raw()),
                )
                .with_context(|| format!("giving {} to the postgres user", dir.display()))?;
            }
        }

        let mut cluster = Self {
            bin_dir,
            pgdata,
            socket_dir,
            run_as,
            running: false,
        };
        if !cluster.pgdata.join("PG_VERSION").exists() {
            tracing::info!(pg.data_dir = %cluster.pgdata.display(), "initialising a private PostgreSQL cluster");
            let pgdata = cluster.pgdata.to_string_lossy().into_owned();
            cluster.run_checked(
                "initdb",
                &[
                    "-D",
                    &pgdata,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
            )?;
        }
        cluster.start_server()?;
        cluster.ensure_database()?;
        Ok(cluster)
    }

    /// Connection URL of the service database (Unix socket, trust authentication:
    /// only processes that can open the 0700 socket directory can connect).
    pub fn database_url(&self) -> String {
        self.url_for(DATABASE)
    }

    /// Connection URL of any database of the cluster.
    pub fn url_for(&self, db: &str) -> String {
        format!(
            "postgresql://postgres@/{db}?host={}&port={PORT}",
            self.socket_dir.display()
        )
    }

    fn start_server(&mut self) -> Result<(), EmbeddedError> {
        let pgdata = self.pgdata.to_string_lossy().into_owned();
        let status = self
            .command("pg_ctl")
            .args(["status", "-D", &pgdata])
            .output();
        if matches!(status, Ok(ref out) if out.status.success()) {
            tracing::info!(pg.data_dir = %pgdata, "using the private PostgreSQL cluster already running (left running on exit)");
            return Ok(());
        }
        let log = self
            .pgdata
            .parent()
            .map(|p| p.join("pg.log"))
            .unwrap_or_else(|| PathBuf::from("pg.log"));
        if let Some(run_as) = &self.run_as {
            if !log.exists() {
                std::fs::write(&log, b"").context("creating the cluster log")?;
            }
            std::os::unix::fs::chown(
                log.as_path(),
                Some(run_as.uid.as_raw()),
                Some(run_as.gid.as_raw()),
            )
            .context("giving the cluster log to the postgres user")?;
        }
        let options = format!(
            "-c listen_addresses='' -k {} -p {PORT}",
            self.socket_dir.display()
        );
        tracing::info!(pg.data_dir = %pgdata, "starting the private PostgreSQL cluster");
        self.run_checked(
            "pg_ctl",
            &[
                "start",
                "-D",
                &pgdata,
                "-l",
                &log.to_string_lossy(),
                "-w",
                "-t",
                "60",
                "-o",
                &options,
            ],
        )
        .with_context(|| format!("starting PostgreSQL (see {})", log.display()))?;
        self.running = true;
        Ok(())
    }

    fn ensure_database(&self) -> anyhow::Result<()> {
        #[derive(diesel::QueryableByName)]
        struct Exists {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            exists: bool,
        }
        let mut conn = PgConnection::establish(&self.url_for("postgres"))
            .context("connecting to the private cluster")?;
        let found: Exists = diesel::sql_query(format!(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{DATABASE}') AS exists"
        ))
        .get_result(&mut conn)?;
        if !found.exists {
            diesel::sql_query(format!("CREATE DATABASE {DATABASE}")).execute(&mut conn)?;
        }
        Ok(())
    }

    /// Stops the cluster (fast shutdown: open sessions are ended, data is flushed).
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let pgdata = self.pgdata.to_string_lossy().into_owned();
        match self.run_checked("pg_ctl", &["stop", "-D", &pgdata, "-m", "fast", "-w"]) {
            Ok(_) => tracing::info!("private PostgreSQL cluster stopped"),
            Err(e) => tracing::error!(error = %e, "stopping the private PostgreSQL cluster failed"),
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        // Own process group: the terminal's Ctrl-C must reach us, not the postmaster,
        // so in-flight requests can finish before we stop the cluster ourselves.
        cmd.process_group(0);
        if let Some(parent) = self.pgdata.parent() {
            cmd.current_dir(parent);
        }
        if let Some(run_as) = &self.run_as {
            cmd.uid(run_as.uid.as_raw()).gid(run_as.gid.as_raw());
            cmd.env("HOME", &self.pgdata);
        }
        cmd
    }

    fn run_checked(&self, program: &str, args: &[&str]) -> anyhow::Result<Output> {
        let out = self
            .command(program)
            .args(args)
            .output()
            .with_context(|| format!("running {program}"))?;
        if !out.status.success() {
            bail!(
                "{program} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        Ok(out)
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The newest PostgreSQL server binaries installed: `$FUNDTRAIL_PG_BIN`, then Debian's
/// `/usr/lib/postgresql/<major>/bin`, then `initdb` on PATH.
fn find_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FUNDTRAIL_PG_BIN").map(PathBuf::from) {
        return dir.join("initdb").exists().then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
    })
}
