//! The HTTP face of a plugin: which path does what, the request limits, and the status codes.
//!
//! | Request | Answer |
//! |---|---|
//! | `POST /` (`Content-Type: application/json`, or none) | JSON-RPC 2.0, always HTTP 200 |
//! | other methods on `/` | 405 `rpc: POST method required, received GET` |
//! | another content type on `/` | 415 `rpc: unrecognized Content-Type: text/plain` |
//! | a body over [`MAX_REQUEST_BODY`] | 413 with a JSON-RPC `-32600` error |
//! | `GET /info/api.json` | the plugin's description ([`crate::info`]) |
//! | `GET /info/functions.json` | `{}`: no template functions (the original's CLI asks) |
//! | `GET /events?topic=t` | Server-Sent Events ([`crate::events`]) |
//! | anything else | 404 |
//!
//! Texts and codes are gorilla's and Go's, which original clients may show to users.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::stream::{BoxStream, StreamExt};
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full, LengthLimitError, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::sync::watch;

use crate::envelope::{self, INVALID_REQUEST, ReplyTo, RpcError, SERVER_ERROR};
use crate::events::EventBus;
use crate::info::{PluginInfo, VendorInfo};
use crate::services::Registry;

/// The largest request body accepted: far above any real spec (a group spec is kilobytes), low
/// enough that a runaway client cannot make a plugin buffer without bound.
pub const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// The body of every response: a buffer, or an endless event stream.
pub(crate) type ResponseBody = Either<Full<Bytes>, StreamBody<BoxStream<'static, Result<Frame<Bytes>, Infallible>>>>;

const JSON_UTF8: &str = "application/json; charset=utf-8";

/// What every connection of one plugin shares.
pub(crate) struct Plugin {
    pub(crate) registry: Registry,
    pub(crate) events: EventBus,
    pub(crate) vendor: Option<VendorInfo>,
}

/// Answers one request. `stopping` ends event streams when the server shuts down.
pub(crate) async fn handle(
    plugin: Arc<Plugin>,
    stopping: watch::Receiver<bool>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    Ok(match request.uri().path() {
        "/" => rpc(&plugin, request).await,
        "/info/api.json" => info(&plugin),
        "/info/functions.json" => json(StatusCode::OK, b"{}".to_vec()),
        "/events" => events(&plugin.events, stopping, &request),
        _ => text(StatusCode::NOT_FOUND, "404 page not found\n".to_owned()),
    })
}

async fn rpc(plugin: &Plugin, request: Request<Incoming>) -> Response<ResponseBody> {
    if request.method() != Method::POST {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("rpc: POST method required, received {}", request.method()),
        );
    }
    // Gorilla treats an empty content type as a missing one.
    if let Some(content_type) = request.headers().get(CONTENT_TYPE).filter(|value| !value.is_empty()) {
        let content_type = content_type.to_str().unwrap_or_default();
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if !media_type.eq_ignore_ascii_case("application/json") {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("rpc: unrecognized Content-Type: {}", content_type.split(';').next().unwrap_or_default()),
            );
        }
    }
    let declared_length = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > MAX_REQUEST_BODY as u64) {
        return too_large();
    }
    let body = match Limited::new(request.into_body(), MAX_REQUEST_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return too_large(),
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("cannot read the request body: {e}")),
    };

    json(StatusCode::OK, answer(&plugin.registry, &body).await)
}

/// The JSON-RPC answer to a request body: the response's bytes, empty for a notification.
pub(crate) async fn answer(registry: &Registry, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match envelope::parse_request(body) {
        Err(rejected) => match rejected.reply_to {
            ReplyTo::Nobody => {}
            ReplyTo::Id(id) => envelope::write_error(&mut out, &rejected.error, Some(id)),
            ReplyTo::Unknown => envelope::write_error(&mut out, &rejected.error, None),
        },
        Ok(call) => {
            // A panicking plugin fails its call, not the connection or the process.
            let outcome = AssertUnwindSafe(registry.dispatch(&call.method, call.params))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!(method = %call.method, "the plugin panicked");
                    Err(RpcError::new(SERVER_ERROR, format!("{} panicked", call.method)))
                });
            if let Some(id) = call.id {
                match outcome {
                    Ok(result) => envelope::write_result(&mut out, &result, id),
                    Err(error) => envelope::write_error(&mut out, &error, Some(id)),
                }
            }
        }
    }
    out
}

fn info(plugin: &Plugin) -> Response<ResponseBody> {
    let document = PluginInfo::new(plugin.vendor.as_ref(), plugin.registry.first().map(|s| s.as_ref()));
    // The document holds only strings, numbers and JSON values: it always serializes.
    json(StatusCode::OK, serde_json::to_vec(&document).unwrap_or_default())
}

/// Subscribes before answering, so that once a client has the response head, it hears
/// everything published after.
fn events(bus: &EventBus, stopping: watch::Receiver<bool>, request: &Request<Incoming>) -> Response<ResponseBody> {
    let topic = request.uri().query().and_then(topic_of).unwrap_or_default();
    let subscription = bus.subscribe(&topic);
    let stream = futures::stream::unfold((subscription, stopping), |(mut subscription, mut stopping)| async move {
        let frame = tokio::select! {
            frame = subscription.recv_frame() => frame,
            // The server only ever signals stop (or goes away): either ends the stream.
            _ = stopping.changed() => None,
        };
        frame.map(|frame| (Ok(Frame::data(frame)), (subscription, stopping)))
    });
    let mut response = Response::new(Either::Right(StreamBody::new(stream.boxed())));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    response
}

/// The `topic` query parameter, percent-decoded (`+` is a space, as Go's `url.ParseQuery` reads).
fn topic_of(query: &str) -> Option<String> {
    let raw = query.split('&').find_map(|pair| pair.strip_prefix("topic="))?;
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => decoded.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                decoded.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            other => decoded.push(other),
        }
        i += 1;
    }
    String::from_utf8(decoded).ok()
}

fn too_large() -> Response<ResponseBody> {
    let mut out = Vec::new();
    let error = RpcError::new(INVALID_REQUEST, format!("request body exceeds {MAX_REQUEST_BODY} bytes"));
    envelope::write_error(&mut out, &error, None);
    json(StatusCode::PAYLOAD_TOO_LARGE, out)
}

fn json(status: StatusCode, body: Vec<u8>) -> Response<ResponseBody> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(body))));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    response.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

fn text(status: StatusCode, body: String) -> Response<ResponseBody> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(body))));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_query_is_decoded() {
        assert_eq!(topic_of("topic=local/time/").as_deref(), Some("local/time/"));
        assert_eq!(topic_of("x=1&topic=a%2Fb+c").as_deref(), Some("a/b c"));
        assert_eq!(topic_of("other=1"), None);
        assert_eq!(topic_of("topic=%zz"), None);
    }
}
