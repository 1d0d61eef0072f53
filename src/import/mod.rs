//! Imports: other systems' records turned into the fund's own entries, through the same
//! ledger writer and fund effect as the API (docs/import.md). `ocds` today:
//! `fundtrail import ocds --fund F FILE` reads OCDS 1.1 releases (`read`), maps each
//! contracting process to procurement entries (`map`) and appends what is not yet
//! recorded (`run`).

pub mod map;
pub mod model;
pub mod read;
pub mod run;

use std::path::PathBuf;

use crate::config::{DbArgs, LedgerArgs};

#[derive(Debug, Clone, clap::Args)]
pub struct ImportOcdsArgs {
    /// The fund (id or exact name) the processes are recorded in.
    #[arg(long)]
    pub fund: String,
    /// Record every process for this ministry (id or exact name) instead of the
    /// release's buyer.
    #[arg(long)]
    pub ministry: Option<String>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// OCDS 1.1 releases: JSON lines (one release per line) or a release package.
    pub file: PathBuf,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub ledger: LedgerArgs,
}
