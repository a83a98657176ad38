//! `--cancel-on-exit`: when a gate that triggered a refresh ends before
//! that refresh did (timeout, SIGINT/SIGTERM, stall), ask Peaka to cancel
//! it, within a short budget, and say whether Peaka accepted.
//!
//! Only an execution the gate can show it started is cancelled: one that
//! [`Baseline::proof`](crate::decision::Baseline::proof) shows is the
//! triggered one (the rule that decides "ready"), after a trigger the
//! server accepted. One that never appeared is not cancelled, since the
//! running one could be somebody else's; nor is any after a trigger that
//! got an error or no answer, since Peaka may never have started one.

use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

use super::{CacheState, Gate};
use crate::api::{CacheStatus, Execution, ExecutionKind};
use crate::client::FetchError;
use crate::exit_codes::Outcome;

/// How long the cancel requests may take after the gate ended: the gate
/// still ends within 2 s of a signal, and within `--timeout` + 2 s.
pub const CANCEL_BUDGET: Duration = Duration::from_millis(1500);

/// The gate ends later than this after its deadline only by the cancel.
const AFTER_DEADLINE: Duration = Duration::from_secs(2);

/// What is known of the execution a trigger started, changed only
/// through its methods: sent, then its id noted once.
#[derive(Debug)]
pub(super) struct Triggered {
    /// Why no run can be shown to be the trigger's, whatever the slot
    /// shows: the trigger was answered with an error, or not at all.
    doubt: Option<String>,
    /// Its id, once seen in the slot (or, resumed, in the history).
    id: Option<String>,
}

impl Triggered {
    /// A trigger was sent; `doubt` says why it may not have started
    /// anything (`None`: the server accepted it).
    pub(super) fn sent(doubt: Option<String>) -> Triggered {
        Triggered { doubt, id: None }
    }

    /// The id of the execution it started, once noted.
    pub(super) fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Notes the id of the execution the trigger started; only the first
    /// one counts: a later record is not the trigger's.
    fn note(&mut self, id: Option<String>) {
        if self.id.is_none() {
            self.id = id;
        }
    }

    /// The execution to cancel if it is still running, or why it is not
    /// cancelled: `ended` says the gate saw the cache ready or failed, and
    /// `current` is the record the slot of `kind` shows now.
    fn cancel_target(
        &self,
        ended: bool,
        current: Option<&Execution>,
        kind: ExecutionKind,
    ) -> Result<String, String> {
        if ended {
            return Err("it had ended".into());
        }
        if let Some(doubt) = &self.doubt {
            return Err(format!("{doubt}, so this run may not be ours"));
        }
        let Some(id) = &self.id else {
            return Err(format!(
                "the triggered {} never appeared in the slot, and a running one may be somebody else's",
                kind.label()
            ));
        };
        match current {
            Some(e) if e.id.as_ref() == Some(id) && !e.is_terminal() => Ok(id.clone()),
            Some(e) if e.id.as_ref() == Some(id) => Err(format!(
                "{id} had ended ({})",
                e.status.as_ref().map_or("no status", |s| s.as_str())
            )),
            _ => Err(format!(
                "the slot no longer shows {id}; the execution there is not the gate's"
            )),
        }
    }
}

