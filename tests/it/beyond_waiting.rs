//! Issue 4's features, end to end against the fake API: trigger-and-wait,
//! stall detection, executions missed between polls, many caches in one
//! request, and clock skew. Each test here fails without its feature.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use jiff::SignedDuration;

use crate::common;
use common::{gate_at, json_summary, run, start_fake};

fn fake() -> &'static fake_peaka::Running {
    static FAKE: OnceLock<fake_peaka::Running> = OnceLock::new();
    FAKE.get_or_init(|| {
        let mut options = fake_peaka::Options::default();
        options.projects.insert("empty".into(), vec![]);
        start_fake(options)
    })
}

fn gate(args: &[&str]) -> std::process::Command {
    gate_at(fake(), "demo", args)
}

// --- 1. --trigger ---------------------------------------------------------

#[test]
fn a_triggered_wait_waits_for_the_new_execution_not_the_old_record() {
    let cache = "triggered-completes-after-1s~trig-ok";
    let (code, stdout, stderr) = run(gate(&[
        "--cache-id",
        cache,
        "--trigger",
        "full",
        "--output",
        "json",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let summary = json_summary(&stdout);
    let execution = &summary["caches"][0]["execution"];
    assert_eq!(
        execution["id"],
        format!("{cache}-triggered"),
        "the old COMPLETED record must not satisfy it"
    );
    assert_eq!(execution["kind"], "full");
    assert!(stderr.contains("triggered a full refresh"), "{stderr}");
    // The record appears 1.5 s after the trigger and runs 1 s.
    assert!(summary["elapsedMs"].as_u64().unwrap() >= 2500, "{summary}");
}

#[test]
fn a_second_trigger_of_the_same_cache_waits_for_its_own_run() {
    let cache = "triggered-completes-after-200ms~trig-twice";
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (code, stdout, stderr) = run(gate(&[
            "--cache-id",
            cache,
            "--trigger",
            "incremental",
            "--output",
            "json",
        ]));
        assert_eq!(code, 0, "{stderr}");
        ids.push(json_summary(&stdout)["caches"][0]["execution"]["id"].clone());
    }
    assert_eq!(
        ids,
        [format!("{cache}-triggered"), format!("{cache}-triggered-2")],
        "the second run is a new execution, and the gate waited for it"
    );
}

#[test]
fn a_trigger_is_sent_once_per_cache() {
    let before = fake().triggers();
    let caches = "triggered-completes-after-200ms~trig-a,triggered-completes-after-200ms~trig-b";
    let (code, _, stderr) = run(gate(&["--cache-id", caches, "--trigger", "incremental"]));
    assert_eq!(code, 0, "{stderr}");
    // Other tests trigger too; this one's two are among them.
    assert!(fake().triggers() >= before + 2);
    assert_eq!(
        stderr.matches("triggered an incremental sync").count(),
        2,
        "{stderr}"
    );
}

#[test]
fn a_triggered_refresh_that_fails_fails_the_gate() {
    let (code, stdout, _) = run(gate(&[
        "--cache-id",
        "triggered-fails-after-200ms~trig-f",
        "--trigger",
        "incremental",
    ]));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("triggered-fails-after-200ms~trig-f-triggered FAILED"),
        "{stdout}"
    );
}

#[test]
fn a_trigger_whose_execution_never_appears_times_out_saying_so() {
    let (code, stdout, _) = run(gate(&[
        "--cache-id",
        "triggered-never-appears~trig-n",
        "--trigger",
        "full",
        "--timeout",
        "3s",
    ]));
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains("waiting for the triggered full refresh to appear"),
        "{stdout}"
    );
}

#[test]
fn a_rejected_trigger_shows_the_server_message() {
    let (code, stdout, _) = run(gate(&[
        "--cache-id",
        "trigger-rejected",
        "--trigger",
        "full",
    ]));
    assert_eq!(code, 6, "{stdout}");
    assert!(stdout.contains("triggering a full refresh failed: the API refused the request (HTTP 400: Cache settings not found)"), "{stdout}");
}

