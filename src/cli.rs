//! The command line: every flag, its environment variable, its default and
//! its help text, the usage line, and the rewording of clap's errors so
//! that none echoes an argument that may be the key. The checks that turn
//! the text into a [`Config`] live in `cli/check.rs`.
//!
//! Everything a user can get wrong is caught here, before any request, and
//! answered with exit code 2 and a message that says how to fix it, naming
//! the setting as the user gave it (flag, variable or action input).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use reqwest::Url;

use crate::api::ExecutionKind;
use crate::decision::ExecutionFilter;
use crate::planned::ScheduleMode;
use crate::proxy::ProxyChoice;
use crate::tables::{CatalogScope, TableRef};
use crate::timespec::TimeSpec;

mod check;
mod key;
pub mod man;
mod names;
mod quick;
mod selection;
mod token;

/// Peaka's US API, the default.
pub const DEFAULT_BASE_URL: &str = "https://partner.peaka.studio/api/v1";

const AFTER_HELP: &str = "\
The API key is read from PEAKA_API_KEY, or from the file named by --api-key-file / PEAKA_API_KEY_FILE.
It is never accepted as a flag value and never printed.

Exit codes: 0 ready, 1 failed, 2 usage_error, 3 timeout, 4 unauthorized, 5 not_found, 6 api_error,
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
    or a duration meaning \"that long before the gate started\" (15m, 2h, 1h30m; at most a
    year, never negative). A timestamp before 1970 is refused; one in the future is accepted
    with a warning unless it is after the deadline.
    DURATION is 500ms, 30s, 5m, 1h30m, or a bare 0; every DURATION setting is at most 31 days
    (744h). A bad value is reported under the name it was given: --timeout 10 or PEAKA_TIMEOUT=10.

BOOLEANS FROM THE ENVIRONMENT:
    PEAKA_ALL_CACHES, PEAKA_QUIET and PEAKA_NO_JITTER take true/false, 1/0, yes/no or on/off, in
    any case; empty is false.

