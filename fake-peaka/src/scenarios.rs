//! The catalogue of scenarios: what each cache id does over time, as the
//! one list `fake-peaka --help`, the README and the tests share, and how an
//! id is read into a [`Scenario`]. What a scenario shows at a given moment
//! is played in `play.rs`; its past runs are in `history.rs`.

use std::time::Duration;

use jiff::SignedDuration;

/// How long a triggered execution's record takes to appear in its slot:
/// the live API shows the full-refresh record a few seconds after the
/// trigger call returns, while the top-level status is already RUNNING.
pub const TRIGGER_APPEARS_AFTER: Duration = Duration::from_millis(1500);

/// How long the live API took to answer a full-refresh trigger; the
/// `triggered-slowly-…` scenarios answer after it.
pub const SLOW_TRIGGER_ANSWER: Duration = Duration::from_millis(2300);

/// Every scenario, as an example cache id and what it does: the one list
/// that `fake-peaka --help`, the README and the tests share. D is any
/// duration (`500ms`, `12s`, `2m`, `1h30m`).
pub const SCENARIOS: &[(&str, &str)] = &[
    ("completes-after-3s", "RUNNING, then COMPLETED after D"),
    ("fails-after-3s", "RUNNING, then FAILED after D"),
    ("cancelled-after-3s", "RUNNING, then CANCELLED after D"),
    (
        "stuck",
        "RUNNING forever, no progress, updatedAt == createdAt",
    ),
    (
        "flaky-completes-after-3s",
        "as completes-after-D; every other request 503",
    ),
    (
        "mostly-down-completes-after-3s",
        "as completes-after-D; four requests in five 503",
    ),
    (
        "rate-limited-completes-after-3s",
        "as completes-after-D; every other request 429 with Retry-After: 1",
    ),
    (
        "triggered-completes-after-3s",
        "idle until triggered; the triggered refresh completes after D",
    ),
    (
        "triggered-fails-after-3s",
        "idle until triggered; the triggered refresh fails after D",
    ),
    (
        "triggered-never-appears",
        "idle; a trigger is accepted but its record never appears",
    ),
    (
        "triggered-stuck",
        "idle until triggered; the triggered refresh never moves (a cancel ends it CANCELLED)",
    ),
    (
        "trigger-rejected",
        "idle; every trigger is refused with Peaka's 400",
    ),
    (
        "triggered-slowly-completes-after-3s",
        "as triggered-completes-after-D, but the trigger is answered after 2.3 s, as live",
    ),
    (
        "triggered-never-picked-up",
        "idle until triggered; the record appears and is never touched, and a cancel answers 404 no active workflow",
    ),
    (
        "triggered-then-scheduled-after-3s",
        "as triggered-completes-after-D, then a scheduled run starts in the slot and runs on (the triggered one is only in the history)",
    ),
    (
        "never-picked-up-10m",
        "RUNNING, no progress, updatedAt == createdAt, created D before the first request and never touched",
    ),
    (
        "flips-after-3s",
        "execution A completes at D while B starts in the same slot",
    ),
    ("flips-failing-after-3s", "as flips-after-D, but A fails"),
    (
        "finished-ago-5m",
        "COMPLETED, finished D before the first request",
    ),
    ("slow-5s", "COMPLETED, each reply sent after D"),
    ("unauthorized", "always 401"),
    ("forbidden", "always 403"),
    ("bad-request", "always 400"),
    ("server-error", "always 500"),
    ("malformed", "200 with a body that is not JSON"),
    ("deleted", "a completed execution under a top-level DELETED"),
    ("redirect", "301 to another host"),
    (
        "unknown-status",
        "an execution in a status the client does not know",
    ),
];

