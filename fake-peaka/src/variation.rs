//! Refreshes whose end varies as the simulation's model says
//! (`fake-peaka --seed N --spread PCT`), so that a benchmark against the
//! fake meets the same uncertainty as `src/simulation.rs` models, instead
//! of a refresh that always lasts exactly its nominal length.
//!
//! The model, for a scenario of nominal length D (`completes-after-D`,
//! `fails-after-D`, …): the awaited run lasts D × (1 ± spread), drawn
//! uniformly; its records grow linearly to a final count of 100 per
//! nominal second × (1 ± spread/2), so half of the variation is volume
//! and half throughput; a failing run fails somewhere in the middle 80 %
//! of its drawn duration. The [`PAST_RUNS`] past runs of the history are
//! drawn the same way. Every draw comes from the seed and the cache id
//! (tag included), so the same seed gives the same ends, and two tags
//! give two independent refreshes.

use std::time::Duration;

use crate::history::PAST_RUNS;

/// Records per nominal second of a refresh, as the fixed scenarios grow.
pub(crate) const RECORDS_PER_SECOND: f64 = 100.0;

/// The spread `--spread` defaults to (±20 %), as the simulation's middle cells.
pub const DEFAULT_SPREAD: f64 = 0.2;

/// The largest `--spread` (in percent): a refresh must keep some length.
pub const MAX_SPREAD_PERCENT: f64 = 90.0;

/// `--seed N [--spread PCT]`: refreshes vary, reproducibly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Variation {
    /// The seed every draw derives from (with the cache id).
    pub seed: u64,
    /// How far durations stray from the nominal length (0.2 = ±20 %).
    pub spread: f64,
}

/// One run as drawn: how long it lasts and how many records it adds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Run {
    /// From its start to its end (for a failing run, to its failure).
    pub(crate) lasts: Duration,
    /// Records added per second while it runs.
    pub(crate) per_second: f64,
}

/// What a cache's refresh and its history look like under a variation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Drawn {
    /// The awaited run.
    pub(crate) current: Run,
    /// The past runs, newest first.
    pub(crate) past: Vec<Run>,
}

impl Variation {
    /// Reads `--spread`: a percentage (`20` or `20%`) from 0 to
    /// [`MAX_SPREAD_PERCENT`].
    pub fn parse_spread(text: &str) -> Result<f64, String> {
        let number = text.trim().trim_end_matches('%');
        match number.parse::<f64>() {
            Ok(pct) if (0.0..=MAX_SPREAD_PERCENT).contains(&pct) => Ok(pct / 100.0),
            _ => Err(format!(
                "--spread '{text}' is not a percentage from 0 to {MAX_SPREAD_PERCENT} (e.g. --spread 20 for ±20 %)"
            )),
        }
    }

    /// The draws for `cache` (its whole id, tag included), whose nominal
    /// length is `nominal`; `fails` when the run fails rather than ends.
    pub(crate) fn draw(&self, cache: &str, nominal: Duration, fails: bool) -> Drawn {
        let mut rng = SplitMix(self.seed ^ fnv1a(cache));
        let volume = RECORDS_PER_SECOND * nominal.as_secs_f64();
        let one = |rng: &mut SplitMix| {
            let lasts = nominal.mul_f64((1.0 + self.spread * rng.signed()).max(0.01));
            let records = volume * (1.0 + self.spread / 2.0 * rng.signed());
            let secs = lasts.as_secs_f64();
            Run {
                lasts,
                per_second: if secs > 0.0 { records / secs } else { 0.0 },
            }
        };
        let past = (0..PAST_RUNS).map(|_| one(&mut rng)).collect();
        let mut current = one(&mut rng);
        if fails {
            current.lasts = current.lasts.mul_f64(0.1 + 0.8 * rng.unit());
        }
        Drawn { current, past }
    }
}

