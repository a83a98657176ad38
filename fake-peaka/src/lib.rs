//! A scripted fake of Peaka's cache API, for peaka-wait's tests, demo and
//! benchmarks. It never talks to Peaka.
//!
//! The cache id *is* the scenario, so one server serves every case without
//! configuration: `completes-after-3s`, `fails-after-2s`, `stuck`,
//! `flaky-completes-after-3s`, `rate-limited-completes-after-2s`,
//! `unauthorized`, `forbidden`, `malformed`, `deleted`, `redirect`,
//! `bad-request`, `slow-5s`, `unknown-status`, `full-…` (the same in the
//! full-refresh slot); any other id is a 404. Each cache's clock starts at
//! its first request, so a scenario plays the same however long the client
//! took to start.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use serde_json::{Value, json};

/// The API key the fake accepts unless told otherwise.
pub const DEMO_KEY: &str = "demo-key";

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The key it accepts as `Authorization: Bearer <key>`.
    pub api_key: String,
    /// The path prefix before `/data/projects/…` (like Peaka's `/api/v1`).
    pub prefix: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            api_key: DEMO_KEY.into(),
            prefix: "/api/v1".into(),
        }
    }
}

/// What a cache does over time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    /// RUNNING from the first request, then ends in `end` after `after`.
    Refresh {
        /// The slot the execution runs in.
        full: bool,
        /// The terminal status.
        end: &'static str,
        /// Time from the first request to the end.
        after: Duration,
        /// Every other request fails with this HTTP status (503, 429).
        flaky: Option<u16>,
    },
    /// RUNNING forever, with no progress and `updatedAt == createdAt`.
    Stuck,
    /// Always this HTTP status with a Peaka-style error body.
    Error(u16),
    /// 200 with a body that is not JSON.
    Malformed,
    /// A completed execution under a top-level `DELETED`.
    Deleted,
    /// 301 to another host.
    Redirect,
    /// A completed status, sent after this long.
    Slow(Duration),
    /// An execution in a status the client does not know.
    UnknownStatus,
}

impl Scenario {
    /// Reads a scenario from a cache id; `None` means "no such cache".
    pub fn parse(id: &str) -> Option<Scenario> {
        let id = id.split('~').next().unwrap_or(id);
        let (full, rest) = match id.strip_prefix("full-") {
            Some(rest) => (true, rest),
            None => (false, id),
        };
        let refresh = |end, after: &str, flaky| {
            Some(Scenario::Refresh {
                full,
                end,
                after: parse_duration(after)?,
                flaky,
            })
        };
        if let Some(after) = rest.strip_prefix("completes-after-") {
            return refresh("COMPLETED", after, None);
        }
        if let Some(after) = rest.strip_prefix("fails-after-") {
            return refresh("FAILED", after, None);
        }
        if let Some(after) = rest.strip_prefix("cancelled-after-") {
            return refresh("CANCELLED", after, None);
        }
        if let Some(after) = rest.strip_prefix("flaky-completes-after-") {
            return refresh("COMPLETED", after, Some(503));
        }
        if let Some(after) = rest.strip_prefix("rate-limited-completes-after-") {
            return refresh("COMPLETED", after, Some(429));
        }
        if let Some(delay) = rest.strip_prefix("slow-") {
            return parse_duration(delay).map(Scenario::Slow);
        }
        match rest {
            "stuck" => Some(Scenario::Stuck),
            "unauthorized" => Some(Scenario::Error(401)),
            "forbidden" => Some(Scenario::Error(403)),
            "bad-request" => Some(Scenario::Error(400)),
            "server-error" => Some(Scenario::Error(500)),
            "malformed" => Some(Scenario::Malformed),
            "deleted" => Some(Scenario::Deleted),
            "redirect" => Some(Scenario::Redirect),
            "unknown-status" => Some(Scenario::UnknownStatus),
            _ => None,
        }
    }
}

/// `500ms`, `3s`, `2m`.
fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(number)),
        "s" => Some(Duration::from_secs(number)),
        "m" => Some(Duration::from_secs(number * 60)),
        _ => None,
    }
}

/// Per-cache memory: when its clock started and how often it was asked.
#[derive(Debug, Clone, Copy)]
struct Seen {
    first: Instant,
    first_at: Timestamp,
    requests: u64,
}

