//! Logs on stderr: human text or one JSON object per line, at the level
//! the user chose.
//!
//! Only this crate's events pass the filter (others only at `error`), so a
//! dependency's trace output can never carry a request — and with it the
//! key — to the logs. A `Targets` filter does this without the regex engine
//! that `EnvFilter` brings, which keeps the binary small and fast to start.
//!
//! Every line is escaped here, whatever it interpolates: a server's text
//! with a line break must not start a line of its own (in GitHub Actions a
//! line that starts with `::` is a workflow command).
//!
//! On a terminal a line is the sentence alone, `warning:` or `error:` before
//! it where it is one (as cargo, uv and gh write): a person reads it as it
//! happens and needs no stamp. A pipe keeps the time stamp and the level on
//! every line, for the log it ends up in.

use std::fmt;

use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

use crate::cli::{Format, LogLevel};
use crate::text::{SeparatorEscaper, one_line};

/// Installs the global subscriber. Called once, before anything logs.
pub fn init(format: Format, level: LogLevel, env: &dyn Fn(&str) -> Option<String>) {
    let level = match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    };
    let filter = Targets::new()
        .with_target("peaka_wait", level)
        .with_default(LevelFilter::ERROR);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        Format::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_target(false)
                    .with_writer(|| SeparatorEscaper(std::io::stderr())),
            )
            .try_init(),
        Format::Text => {
            let on_terminal = crate::terminal::stderr();
            let ansi = on_terminal && crate::terminal::colour(env);
            // People read the sentence; the fields repeat it for machines,
            // who get them with --log-format json.
            let message_only = tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
                if field.name() == "message" {
                    write!(writer, "{}", one_line(&format!("{value:?}")))
                } else {
                    Ok(())
                }
            });
            let layer = tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_ansi(ansi)
                .fmt_fields(message_only)
                .with_writer(crate::progress::LogWriter);
            if on_terminal {
                registry.with(layer.event_format(Terse { ansi })).try_init()
            } else {
                registry.with(layer).try_init()
            }
        }
    };
    // Only fails if a subscriber is already set (a test harness); keep it.
    let _ = installed;
}

/// A log line for a person at a terminal: `warning: `/`error: ` (bold,
/// coloured when allowed) or nothing for `info`, then the sentence.
struct Terse {
    ansi: bool,
}

impl<S, N> FormatEvent<S, N> for Terse
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
        let (label, colour) = match *event.metadata().level() {
            Level::ERROR => ("error", "31"),
            Level::WARN => ("warning", "33"),
            Level::INFO => ("", ""),
            Level::DEBUG => ("debug", "34"),
            Level::TRACE => ("trace", "35"),
        };
        match (label.is_empty(), self.ansi) {
            (true, _) => {}
            (false, true) => write!(
                writer,
                "\u{1b}[1;{colour}m{label}\u{1b}[0m\u{1b}[1m:\u{1b}[0m "
            )?,
            (false, false) => write!(writer, "{label}: ")?,
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
