//! Remote access: every plugin of this machine over HTTP on TCP, as the original's mux
//! (`/<plugin>/<rest>` to the plugin's socket as `/<rest>`; `OPTIONS /` lists the plugins), with
//! a bearer token required on every request, and forwarded to the leader when this manager is not
//! the leader.
//!
//! There is no unauthenticated access: the token is generated on first start into
//! `$INFRAKIT_HOME/token` (mode 0600) unless `INFRAKIT_TOKEN` gives one (managers of one cluster
//! share theirs, so that a follower's forward is accepted by the leader). A missing or wrong
//! token gets 401 with an empty body. With a certificate and key, the mux speaks TLS only.
//!
//! A follower forwards to the leader's advertised location; to an `https://` leader over TLS,
//! trusting `INFRAKIT_TLS_CA` if it is set, else this manager's own certificate (managers of one
//! cluster often share one, with every manager's address in it), else the system's roots.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use infrakit_manager::Manager;
use infrakit_rpc::discovery::{self, Address, HttpBase};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{info, warn};

/// The environment variable with the address to listen on (the manager kind; `up --listen`).
pub const LISTEN_ENV: &str = "INFRAKIT_MANAGER_LISTEN";
/// The environment variable with a token to use instead of the generated one.
pub const TOKEN_ENV: &str = "INFRAKIT_TOKEN";
/// The environment variables with the TLS certificate chain and private key (PEM files).
pub const TLS_CERT_ENV: &str = "INFRAKIT_TLS_CERT";
pub const TLS_KEY_ENV: &str = "INFRAKIT_TLS_KEY";
/// The token file in the home folder.
const TOKEN_FILE: &str = "token";
/// Random bytes in a generated token: 256 bits, beyond guessing.
const TOKEN_BYTES: usize = 32;

type Body = BoxBody<Bytes, hyper::Error>;

/// The token: `INFRAKIT_TOKEN`, else the home's token file, created on first use.
pub fn token(home: &Path) -> Result<String> {
    if let Some(token) = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()) {
        return Ok(token);
    }
    let path = home.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let token: String = (0..TOKEN_BYTES).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
    std::fs::create_dir_all(home).with_context(|| format!("cannot create {}", home.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{token}").with_context(|| format!("cannot write {}", path.display()))?;
    Ok(token)
}

/// A certificate chain and its private key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// From the two options, which go together.
    pub fn new(cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<Option<Self>> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(Self { cert, key })),
            (None, None) => Ok(None),
            _ => anyhow::bail!("TLS needs both a certificate and a key"),
        }
    }

    /// From `INFRAKIT_TLS_CERT` and `INFRAKIT_TLS_KEY`.
    pub fn from_env() -> Result<Option<Self>> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        Self::new(var(TLS_CERT_ENV), var(TLS_KEY_ENV))
    }

    fn acceptor(&self) -> Result<TlsAcceptor> {
        let certs = infrakit_rpc::tls::certificates(&self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("cannot read the private key {}", self.key.display()))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("no TLS protocol version is available")?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .context("the certificate and key do not make a TLS configuration")?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

struct Mux {
    token: String,
    plugins: PathBuf,
    manager: Manager,
    /// This manager's own location, so that it never forwards to itself.
    location: Option<String>,
    /// What a forward to an `https://` leader trusts; none if it could not be built (said at
    /// start).
    forward_tls: Option<Arc<ClientConfig>>,
}

/// Serves the mux on `listen` until the process ends, over TLS when `tls` is given.
pub async fn serve(
    listen: &str,
    token: String,
    tls: Option<&TlsFiles>,
    plugins: PathBuf,
    manager: Manager,
) -> Result<()> {
    let acceptor = tls.map(TlsFiles::acceptor).transpose()?;
    let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    info!(address = %listener.local_addr()?, tls = acceptor.is_some(), "remote access listening");
    let location = manager.location().map(str::to_owned);
    let mut trusted = infrakit_rpc::tls::trusted_from_env();
    if trusted.is_empty() {
        trusted.extend(tls.map(|files| files.cert.clone()));
    }
    let forward_tls = infrakit_rpc::tls::client_config(&trusted)
        .inspect_err(|e| warn!("remote access: forwards to an https:// leader will fail: {e}"))
        .ok();
    let mux = Arc::new(Mux { token, plugins, manager, location, forward_tls });
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!("remote access: cannot accept: {e}");
                    continue;
                }
            };
            let (mux, acceptor) = (mux.clone(), acceptor.clone());
            tokio::spawn(async move {
                match acceptor {
                    None => mux.connection(stream).await,
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => mux.connection(stream).await,
                        Err(e) => warn!("remote access: TLS handshake failed: {e}"),
                    },
                }
            });
        }
    });
    Ok(())
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response
}

