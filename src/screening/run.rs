//! Running the period screens over a fund (docs/screening.md, "Period screens"): read the
//! period's unreversed payments and awards (and the payments and disbursements of a
//! bounded lookback) in one snapshot, run `period::screen`, and turn the findings into
//! flags with deterministic ids. `prepare` reads and decides what is
//! new; the caller inserts with `commit` inside the transaction that records the run in
//! the administrative chain, which re-checks that exactly the predicted flags were new.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::PgConnection;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::period::{self, Period, Spend};
use super::raise::period_flag_id;
use super::store::{self, FlagRow};
use crate::ledger::writer::AppendError;

/// Longest period screened in one run, in days (a limit on everything).
pub const PERIOD_DAYS_MAX: i64 = 3_660;

/// The period rules, in the order of the summary.
pub const PERIOD_RULES: [&str; 9] = [
    "vendor-concentration",
    "below-threshold-clustering",
    "benford",
    "velocity-spike",
    "non-competitive-share",
    "amount-outlier",
    "spending-before-funding",
    "approval-missing",
    "invoice-document-missing",
];

/// Flags of one rule in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct RuleCount {
    /// Raised by this run.
    pub raised: u64,
    /// Found again: raised by an earlier run over the same period, left as they are.
    pub already_present: u64,
}

/// What a run found, per rule (also the body of its `period_screen_run` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Summary {
    pub fund: Uuid,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    /// Unreversed payments and awards of the period read.
    pub entries: u64,
    /// Size of the fund's chain in the snapshot the run read: a later run over the same
    /// period at the same size would read the same entries (the schedule skips it).
    pub chain_size: u64,
    pub rules: BTreeMap<String, RuleCount>,
}

impl Summary {
    pub fn raised(&self) -> u64 {
        self.rules.values().map(|c| c.raised).sum()
    }
}

