//! `fake-peaka`: serves the scripted fake Peaka API on loopback and prints
//! its base URL on the first line of stdout.

use std::io::Write;
use std::net::SocketAddr;

const USAGE: &str = "usage: fake-peaka [--port PORT] [--api-key KEY] [--prefix /api/v1]

Serves a fake of Peaka's cache-status API on 127.0.0.1 and prints its base URL.
The cache id is the scenario: completes-after-3s, fails-after-3s, cancelled-after-3s,
stuck, flaky-completes-after-3s, rate-limited-completes-after-3s, unauthorized,
forbidden, bad-request, server-error, malformed, deleted, redirect, slow-5s,
unknown-status; prefix full- for the full-refresh slot; a ~tag suffix makes an id unique
(stuck~job-7). Other ids are 404.
The accepted API key is demo-key unless --api-key says otherwise.";

#[tokio::main]
async fn main() {
    let mut options = fake_peaka::Options::default();
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(value)) => match value.parse() {
                Ok(value) => port = value,
                Err(_) => fail(&format!("--port '{value}' is not a port number")),
            },
            ("--api-key", Some(value)) => options.api_key = value,
            ("--prefix", Some(value)) => options.prefix = value,
            _ => fail(USAGE),
        }
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let running = match fake_peaka::start(addr, options).await {
        Ok(running) => running,
        Err(err) => fail(&format!("cannot listen on {addr}: {err}")),
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{}", running.base_url);
    let _ = stdout.flush();
    let _ = tokio::signal::ctrl_c().await;
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2)
}
