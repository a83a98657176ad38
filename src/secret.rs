//! The API key as something to hide: every form in which a server or a
//! library could hand it back (as sent, percent-encoded, base64-encoded at
//! any alignment), and the [`Scrub`] trait through which every piece of
//! outside text passes before the rest of the program sees it.
//!
//! The client scrubs each reply once, as it decodes it, so the loop, the
//! logs and the reports only ever hold text that cannot contain the key.
//! Our own wording never passes through here, so it is never garbled.
//! Where scrubbed text is then escaped, and the whole way of outside text
//! in, is told in [`crate::text`].

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde_json::Value;

/// What replaces the key wherever it is found.
pub const REDACTED: &str = "[redacted]";

/// The shortest key accepted. No real Peaka key is shorter, and a shorter
/// one would match ordinary words (`Invalid API k[redacted]y`).
pub const MIN_KEY_LEN: usize = 8;

/// The forms of one key to remove from outside text.
#[derive(Clone, Default)]
pub struct Scrubber {
    /// Longest first, so a longer form is replaced before a part of it.
    forms: Vec<String>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber({} forms)", self.forms.len())
    }
}

impl Scrubber {
    /// The forms of `key`. A key shorter than [`MIN_KEY_LEN`] is refused
    /// at start-up; here it simply yields no forms to search for.
    pub fn new(key: &str) -> Scrubber {
        if key.len() < MIN_KEY_LEN {
            return Scrubber::default();
        }
        let mut forms = vec![key.to_owned()];
        let encoded: String =
            percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        forms.push(encoded.clone());
        forms.push(encoded.to_ascii_lowercase());
        forms.push(url::form_urlencoded::byte_serialize(key.as_bytes()).collect());
        // A key inside a longer base64 text (`Basic base64(user:key)`)
        // encodes differently at each of the three byte alignments; the
        // characters that depend on the key alone are the same whatever
        // surrounds it.
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            for offset in 0..3usize {
                let mut bytes = vec![0u8; offset];
                bytes.extend_from_slice(key.as_bytes());
                let text = engine.encode(&bytes);
                let first = (8 * offset).div_ceil(6);
                let last = 8 * (offset + key.len()) / 6;
                if let Some(stable) = text.get(first..last) {
                    forms.push(stable.to_owned());
                }
            }
        }
        forms.retain(|form| form.len() >= MIN_KEY_LEN);
        forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
        forms.dedup();
        Scrubber { forms }
    }

    /// `text` with every form of the key replaced by [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        self.scrub_in_place(&mut out);
        out
    }

    /// The same, in place; allocates only when a form is found.
    pub fn scrub_in_place(&self, text: &mut String) {
        for form in &self.forms {
            if text.contains(form.as_str()) {
                *text = text.replace(form.as_str(), REDACTED);
            }
        }
    }
}

/// Outside data whose every piece of text can be scrubbed of the key.
/// The client requires it of everything it decodes, so a new endpoint
/// cannot hand unscrubbed text to the rest of the program.
pub trait Scrub {
    /// Removes every form of the key from every string inside.
    fn scrub(&mut self, scrubber: &Scrubber);
}

impl Scrub for String {
    fn scrub(&mut self, scrubber: &Scrubber) {
        scrubber.scrub_in_place(self);
    }
}

impl<T: Scrub> Scrub for Option<T> {
    fn scrub(&mut self, scrubber: &Scrubber) {
        if let Some(value) = self {
            value.scrub(scrubber);
        }
    }
}

impl<T: Scrub> Scrub for Vec<T> {
    fn scrub(&mut self, scrubber: &Scrubber) {
        for value in self {
            value.scrub(scrubber);
        }
    }
}

impl<T: Scrub + ?Sized> Scrub for Box<T> {
    fn scrub(&mut self, scrubber: &Scrubber) {
        (**self).scrub(scrubber);
    }
}

impl Scrub for () {
    fn scrub(&mut self, _: &Scrubber) {}
}

impl Scrub for Value {
    fn scrub(&mut self, scrubber: &Scrubber) {
        match self {
            Value::String(text) => text.scrub(scrubber),
            Value::Array(items) => items.scrub(scrubber),
            Value::Object(map) => {
                let keys_hold_it = map
                    .keys()
                    .any(|key| scrubber.scrub(key).as_str() != key.as_str());
                if keys_hold_it {
                    *map = std::mem::take(map)
                        .into_iter()
                        .map(|(key, value)| (scrubber.scrub(&key), value))
                        .collect();
                }
                for value in map.values_mut() {
                    value.scrub(scrubber);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk/live+Key=0123456789abcdef";

    #[test]
    fn every_form_of_the_key_is_removed() {
        let s = Scrubber::new(KEY);
        let percent = "sk%2Flive%2BKey%3D0123456789abcdef";
        let b64 = STANDARD_NO_PAD.encode(format!("Bearer {KEY}"));
        let basic = STANDARD_NO_PAD.encode(format!("user:{KEY}"));
        let url_safe = URL_SAFE_NO_PAD.encode(format!("x{KEY}"));
        for text in [
            format!("token {KEY} rejected"),
            format!("https://evil/?k={percent}"),
            format!("https://evil/?k={}", percent.to_ascii_lowercase()),
            "form k=sk%2Flive%2BKey%3D0123456789abcdef&x".to_owned(),
            format!("Authorization: Bearer {b64}"),
            format!("Authorization: Basic {basic}"),
            format!("u={url_safe}"),
        ] {
            let out = s.scrub(&text);
            assert!(out.contains(REDACTED), "{text} -> {out}");
            assert!(!out.contains("0123456789abcdef"), "{text} -> {out}");
        }
    }

    #[test]
    fn text_without_the_key_is_left_alone() {
        let s = Scrubber::new(KEY);
        let text = "Invalid API key; looked up partner.peaka.studio";
        assert_eq!(s.scrub(text), text);
        // Keys too short to be real match nothing (they are refused at start-up).
        assert_eq!(
            Scrubber::new("e").scrub("Invalid API key"),
            "Invalid API key"
        );
    }

    #[test]
    fn json_values_are_scrubbed_in_keys_and_values() {
        let s = Scrubber::new(KEY);
        let mut value = serde_json::json!({KEY: [format!("a {KEY}"), 1, {"m": KEY}]});
        value.scrub(&s);
        let text = value.to_string();
        assert!(!text.contains("0123456789abcdef"), "{text}");
        assert_eq!(text.matches(REDACTED).count(), 3, "{text}");
    }
}
