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
    /// When the run started (the planner measures its age from it).
    pub started: Timestamp,
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
        started: current.started,
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
mod tests;
