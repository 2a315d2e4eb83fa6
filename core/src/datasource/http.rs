//! The HTTP client of the REST and GitHub datasources: SSRF guard on every
//! address and redirect, timeouts, retries with backoff, and a size cap on
//! each response body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};

use super::guard::{Blocked, HttpAllowlist};
use crate::error::{Error, Result};

/// Redirects followed for one request before it fails.
pub const MAX_REDIRECTS: usize = 5;
/// A `Retry-After` longer than this fails the request as rate limited
/// instead of waiting.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Timeouts, retries and size caps of an HTTP datasource, all optional in
/// the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpLimits {
    /// Time allowed to open a connection, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Time allowed for one request, from sending it to reading the whole
    /// body, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries after a 429, a 5xx status or a connection error.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// First backoff delay in milliseconds; it doubles on each retry.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// Maximum backoff delay in milliseconds.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Pages read per fetch before it fails.
    #[serde(default = "default_max_pages")]
    pub max_pages: usize,
    /// Bytes allowed in one response body.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
}

fn default_connect_timeout_ms() -> u64 {
    10_000
}
fn default_timeout_ms() -> u64 {
    30_000
}
fn default_max_retries() -> u32 {
    3
}
fn default_backoff_ms() -> u64 {
    500
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
fn default_max_pages() -> usize {
    100
}
fn default_max_response_bytes() -> usize {
    16 * 1024 * 1024
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            connect_timeout_ms: default_connect_timeout_ms(),
            timeout_ms: default_timeout_ms(),
            max_retries: default_max_retries(),
            backoff_ms: default_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            max_pages: default_max_pages(),
            max_response_bytes: default_max_response_bytes(),
        }
    }
}

impl HttpLimits {
    /// Checks that every limit is usable; `prefix` is the config path.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let positive = [
            ("connectTimeoutMs", self.connect_timeout_ms),
            ("timeoutMs", self.timeout_ms),
            ("maxPages", self.max_pages as u64),
            ("maxResponseBytes", self.max_response_bytes as u64),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::validation(
                    format!("{prefix}.{name}"),
                    "must be greater than 0; leave it out for the default",
                ));
            }
        }
        if self.max_retries > 10 {
            return Err(Error::validation(
                format!("{prefix}.maxRetries"),
                format!("{} is too many; use at most 10", self.max_retries),
            ));
        }
        if self.backoff_ms > self.max_backoff_ms {
            return Err(Error::validation(
                format!("{prefix}.backoffMs"),
                "must not exceed maxBackoffMs",
            ));
        }
        Ok(())
    }
}

/// A response whose body has been read in full.
#[derive(Debug)]
pub struct HttpResponse {
    pub url: Url,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// Parses the body as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Unavailable {
            backend: "http datasource".into(),
            reason: format!("{} returned a body that is not JSON: {e}", self.url),
            source: None,
        })
    }

    /// Returns the `rel="next"` target of the `Link` header, if any.
    pub fn next_link(&self) -> Option<Url> {
        self.headers
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(next_link)
            .and_then(|target| self.url.join(&target).ok())
    }
}

/// A request: the URL, headers sent everywhere, and credential headers sent
/// only to the origin of the first URL, never across a redirect to another.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub url: Url,
    pub headers: HeaderMap,
    pub credentials: HeaderMap,
}

/// An HTTP client that passes every address through the SSRF guard.
#[derive(Clone)]
pub struct GuardedClient {
    client: reqwest::Client,
    allow: Arc<HttpAllowlist>,
    limits: HttpLimits,
    /// Config path of the URL setting, named by errors.
    field: String,
}

