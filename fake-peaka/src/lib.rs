//! A scripted fake of Peaka's cache API, for peaka-wait's tests, demo and
//! benchmarks. It never talks to Peaka.
//!
//! The cache id *is* the scenario, so one server serves every case without
//! configuration (see [`Scenario::parse`] for the list); any other id is a
//! 404, as Peaka answers. Text after a `~` is a tag that makes an id unique
//! (`stuck~test-3`), so tests sharing one server do not share a timeline.
//! Each cache's clock starts at its first request, so a scenario plays the
//! same however long the client took to start.
//!
//! Endpoints: the status of one cache, the statuses of a project's caches,
//! a cache's execution history, the two triggers and the two cancels
//! (`src/cancel.rs`). A project's caches
//! are the ones configured for it in [`Options::projects`], or, for a
//! project id `many-N-SCENARIO`, N caches `SCENARIO~1` … `SCENARIO~N`.

mod cancel;
mod catalog;
pub mod faults;
pub mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// The API key the fake accepts unless told otherwise.
pub const DEMO_KEY: &str = "demo-key";

/// How long a triggered execution's record takes to appear in its slot:
/// the live API shows the full-refresh record a few seconds after the
/// trigger call returns, while the top-level status is already RUNNING.
pub const TRIGGER_APPEARS_AFTER: Duration = Duration::from_millis(1500);

/// How long the live API took to answer a full-refresh trigger; the
/// `triggered-slowly-…` scenarios answer after it.
pub const SLOW_TRIGGER_ANSWER: Duration = Duration::from_millis(2300);

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The key it accepts as `Authorization: Bearer <key>`.
    pub api_key: String,
    /// The path prefix before `/data/projects/…` (like Peaka's `/api/v1`).
    pub prefix: String,
    /// How far the fake's clock is from the machine's: its timestamps and
    /// `Date` headers are shifted by this much.
    pub clock_offset: SignedDuration,
    /// The caches of each project, for the project-level status list.
    pub projects: HashMap<String, Vec<String>>,
    /// The table each cache holds, as `[catalogId, schemaName, tableName]`;
    /// a cache not listed holds `fake-catalog.public.<its id>`.
    pub tables: HashMap<String, [String; 3]>,
}

impl Default for Options {
    fn default() -> Self {
        let demo = [
            "completes-after-3s",
            "full-completes-after-5s",
            "completes-after-8s",
        ];
        Options {
            api_key: DEMO_KEY.into(),
            prefix: "/api/v1".into(),
            clock_offset: SignedDuration::ZERO,
            projects: HashMap::from([(
                "demo".to_owned(),
                demo.iter().map(|s| s.to_string()).collect(),
            )]),
            tables: HashMap::new(),
        }
    }
}

/// Every scenario, as an example cache id and what it does: the one list
/// that `fake-peaka --help`, the README and the tests share. D is any
/// duration (`500ms`, `12s`, `2m`, `1h30m`).
pub const SCENARIOS: &[(&str, &str)] = &[
    ("completes-after-3s", "RUNNING, then COMPLETED after D"),
    ("fails-after-3s", "RUNNING, then FAILED after D"),
    ("cancelled-after-3s", "RUNNING, then CANCELLED after D"),
    (
        "stuck",
        "RUNNING forever, no progress, updatedAt == createdAt",
    ),
    (
        "flaky-completes-after-3s",
        "as completes-after-D; every other request 503",
    ),
    (
        "mostly-down-completes-after-3s",
        "as completes-after-D; four requests in five 503",
    ),
    (
        "rate-limited-completes-after-3s",
        "as completes-after-D; every other request 429 with Retry-After: 1",
    ),
    (
        "triggered-completes-after-3s",
        "idle until triggered; the triggered refresh completes after D",
    ),
    (
        "triggered-fails-after-3s",
        "idle until triggered; the triggered refresh fails after D",
    ),
    (
        "triggered-never-appears",
        "idle; a trigger is accepted but its record never appears",
    ),
    (
        "triggered-stuck",
        "idle until triggered; the triggered refresh never moves (a cancel ends it CANCELLED)",
    ),
    (
        "trigger-rejected",
        "idle; every trigger is refused with Peaka's 400",
    ),
    (
        "triggered-slowly-completes-after-3s",
        "as triggered-completes-after-D, but the trigger is answered after 2.3 s, as live",
    ),
    (
        "triggered-never-picked-up",
        "idle until triggered; the record appears and is never touched, and a cancel answers 404 no active workflow",
    ),
    (
        "triggered-then-scheduled-after-3s",
        "as triggered-completes-after-D, then a scheduled run starts in the slot and runs on (the triggered one is only in the history)",
    ),
    (
        "never-picked-up-10m",
        "RUNNING, no progress, updatedAt == createdAt, created D before the first request and never touched",
    ),
    (
        "flips-after-3s",
        "execution A completes at D while B starts in the same slot",
    ),
    ("flips-failing-after-3s", "as flips-after-D, but A fails"),
    (
        "finished-ago-5m",
        "COMPLETED, finished D before the first request",
    ),
    ("slow-5s", "COMPLETED, each reply sent after D"),
    ("unauthorized", "always 401"),
    ("forbidden", "always 403"),
    ("bad-request", "always 400"),
    ("server-error", "always 500"),
    ("malformed", "200 with a body that is not JSON"),
    ("deleted", "a completed execution under a top-level DELETED"),
    ("redirect", "301 to another host"),
    (
        "unknown-status",
        "an execution in a status the client does not know",
    ),
];

