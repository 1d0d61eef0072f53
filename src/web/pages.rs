//! The reading pages and the triage forms. Each handler: find the caller (`Caller`), call
//! the API handlers that answer the page's questions, render their JSON. Who may open a
//! page is therefore who may call those handlers (docs/security.md, "Role matrix").

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

use super::api::{self, arr, s, t};
use super::layout::{cell, render, table, value, Caller, PageResult, WebError};
use super::session::{check_csrf, field, fields};
use crate::auth::guard::Role;
use crate::chains::policy::ChainReader;
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

/// The query string with the members a page adds removed, for the API's strict parsers.
fn api_query(req: &HttpRequest, drop: &[&str]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            form_urlencoded::parse(req.query_string().as_bytes())
                .filter(|(k, v)| !v.is_empty() && !drop.contains(&k.as_ref())),
        )
        .finish()
}

fn fund_id(req: &HttpRequest) -> Result<Uuid, WebError> {
    Ok(api::path_uuid(req, "fund")?)
}

/// The fund's row as `GET /funds` lists it to the caller, or the API's 404.
async fn fund_of(c: &Caller, state: &web::Data<AppState>, fund: Uuid) -> Result<Value, WebError> {
    let funds =
        api::json(crate::funds::http::list_funds(c.principal.clone(), state.clone()).await).await?;
    funds
        .as_array()
        .and_then(|a| a.iter().find(|f| s(f, "id") == fund.to_string()).cloned())
        .ok_or_else(|| WebError(crate::funds::policy::not_found()))
}

/// The links of a fund's pages, with the record forms the caller's role may use.
fn fund_nav(c: &Caller, fund: &Value) -> Markup {
    let id = s(fund, "id");
    let forms: &[&str] = match c.principal.role {
        Role::Treasurer => &["contribution", "allocation", "disbursement"],
        Role::Ministry => &["invoice", "payment"],
        _ => &[],
    };
    html! {
        nav aria-label="Fund" class="subnav" {
            ul {
                li { a href={"/funds/" (id)} { "Overview" } }
                li { a href={"/funds/" (id) "/entries"} { "Entries" } }
                li { a href={"/funds/" (id) "/flags"} { "Flags" } }
                li { a href={"/funds/" (id) "/contracts"} { "Contracts" } }
                // Every role that sees the fund may list its bank accounts.
                li { a href={"/funds/" (id) "/bank"} { "Bank" } }
                @if matches!(c.principal.role, Role::Treasurer | Role::Ministry | Role::Auditor) {
                    li { a href={"/funds/" (id) "/approvals"} { "Approvals" } }
                }
                // The roles that may subscribe (docs/notifications.md); a donor may not.
                @if c.principal.role != Role::Donor {
                    li { a href={"/funds/" (id) "/webhooks"} { "Webhooks" } }
                }
                @for k in forms {
                    li { a href={"/funds/" (id) "/record/" (k)} { "Record " (k) } }
                }
            }
        }
    }
}

/// `GET /`: who is signed in and the funds they can see. Any signed-in role.
pub async fn home(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let funds =
        api::json(crate::funds::http::list_funds(c.principal.clone(), state.clone()).await).await?;
    let list = funds.as_array().cloned().unwrap_or_default();
    let body = html! {
        h1 { "Your funds" }
        section aria-labelledby="who" {
            h2 id="who" { "Signed in" }
            (value(&c.me))
        }
        section aria-labelledby="funds" {
            h2 id="funds" { "Funds" }
            @if list.is_empty() { p { "You can see no fund." } }
            ul {
                @for f in &list {
                    li { a href={"/funds/" (s(f, "id"))} { (s(f, "name")) } " (" (s(f, "currency")) ")" }
                }
            }
        }
    };
    Ok(render(Some(&c), "Your funds", body))
}

