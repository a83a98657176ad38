//! First contact and 3 a.m. debugging (issue 9, and the command-line half
//! of issue 8): the built binary's messages name what the user set, bad
//! values are usage errors that never echo the key, usage errors reach
//! GitHub Actions and `--output json`, and the CLI extras (--generate,
//! --quiet, --list-caches) work as documented.

use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::common;
use common::{BIN, json_summary, run};

/// A key long enough to be accepted, and distinctive enough to grep for.
const KEY: &str = "sk-live-SECRET-4711";

fn options() -> fake_peaka::Options {
    let mut options = fake_peaka::Options {
        api_key: KEY.into(),
        ..Default::default()
    };
    options.projects.insert(
        "fc-list".into(),
        vec![
            "completes-after-200ms~fc-list-a".into(),
            "full-fails-after-200ms~fc-list-b".into(),
        ],
    );
    options.projects.insert(
        "fc-all".into(),
        vec!["completes-after-100ms~fc-all-a".into()],
    );
    options
}

fn fake() -> &'static fake_peaka::Running {
    static FAKE: OnceLock<fake_peaka::Running> = OnceLock::new();
    FAKE.get_or_init(|| common::start_fake(options()))
}

/// The binary with a clean environment: the fake's URL and the key only.
fn bare(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PEAKA_API_KEY", KEY)
        .env("PEAKA_BASE_URL", &fake().base_url)
        .args(args);
    command
}

/// A gate on project `demo` with a fast schedule.
fn gate(args: &[&str]) -> Command {
    let mut command = bare(&[
        "--project-id",
        "demo",
        "--initial-interval",
        "100ms",
        "--max-interval",
        "200ms",
    ]);
    command.args(args);
    command
}

