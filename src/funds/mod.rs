//! Funds (docs/domain.md): the pooled funds themselves and the fund flows of their chains.
//! Each fund is a ledger chain of the same id, administered by a fund secretariat, with
//! audit bodies assigned to it.
//!
//! - `store`, `http`: the funds table and the admin API that creates, assigns and
//!   deactivates funds; `policy`: who may see a fund and how much of it; `view`: how an
//!   entry is shown by the read APIs.
//! - `kinds`, `rules`: the fund-flow entry kinds (pledge, contribution, allocation,
//!   disbursement, fx_rate, expenditure) and their invariants.
//! - The machinery every typed entry of a fund's chain is applied with, whichever
//!   capability owns its kind: `ctx` (the fund, the actor, the posting, shared refusals),
//!   `derived` (the job's cache of derived state) and `state` (the only SQL over the
//!   derived tables, which one job flushes together: positions, allocations, rates, and
//!   procurement's tenders, contracts, invoices, disqualifications and approvals).

pub mod allocations;
pub mod ctx;
pub mod derived;
pub mod http;
pub mod kinds;
pub mod policy;
pub mod rules;
pub mod state;
pub mod store;
pub mod view;