impl GuardedClient {
    /// Builds a client; `field` is the config path that errors name for
    /// rejected or unreachable URLs.
    pub fn new(allow: Arc<HttpAllowlist>, limits: HttpLimits, field: &str) -> Result<Self> {
        let resolver = GuardedResolver {
            allow: allow.clone(),
        };
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(resolver))
            // Proxies would connect on our behalf to addresses the guard never saw.
            .no_proxy()
            // Redirects are followed by hand so that each target is checked.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(limits.connect_timeout_ms))
            .timeout(Duration::from_millis(limits.timeout_ms))
            .user_agent(concat!("polystat/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::configuration(format!("cannot build the HTTP client: {e}")))?;
        Ok(GuardedClient {
            client,
            allow,
            limits,
            field: field.to_string(),
        })
    }

    /// Returns the limits this client applies.
    pub fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    /// Sends a GET request, retrying 429, 5xx and connection errors with
    /// exponential backoff and jitter, and honoring `Retry-After`. A
    /// non-success status after the retries is an error.
    pub async fn get(&self, request: &HttpRequest) -> Result<HttpResponse> {
        let mut attempt = 0;
        loop {
            let outcome = self.get_following_redirects(request).await;
            let retry_in = match &outcome {
                Ok(response) if is_retryable_status(response.status) => {
                    retry_after(&response.headers)
                }
                Err(Failure::Connect(_)) => None,
                _ => return outcome.map_err(Failure::into_error)?.check(),
            };
            if attempt >= self.limits.max_retries {
                return outcome.map_err(Failure::into_error)?.check();
            }
            if retry_in.is_some_and(|delay| delay > MAX_RETRY_AFTER) {
                return Err(Error::RateLimited {
                    retry_after: retry_in.unwrap_or(MAX_RETRY_AFTER),
                });
            }
            let delay = retry_in.unwrap_or_else(|| self.backoff(attempt));
            tracing::debug!(url = %request.url, attempt, ?delay, "retrying HTTP request");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Full-jitter backoff: a random delay between half and all of
    /// `backoff * 2^attempt`, capped at the maximum.
    fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self
            .limits
            .backoff_ms
            .saturating_mul(1u64 << attempt.min(20))
            .min(self.limits.max_backoff_ms);
        let jittered = rand::thread_rng().gen_range(exponential / 2..=exponential);
        Duration::from_millis(jittered)
    }

    async fn get_following_redirects(
        &self,
        request: &HttpRequest,
    ) -> Result<HttpResponse, Failure> {
        let origin = request.url.origin();
        let mut url = request.url.clone();
        for _ in 0..=MAX_REDIRECTS {
            self.allow
                .check_url(&url)
                .map_err(|r| Failure::Done(r.into_error(&self.field)))?;
            let mut headers = request.headers.clone();
            if url.origin() == origin {
                headers.extend(request.credentials.clone());
            }
            let response = self.send_once(&url, headers).await?;
            if !response.status.is_redirection() {
                return Ok(response);
            }
            url = redirect_target(&response).map_err(Failure::Done)?;
        }
        Err(Failure::Done(Error::validation(
            &self.field,
            format!(
                "{} redirected more than {MAX_REDIRECTS} times; point the URL at the final location",
                request.url
            ),
        )))
    }

    async fn send_once(&self, url: &Url, headers: HeaderMap) -> Result<HttpResponse, Failure> {
        let mut response = self
            .client
            .get(url.clone())
            .headers(headers)
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(e, &self.field, &self.limits))?;
        let cap = self.limits.max_response_bytes;
        if response.content_length().is_some_and(|n| n > cap as u64) {
            return Err(Failure::Done(too_large(url, cap)));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Failure::from_reqwest(e, &self.field, &self.limits))?
        {
            if body.len() + chunk.len() > cap {
                return Err(Failure::Done(too_large(url, cap)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            url: url.clone(),
            status: response.status(),
            headers: response.headers().clone(),
            body,
        })
    }
}

/// Failure of one attempt: a connection error that may be retried, or a
/// final error.
enum Failure {
    Connect(Error),
    Done(Error),
}

impl Failure {
    fn from_reqwest(error: reqwest::Error, field: &str, limits: &HttpLimits) -> Failure {
        if let Some(blocked) = find_blocked(&error) {
            return Failure::Done(blocked.clone().into_error(field));
        }
        let url = error
            .url()
            .map(|u| u.as_str().to_string())
            .unwrap_or_default();
        if error.is_timeout() {
            let after = if error.is_connect() {
                limits.connect_timeout_ms
            } else {
                limits.timeout_ms
            };
            return Failure::Done(Error::Timeout {
                operation: format!("GET {url}"),
                after: Duration::from_millis(after),
            });
        }
        // A refused or reset connection may succeed on the next attempt;
        // a malformed request or body will not.
        let retryable = error.is_connect();
        let unavailable = Error::Unavailable {
            backend: "http datasource".into(),
            reason: format!("GET {url} failed: {error}"),
            source: Some(Box::new(error)),
        };
        if retryable {
            Failure::Connect(unavailable)
        } else {
            Failure::Done(unavailable)
        }
    }

    fn into_error(self) -> Error {
        match self {
            Failure::Connect(error) | Failure::Done(error) => error,
        }
    }
}

trait CheckStatus {
    fn check(self) -> Result<HttpResponse>;
}

impl CheckStatus for HttpResponse {
    /// Maps a non-success status to the error kind a caller acts on.
    fn check(self) -> Result<HttpResponse> {
        let status = self.status;
        if status.is_success() {
            return Ok(self);
        }
        let url = self.url.as_str();
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Unauthorized {
                reason: format!("GET {url} returned {status}; check the datasource credentials"),
            },
            StatusCode::TOO_MANY_REQUESTS => Error::RateLimited {
                retry_after: retry_after(&self.headers).unwrap_or(Duration::ZERO),
            },
            StatusCode::NOT_FOUND => Error::NotFound {
                entity: "http resource",
                id: url.to_string(),
            },
            _ => Error::Unavailable {
                backend: "http datasource".into(),
                reason: format!("GET {url} returned {status}"),
                source: None,
            },
        })
    }
}

fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// Reads `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

fn redirect_target(response: &HttpResponse) -> Result<Url> {
    let location = response
        .headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::Unavailable {
            backend: "http datasource".into(),
            reason: format!(
                "{} returned {} without a Location header",
                response.url, response.status
            ),
            source: None,
        })?;
    response.url.join(location).map_err(|e| Error::Unavailable {
        backend: "http datasource".into(),
        reason: format!("{} redirected to an invalid URL: {e}", response.url),
        source: None,
    })
}

