//! Materialized queries in the loop (`--materialized-query`,
//! `--refresh-query`): the stage after the caches, or the only one. Each
//! round asks the project's list once (a query missing from it is looked up
//! once on its own: an unknown id is a 404, exit 5), and every query is
//! decided by [`crate::decision::query`]. `--refresh-query` first reads
//! each query's start time (the baseline), then sends the refresh, again
//! only when it provably never reached the server, and waits for a run that
//! starts after the baseline; `--cancel-on-exit` cancels that run only.

use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

use super::cancel::{CANCEL_BUDGET, cancel_answer};
use super::{CacheState, Caches, Ended, Gate};
use crate::api::Stamp;
use crate::client::{FetchError, Reply};
use crate::decision::query::{
    QueryCriteria, QueryDecision, QueryVerdict, decide_query, is_new_run,
};
use crate::exit_codes::Outcome;
use crate::query::QueryStatus;
use crate::retry::Next;
use crate::schedule::Schedule;
use crate::stream::Sink;
use crate::text::one_line;
use crate::timespec::{format_duration, millis};

/// What is known of one materialized query.
#[derive(Debug, Clone)]
pub struct QueryReport {
    /// The query id, as given.
    pub query_id: String,
    /// Where it stands (`waiting`, `ready`, `failed`, `not_found`, …).
    pub state: CacheState,
    /// The last status the API gave for it.
    pub status: Option<QueryStatus>,
    /// The decision on that status.
    pub decision: Option<QueryDecision>,
    /// The most recent error reading (or refreshing) it, if any.
    pub last_error: Option<String>,
    /// `--refresh-query`: the gate refreshes it (`refreshed` once sent).
    pub refresh: bool,
    /// Whether the refresh was sent (accepted, or may have arrived).
    pub refreshed: bool,
    /// `--cancel-on-exit`: what became of the cancel; `None` when none was due.
    pub cancel: Option<String>,
}

/// The loop's memory of one query.
#[derive(Debug, Default)]
pub(super) struct QueryWatch {
    /// After the refresh was sent: the start time seen before it (`None`
    /// inside for a query that never ran).
    refreshed_from: Option<Option<Timestamp>>,
    /// The start seen before the refresh, read first.
    baseline: Option<Option<Timestamp>>,
    /// Whether a lookup of it on its own (it was missing from the list)
    /// was answered: a lookup that failed shows nothing, so it is asked again.
    looked_up: bool,
    /// The refresh got an error or no answer: it may or may not have
    /// started a run, so no running run is provably the gate's to cancel.
    refresh_doubted: bool,
    /// What was last logged of it, to log only changes.
    last_logged: Option<String>,
}

impl QueryReport {
    fn new(query_id: &str, refresh: bool) -> QueryReport {
        QueryReport {
            query_id: query_id.to_owned(),
            state: CacheState::Waiting,
            status: None,
            decision: None,
            last_error: None,
            refresh,
            refreshed: false,
            cancel: None,
        }
    }
}

/// The queries of a plan: the awaited ones, then the refreshed ones.
pub(super) fn query_reports(plan: &super::Plan) -> Vec<QueryReport> {
    let waited = plan
        .materialized_queries
        .iter()
        .map(|q| QueryReport::new(q, false));
    let refreshed = plan
        .refresh_queries
        .iter()
        .map(|q| QueryReport::new(q, true));
    waited.chain(refreshed).collect()
}

