use super::ExecutionFilter::{Any, Both, Full, Incremental};
use super::Verdict::{Deleted, Failed, Ready, Waiting};
use super::*;
use crate::api::ExecutionKind as K;

/// An execution: id, status, created minute, finished minute (minutes
/// after 10:00 on 2026-11-24).
fn ex(id: &str, status: &str, created: u32, finished: Option<u32>) -> Option<Execution> {
    Some(Execution {
        id: Some(id.into()),
        status: Some(Status::parse(status)),
        created_at: Some(at(created)),
        updated_at: Some(at(finished.unwrap_or(created))),
        finished_at: finished.map(at).into(),
        ..Execution::default()
    })
}

fn at(minute: u32) -> Timestamp {
    format!("2026-11-24T{:02}:{:02}:00Z", 10 + minute / 60, minute % 60)
        .parse()
        .unwrap()
}

fn cache(top: &str, incremental: Option<Execution>, full: Option<Execution>) -> CacheStatus {
    CacheStatus {
        id: Some("c".into()),
        status: Status::parse(top),
        catalog_id: None,
        schema_name: None,
        table_name: None,
        last_incremental_cache_execution: incremental.map(Box::new),
        last_full_refresh_cache_execution: full.map(Box::new),
    }
}

fn criteria(
    execution: ExecutionFilter,
    since: Option<u32>,
    started_after: Option<u32>,
) -> Criteria {
    Criteria {
        execution,
        since: since.map(at),
        started_after: started_after.map(at),
        newer_than: None,
        starting_grace_over: false,
    }
}

struct Case {
    name: &'static str,
    status: CacheStatus,
    criteria: Criteria,
    verdict: Verdict,
    focus: Option<K>,
}

fn case(
    name: &'static str,
    status: CacheStatus,
    criteria: Criteria,
    verdict: Verdict,
    focus: Option<K>,
) -> Case {
    Case {
        name,
        status,
        criteria,
        verdict,
        focus,
    }
}

