//! Issue 8, item 8: the key never leaves. The server puts it (raw,
//! percent-encoded and base64 as in `Authorization` / Basic auth) into
//! every place it can; no form of it may reach stdout, stderr or the
//! GitHub files, in any log or output format, at the most verbose level,
//! and scrubbing must leave the gate's own words readable.

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use super::*;

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The key's percent-encoded form (`/`, `+`, `=` encoded).
fn percent_encoded() -> String {
    KEY.replace('/', "%2F")
        .replace('+', "%2B")
        .replace('=', "%3D")
}

/// Every form of the key that must never be printed, padding trimmed so
/// that a form inside a longer encoding is found too.
fn forbidden() -> Vec<(&'static str, String)> {
    let trim = |s: String| s.trim_end_matches('=').to_owned();
    vec![
        ("the key", KEY.to_owned()),
        ("the key percent-encoded", percent_encoded()),
        (
            "the key percent-encoded (lower case)",
            percent_encoded()
                .replace("%2F", "%2f")
                .replace("%2B", "%2b")
                .replace("%3D", "%3d"),
        ),
        (
            "the key percent-encoded, as an annotation escapes it",
            percent_encoded().replace('%', "%25"),
        ),
        (
            "base64 of `Bearer KEY`",
            trim(base64(format!("Bearer {KEY}").as_bytes())),
        ),
        (
            "base64 of `user:KEY`",
            trim(base64(format!("user:{KEY}").as_bytes())),
        ),
        ("base64 of the key", trim(base64(KEY.as_bytes()))),
    ]
}

/// Text with every form of the key, as a hostile server would echo it.
fn hostile() -> String {
    format!(
        "token {KEY} encoded {} bearer {} basic {}",
        percent_encoded(),
        base64(format!("Bearer {KEY}").as_bytes()),
        base64(format!("user:{KEY}").as_bytes())
    )
}

