//! An entry recorded together with its documents, in one request (docs/api.md, "Fund
//! endpoints"): `multipart/form-data` with one `entry` part (the JSON of a single post,
//! `{kind, business_date, body}`) and 1 to `DOCUMENTS_MAX` `document` parts. Everything that
//! needs no database is checked first (the entry's body, each document's size and type),
//! so a refused document writes nothing; then the documents are stored and the entry and
//! one `evidence_attached` entry per document are appended in one job, all or none, so a
//! refused entry leaves no evidence (a stored document that nothing cites is served to
//! nobody, as for a single upload).
//!
//! The attachments cite the entry by the seq it gets, which is known only inside the
//! append: the job is built for the chain's size as read, and refused (`chain_moved`) and
//! built again when another append came first (`ledger::writer::Checked`).

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;

use super::http::{read_limited, sniffed, store_error};
use crate::auth::guard::Principal;
use crate::chains::http::{idempotency_key, BatchReceipts};
use crate::docstore::DocumentHash;
use crate::entries::effect::Screens;
use crate::entries::http::{ledger_principal, prepare, typed, FundPath, NewFundEntry};
use crate::entries::kinds::EvidenceAttached;
use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::ledger::entry::Entry;
use crate::ledger::writer::{AppendError, AppendRequest, Checked};
use crate::state::{with_conn, AppState};

/// The most documents one request records with its entry.
pub const DOCUMENTS_MAX: usize = 10;

/// The longest idempotency key of such a request: each attachment's key is the entry's
/// with `#document-<n>` appended, and keys are at most 128 characters.
pub const KEY_MAX: usize = 116;

/// Times the job is built again when other appends moved the chain in between.
const ATTEMPTS: usize = 5;

/// The refusal that sends the job back to be built for the chain's new size.
const CHAIN_MOVED: &str = "chain_moved";

/// One document part, read and checked.
struct Document {
    bytes: Bytes,
    media_type: &'static str,
    name: Option<String>,
}

/// The request's parts: the entry and its documents.
struct Parts {
    entry: NewFundEntry,
    documents: Vec<Document>,
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::InvalidBody(detail.into())
}

/// Reads every part, refusing at the first that is wrong; nothing is written. The whole
/// body is read first, up to the document limit plus the request body limit (the
/// documents of one request are together at most `FUNDTRAIL_DOCUMENT_MAX_BYTES`).
async fn read_parts(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    payload: web::Payload,
) -> ApiResult<Parts> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary =
        multer::parse_boundary(content_type).map_err(|_| ApiError::UnsupportedMediaType {
            expected: "multipart/form-data",
        })?;
    let document_max = state.settings.documents.max_bytes;
    let entry_max = u64::try_from(state.settings.body_limit_bytes).unwrap_or(u64::MAX);
    let body = read_limited(req, payload, document_max.saturating_add(entry_max)).await?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut entry = None;
    let mut documents = Vec::new();
    let mut documents_bytes: u64 = 0;
    while let Some(field) = parts
        .next_field()
        .await
        .map_err(|e| invalid(format!("reading the multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field
            .bytes()
            .await
            .map_err(|e| invalid(format!("reading part {name:?}: {e}")))?;
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        match name.as_str() {
            "entry" => {
                if entry.is_some() {
                    return Err(invalid("one entry part only"));
                }
                if len > entry_max {
                    return Err(ApiError::PayloadTooLarge {
                        limit_bytes: state.settings.body_limit_bytes,
                    });
                }
                let parsed: NewFundEntry = serde_json::from_slice(&bytes)
                    .map_err(|e| invalid(format!("entry: {e}")))?;
                entry = Some(parsed);
            }
            "document" => {
                if documents.len() == DOCUMENTS_MAX {
                    return Err(invalid(format!(
                        "at most {DOCUMENTS_MAX} documents with one entry"
                    )));
                }
                documents_bytes = documents_bytes.saturating_add(len);
                if documents_bytes > document_max {
                    return Err(ApiError::DocumentTooLarge {
                        limit_bytes: document_max,
                    });
                }
                let media_type = sniffed(&bytes)?;
                let name = file_name
                    .map(|n| {
                        let fits = (1..=200).contains(&n.chars().count())
                            && crate::text::check(&n, "name", crate::text::Text::Line).is_ok();
                        fits.then_some(n).ok_or_else(|| {
                            ApiError::unprocessable(
                                "invalid_text",
                                "a document's file name is one line of 1 to 200 characters",
                            )
                        })
                    })
                    .transpose()?;
                documents.push(Document {
                    bytes,
                    media_type,
                    name,
                });
            }
            other => {
                return Err(invalid(format!(
                    "unknown part {other:?}: send one `entry` and 1 to {DOCUMENTS_MAX} `document` parts"
                )))
            }
        }
    }
    let entry = entry.ok_or_else(|| invalid("the entry part is missing"))?;
    if documents.is_empty() {
        return Err(invalid("at least one document part is needed"));
    }
    Ok(Parts { entry, documents })
}

/// Record an entry together with its evidence documents: `multipart/form-data` with one
/// `entry` part (`{kind, business_date, body}`, as `POST /api/v1/funds/{fund}/entries`
/// takes it) and 1 to 10 `document` parts (each a PDF, PNG, JPEG, TIFF, WebP, DOCX, XLSX,
/// ODT, ODS or XML file; the part's file name is recorded). All or nothing: a refused
/// document records no entry, a refused entry no attachment. The answer holds the entry's
/// receipt, then one per `evidence_attached` entry. Roles: those that record the entry's
/// kind (treasurer, ministry).
#[utoipa::path(post, path = "/api/v1/funds/{fund}/entries/with-documents", tag = "funds", security(("bearer" = [])),
    request_body(content = String, content_type = "multipart/form-data",
        description = "one `entry` part (JSON: kind, business_date, body) and 1 to 10 `document` parts"),
    params(("fund" = Uuid, Path),
           ("Idempotency-Key" = String, Header, description = "client-chosen key of the entry, unique per fund, at most 116 characters; attachment n gets the key with `#document-<n>` appended")),
    responses((status = 201, body = BatchReceipts), (status = 200, description = "Replayed", body = BatchReceipts),
              (status = 400, body = crate::error::Problem), (status = 401, body = crate::error::Problem),
              (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem),
              (status = 413, description = "document_too_large", body = crate::error::Problem),
              (status = 415, description = "unsupported_document_type, or not multipart/form-data", body = crate::error::Problem),
              (status = 422, body = crate::error::Problem),
              (status = 503, description = "document_store_unavailable", body = crate::error::Problem)))]