/// Runs a command that must be a usage error: exit 2, nothing on stdout,
/// never the key; returns stderr.
fn usage_error(mut command: Command) -> String {
    let (code, stdout, stderr) = run(&mut command);
    assert_eq!(code, 2, "{command:?}: {stderr}");
    assert_eq!(stdout, "", "{command:?}");
    assert!(
        !stderr.contains("SECRET"),
        "{command:?} echoed the key: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn a_bad_value_is_named_the_way_the_user_set_it() {
    let stderr = usage_error({
        let mut c = gate(&["--cache-id", "c"]);
        c.env("PEAKA_TIMEOUT", "10");
        c
    });
    assert!(
        stderr.contains("PEAKA_TIMEOUT=10: a duration needs a unit (10s, 10m"),
        "{stderr}"
    );
    let stderr = usage_error(gate(&["--cache-id", "c", "--timeout", "10"]));
    assert!(
        stderr.contains("--timeout 10: a duration needs a unit"),
        "{stderr}"
    );
    // In the GitHub Action the variable comes from an input: name both.
    let stderr = usage_error({
        let mut c = gate(&["--cache-id", "c"]);
        c.env("PEAKA_EXECUTION", "latest")
            .env("PEAKA_WAIT_ACTION", "1");
        c
    });
    assert!(
        stderr.contains("PEAKA_EXECUTION=latest (the action's `execution` input): not one of any, incremental, full, both"),
        "{stderr}"
    );
}

#[test]
fn the_usage_line_shows_what_is_required_and_not_what_the_environment_gave() {
    // Project and URL from the environment, no cache: the message asks for
    // the cache (or --all-caches), not for flags that are set.
    let stderr = usage_error({
        let mut c = bare(&[]);
        c.env("PEAKA_PROJECT_ID", "demo");
        c
    });
    assert!(
        stderr.contains("--cache-id") && stderr.contains("--all-caches"),
        "{stderr}"
    );
    assert!(!stderr.contains("--project-id <ID> --base-url"), "{stderr}");
    // The usage line says one of --cache-id/--all-caches is required.
    let (code, help, _) = run(Command::new(BIN).env_clear().arg("--help"));
    assert_eq!(code, 0);
    assert!(
        help.contains(
            "Usage: peaka-wait --project-id <ID> (--cache-id <ID>... | --all-caches) [OPTIONS]"
        ),
        "{help}"
    );
    for needle in [
        "at most 31 days",
        "at most a\n    year",
        "usage_error",
        "PEAKA_ALL_CACHES, PEAKA_QUIET",
    ] {
        let long: String = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let needle: String = needle.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(long.contains(&needle), "--help lacks {needle}");
    }
}

#[test]
fn all_caches_accepts_the_usual_spellings_of_true_and_false() {
    for yes in ["1", "yes", "TRUE", "True", "on"] {
        let mut command = bare(&["--project-id", "fc-all", "--timeout", "20s"]);
        command.env("PEAKA_ALL_CACHES", yes);
        let (code, _, stderr) = run(&mut command);
        assert_eq!(code, 0, "PEAKA_ALL_CACHES={yes}: {stderr}");
    }
    let stderr = usage_error({
        let mut c = bare(&["--project-id", "fc-all"]);
        c.env("PEAKA_ALL_CACHES", "0");
        c
    });
    assert!(stderr.contains("no cache"), "{stderr}");
    let stderr = usage_error({
        let mut c = bare(&["--project-id", "fc-all"]);
        c.env("PEAKA_ALL_CACHES", "maybe");
        c
    });
    assert!(
        stderr.contains("PEAKA_ALL_CACHES=maybe")
            && stderr.contains("true/false, 1/0, yes/no, on/off"),
        "{stderr}"
    );
}

#[test]
fn negative_absurd_and_overflowing_durations_are_usage_errors() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let table: [Case; 8] = [
        (
            &["--since", "-15m"],
            &[],
            "--since -15m: is negative; --since 15m already means 15m before the start",
        ),
        (&["--timeout", "-5m"], &[], "--timeout -5m: is negative"),
        (
            &[],
            &[("PEAKA_SINCE", "-15m")],
            "PEAKA_SINCE=-15m: is negative",
        ),
        (&["--since", "99999999h"], &[], "too far back"),
        (
            &["--timeout", "18446744073709551615s"],
            &[],
            "too large: the maximum is 31 days",
        ),
        (&["--timeout", "2562047788015215h"], &[], "too large"),
        (
            &[],
            &[("PEAKA_TIMEOUT", "9223372036854775807s")],
            "PEAKA_TIMEOUT=9223372036854775807s: too large",
        ),
        (&["--request-timeout", "32d"], &[], "--request-timeout 32d"),
    ];
    for (args, env, hint) in table {
        let mut command = gate(&["--cache-id", "completes-after-1s~fc-neg"]);
        command.args(args).envs(env.iter().copied());
        let stderr = usage_error(command);
        assert!(stderr.contains(hint), "{args:?} {env:?}: {stderr}");
    }
    assert_eq!(fake().requests_for("completes-after-1s~fc-neg"), 0);
}

#[test]
fn a_bound_in_the_future_warns_and_one_after_the_deadline_is_refused() {
    let soon = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(30)).to_string();
    let (code, _, stderr) = run(gate(&[
        "--cache-id",
        "completes-after-100ms~fc-future",
        "--since",
        &soon,
        "--timeout",
        "1s",
    ]));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("in the future"), "{stderr}");
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string();
    let stderr = usage_error(gate(&[
        "--cache-id",
        "completes-after-100ms~fc-future-2",
        "--started-after",
        &later,
        "--timeout",
        "5m",
    ]));
    assert!(stderr.contains("after the deadline"), "{stderr}");
}

#[test]
fn a_trigger_with_timeout_0_is_refused_before_any_request() {
    let cache = "triggered-completes-after-1s~fc-trigger0";
    let stderr = usage_error(gate(&[
        "--cache-id",
        cache,
        "--trigger",
        "full",
        "--timeout",
        "0",
    ]));
    assert!(
        stderr.contains("--timeout 0") && stderr.contains("--trigger full"),
        "{stderr}"
    );
    assert_eq!(fake().requests_for(cache), 0);
}

