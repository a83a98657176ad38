//! The forecast: when will the awaited refresh end, and when does the next
//! scheduled one start?
//!
//! A pure function of the slot's past executions (from the execution
//! history), its schedule (from the cache settings), the current execution
//! and the server's clock. No I/O, no local clock: the loop feeds it and
//! [`crate::planned`] turns its answer into pauses.
//!
//! It uses order statistics (median, extremes), never the mean, so one
//! outlier cannot drag the estimate; failed and cancelled runs do not say
//! how long a successful one takes and are ignored, and so are durations
//! that cannot be true (negative, zero, or over [`MAX_DURATION`]). With
//! fewer than [`MIN_RUNS`] usable runs there is no forecast at all.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::api::{Execution, ExecutionKind, Status};

/// Fewer usable past runs than this: no forecast ("0–2 runs say nothing").
pub const MIN_RUNS: usize = 3;

/// A past run longer than this is taken for a bad record, not a duration.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// A run further than this factor from the median of the others is an
/// outlier (a stuck run that was cancelled late, a run of an empty table):
/// it is dropped before the bounds are taken.
const OUTLIER_FACTOR: f64 = 3.0;

/// A run further from the median than this many median absolute
/// deviations is an outlier too (3 standard deviations, for a normal spread).
const MAD_LIMIT: f64 = 3.0 * 1.4826;

/// The bounds are the shortest and longest usual run, widened by this
/// share of the median: with 12 runs, a new run falls outside the range of
/// the old ones about 2 times in 13.
const BOUND_MARGIN: f64 = 0.05;

/// The record count must have grown for at least this long before the rate
/// is trusted.
const MIN_PROGRESS_WINDOW: SignedDuration = SignedDuration::from_secs(5);

/// A record count seen at one moment (on the server's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When it was seen (the server's clock).
    pub at: Timestamp,
    /// `numberOfCachedRecords` at that moment.
    pub records: i64,
}

/// The running execution, as far as the loop has seen it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current {
    /// Its `createdAt`.
    pub started: Timestamp,
    /// The first record count seen, if any.
    pub first: Option<Sample>,
    /// The latest record count seen, if any.
    pub last: Option<Sample>,
}

/// What the estimate is based on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The durations of past runs only.
    History,
    /// Past durations, with the end moved by the current run's progress rate.
    HistoryAndProgress,
}

impl Basis {
    /// The name in the JSON summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::History => "history",
            Basis::HistoryAndProgress => "history+progress",
        }
    }
}

/// How long this slot's refreshes usually take, from its history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usual {
    /// The median duration.
    pub median: Duration,
    /// The shortest usual run, less a margin.
    pub shortest: Duration,
    /// The longest usual run, plus a margin.
    pub longest: Duration,
    /// How far runs stray from the median, as a share of it (0.18 = ±18%):
    /// the larger of median − 10th percentile and 90th percentile − median.
    pub spread: f64,
    /// How many past runs were used.
    pub runs: usize,
    /// The median final record count of those runs, when they report one.
    pub records: Option<i64>,
}

/// The expected end of a running execution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// What the past runs say.
    pub usual: Usual,
    /// The earliest the run is likely to end.
    pub early: Timestamp,
    /// The most likely end.
    pub expected: Timestamp,
    /// The latest the run is likely to end.
    pub late: Timestamp,
    /// What the estimate rests on.
    pub basis: Basis,
}