/// Runs the gate against servers from `serve` in every log and output format at trace
/// level, and checks that no form of the key is anywhere, that the exit
/// code is `code`, and that the output still says each of `words` (one
/// of each group, case-insensitive) so that scrubbing garbled nothing.
fn assert_key_never_leaks(
    serve: &(dyn Fn() -> String + Sync),
    args: &[&str],
    code: u8,
    words: &[&[&str]],
) {
    let variants = every_format(args);
    let mut failures = Vec::new();
    for (args, ran) in variants.iter().zip(run_all(serve, &variants)) {
        let what = args[args.len() - 6..args.len() - 2].join(" ");
        if ran.killed || ran.code != code {
            failures.push(format!("[{what}] exit {} (want {code})", ran.code));
        }
        for (place, text) in ran.everything() {
            for (form, needle) in forbidden() {
                if text.contains(&needle) {
                    let line = text
                        .lines()
                        .find(|l| l.contains(&needle))
                        .unwrap_or_default();
                    failures.push(format!("[{what}] {form} in {place}: {line}"));
                }
            }
        }
        let all = format!("{}\n{}", ran.stdout, ran.stderr).to_lowercase();
        for group in words {
            if !group.iter().any(|w| all.contains(&w.to_lowercase())) {
                failures.push(format!(
                    "[{what}] the output lost the gate's words {group:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_key_in_a_2xx_body_that_does_not_decode() {
    let body =
        json!({"id": "c", "status": "COMPLETED", "lastIncrementalCacheExecution": hostile()});
    let base = serve_status(body);
    assert_key_never_leaks(
        &|| base.clone(),
        &["--cache-id", "c"],
        3,
        &[&["retrying"], &["timed out"]],
    );
}

#[test]
fn the_key_in_a_project_list_that_does_not_decode() {
    let base = serve(vec![route("GET", LIST, always(json!([hostile()])))]);
    assert_key_never_leaks(
        &|| base.clone(),
        &["--cache-id", "c", "--cache-id", "d"],
        3,
        &[&["retrying"], &["timed out"]],
    );
}

#[test]
fn the_key_as_an_execution_id() {
    let mut e = execution("x", "COMPLETED", -120, Some(-60));
    e["id"] = json!(hostile());
    let base = serve_status(cache("c", "COMPLETED", e, Value::Null));
    assert_key_never_leaks(&|| base.clone(), &["--cache-id", "c"], 0, &[&["ready"]]);
}

#[test]
fn the_key_in_a_history_entry() {
    // The slot moves from e1 (running) to e2: the history tells how e1's
    // successor in between ended, and it carries the key.
    let mut entry = execution("x", "FAILED", -200, Some(-100));
    entry["id"] = json!(hostile());
    entry["error"] = json!({"message": hostile()});
    let history = ok(&json!([execution("e2", "RUNNING", -30, None), entry]));
    let base = || slot_moves(history.clone());
    assert_key_never_leaks(&base, &["--cache-id", "c"], 1, &[&["cache c"], &["failed"]]);
}

#[test]
fn the_key_in_a_redirect_location() {
    let location = format!(
        "https://evil.example/?k={KEY}&pct={}&b64={}&basic={}",
        percent_encoded(),
        base64(format!("Bearer {KEY}").as_bytes()),
        base64(format!("user:{KEY}").as_bytes())
    );
    let base = serve(vec![route(
        "GET",
        STATUS_C,
        Box::new(move |_| ResponseTemplate::new(302).insert_header("location", location.as_str())),
    )]);
    assert_key_never_leaks(
        &|| base.clone(),
        &["--cache-id", "c"],
        6,
        &[&["redirect"], &["302"]],
    );
}

#[test]
fn the_key_in_a_failed_execution_error() {
    let mut e = execution("e1", "FAILED", -120, Some(-60));
    e["error"] = json!({"message": format!("bad token {}", hostile())});
    let base = serve_status(cache("c", "FAILED", e, Value::Null));
    assert_key_never_leaks(
        &|| base.clone(),
        &["--cache-id", "c"],
        1,
        &[&["failed"], &["bad token"]],
    );
}

#[test]
fn the_key_as_a_status_string() {
    let mut e = execution("e1", "RUNNING", -120, None);
    e["status"] = json!(hostile());
    let base = serve_status(cache("c", &hostile(), e, Value::Null));
    assert_key_never_leaks(
        &|| base.clone(),
        &["--cache-id", "c"],
        3,
        &[&["unknown"], &["timed out"]],
    );
}

#[test]
fn the_key_in_a_4xx_message() {
    let base = serve(vec![route(
        "GET",
        STATUS_C,
        Box::new(|_| {
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": "X", "message": hostile(), "errorCode": null}))
        }),
    )]);
    assert_key_never_leaks(
        &|| base.clone(),
        &["--cache-id", "c"],
        6,
        &[&["HTTP 400"], &["token"]],
    );
}

#[test]
fn the_key_in_a_5xx_message() {
    let base = serve(vec![route(
        "GET",
        STATUS_C,
        Box::new(|_| ResponseTemplate::new(503).set_body_json(json!({"message": hostile()}))),
    )]);
    assert_key_never_leaks(
        &|| base.clone(),
        &["--cache-id", "c"],
        3,
        &[&["HTTP 503"], &["retrying"]],
    );
}

#[test]
fn the_key_as_a_cache_id_in_the_project_list() {
    let base = serve(vec![route(
        "GET",
        LIST,
        always(json!([completed_cache(&hostile(), 60)])),
    )]);
    assert_key_never_leaks(&|| base.clone(), &["--all-caches"], 0, &[&["ready"]]);
}

/// A key too short to be real would garble every scrubbed message: it is
/// refused before any request, by name and without echoing it; eight
/// characters are accepted.
#[test]
fn a_key_shorter_than_8_characters_is_a_usage_error() {
    let base = serve_status(completed_cache("c", 60));
    let ran = Gate::new(&base, &["--cache-id", "c", "--timeout", "2s"])
        .env("PEAKA_API_KEY", "zq7x1k9")
        .run();
    assert_code(&ran, 2, "a 7-character key");
    assert!(
        ran.stderr.contains("PEAKA_API_KEY"),
        "the message must name the variable\n{ran}"
    );
    assert!(
        !ran.stderr.contains("zq7x1k9") && !ran.stdout.contains("zq7x1k9"),
        "{ran}"
    );
    let ran = Gate::new(&base, &["--cache-id", "c", "--timeout", "2s"])
        .env("PEAKA_API_KEY", "zq7x1k9w")
        .run();
    assert_code(&ran, 0, "an 8-character key");
}

#[test]
fn the_key_in_a_history_that_does_not_decode() {
    // A JSON string where a list belongs: serde quotes it in its error.
    let history = ok(&json!(hostile()));
    let base = || slot_moves(history.clone());
    assert_key_never_leaks(&base, &["--cache-id", "c"], 3, &[&["execution history"]]);
}
