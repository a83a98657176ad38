//! `--list-caches`: the project's caches (or a catalog's, or one schema's)
//! as a table or a JSON array, so a user can find a cache id without the
//! Peaka UI.
//!
//! Everything in the listing comes from the server and is shown through
//! [`printable`]: one line per cache, whatever the names contain.
//!
//! The rows are written out as the list arrives ([`Rows`]): the first
//! [`HELD_ROWS`] are held, so that a listing of an ordinary project is
//! written whole and aligned, or not at all when its reply fails and is
//! retried; past them, rows go out one by one, so that a project of any
//! size is listed in bounded memory.
//!
//! Both listings (this one and `--list-materialized-queries`, in
//! `list/queries.rs`) go through the one loop here, `listing`: its
//! retries, its messages, and the end of a listing cut off midway.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::{CacheStatus, Execution, ExecutionKind};
use crate::cli::{Config, Format};
use crate::client::{Client, FetchError};
use crate::exit_codes::Outcome;
use crate::retry::{Next, RetryPolicy};
use crate::schedule::Schedule;
use crate::tables::CatalogScope;
use crate::text::printable;

mod queries;

pub use queries::{render_queries, run_queries};

/// The widest a cell of the text table gets.
const MAX_CELL_CHARS: usize = 48;

/// The longest string in the JSON listing.
const MAX_JSON_CHARS: usize = 1024;

/// The rows held before any is written: the table is aligned over them,
/// and a reply that fails before them is retried without a trace.
pub const HELD_ROWS: usize = 1000;

/// What `--list-caches` ends with: the exit outcome, and the error
/// message (empty when the listing was written).
#[derive(Debug)]
pub struct Listing {
    /// Ready (exit 0) when the listing was read and written.
    pub outcome: Outcome,
    /// The error for stderr.
    pub text: String,
}

/// Reads the project's caches (with `--catalog-id`, the catalog's, and
/// with `--schema` only that schema's), retried as [`crate::retry`] says
/// until `--timeout`, and writes them to `out` in `config.output` as they
/// arrive. A reply that fails after rows were written is not retried (the
/// rows cannot be taken back): the listing ends with `api_error`, saying
/// how many caches were listed.
pub async fn run<W: Write>(
    config: &Config,
    client: &Client,
    schedule: Schedule,
    out: W,
) -> Listing {
    let scope = config.catalog.as_ref();
    let whose = match scope {
        Some(scope) => format!(
            "{} of project {}",
            scope.describe(),
            printable(&config.project_id, MAX_CELL_CHARS)
        ),
        None => format!("project {}", printable(&config.project_id, MAX_CELL_CHARS)),
    };
    let mut rows = Rows::new(config.output, out, format!("{whose} has no caches"));
    rows.scope = scope.cloned();
    let words = Words {
        things: "caches",
        unit: "caches",
        listing_of: whose.clone(),
        whose,
    };
    listing(config, schedule, rows, &words, async |budget, rows| {
        match scope {
            // One schema's caches come from the catalog's list: the
            // schema-level list answered 500 for live catalogs.
            Some(scope) => client
                .catalog_statuses(&config.project_id, &scope.catalog_id, budget, rows)
                .await
                .map(drop),
            None => client
                .project_statuses(&config.project_id, budget, rows)
                .await
                .map(drop),
        }
    })
    .await
}

/// What a listing's messages call what it lists.
struct Words {
    /// `cannot list the {things} of project p`.
    things: &'static str,
    /// `cut off after 3 {unit}`.
    unit: &'static str,
    /// `cannot list the caches of {whose}`: `project p`.
    whose: String,
    /// `the listing of {listing_of} was cut off`.
    listing_of: String,
}

