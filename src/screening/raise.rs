//! Screening inside the append transaction: gather each new entry's facts (after the
//! job's derived state is flushed, so the job's own earlier entries count), run the
//! rules, insert the flags. Same transaction as the entry: a flag exists exactly when its
//! entry is committed; a retried append replays without re-running effects, and (fund,
//! rule, seq) is unique, so no flag is raised twice.
//!
//! The facts of a whole job are read with at most three statements, not per entry:
//! screening must not dominate the cost of an append (docs/benchmarks.md), and each
//! statement is a round trip inside the chain's append transaction. The paying
//! ministries' payments in the window (priors, direct purchases by category, later
//! payments) and funding flows come from the state kept since the fund's previous job
//! (`screening::flows`), or, for ministries it lacks, from `store::ministry_states`; the
//! awarding ministries' latest awards come from the same state, or, for those it lacks,
//! from `store::job_reads`. That one call of the `screening_job_reads` function (planned
//! once per connection) also reads names, first sightings, the near priors' invoice
//! numbers, the tenders' entries and invoices by number; the recorders of approved entries
//! and an over-the-line contract's entries are read only when needed. Each is a bounded
//! probe or range scan of an index whatever the fund's size and whatever the planner's
//! statistics (a fund seeded in seconds has none): per-ministry range scans rather than
//! `= ANY(..)` over ministries, fenced lateral subqueries per tender, vendor or invoice
//! (`screening::store`).

use std::collections::{BTreeSet, HashMap};

use chrono::Duration;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::flows;
use super::rules::{
    self, ApprovalFact, AwardFact, BidFact, CategoryPrior, ContractFact, Facts, FundingFact,
    OverContractFact, Prior, TenderFact, Thresholds, OVER_CONTRACT_EVIDENCE_MAX,
};
use super::store::{self, FlagRow, TenderEntry};
use crate::entries::kinds::FundEntry;
use crate::funds::ctx::FundCtx;
use crate::funds::derived::{Derived, LateWrites, NumberedInvoice};
use crate::funds::state::{ContractRow, FundEntryRow};
use crate::ledger::entry::Entry;

/// The id of the flag `rule` raised by entry `seq` of `fund`.
pub fn flag_id(fund: Uuid, rule: &str, seq: u64) -> Uuid {
    Uuid::new_v5(&fund, format!("{rule}/{seq}").as_bytes())
}

