//! The one retry policy of every request loop (the poll round, the setup's
//! lists and reads, the trigger, `--list-caches`): which failures end the
//! run at once, which are retried and for how long, the time budget of
//! each request, and the pause before the next attempt with the server's
//! `Retry-After`.
//!
//! The loops keep only what differs: what they ask, and how they say what
//! they were doing when the time ran out. Sorting an HTTP answer into a
//! [`FetchError`] is [`crate::client`]'s (`client/answer.rs`); what each
//! kind means for the run is decided here.
//!
//! Its users: the poll round (`gate/round.rs`), the setup's project list
//! (`gate/setup.rs`), the names of `--table` and `--catalog-id`
//! (`gate/tables.rs`), the trigger (`gate/trigger.rs`), the forecast's
//! reads (`gate/planning.rs`) and `--list-caches` (`list.rs`). The gate's
//! deadline is this policy's ([`RetryPolicy::deadline`]); no loop keeps a
//! copy of it.

use std::time::Duration;

use tokio::time::Instant;

use crate::client::FetchError;
use crate::exit_codes::Outcome;
use crate::timespec::format_duration;

/// The last request, at the deadline, still gets this long to answer
/// (capped by `--request-timeout`), so a run ends within `--timeout` + 1 s.
pub const FINAL_REQUEST_BUDGET: Duration = Duration::from_millis(750);

/// `--timeout 0` checks once "at once": however slow the server, the run
/// ends this long after it started.
pub const CHECK_ONCE_LIMIT: Duration = Duration::from_secs(5);

/// A mistake that does not fix itself (a host name that does not exist, a
/// web page where the API should be) seen on every request for this long
/// ends the run with `api_error`. Shorter would give up on a pod's DNS
/// that is wrong for a moment, or a proxy's error page during a restart.
pub const MISTAKE_LIMIT: Duration = Duration::from_secs(60);

/// Peaka takes about 2.3 s to answer a trigger: its request gets at least
/// this long, whatever `--request-timeout` says (within the deadline).
/// A trigger cut short may still have started a refresh, and is never
/// sent again, so it is worth the wait.
pub const TRIGGER_BUDGET_FLOOR: Duration = Duration::from_secs(10);

/// What to do after a failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Try again after the pause, at least this long if the server asked.
    Retry(Option<Duration>),
    /// Give up: the outcome, and why (without the loop's subject).
    End(Outcome, String),
}

/// A mistake that is retried only until [`MISTAKE_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mistake {
    NoSuchHost,
    NotTheApi,
}

/// The retry policy of one run: its deadline, the request limit, and how
/// long a mistake that does not fix itself has been seen.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    deadline: Instant,
    request_timeout: Duration,
    check_once: bool,
    /// The first mistake since Peaka's API last answered, and when; only an
    /// answer clears it. Other errors in between (a 502 from the proxy that
    /// serves the web page, a resolver that fails before one that says
    /// NXDOMAIN) do not start the count anew: a mistake that alternates
    /// with them does not fix itself either.
    mistake: Option<(Mistake, Instant)>,
    /// Whether every failure since the first mistake was that same mistake.
    mistake_alone: bool,
}

impl FetchError {
    /// The outcome this error ends the run with at once, or `None` when it
    /// is retried instead (for a while: see [`RetryPolicy::failed`]).
    pub fn outcome(&self) -> Option<Outcome> {
        match self {
            FetchError::Unreached(_)
            | FetchError::NoSuchHost(_)
            | FetchError::NotTheApi(_)
            | FetchError::Transient { .. } => None,
            FetchError::Unauthorized(_) => Some(Outcome::Unauthorized),
            FetchError::NotFound(_) => Some(Outcome::NotFound),
            FetchError::Api(_) | FetchError::Certificate(_) => Some(Outcome::ApiError),
        }
    }
}

impl RetryPolicy {
    /// The policy of a run started at `started` with `--timeout` and
    /// `--request-timeout`; a zero timeout checks once.
    pub fn new(started: Instant, timeout: Duration, request_timeout: Duration) -> Self {
        RetryPolicy {
            deadline: deadline(started, timeout),
            request_timeout,
            check_once: timeout.is_zero(),
            mistake: None,
            mistake_alone: true,
        }
    }

    /// When the run gives up.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The time budget of the next request: `--request-timeout`, cut by the
    /// deadline, but never below [`FINAL_REQUEST_BUDGET`] for the last one.
    pub fn budget(&self) -> Duration {
        let now = Instant::now();
        let left = self.deadline.saturating_duration_since(now);
        if self.check_once {
            // No request of a single check runs past its deadline.
            return left.min(self.request_timeout);
        }
        // Nothing runs past deadline + FINAL_REQUEST_BUDGET.
        let hard_left = (self.deadline + FINAL_REQUEST_BUDGET).saturating_duration_since(now);
        left.max(FINAL_REQUEST_BUDGET)
            .min(hard_left)
            .min(self.request_timeout)
    }

