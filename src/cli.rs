//! The command line: every flag, its environment variable, its default and
//! its help text, and the checks that turn them into a [`Config`].
//!
//! Everything a user can get wrong is caught here, before any request, and
//! answered with exit code 2 and a message that says how to fix it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use reqwest::Url;

use crate::api::ExecutionKind;
use crate::decision::ExecutionFilter;
use crate::planned::ScheduleMode;
use crate::timespec::{TimeSpec, parse_duration, parse_time};

/// Peaka's US API, the default.
pub const DEFAULT_BASE_URL: &str = "https://partner.peaka.studio/api/v1";

const AFTER_HELP: &str = "\
The API key is read from PEAKA_API_KEY, or from the file named by --api-key-file / PEAKA_API_KEY_FILE.
It is never accepted as a flag value and never printed.

Exit codes: 0 ready, 1 failed, 2 usage, 3 timeout, 4 unauthorized, 5 not_found, 6 api_error,
7 stalled, 130 interrupted (SIGINT), 143 interrupted (SIGTERM). See --help for details.";

const AFTER_LONG_HELP: &str = "\
API KEY:
    Set PEAKA_API_KEY, or point --api-key-file / PEAKA_API_KEY_FILE at a file holding the key
    (surrounding whitespace is trimmed). A Partner API key reaches every project; a Project
    API key only its own. The key is never accepted as a flag value (it would show in the
    process list and shell history) and never appears in any output.

WHEN IS A CACHE READY?
    An execution counts when it satisfies the time bounds: --since T means it reached its
    terminal state after T (finishedAt > T); --started-after T means it started at or after
    T (createdAt >= T). With neither, only the newest execution counts: \"wait for the
    current sync to finish\".
    A counting COMPLETED execution makes the cache ready; FAILED or CANCELLED fails it.
    RUNNING, no execution yet, NOT_INITIALIZED or an unknown status keep waiting.
    A DELETED cache ends the wait with exit 5. With several --cache-id, the gate is ready
    when every cache is ready, and the first failure ends it at once.

TIME AND DURATION:
    TIME is an RFC 3339 timestamp (2026-11-24T10:00:00Z, 2026-11-24T13:00:00.5+03:00), `now`,
    or a duration meaning \"that long before the gate started\" (15m, 2h, 1h30m).
    DURATION is 500ms, 30s, 5m, 1h30m, or a bare 0.

EXIT CODES:
    0    ready          every cache is ready
    1    failed         a counting execution ended FAILED or CANCELLED
    2    (usage)        bad flags, environment or configuration; nothing was requested
    3    timeout        the deadline passed (the message names the last state and error)
    4    unauthorized   the API answered 401 or 403 (not retried)
    5    not_found      the API answered 404, or the cache is DELETED (not retried)
    6    api_error      any other 4xx, or a redirect (not retried)
    7    stalled        --stall-timeout: the awaited execution stopped moving
    130  interrupted    SIGINT
    143  interrupted    SIGTERM

    Connection errors, timeouts, 408, 429, 5xx and malformed replies are retried on the poll
    schedule until the deadline, honouring Retry-After.

BEYOND WAITING:
    --trigger KIND starts a refresh and waits for that very execution: the record the slot
    showed before the trigger never counts. --stall-timeout ends a wait on an execution that
    stopped moving. With several caches, one project-level request is made per poll round.
    An execution that ended between two polls is read from the execution history. When the
    server's clock differs from this machine's by more than 5 s, `now` and durations in TIME
    are read on the server's clock.

EXAMPLES:
    Wait up to 20 minutes for the refresh that is running now:
        PEAKA_API_KEY=... peaka-wait --project-id P --cache-id C --timeout 20m

    Gate on a full refresh that started after your load finished:
        peaka-wait --project-id P --cache-id C --execution full --started-after 2026-11-24T10:00:00Z

    Check once, without waiting:
        peaka-wait --project-id P --cache-id C --since 1h --timeout 0";