/// Why a period cannot be screened.
pub fn check_period(from: NaiveDate, to: NaiveDate) -> Result<Period, String> {
    if from > to {
        return Err("from must not be after to".to_owned());
    }
    if (to - from).num_days() >= PERIOD_DAYS_MAX {
        return Err(format!("a period is at most {PERIOD_DAYS_MAX} days"));
    }
    Ok(Period { from, to })
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

/// Reads the period and runs the screens: the flags not raised yet, and the summary.
/// The reads share one snapshot (a read-only repeatable-read transaction), so the chain
/// size in the summary is exactly the ledger the screens saw.
pub fn prepare(
    conn: &mut PgConnection,
    fund: Uuid,
    currency: &str,
    period: Period,
    now: DateTime<Utc>,
) -> diesel::QueryResult<(Vec<FlagRow>, Summary)> {
    conn.build_transaction()
        .repeatable_read()
        .read_only()
        .run(|conn| prepare_in_snapshot(conn, fund, currency, period, now))
}

fn prepare_in_snapshot(
    conn: &mut PgConnection,
    fund: Uuid,
    currency: &str,
    period: Period,
    now: DateTime<Utc>,
) -> diesel::QueryResult<(Vec<FlagRow>, Summary)> {
    let chain_size = match crate::ledger::store::head(conn, fund) {
        Ok(head) => head.map_or(0, |(size, _)| size),
        Err(crate::ledger::store::StoreError::Db(e)) => return Err(e),
        Err(e) => return Err(diesel::result::Error::DeserializationError(Box::new(e))),
    };
    let thresholds = super::store::thresholds(conn, fund)?
        .unwrap_or_else(|| super::rules::Thresholds::for_currency(currency));
    let lookback = period::lookback_start(period, &thresholds);
    let rows = store::period_spends(conn, fund, lookback, period.from, period.to)?;
    let award_tenders: Vec<i64> = rows
        .iter()
        .filter(|r| r.1 == "award")
        .filter_map(|r| r.6)
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    let tenders: HashMap<i64, (String, Option<String>)> =
        store::tender_methods(conn, fund, &award_tenders)?
            .into_iter()
            .map(|(seq, method, category)| (seq, (method, category)))
            .collect();
    let mut dates: HashMap<u64, NaiveDate> = HashMap::with_capacity(rows.len());
    let mut orgs = BTreeSet::new();
    let mut input = period::Input::default();
    for (seq, kind, date, ministry, vendor, category, tender, amount) in rows {
        let Some(amount) = amount else { continue };
        dates.insert(u(seq), date);
        orgs.extend(ministry);
        orgs.extend(vendor);
        let tender = tender.and_then(|t| tenders.get(&t));
        let (method, category) = match (kind.as_str(), tender) {
            ("award", Some((method, tender_category))) => (
                Some(method.clone()),
                category.or_else(|| tender_category.clone()),
            ),
            _ => (None, category),
        };
        let spend = Spend {
            seq: u(seq),
            kind,
            date,
            ministry,
            vendor,
            category,
            method,
            amount,
        };
        if spend.kind == "disbursement" {
            input.disbursements.push(spend);
        } else if date < period.from {
            input.earlier.push(spend);
        } else {
            input.spends.push(spend);
        }
    }
    let payers: Vec<Uuid> = input
        .spends
        .iter()
        .filter(|s| s.kind == "payment")
        .filter_map(|s| s.ministry)
        .collect::<BTreeSet<Uuid>>()
        .into_iter()
        .collect();
    input.first_payment = store::first_payment_dates(conn, fund, &payers)?
        .into_iter()
        .collect();
    input.controls = controls(conn, fund, &input, &thresholds, now)?;
    let org_list: Vec<Uuid> = orgs.into_iter().collect();
    let names: HashMap<Uuid, String> = crate::auth::party::names(conn, &org_list)?;
    let cx = period::Context {
        period,
        currency,
        names: &names,
    };
    let findings = period::screen(&input, &thresholds, &cx);
    let flags: Vec<FlagRow> = findings
        .into_iter()
        .filter_map(|f| {
            // The flag is the last entry of its evidence's (reports count it by seq).
            let last = *f.evidence.last()?;
            Some(FlagRow {
                id: period_flag_id(fund, f.rule, &f.subject),
                fund_id: fund,
                rule: f.rule.to_owned(),
                severity: f.severity.as_str().to_owned(),
                seq: i64::try_from(last).ok()?,
                evidence: f.evidence.iter().map(|s| i64::try_from(*s).ok()).collect(),
                ministry_org_id: f.ministry,
                vendor_org_id: f.vendor,
                message: f.message,
                business_date: dates.get(&last).copied().unwrap_or(period.to),
                raised_at: now,
                status: "open".to_owned(),
                subject: f.subject,
            })
        })
        .collect();
    let ids: Vec<Uuid> = flags.iter().map(|f| f.id).collect();
    let existing: HashSet<Uuid> = store::existing_flags(conn, &ids)?.into_iter().collect();
    let mut rules: BTreeMap<String, RuleCount> = PERIOD_RULES
        .iter()
        .map(|r| ((*r).to_owned(), RuleCount::default()))
        .collect();
    let mut new = Vec::new();
    for f in flags {
        let count = rules.entry(f.rule.clone()).or_default();
        if existing.contains(&f.id) {
            count.already_present += 1;
        } else {
            count.raised += 1;
            new.push(f);
        }
    }
    let summary = Summary {
        fund,
        from: period.from,
        to: period.to,
        entries: u64::try_from(input.spends.len()).unwrap_or(u64::MAX),
        chain_size,
        rules,
    };
    Ok((new, summary))
}

/// What the control screens need: the approval policy in force, and of the period's
/// payments and disbursements that could be flagged, which took effect with a second
/// person's approval and which have a document on file.
fn controls(
    conn: &mut PgConnection,
    fund: Uuid,
    input: &period::Input,
    t: &super::rules::Thresholds,
    now: DateTime<Utc>,
) -> diesel::QueryResult<period::Controls> {
    let grace = u64::try_from(t.evidence_grace_days).unwrap_or(0);
    let judged_until = now
        .date_naive()
        .checked_sub_days(chrono::Days::new(grace))
        .unwrap_or(NaiveDate::MIN);
    let policy = match store::approval_policy(conn, fund)? {
        Some((seq, rules)) => {
            let rules: Vec<crate::entries::approvals::PolicyRule> =
                serde_json::from_value(rules)
                    .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?;
            Some(period::Policy {
                seq: u(seq),
                rules: rules
                    .into_iter()
                    .map(|r| period::PolicyRule {
                        kind: r.kind,
                        ministry: r.ministry,
                        above: r.above.value,
                    })
                    .collect(),
            })
        }
        None => None,
    };
    let (approvals, documents) = period::candidates(
        input.spends.iter().chain(&input.disbursements),
        policy.as_ref(),
        t,
        judged_until,
    );
    let to_i64 =
        |v: &[u64]| -> Vec<i64> { v.iter().filter_map(|s| i64::try_from(*s).ok()).collect() };
    let (approvals, documents) = (to_i64(&approvals), to_i64(&documents));
    let mut checked: Vec<i64> = approvals.iter().chain(&documents).copied().collect();
    checked.sort_unstable();
    checked.dedup();
    // Took effect by an approved request: approved; its documents may be on the request.
    let requests = store::approved_requests(conn, fund, &checked)?;
    let mut approved: HashSet<u64> = requests.iter().map(|(s, _)| u(*s)).collect();
    // History outside a policy: a standing approval by someone other than the recorder.
    let plain: Vec<i64> = approvals
        .iter()
        .filter(|s| !approved.contains(&u(**s)))
        .copied()
        .collect();
    let standing = store::standing_approvals(conn, fund, &plain)?;
    if !standing.is_empty() {
        let recorders: HashMap<i64, String> =
            store::recorders(conn, fund, &plain)?.into_iter().collect();
        for (entry, approver) in standing {
            if recorders.get(&entry).is_some_and(|r| *r != approver) {
                approved.insert(u(entry));
            }
        }
    }
    let invoices = store::payment_invoices(conn, fund, &documents)?;
    // Each payment's documents may be on itself, its request or its invoice.
    let mut cited: HashMap<i64, Vec<i64>> = documents.iter().map(|s| (*s, vec![*s])).collect();
    for (seq, request) in &requests {
        cited.entry(*seq).and_modify(|v| v.push(*request));
    }
    for (seq, invoice) in &invoices {
        cited.entry(*seq).and_modify(|v| v.push(*invoice));
    }
    let all: Vec<i64> = cited
        .values()
        .flatten()
        .copied()
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    let with_docs: HashSet<i64> = store::with_documents(conn, fund, &all)?
        .into_iter()
        .collect();
    let documented = cited
        .into_iter()
        .filter(|(_, on)| on.iter().any(|s| with_docs.contains(s)))
        .map(|(s, _)| u(s))
        .collect();
    Ok(period::Controls {
        policy,
        approved,
        documented,
        invoices: invoices.into_iter().map(|(p, i)| (u(p), u(i))).collect(),
        judged_until,
    })
}

/// Inserts the flags `prepare` found new; `false` when fewer were inserted (a concurrent
/// run of the same period raised some in between), so that the caller rolls back rather
/// than record counts that no longer hold.
pub fn commit(conn: &mut PgConnection, new: &[FlagRow]) -> diesel::QueryResult<bool> {
    let inserted = super::raise::insert_and_notify(conn, new)?;
    Ok(inserted == new.len())
}

/// The body of the run's `period_screen_run` entry in the administrative chain.
pub fn entry_body(summary: &Summary, actor: &str) -> serde_json::Value {
    let mut body = serde_json::to_value(summary).unwrap_or_default();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("actor".to_owned(), serde_json::Value::from(actor));
    }
    body
}

/// The writer effect that inserts the run's flags in the transaction of its entry.
pub fn effect(
    new: Vec<FlagRow>,
) -> impl Fn(&mut PgConnection, &[crate::ledger::entry::Entry]) -> Result<(), AppendError>
       + Send
       + Sync
       + 'static {
    move |conn, _| {
        if commit(conn, &new)? {
            Ok(())
        } else {
            Err(AppendError::Conflict {
                code: "screen_run_concurrent",
                detail: "another run of the same period raised some of these flags; run again"
                    .to_owned(),
            })
        }
    }
}
