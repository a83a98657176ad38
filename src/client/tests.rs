use super::answer::{Resolution, classify, not_a_page, resolution_failure};
use super::*;
use crate::exit_codes::Outcome;

fn client(base: &str) -> Client {
    Client::new(Url::parse(base).unwrap(), "k").unwrap()
}

#[test]
fn a_trigger_answered_with_markup_was_answered_by_a_page() {
    for page in [
        &b"<html>"[..],
        b" \n<!DOCTYPE html>",
        b"\xEF\xBB\xBF<?xml ?>",
    ] {
        assert!(not_a_page(page).is_err(), "{page:?}");
    }
    for answer in [
        &b""[..],
        b"{}",
        b"\xEF\xBB\xBF{\"a\":1}",
        b"[]",
        b"true",
        b"OK",
    ] {
        assert_eq!(not_a_page(answer), Ok(()), "{answer:?}");
    }
}

#[test]
fn urls_keep_the_base_path_with_or_without_a_trailing_slash() {
    for base in [
        "https://partner.peaka.studio/api/v1",
        "https://partner.peaka.studio/api/v1/",
    ] {
        assert_eq!(
            client(base).cache_status_url("p1", "c1").as_str(),
            "https://partner.peaka.studio/api/v1/data/projects/p1/cache/c1/status?excludeLogs=true"
        );
    }
    assert_eq!(
        client("http://127.0.0.1:8080")
            .cache_status_url("p", "c")
            .as_str(),
        "http://127.0.0.1:8080/data/projects/p/cache/c/status?excludeLogs=true"
    );
}

#[test]
fn every_endpoint_url() {
    let c = client("https://h/api/v1");
    assert_eq!(
        c.project_status_url("p").as_str(),
        "https://h/api/v1/data/projects/p/cache/status"
    );
    assert_eq!(
        c.execution_history_url("p", "c", 20).as_str(),
        "https://h/api/v1/data/projects/p/cache/c/executionHistory?limit=20&offset=0"
    );
    assert_eq!(
        c.cache_settings_url("p", "c").as_str(),
        "https://h/api/v1/data/projects/p/cache/c"
    );
    assert_eq!(
        c.trigger_url("p", "c", ExecutionKind::Incremental).as_str(),
        "https://h/api/v1/data/projects/p/cache/c/incrementalUpdate"
    );
    assert_eq!(
        c.trigger_url("p", "c", ExecutionKind::Full).as_str(),
        "https://h/api/v1/data/projects/p/cache/c/fullRefreshUpdate"
    );
    assert_eq!(
        c.catalog_status_url("p", "k/x").as_str(),
        "https://h/api/v1/data/projects/p/catalog/k%2Fx/cache/status"
    );
    assert_eq!(
        c.cancel_url("p", "c", ExecutionKind::Incremental).as_str(),
        "https://h/api/v1/data/projects/p/cache/c/cancelIncrementalUpdate"
    );
    assert_eq!(
        c.cancel_url("p", "c", ExecutionKind::Full).as_str(),
        "https://h/api/v1/data/projects/p/cache/c/cancelFullRefreshUpdate"
    );
}

#[test]
fn ids_are_single_path_segments() {
    let url = client("https://h/api/v1/").cache_status_url("p/../q", "../../x?y#z");
    assert_eq!(
        url.path(),
        "/api/v1/data/projects/p%2F..%2Fq/cache/..%2F..%2Fx%3Fy%23z/status"
    );
    assert_eq!(url.query(), Some("excludeLogs=true"));
}

#[test]
fn every_status_class_is_sorted_per_the_contract() {
    let table = [
        (401, None),
        (403, None),
        (404, None),
        (400, None),
        (409, None),
        (301, None),
        (307, None),
        (408, Some(None)),
        (429, Some(Some(Duration::from_secs(5)))),
        (500, Some(None)),
        (502, Some(None)),
        (503, Some(Some(Duration::from_secs(5)))),
    ];
    for (code, transient) in table {
        let err = classify(
            StatusCode::from_u16(code).unwrap(),
            Some("m".into()),
            Some(Duration::from_secs(5)),
            None,
            true,
        );
        let want_outcome = match code {
            401 | 403 => Some(Outcome::Unauthorized),
            404 => Some(Outcome::NotFound),
            _ if transient.is_some() => None,
            _ => Some(Outcome::ApiError),
        };
        assert_eq!(err.outcome(), want_outcome, "{code}");
        if let (Some(want_retry), FetchError::Transient { retry_after, .. }) = (transient, &err) {
            assert_eq!(*retry_after, want_retry, "{code}");
        }
    }
}

