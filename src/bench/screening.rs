//! `fundtrail bench screening`: precision and recall of every rule against a seeded fund
//! with known injected schemes (`seed-demo --inject-schemes`), and what screening costs
//! an append (docs/screening.md, "Measured precision and recall"; docs/benchmarks.md).
//!
//! Matching a flag to the ground truth (`score`, pure):
//! - an **instance is detected** when a flag of its rule has the instance's key entry in
//!   its evidence, or, for an instance about a subject (a ministry and/or vendor of a
//!   period rule), when a flag of its rule names that subject and its evidence holds an
//!   entry of the instance (or it names the same ministry and vendor);
//! - a **flag is true** when its evidence holds an entry of an instance of its rule;
//!   otherwise it is **on another scheme** when the entries it cites that belong to
//!   instances of other rules make more than half of their amount (of their number when
//!   some have none) — injected entries often fit more than one rule: three direct
//!   purchases that split a purchase are also three payments without contract, an
//!   inflated payment also makes a spending spike — and **false** otherwise: raised on
//!   the clean year;
//! - recall = detected / injected; precision = true / (true + false). Flags on other
//!   schemes are shown and left out of precision: they are neither evidence that the
//!   rule works nor false alarms on clean activity.
#![allow(clippy::as_conversions)] // counts to f64 for ratios only

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Instant;

use anyhow::Context;
use diesel::prelude::*;
use diesel::{Connection, PgConnection};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::config::{DbArgs, LedgerArgs};
use crate::seed::schemes::{Instance, Truth};
use crate::telemetry::cpu::CpuSpent;

/// The quality every screening rule is held to (docs/screening.md, "Measured precision and
/// recall"): recall and precision on the injected schemes of a seeded year.
pub const RECALL_TARGET: f64 = 0.95;
pub const PRECISION_TARGET: f64 = 0.9;

#[derive(Debug, Clone, clap::Args)]
pub struct ScreeningBenchArgs {
    /// Scale of the seeded year (about 1,300 clean entries per unit).
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    /// Seed of the generator and the injectors.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Instances injected per per-entry rule.
    #[arg(long, default_value_t = 8)]
    pub per_rule: u32,
    /// Keep the scored benchmark database (the first run with screening) afterwards.
    #[arg(long)]
    pub keep: bool,
    /// On/off rounds of the cost measurement (1-20): each round seeds the same fund with
    /// and without screening, in alternating order; the median of the rounds is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Names of the throw-away databases start with this (letters, digits, `_`), then a
    /// timestamp, the round and on/off.
    #[arg(long, default_value = "fundtrail_screenbench")]
    pub db_prefix: String,
    /// Also write the ground truth here.
    #[arg(long)]
    pub truth: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub ledger: LedgerArgs,
}

/// A flag as the scoring sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagFact {
    pub rule: String,
    pub seq: u64,
    pub evidence: Vec<u64>,
    pub ministry: Option<Uuid>,
    pub vendor: Option<Uuid>,
}

/// The score of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleScore {
    pub rule: String,
    pub injected: usize,
    pub detected: usize,
    /// Key entries of the instances not detected.
    pub missed: Vec<u64>,
    pub flags: usize,
    pub true_flags: usize,
    pub on_other_schemes: usize,
    pub false_flags: usize,
}

impl RuleScore {
    pub fn recall(&self) -> Option<f64> {
        (self.injected > 0).then(|| self.detected as f64 / self.injected as f64)
    }

    pub fn precision(&self) -> Option<f64> {
        let judged = self.true_flags + self.false_flags;
        (judged > 0).then(|| self.true_flags as f64 / judged as f64)
    }

    pub fn meets_targets(&self) -> bool {
        self.recall().is_some_and(|r| r >= RECALL_TARGET)
            && self.precision().is_none_or(|p| p >= PRECISION_TARGET)
    }
}

fn has_subject(i: &Instance) -> bool {
    i.ministry.is_some() || i.vendor.is_some()
}

/// The flag names the instance's subject: the same ministry (and the same vendor when
/// both name one), or, for a vendor-only flag, the same vendor.
fn same_subject(f: &FlagFact, i: &Instance) -> bool {
    match (f.ministry, f.vendor) {
        (Some(m), v) => {
            Some(m) == i.ministry && (v.is_none() || i.vendor.is_none() || v == i.vendor)
        }
        (None, Some(v)) => Some(v) == i.vendor,
        (None, None) => false,
    }
}

