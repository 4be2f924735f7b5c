//! TLS on both sides of the mux: the server configuration it speaks when given a certificate and
//! a key, and the client configuration a follower uses to forward to an `https://` leader.

use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{ClientConfig, ServerConfig};
use tracing::warn;

use crate::Error;

/// The environment variable with the TLS certificate chain (a PEM file).
pub const TLS_CERT_ENV: &str = "INFRAKIT_TLS_CERT";
/// The environment variable with the TLS private key (a PEM file).
pub const TLS_KEY_ENV: &str = "INFRAKIT_TLS_KEY";

/// A certificate chain and its private key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain, the server's own first.
    pub cert: PathBuf,
    /// The private key of the server's certificate.
    pub key: PathBuf,
}

impl TlsFiles {
    /// From the two options, which go together.
    pub fn new(cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<Option<Self>, Error> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(Self { cert, key })),
            (None, None) => Ok(None),
            _ => Err(Error::HalfTls),
        }
    }

    /// From `INFRAKIT_TLS_CERT` and `INFRAKIT_TLS_KEY`.
    pub fn from_env() -> Result<Option<Self>, Error> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        Self::new(var(TLS_CERT_ENV), var(TLS_KEY_ENV))
    }

    /// The server side: reads both files, so that a bad one stops the start rather than every
    /// handshake.
    pub(crate) fn acceptor(&self) -> Result<TlsAcceptor, Error> {
        let certs = infrakit_rpc::tls::certificates(&self.cert).map_err(Error::Certificate)?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|source| Error::PrivateKey { path: self.key.clone(), source })?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(Error::TlsProtocol)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(Error::TlsConfig)?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// What a forward to an `https://` leader trusts: `INFRAKIT_TLS_CA` if it is set, else this
/// manager's own certificate, else the system's roots. None if that cannot be built; it is said
/// at start, and only a forward to an `https://` leader fails, not the mux.
pub(crate) fn forward_config(own: Option<&TlsFiles>) -> Option<Arc<ClientConfig>> {
    let mut trusted = infrakit_rpc::tls::trusted_from_env();
    if trusted.is_empty() {
        trusted.extend(own.map(|files| files.cert.clone()));
    }
    infrakit_rpc::tls::client_config(&trusted)
        .inspect_err(|e| warn!("remote access: forwards to an https:// leader will fail: {e}"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_and_a_key_go_together() {
        let (cert, key) = (Some(PathBuf::from("cert.pem")), Some(PathBuf::from("key.pem")));
        assert!(TlsFiles::new(None, None).unwrap().is_none());
        assert!(TlsFiles::new(cert.clone(), key.clone()).unwrap().is_some());
        assert!(matches!(TlsFiles::new(cert, None), Err(Error::HalfTls)));
        assert!(matches!(TlsFiles::new(None, key), Err(Error::HalfTls)));
    }

    #[test]
    fn unreadable_files_stop_the_start_and_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles { cert: dir.path().join("cert.pem"), key: dir.path().join("key.pem") };
        let error = files.acceptor().err().unwrap();
        assert!(matches!(error, Error::Certificate(_)), "{error:?}");
        assert!(error.to_string().contains("cert.pem"), "{error}");
    }
}
