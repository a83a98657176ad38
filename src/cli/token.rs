//! The checks of `--no-wait`, `--resume TOKEN` and `--cancel`: the token
//! must read, name this project, and agree with whatever of the first
//! command line is repeated (`--cache-id`, `--trigger`, `--execution`), and
//! the three flags must be used in combinations that mean something. All
//! before any request, with exit 2.

use crate::api::ExecutionKind;
use crate::decision::ExecutionFilter;
use crate::resume::Token;
use crate::timespec::TimeSpec;

use super::names::Names;

/// Reads the token and checks it against the project and the cache ids
/// given (if any).
pub(super) fn read(
    text: &str,
    names: &Names<'_>,
    project_id: &str,
    cache_ids: &[String],
) -> Result<Token, String> {
    let setting = names.of("resume");
    // The value is never echoed: a user who pasted the wrong secret into
    // the wrong variable must not see it printed.
    let token = Token::decode(text).map_err(|why| format!("{setting}: {why}"))?;
    if token.project_id != project_id {
        return Err(format!(
            "{setting} is for project {} but {}: resume in the project that triggered, or trigger again",
            crate::text::printable(&token.project_id, 120),
            names.with_value("project_id", project_id)
        ));
    }
    if !cache_ids.is_empty() {
        let mut given: Vec<&str> = cache_ids.iter().map(String::as_str).collect();
        let mut triggered: Vec<&str> = token.caches.iter().map(|c| c.cache_id.as_str()).collect();
        given.sort_unstable();
        triggered.sort_unstable();
        if given != triggered {
            return Err(format!(
                "{setting} was made for the caches {} but {} names {}: give the same caches, or leave {} out (the token names them)",
                listed(&triggered),
                names.of("cache_ids"),
                listed(&given),
                names.of("cache_ids")
            ));
        }
    }
    Ok(token)
}

fn listed(ids: &[&str]) -> String {
    const SHOWN: usize = 10;
    let mut text = ids
        .iter()
        .take(SHOWN)
        .map(|id| crate::text::printable(id, 120))
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        text.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    text
}

/// `--all-caches`, `--table` or `--catalog-id` beside a token.
pub(super) fn note_ignored_selection(warnings: &mut Vec<String>) {
    warnings.push(
        "--resume: the caches are the ones the token names (found when they were triggered); --all-caches, --table and --catalog-id are not looked up again"
            .into(),
    );
}

/// The kind the token triggered; `--trigger` and `--execution`, when
/// given, must agree with it.
pub(super) fn same_kind(
    token: &Token,
    trigger: Option<ExecutionKind>,
    execution: ExecutionFilter,
    names: &Names<'_>,
) -> Result<ExecutionKind, String> {
    let setting = names.of("resume");
    if let Some(kind) = trigger.filter(|&kind| kind != token.kind) {
        return Err(format!(
            "{setting} waits for the {} it triggered, but {}: give the same --trigger, or leave it out",
            token.kind.label(),
            names.with_value("trigger", kind.as_str())
        ));
    }
    if !super::check::looks_at(execution, token.kind) {
        return Err(format!(
            "{setting} waits for the {} it triggered, so {} does not fit: leave --execution out",
            token.kind.label(),
            names.with_value("execution", execution.as_str())
        ));
    }
    Ok(token.kind)
}

/// A bound given again with `--resume` means what it meant to the first
/// process: `now` and `15m` count from its start (kept in the token), and
/// a bound left out is the one it used. An absolute one is used as given.
pub(super) fn pinned(
    given: Option<TimeSpec>,
    first: Option<jiff::Timestamp>,
    first_start: jiff::Timestamp,
) -> Option<TimeSpec> {
    match given {
        Some(TimeSpec::At(at)) => Some(TimeSpec::At(at)),
        Some(relative) => Some(TimeSpec::At(relative.resolve(first_start))),
        None => first.map(TimeSpec::At),
    }
}

/// Which of the settings that decide what a run does were given.
pub(super) struct Modes {
    pub(super) no_wait: bool,
    pub(super) resume: bool,
    pub(super) cancel: bool,
    pub(super) trigger: bool,
    pub(super) cancel_on_exit: bool,
    pub(super) command: bool,
}

/// Refuses the combinations that mean nothing.
pub(super) fn check_combination(names: &Names<'_>, modes: Modes) -> Result<(), String> {
    let no_wait = "--no-wait (PEAKA_NO_WAIT)";
    let cancel = "--cancel (PEAKA_CANCEL)";
    let resume = names.of("resume");
    if modes.no_wait {
        if modes.resume {
            return Err(format!(
                "{no_wait} triggers, and {resume} waits for what was triggered: use --no-wait for the first step and --resume for the next, not both"
            ));
        }
        if !modes.trigger {
            return Err(format!(
                "{no_wait} ends once a refresh is triggered: add --trigger incremental or --trigger full, or leave it out"
            ));
        }
        if modes.cancel_on_exit {
            return Err(format!(
                "{no_wait} ends as soon as the refresh is triggered, so --cancel-on-exit would cancel it at once: give --cancel-on-exit to the --resume step instead"
            ));
        }
        if modes.command {
            return Err(format!(
                "{no_wait} does not wait, so -- COMMAND would never run: put the command after the --resume step"
            ));
        }
    }
    if modes.cancel {
        if !modes.resume {
            return Err(format!(
                "{cancel} cancels the run a resume token names: add --resume TOKEN (or PEAKA_RESUME), the token --trigger KIND --no-wait printed"
            ));
        }
        if modes.command {
            return Err(format!(
                "{cancel} cancels the refresh, so -- COMMAND would never run: leave one of them out"
            ));
        }
    }
    Ok(())
}
