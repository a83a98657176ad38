//! Plays a cache's scenario at one moment: the top-level status, both
//! slots and the execution history it shows (a [`Snapshot`]), or the
//! response an error scenario sends instead.

use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::scenarios::{End, Quirk, Scenario, TRIGGER_APPEARS_AFTER};
use crate::server::{App, Seen, error};

/// What a cache shows at one moment: its top-level status, both slots,
/// and its execution history (newest first).
pub(crate) struct Snapshot {
    pub(crate) top: &'static str,
    pub(crate) incremental: Value,
    pub(crate) full: Value,
    pub(crate) history: Vec<Value>,
}

/// The answer for requests that are not about a cache's state.
pub(crate) enum Answer {
    Snapshot(Snapshot),
    Response(Response),
}

/// Plays the scenario of `cache` at this moment. `Err` is a response to
/// send instead of a status (an error scenario, an unknown cache).
pub(crate) async fn play(app: &App, cache: &str, seen: Seen) -> Answer {
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
            // Under `--seed`, the run lasts and grows as drawn for this cache.
            let (after, per_second) = match app.options.variation {
                Some(variation) => {
                    let run = variation.draw(cache, after, end == End::Failed).current;
                    (run.lasts, Some(run.per_second))
                }
                None => (after, None),
            };
            let status = if elapsed >= after { end } else { End::Never };
            let current = execution_at(
                &format!("{cache}-exec-2"),
                start,
                after,
                status,
                elapsed,
                per_second,
            );
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
            let id = match seen.triggers {
                0 | 1 => format!("{cache}-triggered"),
                n => format!("{cache}-triggered-{n}"),
            };
            let mut current = execution(&id, created, after, status, running_for);
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

/// An execution that started at `start` and, once `status` is terminal,
/// ended `after` later; records grow by 100 a second with `elapsed`.
pub(crate) fn execution(
    id: &str,
    start: Timestamp,
    after: Duration,
    status: End,
    elapsed: Duration,
) -> Value {
    execution_at(id, start, after, status, elapsed, None)
}

/// As [`execution`], with records growing by `per_second` (a run drawn
/// by [`crate::variation`]) instead of 100 a whole second.
pub(crate) fn execution_at(
    id: &str,
    start: Timestamp,
    after: Duration,
    status: End,
    elapsed: Duration,
    per_second: Option<f64>,
) -> Value {
    let terminal = status != End::Never;
    let end = start.checked_add(after).unwrap_or(start);
    let updated = if terminal {
        end
    } else {
        start.checked_add(elapsed).unwrap_or(start)
    };
    let ran = if terminal { after } else { elapsed };
    let added = match per_second {
        Some(rate) => (rate * ran.as_secs_f64()) as i64,
        None => 100 * ran.as_secs() as i64,
    };
    let records = 1000 + added;
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
pub(crate) fn current_execution(cache: &str, start: Timestamp, status: End) -> Value {
    execution(
        &format!("{cache}-exec-2"),
        start,
        Duration::ZERO,
        status,
        Duration::ZERO,
    )
}

/// The previous execution of a slot: completed a day before the scenario began.
pub(crate) fn previous(cache: &str, start: Timestamp, full: bool) -> Value {
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
pub(crate) fn millis(at: Timestamp) -> String {
    format!("{at:.3}")
}
