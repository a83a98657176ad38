//! Issue 8, items 1–5: answers that once made the gate say "ready" on
//! stale or running data (unreadable end times, a cache RUNNING over an
//! old record, an unknown start, an unnamed cache, a cache that starts
//! again). Each must keep it waiting (exit 3 at the
//! deadline) or end it with the right code; controls show the same
//! shapes still pass when the data really is fresh.

use serde_json::{Value, json};

use super::*;

/// A civil time without a zone, as some Java services print it.
fn zoneless(secs: i64) -> String {
    at(secs).strftime("%Y-%m-%dT%H:%M:%S.%6f").to_string()
}

// Item 1 ----------------------------------------------------------------

#[test]
fn a_zoneless_finished_at_two_days_ago_is_read_as_utc_not_replaced_by_updated_at() {
    let created = json!(rfc3339(at(-2 * DAY - 600)));
    let body = completed_with(created, json!(rfc3339(at(-60))), json!(zoneless(-2 * DAY)));
    let ran = run(
        &serve_status(body),
        &["--cache-id", "c", "--since", "15m", "--timeout", "2s"],
    );
    assert_code(
        &ran,
        3,
        "finishedAt 2 days ago without a zone, updatedAt 1 min ago",
    );
}

#[test]
fn an_unreadable_finished_at_never_falls_back_to_updated_at() {
    let created = json!(rfc3339(at(-2 * DAY)));
    let body = completed_with(created, json!(rfc3339(at(-60))), json!("yesterday"));
    let ran = run(
        &serve_status(body),
        &["--cache-id", "c", "--since", "15m", "--timeout", "2s"],
    );
    assert_code(&ran, 3, "finishedAt \"yesterday\", updatedAt 1 min ago");
}

#[test]
fn control_a_zoneless_finished_at_a_minute_ago_is_ready() {
    // No updatedAt: only the zone-less finishedAt can make it count.
    let created = json!(rfc3339(at(-300)));
    let body = completed_with(created, Value::Null, json!(zoneless(-60)));
    let ran = run(
        &serve_status(body),
        &["--cache-id", "c", "--since", "15m", "--timeout", "2s"],
    );
    assert_code(&ran, 0, "finishedAt 1 min ago without a zone");
}

#[test]
fn an_unreadable_finished_at_in_the_history_never_falls_back_to_updated_at() {
    // e1 ended between two polls; the history says when, unreadably.
    let mut e1 = execution("e1", "COMPLETED", -300, Some(-120));
    e1["finishedAt"] = json!("yesterday");
    e1["updatedAt"] = json!(rfc3339(at(-60)));
    let base = slot_moves(ok(&json!([execution("e2", "RUNNING", -30, None), e1])));
    let ran = run(
        &base,
        &["--cache-id", "c", "--since", "15m", "--timeout", "2s"],
    );
    assert_code(
        &ran,
        3,
        "a missed execution with finishedAt \"yesterday\", updatedAt 1 min ago",
    );
}

// Item 2 ----------------------------------------------------------------

/// Top-level RUNNING over an incremental sync that completed an hour ago.
pub fn running_over_an_old_incremental(full: Value) -> Value {
    cache(
        "c",
        "RUNNING",
        execution("i1", "COMPLETED", -HOUR - 300, Some(-HOUR)),
        full,
    )
}

#[test]
fn a_running_cache_over_an_old_incremental_is_not_ready_for_incremental() {
    let base = serve_status(running_over_an_old_incremental(Value::Null));
    let ran = run(
        &base,
        &[
            "--cache-id",
            "c",
            "--execution",
            "incremental",
            "--timeout",
            "2s",
        ],
    );
    assert_code(
        &ran,
        3,
        "top RUNNING, incremental COMPLETED 1 h ago, no full record",
    );
}

#[test]
fn a_running_cache_over_an_old_full_refresh_is_not_ready_for_full() {
    let body = cache(
        "c",
        "RUNNING",
        Value::Null,
        full_execution("f1", "COMPLETED", -HOUR - 300, Some(-HOUR)),
    );
    let ran = run(
        &serve_status(body),
        &["--cache-id", "c", "--execution", "full", "--timeout", "2s"],
    );
    assert_code(
        &ran,
        3,
        "top RUNNING, full refresh COMPLETED 1 h ago, no incremental record",
    );
}

