//! Executions that were never picked up, and since when the awaited one
//! has not moved.
//!
//! Live Peaka has been seen to create an execution and never touch it
//! again: `RUNNING`, `progress: null`, `error: null`, `updatedAt ==
//! createdAt`, for ever. Nothing in the reply tells it from healthy work
//! but that nothing moves, so the gate says what it saw, once, when that
//! has lasted longer than any healthy start would; `--stall-timeout` is
//! what ends such a wait.

use std::time::Duration;

use jiff::Timestamp;

use super::Gate;
use crate::api::{CacheStatus, Execution, Status};
use crate::decision::{Decision, show_time};
use crate::timespec::format_duration;

/// An execution untouched since its creation for longer than this (or the
/// forecast's late bound, when later) was not picked up.
pub const NOT_PICKED_UP_AFTER: Duration = Duration::from_secs(5 * 60);

impl Gate<'_> {
    /// Notes when the awaited running execution of cache `i` last moved,
    /// and warns once when it was never picked up.
    pub(super) fn check_pickup(
        &mut self,
        i: usize,
        status: &CacheStatus,
        decision: &Decision,
        server_now: Timestamp,
    ) {
        let Some((kind, execution)) = super::stall::awaited_running(status, decision) else {
            self.awaited.caches_mut()[i].last_moved_at = None;
            return;
        };
        self.awaited.caches_mut()[i].last_moved_at = execution.updated_at.or(execution.created_at);
        if self.awaited.caches()[i].warning.is_some() {
            return;
        }
        let late_bound = self.awaited.caches()[i]
            .forecast
            .as_ref()
            .map_or(Duration::ZERO, |f| f.usual.longest);
        let Some(untouched) = untouched_for(execution, server_now) else {
            return;
        };
        if untouched <= NOT_PICKED_UP_AFTER.max(late_bound) {
            return;
        }
        let cache_id = &self.awaited.caches()[i].cache_id;
        // The ids are the server's text (or the list's, with
        // --all-caches): bounded and on one line wherever the warning goes.
        let warning = format!(
            "cache {}: {} {} has not been picked up: RUNNING with no progress and never updated since it was created at {} ({} ago); Peaka has been seen to leave executions like this for ever (--stall-timeout ends such a wait)",
            crate::text::shown(cache_id),
            kind.label(),
            execution
                .id
                .as_deref()
                .map_or("(no id)".to_owned(), crate::text::shown),
            execution.created_at.map_or("?".to_owned(), show_time),
            format_duration(untouched),
        );
        tracing::warn!(cache_id = %cache_id, "{warning}");
        self.awaited.caches_mut()[i].warning = Some(warning);
    }
}

/// How long an execution has been exactly as it was created, if it never
/// was touched: `RUNNING`, no progress, no error, `updatedAt == createdAt`.
fn untouched_for(execution: &Execution, server_now: Timestamp) -> Option<Duration> {
    let created = execution.created_at?;
    let untouched = execution.status == Some(Status::Running)
        && execution.progress.is_none()
        && execution.error.is_none()
        && execution.updated_at == Some(created);
    if !untouched {
        return None;
    }
    Duration::try_from(server_now.duration_since(created)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution(body: &str) -> Execution {
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn only_an_execution_exactly_as_created_is_untouched() {
        let now: Timestamp = "2026-11-25T10:10:00Z".parse().unwrap();
        let base = r#""id":"e","status":"RUNNING","createdAt":"2026-11-25T10:00:00Z""#;
        let untouched = execution(&format!(
            r#"{{{base},"updatedAt":"2026-11-25T10:00:00Z","progress":null,"error":null}}"#
        ));
        assert_eq!(
            untouched_for(&untouched, now),
            Some(Duration::from_secs(600))
        );
        for other in [
            r#""updatedAt":"2026-11-25T10:00:01Z""#,
            r#""updatedAt":"2026-11-25T10:00:00Z","progress":{"numberOfCachedRecords":0}"#,
            r#""updatedAt":"2026-11-25T10:00:00Z","error":{"message":"x"}"#,
        ] {
            let e = execution(&format!("{{{base},{other}}}"));
            assert_eq!(untouched_for(&e, now), None, "{other}");
        }
        let completed = execution(
            r#"{"id":"e","status":"COMPLETED","createdAt":"2026-11-25T10:00:00Z","updatedAt":"2026-11-25T10:00:00Z"}"#,
        );
        assert_eq!(untouched_for(&completed, now), None);
        let no_update = execution(&format!("{{{base}}}"));
        assert_eq!(untouched_for(&no_update, now), None);
    }
}
