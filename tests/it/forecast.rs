//! `--schedule adaptive` against the built binary and the fake API, whose
//! scenarios have 12 past runs of each slot lasting about as long as the
//! scenario's refresh (±15%) and a PT15M schedule: the start line, the
//! deadline warning, the heartbeat, the summary's fields, and what the
//! forecast costs in requests.

use crate::common;

use std::sync::OnceLock;

use common::{gate_at, json_summary, run, start_fake};

fn fake() -> &'static fake_peaka::Running {
    static FAKE: OnceLock<fake_peaka::Running> = OnceLock::new();
    FAKE.get_or_init(|| start_fake(fake_peaka::Options::default()))
}

fn gate(args: &[&str]) -> std::process::Command {
    gate_at(fake(), "p", args)
}

#[test]
fn the_start_line_says_what_is_expected_and_the_summary_keeps_it() {
    let (code, stdout, stderr) = run(gate(&[
        "--cache-id",
        "completes-after-4s~fc-start",
        "--output",
        "json",
    ]));
    assert_eq!(code, 0, "{stderr}");
    // 12 past runs of 0.85–1.15 × 4 s: median 4 s; 10th / 90th percentile 0.88 / 1.10.
    assert!(
        stderr
            .contains("its incremental sync usually takes 4s (last 12 runs, ±12%); expected at 20"),
        "{stderr}"
    );
    let summary = json_summary(&stdout);
    let cache = &summary["caches"][0];
    let forecast = &cache["forecast"];
    assert_eq!(
        forecast["basis"].as_str().map(|b| b.starts_with("history")),
        Some(true),
        "{cache}"
    );
    assert_eq!(forecast["runs"], 12);
    assert_eq!(forecast["spread"], 0.12);
    assert_eq!(forecast["usualMs"], 4000);
    let expected: jiff::Timestamp = cache["expectedFinishAt"].as_str().unwrap().parse().unwrap();
    let created: jiff::Timestamp = cache["execution"]["createdAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let finished: jiff::Timestamp = cache["execution"]["finishedAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Expected: 4 s after the start, as the run took.
    assert!(
        expected.duration_since(created).as_secs_f64() >= 3.5,
        "{cache}"
    );
    assert!(
        expected.duration_since(finished).abs().as_secs_f64() <= 0.5,
        "{cache}"
    );
    assert_eq!(cache["durationMs"], 4000, "{cache}");
}

#[test]
fn the_deadline_warning_names_the_usual_duration_and_the_timeout() {
    let (code, _, stderr) = run(gate(&[
        "--cache-id",
        "completes-after-20s~fc-deadline",
        "--timeout",
        "3s",
    ]));
    assert_eq!(code, 3, "{stderr}");
    let warning = stderr
        .lines()
        .find(|l| l.contains("WARN") && l.contains("will likely expire"))
        .unwrap_or_else(|| panic!("no deadline warning: {stderr}"));
    assert!(
        warning
            .contains("this incremental sync usually needs 20s; --timeout 3s will likely expire"),
        "{warning}"
    );
}

#[test]
fn a_check_once_or_a_decided_cache_costs_one_request() {
    for (cache, args) in [
        ("completes-after-1m~fc-once", &["--timeout", "0"][..]),
        ("finished-ago-1m~fc-ready", &[][..]),
        ("fails-after-0s~fc-failed", &[][..]),
    ] {
        let mut all = vec!["--cache-id", cache, "--output", "json"];
        all.extend_from_slice(args);
        let (_, stdout, stderr) = run(gate(&all));
        let summary = json_summary(&stdout);
        assert_eq!(summary["polls"], 1, "{cache}: {stderr}");
        assert_eq!(fake().requests_for(cache), 1, "{cache}");
        assert_eq!(summary["caches"][0]["forecast"], serde_json::Value::Null);
    }
}

#[test]
fn the_first_poll_comes_before_any_pause() {
    // The default (adaptive) polls at once: a cache already ready costs
    // one request and no wait; the start jitter that spreads a fleet is
    // in the first pause, after the first poll of a cache still waiting.
    let gate_log = |cache: &str, schedule: &str| {
        let (code, stdout, stderr) = run(gate(&[
            "--cache-id",
            cache,
            "--schedule",
            schedule,
            "--log-level",
            "debug",
            "--output",
            "json",
        ]));
        assert_eq!(code, 0, "{stderr}");
        (json_summary(&stdout)["polls"].as_u64(), stderr)
    };
    let (polls, stderr) = gate_log("finished-ago-1m~first-ready", "adaptive");
    assert_eq!(polls, Some(1), "{stderr}");
    assert!(!stderr.contains("first poll in"), "{stderr}");
    assert_eq!(fake().requests_for("finished-ago-1m~first-ready"), 1);
    let (_, stderr) = gate_log("completes-after-2s~first-waiting", "adaptive");
    let first_get = stderr.find("DEBUG GET ").unwrap();
    let first_pause = stderr.find("next attempt in").unwrap();
    assert!(first_get < first_pause, "{stderr}");
    assert!(!stderr.contains("first poll in"), "{stderr}");
    // Exponential keeps its start jitter before the first poll.
    let (polls, stderr) = gate_log("finished-ago-1m~first-exp", "exponential");
    assert_eq!(polls, Some(1), "{stderr}");
    assert!(
        stderr.find("first poll in").unwrap() < stderr.find("DEBUG GET ").unwrap(),
        "{stderr}"
    );
}

#[test]
fn the_forecast_reads_cost_no_more_requests_than_the_polls() {
    // 10 and 20 caches, each running for 4 s: the history of each still
    // running is read, one read in a pause, so that the reads never
    // outnumber the status requests (a round is one list request).
    for (project, caches) in [
        ("many-10-completes-after-4s~fc-reads", 10),
        ("many-20-completes-after-4s~fc-reads", 20),
    ] {
        let (code, stdout, stderr) = run(gate_at(
            fake(),
            project,
            &["--all-caches", "--output", "json", "--log-level", "debug"],
        ));
        assert_eq!(code, 0, "{stderr}");
        let gets: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("DEBUG GET "))
            .collect();
        let reads = gets.iter().filter(|l| !l.contains("/status")).count();
        let statuses = gets.len() - reads;
        let summary = json_summary(&stdout);
        assert_eq!(
            summary["polls"].as_u64(),
            Some(gets.len() as u64),
            "{stderr}"
        );
        assert!(reads >= 1, "{caches}: {stderr}");
        assert!(
            reads <= statuses,
            "{caches}: {reads} reads, {statuses} status requests"
        );
        // No settings are read: every cache has a run under way.
        assert!(
            gets.iter()
                .all(|l| l.contains("/status") || l.contains("/executionHistory")),
            "{stderr}"
        );
    }
}

