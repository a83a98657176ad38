//! The step summary (`$GITHUB_STEP_SUMMARY`): a Markdown table with a
//! row per cache, every cell escaped.

use super::line::summary_line;
use super::view::{ExecutionText, cache_status, focused_execution, looked_at, took};
use crate::gate::{CacheReport, CacheState, Report};
use crate::text::one_line;
use crate::timespec::format_duration;

/// The step summary's "took / usually takes" cell.
fn took_and_usual(cache: &CacheReport) -> String {
    let took = focused_execution(cache)
        .and_then(|(_, e)| took(e))
        .map(format_duration);
    let usual = cache
        .forecast
        .as_ref()
        .map(|f| format_duration(std::time::Duration::from_secs(f.usual.median.as_secs())));
    match (took, usual) {
        (Some(took), Some(usual)) => format!("{took} / {usual}"),
        (Some(took), None) => took,
        (None, Some(usual)) => format!("— / {usual}"),
        (None, None) => String::new(),
    }
}

/// A Markdown section for `$GITHUB_STEP_SUMMARY`, with a row per cache
/// (per execution with `--execution both`).
pub fn step_summary(report: &Report) -> String {
    let mut out = format!(
        "### peaka-wait: {}\n\n{}\n\n| Cache | State | Cache status | Kind | Execution | Execution status | Finished at | Records | Took / usually takes |\n|---|---|---|---|---|---|---|---|---|\n",
        report.outcome.name(),
        cell(&summary_line(report))
    );
    // GitHub shows at most 1 MiB of a step's summary: past a thousand
    // caches, the ready ones are counted instead of listed.
    let listed = |i: usize, cache: &CacheReport| {
        report.caches.len() <= MAX_SUMMARY_ROWS
            || cache.state != CacheState::Ready
            || report.decided_by == Some(i)
    };
    let unlisted = (report.caches.iter().enumerate())
        .filter(|(i, c)| !listed(*i, c))
        .count();
    for (i, cache) in report.caches.iter().enumerate() {
        if !listed(i, cache) {
            continue;
        }
        let executions = looked_at(report, cache);
        let rows: Vec<ExecutionText> = if executions.is_empty() {
            vec![ExecutionText::default()]
        } else {
            executions
                .into_iter()
                .map(|e| ExecutionText::of(Some(e)))
                .collect()
        };
        for text in rows {
            let row = [
                cache.cache_id.clone(),
                cache.state.as_str().to_owned(),
                cache_status(cache),
                text.kind,
                text.id,
                text.status,
                text.finished_at,
                text.records,
                took_and_usual(cache),
            ];
            out.push_str("| ");
            out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
            out.push_str(" |\n");
        }
    }
    if !report.queries.is_empty() {
        out.push_str("\n| Materialized query | Name | State | Status | Started at | Updated at |\n|---|---|---|---|---|---|\n");
        for query in &report.queries {
            let text = super::queries::QueryText::of(Some(query));
            let row = [
                text.id,
                text.name,
                text.state,
                text.status,
                text.started_at,
                text.updated_at,
            ];
            out.push_str("| ");
            out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
            out.push_str(" |\n");
        }
    }
    if unlisted > 0 {
        out.push_str(&format!("\n{unlisted} more caches are ready (all are in the JSON summary on stdout with `--output json`, and in the log).\n"));
    }
    out.push('\n');
    out
}

/// The most cache rows a step summary lists in full.
pub const MAX_SUMMARY_ROWS: usize = 1000;

/// Makes text safe inside one Markdown table cell: nothing in it can end
/// the cell, start a new line, or become HTML or code.
fn cell(text: &str) -> String {
    one_line(text)
        .replace('&', "&amp;")
        .replace('\\', "&#92;")
        .replace('|', "&#124;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "&#96;")
}