/// The rest of the fake's rules, after [`SCENARIOS`], for `--help` and the
/// README.
pub const SCENARIO_RULES: &str = "\
A full- prefix puts a refresh in the full-refresh slot (full-completes-after-5s).
D is any duration: 500ms, 12s, 2m, 1h30m.
A ~tag suffix makes an id unique, with a fresh timeline (stuck~job-7).
Any other id is a 404.
A project's list (GET .../projects/P/cache/status, used with several --cache-id
or --all-caches) holds the caches configured for P (--project P=ID,ID; project
demo: completes-after-3s, full-completes-after-5s, completes-after-8s), every
id already asked about individually in P, and for a project named
many-N-SCENARIO the N caches SCENARIO~1 ... SCENARIO~N (many-3-stuck).
Each cache holds the table fake-catalog.public.<its id>; the catalog- and
schema-level lists (.../catalog/C/cache/status, .../catalog/C/schema/S/cache/status)
are the project's list filtered by them; the schema-level list answers 500, as live.
A cancel (POST .../cancelIncrementalUpdate, .../cancelFullRefreshUpdate) ends a
running triggered refresh CANCELLED; with nothing running in that slot it
answers 404 (no active workflow), and the full-refresh cancel answers 500 between
the trigger and its record's appearance, as live.
Under the base URL /site (http://HOST:PORT/site) every request gets a web page
(200, text/html), as a --base-url pointing at a web site would.";

/// How a refresh ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `COMPLETED`.
    Completed,
    /// `FAILED`, with an error.
    Failed,
    /// `CANCELLED`.
    Cancelled,
    /// Never: it stays `RUNNING`.
    Never,
}

impl End {
    fn status(self) -> &'static str {
        match self {
            End::Completed => "COMPLETED",
            End::Failed => "FAILED",
            End::Cancelled => "CANCELLED",
            End::Never => "RUNNING",
        }
    }
}

/// What a triggered refresh does besides running, as live ones were seen to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quirk {
    /// Nothing more.
    None,
    /// The trigger is answered after [`SLOW_TRIGGER_ANSWER`].
    SlowAnswer,
    /// The record appears but is never picked up: it never moves, and a
    /// cancel answers 404 "no active workflow".
    NoWorkflow,
    /// Once it completed, a scheduled run starts in the same slot and runs
    /// on: the triggered one is then only in the history.
    ThenScheduled,
}

