//! Sorting every answer of the API, and every failure to get one, into a
//! status or one kind of [`FetchError`]: HTTP statuses, pages that are not
//! the API, lookups of a host that does not exist, certificates, proxies.
//!
//! The requests and the body caps are [`super`]'s; what each kind of
//! failure means for the run (retried, for how long, or final) is
//! [`crate::retry`]'s; the key is scrubbed from every text here by
//! [`FetchError::scrubbed`] with [`crate::secret`]'s scrubber, and server
//! text is made one line by [`crate::text::one_line`].

use std::time::Duration;

use jiff::Timestamp;
use reqwest::StatusCode;

use crate::proxy::ProxyChoice;
use crate::secret::{Scrub, Scrubber};

/// Why a request did not yield what was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The request never reached the server (no connection could be made),
    /// so even a trigger may safely be sent again.
    Unreached(String),
    /// The base URL's host name does not exist (the resolver answered
    /// NXDOMAIN / `EAI_NONAME`): retried for a while, since a pod's DNS can
    /// be wrong for a moment, then the gate gives up (see the loop).
    NoSuchHost(String),
    /// Worth another try: a timeout, 408, 429, 5xx, a truncated or
    /// malformed reply, a connection lost mid-request.
    Transient {
        /// What went wrong, for the warning.
        cause: String,
        /// The HTTP status, when the server answered (5xx, 408, 429): an
        /// answer shows the request arrived, not what became of it.
        status: Option<u16>,
        /// The server's `Retry-After`, when it sent one with 429 or 503.
        retry_after: Option<Duration>,
    },
    /// 401 or 403: the key is wrong or may not read this cache.
    Unauthorized(String),
    /// 404: no such project or cache.
    NotFound(String),
    /// Any other 4xx, or a redirect.
    Api(String),
    /// The server's (or the proxy's) certificate was not accepted: a base
    /// URL or CA store that is wrong, which no retry fixes.
    Certificate(String),
    /// A 2xx that is not Peaka's API: a web page (`text/html`), or a body
    /// that is not JSON at all. Retried for a while, since a proxy's error
    /// page can pass; a base URL that points at a web site never changes.
    NotTheApi(String),
}

impl FetchError {
    /// The message for the user.
    pub fn message(&self) -> &str {
        match self {
            FetchError::Transient { cause, .. } => cause,
            FetchError::Unreached(message)
            | FetchError::NoSuchHost(message)
            | FetchError::Unauthorized(message)
            | FetchError::NotFound(message)
            | FetchError::Api(message)
            | FetchError::Certificate(message)
            | FetchError::NotTheApi(message) => message,
        }
    }

    pub(super) fn transient(cause: impl Into<String>) -> Self {
        FetchError::Transient {
            cause: cause.into(),
            status: None,
            retry_after: None,
        }
    }
}

/// A connection error names the proxy, which is then the first
/// suspect, and loses the proxy's password.
pub(super) fn through_proxy(
    proxy: Option<&ProxyChoice>,
    proxy_scrubber: &Scrubber,
    err: FetchError,
) -> FetchError {
    match (proxy, err) {
        (Some(proxy), FetchError::Unreached(message)) => {
            FetchError::Unreached(proxy_scrubber.scrub(&format!(
                "cannot connect through the proxy {} (from {}): {}",
                proxy.display(),
                proxy.source(),
                message.strip_prefix("cannot connect: ").unwrap_or(&message)
            )))
        }
        // With a proxy, the only name looked up here is the proxy's.
        (Some(proxy), FetchError::NoSuchHost(_)) => FetchError::NoSuchHost(format!(
            "cannot resolve the proxy {} (from {}): check that setting",
            proxy.display(),
            proxy.source()
        )),
        (Some(proxy), FetchError::Certificate(message)) => {
            FetchError::Certificate(proxy_scrubber.scrub(&format!(
                "{message}{}; requests go through the proxy {} (from {}): a proxy that inspects TLS shows its own certificate, whose CA must then be in SSL_CERT_FILE",
                ca_store_note(),
                proxy.display(),
                proxy.source()
            )))
        }
        (Some(_), err) => err.scrubbed(proxy_scrubber),
        (None, FetchError::Certificate(message)) => {
            FetchError::Certificate(format!("{message}{}", ca_store_note()))
        }
        (None, err) => err,
    }
}

