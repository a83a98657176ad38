//! The awaited caches and the loop's memory of each: their reports (what
//! the summary says of each), a [`Watch`] per cache, what was warned of
//! once, and the `--all-caches` list read at the start. The reports and
//! the watches are added together only here, so that there is one watch
//! per cache, in the same order; the loop's parts fill them in
//! (`round.rs` a poll's reply, `missed.rs` the history, `trigger.rs` and
//! `cancel.rs` the triggered run, `planning/` the forecast).

use std::collections::HashSet;

use jiff::Timestamp;
use tokio::time::Instant;

use super::{CacheReport, CacheState};
use crate::api::{CacheStatus, Execution, ExecutionKind};
use crate::client::Reply;
use crate::decision::{Baseline, ExecutionFilter, Motion};
use crate::exit_codes::Outcome;

/// The loop's memory of one cache.
#[derive(Debug, Default)]
pub(super) struct Watch {
    /// The slot's record before `--trigger`. Boxed: only a trigger or a
    /// resume fills it, and `--all-caches` keeps a `Watch` per cache.
    pub(super) baseline: Option<Box<Baseline>>,
    /// When the trigger was last sent, on this machine's clock.
    pub(super) trigger_sent: Option<Timestamp>,
    /// The last record seen in each slot.
    pub(super) seen: super::missed::SeenSlots,
    /// Executions that ended between polls, read from the history.
    pub(super) missed: Vec<(ExecutionKind, Execution)>,
    /// The awaited execution's last motion, and since when it is unchanged.
    pub(super) motion: Option<(Motion, Instant)>,
    /// What was last logged, to log only changes.
    pub(super) last_logged: Option<u64>,
    /// Its forecast (`--schedule adaptive`).
    pub(super) planning: super::planning::PlanningSlot,
    /// Since when the cache has been RUNNING with no running record.
    pub(super) starting_since: Option<Instant>,
    /// At the first sight of the cache: the latest time any of its
    /// executions ended, and the latest time one started. Those
    /// executions existed before the gate did, so a clock correction may
    /// never make them count for a bound relative to the start.
    pub(super) first_sight: Option<(Option<Timestamp>, Option<Timestamp>)>,
    /// `--trigger`, once the trigger was sent: what is known of the
    /// execution it started (boxed: most runs never trigger, and a list of
    /// 10,000 caches has a watch each).
    pub(super) triggered: Option<Box<super::cancel::Triggered>>,
}

/// The awaited caches, a watch for each, and what is warned of once.
#[derive(Debug, Default)]
pub(super) struct Awaited {
    caches: Vec<CacheReport>,
    watches: Vec<Watch>,
    /// The execution statuses unknown to this version already warned of.
    warned_unknown: HashSet<String>,
    /// The caches already warned of as listed twice.
    warned_duplicate: HashSet<String>,
    /// `--all-caches`: the list read at the start, used as the first round.
    first_list: Option<Reply<Vec<CacheStatus>>>,
}

impl Awaited {
    /// These caches, each waiting, in this order (replacing any before).
    pub(super) fn set(&mut self, ids: Vec<String>) {
        self.caches = ids.into_iter().map(|id| waiting(id, None)).collect();
        self.watches = self.caches.iter().map(|_| Watch::default()).collect();
    }

    /// Adds the caches not yet awaited, with the status the list gave them
    /// (so the summary can name their tables even before the first poll).
    pub(super) fn add(&mut self, ids: Vec<String>, statuses: &[CacheStatus]) {
        for id in ids {
            if self.caches.iter().any(|c| c.cache_id == id) {
                continue;
            }
            let status = statuses
                .iter()
                .find(|s| s.id.as_deref() == Some(id.as_str()))
                .cloned();
            self.caches.push(waiting(id, status));
            self.watches.push(Watch::default());
        }
    }

    /// Every cache's report, in order.
    pub(super) fn caches(&self) -> &[CacheReport] {
        &self.caches
    }

    /// Every cache's report, to fill in (never to add one: [`Self::add`]).
    pub(super) fn caches_mut(&mut self) -> &mut [CacheReport] {
        &mut self.caches
    }

    /// Every cache's watch, in the same order.
    pub(super) fn watches(&self) -> &[Watch] {
        &self.watches
    }

    /// Every cache's watch, to fill in.
    pub(super) fn watches_mut(&mut self) -> &mut [Watch] {
        &mut self.watches
    }

    /// How many caches are awaited.
    pub(super) fn len(&self) -> usize {
        self.caches.len()
    }

    /// Whether every cache is ready.
    pub(super) fn all_ready(&self) -> bool {
        self.caches.iter().all(|c| c.state == CacheState::Ready)
    }

    /// Whether `status` (unknown to this version) is to be warned of: the
    /// first time only.
    pub(super) fn first_unknown(&mut self, status: &str) -> bool {
        self.warned_unknown.insert(status.to_owned())
    }

    /// Whether cache `i`, listed twice, is to be warned of: the first time only.
    pub(super) fn first_duplicate(&mut self, i: usize) -> bool {
        self.warned_duplicate
            .insert(self.caches[i].cache_id.clone())
    }

    /// `--all-caches` without a trigger: the list read at the start is
    /// the first round.
    pub(super) fn keep_first_list(&mut self, reply: Reply<Vec<CacheStatus>>) {
        self.first_list = Some(reply);
    }