#[test]
fn the_rules_of_readiness() {
    let none = None;
    let cases = [
        // --- no bounds: the newest execution decides ---
        case(
            "no execution at all waits",
            cache("NOT_INITIALIZED", none.clone(), none.clone()),
            criteria(Any, None, None),
            Waiting,
            None,
        ),
        case(
            "newest completed is ready",
            cache("COMPLETED", ex("i1", "COMPLETED", 0, Some(5)), none.clone()),
            criteria(Any, None, None),
            Ready,
            Some(K::Incremental),
        ),
        case(
            "newest running waits",
            cache(
                "RUNNING",
                ex("i1", "COMPLETED", 0, Some(5)),
                ex("f1", "RUNNING", 10, None),
            ),
            criteria(Any, None, None),
            Waiting,
            Some(K::Full),
        ),
        case(
            "newest failed fails",
            cache(
                "FAILED",
                ex("i1", "COMPLETED", 0, Some(5)),
                ex("f1", "FAILED", 10, Some(12)),
            ),
            criteria(Any, None, None),
            Failed,
            Some(K::Full),
        ),
        case(
            "newest cancelled fails",
            cache(
                "CANCELLED",
                ex("i1", "CANCELLED", 10, Some(12)),
                ex("f1", "COMPLETED", 0, Some(5)),
            ),
            criteria(Any, None, None),
            Failed,
            Some(K::Incremental),
        ),
        case(
            "older failure does not matter",
            cache(
                "COMPLETED",
                ex("i1", "COMPLETED", 10, Some(12)),
                ex("f1", "FAILED", 0, Some(5)),
            ),
            criteria(Any, None, None),
            Ready,
            Some(K::Incremental),
        ),
        case(
            "cache RUNNING before the record exists waits",
            cache("RUNNING", ex("i1", "COMPLETED", 0, Some(5)), none.clone()),
            criteria(Any, None, None),
            Waiting,
            None,
        ),
        case(
            "unknown execution status waits",
            cache("RUNNING", ex("i1", "QUEUED", 10, None), none.clone()),
            criteria(Any, None, None),
            Waiting,
            Some(K::Incremental),
        ),
        case(
            "unknown top-level status is not a verdict",
            cache("PAUSED", ex("i1", "COMPLETED", 0, Some(5)), none.clone()),
            criteria(Any, None, None),
            Ready,
            Some(K::Incremental),
        ),
        case(
            "deleted ends the wait",
            cache("DELETED", ex("i1", "COMPLETED", 0, Some(5)), none.clone()),
            criteria(Any, None, None),
            Deleted,
            None,
        ),
        // --- one slot selected ---
        case(
            "incremental ignores a running full refresh",
            cache(
                "RUNNING",
                ex("i1", "COMPLETED", 0, Some(5)),
                ex("f1", "RUNNING", 10, None),
            ),
            criteria(Incremental, None, None),
            Ready,
            Some(K::Incremental),
        ),
        case(
            "full waits for its own slot",
            cache(
                "RUNNING",
                ex("i1", "COMPLETED", 0, Some(5)),
                ex("f1", "RUNNING", 10, None),
            ),
            criteria(Full, None, None),
            Waiting,
            Some(K::Full),
        ),
        case(
            "full with an empty slot waits",
            cache("COMPLETED", ex("i1", "COMPLETED", 0, Some(5)), none.clone()),
            criteria(Full, None, None),
            Waiting,
            None,
        ),
        case(
            "full failed fails",
            cache(
                "FAILED",
                ex("i1", "COMPLETED", 20, Some(25)),
                ex("f1", "FAILED", 10, Some(12)),
            ),
            criteria(Full, None, None),
            Failed,
            Some(K::Full),
        ),
        // --- --since: finishedAt > T ---
        case(
            "since: finished before T waits",
            cache("COMPLETED", ex("i1", "COMPLETED", 0, Some(5)), none.clone()),
            criteria(Any, Some(5), None),
            Waiting,
            None,
        ),
        case(
            "since: finished after T is ready",
            cache("COMPLETED", ex("i1", "COMPLETED", 0, Some(6)), none.clone()),
            criteria(Any, Some(5), None),
            Ready,
            Some(K::Incremental),
        ),
        case(
            "since: started before T, still running, waits",
            cache("RUNNING", ex("i1", "RUNNING", 0, None), none.clone()),
            criteria(Any, Some(5), None),
            Waiting,
            Some(K::Incremental),
        ),
        case(
            "since: the first counting to end decides",
            cache(
                "RUNNING",
                ex("i1", "COMPLETED", 6, Some(8)),
                ex("f1", "RUNNING", 7, None),
            ),
            criteria(Any, Some(5), None),
            Ready,
            Some(K::Incremental),
        ),
        case(
            "since: both ended, the last to end decides (failed)",
            cache(
                "FAILED",
                ex("i1", "COMPLETED", 6, Some(8)),
                ex("f1", "FAILED", 7, Some(9)),
            ),
            criteria(Any, Some(5), None),
            Failed,
            Some(K::Full),
        ),
        case(
            "since: both ended, the last to end decides (ready)",
            cache(
                "COMPLETED",
                ex("i1", "FAILED", 6, Some(8)),
                ex("f1", "COMPLETED", 7, Some(9)),
            ),
            criteria(Any, Some(5), None),
            Ready,
            Some(K::Full),
        ),
        case(
            "since: an old failure does not count",
            cache(
                "RUNNING",
                ex("i1", "FAILED", 0, Some(4)),
                ex("f1", "RUNNING", 7, None),
            ),
            criteria(Any, Some(5), None),
            Waiting,
            Some(K::Full),
        ),
        case(
            "since: a new execution under a RUNNING cache still decides",
            cache("RUNNING", ex("i1", "COMPLETED", 6, Some(8)), none.clone()),
            criteria(Any, Some(5), None),
            Ready,
            Some(K::Incremental),
        ),
        // --- --started-after: createdAt >= T ---
        case(
            "started-after: a sync that began before T never counts",
            cache("COMPLETED", ex("i1", "COMPLETED", 4, Some(9)), none.clone()),
            criteria(Any, None, Some(5)),
            Waiting,
            None,
        ),
        case(
            "started-after: created exactly at T counts",
            cache("COMPLETED", ex("i1", "COMPLETED", 5, Some(9)), none.clone()),
            criteria(Any, None, Some(5)),
            Ready,
            Some(K::Incremental),
        ),
        case(
            "started-after: its failure fails",
            cache("FAILED", ex("i1", "FAILED", 6, Some(9)), none.clone()),
            criteria(Any, None, Some(5)),
            Failed,
            Some(K::Incremental),
        ),
        case(
            "both bounds must hold",
            cache(
                "COMPLETED",
                ex("i1", "COMPLETED", 4, Some(9)),
                ex("f1", "COMPLETED", 6, Some(7)),
            ),
            criteria(Any, Some(8), Some(5)),
            Waiting,
            None,
        ),
        // --- both ---
        case(
            "both: one slot empty waits",
            cache("COMPLETED", ex("i1", "COMPLETED", 0, Some(5)), none.clone()),
            criteria(Both, None, None),
            Waiting,
            Some(K::Full),
        ),
        case(
            "both: both completed is ready",
            cache(
                "COMPLETED",
                ex("i1", "COMPLETED", 0, Some(5)),
                ex("f1", "COMPLETED", 1, Some(9)),
            ),
            criteria(Both, None, None),
            Ready,
            Some(K::Full),
        ),
        case(
            "both: one running waits",
            cache(
                "RUNNING",
                ex("i1", "RUNNING", 10, None),
                ex("f1", "COMPLETED", 1, Some(9)),
            ),
            criteria(Both, None, None),
            Waiting,
            Some(K::Incremental),
        ),
        case(
            "both: a failure in either slot fails",
            cache(
                "FAILED",
                ex("i1", "COMPLETED", 0, Some(5)),
                ex("f1", "FAILED", 1, Some(9)),
            ),
            criteria(Both, None, None),
            Failed,
            Some(K::Full),
        ),
        case(
            "both: a slot outside the bounds waits",
            cache(
                "COMPLETED",
                ex("i1", "COMPLETED", 6, Some(8)),
                ex("f1", "COMPLETED", 1, Some(4)),
            ),
            criteria(Both, Some(5), None),
            Waiting,
            Some(K::Full),
        ),
        case(
            "both: an old failure outside the bounds does not count",
            cache(
                "RUNNING",
                ex("i1", "COMPLETED", 6, Some(8)),
                ex("f1", "FAILED", 1, Some(4)),
            ),
            criteria(Both, Some(5), None),
            Waiting,
            Some(K::Full),
        ),
    ];
    for Case {
        name,
        status,
        criteria,
        verdict,
        focus,
    } in cases
    {
        let decision = decide(&status, &criteria, &[]);
        assert_eq!(
            (decision.verdict, decision.focus),
            (verdict, focus),
            "{name}: {}",
            decision.detail
        );
    }
}