/// Learns the usual duration of `kind` from past executions (any order).
/// `None` when fewer than [`MIN_RUNS`] completed runs have a credible duration.
pub fn usual(history: &[Execution], kind: ExecutionKind) -> Option<Usual> {
    let runs: Vec<(Duration, Option<i64>)> = history
        .iter()
        .filter(|e| e.kind() == Some(kind) && e.status == Some(Status::Completed))
        .filter_map(|e| {
            let took = e.finished_at.at()?.duration_since(e.created_at?);
            let took = Duration::try_from(took).ok()?;
            (!took.is_zero() && took <= MAX_DURATION).then_some((took, e.records()))
        })
        .collect();
    let mut durations: Vec<Duration> = runs.iter().map(|(d, _)| *d).collect();
    durations.sort();
    let median = *durations.get(durations.len() / 2)?;
    let credible = |d: &Duration| {
        let ratio = d.as_secs_f64() / median.as_secs_f64();
        (1.0 / OUTLIER_FACTOR..=OUTLIER_FACTOR).contains(&ratio)
    };
    durations.retain(credible);
    if durations.len() < MIN_RUNS {
        return None;
    }
    // Then the runs far from the others, measured by the median absolute
    // deviation (never less than 10% of the median): the bounds are the
    // extremes of what is left, so one odd run must not stretch them.
    let median = durations[durations.len() / 2];
    let mut deviations: Vec<Duration> = durations.iter().map(|d| d.abs_diff(median)).collect();
    deviations.sort();
    let mad = deviations[deviations.len() / 2];
    let limit = mad.mul_f64(MAD_LIMIT).max(median / 10);
    durations.retain(|d| d.abs_diff(median) <= limit);
    if durations.len() < MIN_RUNS {
        return None;
    }
    let median = durations[durations.len() / 2];
    let margin = median.mul_f64(BOUND_MARGIN);
    let (first, last) = (durations[0], durations[durations.len() - 1]);
    let rank = |q: f64| durations[((durations.len() - 1) as f64 * q).round() as usize];
    let spread = (median.as_secs_f64() - rank(0.1).as_secs_f64())
        .max(rank(0.9).as_secs_f64() - median.as_secs_f64())
        / median.as_secs_f64();
    let mut records: Vec<i64> = runs
        .iter()
        .filter(|(d, _)| credible(d))
        .filter_map(|(_, r)| r.filter(|r| *r > 0))
        .collect();
    records.sort_unstable();
    Some(Usual {
        median,
        shortest: first.saturating_sub(margin),
        longest: last + margin,
        spread,
        runs: durations.len(),
        records: records.get(records.len() / 2).copied(),
    })
}

/// The expected end of the current run from the usual durations, moved by
/// its progress rate when that is measurable.
///
/// The progress estimate (records still to go ÷ records per second, taken
/// between the first and the latest count seen) is used only when it falls
/// inside the usual bounds: a rate that predicts a run far outside
/// anything seen before is more likely a burst than the truth. When used,
/// it becomes the expected end; the bounds stay those of the history,
/// because a record count says little about how much is still to come
/// (narrowing the window to the rate's estimate made the simulation miss
/// one run in six by tens of seconds).
pub fn forecast(usual: &Usual, current: &Current, now: Timestamp) -> Forecast {
    let at = |d: Duration| {
        current
            .started
            .checked_add(SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX))
            .unwrap_or(current.started)
    };
    let (early, expected, late) = (at(usual.shortest), at(usual.median), at(usual.longest));
    let by_history = Forecast {
        usual: *usual,
        early,
        expected,
        late,
        basis: Basis::History,
    };
    let Some(eta) = progress_eta(usual, current, now) else {
        return by_history;
    };
    if eta < early || eta > late {
        return by_history;
    }
    Forecast {
        expected: eta,
        basis: Basis::HistoryAndProgress,
        ..by_history
    }
}

/// When the run would end at the rate its record count is growing.
fn progress_eta(usual: &Usual, current: &Current, now: Timestamp) -> Option<Timestamp> {
    let target = usual.records?;
    let (first, last) = (current.first?, current.last?);
    let window = last.at.duration_since(first.at);
    let grown = last.records - first.records;
    if window < MIN_PROGRESS_WINDOW || grown <= 0 || last.records >= target {
        return None;
    }
    let rate = grown as f64 / window.as_secs_f64();
    let left = SignedDuration::try_from_secs_f64((target - last.records) as f64 / rate).ok()?;
    let eta = last.at.checked_add(left).ok()?;
    Some(eta.max(now))
}

/// The start of the next scheduled run of `kind`: its last start plus the
/// schedule's period, stepped past `now` by whole periods if that is already
/// gone. `None` without a period or without a past start.
pub fn next_start(
    history: &[Execution],
    kind: ExecutionKind,
    period: Option<Duration>,
    now: Timestamp,
) -> Option<Timestamp> {
    let period = SignedDuration::try_from(period?).ok()?;
    if period.is_zero() {
        return None;
    }
    let last = history
        .iter()
        .filter(|e| e.kind() == Some(kind))
        .filter_map(|e| e.created_at)
        .max()?;
    let next = last.checked_add(period).ok()?;
    if next >= now {
        return Some(next);
    }
    // Overdue: the next whole period after now.
    let behind = now.duration_since(next).as_secs_f64() / period.as_secs_f64();
    let steps = behind.floor() as i32 + 1;
    next.checked_add(period.checked_mul(steps)?).ok()
}

#[cfg(test)]
mod tests {
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
}
