//! The web pages in a real browser: headless Debian Chromium driven over WebDriver
//! (chromedriver), against the real server on a loopback port, over the seeded demo fund.
//! One browser for every journey, to keep the cost low. `scripts/test` installs Chromium,
//! chromedriver and axe-core when missing; each page is checked by axe-core (no serious or
//! critical WCAG 2.1 A/AA violation), at 1,440 px and at 390 px (no horizontal scrolling),
//! and the main pages are saved as screenshots (target/screenshots, or FUNDTRAIL_SCREENSHOTS_DIR).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use diesel::RunQueryDsl;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{self, TestDb};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A minimal WebDriver client (the W3C protocol is plain JSON over HTTP).
struct Driver {
    http: reqwest::Client,
    base: String,
    _chromedriver: ChildGuard,
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Driver {
    async fn start(profile: &std::path::Path) -> Driver {
        let chromedriver = std::env::var("FUNDTRAIL_CHROMEDRIVER")
            .unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned());
        let chromium =
            std::env::var("FUNDTRAIL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        assert!(
            std::path::Path::new(&chromium).exists() && std::path::Path::new(&chromedriver).exists(),
            "Chromium or chromedriver is missing: run the tests through scripts/test, which installs them"
        );
        let port = free_port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let guard = ChildGuard(child);
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let res: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {res}"))
            .to_owned();
        Driver {
            http,
            base: format!("{base}/session/{session}"),
            _chromedriver: guard,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let req = self.http.request(method, format!("{}{path}", self.base));
        let req = if body.is_null() { req } else { req.json(&body) };
        let res: Value = req.send().await.unwrap().json().await.unwrap();
        if let Some(err) = res["value"].get("error") {
            panic!("WebDriver {path}: {err} {}", res["value"]["message"]);
        }
        res["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, body).await
    }

    async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    async fn exists(&self, css: &str) -> bool {
        self.js(
            "return document.querySelector(arguments[0]) !== null",
            json!([css]),
        )
        .await
        .as_bool()
        .unwrap()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }

    /// Clicks `css` and waits for the next page to load (a form post or a link).
    async fn submit(&self, css: &str) {
        self.js("window.__before = true", json!([])).await;
        self.click(css).await;
        for _ in 0..100 {
            let loaded = self
                .js(
                    "return window.__before === undefined && document.readyState === 'complete'",
                    json!([]),
                )
                .await;
            if loaded == json!(true) {
                return;
            }
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clicking {css} loaded no page");
    }

    async fn type_in(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/clear"), json!({})).await;
        self.post(&format!("/element/{id}/value"), json!({ "text": text }))
            .await;
    }

    /// The text of the first element `css` matches, waiting up to 5 s for it to appear.
    async fn text(&self, css: &str) -> String {
        for _ in 0..50 {
            let v = self
                .js(
                    "const e = document.querySelector(arguments[0]); return e ? e.innerText : null",
                    json!([css]),
                )
                .await;
            if let Some(t) = v.as_str() {
                return t.to_owned();
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        let page = self.js("return document.body.innerText", json!([])).await;
        panic!("no element {css} on {}: {page}", self.url().await)
    }

    async fn js(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    async fn js_async(&self, script: &str, args: Value) -> Value {
        self.post("/execute/async", json!({ "script": script, "args": args }))
            .await
    }

    async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", Value::Null)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn width(&self, px: u32) {
        self.post("/window/rect", json!({"width": px, "height": 1000}))
            .await;
    }

    async fn screenshot(&self, name: &str) {
        let full_height = self
            .js("return document.documentElement.scrollHeight", json!([]))
            .await
            .as_u64()
            .unwrap()
            .min(3000);
        let width = self
            .js("return window.outerWidth", json!([]))
            .await
            .as_u64()
            .unwrap();
        self.post(
            "/window/rect",
            json!({"width": width, "height": full_height + 100}),
        )
        .await;
        let png = self
            .cmd(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        // Into target/ on every run; into docs/images/ (the committed ones docs/web.md
        // shows) only when FUNDTRAIL_SCREENSHOTS_DIR asks, so a test run leaves the tree clean.
        let dir = std::env::var_os("FUNDTRAIL_SCREENSHOTS_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
            });
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
        self.post("/window/rect", json!({"width": width, "height": 1000}))
            .await;
    }

    /// Runs axe-core on the page: prints every violation, fails on a serious or critical
    /// one; then checks that at 390 px the page needs no horizontal scrolling.
    async fn check_page(&self, axe: &str, name: &str) {
        self.js(&format!("{axe}\n;return true"), json!([])).await;
        let found = self
            .js_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                    .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))))
                    .catch(e => done([{id: 'axe-error: ' + e, impact: 'critical', nodes: 0}]));",
                json!([]),
            )
            .await;
        let violations = found.as_array().unwrap();
        println!(
            "axe-core {name}: {} violation(s) {}",
            violations.len(),
            found
        );
        let serious: Vec<&Value> = violations
            .iter()
            .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
            .collect();
        assert!(serious.is_empty(), "axe-core on {name}: {serious:?}");
        self.width(390).await;
        let overflow = self
            .js(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
                json!([]),
            )
            .await
            .as_i64()
            .unwrap();
        println!("390 px {name}: horizontal overflow {overflow} px");
        if overflow > 0 {
            let wide = self
                .js(
                    "const w = document.documentElement.clientWidth;
                     return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1 && !e.parentElement.closest('.scroll, figure.chart'))
                        .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().width))
                        .concat([w, document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth,
                          ...[...document.querySelectorAll('body *')].filter(e => { const r = e.getBoundingClientRect().right; return r > w + 1 && r < w + 20; }).slice(0, 6).map(e => e.tagName + '.' + e.className + '#' + e.id + ' in ' + e.parentElement.tagName + '.' + e.parentElement.className)]);",
                    json!([]),
                )
                .await;
            println!("wider than the window: {wide}");
        }
        assert!(
            overflow <= 0,
            "{name} scrolls sideways at 390 px by {overflow} px"
        );
        self.width(1440).await;
    }

    async fn login(&self, base: &str, email: &str) {
        self.goto(&format!("{base}/login")).await;
        self.type_in("#email", email).await;
        self.type_in("#password", fundtrail::seed::DEMO_PASSWORD)
            .await;
        self.submit("button[type=submit]").await;
        let who = self.text("[data-testid=whoami]").await;
        assert!(who.contains(email), "signed in as {who}");
    }

    async fn logout(&self, base: &str) {
        self.goto(&format!("{base}/")).await;
        self.submit(".who button").await;
        self.text("#email").await;
        let url = self.url().await;
        assert!(url.ends_with("/login"), "signed out at {url}");
    }
}

