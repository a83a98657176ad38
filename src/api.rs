//! Peaka's cache-status object as it arrives on the wire, decoded leniently.
//!
//! The published spec marks nothing nullable and enumerates a closed set of
//! statuses, while the live API sends `null` executions, progress, errors and
//! `finishedAt`, and may grow new statuses and fields. So every field is
//! optional, unknown fields are ignored, unknown statuses are kept as text,
//! and a timestamp or counter that does not parse is treated as absent
//! rather than failing the whole reply.

use jiff::Timestamp;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

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
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| Status::parse(&text))
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
    /// The cache id, as the server names it.
    #[serde(default)]
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
    /// The last incremental sync, if there ever was one.
    #[serde(default)]
    pub last_incremental_cache_execution: Option<Execution>,
    /// The last full refresh, if there ever was one.
    #[serde(default)]
    pub last_full_refresh_cache_execution: Option<Execution>,
}

impl CacheStatus {
    /// The execution in the given slot.
    pub fn execution(&self, kind: ExecutionKind) -> Option<&Execution> {
        match kind {
            ExecutionKind::Incremental => self.last_incremental_cache_execution.as_ref(),
            ExecutionKind::Full => self.last_full_refresh_cache_execution.as_ref(),
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
    #[serde(default, deserialize_with = "lenient_string")]
    pub execution_mode: Option<String>,
    /// Its status; absent is treated like an unknown status.
    #[serde(default, deserialize_with = "lenient_status")]
    pub status: Option<Status>,
    /// Free-form error details, present when it failed.
    #[serde(default)]
    pub error: Option<Value>,
    /// Record counters; `null` until the execution reports any.
    #[serde(default, deserialize_with = "lenient_progress")]
    pub progress: Option<Progress>,
    /// When it started.
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pub created_at: Option<Timestamp>,
    /// When it last reported anything.
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pub updated_at: Option<Timestamp>,
    /// When it reached a terminal state; `null` while it runs.
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pub finished_at: Option<Timestamp>,
}

impl Execution {
    /// Whether the execution has reached a state it will never leave.
    pub fn is_terminal(&self) -> bool {
        self.status.as_ref().is_some_and(Status::is_terminal)
    }

    /// When it reached its terminal state: `finishedAt`, or `updatedAt` for
    /// a terminal record that lacks `finishedAt` (its last update is then
    /// the best evidence of when it ended). `None` while it runs.
    pub fn terminal_at(&self) -> Option<Timestamp> {
        if self.is_terminal() {
            self.finished_at.or(self.updated_at)
        } else {
            None
        }
    }

    /// The number of records in the cache after (or so far in) this run.
    pub fn records(&self) -> Option<i64> {
        self.progress
            .as_ref()
            .and_then(|p| p.number_of_cached_records)
    }

    /// The error as one line of text, for messages; `None` if there is none.
    pub fn error_text(&self) -> Option<String> {
        match self.error.as_ref()? {
            Value::Null => None,
            Value::String(text) if text.is_empty() => None,
            Value::String(text) => Some(text.clone()),
            Value::Object(map) if map.is_empty() => None,
            Value::Object(map) => match map.get("message") {
                Some(Value::String(message)) => Some(message.clone()),
                _ => Some(Value::Object(map.clone()).to_string()),
            },
            other => Some(other.to_string()),
        }
    }
}

/// Record counters of an execution (`CacheExecutionProgress`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Records in the cache.
    #[serde(default, deserialize_with = "lenient_count")]
    pub number_of_cached_records: Option<i64>,
    /// Records inserted by this run.
    #[serde(default, deserialize_with = "lenient_count")]
    pub number_of_inserted_records: Option<i64>,
    /// Records updated by this run.
    #[serde(default, deserialize_with = "lenient_count")]
    pub number_of_updated_records: Option<i64>,
    /// Records deleted by this run.
    #[serde(default, deserialize_with = "lenient_count")]
    pub number_of_deleted_records: Option<i64>,
}

/// Decodes a cache status from a response body.
pub fn decode_status(body: &[u8]) -> Result<CacheStatus, String> {
    serde_json::from_slice(body).map_err(|err| {
        if err.is_data() {
            format!("the reply is JSON but not a cache status ({err})")
        } else {
            format!("the reply is not valid JSON ({err})")
        }
    })
}

/// Decodes a list of cache statuses (`GET …/cache/status`).
pub fn decode_status_list(body: &[u8]) -> Result<Vec<CacheStatus>, String> {
    serde_json::from_slice(body)
        .map_err(|err| format!("the reply is not a list of cache statuses ({err})"))
}

/// Decodes an execution history (`GET …/executionHistory`), newest first.
pub fn decode_history(body: &[u8]) -> Result<Vec<Execution>, String> {
    serde_json::from_slice(body)
        .map_err(|err| format!("the reply is not an execution history ({err})"))
}

/// The `message` of an error body (`{"error","message","errorCode"}`), if
/// the body has one.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let message = value.get("message")?.as_str()?.trim();
    (!message.is_empty()).then(|| message.to_owned())
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(text) => Some(text),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    })
}

fn lenient_status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Status>, D::Error> {
    Ok(lenient_string(d)?.map(|text| Status::parse(&text)))
}

