//! The pure rule for materialized queries: one query's status, the bounds
//! and (after `--refresh-query`) the start time seen before the refresh →
//! waiting, ready or failed.
//!
//! A query's status has no execution id, and after a refresh request it
//! keeps its previous terminal value until the new run starts: only
//! `lastExecutionStartTime` moving past the one seen before the request
//! shows the new run. A freshly created query reports `COMPLETED` with no
//! times, though nothing has been materialized: `COMPLETED` without a start
//! time is never ready. No clock, no I/O: the table tests below pin each rule.

use jiff::Timestamp;

use crate::api::Status;

/// What a query is held to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryCriteria {
    /// `--since`: a terminal status counts only if it ended (`lastUpdateTime`)
    /// at or after this.
    pub since: Option<Timestamp>,
    /// `--started-after`: a run counts only if it started
    /// (`lastExecutionStartTime`) at or after this.
    pub started_after: Option<Timestamp>,
    /// `--refresh-query`: the refresh was sent; only a run whose start is
    /// later than this (the start seen before the request, `None` for a
    /// query that never ran) is the refreshed one.
    pub refreshed_from: Option<Option<Timestamp>>,
}

/// The times and status of one materialized query, as the rule needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryFacts<'a> {
    /// `status` as Peaka spells it (`CANCELED`), if it sent one.
    pub status: Option<&'a str>,
    /// `lastExecutionStartTime`.
    pub started_at: Option<Timestamp>,
    /// `lastUpdateTime`.
    pub updated_at: Option<Timestamp>,
}

/// Where a query stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryVerdict {
    /// Not decided yet: poll again.
    Waiting,
    /// The counting run `COMPLETED`, with a start time to show for it.
    Ready,
    /// The counting run ended `FAILED` or `CANCELED`.
    Failed,
}

/// The verdict, and one sentence saying why, for logs and the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryDecision {
    /// Where the query stands.
    pub verdict: QueryVerdict,
    /// Why, in words.
    pub detail: String,
}

fn waiting(detail: impl Into<String>) -> QueryDecision {
    QueryDecision {
        verdict: QueryVerdict::Waiting,
        detail: detail.into(),
    }
}

