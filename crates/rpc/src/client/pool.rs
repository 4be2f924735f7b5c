//! Reusable HTTP/1.1 connections to one plugin.
//!
//! A call takes an idle connection (or opens one), sends, reads the whole response, and gives the
//! connection back; dropping a [`Lease`] instead (a timeout, a failed read) closes it. A pooled
//! connection may have been closed by the server meanwhile: hyper then hands the request back
//! unsent, and it is retried on another connection. A request that may have reached the server is
//! never retried, because not every call is idempotent.

use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::sync::Arc;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;

/// Idle connections kept per plugin: enough for the concurrency a controller or the CLI drives
/// at one plugin; connections beyond it close after their call.
pub(crate) const MAX_IDLE_CONNECTIONS: usize = 16;

/// Where the connections go.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Unix(PathBuf),
    Tcp(String),
    /// `host:port`, the name its certificate must carry, and what the client trusts.
    Tls(String, ServerName<'static>, Arc<ClientConfig>),
}

/// The connections of one client.
#[derive(Debug)]
pub(crate) struct Pool {
    target: Target,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

/// A connection in use; [`Pool::release`] it once its response is read.
pub(crate) struct Lease(SendRequest<Full<Bytes>>);

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransportError {
    #[error("cannot connect: {0}")]
    Connect(#[source] io::Error),
    #[error("{0}")]
    Http(#[from] hyper::Error),
}

impl Pool {
    pub(crate) fn new(target: Target) -> Self {
        Self { target, idle: Mutex::new(Vec::new()) }
    }

    /// Sends a request, on a pooled connection if one is idle.
    pub(crate) async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<(Response<Incoming>, Lease), TransportError> {
        loop {
            let (mut sender, reused) = match self.take_idle() {
                Some(sender) => (sender, true),
                None => (self.connect().await?, false),
            };
            if let Err(e) = sender.ready().await {
                if reused {
                    continue;
                }
                return Err(e.into());
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, Lease(sender))),
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(failed.into_error().into()),
                },
            }
        }
    }

    /// Returns a connection whose response was read in full.
    pub(crate) fn release(&self, Lease(sender): Lease) {
        let mut idle = self.lock();
        if !sender.is_closed() && idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(sender);
        }
    }

    /// Opens a dedicated connection (for event streams, which never give it back).
    pub(crate) async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, TransportError> {
        match &self.target {
            Target::Unix(path) => handshake(UnixStream::connect(path).await.map_err(TransportError::Connect)?).await,
            Target::Tcp(authority) => handshake(tcp(authority).await?).await,
            Target::Tls(authority, name, config) => {
                let stream = tcp(authority).await?;
                let connector = TlsConnector::from(config.clone());
                handshake(connector.connect(name.clone(), stream).await.map_err(TransportError::Connect)?).await
            }
        }
    }

    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.lock();
        while let Some(sender) = idle.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    fn lock(&self) -> MutexGuard<'_, Vec<SendRequest<Full<Bytes>>>> {
        // Held only for a push or a pop; a panic cannot leave the list inconsistent.
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn tcp(authority: &str) -> Result<TcpStream, TransportError> {
    let stream = TcpStream::connect(authority).await.map_err(TransportError::Connect)?;
    // Calls are small request/response pairs: send them now rather than batching.
    stream.set_nodelay(true).map_err(TransportError::Connect)?;
    Ok(stream)
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, TransportError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    // The connection runs until its last sender is dropped and it is idle.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "plugin connection closed with an error");
        }
    });
    Ok(sender)
}
