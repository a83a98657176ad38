//! Issue 21 §1 attacked: the built binary's materialized-query support
//! (`--materialized-query`, `--refresh-query`,
//! `--list-materialized-queries`) against a hostile or broken server and a
//! careless user. Each test is an attack; those named `control_…` show
//! the same setup ends well when the server is honest.

use std::net::TcpListener;
use std::sync::Arc;

use super::memory::{assert_fits, peak_rss};
use super::second_round::{answer, request_line, trickle_forever};
use super::*;

/// The project's list of query statuses.
const QLIST: &str = "/api/v1/data/projects/p/materialized-queries/status";

/// `…/materialized-queries/{id}/{action}` (`status`, `refresh`, `cancel`).
fn qpath(id: &str, action: &str) -> String {
    format!("/api/v1/data/projects/p/materialized-queries/{id}/{action}")
}

/// A query status; times are seconds from now (`None`: `null`).
fn mq(id: &str, status: &str, started: Option<i64>, updated: Option<i64>) -> Value {
    json!({
        "queryId": id,
        "queryName": format!("{id} report"),
        "status": status,
        "scheduleSettings": null,
        "nextExecutionStartTime": null,
        "lastExecutionStartTime": started.map(|s| rfc3339(at(s))),
        "lastUpdateTime": updated.map(|s| rfc3339(at(s))),
    })
}

/// Counts the requests to a route and answers each as `script` says.
fn counted(count: &Arc<AtomicUsize>, script: Script) -> Script {
    let count = Arc::clone(count);
    Box::new(move |n| {
        count.fetch_add(1, Ordering::SeqCst);
        script(n)
    })
}

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

fn raw(body: impl Into<Vec<u8>>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into(), "application/json")
}

/// The list, the same for every request.
fn list_always(entries: Value) -> String {
    serve(vec![route("GET", QLIST, always(entries))])
}

/// The list as these bytes, the same for every request.
fn list_raw(body: impl Into<Vec<u8>>) -> String {
    let body = body.into();
    serve(vec![route(
        "GET",
        QLIST,
        Box::new(move |_| raw(body.clone())),
    )])
}

/// A POST to `…/materialized-queries/{id}/{action}`, counted, answered 200.
fn posted(count: &Arc<AtomicUsize>, id: &str, action: &str) -> Route {
    route(
        "POST",
        &qpath(id, action),
        counted(count, Box::new(|_| ResponseTemplate::new(200))),
    )
}

/// `--materialized-query q` against `base`, with this `--timeout`.
fn awaiting_q(base: &str, timeout: &str) -> Ran {
    run(base, &["--materialized-query", "q", "--timeout", timeout])
}

/// `--refresh-query q` against `base`, with this `--timeout`.
fn refreshing_q(base: &str, timeout: &str) -> Ran {
    run(base, &["--refresh-query", "q", "--timeout", timeout])
}

fn not_ready_by_the_deadline(ran: &Ran, why: &str) {
    assert_code(ran, 3, why);
    assert!(ran.took < Duration::from_secs(5), "{why}: overran\n{ran}");
    assert!(
        !ran.stdout.contains("\"state\":\"ready\""),
        "{why}: a query was called ready\n{ran}"
    );
}

// ---- no ready without proof -------------------------------------------

#[test]
fn a_new_query_completed_with_null_times_is_never_ready() {
    let base = list_always(json!([mq("q", "COMPLETED", None, None)]));
    let ran = awaiting_q(&base, "1s");
    not_ready_by_the_deadline(&ran, "COMPLETED with both times null");
}

#[test]
fn a_completed_query_whose_start_cannot_be_read_is_not_ready() {
    for start in [
        json!("yesterday"),
        json!(1_765_000_000),
        json!(""),
        json!({"t": 1}),
    ] {
        let mut entry = mq("q", "COMPLETED", None, Some(-10));
        entry["lastExecutionStartTime"] = start.clone();
        let base = list_always(json!([entry]));
        let ran = awaiting_q(&base, "1s");
        not_ready_by_the_deadline(&ran, &format!("lastExecutionStartTime {start}"));
    }
}

