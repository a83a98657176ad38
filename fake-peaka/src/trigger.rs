//! The two trigger endpoints, `POST …/incrementalUpdate` and
//! `…/fullRefreshUpdate`: a triggered scenario's refresh starts; a missing
//! cache or a `trigger-rejected` one gets Peaka's 400.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::scenarios::{Quirk, SLOW_TRIGGER_ANSWER, Scenario};
use crate::server::{App, authorized, dated, error};

pub(crate) async fn trigger_incremental(
    state: State<App>,
    path: Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    trigger(state, path, headers, false).await
}

pub(crate) async fn trigger_full(
    state: State<App>,
    path: Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    trigger(state, path, headers, true).await
}

pub(crate) async fn trigger(
    State(app): State<App>,
    Path((project, cache)): Path<(String, String)>,
    headers: HeaderMap,
    full: bool,
) -> Response {
    let response = if !authorized(&app, &headers) {
        error(401, "UnauthorizedException", "Invalid API key")
    } else {
        match Scenario::parse(&cache) {
            // The live API answers a trigger for a missing cache with 400, not 404.
            None | Some(Scenario::TriggerRejected) => {
                error(400, "WrongRequestException", "Cache settings not found")
            }
            Some(Scenario::Error(code)) => error(code, "Error", "Refused"),
            Some(scenario) => {
                if let Scenario::Triggered {
                    quirk: Quirk::SlowAnswer,
                    ..
                } = scenario
                {
                    // The refresh starts as the answer leaves, as live.
                    tokio::time::sleep(SLOW_TRIGGER_ANSWER).await;
                }
                app.touch(Some(&project), &cache);
                if let Ok(mut shared) = app.shared.lock() {
                    shared.triggers += 1;
                    if let Some(seen) = shared.caches.get_mut(&cache) {
                        seen.trigger = Some((full, Instant::now()));
                        seen.triggers += 1;
                    }
                }
                axum::Json(json!({})).into_response()
            }
        }
    };
    dated(&app, response)
}
