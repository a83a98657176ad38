//! The planned schedule (`--schedule adaptive`): when the next poll
//! happens, given what the forecast says about the awaited run's end.
//!
//! A pure function of (the forecast's window, whether the last reply shows
//! a refresh under way, the time elapsed since the gate started, the
//! random generator's state), so that the benchmark's simulation drives
//! exactly this code in virtual time. Without a window it *is* today's
//! exponential [`Schedule`] (same delays, same jitter); with one it
//! watches the run until the window's early bound — a step as long as the
//! run's age (failures cluster early), growing to √(usual duration) (a
//! failure at a random point is seen about half a step late), but never
//! shorter than [`MIDDLE_FLOOR`] dense steps — densely through the window, and exponentially again after its late bound. When
//! the record count puts the end well after the early bound, dense polls
//! start shortly before that estimate instead ([`dense_from`]).
//!
//! Live evidence outranks the forecast: while the last reply shows a
//! refresh that may be the awaited one running or starting
//! ([`shows_a_live_refresh`]), no pause is longer than the sparse step,
//! whatever the schedule says; and no history or schedule stretches any
//! pause past [`MAX_PLANNED_STEP`]. The forecast only decides how sparse
//! the polls may be.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::api::{CacheStatus, ExecutionKind, Status};
use crate::forecast::Forecast;
use crate::schedule::Schedule;

/// No pause a history or a schedule plans is longer than this (unless
/// `--max-interval` is): a history claiming 23-hour runs, or a scheduled
/// start an hour away, cannot push a poll further off.
pub const MAX_PLANNED_STEP: Duration = Duration::from_secs(5 * 60);

/// Whether a reply shows a refresh that may be the awaited one running or
/// starting: the cache `RUNNING` (or in a status this version does not
/// know), a looked-at slot whose record has not ended, or one whose record
/// is not the one the poll before showed (a new record). `before` is `None`
/// at the first sight of the cache, else the record id each looked-at slot
/// showed at the poll before (a slot that had no record is not listed).
pub fn shows_a_live_refresh(
    status: &CacheStatus,
    slots: &[ExecutionKind],
    before: Option<&[(ExecutionKind, Option<&str>)]>,
) -> bool {
    let cache_busy = matches!(status.status, Status::Running | Status::Other(_));
    cache_busy
        || slots.iter().any(|&kind| {
            let Some(now) = status.execution(kind) else {
                return false;
            };
            let was = before.map(|b| b.iter().find(|(k, _)| *k == kind).map(|(_, id)| *id));
            let new = match was {
                Some(Some(id)) => id != now.id.as_deref(),
                Some(None) => true,
                None => false,
            };
            !now.is_terminal() || new
        })
}

/// `--schedule`: how the pauses between polls are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleMode {
    /// Plan the polls from the cache's history and settings: sparse while
    /// the refresh cannot be near its end, dense around its expected end.
    Adaptive,
    /// Exponential from --initial-interval up to --max-interval, as before.
    Exponential,
}

/// The forecast, moved onto the gate's own clock: times are offsets from
/// the gate's start, so no wall clock is needed to plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When the awaited run is expected to start (a scheduled run not yet
    /// begun); `None` when it is already running.
    pub starts: Option<Duration>,
    /// The early bound of its end.
    pub early: Duration,
    /// Its most likely end.
    pub expected: Duration,
    /// The late bound of its end.
    pub late: Duration,
    /// How long such a run usually takes (sets the sparse step).
    pub usual: Duration,
    /// When the run started (or is expected to), on the gate's clock:
    /// negative when it started before the gate did.
    pub begun: SignedDuration,
    /// Where dense polling starts: the early bound, or later when the
    /// record count's estimate puts the end well after it
    /// ([`dense_from`]).
    pub dense_from: Duration,
}

impl Window {
    /// The run's age at `elapsed` (zero before it starts).
    pub fn age(&self, elapsed: Duration) -> Duration {
        Duration::try_from(signed(elapsed).saturating_sub(self.begun)).unwrap_or(Duration::ZERO)
    }
}

