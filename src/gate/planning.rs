//! The forecast in the loop (`--schedule adaptive`): reads each awaited
//! cache's execution history once, when its first poll shows that the wait
//! is not over, and its settings only when the forecast needs them (a run
//! that has not started: its schedule says when it will); keeps its
//! forecast up to date from every
//! poll; hands the planner the window of the caches still awaited, and
//! whether the last replies show a refresh under way; and says what is
//! expected (the start line, the heartbeat, the deadline warning, the
//! summary's fields).
//!
//! The reads cost at most one request per status request sent: one read
//! in a pause, the caches still running first, the youngest run (the one
//! likely to end last) first, so that a gate over 20 caches does not
//! burst 40 reads at its start. The first pause, when a read is due in
//! it, carries the start jitter that spreads a fleet of gates, and is
//! stretched to the planned pause when the history comes back in it.
//!
//! The reads run beside the polls, in a task of their own: they start in a
//! pause and are taken in whenever they are back, so a slow history or
//! settings reply never holds a status poll (each is bounded by
//! `--request-timeout`, and ends with the gate). A failed read is a
//! warning: that cache then has no forecast, and the gate polls on the
//! exponential schedule, exactly as without `adaptive`.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::inflight::{Inflight, wait_back};
use super::{CacheState, Gate};
use crate::api::{CacheStatus, Execution, ExecutionKind};
use crate::client::{FetchError, Reply};
use crate::forecast::{self, Basis, Current, Sample, Usual};
use crate::planned::{Phase, Window, shows_a_live_refresh};
use crate::retry::FINAL_REQUEST_BUDGET;
use crate::schedule::Schedule;
use crate::settings::CacheSettings;
use crate::timespec::{format_duration, millis};

/// Executions read for the forecast: a dozen past runs of each slot fit.
pub const FORECAST_HISTORY: u32 = 50;

/// At most this many caches have their history and settings read for a
/// forecast. Past it the reads would be a burst of two requests per cache
/// (20,000 for `--all-caches` over 10,000), and every history is kept
/// until the end; such a gate polls on the exponential schedule until no
/// more than this many caches are still awaited, then reads theirs.
pub const MAX_FORECAST_CACHES: usize = 20;

/// What the gate expected of one cache's refresh, for the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheForecast {
    /// The slot forecast.
    pub kind: ExecutionKind,
    /// What its past runs say.
    pub usual: Usual,
    /// What the latest estimate rests on.
    pub basis: Basis,
    /// The expected end (the server's clock), when one was estimated.
    pub expected: Option<Timestamp>,
}

impl CacheForecast {
    /// The summary's `forecast` object.
    pub fn to_json(&self) -> Value {
        json!({
            "kind": self.kind.as_str(),
            "basis": self.basis.as_str(),
            "runs": self.usual.runs,
            "spread": (self.usual.spread * 100.0).round() / 100.0,
            "usualMs": millis(self.usual.median),
        })
    }

    /// "usually takes 4m10s (last 12 runs, ±18%)".
    pub fn usually(&self) -> String {
        format!(
            "usually takes {} (last {}, ±{:.0}%)",
            format_duration(round_s(self.usual.median)),
            crate::text::count(self.usual.runs, "run", "runs"),
            self.usual.spread * 100.0
        )
    }
}

/// The most characters of a cache id on the progress line.
const PROGRESS_ID_CHARS: usize = 32;

/// A duration to the whole second, for reading.
fn round_s(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs_f64().round() as u64)
}

/// A timestamp to the whole second, for reading.
fn at_s(t: Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap_or(t).to_string()
}

/// The loop's forecast memory of one cache.
#[derive(Debug, Default)]
pub(super) struct Planning {
    /// Whether the history was asked for.
    read: bool,
    /// Whether the settings were asked for.
    settings_read: bool,
    /// The slot forecast.
    kind: Option<ExecutionKind>,
    /// Its past runs, newest first, as read.
    history: Vec<Execution>,
    /// Its schedule period, from the settings.
    period: Option<Duration>,
    /// What the history says.
    usual: Option<Usual>,
    /// The running execution's id and what was seen of it.
    current: Option<(Option<String>, Current)>,
    /// The window on the gate's clock.
    window: Option<Window>,
    /// Whether the expectation was logged, and the deadline checked.
    announced: bool,
}

