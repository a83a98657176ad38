//! The server's clock against ours, from its `Date` header, so that `now`
//! and durations in TIME are read on the clock that stamps executions.
//!
//! A `Date` header is a claim, not a fact, so a correction must earn its
//! place: a reading beyond [`MAX_SKEW`] or earlier than the timestamps the
//! same reply reports is discarded; the correction is the median of the
//! last readings; and one that makes the bounds more lenient (the server's
//! clock behind ours) needs [`LENIENT_READINGS`] readings that agree, while
//! one that makes them stricter applies at once.

use std::collections::VecDeque;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::{MAX_SKEW, SKEW_TOLERANCE};
use crate::client::Reply;
use crate::timespec::format_duration;

/// How many readings the median is taken over.
const READINGS: usize = 7;

/// How many readings a correction towards the past needs.
pub const LENIENT_READINGS: usize = 3;

/// What is known of the server's clock.
#[derive(Debug, Default)]
pub(super) struct Clock {
    /// The last readings (server minus ours), newest last.
    readings: VecDeque<SignedDuration>,
    /// The correction in force.
    correction: SignedDuration,
    /// Whether a discarded `Date` was already reported.
    warned_discarded: bool,
}

impl Clock {
    /// An instant of our clock, read on the server's.
    pub(super) fn on_server(&self, ours: Timestamp) -> Timestamp {
        ours.checked_add(self.correction).unwrap_or(ours)
    }

    /// Takes in one reading: the server's `Date`, when we received it, and
    /// the latest time the reply itself reports. Returns why the reading
    /// was discarded, if it was.
    fn take(
        &mut self,
        date: Timestamp,
        received_at: Timestamp,
        latest_reported: Option<Timestamp>,
    ) -> Result<(), String> {
        // `Date` is truncated to the second: on average half a second early.
        let reading = date.duration_since(received_at) + SignedDuration::from_millis(500);
        if reading.abs() > MAX_SKEW {
            return Err(format!(
                "its Date header is {} away from this machine's clock, more than the {} peaka-wait corrects for",
                format_duration(abs(reading)),
                format_duration(abs(MAX_SKEW))
            ));
        }
        // A server whose "now" is before its own latest timestamp is wrong
        // about now (a second of truncation, plus noise, is allowed).
        if let Some(latest) = latest_reported {
            let date_ceiling = date + SignedDuration::from_secs(1) + SKEW_TOLERANCE;
            if date_ceiling < latest {
                return Err(format!(
                    "its Date header ({date}) is earlier than a time it reports itself ({latest})"
                ));
            }
        }
        self.readings.push_back(reading);
        if self.readings.len() > READINGS {
            self.readings.pop_front();
        }
        let median = median(&self.readings);
        self.correction = if median.abs() <= SKEW_TOLERANCE
            || (median.is_negative() && self.readings.len() < LENIENT_READINGS)
        {
            SignedDuration::ZERO
        } else {
            median
        };
        Ok(())
    }

    /// The correction in force.
    pub(super) fn correction(&self) -> SignedDuration {
        self.correction
    }
}

fn median(readings: &VecDeque<SignedDuration>) -> SignedDuration {
    let mut sorted: Vec<SignedDuration> = readings.iter().copied().collect();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn abs(d: SignedDuration) -> Duration {
    Duration::try_from(d.abs()).unwrap_or(Duration::MAX)
}

impl Clock {
    /// Measures the server's clock against ours from a reply's `Date`,
    /// checked against `latest_reported`, the latest time the reply holds;
    /// warns once of a `Date` discarded, and of each correction that moves.
    pub(super) fn measure<T>(&mut self, reply: &Reply<T>, latest_reported: Option<Timestamp>) {
        let Some(date) = reply.server_date else {
            return;
        };
        let before = self.correction();
        match self.take(date, reply.received_at, latest_reported) {
            Err(why) => {
                if !self.warned_discarded {
                    self.warned_discarded = true;
                    tracing::warn!("not correcting for the server's clock: {why}");
                }
            }
            Ok(()) => {
                let after = self.correction();
                if after != before && (after - before).abs() > SKEW_TOLERANCE {
                    let direction = if after.is_negative() {
                        "behind"
                    } else {
                        "ahead of"
                    };
                    tracing::warn!(
                        skew_ms = after.as_millis() as i64,
                        "the server's clock is {} {direction} this machine's; reading --since / --started-after given as `now` or a duration on the server's clock",
                        format_duration(Duration::from_secs(
                            after
                                .abs()
                                .round(jiff::Unit::Second)
                                .map_or(0, |d| d.as_secs().unsigned_abs())
                        ))
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn corrections_earn_their_place() {
        let received = t(0);
        // [date offset s, latest reported offset s, accepted?, correction s after]
        // (date offset s, latest reported offset s, accepted?)
        type Readings = &'static [(i64, Option<i64>, bool)];
        let table: [(&str, Readings, i64); 6] = [
            ("within tolerance is no correction", &[(3, None, true)], 0),
            ("ahead applies at once", &[(120, None, true)], 120),
            (
                "behind needs three readings",
                &[(-120, None, true), (-120, None, true)],
                0,
            ),
            (
                "three behind apply",
                &[(-120, None, true), (-121, None, true), (-119, None, true)],
                -120,
            ),
            (
                "a day off is discarded",
                &[(-86_400, None, false), (172_800, None, false)],
                0,
            ),
            (
                "a date before its own timestamps is discarded",
                &[(-600, Some(-60), false), (0, Some(-60), true)],
                0,
            ),
        ];
        for (name, readings, want) in table {
            let mut clock = Clock::default();
            for &(offset, latest, accepted) in readings {
                let result = clock.take(t(offset), received, latest.map(t));
                assert_eq!(result.is_ok(), accepted, "{name}: {result:?}");
            }
            // Readings carry the half second `Date` truncation costs.
            let got = clock.correction().as_secs();
            assert!((got - want).abs() <= 1, "{name}: {got} s, want {want} s");
        }
    }

    #[test]
    fn a_reply_without_a_date_or_with_a_discarded_one_changes_nothing() {
        let mut clock = Clock::default();
        let reply = |date| Reply {
            value: (),
            server_date: date,
            received_at: t(0),
        };
        clock.measure(&reply(None), None);
        assert!(clock.readings.is_empty());
        clock.measure(&reply(Some(t(-86_400))), None);
        assert_eq!(clock.correction(), SignedDuration::ZERO);
        assert!(clock.warned_discarded);
        clock.measure(&reply(Some(t(120))), None);
        assert_eq!(clock.correction().as_secs(), 120);
    }

    #[test]
    fn one_lying_reading_among_honest_ones_is_outvoted() {
        let mut clock = Clock::default();
        for offset in [-3000, 0, 0, 0, 1] {
            let _ = clock.take(t(offset), t(0), None);
        }
        assert_eq!(clock.correction(), SignedDuration::ZERO);
    }
}
