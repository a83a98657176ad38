//! Helpers shared by the tests that run the built binary against the fake
//! Peaka API.
#![allow(dead_code)] // Not every helper is used by every build of the tests.

use std::process::{Command, Output};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_peaka-wait");

/// Starts a server with `start` on its own runtime thread, where it serves
/// for the rest of the test run, and returns what `start` returned.
pub fn serve_forever<T, F>(start: impl FnOnce() -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = std::io::Result<T>>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async move {
            tx.send(start().await.expect("server")).expect("send");
            std::future::pending::<()>().await
        });
    });
    rx.recv().expect("the server did not start")
}

/// Starts a fake API for the rest of the test run.
pub fn start_fake(options: fake_peaka::Options) -> fake_peaka::Running {
    serve_forever(move || fake_peaka::start("127.0.0.1:0".parse().unwrap(), options))
}

/// A command with a clean environment: the fake's URL, the demo key, the
/// project and a fast schedule, plus the given arguments.
pub fn gate_at(fake: &fake_peaka::Running, project: &str, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PEAKA_API_KEY", fake_peaka::DEMO_KEY)
        .env("PEAKA_BASE_URL", &fake.base_url)
        .args([
            "--project-id",
            project,
            "--initial-interval",
            "100ms",
            "--max-interval",
            "200ms",
        ])
        .args(args);
    command
}

/// Runs to the end: exit code, stdout, stderr.
pub fn run(mut command: impl std::borrow::BorrowMut<Command>) -> (u8, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.borrow_mut().output().expect("run peaka-wait");
    let code = status.code().map_or(255, |c| c as u8);
    (
        code,
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// The one JSON line on stdout.
pub fn json_summary(stdout: &str) -> Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout must be one line: {stdout}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// Runs `command` to the end, asserts its exit code (showing both streams
/// when it differs) and returns its JSON summary and stderr.
#[track_caller]
pub fn run_json(command: Command, code: u8) -> (Value, String) {
    let (got, stdout, stderr) = run(command);
    assert_eq!(got, code, "{stdout}{stderr}");
    (json_summary(&stdout), stderr)
}

/// [`gate_at`] with `--output json` and `args`, run by [`run_json`]: the
/// exit code asserted, the JSON summary and stderr returned.
#[track_caller]
pub fn gate_json(
    fake: &fake_peaka::Running,
    project: &str,
    args: &[&str],
    code: u8,
) -> (Value, String) {
    let mut command = gate_at(fake, project, &["--output", "json"]);
    command.args(args);
    run_json(command, code)
}

/// Starts [`gate_at`] with `--output json` and `args`, sends it SIGTERM
/// after `after` (a pod stopped), and asserts that it exits 143 within two
/// seconds of the signal; returns its JSON summary and stderr.
#[cfg(unix)]
#[track_caller]
pub fn terminated_after(
    fake: &fake_peaka::Running,
    project: &str,
    args: &[&str],
    after: std::time::Duration,
) -> (Value, String) {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let child = gate_at(fake, project, &["--output", "json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let signalled = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    let took = signalled.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(143), "{stdout}{stderr}");
    assert!(
        took <= Duration::from_secs(2),
        "took {took:?} after SIGTERM"
    );
    (json_summary(&stdout), stderr)
}