/// The one listing loop: asks for the list with `ask` (which feeds each
/// entry to the rows as it is decoded), retried as [`crate::retry`] says
/// until `--timeout`. The held rows of a reply that failed are dropped and
/// the list asked again; once rows were written, a failure ends the
/// listing (they cannot be taken back), saying how many were listed.
async fn listing<W: Write, const N: usize>(
    config: &Config,
    mut schedule: Schedule,
    mut rows: Rows<W, N>,
    words: &Words,
    mut ask: impl AsyncFnMut(Duration, &mut Rows<W, N>) -> Result<(), FetchError>,
) -> Listing {
    let mut retry = RetryPolicy::new(
        tokio::time::Instant::now(),
        config.timeout,
        config.request_timeout,
    );
    let Words {
        things,
        unit,
        whose,
        listing_of,
    } = words;
    loop {
        let err = match ask(retry.budget(), &mut rows).await {
            Ok(()) => {
                rows.end();
                return Listing {
                    outcome: Outcome::Ready,
                    text: String::new(),
                };
            }
            Err(err) => err,
        };
        if rows.written > 0 {
            return Listing {
                outcome: err.outcome().unwrap_or(Outcome::ApiError),
                text: format!(
                    "the listing of {listing_of} was cut off after {} {unit}: {}",
                    rows.written,
                    err.message()
                ),
            };
        }
        rows.forget();
        let retry_after = match retry.failed(&err) {
            Next::End(outcome, why) => {
                return Listing {
                    outcome,
                    text: format!("cannot list the {things} of {whose}: {why}"),
                };
            }
            Next::Retry(retry_after) => retry_after,
        };
        tracing::warn!("listing the {things} failed, retrying: {}", err.message());
        let Some(sleep) = retry.pause(schedule.next_delay(), retry_after) else {
            return Listing {
                outcome: Outcome::Timeout,
                text: format!(
                    "cannot list the {things} of {whose} within --timeout: {}",
                    err.message()
                ),
            };
        };
        tokio::time::sleep(sleep).await;
    }
}

