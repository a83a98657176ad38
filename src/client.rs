//! The HTTP client for Peaka's cache API: builds the URLs, sends the
//! requests, caps the bodies, and sorts every answer into a cache status or
//! one kind of [`FetchError`].
//!
//! What each kind of failure means for the run (retried, for how long, or
//! final) is [`crate::retry`]'s.

use std::time::Duration;

use jiff::Timestamp;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};

use crate::api::{self, CacheStatus, Execution, ExecutionKind};
use crate::proxy::ProxyChoice;
use crate::secret::{Scrub, Scrubber};
use crate::stream::{Decoder, Sink, Whole};

mod queries;

/// The largest body read from the API for one cache (a status, a history,
/// settings): a few KiB is usual.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The largest list of caches read (a project, a catalog, a schema): a
/// cache with both slots and progress is about 950 bytes, so 10,000 caches
/// are about 9.5 MB.
pub const MAX_LIST_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How much of a response body a `trace` log shows.
pub const TRACE_BODY_BYTES: usize = 4096;

/// A decoded reply, with the server's clock reading from its `Date` header.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply<T> {
    /// The decoded body.
    pub value: T,
    /// The server's `Date`, if it sent a valid one.
    pub server_date: Option<Timestamp>,
    /// The local clock when the reply arrived.
    pub received_at: Timestamp,
}

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

    fn transient(cause: impl Into<String>) -> Self {
        FetchError::Transient {
            cause: cause.into(),
            status: None,
            retry_after: None,
        }
    }
}

/// A client for one Peaka base URL and one API key.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    /// Removes the key from everything the server or a library says.
    scrubber: Scrubber,
    /// `--request-timeout`, to name it when a request runs out of time.
    request_timeout: Option<Duration>,
    /// The proxy every request goes through, to name it when it cannot
    /// be reached.
    proxy: Option<ProxyChoice>,
    /// Removes the proxy's password (if it is long enough to be told from
    /// ordinary words) from connection errors.
    proxy_scrubber: Scrubber,
}

impl Client {
    /// Builds a client that connects directly, ignoring the proxy
    /// variables. The key goes into a header marked sensitive, so that no
    /// `Debug` output of a request can show it.
    pub fn new(base: Url, api_key: &str) -> Result<Client, String> {
        Client::with_proxy(base, api_key, None)
    }

