//! Peaka's cache-status object as it arrives on the wire, decoded leniently.
//!
//! The published spec marks nothing nullable and enumerates a closed set of
//! statuses, while the live API sends `null` executions, progress, errors and
//! `finishedAt`, and may grow new statuses and fields. So every field is
//! optional, unknown fields are ignored, unknown statuses are kept as text,
//! and a timestamp or counter that does not parse is treated as absent
//! rather than failing the whole reply. Each lenient field is first taken
//! as raw JSON text, so that even a number no machine type holds (`1e400`)
//! spoils only its own field; that text is borrowed from the body, and
//! only the fields the gate uses are decoded, each within a bound (see
//! [`crate::wire`]). A status and an execution are JSON objects.

use jiff::Timestamp;
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::secret::{Scrub, Scrubber};
use crate::stream::{Decoder, ListDecoder, Sink};
use crate::wire::{self, bounded_string, raw};

/// A status, at the top level of a cache or of one execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// A refresh is under way.
    Running,
    /// The refresh finished and the cached table is fresh.
    Completed,
    /// The refresh failed.
    Failed,
    /// The refresh was cancelled.
    Cancelled,
    /// The cache was deleted (top level only).
    Deleted,
    /// The cache exists but has never been refreshed (top level only).
    NotInitialized,
    /// A status this version does not know; kept verbatim for the logs.
    Other(String),
}

impl Status {
    /// Reads a status as Peaka spells it. `CANCELED` is accepted too, since
    /// other Peaka endpoints use that spelling.
    pub fn parse(text: &str) -> Status {
        match text {
            "RUNNING" => Status::Running,
            "COMPLETED" => Status::Completed,
            "FAILED" => Status::Failed,
            "CANCELLED" | "CANCELED" => Status::Cancelled,
            "DELETED" => Status::Deleted,
            "NOT_INITIALIZED" => Status::NotInitialized,
            other => Status::Other(other.to_owned()),
        }
    }

    /// The status as Peaka spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Running => "RUNNING",
            Status::Completed => "COMPLETED",
            Status::Failed => "FAILED",
            Status::Cancelled => "CANCELLED",
            Status::Deleted => "DELETED",
            Status::NotInitialized => "NOT_INITIALIZED",
            Status::Other(text) => text,
        }
    }

    /// Whether an execution in this status will never change again.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Cancelled)
    }
}

impl<'de> Deserialize<'de> for Status {
    /// A string; one longer than any status is an unknown status, kept
    /// as a short note rather than whole.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(deserializer)?;
        if !raw.get().starts_with('"') {
            return Err(serde::de::Error::custom("a status is a string"));
        }
        Ok(match bounded_string(raw) {
            Some(text) => Status::parse(&text),
            None => Status::Other(format!("(a status of {} bytes)", raw.get().len())),
        })
    }
}

/// The two kinds of refresh Peaka runs, each with its own slot in the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionKind {
    /// An incremental sync (`lastIncrementalCacheExecution`).
    Incremental,
    /// A full refresh (`lastFullRefreshCacheExecution`).
    Full,
}

impl ExecutionKind {
    /// The name used in flags, summaries and GitHub outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionKind::Incremental => "incremental",
            ExecutionKind::Full => "full",
        }
    }

    /// The slot an `executionMode` from the execution history belongs to
    /// (`INCREMENTAL`, `FULL_REFRESH`, in any case or spelling that names
    /// one of the two); `None` when it names neither.
    pub fn from_mode(mode: &str) -> Option<ExecutionKind> {
        let mode = mode.to_ascii_uppercase();
        if mode.contains("INCREMENTAL") {
            Some(ExecutionKind::Incremental)
        } else if mode.contains("FULL") {
            Some(ExecutionKind::Full)
        } else {
            None
        }
    }

    /// The name used in sentences, with its article.
    pub fn a_label(self) -> &'static str {
        match self {
            ExecutionKind::Incremental => "an incremental sync",
            ExecutionKind::Full => "a full refresh",
        }
    }

    /// The name used in sentences.
    pub fn label(self) -> &'static str {
        match self {
            ExecutionKind::Incremental => "incremental sync",
            ExecutionKind::Full => "full refresh",
        }
    }
}

