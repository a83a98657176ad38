//! What the process's terminal allows: whether a person watches stderr or
//! stdout, whether colour is wanted, and whether the "terminal" is a CI
//! runner's pseudo-terminal (where a redrawn line only fills the log).
//!
//! Every answer reads the injected environment, never the process's, so
//! the tests and `app::main` agree.

use std::io::IsTerminal;

/// Whether stderr is a terminal.
pub fn stderr() -> bool {
    std::io::stderr().is_terminal()
}

/// Whether stdout is a terminal.
pub fn stdout() -> bool {
    std::io::stdout().is_terminal()
}

/// Whether colour is wanted: not with `NO_COLOR` set to a non-empty value
/// (no-color.org), nor with `TERM=dumb`.
pub fn colour(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env("NO_COLOR").is_none_or(|v| v.is_empty()) && env("TERM").as_deref() != Some("dumb")
}

/// Whether this runs under CI: `CI` or `GITHUB_ACTIONS` set to anything
/// but empty, `false` or `0`. Runners (act, `docker run -t`, Jenkins,
/// GitLab) often give a pseudo-terminal whose every redraw becomes a line
/// of the job's log.
pub fn ci(env: &dyn Fn(&str) -> Option<String>) -> bool {
    ["CI", "GITHUB_ACTIONS"].iter().any(|name| {
        env(name).is_some_and(|v| {
            let v = v.trim();
            !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn colour_is_off_for_no_color_and_a_dumb_terminal() {
        assert!(colour(&env(&[("TERM", "xterm")])));
        assert!(!colour(&env(&[("TERM", "xterm"), ("NO_COLOR", "1")])));
        assert!(colour(&env(&[("TERM", "xterm"), ("NO_COLOR", "")])));
        assert!(!colour(&env(&[("TERM", "dumb")])));
    }

    #[test]
    fn ci_is_any_runner_that_says_so() {
        assert!(!ci(&env(&[])));
        assert!(ci(&env(&[("CI", "true")])));
        assert!(ci(&env(&[("CI", "1")])));
        assert!(ci(&env(&[("GITHUB_ACTIONS", "true")])));
        assert!(!ci(&env(&[("CI", "")])));
        assert!(!ci(&env(&[("CI", "false")])));
        assert!(!ci(&env(&[("CI", "0")])));
    }
}
