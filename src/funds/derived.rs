//! The derived state of one fund as the rules see it during one job (one post or batch):
//! rows are read once (references prefetched per table), changed in memory, and written
//! back by `flush` in one multi-row upsert per table. A batch of 1,000 entries thus costs
//! a few statements in all instead of a dozen per entry (docs/benchmarks.md, seed-demo).
//!
//! Within a group of jobs committed together (`ledger::writer`), what a job read is kept
//! for the group's next job (`Kept`), and the positions and allocations are written once
//! at the group's end rather than after each job (`Kept::deferring`, `Kept::finish`); in a
//! group applied in memory (lazy), every changed row is, unless a read that is not by key
//! needs it first (`Derived::flush_for_reads`).
//!
//! Correctness: the rules refuse before a job writes anything; a refused job's cache is
//! dropped unflushed (and its savepoint, if it has one, rolled back), and the next job
//! starts from what earlier jobs left to the group's end (`Kept::pending`) and reads
//! everything else again. Queries that are not lookups by key
//! combine the job's cached rows with the database's (`rate_on`, `has_bid`) or flush first
//! (`latest_amendment`). No one else writes the fund meanwhile: the chain's head row is
//! locked for the whole transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::PgConnection;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::state::{
    self, AllocationRow, AmendmentRow, ApprovalRow, BidDisqualificationRow, ContractRow,
    DonorPosition, EvidenceRow, FundEntryRow, FundPosition, FxRateRow, InvoiceRow,
    MinistryPosition, TenderRow,
};
use super::store as fund_store;

/// Rows of one table by key (`None` = known absent); `dirty` keys are written at flush,
/// each in one multi-row upsert per table.
struct Table<K: Ord + Copy, R> {
    rows: HashMap<K, Option<R>>,
    dirty: BTreeSet<K>,
}

impl<K: Ord + Copy + std::hash::Hash, R: Clone> Table<K, R> {
    fn new() -> Self {
        Self {
            rows: HashMap::new(),
            dirty: BTreeSet::new(),
        }
    }

    fn get(
        &mut self,
        conn: &mut PgConnection,
        key: K,
        load: impl FnOnce(&mut PgConnection) -> QueryResult<Option<R>>,
    ) -> QueryResult<Option<R>> {
        if let Some(r) = self.rows.get(&key) {
            return Ok(r.clone());
        }
        let r = load(conn)?;
        self.rows.insert(key, r.clone());
        Ok(r)
    }

    fn put(&mut self, key: K, row: R) {
        self.dirty.insert(key);
        self.rows.insert(key, Some(row));
    }

    /// Only the rows still to be written, with their marks.
    fn dirty_only(&self) -> Self {
        Self {
            rows: self
                .dirty
                .iter()
                .filter_map(|k| self.rows.get(k).map(|r| (*k, r.clone())))
                .collect(),
            dirty: self.dirty.clone(),
        }
    }

    /// The rows to write, clearing the dirty marks.
    fn take_dirty(&mut self) -> Vec<R> {
        std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|k| self.rows.get(&k).cloned().flatten())
            .collect()
    }
}

/// Rows matching a lookup that is not by key: the stored ones as this job's cache has them
/// now (a row the job reversed is dropped), plus the job's own new ones; live only, in seq
/// order.
fn merge_live<R: Clone>(
    table: &Table<i64, R>,
    stored: Vec<R>,
    matches: impl Fn(&R) -> bool,
    live: impl Fn(&R) -> bool,
    seq_of: impl Fn(&R) -> i64,
) -> Vec<R> {
    let mut out: BTreeMap<i64, R> = BTreeMap::new();
    for r in stored {
        let seq = seq_of(&r);
        match table.rows.get(&seq) {
            Some(Some(cached)) => {
                if matches(cached) && live(cached) {
                    out.insert(seq, cached.clone());
                }
            }
            _ => {
                out.insert(seq, r);
            }
        }
    }
    for r in table.rows.values().flatten() {
        if matches(r) && live(r) {
            out.insert(seq_of(r), r.clone());
        }
    }
    out.into_values().collect()
}