/// What a cache does over time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    /// RUNNING from the first request, then ends after `after`.
    Refresh {
        /// The slot the execution runs in.
        full: bool,
        /// How it ends.
        end: End,
        /// Time from the first request to the end.
        after: Duration,
        /// `(status, period)`: only one request in `period` succeeds, the
        /// others fail with `status` (503, 429) and `Retry-After: 1`.
        flaky: Option<(u16, u64)>,
    },
    /// RUNNING forever, with no progress and `updatedAt == createdAt`.
    Stuck,
    /// Idle (both slots COMPLETED long ago) until triggered; the triggered
    /// record appears [`TRIGGER_APPEARS_AFTER`] later and ends `after` after that.
    Triggered {
        /// How the triggered execution ends.
        end: End,
        /// Its running time.
        after: Duration,
        /// Whether its record ever appears.
        appears: bool,
        /// What else it does as the live API was seen to.
        quirk: Quirk,
    },
    /// Execution A runs, and at `after` ends while B starts in the same
    /// slot: a poller that looks only at the slot never sees A end.
    Flips {
        /// How A ends.
        end: End,
        /// When A ends and B starts.
        after: Duration,
    },
    /// A COMPLETED execution that finished this long before the first request.
    FinishedAgo(Duration),
    /// A RUNNING execution created this long before the first request and
    /// never touched since: no progress, `updatedAt == createdAt`.
    NeverPickedUp(Duration),
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
    /// Status like `Triggered`, but every trigger is refused with Peaka's
    /// 400 for a cache without settings.
    TriggerRejected,
}

