//! The listener: accepts connections on TCP, over TLS when given a certificate, and serves each
//! connection's requests with the proxy. It runs in the background until the process ends, as
//! long as the plugins it fronts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::Error;
use crate::proxy::{Cluster, Mux};
use crate::tls::{TlsFiles, forward_config};

/// The environment variable with the address to listen on (the manager kind; `up --listen`).
pub const LISTEN_ENV: &str = "INFRAKIT_MANAGER_LISTEN";

/// Serves the mux on `listen` until the process ends, over TLS when `tls` is given: the plugins
/// of the folder `plugins` to the holders of `token`, or the leader of `cluster` when this manager
/// follows. Returns once listening, with the address listened on.
pub async fn serve(
    listen: &str,
    token: String,
    tls: Option<&TlsFiles>,
    plugins: PathBuf,
    cluster: Arc<dyn Cluster>,
) -> Result<SocketAddr, Error> {
    let acceptor = tls.map(TlsFiles::acceptor).transpose()?;
    let not_listening = |source| Error::Listen { address: listen.to_owned(), source };
    let listener = TcpListener::bind(listen).await.map_err(not_listening)?;
    let address = listener.local_addr().map_err(not_listening)?;
    info!(%address, tls = acceptor.is_some(), "remote access listening");
    let mux = Arc::new(Mux::new(token, plugins, cluster, forward_config(tls)));
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
                    None => connection(mux, stream).await,
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => connection(mux, stream).await,
                        Err(e) => warn!("remote access: TLS handshake failed: {e}"),
                    },
                }
            });
        }
    });
    Ok(address)
}

/// Serves the requests of one connection, one after the other as HTTP/1.1 has them.
async fn connection<S>(mux: Arc<Mux>, stream: S)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let service = service_fn(move |request| {
        let mux = mux.clone();
        async move { Ok::<_, std::convert::Infallible>(mux.handle(request).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    if let Err(e) = connection.await {
        warn!("remote access: connection failed: {e}");
    }
}
