//! The live progress line on a terminal: records so far, the share of the
//! last run's count, the time elapsed and the expected end, redrawn in
//! place by `indicatif` and cleared when the gate ends.
//!
//! It exists only when stderr is a terminal and the logs are text (a JSON
//! log is for machines); without colour for `NO_COLOR` and `TERM=dumb`.
//! Log lines go through [`LogWriter`], which lifts the line while a log
//! line is written, so the two never garble each other. The text shown
//! comes from the server (ids, counts) and is stripped of control
//! characters before it reaches the terminal.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static LINE: OnceLock<ProgressBar> = OnceLock::new();

/// Whether a progress line belongs on this stderr: a terminal, text logs.
pub fn wanted(json_logs: bool) -> bool {
    !json_logs && std::io::stderr().is_terminal()
}

/// Whether the line may use colour (not with `NO_COLOR` or `TERM=dumb`).
pub fn colour(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env("NO_COLOR").is_none_or(|v| v.is_empty()) && env("TERM").as_deref() != Some("dumb")
}

/// Starts the line (once per process).
pub fn start(colour: bool) {
    let template = if colour {
        "{spinner:.cyan} {msg}"
    } else {
        "{spinner} {msg}"
    };
    // The template is a constant known to parse; if a future indicatif
    // refused it, the default style is still a progress line.
    let style =
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(250));
    let _ = LINE.set(bar);
}

/// Shows `text` as the line, if there is one.
pub fn show(text: &str) {
    if let Some(bar) = LINE.get() {
        bar.set_message(clean(text));
    }
}

/// Clears the line for good (before the summary is printed).
pub fn clear() {
    if let Some(bar) = LINE.get() {
        bar.finish_and_clear();
    }
}

/// Server text made safe for one terminal line: control characters out.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The stderr writer of the logs: lifts the progress line while a log line
/// is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match LINE.get() {
            Some(bar) => bar.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match LINE.get() {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf)),
            None => std::io::stderr().write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_is_off_for_no_color_and_a_dumb_terminal() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(colour(&env(&[("TERM", "xterm")])));
        assert!(!colour(&env(&[("TERM", "xterm"), ("NO_COLOR", "1")])));
        assert!(colour(&env(&[("TERM", "xterm"), ("NO_COLOR", "")])));
        assert!(!colour(&env(&[("TERM", "dumb")])));
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(clean("c1\u{1b}[2J\r\nx\u{7}"), "c1 [2J  x ");
    }
}
