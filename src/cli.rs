//! The command line: one binary, one subcommand per job.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use std::path::PathBuf;

use crate::config::{
    AuthArgs, DbArgs, DocumentArgs, HttpArgs, LedgerArgs, LogFormat, ReadArgs, ScreenArgs,
    WitnessArgs,
};

#[derive(Debug, Parser)]
#[command(
    name = "fundtrail",
    version,
    about = "Tamper-evident audit ledger for pooled donor funds"
)]
pub struct Cli {
    /// Log output format.
    #[arg(long, env = "FUNDTRAIL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up and matched once: the size of `Serve`'s settings costs nothing,
// and boxing them would only hide the flattened flags from the reader.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (migrates first). Without DATABASE_URL, starts a private cluster.
    Serve {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        read: ReadArgs,
        #[command(flatten)]
        http: HttpArgs,
        #[command(flatten)]
        ledger: LedgerArgs,
        #[command(flatten)]
        auth: AuthArgs,
        #[command(flatten)]
        screen: ScreenArgs,
        #[command(flatten)]
        witness: WitnessArgs,
        #[command(flatten)]
        documents: DocumentArgs,
    },
    /// Manage users from the command line (bootstrap the first admin).
    User {
        #[command(subcommand)]
        what: UserCommand,
    },
    /// Generate an Ed25519 checkpoint signing key (C2SP signer-key format, mode 0600) and
    /// print its public verifier key.
    Keygen {
        /// Where to write the key; must not exist.
        #[arg(long)]
        out: PathBuf,
        /// Key name (appears in every signature line).
        #[arg(long, env = "FUNDTRAIL_LOG_NAME", default_value = "fundtrail")]
        name: String,
    },
    /// Verify an exported chain offline, trusting nothing but the given public keys and
    /// (optionally) a checkpoint saved earlier. Exit 0: intact; 1: tampered; 2: unusable input.
    Verify {
        /// The export (JSON lines from GET /api/v1/chains/{chain}/export); `-` for stdin.
        #[arg(long)]
        export: PathBuf,
        /// A signed checkpoint saved earlier (receipt or GET .../checkpoint `note`).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Verifier keys, one per line (`<name>+<id>+<base64>`, from GET /api/v1/keys).
        #[arg(long)]
        public_key: PathBuf,
        /// Witnesses' cosigner verifier keys, one per line: the --checkpoint must carry
        /// their cosignatures (see --witnesses-required).
        #[arg(long, requires = "checkpoint")]
        witness_key: Option<PathBuf>,
        /// How many of the --witness-key witnesses must have cosigned (default: all).
        #[arg(long, requires = "witness_key")]
        witnesses_required: Option<usize>,
        /// Also check the evidence documents the chain cites against this directory
        /// (`fundtrail documents export` writes one; a directory document store works
        /// too): a missing or changed document is reported with the entry citing it.
        #[arg(long)]
        documents: Option<PathBuf>,
    },
    /// Evidence documents: copy a fund's documents out of the document store.
    Documents {
        #[command(subcommand)]
        what: DocumentsCommand,
    },
    /// Run a witness (C2SP tlog-witness): cosign this log's checkpoints with your own key,
    /// only when each is consistent with the last one you cosigned; refuse and raise an
    /// alarm on a rollback or a fork. No database. `witness keygen` makes its key.
    Witness(crate::witness::WitnessCli),
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Check a saved receipt offline (docs/ledger-format.md, "Receipts"): the checkpoint
    /// is signed by a published key, the entry hashes to its hash, the inclusion proof
    /// leads from it to the signed root, and every other member (seq, chain, the
    /// checkpoint's size, root and time) says the same. Exit 0: proven; 1: does not hold
    /// (the report names the member); 2: unusable input.
    VerifyReceipt {
        /// The JSON answer of an append (or of GET .../entries/{seq}/proof merged with the entry).
        #[arg(long)]
        receipt: PathBuf,
        /// Verifier keys, one per line (from GET /api/v1/keys); a key listed twice is one key.
        #[arg(long)]
        public_key: PathBuf,
        /// Witnesses' cosigner verifier keys, one per line: the receipt's checkpoint must
        /// carry their cosignatures (see --witnesses-required).
        #[arg(long)]
        witness_key: Option<PathBuf>,
        /// How many of the --witness-key witnesses must have cosigned (default: all).
        #[arg(long, requires = "witness_key")]
        witnesses_required: Option<usize>,
    },
    /// Recompute every fund's derived state (balances, allocation use, contract totals,
    /// tender stages) from its ledger entries. With --check, only compare and report:
    /// exit 0 when stored and rebuilt agree, 1 when they differ. Without, replace the
    /// stored state by the rebuilt one.
    Rebuild {
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Run the period screens (vendor concentration, below-threshold clustering, Benford,
    /// velocity spike, non-competitive share, amount outlier, unspent disbursements)
    /// over a period of one fund and print a JSON summary: per rule, flags raised and
    /// already present. Re-running a period raises nothing twice. Recorded in the
    /// administrative chain as `period_screen_run` (actor: system).
    Screen {
        /// The fund: its id or its name.
        #[arg(long)]
        fund: String,
        /// First business date of the period (YYYY-MM-DD).
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last business date of the period, included.
        #[arg(long)]
        to: chrono::NaiveDate,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        ledger: LedgerArgs,
    },
    /// Two-person control (docs/domain.md): `expire` records `approval_expired` for every
    /// request pending approval whose time ran out, as the service, and prints the
    /// expired requests as JSON. Run it regularly (e.g. hourly from cron or a systemd
    /// timer); an expired request can never be approved, swept or not.
    Approvals {
        #[command(subcommand)]
        what: ApprovalsCommand,
    },
    /// Import other systems' records into a fund as its own entries (docs/import.md).
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
    /// Create a demo fund with a year of activity (donors, ministries, vendors, procurement)
    /// and demo users for every role, through the same code paths as the API.
    SeedDemo(crate::seed::SeedArgs),
    /// Print the version.
    Version,
    /// Benchmarks against raw Postgres baselines measured in the same run.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DocumentsCommand {
    /// Copy every document a fund's entries cite into DIR/<sha256>, each checked against
    /// its hash; with the chain's export, DIR is checked offline by `verify --documents`.
    Export {
        /// The fund: its id or its name.
        #[arg(long)]
        fund: String,
        /// The directory to write (created if missing).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        documents: DocumentArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user with a role, creating its organisation if needed. The password is
    /// read from FUNDTRAIL_USER_PASSWORD or the first line of stdin — never from argv.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["admin", "treasurer", "ministry", "auditor", "donor"])]
        role: String,
        /// Organisation name (created if missing).
        #[arg(long)]
        org: String,
        /// Kind of a newly created organisation.
        #[arg(long, default_value = "operator", value_parser = ["donor", "ministry", "fund_secretariat", "audit_body", "vendor", "operator"])]
        org_kind: String,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        ledger: LedgerArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// Record the expiry of every request whose time ran out (of one fund, or all).
    Expire {
        /// Only this fund: its id or its name.
        #[arg(long)]
        fund: Option<String>,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        ledger: LedgerArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// OCDS 1.1 compiled releases (JSON lines or a release package): each contracting
    /// process becomes tender, bid, award, contract, amendment, invoice and payment
    /// entries, screened like entries posted through the API. Idempotent: importing the
    /// same file again appends nothing. Prints a report to stderr; exit 2 if the file
    /// could not be read to its end.
    Ocds(crate::import::ImportOcdsArgs),
    /// A bank statement (ISO 20022 camt.053 .001.02 or .001.08, or CSV with a declared
    /// column mapping) of a registered account: recorded on the fund's chain, then the
    /// fund reconciled (docs/reconciliation.md). Importing the same statement again
    /// records nothing new.
    Bank(crate::import::bank::ImportBankArgs),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Appends, batches, verification and proofs of the ledger core.
    Ledger(crate::bench::ledger::LedgerBenchArgs),
    /// Verification (server-side and offline, against COPY of the same rows, memory
    /// sampled) and proofs of an existing fund's chain; writes nothing.
    Chain(crate::bench::chain::ChainBenchArgs),
    /// Typed fund entries (disbursements, invoices, payments; screening on) over HTTP on
    /// one fund, single and in 100-entry batches, against pgbench, with where the time goes.
    Funds(crate::bench::funds::FundsBenchArgs),
    /// The three standard exports of a seeded fund, over HTTP (entries/s, peak RSS).
    Exports(crate::bench::exports::ExportBenchArgs),
    /// Latency of the statement, donor report and series over a seeded fund (p50, p95).
    Reports(crate::bench::reports::ReportBenchArgs),
    /// Report requests per second on the primary alone and with a streaming replica
    /// answering the read side (--read-database-url).
    Replica(crate::bench::replica::ReplicaBenchArgs),
    /// Precision and recall of every screening rule against a seeded year with injected
    /// schemes, and what screening adds to an append (docs/screening.md).
    Screening(crate::bench::screening::ScreeningBenchArgs),
    /// The screens against the reference red-flag tool (cardinal-rs) on real OCDS
    /// publications: per-indicator precision and recall per ocid, and import coverage.
    Ocds(crate::bench::ocds::OcdsBenchArgs),
    /// Precision and recall of the reconciliation flags on a seeded fund's year with
    /// generated bank statements and injected discrepancies (docs/reconciliation.md).
    /// Writes to the database: run it on a throw-away one.
    Reconciliation(crate::bench::reconciliation::ReconciliationBenchArgs),
}

/// Offline verification failed (the export is not what the keys and checkpoint vouch
/// for), or `rebuild --check` found a difference: exit code 1.
#[derive(Debug, thiserror::Error)]
#[error("verification failed")]
struct Tampered;

/// Parses the command line (clap prints its own usage errors and exits 2), runs the
/// command, and reports a failure exactly once: one `error: …` line on stderr, whatever
/// the log format, and exit 2. A command that fails returns its error here rather than
/// logging it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init(cli.log_format);
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<Tampered>() => ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            db,
            read,
            http,
            ledger,
            auth,
            screen,
            witness,
            documents,
        } => crate::startup::serve(
            &db, &read, &http, &ledger, &auth, &screen, &witness, &documents,
        ),
        Command::Documents {
            what:
                DocumentsCommand::Export {
                    fund,
                    out,
                    db,
                    documents,
                },
        } => {
            let report = crate::startup::export_documents(&db, &documents, &fund, &out)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::User {
            what:
                UserCommand::Create {
                    email,
                    role,
                    org,
                    org_kind,
                    db,
                    ledger,
                },
        } => {
            let password = match std::env::var("FUNDTRAIL_USER_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprintln!("password (then Enter):");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\n', '\r']).to_owned()
                }
            };
            let id = crate::startup::create_user(
                &db, &ledger, &email, &password, &role, &org, &org_kind,
            )?;
            println!("created user {id} ({email}, {role}) in {org}");
            Ok(())
        }
        Command::Keygen { out, name } => {
            let key = crate::ledger::keys::generate(&out, &name)?;
            println!("{}", key.verifier().to_verifier_string());
            Ok(())
        }
        Command::Witness(witness) => match witness.command {
            Some(crate::witness::WitnessCommand::Keygen { out, name }) => {
                let key = crate::witness::keygen(&out, &name)?;
                println!("{}", key.verifier().to_verifier_string());
                Ok(())
            }
            None => crate::witness::run(&witness.run),
        },
        Command::Verify {
            export,
            checkpoint,
            public_key,
            witness_key,
            witnesses_required,
            documents,
        } => {
            let policy = witness_key
                .map(|path| witness_policy(&path, witnesses_required))
                .transpose()?;
            anyhow::ensure!(
                documents.is_none() || export.as_os_str() != "-",
                "--documents reads the export twice: give it as a file, not stdin"
            );
            verify_offline(&export, checkpoint.as_deref(), &public_key, policy.as_ref())?;
            match documents {
                Some(dir) => verify_documents(&export, &dir),
                None => Ok(()),
            }
        }
        Command::Migrate { db } => {
            let database = crate::startup::resolve_database(&db)?;
            let applied = crate::db::migrate_url(&database.url)?;
            if applied.is_empty() {
                println!("database is up to date");
            } else {
                for version in applied {
                    println!("applied {version}");
                }
            }
            Ok(())
        }
        Command::VerifyReceipt {
            receipt,
            public_key,
            witness_key,
            witnesses_required,
        } => {
            let keys = read_keys(&public_key)?;
            let policy = witness_key
                .map(|path| witness_policy(&path, witnesses_required))
                .transpose()?;
            let text = std::fs::read_to_string(&receipt)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", receipt.display()))?;
            let report =
                crate::ledger::receipt::verify_witnessed_receipt(&text, &keys, policy.as_ref())
                    .map_err(|e| anyhow::anyhow!(e))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if report.ok {
                Ok(())
            } else {
                Err(Tampered.into())
            }
        }
        Command::Bench {
            what: BenchCommand::Ledger(args),
        } => crate::bench::ledger::run_ledger(&args),
        Command::Bench {
            what: BenchCommand::Chain(args),
        } => crate::bench::chain::run(&args),
        Command::Bench {
            what: BenchCommand::Funds(args),
        } => crate::bench::funds::run(&args),
        Command::Bench {
            what: BenchCommand::Exports(args),
        } => crate::bench::exports::run(&args),
        Command::Bench {
            what: BenchCommand::Reports(args),
        } => crate::bench::reports::run(&args),
        Command::Bench {
            what: BenchCommand::Replica(args),
        } => crate::bench::replica::run(&args),
        Command::Bench {
            what: BenchCommand::Screening(args),
        } => crate::bench::screening::run(&args),
        Command::Bench {
            what: BenchCommand::Ocds(args),
        } => crate::bench::ocds::run(&args),
        Command::Bench {
            what: BenchCommand::Reconciliation(args),
        } => crate::bench::reconciliation::run(&args),
        Command::Rebuild { check, db } => {
            let report = crate::startup::rebuild(&db, !check)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if check && !report.is_clean() {
                Err(Tampered.into())
            } else if !report.failed_entries.is_empty() {
                anyhow::bail!("some entries no longer apply; nothing was replaced")
            } else {
                Ok(())
            }
        }
        Command::Screen {
            fund,
            from,
            to,
            db,
            ledger,
        } => {
            let summary = crate::startup::screen(&db, &ledger, &fund, from, to)?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Command::Approvals {
            what: ApprovalsCommand::Expire { fund, db, ledger },
        } => {
            let expired = crate::startup::expire_approvals(&db, &ledger, fund.as_deref())?;
            println!("{}", serde_json::to_string_pretty(&expired)?);
            Ok(())
        }
        Command::Import {
            what: ImportCommand::Ocds(args),
        } => crate::import::run::run_cli(&args).map(|_| ()),
        Command::Import {
            what: ImportCommand::Bank(args),
        } => crate::import::bank::run_cli(&args),
        Command::SeedDemo(args) => {
            let report = crate::seed::run(&args)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            println!("demo users (password {:?}):", crate::seed::DEMO_PASSWORD);
            for (email, role, org) in crate::seed::DEMO_USERS {
                println!("  {email:<28} {role:<10} {org}");
            }
            Ok(())
        }
        Command::Version => {
            println!("fundtrail {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}

fn verify_offline(
    export: &std::path::Path,
    checkpoint: Option<&std::path::Path>,
    public_key: &std::path::Path,
    witnesses: Option<&crate::ledger::cosignature::WitnessPolicy>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::BufRead;

    let keys = read_keys(public_key)?;
    let trusted = checkpoint
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    // The saved checkpoint counts only with the required witnesses' cosignatures: a
    // checkpoint nobody outside saw could describe a history shown to this reader alone.
    if let (Some(policy), Some(note)) = (witnesses, trusted.as_deref()) {
        if let Err(e) = policy.check(note) {
            println!(
                "{}",
                serde_json::json!({"ok": false, "first_failure": {"seq": null,
                    "reason": "not_witnessed",
                    "detail": format!("the checkpoint is not cosigned by {} of the {} required witnesses: {e}",
                        policy.required, policy.witnesses.len())}})
            );
            return Err(Tampered.into());
        }
    }
    let input: Box<dyn BufRead> = if export.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin().lock()))
    } else {
        let file =
            std::fs::File::open(export).with_context(|| format!("opening {}", export.display()))?;
        Box::new(std::io::BufReader::with_capacity(1 << 20, file))
    };
    let report = crate::ledger::export::verify_offline(input, trusted.as_deref(), keys)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.ok {
        Ok(())
    } else {
        Err(Tampered.into())
    }
}

/// `verify --documents DIR`, after the chain itself verified: every document its
/// `evidence_attached` entries cite is in `DIR` with its recorded hash and size.
fn verify_documents(export: &std::path::Path, dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    let file =
        std::fs::File::open(export).with_context(|| format!("opening {}", export.display()))?;
    let report =
        crate::evidence::offline::check(std::io::BufReader::with_capacity(1 << 20, file), dir)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.ok {
        Ok(())
    } else {
        Err(Tampered.into())
    }
}

/// The keys of a key file, one per line (`#` comments and blank lines ignored), each
/// parsed by `parse`; an error names the file and the line.
fn key_file<K, E: std::fmt::Display>(
    path: &std::path::Path,
    parse: impl Fn(&str) -> Result<K, E>,
) -> anyhow::Result<Vec<K>> {
    use anyhow::Context;
    std::fs::read_to_string(path)
        .with_context(|| format!("reading {}", path.display()))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| parse(l).map_err(|e| anyhow::anyhow!("{}: {l:?}: {e}", path.display())))
        .collect()
}

/// A k-of-n witness policy from a file of cosigner verifier keys and the number required
/// (default: all of them).
fn witness_policy(
    path: &std::path::Path,
    required: Option<usize>,
) -> anyhow::Result<crate::ledger::cosignature::WitnessPolicy> {
    let keys = key_file(
        path,
        crate::ledger::cosignature::CosignerKey::from_verifier_string,
    )?;
    let k = required.unwrap_or(keys.len());
    crate::ledger::cosignature::WitnessPolicy::new(keys, k)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Verifier keys from a key file. A key listed twice is one key; two different keys
/// under one name and key ID are an error.
fn read_keys(path: &std::path::Path) -> anyhow::Result<Vec<crate::ledger::note::VerifierKey>> {
    let keys = key_file(path, crate::ledger::note::VerifierKey::from_verifier_string)?;
    anyhow::ensure!(!keys.is_empty(), "{} holds no verifier key", path.display());
    crate::ledger::note::distinct_keys(keys).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
