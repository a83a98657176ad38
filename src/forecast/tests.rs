use super::*;

const T0: &str = "2026-11-25T10:00:00Z";

fn t(offset_s: i64) -> Timestamp {
    T0.parse::<Timestamp>().unwrap() + SignedDuration::from_secs(offset_s)
}

/// A past run of `kind` starting at `start` (s after T0) lasting `took` s.
fn run(mode: &str, status: &str, start: i64, took: i64, records: i64) -> Execution {
    let json = serde_json::json!({
        "id": format!("e{start}"), "executionMode": mode, "status": status,
        "progress": {"numberOfCachedRecords": records},
        "createdAt": t(start).to_string(), "finishedAt": t(start + took).to_string(),
    });
    serde_json::from_str(&json.to_string()).unwrap()
}

fn incremental(durations: &[i64]) -> Vec<Execution> {
    durations
        .iter()
        .enumerate()
        .map(|(i, d)| {
            run(
                "INCREMENTAL",
                "COMPLETED",
                -3600 * (i as i64 + 1),
                *d,
                1000 + 10 * d,
            )
        })
        .collect()
}

const S: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn usual_durations_from_order_statistics() {
    // (durations in s) → (median, shortest, longest, runs) or no forecast
    type Row = (&'static [i64], Option<(u64, u64, u64, usize)>);
    let table: [Row; 13] = [
        (&[], None),
        (&[100], None),
        (&[100, 110], None),
        (&[100, 110, 120], Some((110, 94, 125, 3))),
        // One outlier (a run of 3 hours) changes neither median nor bounds much.
        (&[100, 110, 120, 10_800], Some((110, 94, 125, 3))),
        // Negative, zero and multi-day durations are not durations.
        (&[-50, 0, 100, 110, 120, 200_000], Some((110, 94, 125, 3))),
        (&[240, 250, 260, 250, 245, 255], Some((250, 227, 272, 6))),
        // A run of half the usual length (within 3×, but far from the
        // others) does not stretch the bounds.
        (
            &[590, 600, 610, 620, 580, 600, 300],
            Some((600, 550, 650, 6)),
        ),
        // Runs over a day are dropped even when close to the others.
        (
            &[86_000, 86_300, 86_400, 87_000, 88_000],
            Some((86_300, 81_685, 90_715, 3)),
        ),
        // The first median is the middle run, not the first ones: the
        // two short runs are the outliers.
        (&[10, 20, 100, 100, 100, 100], Some((100, 95, 105, 4))),
        // The deviation limit is the middle deviation (10 s) × 3 × 1.4826:
        // runs 20 s off stay, a run 446 s off a 100 s deviation goes,
        // one 444 s off stays.
        (&[80, 90, 100, 100, 110, 120], Some((100, 75, 125, 6))),
        (
            &[900, 900, 1000, 1000, 1100, 1100, 1446],
            Some((1000, 850, 1150, 6)),
        ),
        (
            &[900, 900, 1000, 1000, 1100, 1100, 1444],
            Some((1000, 850, 1494, 7)),
        ),
    ];
    for (durations, want) in table {
        let got = usual(&incremental(durations), ExecutionKind::Incremental).map(|u| {
            (
                u.median.as_secs(),
                u.shortest.as_secs(),
                u.longest.as_secs(),
                u.runs,
            )
        });
        assert_eq!(got, want, "{durations:?}");
    }
}

#[test]
fn failed_cancelled_and_other_slots_do_not_count() {
    let mut history = incremental(&[100, 110]);
    history.push(run("INCREMENTAL", "FAILED", -90_000, 5, 0));
    history.push(run("INCREMENTAL", "CANCELLED", -95_000, 7, 0));
    history.push(run("INCREMENTAL", "RUNNING", -10, 0, 0));
    history.push(run("FULL_REFRESH", "COMPLETED", -99_000, 900, 0));
    history.push(run("MANUAL", "COMPLETED", -98_000, 100, 0));
    assert_eq!(usual(&history, ExecutionKind::Incremental), None);
    history.push(run("INCREMENTAL", "COMPLETED", -97_000, 120, 0));
    let u = usual(&history, ExecutionKind::Incremental).unwrap();
    assert_eq!((u.median, u.runs), (S(110), 3));
    assert!(usual(&history, ExecutionKind::Full).is_none());
}

#[test]
fn spread_is_relative_to_the_median() {
    let u = usual(
        &incremental(&[80, 90, 100, 100, 100, 110, 120]),
        ExecutionKind::Incremental,
    )
    .unwrap();
    assert_eq!(u.median, S(100));
    assert!((u.spread - 0.1).abs() < 1e-9, "{}", u.spread);
    assert_eq!(u.records, Some(2000));
}

#[test]
fn spread_is_the_wider_tail() {
    // (durations) → spread: the 10th or 90th percentile's distance from
    // the median, whichever is larger, over the median.
    for (durations, want) in [
        (&[80, 90, 100, 100, 100, 105][..], 0.1),
        (&[95, 100, 100, 100, 110, 120][..], 0.2),
    ] {
        let u = usual(&incremental(durations), ExecutionKind::Incremental).unwrap();
        assert!(
            (u.spread - want).abs() < 1e-9,
            "{durations:?}: {}",
            u.spread
        );
    }
}

#[test]
fn runs_without_records_do_not_make_the_usual_count() {
    let history: Vec<Execution> = [0, 0, 0, 2000, 2000]
        .iter()
        .enumerate()
        .map(|(i, records)| {
            run(
                "INCREMENTAL",
                "COMPLETED",
                -3600 * (i as i64 + 1),
                100,
                *records,
            )
        })
        .collect();
    let u = usual(&history, ExecutionKind::Incremental).unwrap();
    assert_eq!(u.records, Some(2000));
}

fn usual_100s() -> Usual {
    usual(
        &incremental(&[90, 95, 100, 105, 110]),
        ExecutionKind::Incremental,
    )
    .unwrap()
}

#[test]
fn the_end_is_the_start_plus_the_usual_durations() {
    let current = Current {
        started: t(0),
        first: None,
        last: None,
    };
    let f = forecast(&usual_100s(), &current, t(10));
    assert_eq!(f.basis, Basis::History);
    assert_eq!((f.early, f.expected, f.late), (t(85), t(100), t(115)));
}

#[test]
fn a_moving_record_count_moves_the_end() {
    // Past runs end at 2000 records (1000 + 10/s × 100 s).
    let usual = usual_100s();
    assert_eq!(usual.records, Some(2000));
    let sample = |at, records| Some(Sample { at: t(at), records });
    // (first, last) → expected end, basis
    let table = [
        // 10 records/s from 1000: 2000 at 100 s, as usual.
        (
            sample(10, 1100),
            sample(30, 1300),
            t(100),
            Basis::HistoryAndProgress,
        ),
        // Faster: 20/s from 1300 at 30 s → 2000 at 65 s: outside the usual bounds, so ignored.
        (sample(10, 900), sample(30, 1300), t(100), Basis::History),
        // Slightly slow: 8/s, 1300 at 30 s → 700 left → 2000 at 117.5 s: outside (late is 115).
        (sample(10, 1140), sample(30, 1300), t(100), Basis::History),
        // 9/s → 2000 at ~107.8 s: used.
        (
            sample(10, 1120),
            sample(30, 1300),
            t(107) + SignedDuration::from_millis(777),
            Basis::HistoryAndProgress,
        ),
        // Not moving, too short a window, or one sample: history only.
        (sample(10, 1300), sample(30, 1300), t(100), Basis::History),
        (sample(28, 1280), sample(30, 1300), t(100), Basis::History),
        (None, sample(30, 1300), t(100), Basis::History),
    ];
    for (first, last, want, basis) in table {
        let current = Current {
            started: t(0),
            first,
            last,
        };
        let f = forecast(&usual, &current, t(30));
        let off = f.expected.duration_since(want).abs();
        assert!(
            off < SignedDuration::from_millis(5),
            "{first:?} {last:?}: {f:?}"
        );
        assert_eq!(f.basis, basis, "{first:?} {last:?}");
        assert!(f.early <= f.expected && f.expected <= f.late);
        assert!(f.early >= t(85) && f.late <= t(115), "{f:?}");
    }
}

#[test]
fn the_next_scheduled_start() {
    let history = vec![
        run("INCREMENTAL", "COMPLETED", -600, 60, 0),
        run("INCREMENTAL", "COMPLETED", -1500, 60, 0),
        run("FULL_REFRESH", "COMPLETED", -100, 60, 0),
    ];
    let fifteen = Some(S(900));
    let inc = ExecutionKind::Incremental;
    // Last start −600 s, every 15 min → +300 s.
    assert_eq!(next_start(&history, inc, fifteen, t(0)), Some(t(300)));
    // Overdue by more than one period: the next whole period after now.
    assert_eq!(next_start(&history, inc, fifteen, t(1000)), Some(t(1200)));
    assert_eq!(next_start(&history, inc, None, t(0)), None);
    assert_eq!(next_start(&history, inc, Some(Duration::ZERO), t(0)), None);
    assert_eq!(next_start(&[], inc, fifteen, t(0)), None);
    assert_eq!(
        next_start(&history, ExecutionKind::Full, Some(S(3600)), t(0)),
        Some(t(3500))
    );
}

#[test]
fn the_progress_estimate_at_its_edges() {
    // Usual: 85–115 s, 2000 records at the end.
    let usual = usual_100s();
    let sample = |at, records| Some(Sample { at: t(at), records });
    // (first, last, now) → expected end, basis
    let table = [
        // 20/s, 900 at 30 s → 2000 at exactly the early bound: used.
        (
            sample(10, 500),
            sample(30, 900),
            30,
            t(85),
            Basis::HistoryAndProgress,
        ),
        // 10/s, 1150 at 30 s → 2000 at exactly the late bound: used.
        (
            sample(10, 950),
            sample(30, 1150),
            30,
            t(115),
            Basis::HistoryAndProgress,
        ),
        // A window of exactly 5 s is long enough: 10/s → 110 s.
        (
            sample(25, 1150),
            sample(30, 1200),
            30,
            t(110),
            Basis::HistoryAndProgress,
        ),
        // Past the usual count while still growing: no estimate, even
        // when "now" falls inside the bounds.
        (
            sample(10, 1900),
            sample(30, 2100),
            90,
            t(100),
            Basis::History,
        ),
    ];
    for (first, last, now, want, basis) in table {
        let current = Current {
            started: t(0),
            first,
            last,
        };
        let f = forecast(&usual, &current, t(now));
        assert_eq!((f.expected, f.basis), (want, basis), "{first:?} {last:?}");
    }
}
