//! Issue 8, items 6 and 7: a server clock that lies (a `Date` far off,
//! once or always) must not move a bound so that old data counts, nor
//! make a moving execution look stalled; and nothing insane is accepted
//! (a finish in the year 9999, a year-old record as the triggered one, a
//! cache listed twice).

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::*;

// Item 6 ----------------------------------------------------------------

/// The status path, with a `Date` header chosen per request (`None`: the
/// server's real one).
fn with_date(
    body: Value,
    date: impl Fn(usize) -> Option<String> + Send + Sync + 'static,
) -> String {
    serve(vec![route(
        "GET",
        STATUS_C,
        Box::new(move |n| match date(n) {
            Some(d) => ok(&body).insert_header("date", d.as_str()),
            None => ok(&body),
        }),
    )])
}

fn finished_an_hour_ago() -> Value {
    cache(
        "c",
        "COMPLETED",
        execution("e1", "COMPLETED", -HOUR - 300, Some(-HOUR)),
        Value::Null,
    )
}

#[test]
fn a_date_a_day_behind_does_not_make_an_hour_old_execution_count_for_since_15m() {
    let base = with_date(finished_an_hour_ago(), |_| Some(http_date(at(-DAY))));
    let ran = run(
        &base,
        &["--cache-id", "c", "--since", "15m", "--timeout", "2s"],
    );
    assert_code(&ran, 3, "every Date 24 h behind, finished 1 h ago");
}

#[test]
fn a_date_in_1970_does_not_make_a_month_old_execution_count_for_started_after_now() {
    let body = cache(
        "c",
        "COMPLETED",
        execution("e1", "COMPLETED", -30 * DAY, Some(-30 * DAY + 600)),
        Value::Null,
    );
    let base = with_date(body, |_| Some("Thu, 01 Jan 1970 00:00:00 GMT".to_owned()));
    let ran = run(
        &base,
        &[
            "--cache-id",
            "c",
            "--started-after",
            "now",
            "--timeout",
            "2s",
        ],
    );
    assert_code(&ran, 3, "Date in 1970, created 30 days ago");
}

#[test]
fn one_lying_date_among_true_ones_does_not_move_the_bound() {
    let base = with_date(finished_an_hour_ago(), |n| {
        (n == 0).then(|| http_date(at(-DAY)))
    });
    let ran = run(
        &base,
        &["--cache-id", "c", "--since", "15m", "--timeout", "2s"],
    );
    assert_code(&ran, 3, "only the first Date 24 h behind, finished 1 h ago");
}

/// A `Date` 10 min behind while the same server stamps an execution as
/// finished 5 min ago: its "now" is earlier than its own timestamps, so
/// it is lying, and an execution that ended before the gate started must
/// not count for `--since now`.
#[test]
fn a_date_contradicted_by_the_servers_own_timestamps_is_not_believed() {
    let body = cache(
        "c",
        "COMPLETED",
        execution("e1", "COMPLETED", -420, Some(-300)),
        Value::Null,
    );
    let base = with_date(body, |_| Some(http_date(at(-600))));
    let ran = run(
        &base,
        &["--cache-id", "c", "--since", "now", "--timeout", "2s"],
    );
    assert_code(
        &ran,
        3,
        "every Date 10 min behind, finished 5 min ago by the same server",
    );
}

#[test]
fn a_date_two_days_ahead_does_not_make_a_moving_execution_stalled() {
    let base = serve(vec![route(
        "GET",
        STATUS_C,
        Box::new(|n| {
            let mut e = execution("e1", "RUNNING", -300, None);
            e["updatedAt"] = json!(rfc3339(at(0)));
            e["progress"]["numberOfCachedRecords"] = json!(1000 + 10 * n);
            ok(&cache("c", "RUNNING", e, Value::Null))
                .insert_header("date", http_date(at(2 * DAY)).as_str())
        }),
    )]);
    let ran = run(
        &base,
        &[
            "--cache-id",
            "c",
            "--stall-timeout",
            "1m",
            "--timeout",
            "2s",
        ],
    );
    assert_code(&ran, 3, "Date 2 days ahead, updatedAt now and moving");
}

// Item 7 ----------------------------------------------------------------

