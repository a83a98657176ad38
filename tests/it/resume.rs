//! Trigger now, wait later, run as built against the fake API:
//! `--trigger KIND --no-wait` triggers and hands out a resume token,
//! `--resume TOKEN` waits for exactly that run without triggering again
//! (also after the waiting process was killed with SIGKILL), and
//! `--resume TOKEN --cancel` cancels that run and no other. A bad token is
//! a usage error before any request.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common;
use common::{gate_at, json_summary, run, start_fake};

/// `--no-wait`: the token from the last stdout line of a text summary.
fn trigger_for_later(fake: &fake_peaka::Running, cache: &str, kind: &str) -> String {
    let (code, stdout, stderr) = run(gate_at(
        fake,
        "p",
        &["--cache-id", cache, "--trigger", kind, "--no-wait"],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    let token = last
        .strip_prefix("resume: ")
        .unwrap_or_else(|| panic!("the last line is not the token: {stdout}"));
    assert!(stdout.starts_with("triggered: "), "{stdout}");
    token.to_owned()
}

/// `--resume TOKEN --cancel` with a JSON summary: must end 0 `cancelled`;
/// returns what it says of the (first) cache's cancel.
fn cancel_says(fake: &fake_peaka::Running, token: &str) -> String {
    let (code, stdout, stderr) = run(gate_at(
        fake,
        "p",
        &[
            "--resume",
            token,
            "--cancel",
            "--timeout",
            "20s",
            "--output",
            "json",
        ],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let summary = json_summary(&stdout);
    assert_eq!(summary["result"], "cancelled", "{summary}");
    summary["caches"][0]["cancel"]
        .as_str()
        .unwrap_or_else(|| panic!("no cancel field: {summary}"))
        .to_owned()
}

#[test]
fn no_wait_triggers_once_and_ends_with_a_token_in_every_output() {
    let fake = start_fake(fake_peaka::Options::default());
    let cache = "triggered-completes-after-30s~no-wait";
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("github_output");
    let started = Instant::now();
    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "p",
        &[
            "--cache-id",
            cache,
            "--trigger",
            "full",
            "--no-wait",
            "--output",
            "json",
        ],
    )
    .env("GITHUB_OUTPUT", &outputs));
    // It does not wait for the record (which appears 1.5 s after the trigger).
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let summary = json_summary(&stdout);
    assert_eq!(summary["result"], "triggered", "{summary}");
    assert_eq!(summary["exitCode"], 0);
    let token = summary["resume"]
        .as_str()
        .expect("a resume field")
        .to_owned();
    assert!(token.starts_with("pw1."), "{token}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\''),
        "{token}"
    );
    assert!(!token.contains(fake_peaka::DEMO_KEY), "{token}");
    assert!(!stdout.contains(fake_peaka::DEMO_KEY) && !stderr.contains(fake_peaka::DEMO_KEY));
    let written = std::fs::read_to_string(&outputs).unwrap();
    assert!(written.contains("result=triggered\n"), "{written}");
    assert!(written.contains(&format!("resume={token}\n")), "{written}");
    assert_eq!(fake.triggers(), 1);
}

#[test]
fn a_wait_killed_with_sigkill_resumes_from_the_token_with_one_trigger_in_all() {
    let fake = start_fake(fake_peaka::Options::default());
    let cache = "triggered-completes-after-3s~killed";
    // The job's one command line; only PEAKA_RESUME is added on restart.
    let line = [
        "--cache-id",
        cache,
        "--trigger",
        "incremental",
        "--since",
        "now",
        "--timeout",
        "20s",
        "--output",
        "json",
    ];
    let token = trigger_for_later(&fake, cache, "incremental");
    let mut waiting = gate_at(&fake, "p", &line)
        .env("PEAKA_RESUME", &token)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "it should still be waiting"
    );
    waiting.kill().unwrap(); // SIGKILL: no cleanup, no cancel
    waiting.wait().unwrap();
    // The refresh completes (1.5 s + 3 s after the trigger) while nothing
    // runs; `--since now` read anew on restart would be after it, but it
    // means the first start, which the token kept.
    std::thread::sleep(Duration::from_millis(4500));
    let (code, stdout, stderr) = run(gate_at(&fake, "p", &line).env("PEAKA_RESUME", &token));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let summary = json_summary(&stdout);
    assert_eq!(summary["result"], "ready", "{summary}");
    assert_eq!(
        summary["caches"][0]["execution"]["id"],
        format!("{cache}-triggered"),
        "{summary}"
    );
    let since: jiff::Timestamp = summary["since"].as_str().unwrap().parse().unwrap();
    let finished: jiff::Timestamp = summary["caches"][0]["execution"]["finishedAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        since < finished,
        "since {since} is the first start's, before {finished}"
    );
    assert!(
        summary["since"].as_str().unwrap().ends_with('Z'),
        "{summary}"
    );
    assert_eq!(fake.triggers(), 1, "one trigger POST in all");
}

#[test]
fn a_resumed_wait_never_takes_the_record_from_before_the_trigger() {
    let fake = start_fake(fake_peaka::Options::default());
    // Peaka accepts the trigger but its record never appears: the slot
    // keeps showing the COMPLETED run from before.
    let cache = "triggered-never-appears~resumed";
    let token = trigger_for_later(&fake, cache, "full");
    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "p",
        &["--resume", &token, "--timeout", "2s", "--output", "json"],
    ));
    assert_eq!(code, 3, "{stdout}{stderr}");
    let summary = json_summary(&stdout);
    assert_eq!(summary["result"], "timeout", "{summary}");
    assert!(
        summary["message"].as_str().unwrap().contains("triggered"),
        "{summary}"
    );
    assert_eq!(fake.triggers(), 1);
}

