//! TLS for `https://` plugin addresses: a remote manager's mux reached by the CLI, or the leader
//! a follower forwards to.
//!
//! Trust comes from the certificates the user names (`INFRAKIT_TLS_CA`: a PEM file with a
//! cluster's own CA, or a self-signed certificate itself), else from the system's roots. The
//! crypto is rustls with ring, as the mux's server side.
//!
//! A server's certificate is verified as browsers do (WebPKI), with one addition: a server that
//! presents exactly one of the named certificates as its own is trusted if that certificate
//! carries the server's name and is within its validity period. `openssl req -x509` marks a
//! self-signed certificate as a CA, which WebPKI refuses to accept as a server's; curl's
//! `--cacert` accepts it, and so does this.

mod validity;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use infrakit_spi::Error;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::client::{WebPkiServerVerifier, verify_server_name};
use tokio_rustls::rustls::server::ParsedCertificate;
use tokio_rustls::rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The variable naming a PEM file of certificates to trust for `https://` addresses.
pub const TLS_CA_ENV: &str = "INFRAKIT_TLS_CA";

/// What a client trusts: `INFRAKIT_TLS_CA` if it is set, else nothing beyond the system's roots.
pub fn trusted_from_env() -> Vec<PathBuf> {
    std::env::var_os(TLS_CA_ENV).filter(|v| !v.is_empty()).map(PathBuf::from).into_iter().collect()
}

/// A client configuration trusting the certificates in `ca_files`, or the system's roots when
/// there are none. A file that cannot be read or holds no certificate is an error naming it.
pub fn client_config(ca_files: &[PathBuf]) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    if ca_files.is_empty() {
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            return Err(Error::invalid(format!(
                "no system certificates to trust for https://; name a PEM file with {TLS_CA_ENV}"
            )));
        }
    }
    let mut named = Vec::new();
    for file in ca_files {
        for certificate in certificates(file)? {
            roots
                .add(certificate.clone())
                .map_err(|e| Error::invalid(format!("{}: unusable certificate: {e}", file.display())))?;
            named.push(certificate);
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::invalid(format!("cannot verify servers with these certificates: {e}")))?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::failed(format!("no TLS protocol version is available: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier { webpki, named }))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// WebPKI, or one of the named certificates presented as the server's own with its name, within
/// its validity period.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    named: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, tokio_rustls::rustls::Error> {
        let refused = match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(verified) => return Ok(verified),
            Err(refused) => refused,
        };
        if !self.named.iter().any(|named| named.as_ref() == end_entity.as_ref()) {
            return Err(refused);
        }
        verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
        let period = validity::validity(end_entity.as_ref()).ok_or(CertificateError::BadEncoding)?;
        let at = |seconds: i64| UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)));
        let time = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if time < period.not_before {
            return Err(CertificateError::NotValidYetContext { time: now, not_before: at(period.not_before) }.into());
        }
        if time > period.not_after {
            return Err(CertificateError::ExpiredContext { time: now, not_after: at(period.not_after) }.into());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The PEM certificates in `file`; an error naming it if it cannot be read or holds none.
pub fn certificates(file: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let unreadable =
        |e: &dyn std::fmt::Display| Error::invalid(format!("cannot read certificates from {}: {e}", file.display()));
    let certificates = CertificateDer::pem_file_iter(file)
        .map_err(|e| unreadable(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))?;
    if certificates.is_empty() {
        return Err(Error::invalid(format!("{} holds no PEM certificate", file.display())));
    }
    Ok(certificates)
}

/// The name a server's certificate must carry: the host of `host:port` (an IP address or a DNS
/// name; `[v6]` in brackets).
pub fn server_name(authority: &str) -> Result<ServerName<'static>, Error> {
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']').map_or(bracketed, |(host, _)| host),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    ServerName::try_from(host.to_owned()).map_err(|e| Error::invalid(format!("'{authority}' names no TLS server: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_of_an_authority_is_the_name_to_check() {
        assert_eq!(server_name("127.0.0.1:24864").unwrap().to_str(), "127.0.0.1");
        assert_eq!(server_name("manager.example:443").unwrap().to_str(), "manager.example");
        assert_eq!(server_name("[::1]:24864").unwrap().to_str(), "::1");
        assert_eq!(server_name("manager").unwrap().to_str(), "manager");
    }

    #[test]
    fn a_file_without_certificates_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, "not a certificate").unwrap();
        let error = client_config(std::slice::from_ref(&file)).unwrap_err().to_string();
        assert!(error.contains(&file.display().to_string()) && error.contains("no PEM certificate"), "{error}");
        let missing = dir.path().join("missing.pem");
        let error = client_config(&[missing]).unwrap_err().to_string();
        assert!(error.contains("cannot read certificates from"), "{error}");
    }
}