#[test]
fn trigger_and_a_contrary_execution_is_a_usage_error() {
    let (code, stdout, stderr) = run(gate(&[
        "--cache-id",
        "x",
        "--trigger",
        "full",
        "--execution",
        "incremental",
    ]));
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(
        stderr.contains("--execution incremental does not fit"),
        "{stderr}"
    );
}

// --- 2. --stall-timeout ---------------------------------------------------

#[test]
fn a_stuck_execution_ends_the_wait_as_stalled() {
    let started = Instant::now();
    let (code, stdout, _) = run(gate(&[
        "--cache-id",
        "stuck~stall",
        "--stall-timeout",
        "1s",
        "--timeout",
        "1m",
        "--output",
        "json",
    ]));
    assert_eq!(code, 7, "{stdout}");
    let summary = json_summary(&stdout);
    assert_eq!(summary["result"], "stalled");
    assert_eq!(summary["caches"][0]["state"], "stalled");
    let message = summary["message"].as_str().unwrap();
    assert!(
        message.contains("incremental sync stuck~stall-exec-2 has not moved for"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_moving_execution_is_not_stalled() {
    let (code, stdout, _) = run(gate(&[
        "--cache-id",
        "completes-after-2s~moving",
        "--stall-timeout",
        "1500ms",
    ]));
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn without_a_stall_timeout_a_stuck_execution_waits_for_the_deadline() {
    let (code, _, _) = run(gate(&[
        "--cache-id",
        "stuck~no-stall",
        "--timeout",
        "1500ms",
    ]));
    assert_eq!(code, 3);
}

// --- 3. No execution missed between polls ----------------------------------

#[test]
fn a_completion_hidden_by_the_next_execution_is_found_in_the_history() {
    // A runs until 1.5 s, then B takes the slot and runs for ever.
    let (code, stdout, stderr) = run(gate(&[
        "--cache-id",
        "flips-after-1500ms~miss-ok",
        "--timeout",
        "20s",
    ]));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("flips-after-1500ms~miss-ok-exec-a COMPLETED"),
        "{stdout}"
    );
    assert!(
        stderr.contains("ended between polls (COMPLETED), read from the execution history"),
        "{stderr}"
    );
}

#[test]
fn a_failure_hidden_by_the_next_execution_is_found_in_the_history() {
    let (code, stdout, _) = run(gate(&[
        "--cache-id",
        "flips-failing-after-1500ms~miss-f",
        "--timeout",
        "20s",
    ]));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("exec-a FAILED"), "{stdout}");
}

#[test]
fn a_missed_completion_counts_under_since_too() {
    let (code, stdout, _) = run(gate(&[
        "--cache-id",
        "flips-after-1500ms~miss-since",
        "--since",
        "now",
        "--timeout",
        "20s",
    ]));
    assert_eq!(code, 0, "{stdout}");
}

// --- 4. Many caches, one request per poll ------------------------------------

#[test]
fn all_caches_waits_for_every_cache_of_the_project() {
    let (code, stdout, stderr) = run(gate_at(
        fake(),
        "many-4-completes-after-500ms",
        &["--all-caches", "--output", "json"],
    ));
    assert_eq!(code, 0, "{stderr}");
    let summary = json_summary(&stdout);
    let caches = summary["caches"].as_array().unwrap();
    assert_eq!(caches.len(), 4);
    assert!(caches.iter().all(|c| c["state"] == "ready"), "{summary}");
    assert!(stderr.contains("has 4 caches"), "{stderr}");
}

#[test]
fn many_caches_cost_one_request_per_round() {
    let fake = start_fake(fake_peaka::Options::default());
    let ids: Vec<String> = (1..=10)
        .map(|i| format!("completes-after-1s~{i}"))
        .collect();
    let args = [
        "--cache-id",
        &ids.join(","),
        "--output",
        "json",
        "--log-level",
        "debug",
    ];
    let (code, stdout, stderr) = run(gate_at(&fake, "many-10-completes-after-1s", &args));
    assert_eq!(code, 0, "{stdout}");
    let polls = json_summary(&stdout)["polls"].as_u64().unwrap();
    // Every round but the last ends with "next attempt in …".
    let rounds = stderr.matches("next attempt in").count() as u64 + 1;
    assert!(rounds >= 2, "{stderr}");
    // Plus, for the forecast (--schedule adaptive), the history of a
    // cache still running, one read per round at most (no settings: runs
    // are under way).
    let reads = (stderr.lines())
        .filter(|l| l.contains("DEBUG GET ") && !l.contains("/status"))
        .count() as u64;
    assert!(
        reads <= rounds,
        "{reads} reads in {rounds} rounds: {stderr}"
    );
    assert!(
        !stderr.contains("executionHistory") || reads > 0,
        "{stderr}"
    );
    assert_eq!(polls, rounds + reads, "one request per round for 10 caches");
}

#[test]
fn all_caches_of_an_empty_project_is_not_found() {
    let (code, stdout, _) = run(gate_at(fake(), "empty", &["--all-caches"]));
    assert_eq!(code, 5, "{stdout}");
    assert!(stdout.contains("project empty has no caches"), "{stdout}");
}

#[test]
fn a_cache_missing_from_the_project_list_is_not_found() {
    let (code, stdout, _) = run(gate_at(
        fake(),
        "many-2-completes-after-1s",
        &["--cache-id", "completes-after-1s~1,nope"],
    ));
    assert_eq!(code, 5, "{stdout}");
    assert!(
        stdout.contains("cache nope: not among the caches of project many-2-completes-after-1s"),
        "{stdout}"
    );
}

// --- 5. Clock skew -------------------------------------------------------------

fn skewed(minutes: i64) -> fake_peaka::Running {
    start_fake(fake_peaka::Options {
        clock_offset: SignedDuration::from_mins(minutes),
        ..Default::default()
    })
}

#[test]
fn a_server_clock_behind_does_not_make_a_new_execution_look_old() {
    let fake = skewed(-10);
    // The refresh completes 1 s after the gate starts, stamped 10 minutes
    // "earlier" by the server: on the local clock it looks older than --since now.
    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "demo",
        &[
            "--cache-id",
            "completes-after-1s",
            "--since",
            "now",
            "--timeout",
            "10s",
        ],
    ));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("the server's clock is 10m") && stderr.contains("behind"),
        "{stderr}"
    );
}

