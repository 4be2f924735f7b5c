//! Reading a document by its `http://` or `https://` URL: a template's `fetch`, and templates
//! and playbooks named by URL.
//!
//! It lives beside the plugin client because it needs what that client already has: HTTP/1.1
//! over TCP or TLS, and the trust of `INFRAKIT_TLS_CA` or the system's roots. A document is read
//! whole, up to a size ceiling, and redirects are followed a few times, as `curl -L` would.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use infrakit_spi::Error;

use super::pool::{Pool, Target};
use crate::tls;

/// The largest document read; templates and playbooks are small, and a larger answer is more
/// likely a wrong URL than a template.
pub const MAX_DOCUMENT: usize = 16 * 1024 * 1024;

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

/// How long one request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The body of the document at `url`, as text.
pub async fn get_text(url: &str) -> Result<String, Error> {
    let mut url = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        match tokio::time::timeout(TIMEOUT, get_once(&url)).await {
            Err(_) => return Err(Error::unavailable(format!("GET {url}: no answer within {TIMEOUT:?}"))),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Fetched::Body(text))) => return Ok(text),
            Ok(Ok(Fetched::Redirect(location))) => url = resolve(&url, &location),
        }
    }
    Err(Error::failed(format!("GET {url}: more than {MAX_REDIRECTS} redirects")))
}

enum Fetched {
    Body(String),
    Redirect(String),
}

async fn get_once(url: &str) -> Result<Fetched, Error> {
    let (tls, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => return Err(Error::invalid(format!("'{url}' is not an http:// or https:// URL"))),
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
    if authority.is_empty() {
        return Err(Error::invalid(format!("'{url}' names no host")));
    }
    let address = match authority.contains(':') {
        true => authority.to_owned(),
        false => format!("{authority}:{}", if tls { 443 } else { 80 }),
    };
    let target = match tls {
        true => {
            Target::Tls(address.clone(), tls::server_name(&address)?, tls::client_config(&tls::trusted_from_env())?)
        }
        false => Target::Tcp(address),
    };
    let request = Request::get(path)
        .header(header::HOST, authority)
        .header(header::USER_AGENT, concat!("infrakit/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(Bytes::new()))
        .map_err(|e| Error::invalid(format!("GET {url}: {e}")))?;
    let pool = Pool::new(target);
    let (response, _connection) =
        pool.send(request).await.map_err(|e| Error::unavailable(format!("GET {url}: {e}")))?;
    let status = response.status();
    if status.is_redirection() {
        let location = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok());
        return match location {
            Some(location) => Ok(Fetched::Redirect(location.to_owned())),
            None => Err(Error::failed(format!("GET {url}: {status} without a Location"))),
        };
    }
    if status != StatusCode::OK {
        let kind = if status == StatusCode::NOT_FOUND { Error::not_found } else { Error::failed };
        return Err(kind(format!("GET {url}: {status}")));
    }
    let body = Limited::new(response.into_body(), MAX_DOCUMENT)
        .collect()
        .await
        .map_err(|e| Error::failed(format!("GET {url}: {e} (at most {MAX_DOCUMENT} bytes are read)")))?
        .to_bytes();
    String::from_utf8(body.to_vec())
        .map(Fetched::Body)
        .map_err(|_| Error::invalid(format!("GET {url}: not UTF-8 text")))
}

/// A redirect's `Location`, absolute or relative to the URL that answered it.
fn resolve(url: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let scheme_end = url.find("://").map_or(0, |at| at + 3);
    let host_end = url[scheme_end..].find('/').map_or(url.len(), |at| scheme_end + at);
    match location.starts_with('/') {
        true => format!("{}{location}", &url[..host_end]),
        false => {
            let folder_end = url.rfind('/').filter(|&at| at >= host_end).map_or(url.len(), |at| at + 1);
            let folder = &url[..folder_end];
            match folder.ends_with('/') {
                true => format!("{folder}{location}"),
                false => format!("{folder}/{location}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A server on a real socket answering each connection with the next canned response.
    fn serve(responses: Vec<String>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for response in responses {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                stream.write_all(response.as_bytes()).unwrap();
            }
        });
        format!("http://{address}")
    }

    fn ok(body: &str) -> String {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
    }

    #[tokio::test]
    async fn reads_a_document_and_follows_redirects() {
        let base = serve(vec![
            "HTTP/1.1 302 Found\r\nLocation: /real/doc.yml\r\nContent-Length: 0\r\n\r\n".to_owned(),
            ok("ID: web\n"),
        ]);
        assert_eq!(get_text(&format!("{base}/moved")).await.unwrap(), "ID: web\n");
    }

    #[tokio::test]
    async fn a_missing_document_is_not_found() {
        let base = serve(vec!["HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned()]);
        let error = get_text(&format!("{base}/nope")).await.unwrap_err();
        assert!(error.to_string().contains("404"), "{error}");
    }

    #[test]
    fn relative_locations_resolve_against_the_url() {
        assert_eq!(resolve("http://h:1/a/b.yml", "/c"), "http://h:1/c");
        assert_eq!(resolve("http://h:1/a/b.yml", "c.yml"), "http://h:1/a/c.yml");
        assert_eq!(resolve("http://h:1", "c.yml"), "http://h:1/c.yml");
        assert_eq!(resolve("http://h/a", "https://x/y"), "https://x/y");
    }
}
