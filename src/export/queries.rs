//! What the outputs say of materialized queries: the query that decided
//! (as the cache that decided), each query as a JSON object, and their
//! fields as one-line text.

use serde_json::{Value, json};

use super::view::line;
use crate::exit_codes::Outcome;
use crate::gate::{CacheState, QueryReport, Report};

/// The query the outcome is about: the last to end when ready, else the
/// first not ready (the one that failed, or still waiting at a timeout).
pub(super) fn deciding_query(report: &Report) -> Option<&QueryReport> {
    let queries = report.queries.iter();
    if report.outcome == Outcome::Ready {
        return queries.max_by_key(|q| q.status.as_ref().and_then(|s| s.last_update_time));
    }
    let first_not_ready = queries.clone().find(|q| q.state == CacheState::Failed);
    first_not_ready
        .or_else(|| queries.clone().find(|q| q.state != CacheState::Ready))
        .or_else(|| report.queries.first())
}

/// One query's fields as one-line text, empty where there is nothing to say.
#[derive(Default)]
pub(super) struct QueryText {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) state: String,
    pub(super) status: String,
    pub(super) started_at: String,
    pub(super) updated_at: String,
}

impl QueryText {
    pub(super) fn of(query: Option<&QueryReport>) -> QueryText {
        let Some(query) = query else {
            return QueryText::default();
        };
        let status = query.status.as_ref();
        let time = |at: Option<jiff::Timestamp>| at.map(|t| t.to_string()).unwrap_or_default();
        QueryText {
            id: line(&query.query_id),
            name: status
                .and_then(|s| s.query_name.as_deref())
                .map(line)
                .unwrap_or_default(),
            state: query.state.as_str().to_owned(),
            status: status
                .and_then(|s| s.status.as_deref())
                .map(line)
                .unwrap_or_default(),
            started_at: time(status.and_then(|s| s.last_execution_start_time)),
            updated_at: time(status.and_then(|s| s.last_update_time)),
        }
    }
}

/// One query in the JSON summary.
pub(super) fn query_json(query: &QueryReport) -> Value {
    let status = query.status.as_ref();
    let mut object = json!({
        "queryId": query.query_id,
        "queryName": status.and_then(|s| s.query_name.as_deref()),
        "state": query.state.as_str(),
        "status": status.and_then(|s| s.status.as_deref()),
        "startedAt": status.and_then(|s| s.last_execution_start_time).map(|t| t.to_string()),
        "updatedAt": status.and_then(|s| s.last_update_time).map(|t| t.to_string()),
    });
    if let Some(fields) = object.as_object_mut() {
        // Only with --refresh-query: whether the refresh was sent.
        if query.refresh {
            fields.insert("refreshed".into(), json!(query.refreshed));
        }
        if let Some(error) = &query.last_error {
            fields.insert("lastError".into(), json!(error));
        }
        // Only with --cancel-on-exit, when a cancel was due.
        if let Some(cancel) = &query.cancel {
            fields.insert("cancel".into(), json!(cancel));
        }
    }
    object
}