#[test]
fn failures_carry_the_execution_error() {
    let mut failed = ex("f9", "FAILED", 1, Some(2));
    if let Some(e) = failed.as_mut() {
        e.error = Some("source unreachable".into());
    }
    let decision = decide(
        &cache("FAILED", None, failed),
        &criteria(Any, None, None),
        &[],
    );
    assert_eq!(decision.verdict, Failed);
    assert!(
        decision.detail.contains("full refresh f9 FAILED"),
        "{}",
        decision.detail
    );
    assert!(
        decision.detail.ends_with(": source unreachable"),
        "{}",
        decision.detail
    );
}

#[test]
fn unknown_statuses_are_reported_for_a_warning() {
    let decision = decide(
        &cache("RUNNING", ex("i1", "QUEUED", 10, None), None),
        &criteria(Any, None, None),
        &[],
    );
    assert_eq!(decision.unknown_status.as_deref(), Some("QUEUED"));
    let decision = decide(
        &cache("RUNNING", ex("i1", "RUNNING", 10, None), None),
        &criteria(Any, None, None),
        &[],
    );
    assert_eq!(decision.unknown_status, None);
}

#[test]
fn a_terminal_record_without_times_never_satisfies_since() {
    let status = cache(
        "COMPLETED",
        Some(Execution {
            status: Some(Status::Completed),
            ..Execution::default()
        }),
        None,
    );
    assert_eq!(
        decide(&status, &criteria(Any, Some(0), None), &[]).verdict,
        Waiting
    );
    assert_eq!(
        decide(&status, &criteria(Any, None, None), &[]).verdict,
        Ready
    );
}

