//! The one error type of the HTTP edge, rendered as RFC 7807 problem JSON.
//!
//! Every variant has a stable machine-readable `code` (listed in docs/api.md) and a
//! fixed HTTP status. Internal causes are logged with the request's span and never sent
//! to the client: a 500 says only "internal error".

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ledger::entry::EntryError;
use crate::ledger::service::LedgerError;
use crate::ledger::store::StoreError;
use crate::ledger::writer::AppendError;

/// Media type of every error body (RFC 7807 §3).
pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request body does not match the expected schema: {0}")]
    InvalidBody(String),
    #[error("expected Content-Type {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("the request body exceeds the limit of {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: usize },
    #[error("the document exceeds the limit of {limit_bytes} bytes")]
    DocumentTooLarge { limit_bytes: u64 },
    #[error("{0}")]
    UnsupportedDocumentType(String),
    #[error("the document store is unavailable")]
    DocumentStoreUnavailable(#[source] anyhow::Error),
    /// A document the ledger cites is missing from the document store or changed there.
    #[error("{0}")]
    DocumentIntegrity(String),
    #[error("invalid request parameter: {0}")]
    InvalidParameter(String),
    #[error("the request target (path and query) exceeds {limit_bytes} bytes")]
    UriTooLong { limit_bytes: usize },
    #[error("the request's headers exceed {limit_bytes} bytes")]
    HeadersTooLarge { limit_bytes: usize },
    /// Validation or invariant failure of a well-formed request; `code` is specific.
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("too many failed attempts; retry in {retry_after_s} s")]
    TooManyRequests { retry_after_s: u64 },
    #[error("{0}")]
    NotFound(String),
    #[error("no route matches {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("the database is unavailable")]
    DatabaseUnavailable(#[source] anyhow::Error),
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error("too many requests are queued; retry shortly")]
    Overloaded,
    /// Stored ledger data contradicts a trusted signed checkpoint (tampering, or a forged
    /// row): not retryable, an operator must look (docs/operations.md).
    #[error("{0}")]
    LedgerIntegrity(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// RFC 7807 problem details, extended with a stable `code`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:fundtrail:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable error code (see docs/api.md).
    pub code: &'static str,
}

