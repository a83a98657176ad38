//! The live progress line, checked under a real pseudo-terminal: the built
//! binary runs inside `script` (util-linux), which gives it a terminal for
//! stderr and records everything drawn on it.

use crate::common;

use std::process::Command;

use common::{BIN, start_fake};

/// Runs the gate on `cache` under a pseudo-terminal with extra `env`
/// (NAME=value) and `args`; returns the exit code and the terminal's bytes.
fn under_pty(cache: &str, env: &[&str], args: &[&str]) -> (i32, String) {
    let fake = start_fake(fake_peaka::Options::default());
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
    let command = line.iter().map(|s| quote(s)).collect::<Vec<_>>().join(" ");
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
