//! Trigger now, wait later: `--trigger KIND --no-wait` triggers and ends
//! with a resume token; `--resume TOKEN` starts from what the token says
//! (the baselines and trigger times of the first process) instead of
//! triggering; `--resume TOKEN --cancel` cancels exactly the token's runs.
//!
//! What counts as the triggered run is decided by the same rules as in one
//! process ([`crate::decision::Baseline`], [`super::cancel`]): the token
//! only carries their inputs across the restart.

use std::time::Duration;

use super::missed::Seen;
use super::{Ended, Gate};
use crate::api::ExecutionKind;
use crate::client::FetchError;
use crate::exit_codes::Outcome;
use crate::resume::{Token, TriggeredCache};
use crate::schedule::Schedule;
use crate::text::shown;

/// What a cancel can do about one cache's triggered run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cancel {
    /// Its record has not appeared yet: wait for it.
    Pending,
    /// It is running: cancel this execution.
    Running(String),
    /// It has visibly ended: send nothing.
    Ended,
}

/// `--no-wait`: the token a `--resume` waits for the triggered runs with,
/// once every trigger was accepted (set only here).
#[derive(Debug, Default)]
pub(super) struct Handoff(Option<String>);

impl Handoff {
    /// The token, if one was made.
    pub(super) fn token(&self) -> Option<String> {
        self.0.clone()
    }
}

/// What the summary's `cancel` field says when the run had ended.
pub const NOTHING_TO_CANCEL: &str = "nothing to cancel: it had already ended";

