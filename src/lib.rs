//! fundtrail: a tamper-evident audit ledger for pooled donor funds.
//!
//! Layout (see docs/architecture.md): `app` holds the route table, `startup` serves it,
//! `db` owns the pool, migrations and the private-cluster default, `http` the
//! cross-cutting HTTP pieces, `error` the one error type.

pub mod app;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod funds;
pub mod http;
pub mod import;
pub mod ledger;
pub mod procurement;
pub mod reports;
pub mod schema;
pub mod screening;
pub mod seed;
pub mod startup;
pub mod telemetry;
