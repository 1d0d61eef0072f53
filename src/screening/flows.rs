//! The paying ministries' recent flows that the per-entry screens read for every append
//! job (the window's payments, the disbursements), and the awarding ministries' latest
//! awards, kept in memory between jobs of the same fund: consecutive jobs read almost the
//! same rows (a 30-day window moves by a day), and those reads were the largest part of
//! what screening adds to an append (docs/benchmarks.md).
//!
//! The kept state is what `store::ministry_states` would read at one chain size. A job uses
//! it only when its first entry's seq is that size, that is, when the chain holds exactly
//! the entries the state was built from: entries are append-only, and every change to a
//! fund's index rows (a payment, a disbursement, a reversal) is an entry of the fund's
//! chain. Otherwise (another process appended, or this process never read the fund) the
//! job reads the database. A job's new state is *staged*: a later job of the same group
//! (same transaction) may use it, and it is kept for the next groups only once the writer
//! reports that the group committed at exactly the size the state was built for
//! (`Effect::committed`, `promote`). A state staged by a job that rolled back (a refused
//! job's savepoint, a failed commit) is never promoted: the group that commits after it
//! reaches its size, if at all, with other entries, and its own jobs staged the states
//! for the sizes they reached.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::store::{AwardRow, CategoryPaymentRow, FlowRow, MinistryFlows, PaymentRow};

/// An unreversed payment as the flows keep it: (seq, business date, vendor, item category,
/// amount in the fund's currency, invoice seq if any).
pub type FlowPayment = (
    i64,
    NaiveDate,
    Option<Uuid>,
    Option<String>,
    Option<Decimal>,
    Option<i64>,
);

/// One ministry's unreversed payments dated on or after the state's `since`, and all its
/// unreversed disbursements, each in seq order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MinistryState {
    pub payments: Vec<FlowPayment>,
    pub disbursements: Vec<FlowRow>,
}

impl MinistryState {
    /// What a job needs of this ministry: its payments dated on or after `since`, those
    /// that are direct purchases with a category, those dated after `earliest` (the job's
    /// earliest payment date of the ministry), the disbursements dated after it, and the
    /// latest disbursement dated on or before it and recorded before `first_seq` (the
    /// job's first payment of the ministry), by (business date, seq).
    pub fn flows(
        &self,
        ministry: Uuid,
        since: NaiveDate,
        earliest: NaiveDate,
        first_seq: i64,
    ) -> MinistryFlows {
        let mut f = MinistryFlows::default();
        for (seq, date, vendor, category, amount, invoice) in &self.payments {
            if *date < since {
                continue;
            }
            if *date > earliest {
                f.later_payments.push((*seq, *date, *amount));
            }
            if invoice.is_none() && category.is_some() {
                let row: CategoryPaymentRow = (
                    *seq,
                    *date,
                    Some(ministry),
                    *vendor,
                    category.clone(),
                    *amount,
                );
                f.direct_purchases.push(row);
            }
            let row: PaymentRow = (*seq, *date, Some(ministry), *vendor, *amount, *invoice);
            f.payments.push(row);
        }
        for d in &self.disbursements {
            if d.1 > earliest {
                f.later_disbursements.push(*d);
            } else if d.0 < first_seq && f.latest_before.is_none_or(|l| (l.1, l.0) < (d.1, d.0)) {
                f.latest_before = Some(*d);
            }
        }
        f
    }
}

/// The most awards kept of one ministry: a ministry whose awards were all read, and have
/// grown past this, keeps only its latest this many.
pub const AWARDS_KEPT_MAX: usize = 256;

/// A ministry's latest unreversed awards, latest dated first (seq breaks ties): the first
/// `latest.len()` of them in that order, or all of them when `all`. `vendor-concentration`
/// reads a ministry's latest awards for every award (its repeated wins).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeptAwards {
    pub latest: Vec<AwardRow>,
    pub all: bool,
}