impl Scenario {
    /// Reads a scenario from a cache id; `None` means "no such cache".
    ///
    /// `completes-after-D`, `fails-after-D`, `cancelled-after-D`, `stuck`,
    /// `flaky-completes-after-D` (every other request 503),
    /// `mostly-down-completes-after-D` (four requests in five 503),
    /// `rate-limited-completes-after-D` (every other request 429 with
    /// `Retry-After: 1`), `triggered-completes-after-D`,
    /// `triggered-fails-after-D`, `triggered-never-appears`,
    /// `triggered-stuck` (appears, then never moves: no progress,
    /// `updatedAt == createdAt`),
    /// `trigger-rejected`, `flips-after-D`, `flips-failing-after-D`,
    /// `finished-ago-D`, `unauthorized`, `forbidden`, `bad-request`,
    /// `server-error`, `malformed`, `deleted`, `redirect`, `slow-D`,
    /// `unknown-status`; a `full-` prefix puts a refresh in the
    /// full-refresh slot. D is like `500ms`, `3s` or `2m`.
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
        type Make<'a> = &'a dyn Fn(&str) -> Option<Scenario>;
        let prefixed: [(&str, Make); 16] = [
            ("completes-after-", &|d| refresh(End::Completed, d, None)),
            ("fails-after-", &|d| refresh(End::Failed, d, None)),
            ("cancelled-after-", &|d| refresh(End::Cancelled, d, None)),
            ("flaky-completes-after-", &|d| {
                refresh(End::Completed, d, Some((503, 2)))
            }),
            ("mostly-down-completes-after-", &|d| {
                refresh(End::Completed, d, Some((503, 5)))
            }),
            ("rate-limited-completes-after-", &|d| {
                refresh(End::Completed, d, Some((429, 2)))
            }),
            ("triggered-completes-after-", &|d| {
                Some(Scenario::Triggered {
                    end: End::Completed,
                    after: parse_duration(d)?,
                    appears: true,
                    quirk: Quirk::None,
                })
            }),
            ("triggered-slowly-completes-after-", &|d| {
                Some(Scenario::Triggered {
                    end: End::Completed,
                    after: parse_duration(d)?,
                    appears: true,
                    quirk: Quirk::SlowAnswer,
                })
            }),
            ("triggered-then-scheduled-after-", &|d| {
                Some(Scenario::Triggered {
                    end: End::Completed,
                    after: parse_duration(d)?,
                    appears: true,
                    quirk: Quirk::ThenScheduled,
                })
            }),
            ("triggered-fails-after-", &|d| {
                Some(Scenario::Triggered {
                    end: End::Failed,
                    after: parse_duration(d)?,
                    appears: true,
                    quirk: Quirk::None,
                })
            }),
            ("never-picked-up-", &|d| {
                parse_duration(d).map(Scenario::NeverPickedUp)
            }),
            ("flips-after-", &|d| {
                Some(Scenario::Flips {
                    end: End::Completed,
                    after: parse_duration(d)?,
                })
            }),
            ("flips-failing-after-", &|d| {
                Some(Scenario::Flips {
                    end: End::Failed,
                    after: parse_duration(d)?,
                })
            }),
            ("finished-ago-", &|d| {
                parse_duration(d).map(Scenario::FinishedAgo)
            }),
            ("slow-", &|d| parse_duration(d).map(Scenario::Slow)),
            ("stuck", &|d| d.is_empty().then_some(Scenario::Stuck)),
        ];
        for (prefix, make) in prefixed {
            if let Some(rest) = rest.strip_prefix(prefix) {
                return make(rest);
            }
        }
        match rest {
            "triggered-stuck" => Some(Scenario::Triggered {
                end: End::Never,
                after: Duration::ZERO,
                appears: true,
                quirk: Quirk::None,
            }),
            "triggered-never-picked-up" => Some(Scenario::Triggered {
                end: End::Never,
                after: Duration::ZERO,
                appears: true,
                quirk: Quirk::NoWorkflow,
            }),
            "triggered-never-appears" => Some(Scenario::Triggered {
                end: End::Never,
                after: Duration::ZERO,
                appears: false,
                quirk: Quirk::None,
            }),
            "trigger-rejected" => Some(Scenario::TriggerRejected),
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

/// Any duration jiff reads: `500ms`, `12s`, `2m`, `1h30m`.
fn parse_duration(text: &str) -> Option<Duration> {
    // A bare number is no duration here either: `completes-after-3` is a typo.
    if text.is_empty() || text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let signed: SignedDuration = text.parse().ok()?;
    Duration::try_from(signed).ok()
}

/// Per-cache memory: when its clock started, how often it was asked, and
/// the trigger it got, if any.
#[derive(Debug, Clone, Copy)]
struct Seen {
    first: Instant,
    requests: u64,
    trigger: Option<(bool, Instant)>,
    /// When a cancel for the triggered slot arrived.
    cancelled: Option<Instant>,
}

#[derive(Debug, Default)]
struct Shared {
    caches: HashMap<String, Seen>,
    /// Caches asked about by id, per project: they exist in that project.
    named: HashMap<String, Vec<String>>,
    requests: u64,
    triggers: u64,
    cancels: u64,
    /// Requests for a catalog- or schema-level list.
    catalog_lists: u64,
    /// When each request came, in ms since the server started (benchmarks
    /// compute the busiest 100 ms window from these).
    times_ms: Vec<u64>,
}

#[derive(Clone)]
struct App {
    options: Arc<Options>,
    shared: Arc<Mutex<Shared>>,
    /// The fake's clock at `epoch`; every timestamp derives from these two.
    epoch: Instant,
    epoch_at: Timestamp,
}

impl App {
    fn at(&self, instant: Instant) -> Timestamp {
        let since = SignedDuration::try_from(instant.saturating_duration_since(self.epoch))
            .unwrap_or(SignedDuration::ZERO);
        self.epoch_at.checked_add(since).unwrap_or(self.epoch_at)
    }

    fn now(&self) -> Timestamp {
        self.at(Instant::now())
    }

    /// Counts a request for a cache and returns its memory. A cache asked
    /// about by id under a project is, from then on, one of its caches.
    fn touch(&self, project: Option<&str>, cache: &str) -> Seen {
        self.touch_counted(project, cache, true)
    }

    /// As [`App::touch`]; `counted` is false for a cache listed inside a
    /// project-level reply, which is one request however many caches it lists.
    fn touch_counted(&self, project: Option<&str>, cache: &str, counted: bool) -> Seen {
        let Ok(mut shared) = self.shared.lock() else {
            return Seen {
                first: Instant::now(),
                requests: 1,
                trigger: None,
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
        .route(&format!("{prefix}/_fake/stats"), get(stats))
        .route("/site", get(web_page).post(web_page))
        .route("/site/{*rest}", get(web_page).post(web_page))
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
async fn web_page() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><html><head><title>Peaka</title></head><body>Sign in</body></html>",
    )
        .into_response()
}

/// `GET {prefix}/_fake/stats`: counters for tests and benchmarks.
async fn stats(State(app): State<App>) -> Response {
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
        "perCache": per_cache,
        "requestTimesMs": shared.times_ms,
    }))
    .into_response()
}

/// What a cache shows at one moment: its top-level status, both slots,
/// and its execution history (newest first).
struct Snapshot {
    top: &'static str,
    incremental: Value,
    full: Value,
    history: Vec<Value>,
}

/// The answer for requests that are not about a cache's state.
enum Answer {
    Snapshot(Snapshot),
    Response(Response),
}

fn authorized(app: &App, headers: &HeaderMap) -> bool {
    let expected = format!("Bearer {}", app.options.api_key);
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
}

/// Plays the scenario of `cache` at this moment. `Err` is a response to
/// send instead of a status (an error scenario, an unknown cache).
async fn play(app: &App, cache: &str, seen: Seen) -> Answer {
    let Some(scenario) = Scenario::parse(cache) else {
        return Answer::Response(error(404, "NotFoundException", "Cache not found"));
    };
    let now = Instant::now();
    let elapsed = now.saturating_duration_since(seen.first);
    let start = app.at(seen.first);
    let snapshot = |top, current: Value, full: bool| {
        let history_mode = if full { "FULL_REFRESH" } else { "INCREMENTAL" };
        let mut current = current;
        current["executionMode"] = json!(history_mode);
        let (incremental, full_refresh) = if full {
            (previous(cache, start, false), current.clone())
        } else {
            (current.clone(), previous(cache, start, true))
        };
        let history = vec![
            current,
            previous(cache, start, full),
            previous(cache, start, !full),
        ];
        Snapshot {
            top,
            history,
            incremental,
            full: full_refresh,
        }
    };
    match scenario {
        Scenario::Refresh {
            full,
            end,
            after,
            flaky,
        } => {
            if let Some((code, _)) =
                flaky.filter(|(_, period)| !(seen.requests - 1).is_multiple_of(*period))
            {
                let mut response = error(code, "ServiceUnavailable", "try again");
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return Answer::Response(response);
            }
            let status = if elapsed >= after { end } else { End::Never };
            let current = execution(&format!("{cache}-exec-2"), start, after, status, elapsed);
            Answer::Snapshot(snapshot(status.status(), current, full))
        }
        Scenario::Stuck => {
            let mut current = current_execution(cache, start, End::Never);
            current["progress"] = Value::Null;
            Answer::Snapshot(snapshot("RUNNING", current, false))
        }
        Scenario::Triggered {
            end,
            after,
            appears,
            quirk,
        } => {
            let idle = || {
                let inc = previous(cache, start, false);
                let full = previous(cache, start, true);
                Snapshot {
                    top: "COMPLETED",
                    history: vec![inc.clone(), full.clone()],
                    incremental: inc,
                    full,
                }
            };
            let Some((full, at)) = seen.trigger else {
                return Answer::Snapshot(idle());
            };
            let since_trigger = now.saturating_duration_since(at);
            if !appears || since_trigger < TRIGGER_APPEARS_AFTER {
                let mut shown = idle();
                shown.top = "RUNNING";
                return Answer::Snapshot(shown);
            }
            let running_for = since_trigger - TRIGGER_APPEARS_AFTER;
            let (status, after) = match seen.cancelled {
                // A cancel while it ran (not before its record appeared,
                // nor after it ended) ends it at that moment; one that
                // was never picked up has nothing to cancel.
                Some(c)
                    if quirk != Quirk::NoWorkflow
                        && c >= at + TRIGGER_APPEARS_AFTER
                        && (end == End::Never
                            || c.saturating_duration_since(at + TRIGGER_APPEARS_AFTER) < after)
                        && c <= now =>
                {
                    (
                        End::Cancelled,
                        c.saturating_duration_since(at + TRIGGER_APPEARS_AFTER),
                    )
                }
                _ if running_for >= after => (end, after),
                _ => (End::Never, after),
            };
            let created = app.at(at + TRIGGER_APPEARS_AFTER);
            let mut current = execution(
                &format!("{cache}-triggered"),
                created,
                after,
                status,
                running_for,
            );
            if end == End::Never && status == End::Never {
                // triggered-stuck: the record never moves.
                current["updatedAt"] = current["createdAt"].clone();
                current["progress"] = Value::Null;
            }
            if quirk == Quirk::ThenScheduled && status == End::Completed {
                let scheduled = execution(
                    &format!("{cache}-scheduled"),
                    app.at(at + TRIGGER_APPEARS_AFTER + after),
                    Duration::from_secs(3600),
                    End::Never,
                    running_for - after,
                );
                let mut shown = snapshot("RUNNING", scheduled, full);
                current["executionMode"] = json!(if full { "FULL_REFRESH" } else { "INCREMENTAL" });
                shown.history.insert(1, current);
                return Answer::Snapshot(shown);
            }
            Answer::Snapshot(snapshot(status.status(), current, full))
        }
        Scenario::TriggerRejected => {
            let inc = previous(cache, start, false);
            let full = previous(cache, start, true);
            Answer::Snapshot(Snapshot {
                top: "COMPLETED",
                history: vec![inc.clone(), full.clone()],
                incremental: inc,
                full,
            })
        }
        Scenario::Flips { end, after } => {
            let mut a = execution(
                &format!("{cache}-exec-a"),
                start,
                after,
                if elapsed >= after { end } else { End::Never },
                elapsed,
            );
            a["executionMode"] = json!("INCREMENTAL");
            if elapsed < after {
                return Answer::Snapshot(snapshot("RUNNING", a, false));
            }
            let b_start = app.at(seen.first + after);
            let mut b = execution(
                &format!("{cache}-exec-b"),
                b_start,
                Duration::ZERO,
                End::Never,
                elapsed - after,
            );
            b["executionMode"] = json!("INCREMENTAL");
            let full = previous(cache, start, true);
            Answer::Snapshot(Snapshot {
                top: "RUNNING",
                history: vec![b.clone(), a, full.clone()],
                incremental: b,
                full,
            })
        }
        Scenario::FinishedAgo(ago) => {
            let ago = SignedDuration::try_from(ago).unwrap_or(SignedDuration::ZERO);
            let finished = start.checked_sub(ago).unwrap_or(start);
            let created = finished
                .checked_sub(SignedDuration::from_mins(1))
                .unwrap_or(finished);
            let current = execution(
                &format!("{cache}-exec-2"),
                created,
                Duration::from_secs(60),
                End::Completed,
                Duration::from_secs(60),
            );
            Answer::Snapshot(snapshot("COMPLETED", current, false))
        }
        Scenario::NeverPickedUp(ago) => {
            let ago = SignedDuration::try_from(ago).unwrap_or(SignedDuration::ZERO);
            let created = start.checked_sub(ago).unwrap_or(start);
            let mut current = current_execution(cache, created, End::Never);
            current["progress"] = Value::Null;
            Answer::Snapshot(snapshot("RUNNING", current, false))
        }
        Scenario::Error(code) => Answer::Response(match code {
            401 => error(401, "UnauthorizedException", "Invalid API key"),
            403 => error(
                403,
                "ForbiddenException",
                "Project API key cannot access this project",
            ),
            400 => error(400, "WrongRequestException", "Cache settings not found"),
            code => error(code, "InternalError", "Something went wrong"),
        }),
        Scenario::Malformed => Answer::Response(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "<html><body>Bad gateway</body></html>",
            )
                .into_response(),
        ),
        Scenario::Deleted => {
            let current = current_execution(cache, start, End::Completed);
            Answer::Snapshot(snapshot("DELETED", current, false))
        }
        Scenario::Redirect => Answer::Response(
            (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, "https://elsewhere.invalid/api/v1/")],
            )
                .into_response(),
        ),
        Scenario::Slow(delay) => {
            tokio::time::sleep(delay).await;
            let current = current_execution(cache, start, End::Completed);
            Answer::Snapshot(snapshot("COMPLETED", current, false))
        }
        Scenario::UnknownStatus => {
            let mut current = current_execution(cache, start, End::Never);
            current["status"] = json!("QUEUED");
            Answer::Snapshot(snapshot("RUNNING", current, false))
        }
    }
}

