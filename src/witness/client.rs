//! A client of a witness's `POST /add-checkpoint` (C2SP tlog-witness), for a log that
//! pushes its checkpoints to witnesses.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::ledger::merkle::Hash;

use super::http::CONTENT_TYPE_TLOG_SIZE;

/// How long one add-checkpoint call may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Largest response body read, in bytes (a few cosignature lines).
const RESPONSE_BYTES_MAX: usize = 64 * 1024;

/// What the witness answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddOutcome {
    /// 200: the cosignature line(s), each ending in a newline; append them to the note.
    Cosigned(String),
    /// 409: the witness's latest cosigned size is not `old_size`; retry from this one.
    Conflict {
        /// The size the witness last cosigned for the log.
        latest_size: u64,
    },
    /// Any other status: refused (400, 403, 404, 422, …), with the witness's reason.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The response body (one line of text).
        reason: String,
    },
}

/// Why the call itself failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting, sending or reading failed.
    #[error("witness request: {0}")]
    Http(#[from] reqwest::Error),
    /// The witness answered something that is not tlog-witness.
    #[error("unexpected witness answer: {0}")]
    Protocol(String),
}

/// The request body: `old <size>`, one base64 hash per line, an empty line, the note.
pub fn request_body(old_size: u64, proof: &[Hash], signed_note: &str) -> String {
    let mut body = format!("old {old_size}\n");
    for hash in proof {
        body.push_str(&BASE64.encode(hash));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(signed_note);
    body
}

/// Submits `signed_note` with the consistency proof from `old_size` to the witness at
/// `url` (its submission prefix; `/add-checkpoint` is appended). Checking the returned
/// lines is the caller's business (`ledger::cosignature::verify_cosignatures`).
pub async fn add_checkpoint(
    url: &str,
    old_size: u64,
    proof: &[Hash],
    signed_note: &str,
) -> Result<AddOutcome, ClientError> {
    let endpoint = format!("{}/add-checkpoint", url.trim_end_matches('/'));
    let response = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()?
        .post(endpoint)
        .body(request_body(old_size, proof, signed_note))
        .send()
        .await?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = response.bytes().await?;
    let body = bytes.get(..RESPONSE_BYTES_MAX).unwrap_or(&bytes);
    let body = String::from_utf8_lossy(body).into_owned();
    match status.as_u16() {
        200 => {
            if body.is_empty() || !body.ends_with('\n') || !body.starts_with('\u{2014}') {
                return Err(ClientError::Protocol(
                    "a 200 must carry signature lines".into(),
                ));
            }
            Ok(AddOutcome::Cosigned(body))
        }
        409 if content_type.starts_with(CONTENT_TYPE_TLOG_SIZE) => body
            .strip_suffix('\n')
            .and_then(|s| s.parse().ok())
            .map(|latest_size| AddOutcome::Conflict { latest_size })
            .ok_or_else(|| ClientError::Protocol(format!("409 body {body:?} is not a size"))),
        code => Ok(AddOutcome::Refused {
            status: code,
            reason: body.trim_end().to_owned(),
        }),
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::as_conversions
)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trips_through_the_server_parser() {
        let note = "log\n2\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— log AAAAAAA=\n";
        let body = request_body(1, &[[7; 32]], note);
        assert!(body.starts_with("old 1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\n"));
        let parsed = super::super::http::parse_request(body.as_bytes()).unwrap();
        assert_eq!(parsed.old_size, 1);
        assert_eq!(parsed.proof, vec![[7; 32]]);
        assert_eq!(parsed.note, note);
        assert_eq!(request_body(0, &[], note), format!("old 0\n\n{note}"));
    }
}
