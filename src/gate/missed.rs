//! Executions that ended between two polls: when a slot shows a new
//! execution while the one seen there before was not seen ending, the
//! execution history says how that one ended.

use jiff::Timestamp;

use super::{FUTURE_TOLERANCE, Gate, HISTORY_LIMIT};
use crate::api::{CacheStatus, Execution, ExecutionKind};
use crate::decision::ExecutionFilter;

/// The last record seen in a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    pub(super) id: Option<String>,
    pub(super) created_at: Option<Timestamp>,
    pub(super) terminal: bool,
}

impl Seen {
    pub(super) fn of(execution: &Execution) -> Seen {
        Seen {
            id: execution.id.clone(),
            created_at: execution.created_at,
            terminal: execution.is_terminal(),
        }
    }
}

/// The last record seen in each slot: two fields, not a map, since a
/// gate over 10,000 caches keeps one per cache.
#[derive(Debug, Default)]
pub(super) struct SeenSlots {
    incremental: Option<Seen>,
    full: Option<Seen>,
}

impl SeenSlots {
    fn slot(&mut self, kind: ExecutionKind) -> &mut Option<Seen> {
        match kind {
            ExecutionKind::Incremental => &mut self.incremental,
            ExecutionKind::Full => &mut self.full,
        }
    }

    pub(super) fn get(&self, kind: ExecutionKind) -> Option<&Seen> {
        match kind {
            ExecutionKind::Incremental => self.incremental.as_ref(),
            ExecutionKind::Full => self.full.as_ref(),
        }
    }

    fn insert(&mut self, kind: ExecutionKind, seen: Seen) {
        *self.slot(kind) = Some(seen);
    }
}

impl Gate<'_> {
    /// `--resume`: takes the slot's record before the trigger for the last
    /// one seen, as not yet ended, so that when the slot shows another the
    /// history is read for what ended since (the triggered run may have
    /// ended, and another taken the slot, before this process looked).
    pub(super) fn remember_baseline(&mut self, i: usize, kind: ExecutionKind, seen: Seen) {
        if seen.id.is_some() {
            self.watches[i].seen.insert(kind, seen);
        }
    }

    /// Records each slot's record (before a trigger, no history is needed).
    pub(super) fn remember_slots(&mut self, i: usize, status: &CacheStatus) {
        for &kind in ExecutionFilter::Both.slots() {
            if let Some(execution) = status.execution(kind) {
                self.watches[i].seen.insert(kind, Seen::of(execution));
            }
        }
    }

    /// When a slot shows a new execution while the one seen there before
    /// was not seen ending, reads the execution history for what ended in
    /// between, so that no completion is missed and no failure hidden.
    pub(super) async fn read_missed(
        &mut self,
        i: usize,
        status: &CacheStatus,
        server_now: Timestamp,
    ) {
        let cache_id = self.caches[i].cache_id.clone();
        for &kind in self.execution().slots() {
            let current = status.execution(kind).map(Seen::of);
            let previous = self.watches[i].seen.get(kind).cloned();
            let moved_on = match (&previous, &current) {
                (Some(prev), Some(now)) => !prev.terminal && prev.id.is_some() && prev.id != now.id,
                _ => false,
            };
            if let (true, Some(prev)) = (moved_on, previous) {
                self.polls += 1;
                match self
                    .client
                    .execution_history(
                        &self.plan.project_id,
                        &cache_id,
                        HISTORY_LIMIT,
                        self.budget(),
                    )
                    .await
                {
                    Ok(reply) => {
                        let current_id = current.as_ref().and_then(|c| c.id.clone());
                        let found: Vec<Execution> = reply
                            .value
                            .into_iter()
                            .filter(|e| e.id.is_some() && e.id != current_id)
                            .filter(|e| match e.kind() {
                                Some(mode) => mode == kind,
                                // Without a mode, only the record we watched is surely of this slot.
                                None => e.id == prev.id,
                            })
                            .filter(|e| e.id == prev.id || matches!((e.created_at, prev.created_at), (Some(c), Some(p)) if c > p))
                            .collect();
                        if found.is_empty() {
                            tracing::warn!(cache_id = %cache_id, "cache {cache_id}: {} {} was replaced between polls and is not in the last {HISTORY_LIMIT} executions of the history", kind.label(), prev.id.as_deref().unwrap_or(""));
                        }
                        for mut execution in found {
                            execution.forget_times_after(server_now + FUTURE_TOLERANCE);
                            tracing::info!(cache_id = %cache_id, kind = kind.as_str(), execution_id = execution.id.as_deref(), execution_status = execution.status.as_ref().map(|s| s.as_str()), "cache {cache_id}: {} {} ended between polls ({}), read from the execution history", kind.label(), execution.id.as_deref().unwrap_or(""), execution.status.as_ref().map_or("no status", |s| s.as_str()));
                            let watch = &mut self.watches[i];
                            watch.missed.retain(|(_, e)| e.id != execution.id);
                            watch.missed.push((kind, execution));
                        }
                    }
                    Err(err) if err.outcome().is_none() => {
                        // Keep the old record as seen, so the next poll tries again.
                        tracing::warn!(cache_id = %cache_id, "cache {cache_id}: cannot read the execution history ({}); trying again at the next poll", err.message());
                        continue;
                    }
                    Err(err) => {
                        tracing::warn!(cache_id = %cache_id, "cache {cache_id}: cannot read the execution history ({}); {} that ended between polls may be missed", err.message(), kind.a_label());
                    }
                }
            }
            if let Some(current) = current {
                self.watches[i].seen.insert(kind, current);
            }
        }
    }
}
