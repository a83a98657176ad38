//! One poll round and the deadline around it: the request budget, the
//! pause between rounds, the heartbeat, and taking in each reply.

use std::time::Duration;

use futures_util::future::join_all;
use jiff::SignedDuration;
use tokio::time::Instant;

use super::{CacheState, Caches, Ended, FINAL_POLL_BUDGET, Gate, HEARTBEAT};
use crate::api::CacheStatus;
use crate::client::{FetchError, Reply};
use crate::decision::{Verdict, decide};
use crate::exit_codes::Outcome;
use crate::schedule::{Schedule, pause};
use crate::timespec::{format_duration, millis};

impl Gate<'_> {
    /// The time budget of the next request.
    pub(super) fn budget(&self) -> Duration {
        if self.check_once() {
            return self.plan.request_timeout;
        }
        let now = Instant::now();
        let left = self.deadline.saturating_duration_since(now);
        // Nothing runs past deadline + FINAL_POLL_BUDGET, even a history
        // read that follows the final poll.
        let hard_left = (self.deadline + FINAL_POLL_BUDGET).saturating_duration_since(now);
        left.max(FINAL_POLL_BUDGET)
            .min(hard_left)
            .min(self.plan.request_timeout)
    }

    pub(super) async fn drive(&mut self, schedule: &mut Schedule) -> Ended {
        if !self.check_once() {
            let spread = schedule.first_delay(self.plan.timeout);
            tracing::debug!(
                next_poll_ms = millis(spread),
                "first poll in {}",
                format_duration(spread)
            );
            tokio::time::sleep(spread).await;
        }
        if let Err(ended) = self.prepare(schedule).await {
            return ended;
        }
        self.poll_until_decided(schedule).await
    }

    /// Sleeps until the next attempt, or ends with a timeout (and the
    /// message `timeout_message` writes) if there is no time left.
    pub(super) async fn pause_or_timeout(
        &mut self,
        schedule: &mut Schedule,
        retry_after: Option<Duration>,
        timeout_message: impl FnOnce(&Self) -> String,
    ) -> Result<(), Ended> {
        let now = Instant::now();
        if self.check_once() || now >= self.deadline {
            return Err((Outcome::Timeout, timeout_message(self)));
        }
        let sleep = pause(self.next_delay(schedule), retry_after, self.deadline - now);
        tracing::debug!(
            next_poll_ms = millis(sleep),
            "next attempt in {}",
            format_duration(sleep)
        );
        tokio::time::sleep(sleep).await;
        Ok(())
    }

    pub(super) async fn poll_until_decided(&mut self, schedule: &mut Schedule) -> Ended {
        loop {
            let retry_after = match self.poll_round().await {
                Ok(retry_after) => retry_after,
                Err(ended) => return ended,
            };
            if self.caches.iter().all(|c| c.state == CacheState::Ready) {
                return (Outcome::Ready, self.ready_message());
            }
            let now = Instant::now();
            if now.duration_since(self.last_change) >= HEARTBEAT {
                self.last_change = now;
                tracing::info!(
                    elapsed_ms = millis(self.started.elapsed()),
                    "still waiting: {}{}",
                    self.waiting_on(),
                    self.eta_note()
                );
            }
            if let Err(ended) = self
                .pause_or_timeout(schedule, retry_after, Self::timeout_message)
                .await
            {
                return ended;
            }
        }
    }

    /// Whether one request per round covers every cache.
    pub(super) fn list_mode(&self) -> bool {
        self.plan.caches == Caches::All || self.caches.len() > 1
    }

    /// Polls every cache not yet ready: one project-level request when
    /// several caches are awaited, else one request for the cache. Returns
    /// the longest `Retry-After` asked for, or the end of the gate.
    pub(super) async fn poll_round(&mut self) -> Result<Option<Duration>, Ended> {
        let pending: Vec<usize> = (0..self.caches.len())
            .filter(|&i| self.caches[i].state == CacheState::Waiting)
            .collect();
        let budget = self.budget();
        let replies: Vec<(usize, Result<Reply<CacheStatus>, FetchError>)> = if self.list_mode() {
            self.polls += 1;
            match self
                .client
                .project_statuses(&self.plan.project_id, budget)
                .await
            {
                Ok(Reply {
                    value,
                    server_date,
                    received_at,
                }) => pending
                    .iter()
                    .map(|&i| {
                        let cache_id = &self.caches[i].cache_id;
                        let found = value
                            .iter()
                            .find(|s| s.id.as_deref() == Some(cache_id.as_str()));
                        let result = match found {
                            Some(status) => Ok(Reply {
                                value: status.clone(),
                                server_date,
                                received_at,
                            }),
                            None => Err(FetchError::NotFound(format!(
                                "not among the caches of project {} (check --cache-id)",
                                self.plan.project_id
                            ))),
                        };
                        (i, result)
                    })
                    .collect(),
                Err(err) => pending.iter().map(|&i| (i, Err(err.clone()))).collect(),
            }
        } else {
            let project = &self.plan.project_id;
            let client = self.client;
            let results = join_all(
                pending
                    .iter()
                    .map(|&i| client.cache_status(project, &self.caches[i].cache_id, budget)),
            )
            .await;
            self.polls += pending.len() as u64;
            pending.into_iter().zip(results).collect()
        };
        let mut retry_after: Option<Duration> = None;
        let mut warned_project = false;
        // Replies come in the order the caches were given, so the first
        // ending found is the one that decides the outcome.
        let mut ended = None;
        for (i, result) in replies {
            let cache_id = self.caches[i].cache_id.clone();
            let ending = match result {
                Ok(reply) => self.observe(i, reply).await,
                Err(err) => {
                    let message = err.message().to_owned();
                    self.caches[i].last_error = Some(message.clone());
                    if let Some(outcome) = err.outcome() {
                        self.caches[i].state = CacheState::of(outcome);
                        Some((outcome, format!("cache {cache_id}: {message}")))
                    } else {
                        if let FetchError::Transient {
                            retry_after: Some(wait),
                            ..
                        } = err
                        {
                            retry_after = Some(retry_after.map_or(wait, |r| r.max(wait)));
                        }
                        let elapsed_ms = millis(self.started.elapsed());
                        if !self.list_mode() {
                            tracing::warn!(cache_id = %cache_id, attempt = self.polls, elapsed_ms, "cache {cache_id}: {message}; retrying");
                        } else if !warned_project {
                            warned_project = true;
                            tracing::warn!(project_id = %self.plan.project_id, attempt = self.polls, elapsed_ms, "project {}: {message}; retrying", self.plan.project_id);
                        }
                        None
                    }
                }
            };
            if ended.is_none() {
                ended = ending;
            }
        }
        match ended {
            Some(ended) => Err(ended),
            None => Ok(retry_after),
        }
    }

    /// Takes in one cache's status: reads what was missed, decides, logs a
    /// change, checks for a stall. Returns the end of the gate, if this is it.
    pub(super) async fn observe(&mut self, i: usize, reply: Reply<CacheStatus>) -> Option<Ended> {
        self.measure_skew(&reply);
        let server_now = reply.server_date.unwrap_or_else(|| {
            reply
                .received_at
                .checked_add(self.skew.unwrap_or(SignedDuration::ZERO))
                .unwrap_or(reply.received_at)
        });
        let status = reply.value;
        self.read_missed(i, &status).await;
        let criteria = self.criteria(Some(i));
        let decision = decide(&status, &criteria, &self.watches[i].missed);
        let cache_id = self.caches[i].cache_id.clone();
        tracing::debug!(cache_id = %cache_id, attempt = self.polls, elapsed_ms = millis(self.started.elapsed()), status = status.status.as_str(), "poll cache {cache_id}: {}", decision.detail);
        if let Some(unknown) = &decision.unknown_status {
            if self.warned_unknown.insert(unknown.clone()) {
                tracing::warn!(cache_id = %cache_id, status = %unknown, "cache {cache_id}: execution status {unknown} is unknown to this version of peaka-wait; treating it as still running");
            }
        }
        self.log_change(i, &status, &decision);
        let stalled = self.check_stall(i, &status, &decision, server_now);
        let ending = match decision.verdict {
            Verdict::Failed => Some((
                Outcome::Failed,
                format!("cache {cache_id}: {}", decision.detail),
            )),
            Verdict::Deleted => Some((
                Outcome::NotFound,
                format!("cache {cache_id}: {}", decision.detail),
            )),
            Verdict::Waiting | Verdict::Ready => stalled,
        };
        let cache = &mut self.caches[i];
        cache.state = match (&ending, decision.verdict) {
            (Some((outcome, _)), _) => CacheState::of(*outcome),
            (None, Verdict::Ready) => CacheState::Ready,
            (None, _) => CacheState::Waiting,
        };
        cache.status = Some(status);
        cache.decision = Some(decision);
        if ending.is_none() {
            self.plan_ahead(i, server_now).await;
        }
        ending
    }
}
