//! The HTTP client for Peaka's cache API: builds the URLs, sends the
//! requests, and reads the bodies within the cap each endpoint passes.
//!
//! How every answer is sorted into a status or one kind of [`FetchError`]
//! is `answer`'s; what each kind of failure means for the run (retried,
//! for how long, or final) is [`crate::retry`]'s.

use std::time::Duration;

use jiff::Timestamp;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};

use crate::api::{self, CacheStatus, Execution, ExecutionKind};
use crate::proxy::ProxyChoice;
use crate::secret::{Scrub, Scrubber};
use crate::stream::{Decoder, Sink, Whole};

mod answer;
mod body;
mod queries;

pub use answer::{FetchError, parse_retry_after};
use answer::{classify, describe_send_error, error_chain, not_a_page, undecodable};
use body::{Read, body_excerpt};

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
}

/// The requests: each endpoint sends one, with its own body cap.
impl Client {
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
            MAX_BODY_BYTES,
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
            MAX_LIST_BODY_BYTES,
            api::status_list_decoder(self.scrubbing(sink)),
        )
        .await
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
            MAX_LIST_BODY_BYTES,
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
            MAX_BODY_BYTES,
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
            MAX_BODY_BYTES,
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
            MAX_BODY_BYTES,
            Whole::new(not_a_page),
        )
        .await
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
            MAX_BODY_BYTES,
            Whole::new(|_| Ok(())),
        )
        .await
    }

    /// One request with the whole exchange (connect, headers, body) inside
    /// `budget`, reading at most `cap` bytes of body (each endpoint passes
    /// its own); a 2xx body is decoded, anything else sorted. Everything
    /// that comes back, decoded or as an error's text, is scrubbed of the
    /// key here, so nothing after this point can leak it.
    async fn fetch<T: Scrub>(
        &self,
        method: Method,
        url: Url,
        budget: Duration,
        cap: usize,
        decoder: impl Decoder<Value = T>,
    ) -> Result<Reply<T>, FetchError> {
        let sent = std::time::Instant::now();
        let host = url.host_str().unwrap_or_default().to_owned();
        let exchange = async {
            let response = self
                .http
                .request(method.clone(), url.clone())
                .send()
                .await
                .map_err(|err| {
                    answer::through_proxy(
                        self.proxy.as_ref(),
                        &self.proxy_scrubber,
                        describe_send_error(&err, &host),
                    )
                })?;
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

#[cfg(test)]
mod tests;
