//! The connection to a cluster: its endpoints, the timeouts, and failover between members.
//!
//! Each call is a `POST` of a JSON body to one member's gateway. The client sticks to the member
//! that last answered (one kept-alive connection, no needless reconnects). A member that refuses
//! the connection is skipped within the same call, since the request cannot have reached it; a
//! call that timed out, broke off, or met a member without a quorum is not repeated (it may have
//! been applied), but the next call starts at the following member.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use infrakit_spi::error::chain;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::kv::Header;

/// How long connecting to a member may take before the next one is tried.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a call may take once connected, answer included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read: far above what the manager stores, a bound on a broken member.
const MAX_RESPONSE_BODY: usize = 64 * 1024 * 1024;

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// How a [`Client`] calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self { connect_timeout: DEFAULT_CONNECT_TIMEOUT, request_timeout: DEFAULT_REQUEST_TIMEOUT }
    }
}

/// A client of one etcd cluster; clones share the connections and the current member.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    /// Base URLs, `http://host:port`, as given (for errors) and parsed.
    endpoints: Vec<(String, Uri)>,
    /// The member the next call starts at.
    current: AtomicUsize,
    http: HttpClient<HttpConnector, Full<Bytes>>,
    request_timeout: Duration,
}

/// A member's view of the cluster, from `/v3/maintenance/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Status {
    pub header: Header,
    /// The member's etcd version, such as `3.4.23`.
    pub version: String,
}

/// Why one attempt at one member failed.
enum Attempt {
    /// The connection was refused or could not be made: the request was not sent.
    NotConnected(String),
    Failed(Error),
}

impl Client {
    /// A client of the members at `endpoints` (`http://host:port`, or `host:port`). Nothing is
    /// connected until the first call.
    pub fn new<E: AsRef<str>>(endpoints: &[E], options: ClientOptions) -> Result<Self, Error> {
        if endpoints.is_empty() {
            return Err(Error::InvalidEndpoint { endpoint: String::new(), reason: "no endpoint given".into() });
        }
        let endpoints = endpoints.iter().map(|e| parse_endpoint(e.as_ref())).collect::<Result<Vec<_>, _>>()?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(options.connect_timeout));
        connector.set_nodelay(true);
        let http = HttpClient::builder(TokioExecutor::new()).build(connector);
        let inner = Inner { endpoints, current: AtomicUsize::new(0), http, request_timeout: options.request_timeout };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// A client of the same members over the same connections, whose calls may take `timeout`.
    pub fn with_request_timeout(&self, timeout: Duration) -> Self {
        let inner = Inner {
            endpoints: self.inner.endpoints.clone(),
            current: AtomicUsize::new(self.inner.current.load(Ordering::Relaxed)),
            http: self.inner.http.clone(),
            request_timeout: timeout,
        };
        Self { inner: Arc::new(inner) }
    }

    /// The endpoints, as given.
    pub fn endpoints(&self) -> impl Iterator<Item = &str> {
        self.inner.endpoints.iter().map(|(name, _)| name.as_str())
    }

    /// The endpoint the next call starts at: the one that answered last.
    pub(crate) fn current_endpoint(&self) -> &str {
        &self.inner.endpoints[self.inner.current.load(Ordering::Relaxed) % self.inner.endpoints.len()].0
    }

    /// The status of the member that answers.
    pub async fn status(&self) -> Result<Status, Error> {
        self.call("/v3/maintenance/status", &serde_json::json!({})).await
    }