impl KeptAwards {
    /// The ministry's latest `limit` awards, when what is kept is enough to know them.
    pub fn latest(&self, limit: usize) -> Option<Vec<AwardRow>> {
        (self.all || self.latest.len() >= limit)
            .then(|| self.latest.iter().take(limit).copied().collect())
    }

    /// A new award: it takes its place by (date, seq) if it is among the latest kept (the
    /// latest `n` of the awards and it are the latest `n` kept and it, less the oldest).
    fn add(&mut self, award: AwardRow) {
        let key = |a: &AwardRow| (a.1, a.0);
        let at = self.latest.partition_point(|a| key(a) > key(&award));
        if !self.all && at >= self.latest.len() {
            return;
        }
        self.latest.insert(at, award);
        if !self.all || self.latest.len() > AWARDS_KEPT_MAX {
            self.latest.pop();
            self.all = false;
        }
    }
}

/// The flows of a fund's ministries at one chain size: complete for payments dated on or
/// after `since`, for the ministries it holds; and the latest awards of the ministries it
/// holds them for.
#[derive(Debug, Clone, PartialEq)]
pub struct FundState {
    /// The chain's size the state was built at (the seq of the next entry).
    pub size: u64,
    pub since: NaiveDate,
    pub ministries: HashMap<Uuid, MinistryState>,
    pub awards: HashMap<Uuid, KeptAwards>,
    /// Invoice numbers of invoices the kept payments pay, by invoice seq, as far as a job
    /// learnt them (an invoice's number never changes): near-duplicate-payment compares the
    /// numbers of a payment's near priors, which then need no read.
    pub numbers: HashMap<i64, String>,
}

impl FundState {
    /// An empty state at `size`, complete for payments from `since` once its ministries
    /// are read.
    pub fn new(size: u64, since: NaiveDate) -> Self {
        FundState {
            size,
            since,
            ministries: HashMap::new(),
            awards: HashMap::new(),
            numbers: HashMap::new(),
        }
    }

    /// Applies a job's index rows (after the job: a row reversed within the job has
    /// `reversed_by`): its unreversed payments and disbursements of the ministries held,
    /// its unreversed awards of the ministries whose awards are held, and the reversals,
    /// which drop their targets (a reversed award that was among a ministry's latest kept
    /// drops that ministry's awards, unless all are kept: the next one back is not).
    /// `size` becomes the chain's size after the job.
    pub fn apply(&mut self, rows: &[&crate::funds::state::FundEntryRow], size: u64) {
        for row in rows {
            if row.kind == "reversal" {
                if let Some(target) = row.ref_seq {
                    for m in self.ministries.values_mut() {
                        m.payments.retain(|p| p.0 != target);
                        m.disbursements.retain(|d| d.0 != target);
                    }
                    self.awards
                        .retain(|_, k| k.all || k.latest.iter().all(|a| a.0 != target));
                    for k in self.awards.values_mut() {
                        k.latest.retain(|a| a.0 != target);
                    }
                }
                continue;
            }
            if row.reversed_by.is_some() {
                continue;
            }
            if row.kind == "award" {
                if let Some(k) = row.ministry_org_id.and_then(|m| self.awards.get_mut(&m)) {
                    k.add((
                        row.seq,
                        row.business_date,
                        row.vendor_org_id,
                        row.amount_fund,
                    ));
                }
                continue;
            }
            let Some(m) = row
                .ministry_org_id
                .and_then(|m| self.ministries.get_mut(&m))
            else {
                continue;
            };
            match row.kind.as_str() {
                "payment" if row.business_date >= self.since => m.payments.push((
                    row.seq,
                    row.business_date,
                    row.vendor_org_id,
                    row.category.clone(),
                    row.amount_fund,
                    row.ref_seq,
                )),
                "disbursement" => {
                    m.disbursements
                        .push((row.seq, row.business_date, row.amount_fund))
                }
                _ => {}
            }
        }
        self.size = size;
    }