#[test]
fn a_finished_at_in_the_year_9999_does_not_count_for_since() {
    let created = json!(rfc3339(at(-HOUR)));
    let body = completed_with(
        created,
        json!(rfc3339(at(-HOUR))),
        json!("9999-01-01T00:00:00Z"),
    );
    let ran = run(
        &serve_status(body),
        &["--cache-id", "c", "--since", "15m", "--timeout", "2s"],
    );
    assert_code(&ran, 3, "finishedAt 9999-01-01");
}

#[test]
fn a_start_in_the_future_does_not_count_for_started_after() {
    for (when, created) in [
        ("in the year 9999", "9999-01-01T00:00:00Z".to_owned()),
        ("2 days ahead", rfc3339(at(2 * DAY))),
    ] {
        let body = completed_with(
            json!(created),
            json!(rfc3339(at(-60))),
            json!(rfc3339(at(-60))),
        );
        let ran = run(
            &serve_status(body),
            &[
                "--cache-id",
                "c",
                "--started-after",
                "15m",
                "--timeout",
                "2s",
            ],
        );
        assert_code(&ran, 3, &format!("createdAt {when}"));
    }
}

#[test]
fn after_a_trigger_on_an_empty_slot_a_year_old_record_is_not_the_triggered_one() {
    let empty = cache("c", "NOT_INITIALIZED", Value::Null, Value::Null);
    let old = cache(
        "c",
        "COMPLETED",
        execution("e-old", "COMPLETED", -365 * DAY, Some(-365 * DAY + 300)),
        Value::Null,
    );
    let base = serve(vec![
        route(
            "GET",
            STATUS_C,
            Box::new(move |n| ok(if n == 0 { &empty } else { &old })),
        ),
        route(
            "POST",
            "/api/v1/data/projects/p/cache/c/incrementalUpdate",
            Box::new(|_| ResponseTemplate::new(200)),
        ),
    ]);
    let ran = run(
        &base,
        &[
            "--cache-id",
            "c",
            "--trigger",
            "incremental",
            "--timeout",
            "2s",
        ],
    );
    assert_code(
        &ran,
        3,
        "the slot was empty before the trigger; then a year-old record",
    );
}

#[test]
fn a_cache_listed_twice_is_decided_on_its_less_ready_entry_with_a_warning() {
    let done = completed_cache("dup-7f3a", 10);
    let running = cache(
        "dup-7f3a",
        "RUNNING",
        execution("dup-e2", "RUNNING", -30, None),
        Value::Null,
    );
    let other = completed_cache("other", 10);
    for (order, list) in [
        ("COMPLETED first", json!([done, running, other])),
        ("RUNNING first", json!([running, done, other])),
    ] {
        let base = serve(vec![route("GET", LIST, always(list))]);
        let ran = run(
            &base,
            &[
                "--cache-id",
                "dup-7f3a",
                "--cache-id",
                "other",
                "--timeout",
                "2s",
            ],
        );
        assert_code(&ran, 3, &format!("dup-7f3a listed twice, {order}"));
        let warned = ran.stderr.lines().any(|line| {
            let line = line.to_lowercase();
            line.contains("dup-7f3a")
                && ["duplicate", "twice", "more than once", "listed 2 times"]
                    .iter()
                    .any(|w| line.contains(w))
        });
        assert!(warned, "{order}: no warning naming the duplicate id\n{ran}");
    }
}

/// An honest server whose clock runs 10 min slow on every reply: the
/// correction must survive the bounds put on it, or a sync that finished
/// after the gate started would look older than `--since now`.
#[test]
fn control_an_honest_lagging_server_clock_is_still_corrected() {
    let slow = -600;
    let base = serve(vec![route(
        "GET",
        STATUS_C,
        Box::new(move |n| {
            let e = if n < 2 {
                execution("e1", "RUNNING", slow - 60, None)
            } else {
                let mut e = execution("e1", "COMPLETED", slow - 60, Some(slow));
                e["finishedAt"] = json!(rfc3339(at(slow)));
                e
            };
            let top = if n < 2 { "RUNNING" } else { "COMPLETED" };
            ok(&cache("c", top, e, Value::Null)).insert_header("date", http_date(at(slow)).as_str())
        }),
    )]);
    let ran = run(
        &base,
        &["--cache-id", "c", "--since", "now", "--timeout", "3s"],
    );
    assert_code(
        &ran,
        0,
        "every Date 10 min slow; finished at the server's now, after the gate started",
    );
}