    /// Posts `body` to `path` at the current member, going on to the next members while they
    /// cannot be connected to.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        path: &'static str,
        body: &impl Serialize,
    ) -> Result<T, Error> {
        let body = Bytes::from(serde_json::to_vec(body).map_err(|e| Error::Decode {
            endpoint: self.inner.endpoints[0].0.clone(),
            path,
            reason: format!("the request could not be encoded: {e}"),
        })?);
        let count = self.inner.endpoints.len();
        let start = self.inner.current.load(Ordering::Relaxed);
        let mut attempts = Vec::new();
        for offset in 0..count {
            let index = (start + offset) % count;
            match self.call_member(index, path, body.clone()).await {
                Ok(answer) => {
                    self.inner.current.store(index, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(Attempt::NotConnected(reason)) => {
                    attempts.push(format!("{}: {reason}", self.inner.endpoints[index].0))
                }
                Err(Attempt::Failed(e)) => {
                    if e.suggests_another_member() {
                        self.inner.current.store((index + 1) % count, Ordering::Relaxed);
                    }
                    return Err(e);
                }
            }
        }
        Err(Error::Unreachable { attempts: attempts.join("; ") })
    }

    async fn call_member<T: DeserializeOwned>(
        &self,
        index: usize,
        path: &'static str,
        body: Bytes,
    ) -> Result<T, Attempt> {
        let (endpoint, base) = &self.inner.endpoints[index];
        let failed = |reason: String| Attempt::Failed(Error::Transport { endpoint: endpoint.clone(), path, reason });
        let uri = Uri::builder()
            .scheme("http")
            .authority(base.authority().map_or("", |a| a.as_str()))
            .path_and_query(path)
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(CONTENT_TYPE, JSON)
            .body(Full::new(body))
            .map_err(|e| failed(e.to_string()))?;
        let exchange =
            async {
                let response =
                    self.inner.http.request(request).await.map_err(|e| {
                        if e.is_connect() { Attempt::NotConnected(chain(&e)) } else { failed(chain(&e)) }
                    })?;
                let status = response.status();
                let body = Limited::new(response.into_body(), MAX_RESPONSE_BODY)
                    .collect()
                    .await
                    .map_err(|e| failed(format!("reading the answer: {e}")))?
                    .to_bytes();
                Ok((status, body))
            };
        let timeout = self.inner.request_timeout;
        let (status, body) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Attempt::Failed(Error::Timeout { endpoint: endpoint.clone(), path, timeout }))??;
        decode(endpoint, path, status, &body).map_err(Attempt::Failed)
    }
}

/// The error body of a refused call, as the gateway writes it.
#[derive(Deserialize)]
struct Refusal {
    #[serde(default)]
    code: i32,
    #[serde(default)]
    message: String,
}

fn decode<T: DeserializeOwned>(
    endpoint: &str,
    path: &'static str,
    status: StatusCode,
    body: &[u8],
) -> Result<T, Error> {
    let unreadable = |reason: String| Error::Decode { endpoint: endpoint.to_owned(), path, reason };
    if status.is_success() {
        return serde_json::from_slice(body).map_err(|e| unreadable(e.to_string()));
    }
    match serde_json::from_slice::<Refusal>(body) {
        Ok(refusal) => {
            Err(Error::Refused { endpoint: endpoint.to_owned(), path, code: refusal.code, message: refusal.message })
        }
        Err(_) => Err(unreadable(format!("HTTP {status}: {}", String::from_utf8_lossy(body).trim()))),
    }
}

/// `http://host:port` (a bare `host:port` means http): the name kept as given, for errors.
fn parse_endpoint(text: &str) -> Result<(String, Uri), Error> {
    let invalid = |reason: &str| Error::InvalidEndpoint { endpoint: text.to_owned(), reason: reason.to_owned() };
    let full = if text.contains("://") { text.to_owned() } else { format!("http://{text}") };
    let uri: Uri = full.parse().map_err(|_| invalid("not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(invalid("TLS to etcd is not supported: use an http:// endpoint")),
        _ => return Err(invalid("the scheme must be http")),
    }
    if uri.authority().and_then(|a| a.port_u16()).is_none() {
        return Err(invalid("the port is missing"));
    }
    if !matches!(uri.path(), "" | "/") {
        return Err(invalid("an endpoint has no path"));
    }
    Ok((text.to_owned(), uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_http_urls_with_a_port() {
        assert_eq!(parse_endpoint("http://127.0.0.1:2379").unwrap().1.authority().unwrap(), "127.0.0.1:2379");
        assert_eq!(parse_endpoint("etcd-0:2379").unwrap().1.scheme_str(), Some("http"));
        for bad in ["https://etcd:2379", "http://etcd", "unix:///run/etcd", "http://etcd:2379/v3", "not a url"] {
            let error = parse_endpoint(bad).unwrap_err();
            assert!(error.to_string().contains(bad), "{error}");
        }
        assert!(Client::new::<&str>(&[], ClientOptions::default()).is_err());
    }

    #[test]
    fn a_refusal_names_the_endpoint_and_carries_etcd_s_reason() {
        let body = br#"{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}"#;
        let error = decode::<Status>("http://a:1", "/v3/lease/revoke", StatusCode::NOT_FOUND, body).unwrap_err();
        assert!(matches!(&error, Error::Refused { code: 5, .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "etcd at http://a:1 refused /v3/lease/revoke: etcdserver: requested lease not found (code 5)"
        );
        let error = decode::<Status>("http://a:1", "/v3/kv/range", StatusCode::BAD_GATEWAY, b"<html>").unwrap_err();
        assert!(error.to_string().contains("HTTP 502 Bad Gateway: <html>"), "{error}");
    }
}
