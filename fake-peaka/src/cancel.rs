//! The two cancel endpoints, `POST …/cancelIncrementalUpdate` and
//! `…/cancelFullRefreshUpdate`, answering as the live API was seen to: a
//! triggered execution running in that slot becomes `CANCELLED` (200);
//! with nothing running there (never triggered, ended, already cancelled,
//! or never picked up) the answer is 404 "no active workflow"; between a
//! full refresh's trigger and its record's appearance the full-refresh
//! cancel answers 500 (a `NullPointerException` on the missing record).
//! A cache that is not a triggered scenario answers 200 and nothing
//! changes, as before. An unknown cache is a 404.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::scenarios::{End, Quirk, Scenario, TRIGGER_APPEARS_AFTER};
use crate::server::{App, Seen, authorized, dated, error};

pub(super) async fn cancel_incremental(
    state: State<App>,
    path: Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    cancel(state, path, headers, false)
}

pub(super) async fn cancel_full(
    state: State<App>,
    path: Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    cancel(state, path, headers, true)
}

fn cancel(
    State(app): State<App>,
    Path((project, cache)): Path<(String, String)>,
    headers: HeaderMap,
    full: bool,
) -> Response {
    let response = if !authorized(&app, &headers) {
        error(401, "UnauthorizedException", "Invalid API key")
    } else if Scenario::parse(&cache).is_none() {
        error(404, "NotFoundException", "Cache not found")
    } else {
        app.touch(Some(&project), &cache);
        let scenario = Scenario::parse(&cache);
        let mut answer = Answer::Accepted;
        if let Ok(mut shared) = app.shared.lock() {
            shared.cancels += 1;
            if let Some(seen) = shared.caches.get_mut(&cache) {
                answer = answer_for(scenario.as_ref(), seen, full);
                if answer == Answer::Accepted && seen.trigger.is_some() {
                    seen.cancelled = Some(Instant::now());
                }
            }
        }
        match answer {
            Answer::Accepted => axum::Json(json!({})).into_response(),
            Answer::NothingRunning => error(404, "NotFoundException", "No active workflow found"),
            Answer::NoRecordYet => error(
                500,
                "NullPointerException",
                "Cannot invoke \"CacheExecution.getId()\" because \"execution\" is null",
            ),
        }
    };
    dated(&app, response)
}

/// How a cancel is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Accepted,
    NothingRunning,
    NoRecordYet,
}

/// The live API's answer to a cancel of the `full` (or incremental) slot
/// of a cache with this scenario and memory.
fn answer_for(scenario: Option<&Scenario>, seen: &Seen, full: bool) -> Answer {
    let Some(Scenario::Triggered {
        end,
        after,
        appears,
        quirk,
    }) = scenario
    else {
        return Answer::Accepted;
    };
    let Some((slot, at)) = seen.trigger.filter(|(slot, _)| *slot == full) else {
        return Answer::NothingRunning;
    };
    let now = Instant::now();
    let appeared = *appears && now >= at + TRIGGER_APPEARS_AFTER;
    if !appeared {
        return if slot {
            Answer::NoRecordYet
        } else {
            // Cancelling before the record exists changes nothing.
            Answer::Accepted
        };
    }
    let ended = *end != End::Never && now >= at + TRIGGER_APPEARS_AFTER + *after;
    if ended || seen.cancelled.is_some() || *quirk == Quirk::NoWorkflow {
        return Answer::NothingRunning;
    }
    Answer::Accepted
}
