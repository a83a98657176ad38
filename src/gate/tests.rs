use super::*;
use crate::api::{Execution, Status};

fn client() -> Client {
    Client::new(
        reqwest::Url::parse("http://127.0.0.1:9/").unwrap(),
        "k-12345678",
    )
    .unwrap()
}

fn at(minute: u32) -> Timestamp {
    format!("2026-11-24T{:02}:{:02}:00Z", 10 + minute / 60, minute % 60)
        .parse()
        .unwrap()
}

fn plan(caches: &[&str]) -> Plan {
    let mut plan = Plan::new("p", caches, ExecutionFilter::Any, Duration::from_secs(60));
    plan.started_at = at(30);
    plan
}

/// A status whose incremental slot holds one execution that ended (or
/// not) at these minutes.
fn status(state: &str, created: u32, finished: Option<u32>) -> CacheStatus {
    CacheStatus {
        id: Some("c".into()),
        status: Status::parse("READY"),
        catalog_id: None,
        schema_name: None,
        table_name: None,
        last_incremental_cache_execution: Some(Box::new(Execution {
            id: Some("e".into()),
            status: Some(Status::parse(state)),
            created_at: Some(at(created)),
            updated_at: Some(at(finished.unwrap_or(created))),
            finished_at: finished.map(at).into(),
            ..Execution::default()
        })),
        last_full_refresh_cache_execution: None,
    }
}

/// The server's clock `seconds` ahead of ours, as one reply shows it.
fn server_ahead(gate: &mut Gate<'_>, seconds: i64) {
    let now = Timestamp::now();
    let reply = Reply {
        value: (),
        server_date: Some(now + SignedDuration::from_secs(seconds)),
        received_at: now,
    };
    gate.measure_skew(&reply, None);
}

#[tokio::test]
async fn the_deadline_is_the_retry_policys_and_a_gate_starts_with_every_cache_waiting() {
    let plan = plan(&["a", "b"]);
    let client = client();
    let gate = Gate::new(&plan, &client);
    let left = gate
        .retry
        .deadline()
        .saturating_duration_since(Instant::now());
    assert!(left <= plan.timeout && left > plan.timeout - Duration::from_secs(5));
    let ids: Vec<_> = gate
        .awaited
        .caches()
        .iter()
        .map(|c| c.cache_id.as_str())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(
        gate.awaited
            .caches()
            .iter()
            .all(|c| c.state == CacheState::Waiting)
    );
    assert_eq!(gate.awaited.watches().len(), 2);
}

#[tokio::test]
async fn a_trigger_waits_for_its_own_kind_whatever_execution_says() {
    let client = client();
    for (trigger, want) in [
        (None, ExecutionFilter::Both),
        (Some(ExecutionKind::Full), ExecutionFilter::Full),
        (
            Some(ExecutionKind::Incremental),
            ExecutionFilter::Incremental,
        ),
    ] {
        let mut plan = plan(&["a"]);
        plan.execution = ExecutionFilter::Both;
        plan.trigger = trigger;
        let gate = Gate::new(&plan, &client);
        assert_eq!(gate.execution(), want, "{trigger:?}");
        assert_eq!(gate.criteria(None).execution, want, "{trigger:?}");
    }
}

#[tokio::test]
async fn a_relative_bound_is_read_on_the_server_clock() {
    let client = client();
    let mut plan = plan(&["a"]);
    plan.since = Some(TimeSpec::Now);
    plan.started_after = Some(TimeSpec::Ago(Duration::from_secs(600)));
    let mut gate = Gate::new(&plan, &client);
    assert_eq!(gate.criteria(None).since, Some(at(30)));
    assert_eq!(gate.criteria(None).started_after, Some(at(20)));
    // A server ahead of us is corrected at once.
    server_ahead(&mut gate, 120);
    let shifted = gate.criteria(Some(0));
    let near = |got: Option<Timestamp>, want: Timestamp| {
        let off = got.unwrap().duration_since(want).abs();
        assert!(off <= SignedDuration::from_secs(1), "{got:?} vs {want}");
    };
    near(shifted.since, at(32));
    near(shifted.started_after, at(22));
    // An absolute bound is the user's, on no one's clock.
    let mut plan = plan.clone();
    plan.since = Some(TimeSpec::At(at(5)));
    let mut gate = Gate::new(&plan, &client);
    server_ahead(&mut gate, 120);
    assert_eq!(gate.criteria(None).since, Some(at(5)));
}

