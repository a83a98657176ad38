//! The catalog- and schema-level status lists: the project's list,
//! filtered by each cache's `catalogId` (and `schemaName`). An unknown
//! catalog or schema is an empty list, as an empty project is.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{App, authorized, dated, error, project_statuses};

pub(super) async fn catalog_status(
    State(app): State<App>,
    Path((project, catalog)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    filtered(&app, &project, &catalog, None, &headers).await
}

pub(super) async fn schema_status(
    State(app): State<App>,
    Path((project, catalog, schema)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    filtered(&app, &project, &catalog, Some(&schema), &headers).await
}

async fn filtered(
    app: &App,
    project: &str,
    catalog: &str,
    schema: Option<&str>,
    headers: &HeaderMap,
) -> Response {
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
        .filter(|s| schema.is_none_or(|schema| s["schemaName"] == schema))
        .collect();
    dated(app, axum::Json(Value::Array(statuses)).into_response())
}
