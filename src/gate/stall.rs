//! `--stall-timeout`: when the awaited running execution has stopped moving.

use jiff::Timestamp;
use tokio::time::Instant;

use super::{Ended, Gate};
use crate::api::{CacheStatus, Execution, ExecutionKind};
use crate::decision::{Decision, Motion, Verdict, still_for};
use crate::exit_codes::Outcome;
use crate::timespec::format_duration;

impl Gate<'_> {
    /// `--stall-timeout`: ends the gate when the awaited running execution
    /// has not moved for that long.
    pub(super) fn check_stall(
        &mut self,
        i: usize,
        status: &CacheStatus,
        decision: &Decision,
        server_now: Timestamp,
    ) -> Option<Ended> {
        let limit = self.plan.stall_timeout?;
        let Some((kind, execution)) = awaited_running(status, decision) else {
            self.awaited.watches_mut()[i].motion = None;
            return None;
        };
        let now = Instant::now();
        let motion = Motion::of(execution);
        let unchanged_since = match &self.awaited.watches()[i].motion {
            Some((seen, since)) if *seen == motion => *since,
            _ => {
                self.awaited.watches_mut()[i].motion = Some((motion, now));
                now
            }
        };
        let still = still_for(
            now - unchanged_since,
            execution.updated_at.or(execution.created_at),
            server_now,
        );
        if still < limit {
            return None;
        }
        let records = execution
            .records()
            .map_or("no progress reported".to_owned(), |n| {
                format!("{n} records")
            });
        Some((
            Outcome::Stalled,
            format!(
                "cache {}: {} {} has not moved for {} (status {}, last update {}, {records}); --stall-timeout is {}",
                self.awaited.caches()[i].cache_id,
                kind.label(),
                execution.id.as_deref().unwrap_or("(no id)"),
                format_duration(still),
                execution.status.as_ref().map_or("(none)", |s| s.as_str()),
                execution
                    .updated_at
                    .map_or("never".to_owned(), |t| t.to_string()),
                format_duration(limit)
            ),
        ))
    }
}

/// The awaited execution while the gate waits for it to end: the slot the
/// decision focuses on, if its record has not ended. Stall and pickup
/// watch the same record.
pub(super) fn awaited_running<'s>(
    status: &'s CacheStatus,
    decision: &Decision,
) -> Option<(ExecutionKind, &'s Execution)> {
    match (decision.verdict, decision.focus) {
        (Verdict::Waiting, Some(kind)) => status
            .execution(kind)
            .filter(|e| !e.is_terminal())
            .map(|e| (kind, e)),
        _ => None,
    }
}