fn touches(f: &FlagFact, entries: &HashSet<u64>) -> bool {
    entries.contains(&f.seq) || f.evidence.iter().any(|s| entries.contains(s))
}

/// The flag is mostly about entries injected for other rules: more than half of the
/// amount of the entries it cites (the flagged one and its evidence) when all have an
/// amount in `amounts`, else more than half of them by count. (A period flag that cites
/// one small injected payment among large clean ones is judged on the clean year; one
/// whose total is mostly an injected inflated payment is not.)
fn mostly_other_schemes(
    f: &FlagFact,
    rule: &str,
    injected_by_rule: &BTreeMap<&str, HashSet<u64>>,
    amounts: &HashMap<u64, Decimal>,
) -> bool {
    let mut cited: BTreeSet<u64> = f.evidence.iter().copied().collect();
    cited.insert(f.seq);
    let other = |s: &u64| {
        injected_by_rule
            .iter()
            .any(|(r, set)| *r != rule && set.contains(s))
    };
    let weighed: Option<Vec<(Decimal, bool)>> = cited
        .iter()
        .map(|s| amounts.get(s).map(|a| (a.abs(), other(s))))
        .collect();
    match weighed {
        Some(w) if w.iter().any(|(a, _)| !a.is_zero()) => {
            let total: Decimal = w.iter().map(|(a, _)| *a).sum();
            let injected: Decimal = w.iter().filter(|(_, o)| *o).map(|(a, _)| *a).sum();
            injected + injected > total
        }
        _ => 2 * cited.iter().filter(|s| other(s)).count() > cited.len(),
    }
}

/// Scores every rule of `rules` (and every rule of the truth or the flags).
/// `amounts`: the amount of each entry (in the fund's currency) where it has one.
pub fn score(
    truth: &Truth,
    flags: &[FlagFact],
    rules: &[&str],
    amounts: &HashMap<u64, Decimal>,
) -> Vec<RuleScore> {
    let mut all: BTreeSet<String> = rules.iter().map(|r| (*r).to_owned()).collect();
    all.extend(truth.rules.keys().cloned());
    all.extend(flags.iter().map(|f| f.rule.clone()));
    let entries_of = |i: &Instance| -> HashSet<u64> { i.entries.iter().copied().collect() };
    let mut injected_by_rule: BTreeMap<&str, HashSet<u64>> = BTreeMap::new();
    for (rule, instances) in &truth.rules {
        let set = injected_by_rule.entry(rule.as_str()).or_default();
        for i in instances {
            set.extend(i.entries.iter().copied());
            set.insert(i.key);
        }
    }
    let mut out = Vec::new();
    for rule in all {
        let instances: &[Instance] = truth.rules.get(&rule).map_or(&[], Vec::as_slice);
        let own: Vec<&FlagFact> = flags.iter().filter(|f| f.rule == rule).collect();
        let sets: Vec<HashSet<u64>> = instances.iter().map(entries_of).collect();
        let mut s = RuleScore {
            rule: rule.clone(),
            injected: instances.len(),
            flags: own.len(),
            ..RuleScore::default()
        };
        for (i, set) in instances.iter().zip(&sets) {
            let found = own.iter().any(|f| {
                f.evidence.contains(&i.key)
                    || f.seq == i.key
                    || (has_subject(i) && same_subject(f, i) && touches(f, set))
            });
            if found {
                s.detected += 1;
            } else {
                s.missed.push(i.key);
            }
        }
        for f in &own {
            let matches = sets.iter().any(|set| touches(f, set));
            if matches {
                s.true_flags += 1;
            } else if mostly_other_schemes(f, &rule, &injected_by_rule, amounts) {
                s.on_other_schemes += 1;
            } else {
                s.false_flags += 1;
            }
        }
        out.push(s);
    }
    out
}

fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

/// The table, in Markdown.
pub fn table(scores: &[RuleScore]) -> String {
    let mut out = String::from(
        "| rule | injected | detected | recall | flags | true | on other schemes | false (clean data) | precision | targets |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in scores {
        let mut marks = Vec::new();
        if s.recall().is_none_or(|r| r < RECALL_TARGET) {
            marks.push("recall");
        }
        if s.precision().is_some_and(|p| p < PRECISION_TARGET) {
            marks.push("precision");
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            s.rule,
            s.injected,
            s.detected,
            ratio(s.recall()),
            s.flags,
            s.true_flags,
            s.on_other_schemes,
            s.false_flags,
            ratio(s.precision()),
            if marks.is_empty() {
                "met".to_owned()
            } else {
                format!("**missed: {}**", marks.join(", "))
            }
        ));
    }
    out
}

