//! The command line: one binary, one subcommand per job.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{DbArgs, HttpArgs, LogFormat};

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (migrates first). Without DATABASE_URL, starts a private cluster.
    Serve {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        http: HttpArgs,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print the version.
    Version,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init(cli.log_format);
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "fundtrail failed");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { db, http } => crate::startup::serve(&db, &http),
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
        Command::Version => {
            println!("fundtrail {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}
