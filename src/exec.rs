//! `peaka-wait [OPTIONS] -- COMMAND [ARGS…]`: once the gate is ready, run
//! the job. On Unix the command replaces the gate (exec), so it keeps the
//! gate's pid, receives the signals sent to it, and its exit code is the
//! process's; on Windows it is spawned and waited for.
//!
//! This module owns the child's environment (what the gate decided, added;
//! the API key, removed unless asked for) and the shell's conventions for
//! a command that cannot be started: 127 not found, 126 not executable.

use std::ffi::OsString;
use std::process::Command;

use crate::text::shown;

/// Exit code for a command that does not exist, as a shell gives it.
pub const NOT_FOUND: u8 = 127;
/// Exit code for a command that exists but cannot be executed.
pub const NOT_EXECUTABLE: u8 = 126;

/// The longest value of a `PEAKA_*` variable taken from the server's reply:
/// an execution id or a timestamp is far shorter.
const MAX_VALUE_CHARS: usize = 256;

/// The variables that hold or point at the API key, removed from the
/// child's environment unless `--pass-api-key`.
pub const KEY_VARIABLES: [&str; 2] = ["PEAKA_API_KEY", "PEAKA_API_KEY_FILE"];

/// Builds the command: `argv[0]` looked up on `PATH` as a shell would,
/// the environment extended with `extra` (values from the server made
/// safe) and, unless `pass_api_key`, stripped of the key.
pub fn command(argv: &[OsString], extra: &[(&str, String)], pass_api_key: bool) -> Option<Command> {
    let (program, args) = argv.split_first()?;
    let mut command = Command::new(program);
    command.args(args);
    if !pass_api_key {
        for name in KEY_VARIABLES {
            command.env_remove(name);
        }
    }
    for (name, value) in extra {
        command.env(name, env_value(value));
    }
    Some(command)
}

/// The most characters of the command line shown in a log line.
const SHOWN_COMMAND_CHARS: usize = 120;

/// The command line as a log names it: every word, the ones a shell would
/// split quoted (`sh -c 'dbt run'` is the job, not `sh`), escaped and cut
/// to `SHOWN_COMMAND_CHARS`.
pub fn display(argv: &[OsString]) -> String {
    let line = argv
        .iter()
        .map(|word| {
            let word = word.to_string_lossy();
            if !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                word.into_owned()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    crate::text::printable(&line, SHOWN_COMMAND_CHARS)
}

/// Server text made fit for an environment variable: no control
/// characters (a NUL would make the exec fail, a line break would split a
/// `.env` dump), bounded in length.
fn env_value(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_VALUE_CHARS)
        .collect()
}

/// Runs the command and never returns when it started (Unix: it replaced
/// this process); returns 127 or 126 with a shell-like message on stderr
/// when it could not be started.
#[cfg(unix)]
pub fn run(mut command: Command) -> u8 {
    use std::os::unix::process::CommandExt;
    // Only returns on failure.
    let err = command.exec();
    start_failure(&command, &err)
}

/// Runs the command, waits for it and returns its exit code; 127 or 126
/// when it could not be started. Ctrl-C reaches every process of the
/// console, the child included; the handler installed here only keeps the
/// gate alive so that it can exit with the child's code.
#[cfg(windows)]
pub fn run(mut command: Command) -> u8 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let _guard = runtime.as_ref().ok().map(|r| r.enter());
    let _ctrl_c = runtime
        .as_ref()
        .ok()
        .and_then(|_| tokio::signal::windows::ctrl_c().ok());
    match command.status() {
        // Windows exit codes are 32-bit: pass them on whole.
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(err) => start_failure(&command, &err),
    }
}

/// The shell's answer to a command that could not be started.
fn start_failure(command: &Command, err: &std::io::Error) -> u8 {
    let name = shown(&command.get_program().to_string_lossy());
    let (code, reason) = match err.kind() {
        std::io::ErrorKind::NotFound => (NOT_FOUND, "command not found".to_owned()),
        std::io::ErrorKind::PermissionDenied => (
            NOT_EXECUTABLE,
            "Permission denied (not executable)".to_owned(),
        ),
        _ => (NOT_EXECUTABLE, format!("cannot execute: {err}")),
    };
    eprintln!("peaka-wait: {name}: {reason}");
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_values_lose_control_characters_and_are_bounded() {
        assert_eq!(env_value("exec-1\u{0}\n\u{1b}[2J"), "exec-1[2J");
        assert_eq!(env_value(&"x".repeat(1000)).len(), MAX_VALUE_CHARS);
    }

    #[test]
    fn the_key_is_removed_unless_asked_for() {
        let argv = [OsString::from("job"), OsString::from("--flag")];
        let extra = [("PEAKA_WAIT_RESULT", "ready".to_owned())];
        let removed = command(&argv, &extra, false).unwrap();
        let envs: Vec<_> = removed.get_envs().collect();
        for name in KEY_VARIABLES {
            assert!(envs.contains(&(name.as_ref(), None)), "{name}: {envs:?}");
        }
        assert!(envs.contains(&("PEAKA_WAIT_RESULT".as_ref(), Some("ready".as_ref()))));
        let kept = command(&argv, &extra, true).unwrap();
        assert!(kept.get_envs().all(|(name, _)| name != "PEAKA_API_KEY"));
        assert!(command(&[], &extra, false).is_none());
    }

    #[test]
    fn a_command_is_shown_whole_and_quoted_as_a_shell_reads_it() {
        let argv = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(display(&argv(&["sh", "-c", "dbt run"])), "sh -c 'dbt run'");
        assert_eq!(display(&argv(&["./job.sh", "--day=1"])), "./job.sh --day=1");
        assert_eq!(display(&argv(&["echo", "it's", ""])), r"echo 'it'\''s' ''");
        assert_eq!(display(&argv(&["x\n"])), r"'x\n'");
        assert!(display(&argv(&[&"y".repeat(500)])).chars().count() <= SHOWN_COMMAND_CHARS);
    }
}
