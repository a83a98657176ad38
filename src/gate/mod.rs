//! The poll loop: optionally triggers a refresh, then polls every awaited
//! cache on the schedule until each is decided or the deadline passes, and
//! returns a [`Report`] of how it ended.
//!
//! The `Gate` composes the parts, each a type that owns its fields: the
//! awaited caches and the memory of each (`awaited.rs`), the requests sent
//! and the heartbeat (`tally.rs`), the server's clock (`skew.rs`), the retry
//! policy and the deadline ([`crate::retry`]), the planning of the pauses
//! and the forecast reads (`planning.rs`), the reads of missed executions
//! (`missed.rs`), the materialized queries (`queries.rs`) and the `--no-wait`
//! token (`resumed.rs`); this file holds the loop's entry, the criteria and
//! the report. What a status *means* is asked of [`crate::decision`], and
//! how to reach the API of [`crate::client`].

mod awaited;
mod cancel;
mod inflight;
mod messages;
mod missed;
mod pickup;
mod planning;
mod queries;
mod resumed;
mod round;
mod setup;
mod signal;
mod skew;
mod stall;
mod tables;
mod tally;
mod trigger;

pub use cancel::CANCEL_BUDGET;
pub use pickup::NOT_PICKED_UP_AFTER;
pub use planning::{CacheForecast, FORECAST_HISTORY};
pub use queries::QueryReport;
pub use signal::shutdown_signal;

use std::future::Future;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

use crate::api::{CacheStatus, ExecutionKind};
use crate::client::{Client, Reply};
use crate::decision::{Criteria, Decision, ExecutionFilter, STARTING_GRACE};
use crate::exit_codes::Outcome;
use crate::planned::ScheduleMode;
use crate::retry::RetryPolicy;
use crate::schedule::Schedule;
use crate::timespec::{TimeSpec, millis};

use skew::Clock;

/// How often "still waiting" is logged while nothing changes.
pub const HEARTBEAT: Duration = Duration::from_secs(60);

/// A clock difference up to this is noise (the `Date` header has 1 s
/// resolution, plus the network); beyond it the gate warns and corrects.
pub const SKEW_TOLERANCE: SignedDuration = SignedDuration::from_secs(5);

/// The largest clock difference the gate corrects for. A `Date` further
/// off is not a clock that drifted but a broken or lying header.
pub const MAX_SKEW: SignedDuration = SignedDuration::from_secs(3600);

/// How far past the server's "now" a reported time may lie before it is
/// taken for garbage (a `finishedAt` in the year 9999).
pub const FUTURE_TOLERANCE: SignedDuration = SignedDuration::from_secs(60);

