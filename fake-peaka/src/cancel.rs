//! The two cancel endpoints, `POST …/cancelIncrementalUpdate` and
//! `…/cancelFullRefreshUpdate`. Like Peaka's they are best effort: a
//! triggered execution that is running in that slot becomes `CANCELLED`;
//! otherwise nothing changes and the answer is still 200. An unknown cache
//! is a 404, as the reference says.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{App, Scenario, authorized, dated, error};

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
        if let Ok(mut shared) = app.shared.lock() {
            shared.cancels += 1;
            if let Some(seen) = shared.caches.get_mut(&cache) {
                let running_here = seen.trigger.is_some_and(|(slot, _)| slot == full);
                if running_here && seen.cancelled.is_none() {
                    seen.cancelled = Some(Instant::now());
                }
            }
        }
        axum::Json(json!({})).into_response()
    };
    dated(&app, response)
}
