//! Properties of the decision and the decoder over generated inputs: no
//! panic on anything, and `ready` only when a counting execution really
//! completed within the bounds (checked by an independent restatement of
//! the rules), `failed` only when one really failed.

use jiff::{SignedDuration, Timestamp};
use peaka_wait::api::{self, CacheStatus, Execution, ExecutionKind, Stamp, Status};
use peaka_wait::decision::{Baseline, Criteria, ExecutionFilter, Verdict, decide};
use proptest::prelude::*;

const BASE: i64 = 1_795_000_000; // 2026-11-18, seconds

fn at(minute: i64) -> Timestamp {
    Timestamp::from_second(BASE)
        .unwrap()
        .checked_add(SignedDuration::from_mins(minute))
        .unwrap()
}

fn status_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("RUNNING".to_owned()),
        Just("COMPLETED".to_owned()),
        Just("FAILED".to_owned()),
        Just("CANCELLED".to_owned()),
        Just("CANCELED".to_owned()),
        Just("DELETED".to_owned()),
        Just("NOT_INITIALIZED".to_owned()),
        "[A-Z_]{0,12}",
    ]
}

fn time() -> impl Strategy<Value = Option<Timestamp>> {
    proptest::option::of((-100i64..100).prop_map(at))
}

fn execution() -> impl Strategy<Value = Execution> {
    (
        proptest::option::of("e[0-3]"),
        proptest::option::of(status_text()),
        time(),
        time(),
        prop_oneof![time().prop_map(Stamp::from), Just(Stamp::Unreadable),],
    )
        .prop_map(
            |(id, status, created_at, updated_at, finished_at)| Execution {
                id,
                status: status.map(|s| Status::parse(&s)),
                created_at,
                updated_at,
                finished_at,
                ..Execution::default()
            },
        )
}

fn kind() -> impl Strategy<Value = ExecutionKind> {
    prop_oneof![Just(ExecutionKind::Incremental), Just(ExecutionKind::Full)]
}

fn cache_status() -> impl Strategy<Value = CacheStatus> {
    (
        status_text(),
        proptest::option::of(execution()),
        proptest::option::of(execution()),
    )
        .prop_map(|(top, incremental, full)| CacheStatus {
            id: Some("c".into()),
            status: Status::parse(&top),
            catalog_id: None,
            schema_name: None,
            table_name: None,
            last_incremental_cache_execution: incremental.map(Box::new),
            last_full_refresh_cache_execution: full.map(Box::new),
        })
}

fn criteria() -> impl Strategy<Value = Criteria> {
    let filter = prop_oneof![
        Just(ExecutionFilter::Any),
        Just(ExecutionFilter::Incremental),
        Just(ExecutionFilter::Full),
        Just(ExecutionFilter::Both)
    ];
    let baseline = proptest::option::of(
        (
            kind(),
            proptest::option::of("e[0-3]"),
            time(),
            (-100i64..100).prop_map(at),
            (0i64..10).prop_map(SignedDuration::from_mins),
        )
            .prop_map(|(kind, id, created_at, triggered_at, tolerance)| Baseline {
                kind,
                id,
                created_at,
                triggered_at,
                tolerance,
            }),
    );
    (filter, time(), time(), baseline, any::<bool>()).prop_map(
        |(execution, since, started_after, newer_than, starting_grace_over)| Criteria {
            execution,
            since,
            started_after,
            newer_than,
            starting_grace_over,
        },
    )
}

/// The bounds, restated independently of the implementation.
fn satisfies(e: &Execution, c: &Criteria) -> bool {
    // An unreadable finish is no finish: updatedAt stands in only for an
    // absent one.
    let finished = match e.finished_at {
        Stamp::At(at) => Some(at),
        Stamp::Absent => e.updated_at,
        Stamp::Unreadable => None,
    };
    let since_ok = c.since.is_none_or(|t| finished.is_some_and(|f| f > t));
    let started_ok = c
        .started_after
        .is_none_or(|t| e.created_at.is_some_and(|s| s >= t));
    // After a trigger: an id, not the baseline's, and a readable
    // createdAt no earlier than the trigger less the tolerance, and after
    // the baseline's own.
    let newer_ok = c.newer_than.as_ref().is_none_or(|b| {
        let other_id = e.id.is_some() && e.id != b.id;
        let floor = b.triggered_at - b.tolerance;
        e.created_at.is_some_and(|created| {
            other_id && created >= floor && b.created_at.is_none_or(|old| created > old)
        })
    });
    since_ok && started_ok && newer_ok
}

