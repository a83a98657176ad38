//! Everything the gate writes when it ends, one file per output: the
//! summary on stdout as a line (`line`) or a JSON object (`json`); in
//! GitHub Actions the step outputs and workflow commands (`github`) and
//! the step summary table (`markdown`); the variables `-- COMMAND` runs
//! with (`env`). `view` is what they share: the cache and execution a
//! report is about, as text.
//!
//! Builders are pure (report → text); [`emit`] and [`emit_usage_error`]
//! are the only places that write (the GitHub files through `files`,
//! within a time budget), and a failed write never changes the exit code.

mod env;
mod files;
mod github;
mod json;
mod line;
mod markdown;
mod queries;
#[cfg(test)]
mod tests;
mod view;

use std::io::Write;

use serde_json::json;

use crate::cli::Format;
use crate::exit_codes::Outcome;
use crate::gate::Report;

pub use env::command_env;
pub use files::GITHUB_FILE_BUDGET;
pub use github::{
    MAX_OUTPUT_BYTES, annotation, error_command, github_outputs, warning_annotations,
};
pub use json::write_summary_json;
pub use line::summary_line;
pub use markdown::{MAX_SUMMARY_ROWS, step_summary};

use files::append_all;

/// Writes the summary to stdout and, in GitHub Actions, the step files.
/// `env` reads the environment (a parameter so tests can supply one).
pub fn emit(report: &Report, output: Format, env: &dyn Fn(&str) -> Option<String>) {
    let mut files = Vec::new();
    if let Some(path) = env("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        files.push(("GITHUB_OUTPUT", path, github_outputs(report)));
    }
    if let Some(path) = env("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        files.push(("GITHUB_STEP_SUMMARY", path, step_summary(report)));
    }
    append_all(files);
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (`| head`) must not turn into a panic or another
    // exit code: the exit code is the answer, the summary a courtesy.
    if env("GITHUB_ACTIONS").as_deref() == Some("true") {
        for line in warning_annotations(report)
            .iter()
            .chain(&annotation(report))
        {
            let _ = writeln!(stdout, "{line}");
        }
    }
    let _ = match output {
        Format::Text => writeln!(stdout, "{}", summary_line(report)).and_then(|()| {
            // The last line, so that a script can take it with `tail -n 1`.
            match &report.resume {
                Some(token) => writeln!(stdout, "resume: {token}"),
                None => Ok(()),
            }
        }),
        Format::Json => {
            let mut buffered = std::io::BufWriter::new(&mut stdout);
            write_summary_json(report, &mut buffered)
                .and_then(|()| buffered.write_all(b"\n"))
                .and_then(|()| buffered.flush())
        }
    };
    let _ = stdout.flush();
}

/// Writes what a usage error (exit 2) leaves besides its line on stderr:
/// in GitHub Actions the `result` and `exit-code` outputs and an `::error`
/// annotation, and with `--output json` the summary object. `message` is
/// our own wording and holds no key (the checks never echo one).
pub fn emit_usage_error(message: &str, output: Format, env: &dyn Fn(&str) -> Option<String>) {
    let outcome = Outcome::Usage;
    if let Some(path) = env("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        let text = format!("result={}\nexit-code={}\n", outcome.name(), outcome.code());
        append_all(vec![("GITHUB_OUTPUT", path, text)]);
    }
    let mut stdout = std::io::stdout().lock();
    if env("GITHUB_ACTIONS").as_deref() == Some("true") {
        let title = format!("peaka-wait: {}", outcome.name());
        let _ = writeln!(stdout, "{}", error_command(&title, message));
    }
    if output == Format::Json {
        let summary = json!({
            "result": outcome.name(),
            "exitCode": outcome.code(),
            "message": message,
        });
        let _ = serde_json::to_writer(crate::text::SeparatorEscaper(&mut stdout), &summary);
        let _ = writeln!(stdout);
    }
    let _ = stdout.flush();
}