EXIT CODES:
    0    ready          every cache is ready
    1    failed         a counting execution ended FAILED or CANCELLED
    2    usage_error    bad flags, environment or configuration; nothing was requested (in
                        GitHub Actions also the outputs and an annotation; with --output json a
                        {\"result\":\"usage_error\",\"exitCode\":2,...} object on stdout)
    3    timeout        the deadline passed (the message names the last state and error)
    4    unauthorized   the API answered 401 or 403 (not retried)
    5    not_found      the API answered 404, or the cache is DELETED (not retried)
    6    api_error      any other 4xx, or a redirect (not retried); a certificate that is not
                        accepted (at once: check --base-url, SSL_CERT_FILE, the proxy); a host
                        name that does not exist, or a web page (2xx not JSON) instead of the
                        API, on every request for 60 s
    7    stalled        --stall-timeout: the awaited execution stopped moving
    130  interrupted    SIGINT
    143  interrupted    SIGTERM

    Refused connections, timeouts, 408, 429, 5xx and truncated replies are retried on the poll
    schedule until the deadline, honouring Retry-After, by every path (--all-caches, --table,
    --trigger and --list-caches too); the last cause is in the final message.

BEYOND WAITING:
    --trigger KIND starts a refresh and waits for that very execution: only one with another id
    than the slot showed before and a readable createdAt not before the trigger (server clock,
    5 s tolerance) counts. --stall-timeout ends a wait on an execution that stopped moving.
    With several caches, one project-level request is made per poll round.
    An execution that ended between two polls is read from the execution history. When the
    server's clock differs from this machine's by more than 5 s, `now` and durations in TIME
    are read on the server's clock.
    --table SCHEMA.TABLE waits for the cache of that table (CATALOG_ID.SCHEMA.TABLE when the
    name is in several catalogs; no match: exit 5 with the nearest names; ambiguous: exit 2).
    --catalog-id ID [--schema NAME] waits for every cache of that catalog or schema, one
    request per round (the catalog's list, filtered by schema: Peaka's schema-level list
    answered 500 live). An execution never picked up (RUNNING, no progress, untouched since
    created for over 5 min) is warned of once; --stall-timeout ends such a wait.
    --cancel-on-exit (with --trigger) cancels the triggered refresh when the gate ends before
    it (timeout, SIGINT, SIGTERM, stall), but only that very execution, and never after a trigger
    answered with an error or not at all.
    --trigger KIND --no-wait triggers and exits 0 (`triggered`) with a resume token (the last
    line `resume: TOKEN`, JSON `resume`); --resume TOKEN (PEAKA_RESUME) later waits for exactly
    that run, triggering nothing (survives a restart), and --resume TOKEN --cancel cancels it
    (exit 0 `cancelled`, also when it had already ended).

PROXY:
    HTTPS_PROXY (HTTP_PROXY for an http:// base), then ALL_PROXY, upper or lower case, are
    honoured; NO_PROXY lists hosts reached directly. An http:// (loopback) base uses only a proxy
    on loopback: one elsewhere would carry the key in clear text.
    --proxy / PEAKA_PROXY wins over the variables, for a proxy only this tool should use.
    Through a proxy, the https:// API is tunnelled (CONNECT): the proxy never sees the key.

RUN THE JOB ONCE READY:
    peaka-wait [OPTIONS] -- COMMAND [ARGS...] runs COMMAND when (and only when) the gate is
    ready, after the summary and the GitHub files are written. On Unix it replaces peaka-wait
    (same pid: signals and the exit code are the job's). Its environment gains
    PEAKA_WAIT_RESULT, PEAKA_EXECUTION_ID, PEAKA_EXECUTION_KIND, PEAKA_FINISHED_AT and
    PEAKA_RECORDS (the deciding cache's, as the step outputs), with materialized queries
    PEAKA_MATERIALIZED_QUERY_ID, _STATUS, _STARTED_AT and _UPDATED_AT, and loses PEAKA_API_KEY and
    PEAKA_API_KEY_FILE unless --pass-api-key. Not ready: COMMAND is not run and the gate's
    exit code stands. A command that cannot be started exits 127 (not found) or 126.

EXAMPLES:
    Wait up to 20 minutes for the refresh that is running now:
        PEAKA_API_KEY=... peaka-wait --project-id P --cache-id C --timeout 20m

    Gate on a full refresh that started after your load finished:
        peaka-wait --project-id P --cache-id C --execution full --started-after 2026-11-24T10:00:00Z

    Run the nightly export once the cache is ready:
        peaka-wait --project-id P --cache-id C --timeout 1h -- ./export.sh --day today

    Check once, without waiting:
        peaka-wait --project-id P --cache-id C --since 1h --timeout 0

    Find a cache id:
        peaka-wait --project-id P --list-caches

    Install the man page and bash completion:
        peaka-wait --generate man > ~/.local/share/man/man1/peaka-wait.1
        peaka-wait --generate complete-bash > ~/.local/share/bash-completion/completions/peaka-wait";

/// Block until a Peaka cache refresh has finished, then exit with a code
/// that says what happened.
///
/// Every value is taken as text here and checked in `cli::check`, where it is
/// known whether the user set it as a flag or an environment variable, so
/// that a message names what the user actually wrote.
#[derive(Debug, Parser)]
#[command(
    name = "peaka-wait",
    version,
    about = "Block until a Peaka cache refresh has finished, then exit with a code that says what happened.",
    long_about = "Block until a Peaka cache refresh has finished, then exit with a code that says what happened.\n\n\
Polls Peaka's cache-status API until the refresh you care about (an incremental sync, a full refresh, \
either, or both) has reached a terminal state. Put it in front of anything that reads a cached table: \
a GitHub Actions step, a Kubernetes init container, a cron script.",
    override_usage = USAGE,
    after_help = AFTER_HELP,
    after_long_help = AFTER_LONG_HELP,
    max_term_width = 100,
    // A wrapper script can append a flag to override its own default.
    args_override_self = true
)]
pub struct Args {
    /// The Peaka project that owns the caches. Required.
    #[arg(long, env = "PEAKA_PROJECT_ID", value_name = "ID")]
    pub project_id: Option<String>,

    /// A cache to wait for; repeat the flag, or separate ids with commas, to wait for several.
    /// One of --cache-id, --table, --catalog-id and --all-caches is required.
    #[arg(
        long = "cache-id",
        env = "PEAKA_CACHE_ID",
        value_name = "ID",
        value_delimiter = ','
    )]
    pub cache_ids: Vec<String>,

    /// Wait for every cache of the project (read at the start) instead of --cache-id.
    /// Env PEAKA_ALL_CACHES: true/false, 1/0, yes/no or on/off, in any case.
    #[arg(long)]
    pub all_caches: bool,

    /// A cached table to wait for, as SCHEMA.TABLE (CATALOG_ID.SCHEMA.TABLE when the name is in
    /// several catalogs), found once at the start in the project's list; repeat the flag, or
    /// separate names with commas. Mixes with --cache-id and --catalog-id.
    #[arg(
        long = "table",
        env = "PEAKA_TABLE",
        value_name = "SCHEMA.TABLE",
        value_delimiter = ','
    )]
    pub tables: Vec<String>,

    /// Wait for every cache of this catalog (listed at the start; each poll round asks the
    /// catalog's list once).
    #[arg(long, env = "PEAKA_CATALOG_ID", value_name = "ID")]
    pub catalog_id: Option<String>,

    /// With --catalog-id: only the caches of this schema.
    #[arg(long, env = "PEAKA_SCHEMA", value_name = "NAME")]
    pub schema: Option<String>,

    /// List the project's caches (id, catalog, schema, table, status, each slot's last execution)
    /// and exit: a way to find a cache id. Needs only --project-id and the key.
    #[arg(long)]
    pub list_caches: bool,

    /// A materialized query to wait for, as for a cache (the same --since, --started-after, exit
    /// codes and summary); repeat the flag, or separate ids with commas. Alone or beside caches:
    /// with caches, the queries are awaited once every cache is ready.
    #[arg(
        long = "materialized-query",
        env = "PEAKA_MATERIALIZED_QUERY",
        value_name = "ID",
        value_delimiter = ','
    )]
    pub materialized_queries: Vec<String>,

    /// Refresh this materialized query, then wait for that very run (its start time moving past
    /// the one seen before). With --cache-id, --table or --all-caches, the caches are awaited
    /// first, and the queries are refreshed only once every cache is ready.
    #[arg(
        long = "refresh-query",
        env = "PEAKA_REFRESH_QUERY",
        value_name = "ID",
        value_delimiter = ','
    )]
    pub refresh_queries: Vec<String>,

    /// List the project's materialized queries (id, name, status, last start and update, next
    /// run) and exit. Needs only --project-id and the key.
    #[arg(long)]
    pub list_materialized_queries: bool,

    /// Start a refresh of this kind (`incremental` or `full`) on each cache, then wait for that
    /// very refresh: only an execution with another id than the slot showed and a readable
    /// createdAt not before the trigger satisfies the gate.
    #[arg(long, env = "PEAKA_TRIGGER", value_name = "KIND", value_parser = one_of::<TriggerKind>())]
    pub trigger: Option<String>,

    /// End with exit 7 (`stalled`) when the awaited running execution has not moved (no new
    /// updatedAt, no progress) for this long. Off by default; 0 also means off.
    #[arg(
        long,
        env = "PEAKA_STALL_TIMEOUT",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub stall_timeout: Option<String>,

    /// With --trigger: when the gate ends before the refresh it started (timeout, SIGINT,
    /// SIGTERM, stall), ask Peaka to cancel that refresh. Never cancels one the gate cannot show
    /// it started (nothing after a trigger answered with an error or not at all).
    /// Env PEAKA_CANCEL_ON_EXIT: true/false, 1/0, yes/no or on/off, in any case.
    #[arg(long)]
    pub cancel_on_exit: bool,

    /// With --trigger: exit 0 (`triggered`) as soon as Peaka has accepted every trigger, without
    /// waiting, and print a resume token (the `resume` field; the last line `resume: TOKEN`) that
    /// a later --resume waits with. Env PEAKA_NO_WAIT: true/false, 1/0, yes/no or on/off.
    #[arg(long)]
    pub no_wait: bool,

    /// Wait for exactly the refreshes a --trigger KIND --no-wait started, sending no trigger: the
    /// way to survive a restart. --cache-id, --trigger and --execution may be repeated and must
    /// agree with the token.
    #[arg(long, env = "PEAKA_RESUME", value_name = "TOKEN")]
    pub resume: Option<String>,

    /// With --resume: cancel the run the token names (once its record appears, up to --timeout),
    /// never another; exit 0 (`cancelled`) also when it had already ended.
    /// Env PEAKA_CANCEL: true/false, 1/0, yes/no or on/off.
    #[arg(long)]
    pub cancel: bool,

    /// A file holding the API key (instead of PEAKA_API_KEY); surrounding whitespace is trimmed.
    /// At most 64 KiB is read.
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
    #[arg(long, env = "PEAKA_EXECUTION", value_name = "KIND", default_value = "any", value_parser = one_of::<ExecutionFilter>(), hide_possible_values = true)]
    pub execution: String,

    /// Count only executions that reached their terminal state after TIME (finishedAt > TIME).
    /// A duration reaches back at most 1 year.
    #[arg(
        long,
        env = "PEAKA_SINCE",
        value_name = "TIME",
        allow_hyphen_values = true
    )]
    pub since: Option<String>,

    /// Count only executions that started at or after TIME (createdAt >= TIME): the strict
    /// choice when a sync that began before your data landed must not satisfy the gate.
    #[arg(
        long,
        env = "PEAKA_STARTED_AFTER",
        value_name = "TIME",
        allow_hyphen_values = true
    )]
    pub started_after: Option<String>,

    /// Give up after this long (exit 3); at most 31 days. 0 checks once, without waiting.
    #[arg(
        long,
        env = "PEAKA_TIMEOUT",
        value_name = "DURATION",
        default_value = "30m",
        allow_hyphen_values = true
    )]
    pub timeout: String,

    /// The first pause between polls; it doubles after each poll, up to --max-interval.
    #[arg(
        long,
        env = "PEAKA_INITIAL_INTERVAL",
        value_name = "DURATION",
        default_value = "1s",
        allow_hyphen_values = true
    )]
    pub initial_interval: String,

    /// The longest pause between polls (each pause is jittered below it).
    #[arg(
        long,
        env = "PEAKA_MAX_INTERVAL",
        value_name = "DURATION",
        default_value = "30s",
        allow_hyphen_values = true
    )]
    pub max_interval: String,

    /// Give up on one request after this long, and retry on the poll schedule. A trigger
    /// (which Peaka takes seconds to answer) gets at least 10s within the deadline.
    #[arg(
        long,
        env = "PEAKA_REQUEST_TIMEOUT",
        value_name = "DURATION",
        default_value = "10s",
        allow_hyphen_values = true
    )]
    pub request_timeout: String,

    /// How polls are paced: `adaptive` reads the cache's history once (and its schedule when
    /// no run is under way; only when the first poll shows the wait is not over), then watches
    /// the run for a failure until its usual end and polls densely around it; `exponential` polls from --initial-interval
    /// doubling up to --max-interval. Without at least 3 past runs, adaptive is exponential.
    #[arg(long, env = "PEAKA_SCHEDULE", value_name = "SCHEDULE", default_value = "adaptive", value_parser = one_of::<ScheduleMode>())]
    pub schedule: String,

    /// With --schedule adaptive: the lag aimed at between the refresh finishing and the gate
    /// noticing, around its expected end (polls there come about twice this far apart).
    #[arg(
        long,
        env = "PEAKA_DETECTION_DELAY",
        value_name = "DURATION",
        default_value = "2s",
        allow_hyphen_values = true
    )]
    pub detection_delay: String,

    /// Turn off the jitter of the poll schedule (for benchmarks that measure what it buys).
    /// Env PEAKA_NO_JITTER: true/false, 1/0, yes/no, on/off.
    #[arg(long, hide_short_help = true)]
    pub no_jitter: bool,

    /// Log format on stderr: human `text`, or `json` (one object per line).
    #[arg(long, env = "PEAKA_LOG_FORMAT", value_name = "FORMAT", default_value = "text", value_parser = one_of::<Format>())]
    pub log_format: String,

    /// Log level on stderr: error, warn, info, debug (every poll) or trace.
    #[arg(long, env = "PEAKA_LOG_LEVEL", value_name = "LEVEL", default_value = "info", value_parser = one_of::<LogLevel>())]
    pub log_level: String,

    /// Only errors on stderr (the same as --log-level error, and it wins over --log-level);
    /// the summary on stdout is unchanged. Env PEAKA_QUIET: true/false, 1/0, yes/no, on/off.
    #[arg(short, long)]
    pub quiet: bool,

    /// The final summary on stdout: one readable `text` line, or one `json` object.
    #[arg(long, env = "PEAKA_OUTPUT", value_name = "FORMAT", default_value = "text", value_parser = one_of::<Format>())]
    pub output: String,

    /// Print a man page or a shell completion script on stdout and exit (no key needed).
    #[arg(long, value_name = "WHAT", value_parser = one_of::<Generate>())]
    pub generate: Option<String>,

    /// Send every request through this proxy (http://HOST:PORT or https://HOST:PORT, optionally
    /// with USER:PASSWORD@ before the host), instead of HTTPS_PROXY / HTTP_PROXY / ALL_PROXY.
    /// NO_PROXY still applies.
    #[arg(long, env = "PEAKA_PROXY", value_name = "URL", hide_env_values = true)]
    pub proxy: Option<String>,

    /// With `-- COMMAND`: leave PEAKA_API_KEY (and PEAKA_API_KEY_FILE) in the command's
    /// environment; by default they are removed, so the job cannot read the key.
    /// Env PEAKA_PASS_API_KEY: true/false, 1/0, yes/no or on/off, in any case.
    #[arg(long)]
    pub pass_api_key: bool,

    /// Run this command once every cache is ready, after the summary is written (on Unix it
    /// replaces peaka-wait: its exit code and signals are the job's own). Not run otherwise.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// What `--generate` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// A roff man page (`man ./peaka-wait.1`).
    Man,
    /// Bash completion (`source <(peaka-wait --generate complete-bash)`).
    CompleteBash,
    /// Zsh completion (save as `_peaka-wait` on `$fpath`).
    CompleteZsh,
    /// Fish completion.
    CompleteFish,
    /// PowerShell completion.
    CompletePowershell,
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
    /// empty with `--all-caches` and `--list-caches`.
    pub cache_ids: Vec<String>,
    /// `--all-caches`.
    pub all_caches: bool,
    /// `--list-caches`: list the project's caches instead of waiting.
    pub list_caches: bool,
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
    /// Log level (`Error` with `--quiet`).
    pub log_level: LogLevel,
    /// Summary format.
    pub output: Format,
    /// Settings that are allowed but probably not meant (a bound in the
    /// future): logged as warnings once logging is set up.
    pub warnings: Vec<String>,
    /// `--table`, checked, without duplicates.
    pub tables: Vec<TableRef>,
    /// `--catalog-id` and `--schema`.
    pub catalog: Option<CatalogScope>,
    /// `--cancel-on-exit` (only with `--trigger`).
    pub cancel_on_exit: bool,
    /// The proxy every request goes through (`--proxy`, or the proxy
    /// variables), or `None` for direct connections.
    pub proxy: Option<ProxyChoice>,
    /// `-- COMMAND [ARGS…]`: run once ready; empty when not given.
    pub command: Vec<OsString>,
    /// `--pass-api-key`: keep the key variables in the command's environment.
    pub pass_api_key: bool,
    /// `--no-wait` (only with `--trigger`): trigger, print a resume token, exit.
    pub no_wait: bool,
    /// `--resume TOKEN`, read and checked against the other settings.
    pub resume: Option<crate::resume::Token>,
    /// `--cancel` (only with `--resume`): cancel the token's run.
    pub cancel: bool,
    /// `--materialized-query`, trimmed, without duplicates.
    pub materialized_queries: Vec<String>,
    /// `--refresh-query`, trimmed, without duplicates.
    pub refresh_queries: Vec<String>,
    /// `--list-materialized-queries`.
    pub list_materialized_queries: bool,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Request {
    /// Wait (or, with `--list-caches`, list) with this configuration.
    Run(Box<Config>),
    /// `--generate`: print this and exit 0.
    Generate(Generate),
    /// `-h`: print this quick look on stdout and exit 0.
    QuickHelp(String),
}