/// FNV-1a: a stable hash of the cache id (std's hasher may change between
/// Rust releases, and the same seed must give the same ends on any build).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// SplitMix64: small, stable across builds, and good enough for draws
/// that only need to be uniform and reproducible.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-1, 1).
    fn signed(&mut self) -> f64 {
        2.0 * self.unit() - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_MINUTES: Duration = Duration::from_secs(120);

    fn variation(seed: u64) -> Variation {
        Variation {
            seed,
            spread: DEFAULT_SPREAD,
        }
    }

    #[test]
    fn the_same_seed_and_cache_give_the_same_end() {
        let a = variation(7).draw("completes-after-2m~a", TWO_MINUTES, false);
        assert_eq!(
            a,
            variation(7).draw("completes-after-2m~a", TWO_MINUTES, false)
        );
        assert_ne!(
            a,
            variation(8).draw("completes-after-2m~a", TWO_MINUTES, false)
        );
        assert_ne!(
            a,
            variation(7).draw("completes-after-2m~b", TWO_MINUTES, false)
        );
        assert_eq!(a.past.len(), PAST_RUNS);
    }

    #[test]
    fn ends_and_records_vary_within_the_spread_as_the_model_says() {
        let mut lasts = Vec::new();
        let mut records = Vec::new();
        for i in 0..2000 {
            let drawn = variation(1).draw(&format!("completes-after-2m~{i}"), TWO_MINUTES, false);
            for run in drawn.past.iter().chain([&drawn.current]) {
                let secs = run.lasts.as_secs_f64();
                lasts.push(secs);
                records.push(run.per_second * secs);
            }
        }
        let range = |v: &[f64]| {
            let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            (min, max)
        };
        // Durations fill ±20 % of 120 s (not one fixed length), records ±10 % of 12,000.
        let (lo, hi) = range(&lasts);
        assert!(
            (96.0..97.0).contains(&lo) && (143.0..=144.0).contains(&hi),
            "{lo}..{hi}"
        );
        let (lo, hi) = range(&records);
        assert!(
            (10_800.0..10_850.0).contains(&lo) && (13_150.0..=13_200.0).contains(&hi),
            "{lo}..{hi}"
        );
        // Uniform: about half of the runs end within ±10 % of the nominal length.
        let near = lasts.iter().filter(|s| (108.0..132.0).contains(*s)).count() as f64;
        let share = near / lasts.len() as f64;
        assert!((0.47..0.53).contains(&share), "{share}");
    }

    #[test]
    fn a_failing_run_fails_in_the_middle_of_its_duration() {
        for i in 0..500 {
            let cache = format!("fails-after-2m~{i}");
            let ends = variation(3).draw(&cache, TWO_MINUTES, false).current;
            let fails = variation(3).draw(&cache, TWO_MINUTES, true).current;
            let share = fails.lasts.as_secs_f64() / ends.lasts.as_secs_f64();
            assert!((0.1..0.9).contains(&share), "{cache}: {share}");
            assert_eq!(fails.per_second, ends.per_second);
        }
    }

    #[test]
    fn no_spread_is_the_nominal_refresh() {
        let none = Variation {
            seed: 5,
            spread: 0.0,
        };
        let drawn = none.draw("completes-after-2m", TWO_MINUTES, false);
        for run in drawn.past.iter().chain([&drawn.current]) {
            assert_eq!(run.lasts, TWO_MINUTES);
            assert!((run.per_second - RECORDS_PER_SECOND).abs() < 1e-9);
        }
    }

    #[test]
    fn spread_reads_a_percentage() {
        assert_eq!(Variation::parse_spread("20"), Ok(0.2));
        assert_eq!(Variation::parse_spread("50%"), Ok(0.5));
        assert_eq!(Variation::parse_spread("0"), Ok(0.0));
        for bad in ["-5", "95", "x", ""] {
            let err = Variation::parse_spread(bad).unwrap_err();
            assert!(err.contains("--spread") && err.contains(bad), "{err}");
        }
    }
}
