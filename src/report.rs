//! Everything the gate writes when it ends: the summary on stdout (a line
//! or a JSON object), and in GitHub Actions the step outputs, the step
//! summary table and the `::error` annotation.
//!
//! Builders here are pure (report → text); [`emit`] is the one place that
//! writes, and a failed write never changes the exit code.

use std::io::Write;

use serde_json::{Value, json};

use crate::api::{Execution, ExecutionKind};
use crate::cli::Format;
use crate::decision::ExecutionFilter;
use crate::exit_codes::Outcome;
use crate::gate::{CacheReport, CacheState, Report};
use crate::text::one_line;
use crate::timespec::{format_duration, millis};

/// How long writing one GitHub file may take before it is given up.
pub const GITHUB_FILE_BUDGET: std::time::Duration = std::time::Duration::from_secs(1);

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
    out.write_all(b"]}")
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

/// How long a finished execution ran (`finishedAt` − `createdAt`).
fn took(e: &crate::api::Execution) -> Option<std::time::Duration> {
    let span = e.finished_at.at()?.duration_since(e.created_at?);
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

/// Every execution the decision looked at: with `--execution both`, one
/// per slot; otherwise the focused one.
fn looked_at<'a>(report: &Report, cache: &'a CacheReport) -> Vec<(ExecutionKind, &'a Execution)> {
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
struct ExecutionText {
    kind: String,
    id: String,
    status: String,
    finished_at: String,
    records: String,
}

impl ExecutionText {
    fn of(execution: Option<(ExecutionKind, &Execution)>) -> ExecutionText {
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

fn line(text: &str) -> String {
    one_line(text).into_owned()
}

fn cache_status(cache: &CacheReport) -> String {
    cache
        .status
        .as_ref()
        .map(|s| line(s.status.as_str()))
        .unwrap_or_default()
}

fn focused_execution(cache: &CacheReport) -> Option<(ExecutionKind, &Execution)> {
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
        one_line(&report.message),
        format_duration(report.elapsed)
    )
}

/// The cache the per-cache outputs describe: the one that decided.
fn deciding(report: &Report) -> Option<&CacheReport> {
    report
        .decided_by
        .and_then(|i| report.caches.get(i))
        .or_else(|| report.caches.first())
}

/// The step outputs, in the `$GITHUB_OUTPUT` file format. The per-cache
/// outputs describe the cache that decided the outcome; `summary-json`
/// has them all. Every value is one line, so no value can define another
/// output.
pub fn github_outputs(report: &Report) -> String {
    let cache = deciding(report);
    let focus = ExecutionText::of(cache.and_then(focused_execution));
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
    ];
    let mut out = String::new();
    for (name, value) in pairs {
        out.push_str(name);
        out.push('=');
        out.push_str(&value);
        out.push('\n');
    }
    out.push_str("summary-json=");
    out.push_str(&output_summary_json(report));
    out.push('\n');
    out
}

/// GitHub refuses more than 1 MB of outputs for a job; the other outputs
/// are a few hundred bytes.
pub const MAX_OUTPUT_BYTES: usize = 900_000;

/// The summary JSON for the `summary-json` output: whole when it fits in
/// [`MAX_OUTPUT_BYTES`]; else with only the caches that are not ready
/// and the one that decided (and `cachesOmitted`, how many were left out);
/// else with no caches at all. Stdout always has the whole summary.
fn output_summary_json(report: &Report) -> String {
    let not_ready =
        |i: usize| report.caches[i].state != CacheState::Ready || report.decided_by == Some(i);
    let choices: [&dyn Fn(usize) -> bool; 3] = [&|_| true, &not_ready, &|_| false];
    for keep in choices {
        // Measured before it is built: a summary too large for the output
        // is never held in memory.
        let mut size = ByteCount(0);
        if write_summary_json_of(report, keep, &mut size).is_ok() && size.0 <= MAX_OUTPUT_BYTES {
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

/// The variables added to the environment of a command run once ready
/// (`-- COMMAND`): the result and, like the step outputs, the execution of
/// the cache that decided (empty where there is nothing to say).
pub fn command_env(report: &Report) -> Vec<(&'static str, String)> {
    let focus = ExecutionText::of(deciding(report).and_then(focused_execution));
    vec![
        ("PEAKA_WAIT_RESULT", report.outcome.name().to_owned()),
        ("PEAKA_EXECUTION_ID", focus.id),
        ("PEAKA_EXECUTION_KIND", focus.kind),
        ("PEAKA_FINISHED_AT", focus.finished_at),
        ("PEAKA_RECORDS", focus.records),
    ]
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

/// Appends each text to its file, all within [`GITHUB_FILE_BUDGET`]. The
/// writes run on a thread of their own: a path that blocks (a FIFO with no
/// reader, a hung network mount) costs a warning, never the deadline, and
/// the thread dies with the process.
fn append_all(files: Vec<(&'static str, String, String)>) {
    if files.is_empty() {
        return;
    }
    let names: Vec<(&'static str, String)> = files
        .iter()
        .map(|(name, path, _)| (*name, path.clone()))
        .collect();
    let (done, finished) = std::sync::mpsc::channel();
    // One thread a file: a file that blocks must not hold up the other.
    for (name, path, text) in files {
        let done = done.clone();
        let spawned = std::thread::Builder::new()
            .name("github-files".into())
            .spawn(move || {
                let _ = done.send((name, append(&path, &text)));
            });
        if let Err(err) = spawned {
            tracing::warn!("cannot write {name}: {err}");
        }
    }
    drop(done);
    let until = std::time::Instant::now() + GITHUB_FILE_BUDGET;
    let mut written = std::collections::HashSet::new();
    while written.len() < names.len() {
        let left = until.saturating_duration_since(std::time::Instant::now());
        match finished.recv_timeout(left) {
            Ok((name, result)) => {
                written.insert(name);
                if let Err(err) = result {
                    let path = names
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map_or("", |(_, p)| p);
                    tracing::warn!("cannot write {name} ({}): {err}", one_line(path));
                }
            }
            // Timed out, or every thread that could answer has.
            Err(_) => break,
        }
    }
    for (name, path) in names.iter().filter(|(name, _)| !written.contains(name)) {
        tracing::warn!(
            "cannot write {name} ({}): not done within {}; is it a FIFO or a hung mount?",
            one_line(path),
            format_duration(GITHUB_FILE_BUDGET)
        );
    }
}

fn append(path: &str, text: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{CacheStatus, Execution, ExecutionKind, Progress, Status};
    use crate::decision::{Decision, Verdict};
    use crate::gate::CacheState;
    use std::time::Duration;

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
            &lines[..11],
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
            ]
        );
        assert!(
            lines[11].starts_with("summary-json={\"result\":\"ready\","),
            "{}",
            lines[11]
        );
        assert_eq!(lines.len(), 12);
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
}