/// The status of one cache: `GET …/cache/{cacheId}/status`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheStatus {
    /// The cache id, as the server names it (an unreadable one is none:
    /// that entry cannot be told apart from any cache).
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// The status of the most recent execution of either kind. Required:
    /// a reply without it is not a cache status.
    pub status: Status,
    /// The catalog the cached table belongs to (for `--list-caches`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub catalog_id: Option<String>,
    /// The schema of the cached table (for `--list-caches`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub schema_name: Option<String>,
    /// The cached table (for `--list-caches`).
    #[serde(default, deserialize_with = "lenient_string")]
    pub table_name: Option<String>,
    /// The last incremental sync, if there ever was one. Boxed, so that a
    /// list of 10,000 caches holds each execution once, at its own size.
    #[serde(default, deserialize_with = "wire::optional_object")]
    pub last_incremental_cache_execution: Option<Box<Execution>>,
    /// The last full refresh, if there ever was one.
    #[serde(default, deserialize_with = "wire::optional_object")]
    pub last_full_refresh_cache_execution: Option<Box<Execution>>,
}

impl CacheStatus {
    /// The execution in the given slot.
    pub fn execution(&self, kind: ExecutionKind) -> Option<&Execution> {
        match kind {
            ExecutionKind::Incremental => self.last_incremental_cache_execution.as_deref(),
            ExecutionKind::Full => self.last_full_refresh_cache_execution.as_deref(),
        }
    }
}

/// One run of a refresh (`CacheExecutionInfo`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    /// The execution id.
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    /// `INCREMENTAL` or `FULL_REFRESH`; tells the slot of a history entry.
    /// The two usual values are not allocated for each of 20,000 records.
    #[serde(default, deserialize_with = "lenient_mode")]
    pub execution_mode: Option<std::borrow::Cow<'static, str>>,
    /// Its status; absent is treated like an unknown status.
    #[serde(default, deserialize_with = "lenient_status")]
    pub status: Option<Status>,
    /// Free-form error details as text, present when it failed: a string,
    /// an object's `message`, or any other JSON's compact text, at most
    /// [`wire::MAX_ERROR_CHARS`] shown whatever the server sent (boxed:
    /// almost always absent, and 10,000 caches hold two executions each).
    #[serde(default, deserialize_with = "lenient_error")]
    pub error: Option<Box<str>>,
    /// Record counters; `null` until the execution reports any.
    #[serde(default, deserialize_with = "lenient_progress")]
    pub progress: Option<Progress>,
    /// When it started.
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pub created_at: Option<Timestamp>,
    /// When it last reported anything.
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pub updated_at: Option<Timestamp>,
    /// When it reached a terminal state; absent while it runs.
    #[serde(default, deserialize_with = "lenient_stamp")]
    pub finished_at: Stamp,
}

/// A timestamp field as it arrived. An unreadable one is kept apart from
/// an absent one, because a fallback that stands in for a missing value
/// must not stand in for a value that says something else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stamp {
    /// The field was absent or `null`.
    #[default]
    Absent,
    /// The field was there but is not a time this program can read.
    Unreadable,
    /// The instant it names.
    At(Timestamp),
}

impl Stamp {
    /// The instant, if the field named one.
    pub fn at(self) -> Option<Timestamp> {
        match self {
            Stamp::At(at) => Some(at),
            Stamp::Absent | Stamp::Unreadable => None,
        }
    }
}

impl From<Option<Timestamp>> for Stamp {
    fn from(at: Option<Timestamp>) -> Stamp {
        at.map_or(Stamp::Absent, Stamp::At)
    }
}

impl Execution {
    /// The slot a history entry belongs to, from its `executionMode`;
    /// `None` when the mode is absent or names neither kind.
    pub fn kind(&self) -> Option<ExecutionKind> {
        self.execution_mode
            .as_deref()
            .and_then(ExecutionKind::from_mode)
    }

    /// Whether the execution has reached a state it will never leave.
    pub fn is_terminal(&self) -> bool {
        self.status.as_ref().is_some_and(Status::is_terminal)
    }

    /// When it reached its terminal state: `finishedAt`, or `updatedAt` for
    /// a terminal record that lacks `finishedAt` (its last update is then
    /// the best evidence of when it ended). `None` while it runs, and when
    /// `finishedAt` is there but unreadable: `updatedAt` may say something
    /// else entirely (a record touched long after it ended).
    pub fn terminal_at(&self) -> Option<Timestamp> {
        if !self.is_terminal() {
            return None;
        }
        match self.finished_at {
            Stamp::At(at) => Some(at),
            Stamp::Absent => self.updated_at,
            Stamp::Unreadable => None,
        }
    }