fn too_large(url: &Url, cap: usize) -> Error {
    Error::validation(
        "datasource.config.maxResponseBytes",
        format!("the response from {url} is larger than {cap} bytes; raise maxResponseBytes or request smaller pages"),
    )
}

fn find_blocked(error: &reqwest::Error) -> Option<&Blocked> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = source {
        if let Some(blocked) = current.downcast_ref::<Blocked>() {
            return Some(blocked);
        }
        source = current.source();
    }
    None
}

/// Extracts the `rel="next"` URL from one `Link` header value, as in
/// `<https://api.example/items?page=2>; rel="next", <...>; rel="last"`.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        is_next.then(|| target.to_string())
    })
}

/// A DNS resolver that rejects any host whose addresses include one the
/// guard blocks, so the connection goes only to checked addresses.
struct GuardedResolver {
    allow: Arc<HttpAllowlist>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addresses.is_empty() {
                return Err(format!("{host} has no addresses").into());
            }
            for address in &addresses {
                allow.check_ip(&host, address.ip())?;
            }
            let addresses: Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// Builds a header map from config pairs; `field` names the config path.
pub fn header_map<'a>(
    pairs: impl IntoIterator<Item = (&'a String, &'a String)>,
    field: &str,
) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Error::validation(
                format!("{field}.{name}"),
                "is not a valid header name; use letters, digits and '-'",
            )
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::validation(
                format!("{field}.{name}"),
                "contains characters a header value cannot carry; remove control characters",
            )
        })?;
        headers.insert(header, value);
    }
    Ok(headers)
}

/// Builds a header value that carries a credential, marked sensitive so that
/// the HTTP stack never prints it.
pub fn secret_header(value: &str, field: &str) -> Result<HeaderValue> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        Error::validation(
            field,
            "the credential contains characters a header cannot carry; store it without line breaks",
        )
    })?;
    header.set_sensitive(true);
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn next_link_finds_next_among_relations() {
        let header = r#"<https://h/x?page=1>; rel="prev", <https://h/x?page=3>; rel="next", <https://h/x?page=9>; rel="last""#;
        assert_eq!(next_link(header).as_deref(), Some("https://h/x?page=3"));
    }

    #[test]
    fn next_link_is_none_on_last_page() {
        let header = r#"<https://h/x?page=1>; rel="first", <https://h/x?page=8>; rel="prev""#;
        assert_eq!(next_link(header), None);
    }

    #[test]
    fn next_link_accepts_unquoted_and_multiple_relations() {
        assert_eq!(
            next_link("<a?page=2>; rel=next").as_deref(),
            Some("a?page=2")
        );
        assert_eq!(
            next_link(r#"<b>; title="x"; rel="last next""#).as_deref(),
            Some("b")
        );
    }
}
