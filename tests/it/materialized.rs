//! Materialized queries (issue 21 §1), run as built against the fake API:
//! `--list-materialized-queries`, `--materialized-query` alone and beside
//! caches (one list request per round, exit 5 for an unknown id, the JSON
//! `materializedQueries`, the GitHub outputs, `-- COMMAND`'s variables),
//! `--refresh-query` (sent once, that very run awaited, the ordered gate
//! after the caches) and `--cancel-on-exit` with it.

use jiff::Timestamp;
use serde_json::Value;

use crate::common;
use common::{gate_at, gate_json, run, run_json, start_fake};

fn fake() -> fake_peaka::Running {
    start_fake(fake_peaka::Options::default())
}

fn query<'a>(summary: &'a Value, id: &str) -> &'a Value {
    summary["materializedQueries"]
        .as_array()
        .and_then(|all| all.iter().find(|q| q["queryId"] == id))
        .unwrap_or_else(|| panic!("no query {id} in {summary}"))
}

fn time(value: &Value) -> Timestamp {
    value
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("not a time: {value}"))
}

#[test]
fn the_listing_is_a_line_per_query_or_one_json_document() {
    let fake = fake();
    let (code, stdout, stderr) = run(gate_at(&fake, "demo", &["--list-materialized-queries"]));
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("QUERY ID"), "{stdout}");
    assert!(
        lines[1].starts_with("mq-completes-after-4s ") && lines[1].contains("RUNNING"),
        "{stdout}"
    );
    // A new query: COMPLETED, and no times to show.
    assert!(
        lines[2].starts_with("mq-new ") && lines[2].contains("COMPLETED  -"),
        "{stdout}"
    );
    let (code, stdout, _) = run(gate_at(
        &fake,
        "demo",
        &["--list-materialized-queries", "--output", "json"],
    ));
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{stdout}");
    assert_eq!(list[1]["queryId"], "mq-new");
    assert_eq!(list[1]["lastExecutionStartTime"], Value::Null);
    // An empty project says so; a listing needs no query id.
    let (code, stdout, _) = run(gate_at(&fake, "empty", &["--list-materialized-queries"]));
    assert_eq!(
        (code, stdout.trim()),
        (0, "project empty has no materialized queries")
    );
}

#[test]
fn several_queries_are_awaited_with_one_list_request_per_round() {
    let fake = fake();
    let (summary, stderr) = gate_json(
        &fake,
        "p",
        &[
            "--materialized-query",
            "mq-completes-after-2s~one,mq-done-ago-5m~one",
            "--timeout",
            "20s",
        ],
        0,
    );
    assert_eq!(summary["result"], "ready");
    let running = query(&summary, "mq-completes-after-2s~one");
    assert_eq!(running["state"], "ready");
    assert_eq!(running["status"], "COMPLETED");
    assert_eq!(running["queryName"], "mq-completes-after-2s query");
    assert!(
        time(&running["updatedAt"]) > time(&running["startedAt"]),
        "{summary}"
    );
    assert_eq!(query(&summary, "mq-done-ago-5m~one")["state"], "ready");
    // Each query was missing from the project's list once and looked up
    // once; every other request is the list, one per round.
    assert_eq!(fake.query_lookups(), 2, "{stderr}");
    assert!(fake.query_lists() >= 2, "{stderr}");
    assert_eq!(fake.requests(), fake.query_lists() + 2);
    assert_eq!(summary["polls"], fake.requests());
}

