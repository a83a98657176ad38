//! The server: the per-cache memory every endpoint shares, the routes, and
//! the helpers every endpoint answers with (authorization, the `Date`
//! header, Peaka-style errors). The endpoints themselves are in
//! `status.rs`, `trigger.rs`, `cancel.rs` and `catalog.rs`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::Options;
use crate::status::{cache_settings, cache_status, execution_history, project_status};
use crate::trigger::{trigger_full, trigger_incremental};
use crate::{cancel, catalog, queries};

/// Per-cache memory: when its clock started, how often it was asked, and
/// the trigger it got, if any.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    pub(crate) first: Instant,
    pub(crate) requests: u64,
    pub(crate) trigger: Option<(bool, Instant)>,
    /// Triggers this cache got: the n-th triggered run's id ends `-triggered`
    /// for the first and `-triggered-N` after, so two runs differ, as live.
    pub(crate) triggers: u32,
    /// When a cancel for the triggered slot arrived.
    pub(crate) cancelled: Option<Instant>,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) caches: HashMap<String, Seen>,
    /// Caches asked about by id, per project: they exist in that project.
    pub(crate) named: HashMap<String, Vec<String>>,
    pub(crate) requests: u64,
    pub(crate) triggers: u64,
    pub(crate) cancels: u64,
    /// Requests for a catalog- or schema-level list.
    pub(crate) catalog_lists: u64,
    /// When each request came, in ms since the server started (benchmarks
    /// compute the busiest 100 ms window from these).
    pub(crate) times_ms: Vec<u64>,
    /// Requests under `/flaky-site`, which alternate between two answers.
    pub(crate) flaky: u64,
    /// The materialized queries' memory.
    pub(crate) queries: crate::queries::Queries,
}

#[derive(Clone)]
pub(crate) struct App {
    pub(crate) options: Arc<Options>,
    pub(crate) shared: Arc<Mutex<Shared>>,
    /// The fake's clock at `epoch`; every timestamp derives from these two.
    pub(crate) epoch: Instant,
    pub(crate) epoch_at: Timestamp,
}

impl App {
    pub(crate) fn at(&self, instant: Instant) -> Timestamp {
        let since = SignedDuration::try_from(instant.saturating_duration_since(self.epoch))
            .unwrap_or(SignedDuration::ZERO);
        self.epoch_at.checked_add(since).unwrap_or(self.epoch_at)
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.at(Instant::now())
    }

    /// Counts a request for a cache and returns its memory. A cache asked
    /// about by id under a project is, from then on, one of its caches.
    pub(crate) fn touch(&self, project: Option<&str>, cache: &str) -> Seen {
        self.touch_counted(project, cache, true)
    }

    /// As [`App::touch`]; `counted` is false for a cache listed inside a
    /// project-level reply, which is one request however many caches it lists.
    pub(crate) fn touch_counted(&self, project: Option<&str>, cache: &str, counted: bool) -> Seen {
        let Ok(mut shared) = self.shared.lock() else {
            return Seen {
                first: Instant::now(),
                requests: 1,
                trigger: None,
                triggers: 0,
                cancelled: None,
            };
        };
        if counted {
            shared.requests += 1;
            shared
                .times_ms
                .push(self.epoch.elapsed().as_millis() as u64);
        }
        if let Some(project) = project {
            let named = shared.named.entry(project.to_owned()).or_default();
            if !named.iter().any(|c| c == cache) {
                named.push(cache.to_owned());
            }
        }
        let seen = shared.caches.entry(cache.to_owned()).or_insert(Seen {
            first: Instant::now(),
            requests: 0,
            trigger: None,
            triggers: 0,
            cancelled: None,
        });
        seen.requests += 1;
        *seen
    }
}