#[test]
fn a_running_cache_over_two_old_records_is_not_ready_for_both() {
    let body = cache(
        "c",
        "RUNNING",
        execution("i1", "COMPLETED", -HOUR - 300, Some(-HOUR)),
        full_execution("f1", "COMPLETED", -2 * HOUR - 300, Some(-2 * HOUR)),
    );
    let ran = run(
        &serve_status(body),
        &["--cache-id", "c", "--execution", "both", "--timeout", "2s"],
    );
    assert_code(&ran, 3, "top RUNNING, both slots COMPLETED long ago");
}

#[test]
fn control_a_running_full_refresh_explains_a_running_cache() {
    let full = full_execution("f1", "RUNNING", -60, None);
    let base = serve_status(running_over_an_old_incremental(full));
    let ran = run(
        &base,
        &[
            "--cache-id",
            "c",
            "--execution",
            "incremental",
            "--timeout",
            "2s",
        ],
    );
    assert_code(&ran, 0, "the RUNNING is the full refresh's");
}

// Item 3 ----------------------------------------------------------------

#[test]
fn a_running_execution_with_no_start_time_beats_an_old_finished_one() {
    let mut full = full_execution("f1", "RUNNING", -60, None);
    full["createdAt"] = Value::Null;
    let body = cache(
        "c",
        "COMPLETED",
        execution("i1", "COMPLETED", -2 * HOUR - 300, Some(-2 * HOUR)),
        full,
    );
    let ran = run(
        &serve_status(body),
        &["--cache-id", "c", "--execution", "any", "--timeout", "2s"],
    );
    assert_code(&ran, 3, "a full refresh RUNNING with createdAt null");
}

// Item 4 ----------------------------------------------------------------

#[test]
fn a_listed_cache_without_an_id_is_an_api_error() {
    let mut nameless = cache(
        "x",
        "RUNNING",
        execution("e9", "RUNNING", -60, None),
        Value::Null,
    );
    nameless["id"] = Value::Null;
    let base = serve(vec![route(
        "GET",
        LIST,
        always(json!([nameless, completed_cache("b", 60)])),
    )]);
    let ran = run(&base, &["--all-caches", "--timeout", "3s"]);
    assert_code(&ran, 6, "a RUNNING cache in the list with id null");
    assert!(
        ["no id", "without an id"]
            .iter()
            .any(|w| ran.stderr.to_lowercase().contains(w)),
        "the message must say a cache in the list has no id\n{ran}"
    );
}

#[test]
fn a_listed_cache_with_no_id_field_is_an_api_error() {
    let mut nameless = cache(
        "x",
        "RUNNING",
        execution("e9", "RUNNING", -60, None),
        Value::Null,
    );
    nameless.as_object_mut().map(|o| o.remove("id"));
    let base = serve(vec![route(
        "GET",
        LIST,
        always(json!([completed_cache("b", 60), nameless])),
    )]);
    let ran = run(&base, &["--all-caches", "--timeout", "3s"]);
    assert_code(&ran, 6, "a RUNNING cache in the list without an id field");
}

// Item 5 ----------------------------------------------------------------

/// Caches `a` and `b` through the project list: `a` completes, starts
/// again (a new execution), and, if `a_again` is set, completes again
/// from round 4 on; `b` completes from round 3 on. The first `setup`
/// requests (`--all-caches` lists the caches first) see round 1.
fn flapping_pair(a_again: bool, setup: usize) -> String {
    let a_done = completed_cache("a", 30);
    let a_running = cache(
        "a",
        "RUNNING",
        execution("a-e2", "RUNNING", -5, None),
        Value::Null,
    );
    let a_done_again = cache(
        "a",
        "COMPLETED",
        execution("a-e2", "COMPLETED", -5, Some(-1)),
        Value::Null,
    );
    let b_running = cache(
        "b",
        "RUNNING",
        execution("b-e1", "RUNNING", -60, None),
        Value::Null,
    );
    let b_done = completed_cache("b", 1);
    serve(vec![route(
        "GET",
        LIST,
        Box::new(move |n| {
            ok(&match n.saturating_sub(setup) {
                0 => json!([a_done, b_running]),
                1 => json!([a_running, b_running]),
                2 => json!([a_running, b_done]),
                _ if a_again => json!([a_done_again, b_done]),
                _ => json!([a_running, b_done]),
            })
        }),
    )])
}

