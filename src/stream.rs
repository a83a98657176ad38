//! Decoding a reply while it arrives. A small reply is kept whole and
//! decoded at its end ([`Whole`]); a list of caches (up to 16 MiB for a
//! project of 10,000) is split into its elements as the bytes come and
//! each is decoded at once and handed to a [`Sink`] ([`ListDecoder`]),
//! so that the body is never held whole, and the sink keeps only the
//! entries it needs (the awaited caches) or writes them out (a listing).

/// Turns the body of a successful reply into a value, chunk by chunk.
pub trait Decoder {
    /// What the body decodes to.
    type Value;
    /// The size the server announced, before the first chunk.
    fn reserve(&mut self, _announced: usize) {}
    /// Takes the next chunk; an error ends the reading.
    fn feed(&mut self, chunk: &[u8]) -> Result<(), String>;
    /// The value, once the body has ended.
    fn finish(self) -> Result<Self::Value, String>;
}

/// Keeps the whole body and decodes it at the end.
pub struct Whole<F> {
    body: Vec<u8>,
    decode: F,
}

impl<F> Whole<F> {
    /// A decoder that calls `decode` on the whole body.
    pub fn new<T>(decode: F) -> Self
    where
        F: FnOnce(&[u8]) -> Result<T, String>,
    {
        Whole {
            body: Vec::new(),
            decode,
        }
    }
}

impl<T, F: FnOnce(&[u8]) -> Result<T, String>> Decoder for Whole<F> {
    type Value = T;

    /// Reserving what the server announces avoids the copies (and the
    /// doubled memory) of a buffer grown step by step; the client checked
    /// the size against its cap.
    fn reserve(&mut self, announced: usize) {
        self.body.reserve_exact(announced);
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    fn finish(self) -> Result<T, String> {
        (self.decode)(&self.body)
    }
}

/// A body kept as it is (an error reply, read for its message).
impl Decoder for Vec<u8> {
    type Value = Vec<u8>;

    fn reserve(&mut self, announced: usize) {
        self.reserve_exact(announced);
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.extend_from_slice(chunk);
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>, String> {
        Ok(self)
    }
}

/// Where the decoded entries of a list go.
pub trait Sink<T> {
    /// What is left once the list has ended.
    type Value;
    /// Takes the next entry (an error ends the reading).
    fn take(&mut self, item: T) -> Result<(), String>;
    /// The value, once the list has ended.
    fn finish(self) -> Self::Value;
}

/// Keeps every entry.
impl<T> Sink<T> for Vec<T> {
    type Value = Vec<T>;

    fn take(&mut self, item: T) -> Result<(), String> {
        self.push(item);
        Ok(())
    }

    fn finish(self) -> Vec<T> {
        self
    }
}

/// Keeps the entries `keep` accepts, and drops the others as they come.
pub struct Filter<T, F> {
    keep: F,
    items: Vec<T>,
}

impl<T, F: FnMut(&T) -> bool> Filter<T, F> {
    /// A sink that keeps what `keep` accepts.
    pub fn new(keep: F) -> Self {
        Filter {
            keep,
            items: Vec::new(),
        }
    }
}

impl<T, F: FnMut(&T) -> bool> Sink<T> for Filter<T, F> {
    type Value = Vec<T>;

    fn take(&mut self, item: T) -> Result<(), String> {
        if (self.keep)(&item) {
            self.items.push(item);
        }
        Ok(())
    }

    fn finish(self) -> Vec<T> {
        self.items
    }
}

/// Decodes a JSON list one element at a time with `decode`, handing each
/// to a [`Sink`]; `what` names the elements in errors ("the reply is not
/// a list of {what}").
pub struct ListDecoder<T, S> {
    splitter: ListSplitter,
    decode: fn(&[u8]) -> Result<T, String>,
    sink: S,
    /// Entries read so far, to name one in an error.
    entries: usize,
    what: &'static str,
}

impl<T, S: Sink<T>> ListDecoder<T, S> {
    /// An empty decoder for a list of `what`.
    pub fn new(what: &'static str, decode: fn(&[u8]) -> Result<T, String>, sink: S) -> Self {
        ListDecoder {
            splitter: ListSplitter::default(),
            decode,
            sink,
            entries: 0,
            what,
        }
    }

    fn error(&self, cause: impl std::fmt::Display) -> String {
        if self.splitter.other_json {
            return format!("{OTHER_JSON}a list of {} ({cause})", self.what);
        }
        format!("the reply is not a list of {} ({cause})", self.what)
    }
}

impl<T, S: Sink<T>> Decoder for ListDecoder<T, S> {
    type Value = S::Value;

    fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        let (decode, sink, entries) = (self.decode, &mut self.sink, &mut self.entries);
        let result = self.splitter.feed(chunk, |element| {
            *entries += 1;
            let item = decode(element).map_err(|err| format!("entry {entries}: {err}"))?;
            sink.take(item)
        });
        result.map_err(|cause| self.error(cause))
    }

