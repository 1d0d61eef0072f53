//! fundtrail: a tamper-evident audit ledger for pooled donor funds.
//!
//! The modules form layers that point one way (docs/architecture.md; `scripts/check-layers`
//! fails CI on a cycle): foundations (`config`, `error`, `money`, `schema`, `db`,
//! `telemetry`), the ledger library (`ledger`), the shared request state (`state`) and HTTP
//! machinery (`http`), then the capabilities, each a folder with its types, rules, store and
//! handlers (`auth`, `chains`, `funds`, `procurement`, `entries`, `screening`, `reports`,
//! `evidence`, `import`, `seed`), the evidence document store (`docstore`), the web pages
//! over their handlers (`web`), and on top the composition root (`app`, `startup`, `cli`) and the
//! benchmarks (`bench`). `witness` is a separate small service (`fundtrail witness`) over
//! the ledger library alone.

pub mod app;
pub mod auth;
pub mod bank;
pub mod bench;
pub mod chains;
pub mod cli;
pub mod config;
pub mod db;
pub mod docstore;
pub mod entries;
pub mod error;
pub mod evidence;
pub mod extract;
pub mod funds;
pub mod http;
pub mod import;
pub mod ledger;
pub mod money;
pub mod notify;
pub mod procurement;
pub mod reports;
pub mod schema;
pub mod screening;
pub mod seed;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod text;
pub mod web;
pub mod witness;