/// A bar chart of a series answer as inline SVG, one stacked bar per period.
fn chart(title: &str, series: &Value) -> Markup {
    let lines = arr(series, "series");
    let mut periods: Vec<String> = lines
        .iter()
        .flat_map(|l| arr(l, "points").iter().map(|p| s(p, "period").to_owned()))
        .collect();
    periods.sort();
    periods.dedup();
    let value_at = |l: &Value, period: &str| -> Decimal {
        arr(l, "points")
            .iter()
            .find(|p| s(p, "period") == period)
            .and_then(|p| s(p, "sum").parse::<Decimal>().ok())
            .unwrap_or(Decimal::ZERO)
    };
    let totals: Vec<Decimal> = periods
        .iter()
        .map(|p| lines.iter().map(|l| value_at(l, p)).sum())
        .collect();
    let max = totals.iter().copied().max().unwrap_or(Decimal::ZERO);
    const HEIGHT: u32 = 160;
    const BAR: u32 = 28;
    let width = u32::try_from(periods.len())
        .unwrap_or(0)
        .saturating_mul(BAR + 8)
        .max(40);
    let px = |v: Decimal| -> u32 {
        if max.is_zero() {
            return 0;
        }
        (v * Decimal::from(HEIGHT) / max)
            .round()
            .to_u32()
            .unwrap_or(0)
    };
    let colours = [
        "#1b5e9e", "#b35806", "#2d7a3a", "#7b3294", "#8c510a", "#01665e", "#c51b7d",
    ];
    let currency = series
        .get("currency")
        .map(|c| api::t(c, "code"))
        .unwrap_or_default();
    let colour = |j: usize| colours.get(j % colours.len()).copied().unwrap_or("#333");
    // Per period: its x, its label, and its stacked rectangles (y, height, colour, tooltip).
    type Rect<'a> = (u32, u32, &'a str, String);
    let mut bars: Vec<(u32, &str, Vec<Rect>)> = Vec::new();
    let mut x = 4u32;
    for p in &periods {
        let mut top = HEIGHT;
        let mut rects = Vec::new();
        for (j, l) in lines.iter().enumerate() {
            let v = value_at(l, p);
            let h = px(v);
            top = top.saturating_sub(h);
            if h > 0 {
                rects.push((
                    top,
                    h,
                    colour(j),
                    format!("{}, {p}: {v} {currency}", s(l, "label")),
                ));
            }
        }
        bars.push((x, p.get(2..).unwrap_or(p), rects));
        x = x.saturating_add(BAR + 8);
    }
    let figures: Vec<Value> = lines
        .iter()
        .map(|l| {
            json!({
                "label": s(l, "label"),
                "points": arr(l, "points").iter()
                    .map(|p| format!("{} {}", s(p, "period"), s(p, "sum")))
                    .collect::<Vec<_>>().join(", "),
            })
        })
        .collect();
    html! {
        figure class="chart" tabindex="0" {
            figcaption { (title) }
            @if periods.is_empty() { p { "No data." } } @else {
                svg role="img" aria-label=(title) width=(width) height=(HEIGHT + 24)
                    viewBox={"0 0 " (width) " " (HEIGHT + 24)} {
                    @for (x, label, rects) in &bars {
                        @for (y, h, fill, tip) in rects {
                            rect x=(x) y=(y) width=(BAR) height=(h) fill=(fill) { title { (tip) } }
                        }
                        text x=(x) y=(HEIGHT + 16) font-size="9" { (label) }
                    }
                }
                ul class="legend" {
                    @for (j, l) in lines.iter().enumerate() {
                        li {
                            svg class="swatch" width="12" height="12" aria-hidden="true" { rect width="12" height="12" fill=(colour(j)) {} }
                            (s(l, "label"))
                        }
                    }
                }
                details {
                    summary { "Figures" }
                    (table(&format!("{title} ({currency})"), &[("Group", "label"), ("Month and amount", "points")], &figures))
                }
            }
        }
    }
}

/// `GET /funds/{fund}`: the fund statement (sources and uses, balances, spending with
/// delivery rates, flags) and the monthly flow charts. Anyone who may read the statement.
pub async fn fund(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let id = fund_id(&req)?;
    let f = fund_of(&c, &state, id).await?;
    let statement = api::json(
        crate::reports::http::fund_statement(
            c.principal.clone(),
            state.clone(),
            req.clone(),
            api::path(json!({ "fund": id }))?,
            api::query("format=json")?,
        )
        .await,
    )
    .await?;
    let mut charts = Vec::new();
    for (metric, group, title) in [
        ("contributed", "donor", "Contributions per month, by donor"),
        (
            "disbursed",
            "ministry",
            "Disbursements per month, by ministry",
        ),
        ("spent", "category", "Spending per month, by category"),
    ] {
        let qs = format!("metric={metric}&by=month&group={group}&format=json");
        let series = api::json(
            crate::reports::http::series(
                c.principal.clone(),
                state.clone(),
                req.clone(),
                api::path(json!({ "fund": id }))?,
                api::query(&qs)?,
            )
            .await,
        )
        .await?;
        charts.push(chart(title, &series));
    }
    let counts = api::json(
        crate::screening::http::flag_counts(
            c.principal.clone(),
            state.clone(),
            api::path(json!({ "fund": id }))?,
        )
        .await,
    )
    .await?;
    let donors: Vec<Value> = statement
        .pointer("/sources/donors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let body = html! {
        h1 { (s(&f, "name")) }
        (fund_nav(&c, &f))
        (pin(statement.pointer("/checkpoints/fund")))
        section aria-labelledby="flows" {
            h2 id="flows" { "Monthly flows" }
            div class="charts" { @for ch in &charts { (ch) } }
        }
        @if !donors.is_empty() && c.principal.role != Role::Ministry {
            section aria-labelledby="donor-reports" {
                h2 id="donor-reports" { "Donor reports" }
                ul {
                    @for d in &donors {
                        @let did = d.get("donor").map(|x| api::t(x, "id")).unwrap_or_default();
                        @if !did.is_empty() && (c.principal.role != Role::Donor || did == c.principal.org.to_string()) {
                            li { a href={"/funds/" (id) "/donors/" (did)} { (d.get("donor").map(api::scalar).unwrap_or_default()) } }
                        }
                    }
                }
            }
        }
        section aria-labelledby="sources" {
            h2 id="sources" { "Sources" }
            (value(statement.get("sources").unwrap_or(&Value::Null)))
        }
        section aria-labelledby="uses" {
            h2 id="uses" { "Uses" }
            (value(statement.get("uses").unwrap_or(&Value::Null)))
        }
        section aria-labelledby="balances" {
            h2 id="balances" { "Balances" }
            (value(statement.get("balances").unwrap_or(&Value::Null)))
        }
        section aria-labelledby="spending" {
            h2 id="spending" { "Spending and delivery rates" }
            (value(statement.get("spending").unwrap_or(&Value::Null)))
        }
        section aria-labelledby="open-flags" {
            h2 id="open-flags" { "Flags by rule" }
            (value(&counts))
        }
    };
    Ok(render(Some(&c), s(&f, "name"), body))
}