impl Gate<'_> {
    /// `--resume`: each cache starts where the triggering process left it.
    pub(super) fn resume_from(&mut self, token: &Token) {
        for (i, cache) in token.caches.iter().enumerate() {
            // The check made the plan's caches the token's, in its order.
            if self.awaited.caches().get(i).map(|c| &c.cache_id) != Some(&cache.cache_id) {
                continue;
            }
            self.awaited.watches_mut()[i].baseline = Some(Box::new(cache.baseline.clone()));
            // A token is only given for a trigger Peaka accepted.
            self.awaited.watches_mut()[i].triggered =
                Some(Box::new(super::cancel::Triggered::sent(None)));
            // Only what was created since the trigger is looked for in the
            // history: anything older cannot be the triggered run.
            let seen = Seen {
                id: cache.baseline.id.clone(),
                created_at: Some(cache.baseline.floor()),
                terminal: false,
            };
            self.remember_baseline(i, token.kind, seen);
        }
    }

    /// `--no-wait`: reads every baseline, makes sure the token will fit,
    /// then triggers every cache and keeps the token for the summary.
    pub(super) async fn trigger_for_later(
        &mut self,
        kind: ExecutionKind,
        schedule: &mut Schedule,
    ) -> Result<(), Ended> {
        let mut baselines = Vec::with_capacity(self.awaited.len());
        for i in 0..self.awaited.len() {
            baselines.push(self.read_baseline(i, kind, schedule).await?);
        }
        // A token is drafted before anything is triggered: one too long to
        // pass back would strand the runs it names.
        let draft = match self.token(kind, &baselines).encode() {
            Ok(token) => token,
            Err(why) => return Err((Outcome::Usage, format!("nothing was triggered: {why}"))),
        };
        for (i, baseline) in baselines.into_iter().enumerate() {
            self.send_trigger(i, kind, baseline, schedule).await?;
        }
        // The token given holds each trigger's time of sending. Should it
        // not fit (its times a few digits longer), the draft's earlier
        // times are still floors the triggered runs were created after.
        let sent: Vec<_> = (self.awaited.watches().iter())
            .filter_map(|w| w.baseline.as_deref().cloned())
            .collect();
        let token = (sent.len() == self.awaited.len())
            .then(|| self.token(kind, &sent).encode().ok())
            .flatten()
            .unwrap_or(draft);
        self.handoff.0 = Some(token);
        Ok(())
    }

    /// The token for these baselines (one per cache, in order), with the
    /// trigger times noted so far and the bounds as resolved now.
    fn token(&self, kind: ExecutionKind, baselines: &[crate::decision::Baseline]) -> Token {
        let bounds = self.criteria(None);
        Token {
            project_id: self.plan.project_id.clone(),
            kind,
            caches: (self.awaited.caches().iter().zip(baselines))
                .map(|(cache, baseline)| TriggeredCache {
                    cache_id: cache.cache_id.clone(),
                    baseline: baseline.clone(),
                })
                .collect(),
            first_start: self.clock.on_server(self.plan.started_at),
            since: bounds.since,
            started_after: bounds.started_after,
        }
    }

    /// The sentence of a `triggered` ending.
    pub(super) fn triggered_message(&self) -> String {
        let kind = self
            .plan
            .trigger
            .map_or("a refresh", ExecutionKind::a_label);
        let ids: Vec<String> = self
            .awaited
            .caches()
            .iter()
            .map(|c| shown(&c.cache_id))
            .collect();
        let caches = match ids.as_slice() {
            [one] => format!("cache {one}"),
            _ => format!("{} caches ({})", ids.len(), ids.join(", ")),
        };
        format!(
            "triggered {kind} on {caches}; wait for it with --resume TOKEN (or PEAKA_RESUME), the token on the last line"
        )
    }

    /// `--resume TOKEN --cancel`: polls until each triggered run is seen
    /// running or ended, then cancels the running ones.
    pub(super) async fn cancel_resumed(&mut self, schedule: &mut Schedule) -> Ended {
        let Some(kind) = self.plan.trigger else {
            // The check sets the kind from the token whenever --resume is given.
            return (Outcome::Usage, "--cancel needs --resume TOKEN".into());
        };
        loop {
            let retry_after = match self.poll_round().await {
                Ok(retry_after) => retry_after,
                // A run that failed or stands still is judged below like any
                // other: the cancel is about whether it still runs.
                Err((Outcome::Failed | Outcome::Stalled, _)) => None,
                Err(ended) => return ended,
            };
            let pending = (0..self.awaited.len())
                .filter(|&i| self.cancel_plan(i, kind) == Cancel::Pending)
                .count();
            if pending == 0 {
                break;
            }
            let waited = |gate: &Self| {
                let waiting: Vec<String> = (0..gate.awaited.len())
                    .filter(|&i| gate.cancel_plan(i, kind) == Cancel::Pending)
                    .map(|i| shown(&gate.awaited.caches()[i].cache_id))
                    .collect();
                format!(
                    "the triggered {} did not appear in time on {} (cache {}): nothing was cancelled",
                    kind.label(),
                    if waiting.len() == 1 {
                        "one cache"
                    } else {
                        "some caches"
                    },
                    waiting.join(", cache ")
                )
            };
            if let Err(ended) = self.pause_or_timeout(schedule, retry_after, waited).await {
                return ended;
            }
        }
        self.send_resumed_cancels(kind, schedule).await
    }

    /// Where cache `i`'s triggered run stands for a cancel.
    fn cancel_plan(&self, i: usize, kind: ExecutionKind) -> Cancel {
        let Some(id) = self.awaited.watches()[i]
            .triggered
            .as_ref()
            .and_then(|t| t.id().map(str::to_owned))
        else {
            return Cancel::Pending;
        };
        let current = self.awaited.caches()[i]
            .status
            .as_ref()
            .and_then(|s| s.execution(kind));
        match current {
            Some(e) if e.id.as_ref() == Some(&id) && !e.is_terminal() => Cancel::Running(id),
            // Ended in its slot, or replaced there by a later run.
            _ => Cancel::Ended,
        }
    }

    /// Sends the cancels, one cache after the other, retrying what may
    /// not have arrived, and says how it went.
    async fn send_resumed_cancels(
        &mut self,
        kind: ExecutionKind,
        schedule: &mut Schedule,
    ) -> Ended {
        for i in 0..self.awaited.len() {
            let said = match self.cancel_plan(i, kind) {
                Cancel::Running(id) => match self.send_one_cancel(i, kind, &id, schedule).await {
                    Ok(said) => said,
                    Err(ended) => return ended,
                },
                Cancel::Ended | Cancel::Pending => NOTHING_TO_CANCEL.to_owned(),
            };
            self.awaited.caches_mut()[i].cancel = Some(said);
        }
        let told: Vec<String> = (self.awaited.caches().iter())
            .map(|c| {
                format!(
                    "cache {}: {}",
                    shown(&c.cache_id),
                    c.cancel.as_deref().unwrap_or_default()
                )
            })
            .collect();
        (
            Outcome::Cancelled,
            format!(
                "cancel of the triggered {}: {}",
                kind.label(),
                told.join("; ")
            ),
        )
    }

    /// One cancel: `accepted`, or [`NOTHING_TO_CANCEL`] when Peaka's 404
    /// ("no active workflow") came because the run ended a moment ago, or
    /// the end of the gate with the answer's outcome.
    async fn send_one_cancel(
        &mut self,
        i: usize,
        kind: ExecutionKind,
        id: &str,
        schedule: &mut Schedule,
    ) -> Result<String, Ended> {
        let cache_id = self.awaited.caches()[i].cache_id.clone();
        loop {
            self.tally.sent(1);
            let budget = self.budget();
            let answer = self
                .client
                .cancel(&self.plan.project_id, &cache_id, kind, budget)
                .await;
            let err = match answer {
                Ok(_) => {
                    tracing::info!(cache_id = %cache_id, execution_id = %id, "cache {cache_id}: asked Peaka to cancel the triggered {} {id}: accepted", kind.label());
                    return Ok("accepted".into());
                }
                Err(err) => err,
            };
            if let FetchError::NotFound(_) = err {
                if self.ended_meanwhile(i, kind, id).await {
                    tracing::info!(cache_id = %cache_id, execution_id = %id, "cache {cache_id}: the triggered {} {id} ended before the cancel arrived", kind.label());
                    return Ok(NOTHING_TO_CANCEL.into());
                }
            }
            self.awaited.caches_mut()[i].last_error = Some(err.message().to_owned());
            if let Some(outcome) = err.outcome() {
                self.awaited.caches_mut()[i].cancel = Some(format!("refused: {}", err.message()));
                return Err((
                    outcome,
                    format!(
                        "cache {cache_id}: the cancel of the triggered {} {id} was refused: {}",
                        kind.label(),
                        err.message()
                    ),
                ));
            }
            tracing::warn!(cache_id = %cache_id, "cache {cache_id}: the cancel of {id} did not go through ({}); sending it again", err.message());
            let retry_after = match &err {
                FetchError::Transient { retry_after, .. } => *retry_after,
                _ => None,
            };
            let message = format!(
                "cache {cache_id}: timed out while cancelling the triggered {} {id}; last error: {}",
                kind.label(),
                err.message()
            );
            self.awaited.caches_mut()[i].cancel = Some(format!("failed: {}", err.message()));
            self.pause_or_timeout(schedule, retry_after, |_| message)
                .await?;
        }
    }

    /// After a 404 to a cancel: whether the slot now shows the run ended
    /// (or replaced), read once.
    async fn ended_meanwhile(&mut self, i: usize, kind: ExecutionKind, id: &str) -> bool {
        self.tally.sent(1);
        let budget = self.budget().min(Duration::from_secs(10));
        let cache_id = self.awaited.caches()[i].cache_id.clone();
        match self
            .client
            .cache_status(&self.plan.project_id, &cache_id, budget)
            .await
        {
            Ok(reply) => match reply.value.execution(kind) {
                Some(e) if e.id.as_deref() == Some(id) => e.is_terminal(),
                _ => true,
            },
            Err(_) => false,
        }
    }
}
