//! Evidence documents over HTTP: upload a document to an entry (recorded as an
//! `evidence_attached` entry, answered with its receipt), list a fund's documents, and
//! download one by its hash. Who may do what (docs/security.md, "Role matrix"):
//!
//! | route | roles |
//! |---|---|
//! | upload | the role that records the cited entry's kind: treasurer (fund flows), ministry (its own procurement and spending), auditor (screening_config); never admin or donor |
//! | list, download | whoever reads the fund's entries: admin, the fund's treasurer, auditors and donors, and a ministry for its own entries only |
//!
//! A document the caller may not read is 404, like one that is not attached at all.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::sniff::{self, Refusal};
use crate::auth::guard::Principal;
use crate::chains::http::{check_business_date, idempotency_key, ReceiptDto};
use crate::docstore::{DocStoreError, DocumentHash};
use crate::entries::effect::Screens;
use crate::entries::http::{ledger_principal, prepare, typed_entry};
use crate::entries::kinds::EvidenceAttached;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};
use crate::funds::policy::{self, Scope};
use crate::funds::state::{self, EvidenceFilter, EvidenceRow};
use crate::ledger::writer::AppendRequest;
use crate::state::{with_conn, AppState};

#[derive(Debug, Deserialize)]
pub struct EntryPath {
    pub fund: Uuid,
    #[serde(deserialize_with = "crate::extract::u63")]
    pub seq: u64,
}

#[derive(Debug, Deserialize)]
pub struct DocumentPath {
    pub fund: Uuid,
    pub sha256: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The document's file name as the uploader knows it (1 to 200 characters), recorded
    /// in the entry.
    pub name: Option<String>,
    /// Business date of the `evidence_attached` entry (default: today, UTC).
    #[param(value_type = Option<String>, format = Date)]
    pub business_date: Option<chrono::NaiveDate>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only the documents attached to this entry.
    pub entry: Option<u64>,
    /// Cursor: the `next_after` of the previous page (for this list, the seq of the last
    /// `evidence_attached` entry shown).
    #[param(value_type = Option<String>)]
    #[serde(default, deserialize_with = "crate::extract::opt_u63")]
    pub after: Option<u64>,
    /// 1 to 1,000 (default 100).
    pub limit: Option<u32>,
}

/// A page of attached documents.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentPage {
    pub documents: Vec<DocumentDto>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

/// One attached document.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentDto {
    /// Seq of the `evidence_attached` entry.
    pub seq: i64,
    /// Seq of the entry it is evidence for.
    pub entry: i64,
    pub sha256: String,
    pub size_bytes: i64,
    pub media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where to download it.
    pub href: String,
}

impl DocumentDto {
    fn new(r: EvidenceRow) -> Self {
        Self {
            href: format!("/api/v1/funds/{}/documents/{}", r.fund_id, r.sha256),
            seq: r.seq,
            entry: r.entry_seq,
            sha256: r.sha256,
            size_bytes: r.size_bytes,
            media_type: r.media_type,
            name: r.name,
        }
    }
}

pub(super) fn store_error(e: DocStoreError) -> ApiError {
    match e {
        DocStoreError::NotFound(_) | DocStoreError::Corrupt(..) => {
            ApiError::DocumentIntegrity(e.to_string())
        }
        DocStoreError::Store(_) | DocStoreError::Setup(_) => {
            ApiError::DocumentStoreUnavailable(e.into())
        }
    }
}

/// Reads the request body, refusing it as soon as it passes `max` bytes.
pub(super) async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    max: u64,
) -> ApiResult<Bytes> {
    let too_large = || ApiError::DocumentTooLarge { limit_bytes: max };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let capacity = declared.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
    let mut body = BytesMut::with_capacity(capacity);
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::InvalidBody(format!("reading the body: {e}")))?;
        let len = u64::try_from(body.len().saturating_add(chunk.len())).unwrap_or(u64::MAX);
        if len > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The media type of a document read from its bytes, if it is one the store accepts:
/// else 422 `empty_document` or 415 `unsupported_document_type`.
pub(super) fn sniffed(bytes: &[u8]) -> ApiResult<&'static str> {
    sniff::media_type(bytes).map_err(|r| match r {
        Refusal::Empty => ApiError::unprocessable("empty_document", "the document is empty"),
        Refusal::Unsupported(t) => ApiError::UnsupportedDocumentType(format!(
            "the document is {}; accepted: {}",
            t.map_or_else(|| "of no recognised type".to_owned(), |t| format!("a {t}")),
            sniff::ACCEPTED.join(", ")
        )),
    })
}