/// The signed checkpoint a report was computed at, with its note to keep.
pub(super) fn pin(cp: Option<&Value>) -> Markup {
    let Some(cp) = cp else { return html! {} };
    html! {
        div class="pin" data-testid="checkpoint" {
            "Computed at the fund chain's signed checkpoint of tree size "
            strong { (t(cp, "tree_size")) } ", root " code { (s(cp, "root_hash")) }
            ", signed " (s(cp, "signed_at")) "."
            details {
                summary { "Signed note (keep it to prove this report later)" }
                pre { (s(cp, "note")) }
            }
        }
    }
}

fn filter_input(req: &HttpRequest, name: &str, label: &str, kind: &str) -> Markup {
    let current = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    html! {
        div class="field" {
            label for={"f-" (name)} { (label) }
            input id={"f-" (name)} name=(name) type=(kind) value=(current);
        }
    }
}

/// The link to the next page: the same filters, `after` moved on.
fn next_link(req: &HttpRequest, next: Option<&Value>) -> Markup {
    let Some(after) = next.filter(|v| !v.is_null()) else {
        return html! {};
    };
    let mut qs = api_query(req, &["after"]);
    if !qs.is_empty() {
        qs.push('&');
    }
    qs.push_str("after=");
    qs.push_str(&api::scalar(after));
    html! { p { a rel="next" href={"?" (qs)} { "Next page" } } }
}

/// `GET /funds/{fund}/entries`: the fund's entries, filtered and paged as the API does. A
/// ministry sees its own. Every role that may list the fund's entries.
pub async fn entries(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let id = fund_id(&req)?;
    let f = fund_of(&c, &state, id).await?;
    let mut qs = api_query(&req, &[]);
    if !qs.contains("limit=") {
        qs.push_str(if qs.is_empty() {
            "limit=50"
        } else {
            "&limit=50"
        });
    }
    let page = api::json(
        crate::entries::http::list_entries(
            c.principal.clone(),
            state.clone(),
            api::path(json!({ "fund": id }))?,
            api::query(&qs)?,
        )
        .await,
    )
    .await?;
    let rows = arr(&page, "entries");
    let body = html! {
        h1 { "Entries of " (s(&f, "name")) }
        (fund_nav(&c, &f))
        form method="get" class="filters" aria-label="Filter entries" {
            div class="field" {
                label for="f-kind" { "Kind" }
                select id="f-kind" name="kind" {
                    option value="" { "any" }
                    @for k in ["pledge", "contribution", "allocation", "disbursement", "expenditure", "tender", "bid", "award", "contract", "contract_amendment", "invoice", "payment", "reversal"] {
                        option value=(k) selected[req.query_string().contains(&format!("kind={k}&")) || req.query_string().ends_with(&format!("kind={k}"))] { (k) }
                    }
                }
            }
            (filter_input(&req, "ministry", "Ministry id", "text"))
            (filter_input(&req, "vendor", "Vendor id", "text"))
            (filter_input(&req, "donor", "Donor id", "text"))
            (filter_input(&req, "category", "Category", "text"))
            (filter_input(&req, "from", "From date", "date"))
            (filter_input(&req, "to", "To date", "date"))
            (filter_input(&req, "min_amount", "Minimum amount", "text"))
            (filter_input(&req, "max_amount", "Maximum amount", "text"))
            button type="submit" { "Filter" }
        }
        div class="scroll" tabindex="0" {
            table {
                caption { (rows.len()) " entries on this page" }
                thead { tr { th scope="col" { "Seq" } th scope="col" { "Kind" } th scope="col" { "Date" } th scope="col" { "Amount" } th scope="col" { "Hash" } } }
                tbody {
                    @for e in rows {
                        tr {
                            td { a href={"/chains/" (id) "/entries/" (t(e, "seq"))} { "#" (t(e, "seq")) } }
                            td { (cell(e, "entry.kind")) }
                            td { (cell(e, "entry.business_date")) }
                            td { (cell(e, "entry.body.amount")) }
                            td { code { (s(e, "entry_hash").get(..16).unwrap_or("")) "…" } }
                        }
                    }
                }
            }
        }
        (next_link(&req, page.get("next_after")))
    };
    Ok(render(Some(&c), "Entries", body))
}

