//! The mux through its public API, over real TCP: the token is required, `OPTIONS /` lists the
//! plugins, a request reaches a real plugin on a unix socket without the token, a follower
//! passes requests on to its leader, and with a certificate the mux speaks TLS only.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use infrakit_remote::{Cluster, TlsFiles, serve};
use tempfile::TempDir;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixListener};
use tokio_rustls::TlsConnector;

const TOKEN: &str = "4f1c0ffee";

/// A cluster whose roles never change.
struct Fixed {
    leader: bool,
    leader_location: Option<String>,
    location: Option<String>,
}

impl Fixed {
    fn leader() -> Arc<Self> {
        Arc::new(Self { leader: true, leader_location: None, location: None })
    }

    fn follower(leader_location: Option<String>, location: Option<String>) -> Arc<Self> {
        Arc::new(Self { leader: false, leader_location, location })
    }
}

impl Cluster for Fixed {
    fn is_leader(&self) -> bool {
        self.leader
    }

    fn leader_location(&self) -> Option<String> {
        self.leader_location.clone()
    }

    fn location(&self) -> Option<String> {
        self.location.clone()
    }
}

/// A plugins folder with one plugin, `echo`, which answers every request with its method, its
/// path and whether it carried a token.
fn plugins_with_echo() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let listener = UnixListener::bind(dir.path().join("echo")).unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(|request: Request<Incoming>| async move {
                let token = request.headers().contains_key(http::header::AUTHORIZATION);
                let text = format!("{} {} token={token}", request.method(), request.uri());
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    dir
}

async fn mux(plugins: PathBuf, cluster: Arc<dyn Cluster>) -> SocketAddr {
    serve("127.0.0.1:0", TOKEN.to_owned(), None, plugins, cluster).await.unwrap()
}

/// `METHOD PATH` with this authorization header, raw: the status line and the body.
async fn call(address: SocketAddr, request: &str, authorization: Option<&str>) -> (String, String) {
    exchange(TcpStream::connect(address).await.unwrap(), request, authorization).await
}

/// As [`call`], over TLS trusting only the certificate `ca`.
async fn call_tls(address: SocketAddr, ca: &Path, request: &str, authorization: Option<&str>) -> (String, String) {
    let config = infrakit_rpc::tls::client_config(&[ca.to_owned()]).unwrap();
    let name = infrakit_rpc::tls::server_name(&address.to_string()).unwrap();
    let stream = TcpStream::connect(address).await.unwrap();
    let stream = TlsConnector::from(config).connect(name, stream).await.unwrap();
    exchange(stream, request, authorization).await
}

async fn exchange<S>(mut stream: S, request: &str, authorization: Option<&str>) -> (String, String)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let header = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let head = format!("{request} HTTP/1.1\r\nHost: x\r\n{header}Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // A TLS server's refusal of plain HTTP ends in an error after what it sent, if anything.
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or("").to_owned();
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

#[tokio::test]
async fn a_missing_or_wrong_token_gets_401_with_an_empty_body() {
    let plugins = plugins_with_echo();
    let address = mux(plugins.path().to_owned(), Fixed::leader()).await;
    let basic = format!("Basic {TOKEN}");
    let prefix = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    for wrong in [None, Some("Bearer nope"), Some(basic.as_str()), Some(prefix.as_str()), Some("Bearer ")] {
        for request in ["OPTIONS /", "GET /echo/info"] {
            let (status, body) = call(address, request, wrong).await;
            assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 401 Unauthorized", ""), "{request} {wrong:?}");
        }
    }
}

#[tokio::test]
async fn options_lists_the_plugins() {
    let plugins = plugins_with_echo();
    std::fs::write(plugins.path().join("notes.txt"), "not a plugin").unwrap();
    let address = mux(plugins.path().to_owned(), Fixed::leader()).await;
    let (status, body) = call(address, "OPTIONS /", Some(&bearer())).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, r#"{"Leader":true,"Plugins":["echo"]}"#);
}

#[tokio::test]
async fn a_request_reaches_the_plugin_without_the_token() {
    let plugins = plugins_with_echo();
    let address = mux(plugins.path().to_owned(), Fixed::leader()).await;
    let (status, body) = call(address, "POST /echo/Instance.Describe?tags=a", Some(&bearer())).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "POST /Instance.Describe?tags=a token=false");
}

#[tokio::test]
async fn anything_but_a_known_plugin_is_not_found() {
    let plugins = plugins_with_echo();
    let address = mux(plugins.path().to_owned(), Fixed::leader()).await;
    for request in ["GET /", "GET /echo", "GET /missing/info", "GET /.hidden/info", "GET //info"] {
        let (status, body) = call(address, request, Some(&bearer())).await;
        assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 404 Not Found", ""), "{request}");
    }
}

#[tokio::test]
async fn a_follower_forwards_to_its_leader() {
    let leader_plugins = plugins_with_echo();
    let leader = mux(leader_plugins.path().to_owned(), Fixed::leader()).await;
    let own_plugins = tempfile::tempdir().unwrap();
    let follower = mux(own_plugins.path().to_owned(), Fixed::follower(Some(format!("http://{leader}")), None)).await;

    let (status, body) = call(follower, "OPTIONS /", Some(&bearer())).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, r#"{"Leader":true,"Plugins":["echo"]}"#, "the leader's answer");
    let (status, body) = call(follower, "GET /echo/info", Some(&bearer())).await;
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "GET /info token=false"));
    let (status, _) = call(follower, "OPTIONS /", Some("Bearer nope")).await;
    assert_eq!(status, "HTTP/1.1 401 Unauthorized", "the follower checks the token before forwarding");
}

