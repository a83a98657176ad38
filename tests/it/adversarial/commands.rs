//! Issue 8, item 11: the server's words are data, never commands. Server
//! text with line breaks, workflow commands, terminal escapes, Unicode
//! line separators and Markdown/HTML must reach no output in a form that
//! GitHub, a terminal or a Markdown renderer would obey.

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::*;

/// Line breaks of every kind carrying workflow commands, terminal colour
/// and HTML.
fn control() -> String {
    "boom\n::warning title=X::pwned\n::add-mask::x\r\n::error::x\u{2028}::notice::ls\u{2029}::notice::ps \u{1b}[31mred\u{1b}[0m <img src=x onerror=alert(1)> a|b|c".to_owned()
}

/// The documented outputs: the keys of `outputs:` in `action.yml` (which
/// the README's list mirrors). The gate must write each exactly once, and
/// nothing else.
fn documented_outputs() -> Vec<String> {
    let action = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml"))
        .expect("read action.yml");
    let mut names: Vec<String> = action
        .lines()
        .skip_while(|line| *line != "outputs:")
        .skip(1)
        .take_while(|line| line.is_empty() || line.starts_with(' '))
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|line| !line.starts_with(' '))
        .filter_map(|line| line.strip_suffix(':'))
        .map(str::to_owned)
        .collect();
    assert!(names.len() >= 8, "action.yml lists no outputs: {names:?}");
    names.sort();
    names
}

/// The names a `$GITHUB_OUTPUT` file defines (`name=value` lines and
/// `name<<DELIM` blocks), or why it cannot be read as the runner reads it.
fn output_names(file: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut lines = file.split('\n');
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let heredoc = line.find("<<");
        match (heredoc, line.find('=')) {
            (Some(h), eq) if eq.is_none_or(|e| h < e) => {
                let delimiter = &line[h + 2..];
                names.push(line[..h].to_owned());
                if !lines.any(|l| l == delimiter) {
                    return Err(format!("unterminated block {line:?}"));
                }
            }
            (_, Some(e)) => names.push(line[..e].to_owned()),
            _ => return Err(format!("a line that is no output: {line:?}")),
        }
    }
    Ok(names)
}

/// The `|` in a Markdown line that are not escaped by a backslash.
fn unescaped_pipes(line: &str) -> usize {
    let mut count = 0;
    let mut backslashes = 0;
    for c in line.chars() {
        match c {
            '\\' => backslashes += 1,
            '|' if backslashes % 2 == 0 => {
                count += 1;
                backslashes = 0;
            }
            _ => backslashes = 0,
        }
    }
    count
}

/// Everything item 11 forbids, over every output of one run.
fn violations(ran: &Ran) -> Vec<String> {
    let mut found = Vec::new();
    for (place, text) in [("stdout", &ran.stdout), ("stderr", &ran.stderr)] {
        for line in text.split(['\n', '\r']) {
            let start = line.trim_start();
            if start.starts_with("::") && !start.starts_with("::error title=peaka-wait") {
                found.push(format!("{place} has a workflow command: {line:?}"));
            }
        }
        for (name, c) in [
            ("ESC", '\u{1b}'),
            ("U+2028", '\u{2028}'),
            ("U+2029", '\u{2029}'),
        ] {
            if let Some(line) = text.lines().find(|l| l.contains(c)) {
                found.push(format!("{place} has a raw {name}: {line:?}"));
            }
        }
    }
    let summary = ran.step_summary.to_lowercase();
    for tag in ["<script", "<img"] {
        if summary.contains(tag) {
            found.push(format!(
                "GITHUB_STEP_SUMMARY has a raw {tag}: {}",
                ran.step_summary
            ));
        }
    }
    let rows: Vec<&str> = ran
        .step_summary
        .lines()
        .filter(|l| l.starts_with('|'))
        .collect();
    if let Some(header) = rows.first() {
        let want = unescaped_pipes(header);
        for row in &rows {
            if unescaped_pipes(row) != want {
                found.push(format!("GITHUB_STEP_SUMMARY row breaks the table: {row:?}"));
            }
        }
    } else {
        found.push(format!(
            "GITHUB_STEP_SUMMARY has no table: {:?}",
            ran.step_summary
        ));
    }
    match output_names(&ran.github_output) {
        Ok(mut names) => {
            names.sort();
            let want = documented_outputs();
            if names != want {
                found.push(format!(
                    "GITHUB_OUTPUT defines {names:?}, not the outputs action.yml documents {want:?}"
                ));
            }
        }
        Err(why) => found.push(format!("GITHUB_OUTPUT: {why}")),
    }
    found
}