/// The rows of a listing on their way out: held up to [`HELD_ROWS`], then
/// written one by one. `N` columns: the caches' 7, the queries' 6.
pub struct Rows<W: Write, const N: usize = 7> {
    format: Format,
    out: W,
    /// The text table's column names.
    header: [&'static str; N],
    /// What the text listing says when there is no row.
    empty: String,
    /// With `--catalog-id` (and `--schema`), only its caches are rows.
    scope: Option<CatalogScope>,
    /// Rows not yet written (text: the cells; JSON: the entry).
    held: Vec<Row<N>>,
    /// The width of each text column, fixed when rows are first written.
    widths: Option<[usize; N]>,
    /// Rows written.
    written: usize,
}

/// One entry's row.
enum Row<const N: usize> {
    Cells([String; N]),
    Json(String),
}

impl<W: Write> Rows<W> {
    /// The caches' rows; `empty` is the text listing when none comes.
    pub fn new(format: Format, out: W, empty: String) -> Self {
        Rows::with_header(format, out, empty, HEADER)
    }
}

impl<W: Write, const N: usize> Rows<W, N> {
    /// No rows yet, under these column names; `empty` is the text listing
    /// when none comes.
    fn with_header(format: Format, out: W, empty: String, header: [&'static str; N]) -> Self {
        Rows {
            format,
            out,
            header,
            empty,
            scope: None,
            held: Vec::new(),
            widths: None,
            written: 0,
        }
    }

    /// Takes one entry's row: the JSON text, or the cells.
    fn push(&mut self, row: Row<N>) {
        self.held.push(row);
        if self.held.len() >= HELD_ROWS {
            self.write_held();
        }
    }

    /// Drops the held rows of a reply that failed (it is asked again).
    fn forget(&mut self) {
        self.held.clear();
    }

    /// Writes what is held, and the end of the listing. Output errors (a
    /// closed pipe) are ignored, as for every other line the tool writes.
    pub fn end(&mut self) {
        if self.written == 0 && self.held.is_empty() {
            let empty = match self.format {
                Format::Json => "[]",
                Format::Text => self.empty.as_str(),
            };
            let _ = writeln!(self.out, "{empty}");
            return;
        }
        self.write_held();
        if self.format == Format::Json {
            let _ = writeln!(self.out, "]");
        }
        let _ = self.out.flush();
    }

    fn write_held(&mut self) {
        if self.written == 0 {
            match self.format {
                Format::Json => {
                    let _ = write!(self.out, "[");
                }
                Format::Text => {
                    let header = self.header.map(str::to_owned);
                    let mut widths = [0usize; N];
                    for cells in std::iter::once(&header).chain(self.held.iter().filter_map(
                        |row| match row {
                            Row::Cells(cells) => Some(cells),
                            Row::Json(_) => None,
                        },
                    )) {
                        for (width, cell) in widths.iter_mut().zip(cells) {
                            *width = (*width).max(cell.chars().count());
                        }
                    }
                    self.widths = Some(widths);
                    self.write_line(&header);
                }
            }
        }
        for row in std::mem::take(&mut self.held) {
            match row {
                Row::Json(entry) => {
                    let comma = if self.written == 0 { "" } else { "," };
                    let _ = write!(self.out, "{comma}{entry}");
                }
                Row::Cells(cells) => self.write_line(&cells),
            }
            self.written += 1;
        }
    }

    /// One table line, each cell padded to its column (a cell wider than
    /// a column fixed by the first rows just pushes the next one over).
    fn write_line(&mut self, cells: &[String; N]) {
        let widths = self.widths.unwrap_or([0; N]);
        let mut line = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            line.push_str(cell);
            if i + 1 < cells.len() {
                let pad = width.saturating_sub(cell.chars().count()) + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        let _ = writeln!(self.out, "{}", line.trim_end());
    }
}

/// Each cache goes to the rows as it is decoded (already scrubbed).
impl<W: Write> crate::stream::Sink<CacheStatus> for &mut Rows<W> {
    type Value = ();

    fn take(&mut self, cache: CacheStatus) -> Result<(), String> {
        if self
            .scope
            .as_ref()
            .is_some_and(|scope| !scope.holds(&cache))
        {
            return Ok(());
        }
        self.push(match self.format {
            Format::Json => Row::Json(cache_json(&cache).to_string()),
            Format::Text => Row::Cells(cells(&cache)),
        });
        Ok(())
    }

    fn finish(self) {}
}

/// The listing of `caches` in the chosen format, as [`run`] writes it
/// (without the last line break).
pub fn render(caches: &[CacheStatus], format: Format) -> String {
    let mut out = Vec::new();
    let mut rows = Rows::new(format, &mut out, "the project has no caches".to_owned());
    for cache in caches {
        let _ = crate::stream::Sink::take(&mut &mut rows, cache.clone());
    }
    rows.end();
    let mut text = String::from_utf8_lossy(&out).into_owned();
    text.pop();
    text
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

const HEADER: [&str; 7] = [
    "ID",
    "CATALOG",
    "SCHEMA",
    "TABLE",
    "STATUS",
    "LAST INCREMENTAL SYNC",
    "LAST FULL REFRESH",
];

/// One cache's cells in the text table.
fn cells(cache: &CacheStatus) -> [String; 7] {
    let cell = |text: Option<&str>| printable(text.unwrap_or("-"), MAX_CELL_CHARS);
    let mut id = cell(cache.id.as_deref());
    // A line that starts with `::` would be a workflow command in
    // GitHub Actions.
    if id.starts_with("::") {
        id.replace_range(..1, "\\u{3a}");
    }
    [
        id,
        cell(cache.catalog_id.as_deref()),
        cell(cache.schema_name.as_deref()),
        cell(cache.table_name.as_deref()),
        cell(Some(cache.status.as_str())),
        cell(Some(&slot_cell(cache, ExecutionKind::Incremental))),
        cell(Some(&slot_cell(cache, ExecutionKind::Full))),
    ]
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
