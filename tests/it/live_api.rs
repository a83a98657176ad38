//! What live Peaka does that our first model did not, and the mistakes
//! that cannot fix themselves, run as built against the fake API:
//! one schema's caches come from the catalog's list (the schema-level list
//! answers 500), an execution never picked up is said once, a cancel's 404
//! means it had ended, a slow trigger is waited for; a certificate for
//! another host ends at once and a web page at the base URL after a
//! minute, on every path, while a refused connection stays retried.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{BIN, gate_at, gate_json, json_summary, run, serve_forever, start_fake};

/// A project `shop`: two caches in schema `sales` of `cat-a`, one in `crm`.
fn shop() -> fake_peaka::Running {
    let caches = [
        ("completes-after-1s~orders", ["cat-a", "sales", "orders"]),
        ("completes-after-1s~items", ["cat-a", "sales", "items"]),
        ("stuck~customers", ["cat-a", "crm", "customers"]),
    ];
    start_fake(fake_peaka::Options {
        projects: HashMap::from([(
            "shop".to_owned(),
            caches.iter().map(|(id, _)| id.to_string()).collect(),
        )]),
        tables: caches
            .iter()
            .map(|(id, t)| (id.to_string(), t.map(str::to_owned)))
            .collect(),
        ..Default::default()
    })
}

/// One HTTP/1.1 request to the fake with the demo key; the status code.
fn status_of(addr: SocketAddr, method: &str, path: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        fake_peaka::DEMO_KEY
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {reply}"))
}

/// The last line of stdout as the JSON summary (annotations come before it).
fn last_json(stdout: &str) -> Value {
    json_summary(stdout.lines().last().unwrap_or_default())
}

#[test]
fn one_schema_is_read_from_the_catalogs_list_for_the_wait_and_the_listing() {
    let fake = shop();
    assert_eq!(
        status_of(
            fake.addr,
            "GET",
            "/api/v1/data/projects/shop/catalog/cat-a/schema/sales/cache/status"
        ),
        500,
        "the fake's schema-level list answers 500, as live"
    );
    let before = fake.requests();
    let (summary, _) = gate_json(
        &fake,
        "shop",
        &[
            "--catalog-id",
            "cat-a",
            "--schema",
            "sales",
            "--timeout",
            "6s",
            "--schedule",
            "exponential",
        ],
        0,
    );
    let tables: Vec<&str> = (summary["caches"].as_array().unwrap().iter())
        .map(|c| c["table"].as_str().unwrap())
        .collect();
    assert_eq!(tables, ["cat-a.sales.orders", "cat-a.sales.items"]);
    // One catalog list per round (and at the start), and nothing else.
    let polls = summary["polls"].as_u64().unwrap();
    assert_eq!(fake.requests() - before, polls);

    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "shop",
        &[
            "--list-caches",
            "--catalog-id",
            "cat-a",
            "--schema",
            "sales",
            "--output",
            "json",
            "--timeout",
            "5s",
        ],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    let ids: Vec<&str> = (listed.as_array().unwrap().iter())
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["completes-after-1s~orders", "completes-after-1s~items"]
    );
    // Without --schema, the whole catalog; the project has no other.
    let (code, stdout, _) = run(gate_at(
        &fake,
        "shop",
        &["--list-caches", "--catalog-id", "cat-b", "--output", "json"],
    ));
    assert_eq!((code, stdout.trim()), (0, "[]"));
}

#[test]
fn an_execution_never_picked_up_is_said_once_with_since_when() {
    let fake = start_fake(fake_peaka::Options::default());
    let started = jiff::Timestamp::now();
    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "p",
        &[
            "--cache-id",
            "never-picked-up-10m~once",
            "--timeout",
            "3s",
            "--output",
            "json",
        ],
    )
    .env("GITHUB_ACTIONS", "true"));
    assert_eq!(code, 3, "{stdout}{stderr}");
    let warned = stderr
        .lines()
        .filter(|l| l.contains("has not been picked up"))
        .count();
    assert_eq!(warned, 1, "warned once: {stderr}");
    assert!(
        stderr.contains("Peaka has been seen to leave executions like this for ever"),
        "{stderr}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("::warning title=peaka-wait%3A not picked up::")),
        "{stdout}"
    );
    let summary = last_json(&stdout);
    let moved: jiff::Timestamp = summary["caches"][0]["lastMovedAt"]
        .as_str()
        .unwrap_or_else(|| panic!("{summary}"))
        .parse()
        .unwrap();
    let ago = started.duration_since(moved).as_secs();
    assert!((590..=610).contains(&ago), "{ago}s: {summary}");
    let message = summary["message"].as_str().unwrap();
    assert!(
        message.contains("has not moved since") && message.contains("10m"),
        "{message}"
    );

    // --stall-timeout ends such a wait at once.
    let (code, stdout, _) = run(gate_at(
        &fake,
        "p",
        &[
            "--cache-id",
            "never-picked-up-10m~stall",
            "--timeout",
            "20s",
            "--stall-timeout",
            "1m",
        ],
    ));
    assert_eq!(code, 7, "{stdout}");

    // A fresh execution that has not moved yet is no news.
    let (code, _, stderr) = run(gate_at(
        &fake,
        "p",
        &["--cache-id", "stuck~fresh", "--timeout", "2s"],
    ));
    assert_eq!(code, 3);
    assert!(!stderr.contains("picked up"), "{stderr}");
}

