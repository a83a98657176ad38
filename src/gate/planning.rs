//! The forecast in the loop (`--schedule adaptive`): reads each awaited
//! cache's execution history once, when its first poll shows that the wait
//! is not over, and its settings only when the forecast needs them (a run
//! that has not started: its schedule says when it will); keeps its
//! forecast up to date from every poll; hands the planner the window of
//! the caches still awaited, and whether the last replies show a refresh
//! under way; and says what is expected (the start line, the heartbeat,
//! the deadline warning, the summary's fields).
//!
//! This file owns each cache's forecast memory and the pause before the
//! next round (planned, stretched, or exponential); the forecast reads
//! beside the polls are in [`reads`], what is expected of each cache (its
//! forecast, the start line, the progress line) in [`expected`].

mod expected;
mod reads;

pub use expected::CacheForecast;
pub(super) use reads::ForecastReads;

use std::time::Duration;

use jiff::Timestamp;

use super::{CacheState, Gate};
use crate::api::{CacheStatus, Execution, ExecutionKind};
use crate::forecast::{Current, Usual};
use crate::planned::{Phase, Window, shows_a_live_refresh};
use crate::schedule::Schedule;

/// Executions read for the forecast: a dozen past runs of each slot fit.
pub const FORECAST_HISTORY: u32 = 50;

/// At most this many caches have their history and settings read for a
/// forecast. Past it the reads would be a burst of two requests per cache
/// (20,000 for `--all-caches` over 10,000), and every history is kept
/// until the end; such a gate polls on the exponential schedule until no
/// more than this many caches are still awaited, then reads theirs.
pub const MAX_FORECAST_CACHES: usize = 20;

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
}
