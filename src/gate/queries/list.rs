//! Reading the materialized queries each round: the project's list, once
//! (streamed through a sink that keeps only the awaited queries' entries),
//! and a query missing from it looked up on its own until a lookup is
//! answered; a 404 names the query.

use super::super::Gate;
use crate::client::{FetchError, Reply};
use crate::query::QueryStatus;
use crate::stream::Sink;

impl Gate<'_> {
    /// One round: the project's list, once; a query missing from it is
    /// looked up on its own the first time only (then it is not found).
    pub(super) async fn read_queries(&mut self) -> Vec<Result<Reply<QueryStatus>, FetchError>> {
        let project = self.plan.project_id.clone();
        self.tally.sent(1);
        let sink = Awaited {
            ids: self
                .queries
                .reports
                .iter()
                .map(|q| q.query_id.clone())
                .collect(),
            kept: Vec::new(),
        };
        let listed = self
            .client
            .query_statuses(&project, self.budget(), sink)
            .await;
        let list = match listed {
            Err(err) => {
                return self
                    .queries
                    .reports
                    .iter()
                    .map(|_| Err(err.clone()))
                    .collect();
            }
            Ok(reply) => {
                self.retry.answered();
                let latest = reply
                    .value
                    .iter()
                    .filter_map(QueryStatus::latest_time)
                    .max();
                self.measure_skew(&reply, latest);
                reply
            }
        };
        let mut answers = Vec::with_capacity(self.queries.reports.len());
        for i in 0..self.queries.reports.len() {
            let id = self.queries.reports[i].query_id.clone();
            let mine = |q: &QueryStatus| q.query_id.as_deref() == Some(id.as_str());
            let found = list.value.iter().position(mine);
            let agree = list
                .value
                .iter()
                .filter(|q| mine(q))
                .all(|q| found.is_some_and(|pos| *q == list.value[pos]));
            let answer = match found {
                // Two statuses for one query: which is current is not shown.
                Some(_) if !agree => Err(FetchError::Transient {
                    cause: "the project's list holds different statuses for this query, so none shows where it stands".to_owned(),
                    status: None,
                    retry_after: None,
                }),
                Some(pos) => Ok(Reply {
                    value: list.value[pos].clone(),
                    server_date: list.server_date,
                    received_at: list.received_at,
                }),
                None if !self.queries.watches[i].looked_up => {
                    self.tally.sent(1);
                    let budget = self.budget();
                    let own = self.client.query_status(&project, &id, budget).await;
                    // Only an answer settles it; a lookup that failed
                    // (a timeout, a 503) is made again next round.
                    self.queries.watches[i].looked_up = match &own {
                        Ok(_) => true,
                        Err(err) => err.outcome().is_some(),
                    };
                    if let Ok(reply) = &own {
                        self.retry.answered();
                        self.measure_skew(reply, reply.value.latest_time());
                    }
                    own.map_err(query_error)
                }
                None => Err(FetchError::NotFound(
                    "no longer in the project's list of materialized queries".to_owned(),
                )),
            };
            answers.push(answer);
        }
        answers
    }
}

/// The list's entries of the awaited queries, however long the list: the
/// first of each, and a second only when it differs (which shows the list
/// contradicts itself); every other entry is dropped as it arrives.
struct Awaited {
    ids: Vec<String>,
    kept: Vec<QueryStatus>,
}

impl Sink<QueryStatus> for Awaited {
    type Value = Vec<QueryStatus>;

    fn take(&mut self, status: QueryStatus) -> Result<(), String> {
        let Some(id) = status.query_id.as_deref() else {
            return Ok(());
        };
        if !self.ids.iter().any(|wanted| wanted == id) {
            return Ok(());
        }
        let mut same = self
            .kept
            .iter()
            .filter(|kept| kept.query_id.as_deref() == Some(id));
        let keep = match (same.next(), same.next()) {
            (None, _) => true,
            (Some(first), None) => *first != status,
            (Some(_), Some(_)) => false,
        };
        if keep {
            self.kept.push(status);
        }
        Ok(())
    }

    fn finish(self) -> Vec<QueryStatus> {
        self.kept
    }
}

/// A 404 names the query, not a cache.
pub(super) fn query_error(err: FetchError) -> FetchError {
    match err {
        FetchError::NotFound(message) => FetchError::NotFound(message.replace(
            "check --project-id and --cache-id",
            "check --project-id and the materialized query id",
        )),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: Option<&str>, status: &str) -> QueryStatus {
        QueryStatus {
            query_id: id.map(str::to_owned),
            status: Some(status.to_owned()),
            ..QueryStatus::default()
        }
    }

    #[test]
    fn the_list_keeps_the_awaited_entries_and_a_second_only_when_it_differs() {
        let mut sink = Awaited {
            ids: vec!["q1".into(), "q2".into()],
            kept: Vec::new(),
        };
        for status in [
            entry(Some("other"), "RUNNING"),
            entry(None, "RUNNING"),
            entry(Some("q1"), "RUNNING"),
            entry(Some("q1"), "RUNNING"),
            entry(Some("q2"), "COMPLETED"),
            entry(Some("q1"), "FAILED"),
            entry(Some("q1"), "COMPLETED"),
        ] {
            sink.take(status).unwrap();
        }
        assert_eq!(
            sink.finish(),
            [
                entry(Some("q1"), "RUNNING"),
                entry(Some("q2"), "COMPLETED"),
                entry(Some("q1"), "FAILED"),
            ]
        );
    }

    #[test]
    fn a_404_names_the_query_not_a_cache() {
        let err = query_error(FetchError::NotFound(
            "not found (HTTP 404); check --project-id and --cache-id".into(),
        ));
        assert_eq!(
            err.message(),
            "not found (HTTP 404); check --project-id and the materialized query id"
        );
        let other = query_error(FetchError::Api("check --project-id and --cache-id".into()));
        assert_eq!(other.message(), "check --project-id and --cache-id");
    }
}