fn lenient_progress<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Progress>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

fn lenient_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    })
}

/// RFC 3339 in any form (with or without fractional seconds, `Z` or an
/// offset); epoch milliseconds too, as Java services sometimes send them.
fn lenient_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(number) => number
            .as_i64()
            .and_then(|millis| Timestamp::from_millisecond(millis).ok()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_live_shape_with_nulls_and_milliseconds() {
        let body = br#"{
            "id": "c1", "status": "RUNNING", "catalogId": "x", "somethingNew": [1, 2],
            "lastIncrementalCacheExecution": {
                "id": "e1", "executionMode": "INCREMENTAL", "status": "COMPLETED",
                "error": null,
                "progress": {"numberOfCachedRecords": 1200, "numberOfInsertedRecords": 3,
                             "numberOfUpdatedRecords": 0, "numberOfDeletedRecords": 0,
                             "lastOffset": "9", "lastCacheTxId": null},
                "createdAt": "2026-07-29T03:50:00Z",
                "updatedAt": "2026-07-29T03:51:48.591Z",
                "finishedAt": "2026-07-29T03:51:48.591+00:00"
            },
            "lastFullRefreshCacheExecution": null
        }"#;
        let status = decode_status(body).unwrap();
        assert_eq!(status.status, Status::Running);
        assert!(status.last_full_refresh_cache_execution.is_none());
        let e = status.execution(ExecutionKind::Incremental).unwrap();
        assert_eq!(e.id.as_deref(), Some("e1"));
        assert_eq!(e.status, Some(Status::Completed));
        assert_eq!(e.records(), Some(1200));
        assert_eq!(
            e.finished_at,
            Some("2026-07-29T03:51:48.591Z".parse().unwrap())
        );
        assert_eq!(e.terminal_at(), e.finished_at);
        assert_eq!(e.error_text(), None);
    }

    #[test]
    fn odd_fields_degrade_to_absent_instead_of_failing() {
        let body = br#"{"status": "SOMETHING_NEW",
            "lastFullRefreshCacheExecution": {
                "id": 42, "status": "CANCELED", "progress": "n/a",
                "createdAt": "yesterday", "updatedAt": 1785297108591, "finishedAt": null,
                "error": {"message": "source timed out", "code": 7}
            }}"#;
        let status = decode_status(body).unwrap();
        assert_eq!(status.status, Status::Other("SOMETHING_NEW".into()));
        let e = status.execution(ExecutionKind::Full).unwrap();
        assert_eq!(e.id.as_deref(), Some("42"));
        assert_eq!(e.status, Some(Status::Cancelled));
        assert_eq!(e.progress, None);
        assert_eq!(e.created_at, None);
        assert!(e.updated_at.is_some());
        // Terminal without finishedAt: its last update is when it ended.
        assert_eq!(e.terminal_at(), e.updated_at);
        assert_eq!(e.error_text().as_deref(), Some("source timed out"));
    }

    #[test]
    fn a_reply_that_is_not_a_cache_status_is_an_error() {
        for body in [
            &b"<html>502</html>"[..],
            b"{}",
            b"[]",
            b"{\"status\": null}",
            b"{\"status\": \"RUN",
        ] {
            assert!(
                decode_status(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn execution_modes_name_their_slot() {
        use ExecutionKind::*;
        for (mode, want) in [
            ("INCREMENTAL", Some(Incremental)),
            ("incremental_sync", Some(Incremental)),
            ("FULL_REFRESH", Some(Full)),
            ("FullRefresh", Some(Full)),
            ("MANUAL", None),
        ] {
            assert_eq!(ExecutionKind::from_mode(mode), want, "{mode}");
        }
        let history = decode_history(br#"[{"id":"e2","executionMode":"FULL_REFRESH","status":"RUNNING"},{"id":"e1","status":"COMPLETED"}]"#).unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].execution_mode.as_deref(), Some("FULL_REFRESH"));
        assert!(decode_history(b"{}").is_err());
    }

    #[test]
    fn error_text_of_every_shape() {
        let with = |error: Value| {
            Execution {
                error: Some(error),
                ..Execution::default()
            }
            .error_text()
        };
        assert_eq!(with(Value::Null), None);
        assert_eq!(with(serde_json::json!("boom")).as_deref(), Some("boom"));
        assert_eq!(with(serde_json::json!({})), None);
        assert_eq!(
            with(serde_json::json!({"code": 1})).as_deref(),
            Some("{\"code\":1}")
        );
        assert_eq!(with(serde_json::json!([1])).as_deref(), Some("[1]"));
    }

    #[test]
    fn error_messages_of_every_published_shape() {
        let table: [(&[u8], Option<&str>); 5] = [
            (br#"{"errorCode":100,"message":"Invalid project"}"#, Some("Invalid project")),
            (br#"{"error":"WrongRequestException","message":"Cache settings not found","errorCode":null}"#, Some("Cache settings not found")),
            (br#"{"error":"X","message":"denied","errorCode":"cn004"}"#, Some("denied")),
            (br#"{"error":"X"}"#, None),
            (b"not json", None),
        ];
        for (body, want) in table {
            assert_eq!(error_message(body).as_deref(), want);
        }
    }
}
