//! The client beyond unix sockets and happy paths: HTTP base URLs with a bearer token (a remote
//! mux), timeouts, and plugins that are not there.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use infrakit_rpc::discovery::Address;
use infrakit_rpc::{Client, ClientOptions, GroupClient, InstanceClient};
use infrakit_spi::Error;
use infrakit_spi::group::GroupPlugin;
use infrakit_spi::instance::InstancePlugin;
use infrakit_spi::types::Tags;
use serde_json::json;
use tokio::net::{TcpListener, UnixListener};

use crate::support::{Plugins, Running, raw};

const TOKEN: &str = "s3cret";

/// A TCP front for one plugin under `/<plugin>/`, as the original's mux serves them, that also
/// insists on a bearer token.
async fn mux(plugin: &'static str, socket: std::path::PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let socket = socket.clone();
            let forward = service_fn(move |request: Request<Incoming>| {
                let socket = socket.clone();
                async move {
                    let reply = |status: StatusCode, body: Bytes| {
                        let mut response = Response::new(Full::new(body));
                        *response.status_mut() = status;
                        Ok::<_, Infallible>(response)
                    };
                    if request.headers().get("authorization").and_then(|v| v.to_str().ok())
                        != Some(&format!("Bearer {TOKEN}"))
                    {
                        return reply(StatusCode::UNAUTHORIZED, Bytes::from_static(b"no token"));
                    }
                    let Some(rest) = request.uri().path().strip_prefix(&format!("/{plugin}/")) else {
                        return reply(StatusCode::NOT_FOUND, Bytes::new());
                    };
                    let (method, rest) = (request.method().to_string(), rest.to_owned());
                    let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
                    let body = request.into_body().collect().await.unwrap().to_bytes().to_vec();
                    let answer =
                        raw(&socket, &method, &format!("/{rest}{query}"), Some("application/json"), body).await;
                    reply(answer.status, answer.body)
                }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), forward));
        }
    });
    format!("http://{address}/{plugin}/")
}

#[tokio::test]
async fn http_base_urls_with_a_bearer_token() {
    let plugins = Plugins::default();
    let running = Running::start(plugins.server("simulator")).await;
    let base = mux("simulator", running.socket.clone()).await;
    let address = Address::parse(&base).unwrap();
    let options = ClientOptions { bearer_token: Some(TOKEN.into()), ..ClientOptions::default() };
    let client = Client::with_options("simulator", address.clone(), options).unwrap();

    let instances = InstanceClient::new(client.clone(), &"simulator/compute".parse().unwrap());
    let id = instances.provision(Default::default()).await.unwrap();
    assert!(plugins.computes.state().instances.contains_key(&id));
    let groups = GroupClient::new(client.clone(), &"simulator".parse().unwrap());
    assert_eq!(groups.inspect_groups().await, Ok(vec![]));
    assert_eq!(client.info().await.unwrap()["Implements"][0]["Name"], "Instance");

    let anonymous = Client::with_options("simulator", address, ClientOptions::default()).unwrap();
    assert_eq!(
        anonymous.call("Group.InspectGroups", json!({})).await,
        Err(Error::failed("Group.InspectGroups answered HTTP 401 Unauthorized: no token"))
    );
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_plugin_that_never_answers_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("hung");
    let listener = UnixListener::bind(&socket).unwrap();
    // Accepts connections and reads nothing, like a wedged plugin.
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            connections.push(stream);
        }
    });
    let options = ClientOptions { timeout: Duration::from_secs(2), ..ClientOptions::default() };
    let client = Client::with_options("hung", Address::Unix(socket.clone()), options).unwrap();
    let error = client.call("Group.InspectGroups", json!({})).await.unwrap_err();
    assert_eq!(
        error,
        Error::unavailable(format!("plugin hung ({}): Group.InspectGroups timed out after 2s", socket.display()))
    );
    held.abort();
}

#[tokio::test]
async fn a_missing_plugin_is_unavailable_and_names_itself() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("gone");
    let client =
        InstanceClient::new(Client::new("gone", Address::Unix(socket.clone())).unwrap(), &"gone".parse().unwrap());
    let error = client.describe_instances(&Tags::new(), false).await.unwrap_err();
    let expected = format!("plugin gone ({}): cannot connect", socket.display());
    assert!(matches!(&error, Error::Unavailable(m) if m.starts_with(&expected)), "{error:?}");
    assert!(error.retryable());
}
