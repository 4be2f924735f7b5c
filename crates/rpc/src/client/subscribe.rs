//! Listening to a plugin's events (`GET /events?topic=...`, Server-Sent Events).

use bytes::{Buf, BytesMut};
use http::header::ACCEPT;
use http::{HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use infrakit_spi::Error;

use super::Client;
use crate::events::Event;

/// The longest SSE message accepted: far above any real event, so that a stream that never ends
/// its message cannot grow the buffer without bound.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// A plugin's event stream, on a connection of its own.
pub struct RemoteSubscription {
    body: Incoming,
    pending: BytesMut,
    /// Keeps the connection open while the stream is read.
    _connection: SendRequest<http_body_util::Full<bytes::Bytes>>,
}

impl Client {
    /// Subscribes to the plugin's events at `topic` (a prefix if it ends in `/`). Returns once the
    /// plugin has registered the subscription: everything it publishes afterwards arrives.
    pub async fn subscribe(&self, topic: &str) -> Result<RemoteSubscription, Error> {
        let mut connection = self.pool().connect().await.map_err(|e| self.unavailable(e))?;
        let mut request =
            self.request(Method::GET, &format!("events?topic={}", encode_query(topic)), Default::default())?;
        request.headers_mut().insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let response = tokio::time::timeout(self.inner.timeout, connection.send_request(request))
            .await
            .map_err(|_| self.unavailable("subscribing timed out"))?
            .map_err(|e| self.unavailable(e))?;
        if response.status() != StatusCode::OK {
            return Err(Error::failed(format!("subscribing to '{topic}' answered HTTP {}", response.status())));
        }
        Ok(RemoteSubscription { body: response.into_body(), pending: BytesMut::new(), _connection: connection })
    }
}

impl RemoteSubscription {
    /// The next event; `None` when the plugin ends the stream.
    pub async fn next(&mut self) -> Option<Result<Event, Error>> {
        loop {
            if let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
                let message = self.pending.split_to(end + 2);
                if let Some(event) = parse_message(&message) {
                    return Some(event);
                }
                continue;
            }
            if self.pending.len() > MAX_EVENT_BYTES {
                return Some(Err(Error::failed(format!("an event exceeds {MAX_EVENT_BYTES} bytes"))));
            }
            match self.body.frame().await? {
                Ok(frame) => {
                    if let Ok(mut data) = frame.into_data() {
                        while data.has_remaining() {
                            let chunk = data.chunk();
                            self.pending.extend_from_slice(chunk);
                            let read = chunk.len();
                            data.advance(read);
                        }
                    }
                }
                Err(e) => return Some(Err(Error::unavailable(format!("the event stream broke: {e}")))),
            }
        }
    }
}

/// The event in one SSE message (its `data:` lines joined), or `None` for a message without data.
fn parse_message(message: &[u8]) -> Option<Result<Event, Error>> {
    let text = String::from_utf8_lossy(message);
    let data: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|data| data.strip_prefix(' ').unwrap_or(data))
        .collect();
    if data.is_empty() {
        return None;
    }
    Some(serde_json::from_str(&data.join("\n")).map_err(|e| Error::failed(format!("invalid event: {e}"))))
}

/// Percent-encodes a query value, keeping `/` readable.
fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_queries() {
        let event = parse_message(
            b"data: {\"Topic\":\"a\",\"ID\":\"1\",\"Message\":\"\",\"Timestamp\":\"1970-01-01T00:00:00Z\"}\n\n",
        );
        assert_eq!(event.map(|e| e.map(|e| e.id)), Some(Ok("1".to_owned())));
        assert!(parse_message(b": comment\n\n").is_none());
        assert_eq!(encode_query("local/time now&"), "local/time%20now%26");
    }
}
