use super::*;

const S: fn(u64) -> Duration = Duration::from_secs;

fn knobs() -> Knobs {
    Knobs {
        max_interval: S(30),
        detection_delay: S(2),
        stall_timeout: None,
    }
}

fn planner(seed: u64) -> (Planner, Schedule) {
    (
        Planner::new(knobs(), Some(fastrand::Rng::with_seed(seed + 1))),
        Schedule::with_rng(S(1), S(30), fastrand::Rng::with_seed(seed)),
    )
}

fn ten_minutes() -> Window {
    Window {
        starts: None,
        early: S(540),
        expected: S(600),
        late: S(660),
        usual: S(600),
        begun: SignedDuration::ZERO,
        dense_from: S(540),
    }
}

#[test]
fn without_a_window_it_is_the_exponential_schedule() {
    let (mut planned, mut schedule) = planner(7);
    let mut exponential = Schedule::with_rng(S(1), S(30), fastrand::Rng::with_seed(7));
    for i in 0..20 {
        assert_eq!(
            planned.next_delay(S(i * 10), &mut schedule),
            exponential.next_delay()
        );
    }
}

#[test]
fn sparse_then_dense_then_exponential() {
    let (mut p, mut schedule) = planner(3);
    p.set_window(Some(ten_minutes()));
    // (elapsed, phase, lowest, highest pause)
    // The run started with the gate: its age is the time elapsed.
    let table = [
        (0, Phase::Sparse, 2, 5), // a run just started: the dense step (2 × 2 s), jittered
        (8, Phase::Sparse, 5, 10), // its age, 8 s
        (100, Phase::Sparse, 15, 29), // √600 s = 24.5 s, jittered 65%–115%
        (500, Phase::Sparse, 15, 29),
        (530, Phase::Sparse, 10, 14), // cut within the first dense step
        (537, Phase::Sparse, 2, 5),   // close to it: a dense step
        (540, Phase::Dense, 2, 5),    // every ~2 × detection delay
        (659, Phase::Dense, 2, 5),
        (660, Phase::Overdue, 0, 1), // the exponential schedule, from its start
    ];
    for (elapsed, phase, low, high) in table {
        assert_eq!(p.phase(S(elapsed)), phase, "{elapsed}");
        let delay = p.next_delay(S(elapsed), &mut schedule);
        assert!(delay >= S(low) && delay <= S(high), "{elapsed}s: {delay:?}");
    }
}

#[test]
fn gates_sharing_a_window_do_not_all_poll_as_it_opens() {
    // 10 s before the early bound, twenty gates (seeds) poll within the
    // first dense step after it (2 × 2 s), not all at its opening.
    let pauses: Vec<Duration> = (0..20)
        .map(|seed| {
            let (mut p, mut schedule) = planner(seed);
            p.set_window(Some(ten_minutes()));
            p.next_delay(S(530), &mut schedule)
        })
        .collect();
    assert!(
        pauses.iter().all(|d| *d >= S(10) && *d < S(14)),
        "{pauses:?}"
    );
    assert!(pauses.iter().any(|d| *d > S(12)), "{pauses:?}");
    assert!(pauses.iter().any(|d| *d < S(11)), "{pauses:?}");
}

#[test]
fn the_watch_step_grows_with_the_runs_age_to_the_square_root_of_its_length() {
    // (usual s, run's age s, --max-interval s, --stall-timeout s) → step ms
    let table = [
        (600, 0, 30, None, 4_000), // the dense step at least
        (600, 3, 30, None, 4_000),
        (600, 4, 30, None, 4_000),
        (600, 5, 30, None, 5_000), // then its age
        (600, 20, 30, None, 20_000),
        (600, 24, 30, None, 24_000),
        (600, 25, 30, None, 24_494), // then √600 s
        (600, 500, 30, None, 24_494),
        (3600, 500, 30, None, 60_000),
        (100, 500, 30, None, 10_000),
        // A short run: √30 s = 5.5 s is below 1.75 dense steps (7 s).
        (30, 500, 30, None, 7_000),
        (30, 6, 30, None, 6_000), // its age until then
        (30, 7, 30, None, 7_000),
        (48, 500, 30, None, 7_000), // √48 s = 6.93 s
        (50, 500, 30, None, 7_071), // √50 s = 7.07 s
        (9, 500, 30, None, 7_000),
        // The floor is never longer than the sparse step: --max-interval
        // 5s (the dense step 4 s), half of --stall-timeout 12s.
        (30, 500, 5, None, 5_000),
        (30, 500, 30, Some(12), 6_000),
        // Never longer than the sparse step: half of --stall-timeout.
        (3600, 500, 30, Some(40), 20_000),
        (23 * 3600, 5000, 30, None, 287_749),
        (23 * 3600 * 2, 5000, 30, None, 300_000),
    ];
    for (usual, age, max, stall, want) in table {
        let p = Planner::new(
            Knobs {
                max_interval: S(max),
                detection_delay: S(2),
                stall_timeout: stall.map(S),
            },
            None,
        );
        let mut w = ten_minutes();
        w.usual = S(usual);
        let step = p.watch_step(&w, S(age));
        let row = (usual, age, max, stall);
        assert_eq!(step.as_millis(), want, "{row:?}");
    }
}

