//! `-h`: a quick look that fits a screen (the usage, the settings most
//! runs need, one line each, and the exit codes); `--help` stays the
//! manual. The lines are read from the same clap definitions as `--help`,
//! so the two cannot disagree.

use std::ffi::OsString;

use clap::CommandFactory;

use super::{AFTER_HELP, Args};

/// The settings a first run needs, in the order a reader looks for them.
const QUICK: [&str; 16] = [
    "project_id",
    "cache_ids",
    "all_caches",
    "tables",
    "catalog_id",
    "list_caches",
    "trigger",
    "execution",
    "since",
    "timeout",
    "stall_timeout",
    "api_key_file",
    "base_url",
    "output",
    "quiet",
    "generate",
];

/// Where the first sentence of `--help` cut short reads wrong: the quick
/// look's own words.
const OWN_WORDS: [(&str, &str); 3] = [
    (
        "execution",
        "Which refresh: any (default), incremental, full, or both",
    ),
    (
        "stall_timeout",
        "End with exit 7 (stalled) once the awaited execution stops moving",
    ),
    ("output", "The summary on stdout: text (default) or json"),
];

/// The widest help line of the quick look.
const WIDTH: usize = 100;

/// Whether the user asked for the quick look: `-h` before any `--`.
pub fn asked(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "-h")
}

/// The quick look's text.
pub fn text() -> String {
    let command = Args::command();
    let mut out = String::new();
    if let Some(about) = command.get_about() {
        out.push_str(&format!("{about}\n\n"));
    }
    out.push_str(&format!("Usage: {}\n\nMost used:\n", super::USAGE));
    for id in QUICK {
        let Some(arg) = command.get_arguments().find(|a| a.get_id() == id) else {
            continue;
        };
        let mut flag = String::new();
        if let Some(short) = arg.get_short() {
            flag.push_str(&format!("-{short}, "));
        }
        if let Some(long) = arg.get_long() {
            flag.push_str(&format!("--{long}"));
        }
        if let Some([name, ..]) = arg.get_value_names() {
            if arg.get_action().takes_values() {
                flag.push_str(&format!(" <{name}>"));
            }
        }
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let help = OWN_WORDS.iter().find(|(own, _)| *own == id).map_or_else(
            || fitted(first_sentence(&help), WIDTH - 30),
            |(_, words)| words,
        );
        let line = format!("  {flag:<27} {help}");
        out.push_str(&crate::text::printable(&line, WIDTH));
        out.push('\n');
    }
    out.push_str(&format!(
        "  {:<27} {}\n\n{AFTER_HELP}\n\nEvery setting, the rules and examples: peaka-wait --help (or man peaka-wait).\n",
        "-- COMMAND [ARGS...]", "Run COMMAND once every cache is ready"
    ));
    out
}

/// A help text's first sentence (to the first full stop or semicolon),
/// without its closing full stop.
fn first_sentence(help: &str) -> &str {
    let end = [help.find(". "), help.find(';')]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(help.len());
    help[..end].trim_end_matches('.')
}

/// `sentence` in at most `max` characters: whole, or cut before its last
/// clause (` (`, `, `, `: `) that fits; never with a parenthesis left open.
fn fitted(sentence: &str, max: usize) -> &str {
    let balanced = |s: &str| s.matches('(').count() == s.matches(')').count();
    if sentence.chars().count() <= max && balanced(sentence) {
        return sentence;
    }
    [" (", ", ", ": "]
        .iter()
        .flat_map(|d| sentence.match_indices(d).map(|(i, _)| i))
        .filter(|&i| sentence[..i].chars().count() <= max && balanced(&sentence[..i]))
        .max()
        .map_or(sentence, |i| &sentence[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_look_fits_a_screen_and_names_what_a_first_run_needs() {
        let text = text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() <= 40, "{} lines:\n{text}", lines.len());
        let flags = text.split("Most used:").nth(1).unwrap();
        assert!(
            flags
                .lines()
                .skip(1)
                .take_while(|l| !l.is_empty())
                .all(|l| l.chars().count() <= WIDTH),
            "{text}"
        );
        assert!(!text.contains('…'), "a help line is cut mid-word:\n{text}");
        for flag in [
            "--project-id <ID>",
            "--cache-id <ID>",
            "--all-caches ",
            "--timeout <DURATION>",
            "-q, --quiet",
            "-- COMMAND",
            "PEAKA_API_KEY",
            "Exit codes: 0 ready",
            "peaka-wait --help",
        ] {
            assert!(text.contains(flag), "{flag} missing:\n{text}");
        }
        // Every id of the list is a flag: none was renamed away.
        let command = Args::command();
        for id in QUICK.iter().chain(OWN_WORDS.iter().map(|(id, _)| id)) {
            assert!(
                command.get_arguments().any(|a| a.get_id() == id),
                "{id} is no flag"
            );
        }
    }

    #[test]
    fn only_a_short_h_before_the_command_asks_for_it() {
        let args = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(asked(&args(&["peaka-wait", "-h"])));
        assert!(asked(&args(&["peaka-wait", "--project-id", "p", "-h"])));
        assert!(!asked(&args(&["peaka-wait", "--help"])));
        assert!(!asked(&args(&["peaka-wait", "--", "ls", "-h"])));
    }

    #[test]
    fn a_long_sentence_is_cut_before_a_clause() {
        assert_eq!(fitted("Short", 10), "Short");
        assert_eq!(
            fitted("Wait for all (read once) instead", 20),
            "Wait for all"
        );
        assert_eq!(
            fitted("Wait for this (listed at the start", 60),
            "Wait for this"
        );
        assert_eq!(fitted("Give up, at most, soon", 17), "Give up, at most");
    }

    #[test]
    fn a_first_sentence_ends_at_the_first_full_stop_or_semicolon() {
        assert_eq!(first_sentence("The project. Required."), "The project");
        assert_eq!(first_sentence("A cache; repeat it"), "A cache");
        assert_eq!(first_sentence("Only this."), "Only this");
    }
}
