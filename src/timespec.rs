//! Parsing of the two value languages on the command line: DURATION
//! (`500ms`, `30s`, `1h30m`, a bare `0`) and TIME (an RFC 3339 timestamp,
//! `now`, or a DURATION meaning "that long before the gate started").
//!
//! jiff does the parsing; this module only decides which forms are allowed
//! and words the errors for the user.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// Parses a DURATION: `500ms`, `30s`, `5m`, `1h30m`, `1h 30m`, or a bare `0`.
///
/// A unit is required on anything but zero, because a bare `30` is
/// ambiguous between seconds and minutes and people guess both.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{text}' has no unit: write it as {text}s, {text}m or {text}ms (a bare number is allowed only for 0)"
        ));
    }
    let signed: SignedDuration = text.parse().map_err(|_| {
        format!(
            "'{text}' is not a duration: use a number with a unit, like 500ms, 30s, 5m or 1h30m"
        )
    })?;
    Duration::try_from(signed)
        .map_err(|_| format!("'{text}' is negative: a duration must be zero or more"))
}

/// A TIME as given on the command line, before it is pinned to a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSpec {
    /// An absolute instant (`2026-11-24T10:00:00Z`).
    At(Timestamp),
    /// `now`: the moment the gate started.
    Now,
    /// A duration before the moment the gate started (`15m`).
    Ago(Duration),
}

impl TimeSpec {
    /// Pins this TIME to an instant, given when the gate started.
    pub fn resolve(self, started: Timestamp) -> Timestamp {
        match self {
            TimeSpec::At(at) => at,
            TimeSpec::Now => started,
            TimeSpec::Ago(ago) => SignedDuration::try_from(ago)
                .ok()
                .and_then(|ago| started.checked_sub(ago).ok())
                // Only a duration of millennia gets here: "before anything".
                .unwrap_or(Timestamp::MIN),
        }
    }
}

/// Parses a TIME: an RFC 3339 timestamp with `Z` or an offset, `now`, or a
/// DURATION meaning "that long before the gate started".
pub fn parse_time(text: &str) -> Result<TimeSpec, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("now") {
        return Ok(TimeSpec::Now);
    }
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(TimeSpec::At(at));
    }
    // A timestamp-looking value that failed to parse gets the timestamp
    // error, not the duration one: that is what the user was writing.
    if text.len() >= 10 && text.as_bytes()[4] == b'-' {
        return Err(format!(
            "'{text}' is not an RFC 3339 timestamp: write it with a time and a zone, like 2026-11-24T10:00:00Z or 2026-11-24T13:00:00.5+03:00"
        ));
    }
    parse_duration(text).map(TimeSpec::Ago).map_err(|_| {
        format!(
            "'{text}' is not a TIME: use an RFC 3339 timestamp (2026-11-24T10:00:00Z), `now`, or a duration before the start (15m, 2h, 1h30m)"
        )
    })
}

/// A duration in whole milliseconds, for log fields and the summary.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Formats a duration the way users write them: `1h30m`, `2.5s`, `500ms`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        let tenths = duration.subsec_millis() / 100;
        if h == 0 && m == 0 && tenths > 0 {
            out.push_str(&format!("{s}.{tenths}s"));
        } else {
            out.push_str(&format!("{s}s"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn durations_in_every_documented_form() {
        let table = [
            ("0", 0),
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("1h 30m", 5_400_000),
            (" 2h ", 7_200_000),
            ("0s", 0),
        ];
        for (text, millis) in table {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
    }

    #[test]
    fn durations_that_are_refused_say_why() {
        for (text, hint) in [
            ("30", "no unit"),
            ("", "not a duration"),
            ("soon", "not a duration"),
            ("-5m", "negative"),
            ("5 parsecs", "not a duration"),
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains(hint), "{text}: {err}");
        }
    }

    #[test]
    fn times_in_every_documented_form() {
        let started = ts("2026-11-24T12:00:00Z");
        let table = [
            ("2026-11-24T10:00:00Z", ts("2026-11-24T10:00:00Z")),
            ("2026-11-24T13:00:00.5+03:00", ts("2026-11-24T10:00:00.5Z")),
            ("2026-07-29T03:51:48.591Z", ts("2026-07-29T03:51:48.591Z")),
            ("now", started),
            ("NOW", started),
            ("15m", ts("2026-11-24T11:45:00Z")),
            ("1h30m", ts("2026-11-24T10:30:00Z")),
            ("0", started),
        ];
        for (text, want) in table {
            let spec = parse_time(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(spec.resolve(started), want, "{text}");
        }
    }

    #[test]
    fn times_that_are_refused_say_why() {
        for (text, hint) in [
            ("2026-11-24", "RFC 3339"),
            ("2026-11-24T10:00:00", "RFC 3339"),
            ("yesterday", "not a TIME"),
            ("-15m", "not a TIME"),
        ] {
            let err = parse_time(text).unwrap_err();
            assert!(err.contains(hint), "{text}: {err}");
        }
    }

    #[test]
    fn a_huge_ago_means_before_anything_not_a_panic() {
        let spec = TimeSpec::Ago(Duration::from_secs(u64::MAX / 4));
        assert_eq!(spec.resolve(ts("2026-11-24T12:00:00Z")), Timestamp::MIN);
    }

    #[test]
    fn durations_format_as_users_write_them() {
        for (millis, want) in [
            (0, "0ms"),
            (500, "500ms"),
            (1_000, "1s"),
            (2_500, "2.5s"),
            (90_000, "1m30s"),
            (5_400_000, "1h30m"),
            (3_600_000, "1h"),
        ] {
            assert_eq!(format_duration(Duration::from_millis(millis)), want);
        }
    }
}
