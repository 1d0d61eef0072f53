//! Imports: other systems' records turned into the fund's own entries, through the same
//! ledger writer and fund effect as the API (docs/import.md). `ocds` today:
//! `fundtrail import ocds --fund F FILE` reads OCDS 1.1 releases (`read`), maps each
//! contracting process to procurement entries (`map`) and appends what is not yet
//! recorded (`run`).

pub mod bank;
pub mod map;
pub mod merge;
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
    /// Also write the report to this file as JSON lines: the summary, then every skip and
    /// every data-quality finding, one per line.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// A publisher's own bid status read as a codelist one, e.g.
    /// `--bid-status not-qualified=disqualified` (repeatable).
    #[arg(long = "bid-status", value_name = "WORD=STATUS")]
    pub bid_status: Vec<String>,
    /// A publisher's procurement method read as a codelist one, e.g.
    /// `--method limited=direct` (repeatable; open, selective, limited or direct).
    #[arg(long = "method", value_name = "WORD=METHOD")]
    pub method: Vec<String>,
    /// A publisher's own award status and what it means: `active` (recorded as an award
    /// in effect) or `disqualified` (the supplier was ruled out: its bid on the award's
    /// lot is recorded as disqualified), e.g. Prozorro's
    /// `--award-status unsuccessful=disqualified` (repeatable).
    #[arg(long = "award-status", value_name = "WORD=MEANING")]
    pub award_status: Vec<String>,
    /// Units of the fund's currency per euro at which the screens' euro-sized amount
    /// defaults are converted (the `amount_scale` setting), recorded as a
    /// `screening_config` entry before importing unless already in force.
    #[arg(long = "amount-scale", value_name = "RATE")]
    pub amount_scale: Option<String>,
    /// Any screening setting, recorded with `--amount-scale` in the same
    /// `screening_config`, e.g. `--screening award_tax_share=0.2` (repeatable).
    #[arg(long = "screening", value_name = "NAME=VALUE")]
    pub screening: Vec<String>,
    /// OCDS 1.1 files or directories (their `.json`, `.jsonl` and `.ndjson` files):
    /// JSON lines, release packages or record packages. The releases of one process may
    /// be spread over several files.
    #[arg(required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub ledger: LedgerArgs,
}
