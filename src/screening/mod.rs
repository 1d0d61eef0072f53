//! Anomaly screening (docs/screening.md): `rules` are pure functions from the facts about
//! an entry to findings.

pub mod rules;
