//! `fundtrail bench ocds`: fundtrail's screens against the Open Contracting Partnership's
//! reference red-flag tool, cardinal-rs (`ocdscardinal indicators`), on the same real
//! publications (docs/import.md, "Measured against cardinal"; docs/benchmarks.md).
//!
//! For each `*.jsonl` file of compiled releases in `--data` (one publisher each, fetched by
//! `scripts/fetch-ocds-samples`) it creates a fund in the file's main currency in a fresh
//! database, records the aligned settings as the fund's `screening_config`, imports the
//! file with `import ocds` (every process for one ministry), and runs `ocdscardinal
//! prepare` and `indicators` on the same file with the same settings written as
//! cardinal's INI (and the same mapping of a publisher's own bid statuses). It then
//! compares, per indicator both tools define, the set of ocids each flags: cardinal is the
//! reference, so precision is the share of fundtrail's ocids cardinal flags too, and recall
//! the share of cardinal's ocids fundtrail flags. It also reports coverage: the share of
//! processes with a tender, an award or a contract of which at least one entry was recorded.
//! Statistics use floats; money never appears here.
#![allow(clippy::as_conversions)] // usize -> f64 for shares only

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use diesel::{Connection, ExpressionMethods, PgConnection, QueryDsl, RunQueryDsl};
use serde_json::{json, Value};

use crate::auth::guard::Role;
use crate::bench::sql;
use crate::config::{DbArgs, LedgerArgs};
use crate::entries::effect::FundEffect;
use crate::funds::ctx::{Actor, FundCtx};
use crate::ledger::writer::AppendRequest;
use crate::money::Currency;

#[derive(Debug, Clone, clap::Args)]
pub struct OcdsBenchArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub ledger: LedgerArgs,
    /// Folder of `*.jsonl` files of compiled releases, one publisher per file
    /// (`scripts/fetch-ocds-samples` writes data/ocds).
    #[arg(long, default_value = "data/ocds")]
    pub data: PathBuf,
    /// The `ocdscardinal` executable (cardinal-rs 0.0.8, built with
    /// `cargo build --release --no-default-features`).
    #[arg(long, env = "FUNDTRAIL_OCDSCARDINAL", default_value = "ocdscardinal")]
    pub cardinal: PathBuf,
    /// Prefix of the throw-away database's name.
    #[arg(long, default_value = "ocdsbench")]
    pub db_prefix: String,
    /// Keep the database afterwards (its name is printed).
    #[arg(long)]
    pub keep: bool,
    /// Folder for cardinal's settings and results and fundtrail's import reports
    /// (default: a folder under the system's temporary directory, kept).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// One indicator both tools define, and fundtrail's counterpart (a rule, and for
/// `bid-spread`, which covers both ends, the severity that tells them apart).
struct Pair {
    code: &'static str,
    what: &'static str,
    rule: &'static str,
    severity: Option<&'static str>,
}

const PAIRS: [Pair; 7] = [
    Pair {
        code: "R003",
        what: "short submission period",
        rule: "short-tender-period",
        severity: None,
    },
    Pair {
        code: "R018",
        what: "single bid received",
        rule: "single-bidder",
        severity: None,
    },
    Pair {
        code: "R024",
        what: "price close to winning bid",
        rule: "bid-spread",
        severity: Some("medium"),
    },
    Pair {
        code: "R028",
        what: "identical bid prices",
        rule: "identical-bids",
        severity: None,
    },
    Pair {
        code: "R035",
        what: "all except winning bid disqualified",
        rule: "all-but-winner-disqualified",
        severity: None,
    },
    Pair {
        code: "R036",
        what: "lowest bid disqualified",
        rule: "lowest-bid-disqualified",
        severity: None,
    },
    Pair {
        code: "R058",
        what: "heavily discounted bid",
        rule: "bid-spread",
        severity: Some("low"),
    },
];

/// The settings where the two definitions allow alignment: fundtrail's names and values,
/// and the same as cardinal's INI. Minimum submission period: cardinal has one threshold
/// (15 days by default) for the methods listed; fundtrail's three method minimums are set
/// to it and cardinal is limited to the methods fundtrail screens (never `direct`).
/// Bid spread: cardinal's default fences are quartile-based; both are set to fundtrail's
/// fixed defaults. All but the winner disqualified: cardinal needs one other disqualified
/// tenderer, fundtrail two bids or more.
const MIN_DAYS: u32 = 15;
/// Publishers' own bid statuses, given to both tools alike: fundtrail's `--bid-status`
/// and cardinal's `prepare` (`[codelists.bid_status]`). Prozorro calls a bid that stands
/// `active`.
const BID_STATUSES: [(&str, &str); 1] = [("active", "valid")];
const SPREAD_CLOSE: &str = "0.005";
const SPREAD_FAR: &str = "0.5";

