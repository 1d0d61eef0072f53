//! Anomaly screening (docs/screening.md): `rules` are pure functions from the facts about
//! an entry to findings; `raise` gathers the facts and records flags inside the append
//! transaction; `store` is the SQL; `http` lists flags and lets auditors triage them.
//! `period` holds the pure period screens (a ministry's or vendor's entries of a period
//! as a whole), `run` runs them on demand and `schedule` on a schedule inside `serve`.

pub mod flows;
pub mod http;
pub mod period;
pub mod raise;
pub mod rules;
pub mod run;
pub mod schedule;
pub mod screens;
pub mod store;

pub use screens::Screens;
