//! Anomaly screening (docs/screening.md): `rules` are pure functions from the facts about
//! an entry to findings; `raise` gathers the facts and records flags inside the append
//! transaction; `store` is the SQL; `http` lists flags and lets auditors triage them.

pub mod http;
pub mod raise;
pub mod rules;
pub mod store;