/// Writes a higher layer leaves to the end of the group (screening's flags: nothing reads
/// them while the group runs), kept with the derived state and written by `Kept::finish`
/// in one go for the whole group.
pub trait LateWrites: std::any::Any {
    fn write(self: Box<Self>, conn: &mut PgConnection) -> QueryResult<()>;
    /// How many rows are kept (a job's are dropped with `truncate` when it fails).
    fn len(&self) -> usize;
    fn truncate(&mut self, len: usize);
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The earlier entries a job refers to, by the table they are read from (filled by
/// `entries::kinds::FundEntry::references`).
#[derive(Debug, Default)]
pub struct References {
    pub allocations: Vec<i64>,
    pub tenders: Vec<i64>,
    /// Tenders whose live disqualifications an award checks.
    pub disqualified_tenders: Vec<i64>,
    pub contracts: Vec<i64>,
    pub invoices: Vec<i64>,
    /// Entries read by their index row (awards, bids, reversed and approved entries).
    pub entries: Vec<i64>,
    /// Organisations whose kind the rules check (`org_kind`).
    pub orgs: Vec<Uuid>,
}

impl References {
    /// Adds what `other` refers to.
    pub fn extend(&mut self, other: References) {
        self.allocations.extend(other.allocations);
        self.tenders.extend(other.tenders);
        self.disqualified_tenders.extend(other.disqualified_tenders);
        self.contracts.extend(other.contracts);
        self.invoices.extend(other.invoices);
        self.entries.extend(other.entries);
        self.orgs.extend(other.orgs);
    }
}

/// An unreversed invoice as screening compares it: (seq, vendor, number, amount).
pub type NumberedInvoice = (i64, Uuid, String, Decimal);

/// What a group's jobs will record, known before the first of them runs
/// (`ledger::writer::Effect::look_ahead`), so that a read each job would make is made once
/// for the whole group. Kept with the derived state of a group applied in memory; dropped
/// when a job is refused (what a refused job added cannot be told apart), after which
/// each job reads for itself again.
#[derive(Debug, Default)]
pub struct Ahead {
    /// A job of the group writes as it goes (a reversal, an approval, a setting) or runs
    /// unscreened: nothing here may be relied on.
    pub off: bool,
    /// What the group's jobs refer to, until the first job reads it with its own
    /// (`prefetch` reads only rows the group has not read or changed, so what it reads is
    /// as the group found it).
    pub refs: Option<References>,
    /// The (vendor, invoice number) of every invoice the group's jobs record.
    pub numbered: BTreeSet<(Uuid, String)>,
    /// Once read (by screening, at the group's first invoice): per pair of `numbered`,
    /// the unreversed invoices recorded before, then those the group's jobs record, as
    /// (seq, vendor, number, amount) in seq order.
    pub invoices: Option<HashMap<(Uuid, String), Vec<NumberedInvoice>>>,
}

impl Ahead {
    /// Whether the pairs were all looked ahead, so that the group's read answers them.
    pub fn covers<'a>(&self, pairs: impl IntoIterator<Item = &'a (Uuid, String)>) -> bool {
        !self.off && pairs.into_iter().all(|p| self.numbered.contains(p))
    }
}

pub struct Derived<'c> {
    pub conn: &'c mut PgConnection,
    fund: Uuid,
    defer: bool,
    /// Leave every changed row unwritten at the end of a job, until the group's end or a
    /// read that is not by key needs them (`flush_for_reads`).
    lazy: bool,
    position: Table<(), FundPosition>,
    donors: Table<Uuid, DonorPosition>,
    ministries: Table<Uuid, MinistryPosition>,
    allocations: Table<i64, AllocationRow>,
    fx: Table<i64, FxRateRow>,
    tenders: Table<i64, TenderRow>,
    contracts: Table<i64, ContractRow>,
    amendments: Table<i64, AmendmentRow>,
    invoices: Table<i64, InvoiceRow>,
    entries: Table<i64, FundEntryRow>,
    disqualifications: Table<i64, BidDisqualificationRow>,
    approvals: Table<i64, ApprovalRow>,
    evidence: Vec<EvidenceRow>,
    /// Tenders whose stored live disqualifications are all in `disqualifications`.
    disqualified_tenders: BTreeSet<i64>,
    /// The approval policy once read (`None` = not read yet); written through.
    approval_policy: Option<Option<state::ApprovalPolicyRow>>,
    orgs: HashMap<(Uuid, bool), Option<String>>,
    /// Whether this job wrote through this state (a flush, the approval policy): a job
    /// refused before it did left nothing in the database.
    wrote: bool,
    late: Option<Box<dyn LateWrites>>,
    ahead: Option<Ahead>,
}

