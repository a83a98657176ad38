//! `peaka-wait [OPTIONS] -- COMMAND [ARGS…]`, run as built against the
//! fake API: the command runs only when ready, after the summary, with the
//! decision in its environment and without the key; it replaces the gate
//! (same pid, signals and exit code its own); a command that cannot be
//! started exits 127 or 126 like a shell.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;
use common::{gate_at, run, start_fake};

/// A job that records what it saw, then exits 42.
const RECORDING_JOB: &str = r#"printf '%s|%s|%s|%s|%s|%s|%s\n' "$PEAKA_WAIT_RESULT" "$PEAKA_EXECUTION_ID" "$PEAKA_EXECUTION_KIND" "$PEAKA_FINISHED_AT" "$PEAKA_RECORDS" "${PEAKA_API_KEY-unset}" "${PEAKA_API_KEY_FILE-unset}" > "$0"; echo JOB-OUTPUT; exit 42"#;

#[test]
fn the_command_runs_when_ready_after_the_summary_with_the_decision_and_without_the_key() {
    let fake = start_fake(fake_peaka::Options::default());
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    let cache = "finished-ago-1m~exec-ready";
    let mut command = gate_at(&fake, "p", &["--cache-id", cache, "--timeout", "0"]);
    command
        .args(["--", "sh", "-c", RECORDING_JOB])
        .arg(&seen)
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    let (code, stdout, stderr) = run(command);
    assert_eq!(
        code, 42,
        "the job's exit code is the gate's: {stdout}{stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("ready: "),
        "the summary comes first: {stdout}"
    );
    assert_eq!(lines[1], "JOB-OUTPUT");
    let seen = std::fs::read_to_string(&seen).unwrap();
    let fields: Vec<&str> = seen.trim_end().split('|').collect();
    assert_eq!(fields[0], "ready");
    assert_eq!(fields[1], format!("{cache}-exec-2"));
    assert_eq!(fields[2], "incremental");
    assert!(fields[3].parse::<jiff::Timestamp>().is_ok(), "{seen}");
    assert_eq!(fields[4], "7000");
    assert_eq!(&fields[5..], ["unset", "unset"], "the key reached the job");
}

#[test]
fn the_key_is_passed_only_when_asked_and_the_key_file_is_removed_too() {
    let fake = start_fake(fake_peaka::Options::default());
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, fake_peaka::DEMO_KEY).unwrap();
    let seen = dir.path().join("seen");
    for (pass, want) in [
        (false, "unset|unset".to_owned()),
        (true, format!("unset|{}", key_file.display())),
    ] {
        let mut command = gate_at(
            &fake,
            "p",
            &["--cache-id", "finished-ago-1m~exec-key", "--timeout", "0"],
        );
        command
            .env_remove("PEAKA_API_KEY")
            .env("PEAKA_API_KEY_FILE", &key_file);
        if pass {
            command.arg("--pass-api-key");
        }
        command
            .args(["--", "sh", "-c", RECORDING_JOB])
            .arg(&seen)
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        let (code, stdout, stderr) = run(command);
        assert_eq!(code, 42, "{stdout}{stderr}");
        let seen = std::fs::read_to_string(&seen).unwrap();
        assert!(seen.trim_end().ends_with(&want), "pass={pass}: {seen}");
    }
    // With the key itself in the environment.
    let mut command = gate_at(
        &fake,
        "p",
        &[
            "--cache-id",
            "finished-ago-1m~exec-key2",
            "--timeout",
            "0",
            "--pass-api-key",
        ],
    );
    command
        .args(["--", "sh", "-c", RECORDING_JOB])
        .arg(&seen)
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    let (code, _, _) = run(command);
    assert_eq!(code, 42);
    let seen = std::fs::read_to_string(&seen).unwrap();
    assert!(
        seen.contains(&format!("|{}|unset", fake_peaka::DEMO_KEY)),
        "{seen}"
    );
}

