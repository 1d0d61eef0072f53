//! Configuration: every setting is an environment variable with a command-line override
//! (clap reads both; the flag wins). Defaults are chosen for a developer's machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// The ocid prefix of the OCDS export when none is configured. OCDS prefixes are `ocds-`
/// and six characters assigned by the Open Contracting Partnership; this one is NOT
/// registered: set `FUNDTRAIL_OCDS_PREFIX` to yours before publishing.
pub const DEFAULT_OCID_PREFIX: &str = "ocds-ftrail";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Where the database is, and how the service talks to it.
#[derive(Clone, Debug, Args)]
pub struct DbArgs {
    /// Postgres connection URL. Unset: a private cluster is started under --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Data directory of the embedded default (private cluster, signing key).
    #[arg(long, env = "FUNDTRAIL_DATA_DIR", default_value = ".fundtrail")]
    pub data_dir: PathBuf,

    /// Role every pooled connection switches to (`SET ROLE`); empty to disable.
    /// The migrations create it with INSERT/SELECT-only rights on ledger tables.
    #[arg(long, env = "FUNDTRAIL_DB_ROLE", default_value = "fundtrail_app")]
    pub db_role: String,

    /// Maximum connections in the pool; shared among the HTTP workers, it also bounds each
    /// worker's blocking threads.
    #[arg(long, env = "FUNDTRAIL_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,

    /// How long a request waits for a pooled connection, from when it queued for one, before
    /// answering 503.
    #[arg(long, env = "FUNDTRAIL_DB_CONNECT_TIMEOUT_MS", default_value_t = 5_000)]
    pub db_connect_timeout_ms: u64,

    /// Server-side limit on any one statement.
    #[arg(
        long,
        env = "FUNDTRAIL_DB_STATEMENT_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub db_statement_timeout_ms: u64,
}

impl DbArgs {
    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            role: Some(self.db_role.trim().to_owned()).filter(|r| !r.is_empty()),
            max_size: self.db_pool_size.max(1),
            connect_timeout: Duration::from_millis(self.db_connect_timeout_ms.max(1)),
            statement_timeout_ms: self.db_statement_timeout_ms,
        }
    }
}

/// The read side (docs/operations.md, "Scaling out"): a streaming replica of the primary
/// that answers pinned reads (reports, exports, entries, proofs, verification) once it has
/// replayed what the read is pinned to.
#[derive(Clone, Debug, Args)]
pub struct ReadArgs {
    /// Postgres URL of a streaming replica of the primary (hot standby). Unset: every read
    /// goes to the primary. Its login follows the same rules as DATABASE_URL's.
    #[arg(long, env = "FUNDTRAIL_READ_DATABASE_URL", hide_env_values = true)]
    pub read_database_url: Option<String>,

    /// How long a read waits for the replica to replay the point it is pinned to before it
    /// goes to the primary instead, in milliseconds (0 to 10,000).
    #[arg(long, env = "FUNDTRAIL_READ_WAIT_MS", default_value_t = 250,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub read_wait_ms: u64,
}

/// The pool's shape, separated from clap so tests can build one directly.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    pub role: Option<String>,
    pub max_size: u32,
    pub connect_timeout: Duration,
    pub statement_timeout_ms: u64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            role: Some("fundtrail_app".to_owned()),
            max_size: 16,
            connect_timeout: Duration::from_secs(5),
            statement_timeout_ms: 30_000,
        }
    }
}

/// HTTP server settings.
#[derive(Clone, Debug, Args)]
pub struct HttpArgs {
    /// Address to listen on.
    #[arg(long, env = "FUNDTRAIL_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "FUNDTRAIL_BODY_LIMIT_BYTES", default_value_t = 1024 * 1024)]
    pub body_limit_bytes: usize,

    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "FUNDTRAIL_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Seconds in-flight requests get to finish after SIGTERM/Ctrl-C.
    #[arg(long, env = "FUNDTRAIL_SHUTDOWN_TIMEOUT_S", default_value_t = 30)]
    pub shutdown_timeout_s: u64,

    /// Entries per summed block of the reports' cache (docs/reports.md, "Performance").
    /// A block is summed once every entry of it is below a report's checkpoint.
    #[arg(long, env = "FUNDTRAIL_REPORT_BLOCK_ENTRIES", default_value_t = 65_536,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub report_block_entries: i64,

    /// Let webhook subscriptions and deliveries reach loopback, link-local, private,
    /// multicast and unspecified addresses (a receiver on the operator's own network).
    /// Off by default: such URLs are refused (docs/notifications.md).
    #[arg(long, env = "FUNDTRAIL_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
}