fn triggered(kind: K, id: Option<&str>, created: u32) -> Criteria {
    let mut c = criteria(if kind == K::Full { Full } else { Incremental }, None, None);
    // Triggered a minute after the slot's record was created.
    c.newer_than = Some(Baseline {
        kind,
        id: id.map(Into::into),
        created_at: Some(at(created)),
        triggered_at: at(created + 1),
        tolerance: SignedDuration::from_secs(5),
    });
    c
}

#[test]
fn a_triggered_wait_only_accepts_a_new_execution() {
    let none = || None;
    let cases = [
        case(
            "the old COMPLETED record never satisfies it",
            cache("RUNNING", none(), ex("f1", "COMPLETED", 0, Some(5))),
            triggered(K::Full, Some("f1"), 0),
            Waiting,
            None,
        ),
        case(
            "a new record running waits",
            cache("RUNNING", none(), ex("f2", "RUNNING", 10, None)),
            triggered(K::Full, Some("f1"), 0),
            Waiting,
            Some(K::Full),
        ),
        case(
            "a new record completed is ready",
            cache("COMPLETED", none(), ex("f2", "COMPLETED", 10, Some(12))),
            triggered(K::Full, Some("f1"), 0),
            Ready,
            Some(K::Full),
        ),
        case(
            "a new record failed fails",
            cache("FAILED", none(), ex("f2", "FAILED", 10, Some(12))),
            triggered(K::Full, Some("f1"), 0),
            Failed,
            Some(K::Full),
        ),
        case(
            "another id created earlier is not it",
            cache("COMPLETED", none(), ex("f0", "COMPLETED", 0, Some(1))),
            triggered(K::Full, Some("f1"), 5),
            Waiting,
            None,
        ),
        case(
            "a first ever execution counts",
            cache("COMPLETED", ex("i1", "COMPLETED", 10, Some(12)), none()),
            triggered(K::Incremental, None, 0),
            Ready,
            Some(K::Incremental),
        ),
        case(
            "the other slot does not count",
            cache(
                "COMPLETED",
                ex("i2", "COMPLETED", 10, Some(12)),
                ex("f1", "COMPLETED", 0, Some(5)),
            ),
            triggered(K::Full, Some("f1"), 0),
            Waiting,
            None,
        ),
    ];
    for Case {
        name,
        status,
        criteria,
        verdict,
        focus,
    } in cases
    {
        let decision = decide(&status, &criteria, &[]);
        assert_eq!(
            (decision.verdict, decision.focus),
            (verdict, focus),
            "{name}: {}",
            decision.detail
        );
    }
    let waiting = decide(
        &cache("RUNNING", None, ex("f1", "COMPLETED", 0, Some(5))),
        &triggered(K::Full, Some("f1"), 0),
        &[],
    );
    assert!(
        waiting.detail.contains("triggered full refresh to appear"),
        "{}",
        waiting.detail
    );
}

#[test]
fn executions_missed_between_polls_are_decided_on() {
    let missed =
        |id: &str, status: &str| vec![(K::Incremental, ex(id, status, 1, Some(9)).unwrap())];
    // The slot flipped from i1 to i2 between polls; i1 ended meanwhile.
    let flipped = cache("RUNNING", ex("i2", "RUNNING", 10, None), None);
    let table = [
        (
            "no bounds: the watched sync completed",
            criteria(Any, None, None),
            missed("i1", "COMPLETED"),
            Ready,
        ),
        (
            "no bounds: the watched sync failed",
            criteria(Any, None, None),
            missed("i1", "FAILED"),
            Failed,
        ),
        (
            "since: a missed completion counts",
            criteria(Any, Some(5), None),
            missed("i1", "COMPLETED"),
            Ready,
        ),
        (
            "since: a missed completion before T does not",
            criteria(Any, Some(9), None),
            missed("i1", "COMPLETED"),
            Waiting,
        ),
        (
            "a missed execution of another slot is ignored",
            criteria(Full, None, None),
            missed("i1", "COMPLETED"),
            Waiting,
        ),
        (
            "nothing missed: the new one is awaited",
            criteria(Any, None, None),
            vec![],
            Waiting,
        ),
    ];
    for (name, criteria, missed, verdict) in table {
        let decision = decide(&flipped, &criteria, &missed);
        assert_eq!(decision.verdict, verdict, "{name}");
        // What ended names itself, even gone from its slot; a wait names none.
        let named = (verdict != Waiting).then(|| "i1".to_owned());
        assert_eq!(decision.execution_id, named, "{name}");
    }
    // For `both`, the last to end in a slot speaks for it.
    let both = cache(
        "RUNNING",
        ex("i2", "RUNNING", 10, None),
        ex("f1", "COMPLETED", 0, Some(5)),
    );
    assert_eq!(
        decide(
            &both,
            &criteria(Both, None, None),
            &missed("i1", "COMPLETED")
        )
        .verdict,
        Ready
    );
    assert_eq!(
        decide(&both, &criteria(Both, None, None), &missed("i1", "FAILED")).verdict,
        Failed
    );
}

