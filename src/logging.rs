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

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use crate::cli::{Format, LogLevel};
use crate::text::{SeparatorEscaper, one_line};

/// Installs the global subscriber. Called once, before anything logs.
pub fn init(format: Format, level: LogLevel) {
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
            let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            // People read the sentence; the fields repeat it for machines,
            // who get them with --log-format json.
            let message_only = tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
                if field.name() == "message" {
                    write!(writer, "{}", one_line(&format!("{value:?}")))
                } else {
                    Ok(())
                }
            });
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_target(false)
                        .with_ansi(ansi)
                        .fmt_fields(message_only)
                        .with_writer(crate::progress::LogWriter),
                )
                .try_init()
        }
    };
    // Only fails if a subscriber is already set (a test harness); keep it.
    let _ = installed;
}