pub async fn post_with_documents(
    principal: Principal,
    state: web::Data<AppState>,
    screens: web::Data<dyn Screens>,
    req: HttpRequest,
    path: Path<FundPath>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let fund = path.fund;
    let key = idempotency_key(&req)?;
    if key.len() > KEY_MAX {
        return Err(ApiError::unprocessable(
            "invalid_entry",
            format!(
                "the Idempotency-Key of an entry with documents is at most {KEY_MAX} characters"
            ),
        ));
    }
    let Parts { entry, documents } = read_parts(&state, &req, payload).await?;
    let kinds = vec![entry.kind.clone(), "evidence_attached".to_owned()];
    let effect = prepare(&state, &screens, &principal, fund, kinds).await?;
    let date = entry.business_date;
    let (typed_entry, recorded) = typed(&state, &entry.kind, date, &entry.body)?;
    // The documents first: an entry never cites a document the store does not hold.
    let mut stored = Vec::with_capacity(documents.len());
    for d in documents {
        let sha256 = DocumentHash::of(&d.bytes).hex();
        let size_bytes = u64::try_from(d.bytes.len()).map_err(ApiError::internal)?;
        state.documents.put(d.bytes).await.map_err(store_error)?;
        stored.push((sha256, size_bytes, d.media_type, d.name));
    }
    let principal_l = ledger_principal(&principal);
    for _ in 0..ATTEMPTS {
        let k = key.clone();
        let seq = with_conn(&state, move |_, conn| {
            // A retry of a recorded request cites the seq its entry got.
            if let Some(row) = crate::ledger::store::entries_by_keys(conn, fund, &[k.as_str()])?
                .into_iter()
                .next()
            {
                return Ok(u64::try_from(row.seq).unwrap_or_default());
            }
            Ok(crate::ledger::store::head(conn, fund)?.map_or(0, |(size, _)| size))
        })
        .await?;
        let mut requests = vec![AppendRequest {
            kind: typed_entry.kind().to_owned(),
            business_date: date,
            idempotency_key: key.clone(),
            body: recorded.clone(),
            principal: principal_l.clone(),
        }];
        for (n, (sha256, size_bytes, media_type, name)) in stored.iter().enumerate() {
            let body = EvidenceAttached {
                entry: seq,
                sha256: sha256.clone(),
                size_bytes: *size_bytes,
                media_type: (*media_type).to_owned(),
                name: name.clone(),
            };
            requests.push(AppendRequest {
                kind: "evidence_attached".to_owned(),
                business_date: date,
                idempotency_key: format!("{key}#document-{}", n.saturating_add(1)),
                body: serde_json::to_value(&body).map_err(ApiError::internal)?,
                principal: principal_l.clone(),
            });
        }
        // The later entries cite the first by seq: refused with `chain_moved` unless it
        // got `seq`, and the job is built again.
        let first_at = Arc::new(Checked {
            inner: effect.clone(),
            check: move |entries: &[Entry]| match entries.first() {
                Some(e) if e.seq == seq => Ok(()),
                _ => Err(AppendError::Conflict {
                    code: CHAIN_MOVED,
                    detail: "the chain moved while the request was built".to_owned(),
                }),
            },
        });
        match state.ledger.append_with(fund, requests, first_at).await {
            Ok(receipts) => {
                let replayed = receipts.iter().all(|r| r.replayed);
                let batch = BatchReceipts::new(receipts)?;
                let response = batch.response()?;
                return Ok(if replayed {
                    let mut r = response;
                    *r.status_mut() = actix_web::http::StatusCode::OK;
                    r
                } else {
                    response
                });
            }
            Err(AppendError::Conflict {
                code: CHAIN_MOVED, ..
            }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict {
        code: "chain_busy",
        detail: "the fund's chain kept moving while the request was built; retry it".to_owned(),
    })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/funds/{fund}/entries/with-documents").post(post_with_documents));
}