#[test]
fn a_completed_status_that_ended_before_its_start_is_an_earlier_runs() {
    let base = list_always(json!([mq("q", "COMPLETED", Some(-60), Some(-120))]));
    let ran = awaiting_q(&base, "1s");
    not_ready_by_the_deadline(&ran, "lastUpdateTime before lastExecutionStartTime");
}

#[test]
fn since_is_not_shown_by_an_end_that_cannot_be_read() {
    let mut entry = mq("q", "COMPLETED", Some(-60), None);
    entry["lastUpdateTime"] = json!("2026-13-45T99:00:00Z");
    let base = list_always(json!([entry]));
    let ran = run(
        &base,
        &[
            "--materialized-query",
            "q",
            "--since",
            "1h",
            "--timeout",
            "1s",
        ],
    );
    not_ready_by_the_deadline(&ran, "--since with an unreadable lastUpdateTime");
}

#[test]
fn since_compares_the_end_and_started_after_the_start_on_the_wire() {
    // Started two hours ago, ended a minute ago.
    let base = list_always(json!([mq("q", "COMPLETED", Some(-2 * HOUR), Some(-60))]));
    let ran = run(
        &base,
        &[
            "--materialized-query",
            "q",
            "--started-after",
            "1h",
            "--timeout",
            "1s",
        ],
    );
    not_ready_by_the_deadline(&ran, "started before the --started-after bound");
    let ran = run(
        &base,
        &[
            "--materialized-query",
            "q",
            "--since",
            "1h",
            "--timeout",
            "1s",
        ],
    );
    assert_code(&ran, 0, "ended after the --since bound");
}

#[test]
fn canceled_failed_and_cancelled_are_failed_with_exit_1() {
    for status in ["CANCELED", "FAILED", "CANCELLED"] {
        let base = list_always(json!([mq("q", status, Some(-60), Some(-30))]));
        let ran = awaiting_q(&base, "5s");
        assert_code(&ran, 1, status);
        assert!(ran.took < Duration::from_secs(3), "{status}: slow\n{ran}");
    }
}

#[test]
fn a_status_with_other_case_or_spaces_is_not_completed() {
    for status in [
        "completed",
        " COMPLETED",
        "COMPLETED\n",
        "COMPLETE",
        "SUCCEEDED",
    ] {
        let base = list_always(json!([mq("q", status, Some(-60), Some(-30))]));
        let ran = awaiting_q(&base, "1s");
        assert_ne!(ran.code, 0, "{status:?} was taken for COMPLETED\n{ran}");
        assert!(!ran.killed, "{ran}");
    }
}

#[test]
fn two_entries_of_one_id_that_disagree_are_no_proof() {
    let base = list_always(json!([
        mq("q", "COMPLETED", Some(-60), Some(-30)),
        mq("q", "RUNNING", Some(-10), Some(-10)),
    ]));
    let ran = awaiting_q(&base, "1s");
    assert_ne!(
        ran.code, 0,
        "one of two contradicting entries decided\n{ran}"
    );
    assert!(!ran.killed, "{ran}");
}

// ---- unknown ids, lookups, one list per round -------------------------

#[test]
fn an_unknown_id_ends_with_exit_5_after_one_lookup() {
    let (lists, lookups) = (counter(), counter());
    let base = serve(vec![
        route(
            "GET",
            QLIST,
            counted(
                &lists,
                always(json!([mq("other", "COMPLETED", Some(-60), Some(-30))])),
            ),
        ),
        route(
            "GET",
            &qpath("q", "status"),
            counted(
                &lookups,
                Box::new(|_| ResponseTemplate::new(404).set_body_string("not found")),
            ),
        ),
    ]);
    let ran = awaiting_q(&base, "20s");
    assert_code(&ran, 5, "an id Peaka does not know");
    assert!(ran.took < Duration::from_secs(4), "slow\n{ran}");
    assert_eq!(lists.load(Ordering::SeqCst), 1, "{ran}");
    assert_eq!(lookups.load(Ordering::SeqCst), 1, "{ran}");
    assert!(ran.stderr.contains("materialized query"), "{ran}");
}

