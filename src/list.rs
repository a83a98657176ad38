//! `--list-caches`: the project's caches (or a catalog's, or one schema's)
//! as a table or a JSON array, so a user can find a cache id without the
//! Peaka UI.
//!
//! Everything in the listing comes from the server and is shown through
//! [`printable`]: one line per cache, whatever the names contain.

use serde_json::{Value, json};

use crate::api::{CacheStatus, Execution, ExecutionKind};
use crate::cli::{Config, Format};
use crate::client::Client;
use crate::exit_codes::Outcome;
use crate::retry::{Next, RetryPolicy};
use crate::schedule::Schedule;
use crate::text::printable;

/// The widest a cell of the text table gets.
const MAX_CELL_CHARS: usize = 48;

/// The longest string in the JSON listing.
const MAX_JSON_CHARS: usize = 1024;

/// What `--list-caches` ends with: the exit outcome, and the listing (on
/// success) or the error message.
#[derive(Debug)]
pub struct Listing {
    /// Ready (exit 0) when the listing was read.
    pub outcome: Outcome,
    /// The listing for stdout, or the error for stderr.
    pub text: String,
}

/// Reads the project's caches (with `--catalog-id`, the catalog's, and
/// with `--schema` only that schema's), retried as [`crate::retry`] says
/// until `--timeout`, and renders them in `config.output`.
pub async fn run(config: &Config, client: &Client, mut schedule: Schedule) -> Listing {
    let mut retry = RetryPolicy::new(
        tokio::time::Instant::now(),
        config.timeout,
        config.request_timeout,
    );
    let scope = config.catalog.as_ref();
    let whose = match scope {
        Some(scope) => format!(
            "{} of project {}",
            scope.describe(),
            printable(&config.project_id, MAX_CELL_CHARS)
        ),
        None => format!("project {}", printable(&config.project_id, MAX_CELL_CHARS)),
    };
    loop {
        let budget = retry.budget();
        let listed = match scope {
            // One schema's caches come from the catalog's list: the
            // schema-level list answered 500 for live catalogs.
            Some(scope) => {
                client
                    .catalog_statuses(&config.project_id, &scope.catalog_id, budget)
                    .await
            }
            None => client.project_statuses(&config.project_id, budget).await,
        };
        let err = match listed {
            Ok(mut reply) => {
                let text = match scope {
                    Some(scope) => {
                        reply.value.retain(|cache| scope.holds(cache));
                        if reply.value.is_empty() && config.output == Format::Text {
                            format!("{whose} has no caches")
                        } else {
                            render(&reply.value, config.output)
                        }
                    }
                    None => render(&reply.value, config.output),
                };
                return Listing {
                    outcome: Outcome::Ready,
                    text,
                };
            }
            Err(err) => err,
        };
        let retry_after = match retry.failed(&err) {
            Next::End(outcome, why) => {
                return Listing {
                    outcome,
                    text: format!("cannot list the caches of {whose}: {why}"),
                };
            }
            Next::Retry(retry_after) => retry_after,
        };
        tracing::warn!("listing the caches failed, retrying: {}", err.message());
        let Some(sleep) = retry.pause(schedule.next_delay(), retry_after) else {
            return Listing {
                outcome: Outcome::Timeout,
                text: format!(
                    "cannot list the caches of {whose} within --timeout: {}",
                    err.message()
                ),
            };
        };
        tokio::time::sleep(sleep).await;
    }
}

/// The listing in the chosen format.
pub fn render(caches: &[CacheStatus], format: Format) -> String {
    match format {
        Format::Json => Value::Array(caches.iter().map(cache_json).collect()).to_string(),
        Format::Text => table(caches),
    }
}

fn json_text(text: Option<&str>) -> Value {
    text.map_or(Value::Null, |t| Value::String(printable(t, MAX_JSON_CHARS)))
}

fn cache_json(cache: &CacheStatus) -> Value {
    let slot = |kind: ExecutionKind| {
        cache.execution(kind).map(|e: &Execution| {
            json!({
                "id": json_text(e.id.as_deref()),
                "status": json_text(e.status.as_ref().map(|s| s.as_str())),
                "finishedAt": e.finished_at.at().map(|t| t.to_string()),
            })
        })
    };
    json!({
        "id": json_text(cache.id.as_deref()),
        "catalogId": json_text(cache.catalog_id.as_deref()),
        "schemaName": json_text(cache.schema_name.as_deref()),
        "tableName": json_text(cache.table_name.as_deref()),
        "status": json_text(Some(cache.status.as_str())),
        "incremental": slot(ExecutionKind::Incremental),
        "full": slot(ExecutionKind::Full),
    })
}

