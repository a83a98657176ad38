//! The poll loop: polls every awaited cache on the schedule until each is
//! decided or the deadline passes, logging what changes, and returns a
//! [`Report`] of how it ended.
//!
//! It owns time (the deadline, the pauses, the per-request budgets) and the
//! memory of what was seen; what a status *means* is asked of
//! [`crate::decision`], and how to reach the API of [`crate::client`].

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

use crate::api::CacheStatus;
use crate::client::{Client, FetchError};
use crate::decision::{Criteria, Decision, Verdict, decide};
use crate::exit_codes::Outcome;
use crate::schedule::{Schedule, pause};
use crate::timespec::format_duration;

/// How often "still waiting" is logged while nothing changes.
pub const HEARTBEAT: Duration = Duration::from_secs(60);

/// The last poll, at the deadline, still gets this long to answer (capped
/// by `--request-timeout`), so the gate ends within `--timeout` + 1 s.
pub const FINAL_POLL_BUDGET: Duration = Duration::from_millis(750);

/// What the loop needs to know, fixed for the whole run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The project of every cache.
    pub project_id: String,
    /// The caches to wait for.
    pub cache_ids: Vec<String>,
    /// What makes an execution count, pinned to instants.
    pub criteria: Criteria,
    /// The overall deadline; zero means check once.
    pub timeout: Duration,
    /// The limit on one request.
    pub request_timeout: Duration,
}

/// Where one cache stands at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheState {
    /// Not decided when the gate ended.
    Waiting,
    /// Ready.
    Ready,
    /// A counting execution failed or was cancelled.
    Failed,
    /// 404, or `DELETED`.
    NotFound,
    /// 401 or 403.
    Unauthorized,
    /// Another 4xx, or a redirect.
    ApiError,
}

impl CacheState {
    /// The name in the summary's `state` field.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheState::Waiting => "waiting",
            CacheState::Ready => "ready",
            CacheState::Failed => "failed",
            CacheState::NotFound => "not_found",
            CacheState::Unauthorized => "unauthorized",
            CacheState::ApiError => "api_error",
        }
    }
}

/// What is known of one cache.
#[derive(Debug, Clone)]
pub struct CacheReport {
    /// The cache id.
    pub cache_id: String,
    /// Where it stands.
    pub state: CacheState,
    /// The last status the API gave for it.
    pub status: Option<CacheStatus>,
    /// The decision on that status.
    pub decision: Option<Decision>,
    /// The most recent error polling it, if any.
    pub last_error: Option<String>,
}

/// How the run ended.
#[derive(Debug, Clone)]
pub struct Report {
    /// The outcome, and so the exit code.
    pub outcome: Outcome,
    /// One sentence saying what happened.
    pub message: String,
    /// Time from start to end.
    pub elapsed: Duration,
    /// Status requests sent.
    pub polls: u64,
    /// The project id.
    pub project_id: String,
    /// Every cache, in the order given.
    pub caches: Vec<CacheReport>,
}

/// Runs the gate until it is decided, the deadline passes, or `stop`
/// resolves (a signal), whichever comes first.
pub async fn run(
    plan: &Plan,
    client: &Client,
    mut schedule: Schedule,
    stop: impl Future<Output = Outcome>,
) -> Report {
    let mut gate = Gate::new(plan);
    let started = Instant::now();
    tracing::info!(
        project_id = %plan.project_id,
        cache_ids = %plan.cache_ids.join(","),
        execution = plan.criteria.execution.as_str(),
        since = plan.criteria.since.map(|t| t.to_string()),
        started_after = plan.criteria.started_after.map(|t| t.to_string()),
        timeout_ms = plan.timeout.as_millis() as u64,
        "waiting for {}",
        gate.awaited()
    );
    let (outcome, message) = tokio::select! {
        ended = gate.poll_until_decided(client, &mut schedule, started) => ended,
        signal = stop => (signal, format!("interrupted by {} before the gate was decided", match signal {
            Outcome::Terminated => "SIGTERM",
            _ => "SIGINT",
        })),
    };
    let elapsed = started.elapsed();
    gate.report(outcome, message, elapsed)
}

struct Gate<'a> {
    plan: &'a Plan,
    caches: Vec<CacheReport>,
    polls: u64,
    /// Per cache: what was last logged, to log only changes.
    last_logged: Vec<Option<String>>,
    warned_unknown: HashSet<String>,
    last_change: Instant,
}

