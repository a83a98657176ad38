//! The live progress line on a terminal: the cache, its records so far and
//! the share of the last run's count, the time elapsed and the countdown
//! to the expected end, redrawn in place by `indicatif` and cleared when
//! the gate ends.
//!
//! The gate sets the line's facts after each poll ([`show`]); a ticker
//! redraws it twice a second from them, so the elapsed time and the
//! countdown move between polls that may be minutes apart. The line is cut
//! to the terminal's width (indicatif's `wide_msg`), or a redraw could not
//! clear what it drew.
//!
//! It exists only when a person watches stderr ([`wanted`]); without colour
//! for `NO_COLOR` and `TERM=dumb`. Log lines go through [`LogWriter`],
//! which lifts the line while a log line is written, so the two never
//! garble each other. Server text (ids, counts) is escaped with
//! [`one_line`] before it reaches the terminal.

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::terminal;
use crate::text::one_line;
use crate::timespec::format_duration;

static LINE: OnceLock<ProgressBar> = OnceLock::new();
static FACTS: Mutex<Option<Line>> = Mutex::new(None);

/// How often the line is redrawn from its facts: often enough that the
/// seconds never skip.
const TICK: Duration = Duration::from_millis(500);

/// What the line says, as of the last poll.
#[derive(Debug, Clone)]
pub struct Line {
    /// The cache ("cache c1"); escaped here.
    pub cache: String,
    /// What is known of its run ("incremental sync, 1200 records (40% of
    /// the last run's)"); escaped here.
    pub run: String,
    /// When the gate started.
    pub started: Instant,
    /// The expected end, when a forecast has one.
    pub expected: Option<Expected>,
}

/// The expected end of the awaited run.
#[derive(Debug, Clone)]
pub struct Expected {
    /// As shown: the server's time, to the second.
    pub at: String,
    /// The same moment on this machine's monotonic clock; `None` when it
    /// is already past.
    pub when: Option<Instant>,
}

impl Line {
    /// The text at `now`: the cache, the time elapsed and the countdown,
    /// then the run (last: where the terminal is narrow, it is what is cut).
    pub fn render(&self, now: Instant) -> String {
        let mut text = format!(
            "{}: {} elapsed",
            one_line(&self.cache),
            seconds(now.saturating_duration_since(self.started))
        );
        if let Some(expected) = &self.expected {
            let left = expected
                .when
                .map(|when| when.saturating_duration_since(now))
                .filter(|left| !left.is_zero());
            let eta = match left {
                // Rounded up: "in 0s" while it is not yet due reads wrong.
                Some(left) => format!("in {}", seconds(seconds_up(left))),
                None => "overdue".to_owned(),
            };
            text.push_str(&format!(", expected at {} ({eta})", expected.at));
        }
        text.push_str("; ");
        text.push_str(&one_line(&self.run));
        text
    }
}

/// To the whole second, "0s" included: the line counts seconds.
fn seconds(d: Duration) -> String {
    match d.as_secs() {
        0 => "0s".to_owned(),
        s => format_duration(Duration::from_secs(s)),
    }
}

fn seconds_up(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

/// Whether a progress line belongs on this stderr: text logs, not `-q`,
/// not under CI, and a terminal.
pub fn wanted(json_logs: bool, quiet: bool, env: &dyn Fn(&str) -> Option<String>) -> bool {
    !json_logs && !quiet && !terminal::ci(env) && terminal::stderr()
}

/// Starts the line (once per process) and its ticker.
pub fn start(colour: bool) {
    let template = if colour {
        "{spinner:.cyan} {wide_msg}"
    } else {
        "{spinner} {wide_msg}"
    };
    // The template is a constant known to parse; if a future indicatif
    // refused it, the default style is still a progress line.
    let style =
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(250));
    if LINE.set(bar.clone()).is_err() {
        return;
    }
    // A plain thread: the gate's runtime is single-threaded and busy
    // polling; the ticker only reads the facts and ends with the line.
    std::thread::spawn(move || {
        while !bar.is_finished() {
            redraw(&bar);
            std::thread::sleep(TICK);
        }
    });
}

fn redraw(bar: &ProgressBar) {
    let text = match FACTS.lock() {
        Ok(facts) => facts.as_ref().map(|line| line.render(Instant::now())),
        Err(_) => None,
    };
    if let Some(text) = text {
        bar.set_message(text);
    }
}

/// Sets the line's facts, if there is a line.
pub fn show(line: Line) {
    let Some(bar) = LINE.get() else {
        return;
    };
    if let Ok(mut facts) = FACTS.lock() {
        *facts = Some(line);
    }
    redraw(bar);
}

/// Clears the line for good (before the summary is printed).
pub fn clear() {
    if let Some(bar) = LINE.get() {
        bar.finish_and_clear();
    }
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
    fn server_text_is_escaped_bidi_and_separators_too() {
        let start = Instant::now();
        let line = Line {
            cache: "cache c1\u{1b}[2J\r\n\u{202e}x\u{2028}".to_owned(),
            run: "incremental sync\u{7}".to_owned(),
            started: start,
            expected: None,
        };
        let text = line.render(start);
        assert!(!text.chars().any(|c| c.is_control()), "{text:?}");
        assert!(
            !text.contains('\u{202e}') && !text.contains('\u{2028}'),
            "{text:?}"
        );
        assert_eq!(
            text,
            "cache c1\\u{1b}[2J\\r\\n\\u{202e}x\\u{2028}: 0s elapsed; incremental sync\\u{7}"
        );
    }

    #[test]
    fn elapsed_and_countdown_move_with_the_clock() {
        let start = Instant::now();
        let line = Line {
            cache: "cache c1".to_owned(),
            run: "incremental sync".to_owned(),
            started: start,
            expected: Some(Expected {
                at: "2026-01-01T00:00:40Z".to_owned(),
                when: Some(start + Duration::from_secs(40)),
            }),
        };
        assert_eq!(
            line.render(start + Duration::from_millis(1500)),
            "cache c1: 1s elapsed, expected at 2026-01-01T00:00:40Z (in 39s); incremental sync"
        );
        assert_eq!(
            line.render(start + Duration::from_secs(31)),
            "cache c1: 31s elapsed, expected at 2026-01-01T00:00:40Z (in 9s); incremental sync"
        );
        assert!(
            line.render(start + Duration::from_secs(40))
                .contains("(overdue);"),
            "{}",
            line.render(start + Duration::from_secs(40))
        );
        let past = Line {
            expected: Some(Expected {
                at: "x".to_owned(),
                when: None,
            }),
            ..line
        };
        assert!(past.render(start).contains("(overdue);"));
    }
}