impl Gate<'_> {
    /// Whether the plan awaits any cache.
    pub(super) fn awaits_caches(&self) -> bool {
        !matches!(&self.plan.caches, Caches::Listed(ids) if ids.is_empty())
            || !self.plan.tables.is_empty()
            || self.plan.catalog.is_some()
    }

    /// The whole run: the caches, then (only once every one is ready) the
    /// materialized queries.
    pub(super) async fn drive_stages(&mut self, schedule: &mut Schedule) -> Ended {
        if self.queries.is_empty() {
            return self.drive(schedule).await;
        }
        if !self.awaits_caches() {
            return self.drive_queries(schedule).await;
        }
        // The queries' pauses start short again, whatever the caches' grew to.
        let mut query_schedule = schedule.clone();
        let (outcome, message) = self.drive(schedule).await;
        if outcome != Outcome::Ready {
            let refreshing = self.queries.iter().any(|q| q.refresh);
            let note = if refreshing {
                "no materialized query was refreshed"
            } else {
                "the materialized queries were not looked at"
            };
            return (outcome, format!("{message}; {note}"));
        }
        tracing::info!("{message}; now the materialized queries");
        self.query_stage = true;
        let (outcome, said) = self.drive_queries(&mut query_schedule).await;
        let message = if outcome == Outcome::Ready {
            format!("{message}; {said}")
        } else {
            format!("the caches were ready, but {said}")
        };
        (outcome, message)
    }

    /// Refreshes the `--refresh-query` queries, then polls every query
    /// until each is decided or the deadline passes.
    async fn drive_queries(&mut self, schedule: &mut Schedule) -> Ended {
        self.query_stage = true;
        // The caches' planned pauses are about caches.
        self.planned_round = false;
        if self.queries.iter().any(|q| q.refresh) {
            if let Err(ended) = self.refresh_queries(schedule).await {
                return ended;
            }
        }
        loop {
            let retry_after = match self.query_round().await {
                Ok(retry_after) => retry_after,
                Err(ended) => return ended,
            };
            if self.queries.iter().all(|q| q.state == CacheState::Ready) {
                return (Outcome::Ready, self.queries_ready_message());
            }
            self.heartbeat(|gate| {
                let left = gate
                    .retry
                    .deadline()
                    .saturating_duration_since(Instant::now());
                format!(
                    "still waiting after {} ({} left): {}",
                    format_duration(gate.started.elapsed()),
                    format_duration(left),
                    gate.queries_waiting()
                )
            });
            if let Err(ended) = self
                .pause_or_timeout(schedule, retry_after, Self::queries_timeout_message)
                .await
            {
                return ended;
            }
        }
    }

    /// Reads every query's start time, then sends each refresh.
    async fn refresh_queries(&mut self, schedule: &mut Schedule) -> Result<(), Ended> {
        loop {
            let answers = self.read_queries().await;
            let mut retry_after = None;
            for (i, answer) in answers.into_iter().enumerate() {
                if !self.queries[i].refresh || self.query_watches[i].baseline.is_some() {
                    continue;
                }
                match answer {
                    // A start that is there but unreadable proves no later
                    // start new: no baseline, so no refresh, until it reads.
                    Ok(reply) if reply.value.started == Stamp::Unreadable => {
                        let id = &self.queries[i].query_id;
                        let why = "its lastExecutionStartTime cannot be read, so the refreshed run could not be told from the last one; not refreshing it until it can";
                        if self.queries[i].last_error.as_deref() != Some(why) {
                            tracing::warn!(query_id = %id, "materialized query {id}: {why}");
                        }
                        self.queries[i].last_error = Some(why.to_owned());
                        self.queries[i].status = Some(reply.value);
                    }
                    Ok(reply) => {
                        self.query_watches[i].baseline =
                            Some(reply.value.last_execution_start_time);
                        self.queries[i].last_error = None;
                        self.queries[i].status = Some(reply.value);
                    }
                    Err(err) => {
                        if let Some(wait) = self.query_failed(i, &err)? {
                            retry_after = Some(retry_after.map_or(wait, |r: Duration| r.max(wait)));
                        }
                    }
                }
            }
            let missing = (self.queries.iter().zip(&self.query_watches))
                .any(|(q, w)| q.refresh && w.baseline.is_none());
            if !missing {
                break;
            }
            self.pause_or_timeout(schedule, retry_after, |gate| {
                format!(
                    "{} before any refresh was sent; no materialized query was refreshed",
                    gate.queries_timeout_message()
                )
            })
            .await?;
        }
        for i in 0..self.queries.len() {
            if self.queries[i].refresh {
                self.send_refresh(i, schedule).await?;
            }
        }
        Ok(())
    }

    /// Sends the refresh of query `i`; again only after it provably never
    /// reached a server ([`FetchError::Unreached`]).
    async fn send_refresh(&mut self, i: usize, schedule: &mut Schedule) -> Result<(), Ended> {
        let id = self.queries[i].query_id.clone();
        let baseline = self.query_watches[i].baseline.flatten();
        let before = baseline.map_or("never ran".to_owned(), |at| format!("last started {at}"));
        loop {
            // Peaka takes seconds to answer a trigger; a refresh likewise.
            let budget = self.retry.trigger_budget();
            self.polls += 1;
            match self
                .client
                .refresh_query(&self.plan.project_id, &id, budget)
                .await
            {
                Ok(_) => {
                    self.retry.answered();
                    tracing::info!(query_id = %id, "materialized query {id}: refresh requested (it {before})");
                    break;
                }
                Err(err @ (FetchError::Unreached(_) | FetchError::NoSuchHost(_))) => {
                    let cause = err.message().to_owned();
                    if let Next::End(outcome, why) = self.retry.failed(&err) {
                        self.queries[i].state = CacheState::of(outcome);
                        return Err((outcome, format!("materialized query {id}: {why}")));
                    }
                    tracing::warn!(query_id = %id, "materialized query {id}: the refresh could not be sent ({cause}); sending it again");
                    let message =
                        format!("materialized query {id}: the refresh could not be sent: {cause}");
                    self.pause_or_timeout(schedule, None, |_| message).await?;
                }
                // It may have arrived: never sent twice; the run shows it.
                Err(err) if err.outcome().is_none() => {
                    tracing::warn!(query_id = %id, "materialized query {id}: the refresh may or may not have reached Peaka ({}); not sending it again, waiting for a run that starts after the one seen before", err.message());
                    self.queries[i].last_error = Some(format!("refresh: {}", err.message()));
                    self.query_watches[i].refresh_doubted = true;
                    break;
                }
                Err(err) => {
                    let outcome = err.outcome().unwrap_or(Outcome::ApiError);
                    let err = query_error(err);
                    self.queries[i].state = CacheState::of(outcome);
                    self.queries[i].last_error = Some(err.message().to_owned());
                    return Err((
                        outcome,
                        format!(
                            "materialized query {id}: the refresh failed: {}",
                            err.message()
                        ),
                    ));
                }
            }
        }
        self.queries[i].refreshed = true;
        self.query_watches[i].refreshed_from = Some(baseline);
        Ok(())
    }

    /// One round: the project's list, once; a query missing from it is
    /// looked up on its own the first time only (then it is not found).
    async fn read_queries(&mut self) -> Vec<Result<Reply<QueryStatus>, FetchError>> {
        let project = self.plan.project_id.clone();
        self.polls += 1;
        let sink = Awaited {
            ids: self.queries.iter().map(|q| q.query_id.clone()).collect(),
            kept: Vec::new(),
        };
        let listed = self
            .client
            .query_statuses(&project, self.budget(), sink)
            .await;
        let list = match listed {
            Err(err) => return self.queries.iter().map(|_| Err(err.clone())).collect(),
            Ok(reply) => {
                self.retry.answered();
                let latest = reply
                    .value
                    .iter()
                    .filter_map(QueryStatus::latest_time)
                    .max();
                self.measure_skew(&reply, latest);
                reply
            }
        };
        let mut answers = Vec::with_capacity(self.queries.len());
        for i in 0..self.queries.len() {
            let id = self.queries[i].query_id.clone();
            let mine = |q: &QueryStatus| q.query_id.as_deref() == Some(id.as_str());
            let found = list.value.iter().position(mine);
            let agree = list
                .value
                .iter()
                .filter(|q| mine(q))
                .all(|q| found.is_some_and(|pos| *q == list.value[pos]));
            let answer = match found {
                // Two statuses for one query: which is current is not shown.
                Some(_) if !agree => Err(FetchError::Transient {
                    cause: "the project's list holds different statuses for this query, so none shows where it stands".to_owned(),
                    status: None,
                    retry_after: None,
                }),
                Some(pos) => Ok(Reply {
                    value: list.value[pos].clone(),
                    server_date: list.server_date,
                    received_at: list.received_at,
                }),
                None if !self.query_watches[i].looked_up => {
                    self.polls += 1;
                    let budget = self.budget();
                    let own = self.client.query_status(&project, &id, budget).await;
                    // Only an answer settles it; a lookup that failed
                    // (a timeout, a 503) is made again next round.
                    self.query_watches[i].looked_up = match &own {
                        Ok(_) => true,
                        Err(err) => err.outcome().is_some(),
                    };
                    if let Ok(reply) = &own {
                        self.retry.answered();
                        self.measure_skew(reply, reply.value.latest_time());
                    }
                    own.map_err(query_error)
                }
                None => Err(FetchError::NotFound(
                    "no longer in the project's list of materialized queries".to_owned(),
                )),
            };
            answers.push(answer);
        }
        answers
    }

    /// Takes a round's answers in; returns the longest `Retry-After`, or
    /// the end of the gate (the first query, in the order given, to end it).
    async fn query_round(&mut self) -> Result<Option<Duration>, Ended> {
        let answers = self.read_queries().await;
        let bounds = self.criteria(None);
        let mut retry_after = None;
        let mut ended = None;
        for (i, answer) in answers.into_iter().enumerate() {
            match answer {
                Ok(reply) => {
                    let criteria = QueryCriteria {
                        since: bounds.since,
                        started_after: bounds.started_after,
                        refreshed_from: self.query_watches[i].refreshed_from,
                    };
                    let decision = decide_query(reply.value.facts(), &criteria);
                    self.log_query(i, &reply.value, &decision);
                    self.queries[i].state = match decision.verdict {
                        QueryVerdict::Ready => CacheState::Ready,
                        QueryVerdict::Failed => CacheState::Failed,
                        QueryVerdict::Waiting => CacheState::Waiting,
                    };
                    if decision.verdict == QueryVerdict::Failed && ended.is_none() {
                        let id = &self.queries[i].query_id;
                        ended = Some((
                            Outcome::Failed,
                            format!("materialized query {id}: {}", one_line(&decision.detail)),
                        ));
                    }
                    self.queries[i].status = Some(reply.value);
                    self.queries[i].decision = Some(decision);
                }
                Err(err) => match self.query_failed(i, &err) {
                    Err(end) => {
                        if ended.is_none() {
                            ended = Some(end);
                        }
                    }
                    Ok(wait) => {
                        if let Some(wait) = wait {
                            retry_after = Some(retry_after.map_or(wait, |r: Duration| r.max(wait)));
                        }
                    }
                },
            }
        }
        match ended {
            Some(ended) => Err(ended),
            None => Ok(retry_after),
        }
    }

    /// A failed read of query `i`: the end of the gate, or how long the
    /// server asked to wait before the retry.
    fn query_failed(&mut self, i: usize, err: &FetchError) -> Result<Option<Duration>, Ended> {
        let id = self.queries[i].query_id.clone();
        self.queries[i].last_error = Some(err.message().to_owned());
        match self.retry.failed(err) {
            Next::End(outcome, why) => {
                self.queries[i].state = CacheState::of(outcome);
                Err((outcome, format!("materialized query {id}: {why}")))
            }
            Next::Retry(wait) => {
                self.queries[i].state = CacheState::Waiting;
                tracing::warn!(query_id = %id, attempt = self.polls, elapsed_ms = millis(self.started.elapsed()), "materialized query {id}: {}; retrying", err.message());
                Ok(wait)
            }
        }
    }

    /// Logs a query's status when it changes.
    fn log_query(&mut self, i: usize, status: &QueryStatus, decision: &QueryDecision) {
        let id = &self.queries[i].query_id;
        let shown = format!(
            "{} (started {}, updated {})",
            one_line(status.status.as_deref().unwrap_or("no status")),
            status
                .last_execution_start_time
                .map_or("never".to_owned(), |t| t.to_string()),
            status
                .last_update_time
                .map_or("never".to_owned(), |t| t.to_string()),
        );
        if self.query_watches[i].last_logged.as_deref() == Some(shown.as_str()) {
            return;
        }
        tracing::info!(query_id = %id, status = status.status.as_deref().unwrap_or(""), "materialized query {id}: {shown}: {}", decision.detail);
        self.query_watches[i].last_logged = Some(shown);
        self.last_change = Instant::now();
    }

    /// The queries in the start line: `waiting for materialized query q1`,
    /// `refreshing materialized queries q2, q3 and waiting for them`.
    pub(super) fn queries_awaited(&self) -> Option<String> {
        let ids = |refresh: bool| -> Vec<&str> {
            (self.queries.iter())
                .filter(|q| q.refresh == refresh)
                .map(|q| q.query_id.as_str())
                .collect()
        };
        let named = |ids: &[&str]| match ids {
            [only] => format!("materialized query {only}"),
            all => format!("materialized queries {}", all.join(", ")),
        };
        let (waited, refreshed) = (ids(false), ids(true));
        let mut parts = Vec::new();
        if !refreshed.is_empty() {
            parts.push(format!(
                "refreshing {} and waiting for the run",
                named(&refreshed)
            ));
        }
        if !waited.is_empty() {
            parts.push(format!("waiting for {}", named(&waited)));
        }
        (!parts.is_empty()).then(|| parts.join(", and "))
    }

    fn queries_ready_message(&self) -> String {
        match self.queries.as_slice() {
            [only] => format!(
                "materialized query {}: {}",
                only.query_id,
                only.decision.as_ref().map_or("", |d| d.detail.as_str())
            ),
            all => format!("all {} materialized queries are ready", all.len()),
        }
    }

    /// The timeout sentence of the query stage.
    pub(super) fn queries_timeout_message(&self) -> String {
        let when = if self.check_once() {
            "not ready at the single check (--timeout 0)".to_owned()
        } else {
            format!("timed out after {}", format_duration(self.plan.timeout))
        };
        format!("{when}; {}", self.queries_waiting())
    }

    /// The waiting queries, each with why (its last error, else the rule's word).
    fn queries_waiting(&self) -> String {
        let waiting: Vec<String> = self
            .queries
            .iter()
            .filter(|q| q.state == CacheState::Waiting)
            .map(|q| {
                let why = q
                    .last_error
                    .as_deref()
                    .or(q.decision.as_ref().map(|d| d.detail.as_str()))
                    .unwrap_or("no status yet");
                format!("materialized query {}: {}", q.query_id, one_line(why))
            })
            .collect();
        waiting.join("; ")
    }

    /// With `--cancel-on-exit`, when `outcome` leaves a refreshed run
    /// going: cancels the runs the gate can show are its own (the start
    /// moved past the baseline, still `RUNNING`), never another.
    pub(super) async fn cancel_queries(&mut self, outcome: Outcome) -> Option<String> {
        if !self.plan.cancel_on_exit
            || !matches!(
                outcome,
                Outcome::Timeout | Outcome::Interrupted | Outcome::Terminated | Outcome::Stalled
            )
        {
            return None;
        }
        let end =
            (Instant::now() + CANCEL_BUDGET).min(self.retry.deadline() + Duration::from_secs(2));
        for i in 0..self.queries.len() {
            if !self.queries[i].refresh {
                continue;
            }
            let reason = match self.query_watches[i].refreshed_from {
                None => Some("the refresh was never sent".to_owned()),
                Some(_) if self.query_watches[i].refresh_doubted => Some(
                    "the refresh got no clear answer, so a running run may not be ours".to_owned(),
                ),
                Some(from) => {
                    let status = self.queries[i].status.as_ref();
                    let started = status.and_then(|s| s.last_execution_start_time);
                    let ours = is_new_run(started, from);
                    let running = status.and_then(|s| s.status.as_deref()) == Some("RUNNING");
                    if !ours {
                        Some("the refreshed run was never seen to start".to_owned())
                    } else if !running {
                        Some("it had ended".to_owned())
                    } else {
                        None
                    }
                }
            };
            let id = self.queries[i].query_id.clone();
            let said = match reason {
                Some(reason) => format!("not sent: {reason}"),
                None => {
                    let budget = end.saturating_duration_since(Instant::now());
                    if budget.is_zero() {
                        "not sent: no time left".to_owned()
                    } else {
                        self.polls += 1;
                        let answer = self
                            .client
                            .cancel_query(&self.plan.project_id, &id, budget)
                            .await;
                        cancel_answer(
                            &format!("materialized query {id}"),
                            "the refreshed run",
                            answer,
                        )
                    }
                }
            };
            self.queries[i].cancel = Some(said);
        }
        let told: Vec<String> = self
            .queries
            .iter()
            .filter_map(|q| {
                Some(format!(
                    "materialized query {}: {}",
                    q.query_id,
                    q.cancel.as_ref()?
                ))
            })
            .collect();
        (!told.is_empty()).then(|| format!("cancel of the refreshed runs: {}", told.join("; ")))
    }
}

