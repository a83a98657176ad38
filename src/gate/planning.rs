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
use reads::ForecastReads;

use std::time::Duration;

use jiff::Timestamp;

use super::{CacheState, Gate, Plan};
use crate::api::{CacheStatus, Execution, ExecutionKind};
use crate::forecast::{Current, Usual};
use crate::planned::{Knobs, Phase, Planner, ScheduleMode, Window, shows_a_live_refresh};
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
struct Pacing {
    /// The forecast reads sent (each one request).
    reads: u64,
    /// The start jitter of `adaptive`, slept in the first pause instead of
    /// before the first poll (an already-ready cache is answered at once).
    start_jitter: Duration,
    /// Whether the pause under way may be stretched to the planned one
    /// when the read in it comes back with the first forecast.
    stretch: bool,
}

/// The gate's planning of its pauses, changed only through its methods
/// (here and in [`reads`]): the planner (`--schedule adaptive`), whether
/// the last round brought an awaited cache's status, the forecast reads in
/// flight and their pacing.
#[derive(Debug)]
pub(super) struct Forecasting {
    /// The planned schedule; `None` for exponential.
    planner: Option<Planner>,
    /// Whether the last round brought the status of an awaited cache, so
    /// that the planned pause applies (after errors, the exponential one does).
    planned_round: bool,
    /// Whether the gate said that too many caches are awaited to read
    /// their histories ([`MAX_FORECAST_CACHES`]).
    deferred: bool,
    /// The forecast's history and settings reads, while in flight.
    reads: ForecastReads,
    /// How the forecast reads and the first pause are paced.
    pacing: Pacing,
}

impl Forecasting {
    /// The planning of `plan`: a planner for `--schedule adaptive`, but
    /// for a cancel, which only needs to see the run (no forecast, no
    /// extra requests).
    pub(super) fn new(plan: &Plan) -> Forecasting {
        let planner = (plan.schedule == ScheduleMode::Adaptive && !plan.cancel).then(|| {
            Planner::new(
                Knobs {
                    max_interval: plan.max_interval,
                    detection_delay: plan.detection_delay,
                    stall_timeout: plan.stall_timeout,
                },
                plan.jitter.then(fastrand::Rng::new),
            )
        });
        Forecasting {
            planner,
            planned_round: false,
            deferred: false,
            reads: ForecastReads::default(),
            pacing: Pacing::default(),
        }
    }

    /// Whether the pauses are planned from a forecast.
    pub(super) fn adaptive(&self) -> bool {
        self.planner.is_some()
    }

    /// Adaptive polls at once: a cache already ready is answered without a
    /// wait, and the jitter `spread` that spreads a fleet of gates goes
    /// into the first pause.
    pub(super) fn jitter_first_pause(&mut self, spread: Duration) {
        self.pacing.start_jitter = spread;
    }

    /// The next pause is not planned (the query stage: the planned pauses
    /// are about caches).
    pub(super) fn unplanned(&mut self) {
        self.planned_round = false;
    }

    /// Whether a forecast read may be sent, `polls` requests into the gate:
    /// no more reads than status requests (a round is one request whatever
    /// the number of caches, so the reads are one per round).
    fn may_read(&self, polls: u64) -> bool {
        let status_requests = polls.saturating_sub(self.pacing.reads);
        self.pacing.reads < status_requests
    }