/// Runs in both log formats and both output formats; every run must end
/// with `code` and break none of the rules.
fn assert_inert(serve: &(dyn Fn() -> String + Sync), args: &[&str], code: u8) {
    let variants = every_format(args);
    let mut failures = Vec::new();
    for (args, ran) in variants.iter().zip(run_all(serve, &variants)) {
        let what = args[args.len() - 6..args.len() - 2].join(" ");
        if ran.killed || ran.code != code {
            failures.push(format!("[{what}] exit {} (want {code})\n{ran}", ran.code));
        }
        failures.extend(
            violations(&ran)
                .into_iter()
                .map(|v| format!("[{what}] {v}")),
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_failed_execution_error_is_not_a_workflow_command() {
    let mut e = execution("e1", "FAILED", -120, Some(-60));
    e["error"] = json!({"message": control()});
    assert_inert(
        &|| serve_status(cache("c", "FAILED", e.clone(), Value::Null)),
        &["--cache-id", "c"],
        1,
    );
}

#[test]
fn an_execution_id_on_a_ready_cache_is_not_a_workflow_command() {
    let mut e = execution("e1", "COMPLETED", -120, Some(-60));
    e["id"] = json!(format!("e1\n::set-output name=records::999\n{}", control()));
    assert_inert(
        &|| serve_status(cache("c", "COMPLETED", e.clone(), Value::Null)),
        &["--cache-id", "c"],
        0,
    );
}

#[test]
fn a_history_entry_error_is_not_a_workflow_command() {
    let mut missed = execution("x1", "FAILED", -200, Some(-100));
    missed["id"] = json!(format!(
        "x1\n::set-output name=result::ready\n{}",
        control()
    ));
    missed["error"] = json!({"message": control()});
    let history = ok(&json!([execution("e2", "RUNNING", -30, None), missed]));
    assert_inert(&|| slot_moves(history.clone()), &["--cache-id", "c"], 1);
}

#[test]
fn a_4xx_message_is_not_a_workflow_command() {
    let base = serve(vec![route(
        "GET",
        STATUS_C,
        Box::new(|_| {
            let message = format!("denied\r\n::error::x\n{}", control());
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": "X", "message": message, "errorCode": null}))
        }),
    )]);
    assert_inert(&|| base.clone(), &["--cache-id", "c"], 6);
}

#[test]
fn a_5xx_message_is_not_a_workflow_command() {
    let base = serve(vec![route(
        "GET",
        STATUS_C,
        Box::new(|_| ResponseTemplate::new(503).set_body_json(json!({"message": control()}))),
    )]);
    assert_inert(&|| base.clone(), &["--cache-id", "c"], 3);
}

#[test]
fn a_cache_id_from_the_project_list_is_not_a_workflow_command() {
    let id = format!("c\n::warning::y\n{}", control());
    let base = serve(vec![route(
        "GET",
        LIST,
        always(json!([completed_cache(&id, 60)])),
    )]);
    assert_inert(&|| base.clone(), &["--all-caches"], 0);
}

#[test]
fn html_and_pipes_in_an_execution_id_stay_text_in_the_step_summary() {
    let mut e = execution("e1", "COMPLETED", -120, Some(-60));
    e["id"] = json!("<img src=x onerror=alert(1)><script>alert(2)</script>|x|`code`");
    assert_inert(
        &|| serve_status(cache("c", "COMPLETED", e.clone(), Value::Null)),
        &["--cache-id", "c"],
        0,
    );
}

#[test]
fn html_and_pipes_in_an_error_stay_text_in_the_step_summary() {
    let mut e = execution("e1", "FAILED", -120, Some(-60));
    e["error"] = json!("<script>alert(3)</script> | broken | table");
    assert_inert(
        &|| serve_status(cache("c", "FAILED", e.clone(), Value::Null)),
        &["--cache-id", "c"],
        1,
    );
}
