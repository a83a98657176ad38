//! Issue 16, section 3: a reply within the size caps costs a small
//! multiple of its size. Each hostile reply below once took 100 MB to
//! 1.1 GB (an OOM kill in the Kubernetes examples' 32 Mi); the built
//! binary must now end with the right exit code under 32 MiB of peak RSS.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::*;

/// The Kubernetes examples' memory limit.
const MAX_RSS_KIB: u64 = 32 * 1024;

/// The history path of cache `c`.
const HISTORY_C: &str = "/api/v1/data/projects/p/cache/c/executionHistory";
/// The settings path of cache `c`.
const SETTINGS_C: &str = "/api/v1/data/projects/p/cache/c";

/// Runs the gate under GNU time; returns the run and its peak RSS in KiB.
pub(super) fn peak_rss(base: &str, args: &[&str]) -> (Ran, u64) {
    let rss_dir = tempfile::tempdir().expect("temp dir");
    let rss = rss_dir.path().join("rss");
    let rss_arg = rss.to_string_lossy().into_owned();
    let ran = Gate::wrapped(&["/usr/bin/time", "-f", "%M", "-o", &rss_arg], base, args)
        .outside_github()
        .kill_after(Duration::from_secs(60))
        .run();
    let peak_kib = std::fs::read_to_string(&rss)
        .ok()
        .and_then(|text| text.lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no peak RSS from /usr/bin/time (Debian package `time`)\n{ran}"));
    (ran, peak_kib)
}

#[track_caller]
pub(super) fn assert_fits(what: &str, ran: &Ran, peak_kib: u64) {
    eprintln!("{what}: peak RSS {peak_kib} KiB");
    assert!(
        peak_kib <= MAX_RSS_KIB,
        "{what}: peak RSS {peak_kib} KiB, over 32 MiB\n{}",
        ran.stderr.lines().last().unwrap_or_default()
    );
}

/// `[0,0,…]` of about `bytes` bytes.
fn zeros(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 2);
    text.push('[');
    text.push_str(&"0,".repeat(bytes / 2));
    text.push('0');
    text.push(']');
    text
}

/// `value` as JSON text, with the string `"@ERROR@"` replaced by `error`
/// (so that a 15 MiB array is never built as a `Value`).
fn with_error(value: &Value, error: &str) -> Vec<u8> {
    value
        .to_string()
        .replacen("\"@ERROR@\"", error, 1)
        .into_bytes()
}

/// 200 with these bytes as JSON.
fn raw_ok(body: Vec<u8>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/json")
}

/// A project list of awaited caches `a` (its sync failed, with an error of
/// `error_bytes`) and `b` (completed): the body is about `error_bytes`.
fn list_with_a_huge_error(error_bytes: usize) -> Vec<u8> {
    let mut failed = execution("a-e1", "FAILED", -120, Some(-30));
    failed["error"] = json!("@ERROR@");
    let list = json!([
        cache("a", "FAILED", failed, Value::Null),
        completed_cache("b", 30),
    ]);
    with_error(&list, &zeros(error_bytes))
}

const MIB: usize = 1024 * 1024;

#[test]
fn two_caches_a_15_mib_list_whose_one_error_is_an_array() {
    let body = list_with_a_huge_error(15 * MIB);
    assert!(body.len() < 16 * MIB, "within the list cap");
    let base = serve(vec![route(
        "GET",
        LIST,
        Box::new(move |_| raw_ok(body.clone())),
    )]);
    let (ran, peak) = peak_rss(
        &base,
        &["--cache-id", "a", "--cache-id", "b", "--timeout", "20s"],
    );
    assert_fits("a 15 MiB list, one error [0,0,…]", &ran, peak);
    assert_code(&ran, 1, "cache a failed");
    let last = ran.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("[0,0,0,"),
        "the error is shown: {}",
        &last[..last.len().min(300)]
    );
    assert!(last.len() < 6_000, "the error is cut: {} bytes", last.len());
}

#[test]
fn list_caches_a_15_mib_list_whose_one_error_is_an_array() {
    let body = list_with_a_huge_error(15 * MIB);
    let base = serve(vec![route(
        "GET",
        LIST,
        Box::new(move |_| raw_ok(body.clone())),
    )]);
    for format in ["text", "json"] {
        let (ran, peak) = peak_rss(&base, &["--list-caches", "--output", format]);
        assert_fits(
            &format!("--list-caches --output {format}, a 15 MiB list"),
            &ran,
            peak,
        );
        assert_code(&ran, 0, "listed");
        assert!(
            ran.stdout.contains("a ") || ran.stdout.contains("\"a\""),
            "{}",
            ran.stdout
        );
        assert!(ran.stdout.len() < 2_000, "{}", ran.stdout);
    }
}