#[test]
fn the_middle_step_is_at_least_a_number_of_dense_steps() {
    // (--detection-delay ms, usual s) → the step in the middle of the run,
    // ms: max(√usual, 1.75 × the dense step), at most the sparse step (30 s).
    let table = [
        (1_000, 30, 5_477), // the dense step 2 s: √30 s is longer
        (1_000, 9, 3_500),  // √9 = 3 s is not
        (2_000, 30, 7_000),
        (2_000, 600, 24_494),
        (3_000, 30, 10_500), // the dense step 6 s
        (3_000, 600, 24_494),
        (10_000, 30, 30_000), // 1.75 × 20 s, cut to the sparse step
    ];
    for (detection, usual, want) in table {
        let p = Planner::new(
            Knobs {
                max_interval: S(30),
                detection_delay: Duration::from_millis(detection),
                stall_timeout: None,
            },
            None,
        );
        let mut w = ten_minutes();
        w.usual = S(usual);
        let step = p.watch_step(&w, S(500));
        assert_eq!(step.as_millis(), want, "{detection} ms, {usual} s");
    }
}

#[test]
fn a_runs_age_counts_from_its_start() {
    let mut w = ten_minutes();
    // (begun s, elapsed s) → age s
    let table = [
        (-30, 0, 30),
        (-30, 5, 35),
        (0, 7, 7),
        (10, 5, 0),
        (10, 10, 0),
        (10, 12, 2),
    ];
    for (begun, elapsed, age) in table {
        w.begun = SignedDuration::from_secs(begun);
        assert_eq!(w.age(S(elapsed)), S(age), "{begun} {elapsed}");
    }
}

#[test]
fn the_record_count_moves_the_start_of_dense_polls() {
    // (early, expected, usual, by progress) → dense from; the margin is 15% of usual
    let table = [
        (540, 600, 600, false, 540),
        (540, 700, 600, false, 540),
        (540, 700, 600, true, 610),
        (540, 630, 600, true, 540),
        (540, 629, 600, true, 540),
        (540, 631, 600, true, 541),
        (0, 10, 600, true, 0),
    ];
    for (early, expected, usual, by_progress, want) in table {
        let row = (early, expected, usual, by_progress);
        assert_eq!(
            dense_from(S(early), S(expected), S(usual), by_progress),
            S(want),
            "{row:?}"
        );
    }
    // Polls stay sparse until then.
    let (mut p, mut schedule) = planner(1);
    let mut w = ten_minutes();
    w.dense_from = S(610);
    p.set_window(Some(w));
    assert_eq!(p.phase(S(540)), Phase::Sparse);
    assert_eq!(p.phase(S(609)), Phase::Sparse);
    assert_eq!(p.phase(S(610)), Phase::Dense);
    let pause = p.next_delay(S(560), &mut schedule);
    assert!(pause > S(15) && pause < S(29), "{pause:?}");
    // ... but never past the early bound's: a window narrower than it is not.
    w.dense_from = S(100);
    p.set_window(Some(w));
    assert_eq!(p.phase(S(539)), Phase::Sparse);
}