impl<'a> Gate<'a> {
    fn new(plan: &'a Plan) -> Self {
        let caches = plan
            .cache_ids
            .iter()
            .map(|id| CacheReport {
                cache_id: id.clone(),
                state: CacheState::Waiting,
                status: None,
                decision: None,
                last_error: None,
            })
            .collect();
        Gate {
            plan,
            caches,
            polls: 0,
            last_logged: vec![None; plan.cache_ids.len()],
            warned_unknown: HashSet::new(),
            last_change: Instant::now(),
        }
    }

    fn awaited(&self) -> String {
        let c = &self.plan.criteria;
        let what = match c.execution {
            crate::decision::ExecutionFilter::Any => "the refresh (incremental or full) of",
            crate::decision::ExecutionFilter::Incremental => "the incremental sync of",
            crate::decision::ExecutionFilter::Full => "the full refresh of",
            crate::decision::ExecutionFilter::Both => "an incremental sync and a full refresh of",
        };
        let caches = if self.caches.len() == 1 {
            format!("cache {}", self.plan.cache_ids[0])
        } else {
            format!("{} caches", self.caches.len())
        };
        let mut text = format!("{what} {caches} in project {}", self.plan.project_id);
        if let Some(since) = c.since {
            text.push_str(&format!(", finished after {since}"));
        }
        if let Some(after) = c.started_after {
            text.push_str(&format!(", started at or after {after}"));
        }
        if self.plan.timeout.is_zero() {
            text.push_str(" (checking once)");
        } else {
            text.push_str(&format!(
                " (timeout {})",
                format_duration(self.plan.timeout)
            ));
        }
        text
    }

    async fn poll_until_decided(
        &mut self,
        client: &Client,
        schedule: &mut Schedule,
        started: Instant,
    ) -> (Outcome, String) {
        let check_once = self.plan.timeout.is_zero();
        let deadline = started + self.plan.timeout;
        loop {
            let now = Instant::now();
            let budget = if check_once {
                self.plan.request_timeout
            } else {
                let left = deadline.saturating_duration_since(now);
                left.max(FINAL_POLL_BUDGET).min(self.plan.request_timeout)
            };
            let retry_after = match self.poll_round(client, budget, started).await {
                Ok(retry_after) => retry_after,
                Err(ended) => return ended,
            };
            if self.caches.iter().all(|c| c.state == CacheState::Ready) {
                return (Outcome::Ready, self.ready_message());
            }
            let now = Instant::now();
            if check_once || now >= deadline {
                return (Outcome::Timeout, self.timeout_message(started.elapsed()));
            }
            if now.duration_since(self.last_change) >= HEARTBEAT {
                self.last_change = now;
                tracing::info!(
                    elapsed_ms = millis(started.elapsed()),
                    "still waiting: {}",
                    self.waiting_on()
                );
            }
            let sleep = pause(schedule.next_delay(), retry_after, deadline - now);
            tracing::debug!(
                next_poll_ms = millis(sleep),
                "next poll in {}",
                format_duration(sleep)
            );
            tokio::time::sleep(sleep).await;
        }
    }