    /// Forgets timestamps later than `latest`: a server that reports an
    /// execution finishing in the year 9999 is not evidence of anything,
    /// and such a time must not satisfy a bound or win an ordering.
    pub fn forget_times_after(&mut self, latest: Timestamp) {
        let implausible = |at: &Option<Timestamp>| at.is_some_and(|at| at > latest);
        if implausible(&self.created_at) {
            self.created_at = None;
        }
        if implausible(&self.updated_at) {
            self.updated_at = None;
        }
        if implausible(&self.finished_at.at()) {
            self.finished_at = Stamp::Unreadable;
        }
    }

    /// The number of records in the cache after (or so far in) this run.
    pub fn records(&self) -> Option<i64> {
        self.progress
            .as_ref()
            .and_then(|p| p.number_of_cached_records)
    }

    /// The error as text for messages and summaries, cut at
    /// [`wire::MAX_ERROR_CHARS`]; `None` if there is none.
    pub fn error_text(&self) -> Option<String> {
        self.error.as_deref().map(wire::shown_error)
    }
}

/// Record counters of an execution (`CacheExecutionProgress`): only the
/// one the gate shows. The others (inserted, updated, deleted) are not
/// decoded: a list of 10,000 caches would hold 60,000 unused numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Records in the cache.
    #[serde(default, deserialize_with = "lenient_count")]
    pub number_of_cached_records: Option<i64>,
}

impl CacheStatus {
    /// [`Execution::forget_times_after`] for both slots.
    pub fn forget_times_after(&mut self, latest: Timestamp) {
        for execution in [
            &mut self.last_incremental_cache_execution,
            &mut self.last_full_refresh_cache_execution,
        ]
        .into_iter()
        .flatten()
        {
            execution.forget_times_after(latest);
        }
    }
}

impl Scrub for Status {
    fn scrub(&mut self, scrubber: &Scrubber) {
        if let Status::Other(text) = self {
            text.scrub(scrubber);
        }
    }
}

impl Scrub for CacheStatus {
    fn scrub(&mut self, scrubber: &Scrubber) {
        self.id.scrub(scrubber);
        self.status.scrub(scrubber);
        self.catalog_id.scrub(scrubber);
        self.schema_name.scrub(scrubber);
        self.table_name.scrub(scrubber);
        self.last_incremental_cache_execution.scrub(scrubber);
        self.last_full_refresh_cache_execution.scrub(scrubber);
    }
}

impl Scrub for Execution {
    fn scrub(&mut self, scrubber: &Scrubber) {
        self.id.scrub(scrubber);
        if let Some(std::borrow::Cow::Owned(mode)) = &mut self.execution_mode {
            mode.scrub(scrubber);
        }
        self.status.scrub(scrubber);
        if let Some(error) = &mut self.error {
            let mut text = std::mem::take(error).into_string();
            text.scrub(scrubber);
            *error = text.into_boxed_str();
        }
    }
}

/// The body without a UTF-8 byte order mark, which some servers put
/// before JSON and serde refuses.
pub(crate) fn without_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(crate::stream::BOM).unwrap_or(body)
}

/// Decodes a cache status from a response body.
pub fn decode_status(body: &[u8]) -> Result<CacheStatus, String> {
    let body = without_bom(body);
    if !wire::is_object(body) {
        return Err(if serde_json::from_slice::<IgnoredAny>(body).is_ok() {
            format!(
                "{}a cache status (a status is a JSON object)",
                crate::stream::OTHER_JSON
            )
        } else {
            "the reply is not valid JSON".to_owned()
        });
    }
    serde_json::from_slice(body).map_err(|err| {
        if err.is_data() {
            format!("{}a cache status ({err})", crate::stream::OTHER_JSON)
        } else {
            format!("the reply is not valid JSON ({err})")
        }
    })
}

/// Decodes a list of cache statuses (`GET …/cache/status`).
pub fn decode_status_list(body: &[u8]) -> Result<Vec<CacheStatus>, String> {
    let mut decoder = status_list_decoder(Vec::new());
    decoder.feed(body)?;
    decoder.finish()
}

/// Decodes a list of cache statuses as it arrives, one cache at a time,
/// handing each to `sink` (which keeps what it needs of it).
pub fn status_list_decoder<S: Sink<CacheStatus>>(sink: S) -> ListDecoder<CacheStatus, S> {
    ListDecoder::new("cache statuses", decode_entry, sink)
}

/// One entry of a list of cache statuses: an object, like a status alone.
fn decode_entry(element: &[u8]) -> Result<CacheStatus, String> {
    if !wire::is_object(element) {
        return Err("not a cache status: a status is a JSON object".to_owned());
    }
    serde_json::from_slice(element).map_err(|err| err.to_string())
}