/// The id of the period flag `rule` about `subject` (which names the period): the same
/// screen re-run over the same period finds the same id, and raises nothing new.
pub fn period_flag_id(fund: Uuid, rule: &str, subject: &str) -> Uuid {
    Uuid::new_v5(&fund, format!("{rule}/{subject}").as_bytes())
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

/// What the job's entries need from the database, read once.
struct JobFacts {
    names: HashMap<Uuid, String>,
    first_seen: HashMap<Uuid, (u64, chrono::NaiveDate)>,
    /// The fund's earliest business date, read when `first_seen` is (new-vendor-large's
    /// warm-up).
    fund_first_date: Option<chrono::NaiveDate>,
    tender_entries: HashMap<i64, Vec<TenderEntry>>,
    payments: Vec<store::PaymentRow>,
    /// Indexes into `payments` by (ministry, vendor), in seq order: a payment's priors are
    /// its ministry's payments to its vendor.
    payments_by_party: HashMap<(Option<Uuid>, Option<Uuid>), Vec<usize>>,
    /// Direct purchases by the job's directly purchasing ministries in the job's direct
    /// purchases' categories, in the window (`split-purchase` by category).
    category_payments: Vec<store::CategoryPaymentRow>,
    invoices: Vec<(i64, Uuid, String, Decimal)>,
    /// Invoice numbers of the invoices the job's payments and their priors pay.
    invoice_numbers: HashMap<i64, String>,
    /// Per paying ministry: what spending-before-funding needs (`Funding`).
    funding: HashMap<Uuid, Funding>,
    /// Per ministry awarding in the job: its latest awards, latest dated first, enough of
    /// them for each of the job's awards (`vendor-concentration` by repeated wins).
    awards: HashMap<Uuid, Vec<store::AwardRow>>,
    /// Who recorded the entries the job's approvals approve: seq → user id.
    recorders: HashMap<i64, String>,
    /// Seq of the fund's first `approval_policy` (read when the job approves something).
    first_policy: Option<i64>,
    /// Contracts invoiced or paid by the job whose totals could be over the line, with
    /// their latest unreversed amendments, invoices and payments (`over-contract`).
    contracts: HashMap<i64, (ContractRow, Vec<store::ContractEntry>)>,
}

/// A paying ministry's flows, read with bounded range reads: its totals (derived state,
/// the job included), its payments and disbursements dated after the earliest payment
/// date of the job, and its latest disbursement dated on or before that date and recorded
/// before the job's first payment of the ministry.
struct Funding {
    paid_total: Decimal,
    disbursed_total: Decimal,
    later_payments: Vec<store::FlowRow>,
    later_disbursements: Vec<store::FlowRow>,
    latest_before: Option<store::FlowRow>,
    /// The job's own unreversed payments and disbursements of the ministry.
    job_payments: Vec<store::FlowRow>,
    job_disbursements: Vec<store::FlowRow>,
}

impl JobFacts {
    fn name(&self, org: Option<Uuid>) -> Option<String> {
        org.map(|o| self.names.get(&o).cloned().unwrap_or_else(|| o.to_string()))
    }
}

/// Screens the job's new entries (`st` already flushed) and records their flags.
pub fn raise(
    st: &mut Derived<'_>,
    ctx: &FundCtx,
    entries: &[Entry],
    typed: &[FundEntry],
    t: &Thresholds,
) -> diesel::QueryResult<usize> {
    let fund = ctx.fund;
    // The index rows of the job's entries: in the cache (the job just wrote them).
    let mut rows: Vec<Option<FundEntryRow>> = Vec::with_capacity(entries.len());
    for e in entries {
        rows.push(match i64::try_from(e.seq) {
            Ok(s) => st.entry(s)?,
            Err(_) => None,
        });
    }
    let mut orgs = BTreeSet::new();
    let mut tenders = BTreeSet::new();
    // The job's payments' (vendor, amount in the fund's currency): the priors whose
    // invoice numbers can matter are near one of them.
    let mut near: Vec<(Uuid, Decimal)> = Vec::new();
    // (vendor, number) of the job's invoices: the priors of an invoice are its vendor's
    // invoices with its number.
    let mut numbered = BTreeSet::new();
    let mut spenders = BTreeSet::new();
    let mut since = None;
    // Paying ministries, with the earliest payment date of the job.
    let mut payers: HashMap<Uuid, (chrono::NaiveDate, i64)> = HashMap::new();
    let mut approved = BTreeSet::new();
    // Contracts the job invoices or pays; the contracts it amends and whether it reverses
    // anything: an amendment changes its own contract's value after the job's earlier
    // entries, a reversal may lower any contract's totals (then every such contract is
    // read).
    let mut invoiced_contracts = BTreeSet::new();
    let mut amended = BTreeSet::new();
    let mut lowers = false;
    // Direct purchases with a category: their ministries and categories.
    let mut purchasers = BTreeSet::new();
    let mut categories = BTreeSet::new();
    // Awarding ministries, with the number of the job's awards of each.
    let mut awarders: HashMap<Uuid, i64> = HashMap::new();
    for ((e, typed), row) in entries.iter().zip(typed).zip(&rows) {
        let Some(row) = row else { continue };
        orgs.extend(row.vendor_org_id);
        orgs.extend(row.ministry_org_id);
        if matches!(
            typed,
            FundEntry::Tender(_) | FundEntry::Bid(_) | FundEntry::Award(_)
        ) {
            tenders.extend(row.tender_seq);
        }
        // Only large amounts can be new-vendor-large: the others need no first sighting.
        if matches!(
            typed,
            FundEntry::Award(_) | FundEntry::Contract(_) | FundEntry::Payment(_)
        ) && row.amount_fund.is_some_and(|a| a >= t.new_vendor_amount)
        {
            spenders.extend(row.vendor_org_id);
        }
        match typed {
            FundEntry::Payment(_) => {
                if let (Some(v), Some(a)) = (row.vendor_org_id, row.amount_fund) {
                    near.push((v, a));
                }
                let from = e.business_date - Duration::days(t.window_days);
                since = Some(since.map_or(from, |s: chrono::NaiveDate| s.min(from)));
                if let Some(m) = row.ministry_org_id {
                    let first = payers.entry(m).or_insert((e.business_date, row.seq));
                    *first = (first.0.min(e.business_date), first.1.min(row.seq));
                }
                if let (FundEntry::Payment(p), Some(m), Some(c)) =
                    (typed, row.ministry_org_id, &row.category)
                {
                    if p.invoice.is_none() {
                        purchasers.insert(m);
                        categories.insert(c.clone());
                    }
                }
            }
            FundEntry::Approval(_) => approved.extend(row.ref_seq),
            FundEntry::Award(_) => {
                if let Some(m) = row.ministry_org_id {
                    *awarders.entry(m).or_default() += 1;
                }
            }
            FundEntry::Invoice(i) => {
                numbered.insert((i.vendor, i.invoice_number.clone()));
                invoiced_contracts.extend(row.ref_seq);
            }
            FundEntry::ContractAmendment(_) => amended.extend(row.ref_seq),
            FundEntry::Reversal(_) => lowers = true,
            _ => {}
        }
        if let (FundEntry::Payment(p), Some(i)) = (typed, row.ref_seq) {
            if p.invoice.is_some() {
                invoiced_contracts.extend(st.invoice(i)?.map(|i| i.contract_seq));
            }
        }
    }
    // The paying ministries' flows: the window's payments (the priors; the direct
    // purchases by category), and what spending-before-funding needs (`Funding`). From the
    // state kept since the previous job of the fund when it is at this job's start
    // (`screening::flows`), else one statement for the ministries it lacks.
    let payer_list: Vec<store::Payer> = payers
        .iter()
        .map(|(m, (earliest, first_seq))| (*m, *earliest, *first_seq))
        .collect();
    let (mut flows, mut state) = job_flows(st, fund, entries, &rows, &payer_list, since, t)?;
    let mut payments: Vec<store::PaymentRow> = flows
        .values()
        .flat_map(|f| f.payments.iter().cloned())
        .collect();
    payments.sort_unstable_by_key(|p| p.0);
    // Direct purchases by the job's purchasing ministries in the job's categories, the
    // latest dated first.
    let mut category_payments: Vec<store::CategoryPaymentRow> = flows
        .iter()
        .filter(|(m, _)| purchasers.contains(*m))
        .flat_map(|(_, f)| f.direct_purchases.iter())
        .filter(|r| r.4.as_ref().is_some_and(|c| categories.contains(c)))
        .cloned()
        .collect();
    category_payments.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    orgs.extend(category_payments.iter().filter_map(|r| r.3));
    // Invoice numbers of the paid invoices: the job's payments' (in the derived state's
    // cache, loaded for the job), and those of the earlier priors whose amounts are near a
    // job payment's to the same vendor (only `near-duplicate-payment` compares numbers,
    // and only within `near_duplicate_share`; one probe per invoice, most jobs none).
    let job_first = entries
        .first()
        .and_then(|e| i64::try_from(e.seq).ok())
        .unwrap_or(i64::MAX);
    let mut near_invoices: Vec<i64> = payments
        .iter()
        .filter(|(s, _, _, v, amount, _)| {
            *s < job_first
                && amount.is_some_and(|p| {
                    near.iter().any(|(jv, a)| {
                        Some(*jv) == *v && (p - *a).abs() <= a.abs() * t.near_duplicate_share
                    })
                })
        })
        .filter_map(|p| p.5)
        .collect();
    near_invoices.sort_unstable();
    near_invoices.dedup();
    let mut invoice_numbers: HashMap<i64, String> = HashMap::new();
    // Numbers an earlier job of the fund learnt are kept with the flows.
    if let Some(kept) = state.as_ref() {
        near_invoices.retain(|i| match kept.numbers.get(i) {
            Some(number) => {
                invoice_numbers.insert(*i, number.clone());
                false
            }
            None => true,
        });
    }
    for ((_, typed), row) in entries.iter().zip(typed).zip(&rows) {
        if let (FundEntry::Payment(_), Some(row)) = (typed, row) {
            if let Some(i) = row.ref_seq {
                if let Some(invoice) = st.invoice(i)? {
                    invoice_numbers.insert(i, invoice.invoice_number);
                }
            }
        }
    }
    let mut funding = HashMap::new();
    for ministry in payers.into_keys() {
        let position = st.ministry_position(ministry)?;
        let f = flows.remove(&ministry).unwrap_or_default();
        funding.insert(
            ministry,
            Funding {
                paid_total: position.paid,
                disbursed_total: position.disbursed,
                later_payments: f.later_payments,
                later_disbursements: f.later_disbursements,
                latest_before: f.latest_before,
                job_payments: Vec::new(),
                job_disbursements: Vec::new(),
            },
        );
    }
    for row in rows.iter().flatten() {
        let Some(f) = row.ministry_org_id.and_then(|m| funding.get_mut(&m)) else {
            continue;
        };
        if row.reversed_by.is_some() {
            continue;
        }
        let flow = (row.seq, row.business_date, row.amount_fund);
        match row.kind.as_str() {
            "payment" => f.job_payments.push(flow),
            "disbursement" => f.job_disbursements.push(flow),
            _ => {}
        }
    }
    // Who recorded the approved entries: the job's own, else the ledger's.
    let mut recorders: HashMap<i64, String> = HashMap::new();
    let mut missing = Vec::new();
    for seq in approved {
        match entries
            .iter()
            .find(|e| i64::try_from(e.seq).ok() == Some(seq))
        {
            Some(e) => {
                recorders.insert(seq, e.principal.id.clone());
            }
            None => missing.push(seq),
        }
    }
    if !missing.is_empty() {
        st.flush_for_reads()?;
        recorders.extend(store::recorders(st.conn, fund, &missing)?);
    }
    let first_policy = if recorders.is_empty() {
        None
    } else {
        store::first_policy_seq(st.conn, fund)?
    };
    // Over-contract: only contracts whose invoices (which bound their payments) are over
    // the line now, or that the job may have lowered since one of its own entries; the
    // rest cannot be flagged, and cost no read.
    let mut contracts = HashMap::new();
    for seq in invoiced_contracts {
        let Some(c) = st.contract(seq)? else { continue };
        let line = c.value.saturating_add(c.value * t.over_contract_tolerance);
        if c.reversed || !(lowers || amended.contains(&seq) || c.invoiced > line) {
            continue;
        }
        st.flush_for_reads()?;
        let rows = store::contract_entries(st.conn, fund, c.tender_seq)?;
        contracts.insert(seq, (c, rows));
    }
    // The latest awards of each awarding ministry: those the job's awards were recorded
    // after can only be the job's own later awards, so `consecutive_wins_min` plus the
    // job's count covers every award of the job. From the kept state when it holds enough
    // of them; else read, with `AWARDS_AHEAD` more for the next jobs.
    let mut awards: HashMap<Uuid, Vec<store::AwardRow>> = HashMap::new();
    let mut ask: Vec<(Uuid, i64)> = Vec::new();
    for (ministry, count) in awarders {
        let limit = i64::from(t.consecutive_wins_min).saturating_add(count);
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
        match state
            .as_ref()
            .and_then(|s| s.awards.get(&ministry))
            .and_then(|k| k.latest(wanted))
        {
            Some(latest) => {
                orgs.extend(latest.iter().filter_map(|a| a.2));
                awards.insert(ministry, latest);
            }
            None => ask.push((ministry, limit.saturating_add(AWARDS_AHEAD))),
        }
    }
    // The invoices numbered like the job's: read once for the whole group when its
    // invoices were looked ahead (`Ahead`), at its first invoice, else with the rest.
    let mut numbered_invoices = Vec::new();
    if !numbered.is_empty() && st.ahead().is_some_and(|a| a.covers(&numbered)) {
        numbered_invoices = numbered_ahead(st, fund, &numbered)?;
        numbered.clear();
    }
    // Everything else in one round trip (`store::job_reads`): names, first sightings, the
    // near priors' invoice numbers, the tenders' entries, the latest awards not kept, the
    // invoices numbered like the job's.
    // Names already read by this process are not read again (`known_names`).
    let mut names = known_names(&orgs);
    let keys = store::JobKeys {
        orgs: orgs
            .into_iter()
            .filter(|o| !names.contains_key(o))
            .collect(),
        first_seen: spenders.into_iter().collect(),
        invoices: near_invoices,
        tenders: tenders.into_iter().collect(),
        awards: ask,
        numbered: numbered.into_iter().collect(),
    };
    if keys.reads_entries() {
        st.flush_for_reads()?;
    }
    let reads = store::job_reads(st.conn, fund, &keys)?;
    remember_names(&reads.names);
    names.extend(reads.names);
    invoice_numbers.extend(reads.invoice_numbers);
    for (ministry, read) in reads.awards {
        // Asked for `AWARDS_AHEAD` more than the job wants.
        let asked = keys
            .awards
            .iter()
            .find(|a| a.0 == ministry)
            .map_or(0, |a| a.1);
        let wanted = usize::try_from(asked.saturating_sub(AWARDS_AHEAD)).unwrap_or(0);
        let asked = usize::try_from(asked).unwrap_or(usize::MAX);
        awards.insert(ministry, read.iter().take(wanted).copied().collect());
        if let Some(s) = state.as_mut() {
            let all = read.len() < asked;
            s.awards
                .insert(ministry, flows::KeptAwards { latest: read, all });
        }
    }
    if let Some(mut s) = state {
        s.numbers.extend(
            invoice_numbers
                .iter()
                .map(|(seq, number)| (*seq, number.clone())),
        );
        flows::stage(fund, s);
    }
    let mut tender_entries: HashMap<i64, Vec<TenderEntry>> = HashMap::new();
    for (tender, e) in reads.tender_entries {
        tender_entries.entry(tender).or_default().push(e);
    }
    let job = JobFacts {
        first_seen: reads
            .first_seen
            .into_iter()
            .map(|(v, (s, d))| (v, (u(s), d)))
            .collect(),
        fund_first_date: reads.fund_first_date,
        names,
        tender_entries,
        payments_by_party: {
            let mut by: HashMap<(Option<Uuid>, Option<Uuid>), Vec<usize>> = HashMap::new();
            for (i, p) in payments.iter().enumerate() {
                by.entry((p.2, p.3)).or_default().push(i);
            }
            by
        },
        payments,
        category_payments,
        invoices: {
            numbered_invoices.extend(reads.numbered_invoices);
            numbered_invoices.sort_unstable_by_key(|i| i.0);
            numbered_invoices
        },
        invoice_numbers,
        awards,
        funding,
        recorders,
        first_policy,
        contracts,
    };

    let mut flags = Vec::new();
    for ((entry, typed), row) in entries.iter().zip(typed).zip(&rows) {
        let Some(row) = row else { continue };
        let Some(f) = facts(st, &job, ctx, entry, typed, row, t)? else {
            continue;
        };
        for finding in rules::screen(&f, t) {
            flags.push(FlagRow {
                id: flag_id(fund, finding.rule, entry.seq),
                fund_id: fund,
                rule: finding.rule.to_owned(),
                severity: finding.severity.as_str().to_owned(),
                seq: row.seq,
                evidence: finding
                    .evidence
                    .iter()
                    .map(|s| i64::try_from(*s).ok())
                    .collect(),
                ministry_org_id: row.ministry_org_id,
                vendor_org_id: row.vendor_org_id,
                message: finding.message,
                business_date: entry.business_date,
                raised_at: entry.recorded_at,
                status: "open".to_owned(),
                subject: String::new(),
            });
        }
    }
    // The group's later invoices compare with this job's.
    if st.ahead().is_some_and(|a| a.invoices.is_some()) {
        let mut own = Vec::new();
        for (typed, row) in typed.iter().zip(&rows) {
            if let (FundEntry::Invoice(i), Some(row)) = (typed, row) {
                if let Some(invoice) = st.invoice(row.seq)?.filter(|i| !i.reversed) {
                    own.push((row.seq, i.vendor, invoice.invoice_number, invoice.amount));
                }
            }
        }
        if let Some(known) = st.ahead().and_then(|a| a.invoices.as_mut()) {
            for invoice in own {
                let same = known.entry((invoice.1, invoice.2.clone())).or_default();
                if same.iter().all(|i| i.0 != invoice.0) {
                    same.push(invoice);
                }
            }
        }
    }
    let raised = flags.len();
    // Within a group, inserted once at its end with the flags of the group's other jobs.
    if st.is_lazy() {
        if let Some(late) = st.late::<LateFlags>() {
            late.0.extend(flags);
            return Ok(raised);
        }
    }
    insert_and_notify(st.conn, &flags)?;
    Ok(raised)
}

/// The unreversed invoices of the fund numbered like `numbered` (pairs the group looked
/// ahead, `Ahead::covers`), from what the group read at its first invoice: read then, in
/// one statement, for every invoice the group records, with those its earlier jobs
/// recorded and left unwritten, and followed since with the invoices of its jobs.
fn numbered_ahead(
    st: &mut Derived<'_>,
    fund: Uuid,
    numbered: &BTreeSet<(Uuid, String)>,
) -> diesel::QueryResult<Vec<NumberedInvoice>> {
    if st.ahead().is_some_and(|a| a.invoices.is_none()) {
        let pairs: Vec<(Uuid, String)> = st
            .ahead()
            .map(|a| a.numbered.iter().cloned().collect())
            .unwrap_or_default();
        let keys = store::JobKeys {
            numbered: pairs,
            ..store::JobKeys::default()
        };
        let read = store::job_reads(st.conn, fund, &keys)?;
        remember_names(&read.names);
        let asked: std::collections::HashSet<&(Uuid, String)> = keys.numbered.iter().collect();
        let unwritten = st
            .unwritten_invoices()
            .into_iter()
            .filter(|i| asked.contains(&(i.vendor_org_id, i.invoice_number.clone())))
            .map(|i| (i.seq, i.vendor_org_id, i.invoice_number, i.amount));
        let mut by_pair: HashMap<(Uuid, String), std::collections::BTreeMap<i64, NumberedInvoice>> =
            HashMap::new();
        for invoice in read.numbered_invoices.into_iter().chain(unwritten) {
            by_pair
                .entry((invoice.1, invoice.2.clone()))
                .or_default()
                .insert(invoice.0, invoice);
        }
        let by_pair = by_pair
            .into_iter()
            .map(|(pair, by_seq)| (pair, by_seq.into_values().collect()))
            .collect();
        if let Some(a) = st.ahead() {
            a.invoices = Some(by_pair);
        }
    }
    let known = st.ahead().and_then(|a| a.invoices.as_ref());
    Ok(numbered
        .iter()
        .filter_map(|pair| known.and_then(|k| k.get(pair)))
        .flatten()
        .cloned()
        .collect())
}

/// Flags raised by the jobs of a group, inserted at the group's end (`Derived::late`):
/// nothing reads flags while a group runs, and the group commits them with its entries.
#[derive(Default)]
struct LateFlags(Vec<FlagRow>);

impl LateWrites for LateFlags {
    fn write(self: Box<Self>, conn: &mut diesel::PgConnection) -> diesel::QueryResult<()> {
        insert_and_notify(conn, &self.0).map(|_| ())
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }
}

/// Inserts the flags not raised yet and, on the same connection (inside the caller's
/// transaction), a `flag.raised` event for each one inserted: the flag as
/// `GET /api/v1/flags/{id}` shows it. Returns how many were inserted.
pub fn insert_and_notify(
    conn: &mut diesel::PgConnection,
    flags: &[FlagRow],
) -> diesel::QueryResult<usize> {
    let inserted: std::collections::HashSet<Uuid> =
        store::insert_flags(conn, flags)?.into_iter().collect();
    let ids: Vec<Uuid> = flags
        .iter()
        .filter(|f| inserted.contains(&f.id))
        .flat_map(|f| [f.ministry_org_id, f.vendor_org_id])
        .flatten()
        .collect();
    let names = if ids.is_empty() {
        HashMap::new()
    } else {
        crate::auth::party::names(conn, &ids)?
    };
    let raised: Vec<_> = flags
        .iter()
        .filter(|f| inserted.contains(&f.id))
        .map(|f| crate::notify::events::RaisedFlag {
            id: f.id,
            fund: f.fund_id,
            ministry: f.ministry_org_id,
            at: f.raised_at,
            flag: serde_json::to_value(super::http::Flag::new(f.clone(), &names))
                .unwrap_or_default(),
        })
        .collect();
    crate::notify::events::flags_raised(conn, raised)?;
    Ok(inserted.len())
}

/// Organisation names this process has read. A name never changes once the organisation
/// is created (nothing in the product renames one; `auth::store` only toggles `active`),
/// so a name read once can be used for every later flag message. Bounded: cleared when it
/// holds `NAMES_MAX`.
fn names_kept() -> &'static std::sync::Mutex<HashMap<Uuid, String>> {
    static NAMES: std::sync::OnceLock<std::sync::Mutex<HashMap<Uuid, String>>> =
        std::sync::OnceLock::new();
    NAMES.get_or_init(Default::default)
}