    /// Drops the payments dated before `since` (later than the state's), so that the
    /// state follows the window instead of growing.
    pub fn trim(&mut self, since: NaiveDate) {
        if since <= self.since {
            return;
        }
        self.since = since;
        for m in self.ministries.values_mut() {
            m.payments.retain(|p| p.1 >= since);
        }
        let paid: std::collections::HashSet<i64> = self
            .ministries
            .values()
            .flat_map(|m| m.payments.iter().filter_map(|p| p.5))
            .collect();
        self.numbers.retain(|invoice, _| paid.contains(invoice));
    }
}

#[derive(Default)]
struct Kept {
    /// Per fund: the state at the chain's committed size.
    committed: HashMap<Uuid, FundState>,
    /// Per fund: states built by jobs whose group has not committed yet, by size.
    staged: HashMap<Uuid, Vec<FundState>>,
}

/// The funds this process appends to are few; a bound keeps a long-lived process with many
/// funds from holding stale states for all of them.
const FUNDS_MAX: usize = 64;
/// Staged states per fund kept at once: each job takes the one the job before it staged,
/// so only those of refused jobs stay behind.
const STAGED_MAX: usize = 16;

fn kept() -> &'static Mutex<Kept> {
    static KEPT: OnceLock<Mutex<Kept>> = OnceLock::new();
    KEPT.get_or_init(|| Mutex::new(Kept::default()))
}

/// The state a job of `fund` starting at seq `first` can use: one staged by an earlier job
/// of the same group, or the committed one, when built at `first`. It is taken, not
/// copied (a window's payments are many): the job stages the state it builds from it. A
/// job refused after taking it leaves nothing at its size, and the next job reads the
/// database as a job does whose state is not kept.
pub fn take(fund: Uuid, first: u64) -> Option<FundState> {
    let mut kept = kept().lock().ok()?;
    if let Some(staged) = kept.staged.get_mut(&fund) {
        if let Some(at) = staged.iter().rposition(|s| s.size == first) {
            return Some(staged.remove(at));
        }
    }
    match kept.committed.get(&fund) {
        Some(s) if s.size == first => kept.committed.remove(&fund),
        _ => None,
    }
}

/// Keeps `state` until its group commits (`promote`).
pub fn stage(fund: Uuid, state: FundState) {
    let Ok(mut kept) = kept().lock() else { return };
    let staged = kept.staged.entry(fund).or_default();
    // Within a group sizes only grow: one at or past this size was staged by a job that
    // rolled back, or by a group that failed.
    staged.retain(|s| s.size < state.size);
    if staged.len() >= STAGED_MAX {
        staged.remove(0);
    }
    staged.push(state);
}

/// The group of a job of `fund` committed and the chain now has `size` entries: the state
/// staged for that size becomes the fund's state; the other staged ones are dropped (built
/// for sizes the chain passed, or by jobs that rolled back). The writer calls this once per
/// job of the group: after the first, nothing is staged and the state promoted for `size`
/// stays.
pub fn promote(fund: Uuid, size: u64) {
    let Ok(mut kept) = kept().lock() else { return };
    let state = kept
        .staged
        .remove(&fund)
        .and_then(|v| v.into_iter().find(|s| s.size == size));
    match state {
        Some(state) => {
            if kept.committed.len() >= FUNDS_MAX && !kept.committed.contains_key(&fund) {
                kept.committed.clear();
            }
            kept.committed.insert(fund, state);
        }
        None => {
            if kept.committed.get(&fund).is_some_and(|s| s.size != size) {
                kept.committed.remove(&fund);
            }
        }
    }
}