fn status_object(app: &App, cache: &str, snapshot: &Snapshot) -> Value {
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

async fn cache_status(
    State(app): State<App>,
    Path((project, cache)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    serve_cache(&app, &project, &cache, &headers, |snapshot| {
        axum::Json(status_object(&app, &cache, &snapshot)).into_response()
    })
    .await
}

async fn execution_history(
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
        history.extend(past_runs(&cache, start));
        axum::Json(Value::Array(history)).into_response()
    })
    .await
}

/// The shared part of the per-cache GET endpoints: count, authorize, play
/// the scenario, and render its snapshot (or send its error).
async fn serve_cache(
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

async fn project_status(
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
async fn project_statuses(app: &App, project: &str) -> Vec<Value> {
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

fn project_caches(options: &Options, project: &str) -> Vec<String> {
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

async fn trigger_incremental(
    state: State<App>,
    path: Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    trigger(state, path, headers, false).await
}

async fn trigger_full(
    state: State<App>,
    path: Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    trigger(state, path, headers, true).await
}

async fn trigger(
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
                    }
                }
                axum::Json(json!({})).into_response()
            }
        }
    };
    dated(&app, response)
}

/// The schedule every scenario's settings show for both slots.
pub const SCHEDULE_PERIOD: &str = "PT15M";

