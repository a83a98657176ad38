//! The variables `-- COMMAND` runs with besides its own environment.

use super::queries::{QueryText, deciding_query};
use super::view::{ExecutionText, deciding, focused_execution};
use crate::gate::Report;

/// The variables added to the environment of a command run once ready
/// (`-- COMMAND`): the result and, like the step outputs, the execution of
/// the cache that decided, and the materialized query that decided (empty
/// where there is nothing to say).
pub fn command_env(report: &Report) -> Vec<(&'static str, String)> {
    let focus = ExecutionText::of(deciding(report).and_then(focused_execution));
    let query = QueryText::of(deciding_query(report));
    vec![
        ("PEAKA_WAIT_RESULT", report.outcome.name().to_owned()),
        ("PEAKA_EXECUTION_ID", focus.id),
        ("PEAKA_EXECUTION_KIND", focus.kind),
        ("PEAKA_FINISHED_AT", focus.finished_at),
        ("PEAKA_RECORDS", focus.records),
        ("PEAKA_MATERIALIZED_QUERY_ID", query.id),
        ("PEAKA_MATERIALIZED_QUERY_STATUS", query.status),
        ("PEAKA_MATERIALIZED_QUERY_STARTED_AT", query.started_at),
        ("PEAKA_MATERIALIZED_QUERY_UPDATED_AT", query.updated_at),
    ]
}
