//! The gate's own sentences: what it waits for, what changed, why it is
//! ready or still waiting. Every server-supplied piece reaches them through
//! a [`Decision`](crate::decision::Decision) detail or a cache report.

use tokio::time::Instant;

use super::{CacheState, Caches, Gate};
use crate::api::CacheStatus;
use crate::decision::{Decision, ExecutionFilter};
use crate::timespec::format_duration;

impl Gate<'_> {
    pub(super) fn awaited(&self) -> String {
        let what = match (self.plan.trigger, self.execution()) {
            (Some(kind), _) => format!("triggering {} of", kind.a_label()),
            (None, ExecutionFilter::Any) => {
                "waiting for the refresh (incremental or full) of".to_owned()
            }
            (None, ExecutionFilter::Incremental) => {
                "waiting for the incremental sync of".to_owned()
            }
            (None, ExecutionFilter::Full) => "waiting for the full refresh of".to_owned(),
            (None, ExecutionFilter::Both) => {
                "waiting for an incremental sync and a full refresh of".to_owned()
            }
        };
        let caches = match (&self.plan.caches, self.caches.as_slice()) {
            (Caches::All, _) => "every cache".to_owned(),
            (_, [only]) => format!("cache {}", only.cache_id),
            (_, all) => format!("{} caches", all.len()),
        };
        let mut text = format!("{what} {caches} in project {}", self.plan.project_id);
        let bounds = self.criteria(None);
        if let Some(since) = bounds.since {
            text.push_str(&format!(", finished after {since}"));
        }
        if let Some(after) = bounds.started_after {
            text.push_str(&format!(", started at or after {after}"));
        }
        if self.check_once() {
            text.push_str(" (checking once)");
        } else {
            text.push_str(&format!(
                " (timeout {})",
                format_duration(self.plan.timeout)
            ));
        }
        text
    }

    /// Logs the cache's state at `info` when it differs from the last one logged.
    pub(super) fn log_change(&mut self, i: usize, status: &CacheStatus, decision: &Decision) {
        let execution = decision
            .focus
            .and_then(|kind| status.execution(kind).map(|e| (kind, e)));
        let seen = format!(
            "{}|{:?}|{:?}|{:?}|{}",
            status.status.as_str(),
            decision.verdict,
            execution.map(|(_, e)| &e.id),
            execution.map(|(_, e)| &e.status),
            decision.detail,
        );
        if self.watches[i].last_logged.as_deref() == Some(seen.as_str()) {
            return;
        }
        self.watches[i].last_logged = Some(seen);
        self.last_change = Instant::now();
        let cache_id = &self.caches[i].cache_id;
        tracing::info!(
            cache_id = %cache_id,
            status = status.status.as_str(),
            kind = execution.map(|(kind, _)| kind.as_str()),
            execution_id = execution.and_then(|(_, e)| e.id.as_deref()),
            execution_status = execution.and_then(|(_, e)| e.status.as_ref()).map(|s| s.as_str()),
            records = execution.and_then(|(_, e)| e.records()),
            "cache {cache_id}: {}{}",
            decision.detail,
            execution.and_then(|(_, e)| e.records()).map(|n| format!(" ({n} records)")).unwrap_or_default()
        );
    }

    pub(super) fn ready_message(&self) -> String {
        match self.caches.as_slice() {
            [only] => format!(
                "cache {} is ready: {}",
                only.cache_id,
                only.decision.as_ref().map_or("", |d| d.detail.as_str())
            ),
            all => format!("all {} caches are ready", all.len()),
        }
    }

    pub(super) fn waiting_on(&self) -> String {
        self.caches
            .iter()
            .filter(|c| c.state == CacheState::Waiting)
            .map(|c| {
                let state = c
                    .decision
                    .as_ref()
                    .map_or("no status received yet", |d| d.detail.as_str());
                let error = c
                    .last_error
                    .as_ref()
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default();
                format!("cache {}: {state}{error}", c.cache_id)
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(super) fn timeout_message(&self) -> String {
        let when = if self.check_once() {
            "not ready at the single check (--timeout 0)".to_owned()
        } else {
            format!("timed out after {}", format_duration(self.plan.timeout))
        };
        format!("{when}; {}", self.waiting_on())
    }
}
