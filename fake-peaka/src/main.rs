//! `fake-peaka`: serves the scripted fake Peaka API on loopback and prints
//! its base URL on the first line of stdout.

use std::io::Write;
use std::net::SocketAddr;

const USAGE: &str = "usage: fake-peaka [--port PORT] [--api-key KEY] [--prefix /api/v1] [--project P=ID,ID ...] [--seed N [--spread PCT]]

Serves a fake of Peaka's cache-status API on 127.0.0.1 and prints its base URL.
";

fn help() -> String {
    let flag_width = fake_peaka::FLAGS
        .iter()
        .map(|(flag, _)| flag.len())
        .max()
        .unwrap_or(0);
    let mut text = format!("{USAGE}\n");
    for (flag, what) in fake_peaka::FLAGS {
        text.push_str(&format!("  {flag:flag_width$}  {what}\n"));
    }
    text.push_str("\nThe cache id is the scenario:\n");
    let width = fake_peaka::SCENARIOS
        .iter()
        .map(|(id, _)| id.len())
        .max()
        .unwrap_or(0);
    for (id, what) in fake_peaka::SCENARIOS {
        text.push_str(&format!("  {id:width$}  {what}\n"));
    }
    text.push('\n');
    text.push_str(fake_peaka::SCENARIO_RULES);
    text.push_str("\n\nThe materialized query id is the scenario:\n");
    for (id, what) in fake_peaka::QUERY_SCENARIOS {
        text.push_str(&format!("  {id:width$}  {what}\n"));
    }
    text.push('\n');
    text.push_str(fake_peaka::QUERY_RULES);
    text
}

#[tokio::main]
async fn main() {
    let mut options = fake_peaka::Options::default();
    let mut port = 0u16;
    let mut seed = None;
    let mut spread = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(value)) => match value.parse() {
                Ok(value) => port = value,
                Err(_) => fail(&format!("--port '{value}' is not a port number")),
            },
            ("--api-key", Some(value)) => options.api_key = value,
            ("--prefix", Some(value)) => options.prefix = value,
            ("--project", Some(value)) => match value.split_once('=') {
                Some((project, caches)) if !project.is_empty() => {
                    let caches = caches
                        .split(',')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned)
                        .collect();
                    options.projects.insert(project.to_owned(), caches);
                }
                _ => fail(&format!("--project '{value}' is not P=ID,ID")),
            },
            ("--seed", Some(value)) => match value.parse::<u64>() {
                Ok(value) => seed = Some(value),
                Err(_) => fail(&format!(
                    "--seed '{value}' is not a whole number from 0 to {} (e.g. --seed 1)",
                    u64::MAX
                )),
            },
            ("--spread", Some(value)) => match fake_peaka::Variation::parse_spread(&value) {
                Ok(value) => spread = Some(value),
                Err(message) => fail(&message),
            },
            ("--help" | "-h", _) => {
                println!("{}", help());
                return;
            }
            _ => fail(&help()),
        }
    }
    options.variation = match (seed, spread) {
        (Some(seed), spread) => Some(fake_peaka::Variation {
            seed,
            spread: spread.unwrap_or(fake_peaka::DEFAULT_SPREAD),
        }),
        (None, Some(_)) => fail(
            "--spread varies refreshes drawn from a seed: add --seed N (e.g. --seed 1 --spread 20)",
        ),
        (None, None) => None,
    };
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