    /// The list read at the start, once.
    pub(super) fn take_first_list(&mut self) -> Option<Reply<Vec<CacheStatus>>> {
        self.first_list.take()
    }

    /// Remembers what the cache showed the first time it was seen.
    pub(super) fn note_first_sight(&mut self, i: usize, status: &CacheStatus) {
        if self.watches[i].first_sight.is_some() {
            return;
        }
        let executions = || {
            ExecutionFilter::Both
                .slots()
                .iter()
                .filter_map(|&kind| status.execution(kind))
        };
        let ended = executions().filter_map(Execution::terminal_at).max();
        let started = executions().filter_map(|e| e.created_at).max();
        self.watches[i].first_sight = Some((ended, started));
    }

    /// The cache the outcome is about; see [`super::Report::decided_by`].
    pub(super) fn decided_by(&self, outcome: Outcome) -> Option<usize> {
        let caches = self.caches.iter().enumerate();
        match outcome {
            Outcome::Ready => caches
                .max_by_key(|(_, c)| {
                    let kind = c.decision.as_ref().and_then(|d| d.focus);
                    kind.and_then(|k| c.status.as_ref()?.execution(k)?.terminal_at())
                })
                .map(|(i, _)| i),
            Outcome::Timeout | Outcome::Interrupted | Outcome::Terminated | Outcome::Usage => {
                caches
                    .clone()
                    .find(|(_, c)| c.state == CacheState::Waiting)
                    .or_else(|| caches.clone().next())
                    .map(|(i, _)| i)
            }
            _ => {
                let state = CacheState::of(outcome);
                caches
                    .clone()
                    .find(|(_, c)| c.state == state)
                    .map(|(i, _)| i)
            }
        }
    }

    /// Every cache's report, for the summary.
    pub(super) fn into_caches(self) -> Vec<CacheReport> {
        self.caches
    }
}

/// A cache not yet decided.
fn waiting(cache_id: String, status: Option<CacheStatus>) -> CacheReport {
    CacheReport {
        cache_id,
        state: CacheState::Waiting,
        status,
        decision: None,
        last_error: None,
        forecast: None,
        cancel: None,
        last_moved_at: None,
        warning: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Status;

    fn listed(id: &str, table: &str) -> CacheStatus {
        CacheStatus {
            id: Some(id.into()),
            status: Status::parse("READY"),
            catalog_id: None,
            schema_name: None,
            table_name: Some(table.into()),
            last_incremental_cache_execution: None,
            last_full_refresh_cache_execution: None,
        }
    }

    fn ids(awaited: &Awaited) -> Vec<&str> {
        (awaited.caches().iter())
            .map(|c| c.cache_id.as_str())
            .collect()
    }

    #[test]
    fn each_cache_has_one_watch_and_is_awaited_once() {
        let mut awaited = Awaited::default();
        awaited.set(vec!["a".into(), "b".into()]);
        awaited.watches_mut()[1].last_logged = Some(7);
        awaited.add(
            vec!["b".into(), "c".into()],
            &[listed("c", "orders"), listed("b", "ignored")],
        );
        assert_eq!(ids(&awaited), ["a", "b", "c"]);
        assert_eq!(awaited.len(), 3);
        assert_eq!(awaited.watches().len(), 3);
        // "b" kept its memory, and no status from the list.
        assert_eq!(awaited.watches()[1].last_logged, Some(7));
        assert!(awaited.caches()[1].status.is_none());
        // "c" came with the list's status (its table is named at once).
        let c = &awaited.caches()[2];
        assert_eq!(c.state, CacheState::Waiting);
        assert_eq!(
            c.status.as_ref().and_then(|s| s.table_name.as_deref()),
            Some("orders")
        );
        // Setting the caches anew forgets what was awaited.
        awaited.set(vec!["z".into()]);
        assert_eq!(ids(&awaited), ["z"]);
        assert_eq!(awaited.watches().len(), 1);
        assert_eq!(awaited.watches()[0].last_logged, None);
    }

    #[test]
    fn every_cache_ready_is_ready_and_none_awaited_is_too() {
        let mut awaited = Awaited::default();
        assert!(awaited.all_ready());
        awaited.set(vec!["a".into(), "b".into()]);
        assert!(!awaited.all_ready());
        awaited.caches_mut()[0].state = CacheState::Ready;
        assert!(!awaited.all_ready());
        awaited.caches_mut()[1].state = CacheState::Ready;
        assert!(awaited.all_ready());
    }

    #[test]
    fn each_warning_is_given_once() {
        let mut awaited = Awaited::default();
        awaited.set(vec!["a".into(), "b".into()]);
        assert!(awaited.first_unknown("PAUSED"));
        assert!(!awaited.first_unknown("PAUSED"));
        assert!(awaited.first_unknown("QUEUED"));
        assert!(awaited.first_duplicate(0));
        assert!(!awaited.first_duplicate(0));
        assert!(awaited.first_duplicate(1));
    }

    #[test]
    fn the_first_list_is_used_once() {
        let mut awaited = Awaited::default();
        assert!(awaited.take_first_list().is_none());
        awaited.keep_first_list(Reply {
            value: vec![listed("a", "t")],
            server_date: None,
            received_at: Timestamp::now(),
        });
        let first = awaited.take_first_list().unwrap();
        assert_eq!(first.value.len(), 1);
        assert!(awaited.take_first_list().is_none());
    }
}