#[test]
fn a_cancel_answered_404_had_nothing_to_cancel() {
    let fake = start_fake(fake_peaka::Options::default());
    let (summary, _) = gate_json(
        &fake,
        "p",
        &[
            "--cache-id",
            "triggered-never-picked-up~cancel",
            "--trigger",
            "incremental",
            "--cancel-on-exit",
            "--timeout",
            "4s",
        ],
        3,
    );
    assert_eq!(
        summary["caches"][0]["cancel"], "nothing to cancel: it had already ended",
        "{summary}"
    );
    assert_eq!(fake.cancels(), 1);
}

#[test]
fn a_full_refresh_cancel_is_never_sent_for_a_record_not_seen() {
    let fake = start_fake(fake_peaka::Options::default());
    // The fake's full-refresh cancel answers 500 between the trigger and
    // the record, as live; with nothing triggered, 404.
    assert_eq!(
        status_of(
            fake.addr,
            "POST",
            "/api/v1/data/projects/p/cache/triggered-never-appears~raw/cancelFullRefreshUpdate"
        ),
        404
    );
    assert_eq!(
        status_of(
            fake.addr,
            "POST",
            "/api/v1/data/projects/p/cache/triggered-never-appears~raw/fullRefreshUpdate"
        ),
        200
    );
    assert_eq!(
        status_of(
            fake.addr,
            "POST",
            "/api/v1/data/projects/p/cache/triggered-never-appears~raw/cancelFullRefreshUpdate"
        ),
        500
    );
    let cancels = fake.cancels();
    let (summary, _) = gate_json(
        &fake,
        "p",
        &[
            "--cache-id",
            "triggered-never-appears~gate",
            "--trigger",
            "full",
            "--cancel-on-exit",
            "--timeout",
            "3s",
        ],
        3,
    );
    let said = summary["caches"][0]["cancel"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(said.starts_with("not sent:"), "{said}");
    assert_eq!(fake.cancels(), cancels, "no cancel was sent");
}

#[test]
fn a_slow_trigger_is_waited_for_whatever_the_request_timeout() {
    let fake = start_fake(fake_peaka::Options::default());
    let (code, stdout, stderr) = run(gate_at(
        &fake,
        "p",
        &[
            "--cache-id",
            "triggered-slowly-completes-after-1s~slow",
            "--trigger",
            "incremental",
            "--request-timeout",
            "1s",
            "--timeout",
            "30s",
        ],
    ));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("triggered an incremental sync"), "{stderr}");
    assert!(!stderr.contains("may or may not"), "{stderr}");
    assert_eq!(fake.triggers(), 1);
}

/// Every way to ask the API: the paths a permanent mistake must end on.
const PATHS: &[&[&str]] = &[
    &["--cache-id", "completes-after-1s"],
    &["--cache-id", "completes-after-1s", "--cache-id", "stuck"],
    &["--all-caches"],
    &[
        "--trigger",
        "incremental",
        "--cache-id",
        "triggered-completes-after-1s",
    ],
    &["--table", "public.orders"],
    &["--catalog-id", "fake-catalog"],
    &["--list-caches"],
];

/// Runs every path against `base` at once (with `env`), each with
/// `--timeout`; returns each one's exit code, the last stdout line (the
/// JSON summary) and how long it took.
fn every_path(
    base: &str,
    timeout: &str,
    env: &[(&str, &str)],
) -> Vec<(String, u8, String, Duration)> {
    every_path_at(&|| base.to_owned(), timeout, env)
}

/// [`every_path`], each path against the base `base()` gives it.
fn every_path_at(
    base: &dyn Fn() -> String,
    timeout: &str,
    env: &[(&str, &str)],
) -> Vec<(String, u8, String, Duration)> {
    let runs: Vec<_> = PATHS
        .iter()
        .map(|args| {
            let base = base();
            let mut command = Command::new(BIN);
            command
                .env_clear()
                .env("PEAKA_API_KEY", fake_peaka::DEMO_KEY)
                .envs(env.iter().copied())
                .args([
                    "--base-url",
                    &base,
                    "--project-id",
                    "p",
                    "--timeout",
                    timeout,
                ])
                .args(["--initial-interval", "1s", "--max-interval", "5s"])
                .args(["--output", "json"])
                .args(*args);
            let what = args.join(" ");
            std::thread::spawn(move || {
                let started = Instant::now();
                let (code, stdout, stderr) = run(command);
                let last = stdout.lines().last().unwrap_or_default().to_owned();
                (what, code, format!("{last}\n{stderr}"), started.elapsed())
            })
        })
        .collect();
    runs.into_iter().map(|r| r.join().unwrap()).collect()
}

