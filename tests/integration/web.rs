//! The pages' session, in-process: sign-in sets the API's tokens as HttpOnly, SameSite=Strict
//! cookies; a page without a session goes to sign-in; an expired access token is refreshed
//! from the refresh cookie; posts need the session's CSRF token and this origin; sign-out
//! revokes; the API itself never accepts the cookies; a page outside the caller's scope
//! answers the API's status. (The journeys in a real browser: `browser`.)

use actix_web::http::{header, StatusCode};
use actix_web::test::{self, TestRequest};

use crate::harness::{self, TestDb};

const PASS: &str = "correct horse battery";

/// The cookies an answer sets, as `name=value` pairs (attributes dropped).
fn set_cookies(
    res: &actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
) -> Vec<(String, String, String)> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .map(|v| {
            let full = v.to_str().unwrap().to_owned();
            let pair = full.split(';').next().unwrap().to_owned();
            let (k, val) = pair.split_once('=').unwrap();
            (k.to_owned(), val.to_owned(), full)
        })
        .collect()
}

fn cookie_header(cookies: &[(String, String, String)], names: &[&str]) -> String {
    cookies
        .iter()
        .filter(|(k, _, _)| names.contains(&k.as_str()))
        .map(|(k, v, _)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[actix_web::test]
async fn page_sessions_are_cookies_over_the_api_tokens_with_csrf_and_revocation() {
    let db = TestDb::migrated();
    let app = harness::app(harness::state(&db).await).await;
    harness::user(&db, "auditor@example.org", PASS, &["auditor"]);

    // No session: the page sends the browser to sign in.
    let res = test::call_service(&app, TestRequest::get().uri("/").to_request()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers().get(header::LOCATION).unwrap(), "/login");

    // A wrong password: the API's answer, on the form.
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/login")
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload("email=auditor%40example.org&password=wrong&role=")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let html = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(html.contains("invalid_credentials"), "{html}");

    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/login")
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload("email=auditor%40example.org&password=correct+horse+battery&role=")
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookies = set_cookies(&res);
    let names: Vec<&str> = cookies.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(names, ["ft_access", "ft_refresh", "ft_csrf"]);
    for (_, _, full) in &cookies {
        assert!(
            full.contains("HttpOnly") && full.contains("SameSite=Strict"),
            "{full}"
        );
    }
    let csrf = cookies
        .iter()
        .find(|(k, _, _)| k == "ft_csrf")
        .unwrap()
        .1
        .clone();
    let all = cookie_header(&cookies, &["ft_access", "ft_refresh", "ft_csrf"]);

    // The session shows who is signed in.
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/")
            .insert_header((header::COOKIE, all.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(
        html.contains("auditor@example.org") && html.contains("auditor"),
        "{html}"
    );

    // The API never takes the cookies: it stays bearer-only.
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/api/v1/me")
            .insert_header((header::COOKIE, all.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A fund the caller cannot see: the API's 404, as a page, nothing else.
    let missing = uuid::Uuid::new_v4();
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri(&format!("/funds/{missing}"))
            .insert_header((header::COOKIE, all.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let html = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(html.contains("not_found"), "{html}");

    // The access token gone (expired): the refresh cookie gets a new one, once.
    let refresh_only = cookie_header(&cookies, &["ft_refresh", "ft_csrf"]);
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/")
            .insert_header((header::COOKIE, refresh_only.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let renewed = set_cookies(&res);
    assert_eq!(
        renewed
            .iter()
            .map(|(k, _, _)| k.as_str())
            .collect::<Vec<_>>(),
        ["ft_access", "ft_refresh"]
    );
    // The spent refresh token again: reuse, the whole session is revoked.
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/")
            .insert_header((header::COOKIE, refresh_only))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let renewed_refresh = cookie_header(&renewed, &["ft_refresh"]);
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/")
            .insert_header((header::COOKIE, renewed_refresh))
            .to_request(),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the family was revoked on reuse"
    );

    // A fresh session, then posts: without the CSRF token, or from another site, refused.
    let res = test::call_service(
        &app,
        TestRequest::post()
            .uri("/login")
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload("email=auditor%40example.org&password=correct+horse+battery&role=")
            .to_request(),
    )
    .await;
    let cookies = set_cookies(&res);
    let csrf2 = cookies
        .iter()
        .find(|(k, _, _)| k == "ft_csrf")
        .unwrap()
        .1
        .clone();
    assert_ne!(csrf, csrf2, "a new CSRF token per sign-in");
    let all = cookie_header(&cookies, &["ft_access", "ft_refresh", "ft_csrf"]);
    let logout = |body: String, origin: Option<&'static str>| {
        let mut req = TestRequest::post()
            .uri("/logout")
            .insert_header((header::COOKIE, all.clone()))
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload(body);
        if let Some(o) = origin {
            req = req.insert_header((header::ORIGIN, o));
        }
        req.to_request()
    };
    let res = test::call_service(&app, logout("csrf=nope".to_owned(), None)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = test::call_service(
        &app,
        logout(format!("csrf={csrf2}"), Some("http://evil.example")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = test::call_service(&app, logout(format!("csrf={csrf2}"), None)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(set_cookies(&res)
        .iter()
        .all(|(_, v, full)| v.is_empty() && full.contains("Max-Age=0")));
    // Signed out: the refresh token is revoked.
    let res = test::call_service(
        &app,
        TestRequest::get()
            .uri("/")
            .insert_header((header::COOKIE, cookie_header(&cookies, &["ft_refresh"])))
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}
