//! `fundtrail bench reconciliation`: precision and recall of the reconciliation flags on
//! a seeded fund's year (docs/reconciliation.md, "Measured precision and recall").
//!
//! On a database where `fundtrail seed-demo` recorded the fund: registers an account for
//! the secretariat and for each ministry that received money, generates the year's
//! statements with injected discrepancies (`seed::bank`), imports them as camt.053 through
//! the same reader and service as `fundtrail import bank`, reconciles once, and scores the
//! flags against the injections. It writes to that database: run it on a throw-away one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use crate::bank::effect::AccountBody;
use crate::bank::matching::{Side, AMOUNT_MISMATCH, UNPAID_ENTRY, UNRECORDED_DEBIT};
use crate::bank::{http::read_statements, service, store};
use crate::config::{DbArgs, LedgerArgs};
use crate::ledger::entry::Principal;
use crate::money::Currency;
use crate::schema::flags;
use crate::seed::bank::{account_name, camt053, generate, Injected};

#[derive(Debug, Clone, clap::Args)]
pub struct ReconciliationBenchArgs {
    /// The seeded fund (id or exact name).
    #[arg(long, default_value = crate::seed::DEMO_FUND)]
    pub fund: String,
    /// Seed of the statement generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Injections per case (unrecorded debit, unpaid payment, amount mismatch).
    #[arg(long, default_value_t = 5)]
    pub per_case: u32,
    /// Also write the generated statements here, one camt.053 file per account and month.
    #[arg(long)]
    pub statements: Option<PathBuf>,
    /// Also write the result (injections, flags, scores) here as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub ledger: LedgerArgs,
}

/// The score of one rule.
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    pub injected: usize,
    pub flagged: usize,
    pub true_positives: usize,
    pub precision: f64,
    pub recall: f64,
}

/// A reconciliation flag as scored.
#[derive(Debug, Clone, Serialize, Queryable)]
pub struct FlagSeen {
    pub rule: String,
    pub seq: i64,
    pub evidence: Vec<Option<i64>>,
    pub subject: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub fund: Uuid,
    pub seed: u64,
    pub per_case: u32,
    pub statements: usize,
    pub lines: usize,
    pub matched_lines: usize,
    pub reconcile_seconds: f64,
    pub injected: Vec<Injected>,
    /// Injections resolved to what their flag is raised on: the statement line's subject
    /// (`bank/<seq>/<line>`) of an injected debit.
    pub subjects: Vec<String>,
    pub flags: Vec<FlagSeen>,
    pub scores: BTreeMap<String, Score>,
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 {
        1.0
    } else {
        let (n, d) = (
            u32::try_from(n).unwrap_or(u32::MAX),
            u32::try_from(d).unwrap_or(u32::MAX),
        );
        f64::from(n) / f64::from(d)
    }
}

pub fn run(args: &ReconciliationBenchArgs) -> anyhow::Result<()> {
    let result = measure(args)?;
    println!("| rule | injected | flagged | true positives | precision | recall |");
    println!("|---|---|---|---|---|---|");
    for (rule, s) in &result.scores {
        println!(
            "| {rule} | {} | {} | {} | {:.3} | {:.3} |",
            s.injected, s.flagged, s.true_positives, s.precision, s.recall
        );
    }
    println!(
        "{} statements, {} lines, {} matched; reconciliation run {:.2} s",
        result.statements, result.lines, result.matched_lines, result.reconcile_seconds
    );
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_vec_pretty(&result)?)?;
    }
    Ok(())
}