/// The rest of the fake's rules, after [`SCENARIOS`], for `--help` and the
/// README.
pub const SCENARIO_RULES: &str = "\
A full- prefix puts a refresh in the full-refresh slot (full-completes-after-5s).
D is any duration: 500ms, 12s, 2m, 1h30m.
A ~tag suffix makes an id unique, with a fresh timeline (stuck~job-7).
Any other id is a 404.
A project's list (GET .../projects/P/cache/status, used with several --cache-id
or --all-caches) holds the caches configured for P (--project P=ID,ID; project
demo: completes-after-3s, full-completes-after-5s, completes-after-8s), every
id already asked about individually in P, and for a project named
many-N-SCENARIO the N caches SCENARIO~1 ... SCENARIO~N (many-3-stuck).
Each cache holds the table fake-catalog.public.<its id>; the catalog- and
schema-level lists (.../catalog/C/cache/status, .../catalog/C/schema/S/cache/status)
are the project's list filtered by them; the schema-level list answers 500, as live.
A cancel (POST .../cancelIncrementalUpdate, .../cancelFullRefreshUpdate) ends a
running triggered refresh CANCELLED; with nothing running in that slot it
answers 404 (no active workflow), and the full-refresh cancel answers 500 between
the trigger and its record's appearance, as live.
Under the base URL /site (http://HOST:PORT/site) every request gets a web page
(200, text/html), as a --base-url pointing at a web site would; under /other-api
JSON of another API (200, a message object); under /flaky-site a web page and a
502 in turn, as a proxy in front of a web site during a restart.";

/// How a refresh ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `COMPLETED`.
    Completed,
    /// `FAILED`, with an error.
    Failed,
    /// `CANCELLED`.
    Cancelled,
    /// Never: it stays `RUNNING`.
    Never,
}

impl End {
    pub(crate) fn status(self) -> &'static str {
        match self {
            End::Completed => "COMPLETED",
            End::Failed => "FAILED",
            End::Cancelled => "CANCELLED",
            End::Never => "RUNNING",
        }
    }
}

/// What a triggered refresh does besides running, as live ones were seen to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quirk {
    /// Nothing more.
    None,
    /// The trigger is answered after [`SLOW_TRIGGER_ANSWER`].
    SlowAnswer,
    /// The record appears but is never picked up: it never moves, and a
    /// cancel answers 404 "no active workflow".
    NoWorkflow,
    /// Once it completed, a scheduled run starts in the same slot and runs
    /// on: the triggered one is then only in the history.
    ThenScheduled,
}

/// What a cache does over time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    /// RUNNING from the first request, then ends after `after`.
    Refresh {
        /// The slot the execution runs in.
        full: bool,
        /// How it ends.
        end: End,
        /// Time from the first request to the end.
        after: Duration,
        /// `(status, period)`: only one request in `period` succeeds, the
        /// others fail with `status` (503, 429) and `Retry-After: 1`.
        flaky: Option<(u16, u64)>,
    },
    /// RUNNING forever, with no progress and `updatedAt == createdAt`.
    Stuck,
    /// Idle (both slots COMPLETED long ago) until triggered; the triggered
    /// record appears [`TRIGGER_APPEARS_AFTER`] later and ends `after` after that.
    Triggered {
        /// How the triggered execution ends.
        end: End,
        /// Its running time.
        after: Duration,
        /// Whether its record ever appears.
        appears: bool,
        /// What else it does as the live API was seen to.
        quirk: Quirk,
    },
    /// Execution A runs, and at `after` ends while B starts in the same
    /// slot: a poller that looks only at the slot never sees A end.
    Flips {
        /// How A ends.
        end: End,
        /// When A ends and B starts.
        after: Duration,
    },
    /// A COMPLETED execution that finished this long before the first request.
    FinishedAgo(Duration),
    /// A RUNNING execution created this long before the first request and
    /// never touched since: no progress, `updatedAt == createdAt`.
    NeverPickedUp(Duration),
    /// Always this HTTP status with a Peaka-style error body.
    Error(u16),
    /// 200 with a body that is not JSON.
    Malformed,
    /// A completed execution under a top-level `DELETED`.
    Deleted,
    /// 301 to another host.
    Redirect,
    /// A completed status, sent after this long.
    Slow(Duration),
    /// An execution in a status the client does not know.
    UnknownStatus,
    /// Status like `Triggered`, but every trigger is refused with Peaka's
    /// 400 for a cache without settings.
    TriggerRejected,
}