#[test]
fn a_cache_that_starts_again_before_the_others_finish_is_not_ready() {
    let base = flapping_pair(false, 0);
    let ran = run(
        &base,
        &[
            "--cache-id",
            "a",
            "--cache-id",
            "b",
            "--timeout",
            "2s",
            "--output",
            "json",
        ],
    );
    assert_code(&ran, 3, "a is RUNNING again when b completes");
    let summary = ran.summary();
    assert_eq!(summary["caches"][0]["cacheId"], "a", "{summary}");
    assert_eq!(
        summary["caches"][0]["cacheStatus"], "RUNNING",
        "the last reply said RUNNING\n{summary}"
    );
}

#[test]
fn with_all_caches_a_cache_that_starts_again_is_not_ready() {
    let ran = run(
        &flapping_pair(false, 1),
        &["--all-caches", "--timeout", "2s", "--output", "json"],
    );
    assert_code(&ran, 3, "--all-caches: a is RUNNING again when b completes");
    let summary = ran.summary();
    assert_eq!(summary["caches"][0]["cacheStatus"], "RUNNING", "{summary}");
}

#[test]
fn control_every_cache_ready_in_the_same_round_is_ready() {
    let base = flapping_pair(true, 0);
    let ran = run(
        &base,
        &[
            "--cache-id",
            "a",
            "--cache-id",
            "b",
            "--timeout",
            "4s",
            "--output",
            "json",
        ],
    );
    assert_code(&ran, 0, "a completes again while b is completed");
    let summary = ran.summary();
    assert_eq!(
        summary["caches"][0]["execution"]["id"], "a-e2",
        "the summary must show a's latest execution\n{summary}"
    );
}

// Issue 16, section 4 ---------------------------------------------------

/// A cache status written as an array, in the order of the fields of a
/// status: serde's derive once read it by position, as a ready cache.
fn positional(id: &str) -> Value {
    json!([
        id,
        "COMPLETED",
        "cat-1",
        "public",
        "orders",
        ["e1", "INCREMENTAL", "COMPLETED"],
        null
    ])
}

#[test]
fn a_status_written_as_an_array_is_no_status() {
    let list = json!([positional("a"), positional("b")]);
    let listed = serve(vec![route("GET", LIST, always(list))]);
    let ran = run(
        &listed,
        &["--cache-id", "a", "--cache-id", "b", "--timeout", "2s"],
    );
    assert_code(&ran, 3, "list entries written as arrays");
    let last = ran.stderr.lines().last().unwrap_or_default();
    assert!(last.contains("not a cache status"), "{last}");
    let alone = serve_status(positional("c"));
    let ran = run(&alone, &["--cache-id", "c", "--timeout", "2s"]);
    assert_code(&ran, 3, "a status written as an array");
    // An execution written as an array is no execution either.
    let mut status = completed_cache("c", 30);
    status["lastIncrementalCacheExecution"] = json!(["e1", "INCREMENTAL", "COMPLETED"]);
    let ran = run(
        &serve_status(status),
        &["--cache-id", "c", "--timeout", "2s"],
    );
    assert_code(&ran, 3, "an execution written as an array");
}

#[test]
fn control_the_same_statuses_as_objects_are_ready() {
    let list = json!([completed_cache("a", 30), completed_cache("b", 30)]);
    let listed = serve(vec![route("GET", LIST, always(list))]);
    let ran = run(
        &listed,
        &["--cache-id", "a", "--cache-id", "b", "--timeout", "2s"],
    );
    assert_code(&ran, 0, "the same caches as objects");
}