/// Where the trusted CAs come from besides the bundled ones, when the user
/// set it: the machine's store honours `SSL_CERT_FILE` and `SSL_CERT_DIR`
/// from this process's environment (see [`crate::tls`]), so that is what
/// is named.
fn ca_store_note() -> String {
    let set: Vec<String> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .filter_map(|name| {
            let value = std::env::var_os(name).filter(|v| !v.is_empty())?;
            Some(format!(
                "{name}={}",
                crate::text::one_line(&value.to_string_lossy())
            ))
        })
        .collect();
    if set.is_empty() {
        String::new()
    } else {
        format!(
            "; the CAs trusted include {}: they must hold the CA that signed it",
            set.join(" and ")
        )
    }
}

impl FetchError {
    /// The same error with the key removed from its text.
    pub(super) fn scrubbed(mut self, scrubber: &Scrubber) -> FetchError {
        match &mut self {
            FetchError::Transient { cause, .. } => cause.scrub(scrubber),
            FetchError::Unreached(message)
            | FetchError::NoSuchHost(message)
            | FetchError::Unauthorized(message)
            | FetchError::NotFound(message)
            | FetchError::Api(message)
            | FetchError::Certificate(message)
            | FetchError::NotTheApi(message) => message.scrub(scrubber),
        }
        self
    }
}

/// Sorts a non-2xx answer.
/// `peaka_error` says whether the body was Peaka's JSON error: a 404
/// without one most likely came from a wrong --base-url, not a wrong id.
pub(super) fn classify(
    status: StatusCode,
    message: Option<String>,
    retry_after: Option<Duration>,
    location: Option<String>,
    peaka_error: bool,
) -> FetchError {
    let code = status.as_u16();
    let said = message.map(|m| format!(": {m}")).unwrap_or_default();
    match code {
        401 => FetchError::Unauthorized(format!(
            "the API key was rejected (HTTP 401{said}); check PEAKA_API_KEY or the key file"
        )),
        403 => FetchError::Unauthorized(format!(
            "the API key may not read this cache (HTTP 403{said}); a Project API key only reaches its own project"
        )),
        404 if peaka_error => FetchError::NotFound(format!(
            "not found (HTTP 404{said}); check --project-id and --cache-id"
        )),
        404 => FetchError::NotFound(format!(
            "not found (HTTP 404, and the reply is not a Peaka API error); check --base-url: it must be the API root, like {}, and then --project-id and --cache-id",
            crate::cli::DEFAULT_BASE_URL
        )),
        408 | 429 | 500..=599 => FetchError::Transient {
            cause: format!("the API answered HTTP {code}{said}"),
            status: Some(code),
            retry_after: if code == 429 || code == 503 {
                retry_after
            } else {
                None
            },
        },
        300..=399 => FetchError::Api(format!(
            "the API redirected (HTTP {code}) to {}; redirects are not followed: set --base-url to the final address",
            location.as_deref().unwrap_or("(no Location)")
        )),
        _ => FetchError::Api(format!("the API refused the request (HTTP {code}{said})")),
    }
}

/// `Retry-After` as seconds or as an HTTP date.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    // A date in the past means "now".
    Some(Duration::try_from(at.duration_since(now)).unwrap_or_default())
}

