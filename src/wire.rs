//! Reading a server's JSON at a cost bounded by what the gate keeps, not
//! by what the server sends.
//!
//! Every field is first taken as its raw text borrowed from the body
//! (never copied), so a field the gate does not use costs nothing, and a
//! field it uses costs at most its bound: a name or a time longer than any
//! real one is unreadable, and an execution's `error` is kept as at most
//! [`MAX_ERROR_CHARS`] characters of text whatever its size or shape.
//!
//! Every struct decoded from the server is an object: serde's derive also
//! reads a struct from a JSON array, by position (`["a","COMPLETED"]` as
//! `{"id":"a","status":"COMPLETED"}`), and such a reply is no status.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// The longest string field (an id, a name, a status, a time) read; a
/// longer one is not a value any real cache has.
pub const MAX_FIELD_BYTES: usize = 4096;

/// The most characters of an execution's `error` shown anywhere.
pub const MAX_ERROR_CHARS: usize = 4096;

/// The characters of an `error` kept before the key is scrubbed from it:
/// more than are shown, so that a key that straddles the cut is still
/// whole (and scrubbed) when the text is cut to [`MAX_ERROR_CHARS`].
const KEPT_ERROR_CHARS: usize = 2 * MAX_ERROR_CHARS;

/// An `error` whose raw text is at most this long is read whole, as
/// before (a message, or the compact JSON of any other shape); a longer
/// one is read only as far as the kept characters go.
const SMALL_ERROR_BYTES: usize = 8 * 1024;

/// A field's raw JSON text, borrowed from the body; `None` for an absent
/// field or `null`. Needs a deserializer over a slice or a string, which
/// is how every reply is decoded.
pub fn raw<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    Option::<&'de RawValue>::deserialize(d)
}

/// Whether a JSON text is an object (leading whitespace allowed).
pub fn is_object(text: &[u8]) -> bool {
    text.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

/// Decodes `T` from `text` only if it is a JSON object.
pub fn object<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, String> {
    if !is_object(text.as_bytes()) {
        return Err("not a JSON object".to_owned());
    }
    serde_json::from_str(text).map_err(|err| err.to_string())
}

/// An optional nested struct, which must be an object when present: a
/// `deserialize_with` for `Option<Box<T>>` fields.
pub fn optional_object<'de, D, T>(d: D) -> Result<Option<Box<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    match raw(d)? {
        None => Ok(None),
        Some(raw) => object(raw.get())
            .map(|value| Some(Box::new(value)))
            .map_err(D::Error::custom),
    }
}

/// A JSON string of at most [`MAX_FIELD_BYTES`] (decoded); `None` for any
/// other value and for a longer string.
pub fn bounded_string(raw: &RawValue) -> Option<String> {
    let text = raw.get();
    // An escape is at most six bytes for one character.
    if !text.starts_with('"') || text.len() > 6 * MAX_FIELD_BYTES + 2 {
        return None;
    }
    let decoded: String = serde_json::from_str(text).ok()?;
    (decoded.len() <= MAX_FIELD_BYTES).then_some(decoded)
}

/// The first `max` characters of a JSON string, decoding only that much of
/// it, and whether that was all of it; `None` if `raw` is no string.
fn string_prefix(text: &str, max: usize) -> Option<(String, bool)> {
    if !text.starts_with('"') {
        return None;
    }
    // Where each character of the string starts (escapes included), up to
    // `max` characters: a cut there never splits an escape.
    let mut cut = text.len();
    let mut count = 0;
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((at, c)) = chars.next() {
        if c == '"' {
            break;
        }
        if count == max {
            cut = at;
            break;
        }
        if c == '\\' && chars.next().is_some_and(|(_, e)| e == 'u') {
            for _ in 0..4 {
                chars.next();
            }
        }
        count += 1;
    }
    if cut == text.len() {
        return serde_json::from_str(text).ok().map(|s| (s, true));
    }
    // A surrogate pair cut in half is not a string: one character fewer.
    for back in [0usize, 6] {
        let end = cut.saturating_sub(back);
        let head = format!("{}\"", &text[..end]);
        if let Ok(decoded) = serde_json::from_str::<String>(&head) {
            return Some((decoded, false));
        }
    }
    None
}

/// The first `max` characters of `text`, on a character boundary.
fn first_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// An execution's `error` as text: a string as it is, an object's
/// `message`, any other JSON as its compact text; `None` for `null`, `""`
/// and `{}`. Only the first `KEPT_ERROR_CHARS` are decoded and kept, so
/// a 4 MiB array costs no more than a short message.
pub fn error_text(raw: &RawValue) -> Option<String> {
    let text = raw.get();
    let kept = if text.len() <= SMALL_ERROR_BYTES {
        small_error_text(text)?
    } else if text.starts_with('"') {
        string_prefix(text, KEPT_ERROR_CHARS)?.0
    } else {
        large_object_message(text).unwrap_or_else(|| first_chars(text, KEPT_ERROR_CHARS).to_owned())
    };
    (!kept.is_empty()).then_some(kept)
}