    /// The pause before the next round, `elapsed` into the gate: the
    /// planned one after a round that brought an awaited cache's status,
    /// the exponential one else; the start jitter added once. `live` says
    /// whether a waiting cache shows a refresh under way, `read_due`
    /// whether a forecast read is due (then a pause planned blind may be
    /// stretched when the read brings a forecast: [`Self::stretched`]).
    fn pause(
        &mut self,
        elapsed: Duration,
        live: bool,
        read_due: bool,
        schedule: &mut Schedule,
    ) -> Duration {
        let planned = std::mem::take(&mut self.planned_round);
        self.pacing.stretch = planned
            && read_due
            && (self.planner.as_ref()).is_some_and(|p| p.phase(elapsed) == Phase::Blind);
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
    fn stretched(&mut self, elapsed: Duration, schedule: &mut Schedule) -> Option<Duration> {
        if !std::mem::take(&mut self.pacing.stretch) {
            return None;
        }
        let planner = self.planner.as_mut()?;
        if planner.phase(elapsed) == Phase::Blind {
            return None;
        }
        Some(planner.next_delay(elapsed, schedule))
    }
}

/// The windows of the caches still awaited, merged into one: none unless
/// each has one (one cache polled blind keeps the exponential schedule).
fn merged(windows: impl IntoIterator<Item = Option<Window>>) -> Option<Window> {
    let mut merged: Option<Window> = None;
    for w in windows {
        let w = w?;
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

impl PlanningSlot {
    /// Whether a forecast read of this cache is due: its history, or its
    /// settings, asked for and not yet read.
    pub(super) fn read_due(&self) -> bool {
        (self.due && !self.read) || (self.settings_due && !self.settings_read)
    }
}

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
        if self.awaited.caches()[i].state == CacheState::Waiting {
            crate::progress::show(self.progress_line(i, server_now));
        }
        if !self.forecasting.adaptive()
            || self.check_once()
            || self.awaited.caches()[i].state != CacheState::Waiting
        {
            return;
        }
        self.forecasting.planned_round = true;
        if !self.awaited.watches()[i].planning.read {
            self.awaited.watches_mut()[i].planning.due = true;
            return;
        }
        self.update_forecast(i, server_now);
        self.replan();
    }

    fn replan(&mut self) {
        let window = self.window_of_pending();
        if let Some(planner) = self.forecasting.planner.as_mut() {
            planner.set_window(window);
        }
    }

    /// Notes whether the reply `status` of cache `i` shows a refresh that
    /// may be the awaited one running or starting; before the reply
    /// updates what was seen of its slots.
    pub(super) fn note_evidence(&mut self, i: usize, status: &CacheStatus) {
        let slots = self.execution().slots();
        let watch = &self.awaited.watches()[i];
        let before: Option<Vec<(ExecutionKind, Option<&str>)>> =
            watch.first_sight.is_some().then(|| {
                (slots.iter())
                    .filter_map(|&kind| Some((kind, watch.seen.get(kind)?.id.as_deref())))
                    .collect()
            });
        let live = shows_a_live_refresh(status, slots, before.as_deref());
        self.awaited.watches_mut()[i].planning.live = live;
    }

    /// The pause before the next round: the planned one after a round
    /// that brought the status of an awaited cache, the exponential one
    /// after a round of errors (and before the first poll, around the
    /// trigger). A `Retry-After` stretches either ([`crate::schedule::pause`]).
    pub(super) fn next_delay(&mut self, schedule: &mut Schedule) -> Duration {
        let elapsed = self.tally.elapsed();
        let live = (self.awaited.caches().iter().zip(self.awaited.watches()))
            .any(|(c, w)| c.state == CacheState::Waiting && w.planning.live);
        // Before any forecast, the pause may be stretched when the read in
        // it brings one.
        let read_due = (self.awaited.watches().iter()).any(|w| w.planning.read_due());
        self.forecasting.pause(elapsed, live, read_due, schedule)
    }

    /// The window covering every cache still awaited: none unless each has
    /// one (one cache polled blind keeps the exponential schedule).
    fn window_of_pending(&self) -> Option<Window> {
        merged(
            (self.awaited.caches().iter().zip(self.awaited.watches()))
                .filter(|(cache, _)| cache.state == CacheState::Waiting)
                .map(|(_, watch)| watch.planning.window),
        )
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;
    use crate::decision::ExecutionFilter;

    fn plan(schedule: ScheduleMode) -> Plan {
        let mut plan = Plan::new("p", &["a"], ExecutionFilter::Any, Duration::from_secs(600));
        plan.schedule = schedule;
        plan.jitter = false;
        plan
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn window(early: u64, expected: u64, late: u64) -> Window {
        Window {
            starts: None,
            early: secs(early),
            expected: secs(expected),
            late: secs(late),
            usual: secs(expected),
            begun: SignedDuration::ZERO,
            dense_from: secs(early),
        }
    }

    #[test]
    fn only_an_adaptive_wait_plans_its_pauses() {
        assert!(Forecasting::new(&plan(ScheduleMode::Adaptive)).adaptive());
        assert!(!Forecasting::new(&plan(ScheduleMode::Exponential)).adaptive());
        let mut cancel = plan(ScheduleMode::Adaptive);
        cancel.cancel = true;
        assert!(!Forecasting::new(&cancel).adaptive());
    }

    #[test]
    fn the_start_jitter_goes_into_the_first_pause_only() {
        let mut f = Forecasting::new(&plan(ScheduleMode::Adaptive));
        f.jitter_first_pause(secs(3));
        let mut schedule = Schedule::without_jitter(secs(1), secs(30));
        // No round brought a status yet: the exponential pause, plus the jitter.
        assert_eq!(f.pause(secs(0), false, true, &mut schedule), secs(1 + 3));
        assert_eq!(f.pause(secs(1), false, true, &mut schedule), secs(2));
    }

    #[test]
    fn a_pause_planned_blind_is_stretched_once_when_the_read_in_it_brings_a_window() {
        let mut f = Forecasting::new(&plan(ScheduleMode::Adaptive));
        let mut schedule = Schedule::without_jitter(secs(1), secs(30));
        f.planned_round = true;
        assert_eq!(f.pause(secs(0), true, true, &mut schedule), secs(1));
        // Still blind: nothing to stretch to.
        assert_eq!(f.stretched(secs(0), &mut schedule), None);
        f.planned_round = true;
        f.pause(secs(0), true, true, &mut schedule);
        let planner = f.planner.as_mut().unwrap();
        planner.set_window(Some(window(300, 400, 500)));
        let mut twin = planner.clone();
        let mut twin_schedule = schedule.clone();
        let want = twin.next_delay(secs(2), &mut twin_schedule);
        assert_eq!(f.stretched(secs(2), &mut schedule), Some(want));
        assert_eq!(f.stretched(secs(2), &mut schedule), None, "once");
        // No read due in the pause, or a round of errors before it: no stretch.
        let blind_then_window = |f: &mut Forecasting, planned: bool, read_due: bool| {
            let mut schedule = Schedule::without_jitter(secs(1), secs(30));
            f.planner.as_mut().unwrap().set_window(None);
            f.planned_round = planned;
            f.pause(secs(3), true, read_due, &mut schedule);
            f.planner
                .as_mut()
                .unwrap()
                .set_window(Some(window(300, 400, 500)));
            f.stretched(secs(3), &mut schedule)
        };
        assert_eq!(blind_then_window(&mut f, true, false), None);
        assert_eq!(blind_then_window(&mut f, false, true), None);
        assert!(blind_then_window(&mut f, true, true).is_some());
    }

    #[test]
    fn a_round_of_errors_or_of_queries_gets_the_exponential_pause() {
        let mut f = Forecasting::new(&plan(ScheduleMode::Adaptive));
        f.planner
            .as_mut()
            .unwrap()
            .set_window(Some(window(300, 400, 500)));
        let mut schedule = Schedule::without_jitter(secs(1), secs(30));
        f.planned_round = true;
        f.unplanned();
        assert_eq!(f.pause(secs(10), true, false, &mut schedule), secs(1));
        f.planned_round = true;
        let mut twin = f.planner.clone().unwrap();
        twin.set_live(true);
        let want = twin.next_delay(secs(10), &mut schedule.clone());
        assert_eq!(f.pause(secs(10), true, false, &mut schedule), want);
        assert_ne!(want, secs(2), "the planner's step, not the exponential one");
        assert_eq!(
            f.pause(secs(11), true, false, &mut schedule),
            secs(2),
            "a planned round counts once"
        );
    }

    #[test]
    fn no_more_forecast_reads_than_status_requests() {
        let mut f = Forecasting::new(&plan(ScheduleMode::Adaptive));
        assert!(!f.may_read(0));
        assert!(f.may_read(1));
        f.pacing.reads += 1;
        // Two requests: one status, one read.
        assert!(!f.may_read(2));
        assert!(f.may_read(3));
    }

    #[test]
    fn the_window_of_the_pending_caches_spans_them_all_or_is_none() {
        assert_eq!(merged([]), None);
        let a = Window {
            starts: Some(secs(10)),
            begun: SignedDuration::from_secs(-30),
            ..window(100, 200, 300)
        };
        let b = Window {
            starts: Some(secs(20)),
            usual: secs(50),
            begun: SignedDuration::from_secs(5),
            dense_from: secs(150),
            ..window(120, 250, 280)
        };
        let both = merged([Some(a), Some(b)]).unwrap();
        assert_eq!(both.starts, Some(secs(10)));
        assert_eq!(both.early, secs(100));
        assert_eq!(both.expected, secs(250));
        assert_eq!(both.late, secs(300));
        assert_eq!(both.usual, secs(50));
        assert_eq!(both.begun, SignedDuration::from_secs(5));
        assert_eq!(both.dense_from, secs(100));
        // A cache already running has no start to wait for.
        let running = Window { starts: None, ..b };
        assert_eq!(merged([Some(a), Some(running)]).unwrap().starts, None);
        // One cache polled blind keeps the exponential schedule.
        assert_eq!(merged([Some(a), None, Some(b)]), None);
    }
}
