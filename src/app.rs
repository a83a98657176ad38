//! Wiring: turns a checked [`Config`] into a client, a plan and a schedule,
//! runs the gate, and reports. `main` only calls [`main`].

use std::ffi::OsString;
use std::io::Write;

use jiff::Timestamp;

use crate::cli::{self, CliError, Config, Format, Generate, Request};
use crate::client::Client;
use crate::exit_codes::Outcome;
use crate::gate::{self, Caches, Plan};
use crate::schedule::Schedule;
use crate::{export, list, logging, progress, terminal};

/// Runs peaka-wait with these arguments and this environment; returns the
/// process exit code.
pub fn main<I, T>(args: I, env: &dyn Fn(&str) -> Option<String>) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let started = Timestamp::now();
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let config = match cli::parse(args.clone(), env) {
        Ok(Request::Run(config)) => *config,
        Ok(Request::Generate(what)) => return generate(what),
        Ok(Request::QuickHelp(text)) => {
            // Into a closed pipe (`| head`) it is not worth a panic.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            return Outcome::Ready.code();
        }
        Err(CliError::Clap(err)) => {
            let code = err.exit_code();
            // --help into a closed pipe is not worth a panic.
            let _ = err.print();
            if code == i32::from(Outcome::Usage.code()) {
                let rendered = err.to_string();
                let first = rendered.lines().next().unwrap_or_default();
                let message = first.strip_prefix("error: ").unwrap_or(first);
                export::emit_usage_error(message, cli::requested_output(&args, env), env);
            }
            return u8::try_from(code).unwrap_or(Outcome::Usage.code());
        }
        Err(CliError::Invalid(message)) => {
            return usage_error(&message, cli::requested_output(&args, env), env);
        }
    };
    logging::init(config.log_format, config.log_level, env);
    let json_logs = config.log_format == cli::Format::Json;
    // `-q` (log level `error`) keeps stderr to errors: no progress line.
    let quiet = config.log_level == cli::LogLevel::Error;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let output = config.output;
    if let Some(proxy) = &config.proxy {
        tracing::info!(proxy = %proxy.display(), source = proxy.source(), "requests go through the proxy {} (from {})", proxy.display(), proxy.source());
    }
    let client = match Client::with_proxy(
        config.base_url.clone(),
        config.api_key.expose(),
        config.proxy.clone(),
    ) {
        Ok(client) => client.with_request_timeout(config.request_timeout),
        Err(message) => return usage_error(&message, output, env),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return usage_error(
                &format!("cannot start the async runtime: {err}"),
                output,
                env,
            );
        }
    };
    let schedule = if config.jitter {
        Schedule::new(config.initial_interval, config.max_interval)
    } else {
        Schedule::without_jitter(config.initial_interval, config.max_interval)
    };
    if config.list_materialized_queries {
        let listing = runtime.block_on(list::run_queries(
            &config,
            &client,
            schedule,
            std::io::stdout(),
        ));
        return finish_listing(&listing, output);
    }
    if config.list_caches {
        let listing = runtime.block_on(list::run(&config, &client, schedule, std::io::stdout()));
        return finish_listing(&listing, output);
    }
    // Only the wait has a progress line: a listing or an error before it
    // would leave one drawn.
    if progress::wanted(json_logs, quiet, env) && !config.timeout.is_zero() {
        progress::start(terminal::colour(env));
    }
    let plan = plan(&config, started);
    let report = runtime.block_on(gate::run(&plan, &client, schedule, gate::shutdown_signal()));
    progress::clear();
    // A person at a terminal reads the outcome in the summary just below;
    // a log (a pipe, a file, JSON) keeps its own line of it.
    if json_logs || !(terminal::stderr() && terminal::stdout()) {
        log_outcome(&report);
    }
    export::emit(&report, config.output, env);
    if !config.command.is_empty() {
        return run_command(&config, &report);
    }
    report.outcome.code()
}

/// `-- COMMAND`: run it when ready (the summary is already written), or
/// say why not and keep the gate's code.
fn run_command(config: &Config, report: &gate::Report) -> u8 {
    let name = crate::exec::display(&config.command);
    if report.outcome != Outcome::Ready {
        tracing::warn!(
            result = report.outcome.name(),
            "not running {name}: not ready (the gate's result is {})",
            report.outcome.name()
        );
        return report.outcome.code();
    }
    // The job's output must come after the summary, not before it.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let env = export::command_env(report);
    match crate::exec::command(&config.command, &env, config.pass_api_key) {
        Some(command) => {
            tracing::info!("running {name}");
            crate::exec::run(command)
        }
        None => report.outcome.code(),
    }
}

/// `--generate`: the man page or a completion script on stdout.
fn generate(what: Generate) -> u8 {
    use clap::CommandFactory;
    let mut command = cli::Args::command();
    let mut stdout = std::io::stdout().lock();
    let shell = match what {
        Generate::Man => {
            return match cli::man::render(&mut stdout) {
                Ok(()) => Outcome::Ready.code(),
                Err(err) => {
                    eprintln!("error: cannot write the man page: {err}");
                    Outcome::Usage.code()
                }
            };
        }
        Generate::CompleteBash => clap_complete::Shell::Bash,
        Generate::CompleteZsh => clap_complete::Shell::Zsh,
        Generate::CompleteFish => clap_complete::Shell::Fish,
        Generate::CompletePowershell => clap_complete::Shell::PowerShell,
    };
    clap_complete::generate(shell, &mut command, "peaka-wait", &mut stdout);
    Outcome::Ready.code()
}

/// Ends a `--list-caches` run: the listing is already on stdout; an error
/// goes to stderr (and as a JSON object on stdout with `--output json`).
fn finish_listing(listing: &list::Listing, output: Format) -> u8 {
    let outcome = listing.outcome;
    let mut stdout = std::io::stdout().lock();
    if outcome != Outcome::Ready {
        tracing::error!(result = outcome.name(), "{}", listing.text);
        if output == Format::Json {
            let summary = serde_json::json!({
                "result": outcome.name(),
                "exitCode": outcome.code(),
                "message": listing.text,
            });
            let _ = writeln!(stdout, "{summary}");
        }
    }
    let _ = stdout.flush();
    outcome.code()
}

/// The plan of the run: the checked configuration, and when it started.
pub fn plan(config: &Config, started_at: Timestamp) -> Plan {
    Plan {
        project_id: config.project_id.clone(),
        // With --resume, the check made the token's caches the list.
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
        schedule: config.schedule,
        detection_delay: config.detection_delay,
        max_interval: config.max_interval,
        jitter: config.jitter,
        no_wait: config.no_wait,
        resume: config.resume.clone(),
        cancel: config.cancel,
        materialized_queries: config.materialized_queries.clone(),
        refresh_queries: config.refresh_queries.clone(),
    }
}

fn log_outcome(report: &gate::Report) {
    let elapsed_ms = crate::timespec::millis(report.elapsed);
    let result = report.outcome.name();
    match report.outcome {
        Outcome::Ready | Outcome::Triggered | Outcome::Cancelled => tracing::info!(
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

fn usage_error(message: &str, output: Format, env: &dyn Fn(&str) -> Option<String>) -> u8 {
    eprintln!("error: {message}");
    export::emit_usage_error(message, output, env);
    Outcome::Usage.code()
}
