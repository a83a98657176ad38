//! The forecast reads (`--schedule adaptive`): each awaited cache's
//! history, once, and its settings when no run is under way, sent in the
//! pauses beside the polls, and taken in when they are back.
//!
//! The reads cost at most one request per status request sent: one read
//! in a pause, the caches still running first, the youngest run (the one
//! likely to end last) first, so that a gate over 20 caches does not
//! burst 40 reads at its start. The first pause, when a read is due in
//! it, carries the start jitter that spreads a fleet of gates, and is
//! stretched to the planned pause when the history comes back in it
//! ([`super`] plans the pause).
//!
//! The reads run beside the polls, in a task of their own: they start in a
//! pause and are taken in whenever they are back, so a slow history or
//! settings reply never holds a status poll (each is bounded by
//! `--request-timeout`, and ends with the gate). A failed read is a
//! warning: that cache then has no forecast, and the gate polls on the
//! exponential schedule, exactly as without `adaptive`.

use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

use super::super::inflight::Inflight;
use super::super::{CacheState, Gate};
use super::{FORECAST_HISTORY, MAX_FORECAST_CACHES};
use crate::api::{Execution, ExecutionKind};
use crate::client::{FetchError, Reply};
use crate::forecast;
use crate::retry::FINAL_REQUEST_BUDGET;
use crate::schedule::Schedule;
use crate::settings::CacheSettings;
use crate::timespec::{format_duration, millis};

/// What the forecast read of one cache brought back.
pub(super) struct ReadBack {
    /// The cache's index.
    i: usize,
    /// The slot forecast.
    kind: ExecutionKind,
    read: Read,
}

/// One forecast read's reply.
enum Read {
    History(Result<Reply<Vec<Execution>>, FetchError>),
    Settings(Result<Reply<CacheSettings>, FetchError>),
}

/// The forecast reads in flight.
pub(super) type ForecastReads = Inflight<Vec<ReadBack>>;