    /// The budget of a trigger: [`Self::budget`], raised to
    /// [`TRIGGER_BUDGET_FLOOR`] while the deadline allows.
    pub fn trigger_budget(&self) -> Duration {
        let left = self.deadline.saturating_duration_since(Instant::now());
        self.budget().max(TRIGGER_BUDGET_FLOOR.min(left))
    }

    /// A reply that was Peaka's API: every mistake's count starts anew.
    pub fn answered(&mut self) {
        self.mistake = None;
        self.mistake_alone = true;
    }

    /// After a failed request: end at once on a final error, or on a
    /// mistake when the first mistake since the API last answered is
    /// [`MISTAKE_LIMIT`] old; else retry, honouring the server's
    /// `Retry-After`.
    pub fn failed(&mut self, err: &FetchError) -> Next {
        if let Some(outcome) = err.outcome() {
            return Next::End(outcome, err.message().to_owned());
        }
        let mistake = match err {
            FetchError::NoSuchHost(_) => Some(Mistake::NoSuchHost),
            FetchError::NotTheApi(_) => Some(Mistake::NotTheApi),
            _ => None,
        };
        let Some(mistake) = mistake else {
            if self.mistake.is_some() {
                self.mistake_alone = false;
            }
            return Next::Retry(match err {
                FetchError::Transient { retry_after, .. } => *retry_after,
                _ => None,
            });
        };
        let since = match self.mistake {
            Some((first, since)) => {
                if first != mistake {
                    self.mistake_alone = false;
                }
                since
            }
            None => {
                let now = Instant::now();
                self.mistake = Some((mistake, now));
                now
            }
        };
        let lasted = since.elapsed();
        if lasted < MISTAKE_LIMIT {
            return Next::Retry(None);
        }
        let how_long = format_duration(lasted);
        let message = match mistake {
            _ if !self.mistake_alone => format!(
                "{}; Peaka's API did not answer any request for {how_long}, and this mistake does not fix itself, so the gate stopped trying",
                err.message()
            ),
            Mistake::NoSuchHost => {
                format!(
                    "{}; it did not resolve for {how_long}, so the gate stopped trying",
                    err.message()
                )
            }
            Mistake::NotTheApi => {
                format!(
                    "{}; every reply for {how_long} was like that",
                    err.message()
                )
            }
        };
        Next::End(Outcome::ApiError, message)
    }

    /// The pause before the next attempt after `delay` from the schedule
    /// and the server's `retry_after`, or `None` when there is no time
    /// left for one (or the run checks once).
    pub fn pause(&self, delay: Duration, retry_after: Option<Duration>) -> Option<Duration> {
        let now = Instant::now();
        if self.check_once || now >= self.deadline {
            return None;
        }
        Some(crate::schedule::pause(
            delay,
            retry_after,
            self.deadline - now,
        ))
    }
}

