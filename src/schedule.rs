//! The poll schedule: when the next poll happens.
//!
//! Exponential from `--initial-interval`, doubling up to `--max-interval`,
//! with "equal jitter" (each delay is drawn from the upper half of its step)
//! so that many gates started together spread out instead of polling in
//! lockstep, and never later than the deadline.
//!
//! This is a small schedule of our own rather than `backon`: the gate's
//! cadence is per poll, not per failed attempt, and it must be cut by the
//! deadline and stretched by `Retry-After` — two rules that would have to be
//! bolted onto a retry crate anyway. (`backoff` is out: RUSTSEC-2025-0012.)

use std::time::Duration;

/// The longest random wait before the first poll (see [`Schedule::first_delay`]).
pub const MAX_START_JITTER: Duration = Duration::from_secs(1);

/// The sequence of pauses between polls.
#[derive(Debug, Clone)]
pub struct Schedule {
    step: Duration,
    max: Duration,
    /// `None` turns jitter off (benchmarks compare against it).
    rng: Option<fastrand::Rng>,
}

impl Schedule {
    /// A schedule starting at `initial` and doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self::with_rng(initial, max, fastrand::Rng::new())
    }

    /// The same with a seeded generator, so that tests are repeatable.
    pub fn with_rng(initial: Duration, max: Duration, rng: fastrand::Rng) -> Self {
        Schedule {
            step: initial.min(max),
            max,
            rng: Some(rng),
        }
    }

    /// A schedule without jitter: every pause is exactly its step, and the
    /// first poll is not delayed. Only for measuring what jitter buys.
    pub fn without_jitter(initial: Duration, max: Duration) -> Self {
        Schedule {
            step: initial.min(max),
            max,
            rng: None,
        }
    }

    /// A random wait before the very first poll, below half the initial
    /// interval (at most [`MAX_START_JITTER`]) and a tenth of `budget`: gates
    /// started together (a rollout of many pods) then do not all hit the
    /// API in the same instant.
    pub fn first_delay(&mut self, budget: Duration) -> Duration {
        let Some(rng) = self.rng.as_mut() else {
            return Duration::ZERO;
        };
        let ceiling = (self.step / 2).min(MAX_START_JITTER).min(budget / 10);
        ceiling.mul_f64(rng.f64())
    }

    /// The pause before the next poll: a point in the upper half of the
    /// current step, so never above `--max-interval`. Then the step doubles.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = step.saturating_mul(2).min(self.max);
        match self.rng.as_mut() {
            Some(rng) => {
                let half = step / 2;
                half + half.mul_f64(rng.f64())
            }
            None => step,
        }
    }
}

/// The pause actually slept: the schedule's delay, stretched to the
/// server's `Retry-After` if that is longer, and cut so that the last poll
/// happens at the deadline rather than after it.
pub fn pause(delay: Duration, retry_after: Option<Duration>, until_deadline: Duration) -> Duration {
    delay
        .max(retry_after.unwrap_or_default())
        .min(until_deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn steps_double_up_to_the_max_and_jitter_stays_in_the_upper_half() {
        let mut schedule = Schedule::with_rng(S(1), S(30), fastrand::Rng::with_seed(7));
        let steps = [1, 2, 4, 8, 16, 30, 30, 30];
        for step in steps {
            let delay = schedule.next_delay();
            assert!(
                delay >= S(step) / 2 && delay <= S(step),
                "step {step}s gave {delay:?}"
            );
        }
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let mut schedule = Schedule::with_rng(S(30), S(30), fastrand::Rng::with_seed(1));
        let delays: Vec<Duration> = (0..50).map(|_| schedule.next_delay()).collect();
        let (min, max) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
        assert!(
            *max - *min > S(5),
            "50 draws all within 5s: {min:?}..{max:?}"
        );
    }

    #[test]
    fn an_initial_interval_above_the_max_is_capped() {
        let mut schedule = Schedule::with_rng(S(60), S(10), fastrand::Rng::with_seed(3));
        assert!(schedule.next_delay() <= S(10));
    }

    #[test]
    fn pause_honours_retry_after_and_the_deadline() {
        let table = [
            // delay, retry-after, until deadline → pause
            (2, None, 100, 2),
            (2, Some(7), 100, 7),
            (9, Some(7), 100, 9),
            (9, None, 4, 4),
            (2, Some(60), 5, 5),
            (2, None, 0, 0),
        ];
        for (delay, retry_after, until, want) in table {
            assert_eq!(
                pause(S(delay), retry_after.map(S), S(until)),
                S(want),
                "{delay} {retry_after:?} {until}"
            );
        }
    }

    #[test]
    fn the_first_poll_is_spread_but_bounded() {
        let mut schedule = Schedule::with_rng(S(1), S(30), fastrand::Rng::with_seed(5));
        let delays: Vec<Duration> = (0..100).map(|_| schedule.first_delay(S(1800))).collect();
        assert!(
            delays.iter().all(|d| *d < Duration::from_millis(500)),
            "{delays:?}"
        );
        assert!(
            delays.iter().max().unwrap() > &Duration::from_millis(250),
            "not spread: {delays:?}"
        );
        // A short timeout bounds it: never more than a tenth of it.
        assert!(schedule.first_delay(Duration::from_millis(600)) <= Duration::from_millis(60));
        let mut long = Schedule::with_rng(S(60), S(60), fastrand::Rng::with_seed(5));
        assert!((0..100).all(|_| long.first_delay(S(1800)) < MAX_START_JITTER));
    }

    #[test]
    fn without_jitter_every_pause_is_its_step() {
        let mut schedule = Schedule::without_jitter(S(1), S(4));
        assert_eq!(schedule.first_delay(S(1800)), Duration::ZERO);
        let delays: Vec<Duration> = (0..4).map(|_| schedule.next_delay()).collect();
        assert_eq!(delays, [S(1), S(2), S(4), S(4)]);
    }
}
