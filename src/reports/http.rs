//! Report routes: thin handlers — scope through `pin::fund_reader`, pin the checkpoints,
//! compute, render as JSON or CSV.

use actix_web::web;

pub fn routes(_cfg: &mut web::ServiceConfig) {}