/// The list's entries of the awaited queries, however long the list: the
/// first of each, and a second only when it differs (which shows the list
/// contradicts itself); every other entry is dropped as it arrives.
struct Awaited {
    ids: Vec<String>,
    kept: Vec<QueryStatus>,
}

impl Sink<QueryStatus> for Awaited {
    type Value = Vec<QueryStatus>;

    fn take(&mut self, status: QueryStatus) -> Result<(), String> {
        let Some(id) = status.query_id.as_deref() else {
            return Ok(());
        };
        if !self.ids.iter().any(|wanted| wanted == id) {
            return Ok(());
        }
        let mut same = self
            .kept
            .iter()
            .filter(|kept| kept.query_id.as_deref() == Some(id));
        let keep = match (same.next(), same.next()) {
            (None, _) => true,
            (Some(first), None) => *first != status,
            (Some(_), Some(_)) => false,
        };
        if keep {
            self.kept.push(status);
        }
        Ok(())
    }

    fn finish(self) -> Vec<QueryStatus> {
        self.kept
    }
}

/// A 404 names the query, not a cache.
fn query_error(err: FetchError) -> FetchError {
    match err {
        FetchError::NotFound(message) => FetchError::NotFound(message.replace(
            "check --project-id and --cache-id",
            "check --project-id and the materialized query id",
        )),
        other => other,
    }
}
