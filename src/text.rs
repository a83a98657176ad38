//! Text from outside (the server, the network, the user's own values) made
//! safe to show on one line of a terminal, a log or a table cell.
//!
//! Outside text may carry terminal escape sequences, line breaks that
//! forge a second log line or a GitHub workflow command, or megabytes of
//! padding. [`printable`] is the one function that neutralises all three.

/// The marker appended where text was cut.
const ELLIPSIS: char = '…';

/// `text` as one printable line of at most `max_chars` characters.
///
/// C0 and C1 control characters (line breaks, tabs, ESC), DEL and the
/// Unicode line and paragraph separators U+2028/U+2029 become visible
/// `\u{..}` escapes, so nothing can move the cursor, colour the terminal or
/// start a new line. Longer text is cut at a character boundary and ends
/// with `…`; the escapes count toward the limit.
pub fn printable(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut used = 0usize;
    for ch in text.chars() {
        let piece = if is_unsafe(ch) {
            format!("\\u{{{:x}}}", u32::from(ch))
        } else {
            ch.to_string()
        };
        let len = piece.chars().count();
        if used + len > max_chars {
            // Keep room for the marker itself.
            while used + 1 > max_chars && out.pop().is_some() {
                used -= 1;
            }
            if max_chars > 0 {
                out.push(ELLIPSIS);
            }
            return out;
        }
        used += len;
        out.push_str(&piece);
    }
    out
}

fn is_unsafe(ch: char) -> bool {
    ch.is_control() || ch == '\u{2028}' || ch == '\u{2029}'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible_escapes() {
        assert_eq!(
            printable("a\nb\r\u{1b}[31mc\u{7f}\u{85}\u{2028}\u{2029}\td", 200),
            "a\\u{a}b\\u{d}\\u{1b}[31mc\\u{7f}\\u{85}\\u{2028}\\u{2029}\\u{9}d"
        );
    }

    #[test]
    fn plain_text_and_unicode_pass_unchanged() {
        assert_eq!(printable("müşteri_tablosu 表", 100), "müşteri_tablosu 表");
    }

    #[test]
    fn long_text_is_cut_with_a_marker_at_a_char_boundary() {
        let cut = printable(&"ş".repeat(10_000), 40);
        assert_eq!(cut.chars().count(), 40);
        assert!(cut.ends_with('…'));
        let cut = printable(&"\n".repeat(100), 20);
        assert!(cut.chars().count() <= 20 && cut.ends_with('…'), "{cut}");
        assert!(!cut.contains('\n'));
        assert_eq!(printable("exactly", 7), "exactly");
        assert_eq!(printable("", 0), "");
    }
}