#[test]
fn the_sparse_step_honours_max_interval_and_the_stall_timeout() {
    let (mut p, _) = planner(1);
    assert_eq!(p.sparse_step(S(600)), S(60));
    assert_eq!(p.sparse_step(S(60)), S(30));
    p.knobs.stall_timeout = Some(S(40));
    assert_eq!(p.sparse_step(S(600)), S(20));
    p.knobs.max_interval = S(1);
    assert_eq!(
        p.dense_step(),
        S(1),
        "never sparser than --max-interval when dense"
    );
}

#[test]
fn the_reads_are_spread_but_bounded() {
    let (mut p, _) = planner(9);
    let waits: Vec<Duration> = (0..200).map(|_| p.read_jitter(S(1800))).collect();
    assert!(waits.iter().all(|w| *w <= MAX_READ_JITTER));
    assert!(
        waits.iter().any(|w| *w > Duration::from_millis(800)),
        "not spread"
    );
    assert!(
        waits.iter().any(|w| *w < Duration::from_millis(200)),
        "not spread"
    );
    assert!((0..50).all(|_| p.read_jitter(S(2)) <= Duration::from_millis(200)));
    let mut plain = Planner::new(knobs(), None);
    assert_eq!(plain.read_jitter(S(1800)), Duration::ZERO);
}

#[test]
fn before_a_scheduled_start_it_sleeps_until_just_after_it() {
    let (mut p, mut schedule) = planner(5);
    let mut w = ten_minutes();
    w.starts = Some(S(300));
    w.early += S(300);
    w.late += S(300);
    p.set_window(Some(w));
    assert_eq!(p.phase(S(10)), Phase::BeforeStart);
    assert_eq!(p.next_delay(S(10), &mut schedule), S(294));
    assert_eq!(p.phase(S(304)), Phase::Sparse);
    // The start itself is no longer before it.
    assert_eq!(p.phase(S(299)), Phase::BeforeStart);
    assert_eq!(p.phase(S(300)), Phase::Sparse);
}

#[test]
fn the_sparse_step_is_capped_whatever_the_history_says() {
    // (--max-interval, usual duration, --stall-timeout) → sparse step, longest step
    let table = [
        (30, 600, None, 60, 300),
        (30, 60, None, 30, 300),
        (30, 3000, None, 300, 300),
        (30, 3010, None, 300, 300),
        // A history claiming 23-hour runs: 5 minutes, not 2.3 hours.
        (30, 23 * 3600, None, 300, 300),
        // An explicit --max-interval above the cap is the user's choice.
        (600, 23 * 3600, None, 600, 600),
        (600, 60, None, 600, 600),
        (30, 23 * 3600, Some(40), 20, 20),
        (1, 2900, None, 290, 300),
    ];
    for (max_interval, usual, stall, sparse, longest) in table {
        let p = Planner::new(
            Knobs {
                max_interval: S(max_interval),
                detection_delay: S(2),
                stall_timeout: stall.map(S),
            },
            None,
        );
        let row = (max_interval, usual, stall);
        assert_eq!(p.sparse_step(S(usual)), S(sparse), "{row:?}");
        assert_eq!(p.longest_step(), S(longest), "{row:?}");
    }
}

/// A planner with `--max-interval` `max` s, the given window, and
/// whether a refresh is under way; jittered with `seed` (`None`: no jitter).
fn planned(max: u64, window: Window, live: bool, seed: Option<u64>) -> (Planner, Schedule) {
    let knobs = Knobs {
        max_interval: S(max),
        detection_delay: S(2),
        stall_timeout: None,
    };
    let mut p = Planner::new(knobs, seed.map(fastrand::Rng::with_seed));
    p.set_window(Some(window));
    p.set_live(live);
    (
        p,
        Schedule::with_rng(S(1), S(max), fastrand::Rng::with_seed(1)),
    )
}

/// A run of `usual` s expected to start `starts` s after the gate did.
fn scheduled(starts: u64, usual: u64) -> Window {
    Window {
        starts: Some(S(starts)),
        early: S(starts + usual * 9 / 10),
        expected: S(starts + usual),
        late: S(starts + usual * 11 / 10),
        usual: S(usual),
        begun: SignedDuration::from_secs(starts as i64),
        dense_from: S(starts + usual * 9 / 10),
    }
}