macro_rules! keyed {
    ($get:ident, $save:ident, $field:ident, $row:ty, $load:path) => {
        pub fn $get(&mut self, seq: i64) -> QueryResult<Option<$row>> {
            let fund = self.fund;
            self.$field.get(self.conn, seq, |c| $load(c, fund, seq))
        }

        pub fn $save(&mut self, row: &$row) -> QueryResult<()> {
            self.$field.put(row.seq, row.clone());
            Ok(())
        }
    };
}

/// What a flushed `Derived` knows, kept for the next job of the same group (`into_kept`,
/// `resume`): the rows it read or wrote, all as the database has them after the flush, so
/// the next job reads none of them again. Valid only inside the group's transaction and
/// only while every job since it was taken committed to its savepoint: a refused job
/// rolls its writes back, and then what was kept must be dropped (`ledger::writer::
/// GroupScratch` drops it).
pub struct Kept {
    fund: Uuid,
    /// Leave the positions and allocations unwritten at the end of a job (`into_kept`):
    /// the group writes them once, at its end (`finish`).
    defer: bool,
    /// Leave every changed row unwritten at the end of a job, until the group's end or a
    /// read that is not by key needs them (`flush_for_reads`).
    lazy: bool,
    position: Table<(), FundPosition>,
    donors: Table<Uuid, DonorPosition>,
    ministries: Table<Uuid, MinistryPosition>,
    allocations: Table<i64, AllocationRow>,
    fx: Table<i64, FxRateRow>,
    tenders: Table<i64, TenderRow>,
    contracts: Table<i64, ContractRow>,
    amendments: Table<i64, AmendmentRow>,
    invoices: Table<i64, InvoiceRow>,
    entries: Table<i64, FundEntryRow>,
    disqualifications: Table<i64, BidDisqualificationRow>,
    approvals: Table<i64, ApprovalRow>,
    disqualified_tenders: BTreeSet<i64>,
    /// The approval policy as read or written by an earlier job (`None` = not read yet):
    /// only a job of the group changes it, and that job writes it through.
    approval_policy: Option<Option<state::ApprovalPolicyRow>>,
    orgs: HashMap<(Uuid, bool), Option<String>>,
    late: Option<Box<dyn LateWrites>>,
    ahead: Option<Ahead>,
}

impl Kept {
    /// Nothing known yet about `fund`; every changed row written at the end of each job.
    pub fn new(fund: Uuid) -> Self {
        Self::with_defer(fund, false)
    }

    /// Nothing known yet about `fund`, for the jobs of a group: the fund's, donors' and
    /// ministries' positions and the allocations, which nearly every job changes and
    /// which nothing reads with SQL during a group (the rules read them from this cache;
    /// screening reads none of them), are written once at the group's end (`finish`),
    /// not once per job.
    ///
    /// `lazy`: every other changed row too is left unwritten at the end of each job, until
    /// the group's end or a read that needs it (`Derived::flush_for_reads`); and later
    /// layers may leave their writes to the group's end (`Derived::late`). Only for a
    /// group whose failed writes make it be applied again with a savepoint per job
    /// (`ledger::writer::GroupScratch::in_memory`): a row written late is written with
    /// other jobs' rows, and its failure cannot be told apart.
    pub fn deferring(fund: Uuid, lazy: bool) -> Self {
        let mut k = Self::with_defer(fund, true);
        k.lazy = lazy;
        k
    }

