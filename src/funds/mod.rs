//! Funds: the pooled funds themselves and the typed entries of their chains. Each fund is
//! a ledger chain of the same id, administered by a fund secretariat, with audit bodies
//! assigned to it. `kinds` are the entry types, `apply` their invariants and derived
//! state, `state` the SQL of that state, `policy` who may see and post what.

pub mod apply;
pub mod derived;
pub mod entries;
pub mod http;
pub mod kinds;
pub mod money;
pub mod policy;
pub mod rebuild;
pub mod state;
pub mod store;