/// Decodes an execution history (`GET …/executionHistory`), newest first,
/// keeping its first `limit` executions: the entries after them are
/// skipped without being read into memory, whatever their number.
pub fn decode_history(body: &[u8], limit: usize) -> Result<Vec<Execution>, String> {
    let error =
        |cause: &dyn std::fmt::Display| format!("the reply is not an execution history ({cause})");
    let mut deserializer = serde_json::Deserializer::from_slice(without_bom(body));
    let history = deserializer
        .deserialize_seq(FirstExecutions { limit })
        .map_err(|err| error(&err))?;
    deserializer.end().map_err(|err| error(&err))?;
    Ok(history)
}

/// A list's first executions, each an object.
struct FirstExecutions {
    limit: usize,
}

impl<'de> Visitor<'de> for FirstExecutions {
    type Value = Vec<Execution>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of executions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Execution>, A::Error> {
        let mut history = Vec::new();
        while history.len() < self.limit {
            let Some(entry) = seq.next_element::<&'de RawValue>()? else {
                return Ok(history);
            };
            let execution = wire::object(entry.get()).map_err(|cause| {
                serde::de::Error::custom(format!("entry {}: {cause}", history.len() + 1))
            })?;
            history.push(execution);
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(history)
    }
}

/// The `message` of an error body (`{"error","message","errorCode"}`), if
/// the body has one.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(without_bom(body)).ok()?;
    let message = value.get("message")?.as_str()?.trim();
    (!message.is_empty()).then(|| message.to_owned())
}

/// Whether a body has the shape of Peaka's JSON error
/// (`{"error","message","errorCode"}`, any of them).
pub fn is_error_body(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, Value>>(without_bom(body)).is_ok_and(|map| {
        ["error", "message", "errorCode"]
            .iter()
            .any(|key| map.contains_key(*key))
    })
}

/// A string, or a number taken as its text (ids sometimes arrive as
/// numbers); either at most [`wire::MAX_FIELD_BYTES`] long.
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(raw(d)?.and_then(string_of))
}

fn string_of(raw: &RawValue) -> Option<String> {
    let text = raw.get();
    if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        (text.len() <= wire::MAX_FIELD_BYTES).then(|| text.to_owned())
    } else {
        bounded_string(raw)
    }
}

fn lenient_mode<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::borrow::Cow<'static, str>>, D::Error> {
    use std::borrow::Cow;
    Ok(lenient_string(d)?.map(|text| match text.as_str() {
        "INCREMENTAL" => Cow::Borrowed("INCREMENTAL"),
        "FULL_REFRESH" => Cow::Borrowed("FULL_REFRESH"),
        _ => Cow::Owned(text),
    }))
}

fn lenient_status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Status>, D::Error> {
    Ok(lenient_string(d)?.map(|text| Status::parse(&text)))
}

/// Progress is an object; anything else is no progress.
fn lenient_progress<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Progress>, D::Error> {
    Ok(raw(d)?.and_then(|raw| wire::object(raw.get()).ok()))
}

/// Any JSON, as bounded text ([`wire::error_text`]).
fn lenient_error<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<str>>, D::Error> {
    Ok(raw(d)?
        .and_then(wire::error_text)
        .map(String::into_boxed_str))
}

/// A whole number, as a number or a string; anything else, or a number
/// out of range, is absent.
fn lenient_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(raw(d)?.and_then(|raw| {
        let text = raw.get();
        match text.strip_prefix('"') {
            Some(_) => bounded_string(raw).and_then(|s| s.trim().parse().ok()),
            None => text.parse().ok(),
        }
    }))
}

pub(crate) fn lenient_timestamp<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Timestamp>, D::Error> {
    Ok(lenient_stamp(d)?.at())
}

/// RFC 3339 in any form (with or without fractional seconds, `Z` or an
/// offset), and the common zone-less form (`2026-11-23T10:00:00.123456`),
/// read as UTC since that is what servers that drop the zone mean. A
/// number is unreadable: its unit (seconds? milliseconds?) would be a guess.
pub(crate) fn lenient_stamp<'de, D: Deserializer<'de>>(d: D) -> Result<Stamp, D::Error> {
    Ok(match raw(d)? {
        None => Stamp::Absent,
        Some(raw) => bounded_string(raw)
            .and_then(|text| parse_timestamp(text.trim()))
            .map_or(Stamp::Unreadable, Stamp::At),
    })
}

/// Reads a server's timestamp: RFC 3339 in any form, or the zone-less form read
/// as UTC.
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Some(at);
    }
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    jiff::tz::Offset::UTC.to_timestamp(civil).ok()
}

#[cfg(test)]
mod tests;