#[tokio::test]
async fn a_follower_without_a_leader_elsewhere_answers_itself() {
    let plugins = plugins_with_echo();
    let own = "http://127.0.0.1:1".to_owned();
    for cluster in [
        Fixed::follower(None, None),
        Fixed::follower(Some(own.clone()), Some(own.clone())),
        Fixed::follower(Some("unix:///not/http".to_owned()), None),
    ] {
        let address = mux(plugins.path().to_owned(), cluster).await;
        let (status, body) = call(address, "OPTIONS /", Some(&bearer())).await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, r#"{"Leader":false,"Plugins":["echo"]}"#);
    }
}

#[tokio::test]
async fn an_unreachable_leader_is_a_bad_gateway() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let plugins = plugins_with_echo();
    let follower = mux(plugins.path().to_owned(), Fixed::follower(Some(format!("http://{closed}")), None)).await;
    let (status, body) = call(follower, "OPTIONS /", Some(&bearer())).await;
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 502 Bad Gateway", ""));
}

#[tokio::test]
async fn a_port_in_use_is_an_error_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let plugins = tempfile::tempdir().unwrap();
    let error = serve(&address, TOKEN.to_owned(), None, plugins.path().to_owned(), Fixed::leader()).await.unwrap_err();
    assert!(matches!(error, infrakit_remote::Error::Listen { .. }), "{error:?}");
    assert_eq!(error.to_string(), format!("cannot listen on {address}"));
}

/// A self-signed certificate for 127.0.0.1 and its key, made by openssl in `dir`.
fn self_signed(dir: &Path) -> TlsFiles {
    let files = TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") };
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&files.key)
        .arg("-out")
        .arg(&files.cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(made.success());
    files
}

#[tokio::test]
async fn with_a_certificate_the_mux_speaks_tls_only_and_forwards_to_an_https_leader() {
    let certs = tempfile::tempdir().unwrap();
    let tls = self_signed(certs.path());
    let leader_plugins = plugins_with_echo();
    let leader = serve("127.0.0.1:0", TOKEN.to_owned(), Some(&tls), leader_plugins.path().to_owned(), Fixed::leader())
        .await
        .unwrap();
    let (status, body) = call_tls(leader, &tls.cert, "OPTIONS /", Some(&bearer())).await;
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", r#"{"Leader":true,"Plugins":["echo"]}"#));
    let (status, _) = call_tls(leader, &tls.cert, "OPTIONS /", None).await;
    assert_eq!(status, "HTTP/1.1 401 Unauthorized", "TLS does not stand in for the token");
    let (status, _) = call(leader, "OPTIONS /", Some(&bearer())).await;
    assert!(!status.starts_with("HTTP/1.1 200"), "plain HTTP gets no answer: {status}");

    // Managers of one cluster share a certificate; a follower trusts its own for the leader's.
    let own_plugins = tempfile::tempdir().unwrap();
    let cluster = Fixed::follower(Some(format!("https://{leader}")), None);
    let follower =
        serve("127.0.0.1:0", TOKEN.to_owned(), Some(&tls), own_plugins.path().to_owned(), cluster).await.unwrap();
    let (status, body) = call_tls(follower, &tls.cert, "GET /echo/info", Some(&bearer())).await;
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "GET /info token=false"));
}
