//! The web application (docs/web.md): server-rendered HTML pages for donors, auditors,
//! treasurers, ministries and admins, with every asset embedded in the binary.
//!
//! A page never decides scope or computes figures of its own: it calls the API handler
//! that answers the same question (`api`), with the caller's session turned into the same
//! `Principal` the API's guards extract (`session`), and renders the JSON that handler
//! returns. So a page shows exactly what the API shows its caller, and a page outside the
//! caller's scope answers with the API's status and problem code.

pub mod api;
pub mod assets;
pub mod docs;
pub mod download;
pub mod forms;
pub mod layout;
pub mod pages;
pub mod public;
pub mod session;
pub mod webhooks;

use actix_web::middleware::from_fn;
use actix_web::web;

/// The pages' routes, under one scope wrapped in the session layer (the API under
/// `/api/v1` never reads the session cookies: it stays bearer-only).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/docs").get(docs::reference))
        .service(web::resource("/assets/{name}").get(assets::serve))
        .service(web::resource("/public/funds/{fund}").get(public::fund_page))
        .service(
            web::scope("")
                .wrap(from_fn(session::layer))
                .service(
                    web::resource("/login")
                        .get(session::login_page)
                        .post(session::login),
                )
                .service(web::resource("/logout").post(session::logout))
                .service(web::resource("/").get(pages::home))
                .service(web::resource("/funds/{fund}").get(pages::fund))
                .service(web::resource("/funds/{fund}/entries").get(pages::entries))
                .service(web::resource("/funds/{fund}/flags").get(pages::flags))
                .service(web::resource("/funds/{fund}/bank").get(pages::bank))
                .service(
                    web::resource("/funds/{fund}/webhooks")
                        .get(webhooks::list)
                        .post(webhooks::create),
                )
                .service(web::resource("/webhooks/{id}/test").post(webhooks::test))
                .service(web::resource("/webhooks/{id}/deliveries").get(webhooks::deliveries))
                .service(web::resource("/funds/{fund}/flags/triage").post(pages::triage_many))
                .service(web::resource("/funds/{fund}/donors/{donor}").get(pages::donor_report))
                .service(
                    web::resource("/funds/{fund}/donors/{donor}/report.csv")
                        .get(pages::donor_report_csv),
                )
                .service(
                    web::resource("/funds/{fund}/donors/{donor}/report.xlsx")
                        .get(pages::donor_report_xlsx),
                )
                .service(
                    web::resource("/funds/{fund}/donors/{donor}/report.pdf")
                        .get(pages::donor_report_pdf),
                )
                .service(web::resource("/funds/{fund}/contracts").get(pages::contracts))
                .service(web::resource("/funds/{fund}/approvals").get(pages::approvals))
                .service(
                    web::resource("/funds/{fund}/record/{kind}")
                        .get(forms::form_page)
                        .post(forms::submit),
                )
                .service(web::resource("/flags/{flag}").get(pages::flag))
                .service(web::resource("/flags/{flag}/triage").post(pages::triage_one))
                .service(web::resource("/contracts/{contract}").get(pages::contract))
                .service(web::resource("/chains/{chain}/entries/{seq}").get(pages::entry)),
        );
}
