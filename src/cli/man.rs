//! `--generate man`: the man page. clap_mangen writes the name, synopsis,
//! description and options; the rest of `--help`'s manual becomes the
//! sections a man page reader looks for (EXIT STATUS, ENVIRONMENT,
//! EXAMPLES and the others), not one section called EXTRA.

use std::io::Write;

use clap::CommandFactory;

use super::{AFTER_LONG_HELP, Args};

/// `--help`'s headings that a man page names otherwise.
const RENAMED: [(&str, &str); 1] = [("EXIT CODES", "EXIT STATUS")];

/// Variables read that are not a flag's (the flags' own are listed from
/// their definitions).
const OTHER_VARIABLES: [(&str, &str); 13] = [
    (
        "PEAKA_API_KEY",
        "The API key (never a flag: it would show in the process list).",
    ),
    ("PEAKA_ALL_CACHES", "true/false: the same as --all-caches."),
    ("PEAKA_QUIET", "true/false: the same as --quiet."),
    (
        "PEAKA_CANCEL_ON_EXIT",
        "true/false: the same as --cancel-on-exit.",
    ),
    ("PEAKA_NO_WAIT", "true/false: the same as --no-wait."),
    ("PEAKA_CANCEL", "true/false: the same as --cancel."),
    (
        "PEAKA_PASS_API_KEY",
        "true/false: the same as --pass-api-key.",
    ),
    (
        "PEAKA_NO_JITTER",
        "true/false: the same as --no-jitter (benchmarks only).",
    ),
    (
        "HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY",
        "The proxy, as curl reads them (see PROXY).",
    ),
    (
        "SSL_CERT_FILE, SSL_CERT_DIR",
        "Extra certificate authorities to trust.",
    ),
    (
        "NO_COLOR",
        "Set to a non-empty value: no colour on the terminal.",
    ),
    (
        "CI, GITHUB_ACTIONS",
        "Set (not empty, false or 0): no live progress line, even on a pseudo-terminal.",
    ),
    (
        "GITHUB_OUTPUT, GITHUB_STEP_SUMMARY",
        "In GitHub Actions: where the step outputs and the step summary are written.",
    ),
];

/// Writes the man page to `out`.
pub fn render(out: &mut dyn Write) -> std::io::Result<()> {
    let command = Args::command();
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    for (heading, body) in sections(AFTER_LONG_HELP) {
        let heading = RENAMED
            .iter()
            .find(|(from, _)| *from == heading)
            .map_or(heading, |(_, to)| to);
        section(out, heading, &body)?;
        if heading == "EXIT STATUS" {
            section(out, "ENVIRONMENT", &environment(&command))?;
        }
    }
    man.render_version_section(out)
}

/// `--help`'s manual cut at its headings (`HEADING:` alone on a line).
fn sections(text: &str) -> Vec<(&str, String)> {
    let mut out: Vec<(&str, String)> = Vec::new();
    for line in text.lines() {
        match line.strip_suffix(':') {
            Some(heading) if !line.starts_with(' ') && !heading.is_empty() => {
                out.push((heading, String::new()));
            }
            _ => {
                if let Some((_, body)) = out.last_mut() {
                    // The manual indents its bodies by four spaces.
                    body.push_str(line.strip_prefix("    ").unwrap_or(line));
                    body.push('\n');
                }
            }
        }
    }
    out
}

/// Every flag's variable, then the others.
fn environment(command: &clap::Command) -> String {
    let mut text = String::new();
    for arg in command.get_arguments() {
        let (Some(var), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        text.push_str(&format!(
            "{}\n    the same as --{long}\n",
            var.to_string_lossy()
        ));
    }
    for (name, what) in OTHER_VARIABLES {
        text.push_str(&format!("{name}\n    {what}\n"));
    }
    text.push_str("An empty value is the same as an unset one.\n");
    text
}

/// One section, its body kept as written (roff no-fill), with the
/// characters roff reads as commands escaped.
fn section(out: &mut dyn Write, heading: &str, body: &str) -> std::io::Result<()> {
    writeln!(out, ".SH \"{heading}\"")?;
    writeln!(out, ".nf")?;
    for line in body.trim_end().lines() {
        let line = line.replace('\\', "\\e");
        // A line starting with . or ' would be a roff request.
        let line = if line.starts_with(['.', '\'']) {
            format!("\\&{line}")
        } else {
            line
        };
        writeln!(out, "{line}")?;
    }
    writeln!(out, ".fi")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manual_has_exit_status_environment_and_examples_sections() {
        let mut page = Vec::new();
        render(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        for heading in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH OPTIONS",
            ".SH \"EXIT STATUS\"",
            ".SH \"ENVIRONMENT\"",
            ".SH \"EXAMPLES\"",
            ".SH \"API KEY\"",
        ] {
            assert!(page.contains(heading), "{heading} missing");
        }
        assert!(!page.contains("EXTRA"), "an EXTRA section is left");
        let environment = page
            .split(".SH \"ENVIRONMENT\"")
            .nth(1)
            .and_then(|rest| rest.split(".SH").next())
            .unwrap();
        for var in [
            "PEAKA_TIMEOUT",
            "PEAKA_API_KEY",
            "PEAKA_PROJECT_ID",
            "NO_COLOR",
            "CI",
        ] {
            assert!(environment.contains(var), "{var} missing: {environment}");
        }
        assert!(
            page.contains("143  interrupted"),
            "the exit codes are not listed"
        );
    }
}