#[test]
fn the_command_does_not_run_when_not_ready_and_the_gate_code_stands() {
    let fake = start_fake(fake_peaka::Options::default());
    for (cache, timeout, want) in [
        ("fails-after-200ms~exec", "10s", 1),
        ("stuck~exec", "0", 3),
        ("no-such-cache", "10s", 5),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let mut command = gate_at(&fake, "p", &["--cache-id", cache, "--timeout", timeout]);
        command
            .args(["--", "touch"])
            .arg(&marker)
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        let (code, stdout, stderr) = run(command);
        assert_eq!(code, want, "{cache}: {stdout}{stderr}");
        assert!(!marker.exists(), "{cache}: the command ran");
        assert!(stderr.contains("not running touch"), "{cache}: {stderr}");
    }
}

#[test]
fn a_command_that_cannot_start_exits_127_or_126_like_a_shell() {
    let fake = start_fake(fake_peaka::Options::default());
    let dir = tempfile::tempdir().unwrap();
    let not_executable = dir.path().join("job.sh");
    std::fs::write(&not_executable, "#!/bin/sh\nexit 0\n").unwrap();
    let not_executable = not_executable.to_str().unwrap().to_owned();
    for (program, want, reason) in [
        ("no-such-command-xyz", 127, "command not found"),
        (not_executable.as_str(), 126, "Permission denied"),
    ] {
        let mut command = gate_at(
            &fake,
            "p",
            &["--cache-id", "finished-ago-1m~exec-start", "--timeout", "0"],
        );
        command
            .args(["--", program])
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        let (code, _, stderr) = run(command);
        assert_eq!(code, want, "{program}: {stderr}");
        assert!(
            stderr.contains(&format!("peaka-wait: {program}: {reason}")),
            "{program}: {stderr}"
        );
    }
}

#[cfg(unix)]
#[test]
fn the_command_replaces_the_gate_so_signals_reach_it() {
    let fake = start_fake(fake_peaka::Options::default());
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let job = r#"trap 'exit 77' TERM; echo $$ > "$0.tmp"; mv "$0.tmp" "$0"; while :; do sleep 0.05; done"#;
    let mut command = gate_at(
        &fake,
        "p",
        &[
            "--cache-id",
            "finished-ago-1m~exec-signal",
            "--timeout",
            "0",
        ],
    );
    command
        .args(["--", "sh", "-c", job])
        .arg(&pid_file)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let job_pid = loop {
        if let Ok(text) = std::fs::read_to_string(&pid_file) {
            break text.trim().parse::<u32>().unwrap();
        }
        assert!(Instant::now() < until, "the job never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        job_pid,
        child.id(),
        "the job must replace the gate (same pid)"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(77),
        "the job's own TERM handler decides"
    );
}

#[test]
fn pass_api_key_without_a_command_is_a_usage_error() {
    let fake = start_fake(fake_peaka::Options::default());
    let (code, _, stderr) = run(gate_at(&fake, "p", &["--cache-id", "c", "--pass-api-key"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("-- COMMAND"), "{stderr}");
}

#[test]
fn the_github_files_are_written_before_the_command_starts() {
    let fake = start_fake(fake_peaka::Options::default());
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs");
    let summary = dir.path().join("summary");
    let mut command = gate_at(
        &fake,
        "p",
        &[
            "--cache-id",
            "finished-ago-1m~exec-github",
            "--timeout",
            "0",
        ],
    );
    command
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args([
            "--",
            "sh",
            "-c",
            r#"grep -qx 'result=ready' "$GITHUB_OUTPUT" && grep -q 'peaka-wait: ready' "$GITHUB_STEP_SUMMARY" && exit 5"#,
        ]);
    let (code, stdout, stderr) = run(command);
    assert_eq!(
        code, 5,
        "the job did not find the step files: {stdout}{stderr}"
    );
}
