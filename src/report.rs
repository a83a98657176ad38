//! Everything the gate writes when it ends: the summary on stdout (a line
//! or a JSON object), and in GitHub Actions the step outputs, the step
//! summary table and the `::error` annotation.
//!
//! Builders here are pure (report → text); [`emit`] is the one place that
//! writes, and a failed write never changes the exit code.

use std::io::Write;

use serde_json::{Value, json};

use crate::cli::Format;
use crate::exit_codes::Outcome;
use crate::gate::{CacheReport, Report};
use crate::timespec::{format_duration, millis};

/// The summary as the JSON object documented in the README.
pub fn summary_json(report: &Report) -> Value {
    json!({
        "result": report.outcome.name(),
        "exitCode": report.outcome.code(),
        "message": report.message,
        "elapsedMs": millis(report.elapsed),
        "polls": report.polls,
        "caches": report.caches.iter().map(|cache| cache_json(&report.project_id, cache)).collect::<Vec<_>>(),
    })
}

fn cache_json(project_id: &str, cache: &CacheReport) -> Value {
    let execution = focused_execution(cache).map(|(kind, e)| {
        json!({
            "kind": kind.as_str(),
            "id": e.id,
            "status": e.status.as_ref().map(|s| s.as_str()),
            "createdAt": e.created_at.map(|t| t.to_string()),
            "finishedAt": e.finished_at.map(|t| t.to_string()),
            "records": e.records(),
            "error": e.error.clone().unwrap_or(Value::Null),
        })
    });
    json!({
        "projectId": project_id,
        "cacheId": cache.cache_id,
        "state": cache.state.as_str(),
        "cacheStatus": cache.status.as_ref().map(|s| s.status.as_str()),
        "execution": execution,
        "expectedFinishAt": cache.forecast.as_ref().and_then(|f| f.expected).map(|t| t.to_string()),
        "forecast": cache.forecast.as_ref().map(crate::gate::CacheForecast::to_json),
        "durationMs": focused_execution(cache).and_then(|(_, e)| took(e)).map(millis),
    })
}

/// How long a finished execution ran (`finishedAt` − `createdAt`).
fn took(e: &crate::api::Execution) -> Option<std::time::Duration> {
    let span = e.finished_at?.duration_since(e.created_at?);
    std::time::Duration::try_from(span).ok()
}

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

/// A cache's fields as text, empty where there is nothing to say: what
/// the GitHub outputs and the step-summary row show.
#[derive(Default)]
struct CacheText {
    cache_status: String,
    kind: String,
    execution_id: String,
    execution_status: String,
    finished_at: String,
    records: String,
}

impl CacheText {
    fn of(cache: &CacheReport) -> CacheText {
        let execution = focused_execution(cache);
        let text =
            |f: &dyn Fn(crate::api::ExecutionKind, &crate::api::Execution) -> Option<String>| {
                execution
                    .and_then(|(kind, e)| f(kind, e))
                    .unwrap_or_default()
            };
        CacheText {
            cache_status: cache
                .status
                .as_ref()
                .map(|s| s.status.as_str().to_owned())
                .unwrap_or_default(),
            kind: text(&|kind, _| Some(kind.as_str().to_owned())),
            execution_id: text(&|_, e| e.id.clone()),
            execution_status: text(&|_, e| e.status.as_ref().map(|s| s.as_str().to_owned())),
            finished_at: text(&|_, e| e.finished_at.map(|t| t.to_string())),
            records: text(&|_, e| e.records().map(|n| n.to_string())),
        }
    }
}

fn focused_execution(
    cache: &CacheReport,
) -> Option<(crate::api::ExecutionKind, &crate::api::Execution)> {
    let kind = cache.decision.as_ref()?.focus?;
    Some((kind, cache.status.as_ref()?.execution(kind)?))
}

/// The summary as one readable line.
pub fn summary_line(report: &Report) -> String {
    let polls = if report.polls == 1 {
        "1 poll".to_owned()
    } else {
        format!("{} polls", report.polls)
    };
    format!(
        "{}: {} ({}, {polls})",
        report.outcome.name(),
        report.message,
        format_duration(report.elapsed)
    )
}

/// The step outputs, in the `$GITHUB_OUTPUT` file format. The per-cache
/// outputs describe the first cache; `summary-json` has them all.
pub fn github_outputs(report: &Report) -> String {
    let first = report.caches.first().map(CacheText::of).unwrap_or_default();
    let pairs = [
        ("result", report.outcome.name().to_owned()),
        ("exit-code", report.outcome.code().to_string()),
        ("cache-status", first.cache_status),
        ("execution-id", first.execution_id),
        ("execution-kind", first.kind),
        ("finished-at", first.finished_at),
        ("records", first.records),
        ("summary-json", summary_json(report).to_string()),
    ];
    let mut out = String::new();
    for (name, value) in pairs {
        if value.contains('\n') || value.contains('\r') {
            // The multi-line form; the delimiter must not occur in the value.
            let mut delimiter = format!("ghadelimiter_{}", fastrand::u64(..));
            while value.contains(&delimiter) {
                delimiter = format!("ghadelimiter_{}", fastrand::u64(..));
            }
            out.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
        } else {
            out.push_str(&format!("{name}={value}\n"));
        }
    }
    out
}