#[test]
fn stillness_is_the_longer_of_watching_and_the_server_clock() {
    use std::time::Duration as D;
    let table = [
        (D::from_secs(5), Some(at(0)), at(10), D::from_secs(600)),
        (D::from_secs(900), Some(at(10)), at(10), D::from_secs(900)),
        (D::from_secs(5), None, at(10), D::from_secs(5)),
        // An update stamped in the future (skew) is not negative stillness.
        (D::from_secs(5), Some(at(20)), at(10), D::from_secs(5)),
    ];
    for (watched, updated, now, want) in table {
        assert_eq!(still_for(watched, updated, now), want);
    }
    let running = ex("i1", "RUNNING", 0, None).unwrap();
    let mut moved = running.clone();
    moved.updated_at = Some(at(1));
    assert_eq!(Motion::of(&running), Motion::of(&running.clone()));
    assert_ne!(Motion::of(&running), Motion::of(&moved));
}

#[test]
fn a_starting_execution_is_awaited_by_every_filter() {
    let none = || None;
    // RUNNING at the top, nothing running in the slots: a new
    // execution is starting and its record is not there yet.
    let starting = [
        (
            "incremental, full slot empty",
            cache("RUNNING", ex("i1", "COMPLETED", 0, Some(5)), none()),
            Incremental,
        ),
        (
            "full, both old",
            cache(
                "RUNNING",
                ex("i1", "COMPLETED", 0, Some(5)),
                ex("f1", "COMPLETED", 1, Some(6)),
            ),
            Full,
        ),
        (
            "both, both old",
            cache(
                "RUNNING",
                ex("i1", "COMPLETED", 0, Some(5)),
                ex("f1", "COMPLETED", 1, Some(6)),
            ),
            Both,
        ),
        (
            "any",
            cache("RUNNING", ex("i1", "COMPLETED", 0, Some(5)), none()),
            Any,
        ),
    ];
    for (name, status, filter) in starting {
        let mut c = criteria(filter, None, None);
        let decision = decide(&status, &c, &[]);
        assert_eq!(decision.verdict, Waiting, "{name}: {}", decision.detail);
        assert!(decision.starting, "{name}");
        assert!(
            decision.detail.contains("a refresh is starting"),
            "{name}: {}",
            decision.detail
        );
        // After the grace, a one-slot (or both) gate concludes the other
        // kind started; `any` waits on, since either kind counts.
        c.starting_grace_over = true;
        let after = decide(&status, &c, &[]).verdict;
        assert_eq!(
            after,
            if filter == Any { Waiting } else { Ready },
            "{name} after the grace"
        );
    }
    // A running record explains the RUNNING: nothing is starting.
    let explained = cache(
        "RUNNING",
        ex("i1", "COMPLETED", 0, Some(5)),
        ex("f1", "RUNNING", 1, None),
    );
    let decision = decide(&explained, &criteria(Incremental, None, None), &[]);
    assert_eq!((decision.verdict, decision.starting), (Ready, false));
    // With a bound, a record that satisfies it counts at once.
    let bounded = decide(
        &cache("RUNNING", ex("i1", "COMPLETED", 6, Some(8)), none()),
        &criteria(Incremental, Some(5), None),
        &[],
    );
    assert_eq!(bounded.verdict, Ready);
}

#[test]
fn a_running_execution_with_an_unknown_start_is_the_newest() {
    let mut running = ex("f1", "RUNNING", 0, None);
    if let Some(e) = running.as_mut() {
        e.created_at = None;
    }
    let status = cache("COMPLETED", ex("i1", "COMPLETED", 0, Some(5)), running);
    let decision = decide(&status, &criteria(Any, None, None), &[]);
    assert_eq!(
        (decision.verdict, decision.focus),
        (Waiting, Some(K::Full)),
        "{}",
        decision.detail
    );
}