/// A 2xx body that did not decode: a web page (`text/html`), a body whose
/// first byte cannot start Peaka's JSON, or JSON of another kind than the
/// endpoint sends (`{"message": …}` where a list of caches should be) is
/// not the API at all; a JSON body cut short, or a list with one entry
/// that cannot be read, stays a passing trouble.
pub(super) fn undecodable(err: FetchError, content_type: Option<&str>, start: &[u8]) -> FetchError {
    let FetchError::Transient { cause, .. } = &err else {
        return err;
    };
    let html =
        content_type.is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let body = start.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(start);
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    let not_json = first.is_some_and(|at| !matches!(body[at], b'{' | b'['));
    let what = if html {
        "a web page (text/html)".to_owned()
    } else if cause.starts_with(crate::stream::OTHER_JSON) {
        format!("JSON of another kind ({cause})")
    } else if not_json {
        let shown: String = String::from_utf8_lossy(&body[first.unwrap_or(0)..])
            .chars()
            .take(24)
            .collect();
        format!(
            "a body that is not JSON (it starts with '{}')",
            crate::text::one_line(&shown)
        )
    } else {
        return err;
    };
    let cause = if what.starts_with("JSON") {
        String::new()
    } else {
        format!(" ({cause})")
    };
    FetchError::NotTheApi(format!(
        "the base URL answered with {what}, not Peaka's API{cause}: check --base-url, which must be the API root, like {}",
        crate::cli::DEFAULT_BASE_URL
    ))
}

/// Accepts any 2xx body of a trigger but markup (HTML or XML, whatever its
/// `Content-Type`), which [`undecodable`] then names a web page.
pub(super) fn not_a_page(body: &[u8]) -> Result<(), String> {
    let body = body.strip_prefix(crate::stream::BOM).unwrap_or(body);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => Err("the answer is markup, not JSON".to_owned()),
        _ => Ok(()),
    }
}

/// The part of an error chain that says a certificate was not accepted.
fn certificate_failure(chain: &str) -> Option<&str> {
    let at = chain.find("invalid peer certificate")?;
    Some(&chain[at..])
}

pub(super) fn describe_send_error(err: &reqwest::Error, host: &str) -> FetchError {
    let chain = error_chain(err);
    if let Some(cause) = certificate_failure(&chain) {
        let lower = cause.to_ascii_lowercase();
        let check = if lower.contains("not valid for name") || lower.contains("notvalidforname") {
            "check --base-url: the host name must be one the certificate names"
        } else {
            "check --base-url, and that the CA that signed it is trusted (SSL_CERT_FILE or SSL_CERT_DIR add a CA file or directory)"
        };
        return FetchError::Certificate(format!(
            "the certificate of {host} was not accepted ({cause}); {check}"
        ));
    }
    match resolution_failure(&chain) {
        Some(Resolution::NoSuchName(cause)) => {
            FetchError::NoSuchHost(format!("cannot resolve {host} ({cause}): check --base-url"))
        }
        Some(Resolution::Failed(cause)) => {
            FetchError::Unreached(format!("cannot resolve {host} ({cause}): check --base-url"))
        }
        None if err.is_connect() => FetchError::Unreached(format!("cannot connect: {chain}")),
        None => FetchError::transient(format!("the request failed: {chain}")),
    }
}

/// How a name lookup failed, in the resolver's own words.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Resolution {
    /// The name does not exist (NXDOMAIN, `EAI_NONAME`).
    NoSuchName(String),
    /// Any other lookup failure (no resolver reachable, a server failure):
    /// DNS is often briefly down as a pod starts, so it is retried.
    Failed(String),
}

/// Sorts a lookup failure out of an error chain. The resolver's error has
/// no public type in hyper-util, so its text is all there is; these are
/// the `gai_strerror` texts of glibc, musl, macOS and Windows for a name
/// that does not exist.
pub(super) fn resolution_failure(chain: &str) -> Option<Resolution> {
    let at = chain.find("dns error")?;
    let cause = chain[at..].to_owned();
    let lower = cause.to_ascii_lowercase();
    let no_such_name = [
        "name or service not known",
        "nodename nor servname provided",
        "no such host is known",
        "name does not resolve",
        "no address associated with hostname",
    ]
    .iter()
    .any(|words| lower.contains(words));
    Some(if no_such_name {
        Resolution::NoSuchName(cause)
    } else {
        Resolution::Failed(cause)
    })
}

/// An error and its sources, as one line.
pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        // hyper and reqwest often repeat their source in their own text.
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