    /// Builds a client whose every request goes through `proxy` (chosen
    /// by [`crate::proxy::choose`]), or directly when it is `None`.
    pub fn with_proxy(
        base: Url,
        api_key: &str,
        proxy: Option<ProxyChoice>,
    ) -> Result<Client, String> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {api_key}"))
            .map_err(|_| "the API key contains characters that cannot be sent in a header (a line break or a control character?); check PEAKA_API_KEY or the key file".to_owned())?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, auth);
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        // Certificates are checked only on an https:// base or proxy; an
        // http:// (loopback) base through a plain proxy needs none.
        let needs_roots =
            base.scheme() == "https" || proxy.as_ref().is_some_and(|p| p.url().scheme() == "https");
        let builder = reqwest::Client::builder()
            .user_agent(concat!("peaka-wait/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            // A redirect would carry the key to another address; the user
            // should point --base-url at the final address instead.
            .redirect(reqwest::redirect::Policy::none())
            // reqwest needs a TLS setup even for http:// bases.
            .tls_backend_preconfigured(crate::tls::config(needs_roots)?);
        // The proxy was decided once, from the flag and the variables;
        // reqwest's own lookup of the variables is turned off so that it
        // cannot decide differently.
        let builder = match &proxy {
            Some(choice) => {
                builder.proxy(reqwest::Proxy::all(choice.url().clone()).map_err(|err| {
                    format!(
                        "the proxy {} (from {}) cannot be used: {}",
                        choice.display(),
                        choice.source(),
                        error_chain(&err)
                    )
                })?)
            }
            None => builder.no_proxy(),
        };
        let http = builder
            .build()
            .map_err(|err| format!("cannot set up the HTTP client: {}", error_chain(&err)))?;
        Ok(Client {
            http,
            base,
            scrubber: Scrubber::new(api_key),
            request_timeout: None,
            proxy_scrubber: proxy
                .as_ref()
                .and_then(ProxyChoice::password)
                .map(Scrubber::new)
                .unwrap_or_default(),
            proxy,
        })
    }

    /// Names `--request-timeout` in the message of a request that ran out
    /// of time (the budget of one request may be shorter near the deadline).
    pub fn with_request_timeout(mut self, request_timeout: Duration) -> Client {
        self.request_timeout = Some(request_timeout);
        self
    }

    /// The API's base URL, as the user gave it (it never holds the key).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `{base}/data/projects/{projectId}/cache/{cacheId}/status?excludeLogs=true`,
    /// each id percent-encoded as a single path segment.
    pub fn cache_status_url(&self, project_id: &str, cache_id: &str) -> Url {
        let mut url = self.endpoint(&["data", "projects", project_id, "cache", cache_id, "status"]);
        url.query_pairs_mut().append_pair("excludeLogs", "true");
        url
    }

    /// `{base}/data/projects/{projectId}/cache/status`: every cache of a project.
    pub fn project_status_url(&self, project_id: &str) -> Url {
        self.endpoint(&["data", "projects", project_id, "cache", "status"])
    }

    /// `{base}/data/projects/{projectId}/catalog/{catalogId}/cache/status`.
    /// (The schema-level list is never asked: it answered 500 for live
    /// catalogs; one schema's caches are the catalog's, filtered.)
    pub fn catalog_status_url(&self, project_id: &str, catalog_id: &str) -> Url {
        self.endpoint(&[
            "data", "projects", project_id, "catalog", catalog_id, "cache", "status",
        ])
    }

    /// Fetches the status of every cache of a catalog in one request,
    /// handing each (scrubbed) to `sink`.
    pub async fn catalog_statuses<S>(
        &self,
        project_id: &str,
        catalog_id: &str,
        budget: Duration,
        sink: S,
    ) -> Result<Reply<S::Value>, FetchError>
    where
        S: Sink<CacheStatus>,
        S::Value: Scrub,
    {
        self.fetch(
            Method::GET,
            self.catalog_status_url(project_id, catalog_id),
            budget,
            api::status_list_decoder(self.scrubbing(sink)),
        )
        .await
    }

    /// `sink`, given each entry once the key is scrubbed from it: a sink
    /// may write entries out before the list has ended.
    fn scrubbing<S>(&self, sink: S) -> Scrubbing<S> {
        Scrubbing {
            scrubber: self.scrubber.clone(),
            sink,
        }
    }

    /// `{base}/data/projects/{projectId}/cache/{cacheId}/executionHistory?limit=N`.
    pub fn execution_history_url(&self, project_id: &str, cache_id: &str, limit: u32) -> Url {
        let mut url = self.endpoint(&[
            "data",
            "projects",
            project_id,
            "cache",
            cache_id,
            "executionHistory",
        ]);
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string())
            .append_pair("offset", "0");
        url
    }

    /// `{base}/data/projects/{projectId}/cache/{cacheId}`: the cache's settings.
    pub fn cache_settings_url(&self, project_id: &str, cache_id: &str) -> Url {
        self.endpoint(&["data", "projects", project_id, "cache", cache_id])
    }

    /// `{base}/data/projects/{projectId}/cache/{cacheId}/incrementalUpdate` or
    /// `…/fullRefreshUpdate`.
    pub fn trigger_url(&self, project_id: &str, cache_id: &str, kind: ExecutionKind) -> Url {
        let action = match kind {
            ExecutionKind::Incremental => "incrementalUpdate",
            ExecutionKind::Full => "fullRefreshUpdate",
        };
        self.endpoint(&["data", "projects", project_id, "cache", cache_id, action])
    }

    /// `{base}/data/projects/{projectId}/cache/{cacheId}/cancelIncrementalUpdate`
    /// or `…/cancelFullRefreshUpdate`.
    pub fn cancel_url(&self, project_id: &str, cache_id: &str, kind: ExecutionKind) -> Url {
        let action = match kind {
            ExecutionKind::Incremental => "cancelIncrementalUpdate",
            ExecutionKind::Full => "cancelFullRefreshUpdate",
        };
        self.endpoint(&["data", "projects", project_id, "cache", cache_id, action])
    }

    /// Asks Peaka to cancel the running refresh of the given kind (best
    /// effort on Peaka's side: no effect on one that is already ending).
    /// Sent once.
    pub async fn cancel(
        &self,
        project_id: &str,
        cache_id: &str,
        kind: ExecutionKind,
        budget: Duration,
    ) -> Result<Reply<()>, FetchError> {
        // As for a trigger, only the status of the answer counts.
        self.fetch(
            Method::POST,
            self.cancel_url(project_id, cache_id, kind),
            budget,
            Whole::new(|_| Ok(())),
        )
        .await
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        // The base was checked to be an http(s) URL, which always has a
        // path; if it somehow had none, the URL stays the base and the
        // server's 404 says so.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url.set_query(None);
        url
    }

    /// Fetches the status of one cache, giving up after `budget`.
    pub async fn cache_status(
        &self,
        project_id: &str,
        cache_id: &str,
        budget: Duration,
    ) -> Result<Reply<CacheStatus>, FetchError> {
        self.fetch(
            Method::GET,
            self.cache_status_url(project_id, cache_id),
            budget,
            Whole::new(api::decode_status),
        )
        .await
    }

    /// Fetches the status of every cache of a project in one request,
    /// handing each (scrubbed) to `sink`.
    pub async fn project_statuses<S>(
        &self,
        project_id: &str,
        budget: Duration,
        sink: S,
    ) -> Result<Reply<S::Value>, FetchError>
    where
        S: Sink<CacheStatus>,
        S::Value: Scrub,
    {
        self.fetch(
            Method::GET,
            self.project_status_url(project_id),
            budget,
            api::status_list_decoder(self.scrubbing(sink)),
        )
        .await
    }

    /// Fetches the newest `limit` executions of a cache, newest first (a
    /// reply with more is read only as far as `limit`).
    pub async fn execution_history(
        &self,
        project_id: &str,
        cache_id: &str,
        limit: u32,
        budget: Duration,
    ) -> Result<Reply<Vec<Execution>>, FetchError> {
        self.fetch(
            Method::GET,
            self.execution_history_url(project_id, cache_id, limit),
            budget,
            Whole::new(move |body: &[u8]| api::decode_history(body, limit as usize)),
        )
        .await
    }

    /// Fetches a cache's settings (each slot's schedule).
    pub async fn cache_settings(
        &self,
        project_id: &str,
        cache_id: &str,
        budget: Duration,
    ) -> Result<Reply<crate::settings::CacheSettings>, FetchError> {
        self.fetch(
            Method::GET,
            self.cache_settings_url(project_id, cache_id),
            budget,
            Whole::new(crate::settings::decode_settings),
        )
        .await
    }

    /// Asks Peaka to start a refresh of the given kind. Sent once: the
    /// caller may repeat it only after [`FetchError::Unreached`].
    pub async fn trigger(
        &self,
        project_id: &str,
        cache_id: &str,
        kind: ExecutionKind,
        budget: Duration,
    ) -> Result<Reply<()>, FetchError> {
        // The body of a trigger's answer is not documented; only its status
        // counts, unless it is a page: then a proxy or a firewall answered,
        // and Peaka may never have seen the trigger.
        self.fetch(
            Method::POST,
            self.trigger_url(project_id, cache_id, kind),
            budget,
            Whole::new(not_a_page),
        )
        .await
    }

    /// One request with the whole exchange (connect, headers, body) inside
    /// `budget`; a 2xx body is decoded, anything else sorted. Everything
    /// that comes back, decoded or as an error's text, is scrubbed of the
    /// key here, so nothing after this point can leak it.
    async fn fetch<T: Scrub>(
        &self,
        method: Method,
        url: Url,
        budget: Duration,
        decoder: impl Decoder<Value = T>,
    ) -> Result<Reply<T>, FetchError> {
        let path = url.path();
        let cap =
            if path.ends_with("/cache/status") || path.ends_with("/materialized-queries/status") {
                MAX_LIST_BODY_BYTES
            } else {
                MAX_BODY_BYTES
            };
        let sent = std::time::Instant::now();
        let host = url.host_str().unwrap_or_default().to_owned();
        let exchange = async {
            let response = self
                .http
                .request(method.clone(), url.clone())
                .send()
                .await
                .map_err(|err| self.through_proxy(describe_send_error(&err, &host)))?;
            let received_at = Timestamp::now();
            let status = response.status();
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|value: &HeaderValue| value.to_str().ok())
                    .map(str::to_owned)
            };
            let server_date = header(header::DATE).and_then(|date| {
                jiff::fmt::rfc2822::DateTimeParser::new()
                    .parse_timestamp(date.trim())
                    .ok()
            });
            let retry_after = header(header::RETRY_AFTER)
                .and_then(|value| parse_retry_after(&value, received_at));
            let location = header(header::LOCATION);
            let content_type = header(header::CONTENT_TYPE);
            if status.is_success() {
                let mut read = Read::new(cap);
                let value = read.decode(response, decoder).await;
                self.log_reply(&method, &url, status, sent, &read);
                return Ok(Reply {
                    value: value
                        .map_err(|err| undecodable(err, content_type.as_deref(), &read.excerpt))?,
                    server_date,
                    received_at,
                });
            }
            let mut read = Read::new(cap);
            // An error reply is read whole (at most the cap) for its message.
            let body = read.decode(response, Vec::new()).await;
            self.log_reply(&method, &url, status, sent, &read);
            let body = body.unwrap_or_default();
            let message = api::error_message(&body);
            let peaka_error = message.is_some() || api::is_error_body(&body);
            Err(classify(
                status,
                message,
                retry_after,
                location,
                peaka_error,
            ))
        };
        let result = match tokio::time::timeout(budget, exchange).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::transient(self.out_of_time(budget))),
        };
        match result {
            Ok(mut reply) => {
                reply.value.scrub(&self.scrubber);
                Ok(reply)
            }
            Err(err) => {
                if !err.message().is_empty() {
                    tracing::debug!("{method} {url}: {}", self.scrubber.scrub(err.message()));
                }
                Err(err.scrubbed(&self.scrubber))
            }
        }
    }
}