#[test]
fn a_refresh_under_way_outranks_the_schedule() {
    // (--max-interval, window, live, elapsed) → lowest, highest pause
    // (jittered, 50 seeds), and the pause without jitter.
    let table = [
        // The next scheduled start is an hour away: 5 minutes at most
        // while nothing runs, the sparse step (30 s) when something does.
        (30, scheduled(3600, 300), false, 0, 300, 300, 300),
        (30, scheduled(3600, 300), true, 0, 15, 30, 30),
        // A history of 10-minute runs: a sparse step of 60 s.
        (30, scheduled(3600, 600), true, 0, 30, 60, 60),
        // A history of 23-hour runs: still 5 minutes at most.
        (30, scheduled(3600, 23 * 3600), true, 0, 150, 300, 300),
        (30, scheduled(7 * 3600, 23 * 3600), false, 0, 300, 300, 300),
        // A start 20 s away: until just after it (20 + 2 × 2 s) while
        // nothing runs; sparser than that is not allowed when live.
        (30, scheduled(20, 600), false, 0, 24, 24, 24),
        (30, scheduled(20, 600), true, 0, 24, 24, 24),
        (1, scheduled(20, 100), true, 0, 5, 10, 10),
        // (The dense step is at most --max-interval: 20 + 1 s.)
        (1, scheduled(20, 100), false, 0, 21, 21, 21),
        (1, scheduled(20, 100), false, 15, 6, 6, 6),
        // Close to the start: until one dense step after it.
        (30, scheduled(20, 600), false, 19, 5, 5, 5),
        (30, scheduled(20, 600), true, 19, 5, 5, 5),
    ];
    for (max, window, live, elapsed, low, high, plain) in table {
        let row = format!("--max-interval {max}s, {window:?}, live {live}, at {elapsed}s");
        for seed in 0..50 {
            let (mut p, mut schedule) = planned(max, window, live, Some(seed));
            assert_eq!(p.phase(S(elapsed)), Phase::BeforeStart, "{row}");
            let pause = p.next_delay(S(elapsed), &mut schedule);
            assert!(pause >= S(low) && pause <= S(high), "{row}: {pause:?}");
        }
        let (mut p, mut schedule) = planned(max, window, live, None);
        assert_eq!(p.next_delay(S(elapsed), &mut schedule), S(plain), "{row}");
    }
}

#[test]
fn no_pause_is_longer_than_the_bound_whatever_the_history_says() {
    // Windows a hostile history or schedule can make: runs of 23 h,
    // a start far away, a window long past. While a refresh is under
    // way no pause exceeds the sparse step (≤ 5 min); before, 5 min.
    let long = 23 * 3600;
    let windows = [
        scheduled(3600, long),
        scheduled(0, long),
        scheduled(30 * 24 * 3600, long),
        Window {
            starts: None,
            early: S(long * 9 / 10),
            expected: S(long),
            late: S(long * 11 / 10),
            usual: S(long),
            begun: SignedDuration::ZERO,
            dense_from: S(long * 9 / 10),
        },
        scheduled(3600, 600),
    ];
    for window in windows {
        for live in [false, true] {
            for seed in 0..20 {
                let (mut p, mut schedule) = planned(30, window, live, Some(seed));
                let bound = if live {
                    p.sparse_step(window.usual)
                } else {
                    MAX_PLANNED_STEP
                };
                assert!(bound <= MAX_PLANNED_STEP);
                let mut elapsed = S(0);
                while elapsed < S(long * 2) {
                    let pause = p.next_delay(elapsed, &mut schedule);
                    assert!(
                        pause <= bound && !pause.is_zero(),
                        "{window:?} live {live} at {elapsed:?}: {pause:?} > {bound:?}"
                    );
                    elapsed += pause;
                }
            }
        }
    }
}