#[test]
fn a_failed_triggered_run_fails_the_resumed_wait() {
    let fake = start_fake(fake_peaka::Options::default());
    let cache = "triggered-fails-after-1s~resumed";
    let token = trigger_for_later(&fake, cache, "incremental");
    let (code, stdout, stderr) = run(gate_at(&fake, "p", &["--resume", &token]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("FAILED"), "{stdout}");
    assert_eq!(fake.triggers(), 1);
}

#[test]
fn cancel_waits_for_the_record_then_cancels_that_run_only() {
    let fake = start_fake(fake_peaka::Options::default());
    let cache = "triggered-stuck~cancel-resumed";
    let token = trigger_for_later(&fake, cache, "full");
    // At once: the record appears 1.5 s after the trigger, and the cancel
    // waits for it (a cancel before it is Peaka's 500 or a no-op).
    assert_eq!(cancel_says(&fake, &token), "accepted");
    assert_eq!(fake.cancels(), 1);
    // Peaka now shows it CANCELLED: a second cancel sends nothing.
    assert_eq!(
        cancel_says(&fake, &token),
        "nothing to cancel: it had already ended"
    );
    assert_eq!(fake.cancels(), 1, "nothing sent for a run that ended");
    assert_eq!(fake.triggers(), 1);
}

#[test]
fn cancel_sends_nothing_for_a_run_that_completed() {
    let fake = start_fake(fake_peaka::Options::default());
    let cache = "triggered-completes-after-500ms~cancel-late";
    let token = trigger_for_later(&fake, cache, "incremental");
    std::thread::sleep(Duration::from_millis(2500));
    let (code, stdout, stderr) = run(gate_at(&fake, "p", &["--resume", &token, "--cancel"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.starts_with("cancelled: ")
            && stdout.contains("nothing to cancel: it had already ended"),
        "{stdout}"
    );
    assert_eq!(fake.cancels(), 0);
}

#[test]
fn cancel_keeps_the_exit_code_of_an_error() {
    let fake = start_fake(fake_peaka::Options::default());
    let token = trigger_for_later(&fake, "triggered-stuck~cancel-401", "full");
    let (code, stdout, stderr) = run(gate_at(&fake, "p", &["--resume", &token, "--cancel"])
        .env("PEAKA_API_KEY", "wrong-key-1234567890"));
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert_eq!(fake.cancels(), 0);
}

#[test]
fn resume_with_cancel_on_exit_cancels_its_run_at_the_timeout() {
    let fake = start_fake(fake_peaka::Options::default());
    let token = trigger_for_later(&fake, "triggered-stuck~resume-exit", "incremental");
    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "p",
        &[
            "--resume",
            &token,
            "--cancel-on-exit",
            "--timeout",
            "3s",
            "--output",
            "json",
        ],
    ));
    assert_eq!(code, 3, "{stdout}{stderr}");
    let summary = json_summary(&stdout);
    assert_eq!(summary["caches"][0]["cancel"], "accepted", "{summary}");
    assert_eq!(fake.cancels(), 1);
}

#[test]
fn one_token_covers_several_caches() {
    let fake = start_fake(fake_peaka::Options::default());
    let caches = "triggered-completes-after-1s~multi-a,triggered-completes-after-2s~multi-b";
    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "p",
        &[
            "--cache-id",
            caches,
            "--trigger",
            "full",
            "--no-wait",
            "--output",
            "json",
        ],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let token = json_summary(&stdout)["resume"].as_str().unwrap().to_owned();
    assert_eq!(fake.triggers(), 2);
    // The caches may be given again, in another order.
    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "p",
        &[
            "--cache-id",
            "triggered-completes-after-2s~multi-b",
            "--cache-id",
            "triggered-completes-after-1s~multi-a",
            "--output",
            "json",
        ],
    )
    .env("PEAKA_RESUME", &token));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let summary = json_summary(&stdout);
    let ids: Vec<&str> = summary["caches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["execution"]["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        ids,
        [
            "triggered-completes-after-1s~multi-a-triggered",
            "triggered-completes-after-2s~multi-b-triggered"
        ]
    );
    assert_eq!(fake.triggers(), 2);
}