/// Attach a document to an entry of the fund as its evidence. The body is the document's
/// bytes (any `Content-Type`: the media type is read from the bytes); it is stored under
/// its SHA-256 and an `evidence_attached` entry recording hash, size and media type is
/// appended; the answer is that entry's receipt. Roles: the one that records the cited
/// entry's kind (a ministry for its own entries only); admin and donor: 403.
#[utoipa::path(post, path = "/api/v1/funds/{fund}/entries/{seq}/evidence", tag = "funds", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the document: PDF, PNG, JPEG, TIFF, WebP, DOCX, XLSX, ODT, ODS or XML"),
    params(("fund" = Uuid, Path), ("seq" = u64, Path, description = "the entry the document is evidence for"),
           ("Idempotency-Key" = String, Header, description = "client-chosen key, unique per fund"), UploadQuery),
    responses((status = 201, body = ReceiptDto), (status = 200, description = "Replayed", body = ReceiptDto),
              (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem),
              (status = 413, description = "document_too_large", body = crate::error::Problem),
              (status = 415, description = "unsupported_document_type", body = crate::error::Problem),
              (status = 422, body = crate::error::Problem),
              (status = 503, description = "document_store_unavailable", body = crate::error::Problem)))]
pub async fn upload(
    principal: Principal,
    state: web::Data<AppState>,
    screens: web::Data<dyn Screens>,
    req: HttpRequest,
    path: Path<EntryPath>,
    query: Query<UploadQuery>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let EntryPath { fund, seq } = path.into_inner();
    let UploadQuery {
        name,
        business_date,
    } = query.into_inner();
    let kind = "evidence_attached";
    let effect = prepare(&state, &screens, &principal, fund, vec![kind.to_owned()]).await?;
    let key = idempotency_key(&req)?;
    let date = business_date.unwrap_or_else(|| state.ledger.now().date_naive());
    check_business_date(&state, date)?;
    let bytes = read_limited(&req, payload, state.settings.documents.max_bytes).await?;
    let media_type = sniffed(&bytes)?;
    let body = EvidenceAttached {
        entry: seq,
        sha256: DocumentHash::of(&bytes).hex(),
        size_bytes: u64::try_from(bytes.len()).map_err(ApiError::internal)?,
        media_type: media_type.to_owned(),
        name,
    };
    let body = serde_json::to_value(&body).map_err(ApiError::internal)?;
    let (entry, recorded) = typed_entry(kind, date, &body)?;
    // The document first: an entry never cites a document the store does not hold. A
    // refused entry leaves a document nobody cites, which no route serves.
    state.documents.put(bytes).await.map_err(store_error)?;
    let receipt = state
        .ledger
        .append_one(
            fund,
            AppendRequest {
                kind: entry.kind().to_owned(),
                business_date: date,
                idempotency_key: key,
                body: recorded,
                principal: ledger_principal(&principal),
            },
            Some(effect),
        )
        .await?;
    ReceiptDto::from(receipt).response()
}

/// The caller's scope in the fund, then the documents `filter` selects within it.
async fn scoped(
    state: &web::Data<AppState>,
    principal: &Principal,
    fund: Uuid,
    mut filter: EvidenceFilter,
    limit: i64,
) -> ApiResult<Vec<EvidenceRow>> {
    let p = principal.clone();
    with_conn(state, move |_, conn| {
        let (_, scope) = policy::fund_scope(conn, &p, fund)?;
        if let Scope::Ministry(m) = scope {
            filter.ministry = Some(m);
        }
        Ok(state::evidence_of(conn, fund, &filter, limit)?)
    })
    .await
}

/// The documents attached in a fund, oldest first (a ministry: those of its own entries).
#[utoipa::path(get, path = "/api/v1/funds/{fund}/documents", tag = "funds", security(("bearer" = [])),
    params(("fund" = Uuid, Path), ListQuery),
    responses((status = 200, body = DocumentPage), (status = 400, body = crate::error::Problem),
              (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<FundOnly>,
    query: Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.into_inner();
    let limit = crate::http::page_limit(q.limit)?;
    let seq = |v: Option<u64>, field: &str| {
        v.map(i64::try_from)
            .transpose()
            .map_err(|_| ApiError::InvalidParameter(format!("{field} is out of range")))
    };
    let filter = EvidenceFilter {
        entry: seq(q.entry, "entry")?,
        after: seq(q.after, "after")?,
        ..EvidenceFilter::default()
    };
    let mut rows = scoped(
        &state,
        &principal,
        path.into_inner().fund,
        filter,
        limit + 1,
    )
    .await?;
    let shown = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > shown;
    rows.truncate(shown);
    let next_after = if more {
        rows.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    let documents: Vec<DocumentDto> = rows.into_iter().map(DocumentDto::new).collect();
    Ok(HttpResponse::Ok().json(DocumentPage {
        documents,
        next_after,
    }))
}

#[derive(Debug, Deserialize)]
pub struct FundOnly {
    pub fund: Uuid,
}

/// Download a document by its SHA-256, if it is attached to an entry of the fund the
/// caller can read. The bytes are checked against the hash before they are sent; a
/// document missing or changed in the store is 503 `document_integrity`.
#[utoipa::path(get, path = "/api/v1/funds/{fund}/documents/{sha256}", tag = "funds", security(("bearer" = [])),
    params(("fund" = Uuid, Path), ("sha256" = String, Path, description = "64 lowercase hex digits")),
    responses((status = 200, description = "The document, with its recorded media type", content_type = "application/octet-stream"),
              (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem),
              (status = 503, description = "document_integrity or document_store_unavailable", body = crate::error::Problem)))]
