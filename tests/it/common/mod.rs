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