    fn finish(self) -> Result<S::Value, String> {
        match self.splitter.finish() {
            Ok(()) => Ok(self.sink.finish()),
            Err(cause) => Err(self.error(cause)),
        }
    }
}

/// An element buffer larger than this is given back once its element is
/// decoded, rather than kept for the next (small) one.
const KEPT_ELEMENT_CAPACITY: usize = 64 * 1024;

/// Where the splitter is in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    /// Before the `[` (a byte-order mark and whitespace may come first).
    #[default]
    Start,
    /// After the `[`: an element or the `]`.
    First,
    /// After a `,`: an element.
    Next,
    /// Inside an element.
    Element,
    /// After the `]`: only whitespace.
    Done,
}

/// The UTF-8 byte-order mark, skipped before a JSON body.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a decoder's error begins when a reply is JSON of another kind than
/// the endpoint sends (an object where a list should be, a list where a
/// status should be): the client takes that as a base URL that is not
/// Peaka's API (`retry.rs`'s 60-second rule), not as a passing trouble.
pub const OTHER_JSON: &str = "the reply is JSON but not ";

/// Splits a JSON array arriving in chunks into the bytes of each element.
/// It only finds where elements begin and end (brackets, braces and
/// strings, with their escapes); whether an element is valid JSON is for
/// the element's decoder to say.
#[derive(Debug, Default)]
pub struct ListSplitter {
    phase: Phase,
    /// The element being read.
    element: Vec<u8>,
    /// Open brackets and braces inside the element.
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Bytes of a leading byte-order mark matched so far.
    bom: usize,
    /// Bytes read, for the position in an error.
    offset: usize,
    /// Whether the body began with a JSON value that is not a list.
    other_json: bool,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl ListSplitter {
    /// Reads `chunk`, calling `element` with each element it completes.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        mut element: impl FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        for &b in chunk {
            self.offset += 1;
            match self.phase {
                Phase::Start => {
                    if self.bom < BOM.len() && self.offset == self.bom + 1 && b == BOM[self.bom] {
                        self.bom += 1;
                    } else if self.bom != 0 && self.bom < BOM.len() {
                        return Err(self.unexpected(b));
                    } else if b == b'[' {
                        self.phase = Phase::First;
                    } else if !is_space(b) {
                        self.other_json =
                            matches!(b, b'{' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n');
                        return Err(self.unexpected(b));
                    }
                }
                Phase::First | Phase::Next if is_space(b) => {}
                Phase::First if b == b']' => self.phase = Phase::Done,
                Phase::First | Phase::Next if b == b',' || b == b']' => {
                    return Err(self.unexpected(b));
                }
                Phase::First | Phase::Next => {
                    self.phase = Phase::Element;
                    self.take(b)?;
                }
                Phase::Element if !self.in_string && self.depth == 0 && b == b',' => {
                    element(&self.element)?;
                    if self.element.capacity() > KEPT_ELEMENT_CAPACITY {
                        self.element = Vec::new();
                    } else {
                        self.element.clear();
                    }
                    self.phase = Phase::Next;
                }
                Phase::Element if !self.in_string && self.depth == 0 && b == b']' => {
                    element(&self.element)?;
                    self.element = Vec::new();
                    self.phase = Phase::Done;
                }
                Phase::Element => self.take(b)?,
                Phase::Done if is_space(b) => {}
                Phase::Done => return Err(self.unexpected(b)),
            }
        }
        Ok(())
    }