fn fundtrail_settings() -> Value {
    json!({
        "min_days_open": MIN_DAYS,
        "min_days_restricted": MIN_DAYS,
        "min_days_rfq": MIN_DAYS,
        "bid_spread_close": SPREAD_CLOSE,
        "bid_spread_far": SPREAD_FAR,
        "all_but_winner_min_bids": 2,
        "lowest_disqualified_share": "0",
    })
}

fn cardinal_settings() -> String {
    format!(
        "; written by `fundtrail bench ocds`: aligned with fundtrail's screening_config\n\
         [R003]\nthreshold = {MIN_DAYS}\nprocurement_methods = open|selective|limited\n\
         [R018]\nprocurement_methods = open|selective\n\
         [R024]\nthreshold = {SPREAD_CLOSE}\n\
         [R028]\n\
         [R035]\nthreshold = 1\n\
         [R036]\n\
         [R058]\nthreshold = {SPREAD_FAR}\n\
         [codelists.bid_status]\n{}",
        BID_STATUSES
            .iter()
            .map(|(word, code)| format!("{word} = {code}\n"))
            .collect::<String>()
    )
}

/// What one publisher's file holds, read before the import.
#[derive(Debug, Default)]
struct Scan {
    ocids: BTreeSet<String>,
    /// Processes with a tender, an award or a contract (the coverage's denominator).
    substantive: BTreeSet<String>,
    currency: Option<String>,
}

fn scan(path: &Path) -> anyhow::Result<Scan> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut out = Scan::default();
    let mut currencies: HashMap<String, u64> = HashMap::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        let Ok(release) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(ocid) = release.get("ocid").and_then(Value::as_str) else {
            continue;
        };
        out.ocids.insert(ocid.to_owned());
        let non_empty = |v: Option<&Value>| match v {
            Some(Value::Object(m)) => !m.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            _ => false,
        };
        if non_empty(release.get("tender"))
            || non_empty(release.get("awards"))
            || non_empty(release.get("contracts"))
        {
            out.substantive.insert(ocid.to_owned());
        }
        count_currencies(&release, &mut currencies);
    }
    out.currency = currencies
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map(|(c, _)| c);
    Ok(out)
}

/// Counts the `currency` of every `{amount, currency}` object in `v`.
fn count_currencies(v: &Value, out: &mut HashMap<String, u64>) {
    match v {
        Value::Object(m) => {
            // Only currencies fundtrail knows (publishers write "" or "-" too, and
            // "mdl" for MDL, which the importer reads as MDL).
            if let (Some(_), Some(Value::String(c))) = (m.get("amount"), m.get("currency")) {
                let code = c.trim().to_ascii_uppercase();
                if Currency::parse(&code).is_ok() {
                    *out.entry(code).or_default() += 1;
                }
            }
            for x in m.values() {
                count_currencies(x, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                count_currencies(x, out);
            }
        }
        _ => {}
    }
}

/// The ocid an imported entry's idempotency key belongs to (`ocds:<ocid>:<path>`), among
/// the file's ocids. Keys too long for the ledger are hashed; of those only the tender's is
/// recognised (`tender_keys`).
fn ocid_of<'a>(
    key: &str,
    ocids: &'a BTreeSet<String>,
    tender_keys: &'a HashMap<String, String>,
) -> Option<&'a str> {
    if let Some(o) = tender_keys.get(key) {
        return Some(o.as_str());
    }
    let rest = key.strip_prefix("ocds:")?;
    rest.match_indices(':')
        .filter_map(|(i, _)| rest.get(..i))
        .find_map(|cand| ocids.get(cand).map(String::as_str))
}

/// Per-indicator tallies over all publishers.
#[derive(Debug, Default)]
struct Tally {
    cardinal: BTreeSet<String>,
    fundtrail: BTreeSet<String>,
}

#[derive(Debug)]
struct Coverage {
    publisher: String,
    currency: String,
    processes: usize,
    substantive: usize,
    recorded: usize,
    entries: u64,
    flags: usize,
}