/// Ledger settings: the signing key and the log's name.
#[derive(Clone, Debug, Args)]
pub struct LedgerArgs {
    /// Checkpoint signing key file (`fundtrail keygen` makes one). Default:
    /// `<data dir>/keys/checkpoint.key`, generated on first start if missing.
    #[arg(long, env = "FUNDTRAIL_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,

    /// When rotating: the outgoing signing key file. It is trusted, and its endorsement of
    /// the new key is recorded in the administrative chain, so whoever trusts it trusts the
    /// new key (docs/operations.md, "Checkpoint signing keys").
    #[arg(long, env = "FUNDTRAIL_PREVIOUS_SIGNING_KEY")]
    pub previous_signing_key: Option<PathBuf>,

    /// Verifier keys this service trusts besides its signing key's (earlier signing keys,
    /// other processes' keys): a file of C2SP verifier keys, one per line. Default:
    /// `<data dir>/keys/trusted.keys` when it exists. Keys are never trusted for being in
    /// the database.
    #[arg(long, env = "FUNDTRAIL_TRUSTED_KEYS")]
    pub trusted_keys: Option<PathBuf>,

    /// Name of this ledger: prefix of every checkpoint origin and name of new keys.
    #[arg(long, env = "FUNDTRAIL_LOG_NAME", default_value = "fundtrail")]
    pub log_name: String,

    /// How many days past today a business date may lie (clock skew, time zones).
    #[arg(long, env = "FUNDTRAIL_FUTURE_SKEW_DAYS", default_value_t = 1)]
    pub future_skew_days: u32,

    /// OCDS ocid prefix of the OCDS export (docs/exports.md); the default is unregistered.
    #[arg(long, env = "FUNDTRAIL_OCDS_PREFIX", default_value = DEFAULT_OCID_PREFIX)]
    pub ocds_prefix: String,
}

/// How often `serve` runs the period screens; `None`: never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScreenInterval(pub Option<Duration>);

/// Shortest and longest accepted schedule intervals.
const SCREEN_INTERVAL_S_MIN: u64 = 10;
const SCREEN_INTERVAL_S_MAX: u64 = 31 * 24 * 3_600;

/// `0` or `off`: disabled; otherwise a number of seconds, or a number with a unit `s`,
/// `m`, `h` or `d` (`90s`, `15m`, `1h`, `1d`), from 10 seconds to 31 days.
pub fn parse_screen_interval(s: &str) -> Result<ScreenInterval, String> {
    let s = s.trim();
    if s == "0" || s.eq_ignore_ascii_case("off") {
        return Ok(ScreenInterval(None));
    }
    let (digits, unit_s) = match s.char_indices().last() {
        Some((i, 's')) => (s.get(..i), 1),
        Some((i, 'm')) => (s.get(..i), 60),
        Some((i, 'h')) => (s.get(..i), 3_600),
        Some((i, 'd')) => (s.get(..i), 86_400),
        _ => (Some(s), 1),
    };
    let bad = || format!("{s:?} is not an interval: `0`/`off`, or e.g. `90s`, `15m`, `1h`, `1d`");
    let n: u64 = digits.ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let secs = n.checked_mul(unit_s).ok_or_else(bad)?;
    if !(SCREEN_INTERVAL_S_MIN..=SCREEN_INTERVAL_S_MAX).contains(&secs) {
        return Err(format!(
            "the screen interval is 10 seconds to 31 days (or `off`), not {s:?}"
        ));
    }
    Ok(ScreenInterval(Some(Duration::from_secs(secs))))
}

/// Period screens inside `serve` (docs/screening.md, "Schedule").
#[derive(Clone, Debug, Args)]
pub struct ScreenArgs {
    /// How often `serve` screens every active fund's last complete month and year to date
    /// (`90s`, `15m`, `1h`, `1d` or seconds; `0` or `off` disables).
    #[arg(long, env = "FUNDTRAIL_SCREEN_INTERVAL", default_value = "1h",
          value_parser = parse_screen_interval)]
    pub screen_interval: ScreenInterval,

    /// How often `serve` records the expiry of every active fund's approval requests whose
    /// time ran out (same format as --screen-interval; `0` or `off` disables).
    #[arg(long, env = "FUNDTRAIL_APPROVAL_EXPIRY_INTERVAL", default_value = "15m",
          value_parser = parse_screen_interval)]
    pub approval_expiry_interval: ScreenInterval,
}

/// The witnesses `serve` pushes its checkpoints to (docs/operations.md, "Witnesses").
#[derive(Clone, Debug, Args)]
pub struct WitnessArgs {
    /// A file of witnesses, one per line: `<url> <cosigner verifier key>` (the URL is the
    /// witness's submission prefix; `/add-checkpoint` is appended). Unset: no witnessing.
    #[arg(long, env = "FUNDTRAIL_WITNESSES")]
    pub witnesses: Option<PathBuf>,

