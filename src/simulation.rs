//! A virtual-time model of one gate waiting for one refresh, for the
//! benchmark (`cargo run --release --example simulate`) and the schedule's
//! tests. It drives the real [`crate::forecast`] and [`crate::planned`] code
//! (and the real exponential [`Schedule`]); only the API is modelled.
//!
//! The model: a cache has 12 past runs whose durations are drawn uniformly
//! within ±spread of a nominal length, and whose final record counts vary
//! by ±spread/2 (so half of the variation is volume, half throughput); the
//! awaited run is drawn the same way, its record count growing linearly.
//! A hostile history claims another nominal length than the awaited run's
//! ([`Setup::claimed`]). Every reply before the end shows the run under way.
//! The gate starts at a random moment within the first quarter of the run
//! (the random start phase), polls at once (adaptive waits the start
//! jitter that spreads a fleet in its first pause), reads the history in
//! the pause after its first poll (1 request, as the real gate does while
//! a run is under way: the settings matter only while nothing runs; the
//! read itself takes no virtual time), and polls until it sees the end,
//! the run fails, or its `--timeout` passes.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::api::{Execution, ExecutionKind, Progress, Stamp, Status};
use crate::forecast::{self, Current, Sample};
use crate::planned::{Knobs, Planner, Window};
use crate::schedule::{Schedule, pause};

/// How a simulated gate paces its polls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// `--schedule adaptive` with these knobs and `--initial-interval`.
    Adaptive {
        /// `--initial-interval`.
        initial: Duration,
        /// `--max-interval`, `--detection-delay`, `--stall-timeout`.
        knobs: Knobs,
    },
    /// `--schedule exponential` from `initial` up to `max`.
    Exponential {
        /// `--initial-interval`.
        initial: Duration,
        /// `--max-interval`.
        max: Duration,
    },
    /// A blind loop polling every `period` (`sleep 10` in a curl loop).
    Periodic {
        /// The loop's period.
        period: Duration,
    },
}

impl Policy {
    /// The defaults: adaptive, 1 s → 30 s, detection delay 2 s.
    pub fn adaptive() -> Policy {
        Policy::Adaptive {
            initial: Duration::from_secs(1),
            knobs: Knobs {
                max_interval: Duration::from_secs(30),
                detection_delay: Duration::from_secs(2),
                stall_timeout: None,
            },
        }
    }

    /// Today's default: exponential 1 s → `max`.
    pub fn exponential(max: Duration) -> Policy {
        Policy::Exponential {
            initial: Duration::from_secs(1),
            max,
        }
    }
}

/// One simulated refresh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setup {
    /// The nominal length of a refresh.
    pub length: Duration,
    /// How far durations stray from it (0.2 = ±20%).
    pub spread: f64,
    /// Past runs in the history (0 = no history).
    pub history: usize,
    /// The nominal length the history's runs have, when it is not
    /// `length` (a history that lies: runs of 23 hours before one of 2 minutes).
    pub claimed: Option<Duration>,
    /// Whether the awaited run fails (somewhere in its middle 80%).
    pub fails: bool,
    /// The gate's `--timeout`.
    pub timeout: Duration,
}

/// What one simulated gate did.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Requests sent (polls, plus history and settings reads).
    pub requests: u64,
    /// Of those, the history and settings reads.
    pub reads: u64,
    /// From the run's end (or failure) to the poll that saw it; `None`
    /// when the gate timed out first.
    pub delay: Option<Duration>,
    /// When each request went out, in time since the gate started.
    pub polls: Vec<Duration>,
    /// How long the run took (or ran until it failed), in virtual time.
    pub ends_at: Duration,
    /// When the gate started, in time since the run started.
    pub gate_started: Duration,
    /// The planner's sparse step once it had a forecast: a failure must be
    /// seen within it.
    pub sparse_step: Option<Duration>,
}