pub fn run(args: &OcdsBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.db_prefix.is_empty()
            && args.db_prefix.len() <= 30
            && args
                .db_prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "--db-prefix must be 1 to 30 lower-case letters, digits or _"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&args.data)
        .with_context(|| {
            format!(
                "reading {} (run scripts/fetch-ocds-samples first)",
                args.data.display()
            )
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    anyhow::ensure!(
        !files.is_empty(),
        "no *.jsonl file in {} (run scripts/fetch-ocds-samples first)",
        args.data.display()
    );
    let out = match &args.out {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("fundtrail-ocdsbench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&out)?;
    let settings_ini = out.join("cardinal-settings.ini");
    std::fs::write(&settings_ini, cardinal_settings())?;
    let version = std::process::Command::new(&args.cardinal)
        .arg("--version")
        .output()
        .with_context(|| {
            format!(
                "running {} (build cardinal-rs 0.0.8 and pass --cardinal or FUNDTRAIL_OCDSCARDINAL)",
                args.cardinal.display()
            )
        })?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();

    let database = crate::startup::resolve_database(&args.db)?;
    let maintenance = match &database.embedded {
        Some(cluster) => cluster.url_for("postgres"),
        None => database.url.clone(),
    };
    let mut admin = PgConnection::establish(&maintenance)
        .context("connecting to create the benchmark database")?;
    let name = format!(
        "{}_{}",
        args.db_prefix,
        chrono::Utc::now().format("%Y%m%d%H%M%S")
    );
    sql(&mut admin, &format!("CREATE DATABASE {name}"))?;
    let mut db = args.db.clone();
    db.database_url = Some(crate::bench::with_database(&maintenance, &name)?);
    let result = run_in(args, &db, &files, &out, &settings_ini, &version);
    if args.keep {
        eprintln!("bench: kept database {name}");
    } else {
        let _ = sql(
            &mut admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
    }
    drop(database);
    result
}

fn run_in(
    args: &OcdsBenchArgs,
    db: &DbArgs,
    files: &[PathBuf],
    out: &Path,
    settings_ini: &Path,
    version: &str,
) -> anyhow::Result<()> {
    let (database, pool, ledger) = crate::startup::open_ledger(db, &args.ledger)?;
    let mut tallies: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut coverage = Vec::new();
    let rt = actix_web::rt::System::new();
    for file in files {
        let publisher = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let scanned = scan(file)?;
        let currency = scanned.currency.clone().unwrap_or_else(|| "EUR".to_owned());
        let ccy = Currency::parse(&currency).map_err(|e| anyhow::anyhow!("{publisher}: {e}"))?;
        eprintln!(
            "bench: {publisher}: {} processes, fund in {currency}",
            scanned.ocids.len()
        );
        let report = rt.block_on(async {
            let made = crate::seed::empty_fund(
                &ledger,
                &pool,
                &format!("OCDS {publisher}"),
                &currency,
                &format!("{publisher} buyer"),
            )
            .await?;
            ledger
                .append_with(
                    made.fund,
                    vec![AppendRequest {
                        kind: "screening_config".to_owned(),
                        business_date: ledger.now().date_naive(),
                        idempotency_key: format!("bench-ocds-config-{}", made.fund),
                        body: json!({"settings": fundtrail_settings(),
                                     "reason": "aligned with cardinal's settings (bench ocds)"}),
                        principal: crate::import::run::principal(),
                    }],
                    Arc::new(FundEffect {
                        ctx: FundCtx {
                            fund: made.fund,
                            currency: ccy,
                        },
                        actor: Some(Actor {
                            org: made.audit_body,
                            role: Role::Auditor,
                        }),
                        screens: Arc::new(crate::screening::Screens),
                        screen: true,
                    }),
                )
                .await
                .map_err(|e| anyhow::anyhow!("screening_config: {e}"))?;
            // The same bid-status mapping as cardinal's; no method mapping (an unknown
            // method is recorded as direct, which no competition rule screens, and cardinal
            // matches only codelist methods).
            let opts = crate::import::run::ImportOptions {
                ministry: Some(made.ministry.to_string()),
                bid_statuses: crate::import::run::bid_statuses(
                    &BID_STATUSES
                        .iter()
                        .map(|(w, c)| format!("{w}={c}"))
                        .collect::<Vec<_>>(),
                )?,
                future_skew_days: args.ledger.future_skew_days,
                ..crate::import::run::ImportOptions::new(&made.fund.to_string(), vec![file.clone()])
            };
            let report = crate::import::run::import(&ledger, &pool, &opts, None).await?;
            anyhow::Ok((made.fund, report))
        })?;
        let (fund, report) = report;
        std::fs::write(
            out.join(format!("{publisher}.import.json")),
            serde_json::to_string_pretty(&report)?,
        )?;

        // fundtrail: every imported entry's key and every flag, per ocid.
        let mut conn = pool.get()?;
        let keys: Vec<(i64, String)> = {
            use crate::schema::ledger_entries::dsl as l;
            l::ledger_entries
                .filter(l::chain_id.eq(fund))
                .select((l::seq, l::idempotency_key))
                .load(&mut **conn)?
        };
        let tender_keys: HashMap<String, String> = scanned
            .ocids
            .iter()
            .map(|o| (crate::import::map::key(o, "tender"), o.clone()))
            .collect();
        let mut ocid_at: HashMap<i64, String> = HashMap::new();
        let mut recorded: BTreeSet<String> = BTreeSet::new();
        for (seq, key) in &keys {
            if let Some(o) = ocid_of(key, &scanned.ocids, &tender_keys) {
                ocid_at.insert(*seq, o.to_owned());
                recorded.insert(o.to_owned());
            }
        }
        let flags: Vec<(String, String, i64)> = {
            use crate::schema::flags::dsl as f;
            f::flags
                .filter(f::fund_id.eq(fund))
                .select((f::rule, f::severity, f::seq))
                .load(&mut **conn)?
        };
        drop(conn);

        // cardinal, on the same file, prepared with the same bid-status mapping.
        let prepared = out.join(format!("{publisher}.prepared.jsonl"));
        let prep = std::process::Command::new(&args.cardinal)
            .arg("prepare")
            .arg("--settings")
            .arg(settings_ini)
            .arg("--output")
            .arg(&prepared)
            .arg("--errors")
            .arg(out.join(format!("{publisher}.prepare-errors.csv")))
            .arg(file)
            .status()
            .with_context(|| format!("running {} prepare", args.cardinal.display()))?;
        anyhow::ensure!(
            prep.success(),
            "ocdscardinal prepare failed on {}",
            file.display()
        );
        let result = std::process::Command::new(&args.cardinal)
            .arg("indicators")
            .arg("--settings")
            .arg(settings_ini)
            .arg("--no-meta")
            .arg(&prepared)
            .output()
            .with_context(|| format!("running {}", args.cardinal.display()))?;
        anyhow::ensure!(
            result.status.success(),
            "ocdscardinal failed on {}: {}",
            file.display(),
            String::from_utf8_lossy(&result.stderr)
        );
        std::fs::write(
            out.join(format!("{publisher}.cardinal.json")),
            &result.stdout,
        )?;
        let cardinal: Value = serde_json::from_slice(&result.stdout)
            .with_context(|| format!("cardinal's output on {}", file.display()))?;
        let by_ocid = cardinal.get("OCID").and_then(Value::as_object);

        for p in &PAIRS {
            let t = tallies.entry(p.code).or_default();
            if let Some(m) = by_ocid {
                for (ocid, results) in m {
                    if results.get(p.code).is_some() {
                        t.cardinal.insert(format!("{publisher}\t{ocid}"));
                    }
                }
            }
            for (rule, severity, seq) in &flags {
                if rule == p.rule && p.severity.is_none_or(|s| s == severity) {
                    if let Some(o) = ocid_at.get(seq) {
                        t.fundtrail.insert(format!("{publisher}\t{o}"));
                    }
                }
            }
        }
        coverage.push(Coverage {
            publisher,
            currency,
            processes: scanned.ocids.len(),
            substantive: scanned.substantive.len(),
            recorded: recorded.intersection(&scanned.substantive).count(),
            entries: report.entries_appended,
            flags: flags.len(),
        });
    }
    drop(database);
    print!("{}", render(&coverage, &tallies, version, out));
    Ok(())
}

fn share(n: usize, d: usize) -> String {
    if d == 0 {
        "–".to_owned()
    } else {
        format!("{:.2}", n as f64 / d as f64)
    }
}

fn render(
    coverage: &[Coverage],
    tallies: &BTreeMap<&'static str, Tally>,
    version: &str,
    out: &Path,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Reference: {version}; settings {}\n",
        out.join("cardinal-settings.ini").display()
    );
    let _ = writeln!(
        s,
        "| publisher | currency | processes | with tender, award or contract | recorded | coverage | entries | flags |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    let (mut sub, mut rec) = (0, 0);
    for c in coverage {
        sub += c.substantive;
        rec += c.recorded;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            c.publisher,
            c.currency,
            c.processes,
            c.substantive,
            c.recorded,
            share(c.recorded, c.substantive),
            c.entries,
            c.flags
        );
    }
    let _ = writeln!(
        s,
        "| **all** | | {} | {sub} | {rec} | **{}** | {} | {} |\n",
        coverage.iter().map(|c| c.processes).sum::<usize>(),
        share(rec, sub),
        coverage.iter().map(|c| c.entries).sum::<u64>(),
        coverage.iter().map(|c| c.flags).sum::<usize>(),
    );
    let _ = writeln!(
        s,
        "| indicator | fundtrail rule | cardinal | fundtrail | both | precision | recall | targets |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    let mut disagreements = String::new();
    for p in &PAIRS {
        let Some(t) = tallies.get(p.code) else {
            continue;
        };
        let both = t.cardinal.intersection(&t.fundtrail).count();
        let precision = share(both, t.fundtrail.len());
        let recall = share(both, t.cardinal.len());
        let met = if t.cardinal.is_empty() && t.fundtrail.is_empty() {
            "no instance".to_owned()
        } else {
            let ok_p = t.fundtrail.is_empty() || both * 10 >= t.fundtrail.len() * 9;
            let ok_r = t.cardinal.is_empty() || both * 100 >= t.cardinal.len() * 95;
            match (ok_p, ok_r) {
                (true, true) => "met".to_owned(),
                (false, true) => "**missed: precision**".to_owned(),
                (true, false) => "**missed: recall**".to_owned(),
                (false, false) => "**missed: both**".to_owned(),
            }
        };
        let rule = match p.severity {
            Some(sev) => format!("{} ({sev})", p.rule),
            None => p.rule.to_owned(),
        };
        let _ = writeln!(
            s,
            "| {} {} | {rule} | {} | {} | {both} | {precision} | {recall} | {met} |",
            p.code,
            p.what,
            t.cardinal.len(),
            t.fundtrail.len()
        );
        for o in t.cardinal.difference(&t.fundtrail) {
            let _ = writeln!(disagreements, "{}\tcardinal only\t{o}", p.code);
        }
        for o in t.fundtrail.difference(&t.cardinal) {
            let _ = writeln!(disagreements, "{}\tfundtrail only\t{o}", p.code);
        }
    }
    if !disagreements.is_empty() {
        let _ = writeln!(s, "\nDisagreements (indicator, side, publisher, ocid):\n");
        s.push_str(&disagreements);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_key_names_its_process_even_when_the_ocid_holds_colons() {
        let ocids: BTreeSet<String> = ["ocds-a:1".to_owned(), "ocds-b".to_owned()]
            .into_iter()
            .collect();
        let none = HashMap::new();
        assert_eq!(
            ocid_of("ocds:ocds-a:1:award:7", &ocids, &none),
            Some("ocds-a:1")
        );
        assert_eq!(ocid_of("ocds:ocds-b:tender", &ocids, &none), Some("ocds-b"));
        assert_eq!(ocid_of("ocds:ocds-c:tender", &ocids, &none), None);
        assert_eq!(ocid_of("bench-ocds-config-x", &ocids, &none), None);
    }

    #[test]
    fn the_file_currency_is_the_most_common_one() {
        let mut out = HashMap::new();
        count_currencies(
            &json!({"tender": {"value": {"amount": 1, "currency": "UAH"}},
                    "awards": [{"value": {"amount": 2, "currency": "UAH"}},
                               {"value": {"amount": 3, "currency": "USD"}}]}),
            &mut out,
        );
        assert_eq!(out.get("UAH"), Some(&2));
        assert_eq!(out.get("USD"), Some(&1));
        assert_eq!(out.len(), 2, "an empty currency is not counted");
    }

    #[test]
    fn cardinal_gets_the_thresholds_fundtrail_screens_with() {
        let ini = cardinal_settings();
        let f = fundtrail_settings();
        let setting = |name: &str| f.get(name).cloned().unwrap_or_default();
        assert!(ini.contains(&format!("[R003]\nthreshold = {}", setting("min_days_open"))));
        assert!(ini.contains(&format!("[R024]\nthreshold = {}", SPREAD_CLOSE)));
        assert_eq!(setting("bid_spread_far"), SPREAD_FAR);
        assert!(
            ini.ends_with("[codelists.bid_status]\nactive = valid\n"),
            "{ini}"
        );
    }
}