#[test]
fn no_ready_without_proof_and_the_failures() {
    let fake = fake();
    // A new query is COMPLETED with no start time: nothing materialized.
    let (summary, _) = gate_json(
        &fake,
        "p",
        &["--materialized-query", "mq-new~proof", "--timeout", "0"],
        3,
    );
    assert_eq!(query(&summary, "mq-new~proof")["state"], "waiting");
    assert_eq!(query(&summary, "mq-new~proof")["startedAt"], Value::Null);
    assert!(
        summary["message"]
            .as_str()
            .unwrap()
            .contains("nothing has been materialized"),
        "{summary}"
    );
    for (id, status) in [
        ("mq-canceled-after-1s~f", "CANCELED"),
        ("mq-fails-after-1s~f", "FAILED"),
    ] {
        let (summary, _) = gate_json(
            &fake,
            "p",
            &["--materialized-query", id, "--timeout", "20s"],
            1,
        );
        assert_eq!(summary["result"], "failed");
        assert_eq!(query(&summary, id)["state"], "failed");
        assert_eq!(query(&summary, id)["status"], status);
    }
    // An unknown id: not found, exit 5, whatever else is awaited.
    let (summary, _) = gate_json(
        &fake,
        "p",
        &[
            "--materialized-query",
            "mq-done-ago-1m~nf,no-such-query",
            "--timeout",
            "20s",
        ],
        5,
    );
    assert_eq!(summary["result"], "not_found");
    assert_eq!(query(&summary, "no-such-query")["state"], "not_found");
    assert!(
        summary["message"]
            .as_str()
            .unwrap()
            .contains("no-such-query"),
        "{summary}"
    );
}

#[test]
fn since_compares_the_end_and_started_after_the_start() {
    let fake = fake();
    // Ended 5 min before the first request, started 5 s before that.
    let check = |bound: &str, ago: &str| {
        let (code, stdout, _) = run(gate_at(
            &fake,
            "p",
            &[
                "--materialized-query",
                "mq-done-ago-5m~bounds",
                bound,
                ago,
                "--timeout",
                "0",
            ],
        ));
        (code, stdout)
    };
    assert_eq!(check("--since", "6m").0, 0);
    assert_eq!(check("--since", "4m").0, 3);
    // The start is 5 min 5 s ago: after a bound 5 min 10 s ago, not 5 min.
    assert_eq!(check("--started-after", "310s").0, 0);
    let (code, stdout) = check("--started-after", "5m");
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("--started-after"), "{stdout}");
}

