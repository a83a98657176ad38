//! The catalog- and schema-level status lists. The catalog's is the
//! project's list filtered by each cache's `catalogId`; an unknown catalog
//! is an empty list, as an empty project is. The schema's answers 500, as
//! the live one did for a Stripe catalog, twice.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::server::{App, authorized, dated, error};
use crate::status::project_statuses;

pub(super) async fn catalog_status(
    State(app): State<App>,
    Path((project, catalog)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    filtered(&app, &project, &catalog, &headers).await
}

pub(super) async fn schema_status(
    State(app): State<App>,
    Path((project, catalog, _schema)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let listed = filtered(&app, &project, &catalog, &headers).await;
    if !listed.status().is_success() {
        return listed;
    }
    dated(
        &app,
        error(500, "InternalServerError", "Something went wrong"),
    )
}

async fn filtered(app: &App, project: &str, catalog: &str, headers: &HeaderMap) -> Response {
    if let Ok(mut shared) = app.shared.lock() {
        shared.requests += 1;
        shared.catalog_lists += 1;
        shared.times_ms.push(app.epoch.elapsed().as_millis() as u64);
    }
    if !authorized(app, headers) {
        return dated(app, error(401, "UnauthorizedException", "Invalid API key"));
    }
    let statuses: Vec<Value> = project_statuses(app, project)
        .await
        .into_iter()
        .filter(|s| s["catalogId"] == catalog)
        .collect();
    dated(app, axum::Json(Value::Array(statuses)).into_response())
}
