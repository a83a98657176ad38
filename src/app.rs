//! Wiring: turns a checked [`Config`] into a client, a plan and a schedule,
//! runs the gate, and reports. `main` only calls [`main`].

use std::ffi::OsString;

use jiff::Timestamp;

use crate::cli::{self, CliError, Config};
use crate::client::Client;
use crate::exit_codes::Outcome;
use crate::gate::{self, Caches, Plan};
use crate::schedule::Schedule;
use crate::{logging, report};

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
    if let Some(proxy) = &config.proxy {
        tracing::info!(proxy = %proxy.display(), source = proxy.source(), "requests go through the proxy {} (from {})", proxy.display(), proxy.source());
    }
    let client = match Client::with_proxy(
        config.base_url.clone(),
        config.api_key.expose(),
        config.proxy.clone(),
    ) {
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
    log_outcome(&report);
    report::emit(&report, config.output, env);
    if !config.command.is_empty() {
        return run_command(&config, &report);
    }
    report.outcome.code()
}

/// `-- COMMAND`: run it when ready (the summary is already written), or
/// say why not and keep the gate's code.
fn run_command(config: &Config, report: &gate::Report) -> u8 {
    let name = config.command[0].to_string_lossy();
    if report.outcome != Outcome::Ready {
        tracing::warn!(
            result = report.outcome.name(),
            "not running {name}: the gate ended {}",
            report.outcome.name()
        );
        return report.outcome.code();
    }
    // The job's output must come after the summary, not before it.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let env = report::command_env(report);
    match crate::exec::command(&config.command, &env, config.pass_api_key) {
        Some(command) => {
            tracing::info!("running {name}");
            crate::exec::run(command)
        }
        None => report.outcome.code(),
    }
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
        tables: config.tables.clone(),
        catalog: config.catalog.clone(),
        execution: config.execution,
        since: config.since,
        started_after: config.started_after,
        started_at,
        trigger: config.trigger,
        stall_timeout: config.stall_timeout,
        cancel_on_exit: config.cancel_on_exit,
        timeout: config.timeout,
        request_timeout: config.request_timeout,
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
