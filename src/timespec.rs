//! Parsing of the two value languages on the command line: DURATION
//! (`500ms`, `30s`, `1h30m`, a bare `0`) and TIME (an RFC 3339 timestamp,
//! `now`, or a DURATION meaning "that long before the gate started").
//!
//! jiff does the parsing; this module only decides which forms are allowed
//! and words the errors for the user.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// The largest DURATION any setting takes: 31 days. A gate that should
/// wait longer is a misconfiguration, and the bound keeps every deadline
/// sum far from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(31 * 24 * 3600);

/// How the maximum reads in messages and `--help`.
pub const MAX_DURATION_TEXT: &str = "31 days (744h)";

/// The furthest back a TIME given as a duration may reach: one year.
pub const MAX_AGO: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses a DURATION: `500ms`, `30s`, `5m`, `1h30m`, `1h 30m`, or a bare `0`.
///
/// A unit is required on anything but zero, because a bare `30` is
/// ambiguous between seconds and minutes and people guess both. The error
/// says what is wrong without repeating the text: the caller names the
/// setting and its value.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "a duration needs a unit ({text}s, {text}m or {text}ms); a bare number is allowed only for 0"
        ));
    }
    let signed: SignedDuration = match text.parse() {
        Ok(signed) => signed,
        Err(_) if looks_too_large(text) => {
            return Err(format!("too large: the maximum is {MAX_DURATION_TEXT}"));
        }
        Err(_) => {
            return Err(
                "not a duration: use a number with a unit, like 500ms, 30s, 5m or 1h30m".into(),
            );
        }
    };
    let duration = Duration::try_from(signed)
        .map_err(|_| "is negative: a duration must be zero or more".to_owned())?;
    if duration > MAX_DURATION {
        return Err(format!("too large: the maximum is {MAX_DURATION_TEXT}"));
    }
    Ok(duration)
}

/// Whether a duration jiff refused has the shape of one (digits and unit
/// letters) with a number too long for any real duration: an overflow.
fn looks_too_large(text: &str) -> bool {
    const UNITS: [&str; 20] = [
        "ns", "us", "ms", "s", "sec", "secs", "second", "seconds", "m", "min", "mins", "minute",
        "minutes", "h", "hr", "hrs", "hour", "hours", "d", "days",
    ];
    let body = text.trim_start_matches(['-', '+']);
    let shaped = body.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
        && body
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|unit| !unit.is_empty())
            .all(|unit| UNITS.contains(&unit.to_ascii_lowercase().as_str()));
    let longest_number = text
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    shaped && longest_number >= 10
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
/// DURATION meaning "that long before the gate started" (at most a year).
///
/// As with [`parse_duration`], the error does not repeat the text.
pub fn parse_time(text: &str) -> Result<TimeSpec, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("now") {
        return Ok(TimeSpec::Now);
    }
    if let Ok(at) = text.parse::<Timestamp>() {
        if at < Timestamp::UNIX_EPOCH {
            return Err(
                "is before 1970-01-01T00:00:00Z, which is no real bound: give a recent timestamp"
                    .into(),
            );
        }
        return Ok(TimeSpec::At(at));
    }
    // A timestamp-looking value that failed to parse gets the timestamp
    // error, not the duration one: that is what the user was writing.
    if text.len() >= 10 && text.as_bytes()[4] == b'-' {
        return Err(
            "not an RFC 3339 timestamp: write it with a time and a zone, like 2026-11-24T10:00:00Z or 2026-11-24T13:00:00.5+03:00".into(),
        );
    }
    if let Some(rest) = text.strip_prefix('-') {
        if parse_duration(rest).is_ok() {
            return Err(format!(
                "is negative: a duration in TIME already means that long before the start ({} means {} ago)",
                rest.trim(),
                rest.trim()
            ));
        }
    }
    const TOO_FAR: &str = "too far back: a duration in TIME reaches at most 1 year (8760h) before the start; for an older bound give an RFC 3339 timestamp";
    match parse_duration(text) {
        Ok(ago) => Ok(TimeSpec::Ago(ago)),
        Err(_) if looks_too_large(text) => Err(TOO_FAR.into()),
        // A TIME may reach back further than any DURATION setting.
        Err(_) => match text.parse::<SignedDuration>().map(Duration::try_from) {
            Ok(Ok(ago)) if ago <= MAX_AGO => Ok(TimeSpec::Ago(ago)),
            Ok(Ok(_)) => Err(TOO_FAR.into()),
            _ => Err(
                "not a TIME: use an RFC 3339 timestamp (2026-11-24T10:00:00Z), `now`, or a duration before the start (15m, 2h, 1h30m)".into(),
            ),
        },
    }
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

/// A span that may be far longer than any wait, as a person says it:
/// to the second below two days, then in whole days, then in years
/// ("27168h10m44s" reads as "about 3 years").
pub fn format_far(duration: Duration) -> String {
    const DAY: u64 = 24 * 3600;
    let secs = duration.as_secs();
    match secs / DAY {
        0..=1 => format_duration(duration),
        days @ 2..=729 => format!("about {days} days"),
        days => format!("about {} years", days / 365),
    }
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
            ("30", "needs a unit"),
            ("", "not a duration"),
            ("18446744073709551615s", "too large"),
            ("2562047788015215h", "too large"),
            ("9223372036854775807s", "too large"),
            ("745h", "too large"),
            ("soon", "not a duration"),
            ("-5m", "negative"),
            ("5 parsecs", "not a duration"),
            ("12345678901parsecs", "not a duration"),
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
            ("8760h", ts("2025-11-24T12:00:00Z")),
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
            ("-15m", "negative"),
            ("99999999h", "too far back"),
            ("8761h", "too far back"),
            ("1969-12-31T23:59:59Z", "before 1970"),
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

    #[test]
    fn a_far_span_is_said_in_days_or_years() {
        assert_eq!(format_far(Duration::from_secs(3600 * 47)), "47h");
        assert_eq!(format_far(Duration::from_secs(3600 * 48)), "about 2 days");
        assert_eq!(
            format_far(Duration::from_secs(27168 * 3600 + 644)),
            "about 3 years"
        );
        assert_eq!(
            format_far(Duration::from_secs(729 * 86400)),
            "about 729 days"
        );
    }
}
