//! The typed entries of a fund's chain (docs/domain.md): the union of every kind
//! (`kinds`), two-person control (`approvals`: the approval policy, requests held for a
//! second person and their decisions), the dispatch of each to the rules of the capability that owns it and the
//! reversal of any (`apply`), the writer effect that applies and screens a job in its
//! append transaction (`effect`), the entries API — post one or a batch, list, balances —
//! (`http`) and `fundtrail rebuild`, which replays every chain through the same `apply`
//! (`rebuild`).

pub mod apply;
pub mod approvals;
pub mod effect;
pub mod http;
pub mod kinds;
pub mod rebuild;