    fn with_defer(fund: Uuid, defer: bool) -> Self {
        let lazy = false;
        Self {
            fund,
            defer,
            lazy,
            position: Table::new(),
            donors: Table::new(),
            ministries: Table::new(),
            allocations: Table::new(),
            fx: Table::new(),
            tenders: Table::new(),
            contracts: Table::new(),
            amendments: Table::new(),
            invoices: Table::new(),
            entries: Table::new(),
            disqualifications: Table::new(),
            approvals: Table::new(),
            disqualified_tenders: BTreeSet::new(),
            approval_policy: None,
            orgs: HashMap::new(),
            late: None,
            ahead: None,
        }
    }

    /// What the group's jobs will record (`Ahead`), looked ahead before they run; only in
    /// a group applied in memory (`deferring` lazy).
    pub fn ahead(&mut self) -> Option<&mut Ahead> {
        self.lazy
            .then(|| self.ahead.get_or_insert_with(Ahead::default))
    }

    /// What must survive a refused job: the rows earlier jobs changed and left to the
    /// group's end (nothing else: every other row is read again from the database, which
    /// the refused job's savepoint restored).
    pub fn pending(&self) -> Self {
        let mut k = Self::with_defer(self.fund, self.defer);
        k.lazy = self.lazy;
        k.position = self.position.dirty_only();
        k.donors = self.donors.dirty_only();
        k.ministries = self.ministries.dirty_only();
        k.allocations = self.allocations.dirty_only();
        if self.lazy {
            k.fx = self.fx.dirty_only();
            k.tenders = self.tenders.dirty_only();
            k.contracts = self.contracts.dirty_only();
            k.amendments = self.amendments.dirty_only();
            k.invoices = self.invoices.dirty_only();
            k.entries = self.entries.dirty_only();
            k.disqualifications = self.disqualifications.dirty_only();
            k.approvals = self.approvals.dirty_only();
        }
        k
    }

    /// Writes what the group's jobs left to its end, before the group commits.
    pub fn finish(mut self, conn: &mut PgConnection) -> QueryResult<()> {
        let late = self.late.take();
        Derived::resume(conn, self).flush()?;
        match late {
            Some(late) => late.write(conn),
            None => Ok(()),
        }
    }

    /// How many rows the late writes hold (`LateWrites::len`).
    pub fn late_len(&self) -> usize {
        self.late.as_ref().map_or(0, |l| l.len())
    }

    /// Takes the late writes.
    pub fn take_late(&mut self) -> Option<Box<dyn LateWrites>> {
        self.late.take()
    }

    /// Puts back the late writes of the group's earlier jobs (after a refused job).
    pub fn set_late(&mut self, late: Option<Box<dyn LateWrites>>) {
        self.late = late;
    }
}

impl<'c> Derived<'c> {
    pub fn new(conn: &'c mut PgConnection, fund: Uuid) -> Self {
        Self::resume(conn, Kept::new(fund))
    }

    /// A job's state starting from what earlier jobs of its group kept.
    pub fn resume(conn: &'c mut PgConnection, kept: Kept) -> Self {
        let Kept {
            fund,
            defer,
            lazy,
            position,
            donors,
            ministries,
            allocations,
            fx,
            tenders,
            contracts,
            amendments,
            invoices,
            entries,
            disqualifications,
            approvals,
            disqualified_tenders,
            approval_policy,
            orgs,
            late,
            ahead,
        } = kept;
        Self {
            conn,
            fund,
            defer,
            lazy,
            position,
            donors,
            ministries,
            allocations,
            fx,
            tenders,
            contracts,
            amendments,
            invoices,
            entries,
            disqualifications,
            approvals,
            evidence: Vec::new(),
            disqualified_tenders,
            approval_policy,
            orgs,
            wrote: false,
            late,
            ahead,
        }
    }

    /// Whether what this job changes, and what later layers write, may wait for the
    /// group's end (`Kept::deferring`, lazy).
    pub fn is_lazy(&self) -> bool {
        self.lazy
    }

    /// The late writes of type `T` kept for the group's end, created empty when none are.
    /// `None` if another type is kept there.
    pub fn late<T: LateWrites + Default>(&mut self) -> Option<&mut T> {
        let late: &mut dyn std::any::Any = self
            .late
            .get_or_insert_with(|| Box::new(T::default()))
            .as_mut();
        late.downcast_mut::<T>()
    }