/// The whole run ends this long after its deadline at the latest, even if
/// something below the loop misbehaved: a safety net under the budgets.
pub const HARD_STOP_AFTER_DEADLINE: Duration = Duration::from_millis(950);

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
    /// `--table`: more caches, found by table name at the start.
    pub tables: Vec<crate::tables::TableRef>,
    /// `--catalog-id` / `--schema`: every cache of that catalog or schema.
    pub catalog: Option<crate::tables::CatalogScope>,
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
    /// `--cancel-on-exit`: cancel the triggered refreshes when the gate
    /// ends before them.
    pub cancel_on_exit: bool,
    /// The overall deadline; zero means check once.
    pub timeout: Duration,
    /// The limit on one request.
    pub request_timeout: Duration,
    /// `--schedule`: plan the polls from a forecast, or poll exponentially.
    pub schedule: ScheduleMode,
    /// `--detection-delay`: the lag aimed at around the expected end.
    pub detection_delay: Duration,
    /// `--max-interval`, which the planned schedule also heeds.
    pub max_interval: Duration,
    /// Whether the planned pauses are jittered (always, but in benchmarks).
    pub jitter: bool,
    /// `--no-wait`: trigger, then end with a resume token.
    pub no_wait: bool,
    /// `--resume TOKEN`: wait for (or cancel) the runs it names, sending
    /// no trigger.
    pub resume: Option<crate::resume::Token>,
    /// `--cancel`: cancel the token's runs instead of waiting for them.
    pub cancel: bool,
    /// `--materialized-query`: materialized queries to wait for (after the
    /// caches, if any).
    pub materialized_queries: Vec<String>,
    /// `--refresh-query`: materialized queries to refresh once every cache
    /// is ready, then wait for.
    pub refresh_queries: Vec<String>,
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
            tables: Vec::new(),
            catalog: None,
            execution,
            since: None,
            started_after: None,
            started_at: Timestamp::now(),
            trigger: None,
            stall_timeout: None,
            cancel_on_exit: false,
            timeout,
            request_timeout: Duration::from_secs(10),
            // The library's default is the plain schedule, which sends no
            // extra requests; the command line's default is adaptive.
            schedule: ScheduleMode::Exponential,
            detection_delay: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
            jitter: true,
            no_wait: false,
            resume: None,
            cancel: false,
            materialized_queries: Vec::new(),
            refresh_queries: Vec::new(),
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
    pub forecast: Option<Box<CacheForecast>>,
    /// `--cancel-on-exit`: what became of the cancel (`accepted`,
    /// `refused: …`, `failed: …`, `not sent: …`); `None` when none was due.
    pub cancel: Option<String>,
    /// While the awaited execution runs: when it last moved, by the
    /// server's word (its `updatedAt`, else its `createdAt`).
    pub last_moved_at: Option<Timestamp>,
    /// What the gate warned of once (an execution never picked up), for
    /// the summary's warning annotation.
    pub warning: Option<String>,
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
    /// The cache that decided the outcome (the one that failed, the last
    /// to become ready, the first still waiting at the timeout), if any.
    pub decided_by: Option<usize>,
    /// Which slots were looked at.
    pub execution: ExecutionFilter,
    /// `--no-wait`: the token a `--resume` waits for the triggered runs with.
    pub resume: Option<String>,
    /// The `--since` bound used, on the server's clock, if one was given.
    pub since: Option<Timestamp>,
    /// The `--started-after` bound used, likewise.
    pub started_after: Option<Timestamp>,
    /// Every materialized query, awaited ones first, then refreshed ones.
    pub queries: Vec<QueryReport>,
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
        cache_ids = %gate.awaited.caches().iter().map(|c| c.cache_id.as_str()).collect::<Vec<_>>().join(","),
        execution = gate.execution().as_str(),
        trigger = plan.trigger.map(ExecutionKind::as_str),
        timeout_ms = millis(plan.timeout),
        "{}",
        gate.awaited()
    );
    let hard_stop = gate.retry.deadline() + HARD_STOP_AFTER_DEADLINE;
    let ended = tokio::select! {
        ended = gate.drive_stages(&mut schedule) => Some(ended),
        () = tokio::time::sleep_until(hard_stop) => None,
        signal = stop => Some(signal::interrupted(signal)),
    };
    let (outcome, message) = ended.unwrap_or_else(|| {
        let message = if gate.queries.is_current() {
            gate.queries_timeout_message()
        } else {
            gate.timeout_message()
        };
        (Outcome::Timeout, message)
    });
    if outcome == Outcome::Ready {
        gate.warn_if_old();
    }
    let message = match gate.cancel_on_exit(outcome).await {
        Some(told) => format!("{message}; {told}"),
        None => message,
    };
    let message = match gate.cancel_queries(outcome).await {
        Some(told) => format!("{message}; {told}"),
        None => message,
    };
    gate.report(outcome, message)
}

struct Gate<'a> {
    plan: &'a Plan,
    client: &'a Client,
    /// The awaited caches and the loop's memory of each.
    awaited: awaited::Awaited,
    /// The requests sent, since when the gate runs, its last news.
    tally: tally::Tally,
    /// The server's clock against ours.
    clock: Clock,
    /// What is retried, for how long, and each request's budget.
    retry: RetryPolicy,
    /// The planning of the pauses (`--schedule adaptive`) and the
    /// forecast reads.
    forecasting: planning::Forecasting,
    /// `--no-wait`: the token, once every trigger was accepted.
    handoff: resumed::Handoff,
    /// The history reads of executions missed between polls.
    missed_reads: missed::MissedReads,
    /// The materialized queries, and the loop's memory of each.
    queries: queries::QueryStage,
}

