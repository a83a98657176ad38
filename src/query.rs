//! Peaka's materialized-query status object (`MaterializedQueryStatusView`)
//! as it arrives, decoded as leniently as a cache status: every field
//! optional, unknown fields ignored, a time that does not parse absent.
//! What a status means is [`crate::decision::query`]'s.

use jiff::Timestamp;
use serde::Deserialize;

use crate::api::{Stamp, lenient_stamp, lenient_string, lenient_timestamp, without_bom};
use crate::decision::query::QueryFacts;
use crate::secret::{Scrub, Scrubber};
use crate::stream::{Decoder, ListDecoder, Sink};
use crate::wire;

/// The status of one materialized query:
/// `GET …/materialized-queries/{queryId}/status`, or one entry of
/// `GET …/materialized-queries/status`. It has no execution id.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryStatus {
    /// The query id, as the server names it.
    #[serde(default, deserialize_with = "lenient_string")]
    pub query_id: Option<String>,
    /// The query's name.
    #[serde(default, deserialize_with = "lenient_string")]
    pub query_name: Option<String>,
    /// The status of the most recent refresh, as Peaka spells it
    /// (`CANCELED`, not `CANCELLED`), kept verbatim.
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: Option<String>,
    /// When the last refresh started; `null` for a query never materialized.
    /// (Read from [`QueryStatus::started`] once decoded.)
    #[serde(skip)]
    pub last_execution_start_time: Option<Timestamp>,
    /// `lastExecutionStartTime` as it came: a start that is there but cannot
    /// be read is not a query that never ran, so the start seen before a
    /// refresh must be told from both.
    #[serde(
        default,
        rename = "lastExecutionStartTime",
        deserialize_with = "lenient_stamp"
    )]
    pub started: Stamp,
    /// When the status last changed (the end of a finished refresh).
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pub last_update_time: Option<Timestamp>,
    /// When the schedule runs it next, if it has one.
    #[serde(default, deserialize_with = "lenient_timestamp")]
    pub next_execution_start_time: Option<Timestamp>,
}

impl QueryStatus {
    /// What the rule looks at.
    pub fn facts(&self) -> QueryFacts<'_> {
        QueryFacts {
            status: self.status.as_deref(),
            started_at: self.last_execution_start_time,
            updated_at: self.last_update_time,
        }
    }

    /// The latest time it reports, to check the server's `Date` against.
    pub fn latest_time(&self) -> Option<Timestamp> {
        [self.last_execution_start_time, self.last_update_time]
            .into_iter()
            .flatten()
            .max()
    }
}

impl Scrub for QueryStatus {
    fn scrub(&mut self, scrubber: &Scrubber) {
        self.query_id.scrub(scrubber);
        self.query_name.scrub(scrubber);
        self.status.scrub(scrubber);
    }
}

/// Decodes one query's status from a response body.
pub fn decode_query(body: &[u8]) -> Result<QueryStatus, String> {
    decode_entry(without_bom(body))
        .map_err(|why| format!("the reply is not a materialized-query status ({why})"))
}

fn decode_entry(element: &[u8]) -> Result<QueryStatus, String> {
    if !wire::is_object(element) {
        return Err("a status is a JSON object".to_owned());
    }
    let mut status: QueryStatus = serde_json::from_slice(element).map_err(|err| err.to_string())?;
    status.last_execution_start_time = status.started.at();
    Ok(status)
}

/// Decodes the project's list of query statuses as it arrives.
pub fn query_list_decoder<S: Sink<QueryStatus>>(sink: S) -> ListDecoder<QueryStatus, S> {
    ListDecoder::new("materialized-query statuses", decode_entry, sink)
}

/// Decodes a whole list of query statuses.
pub fn decode_query_list(body: &[u8]) -> Result<Vec<QueryStatus>, String> {
    let mut decoder = query_list_decoder(Vec::new());
    decoder.feed(body)?;
    decoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_and_a_new_query_decode() {
        let body = br#"{"queryId":"709922802836177297","queryName":"samplequery",
            "scheduleSettings":{"cronExpression":null,"repeatDuration":"PT6H","timezone":null,"type":"interval"},
            "nextExecutionStartTime":"2025-01-15T16:00:00Z","status":"COMPLETED",
            "lastExecutionStartTime":"2025-01-15T10:00:00Z","lastUpdateTime":"2025-01-15T10:05:00.123Z"}"#;
        let query = decode_query(body).unwrap();
        assert_eq!(query.query_id.as_deref(), Some("709922802836177297"));
        assert_eq!(query.status.as_deref(), Some("COMPLETED"));
        assert_eq!(
            query.last_update_time,
            Some("2025-01-15T10:05:00.123Z".parse().unwrap())
        );
        let new = decode_query(
            br#"{"queryId":7,"status":"COMPLETED","lastExecutionStartTime":null,"lastUpdateTime":null}"#,
        )
        .unwrap();
        assert_eq!(new.query_id.as_deref(), Some("7"));
        assert_eq!(new.last_execution_start_time, None);
        assert_eq!(new.started, Stamp::Absent);
        assert_eq!(query.started.at(), query.last_execution_start_time);
    }

    #[test]
    fn odd_fields_spoil_only_themselves_and_non_objects_are_refused() {
        let query = decode_query(
            br#"{"queryId":"q","status":42,"lastExecutionStartTime":"yesterday","lastUpdateTime":1e400,"extra":[1]}"#,
        )
        .unwrap();
        assert_eq!(query.last_execution_start_time, None);
        assert_eq!(query.started, Stamp::Unreadable);
        assert_eq!(query.last_update_time, None);
        assert!(
            decode_query(b"[]")
                .unwrap_err()
                .contains("not a materialized-query status")
        );
        assert!(decode_query(b"<html>").is_err());
        let list =
            decode_query_list(br#"[{"queryId":"a"},{"queryId":"b","status":"CANCELED"}]"#).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].status.as_deref(), Some("CANCELED"));
        assert!(decode_query_list(br#"[1]"#).is_err());
    }
}
