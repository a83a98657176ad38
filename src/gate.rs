//! The poll loop: optionally triggers a refresh, then polls every awaited
//! cache on the schedule until each is decided or the deadline passes, and
//! returns a [`Report`] of how it ended.
//!
//! It owns time (the deadline, the pauses, the per-request budgets, the
//! server's clock offset) and the memory of what was seen (each slot's last
//! execution, executions missed between polls, how long one has been
//! still). What a status *means* is asked of [`crate::decision`], and how to
//! reach the API of [`crate::client`].

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use futures_util::future::join_all;
use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

use crate::api::{CacheStatus, Execution, ExecutionKind};
use crate::client::{Client, FetchError, Reply};
use crate::decision::{
    Baseline, Criteria, Decision, ExecutionFilter, Motion, Verdict, decide, still_for,
};
use crate::exit_codes::Outcome;
use crate::schedule::{Schedule, pause};
use crate::timespec::{TimeSpec, format_duration, millis};

/// How often "still waiting" is logged while nothing changes.
pub const HEARTBEAT: Duration = Duration::from_secs(60);

/// The last poll, at the deadline, still gets this long to answer (capped
/// by `--request-timeout`), so the gate ends within `--timeout` + 1 s.
pub const FINAL_POLL_BUDGET: Duration = Duration::from_millis(750);

/// A clock difference up to this is noise (the `Date` header has 1 s
/// resolution, plus the network); beyond it the gate warns and corrects.
pub const SKEW_TOLERANCE: SignedDuration = SignedDuration::from_secs(5);

/// How many executions are read from the history when the slot moved on
/// between two polls.
pub const HISTORY_LIMIT: u32 = 20;

/// Which caches to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caches {
    /// These, in this order.
    Listed(Vec<String>),
    /// Every cache of the project (`--all-caches`), read at the start.
    All,
}

/// What the loop needs to know, fixed for the whole run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The project of every cache.
    pub project_id: String,
    /// The caches to wait for.
    pub caches: Caches,
    /// Which slots count.
    pub execution: ExecutionFilter,
    /// `--since`, pinned to the server's clock once it is known.
    pub since: Option<TimeSpec>,
    /// `--started-after`, likewise.
    pub started_after: Option<TimeSpec>,
    /// The local clock when the gate started.
    pub started_at: Timestamp,
    /// `--trigger`: the kind of refresh to start before waiting.
    pub trigger: Option<ExecutionKind>,
    /// `--stall-timeout`: how long a running execution may stand still.
    pub stall_timeout: Option<Duration>,
    /// The overall deadline; zero means check once.
    pub timeout: Duration,
    /// The limit on one request.
    pub request_timeout: Duration,
}

impl Plan {
    /// A plan with no bounds, no trigger and no stall limit: "wait for the
    /// current sync of these caches".
    pub fn new(
        project_id: &str,
        cache_ids: &[&str],
        execution: ExecutionFilter,
        timeout: Duration,
    ) -> Plan {
        Plan {
            project_id: project_id.to_owned(),
            caches: Caches::Listed(cache_ids.iter().map(|c| c.to_string()).collect()),
            execution,
            since: None,
            started_after: None,
            started_at: Timestamp::now(),
            trigger: None,
            stall_timeout: None,
            timeout,
            request_timeout: Duration::from_secs(10),
        }
    }
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
    /// The awaited execution stopped moving (`--stall-timeout`).
    Stalled,
    /// 404, `DELETED`, or missing from the project's list.
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
            CacheState::Stalled => "stalled",
            CacheState::NotFound => "not_found",
            CacheState::Unauthorized => "unauthorized",
            CacheState::ApiError => "api_error",
        }
    }

    fn of(outcome: Outcome) -> CacheState {
        match outcome {
            Outcome::Unauthorized => CacheState::Unauthorized,
            Outcome::NotFound => CacheState::NotFound,
            Outcome::Failed => CacheState::Failed,
            Outcome::Stalled => CacheState::Stalled,
            _ => CacheState::ApiError,
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
    /// Requests sent to the API (status, list, history and trigger).
    pub polls: u64,
    /// The project id.
    pub project_id: String,
    /// Every cache, in the order given.
    pub caches: Vec<CacheReport>,
}

/// An ending: the outcome and the sentence that explains it.
type Ended = (Outcome, String);

/// Runs the gate until it is decided, the deadline passes, or `stop`
/// resolves (a signal), whichever comes first.
pub async fn run(
    plan: &Plan,
    client: &Client,
    mut schedule: Schedule,
    stop: impl Future<Output = Outcome>,
) -> Report {
    let mut gate = Gate::new(plan, client);
    tracing::info!(
        project_id = %plan.project_id,
        cache_ids = %gate.caches.iter().map(|c| c.cache_id.as_str()).collect::<Vec<_>>().join(","),
        execution = gate.execution().as_str(),
        trigger = plan.trigger.map(ExecutionKind::as_str),
        timeout_ms = millis(plan.timeout),
        "{}",
        gate.awaited()
    );
    let (outcome, message) = tokio::select! {
        ended = gate.drive(&mut schedule) => ended,
        signal = stop => (signal, format!("interrupted by {} before the gate was decided", match signal {
            Outcome::Terminated => "SIGTERM",
            _ => "SIGINT",
        })),
    };
    gate.report(outcome, message)
}

/// The last record seen in a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    id: Option<String>,
    created_at: Option<Timestamp>,
    terminal: bool,
}