/// The list lags behind (the query is not in it yet) and the lookup of
/// the query answers 503 once: a failed lookup shows nothing, least of
/// all that the id is unknown.
#[test]
fn a_lookup_that_failed_once_is_no_proof_of_an_unknown_id() {
    let lookups = counter();
    let base = serve(vec![
        route("GET", QLIST, always(json!([]))),
        route(
            "GET",
            &qpath("q", "status"),
            counted(
                &lookups,
                Box::new(|n| match n {
                    0 => ResponseTemplate::new(503),
                    _ => ok(&mq("q", "COMPLETED", Some(-60), Some(-30))),
                }),
            ),
        ),
    ]);
    let ran = awaiting_q(&base, "5s");
    assert_code(&ran, 0, "the lookup answered, after one 503");
    assert_eq!(lookups.load(Ordering::SeqCst), 2, "{ran}");
}

#[test]
fn many_queries_cost_one_list_request_per_round() {
    let (lists, lookups) = (counter(), counter());
    let ids = ["a", "b", "c", "d", "e"];
    let entries: Vec<Value> = ids
        .iter()
        .map(|id| mq(id, "RUNNING", Some(-10), Some(-10)))
        .collect();
    let mut routes = vec![route("GET", QLIST, counted(&lists, always(json!(entries))))];
    for id in ids {
        routes.push(route(
            "GET",
            &qpath(id, "status"),
            counted(&lookups, always(mq(id, "RUNNING", Some(-10), Some(-10)))),
        ));
    }
    let base = serve(routes);
    let mut args = vec!["--timeout", "2s"];
    for id in &ids {
        args.extend(["--materialized-query", id]);
    }
    let ran = run(&base, &args);
    not_ready_by_the_deadline(&ran, "five running queries");
    assert_eq!(lookups.load(Ordering::SeqCst), 0, "{ran}");
    let rounds = lists.load(Ordering::SeqCst);
    assert!((2..=20).contains(&rounds), "{rounds} list requests\n{ran}");
}

// ---- refresh: the very run, the POST once -----------------------------

/// `--refresh-query q` against a list whose n-th answer is `list(n)` and
/// a refresh answered by `refresh`; returns the base and the POST count.
fn refreshing(
    list: impl Fn(usize) -> Value + Send + Sync + 'static,
    refresh: ResponseTemplate,
) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (posts, cancels) = (counter(), counter());
    let base = serve(vec![
        route("GET", QLIST, Box::new(move |n| ok(&list(n)))),
        route(
            "POST",
            &qpath("q", "refresh"),
            counted(&posts, Box::new(move |_| refresh.clone())),
        ),
        posted(&cancels, "q", "cancel"),
    ]);
    (base, posts, cancels)
}

/// Query `q` as the list shows it before the refresh: its last run
/// completed an hour ago.
fn stale() -> Value {
    mq("q", "COMPLETED", Some(-HOUR), Some(-HOUR + 60))
}

/// [`refreshing`] with a list that shows [`stale`] first, then each of
/// `then` in turn, the last for good (none: stale for good).
fn refreshed(
    then: Vec<Value>,
    refresh: ResponseTemplate,
) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let before = stale();
    refreshing(
        move |n| match (n, then.last()) {
            (0, _) | (_, None) => json!([before]),
            (n, Some(last)) => json!([then.get(n - 1).unwrap_or(last)]),
        },
        refresh,
    )
}

#[test]
fn after_a_refresh_the_stale_completed_status_is_not_the_new_run() {
    let (base, posts, _) = refreshed(vec![], ResponseTemplate::new(200));
    let ran = refreshing_q(&base, "2s");
    not_ready_by_the_deadline(&ran, "the start never moved");
    assert_eq!(posts.load(Ordering::SeqCst), 1, "{ran}");
}

#[test]
fn after_a_refresh_an_older_start_is_not_the_new_run() {
    let older = mq("q", "COMPLETED", Some(-2 * HOUR), Some(-10));
    let (base, _, _) = refreshed(vec![older], ResponseTemplate::new(200));
    let ran = refreshing_q(&base, "2s");
    not_ready_by_the_deadline(&ran, "a replica behind shows an older start");
}