fn json(value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())).map_err(|never| match never {}).boxed());
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// Compares two tokens in a time that tells nothing about the expected one: both are hashed and
/// the digests, always of one length, compared without stopping at the first difference. (A
/// plain comparison returns early on a length mismatch, which tells the token's length.)
fn same(presented: &[u8], expected: &[u8]) -> bool {
    let (presented, expected) = (Sha256::digest(presented), Sha256::digest(expected));
    presented.iter().zip(expected.iter()).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Mux {
    async fn connection<S>(self: Arc<Self>, stream: S)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let service = service_fn(move |request| {
            let mux = self.clone();
            async move { Ok::<_, std::convert::Infallible>(mux.handle(request).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
        if let Err(e) = connection.await {
            warn!("remote access: connection failed: {e}");
        }
    }

    fn authorized(&self, request: &Request<Incoming>) -> bool {
        let presented = request.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        presented
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|token| same(token.as_bytes(), self.token.as_bytes()))
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        if !self.authorized(&request) {
            return empty(StatusCode::UNAUTHORIZED);
        }
        if !self.manager.is_leader()
            && let Some(leader) = self.manager.leader_location().filter(|l| Some(l) != self.location.as_ref())
            && let Ok(Address::Http(leader)) = Address::parse(&leader)
        {
            return self.forward(request, &leader).await;
        }
        let path = request.uri().path().to_owned();
        if request.method() == Method::OPTIONS && path == "/" {
            let plugins: Vec<String> = discovery::list(&self.plugins).unwrap_or_default().into_keys().collect();
            return json(&serde_json::json!({"Leader": self.manager.is_leader(), "Plugins": plugins}));
        }
        let Some((plugin, rest)) =
            path.trim_start_matches('/').split_once('/').map(|(p, r)| (p.to_owned(), r.to_owned()))
        else {
            return empty(StatusCode::NOT_FOUND);
        };
        if plugin.is_empty()
            || plugin.starts_with('.')
            || !discovery::list(&self.plugins).unwrap_or_default().contains_key(&plugin)
        {
            return empty(StatusCode::NOT_FOUND);
        }
        let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
        self.to_socket(request, &plugin, &format!("/{rest}{query}")).await
    }

    async fn to_socket(&self, mut request: Request<Incoming>, plugin: &str, path: &str) -> Response<Body> {
        let Ok(uri) = path.parse::<Uri>() else {
            return empty(StatusCode::BAD_REQUEST);
        };
        *request.uri_mut() = uri;
        request.headers_mut().remove(http::header::AUTHORIZATION);
        match UnixStream::connect(self.plugins.join(plugin)).await {
            Ok(stream) => send(stream, request).await,
            Err(e) => {
                warn!(plugin, "remote access: cannot reach the plugin: {e}");
                empty(StatusCode::BAD_GATEWAY)
            }
        }
    }

    async fn forward(&self, request: Request<Incoming>, leader: &HttpBase) -> Response<Body> {
        let stream = match TcpStream::connect(&leader.authority).await {
            Ok(stream) => stream,
            Err(e) => {
                warn!(%leader, "remote access: cannot reach the leader: {e}");
                return empty(StatusCode::BAD_GATEWAY);
            }
        };
        if !leader.tls {
            return send(stream, request).await;
        }
        let Some(config) = &self.forward_tls else {
            warn!(%leader, "remote access: no certificates to trust for the leader's TLS");
            return empty(StatusCode::BAD_GATEWAY);
        };
        let name = match infrakit_rpc::tls::server_name(&leader.authority) {
            Ok(name) => name,
            Err(e) => {
                warn!(%leader, "remote access: {e}");
                return empty(StatusCode::BAD_GATEWAY);
            }
        };
        match TlsConnector::from(config.clone()).connect(name, stream).await {
            Ok(stream) => send(stream, request).await,
            Err(e) => {
                warn!(%leader, "remote access: TLS with the leader failed: {e}");
                empty(StatusCode::BAD_GATEWAY)
            }
        }
    }
}

/// Sends one request on a new connection and streams the answer back.
async fn send<S>(stream: S, request: Request<Incoming>) -> Response<Body>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(pair) => pair,
        Err(e) => {
            warn!("remote access: handshake failed: {e}");
            return empty(StatusCode::BAD_GATEWAY);
        }
    };
    tokio::spawn(connection);
    match sender.send_request(request).await {
        Ok(response) => response.map(BodyExt::boxed),
        Err(e) => {
            warn!("remote access: request failed: {e}");
            empty(StatusCode::BAD_GATEWAY)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tokens_match_only_when_equal_whatever_their_lengths() {
        let token = b"4f1c0ffee";
        assert!(same(token, token));
        assert!(same(b"", b""));
        assert!(!same(b"4f1c0ffe", token), "a prefix");
        assert!(!same(b"4f1c0ffee0", token), "longer");
        assert!(!same(b"", token));
        assert!(!same(b"4f1c0ffef", token), "one byte differs");
    }
}
