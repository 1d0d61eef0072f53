//! Procurement (docs/domain.md): a ministry's tenders, bids, awards, contracts and their
//! amendments, invoices, payments and approvals, recorded as entries of the fund's chain.
//! `kinds` are the entry types, `rules` their invariants and the derived state they change
//! (through `funds::derived`, which one append job flushes together with the fund flows'),
//! `http` the vendors and the contract history as their readers see them.

pub mod contracts;
pub mod http;
pub mod kinds;
pub mod rules;
