//! Issue "First contact and 3 a.m. debugging", the messages that point at
//! the real cause, checked on the built binary against the fake API: the
//! target is visible, outcomes are said once and describe the cache that
//! decided, and the texts name what the bound checks.

use std::sync::OnceLock;

use crate::common;
use common::{json_summary, run};

fn fake() -> &'static fake_peaka::Running {
    static FAKE: OnceLock<fake_peaka::Running> = OnceLock::new();
    FAKE.get_or_init(|| common::start_fake(fake_peaka::Options::default()))
}

fn gate(args: &[&str]) -> std::process::Command {
    common::gate_at(fake(), "msg", args)
}

#[test]
fn the_start_line_names_the_base_url_and_debug_shows_every_request() {
    let (code, _, stderr) = run(gate(&[
        "--cache-id",
        "completes-after-300ms~msg-debug",
        "--log-level",
        "trace",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let base = &fake().base_url;
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains(&format!("at {base}")),
        "the start line names the base URL: {first}"
    );
    let request = stderr
        .lines()
        .find(|l| l.contains(&format!("GET {base}/data/projects/msg/cache/")))
        .unwrap_or_else(|| panic!("no request line at debug:\n{stderr}"));
    assert!(request.contains("HTTP 200 in"), "{request}");
    assert!(request.contains(" bytes"), "{request}");
    assert!(
        stderr.lines().any(|l| l.contains(": body {")),
        "trace shows the body:\n{stderr}"
    );
    assert!(!stderr.contains(fake_peaka::DEMO_KEY), "{stderr}");
}

#[test]
fn a_404_that_is_not_peakas_points_at_the_base_url() {
    // The fake serves under /api/v1; without it every path is a bare 404.
    let base = fake().base_url.trim_end_matches("/api/v1").to_owned();
    let mut command = gate(&["--cache-id", "completes-after-1s~msg-404"]);
    command.env("PEAKA_BASE_URL", &base);
    let (code, stdout, stderr) = run(command);
    assert_eq!(code, 5, "{stdout}{stderr}");
    assert!(stdout.contains("check --base-url"), "{stdout}");
    // A 404 in Peaka's own shape names the ids instead.
    let (code, stdout, _) = run(gate(&["--cache-id", "no-such-scenario"]));
    assert_eq!(code, 5, "{stdout}");
    assert!(stdout.contains("--cache-id"), "{stdout}");
}

#[test]
fn outputs_describe_the_cache_that_decided() {
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs");
    let mut command = gate(&[
        "--cache-id",
        "completes-after-200ms~msg-pair",
        "--cache-id",
        "fails-after-600ms~msg-pair",
    ]);
    command.env("GITHUB_OUTPUT", &outputs);
    let (code, stdout, stderr) = run(command);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let text = std::fs::read_to_string(&outputs).unwrap();
    assert!(text.contains("result=failed\n"), "{text}");
    assert!(
        text.contains("cache-id=fails-after-600ms~msg-pair\n"),
        "{text}"
    );
    assert!(text.contains("cache-status=FAILED\n"), "{text}");
    // The failure is said once in the log, once on stdout.
    let said = |text: &str| {
        text.lines()
            .filter(|l| l.contains("fails-after-600ms~msg-pair-exec-2 FAILED"))
            .count()
    };
    assert_eq!(said(&stderr), 1, "{stderr}");
    assert_eq!(said(&stdout), 1, "{stdout}");
}

#[test]
fn both_slots_are_reported_with_execution_both() {
    let (code, stdout, stderr) = run(gate(&[
        "--cache-id",
        "completes-after-200ms~msg-both",
        "--execution",
        "both",
        "--output",
        "json",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let summary = json_summary(&stdout);
    let executions = summary["caches"][0]["executions"].as_array().unwrap();
    let kinds: Vec<&str> = executions
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["incremental", "full"], "{stdout}");
    let message = summary["message"].as_str().unwrap();
    assert!(
        message.contains("incremental sync") && message.contains("full refresh"),
        "{message}"
    );
}

#[test]
fn an_old_execution_accepted_without_a_bound_gets_a_warning() {
    // The full-refresh slot shows a refresh that completed a day before the
    // scenario began, while an incremental sync runs.
    let (code, stdout, stderr) = run(gate(&[
        "--cache-id",
        "completes-after-10m~msg-old",
        "--execution",
        "full",
        "--timeout",
        "5s",
    ]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let warning = stderr
        .lines()
        .find(|l| l.contains("WARN") && l.contains("before the gate started"))
        .unwrap_or_else(|| panic!("no warning about the age:\n{stderr}"));
    assert!(warning.contains("--since"), "{warning}");
    // With a bound there is nothing to warn about: the bound decides.
    let (code, _, stderr) = run(gate(&[
        "--cache-id",
        "completes-after-10m~msg-old-2",
        "--execution",
        "full",
        "--since",
        "72h",
        "--timeout",
        "5s",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("before the gate started"), "{stderr}");
}

#[test]
fn a_started_after_timeout_shows_when_the_old_execution_started() {
    let (code, stdout, _) = run(gate(&[
        "--cache-id",
        "completes-after-10m~msg-started",
        "--execution",
        "full",
        "--started-after",
        "1h",
        "--timeout",
        "1s",
    ]));
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains(", started at 20"), "{stdout}");
    assert!(stdout.contains("does not count"), "{stdout}");
    // Times to the millisecond, not the nanosecond.
    assert!(
        !stdout
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .any(|part| part.contains('.')
                && part.len() > 6
                && part.split('.').nth(1).is_some_and(|f| f.len() > 3)),
        "{stdout}"
    );
}

#[test]
fn request_timeouts_name_the_flag_and_its_value() {
    let (code, stdout, _) = run(gate(&[
        "--cache-id",
        "slow-5s~msg-slow",
        "--request-timeout",
        "700ms",
        "--timeout",
        "2s",
    ]));
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("--request-timeout"), "{stdout}");
    assert!(stdout.contains("700ms"), "{stdout}");
}

/// A resolver that answers every query "no such name" (NXDOMAIN).
const NXDOMAIN_SERVER: &str = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
while True:
    query, peer = s.recvfrom(512)
    if len(query) < 12:
        continue
    # Same id and question; QR, RD, RA set; RCODE 3 (NXDOMAIN); no answers.
    s.sendto(query[:2] + b"\x81\x83" + query[4:6] + b"\x00\x00\x00\x00\x00\x00" + query[12:], peer)
"#;

/// Every way to ask the API, by name: a host that does not exist ends
/// each of them the same way.
const PATHS: &[(&str, &str)] = &[
    ("cache", "--cache-id c"),
    ("caches", "--cache-id c --cache-id d"),
    ("all", "--all-caches"),
    ("trigger", "--trigger incremental --cache-id c"),
    ("table", "--table public.t"),
    ("catalog", "--catalog-id k"),
    ("list", "--list-caches"),
];

#[test]
fn a_host_that_does_not_exist_ends_with_api_error_after_a_minute_on_every_path() {
    // A network and mount namespace of its own: loopback only, and a
    // resolv.conf that points at a resolver that says NXDOMAIN to all.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("nx.py"), NXDOMAIN_SERVER).unwrap();
    std::fs::write(
        dir.path().join("resolv.conf"),
        "nameserver 127.0.0.1\noptions attempts:1 timeout:1\n",
    )
    .unwrap();
    let runs: String = PATHS
        .iter()
        .map(|(name, args)| format!("ask {name} {args} & pids=\"$pids $!\"\n"))
        .collect();
    let script = format!(
        r#"
        set -e
        ip link set lo up
        mount --bind "$DIR/resolv.conf" /etc/resolv.conf
        python3 "$DIR/nx.py" </dev/null >/dev/null 2>&1 &
        resolver=$!
        sleep 0.5
        set +e
        ask() {{
            name=$1; shift
            started=$(date +%s)
            "$BIN" --project-id p --base-url https://partner.peaka.stuido/api/v1 \
                --timeout 2m --initial-interval 1s --max-interval 5s "$@" \
                >"$DIR/$name.out" 2>"$DIR/$name.err"
            echo "$? $(( $(date +%s) - started ))" >"$DIR/$name.code"
        }}
        pids=""
        {runs}
        wait $pids
        kill "$resolver"
    "#
    );
    let output = std::process::Command::new("unshare")
        .args(["--net", "--mount", "sh", "-c", &script])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DIR", dir.path())
        .env("BIN", common::BIN)
        .env("PEAKA_API_KEY", fake_peaka::DEMO_KEY)
        .output()
        .expect("unshare (util-linux), ip (iproute2) and python3, as root, as CI has");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (name, args) in PATHS {
        let read = |ext: &str| {
            std::fs::read_to_string(dir.path().join(format!("{name}.{ext}"))).unwrap_or_default()
        };
        let (stdout, stderr) = (read("out"), read("err"));
        let code = read("code");
        let (code, took) = code.trim().split_once(' ').unwrap_or(("", ""));
        let took: u64 = took.parse().unwrap_or(0);
        assert_eq!(code, "6", "{args}: {stdout}\n{stderr}");
        assert!((60..90).contains(&took), "{args}: {took}s");
        // --list-caches says it on stderr, the gate in its summary.
        let said = format!("{stdout}{stderr}");
        assert!(
            said.contains("cannot resolve partner.peaka.stuido")
                && said.contains("check --base-url")
                && said.contains("it did not resolve for 1m"),
            "{args}: {said}"
        );
        let retry = stderr
            .lines()
            .find(|l| l.contains("WARN"))
            .unwrap_or_else(|| panic!("{args}: no retry line:\n{stderr}"));
        assert!(retry.len() < 300, "{args}: one short line: {retry}");
    }
}