/// A cache's [`Planning`], allocated only once its history is read: a
/// gate over 10,000 caches must not pay for 10,000 of them
/// ([`MAX_FORECAST_CACHES`]).
#[derive(Debug, Default)]
pub(super) struct PlanningSlot {
    /// Whether the history is to be read.
    due: bool,
    /// Whether the settings are to be read (a run not yet started).
    settings_due: bool,
    /// Whether its last reply showed a refresh under way
    /// ([`shows_a_live_refresh`]).
    live: bool,
    planning: Option<Box<Planning>>,
}

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

/// The pacing of the forecast reads and of the first pause.
#[derive(Debug, Default)]
pub(super) struct Pacing {
    /// The forecast reads sent (each one request).
    reads: u64,
    /// The start jitter of `adaptive`, slept in the first pause instead of
    /// before the first poll (an already-ready cache is answered at once).
    pub(super) start_jitter: Duration,
    /// Whether the pause under way may be stretched to the planned one
    /// when the read in it comes back with the first forecast.
    stretch: bool,
}

/// The forecast reads in flight.
pub(super) type ForecastReads = Inflight<Vec<ReadBack>>;

/// What a slot that was never used reads as.
static UNUSED: Planning = Planning {
    read: false,
    settings_read: false,
    kind: None,
    history: Vec::new(),
    period: None,
    usual: None,
    current: None,
    window: None,
    announced: false,
};

impl std::ops::Deref for PlanningSlot {
    type Target = Planning;

    fn deref(&self) -> &Planning {
        self.planning.as_deref().unwrap_or(&UNUSED)
    }
}

impl std::ops::DerefMut for PlanningSlot {
    fn deref_mut(&mut self) -> &mut Planning {
        self.planning.get_or_insert_with(Box::default)
    }
}