const NAMES_MAX: usize = 100_000;

/// How many windows (`Thresholds::window_days`) before a job's window the kept payments
/// reach: with one, 44 of the benchmark's 272 paying jobs read their ministries' flows
/// again (dated back past the kept window), with three 16.
const KEEP_WINDOWS: i64 = 3;

/// How many awards beyond a job's need a read of a ministry's latest awards asks for, so
/// that its next jobs find theirs in the kept state (`screening::flows::KeptAwards`).
const AWARDS_AHEAD: i64 = 32;

/// The kept names of these organisations.
fn known_names(orgs: &BTreeSet<Uuid>) -> HashMap<Uuid, String> {
    let Ok(kept) = names_kept().lock() else {
        return HashMap::new();
    };
    orgs.iter()
        .filter_map(|o| kept.get(o).map(|n| (*o, n.clone())))
        .collect()
}

fn remember_names(names: &HashMap<Uuid, String>) {
    let Ok(mut kept) = names_kept().lock() else {
        return;
    };
    if kept.len() + names.len() > NAMES_MAX {
        kept.clear();
    }
    kept.extend(names.iter().map(|(k, v)| (*k, v.clone())));
}

/// The paying ministries' flows for a job (`screening::flows`), and the state to keep for
/// the next job of the fund (staged by the caller once it has added the awards it read).
/// Every job of a screened fund passes here, paying or not, so that the kept state follows
/// the chain.
fn job_flows(
    st: &mut Derived<'_>,
    fund: Uuid,
    entries: &[Entry],
    rows: &[Option<FundEntryRow>],
    payers: &[store::Payer],
    since: Option<chrono::NaiveDate>,
    t: &Thresholds,
) -> diesel::QueryResult<(
    HashMap<Uuid, store::MinistryFlows>,
    Option<flows::FundState>,
)> {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Ok((HashMap::new(), None));
    };
    let next = last.seq.saturating_add(1);
    let job_rows: Vec<&FundEntryRow> = rows.iter().flatten().collect();
    // The kept state is at this job's start; the job's own rows are added to it (a state
    // read now already holds them).
    let kept = flows::take(fund, first.seq).map(|mut s| {
        s.apply(&job_rows, next);
        s
    });
    let Some(since) = since.filter(|_| !payers.is_empty()) else {
        // No payments: the state goes on as it was, or starts empty (it holds no ministry's
        // payments, so it claims no window: the first paying job starts it again).
        let state = kept.unwrap_or_else(|| flows::FundState::new(next, chrono::NaiveDate::MAX));
        return Ok((HashMap::new(), Some(state)));
    };
    // Read `KEEP_WINDOWS` windows more than this job needs, so that the next jobs (a day
    // later, or backdated by up to that) find what they need in the state.
    let keep_since = since - Duration::days(t.window_days.saturating_mul(KEEP_WINDOWS));
    let mut state = match kept {
        Some(s) if s.since <= since => s,
        // The kept payments do not reach back far enough: start them again, keep the awards.
        Some(s) => flows::FundState {
            awards: s.awards,
            ..flows::FundState::new(next, keep_since)
        },
        None => flows::FundState::new(next, keep_since),
    };
    let missing: Vec<Uuid> = payers
        .iter()
        .map(|p| p.0)
        .filter(|m| !state.ministries.contains_key(m))
        .collect();
    if !missing.is_empty() {
        st.flush_for_reads()?;
        let read = store::ministry_states(st.conn, fund, &missing, state.since)?;
        state.ministries.extend(read);
    }
    let out = payers
        .iter()
        .map(|(m, earliest, first_seq)| {
            let f = state
                .ministries
                .get(m)
                .map(|s| s.flows(*m, since, *earliest, *first_seq))
                .unwrap_or_default();
            (*m, f)
        })
        .collect();
    state.trim(keep_since);
    Ok((out, Some(state)))
}

