//! Log output: human-readable text by default, JSON lines with `--log-format json`.
//!
//! The level comes from `RUST_LOG` (default `info`). Lines are written to stderr in batches
//! by a background thread ([`batch`]), so a request never waits for the terminal or a log
//! pipe; if that thread falls more than [`batch::MAX_PENDING_BYTES`] behind, further lines
//! are dropped rather than slowing requests down. Nothing logs a secret or a token: the
//! audit events of token requests name clients, grants, outcomes, key ids and token ids.

mod batch;
#[cfg(test)]
mod capture;
mod plain;

use tracing_subscriber::EnvFilter;

use batch::{BatchSink, FlushGuard};
use plain::{PlainFields, PlainText};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Keeps the background writer alive; dropping it flushes the remaining lines.
#[derive(Debug)]
#[must_use = "dropping the guard stops logging"]
pub(crate) struct LogGuard {
    _writer: Option<FlushGuard>,
}

/// Installs the global subscriber, writing to stderr. Safe to call more than once
/// (later calls do nothing). Fails only if the writer thread cannot be started.
pub(crate) fn init(format: LogFormat) -> std::io::Result<LogGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = BatchSink::spawn(std::io::stderr())?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    let installed = match format {
        LogFormat::Text if ansi => builder.try_init(),
        LogFormat::Text => builder.event_format(PlainText).fmt_fields(PlainFields).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Ok(LogGuard { _writer: installed.ok().map(|()| guard) })
}
