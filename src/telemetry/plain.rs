//! The text line format for logs that go to a file or a pipe (no terminal, so no colours).
//!
//! The layout is tracing-subscriber's default without ANSI:
//! `2026-11-22T03:01:48.752926Z  INFO tokenmint::http::token: token request client_id="bench" ...`,
//! written with a handful of `write_str` calls. The default formatter routes every part
//! through a colour-styling wrapper even when colours are off, which made the request log
//! line cost about as much again as the fields themselves. Fields are formatted by
//! tracing-subscriber as before, so string values stay quoted and escaped.

use std::fmt;
use std::time::SystemTime;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats one event per line: UTC timestamp (microseconds), level, target, fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainText;

impl<S, N> FormatEvent<S, N> for PlainText
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        write!(writer, "{}", humantime::format_rfc3339_micros(SystemTime::now()))?;
        writer.write_str(level_column(*meta.level()))?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.name())?;
                writer.write_char(':')?;
            }
            writer.write_char(' ')?;
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// The level, right-aligned in five columns between single spaces, as the default format has it.
fn level_column(level: Level) -> &'static str {
    match level {
        Level::ERROR => " ERROR ",
        Level::WARN => "  WARN ",
        Level::INFO => "  INFO ",
        Level::DEBUG => " DEBUG ",
        Level::TRACE => " TRACE ",
    }
}
