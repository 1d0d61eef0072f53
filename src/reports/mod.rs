//! Reports and exports (docs/reports.md): the fund statement, donor reports, time series,
//! and the standard exports (ledger CSV, IATI 2.03 activity XML, OCDS 1.1 release
//! package). Each is computed at a signed checkpoint (`pin`) from the fund's entry index
//! rows below its size, never from the mutable running balances.

pub mod csv;
pub mod donor;
pub mod export_store;
pub mod exports;
pub mod figures;
pub mod http;
pub mod iati;
pub mod ledger_csv;
pub mod ocds;
pub mod pin;
pub mod public;
pub mod statement;
pub mod store;