#[test]
fn what_counts_as_a_refresh_under_way() {
    let status = |top: &str, incremental: Option<(&str, &str)>| {
        let record = incremental.map_or("null".to_owned(), |(id, status)| {
            format!(r#"{{"id":"{id}","executionMode":"INCREMENTAL","status":"{status}"}}"#)
        });
        let body =
            format!(r#"{{"id":"c","status":"{top}","lastIncrementalCacheExecution":{record}}}"#);
        crate::api::decode_status(body.as_bytes()).unwrap()
    };
    let inc: &[ExecutionKind] = &[ExecutionKind::Incremental];
    let full: &[ExecutionKind] = &[ExecutionKind::Full];
    type Before = &'static [(ExecutionKind, Option<&'static str>)];
    let e1: Option<Before> = Some(&[(ExecutionKind::Incremental, Some("e1"))]);
    let empty: Option<Before> = Some(&[]);
    let no_id: Option<Before> = Some(&[(ExecutionKind::Incremental, None)]);
    let (done, running) = (Some(("e1", "COMPLETED")), Some(("e2", "RUNNING")));
    let (new_done, paused) = (Some(("e2", "COMPLETED")), Some(("e2", "PAUSED")));
    // (top-level status, incremental record, slots looked at, before) → live
    let table = [
        // The cache RUNNING, whatever its records say.
        ("RUNNING", done, inc, None, true),
        ("RUNNING", None, inc, e1, true),
        // A status this version does not know may be one starting.
        ("QUEUED", done, inc, None, true),
        // Nothing under way.
        ("COMPLETED", done, inc, None, false),
        ("COMPLETED", done, inc, e1, false),
        ("FAILED", None, inc, e1, false),
        ("NOT_INITIALIZED", None, inc, None, false),
        ("DELETED", None, inc, None, false),
        // A running record, even under a COMPLETED cache; a record of
        // a status this version does not know has not ended either.
        ("COMPLETED", running, inc, None, true),
        ("COMPLETED", paused, inc, None, true),
        // A new record: another id, or the first one.
        ("COMPLETED", new_done, inc, e1, true),
        ("COMPLETED", done, inc, empty, true),
        ("COMPLETED", done, inc, no_id, true),
        // ... but only in a slot looked at.
        ("COMPLETED", running, full, None, false),
        ("COMPLETED", new_done, full, e1, false),
    ];
    for (top, incremental, slots, before, want) in table {
        let row = format!("{top} {incremental:?} {slots:?} {before:?}");
        let live = shows_a_live_refresh(&status(top, incremental), slots, before);
        assert_eq!(live, want, "{row}");
    }
}

#[test]
fn windows_from_server_time() {
    let usual = crate::forecast::Usual {
        median: S(100),
        shortest: S(80),
        longest: S(120),
        spread: 0.2,
        runs: 12,
        records: None,
    };
    let t0: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
    let forecast = crate::forecast::forecast(
        &usual,
        &crate::forecast::Current {
            started: t0,
            first: None,
            last: None,
        },
        t0,
    );
    // The server says 10:00:30 when the gate is 5 s in: the run started 25 s before the gate.
    let now = t0 + SignedDuration::from_secs(30);
    let w = Window::of(&forecast, now, S(5));
    assert_eq!((w.early, w.expected, w.late), (S(55), S(75), S(95)));
    // It started 25 s before the gate: 30 s old at 5 s.
    assert_eq!(w.begun, SignedDuration::from_secs(-25));
    assert_eq!(w.age(S(5)), S(30));
    assert_eq!(w.dense_from, S(55), "no progress: the early bound");
    let w = Window::scheduled(t0 + SignedDuration::from_secs(60), &usual, now, S(5));
    assert_eq!(w.starts, Some(S(35)));
    assert_eq!((w.early, w.late), (S(115), S(155)));
    assert_eq!(
        (w.begun, w.dense_from),
        (SignedDuration::from_secs(35), S(115))
    );
    // With progress: the estimate at 10:01:20 (60% of 100,000 records
    // after 50 s of 100) is 10:01:23, 78 s on the gate's clock; dense
    // polls from 15 s before it.
    let usual = crate::forecast::Usual {
        records: Some(100_000),
        ..usual
    };
    let at = |s: i64| t0 + SignedDuration::from_secs(s);
    let current = crate::forecast::Current {
        started: t0,
        first: Some(crate::forecast::Sample {
            at: at(30),
            records: 30_000,
        }),
        last: Some(crate::forecast::Sample {
            at: at(80),
            records: 80_000,
        }),
    };
    let f = crate::forecast::forecast(&usual, &current, at(80));
    assert_eq!(f.basis, crate::forecast::Basis::HistoryAndProgress);
    let w = Window::of(&f, at(80), S(55));
    assert_eq!((w.early, w.expected), (S(55), S(75)));
    assert_eq!(w.dense_from, S(60));
}
