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

#[derive(diesel::QueryableByName)]
struct OrgRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    org_id: uuid::Uuid,
}

/// Signs in through the sign-in form; the session's cookie header.
async fn sign_in<B: actix_web::body::MessageBody>(
    app: &impl harness::App<B>,
    email: &str,
    pass: &str,
) -> String {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("email", email), ("password", pass), ("role", "")])
        .finish();
    let res = test::call_service(
        app,
        TestRequest::post()
            .uri("/login")
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload(body)
            .to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookies: Vec<(String, String, String)> = res
        .headers()
        .get_all(header::SET_COOKIE)
        .map(|v| {
            let full = v.to_str().unwrap().to_owned();
            let pair = full.split(';').next().unwrap().to_owned();
            let (k, val) = pair.split_once('=').unwrap();
            (k.to_owned(), val.to_owned(), full)
        })
        .collect();
    cookie_header(&cookies, &["ft_access", "ft_refresh", "ft_csrf"])
}

/// A page's answer as the holder of `cookie`: status, content type, body.
async fn page<B: actix_web::body::MessageBody>(
    app: &impl harness::App<B>,
    cookie: &str,
    uri: &str,
) -> (StatusCode, String, Vec<u8>) {
    let res = test::call_service(
        app,
        TestRequest::get()
            .uri(uri)
            .insert_header((header::COOKIE, cookie.to_owned()))
            .to_request(),
    )
    .await;
    let status = res.status();
    let ct = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, test::read_body(res).await.to_vec())
}