/// Block until a Peaka cache refresh has finished, then exit with a code
/// that says what happened.
#[derive(Debug, Parser)]
#[command(
    name = "peaka-wait",
    version,
    about = "Block until a Peaka cache refresh has finished, then exit with a code that says what happened.",
    long_about = "Block until a Peaka cache refresh has finished, then exit with a code that says what happened.\n\n\
Polls Peaka's cache-status API until the refresh you care about (an incremental sync, a full refresh, \
either, or both) has reached a terminal state. Put it in front of anything that reads a cached table: \
a GitHub Actions step, a Kubernetes init container, a cron script.",
    after_help = AFTER_HELP,
    after_long_help = AFTER_LONG_HELP,
    max_term_width = 100,
    // A wrapper script can append a flag to override its own default.
    args_override_self = true
)]
pub struct Args {
    /// The Peaka project that owns the caches.
    #[arg(long, env = "PEAKA_PROJECT_ID", value_name = "ID")]
    pub project_id: String,

    /// A cache to wait for; repeat the flag, or separate ids with commas, to wait for several.
    #[arg(
        long = "cache-id",
        env = "PEAKA_CACHE_ID",
        value_name = "ID",
        value_delimiter = ',',
        required_unless_present = "all_caches"
    )]
    pub cache_ids: Vec<String>,

    /// Wait for every cache of the project (read at the start) instead of --cache-id.
    #[arg(long, env = "PEAKA_ALL_CACHES", conflicts_with = "cache_ids")]
    pub all_caches: bool,

    /// Start a refresh of this kind (`incremental` or `full`) on each cache, then wait for that
    /// very refresh: an execution that existed before the trigger never satisfies the gate.
    #[arg(long, env = "PEAKA_TRIGGER", value_enum, value_name = "KIND")]
    pub trigger: Option<TriggerKind>,

    /// End with exit 7 (`stalled`) when the awaited running execution has not moved (no new
    /// updatedAt, no progress) for this long. Off by default; 0 also means off.
    #[arg(long, env = "PEAKA_STALL_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub stall_timeout: Option<Duration>,

    /// A file holding the API key (instead of PEAKA_API_KEY); surrounding whitespace is trimmed.
    #[arg(
        long,
        env = "PEAKA_API_KEY_FILE",
        value_name = "PATH",
        hide_env_values = true
    )]
    pub api_key_file: Option<PathBuf>,

    /// The API's base URL. For the EU zone, use the address your Peaka workspace shows.
    /// http:// is accepted only for loopback addresses (testing).
    #[arg(long, env = "PEAKA_BASE_URL", value_name = "URL", default_value = DEFAULT_BASE_URL)]
    pub base_url: String,

    /// Which refresh to wait for: `any` (the first counting one to end decides), `incremental`,
    /// `full`, or `both` (each kind needs a counting COMPLETED execution).
    #[arg(long, env = "PEAKA_EXECUTION", value_enum, value_name = "KIND", default_value_t = ExecutionFilter::Any, hide_possible_values = true)]
    pub execution: ExecutionFilter,

    /// Count only executions that reached their terminal state after TIME (finishedAt > TIME).
    #[arg(long, env = "PEAKA_SINCE", value_name = "TIME", value_parser = parse_time)]
    pub since: Option<TimeSpec>,

    /// Count only executions that started at or after TIME (createdAt >= TIME): the strict
    /// choice when a sync that began before your data landed must not satisfy the gate.
    #[arg(long, env = "PEAKA_STARTED_AFTER", value_name = "TIME", value_parser = parse_time)]
    pub started_after: Option<TimeSpec>,

    /// Give up after this long (exit 3). 0 checks once, without waiting.
    #[arg(long, env = "PEAKA_TIMEOUT", value_name = "DURATION", value_parser = parse_duration, default_value = "30m")]
    pub timeout: Duration,

    /// The first pause between polls; it doubles after each poll, up to --max-interval.
    #[arg(long, env = "PEAKA_INITIAL_INTERVAL", value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub initial_interval: Duration,

    /// The longest pause between polls (each pause is jittered below it).
    #[arg(long, env = "PEAKA_MAX_INTERVAL", value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub max_interval: Duration,

    /// Give up on one request after this long, and retry on the poll schedule.
    #[arg(long, env = "PEAKA_REQUEST_TIMEOUT", value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub request_timeout: Duration,

    /// How polls are paced: `adaptive` reads the cache's history and schedule once (2 requests,
    /// only when the first poll shows the wait is not over), then polls sparsely until the
    /// refresh's usual end and densely around it; `exponential` polls from --initial-interval
    /// doubling up to --max-interval. Without at least 3 past runs, adaptive is exponential.
    #[arg(long, env = "PEAKA_SCHEDULE", value_enum, value_name = "SCHEDULE", default_value_t = ScheduleMode::Adaptive)]
    pub schedule: ScheduleMode,

    /// With --schedule adaptive: the lag aimed at between the refresh finishing and the gate
    /// noticing, around its expected end (polls there come about twice this far apart).
    #[arg(long, env = "PEAKA_DETECTION_DELAY", value_name = "DURATION", value_parser = parse_duration, default_value = "2s")]
    pub detection_delay: Duration,

    /// Turn off the jitter of the poll schedule (for benchmarks that measure what it buys).
    #[arg(long, env = "PEAKA_NO_JITTER", hide = true)]
    pub no_jitter: bool,

    /// Log format on stderr: human `text`, or `json` (one object per line).
    #[arg(long, env = "PEAKA_LOG_FORMAT", value_enum, value_name = "FORMAT", default_value_t = Format::Text)]
    pub log_format: Format,

    /// Log level on stderr: error, warn, info, debug (every poll) or trace.
    #[arg(long, env = "PEAKA_LOG_LEVEL", value_enum, value_name = "LEVEL", default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// The final summary on stdout: one readable `text` line, or one `json` object.
    #[arg(long, env = "PEAKA_OUTPUT", value_enum, value_name = "FORMAT", default_value_t = Format::Text)]
    pub output: Format,
}

