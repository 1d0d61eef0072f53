//! `fundtrail witness`: a small service a donor or an auditor runs on its own machine,
//! with its own Ed25519 key, to cosign fundtrail's checkpoints (C2SP tlog-witness and
//! tlog-cosignature). It cosigns a checkpoint only if the log's key signed it and it is
//! consistent with the last checkpoint of that chain the witness cosigned, so a rollback
//! or a fork shown to anyone who checks cosignatures is caught, even when the attacker
//! holds the database and the log's signing key.
//!
//! It is separate from `serve`: no database, no shared state with the service, its own
//! actix application. It uses only the ledger library.
//!
//! - `update`: the add-checkpoint decision, alarms and counters;
//! - `state`: the latest cosigned checkpoint per log, one file each, replaced atomically;
//! - `http`: the routes (tlog-witness `add-checkpoint`, the monitoring checkpoint,
//!   metrics);
//! - `client`: `add_checkpoint`, for a log pushing its checkpoints to witnesses;
//! - `push`: the log's side inside `serve`: every chain's latest checkpoint pushed to the
//!   configured witnesses, their cosignatures recorded.
//!
//! The cosignature format itself is `ledger::cosignature`.

pub mod client;
pub mod http;
pub mod push;
pub mod state;
pub mod update;

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::ledger::cosignature::Cosigner;
use crate::ledger::note::VerifierKey;

pub use update::{LogConfig, Witness};

/// `fundtrail witness [keygen]`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct WitnessCli {
    #[command(subcommand)]
    pub command: Option<WitnessCommand>,
    #[command(flatten)]
    pub run: WitnessArgs,
}

#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Generate the witness's Ed25519 key (C2SP signer-key format with signature type
    /// 0x04, mode 0600) and print its cosigner verifier key
    /// (`<name>+<key id>+<base64(0x04 || public key)>`), the key a log's clients trust.
    Keygen {
        /// Where to write the key; must not exist.
        #[arg(long)]
        out: PathBuf,
        /// The witness's name (a schema-less URL is recommended, e.g.
        /// `witness.donor.example/fundtrail`).
        #[arg(long, env = "FUNDTRAIL_WITNESS_NAME")]
        name: String,
    },
}

/// What the witness service runs with.
#[derive(Clone, Debug, Args)]
pub struct WitnessArgs {
    /// The witness's signing key file (`fundtrail witness keygen`; a key made by
    /// `fundtrail keygen` also works). Keep it off the log operator's machines.
    #[arg(long, env = "FUNDTRAIL_WITNESS_KEY", required = true)]
    pub key: Option<PathBuf>,

    /// The log's checkpoint verifier keys, one per line, as `fundtrail keygen` prints them
    /// and GET /api/v1/keys lists them (`#` comments and blank lines ignored). Every key
    /// is trusted for every --origin.
    #[arg(long, env = "FUNDTRAIL_WITNESS_LOG_KEY", required = true)]
    pub log_key: Option<PathBuf>,

    /// A checkpoint origin to witness, e.g. `fundtrail/<chain uuid>` or `fundtrail/admin`;
    /// repeat the flag, or separate with commas in the variable. Checkpoints of any other
    /// origin are refused (404).
    #[arg(
        long = "origin",
        env = "FUNDTRAIL_WITNESS_ORIGINS",
        value_delimiter = ',',
        required = true
    )]
    pub origins: Vec<String>,

    /// Address to listen on.
    #[arg(long, env = "FUNDTRAIL_WITNESS_BIND", default_value = "127.0.0.1:7380")]
    pub bind: SocketAddr,

    /// Directory of the witness's state (the latest cosigned checkpoint of each log).
    /// One witness process per directory.
    #[arg(
        long,
        env = "FUNDTRAIL_WITNESS_DATA_DIR",
        default_value = ".fundtrail-witness"
    )]
    pub data_dir: PathBuf,

    /// Seconds in-flight requests get to finish after SIGTERM/Ctrl-C.
    #[arg(
        long,
        env = "FUNDTRAIL_WITNESS_SHUTDOWN_TIMEOUT_S",
        default_value_t = 10
    )]
    pub shutdown_timeout_s: u64,
}

/// Reads the witness's key file.
pub fn load_key(path: &Path) -> anyhow::Result<Cosigner> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the witness key {}", path.display()))?;
    Cosigner::from_signer_string(text.trim())
        .map_err(|e| anyhow::anyhow!("{} is not a witness key: {e}", path.display()))
}

/// Reads a file of log verifier keys, one per line.
pub fn load_log_keys(path: &Path) -> anyhow::Result<Vec<VerifierKey>> {
    let keys = std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            VerifierKey::from_verifier_string(l)
                .map_err(|e| anyhow::anyhow!("{}: {l:?}: {e}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!keys.is_empty(), "{} holds no verifier key", path.display());
    Ok(keys)
}

/// `fundtrail witness keygen`: writes a new key to `out` (never overwriting a file) and
/// returns it.
pub fn keygen(out: &Path, name: &str) -> anyhow::Result<Cosigner> {
    let key = Cosigner::generate(name).map_err(|e| anyhow::anyhow!("generating a key: {e}"))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("creating {} (it must not exist yet)", out.display()))?;
    writeln!(file, "{}", key.to_signer_string())?;
    file.sync_all()?;
    Ok(key)
}

/// Builds the witness from its settings: key, logs, state directory.
pub fn open(args: &WitnessArgs) -> anyhow::Result<Witness> {
    let key_path = args
        .key
        .as_deref()
        .context("--key (FUNDTRAIL_WITNESS_KEY) is required")?;
    let log_key_path = args
        .log_key
        .as_deref()
        .context("--log-key (FUNDTRAIL_WITNESS_LOG_KEY) is required")?;
    let cosigner = load_key(key_path)?;
    let keys = load_log_keys(log_key_path)?;
    let logs = args
        .origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .map(|origin| {
            anyhow::ensure!(
                !origin.chars().any(|c| c < ' '),
                "origin {origin:?} contains a control character"
            );
            Ok(LogConfig {
                origin: origin.to_owned(),
                keys: keys.clone(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!logs.is_empty(), "no --origin to witness");
    let state = state::StateDir::open(&args.data_dir)?;
    Ok(Witness::new(cosigner, logs, state)?)
}

/// `fundtrail witness`: serves until SIGINT/SIGTERM.
pub fn run(args: &WitnessArgs) -> anyhow::Result<()> {
    let witness = actix_web::web::Data::new(open(args)?);
    tracing::info!(
        witness.key = witness.cosigner_key().to_verifier_string(),
        witness.origins = witness.origins().join(","),
        witness.data_dir = %args.data_dir.display(),
        "witness starting"
    );
    let bind = args.bind;
    let shutdown_timeout_s = args.shutdown_timeout_s;
    actix_web::rt::System::new().block_on(async move {
        let server = actix_web::HttpServer::new(move || http::build(witness.clone()))
            .workers(2)
            .shutdown_timeout(shutdown_timeout_s)
            .bind(bind)?
            .run();
        tracing::info!(http.bind = %bind, "witness listening (POST /add-checkpoint)");
        server.await
    })?;
    tracing::info!("witness stopped");
    Ok(())
}