impl Scenario {
    /// Reads a scenario from a cache id; `None` means "no such cache".
    ///
    /// `completes-after-D`, `fails-after-D`, `cancelled-after-D`, `stuck`,
    /// `flaky-completes-after-D` (every other request 503),
    /// `mostly-down-completes-after-D` (four requests in five 503),
    /// `rate-limited-completes-after-D` (every other request 429 with
    /// `Retry-After: 1`), `triggered-completes-after-D`,
    /// `triggered-fails-after-D`, `triggered-never-appears`,
    /// `triggered-stuck` (appears, then never moves: no progress,
    /// `updatedAt == createdAt`),
    /// `trigger-rejected`, `flips-after-D`, `flips-failing-after-D`,
    /// `finished-ago-D`, `unauthorized`, `forbidden`, `bad-request`,
    /// `server-error`, `malformed`, `deleted`, `redirect`, `slow-D`,
    /// `unknown-status`; a `full-` prefix puts a refresh in the
    /// full-refresh slot. D is like `500ms`, `3s` or `2m`.
    pub fn parse(id: &str) -> Option<Scenario> {
        let id = id.split('~').next().unwrap_or(id);
        let (full, rest) = match id.strip_prefix("full-") {
            Some(rest) => (true, rest),
            None => (false, id),
        };
        let refresh = |end, after: &str, flaky| {
            Some(Scenario::Refresh {
                full,
                end,
                after: parse_duration(after)?,
                flaky,
            })
        };
        type Make<'a> = &'a dyn Fn(&str) -> Option<Scenario>;
        let prefixed: [(&str, Make); 16] = [
            ("completes-after-", &|d| refresh(End::Completed, d, None)),
            ("fails-after-", &|d| refresh(End::Failed, d, None)),
            ("cancelled-after-", &|d| refresh(End::Cancelled, d, None)),
            ("flaky-completes-after-", &|d| {
                refresh(End::Completed, d, Some((503, 2)))
            }),
            ("mostly-down-completes-after-", &|d| {
                refresh(End::Completed, d, Some((503, 5)))
            }),
            ("rate-limited-completes-after-", &|d| {
                refresh(End::Completed, d, Some((429, 2)))
            }),
            ("triggered-completes-after-", &|d| {
                Some(Scenario::Triggered {
                    end: End::Completed,
                    after: parse_duration(d)?,
                    appears: true,
                    quirk: Quirk::None,
                })
            }),
            ("triggered-slowly-completes-after-", &|d| {
                Some(Scenario::Triggered {
                    end: End::Completed,
                    after: parse_duration(d)?,
                    appears: true,
                    quirk: Quirk::SlowAnswer,
                })
            }),
            ("triggered-then-scheduled-after-", &|d| {
                Some(Scenario::Triggered {
                    end: End::Completed,
                    after: parse_duration(d)?,
                    appears: true,
                    quirk: Quirk::ThenScheduled,
                })
            }),
            ("triggered-fails-after-", &|d| {
                Some(Scenario::Triggered {
                    end: End::Failed,
                    after: parse_duration(d)?,
                    appears: true,
                    quirk: Quirk::None,
                })
            }),
            ("never-picked-up-", &|d| {
                parse_duration(d).map(Scenario::NeverPickedUp)
            }),
            ("flips-after-", &|d| {
                Some(Scenario::Flips {
                    end: End::Completed,
                    after: parse_duration(d)?,
                })
            }),
            ("flips-failing-after-", &|d| {
                Some(Scenario::Flips {
                    end: End::Failed,
                    after: parse_duration(d)?,
                })
            }),
            ("finished-ago-", &|d| {
                parse_duration(d).map(Scenario::FinishedAgo)
            }),
            ("slow-", &|d| parse_duration(d).map(Scenario::Slow)),
            ("stuck", &|d| d.is_empty().then_some(Scenario::Stuck)),
        ];
        for (prefix, make) in prefixed {
            if let Some(rest) = rest.strip_prefix(prefix) {
                return make(rest);
            }
        }
        match rest {
            "triggered-stuck" => Some(Scenario::Triggered {
                end: End::Never,
                after: Duration::ZERO,
                appears: true,
                quirk: Quirk::None,
            }),
            "triggered-never-picked-up" => Some(Scenario::Triggered {
                end: End::Never,
                after: Duration::ZERO,
                appears: true,
                quirk: Quirk::NoWorkflow,
            }),
            "triggered-never-appears" => Some(Scenario::Triggered {
                end: End::Never,
                after: Duration::ZERO,
                appears: false,
                quirk: Quirk::None,
            }),
            "trigger-rejected" => Some(Scenario::TriggerRejected),
            "unauthorized" => Some(Scenario::Error(401)),
            "forbidden" => Some(Scenario::Error(403)),
            "bad-request" => Some(Scenario::Error(400)),
            "server-error" => Some(Scenario::Error(500)),
            "malformed" => Some(Scenario::Malformed),
            "deleted" => Some(Scenario::Deleted),
            "redirect" => Some(Scenario::Redirect),
            "unknown-status" => Some(Scenario::UnknownStatus),
            _ => None,
        }
    }
}

