//! The writer effect of fund appends (`FundEffect`): parse each entry's typed body, apply
//! it to the fund's derived state, then screen the job's new entries, all inside the append
//! transaction, so a refused entry leaves nothing behind and the flags commit with what
//! they flag.
//!
//! Screening builds on this module (it reads the typed entries), so it cannot be called
//! directly: what appending needs from it is the `Screens` trait, which
//! `screening::Screens` implements and the composition root (`app`, `startup`, the
//! importer and the seeder) hands in.

use std::sync::Arc;
use std::time::Instant;

use diesel::PgConnection;
use uuid::Uuid;

use super::apply::{apply, Screened};
use super::kinds::{FundEntry, ScreeningConfig};
use crate::funds::ctx::{reject, Actor, FundCtx, Posting, Result};
use crate::funds::derived::{Derived, Kept, LateWrites, References};
use crate::ledger::entry::Entry;
use crate::ledger::writer::{
    AppendError, AppendRequest, Effect, GroupScratch, GroupState, Unsaved,
};

/// What appending needs from screening (docs/screening.md).
pub trait Screens: Send + Sync {
    /// Applies a `screening_config` entry: its settings replace the fund's current ones
    /// (refused with `unknown_setting` or `invalid_setting`).
    fn configure(
        &self,
        st: &mut Derived<'_>,
        p: &Posting<'_>,
        config: &ScreeningConfig,
    ) -> Result<()>;

    /// Screens a job's entries after they were applied, raising flags in the same
    /// transaction. `settings` are the fund's stored screening settings as read with the
    /// fund row (stale when the job itself changed them).
    fn screen(
        &self,
        st: &mut Derived<'_>,
        ctx: &FundCtx,
        entries: &[Entry],
        typed: &[FundEntry],
        settings: Option<serde_json::Value>,
    ) -> Result<()>;

    /// The job's group committed at `chain_size`: what screening kept for the fund is
    /// valid from there.
    fn committed(&self, fund: Uuid, chain_size: u64);

    /// The job did not commit, or was not screened: drop what screening kept for the fund.
    fn forget(&self, fund: Uuid);
}

/// The writer effect of fund appends.
pub struct FundEffect {
    pub ctx: FundCtx,
    pub actor: Option<Actor>,
    pub screens: Arc<dyn Screens>,
    /// Run the per-entry screens (off only to measure their cost).
    pub screen: bool,
}

/// Time `FundEffect::apply` spends per step (`ledger::phases`), read by `bench funds`.
pub mod phases {
    use crate::ledger::phases::Phase;

    /// The fund row, share-locked, with its screening settings.
    pub static FUND_ROW: Phase = Phase::new("effect: fund row (share lock, settings)");
    /// Parsing the typed bodies and reading the rows they refer to.
    pub static PREFETCH: Phase = Phase::new("effect: parse, prefetch references");
    /// The rules of each entry (invariants, derived state changed in the cache).
    pub static RULES: Phase = Phase::new("effect: rules");
    /// Writing the changed derived rows.
    pub static FLUSH: Phase = Phase::new("effect: flush derived state");
    /// Per-entry screening (facts read, rules run, flags inserted).
    pub static SCREEN: Phase = Phase::new("effect: screening");

    pub static ALL: [&Phase; 5] = [&FUND_ROW, &PREFETCH, &RULES, &FLUSH, &SCREEN];
}

/// The principal role of imported entries (`import::run`): the only one whose entries
/// may carry `imported`.
pub const IMPORT_ROLE: &str = "system";

/// What a fund's job keeps for the next job of its group (`GroupScratch`): the fund row
/// as read (share-locked until the group's transaction ends) and the derived rows, some
/// of them still to be written at the group's end.
struct GroupKept {
    fund_row: Option<(bool, Option<serde_json::Value>)>,
    derived: Kept,
}

impl GroupState for GroupKept {
    fn finish(self: Box<Self>, conn: &mut PgConnection) -> Result<()> {
        Ok(self.derived.finish(conn)?)
    }
}

/// A job that failed, whether it wrote anything before it did, and the late writes of the
/// group's earlier jobs (`Derived::late`), without the failed job's.
struct Failed {
    error: AppendError,
    wrote: bool,
    late: Option<Box<dyn LateWrites>>,
}

