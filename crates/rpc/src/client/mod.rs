//! Calling plugins.
//!
//! [`Client`] speaks JSON-RPC to one plugin address (a unix socket, or an HTTP base URL with an
//! optional bearer token), over a small pool of kept-alive connections. Errors come back as the
//! spi's [`Error`]: a failure of the remote plugin is [`Error::Failed`] with its message verbatim,
//! a request the plugin rejected is [`Error::Invalid`], and anything that kept the call from
//! getting an answer (no socket, refused, reset, timeout) is [`Error::Unavailable`] naming the
//! plugin.
//!
//! - `pool`: the connections.
//! - `typed`: [`InstanceClient`], [`FlavorClient`], [`GroupClient`], which implement the spi
//!   traits and check the plugin's interface version once.
//! - `subscribe`: a plugin's event stream.
//! - [`fetch`]: a document by its http(s) URL, for templates and playbooks.

pub mod fetch;
mod pool;
mod subscribe;
mod typed;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use infrakit_spi::Error;
use infrakit_spi::duration::GoDuration;
use infrakit_spi::types::InterfaceSpec;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::discovery::Address;
use crate::envelope::{INVALID_REQUEST, PARSE_ERROR};
use crate::tls;
use crate::wire::handshake::{HelloRequest, HelloResponse};
use pool::{Pool, Target};

pub use subscribe::RemoteSubscription;
pub use typed::{FlavorClient, GroupClient, InstanceClient};

/// Environment variable overriding [`DEFAULT_TIMEOUT`] (a Go duration such as `30s`).
pub const TIMEOUT_ENV: &str = "INFRAKIT_CLIENT_TIMEOUT";
/// How long a call may take, connecting included, unless `INFRAKIT_CLIENT_TIMEOUT` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest response accepted: room for tens of thousands of instance descriptions, while a
/// misbehaving plugin cannot make its caller buffer without bound.
pub const MAX_RESPONSE_BODY: usize = 256 * 1024 * 1024;

/// The `Host` header for unix sockets, where there is no host (the original sends `h`).
const UNIX_HOST: HeaderValue = HeaderValue::from_static("rpc");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// How a [`Client`] calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// The limit on each call, connecting included.
    pub timeout: Duration,
    /// Sent as `Authorization: Bearer <token>` to HTTP addresses (a remote mux).
    pub bearer_token: Option<String>,
    /// PEM files of the certificates trusted for `https://` addresses; none means the system's
    /// roots.
    pub trusted: Vec<PathBuf>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self { timeout: DEFAULT_TIMEOUT, bearer_token: None, trusted: Vec::new() }
    }
}

impl ClientOptions {
    /// The defaults, with the timeout from `INFRAKIT_CLIENT_TIMEOUT` and the trusted
    /// certificates from `INFRAKIT_TLS_CA`, if they are set.
    pub fn from_env() -> Self {
        Self {
            timeout: timeout_from(std::env::var(TIMEOUT_ENV).ok().as_deref()),
            bearer_token: None,
            trusted: tls::trusted_from_env(),
        }
    }
}

fn timeout_from(setting: Option<&str>) -> Duration {
    match setting.map(str::parse::<GoDuration>) {
        None => DEFAULT_TIMEOUT,
        Some(Ok(timeout)) if !timeout.is_zero() => timeout.0,
        Some(Ok(_)) => DEFAULT_TIMEOUT,
        Some(Err(e)) => {
            tracing::warn!(error = %e, default = %GoDuration(DEFAULT_TIMEOUT), "ignoring {TIMEOUT_ENV}");
            DEFAULT_TIMEOUT
        }
    }
}

/// A JSON-RPC client of one plugin. Cheap to clone; clones share connections and the handshake.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The plugin's name (or address), for error messages.
    plugin: String,
    address: Address,
    pool: Pool,
    /// The path requests are posted to: `/`, or `/<plugin>/` through a mux.
    path: String,
    host: HeaderValue,
    authorization: Option<HeaderValue>,
    timeout: Duration,
    next_id: AtomicU64,
    /// Interfaces the plugin is known to serve at the right version.
    verified: Mutex<HashSet<InterfaceSpec>>,
}

/// How requests reach the plugin: where they go, the path they are posted to, and their headers.
struct Connection {
    target: Target,
    path: String,
    host: HeaderValue,
    authorization: Option<HeaderValue>,
}

impl Client {
    /// A client of the plugin at `address`, named `plugin` in errors, with options from the
    /// environment.
    pub fn new(plugin: impl Into<String>, address: Address) -> Result<Self, Error> {
        Self::with_options(plugin, address, ClientOptions::from_env())
    }