fn looked_at<'a>(
    status: &'a CacheStatus,
    c: &Criteria,
    missed: &'a [(ExecutionKind, Execution)],
) -> Vec<&'a Execution> {
    let slots = c.execution.slots();
    slots
        .iter()
        .filter_map(|&k| status.execution(k))
        .chain(
            missed
                .iter()
                .filter(|(k, _)| slots.contains(k))
                .map(|(_, e)| e),
        )
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn ready_only_on_a_completed_execution_within_the_bounds(
        status in cache_status(),
        c in criteria(),
        missed in proptest::collection::vec((kind(), execution()), 0..3),
    ) {
        let decision = decide(&status, &c, &missed);
        let candidates = looked_at(&status, &c, &missed);
        match decision.verdict {
            Verdict::Ready => prop_assert!(
                candidates.iter().any(|e| e.status == Some(Status::Completed) && satisfies(e, &c)),
                "ready without a counting COMPLETED execution: {decision:?}"
            ),
            Verdict::Failed => prop_assert!(
                candidates.iter().any(|e| matches!(e.status, Some(Status::Failed | Status::Cancelled)) && satisfies(e, &c)),
                "failed without a counting FAILED/CANCELLED execution: {decision:?}"
            ),
            Verdict::Deleted => prop_assert_eq!(&status.status, &Status::Deleted),
            Verdict::Waiting => {}
        }
        if c.execution == ExecutionFilter::Both && decision.verdict == Verdict::Ready {
            for kind in [ExecutionKind::Incremental, ExecutionKind::Full] {
                let in_slot = status.execution(kind).into_iter().chain(missed.iter().filter(|(k, _)| *k == kind).map(|(_, e)| e));
                prop_assert!(in_slot.into_iter().any(|e| e.status == Some(Status::Completed) && satisfies(e, &c)), "both: {kind:?} not completed");
            }
        }
    }

    #[test]
    fn the_decoder_never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = api::decode_status(&body);
        let _ = api::decode_status_list(&body);
        let _ = api::decode_history(&body, 50);
        let _ = api::error_message(&body);
    }

    #[test]
    fn the_decoder_never_panics_on_json_shaped_text(
        top in status_text(),
        field in "(id|status|createdAt|finishedAt|updatedAt|progress|error|numberOfCachedRecords)",
        value in prop_oneof![Just("null".to_owned()), Just("1e999".to_owned()), Just("-1".to_owned()), Just("[]".to_owned()), Just("{}".to_owned()), "\"[ -~]{0,30}\"", "-?[0-9]{1,25}"],
    ) {
        let body = format!(
            r#"{{"status":"{top}","lastIncrementalCacheExecution":{{"{field}":{value},"progress":{{"{field}":{value}}}}},"lastFullRefreshCacheExecution":{value}}}"#
        );
        if let Ok(status) = api::decode_status(body.as_bytes()) {
            for execution in [ExecutionFilter::Any, ExecutionFilter::Both] {
                let _ = decide(&status, &Criteria::current(execution), &[]);
            }
        }
    }
}

/// Every input in `fuzz/seeds` — the seeds, and any input the fuzzer ever
/// found a bug with (kept there as a regression) — decodes and is decided
/// without a panic, on the stable toolchain, in every test run.
#[test]
fn fuzz_seeds_and_regressions_never_panic() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("fuzz/seeds") {
        let body = std::fs::read(entry.expect("entry").path()).expect("seed");
        let _ = api::decode_history(&body, 50);
        let _ = api::error_message(&body);
        if let Ok(status) = api::decode_status(&body) {
            for execution in [
                ExecutionFilter::Any,
                ExecutionFilter::Incremental,
                ExecutionFilter::Full,
                ExecutionFilter::Both,
            ] {
                let _ = decide(&status, &Criteria::current(execution), &[]);
            }
        }
        seen += 1;
    }
    assert!(seen >= 4, "the seeds are missing: {seen} files");
}