/// An instant `secs` seconds after 10:00 on 2026-11-24.
fn sec(secs: i64) -> Timestamp {
    at(0) + SignedDuration::from_secs(secs)
}

/// A baseline for a trigger sent at 10:10:00 with a 5 s tolerance.
fn base(id: Option<&str>, created: Option<Timestamp>) -> Baseline {
    Baseline {
        kind: K::Incremental,
        id: id.map(Into::into),
        created_at: created,
        triggered_at: at(10),
        tolerance: SignedDuration::from_secs(5),
    }
}

fn record(id: Option<&str>, created: Option<Timestamp>) -> Execution {
    Execution {
        id: id.map(Into::into),
        status: Some(Status::Completed),
        created_at: created,
        finished_at: created.into(),
        ..Execution::default()
    }
}

#[test]
fn only_a_new_id_created_after_the_trigger_is_the_triggered_execution() {
    use Proof::{BeforeTrigger, NotAfterBaseline, NotNew, Triggered, Undated};
    let trigger = 600;
    let two_hours_ago = Some(sec(trigger - 7200));
    let table = [
        // The examples: an old record in the slot, whatever
        // the baseline showed, and a new id with no readable time.
        (
            "baseline undated, e0 from 3 days before",
            base(Some("e1"), None),
            record(Some("e0"), Some(sec(trigger - 3 * 86_400))),
            BeforeTrigger,
        ),
        (
            "baseline 2 h old, e2 undated",
            base(Some("e1"), two_hours_ago),
            record(Some("e2"), None),
            Undated,
        ),
        (
            "empty slot, a year-old record",
            base(None, None),
            record(Some("e0"), Some(sec(trigger - 365 * 86_400))),
            BeforeTrigger,
        ),
        (
            "empty slot, undated",
            base(None, None),
            record(Some("e1"), None),
            Undated,
        ),
        // Ids.
        (
            "the baseline itself",
            base(Some("e1"), two_hours_ago),
            record(Some("e1"), Some(sec(trigger + 60))),
            NotNew,
        ),
        (
            "no id after a record",
            base(Some("e1"), two_hours_ago),
            record(None, Some(sec(trigger + 60))),
            NotNew,
        ),
        (
            "no id in an empty slot",
            base(None, None),
            record(None, Some(sec(trigger + 60))),
            NotNew,
        ),
        (
            "empty slot, created at the trigger",
            base(None, None),
            record(Some("e1"), Some(sec(trigger))),
            Triggered,
        ),
        (
            "new id after a 2 h old record",
            base(Some("e1"), two_hours_ago),
            record(Some("e2"), Some(sec(trigger + 1))),
            Triggered,
        ),
        (
            "new id after an undated record",
            base(Some("e1"), None),
            record(Some("e2"), Some(sec(trigger + 1))),
            Triggered,
        ),
        // The tolerance: down to 5 s before the trigger, not a nanosecond more.
        (
            "created at the trigger less the tolerance",
            base(Some("e1"), two_hours_ago),
            record(Some("e2"), Some(sec(trigger - 5))),
            Triggered,
        ),
        (
            "created just before that",
            base(Some("e1"), two_hours_ago),
            record(
                Some("e2"),
                Some(sec(trigger - 5) - SignedDuration::from_nanos(1)),
            ),
            BeforeTrigger,
        ),
        // Within the tolerance, still after the baseline's record.
        (
            "created with the baseline's record",
            base(Some("e1"), Some(sec(trigger - 2))),
            record(Some("e2"), Some(sec(trigger - 2))),
            NotAfterBaseline,
        ),
        (
            "created before the baseline's record",
            base(Some("e1"), Some(sec(trigger - 1))),
            record(Some("e2"), Some(sec(trigger - 2))),
            NotAfterBaseline,
        ),
        (
            "created a nanosecond after it",
            base(Some("e1"), Some(sec(trigger - 2))),
            record(
                Some("e2"),
                Some(sec(trigger - 2) + SignedDuration::from_nanos(1)),
            ),
            Triggered,
        ),
    ];
    for (name, baseline, execution, want) in table {
        assert_eq!(baseline.proof(&execution), want, "{name}");
        assert_eq!(
            baseline.is_superseded_by(&execution),
            want == Triggered,
            "{name}"
        );
    }
    assert_eq!(base(None, None).floor(), sec(trigger - 5));
    let baseline = base(Some("e1"), None);
    assert_eq!(
        Baseline::of(
            &cache("COMPLETED", ex("e1", "COMPLETED", 3, Some(4)), None),
            K::Incremental,
            at(10),
            SignedDuration::from_secs(5)
        ),
        Baseline {
            created_at: Some(at(3)),
            ..baseline.clone()
        }
    );
    assert_eq!(
        Baseline::of(
            &cache("COMPLETED", ex("e1", "COMPLETED", 3, Some(4)), None),
            K::Full,
            at(10),
            SignedDuration::from_secs(5)
        ),
        Baseline {
            kind: K::Full,
            id: None,
            ..baseline
        }
    );
}