/// `GET /chains/{chain}/entries/{seq}`: one entry, its hash and its inclusion proof against
/// the latest signed checkpoint, checked in the browser (`/assets/verify.js`). Whoever may
/// read the chain (`ChainReader`, as the API).
pub async fn entry(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let reader = <ChainReader as actix_web::FromRequest>::extract(&req).await?;
    let chain = req.match_info().get("chain").unwrap_or("").to_owned();
    let seq = req.match_info().get("seq").unwrap_or("").to_owned();
    let entry_path = json!({ "chain": chain, "seq": seq.parse::<u64>().map_err(|_| ApiError::InvalidParameter("seq must be a number".to_owned()))? });
    let entry = api::json(
        crate::chains::http::get_entry(
            reader.clone(),
            state.clone(),
            api::path(entry_path.clone())?,
        )
        .await,
    )
    .await?;
    let checkpoint = api::json(
        crate::chains::http::checkpoint(
            reader.clone(),
            state.clone(),
            api::path(json!({ "chain": chain }))?,
        )
        .await,
    )
    .await?;
    let size = checkpoint
        .get("tree_size")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let proof = api::json(
        crate::chains::http::proof(
            reader,
            state.clone(),
            api::path(entry_path)?,
            api::query(&format!("size={size}"))?,
        )
        .await,
    )
    .await?;
    let keys = api::json(crate::chains::http::keys(state.clone()).await).await?;
    let note = proof
        .pointer("/checkpoint/note")
        .and_then(Value::as_str)
        .unwrap_or_else(|| s(&checkpoint, "note"))
        .to_owned();
    let proof_text = serde_json::to_string_pretty(&proof).unwrap_or_default();
    let entry_text = serde_json::to_string_pretty(&entry).unwrap_or_default();
    let body = html! {
        h1 { "Entry #" (seq) }
        p { "Chain " code { (chain) } }
        section aria-labelledby="entry-h" {
            h2 id="entry-h" { "The entry" }
            (value(&entry))
        }
        section aria-labelledby="verify-h" {
            h2 id="verify-h" { "Proof of inclusion, checked in your browser" }
            p {
                "Your browser recomputes the entry hash from the entry's canonical bytes, the Merkle leaf, "
                "the root from the inclusion proof, and checks the root against the signed checkpoint "
                "and its Ed25519 signature against the keys you trust. Nothing here is taken on the server's word: "
                "paste a checkpoint note you saved earlier and keys you obtained elsewhere to check against them."
            }
            div class="stack" {
                label for="v-entry" { "Entry (JSON, as the API returns it)" }
                textarea id="v-entry" rows="8" spellcheck="false" { (entry_text) }
                label for="v-proof" { "Inclusion proof (JSON)" }
                textarea id="v-proof" rows="8" spellcheck="false" { (proof_text) }
                label for="v-note" { "Signed checkpoint note" }
                textarea id="v-note" rows="6" spellcheck="false" { (note) }
                label for="v-keys" { "Verifier keys you trust, one per line" }
                textarea id="v-keys" rows="3" spellcheck="false" {
                    @for k in keys.as_array().cloned().unwrap_or_default().iter().filter(|k| k.get("trusted") == Some(&Value::Bool(true))) {
                        (s(k, "verifier_key")) "\n"
                    }
                }
                p class="hint" { "Prefilled with the keys this server publishes; replace them with keys you hold yourself (they are remembered in this browser)." }
                button type="button" id="v-run" { "Verify" }
            }
            div id="v-result" role="status" aria-live="polite" data-testid="verify-result" {}
            ol id="v-steps" class="steps" {}
        }
        script src="/assets/verify.js" defer {}
    };
    Ok(render(Some(&c), &format!("Entry #{seq}"), body))
}

/// `GET /funds/{fund}/flags`: flags with filters, counts per rule, and (auditors) triage of
/// the selected ones at once. Everyone who may list the fund's flags.
pub async fn flags(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let id = fund_id(&req)?;
    let f = fund_of(&c, &state, id).await?;
    let page = api::json(
        crate::screening::http::list_flags(
            c.principal.clone(),
            state.clone(),
            api::path(json!({ "fund": id }))?,
            api::query(&api_query(&req, &[]))?,
        )
        .await,
    )
    .await?;
    let counts = api::json(
        crate::screening::http::flag_counts(
            c.principal.clone(),
            state.clone(),
            api::path(json!({ "fund": id }))?,
        )
        .await,
    )
    .await?;
    let rows = arr(&page, "flags");
    let auditor = c.principal.role == Role::Auditor;
    let body = html! {
        h1 { "Flags of " (s(&f, "name")) }
        (fund_nav(&c, &f))
        details {
            summary { "Counts by rule, severity and status" }
            (value(&counts))
        }
        form method="get" class="filters" aria-label="Filter flags" {
            (filter_input(&req, "rule", "Rule", "text"))
            div class="field" {
                label for="f-severity" { "Severity" }
                select id="f-severity" name="severity" {
                    option value="" { "any" }
                    @for v in ["low", "medium", "high"] { option value=(v) selected[req.query_string().contains(&format!("severity={v}"))] { (v) } }
                }
            }
            div class="field" {
                label for="f-status" { "Status" }
                select id="f-status" name="status" {
                    option value="" { "any" }
                    @for v in ["open", "acknowledged", "confirmed", "dismissed", "escalated"] { option value=(v) selected[req.query_string().contains(&format!("status={v}"))] { (v) } }
                }
            }
            (filter_input(&req, "ministry", "Ministry id", "text"))
            (filter_input(&req, "vendor", "Vendor id", "text"))
            (filter_input(&req, "from", "From date", "date"))
            (filter_input(&req, "to", "To date", "date"))
            button type="submit" { "Filter" }
        }
        form method="post" id="triage-form" action={"/funds/" (id) "/flags/triage"} {
            input type="hidden" name="csrf" value=(c.csrf);
            input type="hidden" name="filter" value=(api_query(&req, &["after", "limit"]));
            div class="scroll" tabindex="0" {
                table {
                    caption { (rows.len()) " flags on this page" }
                    thead { tr {
                        @if auditor { th scope="col" {
                            input type="checkbox" data-select-all="flag" id="sel-all" aria-label="Select every flag on this page";
                        } }
                        th scope="col" { "Rule" } th scope="col" { "Severity" } th scope="col" { "Status" } th scope="col" { "Entry" } th scope="col" { "What it says" }
                    } }
                    tbody {
                        @for fl in rows {
                            tr {
                                @if auditor {
                                    td { input type="checkbox" name="flag" value=(s(fl, "id")) id={"sel-" (s(fl, "id"))} aria-label={"Select flag " (s(fl, "rule")) " on entry " (t(fl, "seq"))}; }
                                }
                                td { a href={"/flags/" (s(fl, "id"))} { (s(fl, "rule")) } }
                                td { (s(fl, "severity")) }
                                td class="status" { (s(fl, "status")) }
                                td { a href={"/chains/" (id) "/entries/" (t(fl, "seq"))} { "#" (t(fl, "seq")) } }
                                td { (s(fl, "message")) }
                            }
                        }
                    }
                }
            }
            @if auditor && !rows.is_empty() {
                div class="field" {
                    input type="checkbox" id="matching" name="matching" value="all";
                    label for="matching" { "Every flag matching the filters, on every page (up to " (TRIAGE_MATCHING_MAX) "), instead of the selected ones" }
                }
                (triage_fields("many"))
            }
        }
        (next_link(&req, page.get("next_after")))
        @if auditor { script src="/assets/select.js" defer {} }
    };
    Ok(render(Some(&c), "Flags", body))
}