    /// A client of the plugin at `address` with explicit options. Fails on an address that
    /// cannot be a `Host` header, and, for `https://`, on certificates that cannot be read.
    pub fn with_options(plugin: impl Into<String>, address: Address, options: ClientOptions) -> Result<Self, Error> {
        let (host, target, path) = match &address {
            Address::Unix(path) => (UNIX_HOST, Target::Unix(path.clone()), "/".to_owned()),
            Address::Http(base) => {
                let host = HeaderValue::from_str(&base.authority)
                    .map_err(|_| Error::invalid(format!("invalid plugin address {address}")))?;
                let authority = base.authority.clone();
                let target = match base.tls {
                    true => Target::Tls(
                        authority.clone(),
                        tls::server_name(&authority)?,
                        tls::client_config(&options.trusted)?,
                    ),
                    false => Target::Tcp(authority),
                };
                (host, target, base.prefix.clone())
            }
        };
        let authorization = match &options.bearer_token {
            Some(token) => Some(
                HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| Error::invalid("the bearer token is not a valid header value"))?,
            ),
            None => None,
        };
        let connection = Connection { target, path, host, authorization };
        Ok(Self::assemble(plugin.into(), address, connection, options.timeout))
    }

    /// The client of a unix socket, named by its path, with options from the environment.
    pub fn unix(socket: impl Into<PathBuf>) -> Self {
        let socket = socket.into();
        let connection = Connection {
            target: Target::Unix(socket.clone()),
            path: "/".to_owned(),
            host: UNIX_HOST,
            authorization: None,
        };
        let timeout = ClientOptions::from_env().timeout;
        Self::assemble(socket.display().to_string(), Address::Unix(socket), connection, timeout)
    }

    fn assemble(plugin: String, address: Address, connection: Connection, timeout: Duration) -> Self {
        let Connection { target, path, host, authorization } = connection;
        let inner = Inner {
            plugin,
            pool: Pool::new(target),
            address,
            path,
            host,
            authorization,
            timeout,
            next_id: AtomicU64::new(1),
            verified: Mutex::new(HashSet::new()),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Where the plugin is.
    pub fn address(&self) -> &Address {
        &self.inner.address
    }

    /// Calls `method` with any JSON params and returns the raw result (for the CLI and for
    /// services without a typed client).
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, Error> {
        self.call_as(method, &params).await
    }

    /// Calls `method` with typed params and decodes the result.
    pub async fn call_as<P: Serialize, R: DeserializeOwned>(&self, method: &str, params: &P) -> Result<R, Error> {
        let body = self.encode_request(method, params)?;
        let (status, reply) = tokio::time::timeout(self.inner.timeout, self.post(body))
            .await
            .map_err(|_| self.unavailable(format!("{method} timed out after {}", GoDuration(self.inner.timeout))))??;
        decode_reply(method, status, &reply)
    }

    /// Asks the plugin what it serves (`Handshake.Hello`).
    pub async fn hello(&self) -> Result<HelloResponse, Error> {
        self.call_as("Handshake.Hello", &HelloRequest {}).await
    }

    /// Checks, once per client, that the plugin serves `interface` at exactly its version, with the
    /// original's messages. A failed check is not remembered: the plugin may be fixed and restarted.
    pub async fn ensure_interface(&self, interface: &InterfaceSpec) -> Result<(), Error> {
        if self.verified().contains(interface) {
            return Ok(());
        }
        let served = self.hello().await?;
        let mut outcome = Err(Error::Unsupported(format!("Plugin does not support interface {interface}")));
        for key in served.objects.keys() {
            let (name, version) = key.split_once('/').unwrap_or((key, ""));
            let version = version.split('/').next().unwrap_or_default();
            if name == interface.name {
                if version == interface.version {
                    outcome = Ok(());
                    break;
                }
                outcome = Err(Error::Unsupported(format!(
                    "Plugin supports {name} interface version {version}, client requires {}",
                    interface.version
                )));
            }
        }
        if outcome.is_ok() {
            self.verified().insert(interface.clone());
        }
        outcome
    }

    /// `GET /info/api.json`: the plugin's self-description.
    pub async fn info(&self) -> Result<Value, Error> {
        let request = self.request(Method::GET, "info/api.json", Bytes::new())?;
        let (status, body) =
            tokio::time::timeout(self.inner.timeout, self.round_trip(request)).await.map_err(|_| {
                self.unavailable(format!("GET /info/api.json timed out after {}", GoDuration(self.inner.timeout)))
            })??;
        if status != StatusCode::OK {
            return Err(Error::failed(format!("GET /info/api.json answered {status}")));
        }
        serde_json::from_slice(&body).map_err(|e| Error::failed(format!("invalid /info/api.json: {e}")))
    }

    fn encode_request<P: Serialize>(&self, method: &str, params: &P) -> Result<Bytes, Error> {
        #[derive(Serialize)]
        struct Envelope<'a, P> {
            jsonrpc: &'static str,
            method: &'a str,
            params: &'a P,
            id: u64,
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let envelope = Envelope { jsonrpc: crate::envelope::JSONRPC_VERSION, method, params, id };
        serde_json::to_vec(&envelope)
            .map(Bytes::from)
            .map_err(|e| Error::invalid(format!("cannot encode the params of {method}: {e}")))
    }

    async fn post(&self, body: Bytes) -> Result<(StatusCode, Bytes), Error> {
        let request = self.request(Method::POST, "", body)?;
        self.round_trip(request).await
    }

    /// A request to `<prefix><path>`.
    fn request(&self, method: Method, path: &str, body: Bytes) -> Result<Request<Full<Bytes>>, Error> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.inner.path))
            .header(HOST, self.inner.host.clone())
            .header(CONTENT_TYPE, JSON);
        if let Some(authorization) = &self.inner.authorization {
            builder = builder.header(AUTHORIZATION, authorization.clone());
        }
        builder.body(Full::new(body)).map_err(|e| Error::invalid(format!("cannot build the request: {e}")))
    }

    async fn round_trip(&self, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), Error> {
        let (response, lease) = self.inner.pool.send(request).await.map_err(|e| self.unavailable(e.to_string()))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BODY)
            .collect()
            .await
            .map_err(|e| self.unavailable(format!("cannot read the response: {e}")))?
            .to_bytes();
        self.inner.pool.release(lease);
        Ok((status, body))
    }

    pub(crate) fn unavailable(&self, detail: impl std::fmt::Display) -> Error {
        Error::Unavailable(format!("plugin {} ({}): {detail}", self.inner.plugin, self.inner.address))
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, HashSet<InterfaceSpec>> {
        // Held only for a lookup or an insert.
        self.inner.verified.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Reads a JSON-RPC response as gorilla's client does: an `error` wins; then a missing or null
/// `result` is the error `result is null`.
fn decode_reply<R: DeserializeOwned>(method: &str, status: StatusCode, body: &[u8]) -> Result<R, Error> {
    #[derive(serde::Deserialize)]
    struct Reply<'a> {
        #[serde(borrow, default)]
        result: Option<&'a RawValue>,
        #[serde(borrow, default)]
        error: Option<&'a RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct RemoteError {
        #[serde(default)]
        code: i64,
        #[serde(default)]
        message: String,
    }
    let reply: Reply<'_> = serde_json::from_slice(body).map_err(|e| {
        if status == StatusCode::OK {
            Error::failed(format!("invalid response to {method}: {e}"))
        } else {
            Error::failed(format!("{method} answered HTTP {status}: {}", String::from_utf8_lossy(body).trim()))
        }
    })?;
    if let Some(error) = reply.error {
        return Err(match serde_json::from_str::<RemoteError>(error.get()) {
            Ok(RemoteError { code: INVALID_REQUEST | PARSE_ERROR, message }) => Error::Invalid(message),
            Ok(RemoteError { message, .. }) => Error::Failed(message),
            Err(_) => Error::Failed(error.get().to_owned()),
        });
    }
    let result = reply.result.ok_or_else(|| Error::failed("result is null"))?;
    serde_json::from_str(result.get()).map_err(|e| Error::failed(format!("invalid result of {method}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_comes_from_a_go_duration() {
        assert_eq!(timeout_from(None), DEFAULT_TIMEOUT);
        assert_eq!(timeout_from(Some("1m30s")), Duration::from_secs(90));
        assert_eq!(timeout_from(Some("banana")), DEFAULT_TIMEOUT);
        assert_eq!(timeout_from(Some("0s")), DEFAULT_TIMEOUT);
    }

    #[test]
    fn replies_decode_like_gorillas_client() {
        let ok: Value = decode_reply("M", StatusCode::OK, br#"{"jsonrpc":"2.0","result":{"a":1},"id":1}"#).unwrap();
        assert_eq!(ok, serde_json::json!({"a":1}));
        let null = decode_reply::<Value>("M", StatusCode::OK, br#"{"jsonrpc":"2.0","result":null,"id":1}"#);
        assert_eq!(null, Err(Error::failed("result is null")));
        let failed = decode_reply::<Value>(
            "M",
            StatusCode::OK,
            br#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"boom","data":null},"id":1}"#,
        );
        assert_eq!(failed, Err(Error::failed("boom")));
        let invalid = decode_reply::<Value>("M", StatusCode::OK, br#"{"error":{"code":-32600,"message":"bad"}}"#);
        assert_eq!(invalid, Err(Error::invalid("bad")));
        let odd = decode_reply::<Value>("M", StatusCode::OK, br#"{"error":"text"}"#);
        assert_eq!(odd, Err(Error::failed("\"text\"")));
        let http = decode_reply::<Value>("M", StatusCode::UNSUPPORTED_MEDIA_TYPE, b"rpc: unrecognized Content-Type: x");
        assert_eq!(
            http,
            Err(Error::failed("M answered HTTP 415 Unsupported Media Type: rpc: unrecognized Content-Type: x"))
        );
    }
}