#[tokio::test]
async fn a_correction_backwards_never_lets_an_execution_seen_at_first_sight_count() {
    let client = client();
    let mut plan = plan(&["a"]);
    plan.since = Some(TimeSpec::Now);
    plan.started_after = Some(TimeSpec::Now);
    let mut gate = Gate::new(&plan, &client);
    // Seen at the start: ended at 10:29, started at 10:28.
    gate.awaited
        .note_first_sight(0, &status("COMPLETED", 28, Some(29)));
    // Later sights do not move what the first one saw.
    gate.awaited
        .note_first_sight(0, &status("COMPLETED", 5, Some(6)));
    assert_eq!(
        gate.awaited.watches()[0].first_sight,
        Some((Some(at(29)), Some(at(28))))
    );
    // The server is 10 minutes behind, three readings in a row.
    for _ in 0..3 {
        server_ahead(&mut gate, -600);
    }
    let criteria = gate.criteria(Some(0));
    // Not 10:20 (the correction), not 10:30 (our clock): just past what
    // existed before the gate.
    assert_eq!(criteria.since, Some(at(29)));
    assert_eq!(
        criteria.started_after,
        Some(at(28) + SignedDuration::from_nanos(1))
    );
    // The shared part knows no cache, so only the correction applies.
    let shared = gate.criteria(None).since.unwrap();
    assert!(shared < at(21) && shared > at(19), "{shared}");
}

#[tokio::test]
async fn the_deciding_cache_is_the_last_ready_or_the_first_of_the_outcome() {
    let client = client();
    let plan = plan(&["a", "b", "c"]);
    let mut gate = Gate::new(&plan, &client);
    let criteria = gate.criteria(None);
    for (i, finished) in [(0, 40), (1, 50), (2, 45)] {
        let status = status("COMPLETED", 35, Some(finished));
        gate.awaited.caches_mut()[i].decision =
            Some(crate::decision::decide(&status, &criteria, &[]));
        gate.awaited.caches_mut()[i].status = Some(status);
    }
    assert_eq!(gate.awaited.decided_by(Outcome::Ready), Some(1));
    gate.awaited.caches_mut()[2].state = CacheState::Failed;
    assert_eq!(gate.awaited.decided_by(Outcome::Failed), Some(2));
    assert_eq!(gate.awaited.decided_by(Outcome::NotFound), None);
    gate.awaited.caches_mut()[0].state = CacheState::Ready;
    assert_eq!(gate.awaited.decided_by(Outcome::Timeout), Some(1));
    for cache in gate.awaited.caches_mut() {
        cache.state = CacheState::Ready;
    }
    // Nothing waits: the first cache stands for all.
    assert_eq!(gate.awaited.decided_by(Outcome::Interrupted), Some(0));
}

#[tokio::test]
async fn the_report_carries_the_bounds_used_and_every_cache() {
    let client = client();
    let mut plan = plan(&["a", "b"]);
    plan.since = Some(TimeSpec::Ago(Duration::from_secs(60)));
    let mut gate = Gate::new(&plan, &client);
    gate.tally.sent(7);
    gate.awaited.caches_mut()[1].state = CacheState::NotFound;
    let report = gate.report(Outcome::NotFound, "gone".into());
    assert_eq!(report.decided_by, Some(1));
    assert_eq!(report.since, Some(at(29)));
    assert_eq!(report.started_after, None);
    assert_eq!(report.polls, 7);
    assert_eq!(report.caches.len(), 2);
    assert_eq!(report.project_id, "p");
    assert_eq!(report.message, "gone");
}

fn waiting_on(kind: ExecutionKind) -> Decision {
    Decision {
        verdict: crate::decision::Verdict::Waiting,
        focus: Some(kind),
        detail: "waiting".into(),
        unknown_status: None,
        starting: false,
        execution_id: None,
    }
}

#[tokio::test]
async fn a_run_that_has_not_moved_for_the_stall_timeout_ends_the_gate() {
    let client = client();
    let mut plan = plan(&["a"]);
    plan.stall_timeout = Some(Duration::from_secs(60));
    let mut gate = Gate::new(&plan, &client);
    let running = status("RUNNING", 0, None);
    let waiting = waiting_on(ExecutionKind::Incremental);
    // Updated 30 s ago by the server's clock: not yet.
    let soon = at(0) + SignedDuration::from_secs(30);
    assert!(gate.check_stall(0, &running, &waiting, soon).is_none());
    assert!(gate.awaited.watches()[0].motion.is_some());
    // Five minutes since its last update.
    let (outcome, message) = gate.check_stall(0, &running, &waiting, at(5)).unwrap();
    assert_eq!(outcome, Outcome::Stalled);
    assert!(
        message.starts_with("cache a: incremental sync e has not moved for 5m"),
        "{message}"
    );
    assert!(message.ends_with("--stall-timeout is 1m"), "{message}");
    // An ended record is not awaited: nothing stalls, and the motion is
    // forgotten.
    let ended = status("COMPLETED", 0, Some(1));
    assert!(gate.check_stall(0, &ended, &waiting, at(50)).is_none());
    assert!(gate.awaited.watches()[0].motion.is_none());
    // Without --stall-timeout nothing is watched.
    let plan = self::plan(&["a"]);
    let mut gate = Gate::new(&plan, &client);
    assert!(gate.check_stall(0, &running, &waiting, at(50)).is_none());
}
