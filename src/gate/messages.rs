//! The gate's own sentences: what it waits for, what changed, why it is
//! ready or still waiting. Every server-supplied piece reaches them through
//! a [`Decision`] detail or a cache report.

use std::time::Duration;

use jiff::SignedDuration;
use tokio::time::Instant;

use super::{CacheReport, CacheState, Caches, Gate};
use crate::api::CacheStatus;
use crate::decision::{Decision, ExecutionFilter, show_time};
use crate::timespec::format_duration;

/// A cache accepted without a time bound whose execution finished longer
/// than this before the gate started gets a warning: "the current sync"
/// may be a stale one.
pub const OLD_EXECUTION: SignedDuration = SignedDuration::from_secs(3600);

/// How many waiting caches a timeout or heartbeat message names.
const NAMED_CACHES: usize = 5;

impl Gate<'_> {
    pub(super) fn awaited(&self) -> String {
        let what = match (self.plan.trigger, self.execution()) {
            (Some(kind), _) if self.plan.cancel => {
                format!("cancelling the {} the resume token names, of", kind.label())
            }
            (Some(kind), _) if self.plan.resume.is_some() => format!(
                "resuming: waiting for the {} triggered before (no new trigger), of",
                kind.label()
            ),
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
        let caches = match (&self.plan.caches, self.awaited.caches()) {
            (Caches::All, _) => "every cache".to_owned(),
            (_, all) => {
                // Before the setup, `--table` and `--catalog-id` are names
                // still to be looked up: say them, not "0 caches".
                let mut named = match all {
                    [] => Vec::new(),
                    [only] => vec![format!("cache {}", only.cache_id)],
                    all => vec![format!("{} caches", all.len())],
                };
                match self.plan.tables.as_slice() {
                    [] => {}
                    [only] => named.push(format!("the cache of table {}", only.name())),
                    tables => named.push(format!(
                        "the caches of tables {}",
                        tables
                            .iter()
                            .map(|t| t.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                }
                if let Some(scope) = &self.plan.catalog {
                    named.push(format!("every cache of {}", scope.describe()));
                }
                named.join(" and ")
            }
        };
        let subject = match (self.awaits_caches(), self.queries.named()) {
            (true, Some(queries)) => format!("{what} {caches}, then {queries}"),
            (false, Some(queries)) => queries,
            (_, None) => format!("{what} {caches}"),
        };
        let mut text = format!(
            "{subject} in project {} at {}",
            self.plan.project_id,
            self.client.base_url()
        );
        let bounds = self.criteria(None);
        if let Some(since) = bounds.since {
            text.push_str(&format!(", finished after {}", show_time(since)));
        }
        if let Some(after) = bounds.started_after {
            text.push_str(&format!(", started at or after {}", show_time(after)));
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
        // A hash is enough to tell a change, and 8 bytes a cache instead of
        // a sentence matters with 10,000 caches.
        let seen = {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            seen.hash(&mut hasher);
            hasher.finish()
        };
        if self.awaited.watches()[i].last_logged == Some(seen) {
            return;
        }
        self.awaited.watches_mut()[i].last_logged = Some(seen);
        self.tally.news();
        let cache_id = &self.awaited.caches()[i].cache_id;
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
        match self.awaited.caches() {
            [only] => format!(
                "cache {}: {}",
                only.cache_id,
                only.decision.as_ref().map_or("", |d| d.detail.as_str())
            ),
            all => format!("all {} caches are ready", all.len()),
        }
    }

    /// Without a time bound, the newest execution counts however old it is.
    /// That is the rule, but an old one is worth a warning: the user may
    /// have meant "a fresh one".
    pub(super) fn warn_if_old(&self) {
        let criteria = self.criteria(None);
        if criteria.since.is_some()
            || criteria.started_after.is_some()
            || self.plan.trigger.is_some()
        {
            return;
        }
        let start = self.clock.on_server(self.plan.started_at);
        for cache in self.awaited.caches() {
            let Some((kind, ended)) = cache.decision.as_ref().and_then(|d| {
                let kind = d.focus?;
                Some((kind, cache.status.as_ref()?.execution(kind)?.terminal_at()?))
            }) else {
                continue;
            };
            let age = start.duration_since(ended);
            if age > OLD_EXECUTION {
                let age = format_duration(Duration::try_from(age).unwrap_or_default());
                tracing::warn!(cache_id = %cache.cache_id, "cache {}: the {} that made it ready finished {age} before the gate started (at {}); to require a fresher one, pass --since (e.g. --since 1h) or --started-after", cache.cache_id, kind.label(), show_time(ended));
            }
        }
    }

    /// "still waiting …" for the heartbeat: elapsed, time left, and what
    /// each waiting cache is waiting for.
    pub(super) fn heartbeat_message(&self) -> String {
        let left = self
            .retry
            .deadline()
            .saturating_duration_since(Instant::now());
        format!(
            "still waiting after {} ({} left): {}",
            format_duration(self.tally.elapsed()),
            format_duration(left),
            self.waiting_on(Self::eta_note, false)
        )
    }

    /// The waiting caches, each with its state, its last error and `note`;
    /// with `moved`, since when its running execution has not moved.
    pub(super) fn waiting_on(
        &self,
        note: fn(&CacheReport) -> Option<String>,
        moved: bool,
    ) -> String {
        let server_now = self.server_now(jiff::Timestamp::now());
        let waiting: Vec<_> = self
            .awaited
            .caches()
            .iter()
            .filter(|c| c.state == CacheState::Waiting)
            .collect();
        let more = waiting.len().saturating_sub(NAMED_CACHES);
        let mut text = waiting
            .into_iter()
            .take(NAMED_CACHES)
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
                let still = match c.last_moved_at.filter(|_| moved) {
                    Some(at) => {
                        let ago =
                            Duration::try_from(server_now.duration_since(at)).unwrap_or_default();
                        format!(
                            ", and has not moved since {} ({} ago)",
                            show_time(at),
                            format_duration(ago)
                        )
                    }
                    None => String::new(),
                };
                let note = note(c).map(|n| format!(" [{n}]")).unwrap_or_default();
                format!("cache {}: {state}{still}{error}{note}", c.cache_id)
            })
            .collect::<Vec<_>>()
            .join("; ");
        if more > 0 {
            text.push_str(&format!("; and {more} more caches"));
        }
        text
    }

    pub(super) fn timeout_message(&self) -> String {
        let when = if self.check_once() {
            "not ready at the single check (--timeout 0)".to_owned()
        } else {
            format!("timed out after {}", format_duration(self.plan.timeout))
        };
        format!("{when}; {}", self.waiting_on(|_| None, true))
    }
}
