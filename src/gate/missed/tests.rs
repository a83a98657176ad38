use super::*;
use ExecutionFilter::{Any, Both, Full, Incremental};
use ExecutionKind as K;

/// A record: `(id, status, finished)`, `finished` as seconds past
/// 2026-01-01T00:00:00Z (`None`: running; `Some(-1)`: unreadable).
fn record(mode: &str, (id, status, finished): (&str, &str, Option<i64>)) -> serde_json::Value {
    let at = |s: i64| format!("2026-01-01T00:{:02}:{:02}Z", s / 60, s % 60);
    serde_json::json!({
        "id": id,
        "executionMode": mode,
        "status": status,
        "createdAt": at(0),
        "updatedAt": at(0),
        "finishedAt": match finished {
            None => serde_json::Value::Null,
            Some(-1) => serde_json::json!("yesterday"),
            Some(s) => serde_json::json!(at(s)),
        },
    })
}

type Slot<'a> = Option<(&'a str, &'a str, Option<i64>)>;

/// A case: its name, the filter, the two slots, the decision on the
/// status alone, the unexplained slots, and whether it stands.
type Case<'a> = (
    &'a str,
    ExecutionFilter,
    Slot<'a>,
    Slot<'a>,
    Decision,
    &'a [K],
    bool,
);

fn status(incremental: Slot, full: Slot) -> CacheStatus {
    let body = serde_json::json!({
        "id": "c",
        "status": "RUNNING",
        "lastIncrementalCacheExecution": incremental.map(|r| record("INCREMENTAL", r)),
        "lastFullRefreshCacheExecution": full.map(|r| record("FULL", r)),
    });
    crate::api::decode_status(body.to_string().as_bytes()).unwrap()
}

fn decision(verdict: Verdict, focus: Option<K>, id: Option<&str>) -> Decision {
    Decision {
        verdict,
        focus,
        detail: String::new(),
        unknown_status: None,
        starting: false,
        execution_id: id.map(str::to_owned),
    }
}

#[test]
fn only_what_the_history_cannot_overturn_is_decided_without_it() {
    use Verdict::{Failed, Ready, Waiting};
    let running = Some(("i2", "RUNNING", None));
    let done = Some(("i2", "COMPLETED", Some(30)));
    let undated = Some(("i2", "COMPLETED", Some(-1)));
    let full_done = Some(("f1", "COMPLETED", Some(20)));
    let inc = [K::Incremental];
    let table: [Case; 12] = [
        (
            "a wait decides nothing",
            Any,
            running,
            full_done,
            decision(Waiting, None, None),
            &inc,
            true,
        ),
        (
            "nothing unexplained",
            Any,
            running,
            full_done,
            decision(Ready, Some(K::Full), Some("f1")),
            &[],
            true,
        ),
        (
            "the slot's new record ended and decided",
            Incremental,
            done,
            None,
            decision(Ready, Some(K::Incremental), Some("i2")),
            &inc,
            true,
        ),
        (
            "a failure of it likewise",
            Incremental,
            done,
            None,
            decision(Failed, Some(K::Incremental), Some("i2")),
            &inc,
            true,
        ),
        (
            "the new record runs: the missed one may have failed",
            Incremental,
            running,
            None,
            decision(Failed, Some(K::Incremental), Some("i1")),
            &inc,
            false,
        ),
        (
            "another slot decided: the missed one may have ended after it",
            Any,
            running,
            full_done,
            decision(Ready, Some(K::Full), Some("f1")),
            &inc,
            false,
        ),
        (
            "another slot decided though the new record ended",
            Any,
            done,
            full_done,
            decision(Ready, Some(K::Full), Some("f1")),
            &inc,
            false,
        ),
        (
            "the new record ended at an unreadable time",
            Incremental,
            undated,
            None,
            decision(Ready, Some(K::Incremental), Some("i2")),
            &inc,
            false,
        ),
        (
            "a decision naming no execution",
            Incremental,
            done,
            None,
            decision(Ready, Some(K::Incremental), None),
            &inc,
            false,
        ),
        (
            "another execution of the slot decided",
            Incremental,
            done,
            None,
            decision(Ready, Some(K::Incremental), Some("i1")),
            &inc,
            false,
        ),
        (
            "both: each unexplained slot's new record ended",
            Both,
            done,
            full_done,
            decision(Ready, Some(K::Full), Some("f1")),
            &inc,
            true,
        ),
        (
            "both: an unexplained slot still runs",
            Both,
            running,
            full_done,
            decision(Failed, Some(K::Full), Some("f1")),
            &inc,
            false,
        ),
    ];
    for (name, filter, incremental, full, decision, unexplained, settled) in table {
        let status = status(incremental, full);
        assert_eq!(
            settled_without_history(filter, &status, &decision, unexplained),
            settled,
            "{name}"
        );
    }
    // With the full slot unexplained, its record is the one to look at.
    let status = status(running, full_done);
    let full = decision(Ready, Some(K::Full), Some("f1"));
    assert!(settled_without_history(Full, &status, &full, &[K::Full]));
    assert!(!settled_without_history(
        Full,
        &status,
        &full,
        &[K::Full, K::Incremental]
    ));
}

#[test]
fn a_record_is_unexplained_only_when_replaced_before_it_was_seen_ending() {
    let seen = |id: Option<&str>, terminal| Seen {
        id: id.map(str::to_owned),
        created_at: None,
        terminal,
    };
    let status = status(Some(("i2", "RUNNING", None)), None);
    let now = status.execution(K::Incremental);
    assert!(replaced_unseen(Some(&seen(Some("i1"), false)), now));
    assert!(
        !replaced_unseen(Some(&seen(Some("i1"), true)), now),
        "seen ending"
    );
    assert!(
        !replaced_unseen(Some(&seen(Some("i2"), false)), now),
        "the same one"
    );
    assert!(
        !replaced_unseen(Some(&seen(None, false)), now),
        "no id to tell"
    );
    assert!(!replaced_unseen(None, now), "nothing seen before");
    assert!(
        !replaced_unseen(Some(&seen(Some("i1"), false)), None),
        "an empty slot"
    );
}