/// The start seen before the refresh could not be read: the old run,
/// shown readably after the refresh, cannot be told from a new one.
#[test]
fn an_unreadable_start_before_the_refresh_proves_no_later_run_new() {
    let mut before = mq("q", "COMPLETED", None, Some(-HOUR + 60));
    before["lastExecutionStartTime"] = json!("07/12/2026 09:14");
    let old = stale();
    let (base, posts, _) = refreshing(
        move |n| json!([if n == 0 { before.clone() } else { old.clone() }]),
        ResponseTemplate::new(200),
    );
    let ran = refreshing_q(&base, "2s");
    assert_ne!(
        ran.code, 0,
        "the old run was taken for the refreshed one\n{ran}"
    );
    assert!(!ran.killed && ran.took < Duration::from_secs(5), "{ran}");
    assert!(posts.load(Ordering::SeqCst) <= 1, "{ran}");
}

#[test]
fn control_a_refreshed_run_whose_start_moved_is_ready() {
    let (base, posts, _) = refreshed(
        vec![
            mq("q", "RUNNING", Some(-1), Some(-1)),
            mq("q", "COMPLETED", Some(-1), Some(0)),
        ],
        ResponseTemplate::new(200),
    );
    let ran = run(
        &base,
        &[
            "--refresh-query",
            "q",
            "--timeout",
            "5s",
            "--output",
            "json",
        ],
    );
    assert_code(&ran, 0, "the start moved, then COMPLETED");
    assert_eq!(posts.load(Ordering::SeqCst), 1, "{ran}");
    assert_eq!(
        ran.summary()["materializedQueries"][0]["refreshed"],
        true,
        "{ran}"
    );
}

#[test]
fn a_refresh_answered_500_or_429_is_never_sent_again() {
    for answer in [
        ResponseTemplate::new(500),
        ResponseTemplate::new(502).set_body_string("<html>bad gateway</html>"),
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
    ] {
        let (base, posts, _) = refreshed(vec![], answer);
        let ran = refreshing_q(&base, "2s");
        assert!(!ran.killed && ran.took < Duration::from_secs(5), "{ran}");
        assert_ne!(ran.code, 0, "{ran}");
        assert_eq!(posts.load(Ordering::SeqCst), 1, "sent twice\n{ran}");
    }
}

#[test]
fn a_refresh_answered_404_is_exit_5_and_401_exit_4_each_sent_once() {
    for (status, code) in [(404, 5), (401, 4), (403, 4)] {
        let (base, posts, _) = refreshed(vec![], ResponseTemplate::new(status));
        let ran = refreshing_q(&base, "10s");
        assert_code(&ran, code, &format!("refresh answered {status}"));
        assert!(ran.took < Duration::from_secs(4), "{ran}");
        assert_eq!(posts.load(Ordering::SeqCst), 1, "{ran}");
    }
}

/// A raw server: the list answers the `n`-th GET with `list(n)`, the
/// refresh POST is read and its connection closed without an answer.
fn refresh_dropped(list: impl Fn(usize) -> Value + Send + 'static) -> (String, Arc<AtomicUsize>) {
    let posts = counter();
    let seen = Arc::clone(&posts);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        let mut gets = 0;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            match request_line(&stream) {
                Some((verb, _)) if verb == "POST" => {
                    seen.fetch_add(1, Ordering::SeqCst);
                    drop(stream);
                }
                Some(_) => {
                    answer(&stream, &list(gets));
                    gets += 1;
                }
                None => {}
            }
        }
    });
    (format!("http://{address}/api/v1"), posts)
}

#[test]
fn a_refresh_whose_connection_dropped_after_sending_is_not_sent_again() {
    let before = stale();
    let (base, posts) = refresh_dropped(move |n| {
        json!([match n {
            0..=2 => before.clone(),
            _ => mq("q", "COMPLETED", Some(-1), Some(0)),
        }])
    });
    let ran = refreshing_q(&base, "5s");
    assert_code(&ran, 0, "the run started after the dropped refresh");
    assert_eq!(posts.load(Ordering::SeqCst), 1, "sent twice\n{ran}");
}

