//! The resume token: what `--trigger KIND --no-wait` hands to a later
//! process so that it can wait for (or cancel) exactly the refreshes that
//! were triggered, and no other, without triggering again.
//!
//! It holds the project, the kind, and per cache the record the slot
//! showed before the trigger (the baseline) and the trigger time on the
//! server's clock; with them [`crate::decision`] tells the triggered run
//! from any other exactly as it does in the process that triggered. It
//! also holds the absolute `--since` / `--started-after` the first process
//! used, so that a restart does not read `now` anew. It never holds the key.
//!
//! The form is `pw1.` and the base64url (no padding) of a small JSON
//! object: one printable ASCII word, safe in an environment variable, a
//! shell argument, a GitHub output and an Airflow trigger's kwargs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::api::ExecutionKind;
use crate::decision::Baseline;

/// The version prefix: a token of another version is refused, not guessed at.
const PREFIX: &str = "pw1.";

/// The longest token accepted or made: under Linux's limit on one argument
/// or environment string (128 KiB), so that it can always be passed back.
pub const MAX_TOKEN_BYTES: usize = 96 * 1024;

/// The longest id (project, cache, execution) a token holds.
const MAX_ID_BYTES: usize = 1024;

/// What a later process needs to wait for exactly the triggered runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The project of every cache.
    pub project_id: String,
    /// The kind of refresh that was triggered.
    pub kind: ExecutionKind,
    /// Each triggered cache, in the order they were triggered.
    pub caches: Vec<TriggeredCache>,
    /// When the first process started, on the server's clock: what `now`
    /// and `15m` in a bound given again with `--resume` are counted from.
    pub first_start: Timestamp,
    /// `--since` as the first process resolved it, if given.
    pub since: Option<Timestamp>,
    /// `--started-after` as the first process resolved it, if given.
    pub started_after: Option<Timestamp>,
}

/// One triggered cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggeredCache {
    /// The cache id.
    pub cache_id: String,
    /// The slot's record before the trigger, with the trigger time: all
    /// that [`Baseline::proof`] needs.
    pub baseline: Baseline,
}

/// The JSON inside the token; short names keep it small for many caches.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    p: String,
    k: String,
    c: Vec<WireCache>,
    /// First start.
    o: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireCache {
    /// Cache id.
    i: String,
    /// Baseline execution id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    b: Option<String>,
    /// Baseline `createdAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bc: Option<String>,
    /// The trigger time, by the server's clock.
    t: String,
}

impl Token {
    /// The token as one printable ASCII word, or why it cannot be made (it
    /// would be too long to pass back).
    pub fn encode(&self) -> Result<String, String> {
        let wire = Wire {
            p: self.project_id.clone(),
            k: self.kind.as_str().to_owned(),
            c: self
                .caches
                .iter()
                .map(|c| WireCache {
                    i: c.cache_id.clone(),
                    b: c.baseline.id.clone(),
                    bc: c.baseline.created_at.map(|t| t.to_string()),
                    t: c.baseline.triggered_at.to_string(),
                })
                .collect(),
            o: self.first_start.to_string(),
            s: self.since.map(|t| t.to_string()),
            a: self.started_after.map(|t| t.to_string()),
        };
        let json = serde_json::to_vec(&wire).map_err(|e| format!("cannot write the token: {e}"))?;
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json));
        if token.len() > MAX_TOKEN_BYTES {
            return Err(format!(
                "the resume token for {} caches would be {} KiB, more than the {} KiB that can be passed back in one argument; trigger fewer caches per gate",
                self.caches.len(),
                token.len() / 1024,
                MAX_TOKEN_BYTES / 1024
            ));
        }
        Ok(token)
    }

    /// Reads a token. The error says what is wrong without echoing it.
    pub fn decode(text: &str) -> Result<Token, String> {
        const REMAKE: &str =
            "pass the `resume` value that peaka-wait --trigger KIND --no-wait printed, unchanged";
        let text = text.trim();
        if text.is_empty() {
            return Err(format!("is empty: {REMAKE}"));
        }
        if text.len() > MAX_TOKEN_BYTES {
            return Err(format!(
                "is longer than any resume token ({} KiB at most): {REMAKE}",
                MAX_TOKEN_BYTES / 1024
            ));
        }
        let Some(body) = text.strip_prefix(PREFIX) else {
            return Err(format!(
                "is not a resume token (it does not start with `{PREFIX}`): {REMAKE}"
            ));
        };
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| format!("is not a resume token (damaged: not base64url): {REMAKE}"))?;
        let wire: Wire = serde_json::from_slice(&json)
            .map_err(|_| format!("is not a resume token (damaged: not its JSON): {REMAKE}"))?;
        let kind = match wire.k.as_str() {
            "incremental" => ExecutionKind::Incremental,
            "full" => ExecutionKind::Full,
            _ => return Err(format!("is not a resume token (unknown kind): {REMAKE}")),
        };
        let damaged = || format!("is not a resume token (damaged: a bad id): {REMAKE}");
        let time = |text: Option<String>| -> Result<Option<Timestamp>, String> {
            text.map(|t| t.parse::<Timestamp>())
                .transpose()
                .map_err(|_| format!("is not a resume token (damaged: a bad time): {REMAKE}"))
        };
        if !plausible_id(&wire.p) {
            return Err(damaged());
        }
        if wire.c.is_empty() {
            return Err(format!("is not a resume token (no cache): {REMAKE}"));
        }
        let mut caches: Vec<TriggeredCache> = Vec::with_capacity(wire.c.len());
        for c in wire.c {
            let baseline_ok = c.b.as_deref().is_none_or(plausible_id);
            if !plausible_id(&c.i) || !baseline_ok {
                return Err(damaged());
            }
            if caches.iter().any(|seen| seen.cache_id == c.i) {
                return Err(format!("is not a resume token (a cache twice): {REMAKE}"));
            }
            caches.push(TriggeredCache {
                cache_id: c.i,
                // The tolerance is the gate's, never the token's: a token
                // cannot widen what counts as the triggered run.
                baseline: Baseline {
                    kind,
                    id: c.b,
                    created_at: time(c.bc)?,
                    triggered_at: time(Some(c.t))?.ok_or_else(damaged)?,
                    tolerance: crate::gate::SKEW_TOLERANCE,
                },
            });
        }
        Ok(Token {
            project_id: wire.p,
            kind,
            caches,
            first_start: time(Some(wire.o))?.ok_or_else(damaged)?,
            since: time(wire.s)?,
            started_after: time(wire.a)?,
        })
    }

    /// The cache ids, in order.
    pub fn cache_ids(&self) -> Vec<String> {
        self.caches.iter().map(|c| c.cache_id.clone()).collect()
    }
}

