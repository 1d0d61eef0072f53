//! The three standard exports of a fund (docs/exports.md), streamed: the ledger entries
//! CSV, IATI 2.03 activity XML and the OCDS 1.1 release package. Each handler checks
//! scope and pins the checkpoint before answering (so refusals are clean problem
//! responses), then streams pages of 10,000 entries read by seq below the pinned size:
//! memory stays flat and the same `?at_size=N` gives the same bytes for ever.

use std::collections::HashMap;
use std::io::Write;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use anyhow::Context;
use serde::Deserialize;
use uuid::Uuid;

use super::csv::CsvOut;
use super::export_store::{self as store, ExportRow, PAGE_ROWS};
use super::iati::{self, IatiWriter, Org};
use super::ledger_csv::{self, CsvCtx};
use super::ocds::{self, FundInfo, Process};
use super::pin::{self, AtSize, PinnedCheckpoint};
use crate::auth::guard::Principal;
use crate::entries::kinds::FundEntry;
use crate::error::ApiResult;
use crate::extract::{Path, Query};
use crate::funds::store::FundRow;
use crate::state::{with_conn, AppState, ReadPin};

#[derive(Debug, Deserialize)]
pub struct FundPath {
    pub fund: Uuid,
}

/// Organisation names, looked up a page at a time and kept (names never change; a fund
/// names a bounded set of organisations).
#[derive(Debug, Default)]
struct Names(HashMap<Uuid, String>);

impl Names {
    fn fill(
        &mut self,
        conn: &mut diesel::PgConnection,
        ids: impl IntoIterator<Item = Uuid>,
    ) -> anyhow::Result<()> {
        let mut missing: Vec<Uuid> = ids
            .into_iter()
            .filter(|i| !self.0.contains_key(i))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        for (id, name) in store::org_names(conn, &missing)? {
            self.0.insert(id, name);
        }
        for id in missing {
            anyhow::ensure!(self.0.contains_key(&id), "organisation {id} has no row");
        }
        Ok(())
    }

    fn get(&self, id: Uuid) -> String {
        self.0.get(&id).cloned().unwrap_or_default()
    }

    fn org(&self, id: Uuid, refs: &IatiRefs) -> Org {
        Org {
            id,
            name: self.get(id),
            iati_ref: refs.get(id),
        }
    }
}

/// The IATI organisation identifiers of the organisations an export named so far, as
/// recorded up to the checkpoint's signing (so a pinned export never changes).
struct IatiRefs {
    known: HashMap<Uuid, Option<String>>,
    as_of: chrono::DateTime<chrono::Utc>,
}

impl IatiRefs {
    fn fill(
        &mut self,
        conn: &mut diesel::PgConnection,
        ids: impl IntoIterator<Item = Uuid>,
    ) -> anyhow::Result<()> {
        let mut missing: Vec<Uuid> = ids
            .into_iter()
            .filter(|i| !self.known.contains_key(i))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        for (id, r) in crate::auth::store::iati_refs(conn, &missing, Some(self.as_of))? {
            self.known.insert(id, Some(r));
        }
        for id in missing {
            self.known.entry(id).or_insert(None);
        }
        Ok(())
    }

    fn get(&self, id: Uuid) -> Option<String> {
        self.known.get(&id).cloned().flatten()
    }
}

/// Scope (admins, the fund's treasurers, auditors and donors; ministry 403; anyone else
/// 404) and the pinned checkpoint (422 `no_checkpoint_at_size`), before streaming; the
/// stream reads on the replica once it has replayed the returned `ReadPin`.
async fn pinned(
    state: &web::Data<AppState>,
    principal: Principal,
    fund: Uuid,
    at: AtSize,
) -> ApiResult<(FundRow, PinnedCheckpoint, String, ReadPin)> {
    with_conn(state, move |st, conn| {
        let row = pin::fund_reader(conn, &principal, fund)?;
        let cp = pin::checkpoint(conn, &st.ledger, fund, at.at_size)?;
        let secretariat = store::org_names(conn, &[row.secretariat_org_id])
            .map_err(crate::error::ApiError::internal)?
            .into_iter()
            .next()
            .map(|(_, name)| name)
            .unwrap_or_default();
        let read = ReadPin::sizes(vec![(fund, cp.tree_size)]);
        Ok((row, cp, secretariat, read))
    })
    .await
}