#[test]
fn one_cache_a_4_mib_status_whose_error_is_an_array() {
    let mut failed = execution("e1", "FAILED", -120, Some(-30));
    failed["error"] = json!("@ERROR@");
    let status = with_error(
        &cache("c", "FAILED", failed, Value::Null),
        &zeros(4 * MIB - 4096),
    );
    assert!(status.len() < 4 * MIB, "within the cap");
    let base = serve(vec![route(
        "GET",
        STATUS_C,
        Box::new(move |_| raw_ok(status.clone())),
    )]);
    let (ran, peak) = peak_rss(
        &base,
        &[
            "--cache-id",
            "c",
            "--schedule",
            "exponential",
            "--timeout",
            "20s",
        ],
    );
    assert_fits("one cache, a 4 MiB error [0,0,…]", &ran, peak);
    assert_code(&ran, 1, "the sync failed");
}

/// A cache that runs for the first `running_polls` polls, then completes;
/// the history and the settings are `history` and `settings`. Returns the
/// base URL and how many times each of those two was read.
fn runs_then_completes(
    history: Vec<u8>,
    settings: Vec<u8>,
    awaits: Awaits,
) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let histories = Arc::new(AtomicUsize::new(0));
    let settings_read = Arc::new(AtomicUsize::new(0));
    let (h, s) = (histories.clone(), settings_read.clone());
    let base = serve(vec![
        route(
            "GET",
            STATUS_C,
            Box::new(move |n| {
                // Running (or idle, for a run yet to start) until the read
                // under test is in (and a few polls more), then completed.
                let read = match awaits {
                    Awaits::History => h.load(Ordering::SeqCst),
                    Awaits::Settings => s.load(Ordering::SeqCst),
                };
                // (The settings are read in the second pause, after which
                // an idle cache is polled sparsely: one poll more will do.)
                let polls = match awaits {
                    Awaits::History => 4,
                    Awaits::Settings => 2,
                };
                let done = n >= polls && read > 0;
                let record = match (awaits, done) {
                    (Awaits::History, false) => execution("e1", "RUNNING", -300, None),
                    (Awaits::History, true) => execution("e1", "COMPLETED", -300, Some(-1)),
                    // The last run long over: the next starts on the schedule.
                    (Awaits::Settings, false) => execution("p3", "COMPLETED", -898, Some(-798)),
                    (Awaits::Settings, true) => execution("e2", "COMPLETED", 0, Some(0)),
                };
                let top = if done || awaits == Awaits::Settings {
                    "COMPLETED"
                } else {
                    "RUNNING"
                };
                ok(&cache("c", top, record, Value::Null))
            }),
        ),
        route("GET", HISTORY_C, {
            let histories = histories.clone();
            Box::new(move |_| {
                histories.fetch_add(1, Ordering::SeqCst);
                raw_ok(history.clone())
            })
        }),
        route("GET", SETTINGS_C, {
            let settings_read = settings_read.clone();
            Box::new(move |_| {
                settings_read.fetch_add(1, Ordering::SeqCst);
                raw_ok(settings.clone())
            })
        }),
    ]);
    (base, histories, settings_read)
}

const PLAIN_SETTINGS: &[u8] =
    br#"{"incrementalCacheSchedule":{"type":"BASIC","expression":"PT15M"},"fullRefreshCacheSchedule":{"type":"NONE"}}"#;

/// Which read [`runs_then_completes`] holds its refresh for: the history
/// (read while a run is under way), or the settings (read only while none
/// is: the next one starts on the cache's schedule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaits {
    History,
    Settings,
}

/// Waits on the cache of [`runs_then_completes`] with the adaptive schedule.
fn wait_reading(what: &str, history: Vec<u8>, settings: Vec<u8>, awaits: Awaits) {
    let (base, histories, settings_read) = runs_then_completes(history, settings, awaits);
    let mut args = vec![
        "--cache-id",
        "c",
        "--max-interval",
        "500ms",
        "--timeout",
        "30s",
    ];
    if awaits == Awaits::Settings {
        args.extend(["--execution", "incremental", "--started-after", "now"]);
    }
    let (ran, peak) = peak_rss(&base, &args);
    assert_fits(what, &ran, peak);
    assert_code(&ran, 0, "completed after the forecast's reads");
    assert!(
        histories.load(Ordering::SeqCst) > 0,
        "{what}: the history was never read"
    );
    let settings_read = settings_read.load(Ordering::SeqCst);
    match awaits {
        Awaits::Settings => assert!(settings_read > 0, "{what}: the settings were never read"),
        Awaits::History => assert_eq!(
            settings_read, 0,
            "{what}: a run under way needs no settings"
        ),
    }
}

