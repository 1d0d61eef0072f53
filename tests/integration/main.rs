//! Integration tests: the real actix application, in-process, against a real Postgres.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::as_conversions
)]

mod admin;
mod auth;
mod domain;
mod embedded;
mod entry_rules;
mod exports;
mod foundation;
mod funds;
#[allow(dead_code)] // helpers are shared by test modules that each use a subset
mod harness;
mod import;
mod ledger;
mod over_contract;
mod reports;
mod screens;
