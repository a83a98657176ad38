//! What every output says of a report besides the outcome: the cache
//! that decided, the execution it was decided on, the executions looked
//! at, and their fields as one-line text.

use crate::api::{Execution, ExecutionKind};
use crate::decision::ExecutionFilter;
use crate::gate::{CacheReport, Report};
use crate::text::one_line;

/// How long a finished execution ran (`finishedAt` − `createdAt`).
pub(super) fn took(e: &crate::api::Execution) -> Option<std::time::Duration> {
    let span = e.finished_at.at()?.duration_since(e.created_at?);
    std::time::Duration::try_from(span).ok()
}

/// Every execution the decision looked at: with `--execution both`, one
/// per slot; otherwise the focused one.
pub(super) fn looked_at<'a>(
    report: &Report,
    cache: &'a CacheReport,
) -> Vec<(ExecutionKind, &'a Execution)> {
    match (report.execution, cache.status.as_ref()) {
        (ExecutionFilter::Both, Some(status)) => ExecutionFilter::Both
            .slots()
            .iter()
            .filter_map(|&kind| status.execution(kind).map(|e| (kind, e)))
            .collect(),
        _ => focused_execution(cache).into_iter().collect(),
    }
}

/// One execution's fields as text, empty where there is nothing to say:
/// what the GitHub outputs and a step-summary row show. Outside text is
/// already on one line here.
#[derive(Default)]
pub(super) struct ExecutionText {
    pub(super) kind: String,
    pub(super) id: String,
    pub(super) status: String,
    pub(super) finished_at: String,
    pub(super) records: String,
}

impl ExecutionText {
    pub(super) fn of(execution: Option<(ExecutionKind, &Execution)>) -> ExecutionText {
        let Some((kind, e)) = execution else {
            return ExecutionText::default();
        };
        ExecutionText {
            kind: kind.as_str().to_owned(),
            id: e.id.as_deref().map(line).unwrap_or_default(),
            status: e
                .status
                .as_ref()
                .map(|s| line(s.as_str()))
                .unwrap_or_default(),
            finished_at: e
                .finished_at
                .at()
                .map(|t| t.to_string())
                .unwrap_or_default(),
            records: e.records().map(|n| n.to_string()).unwrap_or_default(),
        }
    }
}

pub(super) fn line(text: &str) -> String {
    one_line(text).into_owned()
}

pub(super) fn cache_status(cache: &CacheReport) -> String {
    cache
        .status
        .as_ref()
        .map(|s| line(s.status.as_str()))
        .unwrap_or_default()
}

pub(super) fn focused_execution(cache: &CacheReport) -> Option<(ExecutionKind, &Execution)> {
    let kind = cache.decision.as_ref()?.focus?;
    Some((kind, cache.status.as_ref()?.execution(kind)?))
}

/// The cache the per-cache outputs describe: the one that decided.
pub(super) fn deciding(report: &Report) -> Option<&CacheReport> {
    report
        .decided_by
        .and_then(|i| report.caches.get(i))
        .or_else(|| report.caches.first())
}