/// Whether a run that started at `started_at` is a new one, against the
/// start seen before a refresh (`None`: the query had never run).
pub fn is_new_run(started_at: Option<Timestamp>, before: Option<Timestamp>) -> bool {
    match (started_at, before) {
        (Some(now), Some(before)) => now > before,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Decides where one materialized query stands.
pub fn decide_query(facts: QueryFacts<'_>, criteria: &QueryCriteria) -> QueryDecision {
    if let Some(before) = criteria.refreshed_from {
        if !is_new_run(facts.started_at, before) {
            return waiting(
                "the refreshed run has not started yet (lastExecutionStartTime has not moved)",
            );
        }
    }
    let status = facts.status.map(Status::parse);
    let terminal = status.as_ref().is_some_and(Status::is_terminal);
    if !terminal {
        let shown = facts.status.unwrap_or("no status");
        return waiting(format!("the query is {shown}"));
    }
    let Some(started) = facts.started_at else {
        return waiting(
            "no run to show (lastExecutionStartTime is null): nothing has been materialized yet",
        );
    };
    // A terminal status older than the run's start belongs to an earlier run.
    if facts.updated_at.is_some_and(|updated| updated < started) {
        return waiting(
            "the status is older than the last run's start (lastUpdateTime before lastExecutionStartTime)",
        );
    }
    if let Some(bound) = criteria.started_after {
        if started < bound {
            return waiting("the last run started before the --started-after bound");
        }
    }
    if let Some(bound) = criteria.since {
        match facts.updated_at {
            None => {
                return waiting(
                    "the end of the last run is not known (lastUpdateTime is null), so --since cannot be shown",
                );
            }
            Some(updated) if updated < bound => {
                return waiting("the last run ended before the --since bound");
            }
            Some(_) => {}
        }
    }
    match status {
        Some(Status::Completed) => QueryDecision {
            verdict: QueryVerdict::Ready,
            detail: "the query's run COMPLETED".to_owned(),
        },
        _ => QueryDecision {
            verdict: QueryVerdict::Failed,
            detail: format!("the query's run ended {}", facts.status.unwrap_or_default()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<Timestamp> {
        Some(text.parse().unwrap())
    }

    const T0: &str = "2026-12-07T10:00:00Z";
    const T1: &str = "2026-12-07T10:00:05Z";
    const T2: &str = "2026-12-07T10:00:10Z";

    fn facts<'a>(status: &'a str, started: Option<&str>, updated: Option<&str>) -> QueryFacts<'a> {
        QueryFacts {
            status: Some(status),
            started_at: started.and_then(at),
            updated_at: updated.and_then(at),
        }
    }

    fn verdict(facts: QueryFacts<'_>, criteria: QueryCriteria) -> QueryVerdict {
        decide_query(facts, &criteria).verdict
    }

    #[test]
    fn the_current_status_without_bounds() {
        use QueryVerdict::*;
        let none = QueryCriteria::default();
        let table = [
            (facts("COMPLETED", Some(T0), Some(T1)), Ready),
            (facts("COMPLETED", Some(T0), None), Ready),
            (facts("RUNNING", Some(T0), Some(T0)), Waiting),
            (facts("FAILED", Some(T0), Some(T1)), Failed),
            (facts("CANCELED", Some(T0), Some(T1)), Failed),
            (facts("CANCELLED", Some(T0), Some(T1)), Failed),
            (facts("QUEUED", Some(T0), Some(T1)), Waiting),
            // A new query: COMPLETED with both times null is no proof.
            (facts("COMPLETED", None, None), Waiting),
            (facts("COMPLETED", None, Some(T1)), Waiting),
            (facts("FAILED", None, Some(T1)), Waiting),
            // An end before the start is an earlier run's status.
            (facts("COMPLETED", Some(T1), Some(T0)), Waiting),
            (facts("COMPLETED", Some(T1), Some(T1)), Ready),
        ];
        for (facts, expected) in table {
            assert_eq!(verdict(facts, none), expected, "{facts:?}");
        }
        let no_status = QueryFacts {
            status: None,
            started_at: at(T0),
            updated_at: at(T1),
        };
        assert_eq!(verdict(no_status, none), Waiting);
        assert!(
            decide_query(facts("CANCELED", Some(T0), Some(T1)), &none)
                .detail
                .contains("CANCELED")
        );
    }

    #[test]
    fn since_compares_the_end_and_started_after_the_start() {
        use QueryVerdict::*;
        let since = |b: &str| QueryCriteria {
            since: at(b),
            ..QueryCriteria::default()
        };
        let after = |b: &str| QueryCriteria {
            started_after: at(b),
            ..QueryCriteria::default()
        };
        let done = facts("COMPLETED", Some(T0), Some(T1));
        let failed = facts("FAILED", Some(T0), Some(T1));
        // --since: the end, at or after the bound.
        assert_eq!(verdict(done, since(T1)), Ready);
        assert_eq!(verdict(done, since(T0)), Ready);
        assert_eq!(verdict(done, since(T2)), Waiting);
        assert_eq!(verdict(failed, since(T1)), Failed);
        assert_eq!(verdict(failed, since(T2)), Waiting);
        assert_eq!(
            verdict(facts("COMPLETED", Some(T0), None), since(T0)),
            Waiting
        );
        // --started-after: the start, at or after the bound.
        assert_eq!(verdict(done, after(T0)), Ready);
        assert_eq!(verdict(done, after(T1)), Waiting);
        assert_eq!(verdict(failed, after(T0)), Failed);
        assert_eq!(verdict(failed, after(T1)), Waiting);
        // Without an end, --started-after alone can still prove the run.
        assert_eq!(
            verdict(facts("COMPLETED", Some(T1), None), after(T1)),
            Ready
        );
        assert_eq!(verdict(facts("COMPLETED", None, None), after(T0)), Waiting);
    }

    #[test]
    fn after_a_refresh_only_a_start_past_the_one_seen_before_counts() {
        use QueryVerdict::*;
        let from = |b: Option<&str>| QueryCriteria {
            refreshed_from: Some(b.and_then(at)),
            ..QueryCriteria::default()
        };
        // The stale terminal status keeps its old start: not the new run.
        assert_eq!(
            verdict(facts("COMPLETED", Some(T0), Some(T1)), from(Some(T0))),
            Waiting
        );
        assert_eq!(
            verdict(facts("FAILED", Some(T0), Some(T1)), from(Some(T0))),
            Waiting
        );
        assert_eq!(
            verdict(facts("CANCELED", Some(T0), Some(T1)), from(Some(T0))),
            Waiting
        );
        // An older start (a clock or a replica behind) is not the new run.
        assert_eq!(
            verdict(facts("COMPLETED", Some(T0), Some(T2)), from(Some(T1))),
            Waiting
        );
        // The start moved: the new run decides.
        assert_eq!(
            verdict(facts("RUNNING", Some(T1), Some(T1)), from(Some(T0))),
            Waiting
        );
        assert_eq!(
            verdict(facts("COMPLETED", Some(T1), Some(T2)), from(Some(T0))),
            Ready
        );
        assert_eq!(
            verdict(facts("FAILED", Some(T1), Some(T2)), from(Some(T0))),
            Failed
        );
        assert_eq!(
            verdict(facts("CANCELED", Some(T1), Some(T2)), from(Some(T0))),
            Failed
        );
        // Moving, yet the status still the earlier run's end: not yet.
        assert_eq!(
            verdict(facts("COMPLETED", Some(T1), Some(T0)), from(Some(T0))),
            Waiting
        );
        // A new query (null times) refreshed: any start is the new run.
        assert_eq!(verdict(facts("COMPLETED", None, None), from(None)), Waiting);
        assert_eq!(
            verdict(facts("COMPLETED", Some(T0), Some(T1)), from(None)),
            Ready
        );
        assert_eq!(
            verdict(facts("COMPLETED", None, None), from(Some(T0))),
            Waiting
        );
        assert!(
            decide_query(facts("COMPLETED", Some(T0), Some(T1)), &from(Some(T0)))
                .detail
                .contains("not started")
        );
    }
}