/// How far before the record count's estimate of the end dense polling
/// starts, as a share of the usual duration: the final count of a run
/// varies (the history's ±spread is half volume, half throughput), so the
/// estimate is off by up to about half the history's spread.
pub const PROGRESS_MARGIN: f64 = 0.15;

/// Where dense polling starts: the early bound; when the record count's
/// estimate `expected` rests on progress, [`PROGRESS_MARGIN`] of the usual
/// duration before it if that is later. The count moving as expected is
/// evidence that the run is alive and where it is, so the polls it saves
/// near a distant end go to the middle of the run, where failures are seen.
pub fn dense_from(
    early: Duration,
    expected: Duration,
    usual: Duration,
    by_progress: bool,
) -> Duration {
    if !by_progress {
        return early;
    }
    early.max(expected.saturating_sub(usual.mul_f64(PROGRESS_MARGIN)))
}

impl Window {
    /// The window of `forecast`, with `server_now` (the server's clock at
    /// the latest reply) read as `elapsed` on the gate's clock.
    pub fn of(forecast: &Forecast, server_now: Timestamp, elapsed: Duration) -> Window {
        let at = |t: Timestamp| offset(elapsed, t.duration_since(server_now));
        let (early, expected) = (at(forecast.early), at(forecast.expected));
        let usual = forecast.usual.median;
        let by_progress = forecast.basis == crate::forecast::Basis::HistoryAndProgress;
        Window {
            starts: None,
            early,
            expected,
            late: at(forecast.late),
            usual,
            begun: signed(elapsed).saturating_add(forecast.started.duration_since(server_now)),
            dense_from: dense_from(early, expected, usual, by_progress),
        }
    }

    /// The window of a run expected to start at `start` and to take the
    /// usual durations (`shortest`, `median`, `longest`).
    pub fn scheduled(
        start: Timestamp,
        usual: &crate::forecast::Usual,
        server_now: Timestamp,
        elapsed: Duration,
    ) -> Window {
        let starts = offset(elapsed, start.duration_since(server_now));
        Window {
            starts: Some(starts),
            early: starts + usual.shortest,
            expected: starts + usual.median,
            late: starts + usual.longest,
            usual: usual.median,
            begun: signed(starts),
            dense_from: starts + usual.shortest,
        }
    }
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

/// `elapsed + delta`, never below zero.
fn offset(elapsed: Duration, delta: SignedDuration) -> Duration {
    let magnitude = delta.unsigned_abs();
    if delta.is_negative() {
        elapsed.saturating_sub(magnitude)
    } else {
        elapsed.saturating_add(magnitude)
    }
}

/// Early in a run the step between polls is this share of its age.
pub const WATCH_SHARE: f64 = 1.0;

/// In the middle of a run the step between polls, in seconds, is this
/// times the square root of the usual duration in seconds.
pub const MIDDLE_FACTOR: f64 = 1.0;

/// In the middle of a run no step is shorter than this many dense steps
/// (7 s by default): there only a failure can be seen, and a step of 3.5
/// detection delays sees it about 1.5 detection delays late, nearly as
/// soon as the end (issue 20 §3). Polling a short run's middle almost as
/// densely as its end (5.5 s against 4 s for 30 s) cost a request per
/// refresh and met no target that this step misses.
pub const MIDDLE_FLOOR: f64 = 1.75;

/// The step in the middle of a run of `usual`: [`MIDDLE_FACTOR`] ×
/// √(`usual` in seconds) seconds — 5.5 s for 30 s, 11 s for 2 minutes,
/// 24 s for 10, 60 s for an hour. A failure at a random point is seen
/// about half a step late and the step costs usual / step polls, so the
/// step grows as the square root: fewer polls per minute of a long run,
/// each failure seen later, in proportion to the wait.
pub fn middle_step(usual: Duration) -> Duration {
    Duration::from_secs_f64(MIDDLE_FACTOR * usual.as_secs_f64().sqrt())
}

/// The longest random wait before the forecast's reads.
pub const MAX_READ_JITTER: Duration = Duration::from_secs(1);

/// Where in the plan a moment falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No forecast: the exponential schedule.
    Blind,
    /// Waiting for a scheduled run to start.
    BeforeStart,
    /// Before the early bound: sparse polls.
    Sparse,
    /// Between the bounds: dense polls.
    Dense,
    /// Past the late bound: the exponential schedule again.
    Overdue,
}