/// The rule codes the screens know: every `rule: "..."` of the per-entry and period
/// rules, and the period rules' list (read from the sources, so a new rule is counted
/// without anyone remembering to list it here).
pub fn known_rules() -> BTreeSet<&'static str> {
    let mut out: BTreeSet<&'static str> = crate::screening::run::PERIOD_RULES
        .iter()
        .copied()
        .collect();
    for src in [
        include_str!("../screening/rules/amounts.rs"),
        include_str!("../screening/rules/payments.rs"),
        include_str!("../screening/rules/procurement.rs"),
        include_str!("../screening/rules/timing.rs"),
        include_str!("../screening/period/concentration.rs"),
        include_str!("../screening/period/controls.rs"),
        include_str!("../screening/period/distribution.rs"),
        include_str!("../screening/period/flows.rs"),
    ] {
        for piece in src.split("rule: \"").skip(1) {
            if let Some(code) = piece.split('"').next() {
                if !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                    out.insert(code);
                }
            }
        }
    }
    out
}

/// Reads the fund's flags.
pub fn read_flags(conn: &mut PgConnection, fund: Uuid) -> QueryResult<Vec<FlagFact>> {
    use crate::schema::flags::dsl as f;
    type Row = (String, i64, Vec<Option<i64>>, Option<Uuid>, Option<Uuid>);
    let rows: Vec<Row> = f::flags
        .filter(f::fund_id.eq(fund))
        .select((
            f::rule,
            f::seq,
            f::evidence,
            f::ministry_org_id,
            f::vendor_org_id,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(rule, seq, evidence, ministry, vendor)| FlagFact {
            rule,
            seq: u64::try_from(seq).unwrap_or_default(),
            evidence: evidence
                .into_iter()
                .flatten()
                .filter_map(|s| u64::try_from(s).ok())
                .collect(),
            ministry,
            vendor,
        })
        .collect())
}

/// The amount (in the fund's currency) of each of the fund's entries that has one.
pub fn read_amounts(conn: &mut PgConnection, fund: Uuid) -> QueryResult<HashMap<u64, Decimal>> {
    use crate::schema::fund_entries::dsl as e;
    let rows: Vec<(i64, Option<Decimal>)> = e::fund_entries
        .filter(e::fund_id.eq(fund))
        .select((e::seq, e::amount_fund))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(s, a)| Some((u64::try_from(s).ok()?, a?)))
        .collect())
}

fn sql(conn: &mut PgConnection, q: &str) -> anyhow::Result<()> {
    diesel::sql_query(q)
        .execute(conn)
        .with_context(|| q.to_owned())?;
    Ok(())
}

/// The most on/off rounds `--rounds` accepts.
pub const ROUNDS_MAX: u32 = 20;

/// One seeding of the benchmark's fund: with screening or without, its append rate.
#[derive(Debug, Clone, Copy)]
pub struct CostRun {
    pub round: u32,
    pub screening: bool,
    pub entries: u64,
    pub append_seconds: f64,
    pub cpu: CpuSpent,
    /// Of `append_seconds`, the time inside the per-entry screens (0 without them).
    pub screening_seconds: f64,
}

impl CostRun {
    pub fn rate(&self) -> f64 {
        self.entries as f64 / self.append_seconds.max(1e-9)
    }

    /// Screening's own time over the rest of the append time of the same run, in percent:
    /// what the screens add, measured inside one run (it leaves out their indirect costs:
    /// the larger commit, caches).
    pub fn own_cost(&self) -> Option<f64> {
        let rest = self.append_seconds - self.screening_seconds;
        (self.screening && rest > 0.0).then(|| self.screening_seconds / rest * 100.0)
    }

    /// Client and server CPU per entry, in microseconds; `None` without the server's side.
    pub fn cpu_us_per_entry(&self) -> Option<f64> {
        Some(self.cpu.total_seconds()? * 1e6 / (self.entries.max(1) as f64))
    }
}