/// The funding of a payment `row` (seq s, date D), from the ministry's totals: paid = its
/// unreversed payments dated on or before D and recorded up to s = total paid, less those
/// dated after D, less the job's payments after s dated on or before D; received = its
/// unreversed disbursements dated on or before D recorded before s, likewise.
fn funding_of(job: &JobFacts, row: &FundEntryRow) -> Option<FundingFact> {
    let ministry = row.ministry_org_id?;
    let fund = job.funding.get(&ministry)?;
    let (s, d) = (row.seq, row.business_date);
    let sum = |xs: &mut dyn Iterator<Item = Decimal>| xs.fold(Decimal::ZERO, |a, b| a + b);
    let dated_after = |rows: &[store::FlowRow]| {
        sum(&mut rows
            .iter()
            .filter(|(_, date, _)| *date > d)
            .filter_map(|(_, _, a)| *a))
    };
    let later_in_job = |rows: &[store::FlowRow]| {
        sum(&mut rows
            .iter()
            .filter(|(seq, date, _)| *seq > s && *date <= d)
            .filter_map(|(_, _, a)| *a))
    };
    let paid =
        fund.paid_total - dated_after(&fund.later_payments) - later_in_job(&fund.job_payments);
    let received = fund.disbursed_total
        - dated_after(&fund.later_disbursements)
        - later_in_job(&fund.job_disbursements);
    // The latest disbursement by then: before the job's payments, dated after the job's
    // earliest payment, or in the job itself.
    let latest = fund
        .latest_before
        .iter()
        .chain(&fund.later_disbursements)
        .chain(&fund.job_disbursements)
        .filter(|(seq, date, _)| *seq < s && *date <= d)
        .max_by_key(|(seq, date, _)| (*date, *seq))
        .map(|(seq, date, a)| (u(*seq), *date, a.unwrap_or_default()));
    Some(FundingFact {
        paid,
        received,
        latest_disbursement: latest,
    })
}