/// What went wrong on the command line: print it, exit 2 (or 0 for
/// `--help` and `--version`, which clap also reports as errors).
#[derive(Debug)]
pub enum CliError {
    /// A clap error: `--help`, `--version`, and usage errors that echo no
    /// argument the user gave.
    Clap(clap::Error),
    /// One of our own checks, or a clap error reworded so that it cannot
    /// echo a value that may be the key.
    Invalid(String),
}

/// The usage line: what is required, whichever way it is given.
const USAGE: &str = "\
peaka-wait --project-id <ID> (--cache-id <ID>... | --all-caches) [OPTIONS]
       peaka-wait --project-id <ID> (--table <SCHEMA.TABLE>... | --catalog-id <ID> [--schema <NAME>]) [OPTIONS]
       peaka-wait --project-id <ID> ... [OPTIONS] -- COMMAND [ARGS...]   (runs COMMAND once ready)
       peaka-wait --project-id <ID> --list-caches [OPTIONS]
       peaka-wait --generate <WHAT>
       (each flag can also come from its PEAKA_* environment variable; the key only from the environment)";

/// Parses and checks the command line and environment.
pub fn parse<I, T>(args: I, env: impl Fn(&str) -> Option<String>) -> Result<Request, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    refuse_key_flag(&args)?;
    if quick::asked(&args) {
        return Ok(Request::QuickHelp(quick::text()));
    }
    // An empty variable (`PEAKA_TIMEOUT=` from a template, an unset
    // GitHub input) is an unset one, as empty booleans and proxy variables
    // already are. The key alone keeps its own message: an empty
    // PEAKA_API_KEY is most often a secret that does not exist.
    let env = |name: &str| env(name).filter(|v| !v.is_empty() || name == "PEAKA_API_KEY");
    let command = Args::command().mut_args(|arg| {
        let unset = arg
            .get_env()
            .and_then(|name| name.to_str())
            .is_some_and(|name| env(name).is_none());
        if unset { arg.env(None) } else { arg }
    });
    let matches = command
        .clone()
        .try_get_matches_from(&args)
        .map_err(reword_clap_error)?;
    let parsed = Args::from_arg_matches(&matches).map_err(reword_clap_error)?;
    if let Some(what) = &parsed.generate {
        // Checked by clap against the same list.
        return Generate::from_str(what, true)
            .map(Request::Generate)
            .map_err(CliError::Invalid);
    }
    let names = names::Names::new(&command, &matches, &env);
    check::check(parsed, &names, &env)
        .map(|config| Request::Run(Box::new(config)))
        .map_err(CliError::Invalid)
}