    /// Takes the late writes, keeping only the first `len` rows: what the group's jobs
    /// before a failed one left.
    pub fn take_late(&mut self, len: usize) -> Option<Box<dyn LateWrites>> {
        let mut late = self.late.take()?;
        late.truncate(len);
        Some(late)
    }

    /// Whether this job wrote anything through this state so far (`flush`,
    /// `save_approval_policy`).
    pub fn wrote(&self) -> bool {
        self.wrote
    }

    /// Flushes (all but what is left to the group's end, `Kept::deferring`), then hands
    /// what this job knows to the next job of the group.
    pub fn into_kept(mut self) -> QueryResult<Kept> {
        self.flush_job()?;
        Ok(Kept {
            fund: self.fund,
            defer: self.defer,
            lazy: self.lazy,
            position: self.position,
            donors: self.donors,
            ministries: self.ministries,
            allocations: self.allocations,
            fx: self.fx,
            tenders: self.tenders,
            contracts: self.contracts,
            amendments: self.amendments,
            invoices: self.invoices,
            entries: self.entries,
            disqualifications: self.disqualifications,
            approvals: self.approvals,
            disqualified_tenders: self.disqualified_tenders,
            approval_policy: self.approval_policy,
            orgs: self.orgs,
            late: self.late,
            ahead: self.ahead,
        })
    }

    /// What the group's jobs will record (`Ahead`), when it was looked ahead and may be
    /// relied on.
    pub fn ahead(&mut self) -> Option<&mut Ahead> {
        self.ahead.as_mut().filter(|a| self.lazy && !a.off)
    }

    /// The unreversed invoices the group's jobs recorded and left unwritten (`lazy`): a
    /// read of the invoices table does not see them.
    pub fn unwritten_invoices(&self) -> Vec<InvoiceRow> {
        self.invoices
            .dirty
            .iter()
            .filter_map(|k| self.invoices.rows.get(k).cloned().flatten())
            .filter(|i| !i.reversed)
            .collect()
    }

    /// Nothing looked ahead may be relied on for the rest of the group.
    pub fn ahead_off(&mut self) {
        if let Some(a) = self.ahead.as_mut() {
            a.off = true;
        }
    }

    /// The fund's approval policy, read once per group (kept with the group's state).
    pub fn approval_policy(&mut self) -> QueryResult<Option<state::ApprovalPolicyRow>> {
        if let Some(p) = &self.approval_policy {
            return Ok(p.clone());
        }
        let p = state::approval_policy(self.conn, self.fund)?;
        self.approval_policy = Some(p.clone());
        Ok(p)
    }

    /// Replaces the fund's approval policy (written at once: it has one row).
    pub fn save_approval_policy(&mut self, row: &state::ApprovalPolicyRow) -> QueryResult<()> {
        self.wrote = true;
        state::upsert_approval_policy(self.conn, row)?;
        self.approval_policy = Some(Some(row.clone()));
        Ok(())
    }

    keyed!(
        allocation,
        save_allocation,
        allocations,
        AllocationRow,
        state::allocation
    );
    keyed!(fx_rate, save_fx_rate, fx, FxRateRow, state::fx_rate);
    keyed!(tender, save_tender, tenders, TenderRow, state::tender);
    keyed!(
        contract,
        save_contract,
        contracts,
        ContractRow,
        state::contract
    );
    keyed!(
        amendment,
        save_amendment,
        amendments,
        AmendmentRow,
        state::amendment
    );
    keyed!(invoice, save_invoice, invoices, InvoiceRow, state::invoice);
    keyed!(entry, save_entry, entries, FundEntryRow, state::entry);
    keyed!(
        bid_disqualification,
        save_bid_disqualification,
        disqualifications,
        BidDisqualificationRow,
        state::bid_disqualification
    );
    keyed!(
        approval,
        save_approval,
        approvals,
        ApprovalRow,
        state::approval
    );

    /// An attached document's row (never changed once written: attachments are not
    /// reversed).
    pub fn save_evidence(&mut self, row: &EvidenceRow) -> QueryResult<()> {
        self.evidence.push(row.clone());
        Ok(())
    }