/// An invoice's or payment's `row` contract as it stood when the row was recorded: the
/// contract's value and totals now (the job included) less the amendments and invoices
/// (or payments) the job recorded after the row. `None` when the contract was not read
/// (it cannot be over the line) or the row itself was reversed.
fn over_contract_of(job: &JobFacts, contract: i64, row: &FundEntryRow) -> Option<OverContractFact> {
    let (c, entries) = job.contracts.get(&contract)?;
    if row.reversed_by.is_some() {
        return None;
    }
    let kind = row.kind.as_str();
    let total = match kind {
        "invoice" => c.invoiced,
        "payment" => c.paid,
        _ => return None,
    };
    let s = row.seq;
    // Payments are the tender's (see `store::contract_entries`); the others name the contract.
    let of_kind = |k: &'static str| {
        entries
            .iter()
            .filter(move |e| e.1 == k && (k == "payment" || e.3 == Some(c.seq)))
    };
    let sum_after = |k: &'static str| {
        of_kind(k)
            .filter(|e| e.0 > s)
            .filter_map(|e| e.2)
            .fold(Decimal::ZERO, |a, b| a.saturating_add(b))
    };
    let latest_before = |k: &'static str| {
        let mut seqs: Vec<u64> = of_kind(k)
            .filter(|e| e.0 < s)
            .take(OVER_CONTRACT_EVIDENCE_MAX)
            .map(|e| u(e.0))
            .collect();
        seqs.reverse();
        seqs
    };
    let own_kind = if kind == "invoice" {
        "invoice"
    } else {
        "payment"
    };
    Some(OverContractFact {
        contract: u(c.seq),
        vendor: job.name(Some(c.vendor_org_id)),
        currency: c.currency.clone(),
        amount: row.amount.unwrap_or_default(),
        original: c.original_value,
        value: c.value.saturating_sub(sum_after("contract_amendment")),
        cumulative: total.saturating_sub(sum_after(own_kind)),
        amendments: latest_before("contract_amendment"),
        earlier: latest_before(own_kind),
    })
}

