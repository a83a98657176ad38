//! The status endpoints: one cache's status, its execution history, its
//! settings, and a project's list of statuses.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::Options;
use crate::history::{SCHEDULE_PERIOD, past_runs};
use crate::play::{Answer, Snapshot, play};
use crate::scenarios::Scenario;
use crate::server::{App, authorized, dated, error};

pub(crate) fn status_object(app: &App, cache: &str, snapshot: &Snapshot) -> Value {
    let [catalog, schema, table] = app
        .options
        .tables
        .get(cache)
        .cloned()
        .unwrap_or_else(|| ["fake-catalog".into(), "public".into(), cache.into()]);
    json!({
        "id": cache,
        "status": snapshot.top,
        "catalogId": catalog,
        "schemaName": schema,
        "tableName": table,
        "projectId": "fake-project",
        "lastIncrementalCacheExecution": snapshot.incremental,
        "lastFullRefreshCacheExecution": snapshot.full,
    })
}

pub(crate) async fn cache_status(
    State(app): State<App>,
    Path((project, cache)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    serve_cache(&app, &project, &cache, &headers, |snapshot| {
        axum::Json(status_object(&app, &cache, &snapshot)).into_response()
    })
    .await
}

pub(crate) async fn execution_history(
    State(app): State<App>,
    Path((project, cache)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let start = app
        .shared
        .lock()
        .ok()
        .and_then(|s| s.caches.get(&cache).map(|c| c.first));
    serve_cache(&app, &project, &cache, &headers, |snapshot| {
        let mut history = snapshot.history;
        let start = app.at(start.unwrap_or_else(Instant::now));
        history.extend(past_runs(&cache, start, app.options.variation.as_ref()));
        axum::Json(Value::Array(history)).into_response()
    })
    .await
}

/// The shared part of the per-cache GET endpoints: count, authorize, play
/// the scenario, and render its snapshot (or send its error).
pub(crate) async fn serve_cache(
    app: &App,
    project: &str,
    cache: &str,
    headers: &HeaderMap,
    render: impl FnOnce(Snapshot) -> Response,
) -> Response {
    let seen = app.touch(Some(project), cache);
    if !authorized(app, headers) {
        return dated(app, error(401, "UnauthorizedException", "Invalid API key"));
    }
    let response = match play(app, cache, seen).await {
        Answer::Snapshot(snapshot) => render(snapshot),
        Answer::Response(response) => response,
    };
    dated(app, response)
}

pub(crate) async fn project_status(
    State(app): State<App>,
    Path(project): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Ok(mut shared) = app.shared.lock() {
        shared.requests += 1;
        shared.times_ms.push(app.epoch.elapsed().as_millis() as u64);
    }
    if !authorized(&app, &headers) {
        return dated(&app, error(401, "UnauthorizedException", "Invalid API key"));
    }
    let statuses = project_statuses(&app, &project).await;
    dated(&app, axum::Json(Value::Array(statuses)).into_response())
}

/// The status objects of every cache of a project, as its list shows them.
pub(crate) async fn project_statuses(app: &App, project: &str) -> Vec<Value> {
    let mut caches = project_caches(&app.options, project);
    let named = app
        .shared
        .lock()
        .ok()
        .and_then(|s| s.named.get(project).cloned())
        .unwrap_or_default();
    for cache in named {
        if !caches.contains(&cache) {
            caches.push(cache);
        }
    }
    let mut statuses = Vec::new();
    for cache in caches {
        // A cache whose scenario is an HTTP error has no status to list.
        let seen = app.touch_counted(None, &cache, false);
        if let Answer::Snapshot(snapshot) = play(app, &cache, seen).await {
            statuses.push(status_object(app, &cache, &snapshot));
        }
    }
    statuses
}

pub(crate) fn project_caches(options: &Options, project: &str) -> Vec<String> {
    if let Some(caches) = options.projects.get(project) {
        return caches.clone();
    }
    // many-N-SCENARIO
    let generated = project.strip_prefix("many-").and_then(|rest| {
        let (count, scenario) = rest.split_once('-')?;
        let count: usize = count.parse().ok()?;
        Some((1..=count).map(|i| format!("{scenario}~{i}")).collect())
    });
    generated.unwrap_or_default()
}

/// `GET …/cache/{cacheId}`: the cache's settings, with a
/// [`SCHEDULE_PERIOD`] schedule on both slots. Error scenarios answer
/// their error; an unknown cache is a 404.
pub(crate) async fn cache_settings(
    State(app): State<App>,
    Path((project, cache)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    app.touch(Some(&project), &cache);
    if !authorized(&app, &headers) {
        return dated(&app, error(401, "UnauthorizedException", "Invalid API key"));
    }
    let schedule = json!({"type": "BASIC", "expression": SCHEDULE_PERIOD});
    let response = match Scenario::parse(&cache) {
        None => error(404, "NotFoundException", "Cache not found"),
        Some(Scenario::Error(code)) => error(code, "Error", "Refused"),
        Some(_) => axum::Json(json!({
            "catalogId": "fake-catalog",
            "schemaName": "public",
            "tableName": cache,
            "incrementalCacheSchedule": schedule,
            "fullRefreshCacheSchedule": schedule,
        }))
        .into_response(),
    };
    dated(&app, response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_projects_name_their_caches() {
        let options = Options::default();
        assert_eq!(
            project_caches(&options, "many-3-stuck"),
            ["stuck~1", "stuck~2", "stuck~3"]
        );
        assert_eq!(project_caches(&options, "demo").len(), 3);
        assert!(project_caches(&options, "other").is_empty());
    }
}
