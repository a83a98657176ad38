//! The poll loop: optionally triggers a refresh, then polls every awaited
//! cache on the schedule until each is decided or the deadline passes, and
//! returns a [`Report`] of how it ended.
//!
//! It owns time (the deadline, the pauses, the per-request budgets, the
//! server's clock offset) and the memory of what was seen (each slot's last
//! execution, executions missed between polls, how long one has been
//! still). What a status *means* is asked of [`crate::decision`], and how to
//! reach the API of [`crate::client`].

mod messages;
mod missed;
mod planning;
mod round;
mod setup;
mod signal;
mod skew;
mod stall;
mod trigger;

pub use planning::{CacheForecast, FORECAST_HISTORY};
pub use signal::shutdown_signal;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

use crate::api::{CacheStatus, Execution, ExecutionKind};
use crate::client::Client;
use crate::decision::{Baseline, Criteria, Decision, ExecutionFilter, Motion};
use crate::exit_codes::Outcome;
use crate::planned::{Knobs, Planner, ScheduleMode};
use crate::schedule::Schedule;
use crate::timespec::{TimeSpec, millis};

use missed::Seen;

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
    /// `--schedule`: plan the polls from a forecast, or poll exponentially.
    pub schedule: ScheduleMode,
    /// `--detection-delay`: the lag aimed at around the expected end.
    pub detection_delay: Duration,
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
            // The library's default is the plain schedule, which sends no
            // extra requests; the command line's default is adaptive.
            schedule: ScheduleMode::Exponential,
            detection_delay: Duration::from_secs(2),
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
    /// What was expected of its refresh (`--schedule adaptive`), if anything.
    pub forecast: Option<CacheForecast>,
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
    if plan.schedule == ScheduleMode::Adaptive {
        gate.planner = Some(Planner::new(
            Knobs {
                max_interval: schedule.max_interval(),
                detection_delay: plan.detection_delay,
                stall_timeout: plan.stall_timeout,
            },
            schedule.is_jittered().then(fastrand::Rng::new),
        ));
    }
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
    /// Its forecast (`--schedule adaptive`).
    planning: planning::Planning,
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
    /// `--schedule adaptive`: the planned schedule; `None` for exponential.
    planner: Option<Planner>,
    /// Whether the last round's replies all arrived, so that the planned
    /// pause applies (after an error, the exponential one does).
    planned_round: bool,
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
            planner: None,
            planned_round: false,
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
                forecast: None,
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