#[test]
fn a_triggered_wait_says_why_the_slot_is_not_the_triggered_execution() {
    let waiting_on = |baseline: Baseline, slot: Option<Execution>, since: Option<u32>| {
        let mut c = criteria(Incremental, since, None);
        c.newer_than = Some(baseline);
        let decision = decide(&cache("COMPLETED", slot, None), &c, &[]);
        assert_eq!(decision.verdict, Waiting, "{}", decision.detail);
        decision.detail
    };
    let table = [
        (
            base(None, None),
            None,
            None,
            "waiting for the triggered incremental sync to appear (the slot still shows no execution)",
        ),
        (
            base(Some("e1"), None),
            Some(record(Some("e1"), None)),
            None,
            "waiting for the triggered incremental sync to appear (the slot still shows e1)",
        ),
        (
            base(Some("e1"), None),
            Some(record(None, None)),
            None,
            "waiting for the triggered incremental sync to appear (the slot still shows (no id))",
        ),
        (
            base(Some("e1"), None),
            Some(record(Some("e2"), None)),
            None,
            "waiting for the triggered incremental sync: the slot shows e2, whose createdAt is missing or unreadable, so nothing shows it was created after the trigger at 2026-11-24T10:10:00.000Z",
        ),
        (
            base(Some("e1"), None),
            Some(record(Some("e0"), Some(at(0)))),
            None,
            "waiting for the triggered incremental sync: the slot shows e0, created at 2026-11-24T10:00:00.000Z, before the trigger at 2026-11-24T10:10:00.000Z",
        ),
        (
            base(Some("e1"), Some(at(11))),
            Some(record(Some("e2"), Some(at(10)))),
            None,
            "waiting for the triggered incremental sync: the slot shows e2, created at 2026-11-24T10:10:00.000Z, no later than the e1 it showed before the trigger",
        ),
        (
            base(None, Some(at(11))),
            Some(record(Some("e2"), Some(at(10)))),
            None,
            "waiting for the triggered incremental sync: the slot shows e2, created at 2026-11-24T10:10:00.000Z, no later than the record it showed before the trigger",
        ),
        (
            base(Some("e1"), None),
            Some(record(Some("e2"), Some(at(12)))),
            Some(20),
            "waiting for the triggered incremental sync; incremental sync e2 COMPLETED at 2026-11-24T10:12:00.000Z, does not count",
        ),
    ];
    for (baseline, slot, since, want) in table {
        assert_eq!(waiting_on(baseline, slot, since), want);
    }
}