    /// Polls every cache not yet ready, at once. Returns the longest
    /// `Retry-After` asked for, or the end of the gate.
    async fn poll_round(
        &mut self,
        client: &Client,
        budget: Duration,
        started: Instant,
    ) -> Result<Option<Duration>, (Outcome, String)> {
        let pending: Vec<usize> = (0..self.caches.len())
            .filter(|&i| self.caches[i].state == CacheState::Waiting)
            .collect();
        let project = &self.plan.project_id;
        let results = join_all(
            pending
                .iter()
                .map(|&i| client.cache_status(project, &self.caches[i].cache_id, budget)),
        )
        .await;
        let mut retry_after: Option<Duration> = None;
        // Results arrive in the order the caches were given, so the first
        // ending found is the one that decides the outcome.
        let mut ended = None;
        for (i, result) in pending.into_iter().zip(results) {
            self.polls += 1;
            let cache_id = self.caches[i].cache_id.clone();
            let elapsed_ms = millis(started.elapsed());
            let ending = match result {
                Ok(status) => {
                    let status = status.value;
                    let decision = decide(&status, &self.plan.criteria, &[]);
                    tracing::debug!(cache_id = %cache_id, attempt = self.polls, elapsed_ms, status = status.status.as_str(), "poll cache {cache_id}: {}", decision.detail);
                    let outcome = match decision.verdict {
                        Verdict::Failed => Some(Outcome::Failed),
                        Verdict::Deleted => Some(Outcome::NotFound),
                        Verdict::Waiting | Verdict::Ready => None,
                    };
                    let detail = decision.detail.clone();
                    self.observe(i, status, decision);
                    outcome.map(|outcome| (outcome, format!("cache {cache_id}: {detail}")))
                }
                Err(err) => {
                    let message = err.message().to_owned();
                    self.caches[i].last_error = Some(message.clone());
                    if let Some(outcome) = err.outcome() {
                        self.caches[i].state = match outcome {
                            Outcome::Unauthorized => CacheState::Unauthorized,
                            Outcome::NotFound => CacheState::NotFound,
                            _ => CacheState::ApiError,
                        };
                        Some((outcome, format!("cache {cache_id}: {message}")))
                    } else {
                        if let FetchError::Transient {
                            retry_after: Some(wait),
                            ..
                        } = err
                        {
                            retry_after = Some(retry_after.map_or(wait, |r| r.max(wait)));
                        }
                        tracing::warn!(cache_id = %cache_id, attempt = self.polls, elapsed_ms, "cache {cache_id}: {message}; retrying");
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

    /// Records a decided status, and logs it when something changed.
    fn observe(&mut self, i: usize, status: CacheStatus, decision: Decision) {
        let cache = &mut self.caches[i];
        cache.state = match decision.verdict {
            Verdict::Waiting => CacheState::Waiting,
            Verdict::Ready => CacheState::Ready,
            Verdict::Failed => CacheState::Failed,
            Verdict::Deleted => CacheState::NotFound,
        };
        if let Some(unknown) = &decision.unknown_status {
            if self.warned_unknown.insert(unknown.clone()) {
                tracing::warn!(cache_id = %cache.cache_id, status = %unknown, "cache {}: execution status {unknown} is unknown to this version of peaka-wait; treating it as still running", cache.cache_id);
            }
        }
        let execution = decision
            .focus
            .and_then(|kind| status.execution(kind).map(|e| (kind, e)));
        let seen = format!(
            "{}|{:?}|{:?}|{:?}",
            status.status.as_str(),
            decision.verdict,
            execution.map(|(_, e)| &e.id),
            execution.map(|(_, e)| &e.status),
        );
        if self.last_logged[i].as_deref() != Some(seen.as_str()) {
            self.last_logged[i] = Some(seen);
            self.last_change = Instant::now();
            tracing::info!(
                cache_id = %cache.cache_id,
                status = status.status.as_str(),
                kind = execution.map(|(kind, _)| kind.as_str()),
                execution_id = execution.and_then(|(_, e)| e.id.as_deref()),
                execution_status = execution.and_then(|(_, e)| e.status.as_ref()).map(|s| s.as_str()),
                records = execution.and_then(|(_, e)| e.records()),
                "cache {}: {}{}",
                cache.cache_id,
                decision.detail,
                execution.and_then(|(_, e)| e.records()).map(|n| format!(" ({n} records)")).unwrap_or_default()
            );
        }
        cache.status = Some(status);
        cache.decision = Some(decision);
    }

    fn ready_message(&self) -> String {
        match self.caches.as_slice() {
            [only] => format!(
                "cache {} is ready: {}",
                only.cache_id,
                only.decision.as_ref().map_or("", |d| d.detail.as_str())
            ),
            all => format!("all {} caches are ready", all.len()),
        }
    }

    fn waiting_on(&self) -> String {
        self.caches
            .iter()
            .filter(|c| c.state == CacheState::Waiting)
            .map(|c| {
                let state = c
                    .decision
                    .as_ref()
                    .map_or("no status received yet", |d| d.detail.as_str());
                let error = c
                    .last_error
                    .as_ref()
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default();
                format!("cache {}: {state}{error}", c.cache_id)
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn timeout_message(&self, elapsed: Duration) -> String {
        let when = if self.plan.timeout.is_zero() {
            "not ready at the single check (--timeout 0)".to_owned()
        } else {
            format!("timed out after {}", format_duration(elapsed))
        };
        format!("{when}; {}", self.waiting_on())
    }

    fn report(self, outcome: Outcome, message: String, elapsed: Duration) -> Report {
        Report {
            outcome,
            message,
            elapsed,
            polls: self.polls,
            project_id: self.plan.project_id.clone(),
            caches: self.caches,
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Resolves when SIGINT or SIGTERM arrives, with the matching outcome.
/// If a handler cannot be installed, that signal keeps its default action.
pub async fn shutdown_signal() -> Outcome {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(term) => {
                    term.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            Ok(()) = tokio::signal::ctrl_c() => Outcome::Interrupted,
            () = terminated => Outcome::Terminated,
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => Outcome::Interrupted,
            Err(_) => std::future::pending().await,
        }
    }
}