/// The server's clock at the run's start (any fixed point will do).
fn epoch() -> Timestamp {
    Timestamp::from_second(1_790_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn at(offset: Duration) -> Timestamp {
    epoch()
        .checked_add(SignedDuration::try_from(offset).unwrap_or(SignedDuration::ZERO))
        .unwrap_or(epoch())
}

/// A duration within ±spread of `length`.
fn draw(rng: &mut fastrand::Rng, length: Duration, spread: f64) -> Duration {
    length.mul_f64((1.0 + spread * (2.0 * rng.f64() - 1.0)).max(0.01))
}

/// Records at the end of a run: ±spread/2 around a nominal 100 000.
fn volume(rng: &mut fastrand::Rng, spread: f64) -> f64 {
    100_000.0 * (1.0 + spread / 2.0 * (2.0 * rng.f64() - 1.0))
}

/// The history the model's cache shows: `count` completed incremental syncs.
pub fn history(rng: &mut fastrand::Rng, setup: &Setup) -> Vec<Execution> {
    (0..setup.history)
        .map(|i| {
            let start = Duration::from_secs(3600 * (i as u64 + 1)).saturating_mul(2);
            let took = draw(rng, setup.claimed.unwrap_or(setup.length), setup.spread);
            let created = epoch()
                .checked_sub(SignedDuration::try_from(start).unwrap_or(SignedDuration::ZERO))
                .unwrap_or(epoch());
            Execution {
                id: Some(format!("past-{i}")),
                execution_mode: Some("INCREMENTAL".into()),
                status: Some(Status::Completed),
                progress: Some(Progress {
                    number_of_cached_records: Some(volume(rng, setup.spread) as i64),
                }),
                created_at: Some(created),
                finished_at: created
                    .checked_add(SignedDuration::try_from(took).unwrap_or(SignedDuration::ZERO))
                    .map_or(Stamp::Absent, Stamp::At),
                ..Execution::default()
            }
        })
        .collect()
}

/// Simulates one gate against one refresh.
pub fn simulate(rng: &mut fastrand::Rng, setup: &Setup, policy: Policy) -> Run {
    let past = history(rng, setup);
    let duration = draw(rng, setup.length, setup.spread);
    let records = volume(rng, setup.spread);
    let ends_at = if setup.fails {
        duration.mul_f64(0.1 + 0.8 * rng.f64())
    } else {
        duration
    };
    let gate_started = setup.length.mul_f64(0.25 * rng.f64());
    let seed = rng.u64(..);
    let mut run = Run {
        requests: 0,
        reads: 0,
        delay: None,
        polls: Vec::new(),
        ends_at,
        gate_started,
        sparse_step: None,
    };
    let timeout = setup.timeout;
    // The exponential schedule, and for adaptive the planner over it.
    let (mut planned, periodic) = match policy {
        Policy::Adaptive { initial, knobs } => (
            Some((
                Schedule::with_rng(initial, knobs.max_interval, fastrand::Rng::with_seed(seed)),
                Some(Planner::new(
                    knobs,
                    Some(fastrand::Rng::with_seed(seed ^ 0x5eed)),
                )),
            )),
            None,
        ),
        Policy::Exponential { initial, max } => (
            Some((
                Schedule::with_rng(initial, max, fastrand::Rng::with_seed(seed)),
                None,
            )),
            None,
        ),
        Policy::Periodic { period } => (None, Some(period)),
    };
    let adaptive = matches!(policy, Policy::Adaptive { .. });
    // The exponential schedule waits its start jitter before the first
    // poll; adaptive polls at once and waits it in its first pause.
    let mut start_jitter = planned
        .as_mut()
        .map_or(Duration::ZERO, |(s, _)| s.first_delay(timeout));
    let mut elapsed = Duration::ZERO;
    if !adaptive {
        elapsed = std::mem::take(&mut start_jitter);
    }
    let mut usual = None;
    let mut first_sample = None;
    loop {
        let now = gate_started + elapsed;
        run.requests += 1;
        run.polls.push(elapsed);
        if now >= ends_at {
            // A run that ended before the gate started is seen at once.
            run.delay = Some(now - ends_at.max(gate_started));
            return run;
        }
        if run.requests == 1 && adaptive {
            // The history, read once (a run is under way: no settings).
            run.requests += 1;
            run.reads += 1;
            usual = forecast::usual(&past, ExecutionKind::Incremental);
            run.sparse_step = usual
                .as_ref()
                .zip(planned.as_ref().and_then(|(_, p)| p.as_ref()))
                .map(|(u, p)| p.sparse_step(u.median));
        }
        let sample = Sample {
            at: at(now),
            records: (records * now.as_secs_f64() / duration.as_secs_f64()) as i64,
        };
        let first = *first_sample.get_or_insert(sample);
        // The real gate reads during the first pause, so the forecast
        // shapes the pauses from the second poll on.
        let read_yet = run.polls.len() > 1;
        if let (true, Some((_, Some(planner))), Some(usual)) =
            (read_yet, planned.as_mut(), usual.as_ref())
        {
            let current = Current {
                started: at(Duration::ZERO),
                first: Some(first),
                last: Some(sample),
            };
            let forecast = forecast::forecast(usual, &current, at(now));
            planner.set_window(Some(Window::of(&forecast, at(now), elapsed)));
            // The reply shows the run under way (a running record).
            planner.set_live(true);
        }
        if elapsed >= timeout {
            return run;
        }
        let delay = match (planned.as_mut(), periodic) {
            (Some((schedule, Some(planner))), _) if run.polls.len() == 1 => {
                // The first pause: the exponential one and the start
                // jitter; the history is read at a random moment of it and,
                // once back, stretches the pause to the planned one (from
                // the poll: no pause is longer than the planner's bound).
                let pause = schedule.next_delay() + std::mem::take(&mut start_jitter);
                let read = planner.read_jitter(pause.saturating_mul(5));
                match usual.as_ref() {
                    Some(usual) => {
                        let current = Current {
                            started: at(Duration::ZERO),
                            first: Some(first),
                            last: Some(first),
                        };
                        let then = elapsed + read;
                        let server = at(gate_started + then);
                        let forecast = forecast::forecast(usual, &current, server);
                        planner.set_window(Some(Window::of(&forecast, server, then)));
                        planner.set_live(true);
                        pause.max(planner.next_delay(then, schedule))
                    }
                    None => pause,
                }
            }
            (Some((schedule, Some(planner))), _) => planner.next_delay(elapsed, schedule),
            (Some((schedule, None)), _) => schedule.next_delay(),
            (None, Some(period)) => period,
            (None, None) => Duration::from_secs(1),
        } + std::mem::take(&mut start_jitter);
        elapsed += pause(delay, None, timeout - elapsed);
    }
}

/// Many refreshes of one setup under one policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cell {
    /// Every run.
    pub runs: Vec<Run>,
}

impl Cell {
    /// Simulates `count` refreshes, seeded for repeatability.
    pub fn simulate(seed: u64, count: usize, setup: &Setup, policy: Policy) -> Cell {
        let mut rng = fastrand::Rng::with_seed(seed);
        Cell {
            runs: (0..count)
                .map(|_| simulate(&mut rng, setup, policy))
                .collect(),
        }
    }

    /// Mean requests per refresh.
    pub fn requests(&self) -> f64 {
        let total: u64 = self.runs.iter().map(|r| r.requests).sum();
        total as f64 / self.runs.len().max(1) as f64
    }

    /// Mean status polls per refresh (requests but the reads).
    pub fn status_polls(&self) -> f64 {
        let total: u64 = self.runs.iter().map(|r| r.requests - r.reads).sum();
        total as f64 / self.runs.len().max(1) as f64
    }

    /// The `q` quantile of the requests per refresh, by rank.
    pub fn requests_at(&self, q: f64) -> u64 {
        let mut requests: Vec<u64> = self.runs.iter().map(|r| r.requests).collect();
        requests.sort_unstable();
        let last = requests.len().saturating_sub(1);
        requests
            .get((last as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0)
    }

    /// The `q` quantile (0.5 = median) of the detection delays, by rank;
    /// `None` when no run was detected.
    pub fn delay(&self, q: f64) -> Option<Duration> {
        let mut delays: Vec<Duration> = self.runs.iter().filter_map(|r| r.delay).collect();
        delays.sort();
        let last = delays.len().checked_sub(1)?;
        delays.get((last as f64 * q).round() as usize).copied()
    }

    /// A blind loop over the same runs (`seed`, `count`, `setup`) whose
    /// period makes it send `polls` status polls per refresh on average
    /// (found by bisection), and what it did.
    pub fn blind_with_as_many_polls(
        seed: u64,
        count: usize,
        setup: &Setup,
        polls: f64,
    ) -> (Duration, Cell) {
        let (mut short, mut long) = (0.05_f64, setup.length.as_secs_f64() * 3.0);
        let mut best = (Duration::ZERO, Cell::default());
        for _ in 0..40 {
            let period = Duration::from_secs_f64((short + long) / 2.0);
            let cell = Cell::simulate(seed, count, setup, Policy::Periodic { period });
            if cell.status_polls() > polls {
                short = period.as_secs_f64();
            } else {
                long = period.as_secs_f64();
            }
            best = (period, cell);
        }
        best
    }

    /// Runs that timed out before seeing the end.
    pub fn missed(&self) -> usize {
        self.runs.iter().filter(|r| r.delay.is_none()).count()
    }

    /// The longest pause between two polls of any run.
    pub fn longest_pause(&self) -> Duration {
        (self.runs.iter())
            .flat_map(|r| r.polls.windows(2).map(|w| w[1] - w[0]))
            .max()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn setup(length: u64, spread: f64) -> Setup {
        Setup {
            length: S(length),
            spread,
            history: 12,
            claimed: None,
            fails: false,
            timeout: S(length * 3),
        }
    }

    #[test]
    fn without_history_adaptive_is_exactly_the_exponential_schedule() {
        let mut no_history = setup(120, 0.2);
        no_history.history = 0;
        let adaptive = Cell::simulate(11, 200, &no_history, Policy::adaptive());
        let exponential = Cell::simulate(11, 200, &no_history, Policy::exponential(S(30)));
        for (a, e) in adaptive.runs.iter().zip(&exponential.runs) {
            // Adaptive polls at once and waits the start jitter in its
            // first pause: the same poll times after that.
            assert_eq!(a.polls[0], Duration::ZERO);
            assert_eq!(a.polls[1..], e.polls[1..], "the same poll times");
            // Only the one read of the history differs (the run is under
            // way: the settings are not read).
            let reads = if a.requests > 1 { 1 } else { 0 };
            assert_eq!(a.requests, e.requests + reads);
            assert_eq!(a.reads, reads);
        }
    }

    #[test]
    fn the_issue_20_targets_hold_in_virtual_time() {
        // (length s, requests per refresh before issue 20, failure delay
        // median target s); the simulation said 7.1 at 30 s, but the issue
        // measured 7, so at most 8.4 there.
        let table = [
            (30, 7.0, 3.0),
            (120, 15.3, 5.0),
            (600, 49.3, 10.0),
            (3600, 227.3, 30.0),
        ];
        for (length, before, target) in table {
            let completes = setup(length, 0.2);
            let cell = Cell::simulate(length + 7, 400, &completes, Policy::adaptive());
            let median = cell.delay(0.5).unwrap().as_secs_f64();
            assert!(median <= 2.2, "{length}s: success median {median}");
            assert!(
                cell.requests() <= before * 1.2,
                "{length}s: {} requests, {before} before",
                cell.requests()
            );
            let mut fails = setup(length, 0.2);
            fails.fails = true;
            let cell = Cell::simulate(length + 8, 400, &fails, Policy::adaptive());
            let (_, blind) =
                Cell::blind_with_as_many_polls(length + 8, 400, &fails, cell.status_polls());
            let median = cell.delay(0.5).unwrap().as_secs_f64();
            let blind = blind.delay(0.5).unwrap().as_secs_f64();
            assert!(median <= target, "{length}s: failure median {median}");
            assert!(
                median <= blind * 1.5,
                "{length}s: {median} vs blind {blind}"
            );
        }
    }

    #[test]
    fn a_failure_is_caught_within_one_sparse_step() {
        for length in [30, 120, 600, 3600] {
            let mut fails = setup(length, 0.2);
            fails.fails = true;
            let cell = Cell::simulate(length, 200, &fails, Policy::adaptive());
            assert_eq!(cell.missed(), 0);
            for run in &cell.runs {
                // Seen at the first poll (it failed before the gate started).
                let Some(limit) = run.sparse_step else {
                    assert_eq!(run.requests, 1);
                    assert!(run.delay.unwrap() <= crate::schedule::MAX_START_JITTER);
                    continue;
                };
                // max(--max-interval, 10% of the usual duration)
                assert!(limit >= S(30) && limit <= S(30).max(S(length).mul_f64(0.12)));
                let delay = run.delay.unwrap();
                assert!(delay <= limit, "{length}s: {delay:?} > {limit:?}: {run:?}");
            }
        }
    }

    #[test]
    fn a_history_claiming_23_hour_runs_pushes_no_pause_past_5_minutes() {
        for length in [30, 120, 600, 3600] {
            for fails in [false, true] {
                let mut hostile = setup(length, 0.2);
                hostile.claimed = Some(S(23 * 3600));
                hostile.fails = fails;
                hostile.timeout = S(length * 3).max(S(1800));
                let cell = Cell::simulate(length, 200, &hostile, Policy::adaptive());
                let longest = cell.longest_pause();
                assert!(
                    longest <= crate::planned::MAX_PLANNED_STEP,
                    "{length}s: {longest:?}"
                );
                // It was read: the sparse step is the cap, not --max-interval.
                let steps: Vec<_> = cell.runs.iter().filter_map(|r| r.sparse_step).collect();
                assert!(!steps.is_empty(), "{length}s");
                assert!(steps.iter().all(|s| *s == crate::planned::MAX_PLANNED_STEP));
                assert_eq!(cell.missed(), 0, "{length}s");
                assert!(
                    cell.delay(1.0).unwrap() <= crate::planned::MAX_PLANNED_STEP,
                    "{length}s"
                );
            }
        }
    }

    #[test]
    fn no_poll_past_the_deadline() {
        for policy in [Policy::adaptive(), Policy::exponential(S(30))] {
            let mut short = setup(600, 0.2);
            short.timeout = S(400);
            let cell = Cell::simulate(5, 100, &short, policy);
            for run in &cell.runs {
                assert!(
                    run.polls.iter().all(|p| *p <= S(400)),
                    "{policy:?}: {run:?}"
                );
                if run.delay.is_none() {
                    assert_eq!(
                        run.polls.last(),
                        Some(&S(400)),
                        "the last poll is at the deadline"
                    );
                }
            }
        }
    }

    #[test]
    fn adaptive_costs_fewer_requests_at_no_worse_a_median_delay() {
        for length in [120, 600, 3600] {
            let s = setup(length, 0.2);
            let adaptive = Cell::simulate(length + 1, 300, &s, Policy::adaptive());
            let dense = Cell::simulate(length + 1, 300, &s, Policy::exponential(S(5)));
            let default = Cell::simulate(length + 1, 300, &s, Policy::exponential(S(30)));
            let median = |c: &Cell| c.delay(0.5).unwrap().as_secs_f64();
            // Against --max-interval 5s: about the same median delay, fewer requests.
            assert!(
                median(&adaptive) <= median(&dense) + 0.3,
                "{length}s: {} vs {}",
                median(&adaptive),
                median(&dense)
            );
            // (At 2 min the reads and the sparse polls weigh more.)
            let share = if length >= 600 { 0.5 } else { 0.6 };
            assert!(
                adaptive.requests() < dense.requests() * share,
                "{length}s: {} requests vs {}",
                adaptive.requests(),
                dense.requests()
            );
            // Against the default: a far smaller delay.
            assert!(median(&adaptive) * 4.0 < median(&default), "{length}s");
            assert!(adaptive.delay(0.9).unwrap() <= S(5), "{length}s");
            assert_eq!(adaptive.missed(), 0);
        }
    }
}
