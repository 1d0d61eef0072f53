//! Bank reconciliation (docs/reconciliation.md): the fund's and the ministries' bank
//! accounts, their statements (ISO 20022 camt.053 or CSV) recorded on the fund's chain,
//! each statement line matched with the ledger entries it pays, and flags for what does
//! not reconcile: money that moved with no entry, entries never seen at the bank, amounts
//! that differ.
//!
//! `xsd` validates camt.053 files against the official schemas, `camt` and `csv` read
//! files and `statement` checks them, `matching` decides (all
//! pure); `effect` keeps the bank tables with the entries, `store` is the only SQL,
//! `service` records and reconciles, `report` builds the per-account report, `http` is
//! the API.

pub mod camt;
pub mod csv;
pub mod effect;
pub mod http;
pub mod matching;
pub mod report;
pub mod service;
pub mod statement;
pub mod store;
pub mod xsd;
