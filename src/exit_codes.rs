//! The one place where an outcome of the gate becomes a process exit code.
//!
//! Pipelines script against these numbers and names, so they are a contract:
//! never renumber or rename a variant.

/// How a run of the gate ended. Each outcome has one exit code and one
/// machine-readable name (the `result` field of the summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every awaited cache is ready.
    Ready,
    /// A counting execution ended `FAILED` or `CANCELLED`.
    Failed,
    /// Bad flags, environment or configuration; nothing was requested.
    Usage,
    /// The deadline passed before every cache was ready.
    Timeout,
    /// The API answered 401 or 403.
    Unauthorized,
    /// The API answered 404, or the cache is `DELETED`.
    NotFound,
    /// Any other 4xx, or a redirect.
    ApiError,
    /// `--stall-timeout`: the awaited execution stopped moving.
    Stalled,
    /// SIGINT (Ctrl-C).
    Interrupted,
    /// SIGTERM (a pod being stopped, `kill`).
    Terminated,
    /// `--trigger KIND --no-wait`: every trigger was answered 2xx; the
    /// resume token says how to wait for those refreshes later.
    Triggered,
    /// `--resume TOKEN --cancel`: Peaka accepted the cancel of the run the
    /// token names, or that run had already ended.
    Cancelled,
}

impl Outcome {
    /// The process exit code for this outcome.
    pub fn code(self) -> u8 {
        match self {
            // A triggered refresh and a cancelled (or already ended) run
            // are what was asked for: success, told apart by `result`.
            Outcome::Ready | Outcome::Triggered | Outcome::Cancelled => 0,
            Outcome::Failed => 1,
            Outcome::Usage => 2,
            Outcome::Timeout => 3,
            Outcome::Unauthorized => 4,
            Outcome::NotFound => 5,
            Outcome::ApiError => 6,
            Outcome::Stalled => 7,
            // The shell convention 128 + signal number.
            Outcome::Interrupted => 130,
            Outcome::Terminated => 143,
        }
    }

    /// The `result` name users script against (`ready`, `timeout`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ready => "ready",
            Outcome::Failed => "failed",
            Outcome::Usage => "usage_error",
            Outcome::Timeout => "timeout",
            Outcome::Unauthorized => "unauthorized",
            Outcome::NotFound => "not_found",
            Outcome::ApiError => "api_error",
            Outcome::Stalled => "stalled",
            Outcome::Interrupted | Outcome::Terminated => "interrupted",
            Outcome::Triggered => "triggered",
            Outcome::Cancelled => "cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome::*;

    #[test]
    fn codes_and_names_match_the_documented_table() {
        let table = [
            (Ready, 0, "ready"),
            (Failed, 1, "failed"),
            (Usage, 2, "usage_error"),
            (Timeout, 3, "timeout"),
            (Unauthorized, 4, "unauthorized"),
            (NotFound, 5, "not_found"),
            (ApiError, 6, "api_error"),
            (Stalled, 7, "stalled"),
            (Interrupted, 130, "interrupted"),
            (Terminated, 143, "interrupted"),
            (Triggered, 0, "triggered"),
            (Cancelled, 0, "cancelled"),
        ];
        for (outcome, code, name) in table {
            assert_eq!(outcome.code(), code, "{outcome:?}");
            assert_eq!(outcome.name(), name, "{outcome:?}");
        }
    }
}