impl Gate<'_> {
    /// After a poll that left cache `i` waiting: updates its forecast and
    /// re-plans the next pauses. Its history and settings are read once,
    /// during the pause that follows its first such poll
    /// ([`Gate::sleep_and_read`]).
    pub(super) async fn plan_ahead(&mut self, i: usize, server_now: Timestamp) {
        // Our clock read on the server's has millisecond resolution; the
        // `Date` header only whole seconds.
        let server_now = self.clock.on_server(Timestamp::now()).max(server_now);
        if self.caches[i].state == CacheState::Waiting {
            crate::progress::show(self.progress_line(i, server_now));
        }
        if self.planner.is_none()
            || self.check_once()
            || self.caches[i].state != CacheState::Waiting
        {
            return;
        }
        self.planned_round = true;
        if !self.watches[i].planning.read {
            self.watches[i].planning.due = true;
            return;
        }
        self.update_forecast(i, server_now);
        self.replan();
    }

    fn replan(&mut self) {
        let window = self.window_of_pending();
        if let Some(planner) = self.planner.as_mut() {
            planner.set_window(window);
        }
    }

    /// Notes whether the reply `status` of cache `i` shows a refresh that
    /// may be the awaited one running or starting; before the reply
    /// updates what was seen of its slots.
    pub(super) fn note_evidence(&mut self, i: usize, status: &CacheStatus) {
        let slots = self.execution().slots();
        let watch = &self.watches[i];
        let before: Option<Vec<(ExecutionKind, Option<&str>)>> =
            watch.first_sight.is_some().then(|| {
                (slots.iter())
                    .filter_map(|&kind| Some((kind, watch.seen.get(kind)?.id.as_deref())))
                    .collect()
            });
        let live = shows_a_live_refresh(status, slots, before.as_deref());
        self.watches[i].planning.live = live;
    }

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
    pub(super) async fn sleep_and_read(
        &mut self,
        pause: Duration,
        may_cut: bool,
        schedule: &mut Schedule,
    ) {
        let start = Instant::now();
        let mut until = start + pause;
        self.send_due_reads(pause);
        self.send_missed_reads();
        while self.reads.is_some() || self.missed_reads.is_some() {
            tokio::select! {
                read = wait_back(self.reads.as_mut()) => {
                    self.reads = None;
                    self.take_in(read.unwrap_or_default());
                    if let Some(planned) = self.stretched(schedule) {
                        until = until.max((start + planned).min(self.retry.deadline()));
                        let left = until.saturating_duration_since(Instant::now());
                        tracing::debug!(next_poll_ms = millis(left), "the forecast is in: the pause lasts {} more, as planned from it", format_duration(left));
                    }
                }
                read = wait_back(self.missed_reads.as_mut()) => {
                    self.missed_reads = None;
                    if self.take_in_missed(read.unwrap_or_default()) && may_cut {
                        return;
                    }
                }
                () = tokio::time::sleep_until(until) => return,
            }
        }
        tokio::time::sleep_until(until).await;
    }

    /// When a read brought the first window in the pause under way: the
    /// planned pause, counted from the poll before (so no pause is longer
    /// than the planner allows).
    fn stretched(&mut self, schedule: &mut Schedule) -> Option<Duration> {
        if !std::mem::take(&mut self.pacing.stretch) {
            return None;
        }
        let elapsed = self.started.elapsed();
        let planner = self.planner.as_mut()?;
        if planner.phase(elapsed) == Phase::Blind {
            return None;
        }
        Some(planner.next_delay(elapsed, schedule))
    }

    /// Sends one forecast read, the first due in [`Gate::read_order`]
    /// (unless a read is in flight, the reads have caught up with the
    /// status requests, or too many caches are awaited).
    fn send_due_reads(&mut self, pause: Duration) {
        if self.reads.is_some() {
            return;
        }
        let due: Vec<usize> = (0..self.caches.len())
            .filter(|&i| self.caches[i].state == CacheState::Waiting)
            .filter(|&i| {
                let planning = &self.watches[i].planning;
                (planning.due && !planning.read)
                    || (planning.settings_due && !planning.settings_read)
            })
            .collect();
        if due.len() > MAX_FORECAST_CACHES && !self.forecast_deferred {
            self.forecast_deferred = true;
            tracing::info!(
                awaited = due.len(),
                "{} caches are awaited; a forecast reads the history of at most {MAX_FORECAST_CACHES}, so it waits until no more are left; polling on the exponential schedule",
                due.len()
            );
        }
        // No more reads than status requests: a round is one request
        // whatever the number of caches, so the reads are one per round.
        let status_requests = self.polls.saturating_sub(self.pacing.reads);
        if due.is_empty() || due.len() > MAX_FORECAST_CACHES || self.pacing.reads >= status_requests
        {
            return;
        }
        let Some(&i) = self.read_order(due).first() else {
            return;
        };
        let spread = self
            .planner
            .as_mut()
            .map_or(Duration::ZERO, |p| p.read_jitter(pause.saturating_mul(5)));
        // Nothing runs past the deadline and the final poll's budget.
        let hard_left = (self.retry.deadline() + FINAL_REQUEST_BUDGET)
            .saturating_duration_since(Instant::now())
            .saturating_sub(spread);
        let budget = self.budget().min(hard_left);
        let kind = self.watches[i]
            .planning
            .kind
            .unwrap_or_else(|| self.forecast_kind(i));
        let planning = &mut self.watches[i].planning;
        planning.kind = Some(kind);
        let history = planning.due && !planning.read;
        if history {
            planning.due = false;
            planning.read = true;
        } else {
            planning.settings_due = false;
            planning.settings_read = true;
        }
        self.polls += 1;
        self.pacing.reads += 1;
        let client = self.client.clone();
        let project = self.plan.project_id.clone();
        let cache_id = self.caches[i].cache_id.clone();
        self.reads = Some(Inflight::spawn(async move {
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
        }));
    }

    /// The caches `due` a read, in the order they are read: the ones whose
    /// last reply shows a refresh under way first (they decide the wait),
    /// the youngest run first (of runs alike it ends last), then the rest
    /// in the order given.
    fn read_order(&self, mut due: Vec<usize>) -> Vec<usize> {
        let started = |i: usize| {
            let kind = self.watches[i]
                .planning
                .kind
                .unwrap_or_else(|| self.forecast_kind(i));
            self.caches[i]
                .status
                .as_ref()
                .and_then(|s| s.execution(kind))
                .filter(|e| !e.is_terminal())
                .and_then(|e| e.created_at)
        };
        due.sort_by_key(|&i| {
            (
                !self.watches[i].planning.live,
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

    /// The pause before the next round: the planned one after a round
    /// that brought the status of an awaited cache, the exponential one
    /// after a round of errors (and before the first poll, around the
    /// trigger). A `Retry-After` stretches either ([`crate::schedule::pause`]).
    pub(super) fn next_delay(&mut self, schedule: &mut Schedule) -> Duration {
        let planned = std::mem::take(&mut self.planned_round);
        let elapsed = self.started.elapsed();
        let live = (self.caches.iter().zip(&self.watches))
            .any(|(c, w)| c.state == CacheState::Waiting && w.planning.live);
        // Before any forecast, the pause may be stretched when the read in
        // it brings one.
        self.pacing.stretch = planned
            && self
                .planner
                .as_ref()
                .is_some_and(|p| p.phase(elapsed) == Phase::Blind)
            && (self.watches.iter()).any(|w| {
                let p = &w.planning;
                (p.due && !p.read) || (p.settings_due && !p.settings_read)
            });
        let delay = match self.planner.as_mut() {
            Some(planner) if planned => {
                planner.set_live(live);
                planner.next_delay(elapsed, schedule)
            }
            _ => schedule.next_delay(),
        };
        delay + std::mem::take(&mut self.pacing.start_jitter)
    }

    /// The slot awaited in cache `i`: the decision's focus, else the first
    /// slot of the filter.
    fn forecast_kind(&self, i: usize) -> ExecutionKind {
        self.caches[i]
            .decision
            .as_ref()
            .and_then(|d| d.focus)
            .or_else(|| self.execution().slots().first().copied())
            .unwrap_or(ExecutionKind::Incremental)
    }

    /// Takes in the history or the settings of one cache.
    fn take_in_one(&mut self, back: ReadBack) {
        let ReadBack { i, kind, read } = back;
        let cache_id = self.caches[i].cache_id.clone();
        let planning = &mut *self.watches[i].planning;
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

    /// Recomputes cache `i`'s forecast from its latest status.
    fn update_forecast(&mut self, i: usize, server_now: Timestamp) {
        let elapsed = self.started.elapsed();
        let trigger = self.plan.trigger.is_some();
        let Some(kind) = self.watches[i].planning.kind else {
            return;
        };
        let execution = self.caches[i]
            .status
            .as_ref()
            .and_then(|s| s.execution(kind))
            .cloned();
        let planning = &mut *self.watches[i].planning;
        let Some(usual) = planning.usual else {
            planning.window = None;
            return;
        };
        let running = execution.as_ref().filter(|e| !e.is_terminal());
        // A run not yet started starts on the cache's schedule: its
        // settings are read (once, in a later pause) only then.
        let wants_settings = running.is_none() && !trigger && !planning.settings_read;
        let (window, expected, basis) = match running
            .map(|e| (e.id.clone(), e.created_at, e.records()))
        {
            // Running, but without a start: nothing to measure from.
            Some((_, None, _)) => (None, None, Basis::History),
            Some((id, Some(started), records)) => {
                let sample = records.map(|records| Sample {
                    at: server_now,
                    records,
                });
                let current = match planning.current.take() {
                    Some((seen, mut current)) if seen == id => {
                        current.first = current.first.or(sample);
                        current.last = sample.or(current.last);
                        current
                    }
                    _ => Current {
                        started,
                        first: sample,
                        last: sample,
                    },
                };
                planning.current = Some((id, current));
                let f = forecast::forecast(&usual, &current, server_now);
                (
                    Some(Window::of(&f, server_now, elapsed)),
                    Some(f.expected),
                    f.basis,
                )
            }
            // Waiting for a run that has not started: on a schedule, it
            // starts one period after the last one (a triggered run starts
            // at once, not on the schedule).
            None if !trigger => {
                match forecast::next_start(&planning.history, kind, planning.period, server_now) {
                    Some(start) => (
                        Some(Window::scheduled(start, &usual, server_now, elapsed)),
                        start
                            .checked_add(SignedDuration::try_from(usual.median).unwrap_or_default())
                            .ok(),
                        Basis::History,
                    ),
                    None => (None, None, Basis::History),
                }
            }
            None => (None, None, Basis::History),
        };
        planning.window = window;
        if wants_settings {
            self.watches[i].planning.settings_due = true;
        }
        self.caches[i].forecast = Some(Box::new(CacheForecast {
            kind,
            usual,
            basis,
            expected,
        }));
        if !self.watches[i].planning.announced && expected.is_some() {
            self.watches[i].planning.announced = true;
            self.announce(i, server_now);
        }
    }

    /// The start line of the forecast, and the warning when the deadline
    /// falls before the expected end.
    fn announce(&self, i: usize, server_now: Timestamp) {
        let cache = &self.caches[i];
        let Some(f) = &cache.forecast else {
            return;
        };
        let Some(expected) = f.expected else {
            return;
        };
        let cache_id = &cache.cache_id;
        let starts = self.watches[i]
            .planning
            .window
            .and_then(|w| w.starts)
            .map(|s| s.saturating_sub(self.started.elapsed()))
            .filter(|wait| *wait >= Duration::from_secs(1))
            .map(|wait| {
                format!(
                    "the next scheduled one starts in about {}; ",
                    format_duration(round_s(wait))
                )
            })
            .unwrap_or_default();
        tracing::info!(
            cache_id = %cache_id,
            kind = f.kind.as_str(),
            expected_finish_at = %at_s(expected),
            usual_ms = millis(f.usual.median),
            runs = f.usual.runs,
            basis = f.basis.as_str(),
            "cache {cache_id}: its {} {}; {starts}expected at {}",
            f.kind.label(),
            f.usually(),
            at_s(expected)
        );
        let left = self
            .retry
            .deadline()
            .saturating_duration_since(Instant::now());
        let deadline = server_now
            .checked_add(SignedDuration::try_from(left).unwrap_or_default())
            .unwrap_or(server_now);
        if expected > deadline {
            tracing::warn!(
                cache_id = %cache_id,
                expected_finish_at = %at_s(expected),
                "cache {cache_id}: this {} usually needs {}; --timeout {} will likely expire (expected at {}, {} after the deadline)",
                f.kind.label(),
                format_duration(round_s(f.usual.median)),
                format_duration(self.plan.timeout),
                at_s(expected),
                format_duration(round_s(
                    expected.duration_since(deadline).unsigned_abs()
                ))
            );
        }
    }

    /// The window covering every cache still awaited: none unless each has
    /// one (one cache polled blind keeps the exponential schedule).
    fn window_of_pending(&self) -> Option<Window> {
        let mut merged: Option<Window> = None;
        for (cache, watch) in self.caches.iter().zip(&self.watches) {
            if cache.state != CacheState::Waiting {
                continue;
            }
            let w = watch.planning.window?;
            merged = Some(match merged {
                None => w,
                Some(m) => Window {
                    starts: m.starts.zip(w.starts).map(|(a, b)| a.min(b)),
                    early: m.early.min(w.early),
                    expected: m.expected.max(w.expected),
                    late: m.late.max(w.late),
                    usual: m.usual.min(w.usual),
                    // The youngest run is watched most closely.
                    begun: m.begun.max(w.begun),
                    dense_from: m.dense_from.min(w.dense_from),
                },
            });
        }
        merged
    }

    /// The live progress line of cache `i`: records (and the share of the
    /// last run's count), elapsed, and the expected end.
    fn progress_line(&self, i: usize, server_now: Timestamp) -> crate::progress::Line {
        let cache = &self.caches[i];
        let planning = &self.watches[i].planning;
        let kind = planning.kind.unwrap_or_else(|| self.forecast_kind(i));
        let execution = cache.status.as_ref().and_then(|s| s.execution(kind));
        // A long id is cut so that the time elapsed and the countdown
        // still fit on the line (the start line names the id in full).
        let mut text = kind.label().to_owned();
        if let Some(records) = execution.and_then(Execution::records) {
            text.push_str(&format!(", {records} records"));
            let last = planning
                .history
                .iter()
                .filter(|e| {
                    e.kind() == Some(kind)
                        && e.status == Some(crate::api::Status::Completed)
                        && e.id != execution.and_then(|x| x.id.clone())
                })
                .find_map(Execution::records)
                .filter(|n| *n > 0);
            if let Some(last) = last {
                text.push_str(&format!(
                    " ({:.0}% of the last run's)",
                    records as f64 * 100.0 / last as f64
                ));
            }
        }
        let expected = cache
            .forecast
            .as_ref()
            .and_then(|f| f.expected)
            .map(|expected| {
                let left = expected.duration_since(server_now);
                crate::progress::Expected {
                    at: at_s(expected),
                    when: Duration::try_from(left)
                        .ok()
                        .and_then(|left| std::time::Instant::now().checked_add(left)),
                }
            });
        crate::progress::Line {
            cache: format!(
                "cache {}",
                crate::text::printable(&cache.cache_id, PROGRESS_ID_CHARS)
            ),
            run: text,
            started: self.started.into_std(),
            expected,
        }
    }

    /// For the heartbeat (which already says the time elapsed and left),
    /// beside a waiting cache's state: its records so far and its expected
    /// end, when it has a forecast.
    pub(super) fn eta_note(cache: &super::CacheReport) -> Option<String> {
        let f = cache.forecast.as_ref()?;
        let records = cache
            .status
            .as_ref()
            .and_then(|s| s.execution(f.kind))
            .and_then(Execution::records)
            .map(|n| format!("{n} records, "))
            .unwrap_or_default();
        let expected = f.expected.map_or("no expected end".to_owned(), |t| {
            format!("expected at {}", at_s(t))
        });
        Some(format!("{records}{expected}"))
    }
}