/// How many past runs of each slot a scenario's history holds (see [`past_runs`]).
pub const PAST_RUNS: usize = 12;

/// The durations of the past runs, as shares of the scenario's duration:
/// ±15% around it, median 1.0.
const PAST_FACTORS: [f64; PAST_RUNS] = [
    0.95, 1.10, 0.85, 1.00, 1.05, 0.90, 1.15, 0.98, 1.02, 0.88, 1.08, 1.00,
];

/// The running time the scenario's refresh has, if it has one: its past
/// runs took about as long.
fn usual_length(scenario: &Scenario) -> Option<Duration> {
    match scenario {
        Scenario::Refresh { after, .. }
        | Scenario::Triggered { after, .. }
        | Scenario::Flips { after, .. } => Some(*after).filter(|a| !a.is_zero()),
        _ => None,
    }
}

/// [`PAST_RUNS`] completed runs of each slot before the scenario began,
/// one every [`SCHEDULE_PERIOD`] (newest first), lasting about as long as
/// the scenario's refresh and ending with as many records as it will
/// (1000 + 100 per second), so that a client can forecast its end. The
/// scenario's own run is the scheduled one; for an idle cache (a
/// `triggered-…` scenario) the last run started 5 minutes before the
/// first request, so the next is due 10 minutes after it.
/// Scenarios without a duration have no past runs.
fn past_runs(cache: &str, start: Timestamp) -> Vec<Value> {
    let scenario = Scenario::parse(cache);
    let Some(length) = scenario.as_ref().and_then(usual_length) else {
        return Vec::new();
    };
    // How long before the first request the newest past run started.
    let newest_ago = match scenario {
        Some(Scenario::Triggered { .. }) => 5,
        _ => 15,
    };
    let mut runs = Vec::new();
    for (i, factor) in PAST_FACTORS.iter().enumerate() {
        for (slot, mode) in [("incremental", "INCREMENTAL"), ("full", "FULL_REFRESH")] {
            let ago = SignedDuration::from_mins(newest_ago + 15 * i as i64);
            let created = start.checked_sub(ago).unwrap_or(start);
            let took = length.mul_f64(*factor);
            let mut run = execution(
                &format!("{cache}-{slot}-past-{}", i + 1),
                created,
                took,
                End::Completed,
                took,
            );
            run["executionMode"] = json!(mode);
            runs.push(run);
        }
    }
    runs
}

