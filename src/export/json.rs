//! The summary as one JSON object (`--output json`, and the
//! `summary-json` step output), written a cache at a time.

use std::io::Write;

use serde_json::{Value, json};

use super::view::{focused_execution, looked_at, took};
use crate::api::{Execution, ExecutionKind};
use crate::gate::{CacheReport, CacheState, Report};
use crate::timespec::millis;

/// Writes the summary JSON object on one line, one cache at a time, so
/// that the summary of 10,000 caches is never held whole in memory.
/// U+2028/U+2029 are written escaped (serde leaves them raw, and some
/// viewers break lines at them).
pub fn write_summary_json(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    write_summary_json_of(report, &|_| true, out)
}

/// [`write_summary_json`] with only the caches `keep` keeps; when it
/// leaves any out, `cachesOmitted` says how many.
fn write_summary_json_of(
    report: &Report,
    keep: &dyn Fn(usize) -> bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut out = crate::text::SeparatorEscaper(out);
    let head = [
        ("result", json!(report.outcome.name())),
        ("exitCode", json!(report.outcome.code())),
        ("message", json!(report.message)),
        ("elapsedMs", json!(millis(report.elapsed))),
        ("polls", json!(report.polls)),
    ];
    // Only when given: the absolute bounds a re-run can be given, and the
    // token a --resume waits with.
    let optional = [
        ("since", report.since.map(|t| json!(t.to_string()))),
        (
            "startedAfter",
            report.started_after.map(|t| json!(t.to_string())),
        ),
        ("resume", report.resume.as_ref().map(|t| json!(t))),
    ];
    let present = optional
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)));
    out.write_all(b"{")?;
    for (name, value) in head.into_iter().chain(present) {
        serde_json::to_writer(&mut out, name)?;
        out.write_all(b":")?;
        serde_json::to_writer(&mut out, &value)?;
        out.write_all(b",")?;
    }
    let omitted = (0..report.caches.len()).filter(|&i| !keep(i)).count();
    if omitted > 0 {
        write!(out, "\"cachesOmitted\":{omitted},")?;
    }
    out.write_all(b"\"caches\":[")?;
    let kept = report.caches.iter().enumerate().filter(|(i, _)| keep(*i));
    for (n, (_, cache)) in kept.enumerate() {
        if n > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut out, &cache_json(report, cache))?;
    }
    out.write_all(b"]")?;
    // Only when materialized queries were awaited.
    if !report.queries.is_empty() {
        out.write_all(b",\"materializedQueries\":[")?;
        for (n, query) in report.queries.iter().enumerate() {
            if n > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut out, &super::queries::query_json(query))?;
        }
        out.write_all(b"]")?;
    }
    out.write_all(b"}")
}

fn cache_json(report: &Report, cache: &CacheReport) -> Value {
    let mut object = json!({
        "projectId": report.project_id,
        "cacheId": cache.cache_id,
        "state": cache.state.as_str(),
        "cacheStatus": cache.status.as_ref().map(|s| s.status.as_str()),
        "execution": focused_execution(cache).map(execution_json),
        "executions": looked_at(report, cache).into_iter().map(execution_json).collect::<Vec<_>>(),
        "expectedFinishAt": cache.forecast.as_ref().and_then(|f| f.expected).map(|t| t.to_string()),
        "forecast": cache.forecast.as_ref().map(|f| f.to_json()),
        "durationMs": focused_execution(cache).and_then(|(_, e)| took(e)).map(millis),
        "lastMovedAt": cache.last_moved_at.map(|t| t.to_string()),
    });
    if let Some(fields) = object.as_object_mut() {
        // Only when the server named the cache's table.
        if let Some(table) = cache.status.as_ref().and_then(crate::tables::table_of) {
            fields.insert("table".into(), json!(table));
        }
        // Only with --cancel-on-exit, when a cancel was due.
        if let Some(cancel) = &cache.cancel {
            fields.insert("cancel".into(), json!(cancel));
        }
    }
    object
}

fn execution_json((kind, e): (ExecutionKind, &Execution)) -> Value {
    json!({
        "kind": kind.as_str(),
        "id": e.id,
        "status": e.status.as_ref().map(|s| s.as_str()),
        "createdAt": e.created_at.map(|t| t.to_string()),
        "finishedAt": e.finished_at.at().map(|t| t.to_string()),
        "records": e.records(),
        "error": e.error_text(),
    })
}

/// The summary JSON within `limit` bytes: whole when it fits; else with
/// only the caches that are not ready and the one that decided (and
/// `cachesOmitted`, how many were left out); else with no caches at all.
/// Stdout always has the whole summary.
pub(super) fn summary_json_within(report: &Report, limit: usize) -> String {
    let not_ready =
        |i: usize| report.caches[i].state != CacheState::Ready || report.decided_by == Some(i);
    let choices: [&dyn Fn(usize) -> bool; 3] = [&|_| true, &not_ready, &|_| false];
    for keep in choices {
        // Measured before it is built: a summary too large for the output
        // is never held in memory.
        let mut size = ByteCount(0);
        if write_summary_json_of(report, keep, &mut size).is_ok() && size.0 <= limit {
            let mut bytes = Vec::with_capacity(size.0);
            let _ = write_summary_json_of(report, keep, &mut bytes);
            return String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    // Not reached: with no caches the summary is a few hundred bytes.
    String::from("{}")
}

/// A writer that only counts.
struct ByteCount(usize);

impl Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
