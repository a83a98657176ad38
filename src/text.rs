//! Outside text made safe to print: one line, no control characters, no
//! characters that reorder or break lines on a terminal or in a GitHub log,
//! and a bounded length.
//!
//! A server's words must never become a workflow command (`::add-mask::`
//! at the start of a line), a terminal escape sequence, or a line that
//! pretends to be ours. Every sink (the logs, the summary, the GitHub
//! files) escapes through [`one_line`], so what reaches the screen is the
//! text as data.
//!
//! Outside text on its way in, end to end: the body is read within a cap
//! (`client/body.rs`) and each string within bounds (`wire.rs`); the API
//! key is scrubbed from every reply and every error text once, as the
//! client decodes it (`client/mod.rs`, with `secret.rs`'s [`Scrub`]), and
//! from the wording of a bad setting (`cli/check.rs`); then each sink
//! escapes it here: the logs (`logging.rs`, `progress.rs`), the summary
//! and the GitHub files (`export/`), the listing (`list.rs`), the command's
//! environment (`exec.rs`).
//!
//! [`Scrub`]: crate::secret::Scrub

use std::borrow::Cow;
use std::fmt::Write as _;

/// The most characters of one piece of outside text shown in a message.
pub const MAX_SHOWN_CHARS: usize = 1000;

/// Whether a character must not reach a terminal or a log as it is.
fn needs_escape(c: char) -> bool {
    c.is_control()
        // Line and paragraph separators break lines in editors and browsers.
        || c == '\u{2028}'
        || c == '\u{2029}'
        // Bidirectional overrides and isolates reorder what is shown.
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        // A byte order mark or zero-width no-break space hides text.
        || c == '\u{feff}'
}

/// `text` on one line: line breaks and other control or reordering
/// characters written as escapes (`\n`, `\r`, `\t`, `\u{1b}`).
pub fn one_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// At most `max` characters of `text`, with a note of how many were cut.
pub fn clip(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!(
            "{}… ({} more characters)",
            &text[..end],
            text[end..].chars().count()
        )),
    }
}

/// Outside text as it may appear inside a message: one line, clipped.
pub fn shown(text: &str) -> String {
    one_line(&clip(text, MAX_SHOWN_CHARS)).into_owned()
}

/// Outside text in a table cell or beside a setting's name: [`one_line`],
/// then cut to at most `max_chars` characters (the escapes count), ending
/// with `…` where it was cut. For columns, where a note of how much was
/// cut would not fit.
pub fn printable(text: &str, max_chars: usize) -> String {
    let line = one_line(text);
    match line.char_indices().nth(max_chars) {
        None => line.into_owned(),
        Some(_) => {
            let keep = max_chars.saturating_sub(1);
            let mut out: String = line.chars().take(keep).collect();
            if max_chars > 0 {
                out.push('…');
            }
            out
        }
    }
}

/// A writer that escapes U+2028 and U+2029 in JSON it passes on: JSON
/// escapes control characters but not these two, which some log viewers
/// take for line breaks; inside a JSON string their escaped forms mean the
/// same. It expects each write to hold whole characters, as serde_json's
/// writes and the log layer's lines do.
pub struct SeparatorEscaper<W>(pub W);

impl<W: std::io::Write> std::io::Write for SeparatorEscaper<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
        if !buf
            .windows(2)
            .any(|w| w == [0x80, 0xA8] || w == [0x80, 0xA9])
        {
            return self.0.write_all(buf);
        }
        let text = String::from_utf8_lossy(buf)
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029");
        self.0.write_all(text.as_bytes())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// "1 run", "3 runs": a count with its noun in the right number.
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_reordering_characters_are_escaped() {
        let table = [
            ("plain text: 100%", "plain text: 100%"),
            ("boom\n::warning::x", "boom\\n::warning::x"),
            ("a\r\nb\tc", "a\\r\\nb\\tc"),
            ("\u{1b}[31mred", "\\u{1b}[31mred"),
            ("x\u{2028}y\u{2029}z", "x\\u{2028}y\\u{2029}z"),
            ("\u{202e}evil", "\\u{202e}evil"),
            ("del\u{7f} c1\u{85}", "del\\u{7f} c1\\u{85}"),
            ("ünïcödé ✓", "ünïcödé ✓"),
        ];
        for (input, want) in table {
            assert_eq!(one_line(input), want, "{input:?}");
        }
        assert!(matches!(one_line("clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_separators_are_escaped_on_the_way_out() {
        use std::io::Write;
        let mut out = Vec::new();
        let value = serde_json::json!({"x": "a\u{2028}b\u{2029}c"});
        serde_json::to_writer(SeparatorEscaper(&mut out), &value).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, r#"{"x":"a\u2028b\u2029c"}"#);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            value
        );
        let mut plain = Vec::new();
        SeparatorEscaper(&mut plain)
            .write_all("é ✓".as_bytes())
            .unwrap();
        assert_eq!(plain, "é ✓".as_bytes());
    }

    #[test]
    fn long_text_is_clipped_on_a_character_boundary() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("ééééé", 2), "éé… (3 more characters)");
        let long = "x".repeat(5000);
        let out = shown(&long);
        assert!(out.len() < 1100, "{}", out.len());
        assert!(out.ends_with("(4000 more characters)"), "{out}");
    }

    #[test]
    fn printable_cells_are_one_line_and_bounded() {
        assert_eq!(printable("t\n::warning::x", 100), "t\\n::warning::x");
        let cut = printable(&"ş".repeat(10_000), 40);
        assert_eq!(cut.chars().count(), 40);
        assert!(cut.ends_with('…'));
        let cut = printable(&"\u{1b}".repeat(100), 20);
        assert_eq!(cut.chars().count(), 20);
        assert!(!cut.contains('\u{1b}'));
        assert_eq!(printable("exactly", 7), "exactly");
        assert_eq!(printable("", 0), "");
    }

    #[test]
    fn a_count_takes_the_noun_in_its_number() {
        assert_eq!(count(0, "run", "runs"), "0 runs");
        assert_eq!(count(1, "run", "runs"), "1 run");
        assert_eq!(count(2, "run", "runs"), "2 runs");
    }
}