    /// Loads, in one query per table, every row a job's entries refer to, so that applying
    /// them finds their references in the cache.
    pub fn prefetch(&mut self, refs: References) -> QueryResult<()> {
        let References {
            allocations: allocs,
            tenders,
            disqualified_tenders: disq_tenders,
            mut contracts,
            invoices,
            entries: mut refs,
            orgs,
        } = refs;
        let fund = self.fund;
        fn load<R: Clone>(
            table: &mut Table<i64, R>,
            conn: &mut PgConnection,
            mut keys: Vec<i64>,
            seq_of: impl Fn(&R) -> i64,
            query: impl FnOnce(&mut PgConnection, &[i64]) -> QueryResult<Vec<R>>,
        ) -> QueryResult<Vec<R>> {
            keys.retain(|k| !table.rows.contains_key(k));
            keys.sort_unstable();
            keys.dedup();
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let rows = query(conn, &keys)?;
            for k in keys {
                table.rows.entry(k).or_insert(None);
            }
            for r in &rows {
                table.rows.insert(seq_of(r), Some(r.clone()));
            }
            Ok(rows)
        }
        load(
            &mut self.allocations,
            self.conn,
            allocs,
            |r| r.seq,
            |c, k| state::allocations_at(c, fund, k),
        )?;
        load(
            &mut self.tenders,
            self.conn,
            tenders,
            |r| r.seq,
            |c, k| state::tenders_at(c, fund, k),
        )?;
        let loaded = load(
            &mut self.invoices,
            self.conn,
            invoices,
            |r| r.seq,
            |c, k| state::invoices_at(c, fund, k),
        )?;
        contracts.extend(loaded.iter().map(|i| i.contract_seq));
        load(
            &mut self.contracts,
            self.conn,
            contracts.clone(),
            |r| r.seq,
            |c, k| state::contracts_at(c, fund, k),
        )?;
        // Invoices and payments take their item category from their contract's tender
        // entry: load those tenders' index rows with the referenced entries (without it,
        // a lookup of its own per invoice or payment).
        refs.extend(
            contracts
                .iter()
                .filter_map(|k| self.contracts.rows.get(k).cloned().flatten())
                .map(|c| c.tender_seq),
        );
        load(
            &mut self.entries,
            self.conn,
            refs,
            |r| r.seq,
            |c, k| state::entries_at(c, fund, k),
        )?;
        self.load_disqualifications(disq_tenders)?;
        self.load_orgs(orgs)?;
        Ok(())
    }

    /// The kinds of `orgs` not known yet, active or not, in one query (`org_kind`).
    fn load_orgs(&mut self, mut orgs: Vec<Uuid>) -> QueryResult<()> {
        orgs.retain(|o| {
            !(self.orgs.contains_key(&(*o, true)) && self.orgs.contains_key(&(*o, false)))
        });
        orgs.sort_unstable();
        orgs.dedup();
        if orgs.is_empty() {
            return Ok(());
        }
        let found = fund_store::org_kinds(self.conn, &orgs)?;
        for o in orgs {
            let row = found.get(&o);
            self.orgs
                .insert((o, true), row.filter(|r| r.1).map(|r| r.0.clone()));
            self.orgs.insert((o, false), row.map(|r| r.0.clone()));
        }
        Ok(())
    }

    /// Loads the live disqualifications of these tenders into the cache, once per tender
    /// and job (one query for all), so awards check them without a query each.
    fn load_disqualifications(&mut self, mut tenders: Vec<i64>) -> QueryResult<()> {
        tenders.retain(|t| !self.disqualified_tenders.contains(t));
        tenders.sort_unstable();
        tenders.dedup();
        if tenders.is_empty() {
            return Ok(());
        }
        for r in state::live_disqualifications(self.conn, self.fund, &tenders)? {
            // A cached row is newer (this job may have reversed it).
            self.disqualifications.rows.entry(r.seq).or_insert(Some(r));
        }
        self.disqualified_tenders.extend(tenders);
        Ok(())
    }

