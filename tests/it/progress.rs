//! The live progress line, checked under a real pseudo-terminal: the built
//! binary runs inside `script` (util-linux), which gives it a terminal for
//! stderr and records everything drawn on it.

use crate::common;

use std::process::Command;

use common::{BIN, start_fake};

/// The shell command that runs the gate on `cache` in a clean environment
/// with extra `env` (NAME=value) and `args`.
fn gate_command(fake: &fake_peaka::Running, cache: &str, env: &[&str], args: &[&str]) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = vec![
        "env".to_owned(),
        "-i".to_owned(),
        "TERM=xterm".to_owned(),
        format!("PEAKA_API_KEY={}", fake_peaka::DEMO_KEY),
        format!("PEAKA_BASE_URL={}", fake.base_url),
    ];
    line.extend(env.iter().map(|e| e.to_string()));
    line.push(BIN.to_owned());
    line.extend(
        [
            "--project-id",
            "p",
            "--cache-id",
            cache,
            "--initial-interval",
            "100ms",
            "--max-interval",
            "200ms",
        ]
        .iter()
        .chain(args)
        .map(|s| s.to_string()),
    );
    line.iter().map(|s| quote(s)).collect::<Vec<_>>().join(" ")
}

/// Runs the shell `command` under a pseudo-terminal `columns` wide;
/// returns the exit code and the terminal's bytes.
fn in_pty(columns: usize, command: &str) -> (i32, String) {
    let command = format!("stty cols {columns} rows 40; {command}");
    let output = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .output()
        .expect("run script (util-linux)");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// Runs the gate on `cache` under a pseudo-terminal with extra `env`
/// (NAME=value) and `args`; returns the exit code and the terminal's bytes.
fn under_pty(cache: &str, env: &[&str], args: &[&str]) -> (i32, String) {
    let fake = start_fake(fake_peaka::Options::default());
    in_pty(WIDE, &gate_command(&fake, cache, env, args))
}

/// A terminal wide enough for the whole progress line.
const WIDE: usize = 200;

/// A narrow terminal.
const COLUMNS: usize = 100;

/// What the terminal shows, one entry per stretch between carriage
/// returns and line feeds, without escape sequences.
fn drawn(tty: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut chars = tty.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, then a final byte in @..~.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain
        .split(['\r', '\n'])
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The progress lines drawn (those that say the time elapsed).
fn progress_lines(tty: &str) -> Vec<String> {
    drawn(tty)
        .into_iter()
        .filter(|l| l.contains(" elapsed"))
        .collect()
}

/// Erase-the-line, as indicatif (console) clears its line.
const CLEAR_LINE: &str = "\u{1b}[2K";

#[test]
fn a_terminal_gets_a_progress_line_that_is_cleared_at_the_end() {
    let (code, tty) = under_pty("completes-after-3s~pty-1", &[], &[]);
    assert_eq!(code, 0, "{tty}");
    let shown = tty
        .rfind("records (")
        .unwrap_or_else(|| panic!("no progress line: {tty:?}"));
    assert!(tty.contains("% of the last run's)"), "{tty:?}");
    assert!(tty.contains(" elapsed, expected at 20"), "{tty:?}");
    // After the line was last drawn, it is erased, and the summary follows.
    let after = &tty[shown..];
    let cleared = after
        .find(CLEAR_LINE)
        .unwrap_or_else(|| panic!("the line is never cleared: {after:?}"));
    let summary = tty.rfind("ready: cache").expect("the summary");
    assert!(shown + cleared < summary, "{tty:?}");
    assert!(
        !tty[summary..].contains("records ("),
        "drawn again after the summary"
    );
    // Coloured spinner on a colour terminal.
    assert!(tty.contains("\u{1b}[36m"), "{tty:?}");
}

#[test]
fn no_color_and_dumb_terminals_get_no_colour() {
    for env in [&["NO_COLOR=1"][..], &["TERM=dumb"][..]] {
        let (code, tty) = under_pty("completes-after-2s~pty-2", env, &[]);
        assert_eq!(code, 0, "{tty}");
        assert!(!tty.contains("\u{1b}[36m"), "{env:?}: {tty:?}");
    }
}

#[test]
fn json_logs_get_no_progress_line() {
    let (code, tty) = under_pty("completes-after-2s~pty-3", &[], &["--log-format", "json"]);
    assert_eq!(code, 0, "{tty}");
    assert!(!tty.contains("records ("), "{tty:?}");
    assert!(!tty.contains(CLEAR_LINE), "{tty:?}");
}

#[test]
fn the_line_counts_every_second_between_polls() {
    // Polls 3 s apart: the seconds between them come from the ticker alone.
    let (code, tty) = under_pty(
        "completes-after-5s~pty-tick",
        &[],
        &["--initial-interval", "3s", "--max-interval", "3s"],
    );
    assert_eq!(code, 0, "{tty}");
    let lines = progress_lines(&tty);
    for second in ["1s elapsed", "2s elapsed", "4s elapsed"] {
        assert!(
            lines.iter().any(|l| l.contains(second)),
            "{second} never shown: {lines:#?}"
        );
    }
    let countdowns: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter_map(|l| l.rsplit_once("(in ").map(|(_, rest)| rest))
        .collect();
    assert!(
        countdowns.len() >= 3,
        "the countdown stood still: {lines:#?}"
    );
}

#[test]
fn a_long_cache_id_fits_the_terminal_width() {
    let fake = start_fake(fake_peaka::Options::default());
    let cache = format!("completes-after-2s~{}", "x".repeat(300));
    let (code, tty) = in_pty(COLUMNS, &gate_command(&fake, &cache, &[], &[]));
    assert_eq!(code, 0, "{tty}");
    let lines = progress_lines(&tty);
    assert!(!lines.is_empty(), "no progress line: {tty:?}");
    for line in &lines {
        assert!(
            line.trim_end().chars().count() <= COLUMNS,
            "{} columns: {line:?}",
            line.trim_end().chars().count()
        );
    }
    // The id is cut, not the time: the countdown is still on the line.
    assert!(
        lines.iter().any(|l| l.contains("expected at")),
        "{lines:#?}"
    );
}

#[test]
fn quiet_and_ci_get_no_progress_line() {
    for (env, args) in [
        (&[][..], &["-q"][..]),
        (&["CI=true"][..], &[][..]),
        (&["GITHUB_ACTIONS=true"][..], &[][..]),
    ] {
        let (code, tty) = under_pty("completes-after-2s~pty-quiet", env, args);
        assert_eq!(code, 0, "{env:?} {args:?}: {tty}");
        assert!(progress_lines(&tty).is_empty(), "{env:?} {args:?}: {tty:?}");
        assert!(!tty.contains(CLEAR_LINE), "{env:?} {args:?}: {tty:?}");
        assert!(tty.contains("ready: cache"), "{env:?} {args:?}: {tty:?}");
    }
}

#[test]
fn ctrl_c_and_sigterm_clear_the_line() {
    let fake = start_fake(fake_peaka::Options::default());
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        // The gate replaces the shell (exec), so $$ is the gate's pid.
        let gate = gate_command(&fake, &format!("stuck~pty-{signal}"), &[], &[]);
        let (exit, tty) = in_pty(WIDE, &format!("(sleep 2; kill -{signal} $$) & exec {gate}"));
        assert_eq!(exit, code, "{signal}: {tty}");
        let shown = tty
            .rfind(" elapsed")
            .unwrap_or_else(|| panic!("{signal}: no progress line: {tty:?}"));
        assert!(
            tty[shown..].contains(CLEAR_LINE),
            "{signal}: the line is never cleared: {:?}",
            &tty[shown..]
        );
        let last = drawn(&tty);
        assert!(
            !last.last().is_some_and(|l| l.contains(" elapsed")),
            "{signal}: the progress line is left on the screen: {last:#?}"
        );
    }
}

#[test]
fn a_terminal_gets_compact_log_lines_and_the_outcome_once() {
    let (code, tty) = under_pty("fails-after-1s~pty-once", &[], &[]);
    assert_eq!(code, 1, "{tty}");
    let lines = drawn(&tty);
    // No time stamp, no INFO column: the sentence alone.
    let start = lines
        .iter()
        .find(|l| l.contains("waiting for the refresh"))
        .unwrap_or_else(|| panic!("no start line: {lines:#?}"));
    assert!(start.starts_with("waiting for the refresh"), "{start:?}");
    assert!(!tty.contains(" INFO "), "{tty:?}");
    assert!(!tty.contains(" ERROR "), "{tty:?}");
    // The summary says the failure; no log line says it again.
    let summary = lines
        .iter()
        .find(|l| l.starts_with("failed: "))
        .unwrap_or_else(|| panic!("no summary: {lines:#?}"));
    // Without its "(1s, 10 polls)", the summary's sentence is the log's.
    let sentence = summary
        .rsplit_once(" (")
        .map_or(summary.as_str(), |(s, _)| s);
    let sentence = sentence.trim_start_matches("failed: ");
    assert_eq!(tty.matches(sentence).count(), 1, "{tty:?}");
}

#[test]
fn a_pipe_keeps_stamped_log_lines_and_the_outcome_log() {
    let fake = start_fake(fake_peaka::Options::default());
    let (code, stdout, stderr) = common::run(common::gate_at(
        &fake,
        "p",
        &["--cache-id", "fails-after-1s~pipe-once"],
    ));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(" INFO "), "{stderr}");
    assert!(stderr.contains(" ERROR "), "{stderr}");
    let first = stdout.lines().next().expect("a summary");
    let sentence = first.rsplit_once(" (").map_or(first, |(s, _)| s);
    assert!(
        stderr.contains(sentence.trim_start_matches("failed: ")),
        "{stderr}"
    );
}

#[test]
fn a_listing_leaves_no_progress_line_behind() {
    let fake = start_fake(fake_peaka::Options::default());
    let mut gate = gate_command(&fake, "completes-after-1s~pty-list", &[], &[]);
    gate.push_str(" '--list-caches'");
    let (code, tty) = in_pty(WIDE, &gate);
    assert_eq!(code, 0, "{tty}");
    // No spinner was ever drawn, so none is left on the screen.
    assert!(!tty.contains('\u{2801}'), "{tty:?}");
    assert!(!tty.contains(CLEAR_LINE), "{tty:?}");
}
