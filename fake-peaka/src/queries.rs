//! Materialized queries, for any project: the query id is the scenario
//! (see [`QUERY_SCENARIOS`]), its clock starts at its first request, and
//! the four endpoints answer as the live API was seen to: `CANCELED`
//! spelled so, a new query `COMPLETED` with both times `null`, and after a
//! refresh request the previous status kept, times and all, until the new
//! run starts [`REFRESH_STARTS_AFTER`] later.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::play::millis;
use crate::server::{App, authorized, dated, error};

/// How long after a refresh request its run starts; until then the query
/// shows what it showed before, as live.
pub const REFRESH_STARTS_AFTER: Duration = Duration::from_millis(1500);

/// How long a refreshed run of a query whose scenario has no duration
/// (`mq-new`, `mq-done-ago-D`) takes.
pub const REFRESH_RUNS_FOR: Duration = Duration::from_secs(2);

/// Every query scenario, as an example id and what it does.
pub const QUERY_SCENARIOS: &[(&str, &str)] = &[
    (
        "mq-completes-after-3s",
        "RUNNING from the first request, COMPLETED after D; a refresh runs D again",
    ),
    (
        "mq-fails-after-3s",
        "RUNNING, then FAILED after D; a refresh fails after D too",
    ),
    (
        "mq-canceled-after-3s",
        "RUNNING, then CANCELED after D; a refresh is CANCELED after D too",
    ),
    ("mq-stuck", "RUNNING forever (a cancel ends it CANCELED)"),
    (
        "mq-done-ago-5m",
        "COMPLETED, ended D before the first request; a refresh runs 2 s and completes",
    ),
    (
        "mq-new",
        "COMPLETED with both times null (never materialized); a refresh runs 2 s and completes",
    ),
    (
        "mq-refresh-answers-502",
        "as mq-done-ago-1h, but a refresh is answered 502 although its run starts",
    ),
    (
        "mq-refresh-drops-connection",
        "as mq-done-ago-1h, but a refresh's connection is dropped unanswered although its run starts",
    ),
];

/// The rest of the rules, for `--help` and the README.
pub const QUERY_RULES: &str = "\
A materialized query id is its scenario (mq-...); any other id is a 404.
A refresh (POST .../materialized-queries/ID/refresh) keeps the previous status,
times and all, for 1.5 s, then starts a run (RUNNING, a new lastExecutionStartTime).
A cancel (POST .../ID/cancel) ends a running run CANCELED; with nothing running it
answers 404 (no active workflow).
A project's list (GET .../projects/P/materialized-queries/status) holds every query
already asked about individually or refreshed in P (project demo also lists
mq-completes-after-4s and mq-new).";

/// How a query's run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Completed,
    Failed,
    Canceled,
    Never,
}

impl End {
    fn status(self) -> &'static str {
        match self {
            End::Completed => "COMPLETED",
            End::Failed => "FAILED",
            End::Canceled => "CANCELED",
            End::Never => "RUNNING",
        }
    }
}

/// What a query id does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueryScenario {
    /// A run from the first request, ending so after the duration.
    Runs(End, Duration),
    /// Ended this long before the first request.
    DoneAgo(Duration),
    /// Never materialized.
    New,
    /// As done an hour ago; a refresh is answered 502 (its run starts).
    RefreshAnswers502,
    /// As done an hour ago; a refresh's connection is dropped before any
    /// answer (its run starts).
    RefreshDropsConnection,
}