#[derive(Debug, Default)]
struct Shared {
    caches: HashMap<String, Seen>,
    requests: u64,
}

#[derive(Clone)]
struct App {
    options: Arc<Options>,
    shared: Arc<Mutex<Shared>>,
}

/// A running fake: its base URL and its request counter.
#[derive(Clone)]
pub struct Running {
    /// The base URL to give peaka-wait (`http://127.0.0.1:PORT/api/v1`).
    pub base_url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl Running {
    /// Requests served so far (status endpoints only).
    pub fn requests(&self) -> u64 {
        self.shared.lock().map(|s| s.requests).unwrap_or(0)
    }

    /// Requests served so far for one cache.
    pub fn requests_for(&self, cache_id: &str) -> u64 {
        self.shared
            .lock()
            .ok()
            .and_then(|s| s.caches.get(cache_id).map(|c| c.requests))
            .unwrap_or(0)
    }
}

/// Binds to `addr` (use port 0 for any) and serves in the background of
/// the current tokio runtime.
pub async fn start(addr: SocketAddr, options: Options) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Mutex::new(Shared::default()));
    let app = App {
        options: Arc::new(options.clone()),
        shared: shared.clone(),
    };
    let prefix = options.prefix.trim_end_matches('/').to_owned();
    let router = Router::new()
        .route(
            &format!("{prefix}/data/projects/{{project}}/cache/{{cache}}/status"),
            get(cache_status),
        )
        .route(&format!("{prefix}/_fake/stats"), get(stats))
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

async fn stats(State(app): State<App>) -> Response {
    let requests = app.shared.lock().map(|s| s.requests).unwrap_or(0);
    axum::Json(json!({ "requests": requests })).into_response()
}

async fn cache_status(
    State(app): State<App>,
    Path((_project, cache)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let seen = {
        let Ok(mut shared) = app.shared.lock() else {
            return error(500, "InternalError", "fake state poisoned");
        };
        shared.requests += 1;
        let seen = shared.caches.entry(cache.clone()).or_insert(Seen {
            first: Instant::now(),
            first_at: Timestamp::now(),
            requests: 0,
        });
        seen.requests += 1;
        *seen
    };
    let expected = format!("Bearer {}", app.options.api_key);
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return error(401, "UnauthorizedException", "Invalid API key");
    }
    let Some(scenario) = Scenario::parse(&cache) else {
        return error(404, "NotFoundException", "Cache not found");
    };
    let elapsed = seen.first.elapsed();
    match scenario {
        Scenario::Refresh {
            full,
            end,
            after,
            flaky,
        } => {
            if let Some(code) = flaky.filter(|_| seen.requests % 2 == 0) {
                let mut response = error(code, "ServiceUnavailable", "try again");
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return response;
            }
            let done = elapsed >= after;
            let current = execution(
                &cache,
                seen.first_at,
                after,
                if done { end } else { "RUNNING" },
                elapsed,
            );
            status_response(&cache, if done { end } else { "RUNNING" }, full, current)
        }
        Scenario::Stuck => {
            let mut current = execution(
                &cache,
                seen.first_at,
                Duration::ZERO,
                "RUNNING",
                Duration::ZERO,
            );
            current["progress"] = Value::Null;
            status_response(&cache, "RUNNING", false, current)
        }
        Scenario::Error(code) => match code {
            401 => error(401, "UnauthorizedException", "Invalid API key"),
            403 => error(
                403,
                "ForbiddenException",
                "Project API key cannot access this project",
            ),
            400 => error(400, "WrongRequestException", "Cache settings not found"),
            code => error(code, "InternalError", "Something went wrong"),
        },
        Scenario::Malformed => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "<html><body>Bad gateway</body></html>",
        )
            .into_response(),
        Scenario::Deleted => {
            let current = execution(
                &cache,
                seen.first_at,
                Duration::ZERO,
                "COMPLETED",
                Duration::ZERO,
            );
            status_response(&cache, "DELETED", false, current)
        }
        Scenario::Redirect => (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, "https://elsewhere.invalid/api/v1/")],
        )
            .into_response(),
        Scenario::Slow(delay) => {
            tokio::time::sleep(delay).await;
            let current = execution(
                &cache,
                seen.first_at,
                Duration::ZERO,
                "COMPLETED",
                Duration::ZERO,
            );
            status_response(&cache, "COMPLETED", false, current)
        }
        Scenario::UnknownStatus => {
            let current = execution(
                &cache,
                seen.first_at,
                Duration::ZERO,
                "QUEUED",
                Duration::ZERO,
            );
            status_response(&cache, "RUNNING", false, current)
        }
    }
}