#[test]
fn a_refresh_that_is_never_answered_ends_by_the_deadline_sent_once() {
    let (base, posts, _) = refreshed(
        vec![],
        ResponseTemplate::new(200).set_delay(Duration::from_secs(60)),
    );
    let ran = refreshing_q(&base, "2s");
    assert_code(&ran, 3, "the refresh hangs");
    assert!(ran.took < Duration::from_millis(3500), "overran\n{ran}");
    assert_eq!(posts.load(Ordering::SeqCst), 1, "{ran}");
}

// ---- cancel-on-exit ----------------------------------------------------

#[test]
fn control_cancel_on_exit_cancels_the_refreshed_run_and_no_other() {
    let (waits, posts, cancels) = (counter(), counter(), counter());
    let before = stale();
    let base = serve(vec![
        route(
            "GET",
            QLIST,
            Box::new(move |n| {
                let q = if n == 0 {
                    before.clone()
                } else {
                    mq("q", "RUNNING", Some(-1), Some(-1))
                };
                ok(&json!([q, mq("w", "RUNNING", Some(-5), Some(-5))]))
            }),
        ),
        posted(&posts, "q", "refresh"),
        posted(&cancels, "q", "cancel"),
        posted(&waits, "w", "cancel"),
    ]);
    let ran = run(
        &base,
        &[
            "--refresh-query",
            "q",
            "--materialized-query",
            "w",
            "--cancel-on-exit",
            "--timeout",
            "2s",
        ],
    );
    assert_code(&ran, 3, "both run past the deadline");
    assert_eq!(cancels.load(Ordering::SeqCst), 1, "{ran}");
    assert_eq!(
        waits.load(Ordering::SeqCst),
        0,
        "the awaited query was cancelled\n{ran}"
    );
}

/// The refresh answered 500 (it may or may not have started a run), a
/// later poll failed, then a run shows up: not provably the gate's own.
#[test]
fn a_run_after_a_refresh_answered_500_is_not_cancelled_after_a_later_error() {
    let before = stale();
    let cancels = counter();
    let base = serve(vec![
        route(
            "GET",
            QLIST,
            Box::new(move |n| match n {
                0 => ok(&json!([before.clone()])),
                1 => ResponseTemplate::new(503),
                _ => ok(&json!([mq("q", "RUNNING", Some(-1), Some(-1))])),
            }),
        ),
        route(
            "POST",
            &qpath("q", "refresh"),
            Box::new(|_| ResponseTemplate::new(500)),
        ),
        posted(&cancels, "q", "cancel"),
    ]);
    let ran = run(
        &base,
        &[
            "--refresh-query",
            "q",
            "--cancel-on-exit",
            "--timeout",
            "2s",
            "--output",
            "json",
        ],
    );
    assert_code(&ran, 3, "the run is still going");
    assert_eq!(
        cancels.load(Ordering::SeqCst),
        0,
        "a run not shown to be ours was cancelled\n{ran}"
    );
}

#[test]
fn cancel_on_exit_with_only_awaited_queries_is_refused() {
    let base = list_always(json!([]));
    let ran = run(&base, &["--materialized-query", "q", "--cancel-on-exit"]);
    assert_code(&ran, 2, "nothing of the gate's own to cancel");
    assert!(ran.stderr.contains("--cancel-on-exit"), "{ran}");
}

// ---- the ordered gate ----------------------------------------------------

