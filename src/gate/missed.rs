//! Executions that ended between two polls: when a slot shows a new
//! execution while the one seen there before was not seen ending, the
//! execution history says how that one ended.
//!
//! The history is read beside the polls, in a task of its own, so that a
//! slow reply never holds a status poll (each read is bounded by
//! `--request-timeout`; one that fails is sent again at the next pause).
//! Until it is back, the cache is decided only on what its status settles
//! by itself ([`settled_without_history`]): a completion or a failure that
//! the missed execution could overturn waits for the history.

use jiff::Timestamp;

use super::inflight::Inflight;
use super::{CacheState, FUTURE_TOLERANCE, Gate, HISTORY_LIMIT};
use crate::api::{CacheStatus, Execution, ExecutionKind};
use crate::client::{Client, FetchError, Reply};
use crate::decision::{Decision, ExecutionFilter, Verdict};
use crate::text::shown;

/// At most this many history reads are in flight at once: a wave of
/// scheduled runs over `--all-caches` must not be a burst of thousands.
const MAX_MISSED_READS: usize = 20;

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
            self.awaited.watches_mut()[i].seen.insert(kind, seen);
        }
    }

    /// Records each slot's record (before a trigger, no history is needed).
    pub(super) fn remember_slots(&mut self, i: usize, status: &CacheStatus) {
        for &kind in ExecutionFilter::Both.slots() {
            if let Some(execution) = status.execution(kind) {
                self.awaited.watches_mut()[i]
                    .seen
                    .insert(kind, Seen::of(execution));
            }
        }
    }

    /// The awaited slots of cache `i` whose last record `status` shows
    /// replaced while it was not seen ending, and whose history is not
    /// taken in yet.
    fn unexplained(&self, i: usize, status: &CacheStatus) -> Vec<ExecutionKind> {
        let seen = &self.awaited.watches()[i].seen;
        (self.execution().slots().iter())
            .copied()
            .filter(|&kind| replaced_unseen(seen.get(kind), status.execution(kind)))
            .collect()
    }

    /// Takes in a poll's `status` of cache `i` against what was seen of its
    /// slots: takes in the history reads that are back, remembers each
    /// slot's record, and returns the slots still waiting for their
    /// history (their last record stays the one seen, so that the read is
    /// sent, and sent again after a failure, until it is back). A single
    /// check (`--timeout 0`) has no pause to read it in: it reads it now.
    pub(super) async fn note_slots(
        &mut self,
        i: usize,
        status: &CacheStatus,
    ) -> Vec<ExecutionKind> {
        if let Some(back) = self.missed_reads.if_back() {
            self.take_in_missed(back);
        }
        if self.check_once() {
            let asked = self.asked(i, status);
            if !asked.is_empty() {
                self.tally.sent(asked.len());
                let client = self.client.clone();
                let project = self.plan.project_id.clone();
                let back = read_all(client, project, asked, self.budget()).await;
                self.take_in_missed(back);
            }
        }
        let unexplained = self.unexplained(i, status);
        for &kind in self.execution().slots() {
            if let Some(current) = status.execution(kind) {
                if !unexplained.contains(&kind) {
                    self.awaited.watches_mut()[i]
                        .seen
                        .insert(kind, Seen::of(current));
                }
            }
        }
        unexplained
    }

    /// The history reads cache `i` needs for `status`.
    fn asked(&self, i: usize, status: &CacheStatus) -> Vec<Asked> {
        let seen = &self.awaited.watches()[i].seen;
        (self.unexplained(i, status).into_iter())
            .filter_map(|kind| {
                Some(Asked {
                    i,
                    cache_id: self.awaited.caches()[i].cache_id.clone(),
                    kind,
                    prev: seen.get(kind)?.clone(),
                    current: Seen::of(status.execution(kind)?),
                })
            })
            .collect()
    }

    /// Sends the history reads of the slots that wait for one (at most
    /// [`MAX_MISSED_READS`], unless reads are already in flight), in a task
    /// beside the polls.
    pub(super) fn send_missed_reads(&mut self) {
        if self.missed_reads.busy() {
            return;
        }
        let mut asked = Vec::new();
        for (i, cache) in self.awaited.caches().iter().enumerate() {
            if asked.len() >= MAX_MISSED_READS {
                break;
            }
            if let Some(status) = &cache.status {
                asked.extend(self.asked(i, status));
            }
        }
        asked.truncate(MAX_MISSED_READS);
        if asked.is_empty() {
            return;
        }
        self.tally.sent(asked.len());
        let client = self.client.clone();
        let project = self.plan.project_id.clone();
        let budget = self.budget();
        self.missed_reads
            .start(read_all(client, project, asked, budget));
    }

    /// Takes in what the history reads brought back: each execution that
    /// ended between polls joins its cache's missed ones. Returns whether
    /// an awaited cache's history was settled (read, or given up on), so
    /// that the next poll may decide on it at once.
    pub(super) fn take_in_missed(&mut self, reads: Vec<Read>) -> bool {
        let mut settled = false;
        for (asked, result) in reads {
            let Asked {
                i,
                cache_id,
                kind,
                prev,
                current,
            } = asked;
            // Taken in already, or the slot was reset since it was asked.
            if self.awaited.watches()[i].seen.get(kind) != Some(&prev) {
                continue;
            }
            let prev_id = shown(prev.id.as_deref().unwrap_or(""));
            match result {
                Ok(reply) => {
                    let server_now = self.server_now(reply.received_at);
                    let found: Vec<Execution> = reply
                        .value
                        .into_iter()
                        .filter(|e| e.id.is_some() && e.id != current.id)
                        .filter(|e| match e.kind() {
                            Some(mode) => mode == kind,
                            // Without a mode, only the record we watched is surely of this slot.
                            None => e.id == prev.id,
                        })
                        .filter(|e| e.id == prev.id || matches!((e.created_at, prev.created_at), (Some(c), Some(p)) if c > p))
                        .collect();
                    if found.is_empty() {
                        tracing::warn!(cache_id = %cache_id, "cache {cache_id}: {} {prev_id} was replaced between polls and is not in the last {HISTORY_LIMIT} executions of the history", kind.label());
                    }
                    for mut execution in found {
                        execution.forget_times_after(server_now + FUTURE_TOLERANCE);
                        tracing::info!(cache_id = %cache_id, kind = kind.as_str(), execution_id = execution.id.as_deref(), execution_status = execution.status.as_ref().map(|s| s.as_str()), "cache {cache_id}: {} {} ended between polls ({}), read from the execution history", kind.label(), shown(execution.id.as_deref().unwrap_or("")), execution.status.as_ref().map_or("no status", |s| s.as_str()));
                        let watch = &mut self.awaited.watches_mut()[i];
                        watch.missed.retain(|(_, e)| e.id != execution.id);
                        watch.missed.push((kind, execution));
                    }
                }
                Err(err) if err.outcome().is_none() => {
                    // The slot keeps its old record as seen: the read is sent again.
                    tracing::warn!(cache_id = %cache_id, "cache {cache_id}: cannot read the execution history ({}); trying again at the next poll", err.message());
                    continue;
                }
                Err(err) => {
                    tracing::warn!(cache_id = %cache_id, "cache {cache_id}: cannot read the execution history ({}); {} that ended between polls may be missed", err.message(), kind.a_label());
                }
            }
            self.awaited.watches_mut()[i].seen.insert(kind, current);
            settled |= self.awaited.caches()[i].state == CacheState::Waiting;
        }
        settled
    }

    /// `decision` on cache `i`'s `status`, or, when the history of an
    /// `unexplained` slot could overturn it, a wait for that history.
    pub(super) fn hold_for_history(
        &self,
        i: usize,
        status: &CacheStatus,
        decision: Decision,
        unexplained: &[ExecutionKind],
    ) -> Decision {
        if settled_without_history(self.execution(), status, &decision, unexplained) {
            return decision;
        }
        let Some(&kind) = unexplained.first() else {
            return decision;
        };
        let seen = self.awaited.watches()[i].seen.get(kind);
        let prev_id = shown(seen.and_then(|s| s.id.as_deref()).unwrap_or(""));
        Decision {
            verdict: Verdict::Waiting,
            focus: Some(kind),
            detail: format!(
                "{} {prev_id} was replaced between polls before it was seen ending; waiting for the execution history to say how it ended",
                kind.label()
            ),
            unknown_status: decision.unknown_status,
            starting: false,
            execution_id: None,
        }
    }
}

