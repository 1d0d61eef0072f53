//! Screening as appending calls it (`entries::effect::Screens`): apply a `screening_config`
//! entry to the fund's settings, screen a job's entries inside its append transaction, and
//! keep or drop the flows kept between jobs (`flows`) when the job commits or not. The
//! time spent is counted for `/metrics` (`telemetry::spent`).

use std::time::Instant;

use uuid::Uuid;

use super::rules::Thresholds;
use super::{flows, raise, store};
use crate::entries::kinds::{FundEntry, ScreeningConfig};
use crate::funds::ctx::{reject, FundCtx, Posting, Result};
use crate::funds::derived::Derived;
use crate::ledger::entry::Entry;
use crate::telemetry::spent;

/// The screens of docs/screening.md, as the append path runs them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Screens;

impl crate::entries::effect::Screens for Screens {
    fn configure(&self, st: &mut Derived<'_>, p: &Posting<'_>, c: &ScreeningConfig) -> Result<()> {
        st.flush()?;
        let fund = p.ctx.fund;
        let current = store::thresholds(st.conn, fund)?
            .unwrap_or_else(|| Thresholds::for_currency(p.ctx.currency.code()));
        let next = current
            .configured(&c.settings)
            .map_err(|(code, detail)| reject(code, detail))?;
        store::save_thresholds(st.conn, fund, p.seq_i64()?, &next)?;
        Ok(())
    }

    fn screen(
        &self,
        st: &mut Derived<'_>,
        ctx: &FundCtx,
        entries: &[Entry],
        typed: &[FundEntry],
        settings: Option<serde_json::Value>,
    ) -> Result<()> {
        let started = Instant::now();
        let screen = || -> Result<usize> {
            // The thresholds read with the fund, unless the job changed them.
            let thresholds = if entries.iter().any(|e| e.kind == "screening_config") {
                store::thresholds(st.conn, ctx.fund)?
            } else {
                settings.and_then(|c| serde_json::from_value(c).ok())
            }
            .unwrap_or_else(|| Thresholds::for_currency(ctx.currency.code()));
            Ok(raise::raise(st, ctx, entries, typed, &thresholds)?)
        };
        let screened = screen();
        // Counted whether or not the job goes on to commit: the time was spent.
        spent::record(started, true);
        screened.map(|_| ())
    }

    fn committed(&self, fund: Uuid, chain_size: u64) {
        let started = Instant::now();
        flows::promote(fund, chain_size);
        spent::record(started, false);
    }

    fn forget(&self, fund: Uuid) {
        flows::forget(fund);
    }
}
