//! What is expected of each awaited cache's refresh (`--schedule
//! adaptive`): its forecast, recomputed from every poll; the start line
//! and the warning when the deadline falls before the expected end; the
//! live progress line and the heartbeat's note; the summary's fields
//! ([`CacheForecast`]).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::super::{CacheReport, Gate};
use crate::api::{Execution, ExecutionKind};
use crate::forecast::{self, Basis, Current, Sample, Usual};
use crate::planned::Window;
use crate::timespec::{format_duration, millis};

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

impl Gate<'_> {
    /// The slot awaited in cache `i`: the decision's focus, else the first
    /// slot of the filter.
    pub(super) fn forecast_kind(&self, i: usize) -> ExecutionKind {
        self.awaited.caches()[i]
            .decision
            .as_ref()
            .and_then(|d| d.focus)
            .or_else(|| self.execution().slots().first().copied())
            .unwrap_or(ExecutionKind::Incremental)
    }

    /// Recomputes cache `i`'s forecast from its latest status.
    pub(super) fn update_forecast(&mut self, i: usize, server_now: Timestamp) {
        let elapsed = self.tally.elapsed();
        let trigger = self.plan.trigger.is_some();
        let Some(kind) = self.awaited.watches()[i].planning.kind else {
            return;
        };
        let execution = self.awaited.caches()[i]
            .status
            .as_ref()
            .and_then(|s| s.execution(kind))
            .cloned();
        let planning = &mut *self.awaited.watches_mut()[i].planning;
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
            self.awaited.watches_mut()[i].planning.settings_due = true;
        }
        self.awaited.caches_mut()[i].forecast = Some(Box::new(CacheForecast {
            kind,
            usual,
            basis,
            expected,
        }));
        if !self.awaited.watches()[i].planning.announced && expected.is_some() {
            self.awaited.watches_mut()[i].planning.announced = true;
            self.announce(i, server_now);
        }
    }

    /// The start line of the forecast, and the warning when the deadline
    /// falls before the expected end.
    fn announce(&self, i: usize, server_now: Timestamp) {
        let cache = &self.awaited.caches()[i];
        let Some(f) = &cache.forecast else {
            return;
        };
        let Some(expected) = f.expected else {
            return;
        };
        let cache_id = &cache.cache_id;
        let starts = self.awaited.watches()[i]
            .planning
            .window
            .and_then(|w| w.starts)
            .map(|s| s.saturating_sub(self.tally.elapsed()))
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

    /// The live progress line of cache `i`: records (and the share of the
    /// last run's count), elapsed, and the expected end.
    pub(super) fn progress_line(&self, i: usize, server_now: Timestamp) -> crate::progress::Line {
        let cache = &self.awaited.caches()[i];
        let planning = &self.awaited.watches()[i].planning;
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
            started: self.tally.started().into_std(),
            expected,
        }
    }

    /// For the heartbeat (which already says the time elapsed and left),
    /// beside a waiting cache's state: its records so far and its expected
    /// end, when it has a forecast.
    pub(in crate::gate) fn eta_note(cache: &CacheReport) -> Option<String> {
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