    /// Adds a byte of an element, following strings and nesting.
    fn take(&mut self, b: u8) -> Result<(), String> {
        if self.in_string {
            match (self.escaped, b) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => self.in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' if self.depth == 0 => return Err(self.unexpected(b)),
                b'}' | b']' => self.depth -= 1,
                _ => {}
            }
        }
        self.element.push(b);
        Ok(())
    }

    /// Checks that the list was closed.
    pub fn finish(&self) -> Result<(), String> {
        match self.phase {
            Phase::Done => Ok(()),
            Phase::Start => Err("the reply is empty, or has no list".to_owned()),
            _ => Err(format!(
                "the reply ended inside the list, after {} bytes",
                self.offset
            )),
        }
    }

    fn unexpected(&self, b: u8) -> String {
        let shown = if b.is_ascii_graphic() {
            format!("'{}'", b as char)
        } else {
            format!("byte 0x{b:02x}")
        };
        format!("unexpected {shown} at byte {}", self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Splits `body` fed in chunks of `size` bytes.
    fn split(body: &[u8], size: usize) -> Result<Vec<String>, String> {
        let mut splitter = ListSplitter::default();
        let mut out = Vec::new();
        for chunk in body.chunks(size.max(1)) {
            splitter.feed(chunk, |e| {
                out.push(String::from_utf8_lossy(e).into_owned());
                Ok(())
            })?;
        }
        splitter.finish()?;
        Ok(out)
    }

    #[test]
    fn splits_elements_whatever_the_chunks() {
        let cases: &[(&str, &[&str])] = &[
            ("[]", &[]),
            (" \n[ ] \r\n", &[]),
            ("[1]", &["1"]),
            ("[1,2 , 3]", &["1", "2 ", "3"]),
            (
                r#"[{"a":[1,{"b":"]"}]},{"c":"x\"},"}]"#,
                &[r#"{"a":[1,{"b":"]"}]}"#, r#"{"c":"x\"},"}"#],
            ),
            ("\u{feff}[{}]", &["{}"]),
            (r#"["\\",{}]"#, &[r#""\\""#, "{}"]),
        ];
        for (body, want) in cases {
            for size in [1, 2, 3, 7, 1000] {
                let want: Vec<String> = want.iter().map(|e| e.to_string()).collect();
                assert_eq!(
                    split(body.as_bytes(), size),
                    Ok(want),
                    "{body:?} in chunks of {size}"
                );
            }
        }
    }

    #[test]
    fn refuses_what_is_not_one_list() {
        for (body, cause) in [
            ("", "the reply is empty, or has no list"),
            ("  ", "the reply is empty, or has no list"),
            ("{}", "unexpected '{' at byte 1"),
            ("[1,]", "unexpected ']' at byte 4"),
            ("[,1]", "unexpected ',' at byte 2"),
            ("[1,,2]", "unexpected ',' at byte 4"),
            ("[1}", "unexpected '}' at byte 3"),
            ("[1] x", "unexpected 'x' at byte 5"),
            ("[1][2]", "unexpected '[' at byte 4"),
            (
                "[{\"a\":1}",
                "the reply ended inside the list, after 8 bytes",
            ),
            ("[\"]", "the reply ended inside the list, after 3 bytes"),
            ("\u{feff}\u{feff}[]", "unexpected byte 0xef at byte 4"),
            ("\x00[]", "unexpected byte 0x00 at byte 1"),
        ] {
            for size in [1, 1000] {
                assert_eq!(
                    split(body.as_bytes(), size),
                    Err(cause.to_owned()),
                    "{body:?}"
                );
            }
        }
        // A partial byte-order mark is not one.
        assert_eq!(
            split(b"\xEF\xBB[]", 1),
            Err("unexpected '[' at byte 3".to_owned())
        );
    }

    #[test]
    fn agrees_with_serde_on_every_list_serde_reads() {
        let bodies = [
            r#"[{"id":"a","status":"RUNNING","x":[[],{}]},{"id":"b\"]"}]"#,
            r#"[null, true, false, 1e5, -0.5, "s", [], {}]"#,
            "[\n  {\"k\": \"\\u005d\"}\n]\n",
        ];
        for body in bodies {
            let whole: Vec<Value> = serde_json::from_str(body).unwrap();
            let mut decoder = ListDecoder::new("values", json::<Value>, Vec::new());
            for chunk in body.as_bytes().chunks(3) {
                decoder.feed(chunk).unwrap();
            }
            assert_eq!(decoder.finish().unwrap(), whole, "{body}");
        }
    }

    fn json<T: serde::de::DeserializeOwned>(element: &[u8]) -> Result<T, String> {
        serde_json::from_slice(element).map_err(|err| err.to_string())
    }

    #[test]
    fn json_of_another_kind_is_told_from_a_broken_list() {
        let table = [
            (&b"{\"message\": \"hi\"}"[..], true),
            (b"  \"text\"", true),
            (b"-1", true),
            (b"7", true),
            (b"true", true),
            (b"null", true),
            (b"<html>", false),
            (b"x", false),
            (b"[{\"a\": 1}}", false),
            (b"[1, 2", false),
        ];
        for (body, other) in table {
            let mut decoder = ListDecoder::new("values", json::<Value>, Vec::new());
            let err = match decoder.feed(body) {
                Err(err) => err,
                Ok(()) => decoder.finish().unwrap_err(),
            };
            assert_eq!(
                err.starts_with(OTHER_JSON),
                other,
                "{}: {err}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn an_element_error_names_the_entry() {
        let mut decoder = ListDecoder::new("numbers lists", json::<Vec<u8>>, Vec::new());
        let err = decoder.feed(b"[[1],[2],[\"x\"]]").unwrap_err();
        assert!(
            err.starts_with("the reply is not a list of numbers lists (entry 3: invalid type"),
            "{err}"
        );
        let decoder = ListDecoder::new("values", json::<Value>, Vec::new());
        assert_eq!(
            decoder.finish().unwrap_err(),
            "the reply is not a list of values (the reply is empty, or has no list)"
        );
    }
}
