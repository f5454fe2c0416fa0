//! Log output: human-readable text by default, JSON lines with `--log-format json`.
//!
//! The level comes from `RUST_LOG` (default `info`). Lines are written to stderr by a
//! background thread, so a request never waits for the terminal or a log pipe; if that
//! thread falls more than [`BUFFERED_LINES`] behind, further lines are dropped rather than
//! slowing requests down. Nothing logs a secret or a token: request logging records client
//! ids, grant types, outcomes and latencies only.

use tracing_subscriber::EnvFilter;

/// Log lines buffered on their way to stderr.
pub const BUFFERED_LINES: usize = 8 * 1024;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Keeps the background writer alive; dropping it flushes the remaining lines.
#[derive(Debug)]
#[must_use = "dropping the guard stops logging"]
pub struct LogGuard {
    _worker: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Installs the global subscriber, writing to stderr. Safe to call more than once
/// (later calls do nothing).
pub fn init(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LINES)
        .lossy(true)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    LogGuard { _worker: installed.ok().map(|()| guard) }
}