/// When a run gives up: `timeout` after the start, or [`CHECK_ONCE_LIMIT`]
/// after it for a single check. A deadline beyond what the clock can hold
/// is as good as none.
fn deadline(started: Instant, timeout: Duration) -> Instant {
    let limit = if timeout.is_zero() {
        CHECK_ONCE_LIMIT
    } else {
        timeout
    };
    started
        .checked_add(limit)
        .or_else(|| started.checked_add(Duration::from_secs(10 * 365 * 24 * 3600)))
        .unwrap_or(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::new(
            Instant::now(),
            Duration::from_secs(600),
            Duration::from_secs(10),
        )
    }

    #[test]
    fn final_errors_end_at_once_and_the_rest_are_retried() {
        let table = [
            (
                FetchError::Unauthorized("u".into()),
                Some(Outcome::Unauthorized),
            ),
            (FetchError::NotFound("n".into()), Some(Outcome::NotFound)),
            (FetchError::Api("a".into()), Some(Outcome::ApiError)),
            (FetchError::Certificate("c".into()), Some(Outcome::ApiError)),
            (FetchError::Unreached("r".into()), None),
            (FetchError::NoSuchHost("h".into()), None),
            (FetchError::NotTheApi("w".into()), None),
            (
                FetchError::Transient {
                    cause: "t".into(),
                    status: Some(503),
                    retry_after: Some(Duration::from_secs(3)),
                },
                None,
            ),
        ];
        for (err, want) in table {
            let next = policy().failed(&err);
            match want {
                Some(outcome) => assert_eq!(
                    next,
                    Next::End(outcome, err.message().to_owned()),
                    "{err:?}"
                ),
                None => assert!(matches!(next, Next::Retry(_)), "{err:?}: {next:?}"),
            }
        }
        let throttled = FetchError::Transient {
            cause: "429".into(),
            status: Some(429),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            policy().failed(&throttled),
            Next::Retry(Some(Duration::from_secs(3)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_mistake_on_every_request_for_a_minute_ends_with_api_error() {
        for (err, says) in [
            (
                FetchError::NoSuchHost("cannot resolve h".into()),
                "it did not resolve for 1m, so the gate stopped trying",
            ),
            (
                FetchError::NotTheApi("a web page".into()),
                "every reply for 1m",
            ),
        ] {
            let mut policy = policy();
            assert_eq!(policy.failed(&err), Next::Retry(None));
            tokio::time::advance(MISTAKE_LIMIT - Duration::from_millis(1)).await;
            assert_eq!(policy.failed(&err), Next::Retry(None));
            tokio::time::advance(Duration::from_millis(1)).await;
            match policy.failed(&err) {
                Next::End(Outcome::ApiError, message) => {
                    assert!(message.starts_with(err.message()), "{message}");
                    assert!(message.contains(says), "{message}");
                }
                other => panic!("{err:?}: {other:?}"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn only_an_answer_of_the_api_starts_the_count_anew() {
        let host = FetchError::NoSuchHost("h".into());
        let mut policy = policy();
        policy.failed(&host);
        tokio::time::advance(Duration::from_secs(50)).await;
        policy.answered();
        tokio::time::advance(Duration::from_secs(50)).await;
        assert_eq!(policy.failed(&host), Next::Retry(None));
    }

    #[tokio::test(start_paused = true)]
    async fn a_mistake_alternating_with_other_errors_still_ends_after_a_minute() {
        let host = FetchError::NoSuchHost("cannot resolve h".into());
        let page = FetchError::NotTheApi("a web page".into());
        let refused = FetchError::Unreached("refused".into());
        let bad_gateway = FetchError::Transient {
            cause: "HTTP 502".into(),
            status: Some(502),
            retry_after: None,
        };
        for (first, between) in [
            (&host, &refused),
            (&page, &bad_gateway),
            (&host, &page),
            (&page, &host),
        ] {
            let mut policy = policy();
            assert_eq!(policy.failed(first), Next::Retry(None));
            for _ in 0..5 {
                tokio::time::advance(Duration::from_secs(10)).await;
                assert!(matches!(policy.failed(between), Next::Retry(_)));
                assert_eq!(policy.failed(first), Next::Retry(None));
            }
            tokio::time::advance(Duration::from_secs(10)).await;
            // Another error at the minute is retried: only a mistake ends.
            if between.outcome().is_none()
                && !matches!(
                    between,
                    FetchError::NoSuchHost(_) | FetchError::NotTheApi(_)
                )
            {
                assert!(matches!(policy.failed(between), Next::Retry(_)));
            }
            match policy.failed(first) {
                Next::End(Outcome::ApiError, message) => {
                    assert!(message.starts_with(first.message()), "{message}");
                    assert!(
                        message.contains("did not answer any request for 1m"),
                        "{message}"
                    );
                }
                other => panic!("{first:?} / {between:?}: {other:?}"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn budgets_stay_within_the_deadline() {
        let policy = RetryPolicy::new(
            Instant::now(),
            Duration::from_secs(20),
            Duration::from_secs(1),
        );
        assert_eq!(policy.budget(), Duration::from_secs(1));
        // A trigger gets its floor, whatever --request-timeout says.
        assert_eq!(policy.trigger_budget(), TRIGGER_BUDGET_FLOOR);
        tokio::time::advance(Duration::from_secs(15)).await;
        assert_eq!(policy.trigger_budget(), Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(5)).await;
        // At the deadline, the last request still gets its short budget.
        assert_eq!(
            policy.budget(),
            FINAL_REQUEST_BUDGET.min(Duration::from_secs(1))
        );
        assert_eq!(policy.pause(Duration::from_secs(1), None), None);
        tokio::time::advance(FINAL_REQUEST_BUDGET).await;
        assert_eq!(policy.budget(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_single_check_never_retries_and_ends_by_its_limit() {
        let policy = RetryPolicy::new(Instant::now(), Duration::ZERO, Duration::from_secs(30));
        assert_eq!(policy.budget(), CHECK_ONCE_LIMIT);
        assert_eq!(policy.pause(Duration::from_secs(1), None), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pause_honours_retry_after_within_the_deadline() {
        let policy = RetryPolicy::new(
            Instant::now(),
            Duration::from_secs(10),
            Duration::from_secs(5),
        );
        assert_eq!(
            policy.pause(Duration::from_secs(1), Some(Duration::from_secs(4))),
            Some(Duration::from_secs(4))
        );
        assert_eq!(
            policy.pause(Duration::from_secs(1), Some(Duration::from_secs(60))),
            Some(Duration::from_secs(10))
        );
    }
}
