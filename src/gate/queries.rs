//! Materialized queries in the loop (`--materialized-query`,
//! `--refresh-query`): the stage after the caches, or the only one. Each
//! round asks the project's list once (a query missing from it is looked up
//! on its own until a lookup is answered: an unknown id is a 404, exit 5),
//! and every query is decided by [`crate::decision::query`].
//! `--refresh-query` first reads each query's start time (the baseline),
//! then sends the refresh, again only when it provably never reached the
//! server, and waits for a run that starts after the baseline;
//! `--cancel-on-exit` cancels that run only.
//!
//! This file owns the stage: each query's report and the loop's memory of
//! it, the rounds, what each answer decides, and the stage's sentences;
//! reading the list and looking a query up are in [`list`], the refresh
//! and the cancel in [`refresh`].

mod list;
mod refresh;

use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

use super::{CacheState, Caches, Ended, Gate, Plan};
use crate::client::FetchError;
use crate::decision::query::{QueryCriteria, QueryDecision, QueryVerdict, decide_query};
use crate::exit_codes::Outcome;
use crate::query::QueryStatus;
use crate::retry::Next;
use crate::schedule::Schedule;
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

/// The materialized queries: each one's report and the loop's memory of
/// it, and whether their stage is under way; changed only in this module.
#[derive(Debug)]
pub(super) struct QueryStage {
    /// The awaited queries, then the refreshed ones.
    reports: Vec<QueryReport>,
    /// The loop's memory of each, in the same order.
    watches: Vec<QueryWatch>,
    /// Whether the caches are behind and the queries are awaited.
    current: bool,
}

impl QueryStage {
    /// The queries of `plan`: the awaited ones, then the refreshed ones.
    pub(super) fn new(plan: &Plan) -> QueryStage {
        let waited = (plan.materialized_queries.iter()).map(|q| QueryReport::new(q, false));
        let refreshed = (plan.refresh_queries.iter()).map(|q| QueryReport::new(q, true));
        let reports: Vec<QueryReport> = waited.chain(refreshed).collect();
        QueryStage {
            watches: reports.iter().map(|_| QueryWatch::default()).collect(),
            reports,
            current: false,
        }
    }

    /// Whether the caches are behind and the queries are awaited.
    pub(super) fn is_current(&self) -> bool {
        self.current
    }

    /// Every query's report, for the summary.
    pub(super) fn into_reports(self) -> Vec<QueryReport> {
        self.reports
    }