impl Seen {
    fn of(execution: &Execution) -> Seen {
        Seen {
            id: execution.id.clone(),
            created_at: execution.created_at,
            terminal: execution.is_terminal(),
        }
    }
}

/// The loop's memory of one cache.
#[derive(Debug, Default)]
struct Watch {
    /// The slot's record before `--trigger`.
    baseline: Option<Baseline>,
    /// The last record seen in each slot.
    seen: HashMap<ExecutionKind, Seen>,
    /// Executions that ended between polls, read from the history.
    missed: Vec<(ExecutionKind, Execution)>,
    /// The awaited execution's last motion, and since when it is unchanged.
    motion: Option<(Motion, Instant)>,
    /// What was last logged, to log only changes.
    last_logged: Option<String>,
}

struct Gate<'a> {
    plan: &'a Plan,
    client: &'a Client,
    caches: Vec<CacheReport>,
    watches: Vec<Watch>,
    polls: u64,
    /// The server's clock minus ours, once measured (zero within tolerance).
    skew: Option<SignedDuration>,
    warned_unknown: HashSet<String>,
    started: Instant,
    deadline: Instant,
    last_change: Instant,
}

impl<'a> Gate<'a> {
    fn new(plan: &'a Plan, client: &'a Client) -> Self {
        let started = Instant::now();
        let mut gate = Gate {
            plan,
            client,
            caches: Vec::new(),
            watches: Vec::new(),
            polls: 0,
            skew: None,
            warned_unknown: HashSet::new(),
            started,
            deadline: started + plan.timeout,
            last_change: started,
        };
        if let Caches::Listed(ids) = &plan.caches {
            gate.set_caches(ids.clone());
        }
        gate
    }

    fn set_caches(&mut self, ids: Vec<String>) {
        self.caches = ids
            .into_iter()
            .map(|cache_id| CacheReport {
                cache_id,
                state: CacheState::Waiting,
                status: None,
                decision: None,
                last_error: None,
            })
            .collect();
        self.watches = self.caches.iter().map(|_| Watch::default()).collect();
    }

    /// `--trigger` waits for its own kind of refresh.
    fn execution(&self) -> ExecutionFilter {
        match self.plan.trigger {
            Some(ExecutionKind::Incremental) => ExecutionFilter::Incremental,
            Some(ExecutionKind::Full) => ExecutionFilter::Full,
            None => self.plan.execution,
        }
    }

    fn check_once(&self) -> bool {
        self.plan.timeout.is_zero()
    }