fn triage_fields(id: &str) -> Markup {
    html! {
        fieldset {
            legend { "Triage" }
            label for={"action-" (id)} { "Action" }
            select id={"action-" (id)} name="action" {
                @for a in ["acknowledge", "confirm", "dismiss", "escalate"] { option value=(a) { (a) } }
            }
            label for={"reason-" (id)} { "Reason (required to dismiss)" }
            input id={"reason-" (id)} name="reason" type="text";
            button type="submit" { "Record triage" }
        }
    }
}

/// Triage of one flag through the API's handler; its answer or its problem.
async fn triage_through(
    c: &Caller,
    state: &web::Data<AppState>,
    req: &HttpRequest,
    flag: Uuid,
    f: &[(String, String)],
) -> Result<Value, ApiError> {
    let body: crate::screening::http::Triage = serde_json::from_value(json!({
        "action": field(f, "action").unwrap_or(""),
        "reason": field(f, "reason").filter(|r| !r.is_empty()),
    }))
    .map_err(|e| ApiError::unprocessable("invalid_triage", e.to_string()))?;
    api::json(
        crate::screening::http::triage(
            c.principal.clone(),
            state.clone(),
            req.clone(),
            api::path(json!(flag))?,
            Json(body),
        )
        .await,
    )
    .await
}

/// Most flags one "every flag matching the filters" triage takes.
const TRIAGE_MATCHING_MAX: usize = 5_000;

/// The ids of the fund's flags the list filter `filter` (a flags page's query string)
/// selects, every page of it, as the API lists them to the caller; refused beyond
/// `TRIAGE_MATCHING_MAX`, so that a triage never stops half-way.
async fn matching_flags(
    c: &Caller,
    state: &web::Data<AppState>,
    fund: Uuid,
    filter: &str,
) -> Result<Vec<Uuid>, WebError> {
    let base: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            form_urlencoded::parse(filter.as_bytes())
                .filter(|(k, v)| !v.is_empty() && k != "after" && k != "limit"),
        )
        .finish();
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut qs = base.clone();
        for (k, v) in [("limit", Some("1000".to_owned())), ("after", after.take())] {
            if let Some(v) = v {
                if !qs.is_empty() {
                    qs.push('&');
                }
                qs.push_str(
                    &form_urlencoded::Serializer::new(String::new())
                        .append_pair(k, &v)
                        .finish(),
                );
            }
        }
        let page = api::json(
            crate::screening::http::list_flags(
                c.principal.clone(),
                state.clone(),
                api::path(json!({ "fund": fund }))?,
                api::query(&qs)?,
            )
            .await,
        )
        .await?;
        ids.extend(
            arr(&page, "flags")
                .iter()
                .filter_map(|fl| s(fl, "id").parse::<Uuid>().ok()),
        );
        if ids.len() > TRIAGE_MATCHING_MAX {
            return Err(WebError(ApiError::unprocessable(
                "too_many_flags",
                format!("more than {TRIAGE_MATCHING_MAX} flags match these filters; narrow them (by rule, status or dates) and triage each part"),
            )));
        }
        match page.get("next_after").filter(|v| !v.is_null()) {
            Some(n) => after = Some(api::scalar(n)),
            None => return Ok(ids),
        }
    }
}

/// `POST /funds/{fund}/flags/triage`: one triage for every selected flag, each through the
/// API (auditors; others get the API's refusal). Shows what each answered.
pub async fn triage_many(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let f = fields(&body);
    check_csrf(&req, &f)?;
    let id = fund_id(&req)?;
    let chosen: Vec<Uuid> = if field(&f, "matching") == Some("all") {
        matching_flags(&c, &state, id, field(&f, "filter").unwrap_or("")).await?
    } else {
        f.iter()
            .filter(|(k, _)| k == "flag")
            .filter_map(|(_, v)| v.parse().ok())
            .collect()
    };
    if chosen.is_empty() {
        return Err(WebError(ApiError::unprocessable(
            "no_flags_selected",
            "select at least one flag to triage",
        )));
    }
    let mut results = Vec::new();
    for flag in chosen {
        let r = triage_through(&c, &state, &req, flag, &f).await;
        results.push((flag, r));
    }
    let body = html! {
        h1 { "Triage recorded" }
        ul data-testid="triage-results" {
            @for (flag, r) in &results {
                li {
                    a href={"/flags/" (flag)} { (flag) } ": "
                    @match r {
                        Ok(v) => { "now " strong { (s(v, "status")) } }
                        Err(e) => { strong class="error" { (e.to_string()) } }
                    }
                }
            }
        }
        p { a href={"/funds/" (id) "/flags"} { "Back to the flags" } }
    };
    Ok(render(Some(&c), "Triage recorded", body))
}