impl QueryScenario {
    fn parse(id: &str) -> Option<QueryScenario> {
        let id = id.split_once('~').map_or(id, |(id, _)| id);
        let rest = id.strip_prefix("mq-")?;
        let after = |prefix: &str| rest.strip_prefix(prefix).and_then(duration);
        Some(match rest {
            "stuck" => QueryScenario::Runs(End::Never, Duration::ZERO),
            "new" => QueryScenario::New,
            "refresh-answers-502" => QueryScenario::RefreshAnswers502,
            "refresh-drops-connection" => QueryScenario::RefreshDropsConnection,
            _ => {
                if let Some(d) = after("completes-after-") {
                    QueryScenario::Runs(End::Completed, d)
                } else if let Some(d) = after("fails-after-") {
                    QueryScenario::Runs(End::Failed, d)
                } else if let Some(d) = after("canceled-after-") {
                    QueryScenario::Runs(End::Canceled, d)
                } else if let Some(d) = after("done-ago-") {
                    QueryScenario::DoneAgo(d)
                } else {
                    return None;
                }
            }
        })
    }

    /// How a refreshed run ends, and after how long.
    fn refreshed(self) -> (End, Duration) {
        match self {
            QueryScenario::Runs(end, d) => (end, d),
            _ => (End::Completed, REFRESH_RUNS_FOR),
        }
    }
}

fn duration(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return None,
    })
}

/// One query's memory.
#[derive(Debug, Clone, Copy)]
struct Seen {
    first: Instant,
    /// When the last refresh request came.
    refresh: Option<Instant>,
    /// When a cancel ended the running run.
    cancelled: Option<Instant>,
}

/// The queries' shared memory.
#[derive(Debug, Default)]
pub(crate) struct Queries {
    seen: HashMap<String, Seen>,
    /// Queries asked about by id or refreshed, per project.
    named: HashMap<String, Vec<String>>,
    pub(crate) refreshes: u64,
    pub(crate) cancels: u64,
    /// Requests for a project's list.
    pub(crate) lists: u64,
    /// Requests for one query's status.
    pub(crate) lookups: u64,
}

