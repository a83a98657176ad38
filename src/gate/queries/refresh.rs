//! `--refresh-query` and its cancel: each query's start time read first
//! (the baseline), the refresh sent (again only when it provably never
//! reached the server), and, with `--cancel-on-exit`, the cancel of a run
//! the gate can show is its own.

use std::time::Duration;

use tokio::time::Instant;

use super::super::cancel::{CANCEL_BUDGET, cancel_answer};
use super::super::{CacheState, Ended, Gate};
use super::list::query_error;
use crate::api::Stamp;
use crate::client::FetchError;
use crate::decision::query::is_new_run;
use crate::exit_codes::Outcome;
use crate::retry::Next;
use crate::schedule::Schedule;

impl Gate<'_> {
    /// Reads every query's start time, then sends each refresh.
    pub(super) async fn refresh_queries(&mut self, schedule: &mut Schedule) -> Result<(), Ended> {
        loop {
            let answers = self.read_queries().await;
            let mut retry_after = None;
            for (i, answer) in answers.into_iter().enumerate() {
                if !self.queries.reports[i].refresh || self.queries.watches[i].baseline.is_some() {
                    continue;
                }
                match answer {
                    // A start that is there but unreadable proves no later
                    // start new: no baseline, so no refresh, until it reads.
                    Ok(reply) if reply.value.started == Stamp::Unreadable => {
                        let id = &self.queries.reports[i].query_id;
                        let why = "its lastExecutionStartTime cannot be read, so the refreshed run could not be told from the last one; not refreshing it until it can";
                        if self.queries.reports[i].last_error.as_deref() != Some(why) {
                            tracing::warn!(query_id = %id, "materialized query {id}: {why}");
                        }
                        self.queries.reports[i].last_error = Some(why.to_owned());
                        self.queries.reports[i].status = Some(reply.value);
                    }
                    Ok(reply) => {
                        self.queries.watches[i].baseline =
                            Some(reply.value.last_execution_start_time);
                        self.queries.reports[i].last_error = None;
                        self.queries.reports[i].status = Some(reply.value);
                    }
                    Err(err) => {
                        if let Some(wait) = self.query_failed(i, &err)? {
                            retry_after = Some(retry_after.map_or(wait, |r: Duration| r.max(wait)));
                        }
                    }
                }
            }
            let missing = (self.queries.reports.iter().zip(&self.queries.watches))
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
        for i in 0..self.queries.reports.len() {
            if self.queries.reports[i].refresh {
                self.send_refresh(i, schedule).await?;
            }
        }
        Ok(())
    }

    /// Sends the refresh of query `i`; again only after it provably never
    /// reached a server ([`FetchError::Unreached`]).
    async fn send_refresh(&mut self, i: usize, schedule: &mut Schedule) -> Result<(), Ended> {
        let id = self.queries.reports[i].query_id.clone();
        let baseline = self.queries.watches[i].baseline.flatten();
        let before = baseline.map_or("never ran".to_owned(), |at| format!("last started {at}"));
        loop {
            // Peaka takes seconds to answer a trigger; a refresh likewise.
            let budget = self.retry.trigger_budget();
            self.tally.sent(1);
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
                        self.queries.reports[i].state = CacheState::of(outcome);
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
                    self.queries.reports[i].last_error =
                        Some(format!("refresh: {}", err.message()));
                    self.queries.watches[i].refresh_doubted = true;
                    break;
                }
                Err(err) => {
                    let outcome = err.outcome().unwrap_or(Outcome::ApiError);
                    let err = query_error(err);
                    self.queries.reports[i].state = CacheState::of(outcome);
                    self.queries.reports[i].last_error = Some(err.message().to_owned());
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
        self.queries.reports[i].refreshed = true;
        self.queries.watches[i].refreshed_from = Some(baseline);
        Ok(())
    }

    /// With `--cancel-on-exit`, when `outcome` leaves a refreshed run
    /// going: cancels the runs the gate can show are its own (the start
    /// moved past the baseline, still `RUNNING`), never another.
    pub(in crate::gate) async fn cancel_queries(&mut self, outcome: Outcome) -> Option<String> {
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
        for i in 0..self.queries.reports.len() {
            if !self.queries.reports[i].refresh {
                continue;
            }
            let reason = match self.queries.watches[i].refreshed_from {
                None => Some("the refresh was never sent".to_owned()),
                Some(_) if self.queries.watches[i].refresh_doubted => Some(
                    "the refresh got no clear answer, so a running run may not be ours".to_owned(),
                ),
                Some(from) => {
                    let status = self.queries.reports[i].status.as_ref();
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
            let id = self.queries.reports[i].query_id.clone();
            let said = match reason {
                Some(reason) => format!("not sent: {reason}"),
                None => {
                    let budget = end.saturating_duration_since(Instant::now());
                    if budget.is_zero() {
                        "not sent: no time left".to_owned()
                    } else {
                        self.tally.sent(1);
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
            self.queries.reports[i].cancel = Some(said);
        }
        let told: Vec<String> = self
            .queries
            .reports
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