/// The knobs of the planned schedule, from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    /// `--max-interval`: the floor of the sparse step, the ceiling of the dense one.
    pub max_interval: Duration,
    /// `--detection-delay`: the dense step is twice this.
    pub detection_delay: Duration,
    /// `--stall-timeout`: no pause is longer than half of it.
    pub stall_timeout: Option<Duration>,
}

/// The planned schedule: the exponential one (kept by the caller, so that
/// without a window nothing changes), reshaped by a window when there is one.
#[derive(Debug, Clone)]
pub struct Planner {
    knobs: Knobs,
    window: Option<Window>,
    /// The last reply shows a refresh under way ([`shows_a_live_refresh`]).
    live: bool,
    /// `None` turns jitter off, as for the exponential schedule.
    rng: Option<fastrand::Rng>,
}

impl Planner {
    /// A planner jittered with `rng` (`None`: no jitter).
    pub fn new(knobs: Knobs, rng: Option<fastrand::Rng>) -> Planner {
        Planner {
            knobs,
            window: None,
            live: false,
            rng,
        }
    }

    /// Sets (or clears) the forecast's window; may change at every poll.
    pub fn set_window(&mut self, window: Option<Window>) {
        self.window = window;
    }

    /// Says whether the last reply shows a refresh that may be the awaited
    /// one running or starting ([`shows_a_live_refresh`]); set at every poll.
    pub fn set_live(&mut self, live: bool) {
        self.live = live;
    }

    /// A random wait before the forecast's reads (at most
    /// [`MAX_READ_JITTER`], and a tenth of `budget`): a fleet of gates
    /// started together would otherwise all send them in the same instant.
    /// Zero without jitter.
    pub fn read_jitter(&mut self, budget: Duration) -> Duration {
        match self.rng.as_mut() {
            Some(rng) => MAX_READ_JITTER.min(budget / 10).mul_f64(rng.f64()),
            None => Duration::ZERO,
        }
    }

    /// The step between sparse polls, the bound on any pause while a
    /// refresh is under way: max(`--max-interval`, a tenth of the usual
    /// duration, at most [`MAX_PLANNED_STEP`]), and at most half of
    /// `--stall-timeout`.
    pub fn sparse_step(&self, usual: Duration) -> Duration {
        self.cap(
            self.knobs
                .max_interval
                .max((usual / 10).min(MAX_PLANNED_STEP)),
        )
    }

    /// The longest planned pause, even before anything runs:
    /// max(`--max-interval`, [`MAX_PLANNED_STEP`]), at most half of
    /// `--stall-timeout`.
    pub fn longest_step(&self) -> Duration {
        self.cap(self.knobs.max_interval.max(MAX_PLANNED_STEP))
    }

    /// The step between dense polls: twice `--detection-delay`, but never
    /// longer than `--max-interval`.
    pub fn dense_step(&self) -> Duration {
        self.cap(
            self.knobs
                .detection_delay
                .saturating_mul(2)
                .min(self.knobs.max_interval),
        )
    }

    /// The step while the run cannot be near its end, at `elapsed`: a
    /// [`WATCH_SHARE`] of the run's age (failures cluster early: bad
    /// credentials or a source that does not answer fail a run in its first
    /// moments), growing to the [`middle_step`] or [`MIDDLE_FLOOR`] dense
    /// steps, whichever is longer; never shorter than the dense step, never
    /// longer than the sparse one.
    pub fn watch_step(&self, window: &Window, elapsed: Duration) -> Duration {
        let dense = self.dense_step();
        let middle = middle_step(window.usual).max(dense.mul_f64(MIDDLE_FLOOR));
        let early = window.age(elapsed).mul_f64(WATCH_SHARE).max(dense);
        early.min(middle).min(self.sparse_step(window.usual))
    }