/// One slot whose record was replaced while it was not seen ending: the
/// record last seen there (`prev`) and the one that replaced it.
#[derive(Debug, Clone)]
pub(super) struct Asked {
    i: usize,
    cache_id: String,
    kind: ExecutionKind,
    prev: Seen,
    current: Seen,
}

/// A history read and what it brought back.
type Read = (Asked, Result<Reply<Vec<Execution>>, FetchError>);

/// The history reads in flight.
pub(super) type MissedReads = Inflight<Vec<Read>>;

/// Whether the record seen last in a slot was replaced by `current`
/// without being seen ending: then only the history says how it ended.
fn replaced_unseen(prev: Option<&Seen>, current: Option<&Execution>) -> bool {
    match (prev, current) {
        (Some(prev), Some(now)) => !prev.terminal && prev.id.is_some() && prev.id != now.id,
        _ => false,
    }
}

/// Whether a `decision` on `status` alone stands whatever the history of
/// the `unexplained` slots says (their last records were replaced unseen
/// ending). A waiting decision always stands (it decides nothing). A
/// completion or a failure stands only when each unexplained slot's
/// current record has ended with a readable time, and, but for `both`,
/// that record is the one that decided: it was created after the missed
/// one was last seen running, so it ended after it, and "the one that
/// ended last" (or, for `both`, each slot's last) is the same with the
/// history or without. Anything else waits for the history.
pub(super) fn settled_without_history(
    filter: ExecutionFilter,
    status: &CacheStatus,
    decision: &Decision,
    unexplained: &[ExecutionKind],
) -> bool {
    if decision.verdict == Verdict::Waiting || unexplained.is_empty() {
        return true;
    }
    let ended = |kind: ExecutionKind| {
        status
            .execution(kind)
            .and_then(Execution::terminal_at)
            .is_some()
    };
    if !unexplained.iter().all(|&kind| ended(kind)) {
        return false;
    }
    if filter == ExecutionFilter::Both {
        return true;
    }
    decision.focus.is_some_and(|focus| {
        unexplained.contains(&focus)
            && decision.execution_id.is_some()
            && status.execution(focus).and_then(|e| e.id.as_ref()) == decision.execution_id.as_ref()
    })
}

/// Reads the history of each slot in `asked`, at once.
async fn read_all(
    client: Client,
    project: String,
    asked: Vec<Asked>,
    budget: std::time::Duration,
) -> Vec<Read> {
    let reads = (asked.iter())
        .map(|a| client.execution_history(&project, &a.cache_id, HISTORY_LIMIT, budget));
    let replies = futures_util::future::join_all(reads).await;
    asked.into_iter().zip(replies).collect()
}

#[cfg(test)]
mod tests;
