//! GitHub Actions: the step outputs (`$GITHUB_OUTPUT`) and the `::error`
//! and `::warning` workflow commands, each value on one line and escaped
//! as the runner unescapes it.

use super::json::summary_json_within;
use super::queries::{QueryText, deciding_query};
use super::view::{ExecutionText, cache_status, deciding, focused_execution, line, looked_at};
use crate::api::ExecutionKind;
use crate::gate::Report;
use crate::text::one_line;

/// The step outputs, in the `$GITHUB_OUTPUT` file format. The per-cache
/// outputs describe the cache that decided the outcome; `summary-json`
/// has them all. Every value is one line, so no value can define another
/// output.
pub fn github_outputs(report: &Report) -> String {
    let cache = deciding(report);
    let focus = ExecutionText::of(cache.and_then(focused_execution));
    let query = QueryText::of(deciding_query(report));
    let slot = |kind: ExecutionKind| {
        cache
            .and_then(|c| {
                looked_at(report, c)
                    .into_iter()
                    .find(|(k, _)| *k == kind)
                    .and_then(|(_, e)| e.id.as_deref())
            })
            .map(line)
            .unwrap_or_default()
    };
    let pairs = [
        ("result", report.outcome.name().to_owned()),
        ("exit-code", report.outcome.code().to_string()),
        (
            "cache-id",
            cache.map(|c| line(&c.cache_id)).unwrap_or_default(),
        ),
        ("cache-status", cache.map(cache_status).unwrap_or_default()),
        ("execution-id", focus.id),
        ("execution-kind", focus.kind),
        ("finished-at", focus.finished_at),
        ("records", focus.records),
        ("incremental-execution-id", slot(ExecutionKind::Incremental)),
        ("full-execution-id", slot(ExecutionKind::Full)),
        // Empty but after --no-wait; a token is one printable ASCII word,
        // so it cannot break the file.
        ("resume", report.resume.clone().unwrap_or_default()),
        ("materialized-query-id", query.id),
        ("materialized-query-status", query.status),
        ("materialized-query-started-at", query.started_at),
        ("materialized-query-updated-at", query.updated_at),
    ];
    let mut out = String::new();
    for (name, value) in pairs {
        out.push_str(name);
        out.push('=');
        out.push_str(&value);
        out.push('\n');
    }
    out.push_str("summary-json=");
    out.push_str(&summary_json_within(report, MAX_OUTPUT_BYTES));
    out.push('\n');
    out
}

/// GitHub refuses more than 1 MB of outputs for a job; the other outputs
/// are a few hundred bytes.
pub const MAX_OUTPUT_BYTES: usize = 900_000;

/// The `::error` workflow command for a result other than `ready`.
pub fn annotation(report: &Report) -> Option<String> {
    if report.outcome.code() == 0 {
        return None;
    }
    Some(error_command(
        &format!("peaka-wait: {}", report.outcome.name()),
        &report.message,
    ))
}

/// An `::error` workflow command with this title and message, each
/// escaped as the runner unescapes them.
pub fn error_command(title: &str, message: &str) -> String {
    workflow_command("error", title, message)
}

/// The `::warning` workflow commands for what the gate warned of once
/// (an execution never picked up), one per cache.
pub fn warning_annotations(report: &Report) -> Vec<String> {
    report
        .caches
        .iter()
        .filter_map(|c| c.warning.as_deref())
        .map(|warning| workflow_command("warning", "peaka-wait: not picked up", warning))
        .collect()
}

fn workflow_command(command: &str, title: &str, message: &str) -> String {
    format!(
        "::{command} title={}::{}",
        escape_property(title),
        escape_data(&one_line(message))
    )
}

/// Workflow-command message escaping, as the runner unescapes it.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow-command property escaping: data escaping plus `:` and `,`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}