#[test]
fn a_key_too_short_to_be_real_is_refused_and_our_words_stay_whole() {
    let mut command = gate(&["--cache-id", "c"]);
    command.env("PEAKA_API_KEY", "e");
    let stderr = usage_error(command);
    assert!(
        stderr.contains("PEAKA_API_KEY is shorter than 8 characters"),
        "{stderr}"
    );
    assert!(!stderr.contains("redacted"), "{stderr}");
}

#[test]
fn a_key_typed_where_a_path_or_a_flag_goes_is_never_echoed() {
    let file = |c: &mut Command| {
        c.env_remove("PEAKA_API_KEY");
    };
    let mut by_flag = gate(&["--cache-id", "c", "--api-key-file", KEY]);
    file(&mut by_flag);
    let stderr = usage_error(by_flag);
    assert!(
        stderr.contains("--api-key-file") && stderr.contains("cannot read"),
        "{stderr}"
    );
    let mut by_env = gate(&["--cache-id", "c"]);
    file(&mut by_env);
    by_env.env("PEAKA_API_KEY_FILE", KEY);
    let stderr = usage_error(by_env);
    assert!(stderr.contains("PEAKA_API_KEY_FILE"), "{stderr}");
    let after_dashes = format!("--api-key={KEY}");
    usage_error(gate(&["--cache-id", "c", "--", &after_dashes]));
    let stderr = usage_error(gate(&["--cache-id", "c", KEY]));
    assert!(stderr.contains("no positional arguments"), "{stderr}");
    let unknown = format!("--token={KEY}");
    let stderr = usage_error(gate(&["--cache-id", "c", &unknown]));
    assert!(stderr.contains("unknown flag --token"), "{stderr}");
}

#[test]
fn a_key_file_is_read_up_to_64_kib() {
    let mut command = gate(&["--cache-id", "c", "--api-key-file", "/dev/zero"]);
    command.env_remove("PEAKA_API_KEY");
    // The message is only reached by a read that stopped at 64 KiB: an
    // unbounded read of /dev/zero never ends.
    let stderr = usage_error(command);
    assert!(stderr.contains("larger than 64 KiB"), "{stderr}");
}

#[test]
fn a_usage_error_reaches_github_actions_and_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    let mut command = gate(&["--cache-id", "c", "--timeout", "10"]);
    command
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output);
    let (code, stdout, stderr) = run(&mut command);
    assert_eq!(code, 2, "{stderr}");
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(outputs.contains("result=usage_error\n"), "{outputs}");
    assert!(outputs.contains("exit-code=2\n"), "{outputs}");
    assert!(
        stdout.starts_with(
            "::error title=peaka-wait%3A usage_error::--timeout 10: a duration needs a unit"
        ),
        "{stdout}"
    );
    // JSON on stdout, even when --output comes after the mistake, and for
    // an error clap itself reports.
    for args in [
        &["--cache-id", "c", "--timeout", "10", "--output", "json"][..],
        &["--cache-id", "c", "--no-such-flag", "--output=json"][..],
    ] {
        let (code, stdout, _) = run(gate(args));
        assert_eq!(code, 2);
        let summary = json_summary(&stdout);
        assert_eq!(summary["result"], "usage_error");
        assert_eq!(summary["exitCode"], 2);
        assert!(summary["message"].as_str().unwrap().len() > 10, "{summary}");
    }
    let mut command = gate(&[
        "--cache-id",
        "c",
        "--base-url",
        &format!("http://{KEY}.example/"),
    ]);
    command.env("PEAKA_OUTPUT", "JSON");
    let (code, stdout, stderr) = run(&mut command);
    assert_eq!(code, 2);
    assert_eq!(json_summary(&stdout)["result"], "usage_error");
    assert!(
        !stdout.contains("SECRET") && !stderr.contains("SECRET"),
        "{stdout}{stderr}"
    );
}