    /// Seconds between two rounds of pushes (each pushes every chain's latest checkpoint
    /// to every witness that has not cosigned it), 1 to 3,600.
    #[arg(long, env = "FUNDTRAIL_WITNESS_INTERVAL_S", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub witness_interval_s: u64,

    /// How many of the witnesses must have cosigned a checkpoint for a report or export to
    /// be pinned to it (the default pin is then the latest checkpoint they cosigned). Unset:
    /// reports need no cosignature.
    #[arg(long, env = "FUNDTRAIL_WITNESSES_REQUIRED", requires = "witnesses")]
    pub witnesses_required: Option<usize>,
}

/// Where evidence documents are stored (docs/operations.md, "Evidence documents"): a
/// directory (the default, `<data dir>/documents`) or an S3-compatible bucket. Never the
/// database.
#[derive(Clone, Debug, Args)]
pub struct DocumentArgs {
    /// Directory of the document store. Default: `<data dir>/documents`. Ignored when
    /// --documents-s3-bucket is set.
    #[arg(long, env = "FUNDTRAIL_DOCUMENTS_DIR")]
    pub documents_dir: Option<PathBuf>,

    /// Store documents in this S3 bucket instead of a directory. Credentials: the
    /// --documents-s3-access-key-id pair when set, else the AWS environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, ...).
    #[arg(long, env = "FUNDTRAIL_DOCUMENTS_S3_BUCKET")]
    pub documents_s3_bucket: Option<String>,

    /// Endpoint of an S3-compatible store (MinIO, Ceph, ...); unset: AWS S3 itself.
    #[arg(
        long,
        env = "FUNDTRAIL_DOCUMENTS_S3_ENDPOINT",
        requires = "documents_s3_bucket"
    )]
    pub documents_s3_endpoint: Option<String>,

    /// Region of the bucket.
    #[arg(
        long,
        env = "FUNDTRAIL_DOCUMENTS_S3_REGION",
        default_value = "us-east-1"
    )]
    pub documents_s3_region: String,

    /// Access key id for the bucket (with --documents-s3-secret-access-key).
    #[arg(
        long,
        env = "FUNDTRAIL_DOCUMENTS_S3_ACCESS_KEY_ID",
        requires = "documents_s3_secret_access_key"
    )]
    pub documents_s3_access_key_id: Option<String>,

    /// Secret access key for the bucket.
    #[arg(
        long,
        env = "FUNDTRAIL_DOCUMENTS_S3_SECRET_ACCESS_KEY",
        hide_env_values = true,
        requires = "documents_s3_access_key_id"
    )]
    pub documents_s3_secret_access_key: Option<Secret>,

    /// Largest accepted document, in bytes (1 byte to 1 GiB).
    #[arg(long, env = "FUNDTRAIL_DOCUMENT_MAX_BYTES", default_value_t = DEFAULT_DOCUMENT_MAX_BYTES,
          value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub document_max_bytes: u64,
}

/// The default largest document: 25 MiB (a scanned multi-page invoice fits).
pub const DEFAULT_DOCUMENT_MAX_BYTES: u64 = 25 * 1024 * 1024;

impl DocumentArgs {
    pub fn settings(&self, data_dir: &std::path::Path) -> DocumentSettings {
        let store = match &self.documents_s3_bucket {
            Some(bucket) => DocumentStoreConfig::S3 {
                bucket: bucket.clone(),
                endpoint: self.documents_s3_endpoint.clone(),
                region: self.documents_s3_region.clone(),
                credentials: self
                    .documents_s3_access_key_id
                    .clone()
                    .zip(self.documents_s3_secret_access_key.clone().map(|s| s.0)),
            },
            None => DocumentStoreConfig::Directory(
                self.documents_dir
                    .clone()
                    .unwrap_or_else(|| data_dir.join("documents")),
            ),
        };
        DocumentSettings {
            store,
            max_bytes: self.document_max_bytes,
        }
    }
}

/// A secret setting: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Where the document store keeps documents.
#[derive(Clone, PartialEq, Eq)]
pub enum DocumentStoreConfig {
    /// A local directory, created when missing.
    Directory(PathBuf),
    /// An S3 bucket; `endpoint` for an S3-compatible server (plain `http://` is allowed
    /// only when written out here).
    S3 {
        bucket: String,
        endpoint: Option<String>,
        region: String,
        /// `(access key id, secret access key)`; `None`: the AWS environment.
        credentials: Option<(String, String)>,
    },
}