/// The seeded demo, served on a loopback port by the real application.
async fn serve(db: &TestDb) -> String {
    let dir = std::env::temp_dir().join(format!("fundtrail-web-{}", Uuid::new_v4()));
    harness::fundtrail_ok(db, &dir, &["seed-demo"]);
    let state = harness::state(db).await;
    let auth = actix_web::web::Data::new(fundtrail::auth::Auth::new(
        harness::jwt_keys(),
        fundtrail::auth::session::SessionSettings::default(),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server =
        actix_web::HttpServer::new(move || fundtrail::app::build(state.clone(), auth.clone()))
            .workers(2)
            .listen(listener)
            .unwrap()
            .run();
    actix_web::rt::spawn(server);
    format!("http://127.0.0.1:{port}")
}

fn axe_source() -> String {
    let path = std::env::var("FUNDTRAIL_AXE_JS").unwrap_or_else(|_| {
        format!(
            "{}/target/browser-tools/axe-4.14.1.min.js",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("axe-core is missing at {path} ({e}): run the tests through scripts/test")
    })
}

fn contract_of(db: &TestDb, ministry: &str) -> Uuid {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    let row: Id = diesel::sql_query(
        "SELECT c.id FROM contracts c JOIN organizations o ON o.id = c.ministry_org_id \
         WHERE o.name = $1 ORDER BY c.seq LIMIT 1",
    )
    .bind::<diesel::sql_types::Text, _>(ministry)
    .get_result(&mut db.superuser_conn())
    .unwrap();
    row.id
}

#[actix_web::test]
async fn each_role_journey_in_a_real_browser() {
    let db = TestDb::migrated();
    let base = serve(&db).await;
    let axe = axe_source();
    let profile = std::env::temp_dir().join(format!("fundtrail-chromium-{}", Uuid::new_v4()));
    let d = Driver::start(&profile).await;
    d.width(1440).await;

    // Offline API reference.
    d.goto(&format!("{base}/docs")).await;
    assert!(d.text("h1").await.contains("API reference"));
    assert!(d.exists("#tag-reports").await);
    d.check_page(&axe, "docs").await;

    // A page without a session goes to sign-in; a wrong password is refused as the API does.
    d.goto(&format!("{base}/")).await;
    assert!(d.url().await.ends_with("/login"));
    d.check_page(&axe, "login").await;
    d.type_in("#email", "donor@demo.fundtrail").await;
    d.type_in("#password", "wrong").await;
    d.submit("button[type=submit]").await;
    assert!(d.text("#login-error").await.contains("invalid_credentials"));

    // Donor: the fund, its report with the CSV naming the checkpoint, an entry verified.
    d.login(&base, "donor@demo.fundtrail").await;
    d.check_page(&axe, "home").await;
    d.submit("main a[href^='/funds/']").await;
    let fund_url = d.url().await;
    assert!(d.exists("figure.chart svg rect").await, "no chart bars");
    assert!(d.text("[data-testid=checkpoint]").await.contains("size"));
    d.check_page(&axe, "fund").await;
    d.screenshot("fund-overview").await;
    d.submit("section[aria-labelledby=donor-reports] a").await;
    assert!(d.text("h1").await.contains("Donor report"));
    d.check_page(&axe, "donor-report").await;
    d.screenshot("donor-report").await;
    let csv = d
        .js_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.querySelector('a[download]').href).then(r => r.text().then(t => done([r.status, t])));",
            json!([]),
        )
        .await;
    assert_eq!(csv[0], 200, "{csv}");
    assert!(csv[1].as_str().unwrap().contains("checkpoint"), "{csv}");
    d.goto(&format!("{fund_url}/entries?kind=disbursement"))
        .await;
    d.check_page(&axe, "entries").await;
    d.screenshot("entries").await;
    d.submit("tbody a").await;
    let verdict = wait_for_verdict(&d).await;
    assert!(verdict.starts_with("Verified"), "{verdict}");
    let steps = d.text("#v-steps").await;
    assert!(
        steps.contains("Entry hash")
            && steps.contains("Inclusion proof")
            && steps.contains("Signature by trusted key"),
        "{steps}"
    );
    d.check_page(&axe, "entry").await;
    d.screenshot("entry-verified").await;

    // A tampered proof, then a tampered note, are rejected loudly.
    d.js(
        "const t = document.getElementById('v-proof'); const p = JSON.parse(t.value);
         const h = p.inclusion_proof.hashes[0]; p.inclusion_proof.hashes[0] = (h[0] === '0' ? '1' : '0') + h.slice(1);
         t.value = JSON.stringify(p);",
        json!([]),
    )
    .await;
    d.click("#v-run").await;
    let verdict = wait_for_verdict(&d).await;
    assert!(
        verdict.starts_with("REJECTED") && verdict.contains("checkpoint"),
        "{verdict}"
    );
    d.screenshot("entry-tampered").await;
    d.goto(&d.url().await).await;
    wait_for_verdict(&d).await;
    d.js(
        "const t = document.getElementById('v-note'); t.value = t.value.replace(/\\n(\\d+)\\n/, (m, n) => '\\n' + n + '\\n');
         const lines = t.value.split('\\n'); lines[3] = lines[3].replace(/.$/, c => c === '0' ? '1' : '0'); t.value = lines.join('\\n');",
        json!([]),
    )
    .await;
    d.click("#v-run").await;
    let verdict = wait_for_verdict(&d).await;
    assert!(
        verdict.starts_with("REJECTED") && verdict.contains("signature"),
        "{verdict}"
    );
    // A donor may not record anything: the API's refusal, as a page.
    d.goto(&format!("{fund_url}/record/disbursement")).await;
    assert!(d.text("main").await.contains("403"));
    d.logout(&base).await;

    // Auditor: filter the open flags, triage two at once, then one on its own page.
    d.login(&base, "auditor@demo.fundtrail").await;
    // The bank page, reached from the fund's navigation.
    d.goto(&fund_url).await;
    d.submit("nav.subnav a[href$='/bank']").await;
    assert!(d.url().await.ends_with("/bank"), "{}", d.url().await);
    assert!(
        d.text("h1").await.contains("Bank"),
        "{}",
        d.text("h1").await
    );
    d.check_page(&axe, "bank").await;
    d.screenshot("bank").await;
    // The webhooks page, for the roles that may subscribe.
    d.goto(&fund_url).await;
    d.submit("nav.subnav a[href$='/webhooks']").await;
    assert!(d.url().await.ends_with("/webhooks"), "{}", d.url().await);
    assert!(
        d.text("h1").await.contains("Webhooks"),
        "{}",
        d.text("h1").await
    );
    d.check_page(&axe, "webhooks").await;
    d.goto(&format!("{fund_url}/flags?status=open")).await;
    d.check_page(&axe, "flags").await;
    d.screenshot("flags").await;
    let open: Vec<String> = d
        .js("return [...document.querySelectorAll('input[name=flag]')].slice(0, 2).map(e => e.value)", json!([]))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(open.len(), 2, "fewer than two open flags in the demo");
    for id in &open {
        d.click(&format!("#sel-{id}")).await;
    }
    d.js(
        "document.getElementById('action-many').value = 'acknowledge'",
        json!([]),
    )
    .await;
    d.submit("fieldset button[type=submit]").await;
    let results = d.text("[data-testid=triage-results]").await;
    assert_eq!(results.matches("now acknowledged").count(), 2, "{results}");
    d.goto(&format!("{base}/flags/{}", open[0])).await;
    assert_eq!(d.text("[data-testid=flag-status]").await, "acknowledged");
    d.check_page(&axe, "flag").await;
    d.screenshot("flag").await;
    d.js(
        "document.getElementById('action-one').value = 'dismiss'",
        json!([]),
    )
    .await;
    d.submit("fieldset button[type=submit]").await;
    assert!(
        d.text("main").await.contains("reason"),
        "dismissing without a reason is refused"
    );
    d.goto(&format!("{base}/flags/{}", open[0])).await;
    d.js(
        "document.getElementById('action-one').value = 'confirm'",
        json!([]),
    )
    .await;
    d.submit("fieldset button[type=submit]").await;
    assert_eq!(d.text("[data-testid=flag-status]").await, "confirmed");
    d.goto(&format!("{fund_url}/flags?status=open")).await;
    assert!(
        !d.exists(&format!("#sel-{}", open[1])).await,
        "an acknowledged flag is not open"
    );
    // "Select all" checks every flag of the page, and clears them again.
    d.click("#sel-all").await;
    let (rows, checked) = flag_boxes(&d).await;
    assert!(rows > 0 && rows == checked, "{checked} of {rows} checked");
    d.click("#sel-all").await;
    assert_eq!(flag_boxes(&d).await.1, 0);
    // Every open flag of one rule, on every page, escalated at once from a one-flag page.
    let rule = d.text("tbody td:nth-child(2) a").await;
    d.goto(&format!(
        "{fund_url}/flags?status=open&rule={rule}&limit=1000"
    ))
    .await;
    let matching = flag_boxes(&d).await.0;
    assert!(matching >= 1);
    d.goto(&format!("{fund_url}/flags?status=open&rule={rule}&limit=1"))
        .await;
    d.click("#matching").await;
    d.js(
        "document.getElementById('action-many').value = 'escalate'",
        json!([]),
    )
    .await;
    d.submit("fieldset button[type=submit]").await;
    let results = d.text("[data-testid=triage-results]").await;
    assert_eq!(
        u64::try_from(results.matches("now escalated").count()).unwrap(),
        matching,
        "{results}"
    );
    d.goto(&format!(
        "{fund_url}/flags?status=open&rule={rule}&limit=1000"
    ))
    .await;
    assert_eq!(flag_boxes(&d).await.0, 0, "no open {rule} flag is left");
    d.logout(&base).await;

    // Treasurer: a disbursement refused with the API's message by its field, then recorded.
    d.login(&base, "treasurer@demo.fundtrail").await;
    d.goto(&format!("{fund_url}/entries?kind=allocation")).await;
    let allocation = d.text("tbody a").await.trim_start_matches('#').to_owned();
    let currency = d
        .text("tbody td:nth-child(4)")
        .await
        .split(' ')
        .nth(1)
        .unwrap()
        .to_owned();
    d.goto(&format!("{fund_url}/record/disbursement")).await;
    d.check_page(&axe, "record-disbursement").await;
    let today = chrono::Utc::now().date_naive().to_string();
    d.js(
        "document.getElementById('business_date').value = arguments[0]",
        json!([today]),
    )
    .await;
    d.type_in("#allocation", &allocation).await;
    d.type_in("#amount", "12.345").await;
    d.type_in("#currency", &currency).await;
    d.submit("form.stack button[type=submit]").await;
    let err = d.text("#err-amount").await;
    println!("disbursement refused: {err}");
    assert!(d.exists("#amount[aria-invalid=true]").await, "{err}");
    d.screenshot("record-refused").await;
    d.type_in("#amount", "10.00").await;
    d.submit("form.stack button[type=submit]").await;
    let receipt = d.text("[data-testid=receipt]").await;
    assert!(receipt.contains("disbursement is entry #"), "{receipt}");
    d.check_page(&axe, "receipt").await;
    d.screenshot("receipt").await;
    d.logout(&base).await;

    // Ministry: its own contract opens, another ministry's answers 404 and shows nothing.
    let own = contract_of(&db, "Ministry of Interior");
    let other = contract_of(&db, "Ministry of Defence");
    d.login(&base, "interior@demo.fundtrail").await;
    d.goto(&format!("{base}/contracts/{own}")).await;
    assert_eq!(d.text("h1").await, "Contract");
    let history = d.text("ol.history").await;
    assert!(
        history.contains("tender") && history.contains("award") && history.contains("contract"),
        "{history}"
    );
    d.check_page(&axe, "contract").await;
    d.screenshot("contract").await;
    d.goto(&format!("{base}/contracts/{other}")).await;
    let page = d.text("main").await;
    assert!(
        page.contains("404") && !page.contains(&other.to_string()),
        "{page}"
    );
    let status = d
        .js_async(
            "const done = arguments[arguments.length - 1]; fetch(location.href).then(r => done(r.status));",
            json!([]),
        )
        .await;
    assert_eq!(status, 404);
    d.logout(&base).await;

    // Signed out: the session is revoked, pages go back to sign-in.
    d.goto(&format!("{base}/")).await;
    assert!(d.url().await.ends_with("/login"));

    // The fund's public page, without a session: 404 until published, then the figures.
    // (Publishing through the admin API, and what the page holds: tests/integration/web.rs.)
    let fund = fund_url.rsplit('/').next().unwrap().to_owned();
    d.goto(&format!("{base}/public/funds/{fund}")).await;
    assert!(d.text("main").await.contains("404"));
    diesel::RunQueryDsl::execute(
        diesel::sql_query("UPDATE funds SET public_page = true WHERE id = $1")
            .bind::<diesel::sql_types::Uuid, _>(fund.parse::<Uuid>().unwrap()),
        &mut db.superuser_conn(),
    )
    .unwrap();
    d.goto(&format!("{base}/public/funds/{fund}")).await;
    assert!(d
        .text("#p-disbursed")
        .await
        .contains("Disbursements by ministry"));
    assert!(d.text("[data-testid=checkpoint]").await.contains("size"));
    d.check_page(&axe, "public-fund").await;
    d.screenshot("public-fund").await;
    let _ = std::fs::remove_dir_all(&profile);
    let _ = d.cmd(reqwest::Method::DELETE, "", Value::Null).await;
}

async fn wait_for_verdict(d: &Driver) -> String {
    for _ in 0..100 {
        let t = d.text("#v-result").await;
        if t.starts_with("Verified") || t.starts_with("REJECTED") {
            return t;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the page gave no verdict: {}", d.text("#v-result").await);
}

/// The flag checkboxes of a flags page: how many, how many checked.
async fn flag_boxes(d: &Driver) -> (u64, u64) {
    let v = d
        .js(
            "const b = [...document.querySelectorAll('input[name=flag]')]; return [b.length, b.filter(e => e.checked).length]",
            json!([]),
        )
        .await;
    (v[0].as_u64().unwrap(), v[1].as_u64().unwrap())
}