#[test]
fn a_cache_that_times_out_refreshes_no_query() {
    let posts = counter();
    let base = serve(vec![
        route(
            "GET",
            STATUS_C,
            always(cache(
                "c",
                "RUNNING",
                execution("e1", "RUNNING", -30, None),
                Value::Null,
            )),
        ),
        route(
            "GET",
            QLIST,
            always(json!([mq("q", "COMPLETED", Some(-HOUR), Some(-HOUR))])),
        ),
        posted(&posts, "q", "refresh"),
    ]);
    let ran = run(
        &base,
        &[
            "--cache-id",
            "c",
            "--refresh-query",
            "q",
            "--timeout",
            "2s",
            "--output",
            "json",
        ],
    );
    assert_code(&ran, 3, "the cache never finished");
    assert_eq!(posts.load(Ordering::SeqCst), 0, "{ran}");
    assert_eq!(
        ran.summary()["materializedQueries"][0]["refreshed"],
        false,
        "{ran}"
    );
}

#[test]
fn a_ready_cache_then_a_failed_query_is_exit_1_and_no_command() {
    let base = serve(vec![
        route("GET", STATUS_C, always(completed_cache("c", 30))),
        route(
            "GET",
            QLIST,
            always(json!([mq("q", "FAILED", Some(-60), Some(-30))])),
        ),
    ]);
    let ran = run(
        &base,
        &[
            "--cache-id",
            "c",
            "--materialized-query",
            "q",
            "--timeout",
            "5s",
            "--",
            "sh",
            "-c",
            "echo RAN-THE-JOB",
        ],
    );
    assert_code(&ran, 1, "the query failed after the cache was ready");
    assert!(!ran.stdout.contains("RAN-THE-JOB"), "{ran}");
}

// ---- hostile text ----------------------------------------------------------

const NASTY: &str = "RUN\nNING\r::error::pwned \u{1b}[31mred\u{1b}]8;;x\u{7}";

fn assert_clean(ran: &Ran) {
    for (name, text) in ran.everything() {
        assert!(!text.contains(KEY), "{name} holds the key\n{ran}");
        assert!(!text.contains('\u{1b}'), "{name} holds an escape\n{ran}");
        assert!(!text.contains('\u{7}'), "{name} holds a BEL\n{ran}");
        assert!(
            !text.contains("\n::error::pwned"),
            "{name}: a workflow command\n{ran}"
        );
        assert!(
            !text.contains("\r::error::pwned"),
            "{name}: a workflow command\n{ran}"
        );
    }
}

#[test]
fn hostile_status_and_name_text_is_escaped_and_scrubbed_everywhere() {
    let entry = json!({
        "queryId": "q",
        "queryName": format!("{NASTY} {KEY}"),
        "status": format!("{NASTY} {KEY}"),
        "lastExecutionStartTime": rfc3339(at(-10)),
        "lastUpdateTime": rfc3339(at(-10)),
    });
    let variants = every_format(&["--materialized-query", "q"]);
    let runs = run_all(&|| list_always(json!([entry.clone()])), &variants);
    for ran in &runs {
        assert_code(ran, 3, "a status the gate does not know is not ready");
        assert_clean(ran);
    }
}

#[test]
fn a_hostile_failed_detail_is_escaped_too() {
    // FAILED, with a name and a lookup reply full of control text.
    let entry = json!({
        "queryId": "q",
        "queryName": format!("{NASTY}|{KEY}"),
        "status": "FAILED",
        "lastExecutionStartTime": rfc3339(at(-10)),
        "lastUpdateTime": rfc3339(at(-5)),
    });
    let variants = every_format(&["--materialized-query", "q"]);
    let runs = run_all(&|| list_always(json!([entry.clone()])), &variants);
    for ran in &runs {
        assert_code(ran, 1, "FAILED");
        assert_clean(ran);
    }
}

#[test]
fn a_hostile_error_body_of_a_refresh_is_escaped_and_scrubbed() {
    let (base, _, _) = refreshed(
        vec![],
        ResponseTemplate::new(404).set_body_string(format!("{NASTY} {KEY}")),
    );
    let ran = refreshing_q(&base, "3s");
    assert_code(&ran, 5, "the refresh answered 404");
    assert_clean(&ran);
}