#[test]
fn beside_caches_the_outputs_and_the_command_cover_both() {
    let fake = fake();
    let dir = std::env::temp_dir().join(format!("peaka-wait-mq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let outputs = dir.join("outputs");
    let seen = dir.join("seen");
    let mut command = gate_at(
        &fake,
        "p",
        &[
            "--cache-id",
            "completes-after-1s~both",
            "--materialized-query",
            "mq-completes-after-1s~both",
            "--timeout",
            "20s",
            "--output",
            "json",
            "--",
            "sh",
            "-c",
            r#"printf '%s|%s|%s|%s' "$PEAKA_WAIT_RESULT" "$PEAKA_EXECUTION_ID" "$PEAKA_MATERIALIZED_QUERY_ID" "$PEAKA_MATERIALIZED_QUERY_STATUS" > "$0""#,
        ],
    );
    let step_summary = dir.join("summary");
    command
        .arg(&seen)
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &step_summary);
    let (summary, _) = run_json(command, 0);
    assert_eq!(summary["caches"][0]["state"], "ready");
    assert_eq!(
        query(&summary, "mq-completes-after-1s~both")["state"],
        "ready"
    );
    let outputs = std::fs::read_to_string(&outputs).unwrap();
    for line in [
        "materialized-query-id=mq-completes-after-1s~both",
        "materialized-query-status=COMPLETED",
        "cache-id=completes-after-1s~both",
    ] {
        assert!(outputs.lines().any(|l| l == line), "{line}: {outputs}");
    }
    assert!(outputs.contains("\"materializedQueries\":[{"), "{outputs}");
    let table = std::fs::read_to_string(&step_summary).unwrap();
    assert!(
        table.contains(
            "| mq-completes-after-1s~both | mq-completes-after-1s query | ready | COMPLETED |"
        ),
        "{table}"
    );
    let seen = std::fs::read_to_string(&seen).unwrap();
    let fields: Vec<&str> = seen.split('|').collect();
    assert_eq!(fields[0], "ready", "{seen}");
    assert!(!fields[1].is_empty(), "the cache's execution id: {seen}");
    assert_eq!(
        &fields[2..],
        ["mq-completes-after-1s~both", "COMPLETED"],
        "{seen}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refresh_is_sent_once_and_that_very_run_is_awaited() {
    let fake = fake();
    let started = Timestamp::now();
    // The refreshed run starts 1.5 s after the request and takes 2 s; the
    // stale COMPLETED before it (ended 1 min ago) must not count.
    let (summary, stderr) = gate_json(
        &fake,
        "p",
        &[
            "--refresh-query",
            "mq-done-ago-1m~refresh",
            "--timeout",
            "20s",
        ],
        0,
    );
    let q = query(&summary, "mq-done-ago-1m~refresh");
    assert_eq!(q["state"], "ready");
    assert_eq!(q["refreshed"], true);
    assert!(time(&q["startedAt"]) > started, "{summary}");
    assert_eq!(fake.query_refreshes(), 1);
    assert!(stderr.contains("refresh requested"), "{stderr}");
    // A new query, refreshed: its first run is the one.
    let (summary, _) = gate_json(
        &fake,
        "p",
        &["--refresh-query", "mq-new~refresh", "--timeout", "20s"],
        0,
    );
    assert!(time(&query(&summary, "mq-new~refresh")["startedAt"]) > started);
    // A refreshed run that fails fails the gate.
    let (code, stdout, _) = run(gate_at(
        &fake,
        "p",
        &[
            "--refresh-query",
            "mq-fails-after-1s~refresh",
            "--timeout",
            "20s",
        ],
    ));
    assert_eq!(code, 1, "{stdout}");
}

#[test]
fn a_refresh_answered_with_an_error_or_cut_off_is_not_sent_again() {
    let fake = fake();
    // The refresh is answered 502 although its run starts: it may have
    // arrived, so it is never sent twice, and the run shows it did. Then
    // a connection dropped after the refresh was sent: the same.
    for (id, refreshes) in [
        ("mq-refresh-answers-502~once", 1),
        ("mq-refresh-drops-connection~once", 2),
    ] {
        let (_, stderr) = gate_json(&fake, "p", &["--refresh-query", id, "--timeout", "20s"], 0);
        assert_eq!(fake.query_refreshes(), refreshes, "sent once: {stderr}");
        assert!(
            stderr.contains("may or may not have reached Peaka"),
            "{stderr}"
        );
    }
}

#[test]
fn the_ordered_gate_refreshes_only_after_every_cache_is_ready() {
    let fake = fake();
    let (summary, _) = gate_json(
        &fake,
        "p",
        &[
            "--cache-id",
            "completes-after-2s~order",
            "--refresh-query",
            "mq-done-ago-1m~order",
            "--timeout",
            "20s",
        ],
        0,
    );
    let cache_done = time(&summary["caches"][0]["execution"]["finishedAt"]);
    let q = query(&summary, "mq-done-ago-1m~order");
    assert!(
        time(&q["startedAt"]) > cache_done,
        "the query ran after the cache: {summary}"
    );
    assert_eq!(fake.query_refreshes(), 1);
    // A cache that fails, or times out: no query is refreshed.
    for (cache, code_expected, timeout) in
        [("fails-after-1s~order", 1, "20s"), ("stuck~order", 3, "2s")]
    {
        let (summary, _) = gate_json(
            &fake,
            "p",
            &[
                "--cache-id",
                cache,
                "--refresh-query",
                "mq-done-ago-1m~order-no",
                "--timeout",
                timeout,
            ],
            code_expected,
        );
        assert_eq!(
            query(&summary, "mq-done-ago-1m~order-no")["refreshed"],
            false
        );
        assert!(
            summary["message"]
                .as_str()
                .unwrap()
                .contains("no materialized query was refreshed"),
            "{summary}"
        );
    }
    assert_eq!(
        fake.query_refreshes(),
        1,
        "no refresh after a cache failed or timed out"
    );
}

#[test]
fn cancel_on_exit_cancels_the_refreshed_run_only() {
    let fake = fake();
    // The timeout's code.
    let (summary, _) = gate_json(
        &fake,
        "p",
        &[
            "--refresh-query",
            "mq-stuck~cancel",
            "--cancel-on-exit",
            "--timeout",
            "4s",
        ],
        3,
    );
    assert_eq!(
        query(&summary, "mq-stuck~cancel")["cancel"],
        "accepted",
        "{summary}"
    );
    assert_eq!(fake.query_cancels(), 1);
    // Peaka now shows it CANCELED: a plain check fails on it.
    let (code, stdout, _) = run(gate_at(
        &fake,
        "p",
        &["--materialized-query", "mq-stuck~cancel", "--timeout", "0"],
    ));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("CANCELED"), "{stdout}");
    // Before the refreshed run started, nothing is cancelled: the running
    // run could be another's.
    let (summary, _) = gate_json(
        &fake,
        "p",
        &[
            "--refresh-query",
            "mq-stuck~early",
            "--cancel-on-exit",
            "--timeout",
            "1s",
        ],
        3,
    );
    let said = query(&summary, "mq-stuck~early")["cancel"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(said.starts_with("not sent"), "{summary}");
    assert_eq!(fake.query_cancels(), 1);
    // After a refresh answered 502, the run that starts may be another's:
    // it is awaited, but never cancelled (it runs from 1.6 s to 3.6 s).
    let (summary, _) = gate_json(
        &fake,
        "p",
        &[
            "--refresh-query",
            "mq-refresh-answers-502~cancel",
            "--cancel-on-exit",
            "--timeout",
            "3s",
        ],
        3,
    );
    let q = query(&summary, "mq-refresh-answers-502~cancel");
    assert_eq!(q["status"], "RUNNING", "{summary}");
    assert!(
        q["cancel"].as_str().unwrap().contains("no clear answer"),
        "{summary}"
    );
    assert_eq!(fake.query_cancels(), 1);
}

#[test]
fn settings_that_do_not_fit_are_refused_with_a_fix() {
    let fake = fake();
    for (args, needle) in [
        (
            &["--refresh-query", "q", "--trigger", "full"][..],
            "--refresh-query ID",
        ),
        (&["--refresh-query", "q", "--timeout", "0"][..], "--timeout"),
        (
            &["--materialized-query", ","][..],
            "--materialized-query is empty",
        ),
        (
            &["--materialized-query", "q", "--cancel-on-exit"][..],
            "--refresh-query",
        ),
        (
            &[
                "--materialized-query",
                "q",
                "--cache-id",
                "c",
                "--trigger",
                "full",
                "--no-wait",
            ][..],
            "--no-wait",
        ),
        (
            &["--list-caches", "--list-materialized-queries"][..],
            "use one",
        ),
    ] {
        let (code, _, stderr) = run(gate_at(&fake, "p", args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {needle}: {stderr}");
    }
    assert_eq!(fake.requests(), 0);
    // The variables, comma-separated, as the flags.
    let (code, stdout, stderr) = run(gate_at(&fake, "p", &["--timeout", "20s"])
        .env(
            "PEAKA_MATERIALIZED_QUERY",
            "mq-done-ago-1m~env, mq-done-ago-2m~env",
        )
        .env("PEAKA_REFRESH_QUERY", "mq-new~env"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("all 3 materialized queries are ready"),
        "{stdout}"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_in_the_query_stage_cancels_the_refreshed_run_and_exits_143() {
    use std::time::Duration;
    let fake = fake();
    // The cache is ready after 1 s; the refreshed run starts 1.5 s after
    // the refresh, and a poll must see it first.
    let (summary, stderr) = common::terminated_after(
        &fake,
        "p",
        &[
            "--cache-id",
            "completes-after-1s~term",
            "--refresh-query",
            "mq-stuck~term",
            "--cancel-on-exit",
            "--timeout",
            "60s",
        ],
        Duration::from_secs(1) + fake_peaka::REFRESH_STARTS_AFTER + Duration::from_millis(1500),
    );
    assert_eq!(summary["caches"][0]["state"], "ready", "{summary}");
    assert_eq!(
        query(&summary, "mq-stuck~term")["cancel"],
        "accepted",
        "{summary}\n{stderr}"
    );
    assert_eq!(fake.query_cancels(), 1);
    assert_eq!(fake.cancels(), 0, "the ready cache is not cancelled");
}