/// An execution that started at `start` and, if terminal, ended `after`
/// later; records grow while it runs.
fn execution(
    cache: &str,
    start: Timestamp,
    after: Duration,
    status: &str,
    elapsed: Duration,
) -> Value {
    let terminal = status != "RUNNING" && status != "QUEUED";
    let end = start.checked_add(after).unwrap_or(start);
    let updated = if terminal {
        end
    } else {
        start.checked_add(elapsed).unwrap_or(start)
    };
    let records = 1000 + 100 * elapsed.min(after).as_secs() as i64;
    let error = if status == "FAILED" {
        json!({"message": "Source connection refused", "code": "SOURCE_UNAVAILABLE"})
    } else {
        Value::Null
    };
    json!({
        "id": format!("{cache}-exec-2"),
        "executionMode": "MANUAL",
        "status": status,
        "error": error,
        "progress": {
            "numberOfCachedRecords": records,
            "numberOfInsertedRecords": records - 1000,
            "numberOfUpdatedRecords": 0,
            "numberOfDeletedRecords": 0,
            "lastOffset": null,
            "lastCacheTxId": null
        },
        "createdAt": millis(start),
        "updatedAt": millis(updated),
        "finishedAt": if terminal { Value::String(millis(end)) } else { Value::Null },
    })
}

/// The previous execution: completed a day before the scenario began.
fn previous(cache: &str, start: Timestamp, slot: &str) -> Value {
    let day = jiff::SignedDuration::from_hours(24);
    let created = start.checked_sub(day).unwrap_or(start);
    let finished = created
        .checked_add(jiff::SignedDuration::from_mins(5))
        .unwrap_or(created);
    json!({
        "id": format!("{cache}-{slot}-exec-1"),
        "executionMode": "SCHEDULED",
        "status": "COMPLETED",
        "error": null,
        "progress": {"numberOfCachedRecords": 1000, "numberOfInsertedRecords": 1000,
                     "numberOfUpdatedRecords": 0, "numberOfDeletedRecords": 0},
        "createdAt": millis(created),
        "updatedAt": millis(finished),
        "finishedAt": millis(finished),
    })
}

/// Peaka's timestamps: milliseconds and `Z`.
fn millis(at: Timestamp) -> String {
    format!("{:.3}", at)
}

fn status_response(cache: &str, top: &str, full: bool, current: Value) -> Response {
    let start = current["createdAt"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(Timestamp::now);
    let (incremental, full_refresh) = if full {
        (previous(cache, start, "incremental"), current)
    } else {
        (current, previous(cache, start, "full"))
    };
    axum::Json(json!({
        "id": cache,
        "status": top,
        "catalogId": "fake-catalog",
        "schemaName": "public",
        "tableName": cache,
        "projectId": "fake-project",
        "lastIncrementalCacheExecution": incremental,
        "lastFullRefreshCacheExecution": full_refresh,
    }))
    .into_response()
}

fn error(code: u16, error: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!({"error": error, "message": message, "errorCode": null})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_parse_from_cache_ids() {
        assert_eq!(
            Scenario::parse("completes-after-3s"),
            Some(Scenario::Refresh {
                full: false,
                end: "COMPLETED",
                after: Duration::from_secs(3),
                flaky: None
            })
        );
        assert_eq!(
            Scenario::parse("full-fails-after-500ms"),
            Some(Scenario::Refresh {
                full: true,
                end: "FAILED",
                after: Duration::from_millis(500),
                flaky: None
            })
        );
        assert_eq!(Scenario::parse("stuck"), Some(Scenario::Stuck));
        assert_eq!(Scenario::parse("stuck~test-3"), Some(Scenario::Stuck));
        assert_eq!(Scenario::parse("completes-after-3"), None);
        assert_eq!(Scenario::parse("orders"), None);
    }
}