impl FundEffect {
    /// Applies and screens the job, starting from what earlier jobs of its group kept (or
    /// nothing); what the next job may keep.
    fn run(
        &self,
        conn: &mut PgConnection,
        entries: &[Entry],
        kept: GroupKept,
    ) -> std::result::Result<GroupKept, Failed> {
        let started = Instant::now();
        let GroupKept {
            fund_row,
            mut derived,
        } = kept;
        // In the append transaction, with the fund row share-locked (by this job or an
        // earlier one of the group, until the commit): no entry commits after a
        // deactivation did.
        let (active, settings) = match fund_row {
            Some(row) => row,
            None => match crate::funds::store::fund_active(conn, self.ctx.fund) {
                Ok(row) => row,
                Err(e) => {
                    return Err(Failed {
                        error: e.into(),
                        wrote: false,
                        late: derived.take_late(),
                    })
                }
            },
        };
        let started = phases::FUND_ROW.since(started);
        if !active {
            return Err(Failed {
                error: reject(
                    "fund_inactive",
                    "the fund was deactivated; it takes no new entries",
                ),
                wrote: false,
                late: derived.take_late(),
            });
        }
        // A job that configures screening changes the settings read with the fund row.
        let keep_row = match entries.iter().any(|e| e.kind == "screening_config") {
            true => None,
            false => Some((active, settings.clone())),
        };
        let late_before = derived.late_len();
        let mut st = Derived::resume(conn, derived);
        let applied = self
            .apply_job(&mut st, entries, settings, started)
            .and_then(|()| Ok(st.flush_job()?));
        if let Err(error) = applied {
            return Err(Failed {
                error,
                wrote: st.wrote(),
                late: st.take_late(late_before),
            });
        }
        // Everything is flushed: this writes nothing more.
        match st.into_kept() {
            Ok(derived) => Ok(GroupKept {
                fund_row: keep_row,
                derived,
            }),
            Err(e) => Err(Failed {
                error: e.into(),
                wrote: true,
                late: None,
            }),
        }
    }