#[test]
fn listing_hostile_queries_is_escaped_and_scrubbed() {
    let entry = json!({
        "queryId": format!("::{NASTY}"),
        "queryName": format!("{NASTY} {KEY}"),
        "status": format!("{NASTY}"),
        "lastExecutionStartTime": "not a time",
    });
    let base = list_always(json!([entry]));
    for output in ["text", "json"] {
        let ran = run(&base, &["--list-materialized-queries", "--output", output]);
        assert_code(&ran, 0, "a listing");
        assert_clean(&ran);
        assert!(!ran.stdout.lines().any(|l| l.starts_with("::")), "{ran}");
    }
}

// ---- cost of a reply -------------------------------------------------------

#[test]
fn a_reply_that_never_ends_costs_no_more_than_the_deadline() {
    let base = trickle_forever();
    for args in [
        &["--materialized-query", "q"][..],
        &["--refresh-query", "q"],
        &["--list-materialized-queries"],
    ] {
        let ran = run(&base, &[args, &["--timeout", "2s"]].concat());
        assert!(!ran.killed, "{ran}");
        assert!(
            ran.took < Duration::from_millis(3500),
            "{args:?}: overran\n{ran}"
        );
        assert_eq!(ran.code, 3, "{args:?}\n{ran}");
    }
}

#[test]
fn a_retry_after_of_a_day_does_not_move_the_deadline() {
    let base = serve(vec![route(
        "GET",
        QLIST,
        Box::new(|_| ResponseTemplate::new(429).insert_header("retry-after", "86400")),
    )]);
    let ran = awaiting_q(&base, "2s");
    assert_code(&ran, 3, "rate limited to the end");
    assert!(ran.took < Duration::from_millis(3500), "{ran}");
}

