//! One poll round and the deadline around it: the request budget, the
//! pause between rounds, the heartbeat, and taking in each reply.

use std::time::Duration;

use std::collections::HashMap;

use futures_util::future::join_all;
use tokio::time::Instant;

use super::{CacheState, Caches, Ended, FUTURE_TOLERANCE, Gate, latest_time};
use crate::api::{CacheStatus, ExecutionKind, Status};
use crate::client::{FetchError, Reply};
use crate::decision::{Decision, Verdict, decide};
use crate::exit_codes::Outcome;
use crate::retry::Next;
use crate::schedule::Schedule;
use crate::text::shown;

/// At most this many caches missing from a list are asked about one by one.
const MAX_ASKED_ABSENT: usize = 20;
use crate::timespec::{format_duration, millis};

impl Gate<'_> {
    /// The time budget of the next request (see [`crate::retry::RetryPolicy::budget`]).
    pub(super) fn budget(&self) -> Duration {
        self.retry.budget()
    }

    pub(super) async fn drive(&mut self, schedule: &mut Schedule) -> Ended {
        if !self.check_once() {
            let spread = schedule.first_delay(self.plan.timeout);
            if self.forecasting.adaptive() {
                self.forecasting.jitter_first_pause(spread);
            } else {
                tracing::debug!(
                    next_poll_ms = millis(spread),
                    "first poll in {}",
                    format_duration(spread)
                );
                tokio::time::sleep(spread).await;
            }
        }
        if let Err(ended) = self.prepare(schedule).await {
            return ended;
        }
        if self.plan.no_wait {
            return (Outcome::Triggered, self.triggered_message());
        }
        if self.plan.cancel {
            return self.cancel_resumed(schedule).await;
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
        let delay = self.next_delay(schedule);
        let Some(sleep) = self.retry.pause(delay, retry_after) else {
            return Err((Outcome::Timeout, timeout_message(self)));
        };
        tracing::debug!(
            next_poll_ms = millis(sleep),
            "next attempt in {}",
            format_duration(sleep)
        );
        self.sleep_and_read(sleep, retry_after.is_none(), schedule)
            .await;
        Ok(())
    }

    /// Logs `message` when nothing has changed for [`super::HEARTBEAT`]
    /// ([`super::tally::Tally::heartbeat_due`]).
    pub(super) fn heartbeat(&mut self, message: impl FnOnce(&Self) -> String) {
        let now = Instant::now();
        if self.tally.heartbeat_due(now, self.retry.deadline()) {
            tracing::info!(
                elapsed_ms = millis(self.tally.elapsed()),
                left_ms = millis(self.retry.deadline().saturating_duration_since(now)),
                "{}",
                message(self)
            );
        }
    }

    pub(super) async fn poll_until_decided(&mut self, schedule: &mut Schedule) -> Ended {
        loop {
            let retry_after = match self.poll_round().await {
                Ok(retry_after) => retry_after,
                Err(ended) => return ended,
            };
            if self.awaited.all_ready() {
                return (Outcome::Ready, self.ready_message());
            }
            self.heartbeat(Self::heartbeat_message);
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
        self.plan.caches == Caches::All || self.awaited.len() > 1
    }

    /// Polls every awaited cache: one project-level request when several
    /// caches are awaited, else one request for the cache. Every cache is
    /// decided afresh on the latest reply, even one seen ready before: it
    /// may have started a new execution since, and the gate is ready only
    /// when every cache is ready in the same round. Returns the longest
    /// `Retry-After` asked for, or the end of the gate.
    pub(super) async fn poll_round(&mut self) -> Result<Option<Duration>, Ended> {
        let budget = self.budget();
        let mut list: Option<Reply<Vec<CacheStatus>>> = None;
        let answers: Vec<(usize, Answer)> = if self.list_mode() {
            let listed = match self.awaited.take_first_list() {
                Some(reply) => Ok(reply),
                None => {
                    self.tally.sent(1);
                    self.list_statuses(budget).await
                }
            };
            match listed {
                Ok(reply) => {
                    let matched = self.match_list(&reply);
                    list = Some(reply);
                    self.ask_absent(matched, budget).await
                }
                Err(err) => (0..self.awaited.len())
                    .map(|i| (i, Answer::own(Err(err.clone()))))
                    .collect(),
            }
        } else {
            let project = &self.plan.project_id;
            let client = self.client;
            let results = join_all(
                self.awaited
                    .caches()
                    .iter()
                    .map(|cache| client.cache_status(project, &cache.cache_id, budget)),
            )
            .await;
            self.tally.sent(results.len());
            (results.into_iter().enumerate())
                .map(|(i, result)| (i, Answer::own(result)))
                .collect()
        };
        let mut retry_after: Option<Duration> = None;
        let mut warned_project = false;
        // Replies come in the order the caches were given, so the first
        // ending found is the one that decides the outcome.
        let mut ended = None;
        for (i, answer) in answers {
            let result = match answer {
                // Each entry is moved out of the list as its cache takes
                // it: the old status it replaces is freed as it comes.
                Answer::Listed(pos) => take_entry(&mut list, pos)
                    .ok_or_else(|| FetchError::Api(format!("no entry {pos} in the list"))),
                Answer::Own(result) => *result,
            };
            let cache_id = self.awaited.caches()[i].cache_id.clone();
            let ending = match result {
                Ok(reply) => self.observe(i, reply).await,
                Err(err) => {
                    let message = err.message().to_owned();
                    self.awaited.caches_mut()[i].last_error = Some(message.clone());
                    match self.retry.failed(&err) {
                        Next::End(outcome, why) => {
                            self.awaited.caches_mut()[i].state = CacheState::of(outcome);
                            Some((outcome, format!("cache {cache_id}: {why}")))
                        }
                        Next::Retry(wait) => {
                            self.awaited.caches_mut()[i].state = CacheState::Waiting;
                            if let Some(wait) = wait {
                                retry_after = Some(retry_after.map_or(wait, |r| r.max(wait)));
                            }
                            let elapsed_ms = millis(self.tally.elapsed());
                            if !self.list_mode() {
                                tracing::warn!(cache_id = %cache_id, attempt = self.tally.polls(), elapsed_ms, "cache {cache_id}: {message}; retrying");
                            } else if !warned_project {
                                warned_project = true;
                                tracing::warn!(project_id = %self.plan.project_id, attempt = self.tally.polls(), elapsed_ms, "project {}: {message}; retrying", self.plan.project_id);
                            }
                            None
                        }
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

    /// Asks each cache that is missing from the project's list once by
    /// itself: the list is not the last word on one cache (a cache created
    /// a moment ago may be missing from it). The cache's own 404 keeps the
    /// list's clearer message.
    async fn ask_absent(
        &mut self,
        mut answers: Vec<(usize, Answer)>,
        budget: Duration,
    ) -> Vec<(usize, Answer)> {
        let absent: Vec<usize> = answers
            .iter()
            .filter(|(_, answer)| answer.is_not_found())
            .map(|(i, _)| *i)
            .collect();
        // A list that lacks many awaited caches is not lagging behind a new
        // one: asking each would be a burst of requests for nothing.
        if absent.is_empty() || absent.len() > MAX_ASKED_ABSENT {
            return answers;
        }
        let project = &self.plan.project_id;
        let client = self.client;
        let results =
            join_all(absent.iter().map(|&i| {
                client.cache_status(project, &self.awaited.caches()[i].cache_id, budget)
            }))
            .await;
        self.tally.sent(absent.len());
        for (i, result) in absent.into_iter().zip(results) {
            if matches!(result, Err(FetchError::NotFound(_))) {
                continue;
            }
            if let Some(slot) = answers.iter_mut().find(|(j, _)| *j == i) {
                slot.1 = Answer::own(result);
            }
        }
        answers
    }
}

/// Taking in a round's replies: the project's list paired with the awaited
/// caches, then each cache's status.
impl Gate<'_> {
    /// Pairs the project's list with the awaited caches: where in the list
    /// each cache's entry is (the list of 10,000 caches is not copied). A
    /// cache listed twice is decided on its less ready entry; an entry
    /// without an id cannot be told apart from any cache, so it is an API
    /// error where it could be an awaited one.
    fn match_list(&mut self, reply: &Reply<Vec<CacheStatus>>) -> Vec<(usize, Answer)> {
        let mut first: Vec<Option<usize>> = vec![None; self.awaited.len()];
        let mut duplicates: Vec<(usize, usize)> = Vec::new();
        let mut without_id: Option<String> = None;
        {
            let index: HashMap<&str, usize> = (self.awaited.caches().iter().enumerate())
                .map(|(i, c)| (c.cache_id.as_str(), i))
                .collect();
            for (pos, status) in reply.value.iter().enumerate() {
                match status.id.as_deref() {
                    Some(id) => {
                        if let Some(&i) = index.get(id) {
                            match first[i] {
                                None => first[i] = Some(pos),
                                Some(_) => duplicates.push((i, pos)),
                            }
                        }
                    }
                    None => {
                        without_id.get_or_insert_with(|| shown(status.status.as_str()));
                    }
                }
            }
        }
        let all_caches = self.plan.caches == Caches::All;
        (0..self.awaited.len())
            .map(|i| {
                let answer = match (first[i], &without_id) {
                    (_, Some(status)) if all_caches => Answer::own(Err(no_id_error(status))),
                    (Some(pos), _) => {
                        Answer::Listed(self.least_ready(i, &reply.value, pos, &duplicates))
                    }
                    (None, Some(status)) => Answer::own(Err(FetchError::Api(format!(
                        "not among the caches of project {}, and the list has {}",
                        self.plan.project_id,
                        no_id_error(status).message()
                    )))),
                    (None, None) => Answer::own(Err(FetchError::NotFound(format!(
                        "not among the caches of project {} (check --cache-id)",
                        self.plan.project_id
                    )))),
                };
                (i, answer)
            })
            .collect()
    }

    /// The position of cache `i`'s entry in `list`: its `first`, or, when
    /// `duplicates` (cache, position) lists it again, the entry furthest
    /// from ready.
    fn least_ready(
        &mut self,
        i: usize,
        list: &[CacheStatus],
        first: usize,
        duplicates: &[(usize, usize)],
    ) -> usize {
        let entries = || {
            std::iter::once(first)
                .chain(duplicates.iter().filter(|(d, _)| *d == i).map(|(_, p)| *p))
        };
        let count = entries().count();
        if count == 1 {
            return first;
        }
        if self.awaited.first_duplicate(i) {
            let cache_id = &self.awaited.caches()[i].cache_id;
            tracing::warn!(cache_id = %cache_id, entries = count, "cache {cache_id} is listed {count} times in the project's list; the least ready entry counts");
        }
        let criteria = self.criteria(Some(i));
        let rank = |status: &CacheStatus| match decide(
            status,
            &criteria,
            &self.awaited.watches()[i].missed,
        )
        .verdict
        {
            Verdict::Failed | Verdict::Deleted => 0,
            Verdict::Waiting => 1,
            Verdict::Ready => 2,
        };
        entries()
            .min_by_key(|&pos| rank(&list[pos]))
            .unwrap_or(first)
    }

    /// Takes in one cache's status: reads what was missed, decides, logs a
    /// change, checks for a stall. Returns the end of the gate, if this is it.
    pub(super) async fn observe(&mut self, i: usize, reply: Reply<CacheStatus>) -> Option<Ended> {
        self.retry.answered();
        self.measure_skew(&reply, latest_time(&reply.value));
        self.reread_trigger_time(i);
        let server_now = self.server_now(reply.received_at);
        let mut status = reply.value;
        status.forget_times_after(server_now + FUTURE_TOLERANCE);
        self.note_evidence(i, &status);
        self.awaited.note_first_sight(i, &status);
        let unexplained = self.note_slots(i, &status).await;
        self.note_triggered(i, &status, &unexplained);
        let criteria = self.criteria(Some(i));
        let decision = decide(&status, &criteria, &self.awaited.watches()[i].missed);
        let decision = self.hold_for_history(i, &status, decision, &unexplained);
        let watch = &mut self.awaited.watches_mut()[i];
        watch.starting_since = match (decision.starting, watch.starting_since) {
            (true, Some(since)) => Some(since),
            (true, None) => Some(Instant::now()),
            (false, _) => None,
        };
        let cache_id = self.awaited.caches()[i].cache_id.clone();
        tracing::debug!(cache_id = %cache_id, attempt = self.tally.polls(), elapsed_ms = millis(self.tally.elapsed()), status = status.status.as_str(), "poll cache {cache_id}: {}", decision.detail);
        if let Some(unknown) = &decision.unknown_status {
            if self.awaited.first_unknown(unknown) {
                tracing::warn!(cache_id = %cache_id, status = %unknown, "cache {cache_id}: execution status {unknown} is unknown to this version of peaka-wait; treating it as still running");
            }
        }
        let stalled = self.check_stall(i, &status, &decision, server_now);
        self.check_pickup(i, &status, &decision, server_now);
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
        // An ending is said once, by the final line; so is the readiness of
        // a single cache.
        let said_at_the_end =
            ending.is_some() || (decision.verdict == Verdict::Ready && self.awaited.len() == 1);
        if !said_at_the_end {
            self.log_change(i, &status, &decision);
        }
        self.show_the_deciding_one(i, &mut status, &decision);
        let cache = &mut self.awaited.caches_mut()[i];
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

impl Gate<'_> {
    /// When a missed execution (read from the history) decided, puts it in
    /// its slot of the status kept for the summary, so that `execution`,
    /// `execution-id` and `PEAKA_EXECUTION_ID` name it, not the later run
    /// that holds the slot now.
    fn show_the_deciding_one(&self, i: usize, status: &mut CacheStatus, decision: &Decision) {
        let (Some(kind), Some(id)) = (decision.focus, decision.execution_id.as_ref()) else {
            return;
        };
        if status.execution(kind).and_then(|e| e.id.as_ref()) == Some(id) {
            return;
        }
        let missed = self.awaited.watches()[i].missed.iter();
        let Some((_, execution)) = missed
            .filter(|(k, _)| *k == kind)
            .find(|(_, e)| e.id.as_ref() == Some(id))
        else {
            return;
        };
        let slot = match kind {
            ExecutionKind::Incremental => &mut status.last_incremental_cache_execution,
            ExecutionKind::Full => &mut status.last_full_refresh_cache_execution,
        };
        *slot = Some(Box::new(execution.clone()));
    }
}

/// Where a cache's status for this round comes from.
enum Answer {
    /// The entry at this position of the list.
    Listed(usize),
    /// Its own request, or an error (boxed: a round of 10,000 caches
    /// answered by one list holds 10,000 small answers).
    Own(Box<Result<Reply<CacheStatus>, FetchError>>),
}

impl Answer {
    fn own(result: Result<Reply<CacheStatus>, FetchError>) -> Self {
        Answer::Own(Box::new(result))
    }

    fn is_not_found(&self) -> bool {
        matches!(self, Answer::Own(result) if matches!(**result, Err(FetchError::NotFound(_))))
    }
}

/// Moves entry `pos` out of the list, leaving an empty status in its
/// place (no allocation), with the list's reply times. `None` only if
/// there is no such entry, which [`Gate::match_list`] never answers.
fn take_entry(
    list: &mut Option<Reply<Vec<CacheStatus>>>,
    pos: usize,
) -> Option<Reply<CacheStatus>> {
    let list = list.as_mut()?;
    let empty = CacheStatus {
        id: None,
        status: Status::Other(String::new()),
        catalog_id: None,
        schema_name: None,
        table_name: None,
        last_incremental_cache_execution: None,
        last_full_refresh_cache_execution: None,
    };
    Some(Reply {
        value: std::mem::replace(list.value.get_mut(pos)?, empty),
        server_date: list.server_date,
        received_at: list.received_at,
    })
}

/// An entry without an id, as an error.
fn no_id_error(status: &str) -> FetchError {
    FetchError::Api(format!(
        "a cache without an id (status {status}): peaka-wait cannot tell which cache it is, so it cannot say that every cache is ready"
    ))
}