    /// The job's rules, its derived state written (but what the group leaves to its end)
    /// and its screening.
    fn apply_job(
        &self,
        st: &mut Derived<'_>,
        entries: &[Entry],
        settings: Option<serde_json::Value>,
        started: Instant,
    ) -> Result<()> {
        let typed = entries
            .iter()
            .map(|e| {
                FundEntry::parse(&e.kind, &e.body).map_err(|i| AppendError::Rejected {
                    code: i.code,
                    detail: i.detail,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut refs = References::default();
        for t in &typed {
            t.references(&mut refs);
        }
        // The first job of a group reads what every job of it refers to (`Ahead`).
        if let Some(group) = st.ahead().and_then(|a| a.refs.take()) {
            refs.extend(group);
        }
        st.prefetch(refs)?;
        let started = phases::PREFETCH.since(started);
        let mut screened = Vec::with_capacity(entries.len());
        for (e, typed) in entries.iter().zip(&typed) {
            // Relaxed rules (data-quality findings) are for imported evidence only.
            if typed.imported().is_some() && e.principal.role != IMPORT_ROLE {
                return Err(reject(
                    "imported_reserved",
                    "imported is written by the OCDS import only",
                ));
            }
            let posting = Posting {
                ctx: &self.ctx,
                actor: self.actor.as_ref(),
                poster: &e.principal.id,
                seq: e.seq,
                date: e.business_date,
                at: e.recorded_at,
            };
            let outcome =
                apply(st, &posting, typed, self.screens.as_ref()).map_err(|err| match err {
                    // Say which entry of a batch was refused.
                    AppendError::Rejected { code, detail } if entries.len() > 1 => {
                        AppendError::Rejected {
                            code,
                            detail: format!("entry {} ({}): {detail}", e.idempotency_key, e.kind),
                        }
                    }
                    other => other,
                })?;
            screened.push(outcome);
        }
        let started = phases::RULES.since(started);
        st.flush_job()?;
        let started = phases::FLUSH.since(started);
        if self.screen {
            self.screen_job(st, entries, typed, screened, settings)?;
            phases::SCREEN.since(started);
        } else {
            self.screens.forget(self.ctx.fund);
            st.ahead_off();
        }
        Ok(())
    }

    /// `apply_in_group`, telling whether a failed job wrote anything.
    fn run_in_group(
        &self,
        conn: &mut PgConnection,
        entries: &[Entry],
        scratch: &mut GroupScratch,
    ) -> std::result::Result<(), Failed> {
        let fund = self.ctx.fund;
        let kept = scratch
            .take::<GroupKept>(fund)
            .unwrap_or_else(|| GroupKept {
                fund_row: None,
                derived: Kept::deferring(fund, scratch.in_memory()),
            });
        // What must survive this job if it is refused: what earlier jobs left to the end.
        let pending = kept.derived.pending();
        match self.run(conn, entries, kept) {
            Ok(kept) => {
                scratch.keep(fund, kept);
                Ok(())
            }
            Err(mut failed) => {
                let mut pending = pending;
                pending.set_late(failed.late.take());
                scratch.keep(
                    fund,
                    GroupKept {
                        fund_row: None,
                        derived: pending,
                    },
                );
                Err(failed)
            }
        }
    }
}

/// Whether every entry is of a kind whose rules write nothing before they refuse, other
/// than through the job's derived state (`Derived::wrote`): the fund and procurement
/// kinds. Approvals, reversals, configuration and attachments write as they go.
fn writes_only_derived<'a>(kinds: impl IntoIterator<Item = &'a str>) -> bool {
    kinds.into_iter().all(|kind| {
        crate::funds::kinds::KINDS.contains(&kind)
            || crate::procurement::kinds::KINDS.contains(&kind)
    })
}

impl Effect for FundEffect {
    fn apply(&self, conn: &mut PgConnection, entries: &[Entry]) -> Result<()> {
        let alone = GroupKept {
            fund_row: None,
            derived: Kept::new(self.ctx.fund),
        };
        self.run(conn, entries, alone)
            .map(|_| ())
            .map_err(|f| f.error)
    }

    fn uses_group_scratch(&self) -> bool {
        true
    }

    fn apply_in_group(
        &self,
        conn: &mut PgConnection,
        entries: &[Entry],
        scratch: &mut GroupScratch,
    ) -> Result<()> {
        self.run_in_group(conn, entries, scratch)
            .map_err(|f| f.error)
    }

    fn unsaved(&self, entries: &[Entry]) -> bool {
        writes_only_derived(entries.iter().map(|e| e.kind.as_str()))
    }

    /// Notes the (vendor, number) of the job's invoices (`Ahead`): screening then reads
    /// the earlier invoices of every invoice of the group in one statement. A job that
    /// writes as it goes, or is not screened, turns that off for the group.
    fn look_ahead(&self, requests: &[AppendRequest], scratch: &mut GroupScratch) {
        let fund = self.ctx.fund;
        let mut kept = scratch
            .take::<GroupKept>(fund)
            .unwrap_or_else(|| GroupKept {
                fund_row: None,
                derived: Kept::deferring(fund, scratch.in_memory()),
            });
        if let Some(ahead) = kept.derived.ahead() {
            if !writes_only_derived(requests.iter().map(|r| r.kind.as_str())) || !self.screen {
                ahead.off = true;
            }
            let refs = ahead.refs.get_or_insert_with(References::default);
            for r in requests {
                // A body that does not parse is refused when its job runs.
                let Ok(typed) = FundEntry::parse(&r.kind, &r.body) else {
                    continue;
                };
                typed.references(refs);
                if let FundEntry::Invoice(i) = typed {
                    ahead.numbered.insert((i.vendor, i.invoice_number));
                }
            }
        }
        scratch.keep(fund, kept);
    }

    fn apply_unsaved(
        &self,
        conn: &mut PgConnection,
        entries: &[Entry],
        scratch: &mut GroupScratch,
    ) -> std::result::Result<(), Unsaved> {
        self.run_in_group(conn, entries, scratch)
            .map_err(|Failed { error, wrote, .. }| match error {
                AppendError::Rejected { .. } | AppendError::Conflict { .. } if !wrote => {
                    Unsaved::Refused(error)
                }
                other => Unsaved::Retry(other),
            })
    }

    fn committed(&self, chain_size: u64) {
        if self.screen {
            self.screens.committed(self.ctx.fund, chain_size);
        }
    }

    fn rolled_back(&self) {
        self.screens.forget(self.ctx.fund);
    }
}

impl FundEffect {
    /// Screens the job's entries as they took effect: requests held for approval are not
    /// screened; an approval is screened as the entry it put into effect, at its own seq.
    fn screen_job(
        &self,
        st: &mut Derived<'_>,
        entries: &[Entry],
        typed: Vec<FundEntry>,
        screened: Vec<Screened>,
        settings: Option<serde_json::Value>,
    ) -> Result<()> {
        if screened.iter().all(|s| matches!(s, Screened::Itself)) {
            return self
                .screens
                .screen(st, &self.ctx, entries, &typed, settings);
        }
        // Requests held for approval are not screened; an approval is screened as the
        // entry it put into effect, at its own seq. The job's seqs then have gaps: what
        // screening kept between jobs is dropped and read again (rare: decisions only).
        self.screens.forget(self.ctx.fund);
        let (mut seen, mut seen_typed) = (Vec::new(), Vec::new());
        for ((e, t), s) in entries.iter().zip(typed).zip(screened) {
            match s {
                Screened::Itself => {
                    seen.push(e.clone());
                    seen_typed.push(t);
                }
                Screened::Instead(requested) => {
                    let mut as_effective = e.clone();
                    as_effective.kind = requested.kind().to_owned();
                    seen.push(as_effective);
                    seen_typed.push(*requested);
                }
                Screened::Nothing => {}
            }
        }
        if seen.is_empty() {
            return Ok(());
        }
        self.screens
            .screen(st, &self.ctx, &seen, &seen_typed, settings)
    }
}