#[test]
fn the_forecast_reads_are_counted_and_save_polls() {
    let polls = |schedule: &str, cache: &str| {
        let (code, stdout, stderr) = run(gate(&[
            "--cache-id",
            cache,
            "--output",
            "json",
            "--schedule",
            schedule,
            "--initial-interval",
            "300ms",
            "--max-interval",
            "300ms",
            "--detection-delay",
            "150ms",
        ]));
        assert_eq!(code, 0, "{stderr}");
        let polls = json_summary(&stdout)["polls"].as_u64().unwrap();
        assert_eq!(
            polls,
            fake().requests_for(cache),
            "{cache}: every request counted"
        );
        polls
    };
    let exponential = polls("exponential", "completes-after-12s~fc-exp");
    let adaptive = polls("adaptive", "completes-after-12s~fc-adaptive");
    // Exponential at 300 ms: ~27 polls over 12 s (jittered 150–300 ms).
    // Adaptive: 2 reads, sparse polls (max(300ms, 1.2s), jittered) until
    // ~9.9 s, then every ~300 ms: well under two thirds of that.
    assert!(
        adaptive * 3 < exponential * 2,
        "adaptive {adaptive} vs exponential {exponential}"
    );
}

#[test]
fn without_history_adaptive_polls_like_exponential_and_says_why() {
    // `stuck` has no past runs: no forecast, the exponential schedule.
    let (code, stdout, stderr) = run(gate(&[
        "--cache-id",
        "stuck~fc-none",
        "--timeout",
        "2s",
        "--output",
        "json",
    ]));
    assert_eq!(code, 3);
    assert!(
        stderr.contains(
            "no forecast for its incremental sync (2 runs of it in the history; 3 completed ones"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("polling on the exponential schedule"),
        "{stderr}"
    );
    assert_eq!(
        json_summary(&stdout)["caches"][0]["forecast"],
        serde_json::Value::Null
    );
}

#[test]
fn the_heartbeat_says_records_expected_end_and_time_left() {
    // The heartbeat comes after 60 s without a change.
    let (code, _, stderr) = run(gate(&[
        "--cache-id",
        "completes-after-66s~fc-heartbeat",
        "--timeout",
        "5m",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("still waiting"))
        .unwrap_or_else(|| panic!("no heartbeat: {stderr}"));
    assert!(line.contains("still waiting after 1m"), "{line}");
    assert!(line.contains(" left): "), "{line}");
    assert!(line.contains(" records, expected at 20"), "{line}");
    // The cache is named once, its forecast beside its state.
    assert_eq!(
        line.matches("cache completes-after-66s~fc-heartbeat: ")
            .count(),
        1,
        "{line}"
    );
}

#[test]
fn bad_schedule_flags_are_refused_with_their_names() {
    let (code, _, stderr) = run(gate(&["--cache-id", "stuck", "--schedule", "smart"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--schedule") && stderr.contains("adaptive"),
        "{stderr}"
    );
    let (code, _, stderr) =
        run(gate(&["--cache-id", "stuck"]).env("PEAKA_DETECTION_DELAY", "10ms"));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("PEAKA_DETECTION_DELAY=10ms: must be between 100ms and 1h"),
        "{stderr}"
    );
}

#[test]
fn an_idle_cache_on_a_schedule_is_not_polled_until_its_next_run() {
    // Idle, both slots COMPLETED; 12 past runs, one every 15 minutes, the
    // last 5 minutes ago: the next starts in about 10 minutes.
    let cache = "triggered-completes-after-5s~fc-idle";
    let (code, stdout, stderr) = run(gate(&[
        "--cache-id",
        cache,
        "--execution",
        "incremental",
        "--started-after",
        "now",
        "--timeout",
        "3s",
        "--output",
        "json",
    ]));
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("the next scheduled one starts in about 10m"),
        "{stderr}"
    );
    // The first poll, the history read in the pause after it, the second
    // poll, the settings read in the pause after that (nothing runs: when
    // the next run starts is on the cache's schedule), which then lasts
    // until the last poll at the deadline — instead of ~20 polls of an
    // idle cache at 100–200 ms.
    assert_eq!(json_summary(&stdout)["polls"], 5, "{stderr}");
    assert_eq!(fake().requests_for(cache), 5);
}

#[test]
fn a_forecast_reads_the_histories_of_at_most_twenty_caches() {
    // Each of 25 caches completes after 3 s: reading their histories
    // would be 50 requests in one pause, and 25 histories kept. The gate
    // says why it polls without a forecast, and sends only list requests.
    let history_reads = |stderr: &str| {
        stderr
            .lines()
            .filter(|l| l.contains("GET ") && l.contains("/executionHistory"))
            .count()
    };
    let (code, stdout, stderr) = run(gate_at(
        fake(),
        "many-25-completes-after-3s~fc-many",
        &["--all-caches", "--output", "json", "--log-level", "debug"],
    ));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(history_reads(&stderr), 0, "{stderr}");
    assert!(
        stderr.contains(
            "25 caches are awaited; a forecast reads the history of at most 20, so it waits until no more are left; polling on the exponential schedule"
        ),
        "{stderr}"
    );
    let summary = json_summary(&stdout);
    let lists = stderr
        .lines()
        .filter(|l| l.contains("GET ") && l.contains("/cache/status:"))
        .count();
    assert_eq!(summary["polls"].as_u64(), Some(lists as u64), "{stderr}");
    assert_eq!(summary["caches"][0]["forecast"], serde_json::Value::Null);

    // Three caches: each history is read once, and each has a forecast.
    let (code, stdout, stderr) = run(gate_at(
        fake(),
        "many-3-completes-after-6s~fc-few",
        &["--all-caches", "--output", "json", "--log-level", "debug"],
    ));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(history_reads(&stderr), 3, "{stderr}");
    assert!(
        !stderr.contains("caches are awaited; a forecast"),
        "{stderr}"
    );
    let summary = json_summary(&stdout);
    for cache in summary["caches"].as_array().unwrap() {
        assert_eq!(cache["forecast"]["runs"], 12, "{cache}");
    }
}