#[test]
fn the_server_message_is_shown() {
    let err = classify(
        StatusCode::BAD_REQUEST,
        Some("Cache settings not found".into()),
        None,
        None,
        true,
    );
    assert_eq!(
        err.message(),
        "the API refused the request (HTTP 400: Cache settings not found)"
    );
    let err = classify(
        StatusCode::FOUND,
        None,
        None,
        Some("https://elsewhere/".into()),
        false,
    );
    assert!(
        err.message().contains("https://elsewhere/"),
        "{}",
        err.message()
    );
}

#[test]
fn retry_after_in_seconds_and_as_an_http_date() {
    let now: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
    assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
    assert_eq!(
        parse_retry_after("Tue, 24 Nov 2026 10:00:30 GMT", now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        parse_retry_after("Tue, 24 Nov 2026 09:00:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", now), None);
    assert_eq!(parse_retry_after("-3", now), None);
}

#[test]
fn the_key_is_scrubbed_from_every_error_text() {
    let scrubber = Scrubber::new("s3cr3t-key");
    for err in [
        FetchError::Unreached("x s3cr3t-key".into()),
        FetchError::NoSuchHost("x s3cr3t-key".into()),
        FetchError::transient("x s3cr3t-key"),
        FetchError::Unauthorized("x s3cr3t-key".into()),
        FetchError::NotFound("x s3cr3t-key".into()),
        FetchError::Api("x s3cr3t-key".into()),
    ] {
        assert_eq!(err.scrubbed(&scrubber).message(), "x [redacted]");
    }
    let c = Client::new(Url::parse("http://127.0.0.1/").unwrap(), "s3cr3t-key").unwrap();
    assert!(!format!("{c:?}").contains("s3cr3t"));
}

#[test]
fn a_404_that_is_not_peakas_names_the_base_url() {
    let peaka = classify(
        StatusCode::NOT_FOUND,
        Some("Cache not found".into()),
        None,
        None,
        true,
    );
    assert!(
        peaka.message().contains("--cache-id"),
        "{}",
        peaka.message()
    );
    assert!(
        !peaka.message().contains("--base-url"),
        "{}",
        peaka.message()
    );
    let other = classify(StatusCode::NOT_FOUND, None, None, None, false);
    assert!(
        other.message().contains("--base-url"),
        "{}",
        other.message()
    );
    assert_eq!(other.outcome(), Some(Outcome::NotFound));
}

#[test]
fn lookup_failures_are_told_apart() {
    let table = [
        (
            "error sending request: client error (Connect): dns error: failed to lookup address information: Name or service not known",
            Some(true),
        ),
        (
            "dns error: failed to lookup address information: nodename nor servname provided, or not known",
            Some(true),
        ),
        (
            "dns error: No such host is known. (os error 11001)",
            Some(true),
        ),
        (
            "dns error: failed to lookup address information: Temporary failure in name resolution",
            Some(false),
        ),
        (
            "dns error: failed to lookup address information: Try again",
            Some(false),
        ),
        ("tcp connect error: Connection refused (os error 111)", None),
    ];
    for (chain, want) in table {
        let got = resolution_failure(chain).map(|r| matches!(r, Resolution::NoSuchName(_)));
        assert_eq!(got, want, "{chain}");
    }
}

#[test]
fn a_key_with_a_line_break_is_refused_without_echoing_it() {
    let err = Client::new(Url::parse("http://127.0.0.1/").unwrap(), "abc\ndef").unwrap_err();
    assert!(!err.contains("abc"), "{err}");
}