/// The donor report downloads as XLSX and PDF for the donor, each read back with a
/// reference reader (calamine; poppler's `pdftotext`): the signed checkpoint it was computed
/// at (size, root, the note's signature line) and the donor's figures are the JSON's.
/// Another donor's report is refused as the API refuses it.
#[actix_web::test]
async fn donor_report_downloads_as_xlsx_and_pdf_naming_the_checkpoint() {
    use calamine::Reader;
    use diesel::RunQueryDsl;
    let db = TestDb::migrated();
    let dir = harness::temp_dir("web-downloads");
    harness::fundtrail_ok(&db, &dir, &["seed-demo"]);
    let state = harness::state(&db).await;
    let app = harness::app(state.clone()).await;
    let me: uuid::Uuid =
        diesel::sql_query("SELECT org_id FROM users WHERE email = 'donor@demo.fundtrail'")
            .get_result::<OrgRow>(&mut db.superuser_conn())
            .unwrap()
            .org_id;
    harness::act_as(&state, "admin");
    let (_, funds) = call!(&app, TestRequest::get().uri("/api/v1/funds"));
    let fund = funds[0]["id"].as_str().unwrap().to_owned();
    let (_, st) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{fund}/reports/statement"))
    );
    let other = st["sources"]["donors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["donor"]["id"].as_str().unwrap().to_owned())
        .find(|d| *d != me.to_string())
        .unwrap();

    harness::act_as_member(&state, "donor", me);
    let (status, json) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{fund}/reports/donors/{me}"))
    );
    assert_eq!(status, StatusCode::OK, "{json}");
    let cp = &json["checkpoints"]["fund"];
    let size = cp["tree_size"].as_u64().unwrap().to_string();
    let root = cp["root_hash"].as_str().unwrap().to_owned();
    let note = cp["note"].as_str().unwrap().to_owned();
    let signature = note
        .lines()
        .rfind(|l| l.starts_with('—'))
        .unwrap()
        .to_owned();
    let contributed = json["contributions"]["contributed"]["cumulative"]
        .as_str()
        .unwrap()
        .to_owned();
    let disbursed = json["attributed"]["total"]["attributed_disbursed"]["cumulative"]
        .as_str()
        .unwrap()
        .to_owned();

    let cookie = sign_in(&app, "donor@demo.fundtrail", fundtrail::seed::DEMO_PASSWORD).await;
    let (status, _, html) = page(&app, &cookie, &format!("/funds/{fund}/donors/{me}")).await;
    assert_eq!(status, StatusCode::OK);
    let html = String::from_utf8(html).unwrap();
    for link in ["report.csv", "report.xlsx", "report.pdf"] {
        assert!(html.contains(&format!("/donors/{me}/{link}")), "{link}");
    }

    // XLSX: a real workbook (a zip calamine opens), one row per CSV row.
    let (status, ct, xlsx) = page(
        &app,
        &cookie,
        &format!("/funds/{fund}/donors/{me}/report.xlsx"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&xlsx));
    assert_eq!(
        ct,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(xlsx.starts_with(b"PK\x03\x04"));
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(xlsx)).unwrap();
    let sheet = book.worksheet_range("Report").unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let cell = |measure: &str, item: &str| -> Vec<String> {
        rows.iter()
            .find(|r| r[0] == "checkpoint" && r[2] == item && r[4] == measure)
            .cloned()
            .unwrap_or_else(|| panic!("no checkpoint {measure} in {rows:?}"))
    };
    assert_eq!(cell("tree_size", "fund")[7], size);
    assert_eq!(cell("root_hash", "fund")[7], root);
    assert_eq!(cell("note", "fund")[7], note);
    let mine = |section: &str, measure: &str, item: &str| {
        rows.iter()
            .find(|r| r[0] == section && r[4] == measure && r[1] == item && r[3].is_empty())
            .map(|r| r[7].clone())
    };
    assert_eq!(
        mine("contributions", "contributed", &me.to_string()),
        Some(contributed.clone())
    );
    assert_eq!(
        mine("attributed", "attributed_disbursed", ""),
        Some(disbursed.clone())
    );
    // Row for row what the CSV has.
    let (_, _, csv) = page(
        &app,
        &cookie,
        &format!("/funds/{fund}/donors/{me}/report.csv"),
    )
    .await;
    let csv_rows: Vec<Vec<String>> = csv::Reader::from_reader(csv.as_slice())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(rows.get(1..).unwrap(), csv_rows.as_slice());

    // PDF: what poppler's pdftotext reads from it.
    let (status, ct, pdf) = page(
        &app,
        &cookie,
        &format!("/funds/{fund}/donors/{me}/report.pdf"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "application/pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    let path = dir.join("report.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils; scripts/test installs it)");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("tree_size {size}")), "{text}");
    assert!(text.contains(&format!("root_hash {root}")), "{text}");
    assert!(text.contains(signature.trim()), "{signature} in {text}");
    let has_row = |section: &str, measure: &str, figure: &str| {
        text.lines().any(|l| {
            l.split_whitespace().next() == Some(section)
                && l.contains(&format!(" {measure} "))
                && l.contains(&format!(" {figure} "))
        })
    };
    assert!(
        has_row("contributions", "contributed", &contributed),
        "{text}"
    );
    assert!(
        has_row("attributed", "attributed_disbursed", &disbursed),
        "{text}"
    );

    // Another donor's report, in any format: refused as the API refuses it (403).
    for ext in ["", "/report.csv", "/report.xlsx", "/report.pdf"] {
        let (status, _, body) =
            page(&app, &cookie, &format!("/funds/{fund}/donors/{other}{ext}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{ext}");
        assert!(
            String::from_utf8_lossy(&body).contains("forbidden"),
            "{ext}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The public page of a fund: 404 until an administrator publishes it (recorded in the
/// administrative chain; other roles are refused), then readable without signing in, with
/// the statement's sources and uses, disbursements by ministry, contracts awarded and the
/// signed checkpoint, and no user's email or name and no flag; withdrawn, 404 again.
#[actix_web::test]
async fn a_funds_public_page_exists_only_once_published_and_holds_no_personal_data() {
    use diesel::RunQueryDsl;
    let db = TestDb::migrated();
    let dir = harness::temp_dir("web-public");
    harness::fundtrail_ok(&db, &dir, &["seed-demo"]);
    let state = harness::state(&db).await;
    let app = harness::app(state.clone()).await;
    harness::act_as(&state, "admin");
    let (_, funds) = call!(&app, TestRequest::get().uri("/api/v1/funds"));
    let fund = funds[0]["id"].as_str().unwrap().to_owned();
    let secretariat: uuid::Uuid = funds[0]["secretariat"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let public = format!("/public/funds/{fund}");
    let anon = |uri: String| {
        let app = &app;
        async move {
            let res = test::call_service(app, TestRequest::get().uri(&uri).to_request()).await;
            let status = res.status();
            (
                status,
                String::from_utf8(test::read_body(res).await.to_vec()).unwrap(),
            )
        }
    };

    let api = format!("/api/v1/public/funds/{fund}");

    // Not published: 404, as for a fund that does not exist, on the page and in the API.
    let (status, body) = anon(api.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, html) = anon(public.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        html.contains("not_found") && !html.contains("Sources"),
        "{html}"
    );
    let (status, _) = anon(format!("/public/funds/{}", uuid::Uuid::new_v4())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Only an administrator publishes it.
    let set = |published: bool| {
        TestRequest::post()
            .uri(&format!("/api/v1/admin/funds/{fund}/public-page"))
            .set_json(serde_json::json!({ "published": published }))
    };
    harness::act_as_member(&state, "treasurer", secretariat);
    let (status, body) = call!(&app, set(true));
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(anon(public.clone()).await.0, StatusCode::NOT_FOUND);
    harness::act_as(&state, "admin");
    let (status, body) = call!(
        &app,
        TestRequest::post()
            .uri(&format!(
                "/api/v1/admin/funds/{}/public-page",
                uuid::Uuid::new_v4()
            ))
            .set_json(serde_json::json!({ "published": true }))
    );
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = call!(&app, set(true));
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, admin_chain) = call!(
        &app,
        TestRequest::get().uri("/api/v1/chains/admin/entries?limit=1000")
    );
    assert!(
        admin_chain.to_string().contains("fund_public_page_set"),
        "{admin_chain}"
    );

    // Published: the figures, as the statement gives them, without signing in.
    let (_, st) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{fund}/reports/statement"))
    );
    let (_, contracts) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{fund}/contracts?limit=200"))
    );
    let (status, html) = anon(public.clone()).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(st["fund"]["name"].as_str().unwrap()));
    assert!(html.contains(st["checkpoints"]["fund"]["root_hash"].as_str().unwrap()));
    for m in st["uses"]["ministries"].as_array().unwrap() {
        let row = format!(
            "<th scope=\"row\">{}</th><td>{}</td>",
            m["ministry"]["name"].as_str().unwrap(),
            m["disbursed"]["cumulative"].as_str().unwrap()
        );
        assert!(html.contains(&row), "{row} in {html}");
    }
    for d in st["sources"]["donors"].as_array().unwrap() {
        assert!(html.contains(d["donor"]["name"].as_str().unwrap()));
    }
    let first = &contracts["contracts"][0];
    assert!(
        html.contains(first["vendor"]["name"].as_str().unwrap())
            && html.contains(first["value"].as_str().unwrap()),
        "{first}"
    );
    // No user's email or name, no flag.
    #[derive(diesel::QueryableByName)]
    struct EmailRow {
        #[diesel(sql_type = diesel::sql_types::Text)]
        email: String,
    }
    let emails: Vec<EmailRow> = diesel::sql_query("SELECT email FROM users")
        .load(&mut db.superuser_conn())
        .unwrap();
    assert!(!emails.is_empty());
    for e in &emails {
        assert!(!html.contains(&e.email), "{} on the public page", e.email);
        let local = e.email.split('@').next().unwrap();
        assert!(!html.contains(&format!("{local}@")), "{local}");
    }
    assert!(!html.to_lowercase().contains("flag"), "{html}");

    // The API's public view, without a token: the statement's sources and uses at the same
    // checkpoint, the contracts in force, and nothing else.
    let (status, body) = anon(api.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    let keys: Vec<&str> = view
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "checkpoint",
            "contracts",
            "contracts_truncated",
            "currency",
            "fund",
            "report",
            "sources",
            "uses"
        ]
    );
    assert_eq!(view["checkpoint"], st["checkpoints"]["fund"]);
    assert_eq!(view["sources"], st["sources"]);
    assert_eq!(view["uses"], st["uses"]);
    let in_force: Vec<&serde_json::Value> = contracts["contracts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["seq"].as_u64().unwrap() < st["checkpoints"]["fund"]["tree_size"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(
        view["contracts"].as_array().unwrap().len(),
        in_force.len().min(200)
    );
    assert_eq!(view["contracts"][0]["id"], in_force[0]["id"]);
    assert_eq!(view["contracts"][0]["value"], in_force[0]["value"]);
    for e in &emails {
        assert!(!body.contains(&e.email), "{} in the public view", e.email);
    }
    assert!(!body.to_lowercase().contains("flag"), "{body}");

    // Withdrawn: 404 again.
    let (status, _) = call!(&app, set(false));
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(anon(public).await.0, StatusCode::NOT_FOUND);
    assert_eq!(anon(api).await.0, StatusCode::NOT_FOUND);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The approvals page lists a request pending under the fund's approval policy with
/// approve and reject buttons; the decision is a CSRF-checked form posted through the API,
/// so the maker's own is refused with the API's code and another treasurer's takes effect.
#[actix_web::test]
async fn pending_requests_are_decided_from_the_approvals_page() {
    use diesel::RunQueryDsl;
    use serde_json::json;
    let (db, state, app) = harness::start().await;
    let (fund, secretariat, auditor) = harness::audited_fund(&db, &state, &app).await;
    let donor = harness::org(&db, "Kingdom of Norway", "donor");
    let interior = harness::org(&db, "Ministry of Interior", "ministry");
    let maker = harness::user(&db, "maker@test.invalid", PASS, &["treasurer"]);
    let checker = harness::user(&db, "checker@test.invalid", PASS, &["treasurer"]);
    diesel::sql_query("UPDATE users SET org_id = $1 WHERE id IN ($2, $3)")
        .bind::<diesel::sql_types::Uuid, _>(secretariat)
        .bind::<diesel::sql_types::Uuid, _>(maker)
        .bind::<diesel::sql_types::Uuid, _>(checker)
        .execute(&mut db.superuser_conn())
        .unwrap();
    // Both hold the approver grant: the maker is refused as the maker, not for want of it.
    harness::set_approver(&state, maker, "treasurer");
    harness::set_approver(&state, checker, "treasurer");
    let today = chrono::Utc::now().date_naive().to_string();
    let eur = harness::eur;
    harness::act_as_member(&state, "auditor", auditor);
    ok!(
        &app,
        harness::entry(
            fund,
            "approval_policy",
            &today,
            json!({"rules": [{"kind": "disbursement", "above": eur("500.00")}],
                   "expiry_hours": 72, "reason": "Board decision"})
        )
    );
    harness::act_as_user(&state, "treasurer", secretariat, maker);
    ok!(
        &app,
        harness::entry(
            fund,
            "contribution",
            &today,
            json!({"donor": donor, "amount": eur("1000.00"), "agreement": "A"})
        )
    );
    let alloc = ok!(
        &app,
        harness::entry(
            fund,
            "allocation",
            &today,
            json!({"ministry": interior, "budget_line": "B", "category": "c",
                   "amount": eur("800.00"), "period_start": "2026-01-01", "period_end": "2026-12-31"})
        )
    );
    let request = ok!(
        &app,
        harness::entry(
            fund,
            "disbursement",
            &today,
            json!({"allocation": alloc, "amount": eur("600.00")})
        )
    );

    let decide = |cookie: &str, csrf: &str| {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("csrf", csrf),
                ("business_date", today.as_str()),
                ("entry", &request.to_string()),
                ("decision", "approved"),
            ])
            .finish();
        TestRequest::post()
            .uri(&format!(
                "/funds/{fund}/record/approval?idem={}",
                uuid::Uuid::new_v4()
            ))
            .insert_header((header::COOKIE, cookie.to_owned()))
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload(body)
            .to_request()
    };
    let csrf_of = |cookie: &str| {
        cookie
            .split("; ")
            .find_map(|c| c.strip_prefix("ft_csrf="))
            .unwrap()
            .to_owned()
    };

    // The maker sees the request and its buttons, but the API refuses their decision.
    let mine = sign_in(&app, "maker@test.invalid", PASS).await;
    let (status, _, html) = page(&app, &mine, &format!("/funds/{fund}/approvals")).await;
    let html = String::from_utf8(html).unwrap();
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("Approve #{request}")), "{html}");
    let res = test::call_service(&app, decide(&mine, "not-the-token")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "CSRF checked");
    let res = test::call_service(&app, decide(&mine, &csrf_of(&mine))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(refused.contains("self_approval_refused"), "{refused}");

    // Another treasurer approves it from the page; it takes effect.
    let theirs = sign_in(&app, "checker@test.invalid", PASS).await;
    let res = test::call_service(&app, decide(&theirs, &csrf_of(&theirs))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, _, html) = page(&app, &theirs, &format!("/funds/{fund}/approvals")).await;
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("no-requests"), "{html}");
    harness::act_as_member(&state, "auditor", auditor);
    let (_, b) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{fund}/balances"))
    );
    assert_eq!(b["totals"]["disbursed"], "600.00", "{b}");
}

