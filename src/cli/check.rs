//! The checks that turn the parsed text of every setting into a
//! [`Config`], a function per group of settings checked in a fixed order,
//! and the words for what is wrong. Which caches and queries a run is
//! about (the first group) is `selection.rs`'s; the key file is `key.rs`'s,
//! the resume token `token.rs`'s.
//!
//! A message names the setting the way the user set it: `--timeout 10`
//! on the command line, `PEAKA_TIMEOUT=10` from the environment (and, in
//! the GitHub Action, the input too). Nothing that may be the key is
//! echoed: not the key, not a key file's path.

use std::time::Duration;

use clap::ValueEnum;
use jiff::{SignedDuration, Timestamp};
use reqwest::Url;

use super::{ApiKey, Args, Config, DEFAULT_BASE_URL, Format, LogLevel, TriggerKind};
use crate::api::ExecutionKind;
use crate::decision::ExecutionFilter;
use crate::planned::ScheduleMode;

use super::key::{MIN_KEY_CHARS, read_api_key};
use super::names::Names;
use super::selection::{Selection, check_selection};
use super::token as resume;
use crate::timespec::{TimeSpec, format_duration, format_far, parse_duration, parse_time};

pub(super) fn check(
    args: Args,
    names: &Names<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, String> {
    let key = read_api_key(args.api_key_file.as_deref(), names, env);
    let from_file = key.as_ref().ok().map(|k| k.expose().to_owned());
    let result = check_settings(args, names, env, key);
    // A safety net: whatever a message echoes (a URL, an id), never the
    // key itself, from the environment or from its file.
    result.map_err(|mut message| {
        let env_key = env("PEAKA_API_KEY").map(|k| k.trim().to_owned());
        for key in [env_key, from_file].into_iter().flatten() {
            if key.len() >= MIN_KEY_CHARS {
                message = message.replace(&key, crate::secret::REDACTED);
            }
        }
        message
    })
}

fn check_settings(
    args: Args,
    names: &Names<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    key: Result<ApiKey, String>,
) -> Result<Config, String> {
    // The groups are checked in this order, so that of several mistakes
    // the same one is named first as ever.
    let Selection {
        project_id,
        cache_ids,
        tables,
        catalog,
        all_caches,
        list_caches,
        resume,
        warnings: mut warnings_early,
        queries,
    } = check_selection(&args, names, env)?;
    let api_key = key?;
    let base_url = check_base_url(
        &names.with_value("base_url", &args.base_url),
        &args.base_url,
    )?;
    let pacing = check_pacing(&args, names)?;
    let started = check_trigger(
        &args,
        names,
        env,
        resume.as_ref(),
        list_caches,
        pacing.timeout,
    )?;
    let mut warnings = Vec::new();
    let (since, started_after) =
        check_bounds(&args, names, resume.as_ref(), pacing.timeout, &mut warnings)?;
    warnings.append(&mut warnings_early);
    let log_level = check_log_level(&args, names, env)?;
    let modes = check_modes(
        &args,
        names,
        env,
        &started,
        resume.is_some(),
        list_caches,
        !queries.refresh.is_empty(),
    )?;
    if !list_caches {
        let no_cache =
            cache_ids.is_empty() && !all_caches && tables.is_empty() && catalog.is_none();
        queries.check_modes(
            started.trigger.is_some() && no_cache,
            started.no_wait || resume.is_some(),
            pacing.timeout.is_zero(),
        )?;
    }
    let proxy = crate::proxy::choose(&base_url, args.proxy.as_deref(), env)?;
    Ok(Config {
        project_id,
        cache_ids,
        all_caches,
        trigger: started.trigger,
        stall_timeout: pacing.stall_timeout,
        api_key,
        base_url,
        execution: started.execution,
        since,
        started_after,
        timeout: pacing.timeout,
        initial_interval: pacing.initial_interval,
        max_interval: pacing.max_interval,
        request_timeout: pacing.request_timeout,
        jitter: modes.jitter,
        schedule: pacing.schedule,
        detection_delay: pacing.detection_delay,
        log_format: choice::<Format>(names, "log_format", &args.log_format)?,
        log_level,
        output: choice::<Format>(names, "output", &args.output)?,
        warnings,
        tables,
        catalog,
        cancel_on_exit: modes.cancel_on_exit,
        proxy,
        command: args.command,
        pass_api_key: modes.pass_api_key,
        no_wait: started.no_wait && !list_caches,
        resume,
        cancel: started.cancel && !list_caches,
        list_caches: args.list_caches,
        list_materialized_queries: queries.list,
        materialized_queries: if list_caches {
            Vec::new()
        } else {
            queries.wait
        },
        refresh_queries: if list_caches {
            Vec::new()
        } else {
            queries.refresh
        },
    })
}

/// How long the gate waits and how often it asks, as checked.
struct Pacing {
    timeout: Duration,
    initial_interval: Duration,
    max_interval: Duration,
    request_timeout: Duration,
    stall_timeout: Option<Duration>,
    schedule: ScheduleMode,
    detection_delay: Duration,
}

/// `--timeout`, the intervals, `--request-timeout`, `--stall-timeout`,
/// `--schedule` and `--detection-delay`.
fn check_pacing(args: &Args, names: &Names<'_>) -> Result<Pacing, String> {
    let duration = |id: &str, text: &str| {
        parse_duration(text).map_err(|why| format!("{}: {why}", names.with_value(id, text)))
    };
    let timeout = duration("timeout", &args.timeout)?;
    let initial_interval = duration("initial_interval", &args.initial_interval)?;
    let max_interval = duration("max_interval", &args.max_interval)?;
    let request_timeout = duration("request_timeout", &args.request_timeout)?;
    let stall_timeout = match &args.stall_timeout {
        Some(text) => Some(duration("stall_timeout", text)?).filter(|d| !d.is_zero()),
        None => None,
    };
    if initial_interval.is_zero() {
        return Err(format!(
            "{}: must be more than 0, like 500ms or 1s",
            names.with_value("initial_interval", &args.initial_interval)
        ));
    }
    if max_interval < initial_interval {
        return Err(format!(
            "{} is shorter than {}: the pause starts at the initial interval and grows up to the max",
            names.with_value("max_interval", &format_duration(max_interval)),
            names.with_value("initial_interval", &format_duration(initial_interval))
        ));
    }
    if request_timeout.is_zero() {
        return Err(format!(
            "{}: must be more than 0, like 10s",
            names.with_value("request_timeout", &args.request_timeout)
        ));
    }
    // --schedule and --detection-delay (issue 10).
    let schedule: ScheduleMode = choice(names, "schedule", &args.schedule)?;
    let detection_delay = duration("detection_delay", &args.detection_delay)?;
    if detection_delay < Duration::from_millis(100) || detection_delay > Duration::from_secs(3600) {
        return Err(format!(
            "{}: must be between 100ms and 1h, like 2s (the lag aimed at between a refresh finishing and the gate noticing)",
            names.with_value("detection_delay", &args.detection_delay)
        ));
    }
    Ok(Pacing {
        timeout,
        initial_interval,
        max_interval,
        request_timeout,
        stall_timeout,
        schedule,
        detection_delay,
    })
}

/// Which execution counts, and the refresh the gate starts (or resumes,
/// or cancels), as checked.
struct Started {
    execution: ExecutionFilter,
    trigger: Option<ExecutionKind>,
    no_wait: bool,
    cancel: bool,
}

/// `--execution`, `--trigger`, `--no-wait` and `--cancel`, against the
/// resume token and `--timeout`.
fn check_trigger(
    args: &Args,
    names: &Names<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    resume: Option<&crate::resume::Token>,
    list_caches: bool,
    timeout: Duration,
) -> Result<Started, String> {
    let execution: ExecutionFilter = choice(names, "execution", &args.execution)?;
    let trigger = match &args.trigger {
        Some(text) => Some(ExecutionKind::from(choice::<TriggerKind>(
            names, "trigger", text,
        )?)),
        None => None,
    };
    let no_wait = names.flag_or_env(args.no_wait, "PEAKA_NO_WAIT", "no-wait", env)?;
    let cancel = names.flag_or_env(args.cancel, "PEAKA_CANCEL", "cancel", env)?;
    let trigger = match resume {
        Some(token) => Some(resume::same_kind(token, trigger, execution, names)?),
        None => trigger,
    };
    if let Some(kind) = trigger {
        if !looks_at(execution, kind) {
            return Err(format!(
                "{} waits for the refresh it starts, so {} does not fit: leave --execution out",
                names.with_value("trigger", kind.as_str()),
                names.with_value("execution", execution.as_str())
            ));
        }
        // With --no-wait nothing is awaited; with --resume nothing is triggered.
        if timeout.is_zero() && !list_caches && !no_wait && resume.is_none() {
            return Err(format!(
                "{} checks once without waiting, but {} starts a refresh that cannot have finished by then: \
give a --timeout long enough for the refresh, like 30m",
                names.with_value("timeout", &args.timeout),
                names.with_value("trigger", kind.as_str())
            ));
        }
    }
    Ok(Started {
        execution,
        trigger,
        no_wait,
        cancel,
    })
}

/// `--since` and `--started-after`: a time in the future is refused or
/// warned of; a relative one means the first start a resume token pinned.
fn check_bounds(
    args: &Args,
    names: &Names<'_>,
    resume: Option<&crate::resume::Token>,
    timeout: Duration,
    warnings: &mut Vec<String>,
) -> Result<(Option<TimeSpec>, Option<TimeSpec>), String> {
    let now = Timestamp::now();
    let mut bound = |id: &str, text: &Option<String>| -> Result<Option<TimeSpec>, String> {
        let Some(text) = text else { return Ok(None) };
        let spec = time(names, id, text)?;
        if let TimeSpec::At(at) = spec {
            check_future_bound(names.with_value(id, text), at, now, timeout, warnings)?;
        }
        Ok(Some(spec))
    };
    let since = bound("since", &args.since)?;
    let started_after = bound("started_after", &args.started_after)?;
    // A relative bound means the first start, which the token pinned.
    Ok(match resume {
        Some(token) => (
            resume::pinned(since, token.since, token.first_start),
            resume::pinned(started_after, token.started_after, token.first_start),
        ),
        None => (since, started_after),
    })
}

/// `--quiet` and `--log-level`: quiet keeps only errors.
fn check_log_level(
    args: &Args,
    names: &Names<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<LogLevel, String> {
    let quiet = names.flag_or_env(args.quiet, "PEAKA_QUIET", "quiet", env)?;
    Ok(if quiet {
        LogLevel::Error
    } else {
        choice(names, "log_level", &args.log_level)?
    })
}

/// The switches that change how a run goes, as checked.
struct Switches {
    jitter: bool,
    cancel_on_exit: bool,
    pass_api_key: bool,
}

/// `--no-jitter`, `--cancel-on-exit` and `--pass-api-key`, and that the
/// modes of a run (`--no-wait`, `--resume`, `--cancel`, `-- COMMAND`) fit
/// together.
fn check_modes(
    args: &Args,
    names: &Names<'_>,
    env: &dyn Fn(&str) -> Option<String>,
    started: &Started,
    resumed: bool,
    list_caches: bool,
    refreshing: bool,
) -> Result<Switches, String> {
    let no_jitter = names.flag_or_env(args.no_jitter, "PEAKA_NO_JITTER", "no-jitter", env)?;
    let cancel_on_exit = names.flag_or_env(
        args.cancel_on_exit,
        "PEAKA_CANCEL_ON_EXIT",
        "cancel-on-exit",
        env,
    )?;
    if cancel_on_exit && started.trigger.is_none() && !refreshing && !list_caches {
        return Err("--cancel-on-exit (PEAKA_CANCEL_ON_EXIT) cancels only a refresh the gate started: add --trigger incremental or --trigger full (or --refresh-query ID), or leave it out".into());
    }
    let pass_api_key =
        names.flag_or_env(args.pass_api_key, "PEAKA_PASS_API_KEY", "pass-api-key", env)?;
    if pass_api_key && args.command.is_empty() {
        return Err("--pass-api-key (PEAKA_PASS_API_KEY) only applies to a command run once ready: add -- COMMAND [ARGS...] at the end, or leave it out".into());
    }
    if !list_caches {
        resume::check_combination(
            names,
            resume::Modes {
                no_wait: started.no_wait,
                resume: resumed,
                cancel: started.cancel,
                trigger: started.trigger.is_some(),
                cancel_on_exit,
                command: !args.command.is_empty(),
            },
        )?;
    }
    Ok(Switches {
        jitter: !no_jitter,
        cancel_on_exit,
        pass_api_key,
    })
}

/// Whether `--execution` looks at the slot a trigger of `kind` fills.
pub(super) fn looks_at(execution: ExecutionFilter, kind: ExecutionKind) -> bool {
    matches!(
        (execution, kind),
        (ExecutionFilter::Any, _)
            | (ExecutionFilter::Incremental, ExecutionKind::Incremental)
            | (ExecutionFilter::Full, ExecutionKind::Full)
    )
}

/// A TIME, with the negative form answered in the user's own words.
fn time(names: &Names<'_>, id: &str, text: &str) -> Result<TimeSpec, String> {
    if let Some(rest) = text.trim().strip_prefix('-') {
        if parse_duration(rest).is_ok() {
            return Err(format!(
                "{}: is negative; {} already means {} before the start",
                names.with_value(id, text),
                names.with_value(id, rest.trim()),
                rest.trim()
            ));
        }
    }
    parse_time(text).map_err(|why| format!("{}: {why}", names.with_value(id, text)))
}

/// A bound in the future is allowed (the gate may still be waiting then)
/// but worth a warning; one after the deadline can never be met.
fn check_future_bound(
    named: String,
    at: Timestamp,
    now: Timestamp,
    timeout: Duration,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let ahead = at.duration_since(now);
    if ahead <= SignedDuration::ZERO {
        return Ok(());
    }
    let ahead = Duration::try_from(ahead).unwrap_or(Duration::MAX);
    // A minute of slack for a clock that differs from the server's.
    if ahead > timeout + Duration::from_secs(60) {
        return Err(format!(
            "{named}: is {} in the future, after the deadline (--timeout {}): no execution could count; give a time in the past",
            format_far(ahead),
            format_duration(timeout)
        ));
    }
    warnings.push(format!(
        "{named} is {} in the future: only an execution after it counts; did you mean a time in the past?",
        format_far(ahead)
    ));
    Ok(())
}

/// One of the values of `E`, in any case.
fn choice<E: ValueEnum>(names: &Names<'_>, id: &str, text: &str) -> Result<E, String> {
    E::from_str(text.trim(), true).map_err(|_| {
        let accepted: Vec<String> = E::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value)
            .map(|v| v.get_name().to_owned())
            .collect();
        format!(
            "{}: not one of {}",
            names.with_value(id, text),
            accepted.join(", ")
        )
    })
}

pub(super) fn check_id(named: &str, id: &str) -> Result<String, String> {
    let id = id.trim();
    if id.is_empty() {
        return Err(format!("{named} is empty: give the id as Peaka shows it"));
    }
    // Each id becomes one path segment, encoded; "." and ".." are the two
    // values that servers and proxies still resolve as path navigation.
    if id == "." || id == ".." {
        return Err(format!("{named} '{id}' is not an id"));
    }
    if id.chars().any(char::is_control) {
        return Err(format!(
            "{named} contains a control character; give the id as Peaka shows it"
        ));
    }
    Ok(id.to_owned())
}

fn check_base_url(named: &str, text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim())
        .map_err(|err| format!("{named}: not a URL ({err}); the default is {DEFAULT_BASE_URL}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("--base-url must not contain a user name or password; the API key goes in PEAKA_API_KEY".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{named}: must not have a query or fragment; give the API root, like {DEFAULT_BASE_URL}"
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(format!(
            "{named}: uses http:// to a non-loopback host, which would send the API key in clear text; use https://"
        )),
        other => Err(format!("{named}: must be an https:// URL, not {other}://")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_the_only_place_for_http() {
        for url in [
            "http://127.0.0.1:1/",
            "http://127.9.9.9/",
            "http://localhost:8080/api",
            "http://[::1]:80/",
        ] {
            assert!(check_base_url("--base-url", url).is_ok(), "{url}");
        }
        for url in ["http://10.0.0.1/", "http://peaka.internal/"] {
            assert!(check_base_url("--base-url", url).is_err(), "{url}");
        }
    }
}
