//! A scenario's execution history before it began: [`PAST_RUNS`] runs of
//! each slot on a [`SCHEDULE_PERIOD`] schedule, so that a client can
//! forecast the current run's end.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::play::execution_at;
use crate::scenarios::{End, Scenario};
use crate::variation::Variation;

/// The schedule every scenario's settings show for both slots.
pub const SCHEDULE_PERIOD: &str = "PT15M";

/// How many past runs of each slot a scenario's history holds (see `past_runs`).
pub const PAST_RUNS: usize = 12;

/// The durations of the past runs, as shares of the scenario's duration:
/// ±15% around it, median 1.0.
pub(crate) const PAST_FACTORS: [f64; PAST_RUNS] = [
    0.95, 1.10, 0.85, 1.00, 1.05, 0.90, 1.15, 0.98, 1.02, 0.88, 1.08, 1.00,
];

/// The running time the scenario's refresh has, if it has one: its past
/// runs took about as long.
pub(crate) fn usual_length(scenario: &Scenario) -> Option<Duration> {
    match scenario {
        Scenario::Refresh { after, .. }
        | Scenario::Triggered { after, .. }
        | Scenario::Flips { after, .. } => Some(*after).filter(|a| !a.is_zero()),
        _ => None,
    }
}

/// [`PAST_RUNS`] completed runs of each slot before the scenario began,
/// one every [`SCHEDULE_PERIOD`] (newest first), lasting about as long as
/// the scenario's refresh and ending with as many records as it will
/// (1000 + 100 per second), so that a client can forecast its end. The
/// scenario's own run is the scheduled one; for an idle cache (a
/// `triggered-…` scenario) the last run started 5 minutes before the
/// first request, so the next is due 10 minutes after it.
/// Scenarios without a duration have no past runs.
/// Under `--seed` ([`Variation`]), a `Refresh` scenario's past runs are
/// drawn as the simulation's model draws them instead.
pub(crate) fn past_runs(
    cache: &str,
    start: Timestamp,
    variation: Option<&Variation>,
) -> Vec<Value> {
    let scenario = Scenario::parse(cache);
    let Some(length) = scenario.as_ref().and_then(usual_length) else {
        return Vec::new();
    };
    let drawn = match (&scenario, variation) {
        (Some(Scenario::Refresh { .. }), Some(variation)) => {
            Some(variation.draw(cache, length, false).past)
        }
        _ => None,
    };
    // How long before the first request the newest past run started.
    let newest_ago = match scenario {
        Some(Scenario::Triggered { .. }) => 5,
        _ => 15,
    };
    let mut runs = Vec::new();
    for (i, factor) in PAST_FACTORS.iter().enumerate() {
        for (slot, mode) in [("incremental", "INCREMENTAL"), ("full", "FULL_REFRESH")] {
            let ago = SignedDuration::from_mins(newest_ago + 15 * i as i64);
            let created = start.checked_sub(ago).unwrap_or(start);
            let (took, per_second) = match drawn.as_ref().and_then(|past| past.get(i)) {
                Some(run) => (run.lasts, Some(run.per_second)),
                None => (length.mul_f64(*factor), None),
            };
            let mut run = execution_at(
                &format!("{cache}-{slot}-past-{}", i + 1),
                created,
                took,
                End::Completed,
                took,
                per_second,
            );
            run["executionMode"] = json!(mode);
            runs.push(run);
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_with_a_duration_have_a_history_around_it() {
        let start: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        let runs = past_runs("completes-after-2m~x", start, None);
        assert_eq!(runs.len(), 2 * PAST_RUNS);
        let mut took: Vec<i64> = runs
            .iter()
            .filter(|r| r["executionMode"] == "INCREMENTAL")
            .map(|r| {
                let at = |f: &str| r[f].as_str().unwrap().parse::<Timestamp>().unwrap();
                assert!(at("createdAt") < start);
                at("finishedAt").duration_since(at("createdAt")).as_secs()
            })
            .collect();
        took.sort();
        assert_eq!((took[0], took[6], took[11]), (102, 120, 138));
        assert!(past_runs("stuck", start, None).is_empty());
        // Under --seed the past runs are the drawn ones: within ±20 %, not
        // the fixed factors, and the same for the same seed.
        let varied = Variation {
            seed: 4,
            spread: 0.2,
        };
        let drawn = past_runs("completes-after-2m~x", start, Some(&varied));
        assert_eq!(
            drawn,
            past_runs("completes-after-2m~x", start, Some(&varied))
        );
        assert_ne!(drawn, runs);
        for run in &drawn {
            let at = |f: &str| run[f].as_str().unwrap().parse::<Timestamp>().unwrap();
            let took = at("finishedAt")
                .duration_since(at("createdAt"))
                .as_secs_f64();
            assert!((96.0..=144.0).contains(&took), "{took}");
        }
        assert!(
            past_runs("triggered-completes-after-2m", start, Some(&varied))
                .iter()
                .zip(past_runs("triggered-completes-after-2m", start, None).iter())
                .all(|(a, b)| a == b)
        );
        assert!(past_runs("finished-ago-1m", start, None).is_empty());
    }
}