/// A history of three completed incremental syncs of 100 s, every 15
/// minutes, the next due 2 s from now: enough for a forecast, so that an
/// idle cache's settings (PT15M) are read, and its next run soon.
fn three_runs() -> Vec<u8> {
    json!([
        execution("p1", "COMPLETED", -2698, Some(-2598)),
        execution("p2", "COMPLETED", -1798, Some(-1698)),
        execution("p3", "COMPLETED", -898, Some(-798)),
    ])
    .to_string()
    .into_bytes()
}

#[test]
fn a_4_mib_history_of_empty_objects() {
    let mut history = String::from("[");
    history.push_str(&"{},".repeat((4 * MIB - 4096) / 3));
    history.push_str("{}]");
    assert!(history.len() < 4 * MIB);
    wait_reading(
        "a 4 MiB history of {} (1.4 M entries)",
        history.into_bytes(),
        PLAIN_SETTINGS.to_vec(),
        Awaits::History,
    );
}

#[test]
fn a_history_with_one_4_mib_error_array() {
    let mut failed = execution("e0", "FAILED", -3600, Some(-3000));
    failed["error"] = json!("@ERROR@");
    let history = with_error(&json!([failed]), &zeros(4 * MIB - 4096));
    wait_reading(
        "a history with one 4 MiB error",
        history,
        PLAIN_SETTINGS.to_vec(),
        Awaits::History,
    );
}

#[test]
fn a_4_mib_settings_reply_with_a_numeric_array() {
    let settings = format!(
        r#"{{"catalogId":"cat-1","columns":{},"incrementalCacheSchedule":{{"type":"BASIC","expression":"PT15M"}}}}"#,
        zeros(4 * MIB - 4096)
    );
    wait_reading(
        "4 MiB settings with a numeric array",
        three_runs(),
        settings.into_bytes(),
        Awaits::Settings,
    );
}

/// The awaited caches `a` and `b`, completed, among `others` tiny entries.
fn a_crowded_list(others: usize) -> Vec<u8> {
    let mut list = String::from("[");
    for i in 0..others {
        list.push_str(&format!(r#"{{"id":"{i:06x}","status":"X"}},"#));
        if i == others / 2 {
            list.push_str(&completed_cache("a", 30).to_string());
            list.push(',');
        }
    }
    list.push_str(&completed_cache("b", 30).to_string());
    list.push(']');
    list.into_bytes()
}

#[test]
fn two_caches_among_480_000_tiny_entries() {
    let body = a_crowded_list(480_000);
    assert!(body.len() < 16 * MIB, "within the list cap: {}", body.len());
    let base = serve(vec![route(
        "GET",
        LIST,
        Box::new(move |_| raw_ok(body.clone())),
    )]);
    let (ran, peak) = peak_rss(
        &base,
        &["--cache-id", "a", "--cache-id", "b", "--timeout", "20s"],
    );
    assert_fits("two awaited caches among 480,000 entries", &ran, peak);
    assert_code(&ran, 0, "both completed");
}

#[test]
fn list_caches_streams_480_000_rows() {
    let body = a_crowded_list(480_000);
    let base = serve(vec![route(
        "GET",
        LIST,
        Box::new(move |_| raw_ok(body.clone())),
    )]);
    for format in ["text", "json"] {
        let (ran, peak) = peak_rss(&base, &["--list-caches", "--output", format]);
        assert_fits(
            &format!("--list-caches --output {format}, 480,002 caches"),
            &ran,
            peak,
        );
        assert!(
            !ran.killed && ran.code == 0,
            "exit {}: {}",
            ran.code,
            ran.stderr
        );
        match format {
            "json" => {
                let rows: Vec<Value> = serde_json::from_str(&ran.stdout).expect("one JSON array");
                assert_eq!(rows.len(), 480_002);
                assert_eq!(rows[240_001]["id"], "a");
            }
            _ => {
                let lines: Vec<&str> = ran.stdout.lines().collect();
                assert_eq!(lines.len(), 480_003, "a header and a row per cache");
                assert!(lines[0].starts_with("ID "), "{}", lines[0]);
                assert!(lines[240_002].starts_with("a "), "{}", lines[240_002]);
            }
        }
    }
}