#[test]
fn deep_nesting_arrays_for_objects_and_huge_strings_are_no_panic() {
    let deep = format!(
        r#"[{{"queryId":"q","status":"COMPLETED","x":{}1{}}}]"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let huge_name = format!(
        r#"[{{"queryId":"q","status":"RUNNING","queryName":"{}"}}]"#,
        "n".repeat(3 * 1024 * 1024)
    );
    for (what, body) in [
        ("deep nesting", deep),
        ("an array for an entry", r#"[["q","COMPLETED"]]"#.to_owned()),
        (
            "an object for the list",
            r#"{"queryId":"q","status":"COMPLETED"}"#.to_owned(),
        ),
        ("a 3 MiB name", huge_name),
        ("a string for the list", r#""COMPLETED""#.to_owned()),
    ] {
        let base = list_raw(body);
        let ran = awaiting_q(&base, "2s");
        assert!(
            !ran.killed && ran.took < Duration::from_millis(3500),
            "{what}\n{ran}"
        );
        assert!(
            matches!(ran.code, 3 | 6),
            "{what}: exit {}\n{ran}",
            ran.code
        );
        assert!(!ran.stderr.contains("panicked"), "{what}\n{ran}");
    }
}

const MIB: usize = 1024 * 1024;

/// Query `q`, completed, among `others` tiny entries.
fn a_crowded_query_list(others: usize) -> Vec<u8> {
    let mut list = String::from("[");
    for i in 0..others {
        list.push_str(&format!(r#"{{"queryId":"{i:06x}"}},"#));
    }
    list.push_str(&mq("q", "COMPLETED", Some(-60), Some(-30)).to_string());
    list.push(']');
    list.into_bytes()
}

#[test]
fn one_query_among_700_000_tiny_entries_fits_in_32_mib() {
    let body = a_crowded_query_list(700_000);
    assert!(body.len() < 16 * MIB, "within the list cap: {}", body.len());
    let base = list_raw(body);
    let (ran, peak) = peak_rss(&base, &["--materialized-query", "q", "--timeout", "20s"]);
    assert_fits("one query among 700,000 entries", &ran, peak);
    assert_code(&ran, 0, "q completed");
}

// ---- a careless user -------------------------------------------------------

#[test]
fn ids_from_the_environment_are_trimmed_deduplicated_and_emptiness_refused() {
    let lists = counter();
    let base = serve(vec![route(
        "GET",
        QLIST,
        counted(
            &lists,
            always(json!([mq("q", "COMPLETED", Some(-60), Some(-30))])),
        ),
    )]);
    let ran = Gate::new(&base, &["--timeout", "5s", "--output", "json"])
        .env("PEAKA_MATERIALIZED_QUERY", " q , ,q,")
        .run();
    assert_code(&ran, 0, "one query, named twice");
    assert_eq!(
        ran.summary()["materializedQueries"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{ran}"
    );
    let ran = Gate::new(&base, &["--timeout", "5s"])
        .env("PEAKA_MATERIALIZED_QUERY", " , ")
        .run();
    assert_code(&ran, 2, "no id at all");
    assert!(ran.stderr.contains("PEAKA_MATERIALIZED_QUERY"), "{ran}");
}

#[test]
fn a_query_both_awaited_and_refreshed_is_refreshed_once() {
    let (base, posts, _) = refreshed(
        vec![mq("q", "COMPLETED", Some(-1), Some(0))],
        ResponseTemplate::new(200),
    );
    let ran = run(
        &base,
        &[
            "--materialized-query",
            "q",
            "--refresh-query",
            "q",
            "--refresh-query",
            "q",
            "--timeout",
            "5s",
        ],
    );
    assert_code(&ran, 0, "refreshed, then COMPLETED");
    assert_eq!(posts.load(Ordering::SeqCst), 1, "{ran}");
}

#[test]
fn refresh_query_with_timeout_0_or_no_wait_is_refused() {
    let base = list_always(json!([]));
    for extra in [&["--timeout", "0"][..], &["--no-wait"]] {
        let ran = run(&base, &[&["--refresh-query", "q"][..], extra].concat());
        assert_code(&ran, 2, &format!("{extra:?}"));
    }
}

#[test]
fn one_query_repeated_700_000_times_fits_in_32_mib() {
    let entry = mq("q", "COMPLETED", Some(-60), Some(-30)).to_string();
    let mut list = String::from("[");
    for _ in 0..(15 * MIB / (entry.len() + 1)) {
        list.push_str(&entry);
        list.push(',');
    }
    list.push_str(&entry);
    list.push(']');
    let base = list_raw(list);
    let (ran, peak) = peak_rss(&base, &["--materialized-query", "q", "--timeout", "20s"]);
    assert_fits("one query's status 15 MiB over", &ran, peak);
    assert_code(&ran, 0, "the same status, many times over");
}

#[test]
fn listing_700_000_queries_fits_in_32_mib() {
    let body = a_crowded_query_list(700_000);
    let base = list_raw(body);
    for output in ["text", "json"] {
        let (ran, peak) = peak_rss(&base, &["--list-materialized-queries", "--output", output]);
        assert_fits(&format!("--output {output}, 700,001 queries"), &ran, peak);
        assert_code(&ran, 0, "a listing");
        assert_eq!(
            ran.stdout.lines().count(),
            if output == "json" { 1 } else { 700_002 },
            "a header and a row per query, or one JSON array"
        );
    }
}

/// SIGTERM (a pod stopped) while the refreshed run goes, and again while
/// the refresh itself hangs: the first run is cancelled once, the second
/// (whose refresh never answered) is not, and both end at once.
#[test]
fn sigterm_cancels_the_refreshed_run_once_and_nothing_unproven() {
    for hang in [false, true] {
        let refresh = if hang {
            ResponseTemplate::new(200).set_delay(Duration::from_secs(60))
        } else {
            ResponseTemplate::new(200)
        };
        let (base, posts, cancels) =
            refreshed(vec![mq("q", "RUNNING", Some(-1), Some(-1))], refresh);
        let ran = Gate::new(
            &base,
            &[
                "--refresh-query",
                "q",
                "--cancel-on-exit",
                "--timeout",
                "1m",
            ],
        )
        .sigterm_after(Duration::from_millis(1500))
        .run();
        assert_code(&ran, 143, "SIGTERM");
        assert!(ran.took < Duration::from_secs(5), "{ran}");
        assert_eq!(posts.load(Ordering::SeqCst), 1, "{ran}");
        let want = usize::from(!hang);
        assert_eq!(cancels.load(Ordering::SeqCst), want, "hang {hang}\n{ran}");
    }
}
