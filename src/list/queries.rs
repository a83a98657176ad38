//! `--list-materialized-queries`: the project's materialized queries as a
//! table (one line per query with its status) or one JSON array, written
//! as the list arrives through the caches' [`Rows`]: a list of any length
//! is listed in bounded memory.

use std::io::Write;

use serde_json::{Value, json};

use super::{Listing, MAX_CELL_CHARS, Row, Rows, Words, json_text, listing};
use crate::cli::{Config, Format};
use crate::client::Client;
use crate::query::QueryStatus;
use crate::schedule::Schedule;
use crate::stream::Sink;
use crate::text::printable;

const HEADER: [&str; 6] = [
    "QUERY ID",
    "NAME",
    "STATUS",
    "LAST START",
    "LAST UPDATE",
    "NEXT RUN",
];

/// Reads the project's materialized queries, retried as [`crate::retry`]
/// says until `--timeout`, and writes them to `out` in `config.output` as
/// they arrive (held, then streamed, as [`Rows`] does for caches). A reply
/// that fails after rows were written is not retried: the listing ends
/// with `api_error`, saying how many queries were listed.
pub async fn run_queries<W: Write>(
    config: &Config,
    client: &Client,
    schedule: Schedule,
    out: W,
) -> Listing {
    let whose = format!("project {}", printable(&config.project_id, MAX_CELL_CHARS));
    let rows = query_rows(config.output, out, &whose);
    let words = Words {
        things: "materialized queries",
        unit: "queries",
        listing_of: format!("the materialized queries of {whose}"),
        whose,
    };
    listing(config, schedule, rows, &words, async |budget, rows| {
        client
            .query_statuses(&config.project_id, budget, rows)
            .await
            .map(drop)
    })
    .await
}

fn query_rows<W: Write>(format: Format, out: W, whose: &str) -> Rows<W, 6> {
    Rows::with_header(
        format,
        out,
        format!("{whose} has no materialized queries"),
        HEADER,
    )
}

/// Each query goes to the rows as it is decoded (already scrubbed).
impl<W: Write> Sink<QueryStatus> for &mut Rows<W, 6> {
    type Value = ();

    fn take(&mut self, query: QueryStatus) -> Result<(), String> {
        self.push(match self.format {
            Format::Json => Row::Json(query_json(&query).to_string()),
            Format::Text => Row::Cells(cells(&query)),
        });
        Ok(())
    }

    fn finish(self) {}
}

/// The listing, as [`run_queries`] writes it, without the last line break.
pub fn render_queries(queries: &[QueryStatus], format: Format, whose: &str) -> String {
    let mut out = Vec::new();
    let mut rows = query_rows(format, &mut out, whose);
    for query in queries {
        let _ = Sink::take(&mut &mut rows, query.clone());
    }
    rows.end();
    let mut text = String::from_utf8_lossy(&out).into_owned();
    text.pop();
    text
}

fn time(at: Option<jiff::Timestamp>) -> Value {
    at.map_or(Value::Null, |t| Value::String(t.to_string()))
}

fn query_json(query: &QueryStatus) -> Value {
    json!({
        "queryId": json_text(query.query_id.as_deref()),
        "queryName": json_text(query.query_name.as_deref()),
        "status": json_text(query.status.as_deref()),
        "lastExecutionStartTime": time(query.last_execution_start_time),
        "lastUpdateTime": time(query.last_update_time),
        "nextExecutionStartTime": time(query.next_execution_start_time),
    })
}

fn cells(query: &QueryStatus) -> [String; 6] {
    let cell = |text: Option<&str>| printable(text.unwrap_or("-"), MAX_CELL_CHARS);
    let at = |t: Option<jiff::Timestamp>| t.map_or("-".to_owned(), |t| t.to_string());
    let mut id = cell(query.query_id.as_deref());
    // A line that starts with `::` would be a workflow command in
    // GitHub Actions.
    if id.starts_with("::") {
        id.replace_range(..1, "\\u{3a}");
    }
    [
        id,
        cell(query.query_name.as_deref()),
        cell(query.status.as_deref()),
        at(query.last_execution_start_time),
        at(query.last_update_time),
        at(query.next_execution_start_time),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_per_query_with_its_status_and_one_json_array() {
        let list = crate::query::decode_query_list(
            br#"[{"queryId":"q1","queryName":"orders","status":"COMPLETED","lastExecutionStartTime":"2026-11-24T10:00:00Z","lastUpdateTime":"2026-11-24T10:00:05Z"},
                {"queryId":"::error::x","queryName":"a\nb","status":"CANCELED"}]"#,
        )
        .unwrap();
        let text = render_queries(&list, Format::Text, "project p");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("QUERY ID"), "{text}");
        assert!(
            lines[1].starts_with("q1 ") && lines[1].contains("COMPLETED  2026-11-24T10:00:00Z"),
            "{text}"
        );
        assert!(
            lines[2].contains("CANCELED") && !lines[2].starts_with("::"),
            "{text}"
        );
        let json: Value = serde_json::from_str(&render_queries(&list, Format::Json, "p")).unwrap();
        assert_eq!(json[0]["queryName"], "orders");
        assert_eq!(json[1]["lastExecutionStartTime"], Value::Null);
        assert_eq!(
            render_queries(&[], Format::Text, "project p"),
            "project p has no materialized queries"
        );
        assert_eq!(render_queries(&[], Format::Json, "p"), "[]");
    }
}