#[test]
fn generate_prints_a_man_page_and_completions_without_a_key() {
    let generate = |what: &str| {
        let (code, stdout, stderr) = run(Command::new(BIN).env_clear().args(["--generate", what]));
        assert_eq!(code, 0, "{what}: {stderr}");
        assert_eq!(stderr, "", "{what}");
        stdout
    };
    let man = generate("man");
    assert!(man.contains(".TH peaka-wait"), "{man}");
    assert!(man.contains("project\\-id"), "{man}");
    let bash = generate("complete-bash");
    assert!(
        bash.contains("--project-id") && bash.contains("--list-caches"),
        "{bash}"
    );
    for (what, needle) in [
        ("complete-zsh", "#compdef peaka-wait"),
        ("complete-fish", "complete -c peaka-wait"),
        ("complete-powershell", "Register-ArgumentCompleter"),
    ] {
        let script = generate(what);
        assert!(script.contains(needle), "{what}: {script}");
    }
    // The bash completion loads in a real bash and completes our flags.
    let script = format!(
        "source <({BIN} --generate complete-bash) && complete -p peaka-wait && \
         COMP_WORDS=(peaka-wait --list-c) COMP_CWORD=1 COMP_LINE='peaka-wait --list-c' COMP_POINT=19 && \
         _peaka__wait peaka-wait --list-c peaka-wait && printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    let (code, stdout, stderr) = run(Command::new("bash").args(["-c", &script]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("-F _peaka__wait peaka-wait"), "{stdout}");
    assert!(stdout.contains("--list-caches"), "{stdout}");
    // Values checked by peaka-wait itself still complete.
    let script = format!(
        "source <({BIN} --generate complete-bash) && \
         COMP_WORDS=(peaka-wait --execution '') COMP_CWORD=2 COMP_LINE='peaka-wait --execution ' COMP_POINT=23 && \
         _peaka__wait peaka-wait '' --execution && echo \"${{COMPREPLY[@]}}\""
    );
    let (code, stdout, stderr) = run(Command::new("bash").args(["-c", &script]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "any incremental full both");
    let mut tcsh = Command::new(BIN);
    tcsh.env_clear().args(["--generate", "complete-tcsh"]);
    let stderr = usage_error(tcsh);
    assert!(
        stderr.contains("complete-tcsh") || stderr.contains("--generate"),
        "{stderr}"
    );
}

#[test]
fn quiet_keeps_only_errors_on_stderr_and_the_summary_on_stdout() {
    let (code, stdout, stderr) = run(gate(&[
        "--cache-id",
        "completes-after-300ms~fc-quiet",
        "-q",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "");
    assert!(stdout.starts_with("ready: "), "{stdout}");
    let mut command = gate(&[
        "--cache-id",
        "fails-after-300ms~fc-quiet",
        "--log-level",
        "debug",
    ]);
    command.env("PEAKA_QUIET", "yes");
    let (code, stdout, stderr) = run(&mut command);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.starts_with("failed: "), "{stdout}");
    assert!(
        !stderr.is_empty() && stderr.lines().all(|l| l.contains("ERROR")),
        "{stderr}"
    );
}

#[test]
fn list_caches_shows_the_project_as_a_table_or_json() {
    let (code, stdout, stderr) = run(bare(&["--project-id", "fc-list", "--list-caches"]));
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("ID ") && lines[0].contains("TABLE"),
        "{stdout}"
    );
    assert!(
        stdout.contains("completes-after-200ms~fc-list-a"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fake-catalog") && stdout.contains("public"),
        "{stdout}"
    );
    // A cache id in the environment does not stop a listing.
    let mut command = bare(&[
        "--project-id",
        "fc-list",
        "--list-caches",
        "--output",
        "json",
    ]);
    command.env("PEAKA_CACHE_ID", "something-else");
    let (code, stdout, stderr) = run(&mut command);
    assert_eq!(code, 0, "{stderr}");
    let list: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list[1]["id"], "full-fails-after-200ms~fc-list-b");
    assert!(list[1]["full"]["status"].is_string(), "{list}");
    let mut wrong_key = bare(&["--project-id", "fc-list", "--list-caches"]);
    wrong_key.env("PEAKA_API_KEY", "not-the-key-at-all");
    let (code, stdout, stderr) = run(&mut wrong_key);
    assert_eq!(code, 4, "{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.contains("cannot list the caches"), "{stderr}");
}

#[test]
fn list_caches_escapes_hostile_names_and_maps_404() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(wiremock::MockServer::start());
    let long = "n".repeat(10 * 1024);
    let body = serde_json::json!([
        {"id": "c1", "status": "COMPLETED", "catalogId": "cat", "schemaName": long,
         "tableName": "t\n::warning::x\u{1b}[31m"},
        {"id": "::error::forged", "status": "RUNNING"}
    ]);
    runtime.block_on(
        wiremock::Mock::given(wiremock::matchers::path(
            "/api/v1/data/projects/hostile/cache/status",
        ))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(body))
        .mount(&server),
    );
    let base = format!("{}/api/v1", server.uri());
    let list = |project: &str| {
        let mut command = Command::new(BIN);
        command.env_clear().env("PEAKA_API_KEY", KEY).args([
            "--base-url",
            &base,
            "--project-id",
            project,
            "--list-caches",
        ]);
        run(&mut command)
    };
    let (code, stdout, stderr) = list("hostile");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.lines().all(|l| !l.starts_with("::")), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
    assert!(stdout.contains("t\\n::warning::x\\u{1b}[31m"), "{stdout}");
    assert!(stdout.lines().all(|l| l.chars().count() < 400), "{stdout}");
    let (code, _, stderr) = list("missing");
    assert_eq!(code, 5, "{stderr}");
}

#[test]
fn several_scenario_ids_work_on_a_project_that_never_listed_them() {
    let (code, stdout, stderr) = run(gate(&[
        "--cache-id",
        "completes-after-200ms~fc-multi-a,full-completes-after-300ms~fc-multi-b",
        "--timeout",
        "20s",
    ]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, _) = run(gate(&["--cache-id", "completes-after-1s~fc-multi-c,nope"]));
    assert_eq!(code, 5);
    assert!(
        stdout.contains("cache nope: not among the caches of project demo"),
        "{stdout}"
    );
}

/// Runs the GitHub Action's run step (`scripts/action-run.sh`) with these
/// inputs, as the runner passes them.
fn action_step(inputs: &[(&str, &str)], github_output: &std::path::Path) -> (u8, String, String) {
    let mut command = Command::new("bash");
    command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/action-run.sh"
        ))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PEAKA_WAIT_BIN", BIN)
        .env("PEAKA_API_KEY", KEY)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", github_output)
        .env("INPUT_BASE_URL", &fake().base_url)
        .envs(inputs.iter().copied());
    run(&mut command)
}