    fn awaited(&self) -> String {
        let what = match (self.plan.trigger, self.execution()) {
            (Some(kind), _) => format!("triggering {} of", kind.a_label()),
            (None, ExecutionFilter::Any) => {
                "waiting for the refresh (incremental or full) of".to_owned()
            }
            (None, ExecutionFilter::Incremental) => {
                "waiting for the incremental sync of".to_owned()
            }
            (None, ExecutionFilter::Full) => "waiting for the full refresh of".to_owned(),
            (None, ExecutionFilter::Both) => {
                "waiting for an incremental sync and a full refresh of".to_owned()
            }
        };
        let caches = match (&self.plan.caches, self.caches.as_slice()) {
            (Caches::All, _) => "every cache".to_owned(),
            (_, [only]) => format!("cache {}", only.cache_id),
            (_, all) => format!("{} caches", all.len()),
        };
        let mut text = format!("{what} {caches} in project {}", self.plan.project_id);
        let bounds = self.criteria(None);
        if let Some(since) = bounds.since {
            text.push_str(&format!(", finished after {since}"));
        }
        if let Some(after) = bounds.started_after {
            text.push_str(&format!(", started at or after {after}"));
        }
        if self.check_once() {
            text.push_str(" (checking once)");
        } else {
            text.push_str(&format!(
                " (timeout {})",
                format_duration(self.plan.timeout)
            ));
        }
        text
    }

    /// The criteria for one cache (or the shared part, for `None`), with
    /// local-clock TIMEs read on the server's clock.
    fn criteria(&self, cache: Option<usize>) -> Criteria {
        let server_start = self
            .plan
            .started_at
            .checked_add(self.skew.unwrap_or(SignedDuration::ZERO))
            .unwrap_or(self.plan.started_at);
        Criteria {
            execution: self.execution(),
            since: self.plan.since.map(|t| t.resolve(server_start)),
            started_after: self.plan.started_after.map(|t| t.resolve(server_start)),
            newer_than: cache.and_then(|i| self.watches[i].baseline.clone()),
        }
    }