#[test]
fn a_server_clock_ahead_does_not_make_an_old_execution_look_new() {
    let fake = skewed(10);
    // The execution finished 5 minutes before the gate started (server
    // time), which the local clock would read as 5 minutes in the future.
    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "demo",
        &[
            "--cache-id",
            "finished-ago-5m",
            "--since",
            "now",
            "--timeout",
            "2s",
        ],
    ));
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(stderr.contains("ahead of"), "{stderr}");
}

#[test]
fn explicit_timestamps_are_not_shifted() {
    let fake = skewed(10);
    // An RFC 3339 bound is an instant the user chose, on the server's clock.
    let long_ago = "2020-01-01T00:00:00Z";
    let (code, stdout, _) = run(gate_at(
        &fake,
        "demo",
        &[
            "--cache-id",
            "finished-ago-5m",
            "--since",
            long_ago,
            "--timeout",
            "2s",
        ],
    ));
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn a_missing_cache_among_triggered_ones_is_the_one_marked_not_found() {
    let caches = "triggered-completes-after-200ms~trig-m,no-such-cache";
    let (code, stdout, _) = run(gate(&[
        "--cache-id",
        caches,
        "--trigger",
        "full",
        "--output",
        "json",
    ]));
    assert_eq!(code, 5, "{stdout}");
    let summary = json_summary(&stdout);
    assert_eq!(summary["caches"][0]["state"], "waiting", "{summary}");
    assert_eq!(summary["caches"][1]["state"], "not_found", "{summary}");
    assert!(
        summary["message"]
            .as_str()
            .unwrap()
            .starts_with("cache no-such-cache: not found"),
        "{summary}"
    );
}