/// `amount` is just under one of the method thresholds (near-threshold's band).
fn near_a_threshold(amount: Decimal, t: &Thresholds) -> bool {
    t.method_limits()
        .iter()
        .any(|(limit, _)| amount >= *limit - *limit * t.near_share && amount < *limit)
}

/// Whether the bid at `seq` is for `lot` (any bid, when no lot) and has no unknown
/// publisher status.
fn same_lot_valid(st: &mut Derived<'_>, seq: i64, lot: Option<&str>) -> diesel::QueryResult<bool> {
    let Some(bid) = st.entry(seq)? else {
        return Ok(false);
    };
    Ok(bid.status.is_none() && lot.is_none_or(|l| bid.lot.as_deref().is_none_or(|b| b == l)))
}

/// The facts of one entry; `None` for kinds no rule looks at.
#[allow(clippy::too_many_arguments)]
fn facts(
    st: &mut Derived<'_>,
    job: &JobFacts,
    ctx: &FundCtx,
    entry: &Entry,
    typed: &FundEntry,
    row: &FundEntryRow,
    t: &Thresholds,
) -> diesel::QueryResult<Option<Facts>> {
    if matches!(
        typed,
        FundEntry::Pledge(_) | FundEntry::FxRate(_) | FundEntry::Reversal(_)
    ) {
        return Ok(None);
    }
    let mut f = Facts {
        seq: entry.seq,
        kind: entry.kind.clone(),
        business_date: entry.business_date,
        recorded_at: entry.recorded_at,
        amount: row.amount_fund,
        currency: ctx.currency.code().to_owned(),
        vendor: job.name(row.vendor_org_id),
        ministry: job.name(row.ministry_org_id),
        deadline: None,
        invoice_number: None,
        direct_purchase: false,
        tender: None,
        contract: None,
        priors: Vec::new(),
        category: None,
        category_priors: Vec::new(),
        recent_awards: Vec::new(),
        contract_dates: None,
        vendor_first_seen: row
            .vendor_org_id
            .and_then(|v| job.first_seen.get(&v).copied()),
        fund_first_date: job.fund_first_date,
        earlier_amounts: Vec::new(),
        funding: None,
        approval: None,
        over_contract: None,
        imported: entry.principal.id == super::rules::IMPORT_PRINCIPAL
            || typed.imported().is_some(),
        bids_received: None,
        data_quality: typed
            .imported()
            .map(|i| {
                i.findings
                    .iter()
                    .map(|x| (x.code.code(), x.detail.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    };
    // Imported evidence: a tender the publisher says was cancelled, unsuccessful or
    // withdrawn is not screened as a competition; bids and awards compare within their
    // lot; a bid whose status is unknown is never read as a valid bid.
    let imported = typed.imported();
    let competition = matches!(
        typed,
        FundEntry::Tender(_) | FundEntry::Bid(_) | FundEntry::Award(_)
    );
    let tender_row = match (row.tender_seq, competition) {
        (Some(s), true) => st.tender(s)?,
        _ => None,
    };
    let ended = tender_row
        .as_ref()
        .and_then(|t| t.status.as_deref())
        .and_then(crate::entries::kinds::TenderStatus::parse)
        .is_some_and(|s| s.ended_without_award());
    let lot = match typed {
        FundEntry::Bid(b) => b.lot.clone(),
        FundEntry::Award(a) => a.lot.clone(),
        _ => None,
    };
    // The tender's own notice is screened whatever came of it: a submission period too
    // short to bid in is a red flag of the notice, and often why a tender failed
    // (cardinal's R003 flags it too); its bids and awards are not a competition.
    let ended = ended && !matches!(typed, FundEntry::Tender(_));
    if let (Some(tender_seq), true, false) = (
        row.tender_seq,
        matches!(
            typed,
            FundEntry::Tender(_) | FundEntry::Bid(_) | FundEntry::Award(_)
        ),
        ended,
    ) {
        let method = tender_row.map(|t| t.method).unwrap_or_default();
        let mut estimate = Decimal::ZERO;
        let mut published = entry.business_date;
        let mut bids = Vec::new();
        let mut disqualified: HashMap<i64, u64> = HashMap::new();
        // Only what existed when this entry was recorded: a bid later in the same job
        // is not evidence for an earlier award.
        for (s, kind, date, vendor, amount, ref_seq) in job
            .tender_entries
            .get(&tender_seq)
            .into_iter()
            .flatten()
            .filter(|e| e.0 <= row.seq)
        {
            match kind.as_str() {
                "tender" => {
                    estimate = amount.unwrap_or_default();
                    published = *date;
                }
                "bid" if imported.is_some() && !same_lot_valid(st, *s, lot.as_deref())? => {}
                "bid" => bids.push(BidFact {
                    seq: u(*s),
                    vendor: job.name(*vendor).unwrap_or_default(),
                    amount: amount.unwrap_or_default(),
                    disqualified: None,
                }),
                _ => {
                    if let Some(bid) = ref_seq {
                        disqualified.insert(*bid, u(*s));
                    }
                }
            }
        }
        for b in &mut bids {
            b.disqualified = i64::try_from(b.seq)
                .ok()
                .and_then(|s| disqualified.get(&s).copied());
        }
        if matches!(typed, FundEntry::Award(_)) {
            f.earlier_amounts.push(estimate);
        }
        f.tender = Some(TenderFact {
            seq: u(tender_seq),
            method,
            estimate,
            published,
            bids,
        });
    }
    match typed {
        FundEntry::Tender(t) => {
            let unknown_period = t.imported.as_ref().is_some_and(|i| {
                i.has(crate::entries::kinds::Dq::MissingDeadline)
                    || i.has(crate::entries::kinds::Dq::InvalidPeriod)
            });
            if !ended && !unknown_period {
                f.deadline = Some(t.deadline);
            }
        }
        // near-threshold, once per procurement: the award's amount and the tender's
        // estimate, read only for a contract value just under a threshold (rare).
        FundEntry::Contract(_) if row.amount_fund.is_some_and(|a| near_a_threshold(a, t)) => {
            for seq in [row.ref_seq, row.tender_seq].into_iter().flatten() {
                f.earlier_amounts
                    .extend(st.entry(seq)?.and_then(|e| e.amount_fund));
            }
        }
        FundEntry::Award(a) => {
            f.bids_received = Some(a.bids_received);
            let n = usize::try_from(t.consecutive_wins_min).unwrap_or(usize::MAX);
            f.recent_awards = row
                .ministry_org_id
                .and_then(|m| job.awards.get(&m))
                .into_iter()
                .flatten()
                .filter(|(s, ..)| *s <= row.seq)
                .take(n)
                .map(|(s, date, vendor, amount)| AwardFact {
                    seq: u(*s),
                    date: *date,
                    vendor: job.name(*vendor).unwrap_or_default(),
                    amount: *amount,
                })
                .collect();
        }
        FundEntry::ContractAmendment(_) => {
            if let Some(c) = row.ref_seq.map(|c| st.contract(c)).transpose()?.flatten() {
                f.currency = c.currency.clone();
                f.contract = Some(ContractFact {
                    seq: u(c.seq),
                    original: c.original_value,
                    value: c.value,
                    amendments: c.amendments,
                });
            }
        }
        FundEntry::Invoice(i) => {
            f.invoice_number = Some(i.invoice_number.clone());
            f.over_contract = row.ref_seq.and_then(|c| over_contract_of(job, c, row));
            f.priors = job
                .invoices
                .iter()
                .filter(|(s, v, n, _)| *s < row.seq && *v == i.vendor && *n == i.invoice_number)
                .map(|(s, _, n, amount)| Prior {
                    seq: u(*s),
                    date: entry.business_date,
                    amount: *amount,
                    invoice_number: Some(n.clone()),
                    direct: false,
                })
                .collect();
        }
        FundEntry::Approval(_) => {
            if let Some(target) = row.ref_seq.map(|s| st.entry(s)).transpose()?.flatten() {
                f.approval = Some(ApprovalFact {
                    approved_seq: u(target.seq),
                    approved_kind: target.kind.clone(),
                    approved_date: target.business_date,
                    approved_amount: target.amount_fund,
                    approver: entry.principal.id.clone(),
                    recorder: job.recorders.get(&target.seq).cloned().unwrap_or_default(),
                    recorded_under_policy: job.first_policy.is_some_and(|p| p < target.seq),
                });
            }
        }
        FundEntry::Payment(p) => {
            f.direct_purchase = p.invoice.is_none();
            f.invoice_number = row
                .ref_seq
                .and_then(|i| job.invoice_numbers.get(&i).cloned());
            f.funding = funding_of(job, row);
            if let Some(invoice) = row.ref_seq.map(|i| st.invoice(i)).transpose()?.flatten() {
                if let Some(c) = st.contract(invoice.contract_seq)? {
                    f.contract_dates = Some((u(c.seq), c.starts_on, c.ends_on));
                }
                f.over_contract = over_contract_of(job, invoice.contract_seq, row);
            }
            let since = entry.business_date - Duration::days(t.window_days);
            // Only the priors a payment screen can use: those near in amount
            // (duplicate-payment, near-duplicate-payment) and, for a direct purchase, the
            // other direct purchases (split-purchase). A vendor paid often in the window
            // has many others.
            let own = f.direct_purchase;
            let usable = |amount: &Option<Decimal>, direct: bool| match row.amount_fund {
                Some(a) => {
                    (own && direct)
                        || (amount.unwrap_or_default() - a).abs()
                            <= a.abs() * t.near_duplicate_share
                }
                None => true,
            };
            f.priors = job
                .payments_by_party
                .get(&(row.ministry_org_id, row.vendor_org_id))
                .into_iter()
                .flatten()
                .filter_map(|i| job.payments.get(*i))
                .filter(|(s, date, _, _, amount, invoice)| {
                    *s < row.seq && *date >= since && usable(amount, invoice.is_none())
                })
                .map(|(s, date, _, _, amount, invoice)| Prior {
                    seq: u(*s),
                    date: *date,
                    amount: amount.unwrap_or_default(),
                    invoice_number: invoice.and_then(|i| job.invoice_numbers.get(&i).cloned()),
                    direct: invoice.is_none(),
                })
                .collect();
            if f.direct_purchase {
                f.category = row.category.clone();
                f.category_priors = match (&row.category, row.ministry_org_id) {
                    (Some(category), Some(ministry)) => job
                        .category_payments
                        .iter()
                        .filter(|(s, date, m, _, c, _)| {
                            *s < row.seq
                                && *date >= since
                                && *m == Some(ministry)
                                && c.as_ref() == Some(category)
                        })
                        .map(|(s, date, _, v, _, amount)| CategoryPrior {
                            seq: u(*s),
                            date: *date,
                            amount: amount.unwrap_or_default(),
                            vendor: job.name(*v).unwrap_or_default(),
                        })
                        .collect(),
                    _ => Vec::new(),
                };
            }
        }
        _ => {}
    }
    Ok(Some(f))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// History: disbursement 3 (D−10, 150), payment 10 (D−5, 100), payment 20 (D+1, 50),
    /// disbursement 21 (D+2, 100). The job: payment 30 (D, 100), disbursement 31 (D, 10),
    /// payment 32 (D−1, 50). Totals include the job: paid 300, disbursed 260.
    #[test]
    fn funding_counts_what_was_dated_and_recorded_by_each_payment() {
        let m = Uuid::from_u128(7);
        let d: chrono::NaiveDate = "2026-06-15".parse().unwrap();
        let day = |n: i64| d + Duration::days(n);
        let row = |seq: i64, kind: &str, date, amount: &str| FundEntryRow {
            seq,
            kind: kind.to_owned(),
            business_date: date,
            ministry_org_id: Some(m),
            amount_fund: Some(dec(amount)),
            ..FundEntryRow::default()
        };
        let job_rows = [
            row(30, "payment", day(0), "100"),
            row(31, "disbursement", day(0), "10"),
            row(32, "payment", day(-1), "50"),
        ];
        // What the reads return with the job's earliest payment date D−1 and first seq 30.
        let funding = Funding {
            paid_total: dec("300"),
            disbursed_total: dec("260"),
            later_payments: vec![
                (20, day(1), Some(dec("50"))),
                (30, day(0), Some(dec("100"))),
            ],
            later_disbursements: vec![
                (21, day(2), Some(dec("100"))),
                (31, day(0), Some(dec("10"))),
            ],
            latest_before: Some((3, day(-10), Some(dec("150")))),
            job_payments: vec![
                (30, day(0), Some(dec("100"))),
                (32, day(-1), Some(dec("50"))),
            ],
            job_disbursements: vec![(31, day(0), Some(dec("10")))],
        };
        let job = JobFacts {
            names: HashMap::new(),
            first_seen: HashMap::new(),
            fund_first_date: None,
            tender_entries: HashMap::new(),
            payments: Vec::new(),
            payments_by_party: HashMap::new(),
            category_payments: Vec::new(),
            invoices: Vec::new(),
            invoice_numbers: HashMap::new(),
            funding: [(m, funding)].into_iter().collect(),
            awards: HashMap::new(),
            recorders: HashMap::new(),
            first_policy: None,
            contracts: HashMap::new(),
        };
        // Payment 30: payments 10 and 30 by D (not 20, dated later; not 32, recorded
        // later); disbursement 3 only (not 21, dated later; not 31, recorded later).
        let f = funding_of(&job, &job_rows[0]).unwrap();
        assert_eq!((f.paid, f.received), (dec("200"), dec("150")));
        assert_eq!(f.latest_disbursement, Some((3, day(-10), dec("150"))));
        // Payment 32, dated D−1: payments 10 and 32; disbursement 3 (31 is dated D).
        let f = funding_of(&job, &job_rows[2]).unwrap();
        assert_eq!((f.paid, f.received), (dec("150"), dec("150")));
        assert_eq!(f.latest_disbursement, Some((3, day(-10), dec("150"))));
        // A payment dated D+2 recorded last would see disbursement 21 as the latest.
        let late = row(40, "payment", day(2), "1");
        let f = funding_of(&job, &late).unwrap();
        assert_eq!(f.latest_disbursement, Some((21, day(2), dec("100"))));
        assert_eq!(f.received, dec("260"));
    }
}
