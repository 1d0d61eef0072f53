//! `fundtrail import bank --fund F --account A FILE`: a bank statement file (camt.053, or
//! CSV with `--csv-mapping`) recorded on the fund's chain for one of its registered
//! accounts, then the fund reconciled (docs/reconciliation.md). Importing the same
//! statement again records nothing new.

use std::path::PathBuf;

use crate::bank::csv::CsvMapping;
use crate::bank::{http::read_statements, service, store};
use crate::config::{DbArgs, LedgerArgs};
use crate::ledger::entry::Principal;

/// Largest statement file read.
const FILE_MAX_BYTES: u64 = 50 * 1024 * 1024;

#[derive(Debug, Clone, clap::Args)]
pub struct ImportBankArgs {
    /// The fund (id or exact name).
    #[arg(long)]
    pub fund: String,
    /// The registered account (its id, or the account as statements name it).
    #[arg(long)]
    pub account: String,
    /// A JSON file with the column mapping of a CSV statement (docs/reconciliation.md,
    /// "CSV"); without it the file is read as camt.053.
    #[arg(long = "csv-mapping")]
    pub csv_mapping: Option<PathBuf>,
    /// The statement file.
    pub file: PathBuf,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub ledger: LedgerArgs,
}

pub fn run_cli(args: &ImportBankArgs) -> anyhow::Result<()> {
    let size = std::fs::metadata(&args.file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?
        .len();
    if size > FILE_MAX_BYTES {
        anyhow::bail!(
            "{}: larger than {FILE_MAX_BYTES} bytes",
            args.file.display()
        );
    }
    let content = std::fs::read_to_string(&args.file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let mapping: Option<CsvMapping> = match &args.csv_mapping {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            Some(serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?)
        }
        None => None,
    };
    let format = if mapping.is_some() { "csv" } else { "camt.053" };
    let (database, pool, ledger) = crate::startup::open_ledger(&args.db, &args.ledger)?;
    let result = actix_web::rt::System::new().block_on(async {
        ledger
            .bootstrap()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut conn = pool.get()?;
        let fund = crate::startup::find_fund(&mut conn, &args.fund)?;
        let account = store::find_account(&mut conn, fund.id, &args.account)?.ok_or_else(|| {
            anyhow::anyhow!("no bank account {:?} in fund {}", args.account, fund.name)
        })?;
        drop(conn);
        let statements = read_statements(format, &content, mapping.as_ref(), &account)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
        let recorded =
            service::record_statements(&ledger, Principal::system(), fund.id, statements)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        let run = service::reconcile(&ledger, fund.id)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        service::announce_import(&ledger, fund.id, account.id, &recorded, &run)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for s in &recorded {
            eprintln!(
                "statement {}: {} lines, entry {}{}",
                s.statement_id,
                s.lines,
                s.seq,
                if s.replayed { " (recorded before)" } else { "" }
            );
        }
        eprintln!(
            "reconciliation: {} lines matched ({} partly), {} findings, {} new flags",
            run.matched_lines, run.partial_matches, run.findings, run.flags_raised
        );
        anyhow::Ok(())
    });
    drop(database);
    result
}