/// `GET /flags/{flag}`: a flag, its evidence entries and its triage history. Whoever may
/// read it through the API.
pub async fn flag(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let flag_id: Uuid = api::path_uuid(&req, "flag")?;
    let v = api::json(
        crate::screening::http::get_flag(
            c.principal.clone(),
            state.clone(),
            api::path(json!(flag_id))?,
        )
        .await,
    )
    .await?;
    let fund = s(&v, "fund").to_owned();
    let body = html! {
        h1 { "Flag " (s(&v, "rule")) }
        p class="lead" { (s(&v, "message")) }
        p { "Status: " strong data-testid="flag-status" { (s(&v, "status")) } ", severity " (s(&v, "severity")) }
        section aria-labelledby="evidence-h" {
            h2 id="evidence-h" { "Evidence entries" }
            ul {
                @for e in arr(&v, "evidence") {
                    li { a href={"/chains/" (fund) "/entries/" (api::scalar(e))} { "Entry #" (api::scalar(e)) } }
                }
            }
        }
        section aria-labelledby="detail-h" {
            h2 id="detail-h" { "Everything the API records for it" }
            (value(&v))
        }
        @if c.principal.role == Role::Auditor {
            form method="post" action={"/flags/" (flag_id) "/triage"} {
                input type="hidden" name="csrf" value=(c.csrf);
                (triage_fields("one"))
            }
        }
        p { a href={"/funds/" (fund) "/flags"} { "All flags of the fund" } }
    };
    Ok(render(Some(&c), "Flag", body))
}

