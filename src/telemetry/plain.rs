//! The text line format for logs that go to a file or a pipe (no terminal, so no colours).
//!
//! The layout is tracing-subscriber's default without ANSI:
//! `2026-11-22T03:01:48.752926Z  INFO tokenmint::http::token: token request client_id="bench" ...`,
//! written with a handful of `write_str` calls. The default formatter routes every part
//! through a colour-styling wrapper even when colours are off, which made the request log
//! line cost about as much again as the fields themselves. [`PlainFields`] writes the
//! fields the same way tracing-subscriber does (string values quoted and escaped), with
//! direct paths for the values a request line carries.
//!
//! Measured gain: issuance +2.8% head to head (1.018–1.037 over 6 pairs of fresh processes)
//! against the same build logging through tracing-subscriber's default formatter with ANSI
//! off: `bench/ab.sh <that build> target/release/tokenmint` (BENCHMARKS.md). Gathering the
//! fields in a buffer of [`PlainFields`]' own, with direct messages and addresses, then took
//! the audit event from 9,189 to 6,050 instructions (`bench/callgrind.sh`), part of a +2.3%
//! measured together with a smaller request future (1.008–1.036 over 6 pairs, Intel Xeon).
//!
//! Which characters a message may carry unescaped is tracing-subscriber 0.3's rule (its
//! `EscapingWriter`); the fields test compares every line with what tracing-subscriber
//! writes, messages with each of those characters included, so a change of that rule fails it.

use std::fmt::{self, Write as _};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::text::is_plain;

/// Formats one event per line: UTC timestamp (microseconds), level, target, fields.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PlainText;

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

/// Formats fields as tracing-subscriber's `DefaultFields` does without colours: `name=value`
/// pairs separated by spaces, the message first and bare, `&str` values in `Debug` quotes.
/// Plain strings (printable ASCII without quotes or backslashes, which `Debug` writes
/// unchanged), integers, and messages without a character tracing-subscriber escapes are
/// written directly; everything else goes through tracing-subscriber's own visitor, so
/// escaping is never ours.
///
/// The fields are gathered in a buffer of the visitor's own and handed to the line's writer
/// in one piece: the writer is a `dyn fmt::Write`, and a dozen fields cost some fifty calls
/// through it otherwise (about a third of an audit event's cost by instruction count).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PlainFields;

/// Room for an audit event's fields without regrowing.
const FIELDS_CAPACITY: usize = 512;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor =
            PlainVisitor { out: String::with_capacity(FIELDS_CAPACITY), first: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result?;
        writer.write_str(&visitor.out)
    }
}

/// The visitor behind [`PlainFields`].
struct PlainVisitor {
    /// The fields written so far.
    out: String,
    /// No field written yet (no separating space).
    first: bool,
    result: fmt::Result,
}

impl PlainVisitor {
    /// The name a field is written under, if this visitor writes it itself: not the message
    /// (written bare) and not `log.` metadata (which tracing-subscriber skips).
    fn direct_name(field: &Field) -> Option<&'static str> {
        match field.name() {
            "message" => None,
            name if name.starts_with("log.") => None,
            name => Some(name.strip_prefix("r#").unwrap_or(name)),
        }
    }

    /// Writes `field` itself, as `name=` and then what `value` writes, and returns true; or
    /// returns false, having written nothing, if the field is tracing-subscriber's to write.
    /// After an earlier write error nothing more is written.
    fn direct(&mut self, field: &Field, value: impl FnOnce(&mut String) -> fmt::Result) -> bool {
        let Some(name) = Self::direct_name(field) else {
            return false;
        };
        if self.result.is_ok() {
            self.separate();
            self.out.push_str(name);
            self.out.push('=');
            self.result = value(&mut self.out);
        }
        true
    }

    /// A space before every field but the first.
    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.out.push(' ');
        }
    }

    /// Hands one field to tracing-subscriber's visitor.
    fn default_field(&mut self, field: &Field, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        let mut visitor = DefaultVisitor::new(Writer::new(&mut self.out), self.first);
        record(&mut visitor);
        self.result = visitor.finish();
        self.first = false;
    }

    fn integer(&mut self, field: &Field, value: impl itoa::Integer + fmt::Debug) {
        if !self.direct(field, |out| {
            out.push_str(itoa::Buffer::new().format(value));
            Ok(())
        }) {
            self.default_field(field, |v| v.record_debug(field, &value));
        }
    }

    /// The message, bare, as tracing-subscriber writes it when it has nothing to escape:
    /// written here and kept, or taken back for tracing-subscriber's visitor.
    fn message(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        let (mark, first) = (self.out.len(), self.first);
        self.separate();
        let text = self.out.len();
        let written = write!(self.out, "{value:?}");
        if written.is_err() || self.out[text..].chars().any(is_escaped_in_messages) {
            self.out.truncate(mark);
            self.first = first;
            self.default_field(field, |v| v.record_debug(field, value));
        }
    }
}