/// Any duration jiff reads: `500ms`, `12s`, `2m`, `1h30m`.
fn parse_duration(text: &str) -> Option<Duration> {
    // A bare number is no duration here either: `completes-after-3` is a typo.
    if text.is_empty() || text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let signed: SignedDuration = text.parse().ok()?;
    Duration::try_from(signed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_scenario_parses_and_the_readme_lists_it() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("the workspace README");
        for (id, _) in SCENARIOS {
            assert!(Scenario::parse(id).is_some(), "{id} does not parse");
            assert!(readme.contains(&format!("| `{id}` |")), "README lacks {id}");
        }
        for piece in [
            "many-N-SCENARIO",
            "`~tag`",
            "`full-`",
            "--project P=ID,ID",
            "`12s`",
        ] {
            assert!(readme.contains(piece), "README lacks {piece}");
        }
        for piece in [
            "many-N-SCENARIO",
            "~tag",
            "full-",
            "--project P=ID,ID",
            "12s",
        ] {
            assert!(SCENARIO_RULES.contains(piece), "--help lacks {piece}");
        }
    }

    #[test]
    fn any_duration_works_in_a_scenario() {
        for (id, after) in [
            ("completes-after-12s", 12_000),
            ("completes-after-1h30m", 5_400_000),
            ("fails-after-750ms", 750),
            ("full-completes-after-2m", 120_000),
        ] {
            match Scenario::parse(id) {
                Some(Scenario::Refresh { after: got, .. }) => {
                    assert_eq!(got, Duration::from_millis(after), "{id}")
                }
                other => panic!("{id}: {other:?}"),
            }
        }
        assert_eq!(Scenario::parse("completes-after-3"), None);
    }

    #[test]
    fn scenarios_parse_from_cache_ids() {
        assert_eq!(
            Scenario::parse("completes-after-3s"),
            Some(Scenario::Refresh {
                full: false,
                end: End::Completed,
                after: Duration::from_secs(3),
                flaky: None
            })
        );
        assert_eq!(
            Scenario::parse("full-fails-after-500ms"),
            Some(Scenario::Refresh {
                full: true,
                end: End::Failed,
                after: Duration::from_millis(500),
                flaky: None
            })
        );
        assert_eq!(Scenario::parse("stuck"), Some(Scenario::Stuck));
        assert_eq!(Scenario::parse("stuck~test-3"), Some(Scenario::Stuck));
        assert_eq!(Scenario::parse("stuckx"), None);
        assert_eq!(
            Scenario::parse("flips-after-2s"),
            Some(Scenario::Flips {
                end: End::Completed,
                after: Duration::from_secs(2)
            })
        );
        assert_eq!(Scenario::parse("completes-after-3"), None);
        assert_eq!(Scenario::parse("orders"), None);
    }
}
