//! The tamper-evident ledger: hash-chained entries, a Merkle tree per chain, signed
//! checkpoints, streaming verification. Nothing outside this module touches ledger tables.
//!
//! - `entry`, `merkle`, `note`: pure encoding, hashing and signing (what an independent
//!   verifier re-implements from docs/ledger-format.md);
//! - `cosignature`: witnesses' cosignatures over checkpoints (C2SP tlog-cosignature), pure;
//! - `keys`: the checkpoint signing key file;
//! - `store`: the only SQL over ledger tables;
//! - `writer`: the per-chain group-commit writer;
//! - `phases`: time spent per phase of the append path, for `bench funds`;
//! - `node_cache`: upper Merkle nodes kept in memory for proofs;
//! - `verify`: the streaming verifier shared by the API and the offline `verify` command;
//! - `export`: the JSON-lines export format;
//! - `receipt`: offline check of a receipt (entry, inclusion proof, signed checkpoint);
//! - `http`: the handlers.

pub mod cosignature;
pub mod entry;
pub mod export;
pub mod integrity;
pub mod keys;
pub mod merkle;
pub mod node_cache;
pub mod note;
pub mod phases;
pub mod receipt;
pub mod service;
pub mod store;
pub mod verify;
pub mod writer;

pub use service::Ledger;
