//! Why remote access could not start: each failure names the file or address it concerns, and
//! keeps the underlying error as its source, so that a caller can print the whole chain.

use std::path::PathBuf;

/// Why the token could not be had, or the mux could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The token file exists but could not be read.
    #[error("cannot read {}", path.display())]
    ReadToken {
        /// The token file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The home folder or the token file could not be created.
    #[error("cannot create {}", path.display())]
    CreateToken {
        /// The folder or file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The new token could not be written to its file.
    #[error("cannot write {}", path.display())]
    WriteToken {
        /// The token file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Only one of a certificate and a key was given.
    #[error("TLS needs both a certificate and a key")]
    HalfTls,
    /// The certificate file could not be read or holds no certificate.
    #[error(transparent)]
    Certificate(infrakit_spi::Error),
    /// The private key file could not be read or holds no key.
    #[error("cannot read the private key {}", path.display())]
    PrivateKey {
        /// The key file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The TLS library offers no protocol version to serve.
    #[error("no TLS protocol version is available")]
    TlsProtocol(#[source] tokio_rustls::rustls::Error),
    /// The certificate and key do not go together, or are not usable by a server.
    #[error("the certificate and key do not make a TLS configuration")]
    TlsConfig(#[source] tokio_rustls::rustls::Error),
    /// The address could not be listened on.
    #[error("cannot listen on {address}")]
    Listen {
        /// The address, as given.
        address: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