/// The characters tracing-subscriber escapes in a message (terminal control sequences).
fn is_escaped_in_messages(c: char) -> bool {
    matches!(c, '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}')
}

impl Visit for PlainVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        let quoted = |out: &mut String| {
            out.push('"');
            out.push_str(value);
            out.push('"');
            Ok(())
        };
        if !(is_plain(value) && self.direct(field, quoted)) {
            self.default_field(field, |v| v.record_str(field, value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.integer(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.integer(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // tracing-subscriber sanitizes errors and lists their sources: keep its output.
        self.default_field(field, |v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message(field, value);
        } else if !self.direct(field, |out| write!(out, "{value:?}")) {
            self.default_field(field, |v| v.record_debug(field, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::fmt::format::DefaultFields;

    use super::*;
    use crate::telemetry::capture::Capture;

    /// Every kind of field the service logs, plus values that need escaping.
    fn log_everything() {
        let kid = "Gt7586DskE7KKPO1Ff7IPZ_ypGTxudwfDF4Ka9jjt9M";
        let (client_id, grant_type, latency_us, delta) = ("bench", "client_credentials", 18_u64, -3_i64);
        tracing::info!(client_id, grant_type, outcome = "issued", kid = %kid, latency_us, delta, "token request");
        let hostile = "a\"b\\c\nd\u{1b}[31m\u{e9}";
        // Messages are the service's own text (only ANSI escapes are sanitized there).
        tracing::info!(client_id = hostile, r#type = "x", ok = true, "message with {}", "\u{1b}[31mred");
        tracing::warn!(error = %std::io::Error::other("disk \"full\""), "plain message");
        let source = std::io::Error::other("root cause");
        let error = std::io::Error::other(WithSource(source));
        tracing::error!(error = &error as &(dyn std::error::Error + 'static), "with a source");
        tracing::info!(empty = "", "");
        // A line break is not escaped in a message; C1 controls and DEL are.
        tracing::info!(n = 1_u64, "line\nbreak");
        tracing::info!("c1 \u{85} del \u{7f} bell \u{7} backspace \u{8} form feed \u{c}");
        tracing::info!("tab\tcarriage\rreturn nul\u{0}");
    }

    /// An error with a source, as `record_error` lists them.
    #[derive(Debug)]
    struct WithSource(std::io::Error);

    impl fmt::Display for WithSource {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer")
        }
    }

    impl std::error::Error for WithSource {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    /// The log lines with the fields written by `fields`, timestamps cut off.
    fn lines_with<N>(fields: N) -> Vec<String>
    where
        N: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        let out = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(out.clone())
            .with_ansi(false)
            .event_format(PlainText)
            .fmt_fields(fields)
            .finish();
        tracing::subscriber::with_default(subscriber, log_everything);
        let text = out.text();
        text.lines().map(|l| l.split_once(' ').unwrap().1.to_owned()).collect()
    }

    #[test]
    fn fields_come_out_exactly_as_tracing_subscriber_writes_them() {
        let ours = lines_with(PlainFields);
        assert_eq!(ours, lines_with(DefaultFields::new()));
        assert_eq!(ours.len(), 9);
        assert!(ours[0].ends_with(
            "token request client_id=\"bench\" grant_type=\"client_credentials\" outcome=\"issued\" \
             kid=Gt7586DskE7KKPO1Ff7IPZ_ypGTxudwfDF4Ka9jjt9M latency_us=18 delta=-3"
        ));
        assert!(ours[1].contains(r#"client_id="a\"b\\c\nd\u{1b}[31mé" type="x" ok=true"#), "{}", ours[1]);
        assert!(ours[3].contains("error=outer error.sources=[root cause]"), "{}", ours[3]);
    }
}