/// The kind of refresh `--trigger` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TriggerKind {
    /// `POST …/incrementalUpdate`.
    Incremental,
    /// `POST …/fullRefreshUpdate`.
    Full,
}

impl From<TriggerKind> for ExecutionKind {
    fn from(kind: TriggerKind) -> ExecutionKind {
        match kind {
            TriggerKind::Incremental => ExecutionKind::Incremental,
            TriggerKind::Full => ExecutionKind::Full,
        }
    }
}

/// A format for logs or the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For machines.
    Json,
}

/// How much is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and retries.
    Warn,
    /// Start, changes of state, a heartbeat, the outcome.
    Info,
    /// Every poll.
    Debug,
    /// Everything.
    Trace,
}

/// The API key. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key itself, for the Authorization header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// A checked configuration: everything the gate needs, nothing left to
/// validate.
#[derive(Debug, Clone)]
pub struct Config {
    /// The project id.
    pub project_id: String,
    /// The cache ids, trimmed, without duplicates, in the order given;
    /// empty with `--all-caches`.
    pub cache_ids: Vec<String>,
    /// `--all-caches`.
    pub all_caches: bool,
    /// `--trigger`.
    pub trigger: Option<ExecutionKind>,
    /// `--stall-timeout`; `None` when off.
    pub stall_timeout: Option<Duration>,
    /// The API key.
    pub api_key: ApiKey,
    /// The API's base URL.
    pub base_url: Url,
    /// Which slots to look at.
    pub execution: ExecutionFilter,
    /// `--since`, not yet pinned to the start time.
    pub since: Option<TimeSpec>,
    /// `--started-after`, not yet pinned to the start time.
    pub started_after: Option<TimeSpec>,
    /// The overall deadline; zero means check once.
    pub timeout: Duration,
    /// The first pause between polls.
    pub initial_interval: Duration,
    /// The longest pause between polls.
    pub max_interval: Duration,
    /// The limit on one request.
    pub request_timeout: Duration,
    /// Whether the poll schedule is jittered (always, but in benchmarks).
    pub jitter: bool,
    /// `--schedule`.
    pub schedule: ScheduleMode,
    /// `--detection-delay`.
    pub detection_delay: Duration,
    /// Log format.
    pub log_format: Format,
    /// Log level.
    pub log_level: LogLevel,
    /// Summary format.
    pub output: Format,
}

/// What went wrong on the command line: print it, exit 2 (or 0 for
/// `--help` and `--version`, which clap also reports as errors).
#[derive(Debug)]
pub enum CliError {
    /// A clap error: usage errors, `--help`, `--version`.
    Clap(clap::Error),
    /// One of our own checks.
    Invalid(String),
}