/// The median of `v` (sorted in place); `None` when empty.
pub fn median(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mid = n / 2;
    match n {
        0 => None,
        _ if n % 2 == 1 => v.get(mid).copied(),
        _ => Some((v.get(mid - 1)? + v.get(mid)?) / 2.0),
    }
}

/// What screening costs an append, over alternating rounds: the median append rate with
/// and without screening, their ranges, and each round's cost (off rate / on rate − 1),
/// whose median is the figure reported (pairing each round's two runs cancels the drift
/// of a shared machine between rounds).
#[derive(Debug, Clone, PartialEq)]
pub struct CostSummary {
    pub on_median: f64,
    pub on_range: (f64, f64),
    pub off_median: f64,
    pub off_range: (f64, f64),
    /// Per round, in percent.
    pub round_costs: Vec<f64>,
    pub cost_median: f64,
    /// The same from CPU time (client and server) per entry: per round, on CPU over off
    /// CPU − 1, in percent, and its median; `None` when the server's CPU was not read.
    pub cpu_round_costs: Vec<f64>,
    pub cpu_cost_median: Option<f64>,
    /// Median CPU per entry, in microseconds, with and without screening.
    pub cpu_on_median: Option<f64>,
    pub cpu_off_median: Option<f64>,
    /// Per screened run, screening's own time over the rest of that run (percent), and
    /// its median.
    pub own_costs: Vec<f64>,
    pub own_cost_median: Option<f64>,
}

pub fn cost_summary(runs: &[CostRun]) -> Option<CostSummary> {
    let rates = |screening: bool| -> Vec<f64> {
        runs.iter()
            .filter(|r| r.screening == screening)
            .map(CostRun::rate)
            .collect()
    };
    let range = |v: &[f64]| {
        (
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    let (mut on, mut off) = (rates(true), rates(false));
    let (on_range, off_range) = (range(&on), range(&off));
    let mut rounds: BTreeMap<u32, (Option<&CostRun>, Option<&CostRun>)> = BTreeMap::new();
    for r in runs {
        let e = rounds.entry(r.round).or_default();
        if r.screening {
            e.0 = Some(r);
        } else {
            e.1 = Some(r);
        }
    }
    let round_costs: Vec<f64> = rounds
        .values()
        .filter_map(|&(on, off)| Some((off?.rate() / on?.rate().max(1e-9) - 1.0) * 100.0))
        .collect();
    let cpu_round_costs: Vec<f64> = rounds
        .values()
        .filter_map(|&(on, off)| {
            Some((on?.cpu_us_per_entry()? / off?.cpu_us_per_entry()?.max(1e-9) - 1.0) * 100.0)
        })
        .collect();
    let cpu = |screening: bool| -> Vec<f64> {
        runs.iter()
            .filter(|r| r.screening == screening)
            .filter_map(CostRun::cpu_us_per_entry)
            .collect()
    };
    let own_costs: Vec<f64> = runs.iter().filter_map(CostRun::own_cost).collect();
    let mut costs = round_costs.clone();
    let mut cpu_costs = cpu_round_costs.clone();
    let mut own = own_costs.clone();
    Some(CostSummary {
        on_median: median(&mut on)?,
        on_range,
        off_median: median(&mut off)?,
        off_range,
        cost_median: median(&mut costs)?,
        round_costs,
        cpu_cost_median: median(&mut cpu_costs),
        cpu_round_costs,
        cpu_on_median: median(&mut cpu(true)),
        cpu_off_median: median(&mut cpu(false)),
        own_cost_median: median(&mut own),
        own_costs,
    })
}

pub fn run(args: &ScreeningBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=ROUNDS_MAX).contains(&args.rounds),
        "--rounds must be 1 to {ROUNDS_MAX}"
    );
    anyhow::ensure!(
        !args.db_prefix.is_empty()
            && args.db_prefix.len() <= 30
            && args
                .db_prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "--db-prefix must be 1 to 30 lower-case letters, digits or _"
    );
    let database = crate::startup::resolve_database(&args.db)?;
    let maintenance = match &database.embedded {
        Some(cluster) => cluster.url_for("postgres"),
        None => database.url.clone(),
    };
    let mut admin = PgConnection::establish(&maintenance)
        .context("connecting to create the benchmark databases")?;
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let prefix = format!("{}_{stamp}", args.db_prefix);
    let mut created = Vec::new();
    let result = run_in(args, &maintenance, &prefix, &mut admin, &mut created);
    for n in &created {
        if args.keep && n.ends_with("_0_on") {
            eprintln!("bench: kept database {n}");
            continue;
        }
        let _ = sql(
            &mut admin,
            &format!("DROP DATABASE IF EXISTS {n} WITH (FORCE)"),
        );
    }
    drop(database);
    result
}