impl std::fmt::Debug for DocumentStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Directory(dir) => f.debug_tuple("Directory").field(dir).finish(),
            Self::S3 {
                bucket,
                endpoint,
                region,
                credentials,
            } => f
                .debug_struct("S3")
                .field("bucket", bucket)
                .field("endpoint", endpoint)
                .field("region", region)
                .field(
                    "credentials",
                    &credentials.as_ref().map(|(id, _)| (id, "..")),
                )
                .finish(),
        }
    }
}

/// The document store and its limit.
#[derive(Clone, Debug)]
pub struct DocumentSettings {
    pub store: DocumentStoreConfig,
    pub max_bytes: u64,
}

impl Default for DocumentSettings {
    /// A directory under the system's temporary directory: what tests and tools that
    /// build an `AppSettings` directly get; `serve` always configures its own.
    fn default() -> Self {
        Self {
            store: DocumentStoreConfig::Directory(std::env::temp_dir().join("fundtrail-documents")),
            max_bytes: DEFAULT_DOCUMENT_MAX_BYTES,
        }
    }
}

/// Authentication settings.
#[derive(Clone, Debug, Args)]
pub struct AuthArgs {
    /// JWT keys file (`<kid> <base64 secret>` per line, first signs). Default:
    /// `<data dir>/keys/jwt.keys`, generated on first start if missing.
    #[arg(long, env = "FUNDTRAIL_JWT_KEYS")]
    pub jwt_keys: Option<PathBuf>,

    /// Access token lifetime, in minutes.
    #[arg(long, env = "FUNDTRAIL_ACCESS_TTL_MIN", default_value_t = 15)]
    pub access_ttl_min: u32,

    /// Refresh token lifetime, in hours.
    #[arg(long, env = "FUNDTRAIL_REFRESH_TTL_H", default_value_t = 12)]
    pub refresh_ttl_h: u32,
}

impl AuthArgs {
    pub fn key_path(&self, data_dir: &std::path::Path) -> PathBuf {
        self.jwt_keys
            .clone()
            .unwrap_or_else(|| data_dir.join("keys").join("jwt.keys"))
    }
}

impl LedgerArgs {
    pub fn key_path(&self, data_dir: &std::path::Path) -> PathBuf {
        self.signing_key
            .clone()
            .unwrap_or_else(|| data_dir.join("keys").join("checkpoint.key"))
    }

    /// The trusted-keys file: the configured one (which must exist), or the default one
    /// when it exists.
    pub fn trusted_keys_path(&self, data_dir: &std::path::Path) -> Option<PathBuf> {
        match &self.trusted_keys {
            Some(p) => Some(p.clone()),
            None => Some(data_dir.join("keys").join("trusted.keys")).filter(|p| p.exists()),
        }
    }
}

/// The settings the HTTP application itself needs (shared by `serve` and the tests).
#[derive(Clone, Debug)]
pub struct AppSettings {
    pub body_limit_bytes: usize,
    /// Business dates may lie at most this far after today (UTC).
    pub future_skew: chrono::Days,
    /// Entries per summed block of the reports' cache (docs/reports.md, "Performance").
    pub report_block_entries: i64,
    /// OCDS ocid prefix (`ocds-` + 6 characters, registered with the Open Contracting
    /// Partnership) of the OCDS export.
    pub ocds_prefix: String,
    /// The evidence document store and its size limit.
    pub documents: DocumentSettings,
    /// Webhook subscriber URLs may reach loopback, link-local, private, multicast and
    /// unspecified addresses (docs/notifications.md, "Where deliveries may go").
    pub webhook_allow_private: bool,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            future_skew: chrono::Days::new(1),
            report_block_entries: 65_536,
            ocds_prefix: DEFAULT_OCID_PREFIX.to_owned(),
            documents: DocumentSettings::default(),
            webhook_allow_private: false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn screen_intervals() {
        let secs = |s: &str| parse_screen_interval(s).map(|i| i.0.map(|d| d.as_secs()));
        assert_eq!(secs("1h"), Ok(Some(3_600)));
        assert_eq!(secs("15m"), Ok(Some(900)));
        assert_eq!(secs("90s"), Ok(Some(90)));
        assert_eq!(secs("2d"), Ok(Some(172_800)));
        assert_eq!(secs("600"), Ok(Some(600)));
        assert_eq!(secs("0"), Ok(None));
        assert_eq!(secs("off"), Ok(None));
        assert_eq!(secs("OFF"), Ok(None));
        for bad in [
            "",
            "h",
            "1x",
            "-1h",
            "1.5h",
            "5s",
            "32d",
            "99999999999999999999d",
        ] {
            assert!(parse_screen_interval(bad).is_err(), "{bad:?}");
        }
    }
}