/// Parses and checks the command line and environment.
pub fn parse<I, T>(args: I, env: impl Fn(&str) -> Option<String>) -> Result<Config, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    refuse_key_flag(&args)?;
    let parsed = Args::try_parse_from(args).map_err(CliError::Clap)?;
    check(parsed, env).map_err(CliError::Invalid)
}

/// Catches `--api-key` before clap does, because clap's "unexpected
/// argument '--api-key=…'" would print the key.
fn refuse_key_flag(args: &[OsString]) -> Result<(), CliError> {
    let given = args
        .iter()
        .skip(1)
        .take_while(|arg| *arg != "--")
        .any(|arg| {
            let arg = arg.to_string_lossy();
            arg == "--api-key" || arg.starts_with("--api-key=")
        });
    if given {
        return Err(CliError::Invalid(
            "--api-key is not accepted: a key on the command line shows in the process list and shell history. \
Set PEAKA_API_KEY, or put the key in a file and pass --api-key-file PATH."
                .into(),
        ));
    }
    Ok(())
}

fn check(args: Args, env: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
    let project_id = check_id("--project-id", &args.project_id)?;
    let mut cache_ids: Vec<String> = Vec::new();
    for id in &args.cache_ids {
        // "a,b," and "a, b" are common in env vars: skip empties, trim.
        if id.trim().is_empty() {
            continue;
        }
        let id = check_id("--cache-id", id)?;
        if !cache_ids.contains(&id) {
            cache_ids.push(id);
        }
    }
    if cache_ids.is_empty() && !args.all_caches {
        return Err("--cache-id is empty: give at least one cache id (PEAKA_CACHE_ID takes a comma-separated list)".into());
    }
    let api_key = read_api_key(args.api_key_file.as_deref(), &env)?;
    let base_url = check_base_url(&args.base_url)?;
    if args.initial_interval.is_zero() {
        return Err("--initial-interval must be more than 0, like 500ms or 1s".into());
    }
    if args.max_interval < args.initial_interval {
        return Err(format!(
            "--max-interval ({}) is shorter than --initial-interval ({}): the pause starts at the initial interval and grows up to the max",
            crate::timespec::format_duration(args.max_interval),
            crate::timespec::format_duration(args.initial_interval)
        ));
    }
    let trigger = args.trigger.map(ExecutionKind::from);
    if let Some(kind) = trigger {
        let fits = matches!(
            (args.execution, kind),
            (ExecutionFilter::Any, _)
                | (ExecutionFilter::Incremental, ExecutionKind::Incremental)
                | (ExecutionFilter::Full, ExecutionKind::Full)
        );
        if !fits {
            return Err(format!(
                "--trigger {} waits for the refresh it starts, so --execution {} does not fit: leave --execution out",
                kind.as_str(),
                args.execution.as_str()
            ));
        }
    }
    if args.request_timeout.is_zero() {
        return Err("--request-timeout must be more than 0, like 10s".into());
    }
    if args.detection_delay < Duration::from_millis(100)
        || args.detection_delay > Duration::from_secs(3600)
    {
        return Err(format!(
            "--detection-delay (PEAKA_DETECTION_DELAY) is {}: it must be between 100ms and 1h, like 2s (the lag aimed at between a refresh finishing and the gate noticing)",
            crate::timespec::format_duration(args.detection_delay)
        ));
    }
    Ok(Config {
        project_id,
        cache_ids,
        all_caches: args.all_caches,
        trigger,
        stall_timeout: args.stall_timeout.filter(|d| !d.is_zero()),
        api_key,
        base_url,
        execution: args.execution,
        since: args.since,
        started_after: args.started_after,
        timeout: args.timeout,
        initial_interval: args.initial_interval,
        max_interval: args.max_interval,
        request_timeout: args.request_timeout,
        jitter: !args.no_jitter,
        schedule: args.schedule,
        detection_delay: args.detection_delay,
        log_format: args.log_format,
        log_level: args.log_level,
        output: args.output,
    })
}

fn check_id(flag: &str, id: &str) -> Result<String, String> {
    let id = id.trim();
    if id.is_empty() {
        return Err(format!("{flag} is empty: give the id as Peaka shows it"));
    }
    // Each id becomes one path segment, encoded; "." and ".." are the two
    // values that servers and proxies still resolve as path navigation.
    if id == "." || id == ".." {
        return Err(format!("{flag} '{id}' is not an id"));
    }
    if id.chars().any(char::is_control) {
        return Err(format!(
            "{flag} contains a control character; give the id as Peaka shows it"
        ));
    }
    Ok(id.to_owned())
}