impl ApiError {
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            detail: detail.into(),
        }
    }

    /// Stable code, HTTP status and short title of each variant. Exhaustive on purpose:
    /// adding a variant forces a decision here.
    pub fn parts(&self) -> (&'static str, StatusCode, &'static str) {
        match self {
            Self::MalformedJson(_) => ("malformed_json", StatusCode::BAD_REQUEST, "Malformed JSON"),
            Self::InvalidBody(_) => (
                "invalid_body",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid request body",
            ),
            Self::UnsupportedMediaType { .. } => (
                "unsupported_media_type",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
            ),
            Self::PayloadTooLarge { .. } => (
                "payload_too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload too large",
            ),
            Self::DocumentTooLarge { .. } => (
                "document_too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
                "Document too large",
            ),
            Self::UnsupportedDocumentType(_) => (
                "unsupported_document_type",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported document type",
            ),
            Self::DocumentStoreUnavailable(_) => (
                "document_store_unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "Document store unavailable",
            ),
            Self::DocumentIntegrity(_) => (
                "document_integrity",
                StatusCode::SERVICE_UNAVAILABLE,
                "Document integrity failure",
            ),
            Self::InvalidParameter(_) => (
                "invalid_parameter",
                StatusCode::BAD_REQUEST,
                "Invalid parameter",
            ),
            Self::UriTooLong { .. } => (
                "uri_too_long",
                StatusCode::URI_TOO_LONG,
                "Request target too long",
            ),
            Self::HeadersTooLarge { .. } => (
                "headers_too_large",
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Request headers too large",
            ),
            Self::Unprocessable { code, .. } => {
                (code, StatusCode::UNPROCESSABLE_ENTITY, "Request refused")
            }
            Self::Unauthorized { code, .. } => (code, StatusCode::UNAUTHORIZED, "Unauthorized"),
            Self::Forbidden(_) => ("forbidden", StatusCode::FORBIDDEN, "Forbidden"),
            Self::TooManyRequests { .. } => (
                "too_many_requests",
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
            ),
            Self::NotFound(_) => ("not_found", StatusCode::NOT_FOUND, "Not found"),
            Self::RouteNotFound { .. } => {
                ("route_not_found", StatusCode::NOT_FOUND, "No such route")
            }
            Self::MethodNotAllowed => (
                "method_not_allowed",
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
            ),
            Self::Conflict { code, .. } => (code, StatusCode::CONFLICT, "Conflict"),
            Self::DatabaseUnavailable(_) => (
                "database_unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                "Database unavailable",
            ),
            Self::ShuttingDown => (
                "shutting_down",
                StatusCode::SERVICE_UNAVAILABLE,
                "Service shutting down",
            ),
            Self::Overloaded => ("overloaded", StatusCode::SERVICE_UNAVAILABLE, "Overloaded"),
            Self::LedgerIntegrity(_) => (
                "ledger_integrity",
                StatusCode::SERVICE_UNAVAILABLE,
                "Ledger integrity failure",
            ),
            Self::Internal(_) => (
                "internal_error",
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
            ),
        }
    }

    fn problem(&self) -> Problem {
        let (code, status, title) = self.parts();
        let detail = match self {
            // Never leak internals: the cause is in the log, under the request id.
            Self::Internal(_) => {
                "an internal error occurred; quote the x-request-id header when reporting it"
                    .to_owned()
            }
            Self::DatabaseUnavailable(_) => "the database is unavailable; retry later".to_owned(),
            Self::DocumentStoreUnavailable(_) => {
                "the document store is unavailable; retry later".to_owned()
            }
            other => other.to_string(),
        };
        Problem {
            type_uri: format!("urn:fundtrail:problem:{code}"),
            title,
            status: status.as_u16(),
            detail,
            code,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().1
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            Self::DatabaseUnavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable")
            }
            Self::DocumentStoreUnavailable(cause) => {
                tracing::warn!(error = %cause, "document store unavailable")
            }
            Self::DocumentIntegrity(detail) => {
                tracing::error!(detail = %detail, "document integrity failure")
            }
            _ => {}
        }
        let problem = self.problem();
        let mut builder = HttpResponse::build(self.status_code());
        builder.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if matches!(
            self,
            Self::DatabaseUnavailable(_)
                | Self::DocumentStoreUnavailable(_)
                | Self::ShuttingDown
                | Self::Overloaded
        ) {
            builder.insert_header((header::RETRY_AFTER, "5"));
        }
        if let Self::TooManyRequests { retry_after_s } = self {
            builder.insert_header((header::RETRY_AFTER, retry_after_s.to_string()));
        }
        if matches!(self, Self::Unauthorized { .. }) {
            builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        match serde_json::to_vec(&problem) {
            Ok(body) => builder.body(body),
            Err(_) => builder.finish(),
        }
    }
}

/// Ledger errors at the HTTP edge: a missing chain is 404, a refused append keeps its code.
impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::NotFound => ApiError::NotFound("no such chain or entry".to_owned()),
            LedgerError::BadRequest(msg) => ApiError::InvalidParameter(msg),
            LedgerError::Integrity(detail) => ApiError::LedgerIntegrity(detail),
            e @ LedgerError::Rollback { .. } => ApiError::Conflict {
                code: "rollback_detected",
                detail: e.to_string(),
            },
            LedgerError::Store(StoreError::Db(db)) => db.into(),
            LedgerError::Store(StoreError::Corrupt(msg)) => {
                ApiError::Internal(anyhow::anyhow!("corrupt ledger data: {msg}"))
            }
            LedgerError::Append(a) => a.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        LedgerError::Store(e).into()
    }
}

