//! Issue 16, item 1: after `--trigger`, only an execution proven to be the
//! triggered one counts, for ready, `-- COMMAND` and cancel alike: another
//! id than the slot showed before the trigger, and a readable `createdAt`
//! not earlier than the trigger. A record that predates the trigger by its
//! own time, or a new id with no readable time, keeps the gate waiting
//! (exit 3 at the deadline) and says why; a trigger answered with a 500
//! never makes a run cancellable. Controls show the same scripts end
//! ready, and cancel, when the new record is provably the triggered one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::*;

const TRIGGER: &str = "/api/v1/data/projects/p/cache/c/incrementalUpdate";
const CANCEL: &str = "/api/v1/data/projects/p/cache/c/cancelIncrementalUpdate";

/// An incremental record with this `createdAt` (any JSON).
fn created(id: &str, status: &str, created_at: Value, finished: Option<i64>) -> Value {
    let mut e = execution(id, status, -60, finished);
    e["createdAt"] = created_at;
    e
}

/// Cache `c` shows `before` at the first read (the baseline) and `after`
/// from then on; the trigger is answered `trigger`, and every cancel 200
/// (counted in the returned counter).
fn triggered(before: Value, after: Value, trigger: u16) -> (String, Arc<AtomicUsize>) {
    let cancels = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&cancels);
    let top = |e: &Value| {
        if e["status"] == "RUNNING" {
            "RUNNING"
        } else {
            "COMPLETED"
        }
    };
    let before = cache("c", top(&before), before, Value::Null);
    let after = cache("c", top(&after), after, Value::Null);
    let base = serve(vec![
        route(
            "GET",
            STATUS_C,
            Box::new(move |n| ok(if n == 0 { &before } else { &after })),
        ),
        route(
            "POST",
            TRIGGER,
            Box::new(move |_| {
                ResponseTemplate::new(trigger).set_body_json(
                    json!({"error": "InternalError", "message": "boom", "errorCode": null}),
                )
            }),
        ),
        route(
            "POST",
            CANCEL,
            Box::new(move |_| {
                counted.fetch_add(1, Ordering::SeqCst);
                ResponseTemplate::new(200)
            }),
        ),
    ]);
    (base, cancels)
}

pub(super) const TRIGGERED_WAIT: [&str; 6] = [
    "--cache-id",
    "c",
    "--trigger",
    "incremental",
    "--timeout",
    "2s",
];

#[test]
fn after_a_trigger_a_record_from_3_days_before_is_not_ready_though_the_baseline_was_undated() {
    let before = created("e1", "COMPLETED", Value::Null, Some(-3 * DAY - 60));
    let after = execution("e0", "COMPLETED", -3 * DAY, Some(-3 * DAY + 300));
    let (base, _) = triggered(before, after, 200);
    let ran = run(&base, &TRIGGERED_WAIT);
    assert_code(
        &ran,
        3,
        "baseline e1 undated; after the trigger, e0 of 3 days ago",
    );
    assert!(
        ran.stderr.contains("the slot shows e0, created at")
            && ran.stderr.contains("before the trigger at"),
        "the timeout message says why e0 is not it\n{ran}"
    );
}

#[test]
fn after_a_trigger_a_new_id_without_a_readable_created_at_is_not_ready() {
    for created_at in [Value::Null, json!("yesterday")] {
        let before = execution("e1", "COMPLETED", -2 * HOUR, Some(-2 * HOUR + 300));
        let after = created("e2", "COMPLETED", created_at.clone(), Some(-1));
        let (base, _) = triggered(before, after, 200);
        let ran = run(&base, &TRIGGERED_WAIT);
        let why = format!("baseline e1 of 2 h ago; after the trigger, e2 createdAt {created_at}");
        assert_code(&ran, 3, &why);
        let reason = "the slot shows e2, whose createdAt is missing or unreadable, so nothing shows it was created after the trigger";
        // Said as it changes (the log) and in the timeout message, which
        // is also what the heartbeat says.
        let lines = ran.stderr.lines().filter(|l| l.contains(reason)).count();
        assert!(
            lines >= 2,
            "{why}: the log and the timeout message say why\n{ran}"
        );
    }
}

#[test]
fn after_a_trigger_a_command_never_runs_on_a_record_that_is_not_proven_new() {
    let before = execution("e1", "COMPLETED", -2 * HOUR, Some(-2 * HOUR + 300));
    let after = created("e2", "COMPLETED", json!("yesterday"), Some(-1));
    let (base, _) = triggered(before, after, 200);
    let scratch = tempfile::tempdir().expect("temp dir");
    let marker = scratch.path().join("ran");
    let marker_arg = marker.to_string_lossy().into_owned();
    let ran = Gate::new(
        &base,
        &[&TRIGGERED_WAIT[..], &["--", "touch", &marker_arg]].concat(),
    )
    .run();
    assert_code(&ran, 3, "e2 undated after the trigger, with -- touch");
    assert!(!marker.exists(), "the command ran\n{ran}");
}

#[test]
fn control_after_a_trigger_a_new_id_created_after_it_is_ready() {
    let before = created("e1", "COMPLETED", Value::Null, Some(-2 * HOUR));
    let after = execution("e2", "COMPLETED", 0, Some(1));
    let (base, _) = triggered(before, after, 200);
    let ran = run(&base, &TRIGGERED_WAIT);
    assert_code(&ran, 0, "e2 created at the trigger");
}

/// `--cancel-on-exit` at the deadline, with a new record created after
/// the trigger and still running: the trigger's answer decides.
fn cancel_after(trigger: u16) -> (Ran, usize) {
    let before = execution("e1", "COMPLETED", -2 * HOUR, Some(-2 * HOUR + 300));
    let after = execution("e2", "RUNNING", 0, None);
    let (base, cancels) = triggered(before, after, trigger);
    let ran = run(
        &base,
        &[
            &TRIGGERED_WAIT[..],
            &["--cancel-on-exit", "--output", "json"],
        ]
        .concat(),
    );
    (ran, cancels.load(Ordering::SeqCst))
}

#[test]
fn a_run_after_a_trigger_answered_500_is_not_cancelled() {
    let (ran, cancels) = cancel_after(500);
    assert_code(
        &ran,
        3,
        "the trigger answered 500; e2 runs, created after it",
    );
    assert_eq!(cancels, 0, "a cancel was sent\n{ran}");
    assert_eq!(
        ran.summary()["caches"][0]["cancel"],
        "not sent: the trigger's answer was HTTP 500, so this run may not be ours",
        "{ran}"
    );
}

#[test]
fn control_a_run_after_a_trigger_answered_200_is_cancelled() {
    let (ran, cancels) = cancel_after(200);
    assert_code(
        &ran,
        3,
        "the trigger answered 200; e2 runs, created after it",
    );
    assert_eq!(cancels, 1, "{ran}");
    assert_eq!(ran.summary()["caches"][0]["cancel"], "accepted", "{ran}");
}