#[test]
fn messages_name_what_is_awaited() {
    let none = || None;
    let table = [
        (
            cache("COMPLETED", ex("i1", "COMPLETED", 0, Some(5)), none()),
            criteria(Incremental, Some(5), None),
            "waiting for an incremental sync finished after 2026-11-24T10:05:00.000Z; the last one, incremental sync i1 COMPLETED at 2026-11-24T10:05:00.000Z, does not count",
        ),
        (
            cache("COMPLETED", none(), ex("f1", "COMPLETED", 0, Some(5))),
            criteria(Full, None, Some(1)),
            "waiting for a full refresh started at or after 2026-11-24T10:01:00.000Z; the last one, full refresh f1 COMPLETED at 2026-11-24T10:05:00.000Z, started at 2026-11-24T10:00:00.000Z, does not count",
        ),
        (
            cache("COMPLETED", ex("i1", "COMPLETED", 0, Some(5)), none()),
            criteria(Any, Some(6), Some(1)),
            "waiting for an incremental sync or full refresh started at or after 2026-11-24T10:01:00.000Z and finished after 2026-11-24T10:06:00.000Z; the last one, incremental sync i1 COMPLETED at 2026-11-24T10:05:00.000Z, started at 2026-11-24T10:00:00.000Z, does not count",
        ),
        (
            cache("NOT_INITIALIZED", none(), none()),
            criteria(Full, None, None),
            "no full refresh has run yet (cache status NOT_INITIALIZED)",
        ),
        (
            cache("NOT_INITIALIZED", none(), none()),
            criteria(Any, None, None),
            "no incremental sync or full refresh has run yet (cache status NOT_INITIALIZED)",
        ),
        (
            cache("COMPLETED", ex("i1", "COMPLETED", 0, Some(5)), none()),
            criteria(Both, None, None),
            "no counting full refresh yet",
        ),
        (
            cache(
                "RUNNING",
                ex("i1", "RUNNING", 0, None),
                ex("f1", "COMPLETED", 0, Some(5)),
            ),
            criteria(Both, None, None),
            "incremental sync i1 is RUNNING",
        ),
        (
            cache(
                "COMPLETED",
                ex("i1", "COMPLETED", 0, Some(5)),
                ex("f1", "COMPLETED", 1, Some(6)),
            ),
            criteria(Both, None, None),
            "incremental sync i1 COMPLETED at 2026-11-24T10:05:00.000Z; full refresh f1 COMPLETED at 2026-11-24T10:06:00.000Z",
        ),
    ];
    for (status, criteria, want) in table {
        assert_eq!(decide(&status, &criteria, &[]).detail, want);
    }
    let mut no_status = ex("i1", "RUNNING", 0, None);
    if let Some(e) = no_status.as_mut() {
        e.status = None;
    }
    let decision = decide(
        &cache("RUNNING", no_status, None),
        &criteria(Any, None, None),
        &[],
    );
    assert_eq!(decision.unknown_status.as_deref(), Some("(none)"));
    assert_eq!(decision.detail, "incremental sync i1 has no status yet");
}

#[test]
fn filter_names_are_the_ones_typed_on_the_command_line() {
    use clap::ValueEnum;
    for filter in ExecutionFilter::value_variants() {
        assert_eq!(
            ExecutionFilter::from_str(filter.as_str(), false),
            Ok(*filter),
            "{filter:?}"
        );
    }
}

#[test]
fn a_completed_execution_is_ready_whatever_its_error_field_says() {
    let mut completed = ex("i1", "COMPLETED", 0, Some(5));
    if let Some(e) = completed.as_mut() {
        e.error = Some("retried once".into());
    }
    let decision = decide(
        &cache("COMPLETED", completed, None),
        &criteria(Any, None, None),
        &[],
    );
    assert_eq!(decision.verdict, Ready);
    assert_eq!(
        decision.detail,
        "incremental sync i1 COMPLETED at 2026-11-24T10:05:00.000Z"
    );
}

#[test]
fn only_a_running_execution_with_an_unknown_start_outranks_a_dated_one() {
    // A running record that started before the other slot's last
    // refresh is not the current one: the newer refresh decides.
    let older_running = cache(
        "COMPLETED",
        ex("i1", "RUNNING", 0, None),
        ex("f1", "COMPLETED", 5, Some(8)),
    );
    let decision = decide(&older_running, &criteria(Any, None, None), &[]);
    assert_eq!(
        (decision.verdict, decision.focus),
        (Ready, Some(K::Full)),
        "{}",
        decision.detail
    );
    // A finished record with an unknown start is not taken as newer
    // than one that started later and failed.
    let mut undated = ex("i1", "COMPLETED", 0, Some(5));
    if let Some(e) = undated.as_mut() {
        e.created_at = None;
    }
    let status = cache("FAILED", undated, ex("f1", "FAILED", 6, Some(8)));
    let decision = decide(&status, &criteria(Any, None, None), &[]);
    assert_eq!(
        (decision.verdict, decision.focus),
        (Failed, Some(K::Full)),
        "{}",
        decision.detail
    );
}
