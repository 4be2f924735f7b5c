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
use url::Url;

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
    let mut url = Url::parse(url).map_err(|e| Error::invalid(format!("'{url}' is not a URL: {e}")))?;
    for _ in 0..=MAX_REDIRECTS {
        match tokio::time::timeout(TIMEOUT, get_once(&url)).await {
            Err(_) => return Err(Error::unavailable(format!("GET {url}: no answer within {TIMEOUT:?}"))),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Fetched::Body(text))) => return Ok(text),
            Ok(Ok(Fetched::Redirect(location))) => {
                url = url
                    .join(&location)
                    .map_err(|e| Error::failed(format!("GET {url}: bad Location '{location}': {e}")))?;
            }
        }
    }
    Err(Error::failed(format!("GET {url}: more than {MAX_REDIRECTS} redirects")))
}

enum Fetched {
    Body(String),
    Redirect(String),
}

async fn get_once(url: &Url) -> Result<Fetched, Error> {
    let tls = match url.scheme() {
        "http" => false,
        "https" => true,
        _ => return Err(Error::invalid(format!("'{url}' is not an http:// or https:// URL"))),
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Err(Error::invalid(format!("'{url}' names no host")));
    };
    let address = format!("{host}:{port}");
    let target = match tls {
        true => {
            Target::Tls(address.clone(), tls::server_name(&address)?, tls::client_config(&tls::trusted_from_env())?)
        }
        false => Target::Tcp(address),
    };
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let request = Request::get(path)
        .header(header::HOST, &url[url::Position::BeforeHost..url::Position::AfterPort])
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A server on a real socket answering each connection with the next canned response; the
    /// receiver gives the request lines it was sent.
    fn serve(responses: Vec<String>) -> (String, std::sync::mpsc::Receiver<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (asked, requests) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for response in responses {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = [0u8; 4096];
                let n = stream.read(&mut request).unwrap_or(0);
                let line = String::from_utf8_lossy(&request[..n]).lines().next().unwrap_or_default().to_owned();
                let _ = asked.send(line);
                stream.write_all(response.as_bytes()).unwrap();
            }
        });
        (format!("http://{address}"), requests)
    }

    fn ok(body: &str) -> String {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
    }

    #[tokio::test]
    async fn reads_a_document_and_follows_redirects_absolute_and_relative() {
        let (base, requests) = serve(vec![
            "HTTP/1.1 302 Found\r\nLocation: /real/index.yml\r\nContent-Length: 0\r\n\r\n".to_owned(),
            "HTTP/1.1 301 Moved\r\nLocation: ../docs/doc.yml?v=2\r\nContent-Length: 0\r\n\r\n".to_owned(),
            ok("ID: web\n"),
        ]);
        assert_eq!(get_text(&format!("{base}/moved")).await.unwrap(), "ID: web\n");
        let asked: Vec<String> = requests.try_iter().collect();
        assert_eq!(asked, ["GET /moved HTTP/1.1", "GET /real/index.yml HTTP/1.1", "GET /docs/doc.yml?v=2 HTTP/1.1"]);
    }

    #[tokio::test]
    async fn a_missing_document_is_not_found() {
        let (base, _) = serve(vec!["HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned()]);
        let error = get_text(&format!("{base}/nope")).await.unwrap_err();
        assert!(error.to_string().contains("404"), "{error}");
    }
}