/// A slot's last execution in one cell: `COMPLETED 2026-11-24T10:00:00Z`.
fn slot_cell(cache: &CacheStatus, kind: ExecutionKind) -> String {
    match cache.execution(kind) {
        None => "-".to_owned(),
        Some(e) => {
            let status = e.status.as_ref().map_or("?", |s| s.as_str());
            match e.finished_at.at() {
                Some(at) => format!("{status} {at}"),
                None => status.to_owned(),
            }
        }
    }
}

fn table(caches: &[CacheStatus]) -> String {
    if caches.is_empty() {
        return "the project has no caches".to_owned();
    }
    let header = [
        "ID",
        "CATALOG",
        "SCHEMA",
        "TABLE",
        "STATUS",
        "LAST INCREMENTAL SYNC",
        "LAST FULL REFRESH",
    ]
    .map(str::to_owned);
    let cell = |text: Option<&str>| printable(text.unwrap_or("-"), MAX_CELL_CHARS);
    let mut rows = vec![header];
    for cache in caches {
        let mut id = cell(cache.id.as_deref());
        // A line that starts with `::` would be a workflow command in
        // GitHub Actions.
        if id.starts_with("::") {
            id.replace_range(..1, "\\u{3a}");
        }
        rows.push([
            id,
            cell(cache.catalog_id.as_deref()),
            cell(cache.schema_name.as_deref()),
            cell(cache.table_name.as_deref()),
            cell(Some(cache.status.as_str())),
            cell(Some(&slot_cell(cache, ExecutionKind::Incremental))),
            cell(Some(&slot_cell(cache, ExecutionKind::Full))),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = width - cell.chars().count() + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caches(body: &str) -> Vec<CacheStatus> {
        crate::api::decode_status_list(body.as_bytes()).unwrap()
    }

    #[test]
    fn a_table_row_per_cache_with_both_slots() {
        let list = caches(
            r#"[{"id":"c1","status":"COMPLETED","catalogId":"cat","schemaName":"public","tableName":"orders",
                "lastIncrementalCacheExecution":{"status":"COMPLETED","finishedAt":"2026-11-24T10:00:00.5Z"},
                "lastFullRefreshCacheExecution":null},
               {"id":"c2","status":"RUNNING"}]"#,
        );
        let text = render(&list, Format::Text);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ID  "), "{text}");
        assert!(lines[1].starts_with("c1  "), "{text}");
        for needle in [
            "cat",
            "public",
            "orders",
            "COMPLETED 2026-11-24T10:00:00.5Z",
        ] {
            assert!(lines[1].contains(needle), "{needle}: {text}");
        }
        assert!(
            lines[2].starts_with("c2 ") && lines[2].contains("RUNNING"),
            "{text}"
        );
        let json: Value = serde_json::from_str(&render(&list, Format::Json)).unwrap();
        assert_eq!(json[0]["tableName"], "orders");
        assert_eq!(json[0]["incremental"]["status"], "COMPLETED");
        assert_eq!(json[0]["full"], Value::Null);
        assert_eq!(json[1]["catalogId"], Value::Null);
    }

    #[test]
    fn hostile_names_stay_on_one_bounded_line() {
        let long = "x".repeat(10_000);
        let body = format!(
            r#"[{{"id":"::error::forged","status":"COMPLETED","tableName":"t\n::warning::x","schemaName":"{long}"}}]"#
        );
        let text = render(&caches(&body), Format::Text);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.lines().all(|l| !l.starts_with("::")), "{text}");
        assert!(text.len() < 400, "{}", text.len());
        let json = render(&caches(&body), Format::Json);
        assert!(!json.contains('\n'));
        assert!(json.len() < 2_000);
    }

    #[test]
    fn an_empty_project_says_so() {
        assert_eq!(render(&[], Format::Text), "the project has no caches");
        assert_eq!(render(&[], Format::Json), "[]");
    }
}