/// A small `error`, read whole; raw text stands for what a value cannot
/// hold (`1e400`).
fn small_error_text(text: &str) -> Option<String> {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return Some(text.to_owned());
    };
    match value {
        Value::Null => None,
        Value::String(text) => Some(text),
        Value::Object(map) if map.is_empty() => None,
        Value::Object(map) => match map.get("message") {
            Some(Value::String(message)) => Some(message.clone()),
            _ => Some(Value::Object(map).to_string()),
        },
        other => Some(other.to_string()),
    }
}

/// The `message` of a large object, decoded only as far as it is kept;
/// every other member is skipped without being read into memory.
fn large_object_message(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Message<'a> {
        #[serde(borrow, default)]
        message: Option<&'a RawValue>,
    }
    let message: Message = object(text).ok()?;
    string_prefix(message.message?.get(), KEPT_ERROR_CHARS).map(|(text, _)| text)
}

/// The error text as shown: at most [`MAX_ERROR_CHARS`] characters, with a
/// note when it was cut.
pub fn shown_error(kept: &str) -> String {
    let head = first_chars(kept, MAX_ERROR_CHARS);
    if head.len() == kept.len() {
        kept.to_owned()
    } else {
        format!("{head}… (cut at {MAX_ERROR_CHARS} characters)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_of(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn errors_of_every_shape_and_size() {
        let long_string = format!("\"{}\"", "é\\n".repeat(10_000));
        let long_array = format!("[{}0]", "0,".repeat(2_000_000));
        let long_object = format!(
            "{{\"data\":[{}0],\"message\":\"source \\u00e9 down\",\"more\":{{}}}}",
            "0,".repeat(100_000)
        );
        let table: [(&str, Option<String>); 10] = [
            ("null", None),
            ("\"\"", None),
            ("{}", None),
            ("\"boom\"", Some("boom".into())),
            (r#"{"message":"m","code":1}"#, Some("m".into())),
            (r#"{"code":1}"#, Some(r#"{"code":1}"#.into())),
            ("[1]", Some("[1]".into())),
            (r#"{"code":1e400}"#, Some(r#"{"code":1e400}"#.into())),
            (&long_object, Some("source é down".into())),
            (&long_string, Some("é\n".repeat(KEPT_ERROR_CHARS / 2))),
        ];
        for (text, want) in table {
            assert_eq!(
                error_text(&raw_of(text)),
                want,
                "{}",
                &text[..text.len().min(40)]
            );
        }
        let array = error_text(&raw_of(&long_array)).unwrap();
        assert_eq!(array.chars().count(), KEPT_ERROR_CHARS);
        let shown = shown_error(&array);
        assert!(shown.ends_with("… (cut at 4096 characters)"), "{shown}");
        assert_eq!(shown.chars().count(), MAX_ERROR_CHARS + 26);
        assert_eq!(shown_error("short"), "short");
    }

    #[test]
    fn a_string_prefix_never_splits_an_escape() {
        for text in [r#""\ud83d\ude00\ud83d\ude00x""#, r#""a\"b\\c\u0041""#] {
            let whole: String = serde_json::from_str(text).unwrap();
            for max in 0..12 {
                let (prefix, complete) = string_prefix(text, max).unwrap();
                assert!(whole.starts_with(&prefix), "{text} {max}: {prefix}");
                assert!(prefix.chars().count() <= max, "{text} {max}: {prefix}");
                assert_eq!(complete, prefix == whole, "{text} {max}");
            }
            assert_eq!(string_prefix(text, 12), Some((whole, true)));
        }
        assert_eq!(string_prefix("[1]", 5), None);
    }

    #[test]
    fn strings_beyond_the_bound_are_unreadable() {
        let at_bound = format!("\"{}\"", "a".repeat(MAX_FIELD_BYTES));
        let over = format!("\"{}\"", "a".repeat(MAX_FIELD_BYTES + 1));
        assert_eq!(
            bounded_string(&raw_of(&at_bound)).map(|s| s.len()),
            Some(MAX_FIELD_BYTES)
        );
        assert_eq!(bounded_string(&raw_of(&over)), None);
        assert_eq!(bounded_string(&raw_of("[\"a\"]")), None);
    }

    #[test]
    fn only_objects_are_structs() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Two {
            a: Option<String>,
            b: Option<String>,
        }
        assert!(
            serde_json::from_str::<Two>(r#"["x","y"]"#).is_ok(),
            "serde reads arrays"
        );
        assert!(object::<Two>(r#"["x","y"]"#).is_err());
        assert!(object::<Two>(r#" {"a":"x"}"#).is_ok());
        assert!(!is_object(b"  [{}]"));
        assert!(!is_object(b""));
    }
}
