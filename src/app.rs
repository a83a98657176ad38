//! Wiring: turns a checked [`Config`] into a client, a plan and a schedule,
//! runs the gate, and reports. `main` only calls [`main`].

use std::ffi::OsString;

use jiff::Timestamp;

use crate::cli::{self, CliError, Config};
use crate::client::Client;
use crate::exit_codes::Outcome;
use crate::gate::{self, Caches, Plan};
use crate::schedule::Schedule;
use crate::{logging, progress, report};

/// Runs peaka-wait with these arguments and this environment; returns the
/// process exit code.
pub fn main<I, T>(args: I, env: &dyn Fn(&str) -> Option<String>) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let started = Timestamp::now();
    let config = match cli::parse(args, env) {
        Ok(config) => config,
        Err(CliError::Clap(err)) => {
            let code = err.exit_code();
            // --help into a closed pipe is not worth a panic.
            let _ = err.print();
            return u8::try_from(code).unwrap_or(Outcome::Usage.code());
        }
        Err(CliError::Invalid(message)) => return usage_error(&message),
    };
    logging::init(config.log_format, config.log_level);
    if progress::wanted(config.log_format == cli::Format::Json) && !config.timeout.is_zero() {
        progress::start(progress::colour(env));
    }
    let client = match Client::new(config.base_url.clone(), config.api_key.expose()) {
        Ok(client) => client.with_request_timeout(config.request_timeout),
        Err(message) => return usage_error(&message),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return usage_error(&format!("cannot start the async runtime: {err}")),
    };
    let plan = plan(&config, started);
    let schedule = if config.jitter {
        Schedule::new(config.initial_interval, config.max_interval)
    } else {
        Schedule::without_jitter(config.initial_interval, config.max_interval)
    };
    let report = runtime.block_on(gate::run(&plan, &client, schedule, gate::shutdown_signal()));
    progress::clear();
    log_outcome(&report);
    report::emit(&report, config.output, env);
    report.outcome.code()
}

/// The plan of the run: the checked configuration, and when it started.
pub fn plan(config: &Config, started_at: Timestamp) -> Plan {
    Plan {
        project_id: config.project_id.clone(),
        caches: if config.all_caches {
            Caches::All
        } else {
            Caches::Listed(config.cache_ids.clone())
        },
        execution: config.execution,
        since: config.since,
        started_after: config.started_after,
        started_at,
        trigger: config.trigger,
        stall_timeout: config.stall_timeout,
        timeout: config.timeout,
        request_timeout: config.request_timeout,
        schedule: config.schedule,
        detection_delay: config.detection_delay,
    }
}

fn log_outcome(report: &gate::Report) {
    let elapsed_ms = crate::timespec::millis(report.elapsed);
    let result = report.outcome.name();
    match report.outcome {
        Outcome::Ready => tracing::info!(
            result,
            elapsed_ms,
            polls = report.polls,
            "{}",
            report.message
        ),
        _ => tracing::error!(
            result,
            elapsed_ms,
            polls = report.polls,
            "{}",
            report.message
        ),
    }
}

fn usage_error(message: &str) -> u8 {
    eprintln!("error: {message}");
    Outcome::Usage.code()
}