/// A running fake: its base URL and its counters.
#[derive(Clone)]
pub struct Running {
    /// The base URL to give peaka-wait (`http://127.0.0.1:PORT/api/v1`).
    pub base_url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl Running {
    /// Requests served so far (every endpoint but `/_fake/stats`).
    pub fn requests(&self) -> u64 {
        self.shared.lock().map(|s| s.requests).unwrap_or(0)
    }

    /// Requests served so far that named this cache.
    pub fn requests_for(&self, cache_id: &str) -> u64 {
        self.shared
            .lock()
            .ok()
            .and_then(|s| s.caches.get(cache_id).map(|c| c.requests))
            .unwrap_or(0)
    }

    /// Triggers received so far.
    pub fn triggers(&self) -> u64 {
        self.shared.lock().map(|s| s.triggers).unwrap_or(0)
    }

    /// Catalog- and schema-level list requests served so far.
    pub fn catalog_lists(&self) -> u64 {
        self.shared.lock().map(|s| s.catalog_lists).unwrap_or(0)
    }

    /// Materialized-query refreshes received so far.
    pub fn query_refreshes(&self) -> u64 {
        self.shared.lock().map(|s| s.queries.refreshes).unwrap_or(0)
    }

    /// Requests for a project's list of materialized queries so far.
    pub fn query_lists(&self) -> u64 {
        self.shared.lock().map(|s| s.queries.lists).unwrap_or(0)
    }

    /// Requests for one materialized query's status so far.
    pub fn query_lookups(&self) -> u64 {
        self.shared.lock().map(|s| s.queries.lookups).unwrap_or(0)
    }

    /// Materialized-query cancels received so far.
    pub fn query_cancels(&self) -> u64 {
        self.shared.lock().map(|s| s.queries.cancels).unwrap_or(0)
    }

    /// Cancels received so far (either endpoint, any cache).
    pub fn cancels(&self) -> u64 {
        self.shared.lock().map(|s| s.cancels).unwrap_or(0)
    }
}

/// Binds to `addr` (use port 0 for any) and serves in the background of
/// the current tokio runtime.
pub async fn start(addr: SocketAddr, options: Options) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Mutex::new(Shared::default()));
    let epoch = Instant::now();
    let epoch_at = Timestamp::now()
        .checked_add(options.clock_offset)
        .unwrap_or_else(|_| Timestamp::now());
    let app = App {
        options: Arc::new(options.clone()),
        shared: shared.clone(),
        epoch,
        epoch_at,
    };
    let prefix = options.prefix.trim_end_matches('/').to_owned();
    let cache = format!("{prefix}/data/projects/{{project}}/cache");
    let router = Router::new()
        .route(&format!("{cache}/status"), get(project_status))
        .route(&format!("{cache}/{{cache}}/status"), get(cache_status))
        .route(
            &format!("{cache}/{{cache}}/executionHistory"),
            get(execution_history),
        )
        .route(&format!("{cache}/{{cache}}"), get(cache_settings))
        .route(
            &format!("{cache}/{{cache}}/incrementalUpdate"),
            post(trigger_incremental),
        )
        .route(
            &format!("{cache}/{{cache}}/fullRefreshUpdate"),
            post(trigger_full),
        )
        .route(
            &format!("{prefix}/data/projects/{{project}}/catalog/{{catalog}}/cache/status"),
            get(catalog::catalog_status),
        )
        .route(
            &format!(
                "{prefix}/data/projects/{{project}}/catalog/{{catalog}}/schema/{{schema}}/cache/status"
            ),
            get(catalog::schema_status),
        )
        .route(
            &format!("{cache}/{{cache}}/cancelIncrementalUpdate"),
            post(cancel::cancel_incremental),
        )
        .route(
            &format!("{cache}/{{cache}}/cancelFullRefreshUpdate"),
            post(cancel::cancel_full),
        )
        .route(
            &format!("{prefix}/data/projects/{{project}}/materialized-queries/status"),
            get(queries::query_list),
        )
        .route(
            &format!("{prefix}/data/projects/{{project}}/materialized-queries/{{query}}/status"),
            get(queries::query_status),
        )
        .route(
            &format!("{prefix}/data/projects/{{project}}/materialized-queries/{{query}}/refresh"),
            post(queries::refresh),
        )
        .route(
            &format!("{prefix}/data/projects/{{project}}/materialized-queries/{{query}}/cancel"),
            post(queries::cancel),
        )
        .route(&format!("{prefix}/_fake/stats"), get(stats))
        .route("/site", get(web_page).post(web_page))
        .route("/site/{*rest}", get(web_page).post(web_page))
        .route("/other-api/{*rest}", get(other_api).post(other_api))
        .route("/flaky-site/{*rest}", get(flaky_site).post(flaky_site))
        .with_state(app);
    tokio::spawn(async move {
        // Serving ends only with the process (or the test's runtime).
        let _ = axum::serve(listener, router).await;
    });
    Ok(Running {
        base_url: format!("http://{addr}{prefix}"),
        addr,
        shared,
    })
}

/// Everything under `/site`: a web site's page, 200 `text/html`, as a
/// `--base-url` copied from the browser's address bar would get.
pub(crate) async fn web_page() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><html><head><title>Peaka</title></head><body>Sign in</body></html>",
    )
        .into_response()
}

/// Everything under `/other-api`: 200 with JSON of another API, as a
/// `--base-url` pointing at the wrong service would get.
pub(crate) async fn other_api() -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"message": "Hello from another API", "version": "2.1"})),
    )
        .into_response()
}

/// Everything under `/flaky-site`: a web page and a 502 in turn.
pub(crate) async fn flaky_site(State(app): State<App>) -> Response {
    let answered = match app.shared.lock() {
        Ok(mut shared) => {
            shared.flaky += 1;
            shared.flaky
        }
        Err(_) => return error(500, "InternalError", "fake state poisoned"),
    };
    if answered % 2 == 1 {
        web_page().await
    } else {
        (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/plain")],
            "502 Bad Gateway",
        )
            .into_response()
    }
}

/// `GET {prefix}/_fake/stats`: counters for tests and benchmarks.
pub(crate) async fn stats(State(app): State<App>) -> Response {
    let Ok(shared) = app.shared.lock() else {
        return error(500, "InternalError", "fake state poisoned");
    };
    let per_cache: serde_json::Map<String, Value> = shared
        .caches
        .iter()
        .map(|(id, seen)| (id.clone(), json!(seen.requests)))
        .collect();
    axum::Json(json!({
        "requests": shared.requests,
        "triggers": shared.triggers,
        "cancels": shared.cancels,
        "queryRefreshes": shared.queries.refreshes,
        "queryCancels": shared.queries.cancels,
        "perCache": per_cache,
        "requestTimesMs": shared.times_ms,
    }))
    .into_response()
}

pub(crate) fn authorized(app: &App, headers: &HeaderMap) -> bool {
    let expected = format!("Bearer {}", app.options.api_key);
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
}

/// Sets the `Date` header from the fake's (possibly offset) clock.
pub(crate) fn dated(app: &App, mut response: Response) -> Response {
    let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&app.now());
    if let Some(value) = date.ok().and_then(|d| HeaderValue::from_str(&d).ok()) {
        response.headers_mut().insert(header::DATE, value);
    }
    response
}

pub(crate) fn error(code: u16, error: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!({"error": error, "message": message, "errorCode": null})),
    )
        .into_response()
}