    fn cap(&self, step: Duration) -> Duration {
        match self.knobs.stall_timeout {
            Some(stall) => step.min(stall / 2).max(Duration::from_millis(1)),
            None => step,
        }
    }

    /// Where `elapsed` falls in the plan.
    pub fn phase(&self, elapsed: Duration) -> Phase {
        match &self.window {
            None => Phase::Blind,
            Some(w) if w.starts.is_some_and(|s| elapsed < s) => Phase::BeforeStart,
            Some(w) if elapsed < w.dense_from.max(w.early) => Phase::Sparse,
            Some(w) if elapsed < w.late => Phase::Dense,
            Some(_) => Phase::Overdue,
        }
    }

    /// The pause before the next poll, `elapsed` after the gate started:
    /// `exponential`'s next one without a window or past its late bound.
    /// The caller still cuts it at the deadline and stretches it to a
    /// `Retry-After` ([`crate::schedule::pause`]).
    pub fn next_delay(&mut self, elapsed: Duration, exponential: &mut Schedule) -> Duration {
        let Some(window) = self.window else {
            return exponential.next_delay();
        };
        let dense = self.dense_step();
        match self.phase(elapsed) {
            Phase::Blind | Phase::Overdue => exponential.next_delay(),
            Phase::BeforeStart => {
                // Nothing scheduled can end (or fail) before it starts:
                // sleep until one dense step after its expected start, but
                // an unscheduled run (a manual trigger, an earlier pipeline
                // step) may be under way already: then only sparsely.
                let until = window.starts.unwrap_or(elapsed) + dense;
                let most = if self.live {
                    self.jittered(self.sparse_step(window.usual))
                } else {
                    self.longest_step()
                };
                until.saturating_sub(elapsed).min(most)
            }
            Phase::Sparse => {
                let to_dense = window.dense_from.max(window.early).saturating_sub(elapsed);
                if to_dense <= dense {
                    return self.around(dense);
                }
                // Not later than a random moment of the first dense step:
                // gates waiting for the same cache share its window, and
                // must not all poll in the instant it opens.
                let first_dense = to_dense + self.fraction(dense);
                let bound = self.sparse_step(window.usual);
                let watch = self.watch_step(&window, elapsed);
                self.spread(watch).min(bound).min(first_dense)
            }
            Phase::Dense => self.around(dense),
        }
    }

    /// A point within 65%–115% of `step`, at most `--max-interval`: an end
    /// falling at a random moment lands more often in a long gap than in a
    /// short one, so gaps of 0.9 × `step` on average make its median
    /// detection delay about `step` / 2, the `--detection-delay` asked for.
    fn around(&mut self, step: Duration) -> Duration {
        self.spread(step).min(self.knobs.max_interval)
    }

    /// A point within 65%–115% of `step` (`step` without jitter).
    fn spread(&mut self, step: Duration) -> Duration {
        match self.rng.as_mut() {
            Some(rng) => step.mul_f64(0.65 + 0.5 * rng.f64()),
            None => step,
        }
    }

    /// A random part of `step` (none without jitter).
    fn fraction(&mut self, step: Duration) -> Duration {
        match self.rng.as_mut() {
            Some(rng) => step.mul_f64(rng.f64()),
            None => Duration::ZERO,
        }
    }

    /// A point in the upper half of `step`, like the exponential schedule.
    fn jittered(&mut self, step: Duration) -> Duration {
        match self.rng.as_mut() {
            Some(rng) => {
                let half = step / 2;
                half + half.mul_f64(rng.f64())
            }
            None => step,
        }
    }
}

#[cfg(test)]
mod tests;