    pub fn fund_position(&mut self) -> QueryResult<FundPosition> {
        let fund = self.fund;
        let row = self
            .position
            .get(self.conn, (), |c| state::fund_position_row(c, fund))?;
        Ok(row.unwrap_or(FundPosition {
            fund_id: fund,
            ..FundPosition::default()
        }))
    }

    pub fn save_fund_position(&mut self, p: &FundPosition) -> QueryResult<()> {
        self.position.put((), p.clone());
        Ok(())
    }

    pub fn donor_position(&mut self, donor: Uuid) -> QueryResult<DonorPosition> {
        let fund = self.fund;
        let row = self.donors.get(self.conn, donor, |c| {
            state::donor_position_row(c, fund, donor)
        })?;
        Ok(row.unwrap_or(DonorPosition {
            fund_id: fund,
            donor_org_id: donor,
            pledged: Decimal::ZERO,
            received: Decimal::ZERO,
        }))
    }

    pub fn save_donor_position(&mut self, p: &DonorPosition) -> QueryResult<()> {
        self.donors.put(p.donor_org_id, p.clone());
        Ok(())
    }

    pub fn ministry_position(&mut self, ministry: Uuid) -> QueryResult<MinistryPosition> {
        let fund = self.fund;
        let row = self.ministries.get(self.conn, ministry, |c| {
            state::ministry_position_row(c, fund, ministry)
        })?;
        Ok(row.unwrap_or(MinistryPosition {
            fund_id: fund,
            ministry_org_id: ministry,
            allocated: Decimal::ZERO,
            disbursed: Decimal::ZERO,
            expended: Decimal::ZERO,
            paid: Decimal::ZERO,
        }))
    }

    pub fn save_ministry_position(&mut self, p: &MinistryPosition) -> QueryResult<()> {
        self.ministries.put(p.ministry_org_id, p.clone());
        Ok(())
    }

    /// The kind of an organisation (`active_only`: as posting requires; else as a replay).
    pub fn org_kind(&mut self, org: Uuid, active_only: bool) -> QueryResult<Option<String>> {
        if let Some(k) = self.orgs.get(&(org, active_only)) {
            return Ok(k.clone());
        }
        let k = if active_only {
            fund_store::org_kind(self.conn, org)?
        } else {
            fund_store::org_kind_any(self.conn, org)?
        };
        self.orgs.insert((org, active_only), k.clone());
        Ok(k)
    }

    /// The latest unreversed rate for `base`→`quote` on `date`, this job's rows included.
    pub fn rate_on(
        &mut self,
        base: &str,
        quote: &str,
        date: NaiveDate,
    ) -> QueryResult<Option<Decimal>> {
        let matches = |r: &FxRateRow| r.base == base && r.quote == quote && r.rate_date == date;
        let mut best: Option<(i64, Decimal)> = None;
        for r in self.fx.rows.values().flatten() {
            if matches(r) && !r.reversed && best.is_none_or(|(s, _)| r.seq > s) {
                best = Some((r.seq, r.rate));
            }
        }
        // Rows of earlier jobs, unless this job changed them (a reversal).
        for (seq, rate) in state::rates_on(self.conn, self.fund, base, quote, date)? {
            let live = match self.fx.rows.get(&seq) {
                Some(Some(cached)) => !cached.reversed,
                _ => true,
            };
            if live && best.is_none_or(|(s, _)| seq > s) {
                best = Some((seq, rate));
            }
        }
        Ok(best.map(|(_, rate)| rate))
    }

    /// Whether `vendor` has an unreversed bid on the tender, this job's rows included.
    pub fn has_bid(&mut self, tender: i64, vendor: Uuid) -> QueryResult<bool> {
        let is_bid = |e: &FundEntryRow| {
            e.kind == "bid" && e.tender_seq == Some(tender) && e.vendor_org_id == Some(vendor)
        };
        if self
            .entries
            .rows
            .values()
            .flatten()
            .any(|e| is_bid(e) && e.reversed_by.is_none())
        {
            return Ok(true);
        }
        for seq in state::bid_seqs(self.conn, self.fund, tender, vendor)? {
            match self.entries.rows.get(&seq) {
                Some(Some(cached)) if cached.reversed_by.is_some() => {}
                _ => return Ok(true),
            }
        }
        Ok(false)
    }