/// `GET /funds/{fund}/approvals`: the requests pending a second person's decision that the
/// caller may see (as `GET /api/v1/funds/{fund}/approval-requests` lists them), each with
/// approve and reject buttons for the approvers; the decision posts the `approval` form
/// (CSRF-checked), so the API decides who may decide.
pub async fn approvals(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let fund = fund_id(&req)?;
    let row = fund_of(&c, &state, fund).await?;
    let v = api::json(
        crate::entries::http::list_approval_requests(
            c.principal.clone(),
            state.clone(),
            api::path(json!({ "fund": fund }))?,
            api::query("limit=1000")?,
        )
        .await,
    )
    .await?;
    let decides = matches!(c.principal.role, Role::Treasurer | Role::Ministry);
    let today = chrono::Utc::now().date_naive().to_string();
    let requests = arr(&v, "requests");
    let body = html! {
        h1 { "Requests pending approval" }
        (fund_nav(&c, &row))
        p class="lead" {
            "Entries above the fund's approval policy's thresholds take effect only once another "
            "authorised person approves them. The person who recorded a request cannot decide it."
        }
        @if requests.is_empty() {
            p data-testid="no-requests" { "Nothing is waiting for a decision." }
        } @else {
            table {
                caption { "Pending requests, oldest first" }
                thead { tr {
                    th scope="col" { "Entry" } th scope="col" { "Kind" } th scope="col" { "Amount" }
                    th scope="col" { "Recorded by" } th scope="col" { "Expires" }
                    @if decides { th scope="col" { "Decision" } }
                } }
                tbody {
                    @for r in requests {
                        @let seq = api::t(r, "seq");
                        tr data-testid={"request-" (seq)} {
                            td { a href={"/chains/" (fund) "/entries/" (seq)} { "#" (seq) } }
                            td { (s(r, "kind")) }
                            td { (api::t(r, "amount_fund")) }
                            td { code { (s(r, "maker")) } }
                            td {
                                (s(r, "expires_at"))
                                @if r.get("expired").and_then(Value::as_bool).unwrap_or(false) { " (expired)" }
                            }
                            @if decides {
                                td {
                                    form method="post" action={"/funds/" (fund) "/record/approval?idem=" (Uuid::new_v4())} class="inline" {
                                        input type="hidden" name="csrf" value=(c.csrf);
                                        input type="hidden" name="business_date" value=(today);
                                        input type="hidden" name="entry" value=(seq);
                                        input type="hidden" name="decision" value="approved";
                                        button type="submit" { "Approve #" (seq) }
                                    }
                                    form method="post" action={"/funds/" (fund) "/record/approval?idem=" (Uuid::new_v4())} class="inline" {
                                        input type="hidden" name="csrf" value=(c.csrf);
                                        input type="hidden" name="business_date" value=(today);
                                        input type="hidden" name="entry" value=(seq);
                                        input type="hidden" name="decision" value="rejected";
                                        label for={"reason-" (seq)} { "Reason to reject #" (seq) }
                                        input id={"reason-" (seq)} name="reason" type="text" required;
                                        button type="submit" { "Reject #" (seq) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(render(Some(&c), "Approvals", body))
}

/// `POST /flags/{flag}/triage`: triage one flag (auditors, as the API decides).
pub async fn triage_one(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let f = fields(&body);
    check_csrf(&req, &f)?;
    let flag_id: Uuid = api::path_uuid(&req, "flag")?;
    triage_through(&c, &state, &req, flag_id, &f).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/flags/{flag_id}")))
        .finish())
}

async fn donor_json(
    c: &Caller,
    state: &web::Data<AppState>,
    req: &HttpRequest,
    format: &str,
) -> Result<HttpResponse, WebError> {
    let fund = fund_id(req)?;
    let donor: Uuid = api::path_uuid(req, "donor")?;
    let mut qs = api_query(req, &["format"]);
    qs.push_str(if qs.is_empty() { "format=" } else { "&format=" });
    qs.push_str(format);
    Ok(crate::reports::http::donor_report(
        c.principal.clone(),
        state.clone(),
        req.clone(),
        api::path(json!({ "fund": fund, "donor": donor }))?,
        api::query(&qs)?,
    )
    .await?)
}

/// `GET /funds/{fund}/donors/{donor}`: the donor report (a donor reads its own), with its
/// CSV download, naming the signed checkpoint it was computed at.
pub async fn donor_report(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let v = api::json(Ok(donor_json(&c, &state, &req, "json").await?)).await?;
    let fund = fund_id(&req)?;
    let donor = req.match_info().get("donor").unwrap_or("").to_owned();
    let body = html! {
        h1 { "Donor report" }
        p {
            "Download: "
            a href={"/funds/" (fund) "/donors/" (donor) "/report.csv"} download { "CSV" } " · "
            a href={"/funds/" (fund) "/donors/" (donor) "/report.xlsx"} download { "XLSX (spreadsheet)" } " · "
            a href={"/funds/" (fund) "/donors/" (donor) "/report.pdf"} download { "PDF" }
        }
        (pin(v.pointer("/checkpoints/fund").or_else(|| v.get("checkpoint"))))
        (value(&v))
    };
    Ok(render(Some(&c), "Donor report", body))
}

/// `GET /funds/{fund}/donors/{donor}/report.csv`: the same report as the API's CSV.
pub async fn donor_report_csv(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let mut res = donor_json(&c, &state, &req, "csv").await?;
    res.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_static("attachment; filename=\"donor-report.csv\""),
    );
    Ok(res)
}

/// The API's CSV of the report turned into another format by `make`, keeping the API's
/// checkpoint headers (the figures and checkpoint rows are the CSV's, row for row).
async fn donor_report_as(
    state: web::Data<AppState>,
    req: HttpRequest,
    content_type: &'static str,
    filename: &'static str,
    make: fn(&str, &super::download::Table) -> Result<Vec<u8>, ApiError>,
) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let res = donor_json(&c, &state, &req, "csv").await?;
    let kept: Vec<(header::HeaderName, header::HeaderValue)> = res
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("fundtrail-"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let table = super::download::parse_csv(&api::bytes(res).await?)?;
    let title = format!(
        "Donor report: {}",
        table
            .rows
            .iter()
            .find(|r| r.first().is_some_and(|s| s == "contributions"))
            .and_then(|r| r.get(2))
            .map_or("", String::as_str)
    );
    let body = make(&title, &table)?;
    let mut out = HttpResponse::Ok();
    out.content_type(content_type).insert_header((
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{filename}\""),
    ));
    for h in kept {
        out.insert_header(h);
    }
    Ok(out.body(body))
}

/// `GET /funds/{fund}/donors/{donor}/report.xlsx`: the CSV's rows as a spreadsheet.
pub async fn donor_report_xlsx(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    donor_report_as(
        state,
        req,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "donor-report.xlsx",
        super::download::xlsx,
    )
    .await
}

/// `GET /funds/{fund}/donors/{donor}/report.pdf`: the CSV's rows as a printable document.
pub async fn donor_report_pdf(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    donor_report_as(
        state,
        req,
        "application/pdf",
        "donor-report.pdf",
        |title, table| Ok(super::download::pdf(title, table)),
    )
    .await
}

/// `GET /funds/{fund}/contracts`: the contracts the caller may see (a ministry, its own).
pub async fn contracts(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let id = fund_id(&req)?;
    let f = fund_of(&c, &state, id).await?;
    let v = api::json(
        crate::procurement::contracts::list_contracts(
            c.principal.clone(),
            state.clone(),
            api::path(json!(id))?,
            api::query(&api_query(&req, &[]))?,
        )
        .await,
    )
    .await?;
    let rows = v
        .get("contracts")
        .and_then(Value::as_array)
        .cloned()
        .or_else(|| v.as_array().cloned())
        .unwrap_or_default();
    let body = html! {
        h1 { "Contracts of " (s(&f, "name")) }
        (fund_nav(&c, &f))
        ul {
            @for r in &rows {
                li { a href={"/contracts/" (s(r, "id"))} { (api::scalar(r.get("title").or_else(|| r.get("vendor")).unwrap_or(&Value::Null))) " · " (s(r, "id")) } }
            }
        }
        (next_link(&req, v.get("next_after")))
    };
    Ok(render(Some(&c), "Contracts", body))
}

/// `GET /contracts/{contract}`: a contract with its whole history. A ministry opens only
/// its own (the API's 404 otherwise).
pub async fn contract(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let id: Uuid = api::path_uuid(&req, "contract")?;
    let v = api::json(
        crate::procurement::http::get_contract(
            c.principal.clone(),
            state.clone(),
            api::path(json!(id))?,
        )
        .await,
    )
    .await?;
    let mut summary = v.clone();
    if let Some(o) = summary.as_object_mut() {
        o.remove("history");
    }
    let fund = s(&v, "fund").to_owned();
    let body = html! {
        h1 { "Contract" }
        (value(&summary))
        section aria-labelledby="history-h" {
            h2 id="history-h" { "History" }
            ol class="history" {
                @for e in arr(&v, "history") {
                    li {
                        h3 {
                            a href={"/chains/" (fund) "/entries/" (t(e, "seq"))} { "#" (t(e, "seq")) }
                            " " (cell(e, "entry.kind")) " · " (cell(e, "entry.business_date"))
                            @if let Some(a) = e.get("amount").filter(|a| !a.is_null()) { " · " (api::scalar(a)) }
                        }
                        (value(e.pointer("/entry/body").unwrap_or(&Value::Null)))
                        @if let Some(r) = e.get("refers_to").filter(|r| !r.is_null()) { p { "Refers to " (value(r)) } }
                    }
                }
            }
        }
    };
    Ok(render(Some(&c), "Contract", body))
}

/// `GET /funds/{fund}/bank?account=&from=&to=`: the fund's bank accounts, and the chosen
/// account's reconciliation over the period (docs/reconciliation.md, "Report"), through
/// the API's handlers.
pub async fn bank(state: web::Data<AppState>, req: HttpRequest) -> PageResult {
    let c = Caller::of(&req, &state).await?;
    let id = fund_id(&req)?;
    let f = fund_of(&c, &state, id).await?;
    let accounts = api::json(
        crate::bank::http::list_accounts(
            c.principal.clone(),
            state.clone(),
            api::path(json!({ "fund": id }))?,
        )
        .await,
    )
    .await?;
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| {
        query
            .iter()
            .find(|(key, v)| key == k && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let report = match (get("account"), get("from"), get("to")) {
        (Some(account), Some(_), Some(_)) => Some(
            api::json(
                crate::bank::http::account_report(
                    c.principal.clone(),
                    state.clone(),
                    api::path(json!({ "fund": id, "account": account }))?,
                    api::query(&api_query(&req, &["account"]))?,
                )
                .await,
            )
            .await?,
        ),
        _ => None,
    };
    let line_rows = |lines: &[Value]| {
        html! {
            @for l in lines {
                tr {
                    td { (s(l, "booking_date")) }
                    td class="num" { (s(l, "amount")) " " (s(l, "currency")) }
                    td { (s(l, "reference")) }
                    td { (s(l, "counterparty")) }
                    td { @for e in arr(l, "entries") { a href={"/chains/" (id) "/entries/" (t(e, "entry"))} { "#" (t(e, "entry")) } " " } }
                }
            }
        }
    };
    let body = html! {
        h1 { "Bank reconciliation of " (s(&f, "name")) }
        (fund_nav(&c, &f))
        div class="scroll" tabindex="0" {
            table {
                caption { "Bank accounts" }
                thead { tr { th scope="col" { "Account" } th scope="col" { "Owner" } th scope="col" { "Currency" } th scope="col" { "Name" } } }
                tbody {
                    @for a in arr(&accounts, "accounts") {
                        tr {
                            td { (s(a, "account")) }
                            td { (s(a, "owner")) }
                            td { (s(a, "currency")) }
                            td { (s(a, "name")) }
                        }
                    }
                }
            }
        }
        form method="get" class="filters" aria-label="Reconciliation period" {
            div class="field" {
                label for="f-account" { "Account" }
                select id="f-account" name="account" {
                    @for a in arr(&accounts, "accounts") {
                        option value=(s(a, "id")) selected[get("account").as_deref() == Some(s(a, "id"))] { (s(a, "account")) }
                    }
                }
            }
            (filter_input(&req, "from", "From date", "date"))
            (filter_input(&req, "to", "To date", "date"))
            button type="submit" { "Show" }
        }
        @if let Some(r) = &report {
            h2 { "Balances" }
            p { "Bank closing " (s(r, "bank_closing")) ", ledger " (s(r, "ledger_balance")) ", difference " (s(r, "balance_difference")) ", in transit " (s(r, "in_transit")) }
            @for (title, key) in [("Unmatched statement lines", "unmatched_lines"), ("Matched statement lines", "matched")] {
                h2 { (title) }
                div class="scroll" tabindex="0" {
                    table {
                        caption { (arr(r, key).len()) " lines" }
                        thead { tr { th scope="col" { "Booked" } th scope="col" { "Amount" } th scope="col" { "Reference" } th scope="col" { "Counterparty" } th scope="col" { "Entries" } } }
                        tbody { (line_rows(arr(r, key))) }
                    }
                }
            }
            h2 { "Entries not seen at the bank" }
            div class="scroll" tabindex="0" {
                table {
                    caption { (arr(r, "unmatched_entries").len()) " entries" }
                    thead { tr { th scope="col" { "Entry" } th scope="col" { "Kind" } th scope="col" { "Date" } th scope="col" { "Expected" } th scope="col" { "Seen" } } }
                    tbody {
                        @for e in arr(r, "unmatched_entries") {
                            tr {
                                td { a href={"/chains/" (id) "/entries/" (t(e, "seq"))} { "#" (t(e, "seq")) } }
                                td { (s(e, "kind")) }
                                td { (s(e, "business_date")) }
                                td class="num" { (s(e, "expected")) " " (s(e, "currency")) }
                                td class="num" { (s(e, "seen")) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(render(Some(&c), "Bank reconciliation", body))
}