impl<'a> Gate<'a> {
    fn new(plan: &'a Plan, client: &'a Client) -> Self {
        let started = Instant::now();
        let retry = RetryPolicy::new(started, plan.timeout, plan.request_timeout);
        let mut gate = Gate {
            plan,
            client,
            awaited: awaited::Awaited::default(),
            tally: tally::Tally::new(started),
            clock: Clock::default(),
            retry,
            forecasting: planning::Forecasting::new(plan),
            handoff: resumed::Handoff::default(),
            missed_reads: missed::MissedReads::default(),
            queries: queries::QueryStage::new(plan),
        };
        if let Caches::Listed(ids) = &plan.caches {
            gate.awaited.set(ids.clone());
        }
        if let Some(token) = &plan.resume {
            gate.resume_from(token);
        }
        gate
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
    ///
    /// A correction that moves a bound earlier (the server's clock is
    /// behind) never goes so far that an execution the gate found already
    /// finished (or started) at its first sight of the cache counts: those
    /// provably happened before the gate started.
    fn criteria(&self, cache: Option<usize>) -> Criteria {
        let local_start = self.plan.started_at;
        let server_start = self.clock.on_server(local_start);
        let first_sight = cache.and_then(|i| self.awaited.watches()[i].first_sight);
        let pin = |spec: Option<TimeSpec>, seen: Option<Timestamp>, step: SignedDuration| {
            let spec = spec?;
            let corrected = spec.resolve(server_start);
            let local = spec.resolve(local_start);
            Some(match seen {
                Some(seen) if corrected < local => {
                    corrected.max(local.min(seen.checked_add(step).unwrap_or(seen)))
                }
                _ => corrected,
            })
        };
        Criteria {
            execution: self.execution(),
            since: pin(
                self.plan.since,
                first_sight.and_then(|(ended, _)| ended),
                SignedDuration::ZERO,
            ),
            started_after: pin(
                self.plan.started_after,
                first_sight.and_then(|(_, started)| started),
                // createdAt >= bound: one nanosecond past the last start.
                SignedDuration::from_nanos(1),
            ),
            newer_than: cache.and_then(|i| self.awaited.watches()[i].baseline.as_deref().cloned()),
            starting_grace_over: cache
                .and_then(|i| self.awaited.watches()[i].starting_since)
                .is_some_and(|since| since.elapsed() >= STARTING_GRACE),
        }
    }

    /// Takes in the server's clock reading of one reply (see [`Clock`]).
    fn measure_skew<T>(&mut self, reply: &Reply<T>, latest_reported: Option<Timestamp>) {
        self.clock.measure(reply, latest_reported);
    }

    /// The server's clock now, for a reply received at `received_at`:
    /// our clock plus the accepted correction, never a raw `Date`.
    fn server_now(&self, received_at: Timestamp) -> Timestamp {
        self.clock.on_server(received_at)
    }

    fn report(self, outcome: Outcome, message: String) -> Report {
        let decided_by = self.awaited.decided_by(outcome);
        let bounds = self.criteria(None);
        Report {
            resume: self.handoff.token(),
            since: bounds.since,
            started_after: bounds.started_after,
            outcome,
            message,
            elapsed: self.tally.elapsed(),
            polls: self.tally.polls(),
            project_id: self.plan.project_id.clone(),
            execution: self.execution(),
            caches: self.awaited.into_caches(),
            queries: self.queries.into_reports(),
            decided_by,
        }
    }
}

/// The latest instant a status reports, to check the server's `Date`
/// against: a server whose "now" is before its own timestamps is wrong.
fn latest_time(status: &CacheStatus) -> Option<Timestamp> {
    ExecutionFilter::Both
        .slots()
        .iter()
        .filter_map(|&kind| status.execution(kind))
        .flat_map(|e| [e.created_at, e.updated_at, e.finished_at.at()])
        .flatten()
        .max()
}

#[cfg(test)]
mod tests;
