//! The GitHub Action mirrors the command line: every flag that makes sense
//! in a workflow is an input of `action.yml`, passed by the run step to the
//! flag's environment variable. This test fails when they drift apart.

use clap::CommandFactory;
use peaka_wait::cli::Args;

/// Flags that deliberately have no input.
const NO_INPUT: &[&str] = &[
    // clap's own; a workflow step never wants them.
    "help",
    "version",
    // Prints a man page or completions and exits: not a gate.
    "generate",
    // Prints a table and exits: a tool for finding ids by hand.
    "list-caches",
    "list-materialized-queries",
    // Hidden; only benchmarks turn the jitter off.
    "no-jitter",
    // Only with `-- COMMAND`, which the action has no input for: a
    // workflow runs the job in its next step.
    "pass-api-key",
];

/// Inputs that deliberately have no flag.
const NO_FLAG: &[&str] = &[
    // The key is never a flag; the action passes it as PEAKA_API_KEY.
    "api-key",
];

/// Boolean flags read their variable themselves (to accept yes/no, 1/0):
/// clap does not know it, so it is listed here.
const BOOL_ENV: &[(&str, &str)] = &[
    ("all-caches", "PEAKA_ALL_CACHES"),
    ("quiet", "PEAKA_QUIET"),
    ("cancel-on-exit", "PEAKA_CANCEL_ON_EXIT"),
    ("no-wait", "PEAKA_NO_WAIT"),
    ("cancel", "PEAKA_CANCEL"),
];

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The keys under `inputs:` (two-space indented `name:` lines).
fn action_inputs(yaml: &str) -> Vec<String> {
    let mut inputs = Vec::new();
    let mut inside = false;
    for line in yaml.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            inside = line.trim_end() == "inputs:";
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(rest) = line.strip_prefix("  ") {
            if !rest.starts_with(' ') {
                if let Some(name) = rest.trim_end().strip_suffix(':') {
                    inputs.push(name.to_owned());
                }
            }
        }
    }
    inputs
}

#[test]
fn every_flag_has_an_input_and_every_input_reaches_its_variable() {
    let yaml = read("action.yml");
    let script = read("scripts/action-run.sh");
    let inputs = action_inputs(&yaml);
    assert!(inputs.len() > 10, "the line parser found {inputs:?}");
    let command = Args::command();
    let mut flags = Vec::new();
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        flags.push(long.to_owned());
        if NO_INPUT.contains(&long) {
            assert!(
                !inputs.iter().any(|i| i == long),
                "--{long} is listed as having no input, but action.yml has one"
            );
            continue;
        }
        assert!(
            inputs.iter().any(|i| i == long),
            "--{long} has no input in action.yml (add one, or list it in NO_INPUT with a reason)"
        );
        let var = arg
            .get_env()
            .map(|v| v.to_string_lossy().into_owned())
            .or_else(|| {
                BOOL_ENV
                    .iter()
                    .find(|(flag, _)| *flag == long)
                    .map(|(_, var)| var.to_string())
            })
            .unwrap_or_else(|| panic!("--{long} has no environment variable"));
        let input_var = format!("INPUT_{}", long.to_uppercase().replace('-', "_"));
        assert!(
            yaml.contains(&format!("{input_var}: ${{{{ inputs.{long} }}}}")),
            "action.yml does not pass inputs.{long} as {input_var}"
        );
        assert!(
            script
                .lines()
                .any(|l| l.contains(&format!("set_if {var} ")) && l.contains(&input_var)),
            "scripts/action-run.sh does not map {input_var} to {var}"
        );
    }
    for input in &inputs {
        assert!(
            flags.contains(input) || NO_FLAG.contains(&input.as_str()),
            "input {input} is no flag of peaka-wait"
        );
    }
}

#[test]
fn the_readme_names_every_input_and_every_flag() {
    let readme = read("README.md");
    for input in action_inputs(&read("action.yml")) {
        assert!(
            readme.contains(&format!("`{input}`")),
            "README lacks input `{input}`"
        );
    }
    for arg in Args::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if arg.is_hide_set() || long == "help" || long == "version" {
            continue;
        }
        assert!(
            readme.contains(&format!("| `--{long}")),
            "README's Reference table lacks --{long}"
        );
    }
}