impl Gate<'_> {
    /// Notes that the trigger was sent; `doubt` says why it may not have
    /// started anything (`None`: the server accepted it).
    pub(super) fn note_trigger_sent(&mut self, i: usize, doubt: Option<String>) {
        self.awaited.watches_mut()[i].triggered = Some(Box::new(Triggered::sent(doubt)));
    }

    /// Remembers the first execution in the triggered slot that can only
    /// be the one the trigger started: the earliest such one among the
    /// slot and what ended unseen between polls (a resumed gate may first
    /// look long after the trigger, when a later run holds the slot).
    /// While the slot's history is `unexplained` (not read yet), nothing is
    /// noted: the record the slot shows may be a later one.
    pub(super) fn note_triggered(
        &mut self,
        i: usize,
        status: &CacheStatus,
        unexplained: &[ExecutionKind],
    ) {
        let Some(kind) = self.plan.trigger else {
            return;
        };
        if unexplained.contains(&kind) {
            return;
        }
        // Only the first one counts: a later record is not the trigger's.
        if self.awaited.watches()[i]
            .triggered
            .as_ref()
            .is_none_or(|triggered| triggered.id().is_some())
        {
            return;
        }
        let Some(baseline) = &self.awaited.watches()[i].baseline else {
            return;
        };
        let missed = self.awaited.watches()[i].missed.iter();
        let ours = missed
            .filter(|(k, _)| *k == kind)
            .map(|(_, e)| e)
            .chain(status.execution(kind))
            .filter(|e| baseline.is_superseded_by(e))
            .min_by_key(|e| e.created_at);
        if let Some(execution) = ours {
            let id = execution.id.clone();
            if let Some(triggered) = self.awaited.watches_mut()[i].triggered.as_mut() {
                triggered.note(id);
            }
        }
    }

    /// With `--cancel-on-exit`, when `outcome` leaves the triggered
    /// refreshes running, sends the cancels (in parallel, within the
    /// budget) and returns a sentence for the summary. The outcome is not
    /// changed by what happens here.
    pub(super) async fn cancel_on_exit(&mut self, outcome: Outcome) -> Option<String> {
        let kind = self.plan.trigger?;
        if !self.plan.cancel_on_exit
            || !matches!(
                outcome,
                Outcome::Timeout | Outcome::Interrupted | Outcome::Terminated | Outcome::Stalled
            )
        {
            return None;
        }
        let now = Instant::now();
        let end = (now + CANCEL_BUDGET).min(self.retry.deadline() + AFTER_DEADLINE);
        let budget = end.saturating_duration_since(now);
        let mut targets = Vec::new();
        for i in 0..self.awaited.len() {
            match self.cancel_target(i, kind) {
                Ok(id) => targets.push((i, id)),
                Err(Some(reason)) => {
                    self.awaited.caches_mut()[i].cancel = Some(format!("not sent: {reason}"))
                }
                Err(None) => {}
            }
        }
        if budget.is_zero() {
            for (i, _) in &targets {
                self.awaited.caches_mut()[*i].cancel = Some("not sent: no time left".into());
            }
            targets.clear();
        }
        let project_id = &self.plan.project_id;
        let client = self.client;
        let caches = self.awaited.caches();
        let answers = join_all(
            targets
                .iter()
                .map(|(i, _)| client.cancel(project_id, &caches[*i].cache_id, kind, budget)),
        )
        .await;
        self.tally.sent(answers.len());
        for ((i, id), answer) in targets.into_iter().zip(answers) {
            let cache_id = self.awaited.caches()[i].cache_id.clone();
            let run = format!("the triggered {} {id}", kind.label());
            let said = cancel_answer(&format!("cache {cache_id}"), &run, answer);
            self.awaited.caches_mut()[i].cancel = Some(said);
        }
        let told: Vec<String> = self
            .awaited
            .caches()
            .iter()
            .filter_map(|c| {
                c.cancel
                    .as_ref()
                    .map(|said| format!("cache {}: {said}", c.cache_id))
            })
            .collect();
        (!told.is_empty()).then(|| {
            format!(
                "cancel of the triggered {}: {}",
                kind.label(),
                told.join("; ")
            )
        })
    }

    /// The triggered execution of cache `i` if it is still running, or why
    /// it is not cancelled (`None`: the gate never triggered there).
    fn cancel_target(&self, i: usize, kind: ExecutionKind) -> Result<String, Option<String>> {
        let Some(triggered) = &self.awaited.watches()[i].triggered else {
            return Err(None);
        };
        let cache = &self.awaited.caches()[i];
        let ended = matches!(cache.state, CacheState::Ready | CacheState::Failed);
        let current = cache.status.as_ref().and_then(|s| s.execution(kind));
        triggered.cancel_target(ended, current, kind).map_err(Some)
    }
}

/// What became of a cancel, in the summary's words (`accepted`, `nothing
/// to cancel: …`, `refused: …`, `failed: …`), logged for `subject`'s `run`.
pub(super) fn cancel_answer(
    subject: &str,
    run: &str,
    answer: Result<crate::client::Reply<()>, FetchError>,
) -> String {
    match answer {
        Ok(_) => {
            tracing::info!("{subject}: asked Peaka to cancel {run}: accepted");
            "accepted".to_owned()
        }
        // Peaka's 404 "no active workflow": the run ended between the
        // last poll and the cancel.
        Err(FetchError::NotFound(_)) => {
            tracing::info!(
                "{subject}: nothing to cancel: {run} had already ended (Peaka answered 404)"
            );
            "nothing to cancel: it had already ended".to_owned()
        }
        Err(err) => {
            let verb = if err.outcome().is_some() {
                "refused"
            } else {
                "failed"
            };
            tracing::warn!("{subject}: the cancel of {run} {verb}: {}", err.message());
            format!("{verb}: {}", err.message())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Status;

    fn run(id: &str, status: &str) -> Execution {
        Execution {
            id: Some(id.into()),
            status: Some(Status::parse(status)),
            ..Execution::default()
        }
    }

    #[test]
    fn only_the_first_execution_noted_is_the_triggers() {
        let mut triggered = Triggered::sent(None);
        assert_eq!(triggered.id(), None);
        triggered.note(None);
        assert_eq!(triggered.id(), None);
        triggered.note(Some("e1".into()));
        triggered.note(Some("e2".into()));
        assert_eq!(triggered.id(), Some("e1"));
    }

    #[test]
    fn only_a_running_execution_the_gate_can_show_it_started_is_cancelled() {
        let kind = ExecutionKind::Incremental;
        let mut seen = Triggered::sent(None);
        seen.note(Some("e1".into()));
        assert_eq!(
            seen.cancel_target(false, Some(&run("e1", "RUNNING")), kind),
            Ok("e1".into())
        );
        let why = |t: &Triggered, ended, current: Option<&Execution>| {
            t.cancel_target(ended, current, kind).unwrap_err()
        };
        assert_eq!(
            why(&seen, true, Some(&run("e1", "RUNNING"))),
            "it had ended"
        );
        assert!(
            why(&seen, false, Some(&run("e1", "COMPLETED"))).starts_with("e1 had ended (COMPLETED")
        );
        assert!(why(&seen, false, Some(&run("e2", "RUNNING"))).contains("no longer shows e1"));
        assert!(why(&seen, false, None).contains("no longer shows e1"));
        let unseen = Triggered::sent(None);
        assert!(why(&unseen, false, Some(&run("e2", "RUNNING"))).contains("never appeared"));
        let mut doubted = Triggered::sent(Some("the trigger got no answer".into()));
        doubted.note(Some("e1".into()));
        assert_eq!(
            why(&doubted, false, Some(&run("e1", "RUNNING"))),
            "the trigger got no answer, so this run may not be ours"
        );
    }
}