    /// The queries in the start line: `waiting for materialized query q1`,
    /// `refreshing materialized queries q2, q3 and waiting for them`.
    pub(super) fn named(&self) -> Option<String> {
        let ids = |refresh: bool| -> Vec<&str> {
            (self.reports.iter())
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

    fn ready_message(&self) -> String {
        match self.reports.as_slice() {
            [only] => format!(
                "materialized query {}: {}",
                only.query_id,
                only.decision.as_ref().map_or("", |d| d.detail.as_str())
            ),
            all => format!("all {} materialized queries are ready", all.len()),
        }
    }

    /// The waiting queries, each with why (its last error, else the rule's word).
    fn waiting(&self) -> String {
        let waiting: Vec<String> = self
            .reports
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
        if self.queries.reports.is_empty() {
            return self.drive(schedule).await;
        }
        if !self.awaits_caches() {
            return self.drive_queries(schedule).await;
        }
        // The queries' pauses start short again, whatever the caches' grew to.
        let mut query_schedule = schedule.clone();
        let (outcome, message) = self.drive(schedule).await;
        if outcome != Outcome::Ready {
            let refreshing = self.queries.reports.iter().any(|q| q.refresh);
            let note = if refreshing {
                "no materialized query was refreshed"
            } else {
                "the materialized queries were not looked at"
            };
            return (outcome, format!("{message}; {note}"));
        }
        tracing::info!("{message}; now the materialized queries");
        self.queries.current = true;
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
        self.queries.current = true;
        // The caches' planned pauses are about caches.
        self.forecasting.unplanned();
        if self.queries.reports.iter().any(|q| q.refresh) {
            if let Err(ended) = self.refresh_queries(schedule).await {
                return ended;
            }
        }
        loop {
            let retry_after = match self.query_round().await {
                Ok(retry_after) => retry_after,
                Err(ended) => return ended,
            };
            if self
                .queries
                .reports
                .iter()
                .all(|q| q.state == CacheState::Ready)
            {
                return (Outcome::Ready, self.queries.ready_message());
            }
            self.heartbeat(|gate| {
                let left = gate
                    .retry
                    .deadline()
                    .saturating_duration_since(Instant::now());
                format!(
                    "still waiting after {} ({} left): {}",
                    format_duration(gate.tally.elapsed()),
                    format_duration(left),
                    gate.queries.waiting()
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
                        refreshed_from: self.queries.watches[i].refreshed_from,
                    };
                    let decision = decide_query(reply.value.facts(), &criteria);
                    self.log_query(i, &reply.value, &decision);
                    self.queries.reports[i].state = match decision.verdict {
                        QueryVerdict::Ready => CacheState::Ready,
                        QueryVerdict::Failed => CacheState::Failed,
                        QueryVerdict::Waiting => CacheState::Waiting,
                    };
                    if decision.verdict == QueryVerdict::Failed && ended.is_none() {
                        let id = &self.queries.reports[i].query_id;
                        ended = Some((
                            Outcome::Failed,
                            format!("materialized query {id}: {}", one_line(&decision.detail)),
                        ));
                    }
                    self.queries.reports[i].status = Some(reply.value);
                    self.queries.reports[i].decision = Some(decision);
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
        let id = self.queries.reports[i].query_id.clone();
        self.queries.reports[i].last_error = Some(err.message().to_owned());
        match self.retry.failed(err) {
            Next::End(outcome, why) => {
                self.queries.reports[i].state = CacheState::of(outcome);
                Err((outcome, format!("materialized query {id}: {why}")))
            }
            Next::Retry(wait) => {
                self.queries.reports[i].state = CacheState::Waiting;
                tracing::warn!(query_id = %id, attempt = self.tally.polls(), elapsed_ms = millis(self.tally.elapsed()), "materialized query {id}: {}; retrying", err.message());
                Ok(wait)
            }
        }
    }

    /// Logs a query's status when it changes.
    fn log_query(&mut self, i: usize, status: &QueryStatus, decision: &QueryDecision) {
        let id = &self.queries.reports[i].query_id;
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
        if self.queries.watches[i].last_logged.as_deref() == Some(shown.as_str()) {
            return;
        }
        tracing::info!(query_id = %id, status = status.status.as_deref().unwrap_or(""), "materialized query {id}: {shown}: {}", decision.detail);
        self.queries.watches[i].last_logged = Some(shown);
        self.tally.news();
    }

    /// The timeout sentence of the query stage.
    pub(super) fn queries_timeout_message(&self) -> String {
        let when = if self.check_once() {
            "not ready at the single check (--timeout 0)".to_owned()
        } else {
            format!("timed out after {}", format_duration(self.plan.timeout))
        };
        format!("{when}; {}", self.queries.waiting())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::ExecutionFilter;

    fn stage(waited: &[&str], refreshed: &[&str]) -> QueryStage {
        let mut plan = Plan::new("p", &[], ExecutionFilter::Any, Duration::from_secs(60));
        plan.materialized_queries = waited.iter().map(|q| q.to_string()).collect();
        plan.refresh_queries = refreshed.iter().map(|q| q.to_string()).collect();
        QueryStage::new(&plan)
    }

    #[test]
    fn the_awaited_queries_come_first_then_the_refreshed_ones() {
        let stage = stage(&["q1"], &["q2", "q3"]);
        assert!(!stage.is_current());
        assert_eq!(stage.watches.len(), 3);
        let reports = stage.into_reports();
        let listed: Vec<_> = (reports.iter())
            .map(|q| (q.query_id.as_str(), q.refresh, q.state))
            .collect();
        assert_eq!(
            listed,
            [
                ("q1", false, CacheState::Waiting),
                ("q2", true, CacheState::Waiting),
                ("q3", true, CacheState::Waiting),
            ]
        );
    }

    #[test]
    fn the_start_line_names_what_is_refreshed_and_what_is_awaited() {
        assert_eq!(stage(&[], &[]).named(), None);
        assert_eq!(
            stage(&["q1"], &[]).named().unwrap(),
            "waiting for materialized query q1"
        );
        assert_eq!(
            stage(&["q1"], &["q2", "q3"]).named().unwrap(),
            "refreshing materialized queries q2, q3 and waiting for the run, and waiting for materialized query q1"
        );
    }

    #[test]
    fn the_waiting_queries_say_their_last_error_before_the_rules_word() {
        let mut stage = stage(&["q1", "q2", "q3"], &[]);
        stage.reports[0].decision = Some(QueryDecision {
            verdict: QueryVerdict::Waiting,
            detail: "still RUNNING".into(),
        });
        stage.reports[1].last_error = Some("HTTP 503\nagain".into());
        stage.reports[1].decision = stage.reports[0].decision.clone();
        stage.reports[2].state = CacheState::Ready;
        assert_eq!(
            stage.waiting(),
            "materialized query q1: still RUNNING; materialized query q2: HTTP 503\\nagain"
        );
        stage.reports[2].state = CacheState::Waiting;
        assert!(
            stage
                .waiting()
                .ends_with("; materialized query q3: no status yet")
        );
    }

    #[test]
    fn one_ready_query_says_why_and_many_are_counted() {
        let mut one = stage(&["q1"], &[]);
        one.reports[0].decision = Some(QueryDecision {
            verdict: QueryVerdict::Ready,
            detail: "COMPLETED at 10:00".into(),
        });
        assert_eq!(
            one.ready_message(),
            "materialized query q1: COMPLETED at 10:00"
        );
        assert_eq!(
            stage(&["q1"], &["q2"]).ready_message(),
            "all 2 materialized queries are ready"
        );
    }
}