/// Registers the accounts, imports the generated statements, reconciles and scores.
pub fn measure(args: &ReconciliationBenchArgs) -> anyhow::Result<BenchResult> {
    let (database, pool, ledger) = crate::startup::open_ledger(&args.db, &args.ledger)?;
    let result = actix_web::rt::System::new().block_on(async {
        ledger
            .bootstrap()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut conn = pool.get()?;
        let fund = crate::startup::find_fund(&mut conn, &args.fund)?;
        let currency = Currency::parse(&fund.currency).map_err(anyhow::Error::msg)?;
        let mut sides = vec![Side::Secretariat];
        for m in crate::funds::state::ministry_positions_of(&mut conn, fund.id)? {
            if m.disbursed > rust_decimal::Decimal::ZERO {
                sides.push(Side::Ministry(m.ministry_org_id));
            }
        }
        drop(conn);
        let mut names = BTreeMap::new();
        for side in &sides {
            let account = account_name(*side);
            let body = AccountBody {
                id: Uuid::new_v5(&fund.id, account.as_bytes()),
                account: account.clone(),
                currency,
                owner: if side.ministry().is_some() {
                    "ministry"
                } else {
                    "secretariat"
                }
                .to_owned(),
                ministry: side.ministry(),
                name: format!("Generated account {account}"),
            };
            names.insert(body.id, account);
            service::register_account(&ledger, Principal::system(), fund.id, body)
                .await
                .map_err(|e| anyhow::anyhow!("registering an account: {e}"))?;
        }
        let mut conn = pool.get()?;
        let accounts = store::accounts_of(&mut conn, fund.id)?;
        let facts = store::facts(&mut conn, fund.id)?;
        drop(conn);
        let by_side: BTreeMap<Side, (Uuid, String)> = accounts
            .iter()
            .map(|a| (a.side(), (a.id, a.currency.clone())))
            .collect();
        let generated = generate(&facts.entries, &by_side, args.seed, args.per_case);
        let (mut statements, mut lines) = (0, 0);
        for (account_id, bodies) in &generated.statements {
            let account = accounts
                .iter()
                .find(|a| a.id == *account_id)
                .ok_or_else(|| anyhow::anyhow!("account {account_id} vanished"))?;
            let iban = names.get(account_id).cloned().unwrap_or_default();
            for body in bodies {
                let xml = camt053(body, &iban);
                if let Some(dir) = &args.statements {
                    std::fs::create_dir_all(dir)?;
                    std::fs::write(dir.join(format!("{}.xml", body.statement_id)), &xml)?;
                }
                let read = read_statements("camt.053", &xml, None, account)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", body.statement_id))?;
                statements += read.len();
                lines += read.iter().map(|s| s.lines.len()).sum::<usize>();
                service::record_statements(&ledger, Principal::system(), fund.id, read)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}: {e}", body.statement_id))?;
            }
        }
        let started = Instant::now();
        let run = service::reconcile(&ledger, fund.id)
            .await
            .map_err(|e| anyhow::anyhow!("reconciling: {e}"))?;
        let reconcile_seconds = started.elapsed().as_secs_f64();
        let mut conn = pool.get()?;
        let mut seq_of: BTreeMap<String, i64> = BTreeMap::new();
        for a in &accounts {
            for s in store::statements_of(&mut conn, a.id)? {
                seq_of.insert(s.statement_id, s.seq);
            }
        }
        let seen: Vec<FlagSeen> = flags::table
            .filter(flags::fund_id.eq(fund.id))
            .filter(flags::rule.like("bank-%"))
            .select((
                flags::rule,
                flags::seq,
                flags::evidence,
                flags::subject,
                flags::message,
            ))
            .order((flags::seq, flags::rule, flags::subject))
            .load(&mut **conn)?;
        let subjects: Vec<String> = generated
            .injected
            .iter()
            .filter(|i| i.rule == UNRECORDED_DEBIT)
            .filter_map(|i| {
                let seq = seq_of.get(i.statement_id.as_deref()?)?;
                Some(format!("bank/{seq}/{}", i.line?))
            })
            .collect();
        let scores = score(&generated.injected, &subjects, &seen);
        anyhow::Ok(BenchResult {
            fund: fund.id,
            seed: args.seed,
            per_case: args.per_case,
            statements,
            lines,
            matched_lines: run.matched_lines,
            reconcile_seconds,
            injected: generated.injected,
            subjects,
            flags: seen,
            scores,
        })
    });
    drop(database);
    result
}

/// Precision and recall per rule: a flag is a true positive when it is about an injection
/// of its rule (the injected debit's line; the unpaid payment; the payment whose amount
/// differs, named in the evidence).
pub fn score(
    injected: &[Injected],
    subjects: &[String],
    flags: &[FlagSeen],
) -> BTreeMap<String, Score> {
    let mut scores = BTreeMap::new();
    for rule in [UNRECORDED_DEBIT, UNPAID_ENTRY, AMOUNT_MISMATCH] {
        let of_rule: Vec<&FlagSeen> = flags.iter().filter(|f| f.rule == rule).collect();
        let entries: BTreeSet<i64> = injected
            .iter()
            .filter(|i| i.rule == rule)
            .filter_map(|i| i.entry)
            .collect();
        let hit = |f: &FlagSeen| match rule {
            UNRECORDED_DEBIT => subjects.contains(&f.subject),
            _ => {
                entries.contains(&f.seq)
                    || f.evidence
                        .iter()
                        .skip(1)
                        .flatten()
                        .any(|s| entries.contains(s))
            }
        };
        let tp = of_rule.iter().filter(|f| hit(f)).count();
        let n = injected.iter().filter(|i| i.rule == rule).count();
        scores.insert(
            rule.to_owned(),
            Score {
                injected: n,
                flagged: of_rule.len(),
                true_positives: tp,
                precision: ratio(tp, of_rule.len()),
                recall: ratio(tp.min(n), n),
            },
        );
    }
    scores
}