#[test]
fn a_bad_or_mismatched_token_is_a_usage_error_before_any_request() {
    let fake = start_fake(fake_peaka::Options::default());
    let cache = "triggered-completes-after-1m~usage";
    let token = trigger_for_later(&fake, cache, "incremental");
    let before = fake.requests();
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (
            vec!["--resume", "not-a-token"],
            None,
            "--resume: is not a resume token",
        ),
        (
            vec![],
            Some("pw1.AAAA"),
            "PEAKA_RESUME: is not a resume token",
        ),
        (
            vec!["--resume", &token[..token.len() - 5]],
            None,
            "--resume",
        ),
        (
            vec!["--resume", &token, "--cache-id", "another"],
            None,
            "was made for the caches",
        ),
        (
            vec!["--resume", &token, "--trigger", "full"],
            None,
            "--trigger full",
        ),
        (
            vec!["--resume", &token, "--execution", "both"],
            None,
            "--execution both",
        ),
        (
            vec!["--resume", &token, "--no-wait", "--trigger", "incremental"],
            None,
            "not both",
        ),
        (vec!["--cancel", "--cache-id", cache], None, "--cancel"),
        (
            vec!["--no-wait", "--cache-id", cache],
            None,
            "add --trigger",
        ),
        (
            vec![
                "--no-wait",
                "--cache-id",
                cache,
                "--trigger",
                "full",
                "--cancel-on-exit",
            ],
            None,
            "--cancel-on-exit",
        ),
    ];
    for (args, env, hint) in cases {
        let mut command = gate_at(&fake, "p", &args);
        if let Some(value) = env {
            command.env("PEAKA_RESUME", value);
        }
        let (code, stdout, stderr) = run(command);
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(hint), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // Another project.
    let (code, _, stderr) = run(gate_at(&fake, "other-project", &["--resume", &token]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is for project p"), "{stderr}");
    assert_eq!(fake.requests(), before, "no request for a usage error");
}

#[test]
fn the_summary_shows_the_absolute_bounds_it_used() {
    let fake = start_fake(fake_peaka::Options::default());
    let started = jiff::Timestamp::now();
    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "p",
        &[
            "--cache-id",
            "finished-ago-5m~bounds",
            "--since",
            "15m",
            "--started-after",
            "1h",
            "--timeout",
            "0",
            "--output",
            "json",
        ],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let summary = json_summary(&stdout);
    let read = |field: &str| -> jiff::Timestamp {
        let text = summary[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field}: {summary}"));
        assert!(text.ends_with('Z'), "{text}");
        text.parse().unwrap()
    };
    let near = |at: jiff::Timestamp, ago: i64| {
        let want = started - jiff::SignedDuration::from_secs(ago);
        at.duration_since(want).abs() < jiff::SignedDuration::from_secs(3)
    };
    assert!(near(read("since"), 15 * 60), "{summary}");
    assert!(near(read("startedAfter"), 3600), "{summary}");
    // Without bounds, neither field.
    let (_, stdout, _) = run(gate_at(
        &fake,
        "p",
        &[
            "--cache-id",
            "finished-ago-5m~bounds",
            "--timeout",
            "0",
            "--output",
            "json",
        ],
    ));
    let summary = json_summary(&stdout);
    assert!(
        summary.get("since").is_none() && summary.get("startedAfter").is_none(),
        "{summary}"
    );
    assert!(summary.get("resume").is_none(), "{summary}");
}

#[test]
fn resumed_after_a_later_run_took_the_slot_the_history_has_the_triggered_one() {
    let fake = start_fake(fake_peaka::Options::default());
    // The triggered run completes 1.5 s + 1 s after the trigger; then a
    // scheduled run holds the slot, RUNNING, created after the trigger too.
    let cache = "triggered-then-scheduled-after-1s~later-run";
    let token = trigger_for_later(&fake, cache, "full");
    std::thread::sleep(Duration::from_millis(3500));
    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "p",
        &["--resume", &token, "--timeout", "5s", "--output", "json"],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let summary = json_summary(&stdout);
    assert_eq!(
        summary["caches"][0]["execution"]["id"],
        format!("{cache}-triggered"),
        "the triggered run decides, not the scheduled one: {summary}"
    );
    // Cancelling now must not touch the scheduled run: the token's ended.
    assert_eq!(
        cancel_says(&fake, &token),
        "nothing to cancel: it had already ended"
    );
    assert_eq!(fake.cancels(), 0, "the scheduled run is not the token's");
    assert_eq!(fake.triggers(), 1);
}
