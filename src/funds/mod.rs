//! Funds: the pooled funds themselves. Each fund is a ledger chain of the same id,
//! administered by a fund secretariat, with audit bodies assigned to it.

pub mod http;
pub mod store;
