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
//! failure at a random point is seen about half a step late) — densely
//! through the window, and exponentially again after its late bound. When
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
    /// moments), growing to the [`middle_step`]; never
    /// shorter than the dense step, never longer than the sparse one.
    pub fn watch_step(&self, window: &Window, elapsed: Duration) -> Duration {
        let dense = self.dense_step();
        let middle = middle_step(window.usual).max(dense);
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
mod tests {
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
            (30, 500, 30, None, 5_477),
            (9, 500, 30, None, 4_000), // √9 = 3 s: the dense step
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
            let body = format!(
                r#"{{"id":"c","status":"{top}","lastIncrementalCacheExecution":{record}}}"#
            );
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
}