impl From<AppendError> for ApiError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::ChainNotFound(_) => ApiError::NotFound("no such chain".to_owned()),
            AppendError::IdempotencyConflict(_) => ApiError::Conflict {
                code: "idempotency_key_reused",
                detail: e.to_string(),
            },
            AppendError::DuplicateKeyInBatch(_) => {
                ApiError::unprocessable("duplicate_idempotency_key", e.to_string())
            }
            AppendError::BatchSize(_) => ApiError::unprocessable("batch_size", e.to_string()),
            AppendError::Invalid(inner @ EntryError::ControlCharacter(_)) => {
                ApiError::unprocessable("invalid_text", inner.to_string())
            }
            AppendError::Invalid(inner) => {
                ApiError::unprocessable("invalid_entry", inner.to_string())
            }
            AppendError::Rejected { code, detail } => ApiError::Unprocessable { code, detail },
            AppendError::Conflict { code, detail } => ApiError::Conflict { code, detail },
            AppendError::Overloaded => ApiError::Overloaded,
            e @ AppendError::Integrity { .. } => ApiError::LedgerIntegrity(e.to_string()),
            // A value the database refused is the request's fault; any other failure of
            // the append's transaction (connection lost, pool, timeout) is unavailability.
            AppendError::Database(cause) => {
                match cause
                    .downcast_ref::<diesel::result::Error>()
                    .and_then(crate::db::refusal)
                {
                    Some(r) => ApiError::Unprocessable {
                        code: r.code,
                        detail: r.detail,
                    },
                    None => ApiError::DatabaseUnavailable(cause),
                }
            }
            AppendError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as Kind, Error as E};
        if let Some(refusal) = crate::db::refusal(&err) {
            return Self::Unprocessable {
                code: refusal.code,
                detail: refusal.detail,
            };
        }
        match err {
            E::NotFound => Self::NotFound("the resource does not exist".to_owned()),
            E::DatabaseError(Kind::UniqueViolation, info) => Self::Conflict {
                code: "conflict",
                detail: format!(
                    "already exists ({})",
                    info.constraint_name().unwrap_or("unique key")
                ),
            },
            E::DatabaseError(Kind::ClosedConnection | Kind::UnableToSendCommand, _)
            | E::BrokenTransactionManager => Self::DatabaseUnavailable(anyhow::Error::new(err)),
            E::DatabaseError(Kind::Unknown, ref info)
                if info.message().contains("statement timeout") =>
            {
                Self::DatabaseUnavailable(anyhow::anyhow!("statement timeout: {}", info.message()))
            }
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(err: diesel::r2d2::PoolError) -> Self {
        Self::DatabaseUnavailable(anyhow::Error::new(err))
    }
}

impl From<crate::db::coalesce::Unanswered> for ApiError {
    fn from(err: crate::db::coalesce::Unanswered) -> Self {
        use crate::db::coalesce::Unanswered as U;
        match err {
            U::Overloaded => Self::Overloaded,
            U::Database(_) => Self::DatabaseUnavailable(anyhow::Error::new(err)),
            U::Internal(_) => Self::Internal(anyhow::Error::new(err)),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        Self::Internal(anyhow::anyhow!("blocking task failed: {err}"))
    }
}

/// Maps actix's JSON extractor failures to stable problems (installed via `JsonConfig`).
pub fn json_error(err: actix_web::error::JsonPayloadError, limit_bytes: usize) -> ApiError {
    use actix_web::error::JsonPayloadError as J;
    match err {
        J::ContentType => ApiError::UnsupportedMediaType {
            expected: "application/json",
        },
        J::Overflow { .. } | J::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge { limit_bytes }
        }
        J::Deserialize(e) if e.is_data() => ApiError::InvalidBody(e.to_string()),
        J::Deserialize(e) => ApiError::MalformedJson(e.to_string()),
        J::Payload(actix_web::error::PayloadError::Overflow) => {
            ApiError::PayloadTooLarge { limit_bytes }
        }
        other => ApiError::MalformedJson(other.to_string()),
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