/// The summary format a usage error is reported in: `--output` or
/// `PEAKA_OUTPUT` as written, even when the command line is otherwise
/// wrong (the last `--output` wins, as in a successful parse).
pub fn requested_output(args: &[OsString], env: &dyn Fn(&str) -> Option<String>) -> Format {
    let mut chosen = env("PEAKA_OUTPUT");
    let mut args = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == "--output" {
            chosen = args.next().map(|v| v.into_owned());
        } else if let Some(value) = arg.strip_prefix("--output=") {
            chosen = Some(value.to_owned());
        }
    }
    match chosen {
        Some(value) if value.trim().eq_ignore_ascii_case("json") => Format::Json,
        _ => Format::Text,
    }
}

/// Catches `--api-key` before clap does, because clap's "unexpected
/// argument '--api-key=…'" would print the key. After `--` too: there it
/// is a stray argument, but one that still carries the key.
fn refuse_key_flag(args: &[OsString]) -> Result<(), CliError> {
    let given = args.iter().skip(1).any(|arg| {
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

/// Rewords the clap errors that would echo an argument the user typed (an
/// unknown flag with `=value`, a stray word) which may be the key; keeps
/// the others, which name only our own flags.
fn reword_clap_error(err: clap::Error) -> CliError {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() != ErrorKind::UnknownArgument {
        return CliError::Clap(err);
    }
    let given = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.clone(),
        _ => String::new(),
    };
    let suggestion = match err.get(ContextKind::SuggestedArg) {
        Some(ContextValue::String(flag)) => format!(" (did you mean {flag}?)"),
        _ => String::new(),
    };
    let name = given.split('=').next().unwrap_or_default();
    let looks_like_a_flag = name.starts_with('-')
        && name.len() <= 40
        && name[1..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    CliError::Invalid(if looks_like_a_flag {
        format!(
            "unknown flag {name}{suggestion}; see peaka-wait --help for the flags (a value given as {name}=… is not shown)"
        )
    } else {
        "unexpected argument (not shown, in case it is a secret): peaka-wait takes no positional arguments; \
every value goes after its flag, like --cache-id ID, and the key goes in PEAKA_API_KEY"
            .into()
    })
}

/// A value parser that keeps the text (it is checked in `cli::check`, where
/// its source is known) but tells `--help` and the shell completions the
/// values `E` accepts.
fn one_of<E: ValueEnum>() -> clap::builder::ValueParser {
    #[derive(Clone)]
    struct OneOf(Vec<PossibleValue>);
    impl TypedValueParser for OneOf {
        type Value = String;
        fn parse_ref(
            &self,
            cmd: &clap::Command,
            _arg: Option<&clap::Arg>,
            value: &std::ffi::OsStr,
        ) -> Result<String, clap::Error> {
            value
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidUtf8).with_cmd(cmd))
        }
        fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
            Some(Box::new(self.0.iter().cloned()))
        }
    }
    let values = E::value_variants()
        .iter()
        .filter_map(ValueEnum::to_possible_value)
        .collect();
    clap::builder::ValueParser::new(OneOf(values))
}

#[cfg(test)]
mod tests;
