//! A scripted fake of Peaka's cache API, for peaka-wait's tests, demo and
//! benchmarks. It never talks to Peaka.
//!
//! The cache id *is* the scenario, so one server serves every case without
//! configuration (see [`Scenario::parse`] for the list); any other id is a
//! 404, as Peaka answers. Text after a `~` is a tag that makes an id unique
//! (`stuck~test-3`), so tests sharing one server do not share a timeline.
//! Each cache's clock starts at its first request, so a scenario plays the
//! same however long the client took to start.
//!
//! Endpoints: the status of one cache, the statuses of a project's caches,
//! a cache's execution history, the two triggers and the two cancels
//! (`src/cancel.rs`). A project's caches
//! are the ones configured for it in [`Options::projects`], or, for a
//! project id `many-N-SCENARIO`, N caches `SCENARIO~1` … `SCENARIO~N`.
//!
//! Where things are: `scenarios.rs` lists and parses the scenarios,
//! `play.rs` plays one at a moment, `history.rs` gives its past runs;
//! `server.rs` holds the shared state, the routes and the reply helpers,
//! and the endpoints are `status.rs`, `trigger.rs`, `cancel.rs` and
//! `catalog.rs`; `queries.rs` is the materialized queries, scenarios and
//! endpoints both; `variation.rs` draws the varied refreshes of `--seed`.
//! `faults.rs` and `tls.rs` are servers that misbehave below
//! HTTP.

mod cancel;
mod catalog;
pub mod faults;
mod history;
mod play;
mod queries;
mod scenarios;
mod server;
mod status;
pub mod tls;
mod trigger;
mod variation;

use std::collections::HashMap;

use jiff::SignedDuration;

pub use history::{PAST_RUNS, SCHEDULE_PERIOD};
pub use queries::{QUERY_RULES, QUERY_SCENARIOS, REFRESH_RUNS_FOR, REFRESH_STARTS_AFTER};
pub use scenarios::{
    End, Quirk, SCENARIO_RULES, SCENARIOS, SLOW_TRIGGER_ANSWER, Scenario, TRIGGER_APPEARS_AFTER,
};
pub use server::{Running, start};
pub use variation::{DEFAULT_SPREAD, MAX_SPREAD_PERCENT, Variation};

/// `fake-peaka`'s flags and what each does: the one list `--help` and the
/// README share (a test checks the README).
pub const FLAGS: &[(&str, &str)] = &[
    (
        "--port PORT",
        "listen on this port of 127.0.0.1 (default: any free port)",
    ),
    (
        "--api-key KEY",
        "the key accepted as Bearer (default: demo-key)",
    ),
    (
        "--prefix /api/v1",
        "the path before /data/projects/... (default: /api/v1)",
    ),
    (
        "--project P=ID,ID",
        "the caches of project P's list (repeatable)",
    ),
    (
        "--seed N",
        "vary the completes-/fails-/cancelled-after-D refreshes (and their flaky-, mostly-down-, rate-limited- forms) as the simulation's model does: each lasts D ± spread and ends with 100 records a nominal second ± spread/2, and so do its 12 past runs; a failing one fails within the middle 80 % of its run; the same seed and cache id give the same end",
    ),
    (
        "--spread PCT",
        "with --seed: how far a refresh strays from D, in percent (default 20, at most 90)",
    ),
];

/// The API key the fake accepts unless told otherwise.
pub const DEMO_KEY: &str = "demo-key";

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The key it accepts as `Authorization: Bearer <key>`.
    pub api_key: String,
    /// The path prefix before `/data/projects/…` (like Peaka's `/api/v1`).
    pub prefix: String,
    /// How far the fake's clock is from the machine's: its timestamps and
    /// `Date` headers are shifted by this much.
    pub clock_offset: SignedDuration,
    /// The caches of each project, for the project-level status list.
    pub projects: HashMap<String, Vec<String>>,
    /// The table each cache holds, as `[catalogId, schemaName, tableName]`;
    /// a cache not listed holds `fake-catalog.public.<its id>`.
    pub tables: HashMap<String, [String; 3]>,
    /// `--seed N --spread PCT`: refreshes that vary as the simulation's
    /// model says; `None`, each lasts exactly its nominal length.
    pub variation: Option<Variation>,
}

impl Default for Options {
    fn default() -> Self {
        let demo = [
            "completes-after-3s",
            "full-completes-after-5s",
            "completes-after-8s",
        ];
        Options {
            api_key: DEMO_KEY.into(),
            prefix: "/api/v1".into(),
            clock_offset: SignedDuration::ZERO,
            projects: HashMap::from([(
                "demo".to_owned(),
                demo.iter().map(|s| s.to_string()).collect(),
            )]),
            tables: HashMap::new(),
            variation: None,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_flag_of_the_help_is_in_the_readme() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("the workspace README");
        for (flag, what) in super::FLAGS {
            assert!(
                readme.contains(&format!("| `{flag}` | {what} |")),
                "README lacks the row of {flag}"
            );
        }
    }
}