/// A status at one moment: (status, start, update), the times as offsets
/// from the query's first request (a query done an hour before it started
/// being asked about has negative ones).
type Shown = (&'static str, Option<SignedDuration>, Option<SignedDuration>);

fn offset(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

/// What the query shows `now` after its first request.
fn shown(scenario: QueryScenario, seen: Seen, now: Instant) -> Shown {
    let since = |at: Instant| offset(at.saturating_duration_since(seen.first));
    let elapsed = since(now);
    let own: Shown = match scenario {
        QueryScenario::Runs(end, d) => {
            if end != End::Never && elapsed >= offset(d) {
                (end.status(), Some(SignedDuration::ZERO), Some(offset(d)))
            } else {
                (
                    "RUNNING",
                    Some(SignedDuration::ZERO),
                    Some(SignedDuration::ZERO),
                )
            }
        }
        QueryScenario::DoneAgo(ago) => {
            let ended = -offset(ago);
            (
                "COMPLETED",
                Some(ended - SignedDuration::from_secs(5)),
                Some(ended),
            )
        }
        QueryScenario::RefreshAnswers502 | QueryScenario::RefreshDropsConnection => {
            let ended = -SignedDuration::from_hours(1);
            (
                "COMPLETED",
                Some(ended - SignedDuration::from_secs(5)),
                Some(ended),
            )
        }
        QueryScenario::New => ("COMPLETED", None, None),
    };
    let (status, start, update) = match seen.refresh {
        Some(asked) if now >= asked + REFRESH_STARTS_AFTER => {
            let start = since(asked + REFRESH_STARTS_AFTER);
            let (end, d) = scenario.refreshed();
            if end != End::Never && elapsed >= start + offset(d) {
                (end.status(), Some(start), Some(start + offset(d)))
            } else {
                ("RUNNING", Some(start), Some(start))
            }
        }
        // Until the run starts, what it showed when the request came.
        Some(asked) => shown(
            scenario,
            Seen {
                refresh: None,
                ..seen
            },
            asked,
        ),
        None => own,
    };
    match seen.cancelled {
        Some(at) if status == "RUNNING" && now >= at => ("CANCELED", start, Some(since(at))),
        _ => (status, start, update),
    }
}

fn object(app: &App, id: &str, first: Instant, (status, start, update): Shown) -> Value {
    let first = app.at(first);
    let at = |d: Option<SignedDuration>| d.map(|d| millis(first.checked_add(d).unwrap_or(first)));
    let next = app
        .now()
        .checked_add(SignedDuration::from_hours(6))
        .unwrap_or(Timestamp::MAX);
    json!({
        "queryId": id,
        "queryName": format!("{} query", id.split_once('~').map_or(id, |(id, _)| id)),
        "scheduleSettings": {"type": "interval", "repeatDuration": "PT6H", "cronExpression": null, "timezone": null},
        "nextExecutionStartTime": millis(next),
        "status": status,
        "lastExecutionStartTime": at(start),
        "lastUpdateTime": at(update),
    })
}

/// Counts a request; with `name`, the query becomes one of the project's.
fn touch(app: &App, project: &str, id: Option<&str>) -> Option<Seen> {
    let mut shared = app.shared.lock().ok()?;
    shared.requests += 1;
    let ms = app.epoch.elapsed().as_millis() as u64;
    shared.times_ms.push(ms);
    let id = id?;
    let queries = &mut shared.queries;
    let named = queries.named.entry(project.to_owned()).or_default();
    if !named.iter().any(|q| q == id) {
        named.push(id.to_owned());
    }
    Some(*queries.seen.entry(id.to_owned()).or_insert(Seen {
        first: Instant::now(),
        refresh: None,
        cancelled: None,
    }))
}

fn not_found() -> Response {
    error(404, "NotFoundException", "Materialized query not found")
}

/// The skeleton of every endpoint of one query: the key, a 404 for an
/// id that is no scenario, else `answer` with its scenario and memory.
fn per_query(
    app: &App,
    headers: &HeaderMap,
    project: &str,
    id: &str,
    answer: impl FnOnce(QueryScenario, Seen) -> Response,
) -> Response {
    let response = if !authorized(app, headers) {
        error(401, "UnauthorizedException", "Invalid API key")
    } else {
        match QueryScenario::parse(id) {
            None => {
                touch(app, project, None);
                not_found()
            }
            Some(scenario) => match touch(app, project, Some(id)) {
                Some(seen) => answer(scenario, seen),
                None => error(500, "InternalError", "fake state poisoned"),
            },
        }
    };
    dated(app, response)
}

/// `GET …/materialized-queries/{queryId}/status`.
pub(crate) async fn query_status(
    State(app): State<App>,
    Path((project, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    per_query(&app, &headers, &project, &id, |scenario, seen| {
        if let Ok(mut shared) = app.shared.lock() {
            shared.queries.lookups += 1;
        }
        axum::Json(object(
            &app,
            &id,
            seen.first,
            shown(scenario, seen, Instant::now()),
        ))
        .into_response()
    })
}

/// `GET …/materialized-queries/status`: the project's queries.
pub(crate) async fn query_list(
    State(app): State<App>,
    Path(project): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&app, &headers) {
        return dated(&app, error(401, "UnauthorizedException", "Invalid API key"));
    }
    touch(&app, &project, None);
    let mut ids: Vec<String> = Vec::new();
    if project == "demo" {
        ids.extend(["mq-completes-after-4s", "mq-new"].map(String::from));
    }
    let listed: Vec<(String, Seen)> = {
        let Ok(mut shared) = app.shared.lock() else {
            return dated(&app, error(500, "InternalError", "fake state poisoned"));
        };
        let queries = &mut shared.queries;
        queries.lists += 1;
        for id in queries.named.get(&project).into_iter().flatten() {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        ids.iter()
            .map(|id| {
                let seen = *queries.seen.entry(id.clone()).or_insert(Seen {
                    first: Instant::now(),
                    refresh: None,
                    cancelled: None,
                });
                (id.clone(), seen)
            })
            .collect()
    };
    let now = Instant::now();
    let list: Vec<Value> = listed
        .into_iter()
        .filter_map(|(id, seen)| {
            let scenario = QueryScenario::parse(&id)?;
            Some(object(&app, &id, seen.first, shown(scenario, seen, now)))
        })
        .collect();
    dated(&app, axum::Json(list).into_response())
}

/// `POST …/materialized-queries/{queryId}/refresh`.
pub(crate) async fn refresh(
    State(app): State<App>,
    Path((project, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    per_query(&app, &headers, &project, &id, |scenario, _| {
        if let Ok(mut shared) = app.shared.lock() {
            let queries = &mut shared.queries;
            queries.refreshes += 1;
            if let Some(seen) = queries.seen.get_mut(&id) {
                seen.refresh = Some(Instant::now());
                seen.cancelled = None;
            }
        }
        if scenario == QueryScenario::RefreshDropsConnection {
            // Ends the connection's task: the client sees it closed with
            // no answer. `resume_unwind` skips the panic hook, so nothing
            // is printed.
            std::panic::resume_unwind(Box::new("the connection is dropped"));
        }
        if scenario == QueryScenario::RefreshAnswers502 {
            error(502, "BadGateway", "upstream reset")
        } else {
            axum::Json(json!({})).into_response()
        }
    })
}

/// `POST …/materialized-queries/{queryId}/cancel`.
pub(crate) async fn cancel(
    State(app): State<App>,
    Path((project, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    per_query(&app, &headers, &project, &id, |scenario, seen| {
        let now = Instant::now();
        let running = shown(scenario, seen, now).0 == "RUNNING";
        if let Ok(mut shared) = app.shared.lock() {
            shared.queries.cancels += 1;
            if let Some(seen) = shared.queries.seen.get_mut(&id).filter(|_| running) {
                seen.cancelled = Some(now);
            }
        }
        if running {
            axum::Json(json!({})).into_response()
        } else {
            error(404, "NotFoundException", "no active workflow")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_ids_parse_and_the_stale_status_holds_until_the_run_starts() {
        assert_eq!(
            QueryScenario::parse("mq-completes-after-3s~t"),
            Some(QueryScenario::Runs(End::Completed, Duration::from_secs(3)))
        );
        assert_eq!(QueryScenario::parse("completes-after-3s"), None);
        assert_eq!(QueryScenario::parse("mq-fails-after-x"), None);
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("the workspace README");
        for (id, _) in QUERY_SCENARIOS {
            assert!(QueryScenario::parse(id).is_some(), "{id}");
            assert!(readme.contains(&format!("| `{id}` |")), "README lacks {id}");
        }
        let first = Instant::now();
        let asked = first + Duration::from_secs(10);
        let seen = Seen {
            first,
            refresh: Some(asked),
            cancelled: None,
        };
        let scenario = QueryScenario::Runs(End::Completed, Duration::from_secs(3));
        let secs = SignedDuration::from_secs;
        let stale = shown(scenario, seen, asked + Duration::from_millis(100));
        assert_eq!(stale, ("COMPLETED", Some(secs(0)), Some(secs(3))));
        let started = asked + REFRESH_STARTS_AFTER;
        let start = Some(secs(10) + offset(REFRESH_STARTS_AFTER));
        assert_eq!(shown(scenario, seen, started), ("RUNNING", start, start));
        assert_eq!(
            shown(scenario, seen, started + Duration::from_secs(3)).0,
            "COMPLETED"
        );
        let new = Seen {
            refresh: None,
            ..seen
        };
        assert_eq!(
            shown(QueryScenario::New, new, first),
            ("COMPLETED", None, None)
        );
        let ago = shown(QueryScenario::DoneAgo(Duration::from_secs(300)), new, first);
        assert_eq!(ago, ("COMPLETED", Some(secs(-305)), Some(secs(-300))));
    }
}