/// A Markdown section for `$GITHUB_STEP_SUMMARY`, with a row per cache.
pub fn step_summary(report: &Report) -> String {
    let mut out = format!(
        "### peaka-wait: {}\n\n{}\n\n| Cache | State | Cache status | Kind | Execution | Execution status | Finished at | Records | Took / usually takes |\n|---|---|---|---|---|---|---|---|---|\n",
        report.outcome.name(),
        cell(&summary_line(report))
    );
    for cache in &report.caches {
        let text = CacheText::of(cache);
        let row = [
            cache.cache_id.clone(),
            cache.state.as_str().to_owned(),
            text.cache_status,
            text.kind,
            text.execution_id,
            text.execution_status,
            text.finished_at,
            text.records,
            took_and_usual(cache),
        ];
        out.push_str("| ");
        out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
        out.push_str(" |\n");
    }
    out.push('\n');
    out
}

/// Makes text safe inside one Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

/// The `::error` workflow command for a result other than `ready`.
pub fn annotation(report: &Report) -> Option<String> {
    if report.outcome == Outcome::Ready {
        return None;
    }
    let title = escape_property(&format!("peaka-wait: {}", report.outcome.name()));
    Some(format!(
        "::error title={title}::{}",
        escape_data(&report.message)
    ))
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

/// Writes the summary to stdout and, in GitHub Actions, the step files.
/// `env` reads the environment (a parameter so tests can supply one).
pub fn emit(report: &Report, output: Format, env: &dyn Fn(&str) -> Option<String>) {
    if let Some(path) = env("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        append(&path, &github_outputs(report), "GITHUB_OUTPUT");
    }
    if let Some(path) = env("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        append(&path, &step_summary(report), "GITHUB_STEP_SUMMARY");
    }
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (`| head`) must not turn into a panic or another
    // exit code: the exit code is the answer, the summary a courtesy.
    if env("GITHUB_ACTIONS").as_deref() == Some("true") {
        if let Some(line) = annotation(report) {
            let _ = writeln!(stdout, "{line}");
        }
    }
    let summary = match output {
        Format::Text => summary_line(report),
        Format::Json => summary_json(report).to_string(),
    };
    let _ = writeln!(stdout, "{summary}");
    let _ = stdout.flush();
}

fn append(path: &str, text: &str, name: &str) {
    let result = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()));
    if let Err(err) = result {
        tracing::warn!("cannot write {name} ({path}): {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{CacheStatus, Execution, ExecutionKind, Progress, Status};
    use crate::decision::{Decision, Verdict};
    use crate::gate::CacheState;
    use std::time::Duration;

    fn report(outcome: Outcome, message: &str) -> Report {
        let execution = Execution {
            id: Some("e|1".into()),
            status: Some(Status::Completed),
            progress: Some(Progress {
                number_of_cached_records: Some(1200),
                ..Progress::default()
            }),
            created_at: Some("2026-11-24T10:00:00Z".parse().unwrap()),
            finished_at: Some("2026-11-24T10:05:00.5Z".parse().unwrap()),
            ..Execution::default()
        };
        let ready = CacheReport {
            cache_id: "c1".into(),
            state: CacheState::Ready,
            status: Some(CacheStatus {
                id: None,
                status: Status::Completed,
                last_incremental_cache_execution: None,
                last_full_refresh_cache_execution: Some(execution),
            }),
            decision: Some(Decision {
                verdict: Verdict::Ready,
                focus: Some(ExecutionKind::Full),
                detail: "done".into(),
                unknown_status: None,
            }),
            last_error: None,
            forecast: None,
        };
        let unseen = CacheReport {
            cache_id: "c2".into(),
            state: CacheState::Waiting,
            status: None,
            decision: None,
            last_error: Some("HTTP 503".into()),
            forecast: None,
        };
        Report {
            outcome,
            message: message.into(),
            elapsed: Duration::from_millis(2500),
            polls: 3,
            project_id: "p".into(),
            caches: vec![ready, unseen],
        }
    }

    #[test]
    fn the_json_summary_has_every_documented_field() {
        let value = summary_json(&report(Outcome::Timeout, "timed out"));
        assert_eq!(value["result"], "timeout");
        assert_eq!(value["exitCode"], 3);
        assert_eq!(value["message"], "timed out");
        assert_eq!(value["elapsedMs"], 2500);
        assert_eq!(value["polls"], 3);
        let c1 = &value["caches"][0];
        assert_eq!(c1["projectId"], "p");
        assert_eq!(c1["cacheId"], "c1");
        assert_eq!(c1["state"], "ready");
        assert_eq!(c1["cacheStatus"], "COMPLETED");
        let e = &c1["execution"];
        assert_eq!(e["kind"], "full");
        assert_eq!(e["id"], "e|1");
        assert_eq!(e["status"], "COMPLETED");
        assert_eq!(e["createdAt"], "2026-11-24T10:00:00Z");
        assert_eq!(e["finishedAt"], "2026-11-24T10:05:00.5Z");
        assert_eq!(e["records"], 1200);
        assert_eq!(e["error"], Value::Null);
        let c2 = &value["caches"][1];
        assert_eq!(c2["state"], "waiting");
        assert_eq!(c2["cacheStatus"], Value::Null);
        assert_eq!(c2["execution"], Value::Null);
    }

    #[test]
    fn github_outputs_describe_the_first_cache() {
        let text = github_outputs(&report(Outcome::Ready, "ok"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            &lines[..7],
            [
                "result=ready",
                "exit-code=0",
                "cache-status=COMPLETED",
                "execution-id=e|1",
                "execution-kind=full",
                "finished-at=2026-11-24T10:05:00.5Z",
                "records=1200",
            ]
        );
        assert!(
            lines[7].starts_with("summary-json={\"result\":\"ready\","),
            "{}",
            lines[7]
        );
        assert_eq!(lines.len(), 8);
    }

    #[test]
    fn multi_line_values_use_a_delimiter() {
        let mut r = report(Outcome::Ready, "ok");
        r.caches[0]
            .status
            .as_mut()
            .unwrap()
            .last_full_refresh_cache_execution
            .as_mut()
            .unwrap()
            .id = Some("a\nb".into());
        let text = github_outputs(&r);
        let start = text.find("execution-id<<").unwrap();
        let delimiter = text[start + 14..].lines().next().unwrap();
        assert!(
            text.contains(&format!("execution-id<<{delimiter}\na\nb\n{delimiter}\n")),
            "{text}"
        );
    }

    #[test]
    fn the_step_summary_has_a_row_per_cache_and_escapes_cells() {
        let text = step_summary(&report(Outcome::Ready, "ok"));
        assert!(text.contains("| c1 | ready | COMPLETED | full | e\\|1 | COMPLETED | 2026-11-24T10:05:00.5Z | 1200 |"), "{text}");
        assert!(
            text.contains("| c2 | waiting |  |  |  |  |  |  |"),
            "{text}"
        );
    }

    #[test]
    fn annotations_only_when_not_ready_and_escaped() {
        assert_eq!(annotation(&report(Outcome::Ready, "ok")), None);
        let line = annotation(&report(Outcome::Failed, "cache c1: 100% broken\nsee logs")).unwrap();
        assert_eq!(
            line,
            "::error title=peaka-wait%3A failed::cache c1: 100%25 broken%0Asee logs"
        );
    }

    #[test]
    fn the_text_line_reads_well() {
        assert_eq!(
            summary_line(&report(Outcome::Ready, "cache c1 is ready")),
            "ready: cache c1 is ready (2.5s, 3 polls)"
        );
    }

    #[test]
    fn the_forecast_and_the_duration_in_the_json_and_the_step_summary() {
        let mut report = report(Outcome::Ready, "ok");
        let json = summary_json(&report);
        assert_eq!(json["caches"][0]["durationMs"], 300_500);
        assert_eq!(json["caches"][0]["forecast"], Value::Null);
        assert!(
            step_summary(&report).contains("| 5m |"),
            "{}",
            step_summary(&report)
        );
        report.caches[0].forecast = Some(crate::gate::CacheForecast {
            kind: ExecutionKind::Full,
            usual: crate::forecast::Usual {
                median: Duration::from_secs(250),
                shortest: Duration::from_secs(200),
                longest: Duration::from_secs(300),
                spread: 0.183,
                runs: 12,
                records: None,
            },
            basis: crate::forecast::Basis::History,
            expected: Some("2026-11-24T10:04:10Z".parse().unwrap()),
        });
        let json = summary_json(&report);
        let cache = &json["caches"][0];
        assert_eq!(cache["expectedFinishAt"], "2026-11-24T10:04:10Z");
        assert_eq!(cache["forecast"]["basis"], "history");
        assert_eq!(cache["forecast"]["runs"], 12);
        assert_eq!(cache["forecast"]["spread"], 0.18);
        assert!(
            step_summary(&report).contains(" / 4m10s |"),
            "{}",
            step_summary(&report)
        );
        // The cache never seen has nothing to say.
        assert_eq!(json["caches"][1]["durationMs"], Value::Null);
    }
}
