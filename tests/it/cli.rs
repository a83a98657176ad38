//! The built binary, run as users run it, against the fake Peaka API:
//! exit codes, stdout, stderr, the GitHub files, signals, and the key.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common;
use common::{BIN, json_summary, run};

/// The fake's setup: its defaults plus the projects these tests list.
fn options() -> fake_peaka::Options {
    let mut options = fake_peaka::Options::default();
    let env_caches = [
        "completes-after-200ms~env-a",
        "full-completes-after-300ms~env-b",
    ];
    options.projects.insert(
        "cli-env".into(),
        env_caches.iter().map(|c| c.to_string()).collect(),
    );
    options
}

/// One fake API for the whole test binary.
fn fake() -> &'static fake_peaka::Running {
    static FAKE: OnceLock<fake_peaka::Running> = OnceLock::new();
    FAKE.get_or_init(|| common::start_fake(options()))
}

fn gate(args: &[&str]) -> Command {
    common::gate_at(fake(), "demo", args)
}

#[test]
fn a_completing_refresh_exits_0_with_a_json_summary() {
    let (code, stdout, stderr) = run(gate(&[
        "--cache-id",
        "completes-after-1s~cli-ready",
        "--output",
        "json",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let summary = json_summary(&stdout);
    assert_eq!(summary["result"], "ready");
    assert_eq!(summary["exitCode"], 0);
    assert!(summary["polls"].as_u64().unwrap() >= 2);
    assert!(summary["elapsedMs"].as_u64().unwrap() >= 1000);
    let cache = &summary["caches"][0];
    assert_eq!(cache["projectId"], "demo");
    assert_eq!(cache["cacheId"], "completes-after-1s~cli-ready");
    assert_eq!(cache["state"], "ready");
    assert_eq!(cache["cacheStatus"], "COMPLETED");
    assert_eq!(cache["execution"]["kind"], "incremental");
    assert_eq!(cache["execution"]["status"], "COMPLETED");
    assert_eq!(cache["execution"]["records"], 1100);
    assert!(
        cache["execution"]["finishedAt"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(stderr.contains("waiting for"), "{stderr}");
    assert!(stderr.contains("is RUNNING"), "{stderr}");
}

#[test]
fn each_outcome_has_its_exit_code() {
    let table: [(&[&str], u8, &str); 9] = [
        (
            &["--cache-id", "fails-after-300ms~cli-1"],
            1,
            "failed: cache fails-after-300ms~cli-1: incremental sync",
        ),
        (
            &["--cache-id", "full-cancelled-after-300ms~cli-1"],
            1,
            "CANCELLED",
        ),
        (
            &["--cache-id", "stuck~cli-1", "--timeout", "1s"],
            3,
            "timeout: timed out after 1",
        ),
        (
            &["--cache-id", "unauthorized"],
            4,
            "unauthorized: cache unauthorized: the API key was rejected (HTTP 401: Invalid API key)",
        ),
        (&["--cache-id", "forbidden"], 4, "HTTP 403"),
        (
            &["--cache-id", "no-such-cache"],
            5,
            "not_found: cache no-such-cache: not found (HTTP 404: Cache not found)",
        ),
        (&["--cache-id", "deleted"], 5, "DELETED"),
        (
            &["--cache-id", "bad-request"],
            6,
            "api_error: cache bad-request: the API refused the request (HTTP 400: Cache settings not found)",
        ),
        (&["--cache-id", "redirect"], 6, "redirects are not followed"),
    ];
    for (args, want, text) in table {
        let (code, stdout, stderr) = run(gate(args));
        assert_eq!(code, want, "{args:?}\n{stdout}\n{stderr}");
        assert_eq!(stdout.lines().count(), 1, "{args:?}: {stdout}");
        assert!(stdout.contains(text), "{args:?}: {stdout}");
    }
}

#[test]
fn the_timeout_names_the_last_state_and_ends_on_time() {
    let started = Instant::now();
    let (code, stdout, _) = run(gate(&[
        "--cache-id",
        "stuck~cli-time",
        "--timeout",
        "1500ms",
    ]));
    assert_eq!(code, 3);
    assert!(
        stdout.contains("incremental sync stuck~cli-time-exec-2 is RUNNING"),
        "{stdout}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500 + 1500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_wrong_key_exits_4_and_is_never_printed() {
    let (code, stdout, stderr) = run(gate(&[
        "--cache-id",
        "completes-after-1s~cli-key",
        "--log-level",
        "trace",
    ])
    .env("PEAKA_API_KEY", "sekrit-value-123"));
    assert_eq!(code, 4, "{stderr}");
    assert!(
        !stdout.contains("sekrit") && !stderr.contains("sekrit"),
        "{stdout}{stderr}"
    );
}

#[test]
fn the_key_never_appears_at_any_log_level() {
    for level in ["trace", "debug"] {
        for format in ["text", "json"] {
            let (code, stdout, stderr) = run(gate(&[
                "--cache-id",
                "flaky-completes-after-300ms~cli-secret",
                "--log-level",
                level,
                "--log-format",
                format,
                "--output",
                "json",
            ]));
            assert_eq!(code, 0, "{stderr}");
            assert!(!stdout.contains(fake_peaka::DEMO_KEY), "{stdout}");
            assert!(
                !stderr.contains(fake_peaka::DEMO_KEY),
                "{level}/{format}: {stderr}"
            );
        }
    }
    let (_, help, _) = run(gate(&["--help"]).env("PEAKA_API_KEY_FILE", "/secret/path"));
    assert!(
        !help.contains(fake_peaka::DEMO_KEY) && !help.contains("/secret/path"),
        "{help}"
    );
    assert!(help.contains("PEAKA_API_KEY"), "{help}");
}

#[test]
fn transient_trouble_is_retried_with_a_warning_that_names_it() {
    for (cache, cause) in [
        ("flaky-completes-after-500ms~cli-t", "HTTP 503"),
        ("rate-limited-completes-after-500ms~cli-t", "HTTP 429"),
    ] {
        let (code, _, stderr) = run(gate(&["--cache-id", cache]));
        assert_eq!(code, 0, "{cache}: {stderr}");
        let warning = stderr
            .lines()
            // (The forecast's history read may fail first, with its own warning.)
            .find(|l| l.contains("WARN") && l.contains("retrying"))
            .unwrap_or_else(|| panic!("{cache}: no warning: {stderr}"));
        assert!(
            warning.contains(cause) && warning.contains("retrying"),
            "{warning}"
        );
    }
    let (code, stdout, _) = run(gate(&["--cache-id", "malformed", "--timeout", "1s"]));
    assert_eq!(code, 3);
    // A 2xx that is not JSON at all is retried (for up to a minute) as a
    // base URL that may point at a web page, not Peaka's API.
    assert!(
        stdout.contains("last error: the base URL answered with a body that is not JSON")
            && stdout.contains("not Peaka's API (the reply is not valid JSON"),
        "{stdout}"
    );
}

#[test]
fn json_logs_are_one_object_per_line_with_top_level_fields() {
    let (code, _, stderr) = run(gate(&[
        "--cache-id",
        "completes-after-300ms~cli-json",
        "--log-format",
        "json",
        "--log-level",
        "debug",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.len() >= 3, "{stderr}");
    for line in &lines {
        assert!(
            line["timestamp"].is_string()
                && line["level"].is_string()
                && line["message"].is_string(),
            "{line}"
        );
    }
    let change = lines
        .iter()
        .find(|l| l["status"] == "RUNNING" && l["level"] == "INFO")
        .expect("a state change");
    assert_eq!(change["cache_id"], "completes-after-300ms~cli-json");
    assert_eq!(change["kind"], "incremental");
    assert!(change["records"].is_number(), "{change}");
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "DEBUG" && l["next_poll_ms"].is_number()),
        "{stderr}"
    );
    assert_eq!(lines.last().unwrap()["result"], "ready");
}

#[test]
fn everything_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, format!("\n  {}  \n", fake_peaka::DEMO_KEY)).unwrap();
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PEAKA_API_KEY_FILE", &key_file)
        .env("PEAKA_BASE_URL", format!("{}/", fake().base_url))
        .env("PEAKA_PROJECT_ID", "cli-env")
        .env(
            "PEAKA_CACHE_ID",
            "completes-after-200ms~env-a, full-completes-after-300ms~env-b",
        )
        .env("PEAKA_EXECUTION", "any")
        .env("PEAKA_SINCE", "1h")
        .env("PEAKA_TIMEOUT", "20s")
        .env("PEAKA_OUTPUT", "json")
        .env("PEAKA_LOG_FORMAT", "json")
        .env("PEAKA_LOG_LEVEL", "warn");
    let (code, stdout, stderr) = run(&mut command);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "", "warn level with nothing to warn about");
    let summary = json_summary(&stdout);
    assert_eq!(summary["caches"].as_array().unwrap().len(), 2);
    assert_eq!(summary["caches"][1]["execution"]["kind"], "full");
}

#[test]
fn usage_errors_exit_2_print_only_to_stderr_and_request_nothing() {
    let cache = "completes-after-1s~cli-usage";
    let table: [(&[&str], &str); 8] = [
        (
            &["--cache-id", cache, "--timeout", "soon"],
            "not a duration",
        ),
        (
            &["--cache-id", cache, "--since", "2026-13-45T00:00:00Z"],
            "RFC 3339",
        ),
        (&["--cache-id", cache, "--execution", "latest"], "latest"),
        (
            &["--cache-id", cache, "--api-key", "hunter2"],
            "--api-key is not accepted",
        ),
        (
            &[
                "--cache-id",
                cache,
                "--base-url",
                "http://peaka.example.com/api/v1",
            ],
            "clear text",
        ),
        (&["--cache-id", cache, "--no-such-flag"], "--no-such-flag"),
        (
            &[
                "--cache-id",
                cache,
                "--max-interval",
                "100ms",
                "--initial-interval",
                "1s",
            ],
            "shorter than",
        ),
        (&[], "--cache-id"),
    ];
    for (args, hint) in table {
        let (code, stdout, stderr) = run(gate(args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
        assert!(stderr.contains(hint), "{args:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
    let (code, _, stderr) = run(gate(&["--cache-id", cache]).env_remove("PEAKA_API_KEY"));
    assert_eq!(code, 2);
    assert!(stderr.contains("no API key"), "{stderr}");
    assert_eq!(fake().requests_for(cache), 0);
}

#[test]
fn help_and_version_exit_0() {
    let (code, help, _) = run(Command::new(BIN).arg("--help"));
    assert_eq!(code, 0);
    for needle in [
        "--project-id",
        "--cache-id",
        "--api-key-file",
        "--started-after",
        "--trigger",
        "--stall-timeout",
        "EXIT CODES",
        "7    stalled",
        "143",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
    let (code, version, _) = run(Command::new(BIN).arg("--version"));
    assert_eq!(code, 0);
    assert_eq!(
        version.trim(),
        concat!("peaka-wait ", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn github_actions_get_outputs_a_step_summary_and_an_annotation() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    let summary = dir.path().join("summary");
    let github = |cache: &str| {
        let mut command = gate(&["--cache-id", cache]);
        command
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary);
        command
    };

    let (code, stdout, stderr) = run(&mut github("fails-after-200ms~gh"));
    assert_eq!(code, 1, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(
            "::error title=peaka-wait%3A failed::cache fails-after-200ms~gh: incremental sync"
        ),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("failed: "), "{}", lines[1]);
    let outputs = std::fs::read_to_string(&output).unwrap();
    for line in [
        "result=failed",
        "exit-code=1",
        "cache-status=FAILED",
        "execution-id=fails-after-200ms~gh-exec-2",
        "execution-kind=incremental",
    ] {
        assert!(outputs.lines().any(|l| l == line), "no {line} in {outputs}");
    }
    assert!(
        outputs.lines().any(|l| l.starts_with("finished-at=2")),
        "{outputs}"
    );
    let json = outputs
        .lines()
        .find_map(|l| l.strip_prefix("summary-json="))
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(json).unwrap()["result"],
        "failed"
    );

    let (code, stdout, _) = run(&mut github("completes-after-200ms~gh"));
    assert_eq!(code, 0);
    assert_eq!(
        stdout.lines().count(),
        1,
        "no annotation when ready: {stdout}"
    );
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(
        outputs.lines().any(|l| l == "result=ready"),
        "appended, not replaced: {outputs}"
    );
    assert!(outputs.lines().any(|l| l == "records=1000"), "{outputs}");
    let table = std::fs::read_to_string(&summary).unwrap();
    assert!(
        table.contains("### peaka-wait: failed") && table.contains("### peaka-wait: ready"),
        "{table}"
    );
    assert!(
        table.contains("| completes-after-200ms~gh | ready | COMPLETED | incremental |"),
        "{table}"
    );
}

#[cfg(unix)]
#[test]
fn signals_stop_the_gate_at_once_with_130_and_143() {
    for (signal, want) in [("INT", 130), ("TERM", 143)] {
        let mut child = gate(&[
            "--cache-id",
            &format!("stuck~cli-sig-{signal}"),
            "--timeout",
            "1m",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        // Wait until the gate has seen the cache, so the handlers are in.
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap() > 0 && !line.contains("is RUNNING") {
            line.clear();
        }
        let sent = Instant::now();
        let killed = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(want), "SIG{signal}");
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "SIG{signal} took {:?}",
            sent.elapsed()
        );
        let mut stdout = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
        assert!(
            stdout.starts_with("interrupted: interrupted by SIG"),
            "{stdout}"
        );
    }
}

#[test]
fn short_help_is_a_quick_look_and_long_help_the_manual() {
    let (code, quick, _) = run(Command::new(BIN).env_clear().arg("-h"));
    assert_eq!(code, 0);
    assert!(quick.lines().count() <= 40, "{quick}");
    assert!(quick.contains("--cache-id <ID>"), "{quick}");
    assert!(quick.contains("peaka-wait --help"), "{quick}");
    let (code, manual, _) = run(Command::new(BIN).env_clear().arg("--help"));
    assert_eq!(code, 0);
    assert!(manual.lines().count() > 100, "{manual}");
    assert!(manual.contains("--request-timeout"), "{manual}");
    // After `--`, -h is the command's.
    let (code, _, stderr) = run(Command::new(BIN).env_clear().args(["--", "ls", "-h"]));
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn the_man_page_has_exit_status_environment_and_examples() {
    let (code, page, _) = run(Command::new(BIN).args(["--generate", "man"]));
    assert_eq!(code, 0);
    for heading in [
        ".SH \"EXIT STATUS\"",
        ".SH \"ENVIRONMENT\"",
        ".SH \"EXAMPLES\"",
    ] {
        assert!(page.contains(heading), "{heading} missing");
    }
    assert!(!page.contains(".SH EXTRA"), "{page}");
}

#[test]
fn an_empty_variable_is_an_unset_one() {
    // A template or an unset CI input leaves `PEAKA_TIMEOUT=`: the default
    // holds, as for empty booleans and proxy variables.
    let mut command = gate(&["--cache-id", "completes-after-100ms~cli-empty"]);
    for name in [
        "PEAKA_TIMEOUT",
        "PEAKA_SINCE",
        "PEAKA_STARTED_AFTER",
        "PEAKA_OUTPUT",
        "PEAKA_LOG_LEVEL",
        "PEAKA_LOG_FORMAT",
        "PEAKA_TRIGGER",
        "PEAKA_EXECUTION",
        "PEAKA_STALL_TIMEOUT",
        "PEAKA_REQUEST_TIMEOUT",
        "PEAKA_API_KEY_FILE",
        "PEAKA_TABLE",
        "PEAKA_SCHEMA",
        "PEAKA_PROXY",
        "PEAKA_ALL_CACHES",
        "PEAKA_QUIET",
    ] {
        command.env(name, "");
    }
    let (code, stdout, stderr) = run(command);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("ready: "), "{stdout}");
    // An empty cache id list is no list: the message for none at all.
    let (code, _, stderr) = run(common::gate_at(fake(), "demo", &[]).env("PEAKA_CACHE_ID", ""));
    assert_eq!(code, 2);
    assert!(stderr.contains("no cache: pass --cache-id"), "{stderr}");
}
