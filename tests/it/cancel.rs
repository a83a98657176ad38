//! `--cancel-on-exit`, run as built against the fake API: a gate that
//! triggered a refresh and ends before it (timeout, SIGTERM) cancels that
//! refresh and says so; it never cancels one it did not start, and never
//! without `--trigger`. The exit code stays the reason's.

use std::time::{Duration, Instant};

use crate::common;
use common::{gate_at, gate_json, run, start_fake};

fn cancel_of(summary: &serde_json::Value) -> Option<&str> {
    summary["caches"][0]["cancel"].as_str()
}

#[test]
fn a_timeout_cancels_the_triggered_refresh_and_peaka_accepts() {
    let fake = start_fake(fake_peaka::Options::default());
    let cache = "triggered-completes-after-1m~cancel-timeout";
    let started = Instant::now();
    // The exit code stays the timeout's.
    let (summary, stderr) = gate_json(
        &fake,
        "p",
        &[
            "--cache-id",
            cache,
            "--trigger",
            "incremental",
            "--cancel-on-exit",
            "--timeout",
            "3s",
        ],
        3,
    );
    let took = started.elapsed();
    assert!(took <= Duration::from_secs(5), "took {took:?}");
    assert_eq!(cancel_of(&summary), Some("accepted"), "{summary}");
    assert!(
        summary["message"].as_str().unwrap().contains("accepted"),
        "{summary}"
    );
    assert!(
        stderr.contains("asked Peaka to cancel the triggered incremental sync"),
        "{stderr}"
    );
    assert_eq!(fake.cancels(), 1);
    // Peaka now shows the triggered execution CANCELLED: a plain check fails on it.
    let (code, stdout, _) = run(gate_at(
        &fake,
        "p",
        &["--cache-id", cache, "--timeout", "0"],
    ));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("CANCELLED"), "{stdout}");
}

#[cfg(unix)]
#[test]
fn sigterm_cancels_and_exits_143_within_two_seconds() {
    let fake = start_fake(fake_peaka::Options::default());
    // The triggered record appears 1.5 s after the trigger; a poll must see it first.
    let (summary, stderr) = common::terminated_after(
        &fake,
        "p",
        &[
            "--cache-id",
            "triggered-completes-after-1m~cancel-term",
            "--trigger",
            "full",
            "--cancel-on-exit",
            "--timeout",
            "60s",
        ],
        fake_peaka::TRIGGER_APPEARS_AFTER + Duration::from_millis(1200),
    );
    assert_eq!(cancel_of(&summary), Some("accepted"), "{summary}\n{stderr}");
    assert_eq!(fake.cancels(), 1);
}

#[test]
fn an_execution_the_gate_did_not_start_is_never_cancelled() {
    let fake = start_fake(fake_peaka::Options::default());
    // Running since before the trigger (started by Peaka's schedule); the
    // fake's trigger does not replace it.
    let (summary, _) = gate_json(
        &fake,
        "p",
        &[
            "--cache-id",
            "completes-after-1m~cancel-schedule",
            "--trigger",
            "incremental",
            "--cancel-on-exit",
            "--timeout",
            "2s",
        ],
        3,
    );
    let said = cancel_of(&summary).unwrap_or_default();
    assert!(said.starts_with("not sent: "), "{summary}");
    assert_eq!(fake.cancels(), 0);
}

#[test]
fn without_the_flag_or_without_trigger_nothing_is_cancelled() {
    let fake = start_fake(fake_peaka::Options::default());
    let (summary, _) = gate_json(
        &fake,
        "p",
        &[
            "--cache-id",
            "triggered-completes-after-1m~cancel-off",
            "--trigger",
            "incremental",
            "--timeout",
            "3s",
        ],
        3,
    );
    assert_eq!(cancel_of(&summary), None);
    let (code, _, stderr) = run(gate_at(
        &fake,
        "p",
        &[
            "--cache-id",
            "completes-after-1m~cancel-no-trigger",
            "--cancel-on-exit",
            "--timeout",
            "1s",
        ],
    ));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--trigger"), "{stderr}");
    assert_eq!(fake.cancels(), 0);
}

#[test]
fn a_stall_cancels_the_triggered_refresh_and_exits_7() {
    let fake = start_fake(fake_peaka::Options::default());
    // The exit code stays the stall's.
    let (summary, _) = gate_json(
        &fake,
        "p",
        &[
            "--cache-id",
            "triggered-stuck~cancel-stall",
            "--trigger",
            "incremental",
            "--cancel-on-exit",
            "--stall-timeout",
            "1s",
            "--timeout",
            "20s",
        ],
        7,
    );
    assert_eq!(cancel_of(&summary), Some("accepted"), "{summary}");
    assert_eq!(fake.cancels(), 1);
}