/// The entity tag of an export: what its bytes are a function of (this build, the
/// export, the fund, the pinned checkpoint and the ocid prefix), hashed.
fn export_tag(kind: &str, fund: Uuid, cp: &PinnedCheckpoint, ocid_prefix: &str) -> String {
    crate::http::cache::etag(&[
        env!("CARGO_PKG_VERSION").as_bytes(),
        kind.as_bytes(),
        fund.as_bytes(),
        &cp.tree_size.to_be_bytes(),
        cp.root_hash.as_bytes(),
        ocid_prefix.as_bytes(),
    ])
}

/// Names the checkpoint in response headers (the note base64-encoded: it spans lines).
fn name_checkpoint(resp: &mut HttpResponse, cp: &PinnedCheckpoint) {
    use base64::Engine as _;
    let values = [
        ("fundtrail-checkpoint-chain", cp.chain.to_string()),
        ("fundtrail-checkpoint-size", cp.tree_size.to_string()),
        ("fundtrail-checkpoint-root", cp.root_hash.clone()),
        (
            "fundtrail-checkpoint-signed-at",
            cp.signed_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ),
        (
            "fundtrail-checkpoint-note",
            base64::engine::general_purpose::STANDARD.encode(cp.note.as_bytes()),
        ),
    ];
    for (name, value) in values {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
}

/// Pages `[from, to)` of the pinned range, checked to be complete: the chain is gap-free
/// below its size, so a short page means the index and the chain disagree.
fn pages(size: u64, page_rows: i64) -> anyhow::Result<impl Iterator<Item = (i64, i64)>> {
    anyhow::ensure!(page_rows > 0, "page size {page_rows}");
    let size = i64::try_from(size).context("tree size")?;
    Ok((0..size)
        .step_by(usize::try_from(page_rows)?)
        .map(move |from| (from, from.saturating_add(page_rows).min(size))))
}

fn complete(rows: &[ExportRow], from: i64, to: i64) -> anyhow::Result<()> {
    let want = usize::try_from(to - from).unwrap_or(0);
    anyhow::ensure!(
        rows.len() == want,
        "entries {from}..{to}: read {} rows, expected {want}",
        rows.len()
    );
    Ok(())
}

// ----------------------------------------------------------------------- entries CSV

/// Writes the entries CSV of the entries below `size`, reading `page_rows` at a time
/// (the handlers use `PAGE_ROWS`; tests use small pages to cross page boundaries).
pub fn produce_csv(
    conn: &mut diesel::PgConnection,
    ctx: &CsvCtx,
    size: u64,
    page_rows: i64,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut csv = CsvOut::new(out);
    csv.row(ledger_csv::HEADER)?;
    let mut names = Names::default();
    for (from, to) in pages(size, page_rows)? {
        let rows = store::entries_range(conn, ctx.fund, from, to, &[], None)?;
        complete(&rows, from, to)?;
        names.fill(
            conn,
            rows.iter()
                .flat_map(|r| ledger_csv::row_orgs(r, ctx.secretariat))
                .flatten(),
        )?;
        for r in &rows {
            csv.row(ledger_csv::cells(ctx, r, &|id| names.get(id)))?;
        }
    }
    csv.flush()?;
    Ok(())
}

/// The fund's ledger entries as CSV, one row per entry below the pinned checkpoint.
///
/// The checkpoint is named in the `Fundtrail-Checkpoint-Chain`, `-Size`, `-Root`,
/// `-Signed-At` and `-Note` (base64) response headers.
#[utoipa::path(get, path = "/api/v1/funds/{fund}/exports/entries.csv", tag = "reports", security(("bearer" = [])),
    params(("fund" = Uuid, Path), AtSize),
    responses((status = 304, description = "Not modified: `If-None-Match` names this answer's ETag"), (status = 200, description = "RFC 4180 CSV, streamed", content_type = "text/csv"),
              (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn entries_csv(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<FundPath>,
    query: Query<AtSize>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let at = query.into_inner();
    let (row, cp, _, read) = pinned(&state, principal, fund, at).await?;
    let tag = export_tag("entries_csv", fund, &cp, &state.settings.ocds_prefix);
    if crate::http::cache::matches(&req, &tag) {
        return Ok(crate::http::cache::not_modified(&tag, at.at_size.is_some()));
    }
    let ctx = CsvCtx {
        fund,
        fund_currency: row.currency,
        secretariat: row.secretariat_org_id,
        ocid_prefix: state.settings.ocds_prefix.clone(),
    };
    let size = cp.tree_size;
    let mut resp = crate::http::stream::streamed_read(
        &state,
        read,
        "text/csv; charset=utf-8",
        format!("fund-{fund}-entries-{size}.csv"),
        "entries csv export",
        move |conn, out| produce_csv(conn, &ctx, size, PAGE_ROWS, out),
    );
    name_checkpoint(&mut resp, &cp);
    crate::http::cache::set(&mut resp, Some(&tag), at.at_size.is_some());
    Ok(resp)
}

// ------------------------------------------------------------------------------- IATI

/// The transaction's description, from the entry's body.
fn iati_description(row: &ExportRow) -> Option<String> {
    let body = ocds::parse_body(row).ok()?;
    Some(match body {
        FundEntry::Pledge(p) => format!("Pledge, agreement {}", p.agreement),
        FundEntry::Contribution(c) => format!("Contribution, agreement {}", c.agreement),
        FundEntry::Allocation(a) => format!(
            "Allocation to budget line {} ({}), {} to {}",
            a.budget_line, a.category, a.period_start, a.period_end
        ),
        FundEntry::Disbursement(d) => match d.tranche {
            Some(t) => format!(
                "Disbursement, tranche {t} of allocation entry {}",
                d.allocation
            ),
            None => format!("Disbursement of allocation entry {}", d.allocation),
        },
        FundEntry::Expenditure(e) => format!("Expenditure ({}): {}", e.category, e.description),
        FundEntry::Payment(p) => match p.invoice {
            Some(i) => format!("Payment of invoice entry {i}"),
            None => "Direct purchase (no invoice)".to_owned(),
        },
        FundEntry::Reversal(r) => format!("Reversal of entry {}: {}", r.entry, r.reason),
        _ => return None,
    })
}

/// Writes the IATI activity file at checkpoint `cp`, reading `page_rows` entries a time.
pub fn produce_iati(
    conn: &mut diesel::PgConnection,
    fund: &FundRow,
    secretariat: &str,
    cp: &PinnedCheckpoint,
    page_rows: i64,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let size = i64::try_from(cp.tree_size).context("tree size")?;
    let facts = store::activity_facts(conn, fund.id, size)?;
    let mut names = Names::default();
    names.fill(conn, facts.donors.iter().chain(&facts.ministries).copied())?;
    let mut refs = IatiRefs {
        known: HashMap::new(),
        as_of: cp.signed_at,
    };
    refs.fill(
        conn,
        facts
            .donors
            .iter()
            .chain(&facts.ministries)
            .copied()
            .chain([fund.secretariat_org_id]),
    )?;
    let activity = iati::Activity {
        fund: fund.id,
        title: fund.name.clone(),
        currency: fund.currency.clone(),
        secretariat: Org {
            id: fund.secretariat_org_id,
            name: secretariat.to_owned(),
            iati_ref: refs.get(fund.secretariat_org_id),
        },
        checkpoint: cp.clone(),
        donors: facts.donors.iter().map(|d| names.org(*d, &refs)).collect(),
        ministries: facts
            .ministries
            .iter()
            .map(|m| names.org(*m, &refs))
            .collect(),
        first_funding: facts.first_funding,
        created_on: fund.created_at.date_naive(),
    };
    names
        .0
        .insert(fund.secretariat_org_id, secretariat.to_owned());
    let mut body_kinds: Vec<&str> = iati::ACTIVITY_KINDS.to_vec();
    body_kinds.push("reversal");
    let mut w = IatiWriter::start(out, &activity)?;
    for (from, to) in pages(cp.tree_size, page_rows)? {
        let rows = store::entries_range(
            conn,
            fund.id,
            from,
            to,
            &body_kinds,
            Some(&iati::ACTIVITY_KINDS),
        )?;
        let named: Vec<Uuid> = rows
            .iter()
            .flat_map(|r| ledger_csv::row_orgs(r, fund.secretariat_org_id))
            .flatten()
            .collect();
        names.fill(conn, named.iter().copied())?;
        refs.fill(conn, named)?;
        for r in &rows {
            let kind = iati::effective_kind(&r.kind, r.ref_kind.as_deref());
            if !iati::ACTIVITY_KINDS.contains(&kind) {
                continue;
            }
            let Some((code, _)) = iati::transaction_type(kind) else {
                continue;
            };
            let (Some(value), Some(currency)) = (r.amount, r.currency.clone()) else {
                anyhow::bail!("entry {} ({kind}) has no amount", r.seq);
            };
            let [provider, receiver] = ledger_csv::row_orgs(r, fund.secretariat_org_id);
            w.transaction(&iati::Transaction {
                seq: u64::try_from(r.seq)?,
                type_code: code,
                date: r.business_date,
                value,
                currency,
                description: iati_description(r),
                provider: provider.map(|id| names.org(id, &refs)),
                receiver: receiver.map(|id| names.org(id, &refs)),
            })?;
        }
    }
    w.finish()?;
    Ok(())
}

/// The fund as an IATI 2.03 activity: participating organisations with their roles and
/// every money flow below the pinned checkpoint as a transaction (reversals negative).
///
/// The checkpoint is named in an XML comment before the activity, in the activity's
/// description, and in the same response headers as the CSV.
#[utoipa::path(get, path = "/api/v1/funds/{fund}/exports/iati.xml", tag = "reports", security(("bearer" = [])),
    params(("fund" = Uuid, Path), AtSize),
    responses((status = 304, description = "Not modified: `If-None-Match` names this answer's ETag"), (status = 200, description = "IATI 2.03 activity XML, streamed", content_type = "application/xml"),
              (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn iati_xml(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<FundPath>,
    query: Query<AtSize>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let at = query.into_inner();
    let (row, cp, secretariat, read) = pinned(&state, principal, fund, at).await?;
    let tag = export_tag("iati_xml", fund, &cp, &state.settings.ocds_prefix);
    if crate::http::cache::matches(&req, &tag) {
        return Ok(crate::http::cache::not_modified(&tag, at.at_size.is_some()));
    }
    let size = cp.tree_size;
    let pin = cp.clone();
    let mut resp = crate::http::stream::streamed_read(
        &state,
        read,
        "application/xml; charset=utf-8",
        format!("fund-{fund}-iati-{size}.xml"),
        "iati export",
        move |conn, out| produce_iati(conn, &row, &secretariat, &pin, PAGE_ROWS, out),
    );
    name_checkpoint(&mut resp, &cp);
    crate::http::cache::set(&mut resp, Some(&tag), at.at_size.is_some());
    Ok(resp)
}

// ------------------------------------------------------------------------------- OCDS

/// A page of a tender window and the names of the organisations it names first.
type TenderPage = (Vec<ExportRow>, Vec<(Uuid, String)>);

/// Reads the tender windows below `size` page by page (with the names of organisations
/// not sent before) and sends them to the OCDS writer; stops when the writer hangs up.
fn read_tender_pages(
    conn: &mut diesel::PgConnection,
    fund: Uuid,
    size: u64,
    page_rows: i64,
    tx: &std::sync::mpsc::SyncSender<anyhow::Result<TenderPage>>,
) -> anyhow::Result<()> {
    let size_i64 = i64::try_from(size).context("tree size")?;
    let limit = usize::try_from(page_rows)?;
    let mut known = std::collections::HashSet::new();
    for (lo, hi) in pages(size, page_rows)? {
        let mut after = (lo, -1);
        loop {
            let rows =
                store::tender_entries_page(conn, fund, size_i64, (lo, hi), after, page_rows)?;
            // The tender row names the ministry, bid/award/contract rows the vendor: every
            // organisation a release shows.
            let mut ids: Vec<Uuid> = rows
                .iter()
                .flat_map(|r| [r.ministry_org_id, r.vendor_org_id])
                .flatten()
                .filter(|id| known.insert(*id))
                .collect();
            ids.sort_unstable();
            let names = store::org_names(conn, &ids)?;
            let next = match rows.last() {
                Some(last) if rows.len() == limit => {
                    Some((last.tender_seq.unwrap_or(hi), last.seq))
                }
                _ => None,
            };
            if tx.send(Ok((rows, names))).is_err() {
                return Ok(()); // the writer stopped (its error is reported there)
            }
            match next {
                Some(a) => after = a,
                None => break,
            }
        }
    }
    Ok(())
}

/// Writes the OCDS release package at checkpoint `cp`: windows of `page_rows` tender
/// seqs, pages of at most `page_rows` entries.
pub fn produce_ocds(
    conn: &mut diesel::PgConnection,
    info: &FundInfo,
    publisher: (&str, Uuid),
    cp: &PinnedCheckpoint,
    page_rows: i64,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    out.write_all(ocds::package_head(info, publisher.0, publisher.1, cp)?.as_bytes())?;
    let mut names = Names::default();
    let mut first = true;
    let mut emit = |out: &mut dyn Write, p: &Process, names: &Names| -> anyhow::Result<()> {
        for id in p.orgs() {
            anyhow::ensure!(names.0.contains_key(&id), "organisation {id} has no name");
        }
        let release = p.release(info, &|id| names.get(id))?;
        // One buffer per release, written at once: serde_json's many small writes
        // through `dyn Write` cost more than the copy.
        let mut buf = Vec::with_capacity(8 * 1024);
        if !first {
            buf.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut buf, &release)?;
        out.write_all(&buf)?;
        Ok(())
    };
    // Reading (Postgres and row decoding) runs on a second thread with this connection
    // while this one folds and writes: two pages in flight at most, so memory stays flat.
    let (tx, rx) = std::sync::mpsc::sync_channel::<anyhow::Result<TenderPage>>(2);
    let (fund, size) = (info.fund, cp.tree_size);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        scope.spawn(move || {
            if let Err(e) = read_tender_pages(conn, fund, size, page_rows, &tx) {
                let _ = tx.send(Err(e));
            }
        });
        let mut current: Option<Process> = None;
        for page in rx {
            let (rows, new_names) = page?;
            names.0.extend(new_names);
            for r in &rows {
                let tender = u64::try_from(r.tender_seq.context("tender entry without tender")?)?;
                if current.as_ref().is_none_or(|p| p.tender_seq() != tender) {
                    if let Some(done) = current.take() {
                        emit(out, &done, &names)?;
                    }
                    current = Some(Process::new(tender));
                }
                if let Some(p) = current.as_mut() {
                    p.fold(r)?;
                }
            }
        }
        if let Some(done) = current.take() {
            emit(out, &done, &names)?;
        }
        Ok(())
    })?;
    out.write_all(ocds::PACKAGE_END.as_bytes())?;
    Ok(())
}

/// Procurement as an OCDS 1.1 release package: one compiled release per tender (ocid
/// `{prefix}-{fund}-{tender seq}`), with planning, tender, bids (bid extension), awards,
/// contracts with amendments and payments, and parties with roles.
///
/// The checkpoint is named in the package's `fundtrailCheckpoint` member and `uri`, and
/// in the same response headers as the CSV.
#[utoipa::path(get, path = "/api/v1/funds/{fund}/exports/ocds.json", tag = "reports", security(("bearer" = [])),
    params(("fund" = Uuid, Path), AtSize),
    responses((status = 304, description = "Not modified: `If-None-Match` names this answer's ETag"), (status = 200, description = "OCDS 1.1 release package, streamed", content_type = "application/json"),
              (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn ocds_json(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<FundPath>,
    query: Query<AtSize>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let at = query.into_inner();
    let (row, cp, secretariat, read) = pinned(&state, principal, fund, at).await?;
    let tag = export_tag("ocds_json", fund, &cp, &state.settings.ocds_prefix);
    if crate::http::cache::matches(&req, &tag) {
        return Ok(crate::http::cache::not_modified(&tag, at.at_size.is_some()));
    }
    let info = FundInfo {
        fund,
        name: row.name.clone(),
        ocid_prefix: state.settings.ocds_prefix.clone(),
    };
    let size = cp.tree_size;
    let pin = cp.clone();
    let publisher_id = row.secretariat_org_id;
    let mut resp = crate::http::stream::streamed_read(
        &state,
        read,
        "application/json",
        format!("fund-{fund}-ocds-{size}.json"),
        "ocds export",
        move |conn, out| {
            produce_ocds(
                conn,
                &info,
                (&secretariat, publisher_id),
                &pin,
                PAGE_ROWS,
                out,
            )
        },
    );
    name_checkpoint(&mut resp, &cp);
    crate::http::cache::set(&mut resp, Some(&tag), at.at_size.is_some());
    Ok(resp)
}

/// Routes of the exports (mounted under `/api/v1` by `app::build`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/funds/{fund}/exports/entries.csv").get(entries_csv))
        .service(web::resource("/funds/{fund}/exports/iati.xml").get(iati_xml))
        .service(web::resource("/funds/{fund}/exports/ocds.json").get(ocds_json));
}