impl Gate<'_> {
    /// Sleeps `pause`. When a forecast read is due, sends it in a task of
    /// its own, at a random moment of the pause's first half (so that a
    /// fleet of gates started together does not send them all at once);
    /// likewise the history reads of executions missed between polls, at
    /// once. Reads in flight are taken in whenever they are back. The
    /// next poll still comes when the pause ends: the reads never delay a
    /// poll, except that the first pause, planned before any forecast, is
    /// stretched to the planned one when the history comes back in it (a
    /// poll a second after the first would be spent for nothing). A missed
    /// execution's history that comes back ends the pause early (unless
    /// `may_cut` is false: the server asked for the wait), so that the next
    /// poll decides on it.
    pub(in crate::gate) async fn sleep_and_read(
        &mut self,
        pause: Duration,
        may_cut: bool,
        schedule: &mut Schedule,
    ) {
        let start = Instant::now();
        let mut until = start + pause;
        self.send_due_reads(pause);
        self.send_missed_reads();
        while self.forecasting.reads.busy() || self.missed_reads.busy() {
            tokio::select! {
                read = self.forecasting.reads.back() => {
                    self.take_in(read);
                    if let Some(planned) = self.forecasting.stretched(self.tally.elapsed(), schedule) {
                        until = until.max((start + planned).min(self.retry.deadline()));
                        let left = until.saturating_duration_since(Instant::now());
                        tracing::debug!(next_poll_ms = millis(left), "the forecast is in: the pause lasts {} more, as planned from it", format_duration(left));
                    }
                }
                read = self.missed_reads.back() => {
                    if self.take_in_missed(read) && may_cut {
                        return;
                    }
                }
                () = tokio::time::sleep_until(until) => return,
            }
        }
        tokio::time::sleep_until(until).await;
    }

    /// Sends one forecast read, the first due in [`Gate::read_order`]
    /// (unless a read is in flight, the reads have caught up with the
    /// status requests, or too many caches are awaited).
    fn send_due_reads(&mut self, pause: Duration) {
        if self.forecasting.reads.busy() {
            return;
        }
        let due: Vec<usize> = (0..self.awaited.len())
            .filter(|&i| self.awaited.caches()[i].state == CacheState::Waiting)
            .filter(|&i| self.awaited.watches()[i].planning.read_due())
            .collect();
        if due.len() > MAX_FORECAST_CACHES && !self.forecasting.deferred {
            self.forecasting.deferred = true;
            tracing::info!(
                awaited = due.len(),
                "{} caches are awaited; a forecast reads the history of at most {MAX_FORECAST_CACHES}, so it waits until no more are left; polling on the exponential schedule",
                due.len()
            );
        }
        if due.is_empty()
            || due.len() > MAX_FORECAST_CACHES
            || !self.forecasting.may_read(self.tally.polls())
        {
            return;
        }
        let Some(&i) = self.read_order(due).first() else {
            return;
        };
        let spread = (self.forecasting.planner.as_mut())
            .map_or(Duration::ZERO, |p| p.read_jitter(pause.saturating_mul(5)));
        // Nothing runs past the deadline and the final poll's budget.
        let hard_left = (self.retry.deadline() + FINAL_REQUEST_BUDGET)
            .saturating_duration_since(Instant::now())
            .saturating_sub(spread);
        let budget = self.budget().min(hard_left);
        let kind = self.awaited.watches()[i]
            .planning
            .kind
            .unwrap_or_else(|| self.forecast_kind(i));
        let planning = &mut self.awaited.watches_mut()[i].planning;
        planning.kind = Some(kind);
        let history = planning.due && !planning.read;
        if history {
            planning.due = false;
            planning.read = true;
        } else {
            planning.settings_due = false;
            planning.settings_read = true;
        }
        self.tally.sent(1);
        self.forecasting.pacing.reads += 1;
        let client = self.client.clone();
        let project = self.plan.project_id.clone();
        let cache_id = self.awaited.caches()[i].cache_id.clone();
        self.forecasting.reads.start(async move {
            tokio::time::sleep(spread).await;
            let read = if history {
                Read::History(
                    client
                        .execution_history(&project, &cache_id, FORECAST_HISTORY, budget)
                        .await,
                )
            } else {
                Read::Settings(client.cache_settings(&project, &cache_id, budget).await)
            };
            vec![ReadBack { i, kind, read }]
        });
    }

    /// The caches `due` a read, in the order they are read: the ones whose
    /// last reply shows a refresh under way first (they decide the wait),
    /// the youngest run first (of runs alike it ends last), then the rest
    /// in the order given.
    fn read_order(&self, mut due: Vec<usize>) -> Vec<usize> {
        let started = |i: usize| {
            let kind = self.awaited.watches()[i]
                .planning
                .kind
                .unwrap_or_else(|| self.forecast_kind(i));
            self.awaited.caches()[i]
                .status
                .as_ref()
                .and_then(|s| s.execution(kind))
                .filter(|e| !e.is_terminal())
                .and_then(|e| e.created_at)
        };
        due.sort_by_key(|&i| {
            (
                !self.awaited.watches()[i].planning.live,
                std::cmp::Reverse(started(i)),
            )
        });
        due
    }

    /// Takes in what the forecast reads brought back, and re-plans.
    fn take_in(&mut self, back: Vec<ReadBack>) {
        for read in back {
            let i = read.i;
            self.take_in_one(read);
            let server_now = self.clock.on_server(Timestamp::now());
            self.update_forecast(i, server_now);
            // The expected end is news for the line before the next poll.
            crate::progress::show(self.progress_line(i, server_now));
        }
        self.replan();
    }

    /// Takes in the history or the settings of one cache.
    fn take_in_one(&mut self, back: ReadBack) {
        let ReadBack { i, kind, read } = back;
        let cache_id = self.awaited.caches()[i].cache_id.clone();
        let planning = &mut *self.awaited.watches_mut()[i].planning;
        match read {
            Read::History(Ok(reply)) => planning.history = reply.value,
            Read::History(Err(err)) => {
                tracing::warn!(cache_id = %cache_id, "cache {cache_id}: cannot read the execution history for a forecast ({}); polling on the exponential schedule", err.message());
            }
            Read::Settings(Ok(reply)) => {
                planning.period = reply.value.period(kind);
                return;
            }
            Read::Settings(Err(err)) => {
                tracing::warn!(cache_id = %cache_id, "cache {cache_id}: cannot read the cache's settings ({}); its schedule is not used for the forecast", err.message());
                return;
            }
        }
        planning.usual = forecast::usual(&planning.history, kind);
        if planning.usual.is_none() {
            let past = planning
                .history
                .iter()
                .filter(|e| e.kind() == Some(kind))
                .count();
            tracing::info!(cache_id = %cache_id, kind = kind.as_str(), "cache {cache_id}: no forecast for its {} ({} of it in the history; {} completed ones with a credible duration are needed); polling on the exponential schedule", kind.label(), crate::text::count(past, "run", "runs"), forecast::MIN_RUNS);
        }
    }
}
