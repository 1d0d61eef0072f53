//! The witness's HTTP face (C2SP tlog-witness), its own small actix application:
//!
//! | route | answers |
//! |---|---|
//! | `POST /add-checkpoint` | 200 and the cosignature line; 400 malformed or `old` above the size; 403 no valid log signature; 404 unknown origin; 409 `old` is not the latest cosigned size (`text/x.tlog.size` body: that size and a newline); 422 not consistent; 413 body over 16 KiB |
//! | `GET /{origin hash}/checkpoint` | the latest cosigned checkpoint note of that log (log signature and cosignature), or 404 |
//! | `GET /metrics` | Prometheus counters (`fundtrail_witness_*`) |
//! | `GET /healthz` | 200 |
//!
//! Bodies of errors are one plain-text line saying why; nothing internal is sent (a
//! state error is logged and answered 500 with a generic line).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::update::{AddCheckpoint, Refusal, Witness, PROOF_LINES_MAX};

/// Largest add-checkpoint body, in bytes (as transparency-dev's witness: a checkpoint
/// with a few signatures and 63 proof lines is under 4 KiB).
pub const BODY_BYTES_MAX: usize = 16 * 1024;

/// Content type of a 409's body.
pub const CONTENT_TYPE_TLOG_SIZE: &str = "text/x.tlog.size";

const TEXT: &str = "text/plain; charset=utf-8";

/// Parses an add-checkpoint body: `old <size>\n`, up to 63 lines of base64 32-byte
/// hashes, an empty line, the signed checkpoint. `<size>` is canonical decimal.
pub fn parse_request(body: &[u8]) -> Result<AddCheckpoint, String> {
    let body = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
    let (first, mut rest) = body
        .split_once('\n')
        .ok_or_else(|| "no old size line".to_owned())?;
    let digits = first
        .strip_prefix("old ")
        .ok_or_else(|| "the first line is not `old <size>`".to_owned())?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    let old_size: u64 = digits
        .parse()
        .ok()
        .filter(|_| canonical)
        .ok_or_else(|| format!("old size {digits:?} is not a canonical decimal"))?;
    let mut proof = Vec::new();
    loop {
        let (line, after) = rest
            .split_once('\n')
            .ok_or_else(|| "no empty line before the checkpoint".to_owned())?;
        rest = after;
        if line.is_empty() {
            break;
        }
        if proof.len() == PROOF_LINES_MAX {
            return Err(format!("more than {PROOF_LINES_MAX} proof lines"));
        }
        let hash: [u8; 32] = BASE64
            .decode(line)
            .ok()
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| format!("proof line {line:?} is not a base64 32-byte hash"))?;
        proof.push(hash);
    }
    Ok(AddCheckpoint {
        old_size,
        proof,
        note: rest.to_owned(),
    })
}

fn text(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status).content_type(TEXT).body(body)
}

/// `POST /add-checkpoint`.
pub async fn add_checkpoint(witness: web::Data<Witness>, body: web::Bytes) -> HttpResponse {
    let request = match parse_request(&body) {
        Ok(request) => request,
        Err(why) => {
            tracing::warn!(reason = %why, "add-checkpoint: malformed request");
            return text(StatusCode::BAD_REQUEST, format!("{why}\n"));
        }
    };
    // File I/O and fsync under the witness's lock: off the async workers.
    let outcome = web::block(move || witness.add_checkpoint(&request)).await;
    let refusal = match outcome {
        Ok(Ok(cosigned)) => {
            return HttpResponse::Ok().content_type(TEXT).body(cosigned.lines);
        }
        Ok(Err(refusal)) => refusal,
        Err(e) => {
            tracing::error!(error = %e, "add-checkpoint: the blocking task failed");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n".into());
        }
    };
    let status = match &refusal {
        Refusal::Malformed(_) | Refusal::OldSizeAboveSize { .. } => StatusCode::BAD_REQUEST,
        Refusal::Signature(_) => StatusCode::FORBIDDEN,
        Refusal::UnknownLog(_) => StatusCode::NOT_FOUND,
        Refusal::Conflict { latest_size, .. } => {
            tracing::info!(
                witness.latest_size = latest_size,
                "add-checkpoint: {refusal}"
            );
            return HttpResponse::Conflict()
                .content_type(CONTENT_TYPE_TLOG_SIZE)
                .body(format!("{latest_size}\n"));
        }
        Refusal::Inconsistent(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Refusal::State(_) | Refusal::Cosign(_) => {
            tracing::error!(error = %refusal, "add-checkpoint: not cosigned");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n".into());
        }
    };
    tracing::warn!(http.status = status.as_u16(), "add-checkpoint: {refusal}");
    text(status, format!("{refusal}\n"))
}

/// `GET /{origin hash}/checkpoint` (tlog-witness "Monitor Retrieval Mechanism").
pub async fn latest_checkpoint(
    witness: web::Data<Witness>,
    origin_hash: web::Path<String>,
) -> HttpResponse {
    let hash = origin_hash.into_inner();
    match web::block(move || witness.latest(&hash)).await {
        Ok(Ok(Some(note))) => HttpResponse::Ok().content_type(TEXT).body(note),
        Ok(Ok(None)) => text(
            StatusCode::NOT_FOUND,
            "no checkpoint cosigned for that log\n".into(),
        ),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "reading a log's state");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n".into())
        }
        Err(e) => {
            tracing::error!(error = %e, "the blocking task failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n".into())
        }
    }
}

async fn metrics(witness: web::Data<Witness>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(witness.metrics().render())
}

async fn healthz() -> HttpResponse {
    text(StatusCode::OK, "ok\n".into())
}

/// The witness's application: its routes over `witness`, bodies limited to
/// [`BODY_BYTES_MAX`].
pub fn build(
    witness: web::Data<Witness>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(witness)
        .app_data(web::PayloadConfig::default().limit(BODY_BYTES_MAX))
        .route("/add-checkpoint", web::post().to(add_checkpoint))
        .route("/metrics", web::get().to(metrics))
        .route("/healthz", web::get().to(healthz))
        .route(
            "/{origin_hash}/checkpoint",
            web::get().to(latest_checkpoint),
        )
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

    const NOTE: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

    #[test]
    fn c2sp_example_request_parses() {
        // tlog-witness.md, "add-checkpoint" example body.
        let body = format!(
            "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\n{NOTE}"
        );
        let r = parse_request(body.as_bytes()).unwrap();
        assert_eq!(r.old_size, 20852014);
        assert_eq!(r.proof.len(), 4);
        assert_eq!(
            BASE64.encode(r.proof[0]),
            "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw="
        );
        assert_eq!(r.note, NOTE);
        let r = parse_request(format!("old 0\n\n{NOTE}").as_bytes()).unwrap();
        assert_eq!((r.old_size, r.proof.len()), (0, 0));
    }

    #[test]
    fn malformed_requests_refused() {
        let hash = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=";
        let many = format!("{hash}\n").repeat(PROOF_LINES_MAX + 1);
        for bad in [
            format!("old 01\n\n{NOTE}"),
            format!("old -1\n\n{NOTE}"),
            format!("old \n\n{NOTE}"),
            format!("old 18446744073709551616\n\n{NOTE}"),
            format!("Old 1\n\n{NOTE}"),
            format!("old 1\n{NOTE}"),
            format!("old 1\nYmFuYW5hcw==\n\n{NOTE}"),
            format!("old 1\n{many}\n{NOTE}"),
            "old 1".to_owned(),
        ] {
            assert!(parse_request(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(parse_request(&[0xff, b'\n']).is_err());
    }
}