fn read_api_key(
    file: Option<&std::path::Path>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<ApiKey, String> {
    let from_env = env("PEAKA_API_KEY");
    let key = match (file, from_env) {
        (Some(_), Some(_)) => {
            return Err("both PEAKA_API_KEY and a key file (--api-key-file / PEAKA_API_KEY_FILE) are set: use one".into());
        }
        (Some(path), None) => std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read the API key file {}: {err}", path.display()))?,
        (None, Some(key)) => key,
        (None, None) => {
            return Err("no API key: set PEAKA_API_KEY, or pass --api-key-file PATH (or set PEAKA_API_KEY_FILE)".into());
        }
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(match file {
            Some(path) => format!("the API key file {} is empty", path.display()),
            None => "PEAKA_API_KEY is empty (in GitHub Actions, a secret that does not exist is empty: check its name)".into(),
        });
    }
    Ok(ApiKey(key.to_owned()))
}

fn check_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|err| {
        format!("--base-url '{text}' is not a URL ({err}); the default is {DEFAULT_BASE_URL}")
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("--base-url must not contain a user name or password; the API key goes in PEAKA_API_KEY".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "--base-url '{text}' must not have a query or fragment; give the API root, like {DEFAULT_BASE_URL}"
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(format!(
            "--base-url '{text}' uses http:// to a non-loopback host, which would send the API key in clear text; use https://"
        )),
        other => Err(format!(
            "--base-url must be an https:// URL, not {other}://"
        )),
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

    fn env_with_key(name: &str) -> Option<String> {
        (name == "PEAKA_API_KEY").then(|| "k".to_owned())
    }

    fn parse_ok(extra: &[&str]) -> Config {
        let mut args = vec!["peaka-wait", "--project-id", "p", "--cache-id", "c"];
        args.extend_from_slice(extra);
        parse(args, env_with_key).unwrap_or_else(|e| panic!("{extra:?}: {e:?}"))
    }

    fn parse_err(args: &[&str], env: fn(&str) -> Option<String>) -> String {
        match parse(args.iter().copied(), env) {
            Ok(config) => panic!("{args:?} was accepted: {config:?}"),
            Err(CliError::Invalid(message)) => message,
            Err(CliError::Clap(err)) => err.to_string(),
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = parse_ok(&[]);
        assert_eq!(config.base_url.as_str(), DEFAULT_BASE_URL);
        assert_eq!(config.execution, ExecutionFilter::Any);
        assert_eq!(config.timeout, Duration::from_secs(1800));
        assert_eq!(config.initial_interval, Duration::from_secs(1));
        assert_eq!(config.max_interval, Duration::from_secs(30));
        assert_eq!(config.request_timeout, Duration::from_secs(10));
        assert_eq!(
            (config.log_format, config.log_level, config.output),
            (Format::Text, LogLevel::Info, Format::Text)
        );
        assert_eq!(config.api_key.expose(), "k");
    }

    #[test]
    fn cache_ids_repeat_split_trim_and_dedupe() {
        let config = parse_ok(&["--cache-id", "b, c,,", "--cache-id", "d", "--cache-id", "c"]);
        assert_eq!(config.cache_ids, ["c", "b", "d"]);
    }

    #[test]
    fn every_flag_parses() {
        let config = parse_ok(&[
            "--execution",
            "both",
            "--since",
            "15m",
            "--started-after",
            "2026-11-24T10:00:00Z",
            "--timeout",
            "0",
            "--initial-interval",
            "500ms",
            "--max-interval",
            "5s",
            "--request-timeout",
            "2s",
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "--output",
            "json",
            "--base-url",
            "http://127.0.0.1:9/api/v1/",
        ]);
        assert_eq!(config.execution, ExecutionFilter::Both);
        assert_eq!(config.since, Some(TimeSpec::Ago(Duration::from_secs(900))));
        assert!(matches!(config.started_after, Some(TimeSpec::At(_))));
        assert_eq!(config.timeout, Duration::ZERO);
        assert_eq!(config.base_url.as_str(), "http://127.0.0.1:9/api/v1/");
        assert_eq!(
            (config.log_format, config.log_level, config.output),
            (Format::Json, LogLevel::Debug, Format::Json)
        );
    }

    #[test]
    fn the_key_comes_from_a_trimmed_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "  from-file\n").unwrap();
        let args = [
            "peaka-wait",
            "--project-id",
            "p",
            "--cache-id",
            "c",
            "--api-key-file",
            path.to_str().unwrap(),
        ];
        let config = parse(args, |_| None).unwrap();
        assert_eq!(config.api_key.expose(), "from-file");
        assert!(!format!("{config:?}").contains("from-file"));
        let both = parse_err(&args, env_with_key);
        assert!(both.contains("use one"), "{both}");
        std::fs::write(&path, " \n").unwrap();
        assert!(parse_err(&args, |_| None).contains("is empty"));
    }

    #[test]
    fn bad_input_is_refused_with_a_fix() {
        const BASE: [&str; 5] = ["peaka-wait", "--project-id", "p", "--cache-id", "c"];
        fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
            BASE.iter().chain(extra).copied().collect()
        }
        let base = BASE;
        let no_env = |_: &str| None;
        let empty_key = |name: &str| (name == "PEAKA_API_KEY").then(String::new);
        type Env = fn(&str) -> Option<String>;
        let table: Vec<(Vec<&str>, Env, &str)> = vec![
            (base.to_vec(), no_env, "no API key"),
            (base.to_vec(), empty_key, "PEAKA_API_KEY is empty"),
            (
                with(&["--api-key", "SECRET"]),
                env_with_key,
                "--api-key is not accepted",
            ),
            (
                with(&["--api-key=SECRET"]),
                env_with_key,
                "--api-key is not accepted",
            ),
            (
                with(&["--base-url", "http://example.com/api/v1"]),
                env_with_key,
                "clear text",
            ),
            (
                with(&["--base-url", "ftp://127.0.0.1/"]),
                env_with_key,
                "https://",
            ),
            (
                with(&["--base-url", "not a url"]),
                env_with_key,
                "not a URL",
            ),
            (
                with(&["--base-url", "https://u:p@h/"]),
                env_with_key,
                "user name",
            ),
            (
                with(&["--base-url", "https://h/?x=1"]),
                env_with_key,
                "query",
            ),
            (with(&["--timeout", "30"]), env_with_key, "no unit"),
            (with(&["--since", "2026-11-24"]), env_with_key, "RFC 3339"),
            (
                with(&["--execution", "sometimes"]),
                env_with_key,
                "sometimes",
            ),
            (
                with(&["--initial-interval", "0"]),
                env_with_key,
                "more than 0",
            ),
            (
                with(&["--request-timeout", "0"]),
                env_with_key,
                "more than 0",
            ),
            (
                with(&["--initial-interval", "1m", "--max-interval", "30s"]),
                env_with_key,
                "shorter than",
            ),
            (
                vec!["peaka-wait", "--project-id", "p", "--cache-id", ","],
                env_with_key,
                "--cache-id is empty",
            ),
            (
                vec!["peaka-wait", "--project-id", "..", "--cache-id", "c"],
                env_with_key,
                "not an id",
            ),
            (
                vec!["peaka-wait", "--project-id", " ", "--cache-id", "c"],
                env_with_key,
                "is empty",
            ),
            (
                vec!["peaka-wait", "--cache-id", "c"],
                env_with_key,
                "--project-id",
            ),
        ];
        for (args, env, hint) in table {
            let message = parse_err(&args, env);
            assert!(message.contains(hint), "{args:?}: {message}");
            assert!(
                !message.contains("SECRET"),
                "{args:?} echoed the key: {message}"
            );
        }
    }

    #[test]
    fn loopback_is_the_only_place_for_http() {
        for url in [
            "http://127.0.0.1:1/",
            "http://127.9.9.9/",
            "http://localhost:8080/api",
            "http://[::1]:80/",
        ] {
            assert!(check_base_url(url).is_ok(), "{url}");
        }
        for url in ["http://10.0.0.1/", "http://peaka.internal/"] {
            assert!(check_base_url(url).is_err(), "{url}");
        }
    }

    #[test]
    fn the_help_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
