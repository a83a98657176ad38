//! A cache's settings (`GET …/cache/{cacheId}`, "Get Cache Settings"), as
//! far as the forecast needs them: each slot's schedule.
//!
//! Decoded leniently, like [`crate::api`]: the reply is data from outside,
//! so an unknown schedule type, a missing or odd expression, or a period
//! outside [`MIN_PERIOD`]..=[`MAX_PERIOD`] all mean "no usable schedule"
//! rather than an error. Only a body that is not a JSON object is an error.
//! Only the two schedules are read; every other member is skipped without
//! being read into memory (see [`crate::wire`]).

use std::time::Duration;

use jiff::{Span, SpanTotal, Unit};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::api::ExecutionKind;
use crate::wire;

/// A schedule period below this is not believed (and would not help).
pub const MIN_PERIOD: Duration = Duration::from_secs(60);

/// A schedule period above this is not believed (history is kept 14 days).
pub const MAX_PERIOD: Duration = Duration::from_secs(31 * 24 * 3600);

/// Each slot's schedule period; `None` for `NONE`, an unknown type, or a
/// period that cannot be read or is out of bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheSettings {
    /// `incrementalCacheSchedule`, when `BASIC`.
    pub incremental: Option<Duration>,
    /// `fullRefreshCacheSchedule`, when `BASIC`.
    pub full: Option<Duration>,
}

impl CacheSettings {
    /// The period of one slot's schedule.
    pub fn period(&self, kind: ExecutionKind) -> Option<Duration> {
        match kind {
            ExecutionKind::Incremental => self.incremental,
            ExecutionKind::Full => self.full,
        }
    }
}

// Only periods are kept, no text from the server: nothing to scrub of the key.
impl crate::secret::Scrub for CacheSettings {
    fn scrub(&mut self, _: &crate::secret::Scrubber) {}
}

/// The members of the settings the forecast reads, as raw text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    #[serde(borrow, default)]
    incremental_cache_schedule: Option<&'a RawValue>,
    #[serde(borrow, default)]
    full_refresh_cache_schedule: Option<&'a RawValue>,
}

/// A schedule's members, as raw text.
#[derive(Deserialize)]
struct ScheduleWire<'a> {
    #[serde(borrow, default, rename = "type")]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    expression: Option<&'a RawValue>,
}

/// Decodes the settings reply.
pub fn decode_settings(body: &[u8]) -> Result<CacheSettings, String> {
    let body = body.strip_prefix(crate::stream::BOM).unwrap_or(body);
    if !wire::is_object(body) {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => format!("{}a cache's settings", crate::stream::OTHER_JSON),
                Err(err) => format!("the reply is not valid JSON ({err})"),
            },
        );
    }
    let wire: Wire = serde_json::from_slice(body)
        .map_err(|err| format!("the reply is not valid JSON ({err})"))?;
    Ok(CacheSettings {
        incremental: schedule(wire.incremental_cache_schedule),
        full: schedule(wire.full_refresh_cache_schedule),
    })
}

/// `{type: BASIC, expression: "PT15M"}` → 15 minutes; anything else
/// (including an array, which is no schedule) → `None`.
fn schedule(raw: Option<&RawValue>) -> Option<Duration> {
    let schedule: ScheduleWire = wire::object(raw?.get()).ok()?;
    let kind = wire::bounded_string(schedule.kind?)?;
    if !kind.trim().eq_ignore_ascii_case("BASIC") {
        return None;
    }
    parse_period(&wire::bounded_string(schedule.expression?)?)
}

/// An ISO-8601 period (`PT15M`, `PT10H`, `P2D`), days taken as 24 hours,
/// within the believed bounds. Months and years have no fixed length and
/// are refused.
pub fn parse_period(text: &str) -> Option<Duration> {
    // A schedule expression is a few characters; a long one is not a period.
    let text = text.trim();
    // jiff also reads its friendly format ("15 minutes"); the spec
    // promises ISO 8601, so anything else is not a schedule we know.
    if text.len() > 64 || !text.starts_with(['P', 'p']) {
        return None;
    }
    let span: Span = text.parse().ok()?;
    let seconds = span
        .total(SpanTotal::from(Unit::Second).days_are_24_hours())
        .ok()?;
    if !seconds.is_finite() || seconds <= 0.0 {
        return None;
    }
    let period = Duration::try_from_secs_f64(seconds).ok()?;
    (MIN_PERIOD..=MAX_PERIOD)
        .contains(&period)
        .then_some(period)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: fn(u64) -> Duration = |m| Duration::from_secs(60 * m);

    #[test]
    fn periods_within_bounds() {
        let table = [
            ("PT15M", Some(M(15))),
            ("PT10H", Some(M(600))),
            ("P2D", Some(M(2 * 24 * 60))),
            ("pt1h30m", Some(M(90))),
            ("PT1M", Some(M(1))),
            ("PT59S", None),
            ("PT0S", None),
            ("-PT15M", None),
            ("P32D", None),
            ("P1M", None),
            ("P1Y", None),
            ("15 minutes", None),
            ("", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_period(text), want, "{text}");
        }
    }

    #[test]
    fn settings_of_every_shape() {
        let table: [(&[u8], Result<CacheSettings, ()>); 9] = [
            (
                br#"{"catalogId":"c","incrementalCacheSchedule":{"type":"BASIC","expression":"PT15M"},
                    "fullRefreshCacheSchedule":{"type":"NONE"}}"#,
                Ok(CacheSettings { incremental: Some(M(15)), full: None }),
            ),
            (
                br#"{"incrementalCacheSchedule":null,"fullRefreshCacheSchedule":{"type":"BASIC","expression":"P1D"}}"#,
                Ok(CacheSettings { incremental: None, full: Some(M(1440)) }),
            ),
            (
                br#"{"incrementalCacheSchedule":{"type":"CRON","expression":"0 * * * *"},
                    "fullRefreshCacheSchedule":{"type":"BASIC","expression":42}}"#,
                Ok(CacheSettings::default()),
            ),
            (b"{}", Ok(CacheSettings::default())),
            // A schedule is an object, never read by position.
            (
                br#"{"incrementalCacheSchedule":["BASIC","PT15M"],"fullRefreshCacheSchedule":"BASIC"}"#,
                Ok(CacheSettings::default()),
            ),
            (
                br#"{"catalogId":[1,2,3],"x":{"y":[[]]},"incrementalCacheSchedule":{"expression":"PT15M","type":"BASIC","n":[0]}}"#,
                Ok(CacheSettings { incremental: Some(M(15)), full: None }),
            ),
            (b"{\"incrementalCacheSchedule\":", Err(())),
            (b"[]", Err(())),
            (b"<html>", Err(())),
        ];
        for (body, want) in table {
            assert_eq!(
                decode_settings(body).map_err(|_| ()),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let settings = decode_settings(
            br#"{"fullRefreshCacheSchedule":{"type":"basic","expression":"PT2H"}}"#,
        )
        .unwrap();
        assert_eq!(settings.period(ExecutionKind::Full), Some(M(120)));
        assert_eq!(settings.period(ExecutionKind::Incremental), None);
    }
}