/// The webhook pages: a treasurer subscribes from the form (the secret shown once), sees
/// the subscription listed, sends a test event and reads its delivery log; a donor has no
/// link and the page answers the API's 403.
#[actix_web::test]
async fn webhooks_are_managed_from_the_web_pages() {
    use diesel::RunQueryDsl;
    let (db, state, app) = harness::start_with(fundtrail::config::AppSettings {
        // The subscription below points at a local port.
        webhook_allow_private: true,
        ..fundtrail::config::AppSettings::default()
    })
    .await;
    let (fund, secretariat, _) = harness::audited_fund(&db, &state, &app).await;
    let donor = harness::org(&db, "Kingdom of Norway", "donor");
    let treasurer = harness::user(&db, "hooks@test.invalid", PASS, &["treasurer"]);
    let giver = harness::user(&db, "giver@test.invalid", PASS, &["donor"]);
    for (user, org) in [(treasurer, secretariat), (giver, donor)] {
        diesel::sql_query("UPDATE users SET org_id = $1 WHERE id = $2")
            .bind::<diesel::sql_types::Uuid, _>(org)
            .bind::<diesel::sql_types::Uuid, _>(user)
            .execute(&mut db.superuser_conn())
            .unwrap();
    }
    harness::act_as_member(&state, "treasurer", secretariat);
    ok!(
        &app,
        harness::entry(
            fund,
            "contribution",
            chrono::Utc::now().date_naive().to_string(),
            serde_json::json!({"donor": donor, "amount": harness::eur("1000.00"), "agreement": "A"})
        )
    );
    let cookie = sign_in(&app, "hooks@test.invalid", PASS).await;
    let csrf = cookie
        .split("; ")
        .find_map(|c| c.strip_prefix("ft_csrf="))
        .unwrap()
        .to_owned();
    let post = |uri: String, pairs: Vec<(&str, &str)>| {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        TestRequest::post()
            .uri(&uri)
            .insert_header((header::COOKIE, cookie.clone()))
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload(body)
            .to_request()
    };

    let (status, _, html) = page(&app, &cookie, &format!("/funds/{fund}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(html)
        .unwrap()
        .contains(&format!("/funds/{fund}/webhooks")));
    let (status, _, html) = page(&app, &cookie, &format!("/funds/{fund}/webhooks")).await;
    let html = String::from_utf8(html).unwrap();
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("0 subscriptions"), "{html}");

    let url = "http://127.0.0.1:9/hook";
    let res = test::call_service(
        &app,
        post(
            format!("/funds/{fund}/webhooks"),
            vec![
                ("csrf", "not-the-token"),
                ("url", url),
                ("events", "flag.raised"),
            ],
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "CSRF checked");
    let res = test::call_service(
        &app,
        post(
            format!("/funds/{fund}/webhooks"),
            vec![
                ("csrf", &csrf),
                ("url", url),
                ("events", "flag.raised"),
                ("events", "integrity.alarm"),
            ],
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(html.contains("whsec_"), "the secret, once: {html}");
    let (_, _, html) = page(&app, &cookie, &format!("/funds/{fund}/webhooks")).await;
    let html = String::from_utf8(html).unwrap();
    assert!(
        html.contains(url) && html.contains("flag.raised, integrity.alarm"),
        "{html}"
    );
    assert!(!html.contains("whsec_"), "the list shows no secret");
    let (_, list) = call!(
        &app,
        TestRequest::get().uri(&format!("/api/v1/funds/{fund}/webhooks"))
    );
    let id = list["subscriptions"][0]["id"].as_str().unwrap().to_owned();

    let res = test::call_service(
        &app,
        post(format!("/webhooks/{id}/test"), vec![("csrf", &csrf)]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(html.contains("Test event queued"), "{html}");
    // One delivery round: nothing listens on port 9, so the attempt is logged unreachable.
    let s = fundtrail::notify::deliver::DeliverySettings {
        allow_private: true,
        ..fundtrail::notify::deliver::DeliverySettings::default()
    };
    let client = fundtrail::notify::deliver::client(&s).unwrap();
    fundtrail::notify::deliver::round(&state.pool, &client, &s, chrono::Utc::now())
        .await
        .unwrap();
    let (status, _, html) = page(&app, &cookie, &format!("/webhooks/{id}/deliveries")).await;
    let html = String::from_utf8(html).unwrap();
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("1 attempts")
            && html.contains("webhook.test")
            && html.contains("unreachable"),
        "{html}"
    );

    // The donor: no link, and the page is the API's refusal.
    let theirs = sign_in(&app, "giver@test.invalid", PASS).await;
    let (_, _, html) = page(&app, &theirs, &format!("/funds/{fund}")).await;
    assert!(!String::from_utf8(html)
        .unwrap()
        .contains(&format!("/funds/{fund}/webhooks")));
    let (status, _, _) = page(&app, &theirs, &format!("/funds/{fund}/webhooks")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
