//! The built binary against servers that misbehave: for every fault the
//! gate never exits 0 unless the cache really completed, ends within
//! `--timeout` plus one second, stays under 32 MiB, and its last log line
//! names the cause.

use std::process::Command;
use std::time::{Duration, Instant};

use fake_peaka::faults::{self, Fault};

use crate::common;
use common::{BIN, serve_forever, start_fake};

const MAX_RSS_KIB: u64 = 32 * 1024;

struct Run {
    timeout: Duration,
    code: u8,
    took: Duration,
    peak_kib: u64,
    last_line: String,
    stdout: String,
}

/// Runs the gate under GNU time (for its own peak RSS), with `wrap` before it.
fn gate(base_url: &str, cache: &str, timeout_secs: u64, wrap: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let rss = dir.path().join("rss");
    let mut args: Vec<String> = wrap.iter().map(|s| s.to_string()).collect();
    args.extend(["/usr/bin/time", "-f", "%M", "-o"].map(String::from));
    args.push(rss.to_string_lossy().into_owned());
    args.push(BIN.into());
    let (program, rest) = args.split_first().unwrap();
    let started = Instant::now();
    let output = Command::new(program)
        .args(rest)
        .args([
            "--project-id",
            "p",
            "--cache-id",
            cache,
            "--timeout",
            &format!("{timeout_secs}s"),
            "--request-timeout",
            "1s",
        ])
        .args(["--initial-interval", "200ms", "--max-interval", "500ms"])
        .env_clear()
        .env("PEAKA_API_KEY", fake_peaka::DEMO_KEY)
        .env("PEAKA_BASE_URL", base_url)
        .output()
        .expect("run the gate under /usr/bin/time (Debian package `time`)");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let peak_kib = std::fs::read_to_string(&rss)
        .ok()
        .and_then(|text| text.lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no peak RSS from /usr/bin/time: {stderr}"));
    Run {
        timeout: Duration::from_secs(timeout_secs),
        code: output.status.code().map_or(255, |c| c as u8),
        took,
        peak_kib,
        last_line: stderr.lines().last().unwrap_or_default().to_owned(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    }
}

fn assert_bounded(what: &str, run: &Run) {
    assert!(
        run.took <= run.timeout + Duration::from_secs(1),
        "{what}: took {:?}",
        run.took
    );
    assert!(
        run.peak_kib <= MAX_RSS_KIB,
        "{what}: peak RSS {} KiB",
        run.peak_kib
    );
}

#[test]
fn transport_faults_time_out_naming_their_cause() {
    let causes = [
        (Fault::Reset, &["reset", "closed", "request failed"][..]),
        (Fault::Hang, &["no complete reply within"][..]),
        (Fault::Drip, &["no complete reply within"][..]),
        (Fault::Truncated, &["cut off"][..]),
        (Fault::Huge, &["larger than 4 MiB"][..]),
        (Fault::RateLimitStorm, &["HTTP 429"][..]),
    ];
    // Fault::UntrustedTls is not retried: a_certificate_that_is_not_trusted_ends_at_once.
    assert_eq!(causes.len() + 1, Fault::ALL.len());
    for (fault, words) in causes {
        let server = serve_forever(move || faults::start(fault));
        let run = gate(&server.base_url, "c", 3, &[]);
        let what = format!("{fault:?}");
        assert_eq!(run.code, 3, "{what}: {}\n{}", run.stdout, run.last_line);
        assert_bounded(&what, &run);
        assert!(
            run.last_line.contains("timed out after 3s"),
            "{what}: {}",
            run.last_line
        );
        assert!(
            words.iter().any(|w| run.last_line.contains(w)),
            "{what}: the last line does not name the cause: {}",
            run.last_line
        );
    }
}

#[test]
fn a_certificate_that_is_not_trusted_ends_at_once() {
    let server = serve_forever(|| faults::start(Fault::UntrustedTls));
    let run = gate(&server.base_url, "c", 30, &[]);
    assert_eq!(run.code, 6, "{}\n{}", run.stdout, run.last_line);
    assert!(run.took < Duration::from_secs(5), "{:?}", run.took);
    for words in [
        "certificate",
        "UnknownIssuer",
        "--base-url",
        "SSL_CERT_FILE",
    ] {
        assert!(run.last_line.contains(words), "{words}: {}", run.last_line);
    }
}

#[test]
fn a_flapping_api_is_waited_through_and_only_a_real_completion_passes() {
    let fake = start_fake(fake_peaka::Options::default());
    // Four requests in five answer 503 with Retry-After: 1; the refresh
    // completes after 1 s, and the sixth request (at ~5 s) sees it.
    let run = gate(&fake.base_url, "mostly-down-completes-after-1s", 8, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.last_line);
    assert_bounded("mostly down, completes", &run);
    // The same flapping over a refresh that never completes in time.
    let run = gate(&fake.base_url, "mostly-down-completes-after-10m", 3, &[]);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert_bounded("mostly down, never completes", &run);
    assert!(
        run.last_line.contains("is RUNNING") || run.last_line.contains("HTTP 503"),
        "{}",
        run.last_line
    );
}

#[test]
fn a_dns_failure_times_out_naming_it() {
    // A network namespace of its own has no route to any resolver, so the
    // lookup fails on this machine without a packet leaving it.
    let isolated = Command::new("unshare")
        .args(["--net", "true"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        isolated,
        "this test needs `unshare --net` (util-linux, as root), as CI has"
    );
    let run = gate(
        "https://peaka-wait-test.invalid/api/v1",
        "c",
        3,
        &["unshare", "--net"],
    );
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert_bounded("dns", &run);
    assert!(run.last_line.contains("dns error"), "{}", run.last_line);
}