/// `GET …/cache/{cacheId}`: the cache's settings, with a
/// [`SCHEDULE_PERIOD`] schedule on both slots. Error scenarios answer
/// their error; an unknown cache is a 404.
async fn cache_settings(
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

/// An execution that started at `start` and, once `status` is terminal,
/// ended `after` later; records grow with `elapsed`.
fn execution(id: &str, start: Timestamp, after: Duration, status: End, elapsed: Duration) -> Value {
    let terminal = status != End::Never;
    let end = start.checked_add(after).unwrap_or(start);
    let updated = if terminal {
        end
    } else {
        start.checked_add(elapsed).unwrap_or(start)
    };
    let records = 1000 + 100 * (if terminal { after } else { elapsed }).as_secs() as i64;
    let error = if status == End::Failed {
        json!({"message": "Source connection refused", "code": "SOURCE_UNAVAILABLE"})
    } else {
        Value::Null
    };
    json!({
        "id": id,
        "executionMode": "INCREMENTAL",
        "status": status.status(),
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

/// The scenario's current execution (`{cache}-exec-2`) as a snapshot at its
/// start: no running time, records at their starting count.
fn current_execution(cache: &str, start: Timestamp, status: End) -> Value {
    execution(
        &format!("{cache}-exec-2"),
        start,
        Duration::ZERO,
        status,
        Duration::ZERO,
    )
}

/// The previous execution of a slot: completed a day before the scenario began.
fn previous(cache: &str, start: Timestamp, full: bool) -> Value {
    let created = start
        .checked_sub(SignedDuration::from_hours(24))
        .unwrap_or(start);
    let finished = created
        .checked_add(SignedDuration::from_mins(5))
        .unwrap_or(created);
    let (slot, mode) = if full {
        ("full", "FULL_REFRESH")
    } else {
        ("incremental", "INCREMENTAL")
    };
    json!({
        "id": format!("{cache}-{slot}-exec-1"),
        "executionMode": mode,
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
    format!("{at:.3}")
}

/// Sets the `Date` header from the fake's (possibly offset) clock.
fn dated(app: &App, mut response: Response) -> Response {
    let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&app.now());
    if let Some(value) = date.ok().and_then(|d| HeaderValue::from_str(&d).ok()) {
        response.headers_mut().insert(header::DATE, value);
    }
    response
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

    #[test]
    fn every_documented_scenario_parses_and_the_readme_lists_it() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("the workspace README");
        for (id, _) in SCENARIOS {
            assert!(Scenario::parse(id).is_some(), "{id} does not parse");
            assert!(readme.contains(&format!("| `{id}` |")), "README lacks {id}");
        }
        for piece in [
            "many-N-SCENARIO",
            "`~tag`",
            "`full-`",
            "--project P=ID,ID",
            "`12s`",
        ] {
            assert!(readme.contains(piece), "README lacks {piece}");
        }
        for piece in [
            "many-N-SCENARIO",
            "~tag",
            "full-",
            "--project P=ID,ID",
            "12s",
        ] {
            assert!(SCENARIO_RULES.contains(piece), "--help lacks {piece}");
        }
    }

    #[test]
    fn any_duration_works_in_a_scenario() {
        for (id, after) in [
            ("completes-after-12s", 12_000),
            ("completes-after-1h30m", 5_400_000),
            ("fails-after-750ms", 750),
            ("full-completes-after-2m", 120_000),
        ] {
            match Scenario::parse(id) {
                Some(Scenario::Refresh { after: got, .. }) => {
                    assert_eq!(got, Duration::from_millis(after), "{id}")
                }
                other => panic!("{id}: {other:?}"),
            }
        }
        assert_eq!(Scenario::parse("completes-after-3"), None);
    }
    use super::*;

    #[test]
    fn scenarios_with_a_duration_have_a_history_around_it() {
        let start: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        let runs = past_runs("completes-after-2m~x", start);
        assert_eq!(runs.len(), 2 * PAST_RUNS);
        let mut took: Vec<i64> = runs
            .iter()
            .filter(|r| r["executionMode"] == "INCREMENTAL")
            .map(|r| {
                let at = |f: &str| r[f].as_str().unwrap().parse::<Timestamp>().unwrap();
                assert!(at("createdAt") < start);
                at("finishedAt").duration_since(at("createdAt")).as_secs()
            })
            .collect();
        took.sort();
        assert_eq!((took[0], took[6], took[11]), (102, 120, 138));
        assert!(past_runs("stuck", start).is_empty());
        assert!(past_runs("finished-ago-1m", start).is_empty());
    }

    #[test]
    fn scenarios_parse_from_cache_ids() {
        assert_eq!(
            Scenario::parse("completes-after-3s"),
            Some(Scenario::Refresh {
                full: false,
                end: End::Completed,
                after: Duration::from_secs(3),
                flaky: None
            })
        );
        assert_eq!(
            Scenario::parse("full-fails-after-500ms"),
            Some(Scenario::Refresh {
                full: true,
                end: End::Failed,
                after: Duration::from_millis(500),
                flaky: None
            })
        );
        assert_eq!(Scenario::parse("stuck"), Some(Scenario::Stuck));
        assert_eq!(Scenario::parse("stuck~test-3"), Some(Scenario::Stuck));
        assert_eq!(Scenario::parse("stuckx"), None);
        assert_eq!(
            Scenario::parse("flips-after-2s"),
            Some(Scenario::Flips {
                end: End::Completed,
                after: Duration::from_secs(2)
            })
        );
        assert_eq!(Scenario::parse("completes-after-3"), None);
        assert_eq!(Scenario::parse("orders"), None);
    }

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
