//! Streamed responses produced by blocking database work: a writer on a blocking thread
//! feeds a bounded channel of 64 KiB chunks, so memory stays flat whatever the size of
//! the body, and a slow client slows the producer down instead of filling memory.

use std::io::Write;

use actix_web::web;
use actix_web::HttpResponse;
use bytes::Bytes;
use diesel::PgConnection;

use crate::state::{AppState, ReadPin};

/// Bytes buffered before a chunk is sent.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks in flight between the producer and the client.
const CHANNEL_CHUNKS: usize = 8;

struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// Answers 200 with `content_type` and streams what `produce` writes, on a blocking
/// thread with a pooled connection. Check everything that can fail cleanly (scope,
/// parameters, existence) before calling this: once streaming, a failure can only cut
/// the body short (it is logged with `what`).
pub fn streamed<F>(
    state: &web::Data<AppState>,
    content_type: &'static str,
    filename: String,
    what: &'static str,
    produce: F,
) -> HttpResponse
where
    F: FnOnce(&mut PgConnection, &mut dyn Write) -> anyhow::Result<()> + Send + 'static,
{
    streamed_read(
        state,
        ReadPin::default(),
        content_type,
        filename,
        what,
        produce,
    )
}

/// `streamed`, read on the replica once it has replayed `pin` (`AppState::replica_conn`),
/// else on the primary.
pub fn streamed_read<F>(
    state: &web::Data<AppState>,
    pin: ReadPin,
    content_type: &'static str,
    filename: String,
    what: &'static str,
    produce: F,
) -> HttpResponse
where
    F: FnOnce(&mut PgConnection, &mut dyn Write) -> anyhow::Result<()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK_BYTES),
        };
        let conn = match st.replica_conn(&pin) {
            Some(conn) => Ok(conn),
            None => st.pool.get().map_err(|e| anyhow::anyhow!("{e}")),
        };
        let result = conn
            .and_then(|mut conn| produce(&mut conn, &mut out))
            .and_then(|()| out.flush().map_err(Into::into));
        if let Err(e) = result {
            tracing::error!(stream = what, error = %e, "stream failed mid-way");
            let _ = tx.blocking_send(Err(std::io::Error::other("stream failed")));
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(stream)
}
