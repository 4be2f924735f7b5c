//! A pinned certificate (one named in `INFRAKIT_TLS_CA` and presented as the server's own) is
//! trusted only within its validity period: a real TLS handshake with certificates made by
//! `openssl`, valid, expired and not yet valid.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use infrakit_rpc::tls::{client_config, server_name};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(status.success(), "openssl {}", args.join(" "));
}

/// A self-signed certificate for 127.0.0.1 valid from `start` to `end` (`YYYYMMDDHHMMSSZ`), made
/// with `openssl ca`, the one command of OpenSSL 3.0 that takes explicit dates; its path and its
/// key's.
fn dated(dir: &Path, name: &str, start: &str, end: &str) -> (PathBuf, PathBuf) {
    let ca = dir.join(name);
    std::fs::create_dir(&ca).unwrap();
    std::fs::write(
        ca.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
         default_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n",
    )
    .unwrap();
    std::fs::write(ca.join("index.txt"), "").unwrap();
    std::fs::write(ca.join("serial"), "01\n").unwrap();
    std::fs::write(ca.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        &ca,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-subj",
            "/CN=localhost",
            "-out",
            "req.csr",
        ],
    );
    openssl(
        &ca,
        &[
            "ca",
            "-selfsign",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-keyfile",
            "key.pem",
            "-in",
            "req.csr",
            "-startdate",
            start,
            "-enddate",
            end,
            "-extfile",
            "ext",
            "-out",
            "cert.pem",
        ],
    );
    (ca.join("cert.pem"), ca.join("key.pem"))
}

/// A self-signed certificate for 127.0.0.1, valid for a day from now (`openssl req -x509`, which
/// marks it as a CA: WebPKI refuses it as a server's, so only the pin can accept it).
fn current(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("current.pem"), dir.join("current.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            "current.key",
            "-out",
            "current.pem",
        ],
    );
    (cert, key)
}

/// Serves one TLS handshake with this certificate and connects to it trusting the certificate
/// itself; the client's verdict.
async fn handshake(cert: &Path, key: &Path) -> Result<(), String> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let serving = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        // The client's refusal ends the handshake; either outcome is fine here.
        let _ = acceptor.accept(stream).await;
    });
    let connector = TlsConnector::from(client_config(&[cert.to_owned()]).unwrap());
    let stream = TcpStream::connect(address).await.unwrap();
    let outcome = connector.connect(server_name(&address.to_string()).unwrap(), stream).await;
    serving.await.unwrap();
    outcome.map(drop).map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_pinned_certificate_is_trusted_only_within_its_validity_period() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = current(dir.path());
    assert_eq!(handshake(&cert, &key).await, Ok(()), "valid now");

    let (cert, key) = dated(dir.path(), "expired", "20200101000000Z", "20200102000000Z");
    let refused = handshake(&cert, &key).await.unwrap_err();
    assert!(refused.contains("expired"), "{refused}");

    let (cert, key) = dated(dir.path(), "future", "20990101000000Z", "20991231000000Z");
    let refused = handshake(&cert, &key).await.unwrap_err();
    assert!(refused.contains("not valid yet") || refused.contains("NotValidYet"), "{refused}");
}