    /// The time budget of the next request.
    fn budget(&self) -> Duration {
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

    async fn drive(&mut self, schedule: &mut Schedule) -> Ended {
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

    /// Before polling: list the project's caches (`--all-caches`) and
    /// trigger the refreshes (`--trigger`).
    async fn prepare(&mut self, schedule: &mut Schedule) -> Result<(), Ended> {
        if self.plan.caches == Caches::All {
            let ids = loop {
                let budget = self.budget();
                self.polls += 1;
                match self
                    .client
                    .project_statuses(&self.plan.project_id, budget)
                    .await
                {
                    Ok(reply) => {
                        self.measure_skew(&reply);
                        break reply
                            .value
                            .into_iter()
                            .filter_map(|status| status.id)
                            .collect::<Vec<_>>();
                    }
                    Err(err) => {
                        let subject = format!("project {}", self.plan.project_id);
                        self.retry_or_end(
                            &err,
                            None,
                            &subject,
                            schedule,
                            "listing the project's caches",
                        )
                        .await?
                    }
                }
            };
            if ids.is_empty() {
                return Err((
                    Outcome::NotFound,
                    format!(
                        "project {} has no caches (check --project-id)",
                        self.plan.project_id
                    ),
                ));
            }
            tracing::info!(
                caches = ids.len(),
                "project {} has {} caches: {}",
                self.plan.project_id,
                ids.len(),
                ids.join(", ")
            );
            self.set_caches(ids);
        }
        if let Some(kind) = self.plan.trigger {
            for i in 0..self.caches.len() {
                self.trigger(i, kind, schedule).await?;
            }
        }
        Ok(())
    }

    /// Notes the slot's record, then triggers. The trigger is repeated only
    /// when it provably never reached the server.
    async fn trigger(
        &mut self,
        i: usize,
        kind: ExecutionKind,
        schedule: &mut Schedule,
    ) -> Result<(), Ended> {
        let cache_id = self.caches[i].cache_id.clone();
        let baseline = loop {
            let budget = self.budget();
            self.polls += 1;
            match self
                .client
                .cache_status(&self.plan.project_id, &cache_id, budget)
                .await
            {
                Ok(reply) => {
                    self.measure_skew(&reply);
                    self.remember_slots(i, &reply.value);
                    break Baseline::of(&reply.value, kind);
                }
                Err(err) => {
                    let subject = format!("cache {cache_id}");
                    self.retry_or_end(
                        &err,
                        Some(i),
                        &subject,
                        schedule,
                        "reading the cache before the trigger",
                    )
                    .await?
                }
            }
        };
        loop {
            let budget = self.budget();
            self.polls += 1;
            match self
                .client
                .trigger(&self.plan.project_id, &cache_id, kind, budget)
                .await
            {
                Ok(_) => {
                    tracing::info!(cache_id = %cache_id, kind = kind.as_str(), "cache {cache_id}: triggered {} (the slot showed {})", kind.a_label(), baseline.id.as_deref().unwrap_or("no execution"));
                    break;
                }
                Err(FetchError::Unreached(cause)) => {
                    tracing::warn!(cache_id = %cache_id, "cache {cache_id}: the trigger could not be sent ({cause}); sending it again");
                    let message = format!(
                        "cache {cache_id}: the {} could not be triggered: {cause}",
                        kind.label()
                    );
                    self.pause_or_timeout(schedule, None, |_| message).await?;
                }
                Err(err) if err.outcome().is_none() => {
                    tracing::warn!(cache_id = %cache_id, "cache {cache_id}: the trigger may or may not have reached Peaka ({}); not sending it again, waiting for a new {}", err.message(), kind.label());
                    self.caches[i].last_error = Some(format!("trigger: {}", err.message()));
                    break;
                }
                Err(err) => {
                    let outcome = err.outcome().unwrap_or(Outcome::ApiError);
                    self.caches[i].state = CacheState::of(outcome);
                    self.caches[i].last_error = Some(err.message().to_owned());
                    return Err((
                        outcome,
                        format!(
                            "cache {cache_id}: triggering {} failed: {}",
                            kind.a_label(),
                            err.message()
                        ),
                    ));
                }
            }
        }
        self.watches[i].baseline = Some(baseline);
        Ok(())
    }

    /// After a failed setup request about `cache` (or the project): end on
    /// a final error, else pause until the next attempt.
    async fn retry_or_end(
        &mut self,
        err: &FetchError,
        cache: Option<usize>,
        subject: &str,
        schedule: &mut Schedule,
        doing: &str,
    ) -> Result<(), Ended> {
        if let Some(i) = cache {
            self.caches[i].last_error = Some(err.message().to_owned());
        }
        if let Some(outcome) = err.outcome() {
            if let Some(i) = cache {
                self.caches[i].state = CacheState::of(outcome);
            }
            return Err((outcome, format!("{subject}: {}", err.message())));
        }
        tracing::warn!("{subject}: {}; retrying", err.message());
        let retry_after = match err {
            FetchError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        };
        let message = format!(
            "{subject}: timed out while {doing}; last error: {}",
            err.message()
        );
        self.pause_or_timeout(schedule, retry_after, |_| message)
            .await
    }

    /// Sleeps until the next attempt, or ends with a timeout (and the
    /// message `timeout_message` writes) if there is no time left.
    async fn pause_or_timeout(
        &mut self,
        schedule: &mut Schedule,
        retry_after: Option<Duration>,
        timeout_message: impl FnOnce(&Self) -> String,
    ) -> Result<(), Ended> {
        let now = Instant::now();
        if self.check_once() || now >= self.deadline {
            return Err((Outcome::Timeout, timeout_message(self)));
        }
        let sleep = pause(schedule.next_delay(), retry_after, self.deadline - now);
        tracing::debug!(
            next_poll_ms = millis(sleep),
            "next attempt in {}",
            format_duration(sleep)
        );
        tokio::time::sleep(sleep).await;
        Ok(())
    }

    async fn poll_until_decided(&mut self, schedule: &mut Schedule) -> Ended {
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
                    "still waiting: {}",
                    self.waiting_on()
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
    fn list_mode(&self) -> bool {
        self.plan.caches == Caches::All || self.caches.len() > 1
    }

    /// Polls every cache not yet ready: one project-level request when
    /// several caches are awaited, else one request for the cache. Returns
    /// the longest `Retry-After` asked for, or the end of the gate.
    async fn poll_round(&mut self) -> Result<Option<Duration>, Ended> {
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
    async fn observe(&mut self, i: usize, reply: Reply<CacheStatus>) -> Option<Ended> {
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
        ending
    }

    /// Measures the server's clock against ours from the first `Date`.
    fn measure_skew<T>(&mut self, reply: &Reply<T>) {
        if self.skew.is_some() {
            return;
        }
        let Some(server) = reply.server_date else {
            return;
        };
        // `Date` is truncated to the second: on average half a second early.
        let skew = server.duration_since(reply.received_at) + SignedDuration::from_millis(500);
        if skew.abs() > SKEW_TOLERANCE {
            let direction = if skew.is_negative() {
                "behind"
            } else {
                "ahead of"
            };
            tracing::warn!(
                skew_ms = skew.as_millis() as i64,
                "the server's clock is {} {direction} this machine's; reading --since / --started-after given as `now` or a duration on the server's clock",
                format_duration(Duration::from_secs(
                    skew.abs()
                        .round(jiff::Unit::Second)
                        .map_or(0, |d| d.as_secs().unsigned_abs())
                ))
            );
            self.skew = Some(skew);
        } else {
            self.skew = Some(SignedDuration::ZERO);
        }
    }

    /// Records each slot's record (before a trigger, no history is needed).
    fn remember_slots(&mut self, i: usize, status: &CacheStatus) {
        for &kind in ExecutionFilter::Both.slots() {
            if let Some(execution) = status.execution(kind) {
                self.watches[i].seen.insert(kind, Seen::of(execution));
            }
        }
    }

    /// When a slot shows a new execution while the one seen there before
    /// was not seen ending, reads the execution history for what ended in
    /// between, so that no completion is missed and no failure hidden.
    async fn read_missed(&mut self, i: usize, status: &CacheStatus) {
        let cache_id = self.caches[i].cache_id.clone();
        for &kind in self.execution().slots() {
            let current = status.execution(kind).map(Seen::of);
            let previous = self.watches[i].seen.get(&kind).cloned();
            let moved_on = match (&previous, &current) {
                (Some(prev), Some(now)) => !prev.terminal && prev.id.is_some() && prev.id != now.id,
                _ => false,
            };
            if let (true, Some(prev)) = (moved_on, previous) {
                self.polls += 1;
                match self
                    .client
                    .execution_history(
                        &self.plan.project_id,
                        &cache_id,
                        HISTORY_LIMIT,
                        self.budget(),
                    )
                    .await
                {
                    Ok(reply) => {
                        let current_id = current.as_ref().and_then(|c| c.id.clone());
                        let found: Vec<Execution> = reply
                            .value
                            .into_iter()
                            .filter(|e| e.id.is_some() && e.id != current_id)
                            .filter(|e| match e.execution_mode.as_deref().and_then(ExecutionKind::from_mode) {
                                Some(mode) => mode == kind,
                                // Without a mode, only the record we watched is surely of this slot.
                                None => e.id == prev.id,
                            })
                            .filter(|e| e.id == prev.id || matches!((e.created_at, prev.created_at), (Some(c), Some(p)) if c > p))
                            .collect();
                        if found.is_empty() {
                            tracing::warn!(cache_id = %cache_id, "cache {cache_id}: {} {} was replaced between polls and is not in the last {HISTORY_LIMIT} executions of the history", kind.label(), prev.id.as_deref().unwrap_or(""));
                        }
                        for execution in found {
                            tracing::info!(cache_id = %cache_id, kind = kind.as_str(), execution_id = execution.id.as_deref(), execution_status = execution.status.as_ref().map(|s| s.as_str()), "cache {cache_id}: {} {} ended between polls ({}), read from the execution history", kind.label(), execution.id.as_deref().unwrap_or(""), execution.status.as_ref().map_or("no status", |s| s.as_str()));
                            let watch = &mut self.watches[i];
                            watch.missed.retain(|(_, e)| e.id != execution.id);
                            watch.missed.push((kind, execution));
                        }
                    }
                    Err(err) if err.outcome().is_none() => {
                        // Keep the old record as seen, so the next poll tries again.
                        tracing::warn!(cache_id = %cache_id, "cache {cache_id}: cannot read the execution history ({}); trying again at the next poll", err.message());
                        continue;
                    }
                    Err(err) => {
                        tracing::warn!(cache_id = %cache_id, "cache {cache_id}: cannot read the execution history ({}); {} that ended between polls may be missed", err.message(), kind.a_label());
                    }
                }
            }
            if let Some(current) = current {
                self.watches[i].seen.insert(kind, current);
            }
        }
    }

    /// `--stall-timeout`: ends the gate when the awaited running execution
    /// has not moved for that long.
    fn check_stall(
        &mut self,
        i: usize,
        status: &CacheStatus,
        decision: &Decision,
        server_now: Timestamp,
    ) -> Option<Ended> {
        let limit = self.plan.stall_timeout?;
        let running = match (decision.verdict, decision.focus) {
            (Verdict::Waiting, Some(kind)) => status
                .execution(kind)
                .filter(|e| !e.is_terminal())
                .map(|e| (kind, e)),
            _ => None,
        };
        let Some((kind, execution)) = running else {
            self.watches[i].motion = None;
            return None;
        };
        let now = Instant::now();
        let motion = Motion::of(execution);
        let unchanged_since = match &self.watches[i].motion {
            Some((seen, since)) if *seen == motion => *since,
            _ => {
                self.watches[i].motion = Some((motion, now));
                now
            }
        };
        let still = still_for(
            now - unchanged_since,
            execution.updated_at.or(execution.created_at),
            server_now,
        );
        if still < limit {
            return None;
        }
        let records = execution
            .records()
            .map_or("no progress reported".to_owned(), |n| {
                format!("{n} records")
            });
        Some((
            Outcome::Stalled,
            format!(
                "cache {}: {} {} has not moved for {} (status {}, last update {}, {records}); --stall-timeout is {}",
                self.caches[i].cache_id,
                kind.label(),
                execution.id.as_deref().unwrap_or("(no id)"),
                format_duration(still),
                execution.status.as_ref().map_or("(none)", |s| s.as_str()),
                execution
                    .updated_at
                    .map_or("never".to_owned(), |t| t.to_string()),
                format_duration(limit)
            ),
        ))
    }

    /// Logs the cache's state at `info` when it differs from the last one logged.
    fn log_change(&mut self, i: usize, status: &CacheStatus, decision: &Decision) {
        let execution = decision
            .focus
            .and_then(|kind| status.execution(kind).map(|e| (kind, e)));
        let seen = format!(
            "{}|{:?}|{:?}|{:?}|{}",
            status.status.as_str(),
            decision.verdict,
            execution.map(|(_, e)| &e.id),
            execution.map(|(_, e)| &e.status),
            decision.detail,
        );
        if self.watches[i].last_logged.as_deref() == Some(seen.as_str()) {
            return;
        }
        self.watches[i].last_logged = Some(seen);
        self.last_change = Instant::now();
        let cache_id = &self.caches[i].cache_id;
        tracing::info!(
            cache_id = %cache_id,
            status = status.status.as_str(),
            kind = execution.map(|(kind, _)| kind.as_str()),
            execution_id = execution.and_then(|(_, e)| e.id.as_deref()),
            execution_status = execution.and_then(|(_, e)| e.status.as_ref()).map(|s| s.as_str()),
            records = execution.and_then(|(_, e)| e.records()),
            "cache {cache_id}: {}{}",
            decision.detail,
            execution.and_then(|(_, e)| e.records()).map(|n| format!(" ({n} records)")).unwrap_or_default()
        );
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

    fn timeout_message(&self) -> String {
        let when = if self.check_once() {
            "not ready at the single check (--timeout 0)".to_owned()
        } else {
            format!("timed out after {}", format_duration(self.plan.timeout))
        };
        format!("{when}; {}", self.waiting_on())
    }

    fn report(self, outcome: Outcome, message: String) -> Report {
        Report {
            outcome,
            message,
            elapsed: self.started.elapsed(),
            polls: self.polls,
            project_id: self.plan.project_id.clone(),
            caches: self.caches,
        }
    }
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
