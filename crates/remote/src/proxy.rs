//! What the mux does with one request: refuses it without the token, passes it on to the leader
//! when this manager follows, lists the plugins on `OPTIONS /`, and otherwise proxies
//! `/<plugin>/<rest>` to the plugin's socket as `/<rest>`, streaming the answer back.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use infrakit_rpc::discovery::{self, Address, HttpBase};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tracing::warn;

use crate::token::same;

/// What the mux needs to know of the manager it fronts, to route a request: a follower passes
/// every request on to the leader. A trait, so that the mux depends on none of the manager's
/// store or controller.
pub trait Cluster: Send + Sync + 'static {
    /// Whether this manager is the leader now.
    fn is_leader(&self) -> bool;
    /// Where the leader can be reached (`http://host:port`, `https://host:port`), if known.
    fn leader_location(&self) -> Option<String>;
    /// Where this manager itself can be reached, so that it never forwards to itself.
    fn location(&self) -> Option<String>;
}

type Body = BoxBody<Bytes, hyper::Error>;

pub(crate) struct Mux {
    token: String,
    plugins: PathBuf,
    cluster: Arc<dyn Cluster>,
    /// What a forward to an `https://` leader trusts; none if it could not be built (said at
    /// start).
    forward_tls: Option<Arc<ClientConfig>>,
}

impl Mux {
    pub(crate) fn new(
        token: String,
        plugins: PathBuf,
        cluster: Arc<dyn Cluster>,
        forward_tls: Option<Arc<ClientConfig>>,
    ) -> Self {
        Self { token, plugins, cluster, forward_tls }
    }

    fn authorized(&self, request: &Request<Incoming>) -> bool {
        let presented = request.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        presented
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|token| same(token.as_bytes(), self.token.as_bytes()))
    }

    /// The answer to one request; every failure is an HTTP status, logged here.
    pub(crate) async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        if !self.authorized(&request) {
            return empty(StatusCode::UNAUTHORIZED);
        }
        if !self.cluster.is_leader()
            && let Some(leader) = self.cluster.leader_location().filter(|l| Some(l) != self.cluster.location().as_ref())
            && let Ok(Address::Http(leader)) = Address::parse(&leader)
        {
            return self.forward(request, &leader).await;
        }
        let path = request.uri().path().to_owned();
        if request.method() == Method::OPTIONS && path == "/" {
            let plugins: Vec<String> = discovery::list(&self.plugins).unwrap_or_default().into_keys().collect();
            return json(&serde_json::json!({"Leader": self.cluster.is_leader(), "Plugins": plugins}));
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

    /// Passes the request on to the plugin's socket as `path`, without the token: a plugin has
    /// no use for it, and must not be able to replay it.
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

    /// Passes the request on to the leader as it is, token included: managers of one cluster
    /// share their token.
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

/// Sends one request on a new connection and streams the answer back.
async fn send<S>(stream: S, request: Request<Incoming>) -> Response<Body>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
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