#[test]
fn a_certificate_for_another_host_ends_at_once_on_every_path() {
    let fake = start_fake(fake_peaka::Options::default());
    let target = fake.addr;
    let front = serve_forever(move || {
        fake_peaka::tls::start_for(target, "/api/v1", &["peaka.example.test"])
    });
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &front.ca_pem).unwrap();
    let ca = ca.to_str().unwrap();
    for (what, code, said, took) in every_path(&front.base_url, "2m", &[("SSL_CERT_FILE", ca)]) {
        assert_eq!(code, 6, "{what}: {said}");
        assert!(took < Duration::from_secs(10), "{what}: {took:?}");
        let message = message_of(&said);
        for needle in [
            "certificate not valid for name",
            "--base-url",
            "SSL_CERT_FILE=",
        ] {
            assert!(message.contains(needle), "{what}: {needle}: {message}");
        }
    }
    // A certificate no CA vouches for ends as fast.
    let untrusted =
        serve_forever(|| fake_peaka::faults::start(fake_peaka::faults::Fault::UntrustedTls));
    for (what, code, said, took) in every_path(&untrusted.base_url, "2m", &[]) {
        assert_eq!(code, 6, "{what}: {said}");
        assert!(took < Duration::from_secs(10), "{what}: {took:?}");
        assert!(said.contains("UnknownIssuer"), "{what}: {said}");
        assert!(
            said.contains("SSL_CERT_FILE or SSL_CERT_DIR"),
            "{what}: {said}"
        );
        assert!(
            !said.contains("SSL_CERT_FILE="),
            "{what}: not set, no value: {said}"
        );
    }
}

/// Every path against the base `base()` gives it ends with exit 6 after
/// the minute a mistake that cannot fix itself is given (not before, and
/// well before `--timeout 2m`), its message holding each of `needles`.
fn ends_after_a_minute(base: &dyn Fn() -> String, needles: &[&str]) {
    for (what, code, said, took) in every_path_at(base, "2m", &[]) {
        assert_eq!(code, 6, "{what}: {said}");
        assert!(
            took >= Duration::from_secs(60) && took < Duration::from_secs(90),
            "{what}: {took:?}"
        );
        let message = message_of(&said);
        for needle in needles {
            assert!(message.contains(needle), "{what}: {needle}: {message}");
        }
    }
}

/// The summary's `message`, from what [`every_path`] said of a run.
fn message_of(said: &str) -> String {
    let summary: Value = serde_json::from_str(said.lines().next().unwrap()).unwrap();
    summary["message"].as_str().unwrap().to_owned()
}

#[test]
fn a_web_page_at_the_base_url_ends_after_a_minute_on_every_path() {
    let fake = start_fake(fake_peaka::Options::default());
    ends_after_a_minute(
        &|| format!("http://{}/site", fake.addr),
        &[
            "a web page (text/html), not Peaka's API",
            "--base-url",
            "every reply for 1m",
        ],
    );
}

#[test]
fn json_of_another_api_at_the_base_url_ends_after_a_minute_on_every_path() {
    let fake = start_fake(fake_peaka::Options::default());
    ends_after_a_minute(
        &|| format!("http://{}/other-api", fake.addr),
        &[
            "JSON of another kind",
            "not Peaka's API",
            "--base-url",
            "every reply for 1m",
        ],
    );
}

#[test]
fn a_web_page_in_turn_with_bad_gateways_still_ends_after_a_minute() {
    // A fake per path, so that each gate meets the two answers in turn.
    ends_after_a_minute(
        &|| {
            let fake = start_fake(fake_peaka::Options::default());
            format!("http://{}/flaky-site", fake.addr)
        },
        &[
            "a web page (text/html), not Peaka's API",
            "did not answer any request for 1m",
        ],
    );
}

#[test]
fn a_refused_connection_stays_retried_and_the_end_names_it() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}/api/v1");
    for (what, code, said, took) in every_path(&base, "3s", &[]) {
        assert_eq!(code, 3, "{what}: {said}");
        assert!(took < Duration::from_secs(5), "{what}: {took:?}");
        let message = message_of(&said);
        assert!(message.contains("Connection refused"), "{what}: {message}");
    }
}