/// An id as the gate would accept it: not empty, not too long, no control
/// character (a token is outside text once it has been stored elsewhere).
fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES && !id.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn sample() -> Token {
        Token {
            project_id: "proj-1".into(),
            kind: ExecutionKind::Full,
            caches: vec![
                TriggeredCache {
                    cache_id: "c1".into(),
                    baseline: Baseline {
                        kind: ExecutionKind::Full,
                        id: Some("e \"quoted\" é".into()),
                        created_at: Some(at("2026-11-24T10:00:00.123Z")),
                        triggered_at: at("2026-11-24T11:00:00Z"),
                        tolerance: crate::gate::SKEW_TOLERANCE,
                    },
                },
                TriggeredCache {
                    cache_id: "c2".into(),
                    baseline: Baseline {
                        kind: ExecutionKind::Full,
                        id: None,
                        created_at: None,
                        triggered_at: at("2026-11-24T10:59:59.5Z"),
                        tolerance: crate::gate::SKEW_TOLERANCE,
                    },
                },
            ],
            first_start: at("2026-11-24T10:59:50Z"),
            since: Some(at("2026-11-24T09:00:00Z")),
            started_after: None,
        }
    }

    #[test]
    fn a_token_is_one_printable_word_and_reads_back_the_same() {
        let token = sample().encode().unwrap();
        assert!(token.starts_with("pw1."), "{token}");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\''),
            "{token}"
        );
        assert_eq!(Token::decode(&token).unwrap(), sample());
        assert_eq!(Token::decode(&format!(" {token}\n")).unwrap(), sample());
    }

    #[test]
    fn a_damaged_token_is_refused_without_being_echoed() {
        let good = sample().encode().unwrap();
        let wire = |json: &str| format!("pw1.{}", URL_SAFE_NO_PAD.encode(json));
        let cases = [
            (String::new(), "is empty"),
            ("pw2.abc".to_owned(), "does not start with"),
            ("hello-SECRET".to_owned(), "does not start with"),
            ("pw1.!!!".to_owned(), "not base64url"),
            (good[..good.len() - 6].to_owned(), "damaged"),
            (
                wire(
                    r#"{"p":"p","k":"x","o":"2026-11-24T10:00:00Z","c":[{"i":"c","t":"2026-11-24T10:00:00Z"}]}"#,
                ),
                "unknown kind",
            ),
            (
                wire(r#"{"p":"p","k":"full","o":"2026-11-24T10:00:00Z","c":[]}"#),
                "no cache",
            ),
            (
                wire(
                    r#"{"p":"","k":"full","o":"2026-11-24T10:00:00Z","c":[{"i":"c","t":"2026-11-24T10:00:00Z"}]}"#,
                ),
                "bad id",
            ),
            (
                wire(
                    r#"{"p":"p","k":"full","o":"2026-11-24T10:00:00Z","c":[{"i":"c\u0007","t":"2026-11-24T10:00:00Z"}]}"#,
                ),
                "bad id",
            ),
            (
                wire(
                    r#"{"p":"p","k":"full","o":"2026-11-24T10:00:00Z","c":[{"i":"c","t":"2026-11-24T10:00:00Z"},{"i":"c","t":"2026-11-24T10:00:00Z"}]}"#,
                ),
                "twice",
            ),
            (
                wire(
                    r#"{"p":"p","k":"full","o":"2026-11-24T10:00:00Z","c":[{"i":"c","t":"yesterday"}]}"#,
                ),
                "damaged",
            ),
            (
                wire(
                    r#"{"p":"p","k":"full","o":"2026-11-24T10:00:00Z","c":[{"i":"c","t":"2026-11-24T10:00:00Z","key":"x"}]}"#,
                ),
                "damaged",
            ),
            (
                "pw1.".to_owned() + &"A".repeat(MAX_TOKEN_BYTES),
                "longer than",
            ),
        ];
        for (text, hint) in cases {
            let err = Token::decode(&text).unwrap_err();
            assert!(err.contains(hint), "{text:.60}: {err}");
            assert!(!err.contains("SECRET"), "{err}");
        }
    }

    #[test]
    fn a_token_too_long_to_pass_back_is_not_made() {
        let mut token = sample();
        let one = token.caches[0].clone();
        token.caches = (0..2000)
            .map(|n| TriggeredCache {
                cache_id: format!("cache-with-a-long-id-{n:05}-{}", "x".repeat(20)),
                ..one.clone()
            })
            .collect();
        let err = token.encode().unwrap_err();
        assert!(err.contains("fewer caches"), "{err}");
        token.caches.truncate(100);
        assert!(token.encode().unwrap().len() <= MAX_TOKEN_BYTES);
    }
}