pub async fn download(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<DocumentPath>,
) -> ApiResult<HttpResponse> {
    let DocumentPath { fund, sha256 } = path.into_inner();
    let hash = DocumentHash::parse(&sha256).ok_or_else(|| {
        ApiError::InvalidParameter("sha256 is 64 lowercase hexadecimal digits".to_owned())
    })?;
    let filter = EvidenceFilter {
        sha256: Some(hash.hex()),
        ..EvidenceFilter::default()
    };
    let rows = scoped(&state, &principal, fund, filter, 1).await?;
    let row = rows.into_iter().next().ok_or_else(|| {
        ApiError::NotFound(format!(
            "no document {hash} is attached to an entry of this fund you can read"
        ))
    })?;
    let bytes = state.documents.get(&hash).await.map_err(store_error)?;
    let file_name = format!("{}.{}", hash.hex(), sniff::extension(&row.media_type));
    Ok(HttpResponse::Ok()
        .content_type(row.media_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file_name}\""),
        ))
        // RFC 9530: the digest a client can check without trusting the server.
        .insert_header((
            "repr-digest",
            format!(
                "sha-256=:{}:",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, hash.0)
            ),
        ))
        .insert_header((
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable",
        ))
        .body(bytes))
}

/// Documents read from the index per query while a bundle streams.
const BUNDLE_PAGE: i64 = 500;

/// Everything after a document's bytes up to the next 512-byte block of a tar archive.
fn tar_padding(len: usize) -> usize {
    (512 - len % 512) % 512
}

/// One document as a tar member named by its SHA-256: the header block, the bytes and
/// the padding. The archive is reproducible: no time, owner or mode of the server's.
fn tar_member(hash: &DocumentHash, bytes: &Bytes) -> std::io::Result<Bytes> {
    let mut header = tar::Header::new_ustar();
    header.set_path(hash.hex())?;
    header.set_size(u64::try_from(bytes.len()).map_err(std::io::Error::other)?);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    let mut out = BytesMut::with_capacity(512 + bytes.len() + 512);
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(bytes);
    out.resize(out.len() + tar_padding(bytes.len()), 0);
    Ok(out.freeze())
}

/// Every document the caller can read in the fund, as one tar archive with a file named
/// by each document's SHA-256: unpacked into a folder, it is what `fundtrail verify
/// --export <the chain's export> --documents <folder>` checks offline (a ministry: the
/// documents of its own entries). Streamed a document at a time, each checked against its
/// hash before it is sent. The status is sent before the documents, so a document found
/// missing or changed in the store on the way ends the archive early, without its closing
/// blocks: a truncated archive, which tar refuses.
#[utoipa::path(get, path = "/api/v1/funds/{fund}/documents/bundle", tag = "funds", security(("bearer" = [])),
    params(("fund" = Uuid, Path)),
    responses((status = 200, description = "A tar archive, one file per document named by its SHA-256", content_type = "application/x-tar"),
              (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)))]
pub async fn bundle(
    principal: Principal,
    state: web::Data<AppState>,
    path: Path<FundOnly>,
) -> ApiResult<HttpResponse> {
    let fund = path.into_inner().fund;
    // The caller's scope is checked before anything is sent: refusals are problem JSON.
    let first = scoped(
        &state,
        &principal,
        fund,
        EvidenceFilter::default(),
        BUNDLE_PAGE,
    )
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let st = state.clone();
    actix_web::rt::spawn(async move {
        let mut rows = first;
        let mut seen = std::collections::BTreeSet::new();
        while let Some(last) = rows.last().map(|r| r.seq) {
            for row in std::mem::take(&mut rows) {
                let member = match DocumentHash::parse(&row.sha256) {
                    None => Err(std::io::Error::other(format!(
                        "entry {}: a recorded hash that is not SHA-256",
                        row.seq
                    ))),
                    Some(hash) if !seen.insert(hash.hex()) => continue,
                    Some(hash) => match st.documents.get(&hash).await {
                        Ok(bytes) => tar_member(&hash, &bytes),
                        Err(e) => Err(std::io::Error::other(format!(
                            "document {hash} (evidence entry {}): {e}",
                            row.seq
                        ))),
                    },
                };
                let failed = member.is_err();
                if let Err(e) = &member {
                    tracing::warn!(fund = %fund, error = %e, "documents bundle ended early");
                }
                if tx.send(member).await.is_err() || failed {
                    return;
                }
            }
            let next = EvidenceFilter {
                after: Some(last),
                ..EvidenceFilter::default()
            };
            rows = match scoped(&st, &principal, fund, next, BUNDLE_PAGE).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(fund = %fund, error = %e, "documents bundle ended early");
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
        }
        // The archive's end: two zero blocks.
        let _ = tx.send(Ok(Bytes::from_static(&[0; 1024]))).await;
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-tar")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"documents-{fund}.tar\""),
        ))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .streaming(body))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/funds/{fund}/entries/{seq}/evidence").post(upload))
        .service(web::resource("/funds/{fund}/documents").get(list))
        .service(web::resource("/funds/{fund}/documents/bundle").get(bundle))
        .service(web::resource("/funds/{fund}/documents/{sha256}").get(download));
}
