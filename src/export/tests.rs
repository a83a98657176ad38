//! The outputs' tests, on one report with a ready cache that decided and
//! a cache never seen.

use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::api::{CacheStatus, Execution, ExecutionKind, Progress, Status};
use crate::decision::{Decision, ExecutionFilter, Verdict};
use crate::gate::{CacheReport, CacheState};

/// The summary as a JSON value, as stdout carries it.
fn summary_json(report: &Report) -> Value {
    let mut bytes = Vec::new();
    write_summary_json(report, &mut bytes).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn report(outcome: Outcome, message: &str) -> Report {
    let execution = Execution {
        id: Some("e|1".into()),
        status: Some(Status::Completed),
        progress: Some(Progress {
            number_of_cached_records: Some(1200),
        }),
        created_at: Some("2026-11-24T10:00:00Z".parse().unwrap()),
        finished_at: crate::api::Stamp::At("2026-11-24T10:05:00.5Z".parse().unwrap()),
        ..Execution::default()
    };
    let ready = CacheReport {
        cache_id: "c1".into(),
        state: CacheState::Ready,
        status: Some(CacheStatus {
            id: None,
            status: Status::Completed,
            catalog_id: None,
            schema_name: None,
            table_name: None,
            last_incremental_cache_execution: None,
            last_full_refresh_cache_execution: Some(Box::new(execution)),
        }),
        decision: Some(Decision {
            verdict: Verdict::Ready,
            focus: Some(ExecutionKind::Full),
            detail: "done".into(),
            unknown_status: None,
            starting: false,
            execution_id: None,
        }),
        last_error: None,
        forecast: None,
        cancel: None,
        last_moved_at: None,
        warning: None,
    };
    let unseen = CacheReport {
        cache_id: "c2".into(),
        state: CacheState::Waiting,
        status: None,
        decision: None,
        last_error: Some("HTTP 503".into()),
        forecast: None,
        cancel: None,
        last_moved_at: Some("2026-11-24T10:01:00Z".parse().unwrap()),
        warning: Some("cache c2: incremental sync e has not been picked up\n::error::x".into()),
    };
    Report {
        outcome,
        message: message.into(),
        elapsed: Duration::from_millis(2500),
        polls: 3,
        project_id: "p".into(),
        caches: vec![ready, unseen],
        decided_by: Some(0),
        execution: ExecutionFilter::Any,
        resume: None,
        since: None,
        started_after: None,
        queries: Vec::new(),
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
fn github_outputs_describe_the_deciding_cache() {
    let mut r = report(Outcome::Ready, "ok");
    let text = github_outputs(&r);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        &lines[..15],
        [
            "result=ready",
            "exit-code=0",
            "cache-id=c1",
            "cache-status=COMPLETED",
            "execution-id=e|1",
            "execution-kind=full",
            "finished-at=2026-11-24T10:05:00.5Z",
            "records=1200",
            "incremental-execution-id=",
            "full-execution-id=e|1",
            "resume=",
            // Empty without materialized queries.
            "materialized-query-id=",
            "materialized-query-status=",
            "materialized-query-started-at=",
            "materialized-query-updated-at=",
        ]
    );
    assert!(
        lines[15].starts_with("summary-json={\"result\":\"ready\","),
        "{}",
        lines[15]
    );
    assert_eq!(lines.len(), 16);
    r.resume = Some("pw1.abc".into());
    assert!(github_outputs(&r).contains("\nresume=pw1.abc\n"));
    // When the second cache decided (it timed out), the outputs say so.
    r.outcome = Outcome::Timeout;
    r.decided_by = Some(1);
    let text = github_outputs(&r);
    assert!(
        text.contains("cache-id=c2\ncache-status=\nexecution-id=\n"),
        "{text}"
    );
}

#[test]
fn outside_text_cannot_define_another_output() {
    let mut r = report(Outcome::Ready, "ok");
    r.caches[0]
        .status
        .as_mut()
        .unwrap()
        .last_full_refresh_cache_execution
        .as_mut()
        .unwrap()
        .id = Some("a\nrecords=999\u{2028}".into());
    let text = github_outputs(&r);
    assert!(
        text.contains("execution-id=a\\nrecords=999\\u{2028}\n"),
        "{text}"
    );
    let names: Vec<&str> = text.lines().map(|l| l.split('=').next().unwrap()).collect();
    assert_eq!(
        names.iter().filter(|n| **n == "records").count(),
        1,
        "{text}"
    );
    assert!(!text.contains('\u{2028}'), "{text}");
}

#[test]
fn the_step_summary_has_a_row_per_cache_and_escapes_cells() {
    let mut r = report(Outcome::Ready, "ok");
    let text = step_summary(&r);
    assert!(text.contains("| c1 | ready | COMPLETED | full | e&#124;1 | COMPLETED | 2026-11-24T10:05:00.5Z | 1200 |"), "{text}");
    assert!(
        text.contains("| c2 | waiting |  |  |  |  |  |  |"),
        "{text}"
    );
    r.caches[0]
        .status
        .as_mut()
        .unwrap()
        .last_full_refresh_cache_execution
        .as_mut()
        .unwrap()
        .id = Some("<img src=x onerror=alert(1)> `x` a|b\nc".into());
    let text = step_summary(&r);
    assert!(
        text.contains("&lt;img src=x onerror=alert(1)&gt; &#96;x&#96; a&#124;b&#92;nc"),
        "{text}"
    );
    for row in text.lines().filter(|l| l.starts_with("| c")) {
        assert_eq!(row.matches('|').count(), 10, "{row}");
    }
}

#[test]
fn a_warning_of_the_run_is_a_warning_annotation_on_one_line() {
    let lines = warning_annotations(&report(Outcome::Timeout, "t"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("::warning title=peaka-wait%3A not picked up::cache c2:"),
        "{}",
        lines[0]
    );
    assert!(
        !lines[0].contains('\n') && !lines[0].contains("\n::error"),
        "{}",
        lines[0]
    );
    let json = summary_json(&report(Outcome::Timeout, "t"));
    assert_eq!(json["caches"][1]["lastMovedAt"], "2026-11-24T10:01:00Z");
    assert_eq!(json["caches"][0]["lastMovedAt"], Value::Null);
}

#[test]
fn annotations_only_when_not_ready_and_escaped() {
    assert_eq!(annotation(&report(Outcome::Ready, "ok")), None);
    let line = annotation(&report(Outcome::Failed, "cache c1: 100% broken\nsee logs")).unwrap();
    assert_eq!(
        line,
        "::error title=peaka-wait%3A failed::cache c1: 100%25 broken\\nsee logs"
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
    report.caches[0].forecast = Some(Box::new(crate::gate::CacheForecast {
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
    }));
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
