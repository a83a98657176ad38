//! Naming a setting the way the user set it, for the words of what is
//! wrong with it: `--timeout 10` on the command line, `PEAKA_TIMEOUT=10`
//! from the environment (and, in the GitHub Action, the input too); and
//! the booleans that come from a flag or, as text, from a variable.

use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

use crate::text::printable;

/// The longest echo of a user's value in a message.
const MAX_ECHO_CHARS: usize = 120;

/// Names settings the way the user set them.
pub(super) struct Names<'a> {
    command: &'a Command,
    matches: &'a ArgMatches,
    /// Set by the GitHub Action's run script: env vars there come from
    /// inputs with the flag's name.
    in_action: bool,
}

impl<'a> Names<'a> {
    pub(super) fn new(
        command: &'a Command,
        matches: &'a ArgMatches,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Names<'a> {
        Names {
            command,
            matches,
            in_action: env("PEAKA_WAIT_ACTION").is_some_and(|v| !v.is_empty()),
        }
    }

    fn long(&self, id: &str) -> String {
        self.command
            .get_arguments()
            .find(|arg| arg.get_id() == id)
            .and_then(|arg| arg.get_long())
            .unwrap_or(id)
            .to_owned()
    }

    fn env_var(&self, id: &str) -> Option<String> {
        let arg = self.command.get_arguments().find(|a| a.get_id() == id)?;
        Some(arg.get_env()?.to_string_lossy().into_owned())
    }

    fn env_source(&self, id: &str) -> Option<String> {
        match self.matches.value_source(id) {
            Some(ValueSource::EnvVariable) => self.env_var(id),
            _ => None,
        }
    }

    fn action_suffix(&self, long: &str) -> String {
        if self.in_action {
            format!(" (the action's `{long}` input)")
        } else {
            String::new()
        }
    }

    /// The setting without its value: `--api-key-file` or
    /// `PEAKA_API_KEY_FILE`.
    pub(super) fn of(&self, id: &str) -> String {
        let long = self.long(id);
        match self.env_source(id) {
            Some(var) => format!("{var}{}", self.action_suffix(&long)),
            None => format!("--{long}"),
        }
    }

    /// The setting with its value: `--timeout 10`, `PEAKA_TIMEOUT=10`, or
    /// `--timeout 30m (the default)`.
    pub(super) fn with_value(&self, id: &str, value: &str) -> String {
        let long = self.long(id);
        let value = printable(value, MAX_ECHO_CHARS);
        match (self.env_source(id), self.matches.value_source(id)) {
            (Some(var), _) => format!("{var}={value}{}", self.action_suffix(&long)),
            (None, Some(ValueSource::DefaultValue)) => format!("--{long} {value} (the default)"),
            (None, _) => format!("--{long} {value}"),
        }
    }

    /// A boolean that comes from its flag or, as text, from `var`.
    pub(super) fn flag_or_env(
        &self,
        given: bool,
        var: &str,
        input: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<bool, String> {
        if given {
            return Ok(true);
        }
        let Some(text) = env(var) else {
            return Ok(false);
        };
        parse_bool(&text).ok_or_else(|| {
            let suffix = self.action_suffix(input);
            format!(
                "{var}={}{suffix}: not a yes or no; accepted values are true/false, 1/0, yes/no, on/off (any case), or empty for false",
                printable(&text, MAX_ECHO_CHARS)
            )
        })
    }
}

/// The usual spellings of a boolean, in any case; empty is false (an unset
/// GitHub input is empty).
pub(super) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "n" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_in_the_usual_spellings() {
        for text in ["true", "TRUE", "True", "1", "yes", "YES", "on", " On "] {
            assert_eq!(parse_bool(text), Some(true), "{text}");
        }
        for text in ["false", "FALSE", "0", "no", "off", ""] {
            assert_eq!(parse_bool(text), Some(false), "{text}");
        }
        for text in ["maybe", "2", "tru"] {
            assert_eq!(parse_bool(text), None, "{text}");
        }
    }
}