fn run_in(
    args: &ScreeningBenchArgs,
    maintenance: &str,
    prefix: &str,
    admin: &mut PgConnection,
    created: &mut Vec<String>,
) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("fundtrail-screenbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let seed_args = |db_name: &str, no_screening: bool| -> anyhow::Result<crate::seed::SeedArgs> {
        let mut db = args.db.clone();
        db.database_url = Some(crate::bench::with_database(maintenance, db_name)?);
        db.data_dir = dir.clone();
        Ok(crate::seed::SeedArgs {
            scale: args.scale,
            seed: args.seed,
            no_screening,
            inject_schemes: true,
            truth: None,
            per_rule: args.per_rule,
            db,
            ledger: args.ledger.clone(),
        })
    };
    // The same seeded entries, screened and not, in alternating order (on/off, off/on,
    // ...), each into a fresh database. The first screened fund is the one scored.
    let mut runs: Vec<CostRun> = Vec::new();
    let mut scored: Option<(crate::seed::SeedArgs, Truth, u64)> = None;
    for round in 0..args.rounds {
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for screening in order {
            let name = format!("{prefix}_{round}_{}", if screening { "on" } else { "off" });
            sql(admin, &format!("CREATE DATABASE {name}"))?;
            created.push(name.clone());
            // Each seeding starts right after a checkpoint, so that neither the timed one
            // (`checkpoint_timeout`) nor one forced by the WAL the earlier rounds wrote
            // (`max_wal_size`) lands inside one run and not the other. Without the right
            // (superuser or `pg_checkpoint`) the rounds are still measured, with that noise.
            if let Err(e) = sql(admin, "CHECKPOINT") {
                eprintln!("bench: no CHECKPOINT before the run ({e:#})");
            }
            let seeded = seed_args(&name, !screening)?;
            eprintln!(
                "bench: round {}/{}, seeding {} screening (scale {}, seed {})",
                round + 1,
                args.rounds,
                if screening { "with" } else { "without" },
                args.scale,
                args.seed
            );
            let (report, truth) = crate::seed::run_with_truth(&seeded)?;
            if let Some((_, _, entries)) = &scored {
                anyhow::ensure!(
                    *entries == report.entries,
                    "the seeded funds differ ({entries} and {} entries)",
                    report.entries
                );
            }
            runs.push(CostRun {
                round,
                screening,
                entries: report.entries,
                append_seconds: report.append_seconds,
                cpu: report.append_cpu,
                screening_seconds: report.screening_seconds,
            });
            if screening && scored.is_none() {
                let truth = truth.context("the seeder returned no ground truth")?;
                scored = Some((seeded, truth, report.entries));
            } else {
                // Only the scored fund is needed afterwards.
                sql(
                    admin,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                )?;
                created.retain(|n| *n != name);
            }
        }
    }
    let (on, truth, entries) = scored.context("no screened run")?;
    if let Some(path) = &args.truth {
        std::fs::write(path, serde_json::to_string_pretty(&truth)?)?;
    }
    eprintln!("bench: period screens {}..{}", truth.from, truth.to);
    let started = Instant::now();
    let summary = crate::startup::screen(
        &on.db,
        &on.ledger,
        &truth.fund.to_string(),
        truth.from,
        truth.to,
    )?;
    let period_seconds = started.elapsed().as_secs_f64();
    let url = on.db.database_url.clone().unwrap_or_default();
    let mut conn = PgConnection::establish(&url)?;
    let flags = read_flags(&mut conn, truth.fund)?;
    let rules: Vec<&str> = known_rules().into_iter().collect();
    let amounts = read_amounts(&mut conn, truth.fund)?;
    let scores = score(&truth, &flags, &rules, &amounts);

    println!(
        "Seeded fund: scale {}, seed {}, {} entries ({} to {}), {} injected instances, {} flags.\n",
        args.scale,
        args.seed,
        entries,
        truth.from,
        truth.to,
        truth.rules.values().map(Vec::len).sum::<usize>(),
        flags.len()
    );
    print!("{}", table(&scores));
    println!();
    let met = scores.iter().filter(|s| s.meets_targets()).count();
    println!(
        "{met} of {} rules meet both targets (recall >= {RECALL_TARGET}, precision >= {PRECISION_TARGET}).",
        scores.len()
    );
    for s in scores.iter().filter(|s| !s.missed.is_empty()) {
        println!("missed {}: key entries {:?}", s.rule, s.missed);
    }
    println!();
    println!(
        "| round | run | seconds | of which screening | entries/s | client CPU s | server CPU s | CPU µs/entry |\n|---|---|---|---|---|---|---|---|"
    );
    let or_na =
        |v: Option<f64>, digits: usize| v.map_or("n/a".to_owned(), |v| format!("{v:.digits$}"));
    for r in &runs {
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.0} | {:.2} | {} | {} |",
            r.round + 1,
            if r.screening {
                "with per-entry screening"
            } else {
                "without (--no-screening)"
            },
            r.append_seconds,
            r.screening_seconds,
            r.rate(),
            r.cpu.client_seconds,
            or_na(r.cpu.server_seconds, 2),
            or_na(r.cpu_us_per_entry(), 0),
        );
    }
    if let Some(c) = cost_summary(&runs) {
        println!(
            "\nAppend rate over {} alternating rounds: with screening median {:.0} entries/s \
             (range {:.0}-{:.0}), without median {:.0} (range {:.0}-{:.0}).",
            args.rounds,
            c.on_median,
            c.on_range.0,
            c.on_range.1,
            c.off_median,
            c.off_range.0,
            c.off_range.1
        );
        println!(
            "Screening adds {:.0}% to the cost of an append (median of the rounds; per round: {}; target: at most 25%).",
            c.cost_median,
            c.round_costs
                .iter()
                .map(|x| format!("{x:+.0}%"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        match c.cpu_cost_median {
            Some(m) => println!(
                "CPU per entry (this process and the database's backends): with screening median {} µs, without {} µs; screening adds {m:.0}% (median of the rounds; per round: {}).",
                or_na(c.cpu_on_median, 0),
                or_na(c.cpu_off_median, 0),
                c.cpu_round_costs
                    .iter()
                    .map(|x| format!("{x:+.0}%"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => println!("CPU per entry: the server's backends are not on this machine; not measured."),
        }
        if let Some(m) = c.own_cost_median {
            println!(
                "Inside the screened runs, the screens' own time is {m:.0}% of the rest of the append time (median; per run: {}).",
                c.own_costs
                    .iter()
                    .map(|x| format!("{x:.0}%"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    println!(
        "Period screens over the year ({} payments and awards): {period_seconds:.1} s end to end (`fundtrail screen` code path), {} flags raised.",
        summary.entries,
        summary.raised()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// Medians and ranges of the rates, and the median of the rounds' own costs (each
    /// round's off rate over its on rate).
    #[test]
    fn cost_is_the_median_of_paired_rounds() {
        let run = |round, screening, entries_per_second: f64| CostRun {
            round,
            screening,
            entries: 1_000,
            append_seconds: 1_000.0 / entries_per_second,
            // (1 + (150 − rate) / 100) ms of CPU per entry: slower runs spend more.
            cpu: CpuSpent {
                client_seconds: 0.5,
                server_seconds: Some(0.5 + (150.0 - entries_per_second) / 100.0),
            },
            // A fifth of a screened run's time is screening: 25 % of the rest.
            screening_seconds: if screening {
                200.0 / entries_per_second
            } else {
                0.0
            },
        };
        let runs = [
            run(0, true, 100.0),
            run(0, false, 120.0),
            run(1, false, 130.0),
            run(1, true, 100.0),
            run(2, true, 90.0),
            run(2, false, 150.0),
        ];
        let c = cost_summary(&runs).unwrap();
        let near = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert!(
            near(c.on_median, 100.0) && near(c.off_median, 130.0),
            "{c:?}"
        );
        assert!(
            near(c.on_range.0, 90.0) && near(c.on_range.1, 100.0),
            "{c:?}"
        );
        assert_eq!(c.round_costs.len(), 3);
        assert!(near(c.cost_median, 30.0), "{c:?}");
        // CPU per entry: on 1500, 1500, 1600 µs; off 1300, 1200, 1000 µs.
        assert!(near(c.cpu_on_median.unwrap(), 1_500.0), "{c:?}");
        assert!(near(c.cpu_off_median.unwrap(), 1_200.0), "{c:?}");
        assert!(near(c.cpu_cost_median.unwrap(), 25.0), "{c:?}");
        assert_eq!(c.own_costs.len(), 3, "one per screened run");
        assert!(near(c.own_cost_median.unwrap(), 25.0), "{c:?}");
        // A round that lost one of its runs counts only in the rates.
        assert_eq!(
            cost_summary(&runs[..5]).unwrap().round_costs.len(),
            2,
            "round 3 has no off run"
        );
        assert!(cost_summary(&[]).is_none());
        assert_eq!(median(&mut [3.0, 1.0, 2.0, 10.0]), Some(2.5));
    }

    fn inst(key: u64, entries: &[u64]) -> Instance {
        Instance {
            scheme: String::new(),
            key,
            entries: entries.to_vec(),
            ministry: None,
            vendor: None,
        }
    }

    fn flag(rule: &str, seq: u64, evidence: &[u64]) -> FlagFact {
        FlagFact {
            rule: rule.to_owned(),
            seq,
            evidence: evidence.to_vec(),
            ministry: None,
            vendor: None,
        }
    }

    fn truth(rules: Vec<(&str, Vec<Instance>)>) -> Truth {
        Truth {
            fund: Uuid::nil(),
            seed: 1,
            scale: 1,
            from: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            to: chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            rules: rules.into_iter().map(|(r, i)| (r.to_owned(), i)).collect(),
        }
    }

    fn by_rule(scores: &[RuleScore], rule: &str) -> RuleScore {
        scores.iter().find(|s| s.rule == rule).unwrap().clone()
    }

    #[test]
    fn recall_and_precision_by_hand() {
        let t = truth(vec![
            // Four split purchases: keys 12, 22, 32, 42.
            (
                "split-purchase",
                vec![
                    inst(12, &[10, 11, 12]),
                    inst(22, &[20, 21, 22]),
                    inst(32, &[30, 31, 32]),
                    inst(42, &[40, 41, 42]),
                ],
            ),
            ("payment-without-contract", vec![inst(50, &[50])]),
        ]);
        let flags = vec![
            // Detects instance 1 (key in evidence), twice (both flags true).
            flag("split-purchase", 12, &[12, 10, 11]),
            flag("split-purchase", 13, &[13, 12]),
            // Cites instance 2 but not its key: true flag, instance not detected.
            flag("split-purchase", 21, &[21, 20]),
            // On clean data: false.
            flag("split-purchase", 99, &[99, 98]),
            // Detects instance 4 by the key as the flagged entry.
            flag("split-purchase", 42, &[42]),
            // The injected instance, and three collateral flags on split purchases.
            flag("payment-without-contract", 50, &[50]),
            flag("payment-without-contract", 10, &[10]),
            flag("payment-without-contract", 11, &[11]),
            flag("payment-without-contract", 12, &[12]),
            flag("payment-without-contract", 77, &[77]),
            // Cites one split-purchase entry among two clean ones: judged on clean data.
            flag("payment-without-contract", 78, &[78, 79, 10]),
        ];
        let s = score(
            &t,
            &flags,
            &["split-purchase", "backdated"],
            &HashMap::new(),
        );
        let split = by_rule(&s, "split-purchase");
        assert_eq!((split.injected, split.detected), (4, 2));
        assert_eq!(split.missed, vec![22, 32]);
        assert_eq!(split.recall(), Some(0.5));
        assert_eq!(
            (
                split.flags,
                split.true_flags,
                split.on_other_schemes,
                split.false_flags
            ),
            (5, 4, 0, 1)
        );
        assert_eq!(split.precision(), Some(0.8));
        assert!(!split.meets_targets());
        let pwc = by_rule(&s, "payment-without-contract");
        assert_eq!((pwc.injected, pwc.detected), (1, 1));
        assert_eq!(
            (pwc.true_flags, pwc.on_other_schemes, pwc.false_flags),
            (1, 3, 2)
        );
        assert_eq!(pwc.precision(), Some(1.0 / 3.0));
        // A rule with neither instances nor flags is listed, with no ratios.
        let b = by_rule(&s, "backdated");
        assert_eq!(
            (b.injected, b.flags, b.recall(), b.precision()),
            (0, 0, None, None)
        );
        assert!(!b.meets_targets(), "no instance: recall cannot be claimed");
        let text = table(&s);
        assert!(text.contains("| split-purchase | 4 | 2 | 0.50 | 5 | 4 | 0 | 1 | 0.80 | **missed: recall, precision** |"), "{text}");
        assert!(text.contains("| payment-without-contract | 1 | 1 | 1.00 | 6 | 1 | 3 | 2 | 0.33 | **missed: precision** |"), "{text}");
    }

    #[test]
    fn period_instances_match_by_subject() {
        let (m1, m2, v1, v2) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let mut conc = inst(5, &[3, 4, 5]);
        conc.ministry = Some(m1);
        conc.vendor = Some(v1);
        let t = truth(vec![("vendor-concentration", vec![conc])]);
        let named = |m: Option<Uuid>, v: Option<Uuid>, evidence: &[u64]| FlagFact {
            ministry: m,
            vendor: v,
            ..flag("vendor-concentration", *evidence.last().unwrap(), evidence)
        };
        // Same ministry and vendor, evidence the latest payments only (not the key):
        // detected and true.
        let s = score(
            &t,
            &[named(Some(m1), Some(v1), &[1, 4])],
            &[],
            &HashMap::new(),
        );
        let c = by_rule(&s, "vendor-concentration");
        assert_eq!((c.detected, c.true_flags, c.false_flags), (1, 1, 0));
        assert!(c.meets_targets());
        // Another vendor of the same ministry, on clean entries: not detected, false.
        let s = score(
            &t,
            &[named(Some(m1), Some(v2), &[7, 8])],
            &[],
            &HashMap::new(),
        );
        let c = by_rule(&s, "vendor-concentration");
        assert_eq!((c.detected, c.true_flags, c.false_flags), (0, 0, 1));
        // Another ministry: false.
        let s = score(&t, &[named(Some(m2), Some(v1), &[9])], &[], &HashMap::new());
        assert_eq!(by_rule(&s, "vendor-concentration").false_flags, 1);
        // A vendor-only flag (Benford of a vendor) matches an instance naming the vendor.
        let s = score(&t, &[named(None, Some(v1), &[11, 3])], &[], &HashMap::new());
        let c = by_rule(&s, "vendor-concentration");
        assert_eq!((c.detected, c.true_flags), (1, 1));
        // Naming the subject is not enough: the flag must cite the instance's entries.
        let s = score(
            &t,
            &[named(Some(m1), Some(v1), &[12, 13])],
            &[],
            &HashMap::new(),
        );
        let c = by_rule(&s, "vendor-concentration");
        assert_eq!((c.detected, c.true_flags, c.false_flags), (0, 0, 1));
    }

    #[test]
    fn a_flag_mostly_about_another_scheme_by_amount() {
        let t = truth(vec![
            ("amount-outlier", vec![inst(5, &[5])]),
            ("velocity-spike", vec![inst(50, &[50, 51])]),
        ]);
        // A rush of four payments, one of them the injected inflated payment 5.
        let rush = flag("velocity-spike", 4, &[1, 2, 3, 4, 5]);
        let amounts = |big: i64| -> HashMap<u64, Decimal> {
            [(1, 10), (2, 10), (3, 10), (4, 10), (5, big)]
                .into_iter()
                .map(|(s, a)| (s, Decimal::from(a)))
                .collect()
        };
        // By count (no amounts) or when the injected payment is small: the clean year's.
        for a in [HashMap::new(), amounts(30)] {
            let s = score(&t, std::slice::from_ref(&rush), &[], &a);
            let v = by_rule(&s, "velocity-spike");
            assert_eq!((v.on_other_schemes, v.false_flags), (0, 1));
        }
        // Mostly the inflated payment by amount: on another scheme.
        let s = score(&t, std::slice::from_ref(&rush), &[], &amounts(1_000));
        let v = by_rule(&s, "velocity-spike");
        assert_eq!(
            (v.on_other_schemes, v.false_flags, v.precision()),
            (1, 0, None)
        );
    }

    #[test]
    fn every_known_rule_has_an_injector() {
        let known = known_rules();
        let injected = crate::seed::schemes::injected_rules();
        assert!(
            known.contains("split-purchase") && known.contains("benford"),
            "{known:?}"
        );
        assert_eq!(
            known, injected,
            "a rule without an injector (or an injector without a rule): add one to seed/schemes.rs"
        );
    }
}