impl Client {
    /// The `debug` line of a reply, and its first bytes at `trace`.
    fn log_reply(
        &self,
        method: &Method,
        url: &Url,
        status: StatusCode,
        sent: std::time::Instant,
        read: &Read,
    ) {
        let size = read.size;
        tracing::debug!(
            method = %method,
            url = %url,
            http_status = status.as_u16(),
            latency_ms = crate::timespec::millis(sent.elapsed()),
            body_bytes = size,
            "{method} {url}: HTTP {} in {}, {size} bytes",
            status.as_u16(),
            crate::timespec::format_duration(sent.elapsed()),
        );
        tracing::trace!(
            "{method} {url}: body {}",
            self.scrubber.scrub(&body_excerpt(read))
        );
    }

    /// A connection error names the proxy, which is then the first
    /// suspect, and loses the proxy's password.
    fn through_proxy(&self, err: FetchError) -> FetchError {
        match (&self.proxy, err) {
            (Some(proxy), FetchError::Unreached(message)) => {
                FetchError::Unreached(self.proxy_scrubber.scrub(&format!(
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
                FetchError::Certificate(self.proxy_scrubber.scrub(&format!(
                    "{message}{}; requests go through the proxy {} (from {}): a proxy that inspects TLS shows its own certificate, whose CA must then be in SSL_CERT_FILE",
                    ca_store_note(),
                    proxy.display(),
                    proxy.source()
                )))
            }
            (Some(_), err) => err.scrubbed(&self.proxy_scrubber),
            (None, FetchError::Certificate(message)) => {
                FetchError::Certificate(format!("{message}{}", ca_store_note()))
            }
            (None, err) => err,
        }
    }

    fn out_of_time(&self, budget: Duration) -> String {
        use crate::timespec::format_duration;
        match self.request_timeout {
            Some(limit) if budget >= limit => format!(
                "no complete reply within --request-timeout ({})",
                format_duration(limit)
            ),
            Some(limit) => format!(
                "no complete reply within the {} left before the deadline (--request-timeout is {})",
                format_duration(budget),
                format_duration(limit)
            ),
            None => format!("no complete reply within {}", format_duration(budget)),
        }
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
    fn scrubbed(mut self, scrubber: &Scrubber) -> FetchError {
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

/// The start of a body as text, for a `trace` log: at most
/// [`TRACE_BODY_BYTES`], with a note of what was left out.
fn body_excerpt(read: &Read) -> String {
    let mut text = String::from_utf8_lossy(&read.excerpt).into_owned();
    if read.size > read.excerpt.len() {
        text.push_str(&format!(
            " … ({} more bytes)",
            read.size - read.excerpt.len()
        ));
    }
    text
}

/// Sorts a non-2xx answer.
/// `peaka_error` says whether the body was Peaka's JSON error: a 404
/// without one most likely came from a wrong --base-url, not a wrong id.
fn classify(
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

/// A sink that sees each entry only once the key is scrubbed from it.
struct Scrubbing<S> {
    scrubber: Scrubber,
    sink: S,
}

impl<T: Scrub, S: Sink<T>> Sink<T> for Scrubbing<S> {
    type Value = S::Value;

    fn take(&mut self, mut item: T) -> Result<(), String> {
        item.scrub(&self.scrubber);
        self.sink.take(item)
    }

    fn finish(self) -> S::Value {
        self.sink.finish()
    }
}

/// One body being read: its size so far, its first bytes (for the
/// `trace` log), and the cap it may not pass.
struct Read {
    cap: usize,
    size: usize,
    excerpt: Vec<u8>,
}

impl Read {
    fn new(cap: usize) -> Self {
        Read {
            cap,
            size: 0,
            excerpt: Vec::new(),
        }
    }

    /// Reads the body into `decoder`, refusing more than the cap.
    async fn decode<D: Decoder>(
        &mut self,
        mut response: reqwest::Response,
        mut decoder: D,
    ) -> Result<D::Value, FetchError> {
        let cap = self.cap;
        let too_large = || {
            FetchError::transient(format!(
                "the reply is larger than {} MiB; not reading it",
                cap / (1024 * 1024)
            ))
        };
        if let Some(announced) = response.content_length() {
            if announced > cap as u64 {
                return Err(too_large());
            }
            decoder.reserve(usize::try_from(announced).unwrap_or(0));
        }
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    self.size += chunk.len();
                    if self.size > cap {
                        return Err(too_large());
                    }
                    let room = TRACE_BODY_BYTES.saturating_sub(self.excerpt.len());
                    self.excerpt
                        .extend_from_slice(&chunk[..room.min(chunk.len())]);
                    decoder.feed(&chunk).map_err(FetchError::transient)?;
                }
                Ok(None) => return decoder.finish().map_err(FetchError::transient),
                Err(err) => {
                    return Err(FetchError::transient(format!(
                        "the reply was cut off: {}",
                        error_chain(&err)
                    )));
                }
            }
        }
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

/// A 2xx body that did not decode: a web page (`text/html`), or a body
/// whose first byte cannot start Peaka's JSON, is not the API at all; a
/// JSON body cut short or of the wrong shape stays a passing trouble.
fn undecodable(err: FetchError, content_type: Option<&str>, start: &[u8]) -> FetchError {
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
    FetchError::NotTheApi(format!(
        "the base URL answered with {what}, not Peaka's API ({cause}): check --base-url, which must be the API root, like {}",
        crate::cli::DEFAULT_BASE_URL
    ))
}

/// Accepts any 2xx body of a trigger but markup (HTML or XML, whatever its
/// `Content-Type`), which [`undecodable`] then names a web page.
fn not_a_page(body: &[u8]) -> Result<(), String> {
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

fn describe_send_error(err: &reqwest::Error, host: &str) -> FetchError {
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
enum Resolution {
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
fn resolution_failure(chain: &str) -> Option<Resolution> {
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
fn error_chain(err: &dyn std::error::Error) -> String {
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

#[cfg(test)]
mod tests {
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
            if let (Some(want_retry), FetchError::Transient { retry_after, .. }) = (transient, &err)
            {
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
}
