//! What the process tells its operator: structured logs with `tracing` on stderr
//! (human-readable by default, coloured only when stderr is a terminal; JSON lines with
//! `--log-format json`, never coloured; level from `RUST_LOG`, default `info`),
//! Prometheus metrics (`metrics`), the time spent screening appends (`spent`) and CPU
//! samples of this process and its database backends (`cpu`, read by the benchmarks).

pub mod cpu;
pub mod metrics;
pub mod spent;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init`: a second initialisation (tests) is not an error worth failing on.
    let _ = match format {
        // Escape codes only for a terminal: logs redirected to a file or a pipe (systemd,
        // `2> serve.log`) stay plain text.
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        // A JSON consumer never wants escape codes inside its strings.
        LogFormat::Json => builder
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