    /// The unreversed disqualifications of a tender's bids (of one vendor's, if given),
    /// this job's rows included, in seq order.
    pub fn live_disqualifications(
        &mut self,
        tender: i64,
        vendor: Option<Uuid>,
    ) -> QueryResult<Vec<BidDisqualificationRow>> {
        self.load_disqualifications(vec![tender])?;
        Ok(merge_live(
            &self.disqualifications,
            Vec::new(),
            |r| r.tender_seq == tender && vendor.is_none_or(|v| r.vendor_org_id == v),
            |r| !r.reversed,
            |r| r.seq,
        ))
    }

    /// The unreversed approvals of an entry, this job's rows included, in seq order.
    pub fn live_approvals(&mut self, entry: i64) -> QueryResult<Vec<ApprovalRow>> {
        let stored = state::live_approvals(self.conn, self.fund, entry)?;
        Ok(merge_live(
            &self.approvals,
            stored,
            |r| r.entry_seq == entry,
            |r| !r.reversed,
            |r| r.seq,
        ))
    }

    pub fn latest_amendment(&mut self, contract: i64) -> QueryResult<Option<AmendmentRow>> {
        self.flush()?;
        state::latest_amendment(self.conn, self.fund, contract)
    }

    /// Writes every changed row, one multi-row upsert per table.
    pub fn flush(&mut self) -> QueryResult<()> {
        self.write(true)
    }

    /// Writes what a job writes at its end: every changed row, except what a group leaves
    /// to its end (`Kept::deferring`).
    pub fn flush_job(&mut self) -> QueryResult<()> {
        if self.lazy {
            // Attachments are not kept between jobs: written with their job.
            if !self.evidence.is_empty() {
                self.wrote = true;
                let evidence = std::mem::take(&mut self.evidence);
                state::upsert_evidence(self.conn, &evidence)?;
            }
            return Ok(());
        }
        self.write(!self.defer)
    }

    /// Before a read that is not a lookup by key (screening's): writes what earlier jobs
    /// of the group and this one left unwritten (`lazy`), but the positions and
    /// allocations, which no such read reads.
    pub fn flush_for_reads(&mut self) -> QueryResult<()> {
        if !self.lazy {
            return Ok(());
        }
        if [
            self.fx.dirty.is_empty(),
            self.tenders.dirty.is_empty(),
            self.contracts.dirty.is_empty(),
            self.amendments.dirty.is_empty(),
            self.invoices.dirty.is_empty(),
            self.entries.dirty.is_empty(),
            self.disqualifications.dirty.is_empty(),
            self.approvals.dirty.is_empty(),
            self.evidence.is_empty(),
        ]
        .iter()
        .all(|e| *e)
        {
            return Ok(());
        }
        self.write(false)
    }

    /// Writes the changed rows, one multi-row upsert per table; the positions and
    /// allocations only `with_positions`.
    fn write(&mut self, with_positions: bool) -> QueryResult<()> {
        self.wrote = true;
        let conn = &mut *self.conn;
        macro_rules! write {
            ($field:ident, $upsert:path) => {{
                let rows = self.$field.take_dirty();
                $upsert(conn, &rows)?;
            }};
        }
        if with_positions {
            write!(position, state::upsert_fund_positions);
            write!(donors, state::upsert_donor_positions);
            write!(ministries, state::upsert_ministry_positions);
            write!(allocations, state::upsert_allocations);
        }
        write!(fx, state::upsert_fx_rates);
        write!(tenders, state::upsert_tenders);
        write!(contracts, state::upsert_contracts);
        write!(amendments, state::upsert_amendments);
        write!(invoices, state::upsert_invoices);
        write!(entries, state::upsert_entries);
        write!(disqualifications, state::upsert_bid_disqualifications);
        write!(approvals, state::upsert_approvals);
        let evidence = std::mem::take(&mut self.evidence);
        state::upsert_evidence(conn, &evidence)?;
        Ok(())
    }
}