#[test]
fn the_action_passes_booleans_as_written_and_names_a_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    let (code, stdout, stderr) = action_step(
        &[
            ("INPUT_PROJECT_ID", "fc-all"),
            ("INPUT_ALL_CACHES", "True"),
            ("INPUT_QUIET", "YES"),
            ("INPUT_TIMEOUT", "20s"),
            ("INPUT_INITIAL_INTERVAL", "100ms"),
        ],
        &output,
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stderr, "", "quiet: nothing but errors");
    assert!(
        std::fs::read_to_string(&output)
            .unwrap()
            .contains("result=ready\n")
    );
    let (code, stdout, stderr) = action_step(
        &[
            ("INPUT_PROJECT_ID", "fc-all"),
            ("INPUT_CACHE_ID", "c"),
            ("INPUT_TIMEOUT", "10"),
        ],
        &output,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("PEAKA_TIMEOUT=10 (the action's `timeout` input): a duration needs a unit"),
        "{stderr}"
    );
    assert!(
        stdout.starts_with("::error title=peaka-wait%3A usage_error::PEAKA_TIMEOUT=10"),
        "{stdout}"
    );
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(
        outputs.ends_with("result=usage_error\nexit-code=2\n"),
        "{outputs}"
    );
}

#[test]
fn a_far_future_bound_is_said_in_years_not_hours() {
    let far =
        (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(3 * 365 * 24 + 100)).to_string();
    let stderr = usage_error(gate(&[
        "--cache-id",
        "completes-after-100ms~fc-far",
        "--since",
        &far,
    ]));
    assert!(
        stderr.contains("is about 3 years in the future"),
        "{stderr}"
    );
    assert!(!stderr.contains("h10m"), "{stderr}");
}