/// Drops what is kept of `fund` (its appends ran without the screens, which keep nothing).
pub fn forget(fund: Uuid) {
    if let Ok(mut kept) = kept().lock() {
        kept.committed.remove(&fund);
        kept.staged.remove(&fund);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
    }

    /// A fund entry's index row of `kind` by `ministry`, of amount 1.
    fn index_row(
        seq: i64,
        kind: &str,
        ministry: Uuid,
        business_date: NaiveDate,
        ref_seq: Option<i64>,
    ) -> crate::funds::state::FundEntryRow {
        crate::funds::state::FundEntryRow {
            seq,
            kind: kind.to_owned(),
            business_date,
            ministry_org_id: Some(ministry),
            ref_seq,
            amount_fund: Some(Decimal::ONE),
            fund_id: Uuid::nil(),
            vendor_org_id: None,
            donor_org_id: None,
            category: None,
            currency: None,
            amount: None,
            tender_seq: None,
            reversed_by: None,
            lot: None,
            status: None,
        }
    }

    fn state(size: u64) -> FundState {
        FundState {
            size,
            since: d(1),
            ministries: HashMap::new(),
            awards: HashMap::new(),
            numbers: HashMap::new(),
        }
    }

    #[test]
    fn a_job_uses_only_the_state_of_the_size_it_starts_at_and_only_once_committed() {
        let fund = Uuid::new_v4();
        assert_eq!(take(fund, 10), None);
        stage(fund, state(10));
        // Staged at another size: not for this job.
        assert_eq!(take(fund, 11), None);
        // Staged by an earlier job of the same group: the next job takes it.
        assert_eq!(take(fund, 10).map(|s| s.size), Some(10));
        // Taken, not copied: a job refused after taking it leaves nothing at its size.
        assert_eq!(take(fund, 10), None);
        // The group committed at another size (the job rolled back, others appended):
        // nothing is kept.
        stage(fund, state(11));
        promote(fund, 12);
        assert_eq!(take(fund, 11), None);
        assert_eq!(take(fund, 12), None);
        stage(fund, state(20));
        stage(fund, state(25));
        promote(fund, 25);
        // The group had two jobs of the fund: the writer promotes once per job, and the
        // second call keeps what the first promoted.
        promote(fund, 25);
        assert_eq!(take(fund, 20), None);
        assert_eq!(take(fund, 25).map(|s| s.size), Some(25));
        // The next group's job took it and staged its own; that group committed.
        stage(fund, state(27));
        promote(fund, 27);
        // A group that committed at another size without staging (its jobs ran unscreened
        // or another process appended): the kept state no longer matches.
        promote(fund, 30);
        assert_eq!(take(fund, 27), None);
        assert_eq!(take(fund, 30), None);
    }

    #[test]
    fn a_rolled_back_job_s_state_is_never_used() {
        let fund = Uuid::new_v4();
        // A job staged 30 and rolled back; the next job of the group started again at 20
        // and reached 26: the stale state for 30 must not serve a job starting at 30.
        stage(fund, state(30));
        stage(fund, state(26));
        assert_eq!(take(fund, 30), None);
        assert_eq!(take(fund, 26).map(|s| s.size), Some(26));
        // A failed group drops everything kept of the fund, staged or committed.
        stage(fund, state(26));
        promote(fund, 26);
        stage(fund, state(28));
        forget(fund);
        assert_eq!(take(fund, 28), None);
        assert_eq!(take(fund, 26), None);
    }

    #[test]
    fn flows_split_later_and_latest_before_like_the_database_read() {
        let m = Uuid::new_v4();
        let amount = Some(Decimal::ONE);
        let s = MinistryState {
            payments: vec![
                (1, d(2), None, Some("food".to_owned()), amount, None),
                (3, d(9), None, None, amount, Some(2)),
                (5, d(20), None, None, amount, Some(4)),
            ],
            disbursements: vec![
                (6, d(5), amount),
                (7, d(5), amount),
                (8, d(4), amount),
                (9, d(15), amount),
                (30, d(6), amount),
            ],
        };
        let f = s.flows(m, d(3), d(10), 20);
        // From `since` on; the direct purchase of the 2nd is before it.
        assert_eq!(f.payments.iter().map(|p| p.0).collect::<Vec<_>>(), [3, 5]);
        assert!(f.direct_purchases.is_empty());
        assert_eq!(
            f.later_payments.iter().map(|p| p.0).collect::<Vec<_>>(),
            [5]
        );
        assert_eq!(
            f.later_disbursements
                .iter()
                .map(|p| p.0)
                .collect::<Vec<_>>(),
            [9]
        );
        // Dated on or before the 10th and recorded before seq 20: the 5th's last, 7
        // (30 is dated later but recorded after the job's first payment).
        assert_eq!(f.latest_before.map(|l| l.0), Some(7));
        let all = s.flows(m, d(1), d(10), 20);
        assert_eq!(
            all.direct_purchases.iter().map(|p| p.0).collect::<Vec<_>>(),
            [1]
        );
    }

    #[test]
    fn a_job_adds_its_payments_and_disbursements_and_drops_what_it_reverses() {
        let m = Uuid::new_v4();
        let mut s = state(3);
        s.ministries.insert(
            m,
            MinistryState {
                payments: vec![(1, d(2), None, None, Some(Decimal::ONE), None)],
                disbursements: vec![(2, d(1), Some(Decimal::TEN))],
            },
        );
        let row =
            |seq: i64, kind: &str, ref_seq: Option<i64>| index_row(seq, kind, m, d(4), ref_seq);
        let rows = [
            row(3, "payment", None),
            row(4, "disbursement", None),
            row(5, "reversal", Some(1)),
        ];
        s.apply(&rows.iter().collect::<Vec<_>>(), 6);
        assert_eq!(s.size, 6);
        let ms = &s.ministries[&m];
        assert_eq!(ms.payments.iter().map(|p| p.0).collect::<Vec<_>>(), [3]);
        assert_eq!(
            ms.disbursements.iter().map(|p| p.0).collect::<Vec<_>>(),
            [2, 4]
        );
        s.trim(d(5));
        assert!(s.ministries[&m].payments.is_empty());
    }

    #[test]
    fn kept_awards_follow_the_latest_by_date_then_seq() {
        let m = Uuid::new_v4();
        let a = |seq: i64, day: u32| -> AwardRow { (seq, d(day), None, Some(Decimal::ONE)) };
        // The latest three of more: a later award displaces the oldest kept.
        let mut k = KeptAwards {
            latest: vec![a(9, 20), a(8, 18), a(7, 18)],
            all: false,
        };
        assert_eq!(k.latest(2), Some(vec![a(9, 20), a(8, 18)]));
        assert_eq!(k.latest(4), None, "the 4th latest is not kept");
        k.add(a(12, 19));
        assert_eq!(k.latest, [a(9, 20), a(12, 19), a(8, 18)]);
        // A backdated one older than all kept is not among the latest three.
        k.add(a(13, 2));
        assert_eq!(k.latest, [a(9, 20), a(12, 19), a(8, 18)]);
        // All of them kept: any new one is added.
        let mut all = KeptAwards {
            latest: vec![a(2, 5)],
            all: true,
        };
        all.add(a(3, 1));
        assert_eq!(all.latest, [a(2, 5), a(3, 1)]);
        assert_eq!(all.latest(10), Some(vec![a(2, 5), a(3, 1)]));

        // Through a job's rows: awards of a held ministry are added, a reversal of a kept
        // award drops the ministry's (its next one back is not kept), or only that award
        // when all are kept.
        let other = Uuid::new_v4();
        let mut s = state(20);
        s.awards.insert(m, k.clone());
        s.awards.insert(other, all.clone());
        let row = |seq: i64, kind: &str, ministry: Uuid, ref_seq: Option<i64>| {
            index_row(seq, kind, ministry, d(25), ref_seq)
        };
        let rows = [
            row(20, "award", m, None),
            row(21, "reversal", other, Some(3)),
        ];
        s.apply(&rows.iter().collect::<Vec<_>>(), 22);
        assert_eq!(s.awards[&m].latest[0].0, 20);
        assert_eq!(s.awards[&m].latest.len(), 3);
        assert_eq!(s.awards[&other].latest, [a(2, 5)]);
        let rows = [row(22, "reversal", m, Some(12))];
        s.apply(&rows.iter().collect::<Vec<_>>(), 23);
        assert!(!s.awards.contains_key(&m));
        assert!(s.awards.contains_key(&other));
    }
}
